/**
 * How a cached value is kept, and how each caller gets it back.
 *
 * **Contract**
 *
 * - {@link structuredCopy} (the default): the cache keeps a deep copy and every
 *   hit returns a fresh deep copy, so a caller's mutations never reach the
 *   cache or other callers. Primitives are returned as they are. Typed arrays
 *   and ArrayBuffers are copied as whole buffers.
 * - {@link fromSchema}: the cache keeps the schema's JSON encoding (a string)
 *   and every hit decodes it, so class instances, Dates and branded values
 *   come back as their real types, validated.
 * - {@link readonly}: no copies at all. The value is deep-frozen where JS
 *   allows and the same instance is shared by every caller.
 *
 * A value a codec cannot keep fails with {@link UnserializableValueError}; the
 * cache is left as it was.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { describeType } from "./Hasher.ts"
import * as Copy from "./internal/copy.ts"

const TypeId = "~@recall/core/ValueCodec" as const

/**
 * A way to keep values of type `A` and hand them back.
 *
 * @category models
 * @since 0.1.0
 */
export interface ValueCodec<A> {
  readonly [TypeId]: typeof TypeId
  readonly kind: "structuredCopy" | "schema" | "readonly"
  /**
   * What the cache keeps for `value`, and an estimate of its size in bytes.
   * Throws {@link Unstorable} when the value cannot be kept.
   */
  readonly storeUnsafe: (value: A) => { readonly stored: unknown; readonly bytes: number }
  /** A value for one caller, made from what the cache keeps. */
  readonly loadUnsafe: (stored: unknown) => A
}

/**
 * Thrown by {@link ValueCodec.storeUnsafe}: `value` (or a part of it) cannot
 * be kept by this codec.
 *
 * @category errors
 * @since 0.1.0
 */
export class Unstorable extends Error {
  readonly value: unknown
  readonly issue: string | undefined
  constructor(value: unknown, issue?: string) {
    super(issue ?? `a ${describeType(value)} cannot be copied`)
    this.value = value
    this.issue = issue
  }
}

const Proto = { [TypeId]: TypeId }

const make = <A>(
  kind: ValueCodec<A>["kind"],
  storeUnsafe: ValueCodec<A>["storeUnsafe"],
  loadUnsafe: ValueCodec<A>["loadUnsafe"]
): ValueCodec<A> => Object.assign(Object.create(Proto), { kind, storeUnsafe, loadUnsafe })

/**
 * Deep copies in, deep copies out, with the reach of `structuredClone`:
 * primitives, arrays, plain objects, Date, Map, Set, RegExp, typed arrays,
 * ArrayBuffer and DataView, with shared references and cycles preserved.
 *
 * **Gotchas**
 *
 * Class instances (including `Option`), functions, symbols and promises are
 * rejected rather than copied without their prototype: give the cached
 * function a `value` schema, or use `copy: "readonly"`, or a ResourceCache for
 * objects that must be shared.
 *
 * @category constructors
 * @since 0.1.0
 */
export const structuredCopy = <A>(): ValueCodec<A> =>
  make<A>(
    "structuredCopy",
    (value) => {
      try {
        const { bytes, tree, value: copied } = Copy.copy(value)
        return { stored: new Kept(copied, tree), bytes }
      } catch (e) {
        if (e instanceof Copy.Uncopyable) throw new Unstorable(e.value)
        throw e
      }
    },
    // A tree (no shared references, no cycles: most data) is copied without a memo.
    (stored) => {
      const kept = stored as Kept<A>
      return kept.tree ? Copy.copyTree(kept.value) : Copy.copy(kept.value).value
    }
  )

/** What the structured copy keeps: the copy, and whether it is a tree. */
class Kept<A> {
  readonly value: A
  readonly tree: boolean
  constructor(value: A, tree: boolean) {
    this.value = value
    this.tree = tree
  }
}

/**
 * Keeps the schema's JSON encoding and decodes it on every load. Decoding
 * builds new objects, so callers never share state.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromSchema = <S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }>(
  schema: S
): ValueCodec<S["Type"]> => {
  const codec = Schema.toCodecJson(schema) as Schema.Codec<unknown, unknown>
  const encode = Schema.encodeUnknownResult(codec)
  const decode = Schema.decodeUnknownSync(codec)
  return make(
    "schema",
    (value) => {
      const encoded = encode(value)
      if (encoded._tag === "Failure") throw new Unstorable(value, encoded.failure.message)
      const stored = JSON.stringify(encoded.success)
      return { stored, bytes: 16 + 2 * stored.length }
    },
    (stored) => decode(JSON.parse(stored as string))
  )
}

/**
 * Shares one deep-frozen instance with every caller: no copy on store or on
 * load.
 *
 * **Gotchas**
 *
 * JS cannot freeze the elements of a typed array, nor the contents of a Map or
 * Set: those are readonly in the types only. Freezing happens in place, so the
 * value the computation returned is frozen too.
 *
 * @category constructors
 * @since 0.1.0
 */
export const readonly = <A>(): ValueCodec<A> =>
  make<A>(
    "readonly",
    (value) => {
      const { bytes } = Copy.freeze(value)
      return { stored: value, bytes }
    },
    (stored) => stored as A
  )

/**
 * Raised when a cached function returns a value its codec cannot keep: a
 * function, a socket, a class instance without a `value` schema, or a value
 * that does not match the `value` schema.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnserializableValueError extends Schema.TaggedError<UnserializableValueError>()("UnserializableValueError", {
  functionName: Schema.String,
  typeName: Schema.String,
  issue: Schema.optional(Schema.String)
}) {
  override get message(): string {
    if (this.issue !== undefined) {
      return `${this.functionName} returned a value that does not match its \`value\` schema: ${this.issue}`
    }
    return [
      `${this.functionName} returned a ${this.typeName}, which DataCache cannot copy.`,
      `DataCache hands every caller its own copy of the value. Ways out:`,
      `  - for a shared object (a connection, a client, a model), use ResourceCache, which returns one instance to every caller;`,
      `  - for class instances, give the function a \`value\` schema (e.g. value: Schema.Option(Schema.Number));`,
      `  - for large data you will not mutate, use copy: "readonly".`
    ].join("\n")
  }
}
