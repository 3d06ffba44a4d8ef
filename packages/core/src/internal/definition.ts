/**
 * Defining a cached function, for both faces: options checked once, the
 * function identity, the two notions of its key, and the body it runs.
 *
 * **Identity.** A function's identity is its name, its source text (a
 * generator body's own), `version`, the per-type hashers, the `key` schema
 * and what the face adds (DataCache: the `value` schema and the copy mode).
 * It exists twice: exactly, as the in-memory table id (`memoryId`, which
 * needs no hasher), and as `name:hash` (`publicId`, the XXH3-128 of those
 * parts: stats, Metrics and, with the store tier, the namespace of its
 * entries).
 *
 * **Keys.** A call's arguments have two keys: the exact in-memory key of its
 * entry (`hashKey`: the arguments themselves when small, a digest when large;
 * see internal/key.ts), and the bounded name a store uses (`storeName`: the
 * 32-hex-digit XXH3-128 of the arguments' canonical form, the same in every
 * process).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { CommonOptions } from "../CachedFunction.ts"
import { InvalidOptionsError } from "../CachedFunction.ts"
import * as Hasher from "../Hasher.ts"
import type { Face, Kind } from "./face.ts"
import * as Key from "./key.ts"
import * as Parameters from "./parameters.ts"
import type * as Table from "./table.ts"
import * as Validate from "./validate.ts"

/**
 * One cached function, as the engine runs it: its identity, limits, keys,
 * face and presentation.
 *
 * @internal
 */
export interface Definition<A, S> {
  readonly name: string
  /** The exact identity: the id of its table in every cache. */
  readonly memoryId: string
  /** `name:hash` of the identity; needs the hasher (throws `NotLoaded` before it loads). */
  readonly publicId: () => string
  readonly limits: Table.Limits
  /** The exact in-memory key of a call's arguments. */
  readonly hashKey: (args: ReadonlyArray<unknown>) => string
  /** The bounded name a store gives a call's entry: 32 hex digits, the same in every process. */
  readonly storeName: (args: ReadonlyArray<unknown>) => string
  /** {@link storeName} under a store secret: `mac` (a keyed digest) names the canonical form. */
  readonly storeNamer: (mac: ((form: Uint8Array) => string) | undefined) => (args: ReadonlyArray<unknown>) => string
  /** Which arguments the keys leave out (the `_` parameters), for summaries. */
  readonly parameters: Parameters.Plan
  readonly cacheIf: ((value: A) => boolean) | undefined
  /** `replay` as given; `undefined` takes the layer's default. */
  readonly replay: boolean | undefined
  /** Text for reporters; `undefined` when `spinner: false`. */
  readonly spinner: string | undefined
  /** The text of a call with no arguments: `Running name()` by default, as Streamlit words it. */
  readonly spinnerWithoutArguments: string | undefined
  readonly showTime: boolean
  readonly face: Face<A, S>
  /** The body: the user's function (a generator body already wrapped as `Effect.fn` would). */
  readonly compute: (...args: ReadonlyArray<unknown>) => Effect.Effect<A, unknown, unknown>
}

/**
 * A public identity as stats and Metrics show it: `name:hash`, or
 * `"unavailable"` where the hasher cannot load (a page without WebAssembly).
 *
 * @internal
 */
export const shownId = (publicId: () => string): string => {
  try {
    return publicId()
  } catch {
    return "unavailable"
  }
}

/**
 * Runs option checks, turning a problem they find into the public
 * {@link InvalidOptionsError}. A function declaration, so that layers can use
 * it while their module loads.
 *
 * @internal
 */
export function invalidOptions<X>(check: () => X): X {
  try {
    return check()
  } catch (e) {
    if (e instanceof Validate.OptionProblem) throw new InvalidOptionsError(e)
    throw e
  }
}

/** What a face adds to a definition, from its checked options. @internal */
export interface FaceOf<A, S> {
  readonly face: Face<A, S>
  /** Parts of the identity only this face has (a value schema, a copy mode), as plain data. */
  readonly identity: ReadonlyArray<unknown>
  readonly cacheIf?: ((value: A) => boolean) | undefined
}

/**
 * A schema as plain data for the identity: its JSON Schema document, and
 * the shape of its AST. The document describes the encoded side only
 * (`Schema.String` and `Schema.NumberFromString` are both `{ type: "string" }`);
 * the shape adds what it leaves out: each node's kind and fields, the
 * encodings and their transformations' kinds. A change inside a
 * transformation's own functions is not seen (their closures have one source
 * text): bump the function's `version` for that.
 *
 * @internal
 */
export const schemaIdentity = (schema: Schema.Top | undefined): unknown =>
  schema === undefined ? null : { document: Schema.toJsonSchemaDocument(schema), shape: shapeOf(schema.ast) }

/**
 * The AST as plain data: constructors and fields, functions as a mark,
 * regular expressions by their source and flags, cycles as references.
 * Annotations are left to the document, but for what a check keeps in
 * its own (`representation`: the check's id and its parameters, and
 * `expected`): the document does not always carry them (`isMinLength(2)`
 * gave `minLength: 1` there), and without them `isMinLength(1)` and
 * `isMinLength(2)`, or `isPattern(/^a/)` and `isPattern(/^b/)`, were one
 * identity (found by an attack trial).
 */
const shapeOf = (ast: unknown): unknown => {
  const seen = new Map<object, number>()
  const walk = (node: unknown): unknown => {
    if (typeof node === "function") return "ƒ"
    if (typeof node === "bigint") return `${node}n`
    if (typeof node === "symbol") return String(node)
    if (node === null || typeof node !== "object") return node === undefined ? null : node
    if (node instanceof RegExp) return { "~": "RegExp", source: node.source, flags: node.flags }
    const at = seen.get(node)
    if (at !== undefined) return { ref: at }
    seen.set(node, seen.size)
    if (Array.isArray(node)) return node.map(walk)
    const out: Record<string, unknown> = { "~": (node as { constructor?: { name?: unknown } }).constructor?.name ?? null }
    for (const key of Object.keys(node).sort()) {
      const value = (node as Record<string, unknown>)[key]
      if (key !== "annotations") out[key] = walk(value)
      else if (typeof (node as { run?: unknown }).run === "function" && value !== null && typeof value === "object") {
        // A check's own annotations: what it checks, not how it is described.
        const { representation, expected } = value as { representation?: unknown; expected?: unknown }
        out[key] = walk({ representation, expected })
      }
    }
    return out
  }
  return walk(ast)
}

/**
 * Checks a cached function's options and builds its definition.
 *
 * @throws InvalidOptionsError
 * @internal
 */
export const define = <A, S, O extends CommonOptions>(
  kind: Kind,
  given: O,
  f: Function,
  optionNames: ReadonlySet<string>,
  faceOf: (options: O, name: string) => FaceOf<A, S>
): Definition<A, S> => {
  // Each option is read once, by the checks: what was checked is what is used.
  const checked = invalidOptions(() => Validate.functionOptions(kind, given, f, optionNames))
  const { name, limits } = checked
  const options = checked.options as O
  const { face, identity: faceIdentity, cacheIf } = invalidOptions(() => faceOf(options, name))
  const parts = [
    // Function.prototype's own toString: an own `toString` cannot stand in for the source.
    Function.prototype.toString.call(f),
    options.version ?? null,
    ...faceIdentity,
    // Per-type hashers decide what a key is: other hashers, other entries. In any order: the nearest class's wins.
    (options.hashers ?? []).map(([Class, hash]) => JSON.stringify([Class.name, Function.prototype.toString.call(hash)])).sort(),
    schemaIdentity(options.key as Schema.Top | undefined)
  ]
  const memoryId = `${name}\u0000${JSON.stringify(parts)}`
  let publicId: string | undefined
  const argumentsKey = Key.makeKeyHasher(options.key, options.hashers ?? [])
  const storeNamer = (mac: ((form: Uint8Array) => string) | undefined) => {
    const argumentsName = Key.makeStoreNamer(options.key, options.hashers ?? [], mac)
    return Parameters.keyed(parameters, (args) => argumentsName(Key.keyArgs(args)))
  }
  const parameters = Parameters.planOf(f, Validate.isEffectFnWrapper(f))
  return {
    name,
    memoryId,
    publicId: () => (publicId ??= `${name}:${Hasher.structural().hashUnsafe(parts)}`),
    limits,
    hashKey: Parameters.keyed(parameters, (args) => argumentsKey(Key.keyArgs(args))),
    storeName: storeNamer(undefined),
    storeNamer,
    parameters,
    cacheIf,
    replay: options.replay,
    spinner: options.spinner === false ? undefined : typeof options.spinner === "string" ? options.spinner : `Running ${name}(...)`,
    spinnerWithoutArguments:
      options.spinner === false ? undefined : typeof options.spinner === "string" ? options.spinner : `Running ${name}()`,
    showTime: options.showTime === true,
    face,
    compute: computeOf(name, f) as (...args: ReadonlyArray<unknown>) => Effect.Effect<A, unknown, unknown>
  }
}

/**
 * The body a cached function runs: a generator body runs as `Effect.fn(name)`
 * would. It is called as a plain function, so `this` in it is `undefined`
 * (as in any function called bare in a module), never the definition that
 * runs it: a method body that reads `this` fails loudly instead of reading
 * recall's own fields, and a result that depends on an object no key holds is
 * not cached.
 *
 * @internal
 */
export const computeOf = (name: string, f: Function): ((...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown>) => {
  const body = (
    Validate.isGeneratorFunction(f) ? Effect.fn(name)(f as (...args: Array<unknown>) => Generator<any, unknown, never>) : f
  ) as (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown>
  return (...args) => body(...args)
}

/** Rejects a second argument that is not a function. @internal */
export const requireFunction = (kind: Kind, nameOrOptions: unknown, f: unknown): void => {
  if (typeof nameOrOptions === "function") {
    // The body alone (Streamlit's decorator has no name to give): the name comes first.
    const named = nameOrOptions.name === "" ? "load" : nameOrOptions.name
    throw new InvalidOptionsError({
      functionName: nameOrOptions.name === "" ? "(anonymous)" : nameOrOptions.name,
      option: "name",
      reason:
        `${kind}.fn takes a name (or options with a \`name\`) first, then the body; it was given a function first. ` +
        `Write ${kind}.fn("${named}", body) or ${kind}.fn({ name: "${named}", ... }, body): ` +
        "the name is the function's identity in stats, Metrics and stores, so it is never guessed."
    })
  }
  if (nameOrOptions === undefined && f === undefined) {
    throw new InvalidOptionsError({
      functionName: "(anonymous)",
      option: "name",
      reason: `${kind}.fn was called with nothing: it takes a name (or options with a \`name\`), then the body: ${kind}.fn("load", (id: number) => ...).`
    })
  }
  if (typeof f !== "function") {
    throw new InvalidOptionsError({
      functionName:
        typeof nameOrOptions === "string"
          ? nameOrOptions
          : String((nameOrOptions as { name?: unknown } | undefined)?.name ?? "(anonymous)"),
      option: "body",
      reason: `the body (the second argument of ${kind}.fn) must be a function returning an Effect, or a generator function as Effect.fn takes.`
    })
  }
}
