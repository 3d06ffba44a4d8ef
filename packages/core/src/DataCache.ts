/**
 * `DataCache` is the `st.cache_data` of Effect: it memoizes functions that
 * return Effects, and hands every caller its own copy of the value.
 *
 * **Contract**
 *
 * - Key = function identity + argument hash. The identity is the name, a
 *   hash of the function's source text, the `version` option and the
 *   fingerprint of the `value` schema: editing the body or the schema starts a
 *   new cache, and old entries are never returned.
 * - Arguments are hashed by value ({@link Hasher}). Top-level fields whose
 *   names start with `_` in plain-object arguments are not part of the key,
 *   at run time and in the types. Trailing `undefined` arguments are dropped:
 *   `f(1)` and `f(1, undefined)` are one key.
 * - Copy isolation: every call, the first included, returns a value that
 *   shares no mutable state with the cache or with other callers (unless
 *   `copy: "readonly"`).
 * - `ttl`: an entry is a miss at exactly `storedAt + ttl`, on Effect's
 *   `Clock` (so `TestClock` drives it); reads do not extend it. Expired
 *   entries are removed on the next access to their function and by a sweep
 *   of the layer, not just hidden.
 * - `maxEntries`: least-recently-used eviction; reads and writes count as
 *   use, `has` does not. `maxBytes` per function and on the layer.
 * - Single flight: concurrent calls with one key run the body once. If the
 *   runner fails or is interrupted, one waiter takes over; interrupting a
 *   waiter never interrupts the shared computation.
 * - Failures are not cached; `cacheIf` skips storing unwanted values.
 * - A clear or invalidate during a computation wins: its late result is not
 *   stored (callers already waiting for it still get it).
 *
 * Hits stay synchronous: the key is hashed, the entry read and the copy made
 * without suspending the fiber. Only misses enter the slow path.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Hasher from "./Hasher.ts"
import * as Key from "./internal/key.ts"
import * as Table from "./internal/table.ts"
import * as Xxh3 from "./internal/xxh3.ts"
import * as ValueCodec from "./ValueCodec.ts"

const TypeId = "~@recall/core/DataCache" as const

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/**
 * Field names that are left out of the cache key.
 *
 * @category models
 * @since 0.1.0
 */
export type ExcludedKey = `_${string}`

/**
 * One argument as the key sees it: an object type without its `_` fields.
 *
 * @category models
 * @since 0.1.0
 */
export type KeyOf<T> = T extends object
  ? [Extract<keyof T, ExcludedKey>] extends [never]
    ? T
    : { readonly [K in keyof T as K extends ExcludedKey ? never : K]: T[K] }
  : T

/**
 * The arguments as the key sees them, e.g. the type of a `key` schema.
 *
 * @category models
 * @since 0.1.0
 */
export type KeyArgs<Args extends ReadonlyArray<unknown>> = { readonly [I in keyof Args]: KeyOf<Args[I]> }

/**
 * The arguments `invalidate` takes: the call's arguments, where `_` fields may
 * be left out.
 *
 * @category models
 * @since 0.1.0
 */
export type InvalidateArgs<Args extends ReadonlyArray<unknown>> = {
  readonly [I in keyof Args]: Args[I] extends object
    ? [Extract<keyof Args[I], ExcludedKey>] extends [never]
      ? Args[I]
      : KeyOf<Args[I]> & { readonly [K in keyof Args[I] as K extends ExcludedKey ? K : never]?: Args[I][K] }
    : Args[I]
}

/**
 * A deeply readonly view of `A`, the type `copy: "readonly"` values have.
 *
 * @category models
 * @since 0.1.0
 */
export type DeepReadonly<A> = A extends (...args: ReadonlyArray<any>) => unknown
  ? A
  : A extends ReadonlyMap<infer K, infer V>
    ? ReadonlyMap<DeepReadonly<K>, DeepReadonly<V>>
    : A extends ReadonlySet<infer V>
      ? ReadonlySet<DeepReadonly<V>>
      : A extends ArrayBufferView | ArrayBuffer | Date
        ? A
        : A extends object
          ? { readonly [K in keyof A]: DeepReadonly<A[K]> }
          : A

/**
 * The value type of a cached function: the `value` schema's type when given,
 * deeply readonly with `copy: "readonly"`.
 *
 * @category models
 * @since 0.1.0
 */
export type ValueOf<O, A> = O extends { readonly copy: "readonly" }
  ? DeepReadonly<A>
  : O extends { readonly value: Schema.Top }
    ? O["value"]["Type"]
    : A

/**
 * Type checks of the `key` and `value` schemas against the function: the key
 * schema must accept the arguments without their `_` fields, and the value
 * schema must accept what the function returns. A mismatch turns the option's
 * expected type into a message saying so.
 *
 * @category models
 * @since 0.1.0
 */
export type SchemaChecks<O, Args extends ReadonlyArray<unknown>, A> = (O extends { readonly key: infer S extends Schema.Top }
  ? S["Type"] extends ReadonlyArray<unknown>
    ? [KeyArgs<Args>] extends [S["Type"]]
      ? unknown
      : { readonly key: "the key schema must accept the arguments without their `_` fields (DataCache.KeyArgs)" }
    : Args["length"] extends 0 | 1
      ? [KeyOf<Args[0]>] extends [S["Type"]]
        ? unknown
        : { readonly key: "the key schema must accept the argument without its `_` fields (DataCache.KeyOf)" }
      : { readonly key: "a non-tuple key schema describes one argument; this function takes more: use Schema.Tuple([...]) for all of them" }
  : unknown) &
  (O extends { readonly value: infer S extends Schema.Top }
    ? [A] extends [S["Type"]]
      ? unknown
      : { readonly value: "the value schema must accept what the function returns" }
    : unknown)

/**
 * Rejects option names that {@link Options} does not have (a typo such as
 * `maxEntry`): each unknown name's expected type becomes a message saying so.
 *
 * @category models
 * @since 0.1.0
 */
export type UnknownOptions<O> = {
  readonly [K in Exclude<keyof O, keyof Options<unknown>>]: `unknown option: ${K & string} is not a DataCache.fn option`
}

/**
 * The body of a generator-style cached function, as `Effect.fn` takes it.
 *
 * @category models
 * @since 0.1.0
 */
export type GeneratorBody<Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A> = (
  ...args: Args
) => Generator<Eff, A, never>

/**
 * Options of a cached function. Every option is optional except a name for
 * anonymous functions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<A> {
  /**
   * Names the function in keys, stats, metrics, spans and errors.
   *
   * Default: the function's own `name`. An anonymous function without a
   * `name` option is rejected. Two functions with the same name and the same
   * source text share one cache: give one a `version` to separate them.
   */
  readonly name?: string | undefined
  /**
   * Joins the function identity. Bump it to drop every entry of the function
   * when something outside its source changed (a data file, a dependency).
   *
   * Default: none.
   */
  readonly version?: string | number | undefined
  /**
   * A Schema for the arguments, used to hash them: a `Schema.Tuple` for
   * positional arguments, or a `Schema.Struct` (any non-tuple schema) for a
   * function of one argument only: on a function of several arguments it is
   * a type error, and a call with more than one argument fails with
   * `UnhashableParamError`, never a key that leaves an argument out. It describes the arguments without their `_`
   * fields ({@link KeyArgs}), and may describe less: fields it does not
   * declare never reach the key. Arguments that do not match it fail the call
   * with `UnhashableParamError`, carrying the schema's issue.
   *
   * Default: the structural hasher ({@link Hasher.structural}), which handles
   * primitives, arrays, plain objects, Date, Map, Set, typed arrays and Data /
   * Schema.Class instances. Cost: one schema encode per call, hit or miss.
   */
  readonly key?: (Schema.Top & { readonly EncodingServices: never }) | undefined
  /**
   * A Schema for the value. Values are kept in its JSON encoding and decoded
   * on every hit, so class instances, Dates and branded types come back as
   * themselves, validated. Its fingerprint joins the function identity:
   * changing the schema starts a new cache.
   *
   * The cached function returns the schema's type. A value the body returns
   * that does not match fails the call with `UnserializableValueError`.
   *
   * Default: a structured copy (deep copies in and out, no class instances).
   * Cost: one encode per miss and one decode per hit, usually slower than the
   * structured copy for plain data. Ignored with `copy: "readonly"`.
   */
  readonly value?: (Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }) | undefined
  /**
   * Time to live of each entry, from the moment it is stored. An entry is a
   * miss at exactly `storedAt + ttl`; reads do not extend it.
   *
   * Default: no expiry. Must be positive. Time comes from Effect's `Clock`.
   */
  readonly ttl?: Duration.Input | undefined
  /**
   * Most entries kept for this function; the least recently used is evicted
   * first. Reads and writes count as use.
   *
   * Default: unbounded. Must be a positive integer.
   */
  readonly maxEntries?: number | undefined
  /**
   * Byte budget for this function's stored values (an estimate of their
   * in-memory size). Least recently used entries are evicted to stay under
   * it; a single value larger than the budget is returned but not stored.
   *
   * Default: unbounded (the layer's budget still applies).
   */
  readonly maxBytes?: number | undefined
  /**
   * Called with each computed value; `false` skips storing it (empty results,
   * partial data). The caller still gets the value.
   *
   * Default: store every value.
   */
  readonly cacheIf?: ((value: NoInfer<A>) => boolean) | undefined
  /**
   * Per-type hashers for arguments the structural hasher cannot see into:
   * `[Class, (instance) => hashable value]`, best built with {@link Hasher.by}.
   * The typed form of Streamlit's `hash_funcs`. Ignored when `key` is given.
   */
  readonly hashers?: ReadonlyArray<Hasher.TypeHasher> | undefined
  /**
   * `"clone"` (default): every caller gets its own deep copy. `"readonly"`:
   * every caller gets the same deep-frozen instance, typed deeply readonly;
   * no copy on hit, for large data where copying costs too much.
   */
  readonly copy?: "clone" | "readonly" | undefined
  /**
   * Show a spinner while the function computes: `true` (text
   * "Running name(...)"), `false`, or the text to show. Accepted now; the
   * terminal spinner comes with `@recall/node`.
   */
  readonly spinner?: boolean | string | undefined
  /** Show the computation's duration next to the spinner. Accepted now, wired later. */
  readonly showTime?: boolean | undefined
  /** Replay Console output and logs of a miss on every hit. Accepted now, wired later. */
  readonly replay?: boolean | undefined
}

/**
 * The counters recall keeps, per function and in total.
 *
 * @category models
 * @since 0.1.0
 */
export interface Counters {
  /** Calls served without running the body: from the cache, or by sharing a computation in flight. */
  readonly hits: number
  /** Calls that ran the body. */
  readonly misses: number
  /** Entries removed for `maxEntries` or a byte budget. */
  readonly evictions: number
  /** Entries removed because their `ttl` passed. */
  readonly expirations: number
  /** Entries removed by `invalidate` or `clear`. */
  readonly invalidations: number
  /** Live entries. */
  readonly entries: number
  /** Estimated bytes of the live entries' values. */
  readonly bytes: number
}

/**
 * Counters of one cached function.
 *
 * @category models
 * @since 0.1.0
 */
export interface FunctionStats extends Counters {
  readonly name: string
  /** The function identity: name and a hash of its source, version and value schema. */
  readonly id: string
}

/**
 * Counters of every cached function, and their totals.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats extends Counters {
  readonly functions: ReadonlyArray<FunctionStats>
}

/**
 * A cached function: call it like the original; it needs a {@link DataCache}.
 *
 * @category models
 * @since 0.1.0
 */
export interface CachedFunction<Args extends ReadonlyArray<unknown>, A, E, R> {
  (...args: Args): Effect.Effect<A, E | Hasher.UnhashableParamError | ValueCodec.UnserializableValueError, R | DataCache>
  /**
   * The function identity: the name and the XXH3-128 hash of the source,
   * `version` and value schema. Read it once a DataCache layer is built (or
   * after `Hasher.load`): the hash needs the WebAssembly hasher.
   */
  readonly id: string
  readonly name: string
  /** Removes the entry of these arguments (`_` fields may be left out). */
  readonly invalidate: (...args: InvalidateArgs<Args>) => Effect.Effect<void, Hasher.UnhashableParamError, DataCache>
  /** Whether a live entry exists for these arguments; does not count as use. */
  readonly has: (...args: InvalidateArgs<Args>) => Effect.Effect<boolean, Hasher.UnhashableParamError, DataCache>
  /** Removes every entry of this function. */
  readonly clear: Effect.Effect<void, never, DataCache>
  readonly stats: Effect.Effect<FunctionStats, never, DataCache>
}

/**
 * Raised when a cached function is defined with invalid options. Thrown by
 * {@link fn} at definition time, before any body can run.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidOptionsError extends Schema.TaggedError<InvalidOptionsError>()("InvalidOptionsError", {
  functionName: Schema.String,
  option: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid option \`${this.option}\` for cached function ${this.functionName}: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/**
 * The state a `DataCache` layer holds; reach it through the module functions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Service {
  readonly [TypeId]: typeof TypeId
  /** @internal */
  readonly registry: Table.Registry
  /** @internal Called once per function table, when its function is first called. */
  readonly onTable: (table: Table.Table) => void
}

/**
 * The service holding every cached function's entries, global to the
 * program like Streamlit's cache.
 *
 * @category services
 * @since 0.1.0
 */
export class DataCache extends Context.Service<DataCache, Service>()("@recall/core/DataCache") {}

/**
 * Options of {@link layerMemory}.
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions {
  /**
   * Byte budget for all stored values together (an estimate of their
   * in-memory size). The least recently used entry of any function is
   * evicted first. Default: unbounded.
   */
  readonly maxBytes?: number | undefined
  /**
   * How often a background fiber removes expired entries of functions that
   * are not being called (called functions purge on every access). Default:
   * 1 minute.
   */
  readonly sweepInterval?: Duration.Input | undefined
}

/**
 * The in-memory `DataCache`: the embedded default.
 *
 * **Details**
 *
 * Each build of the layer is a fresh, empty cache, so tests that provide it
 * per test are isolated. Its scope closes the expiry sweep.
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const double = DataCache.fn("double", (n: number) => Effect.succeed(n * 2))
 *
 * Effect.runPromise(double(21).pipe(Effect.provide(DataCache.layerMemory({ maxBytes: 512 * 1024 * 1024 }))))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (options?: LayerOptions): Layer.Layer<DataCache> => {
  const { maxBytes, sweepMillis } = layerLimits(options)
  return Layer.effect(
    DataCache,
    Effect.gen(function* () {
      // Hashing is synchronous on the hit path: the WebAssembly hasher loads here, once.
      yield* Xxh3.load
      const registry = new Table.Registry(maxBytes)
      const sweep = Effect.clockWith((clock) => Effect.sync(() => registry.purgeExpired(clock.currentTimeMillisUnsafe())))
      yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(sweepMillis)))
      const context = yield* Effect.context<never>()
      const registrations: Array<Metric.Registration> = []
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const registration of registrations) registration.remove()
        })
      )
      return DataCache.of({
        [TypeId]: TypeId,
        registry,
        onTable: (table) => registrations.push(...registerMetrics(table, context))
      })
    })
  )
}

const layerOptionNames: ReadonlySet<string> = new Set<keyof LayerOptions>(["maxBytes", "sweepInterval"])

/** Checks the layer's options when the layer is made, as {@link fn} checks a function's. */
const layerLimits = (options: LayerOptions | undefined): { readonly maxBytes: number; readonly sweepMillis: number } => {
  const where = "DataCache.layerMemory"
  if (options === undefined) return { maxBytes: Infinity, sweepMillis: 60_000 }
  if (typeof options !== "object" || options === null) {
    return reject(where, "options", `must be an options object, got ${Hasher.describeType(options)}.`)
  }
  for (const option of Object.keys(options)) {
    if (!layerOptionNames.has(option)) {
      const closest = closestName(option, layerOptionNames)
      reject(
        where,
        option,
        `no such option${closest === undefined ? "" : `; did you mean \`${closest}\``}? The options are: maxBytes, sweepInterval.`
      )
    }
  }
  const maxBytes = positive(where, "maxBytes", options.maxBytes)
  if (options.sweepInterval === undefined) return { maxBytes, sweepMillis: 60_000 }
  const sweepMillis = durationMillis(options.sweepInterval)
  if (sweepMillis === undefined || !(sweepMillis > 0) || sweepMillis === Infinity) {
    return reject(
      where,
      "sweepInterval",
      `must be a positive, finite duration such as "1 minute", got ${describeInput(options.sweepInterval)}. ` +
        "Leave it out for the default of 1 minute."
    )
  }
  return { maxBytes, sweepMillis }
}

// ---------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------

interface Definition<A> {
  /** The function identity; hashed on first use, when a layer has loaded the hasher. */
  readonly id: () => string
  readonly name: string
  readonly limits: Table.Limits
  readonly codec: ValueCodec.ValueCodec<A>
  readonly cacheIf: ((value: A) => boolean) | undefined
  readonly hashKey: (args: ReadonlyArray<unknown>) => string
}

const reject = (functionName: string, option: string, reason: string): never => {
  throw new InvalidOptionsError({ functionName, option, reason })
}

const positive = (name: string, option: string, value: number | undefined): number => {
  if (value === undefined) return Infinity
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    return reject(name, option, `must be a positive number, got ${String(value)}. Leave it out for no limit.`)
  }
  return value
}

const ttlMillis = (name: string, ttl: Duration.Input | undefined): number => {
  if (ttl === undefined) return Infinity
  const millis = durationMillis(ttl)
  if (millis === undefined) {
    return reject(
      name,
      "ttl",
      `cannot read ${describeInput(ttl)} as a duration. Use a number of milliseconds or a string such as "10 minutes".`
    )
  }
  if (!(millis > 0)) return reject(name, "ttl", `must be positive, got ${millis} ms. Leave it out to keep entries until evicted.`)
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
      : Hasher.describeType(input)

const optionNames: ReadonlySet<string> = new Set<keyof Options<unknown>>([
  "name",
  "version",
  "key",
  "value",
  "ttl",
  "maxEntries",
  "maxBytes",
  "cacheIf",
  "hashers",
  "copy",
  "spinner",
  "showTime",
  "replay"
])

const unknownOptionReason = (option: string): string => {
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
const nameOf = (options: Options<unknown>, f: Function): string => {
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
      ? `Effect.fn hides its name from recall; name the cached function: DataCache.fn("loadTrips", function* (...) { ... }).`
      : `an anonymous function needs a name: DataCache.fn("loadTrips", ...) or DataCache.fn({ name: "loadTrips" }, ...).`
  )
}

const GeneratorFunction = Object.getPrototypeOf(function* () {}) as object

const isGeneratorFunction = (f: Function): boolean => Object.getPrototypeOf(f) === GeneratorFunction

// Every function Effect.fn, fnUntraced and fnUntracedEager return has the same
// source text, whatever its body: read those texts once, to recognise them.
let effectFnWrapperSources: ReadonlySet<string> | undefined

const isEffectFnWrapper = (f: Function): boolean => {
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
    ].map(String)
  )
  return effectFnWrapperSources.has(String(f))
}

const define = <A>(options: Options<A>, f: Function): Definition<A> => {
  if (typeof options !== "object" || options === null) {
    return reject("(anonymous)", "options", `must be a name or an options object, got ${Hasher.describeType(options)}.`)
  }
  const name = nameOf(options as Options<unknown>, f)
  for (const option of Object.keys(options)) {
    if (!optionNames.has(option)) reject(name, option, unknownOptionReason(option))
  }
  if (options.version !== undefined && typeof options.version !== "string" && !Number.isFinite(options.version)) {
    reject(name, "version", `must be a string or a finite number, got ${Hasher.describeType(options.version)}.`)
  }
  if (isEffectFnWrapper(f) && options.version === undefined) {
    reject(
      name,
      "f",
      "Effect.fn keeps its generator in a closure, so recall cannot read its source and could not tell when you edit it. " +
        `Pass the generator itself: DataCache.fn("${name}", function* (...) { ... }) runs it as Effect.fn("${name}") would. ` +
        "Or keep Effect.fn and give a `version` that you change with every edit."
    )
  }
  const maxEntries = positive(name, "maxEntries", options.maxEntries)
  if (maxEntries !== Infinity && !Number.isInteger(maxEntries)) reject(name, "maxEntries", `must be a whole number, got ${maxEntries}.`)
  const maxBytes = positive(name, "maxBytes", options.maxBytes)
  const limits = { ttlMillis: ttlMillis(name, options.ttl), maxEntries, maxBytes }
  if (options.copy !== undefined && options.copy !== "clone" && options.copy !== "readonly") {
    reject(name, "copy", `must be "clone" or "readonly", got ${JSON.stringify(options.copy)}.`)
  }
  for (const [option, schema] of [
    ["key", options.key],
    ["value", options.value]
  ] as const) {
    if (schema !== undefined && !Schema.isSchema(schema)) reject(name, option, "must be a Schema.")
  }
  if (options.cacheIf !== undefined && typeof options.cacheIf !== "function") reject(name, "cacheIf", "must be a function.")
  if (options.hashers !== undefined && !Array.isArray(options.hashers)) {
    reject(name, "hashers", "must be an array of [Class, (instance) => value] pairs; build each with Hasher.by(Class, f).")
  }
  for (const pair of options.hashers ?? []) {
    if (!Array.isArray(pair) || typeof pair[0] !== "function" || typeof pair[1] !== "function") {
      reject(name, "hashers", "each entry must be [Class, (instance) => value]; build one with Hasher.by(Class, f).")
    }
  }
  const codec: ValueCodec.ValueCodec<A> =
    options.copy === "readonly"
      ? ValueCodec.readonly()
      : options.value !== undefined
        ? ValueCodec.fromSchema(options.value as Schema.Codec<A, unknown>)
        : ValueCodec.structuredCopy()
  let id: string | undefined
  const identity = () =>
    (id ??= `${name}:${Hasher.structural().hashUnsafe([
      f.toString(),
      options.version ?? null,
      options.value === undefined ? null : Hasher.fingerprint(options.value),
      codec.kind
    ])}`)
  const argumentsKey = Key.makeKeyHasher(options.key, options.hashers ?? [])
  return {
    id: identity,
    name,
    limits,
    codec,
    cacheIf: options.cacheIf,
    hashKey: (args) => argumentsKey(Key.keyArgs(args))
  }
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

// Metrics read the table's counters when exported, so hits pay nothing for them.
const counterMetrics = {
  hits: Metric.counter("recall_data_cache_hits", { description: "Calls served without running the body" }),
  misses: Metric.counter("recall_data_cache_misses", { description: "Calls that ran the body" }),
  evictions: Metric.counter("recall_data_cache_evictions", { description: "Entries evicted for maxEntries or a byte budget" }),
  expirations: Metric.counter("recall_data_cache_expirations", { description: "Entries removed because their ttl passed" }),
  invalidations: Metric.counter("recall_data_cache_invalidations", { description: "Entries removed by invalidate or clear" })
} as const
const gaugeMetrics = {
  entries: Metric.gauge("recall_data_cache_entries", { description: "Entries held" }),
  bytes: Metric.gauge("recall_data_cache_bytes", { description: "Estimated bytes of the values held" })
} as const

const registerMetrics = (table: Table.Table, context: Context.Context<never>): Array<Metric.Registration> => {
  const attributes = { function: table.name }
  const ignore = () => {}
  return [
    ...Object.entries(counterMetrics).map(([field, metric]) =>
      Metric.registerUnsafe(Metric.withAttributes(metric, attributes), context, {
        get: () => ({ count: table.counters[field as keyof Table.Counters], incremental: false }),
        update: ignore,
        modify: ignore
      })
    ),
    Metric.registerUnsafe(Metric.withAttributes(gaugeMetrics.entries, attributes), context, {
      get: () => ({ value: table.entries.size }),
      update: ignore,
      modify: ignore
    }),
    Metric.registerUnsafe(Metric.withAttributes(gaugeMetrics.bytes, attributes), context, {
      get: () => ({ value: table.bytes }),
      update: ignore,
      modify: ignore
    })
  ]
}

const tableOf = (service: Service, definition: Definition<any>): Table.Table => {
  const id = definition.id()
  const existing = service.registry.tables.get(id)
  if (existing !== undefined) {
    // A redefinition (same identity, new limits) takes over the table.
    if (existing.limits !== definition.limits) existing.limits = definition.limits
    return existing
  }
  const table = new Table.Table(service.registry, id, definition.name, definition.limits)
  service.registry.tables.set(id, table)
  service.onTable(table)
  return table
}

const hashArgs = (definition: Definition<any>, args: ReadonlyArray<unknown>): string | Hasher.UnhashableParamError => {
  try {
    return definition.hashKey(args)
  } catch (e) {
    if (e instanceof Hasher.Unhashable) return Hasher.toParamError(e, definition.name, [])
    throw e
  }
}

const unserializable = (definition: Definition<any>, e: unknown): ValueCodec.UnserializableValueError => {
  if (!(e instanceof ValueCodec.Unstorable)) throw e
  return new ValueCodec.UnserializableValueError({
    functionName: definition.name,
    typeName: Hasher.describeType(e.value),
    ...(e.issue === undefined ? {} : { issue: e.issue })
  })
}

/** A value for one caller from what the cache keeps; `None` when it no longer loads. */
const loadOption = <A>(definition: Definition<A>, stored: unknown): Option.Option<A> => {
  try {
    return Option.some(definition.codec.loadUnsafe(stored))
  } catch {
    return Option.none()
  }
}

/** The hit path: a fresh value for the caller, or `undefined` on a miss. Synchronous. */
const hit = <A>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A> | undefined => {
  // Like Effect's Cache: the clock is read only when entries can expire.
  const entry = table.use(key, table.limits.ttlMillis === Infinity ? 0 : nowOf(fiber))
  if (entry === undefined) return undefined
  const value = loadOption(definition, entry.stored)
  if (Option.isNone(value)) {
    // A stored value that no longer loads is dropped and recomputed.
    table.invalidate(key)
    return undefined
  }
  table.record("hit")
  return Effect.succeed(value.value)
}

const nowOf = (fiber: Fiber.Fiber<unknown, unknown>): number => fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()

/**
 * The miss path: share a computation in flight, or start one.
 *
 * Checking for a value, choosing between joining and starting a flight,
 * registering a new flight and settling it form one uninterruptible region;
 * only the body and the wait for someone else's flight are interruptible. So
 * no interrupt, wherever it lands, can leave a flight that never settles and
 * a key whose callers wait forever.
 */
const resolve = <A, E, R>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  compute: () => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ValueCodec.UnserializableValueError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiber((fiber) => {
      // Another fiber may have stored the value since this caller's hit check.
      const stored = hit(definition, table, key, fiber)
      if (stored !== undefined) return stored
      const flight = table.flights.get(key)
      return flight === undefined ? run(definition, table, key, compute, restore) : join(definition, table, key, flight, compute, restore)
    })
  )

/** Waits for another caller's computation; takes over when it ends without a value. */
const join = <A, E, R>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  flight: Table.Flight,
  compute: () => Effect.Effect<A, E, R>,
  restore: <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>
): Effect.Effect<A, E | ValueCodec.UnserializableValueError, R> =>
  Effect.flatMap(restore(Deferred.await(flight.done)), (result) => {
    switch (result._tag) {
      case "Value": {
        const value = loadOption(definition, result.stored)
        if (Option.isNone(value)) return resolve(definition, table, key, compute)
        table.record("hit")
        return Effect.succeed(value.value)
      }
      case "Fail":
        return Effect.fail(result.error as ValueCodec.UnserializableValueError)
      case "Retry":
        // The runner failed or was interrupted: check again, and take over if nobody else has.
        return resolve(definition, table, key, compute)
    }
  })

/** Runs the body as the key's only flight. Called inside `resolve`'s uninterruptible region. */
const run = <A, E, R>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  compute: () => Effect.Effect<A, E, R>,
  restore: <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>
): Effect.Effect<A, E | ValueCodec.UnserializableValueError, R> => {
  const flight: Table.Flight = { done: Deferred.makeUnsafe(), stale: false }
  table.flights.set(key, flight)
  table.record("miss")
  // Idempotent, and also run by `ensuring`: whatever happens (a defect in
  // `cacheIf`, an interrupt), the waiters are released and the flight removed.
  const settle = (result: Table.FlightResult) => {
    if (table.flights.get(key) === flight) table.flights.delete(key)
    Deferred.doneUnsafe(flight.done, Exit.succeed(result))
  }
  const body = Effect.suspend(() => {
    const effect = compute()
    return Effect.isEffect(effect) ? effect : Effect.die(notAnEffect(definition.name, effect))
  }).pipe(Effect.withSpan("recall.DataCache.compute", { attributes: { "recall.function": definition.name } }))
  const fail = (e: unknown) => {
    const error = unserializable(definition, e)
    settle({ _tag: "Fail", error })
    return Effect.fail(error)
  }
  const keep = (value: A, now: number): Effect.Effect<A, ValueCodec.UnserializableValueError> => {
    let stored: { readonly stored: unknown; readonly bytes: number }
    let own = value
    try {
      stored = definition.codec.storeUnsafe(value)
      // A schema codec's callers get the decoded value; so does the caller that computed it.
      if (definition.codec.kind === "schema") own = definition.codec.loadUnsafe(stored.stored)
    } catch (e) {
      return fail(e)
    }
    if (!flight.stale && (definition.cacheIf === undefined || definition.cacheIf(value))) {
      table.store(key, stored.stored, stored.bytes, now)
    }
    settle({ _tag: "Value", stored: stored.stored })
    return Effect.succeed(own)
  }
  return Effect.exit(restore(body)).pipe(
    Effect.flatMap(
      (exit): Effect.Effect<A, E | ValueCodec.UnserializableValueError> =>
        Exit.isFailure(exit) ? exit : Effect.clockWith((clock) => keep(exit.value, clock.currentTimeMillisUnsafe()))
    ),
    Effect.ensuring(Effect.sync(() => settle({ _tag: "Retry" })))
  )
}

const notAnEffect = (name: string, value: unknown): InvalidOptionsError =>
  new InvalidOptionsError({
    functionName: name,
    option: "f",
    reason:
      `the function returned ${Hasher.describeType(value)}, not an Effect. ` +
      "Return an Effect: wrap a generator in Effect.gen, a promise in Effect.promise or Effect.tryPromise."
  })

/**
 * Turns a function that returns an Effect into a cached one.
 *
 * **Details**
 *
 * The result takes the same arguments and returns an Effect that needs a
 * {@link DataCache}. A hit returns a fresh copy of the stored value at once; a
 * miss runs the body in the caller's fiber (with the caller's services) and
 * stores a copy of its value. Concurrent calls with one key run the body
 * once. Errors are never cached.
 *
 * Invalid options throw {@link InvalidOptionsError} here, when the function
 * is defined, rather than when it is first called.
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const expensive = DataCache.fn("expensive", (a: number, b: number) =>
 *   Effect.sleep("2 seconds").pipe(Effect.as(a * b)))
 *
 * const program = Effect.gen(function*() {
 *   yield* expensive(2, 21) // miss: runs for 2 s
 *   yield* expensive(2, 21) // hit: a fresh copy at once
 *   yield* expensive.invalidate(2, 21)
 *   yield* DataCache.clear
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(DataCache.layerMemory())))
 * ```
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Effect, Schema } from "effect"
 *
 * const Trip = Schema.Struct({ id: Schema.Number, start: Schema.Date })
 *
 * const loadTrips = DataCache.fn(
 *   { name: "loadTrips", ttl: "1 hour", maxEntries: 1000, value: Schema.Array(Trip) },
 *   ({ city }: { city: string; _log: (line: string) => void }) =>
 *     Effect.succeed([{ id: 1, start: new Date(0) }])
 * )
 *
 * // `_log` is not part of the key; invalidate without it:
 * const refresh = loadTrips.invalidate({ city: "Oslo" })
 * ```
 *
 * @throws InvalidOptionsError
 * @category constructors
 * @since 0.1.0
 */
export const fn: {
  <const Args extends ReadonlyArray<any>, A, E, R>(
    name: string,
    f: (...args: Args) => Effect.Effect<A, E, R>
  ): CachedFunction<Args, A, E, R>
  <const Args extends ReadonlyArray<any>, A, E, R, const O extends Options<NoInfer<A>> = {}>(
    options: O & Options<NoInfer<A>> & SchemaChecks<O, NoInfer<Args>, NoInfer<A>> & UnknownOptions<O>,
    f: (...args: Args) => Effect.Effect<A, E, R>
  ): CachedFunction<Args, ValueOf<O, A>, E, R>
  <const Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A>(
    name: string,
    body: GeneratorBody<Args, Eff, A>
  ): CachedFunction<Args, A, Effect.Error<Eff>, Effect.Services<Eff>>
  <const Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A, const O extends Options<NoInfer<A>> = {}>(
    options: O & Options<NoInfer<A>> & SchemaChecks<O, NoInfer<Args>, NoInfer<A>> & UnknownOptions<O>,
    body: GeneratorBody<Args, Eff, A>
  ): CachedFunction<Args, ValueOf<O, A>, Effect.Error<Eff>, Effect.Services<Eff>>
} = (
  nameOrOptions: string | Options<unknown>,
  f: (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown> | Generator<unknown, unknown, never>
): CachedFunction<ReadonlyArray<unknown>, unknown, unknown, unknown> => {
  if (typeof f !== "function") {
    throw new InvalidOptionsError({
      functionName: typeof nameOrOptions === "string" ? nameOrOptions : String(nameOrOptions?.name ?? "(anonymous)"),
      option: "f",
      reason: "the second argument must be a function returning an Effect, or a generator function as Effect.fn takes."
    })
  }
  const options = typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions
  const definition = define(options, f)
  // A generator body runs as Effect.fn(name) would run it; its own source is the identity.
  const compute = (isGeneratorFunction(f) ? Effect.fn(definition.name)(f as GeneratorBody<Array<unknown>, any, unknown>) : f) as (
    ...args: ReadonlyArray<unknown>
  ) => Effect.Effect<unknown, unknown, unknown>
  const withTable = <X, EX>(body: (table: Table.Table, fiber: Fiber.Fiber<unknown, unknown>) => Effect.Effect<X, EX, unknown>) =>
    Effect.withFiber((fiber) => {
      const service = Context.getUnsafe(fiber.context, DataCache)
      return body(tableOf(service, definition), fiber)
    })
  const cached = (...args: ReadonlyArray<unknown>) =>
    withTable((table, fiber) => {
      const key = hashArgs(definition, args)
      if (typeof key !== "string") return Effect.fail(key)
      return hit(definition, table, key, fiber) ?? resolve(definition, table, key, () => compute(...args))
    })
  const byKey = <X>(args: ReadonlyArray<unknown>, body: (table: Table.Table, key: string, now: number) => X) =>
    withTable((table, fiber) => {
      const key = hashArgs(definition, args)
      return typeof key === "string" ? Effect.sync(() => body(table, key, nowOf(fiber))) : Effect.fail(key)
    })
  // A function's own `name` is read-only to assignment, not to definition.
  Object.defineProperty(cached, "name", { value: definition.name })
  Object.defineProperty(cached, "id", { get: definition.id, enumerable: true })
  return Object.assign(cached, {
    invalidate: (...args: ReadonlyArray<unknown>) => byKey(args, (table, key) => table.invalidate(key)),
    has: (...args: ReadonlyArray<unknown>) => byKey(args, (table, key, now) => table.has(key, now)),
    clear: withTable((table) => Effect.sync(() => table.clear())),
    stats: withTable((table, fiber) =>
      Effect.sync(() => {
        table.purgeExpired(nowOf(fiber))
        return functionStats(table)
      })
    )
  }) as unknown as CachedFunction<ReadonlyArray<unknown>, unknown, unknown, unknown>
}

const functionStats = (table: Table.Table): FunctionStats => ({
  name: table.name,
  id: table.id,
  ...table.counters,
  entries: table.entries.size,
  bytes: table.bytes
})

/**
 * Removes every entry of every cached function. Computations in flight finish
 * for their callers but are not stored.
 *
 * @category operations
 * @since 0.1.0
 */
export const clear: Effect.Effect<void, never, DataCache> = Effect.map(DataCache, (service) => {
  for (const table of service.registry.tables.values()) table.clear()
})

/**
 * Counters of every cached function that has been called, and their totals.
 * Expired entries are purged first, so `entries` and `bytes` are exact.
 *
 * @category operations
 * @since 0.1.0
 */
export const stats: Effect.Effect<Stats, never, DataCache> = Effect.flatMap(DataCache, (service) =>
  Effect.clockWith((clock) =>
    Effect.sync(() => {
      service.registry.purgeExpired(clock.currentTimeMillisUnsafe())
      const functions = Array.from(service.registry.tables.values(), functionStats)
      const totals = { hits: 0, misses: 0, evictions: 0, expirations: 0, invalidations: 0, entries: 0, bytes: 0 }
      for (const stats of functions) {
        for (const field of Object.keys(totals) as Array<keyof Counters>) totals[field] += stats[field]
      }
      return { functions, ...totals }
    })
  )
)
