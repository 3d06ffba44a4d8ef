/**
 * Hashers turn the arguments of a cached function into the key of its entry.
 *
 * **Contract**
 *
 * - Values are hashed by value, never by reference: equal values hash equal,
 *   in every process and on every run (the same hash names an entry on disk
 *   and in Redis).
 * - Distinct types never collide on purpose: `1`, `"1"`, `1n`, `true` and `[1]`
 *   have different canonical bytes. Plain-object keys are sorted, Map and Set
 *   contents are order-independent.
 * - The hash is 128 bits (32 hex digits) from a fast non-cryptographic
 *   function written in plain JavaScript, so it runs on every JS runtime. It
 *   names cache entries; it does not authenticate them.
 * - Large binary data (typed arrays, ArrayBuffer) is hashed in place, as whole
 *   buffers, at several GB/s; never through a JSON string.
 * - Cycles are handled, and 100,000-deep nesting does not overflow the stack.
 *
 * Two kinds of hasher:
 *
 * - {@link structural}: the default. Primitives, arrays, plain objects, Date,
 *   Map, Set, RegExp, typed arrays, ArrayBuffer, bigint, Data and Schema.Class
 *   instances, plus any class you give a per-type hasher for.
 * - {@link fromSchema}: encodes the value with a Schema's JSON codec first,
 *   then hashes the canonical form. Use it when arguments are class instances
 *   or carry fields that should not count.
 *
 * Anything else fails with {@link UnhashableParamError}.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Canonical from "./internal/canonical.ts"
import * as Hash128 from "./internal/hash128.ts"

const TypeId = "~@recall/core/Hasher" as const

/**
 * Turns values of type `A` into a 32-hex-digit hash.
 *
 * @category models
 * @since 0.1.0
 */
export interface Hasher<in A> {
  readonly [TypeId]: typeof TypeId
  /**
   * Hashes a value to 32 hex digits; throws {@link Unhashable} when part of
   * it has no canonical form. Use {@link hash} for the typed Effect version.
   */
  readonly hashUnsafe: (value: A) => string
  /** The same hash as four 32-bit lanes, before any formatting. */
  readonly digestUnsafe: (value: A) => Digest
}

/**
 * A 128-bit hash as four signed 32-bit lanes. {@link toHex} formats it.
 *
 * @category models
 * @since 0.1.0
 */
export type Digest = readonly [number, number, number, number]

/**
 * Formats a digest as 32 lowercase hex digits.
 *
 * @category utils
 * @since 0.1.0
 */
export const toHex: (digest: Digest) => string = Hash128.toHex

/**
 * A per-type hasher: `[Class, (instance) => hashable value]`. Instances of the
 * class are hashed through the function's result. This is the typed form of
 * Streamlit's `hash_funcs`; build one with {@link by} to have the instance
 * type checked.
 *
 * @category models
 * @since 0.1.0
 */
export type TypeHasher = Canonical.TypeHasher

/**
 * Builds a {@link TypeHasher} with the instance type inferred from the class.
 *
 * @example
 * ```ts
 * import { DataCache, Hasher } from "@recall/core"
 * import { Effect } from "effect"
 *
 * class Model {
 *   readonly id: string
 *   readonly weights: Float64Array
 *   constructor(id: string, weights: Float64Array) {
 *     this.id = id
 *     this.weights = weights
 *   }
 * }
 *
 * const score = DataCache.fn(
 *   { name: "score", hashers: [Hasher.by(Model, (m) => m.id)] },
 *   (model: Model, x: number) => Effect.succeed(model.weights[0]! * x)
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const by = <T>(Class: abstract new (...args: ReadonlyArray<any>) => T, hash: (instance: T) => unknown): TypeHasher => [Class, hash]

/**
 * Thrown by {@link Hasher.hashUnsafe} when part of a value has no canonical
 * form; `path` says where, from the hashed value's root.
 *
 * @category errors
 * @since 0.1.0
 */
export class Unhashable extends Error {
  readonly value: unknown
  readonly path: ReadonlyArray<PropertyKey>
  readonly issue: string | undefined
  constructor(value: unknown, path: ReadonlyArray<PropertyKey>, issue?: string) {
    super(issue ?? `a ${describeType(value)} has no canonical form`)
    this.value = value
    this.path = path
    this.issue = issue
  }
}

/**
 * The type of a value as a person would name it: the class name for objects,
 * `typeof` for the rest.
 *
 * @category utils
 * @since 0.1.0
 */
export const describeType = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "function") return value.name ? `function ${value.name}` : "function"
  if (typeof value !== "object") return typeof value
  const name = value.constructor?.name
  return typeof name === "string" && name !== "" ? name : "object"
}

const Proto = {
  [TypeId]: TypeId
}

const make = <A>(digestUnsafe: (value: A) => Digest): Hasher<A> => {
  const self = Object.create(Proto)
  self.digestUnsafe = digestUnsafe
  self.hashUnsafe = (value: A) => Hash128.toHex(digestUnsafe(value))
  return self
}

/**
 * The default hasher: hashes any value built from primitives, arrays, plain
 * objects, Date, Map, Set, RegExp, typed arrays, ArrayBuffer, bigint, Data and
 * Schema.Class instances, and the classes named in `hashers`.
 *
 * **Details**
 *
 * Per-type hashers are tried in order with `instanceof`, before the built-in
 * rules, so they can also override how a built-in type is hashed. A hasher's
 * result is itself hashed structurally, so it may return any hashable value.
 *
 * @example
 * ```ts
 * import { Hasher } from "@recall/core"
 *
 * const hasher = Hasher.structural()
 * hasher.hashUnsafe({ a: 1, b: 2 }) === hasher.hashUnsafe({ b: 2, a: 1 }) // true
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const structural = (options?: { readonly hashers?: ReadonlyArray<TypeHasher> | undefined }): Hasher<unknown> => {
  const hashers = options?.hashers ?? []
  return make((value) => {
    try {
      return Canonical.digest(value, hashers)
    } catch (e) {
      if (e instanceof Canonical.UnhashableValue) throw new Unhashable(e.value, Canonical.locate(value, e.value))
      throw e
    }
  })
}

/**
 * A hasher derived from a Schema: the value is encoded with the schema's JSON
 * codec (`Schema.toCodecJson`), and the canonical form of the encoded value is
 * hashed, record keys sorted.
 *
 * **When to use**
 *
 * When arguments are class instances the structural hasher cannot see into,
 * or when the key should be a projection of the arguments: fields the schema
 * does not declare are dropped by encoding, so they never reach the key.
 *
 * **Gotchas**
 *
 * A value that does not match the schema throws {@link Unhashable} with the
 * schema's issue. Encoding must not need services.
 *
 * @example
 * ```ts
 * import { Hasher } from "@recall/core"
 * import { Schema } from "effect"
 *
 * const hasher = Hasher.fromSchema(Schema.Struct({ id: Schema.Number, at: Schema.Date }))
 * hasher.hashUnsafe({ id: 1, at: new Date(0) }).length // 32
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromSchema = <S extends Schema.Top & { readonly EncodingServices: never }>(schema: S): Hasher<S["Type"]> => {
  const encode = Schema.encodeUnknownResult(Schema.toCodecJson(schema) as unknown as Schema.Codec<unknown, unknown>)
  return make((value) => {
    const encoded = encode(value)
    if (encoded._tag === "Failure") throw new Unhashable(value, [], encoded.failure.message)
    return Canonical.digest(encoded.success, [])
  })
}

/**
 * A stable fingerprint of a schema's shape (the hash of its JSON Schema).
 * Changing a field, its type or a class identifier changes the fingerprint.
 *
 * @category utils
 * @since 0.1.0
 */
export const fingerprint = (schema: Schema.Top): string => Canonical.hash(Schema.toJsonSchemaDocument(schema), [])

/**
 * Raised when an argument of a cached function cannot be hashed into the
 * cache key. It names the function, the argument (position, then field path)
 * and the value's type, and lists the three ways out.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnhashableParamError extends Schema.TaggedError<UnhashableParamError>()("UnhashableParamError", {
  functionName: Schema.String,
  argument: Schema.String,
  typeName: Schema.String,
  issue: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const problem =
      this.issue === undefined ? `a ${this.typeName} has no value form to hash` : `it does not match the \`key\` schema: ${this.issue}`
    return [
      `Cannot hash ${this.argument} of ${this.functionName}: ${problem}.`,
      `recall hashes arguments by value to build the cache key. Ways out:`,
      `  1. describe the arguments with a \`key\` schema: DataCache.fn({ name: "${this.functionName}", key: Schema.Tuple([...]) }, ...);`,
      `  2. give that type a hasher: hashers: [Hasher.by(${this.typeName}, (value) => value.id)];`,
      `  3. leave it out of the key: pass it in an object field whose name starts with "_" (e.g. { _conn }).`
    ].join("\n")
  }
}

/**
 * Hashes a value, failing with {@link UnhashableParamError} (function name
 * `"Hasher.hash"`) instead of throwing.
 *
 * @category hashing
 * @since 0.1.0
 */
export const hash = <A>(self: Hasher<A>, value: A): Effect.Effect<string, UnhashableParamError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(self.hashUnsafe(value))
    } catch (e) {
      if (e instanceof Unhashable) return Effect.fail(toParamError(e, "Hasher.hash", []))
      return Effect.die(e)
    }
  })

/**
 * Describes where an unhashable value sits: `argument 0`, `argument 1 → field "conn"`.
 *
 * @internal
 */
export const toParamError = (unhashable: Unhashable, functionName: string, prefix: ReadonlyArray<PropertyKey>): UnhashableParamError => {
  const path = [...prefix, ...unhashable.path]
  const [head, ...rest] = path
  const argument = typeof head === "number" ? `argument ${head}` : head === undefined ? "the arguments" : `field ${String(head)}`
  const fields = rest.map((key) => (typeof key === "number" ? `[${key}]` : `field "${String(key)}"`))
  return new UnhashableParamError({
    functionName,
    argument: [argument, ...fields].join(" → "),
    typeName: describeType(unhashable.value),
    ...(unhashable.issue === undefined ? {} : { issue: unhashable.issue })
  })
}
