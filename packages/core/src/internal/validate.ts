/**
 * Checks of a cached function's options and of a DataCache layer's, made when
 * they are defined, before any body can run. A problem throws
 * {@link OptionProblem}, which DataCache turns into its public
 * `InvalidOptionsError`; each message names the option, shows the bad value
 * and says how to fix it.
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { CommonOptions } from "../CachedFunction.ts"
import { describeType } from "../Hasher.ts"
import { advice, isForeignSchema } from "./effectCopies.ts"
import type { Limits } from "./table.ts"

/**
 * What is wrong with one option.
 *
 * @internal
 */
export class OptionProblem {
  readonly functionName: string
  readonly option: string
  readonly reason: string
  constructor(functionName: string, option: string, reason: string) {
    this.functionName = functionName
    this.option = option
    this.reason = reason
  }
}

/**
 * Checks a cached function's options and returns its name and limits.
 *
 * @throws OptionProblem
 * @internal
 */
export const functionOptions = (
  kind: "DataCache" | "ResourceCache",
  given: CommonOptions,
  f: Function,
  optionNames: ReadonlySet<string>
): { readonly name: string; readonly limits: Limits; readonly options: AnyOptions } => {
  const options = snapshot("(anonymous)", given, "a name or an options object") as AnyOptions
  const name = nameOf(kind, options, f)
  for (const option of Object.keys(options)) {
    if (!optionNames.has(option)) {
      reject(
        name,
        option,
        kind === "ResourceCache" && dataCacheOnly.has(option)
          ? "is a DataCache option: a ResourceCache shares one instance by reference, so it neither copies, encodes nor sizes values. Use DataCache.fn for values to copy."
          : storeLayerOptionNames.has(option)
            ? `is an option of the layer, not of a function: give it to ${
                layerOptionNames.has(option) ? `${kind}.layerMemory({ ${option} })` : `DataCache.layerStore({ ${option} })`
              }, where every function of the layer shares it.`
            : unknownOptionReason(option, optionNames)
      )
    }
  }
  if (options.version !== undefined && typeof options.version !== "string" && !Number.isFinite(options.version)) {
    reject(name, "version", `must be a string or a finite number, got ${describeType(options.version)}.`)
  }
  for (const option of ["spinner", "showTime", "replay"] as const) {
    const value = options[option]
    if (value !== undefined && typeof value !== "boolean" && (option !== "spinner" || typeof value !== "string")) {
      reject(name, option, `must be ${option === "spinner" ? "true, false or a text" : "true or false"}, got ${describeInput(value)}.`)
    }
  }
  if (options.version === undefined) {
    if (isEffectFnWrapper(f)) {
      reject(
        name,
        "body",
        "the body is an Effect.fn wrapper. Effect.fn keeps its generator in a closure, so recall cannot read its source and " +
          "could not tell when you edit it. " +
          `Pass the generator itself: ${kind}.fn("${name}", function* (...) { ... }) runs it as Effect.fn("${name}") would. ` +
          "Or keep Effect.fn and give a `version` that you change with every edit."
      )
    }
    if (hasNativeSource(f)) {
      reject(
        name,
        "body",
        "the body's source reads `[native code]` (a bound function, or a built-in), so recall cannot tell it apart from other such " +
          "functions of the same name, nor see an edit. Pass a function written in JavaScript, e.g. " +
          `${kind}.fn("${name}", (...args) => load("prod", ...args)) instead of load.bind(null, "prod"), or give a \`version\` ` +
          "that names what it does."
      )
    }
  }
  const maxEntries = positive(name, "maxEntries", options.maxEntries)
  if (maxEntries !== Infinity && !Number.isInteger(maxEntries)) reject(name, "maxEntries", `must be a whole number, got ${maxEntries}.`)
  const maxBytes = positive(name, "maxBytes", options.maxBytes)
  const ttl = ttlMillis(name, "ttl", options.ttl)
  const staleMillis = options.staleWhileRevalidate === undefined ? 0 : ttlMillis(name, "staleWhileRevalidate", options.staleWhileRevalidate)
  if (staleMillis > 0 && ttl === Infinity) {
    reject(
      name,
      "staleWhileRevalidate",
      "needs a `ttl`: it is how long after the ttl a stale value is still served. Add a ttl, or leave it out."
    )
  }
  const limits = { ttlMillis: ttl, staleMillis, maxEntries, maxBytes }
  if (options.copy !== undefined && options.copy !== "clone" && options.copy !== "readonly") {
    reject(name, "copy", `must be "clone" or "readonly", got ${JSON.stringify(options.copy)}.`)
  }
  for (const [option, schema] of [
    ["key", options.key],
    ["value", options.value]
  ] as const) {
    if (schema !== undefined && !Schema.isSchema(schema)) reject(name, option, "must be a Schema.")
    if (schema !== undefined && isForeignSchema(schema as Schema.Top))
      reject(name, option, `is a Schema from a second copy of effect. ${advice}`)
  }
  // A non-tuple key schema describes one argument: on a function that declares
  // more, the others would leave the key.
  if (options.key !== undefined && options.key.ast._tag !== "Arrays" && f.length > 1) {
    reject(
      name,
      "key",
      `a non-tuple key schema describes one argument, but the function declares ${f.length}. ` +
        "Describe every argument: Schema.Tuple([...]) with one schema per argument."
    )
  }
  for (const option of ["cacheIf", "validate"] as const) {
    if (options[option] !== undefined && typeof options[option] !== "function") reject(name, option, "must be a function.")
  }
  if (options.hashers !== undefined && !Array.isArray(options.hashers)) {
    reject(name, "hashers", "must be an array of [Class, (instance) => value] pairs; build each with Hasher.by(Class, f).")
  }
  for (const pair of options.hashers ?? []) {
    if (!isTypeHasher(pair)) {
      reject(
        name,
        "hashers",
        `each entry must be [Class, (instance) => value], got ${describeType(pair)}; build one with Hasher.by(Class, f).`
      )
    }
  }
  return { name, limits, options }
}

/**
 * The own fields of an options object, each read once: what is checked is what
 * is used. A getter or Proxy that throws, symbol keys and arrays are rejected.
 */
const snapshot = (where: string, given: unknown, expected: string): Record<string, unknown> => {
  if (typeof given !== "object" || given === null) return reject(where, "options", `must be ${expected}, got ${describeType(given)}.`)
  try {
    if (Array.isArray(given)) return reject(where, "options", `must be ${expected}, got Array.`)
    const symbols = Object.getOwnPropertySymbols(given)
    if (symbols.length > 0) return reject(where, String(symbols[0]), "option names are strings; symbol keys are not options.")
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(given)) out[key] = (given as Record<string, unknown>)[key]
    return out
  } catch (e) {
    if (e instanceof OptionProblem) throw e
    return reject(where, "options", `reading them threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}.`)
  }
}

/** A function whose source text is `[native code]`: bound functions and built-ins. */
const hasNativeSource = (f: Function): boolean => /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(f))

/** A layer's options, as DataCache's and ResourceCache's layers take them. */
interface LayerOptions {
  readonly maxBytes?: number | undefined
  readonly sweepInterval?: Duration.Input | undefined
  readonly replay?: boolean | undefined
}

const layerOptionNames: ReadonlySet<string> = new Set<keyof LayerOptions>(["maxBytes", "sweepInterval", "replay"])

/** `[Class, f]`: a class (a function with a prototype object, so `instanceof` works) and a function. */
const isTypeHasher = (pair: unknown): boolean =>
  Array.isArray(pair) &&
  pair.length === 2 &&
  typeof pair[0] === "function" &&
  typeof pair[0].prototype === "object" &&
  pair[0].prototype !== null &&
  typeof pair[1] === "function"

/**
 * Checks a DataCache layer's options when the layer is made.
 *
 * @throws OptionProblem
 * @internal
 */
export const layerOptions = (
  where: string,
  options: LayerOptions | undefined,
  names: ReadonlySet<string> = layerOptionNames
): { readonly maxBytes: number; readonly sweepMillis: number; readonly replay: boolean | undefined } => {
  if (options === undefined) return { maxBytes: Infinity, sweepMillis: 60_000, replay: undefined }
  options = snapshot(where, options, "an options object") as LayerOptions
  for (const option of Object.keys(options)) {
    if (!names.has(option)) {
      const closest = closestName(option, names)
      reject(
        where,
        option,
        `no such option${closest === undefined ? "" : `; did you mean \`${closest}\``}? The options are: ${Array.from(names).join(", ")}.`
      )
    }
  }
  const maxBytes = positive(where, "maxBytes", options.maxBytes)
  const replay = options.replay
  if (replay !== undefined && typeof replay !== "boolean") {
    reject(where, "replay", `must be true or false, got ${describeInput(replay)}. Leave it out for the default.`)
  }
  if (options.sweepInterval === undefined) return { maxBytes, sweepMillis: 60_000, replay }
  const sweepMillis = durationMillis(options.sweepInterval)
  if (sweepMillis === undefined || !(sweepMillis > 0) || sweepMillis === Infinity) {
    return reject(
      where,
      "sweepInterval",
      `must be a positive, finite duration such as "1 minute", got ${describeInput(options.sweepInterval)}. ` +
        "Leave it out for the default of 1 minute."
    )
  }
  return { maxBytes, sweepMillis, replay }
}

const storeLayerOptionNames: ReadonlySet<string> = new Set([...layerOptionNames, "secret", "storeTimeout", "lockTtl", "lockWait"])

/**
 * Checks `DataCache.layerStore`'s options: the layer's, plus the store's
 * `secret`, `storeTimeout` (default 5 seconds), `lockTtl` (default 10
 * seconds) and `lockWait` (default 5 minutes).
 *
 * @throws OptionProblem
 * @internal
 */
export const storeLayerOptions = (
  options:
    | (LayerOptions & {
        readonly secret?: unknown
        readonly storeTimeout?: unknown
        readonly lockTtl?: unknown
        readonly lockWait?: unknown
      })
    | undefined
): {
  readonly maxBytes: number
  readonly sweepMillis: number
  readonly replay: boolean | undefined
  readonly timeoutMillis: number
  readonly lockMillis: number
  readonly lockWaitMillis: number
  readonly secret: unknown
} => {
  const where = "DataCache.layerStore"
  const layer = layerOptions(where, options, storeLayerOptionNames)
  const finite = (option: string, input: unknown, fallback: number): number => {
    if (input === undefined) return fallback
    const millis = durationMillis(input)
    if (millis === undefined || !(millis > 0) || millis === Infinity) {
      return reject(
        where,
        option,
        `must be a positive, finite duration such as "5 seconds", got ${describeInput(input)}. Leave it out for the default.`
      )
    }
    return millis
  }
  const secret = options?.secret
  if (secret !== undefined && !Redacted.isRedacted(secret) && !Config.isConfig(secret)) {
    reject(
      where,
      "secret",
      `must be a Redacted (Redacted.make("...")) or a Config of one (Config.Redacted("RECALL_SECRET")), got ${typeof secret === "string" ? `a string of ${secret.length} characters` : describeType(secret)}: ` +
        "a plain string would show up in logs."
    )
  }
  if (Redacted.isRedacted(secret)) storeSecret(secret, "")
  return {
    ...layer,
    timeoutMillis: finite("storeTimeout", options?.storeTimeout, 5_000),
    lockMillis: finite("lockTtl", options?.lockTtl, 10_000),
    lockWaitMillis: finite("lockWait", options?.lockWait, 5 * 60_000),
    secret
  }
}

/**
 * Checks a store secret's contents: a string or bytes, at least 16 bytes.
 * `from` says where it came from in the message (" (read from Config)").
 * The message never shows the secret.
 *
 * @internal
 */
export const storeSecret = (secret: Redacted.Redacted<unknown>, from: string): void => {
  const raw = Redacted.value(secret)
  const bytes = typeof raw === "string" ? utf8Length(raw) : raw instanceof Uint8Array ? raw.byteLength : -1
  if (bytes < 0) reject("DataCache.layerStore", "secret", `must hold a string or a Uint8Array${from}, got ${describeType(raw)}.`)
  if (bytes < 16) {
    reject(
      "DataCache.layerStore",
      "secret",
      `must be at least 16 bytes${from}, got ${bytes}: use a random string of 32 characters or more.`
    )
  }
}

/** The UTF-8 length of a string, without an encoder (core builds without DOM or Node types). */
const utf8Length = (text: string): number => {
  let bytes = 0
  for (const char of text) {
    const code = char.codePointAt(0)!
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4
  }
  return bytes
}

const reject = (functionName: string, option: string, reason: string): never => {
  throw new OptionProblem(functionName, option, reason)
}

const positive = (name: string, option: string, value: number | undefined): number => {
  if (value === undefined) return Infinity
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    return reject(name, option, `must be a positive number, got ${describeInput(value)}. Leave it out for no limit.`)
  }
  return value
}

const ttlMillis = (name: string, option: "ttl" | "staleWhileRevalidate", ttl: Duration.Input | string | undefined): number => {
  if (ttl === undefined) return Infinity
  const millis = durationMillis(ttl)
  if (millis === undefined) {
    return reject(
      name,
      option,
      `cannot read ${describeInput(ttl)} as a duration. Use a number of milliseconds or a string such as "10 minutes".`
    )
  }
  if (!(millis >= 1)) {
    return reject(
      name,
      option,
      `must be at least 1 millisecond (the clock's resolution), got ${millis} ms. ` +
        (option === "ttl" ? "Leave it out to keep entries until evicted." : "Leave it out for no stale window.")
    )
  }
  return millis
}

/** Milliseconds of a duration input, or `undefined` when it is not one (NaN included). */
const durationMillis = (input: unknown): number | undefined => {
  if (typeof input === "number" && Number.isNaN(input)) return undefined
  let duration: Option.Option<Duration.Duration>
  try {
    duration = Duration.fromInput(input as Duration.Input)
  } catch {
    return undefined
  }
  return Option.isSome(duration) ? Duration.toMillis(duration.value) : undefined
}

/** A bad option value as the message shows it: strings quoted, other values by type or text. */
const describeInput = (input: unknown): string =>
  typeof input === "string"
    ? JSON.stringify(input)
    : typeof input === "number" || typeof input === "bigint" || typeof input === "boolean"
      ? String(input)
      : describeType(input)

const dataCacheOnly: ReadonlySet<string> = new Set(["value", "copy", "cacheIf", "maxBytes"])

/** Every option any face takes, read loosely: the face's own names say which it accepts. */
type AnyOptions = CommonOptions & {
  readonly maxBytes?: number | undefined
  readonly copy?: unknown
  readonly value?: unknown
  readonly cacheIf?: unknown
  readonly validate?: unknown
}

const unknownOptionReason = (option: string, optionNames: ReadonlySet<string>): string => {
  const closest = closestName(option, optionNames)
  return `no such option${closest === undefined ? "" : `; did you mean \`${closest}\``}? The options are: ${Array.from(optionNames).join(", ")}.`
}

/** The closest known name to `name`, if a typo could explain it (edits within a third of its length, at least 2). */
const closestName = (name: string, names: Iterable<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of names) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance <= Math.max(2, Math.floor(candidate.length / 3)) && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The function's name: the `name` option, else the function's own name; never empty. */
const nameOf = (kind: string, options: CommonOptions, f: Function): string => {
  if (options.name !== undefined) {
    if (typeof options.name !== "string" || options.name.trim() === "") {
      return reject(String(f.name || "(anonymous)"), "name", `must be a non-empty string, got ${describeInput(options.name)}.`)
    }
    return options.name
  }
  if (f.name !== "") return f.name
  return reject(
    "(anonymous)",
    "name",
    isEffectFnWrapper(f)
      ? `Effect.fn hides its name from recall; name the cached function: ${kind}.fn("loadTrips", function* (...) { ... }).`
      : `an anonymous function needs a name: ${kind}.fn("loadTrips", ...) or ${kind}.fn({ name: "loadTrips" }, ...).`
  )
}

const GeneratorFunction = Object.getPrototypeOf(function* () {}) as object

export const isGeneratorFunction = (f: Function): boolean => Object.getPrototypeOf(f) === GeneratorFunction

// Every function Effect.fn, fnUntraced and fnUntracedEager return has the same
// source text, whatever its body: read those texts once, to recognise them.
let effectFnWrapperSources: ReadonlySet<string> | undefined

export const isEffectFnWrapper = (f: Function): boolean => {
  effectFnWrapperSources ??= new Set(
    [
      Effect.fn(function* () {}),
      Effect.fn(
        function* () {},
        (effect) => effect
      ),
      Effect.fnUntraced(function* () {}),
      Effect.fnUntraced(
        function* () {},
        (effect) => effect
      ),
      Effect.fnUntracedEager(function* () {}),
      Effect.fnUntracedEager(
        function* () {},
        (effect) => effect
      )
    ].map((wrapper) => Function.prototype.toString.call(wrapper))
  )
  return effectFnWrapperSources.has(Function.prototype.toString.call(f))
}
