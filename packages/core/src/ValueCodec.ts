/**
 * How a cached value is kept, and how each caller gets it back.
 *
 * **Contract**
 *
 * - {@link structuredCopy} (the default): the cache keeps a deep copy and every
 *   hit returns a fresh deep copy, so a caller's mutations never reach the
 *   cache or other callers. Primitives are returned as they are. Typed arrays
 *   and ArrayBuffers are copied a buffer at a time; views that share a buffer
 *   share one copied buffer. Effect's immutable data types (Option, Result,
 *   Chunk, HashMap, HashSet, DateTime, Duration, Redacted, Data and Schema
 *   classes) come back as themselves, `Equal.equals` to the original; a class
 *   that implements `Equal` with an equality of its own is refused (a copy of
 *   its fields could lose its `#private` state). What it cannot
 *   copy faithfully (a class instance, a subclass of Map or Array) it
 *   refuses rather than copy without its class.
 * - {@link fromSchema}: the cache keeps the schema's JSON encoding (a string)
 *   and a copy of the decoded value, so class instances, Dates and branded
 *   values come back as their real types, validated once; a hit is a
 *   structured copy of the decoded value (a decode, when the copier cannot
 *   copy it). The caller that computed the
 *   value gets the decoded value too, so a miss and a hit return the same,
 *   and a value the schema would give back as something else (a union whose
 *   members' encodings overlap) is refused when it is stored.
 * - {@link readonly}: no copies at all. The value is deep-frozen where JS
 *   allows and the same instance is shared by every caller; its type is
 *   {@link DeepReadonly}, which also covers what JS cannot freeze.
 *
 * A value a codec cannot keep fails with {@link Unstorable}, naming the part
 * and where it sits; the cache is left as it was. No value, however deep,
 * makes a codec overflow the stack.
 *
 * @since 0.1.0
 */

import * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Exit from "effect/Exit"
import type * as HashMap from "effect/HashMap"
import type * as HashSet from "effect/HashSet"
import type * as Option from "effect/Option"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaParser from "effect/SchemaParser"
import { describeType } from "./Hasher.ts"
import * as Copy from "./internal/copy.ts"
import * as Kinds from "./internal/valueKinds.ts"

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
   * What the cache keeps for `value` (`stored`), an estimate of its size in
   * bytes, and the value the caller that computed it gets (`value`): the
   * value itself for a structured copy (the cache keeps its own copy) and for
   * readonly (now frozen), the decoded value for a schema.
   * Throws {@link Unstorable} when the value cannot be kept.
   */
  readonly storeUnsafe: (value: A) => { readonly stored: unknown; readonly bytes: number; readonly value: A }
  /** A value for one caller, made from what the cache keeps. */
  readonly loadUnsafe: (stored: unknown) => A
  /**
   * What a store persists of what the cache keeps (`toPersisted`: plain data
   * the entry payload can hold); the value that persisted data stands for,
   * for the caller that read it (`readUnsafe`, which throws when it does not
   * load: a schema's decoding fails); and what the cache keeps of that value
   * (`keepUnsafe`, its own copy, with its size). With a `value` schema the
   * persisted form is its JSON encoding.
   *
   * @internal
   */
  readonly persisted: {
    readonly toPersisted: (stored: unknown) => unknown
    readonly readUnsafe: (persisted: unknown) => A
    readonly keepUnsafe: (value: A, persisted: unknown) => { readonly stored: unknown; readonly bytes: number; readonly value: A }
  }
}

/**
 * Thrown by {@link ValueCodec.storeUnsafe}: `value` (or a part of it) cannot
 * be kept by this codec.
 *
 * @category errors
 * @since 0.1.0
 */
export class Unstorable extends Error {
  /** The part that cannot be kept (the whole value when `path` is empty). */
  readonly value: unknown
  /** Where `value` sits, as steps from the root: `['field "handlers"', "[2]"]`. */
  readonly path: ReadonlyArray<string>
  /**
   * For a value its `value` schema cannot keep: the schema's issue, or why the
   * value would not come back from its encoding as it was.
   */
  readonly issue: string | undefined
  /** Why the part cannot be copied, when its type alone does not say (a cycle through a Chunk). */
  readonly reason: string | undefined
  constructor(
    value: unknown,
    options?: { readonly path?: ReadonlyArray<string>; readonly issue?: string | undefined; readonly reason?: string | undefined }
  ) {
    const path = options?.path ?? []
    super(
      options?.issue ??
        `${phrase(typeNameOf(value))} at ${renderPath(path)} cannot be copied${options?.reason ? `: ${options.reason}` : ""}`
    )
    this.value = value
    this.path = path
    this.issue = options?.issue
    this.reason = options?.reason
  }
}

const Proto = { [TypeId]: TypeId }

const make = <A>(
  kind: ValueCodec<A>["kind"],
  storeUnsafe: ValueCodec<A>["storeUnsafe"],
  loadUnsafe: ValueCodec<A>["loadUnsafe"],
  persisted: ValueCodec<A>["persisted"]
): ValueCodec<A> => Object.assign(Object.create(Proto), { kind, storeUnsafe, loadUnsafe, persisted })

/**
 * Deep copies in, deep copies out, with the reach of `structuredClone`:
 * primitives, arrays, plain objects, Date, Map, Set, RegExp, typed arrays,
 * ArrayBuffer and DataView, with shared references and cycles preserved; and
 * Effect's immutable data types: Option, Result, Chunk, HashMap, HashSet,
 * DateTime (with its zone), Duration, Redacted, and `Data.Class`,
 * `Data.TaggedClass`, `Schema.Class` instances, each rebuilt as its own type
 * around deep copies of its contents. The kinds are the ones the hasher keys
 * (one table of value kinds serves both).
 *
 * **Details**
 *
 * Own keys stay own keys (`"__proto__"` from `JSON.parse` included), and so
 * does what `structuredClone` drops or a plain copy misses: symbol-keyed
 * fields, an array's fields besides its indices (a RegExp match's `index`,
 * `input`, `groups`), holes in a sparse array, own fields of a Map, Set,
 * Date or RegExp, and a RegExp's `lastIndex`. A value with any of these is
 * copied on hits by the full copier; plain data takes a faster path. A view
 * whose buffer nothing else reaches is sliced (a small view of a huge buffer
 * costs its own bytes); a buffer reached by several views, or by itself and
 * a view, is copied once, from the first byte a view reaches to the last, and
 * the views are rebuilt over that copy. Nesting depth is unbounded.
 *
 * **Gotchas**
 *
 * Other class instances, Effect's error classes, classes that implement
 * `Equal` with an equality of their own (a Data class overriding
 * `[Equal.symbol]`), functions, symbols and promises are rejected rather
 * than copied without their prototype or their hidden state: give the
 * cached function a `value` schema, or use `copy: "readonly"`, or a
 * ResourceCache for objects that must be shared. So are instances of
 * subclasses of Array, Map, Set, Date, RegExp, typed arrays, ArrayBuffer and
 * DataView (`class Weights extends Map`): a copy would be the plain built-in,
 * without the subclass's methods or fields. Node's `Buffer` is the exception,
 * copied as a Buffer. A Data or Schema class instance is rebuilt from its own
 * fields without calling its constructor: state kept in `#private` fields or
 * set up by a constructor is not copied. Own fields added to a typed array
 * are not copied (finding them would mean listing every element).
 *
 * Looking for fields beyond the elements costs a miss (storing) a string per
 * array element; a hit on plain data pays nothing for it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const structuredCopy = <A>(): ValueCodec<A> => {
  const storeUnsafe = (value: A) => {
    try {
      const { bytes, extras, tree, value: copied } = Copy.copy(value)
      return { stored: new StoredCopy(copied, tree, extras), bytes, value }
    } catch (e) {
      if (!(e instanceof Copy.Uncopyable)) throw e
      // Paths are found only now, by walking the value again: the success path keeps none.
      throw new Unstorable(e.value, { path: Copy.locate(value, e.value) ?? [], reason: e.reason })
    }
  }
  return make<A>(
    "structuredCopy",
    storeUnsafe,
    // A tree (no shared references, no cycles, no holes or extra fields: most data) is copied without a memo or a look
    // for fields; other values are copied as the store copied them, looking for fields only if it found some.
    (stored) => {
      const kept = stored as StoredCopy<A>
      return kept.tree ? Copy.copyTree(kept.value) : Copy.copy(kept.value, kept.extras).value
    },
    {
      toPersisted: (stored) => (stored as StoredCopy<A>).value,
      // A value read from a store is the reader's own: the reader gets it, the cache keeps a copy.
      readUnsafe: (persisted) => persisted as A,
      keepUnsafe: (value) => storeUnsafe(value)
    }
  )
}

/** What the structured copy keeps: the copy, whether it is a tree, and whether it has fields only a full copy sees. */
class StoredCopy<A> {
  readonly value: A
  readonly tree: boolean
  readonly extras: boolean
  constructor(value: A, tree: boolean, extras: boolean) {
    this.value = value
    this.tree = tree
    this.extras = extras
  }
}

/**
 * Keeps the schema's JSON encoding and the decoded value. Every hit gets a
 * fresh structured copy of the decoded value (about the cost of
 * {@link structuredCopy}'s hit, far less than decoding); a decoded value the
 * copier cannot copy (an instance of a class that is not a Schema or Data
 * class) is decoded from the JSON on every hit instead. Either way callers
 * never share state.
 *
 * **Details**
 *
 * Storing decodes the encoding once, for the caller that computed the value:
 * it gets what a hit would get (fields the schema does not know are
 * dropped, classes are rebuilt), and an encoding that does not decode fails
 * then, as {@link Unstorable}, rather than on every later hit.
 *
 * The decoded value is then compared with the value, as far as the schema
 * describes it (what `Schema.toEquivalence` compares: declared fields,
 * elements, record and map entries, the contents of Options and classes),
 * and a difference fails as {@link Unstorable} with where it is and both
 * sides, rather than hand every caller a value of another type. Fields the
 * schema does not declare do not count.
 *
 * **Gotchas**
 *
 * A union whose members' JSON encodings overlap cannot keep every value of
 * its type: `Schema.Union([Schema.BigInt, Schema.String])` encodes `1n` and
 * `"1"` alike, and so do `Date` and an ISO string, or `NaN` and `"NaN"`.
 * Such values are refused; a discriminated union (a literal `_tag` in each
 * member) keeps them all. Under `Schema.Any`, a part JSON cannot hold (a
 * Date, a field set to `undefined`) is refused the same way. A value that
 * fits several members is kept as the first one: `{ a, b }` under
 * `Union([Struct({ a }), Struct({ a, b })])` comes back as `{ a }` (put the
 * wider member first). The comparison costs about as much as a tenth to a
 * fifth of the store (encode, JSON, decode), on a miss only.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromSchema = <S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }>(
  schema: S
): ValueCodec<S["Type"]> => {
  const codec = Schema.toCodecJson(schema) as Schema.Codec<unknown, unknown>
  const encode = Schema.encodeUnknownResult(codec)
  const decode = Schema.decodeUnknownResult(codec)
  const roundTrip = new RoundTrip(schema.ast)
  const decodeJson = (json: string): S["Type"] => {
    const decoded = decode(JSON.parse(json))
    if (decoded._tag === "Failure") throw new Error(decoded.failure.message)
    return decoded.success
  }
  // A hit copies the decoded value when the copier can and it holds no class instances (plain data: the
  // common case), which costs a structured copy; otherwise it decodes the JSON, so classes come back as the
  // schema builds them. A JSON string alone (from a store) is decoded.
  const load = (stored: unknown): S["Type"] => {
    if (typeof stored === "string") return decodeJson(stored)
    const kept = stored as SchemaKept
    if (kept.copy === undefined) return decodeJson(kept.json)
    return kept.copy.tree ? Copy.copyTree(kept.copy.value) : Copy.copy(kept.copy.value, kept.copy.extras).value
  }
  // What the cache keeps for a value and its encoding: the JSON and its own copy of the decoded value, which no
  // caller ever sees (the computing caller gets `decoded`).
  const kept = (stored: string, decoded: S["Type"]) => {
    let copy: Copy.Copied<unknown> | undefined
    try {
      copy = Copy.copy(decoded)
    } catch (e) {
      if (!(e instanceof Copy.Uncopyable)) throw e
      copy = undefined
    }
    // A class instance (a Schema.Class) is rebuilt by the copier without its constructor, so `#private`
    // state would be missing: such values are decoded on every hit, as the schema builds them.
    if (copy?.classes === true) copy = undefined
    return { stored: new SchemaKept(stored, copy), bytes: 16 + 2 * stored.length + (copy?.bytes ?? 0), value: decoded }
  }
  return make(
    "schema",
    (value) => {
      const encoded = encode(value)
      if (encoded._tag === "Failure") throw new Unstorable(value, { issue: encoded.failure.message })
      const attempt = (keepNegativeZero: boolean) => {
        const stored = toJson(value, encoded.success, keepNegativeZero)
        const decoded = decode(JSON.parse(stored))
        if (decoded._tag === "Failure") {
          throw new Unstorable(value, { issue: `its encoding does not decode back: ${decoded.failure.message}` })
        }
        const difference = roundTrip.check(value, decoded.success, (e) => {
          // A value JSON could hold but nested too deeply to compare (some 3,000 levels under `Schema.Any`).
          if (!(e instanceof RangeError)) throw e
          throw new Unstorable(value, { issue: `it cannot be checked to come back from its encoding as it was: ${describeError(e)}` })
        })
        return { stored, decoded: decoded.success, difference }
      }
      let result = attempt(false)
      // JSON.stringify writes -0 as 0; written again with -0 kept as `-0` (valid JSON, which JSON.parse reads as -0).
      if (result.difference !== undefined && rawJson !== undefined) result = attempt(true)
      const { difference } = result
      if (difference !== undefined) throw new Unstorable(difference.returned, { path: difference.path, issue: explain(difference) })
      return kept(result.stored, result.decoded)
    },
    load,
    {
      toPersisted: (stored) => (typeof stored === "string" ? stored : (stored as SchemaKept).json),
      // What the store held decodes as the schema says, or the entry is a miss.
      readUnsafe: (persisted) => {
        if (typeof persisted !== "string") throw new Error("a persisted schema value is its JSON encoding, a string")
        return decodeJson(persisted)
      },
      keepUnsafe: (value, persisted) => kept(persisted as string, value)
    }
  )
}

/**
 * What a schema codec keeps: the JSON encoding (what a store persists) and,
 * when the copier can copy it, a copy of the decoded value, which hits copy
 * instead of decoding the JSON again.
 */
class SchemaKept {
  readonly json: string
  readonly copy: Copy.Copied<unknown> | undefined
  constructor(json: string, copy: Copy.Copied<unknown> | undefined) {
    this.json = json
    this.copy = copy
  }
}

// ---------------------------------------------------------------------------
// Round trips: does a value come back from its encoding as it was?
// ---------------------------------------------------------------------------

/** Where a value and the decoding of its encoding part ways. */
interface Difference {
  readonly path: ReadonlyArray<string>
  /** The part of the value the body returned. */
  readonly returned: unknown
  /** What decoding made of it. */
  readonly decoded: unknown
  /** Whether a union decoded the part with another member than the one the part belongs to. */
  readonly union: boolean
}

type Same = (returned: unknown, decoded: unknown) => boolean

/**
 * Compares a value with the decoding of its encoding, as far as the schema
 * describes it, and says where they differ: what `Schema.toEquivalence`
 * compares (declared fields only, so fields a struct drops do not count;
 * a union compares with the first member both sides belong to; a class,
 * `Option`, `ReadonlyMap` or `DateTime` with its own equivalence), except
 * that what Effect compares with `Equal.equals` (primitives, Dates, typed
 * arrays, `Schema.Any`) is compared here without hashing: `Equal.equals`
 * caches the hash of every object it meets, which would tie the body's own
 * (mutable) value to its state now, and it finds `Float64Array [NaN]`
 * different from itself.
 */
// URL is not in every runtime's globals (core builds without DOM or Node types): look it up.
type Href = { readonly href: string }
const UrlClass = (globalThis as { readonly URL?: abstract new (...args: ReadonlyArray<never>) => Href }).URL

class RoundTrip {
  private readonly root: Same
  /** Steps from the root to the parts being compared. */
  private readonly path: Array<string> = []
  private difference: Difference | undefined = undefined

  constructor(ast: SchemaAST.AST) {
    this.root = this.compile(ast)
  }

  /** Where `decoded` differs from `returned`, or `undefined` when it is the same; `onError` for a comparison that throws. */
  check(returned: unknown, decoded: unknown, onError: (e: unknown) => never): Difference | undefined {
    this.path.length = 0
    this.difference = undefined
    let same: boolean
    try {
      same = this.root(returned, decoded)
    } catch (e) {
      return onError(e)
    }
    return same ? undefined : (this.difference ?? { path: [], returned, decoded, union: false })
  }

  /** Records the first (deepest) difference; always `false`. */
  private differ(returned: unknown, decoded: unknown, union = false): false {
    this.difference ??= { path: [...this.path], returned, decoded, union }
    return false
  }

  /** Compares `returned[key]` with `decoded[key]` one step down. */
  private at(step: string, same: Same, returned: unknown, decoded: unknown): boolean {
    this.path.push(step)
    const result = same(returned, decoded)
    this.path.pop()
    return result
  }

  private compile(ast: SchemaAST.AST): Same {
    const annotation = SchemaAST.resolve(ast)?.toEquivalence as ((parameters: ReadonlyArray<Same>) => Same) | undefined
    if (annotation !== undefined) {
      // A class compares its fields with the equivalence of its struct, which is compiled here like any other.
      const same = annotation(SchemaAST.isDeclaration(ast) ? ast.typeParameters.map((p) => this.lazy(p)) : [])
      return (returned, decoded) => {
        if (same(returned, decoded)) {
          // Differences found while pairing the elements of a set are not differences of the whole.
          this.difference = undefined
          return true
        }
        return this.differ(returned, decoded)
      }
    }
    switch (ast._tag) {
      case "Declaration":
        return this.declaration(ast)
      case "Arrays":
        return this.arrays(ast)
      case "Objects":
        return this.objects(ast)
      case "Union":
        return this.union(ast)
      case "Suspend":
        return this.lazy(ast.thunk)
      default:
        return (returned, decoded) => this.same(returned, decoded)
    }
  }

  /** Compiled on first use: a recursive schema is compiled one level at a time. */
  private lazy(ast: SchemaAST.AST | (() => SchemaAST.AST)): Same {
    let same: Same | undefined
    return (returned, decoded) => {
      same ??= this.compile(typeof ast === "function" ? ast() : ast)
      return same(returned, decoded)
    }
  }

  private declaration(ast: SchemaAST.Declaration): Same {
    const representation = (ast.annotations as { readonly representation?: { readonly id?: unknown } } | undefined)?.representation?.id
    const [first, second] = ast.typeParameters.map((p) => this.lazy(p))
    switch (representation) {
      case "effect/schema/Option":
        return (returned: any, decoded: any) =>
          returned?._tag !== decoded?._tag
            ? this.differ(returned, decoded)
            : returned._tag === "None" || this.at('field "value"', first!, returned.value, decoded.value)
      case "effect/schema/Result":
        return (returned: any, decoded: any) =>
          returned?._tag !== decoded?._tag
            ? this.differ(returned, decoded)
            : returned._tag === "Success"
              ? this.at('field "success"', first!, returned.success, decoded.success)
              : this.at('field "failure"', second!, returned.failure, decoded.failure)
      // Kept as a list of entries (elements), so the decoded map (set) has the original's order.
      case "effect/schema/ReadonlyMap":
        return (returned: any, decoded: any) => this.inOrder(returned, decoded, first!, second!)
      case "effect/schema/ReadonlySet":
        return (returned: any, decoded: any) => this.inOrder(returned, decoded, first!, undefined)
      default:
        return (returned, decoded) => this.same(returned, decoded)
    }
  }

  /** A Map's entries (`value` given) or a Set's elements, compared in order. */
  private inOrder(returned: unknown, decoded: unknown, key: Same, value: Same | undefined): boolean {
    const isCollection = (u: unknown): u is Map<unknown, unknown> | Set<unknown> => u instanceof Map || u instanceof Set
    if (!isCollection(returned) || !isCollection(decoded) || returned.size !== decoded.size) return this.differ(returned, decoded)
    const theirs = [...decoded.entries()]
    let i = 0
    for (const [k, v] of returned.entries()) {
      const [dk, dv] = theirs[i]!
      if (!this.at(`key of entry ${i}`, key, k, dk)) return false
      if (value !== undefined && !this.at(`value of entry ${i}`, value, v, dv)) return false
      i++
    }
    return true
  }

  private arrays(ast: SchemaAST.Arrays): Same {
    const elements = ast.elements.map((e) => this.compile(e))
    const [head, ...tail] = ast.rest.map((r) => this.compile(r))
    return (returned, decoded) => {
      if (!Array.isArray(returned) || !Array.isArray(decoded) || returned.length !== decoded.length) {
        return this.differ(returned, decoded)
      }
      const length = returned.length
      for (let i = 0; i < length; i++) {
        const same =
          i < elements.length
            ? elements[i]
            : head === undefined
              ? undefined
              : i < length - tail.length
                ? head
                : tail[i - (length - tail.length)]
        if (same !== undefined && !this.at(`[${i}]`, same, returned[i], decoded[i])) return false
      }
      return true
    }
  }

  private objects(ast: SchemaAST.Objects): Same {
    // `Schema.Struct({})` lets every field through: all of them must come back.
    if (ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0) {
      return (returned, decoded) => this.same(returned, decoded)
    }
    const fields = ast.propertySignatures.map((ps) => ({
      name: ps.name,
      step: stepOf(ps.name),
      same: this.compile(ps.type),
      optional: SchemaAST.isOptional(ps.type)
    }))
    const declared = new Set<PropertyKey>(fields.map((field) => field.name))
    const indexes = ast.indexSignatures.map((is) => ({ accepts: keyGuard(is.parameter), same: this.compile(is.type) }))
    return (returned: any, decoded: any) => {
      if (typeof returned !== "object" || returned === null || typeof decoded !== "object" || decoded === null) {
        return this.differ(returned, decoded)
      }
      for (const field of fields) {
        const inReturned = Object.hasOwn(returned, field.name)
        const inDecoded = Object.hasOwn(decoded, field.name)
        if (field.optional && inReturned !== inDecoded) {
          return this.at(field.step, this.sameAt, inReturned ? returned[field.name] : ABSENT, inDecoded ? decoded[field.name] : ABSENT)
        }
        if (inReturned && inDecoded && !this.at(field.step, field.same, returned[field.name], decoded[field.name])) return false
      }
      if (indexes.length === 0) return true
      // Keys a record produced; a key it renamed on the way has nothing to be compared with.
      for (const key of ownKeys(decoded)) {
        if (declared.has(key) || !Object.hasOwn(returned, key)) continue
        const index = indexes.find((i) => i.accepts(key))
        if (index !== undefined && !this.at(stepOf(key), index.same, returned[key], decoded[key])) return false
      }
      return true
    }
  }

  private union(ast: SchemaAST.Union): Same {
    const members = ast.types.map((member) => ({ is: guard(member), same: this.compile(member) }))
    return (returned, decoded) => {
      for (const member of members) {
        if (member.is(returned) && member.is(decoded)) return member.same(returned, decoded)
      }
      return this.differ(returned, decoded, true)
    }
  }

  /** Structural equality without hashing: NaN is NaN, Dates by time, typed arrays by element, objects by own fields. */
  private same(returned: unknown, decoded: unknown): boolean {
    if (sameValue(returned, decoded)) return true
    if (typeof returned !== "object" || typeof decoded !== "object" || returned === null || decoded === null) {
      return this.differ(returned, decoded)
    }
    if (Object.getPrototypeOf(returned) !== Object.getPrototypeOf(decoded)) return this.differ(returned, decoded)
    // What each kind is: the table of value kinds (valueKinds.ts).
    const kind = Kinds.kindOf(returned)
    switch (kind) {
      case Kinds.Kind.Date:
        return sameValue((returned as Date).getTime(), (decoded as Date).getTime()) || this.differ(returned, decoded)
      case Kinds.Kind.RegExp:
        return String(returned) === String(decoded) || this.differ(returned, decoded)
      case Kinds.Kind.View:
      case Kinds.Kind.Buffer:
        return sameElements(returned as ArrayBufferView, decoded as ArrayBufferView) || this.differ(returned, decoded)
      case Kinds.Kind.Map:
      case Kinds.Kind.Set:
        return this.inOrder(returned, decoded, this.sameAt, kind === Kinds.Kind.Map ? this.sameAt : undefined)
      case Kinds.Kind.Array: {
        const mine = returned as Array<unknown>
        const list = decoded as Array<unknown>
        if (mine.length !== list.length) return this.differ(returned, decoded)
        for (let i = 0; i < mine.length; i++) {
          if (!this.at(`[${i}]`, this.sameAt, elementAt(mine, i), elementAt(list, i))) return false
        }
        return true
      }
      case Kinds.Kind.Plain:
      case Kinds.Kind.Data:
        break
      default:
        // Effect's data types by their own equality; a URL by its text; any other Equal by its equality.
        if (UrlClass !== undefined && returned instanceof UrlClass) {
          return (returned as Href).href === (decoded as Href).href || this.differ(returned, decoded)
        }
        if (kind !== Kinds.Kind.Opaque || Equal.isEqual(returned)) return Equal.equals(returned, decoded) || this.differ(returned, decoded)
        // Instances of subclasses of built-ins (a schema declared them): by their built-in content.
        if (returned instanceof Map || returned instanceof Set) {
          return this.inOrder(returned, decoded, this.sameAt, returned instanceof Map ? this.sameAt : undefined)
        }
        if (ArrayBuffer.isView(returned)) return sameElements(returned, decoded as ArrayBufferView) || this.differ(returned, decoded)
    }
    const mine = ownKeys(returned)
    const theirs = ownKeys(decoded)
    const other = decoded as Record<PropertyKey, unknown>
    for (const key of mine) {
      const value = (returned as Record<PropertyKey, unknown>)[key]
      if (!this.at(stepOf(key), this.sameAt, value, Object.hasOwn(other, key) ? other[key] : ABSENT)) return false
    }
    if (theirs.length !== mine.length) {
      for (const key of theirs) if (!Object.hasOwn(returned, key)) return this.at(stepOf(key), this.sameAt, ABSENT, other[key])
    }
    return true
  }

  /** {@link same}, bound once. */
  private readonly sameAt: Same = (returned, decoded) => this.same(returned, decoded)
}

/** Stands for a field or an element that is not there. */
const ABSENT = Symbol("absent")

const elementAt = (list: ReadonlyArray<unknown>, i: number): unknown => {
  const item = list[i]
  return item === undefined && !(i in list) ? ABSENT : item
}

/** Own enumerable keys, strings then symbols: what spread copies. */
const ownKeys = (value: object): Array<PropertyKey> => {
  const symbols = Object.getOwnPropertySymbols(value)
  const keys: Array<PropertyKey> = Object.keys(value)
  for (const symbol of symbols) if (Object.prototype.propertyIsEnumerable.call(value, symbol)) keys.push(symbol)
  return keys
}

/** `Object.is`: NaN is NaN, and -0 is not 0 (a value that held -0 must come back with it). */
const sameValue = (a: unknown, b: unknown): boolean => Object.is(a, b)

/** Typed arrays element by element (NaN equal to NaN), DataViews and ArrayBuffers byte by byte. */
const sameElements = (returned: ArrayBufferView | ArrayBuffer, decoded: ArrayBufferView | ArrayBuffer): boolean => {
  const bytes = (view: ArrayBufferView | ArrayBuffer): ArrayLike<unknown> =>
    view instanceof ArrayBuffer
      ? new Uint8Array(view)
      : view instanceof DataView
        ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
        : (view as unknown as ArrayLike<unknown>)
  const a = bytes(returned)
  const b = bytes(decoded)
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false
  return true
}

/** A union member's type guard; a plain primitive or a literal without checks is told by a look, not by the parser. */
const guard = (ast: SchemaAST.AST): ((u: unknown) => boolean) => {
  if (ast.checks === undefined) {
    switch (ast._tag) {
      case "Literal":
        return (u) => u === ast.literal
      case "String":
      case "Number":
      case "Boolean":
      case "BigInt":
      case "Symbol": {
        const type = ast._tag.toLowerCase()
        return (u) => typeof u === type
      }
      case "Null":
        return (u) => u === null
      case "Undefined":
        return (u) => u === undefined
    }
  }
  return SchemaParser.is(Schema.make(ast))
}

const stepOf = (key: PropertyKey): string => (typeof key === "symbol" ? `field [${String(key)}]` : `field ${JSON.stringify(String(key))}`)

/** Whether a record's key parameter (String, Number, Symbol, a template literal, or a union of them) takes `key`. */
const keyGuard = (parameter: SchemaAST.AST): ((key: PropertyKey) => boolean) => {
  switch (parameter._tag) {
    case "String":
      return (key) => typeof key === "string"
    case "Symbol":
      return (key) => typeof key === "symbol"
    case "Number":
      return (key) => typeof key === "string" && key.trim() !== "" && !Number.isNaN(Number(key))
    case "Union": {
      const members = parameter.types.map(keyGuard)
      return (key) => members.some((accepts) => accepts(key))
    }
    default: {
      const is = SchemaParser.is(Schema.make(parameter))
      return (key) => is(key)
    }
  }
}

/** The issue for a value that does not come back from its encoding as it was. */
const explain = (difference: Difference): string => {
  const where = difference.path.length === 0 ? "" : ` at ${renderPath(difference.path)}`
  const what = `it does not come back from its encoding as it was${where}: the body returned ${describeValue(
    difference.returned
  )}, and decoding its encoding gives ${describeValue(difference.decoded)}`
  return difference.union
    ? `${what}. The union's members have overlapping JSON encodings, so decoding cannot tell which member the value ` +
        "belongs to (reordering the members only moves the problem to the other member): make the union discriminated " +
        "(a literal `_tag` field in each member, as `Schema.TaggedStruct` has), or keep only members whose encodings differ"
    : `${what}. Every caller would get the decoded value instead: give that part a schema that encodes it ` +
        "(`Schema.Date` for a Date; `Schema.Any` and `Schema.Unknown` keep only what JSON holds)"
}

/** A value as it reads in a sentence: `a string ("1")`, `a bigint (1n)`, `a Date (1970-01-01T00:00:00.000Z)`. */
const describeValue = (value: unknown): string => {
  if (value === ABSENT) return "nothing (no field or element there)"
  const short = (text: string) => (text.length > 40 ? `${text.slice(0, 39)}…` : text)
  switch (typeof value) {
    case "string":
      return `a string (${short(JSON.stringify(value))})`
    case "number":
      return `a number (${value})`
    case "bigint":
      return `a bigint (${value}n)`
    case "boolean":
      return `a boolean (${value})`
    case "undefined":
      return "undefined"
    case "symbol":
      return "a symbol"
    case "function":
      return "a function"
  }
  if (value === null) return "null"
  if (value instanceof Date) return `a Date (${Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString()})`
  if (Array.isArray(value)) return `an array of ${value.length}`
  const name = typeNameOf(value)
  return name === "Object" ? "an object" : phrase(name)
}

const describeError = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** `JSON.rawJSON` (ES2025; Node 21+, recent browsers), where the runtime has it. */
const rawJson = (JSON as unknown as { readonly rawJSON?: (text: string) => unknown }).rawJSON

/** Writes -0 as `-0`, which `JSON.stringify` alone writes as `0`. */
const keepingNegativeZero = (_key: string, item: unknown): unknown => (Object.is(item, -0) ? rawJson!("-0") : item)

/**
 * The JSON text of an encoded value; `Schema.Any` lets a cycle or a bigint
 * through, which JSON cannot hold. `keepNegativeZero` (only where
 * `JSON.rawJSON` exists) writes -0 as `-0`.
 */
const toJson = (value: unknown, encoded: unknown, keepNegativeZero = false): string => {
  try {
    return (keepNegativeZero ? JSON.stringify(encoded, keepingNegativeZero) : JSON.stringify(encoded)) ?? "null"
  } catch (e) {
    throw new Unstorable(value, { issue: `its encoding is not JSON: ${describeError(e)}` })
  }
}

/**
 * Shares one deep-frozen instance with every caller: no copy on store or on
 * load.
 *
 * **Gotchas**
 *
 * `Object.freeze` reaches plain objects and arrays, Data and Schema class
 * instances, Options and Results (also inside Maps, Sets and Effect's other
 * data types): writing to them throws in strict mode. JS cannot freeze the
 * elements of a typed array, the bytes of an ArrayBuffer, the contents of a
 * Map or Set, or a Date; Effect's Chunk, HashMap, HashSet and DateTime keep
 * lazy state on themselves, and instances of other classes may write to
 * themselves, so those are not frozen (nor is anything inside such a class
 * instance): for them, {@link DeepReadonly} makes every write a type error,
 * and nothing stops a write at run time (after a cast, or from plain JS).
 * Freezing happens in place, so the value the computation returned is frozen
 * too.
 *
 * @category constructors
 * @since 0.1.0
 */
export const readonly = <A>(): ValueCodec<A> =>
  make<A>(
    "readonly",
    (value) => {
      const { bytes } = Copy.freeze(value)
      return { stored: value, bytes, value }
    },
    (stored) => stored as A,
    {
      toPersisted: (stored) => stored,
      readUnsafe: (persisted) => persisted as A,
      keepUnsafe: (value) => ({ stored: value, bytes: Copy.freeze(value).bytes, value })
    }
  )

/**
 * Raised when a cached function returns a value its codec cannot keep: a
 * function, a socket, a class instance or an instance of a subclass of Map
 * or Array without a `value` schema, a value that does not match the `value`
 * schema, or one that would not come back from the schema's encoding as it
 * was (a union whose members' encodings overlap).
 *
 * @category errors
 * @since 0.1.0
 */
export class UnserializableValueError extends Schema.TaggedError<UnserializableValueError>()("UnserializableValueError", {
  functionName: Schema.String,
  /** The type of the part that cannot be kept (`"function send"`, `"Socket"`). */
  typeName: Schema.String,
  /** Where that part sits in the value: `value → field "handlers" → [2]`. */
  path: Schema.optional(Schema.String),
  /** The `value` schema's issue, for a value that does not match it or would not come back from its encoding as it was. */
  issue: Schema.optional(Schema.String),
  /** Why the part cannot be copied, when its type alone does not say. */
  reason: Schema.optional(Schema.String)
}) {
  override get message(): string {
    if (this.issue !== undefined) {
      return `${this.functionName} returned a value that does not match its \`value\` schema: ${this.issue}`
    }
    const what = phrase(this.typeName)
    const why = this.reason === undefined ? "" : ` (${this.reason})`
    return [
      this.path === undefined || this.path === ROOT
        ? `${this.functionName} returned ${what}, which DataCache cannot copy${why}.`
        : `${this.functionName} returned a value that DataCache cannot copy: ${what} at ${this.path}${why}.`,
      `DataCache hands every caller its own copy of the value. Ways out:`,
      `  - for a shared object (a connection, a client, a model), use ResourceCache, which returns one instance to every caller;`,
      `  - for class instances, give the function a \`value\` schema (e.g. value: Schema.Option(Schema.Number));`,
      `  - for large data you will not mutate, use copy: "readonly".`
    ].join("\n")
  }
}

/**
 * The typed error for a value a codec refused: `e` from
 * {@link ValueCodec.storeUnsafe} of the function named `functionName`.
 * Rethrows anything that is not an {@link Unstorable} (a bug, not a value).
 *
 * @internal
 */
export const toValueError = (e: unknown, functionName: string): UnserializableValueError => {
  if (!(e instanceof Unstorable)) throw e
  return new UnserializableValueError({
    functionName,
    typeName: typeNameOf(e.value),
    path: renderPath(e.path),
    ...(e.issue === undefined ? {} : { issue: e.issue }),
    ...(e.reason === undefined ? {} : { reason: e.reason })
  })
}

const ROOT = "value"

// A path 100,000 steps deep must not make a 1 MB message.
const MAX_STEPS = 12
const MAX_STEP_LENGTH = 60

/** `value → field "handlers" → [2]`, with the middle of a long path elided. */
const renderPath = (steps: ReadonlyArray<string>): string => {
  const short = (step: string) => (step.length > MAX_STEP_LENGTH ? `${step.slice(0, MAX_STEP_LENGTH - 1)}…` : step)
  const shown =
    steps.length <= MAX_STEPS
      ? steps
      : [...steps.slice(0, MAX_STEPS / 2 - 2), `… ${steps.length - MAX_STEPS + 2} more steps …`, ...steps.slice(-MAX_STEPS / 2)]
  return [ROOT, ...shown.map(short)].join(" → ")
}

const UNREADABLE = "unreadable object"

const typeNameOf = (value: unknown): string => {
  try {
    // An Exit is an Effect too, but one that holds a result: to keep, not to run.
    if (Exit.isExit(value)) return "Exit"
    if (Cause.isCause(value)) return "Cause"
    // Effect's error classes are yieldable Effects too; their class names them better.
    return Effect.isEffect(value) && !(value instanceof Error) ? "Effect" : describeType(value)
  } catch {
    // A revoked proxy throws on any look at it.
    return UNREADABLE
  }
}

/** A type name as it reads in a sentence: "a function (send)", "an instance of Socket". */
const phrase = (typeName: string): string => {
  if (typeName.startsWith("function ")) return `a function (${typeName.slice("function ".length)})`
  switch (typeName) {
    case "function":
      return "a function"
    case "symbol":
      return "a symbol"
    case "Effect":
      return "an Effect (yield* it in the body and return its result instead)"
    case "Exit":
      // Effect.succeed(x) and Effect.fail(e) are Exits too: a body may have meant either.
      return (
        "an Exit, an Effect's result (Effect.succeed and Effect.fail make one too): yield* it in the body for its value, or, " +
        "to keep the Exit itself, give a value schema, value: Schema.Exit(success, failure, defect), or return a Result"
      )
    case "Cause":
      return "a Cause: to keep it, give a value schema, value: Schema.Cause(failure, defect), or return what it says instead"
    case "Object":
    case "object":
      return "an object with a custom prototype"
    case UNREADABLE:
      return "an object that cannot be read (a revoked proxy)"
    default:
      return `an instance of ${typeName}`
  }
}

// ---------------------------------------------------------------------------
// Readonly types
// ---------------------------------------------------------------------------

/**
 * An ArrayBuffer that can be measured and copied but not resized, transferred
 * or wrapped in a writable view. `slice` returns a new, writable copy.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReadonlyArrayBuffer {
  readonly byteLength: number
  slice(begin?: number, end?: number): ArrayBuffer
}

/**
 * Every built-in typed array type.
 *
 * @category models
 * @since 0.1.0
 */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array

/**
 * Typed array types by their `Symbol.toStringTag` (so a Node Buffer maps to Uint8Array).
 *
 * @category models
 * @since 0.1.0
 */
export interface TypedArrays {
  readonly Int8Array: Int8Array
  readonly Uint8Array: Uint8Array
  readonly Uint8ClampedArray: Uint8ClampedArray
  readonly Int16Array: Int16Array
  readonly Uint16Array: Uint16Array
  readonly Int32Array: Int32Array
  readonly Uint32Array: Uint32Array
  readonly Float32Array: Float32Array
  readonly Float64Array: Float64Array
  readonly BigInt64Array: BigInt64Array
  readonly BigUint64Array: BigUint64Array
}

/** Members that write the elements, or hand out a writable view of them. */
type TypedArrayWrites = "set" | "fill" | "copyWithin" | "reverse" | "sort" | "subarray" | "buffer"

/**
 * A typed array that can be read but not written: no index assignment, no
 * `set`, `fill`, `copyWithin`, `reverse` or `sort`, and `subarray` and
 * `buffer` are readonly too. Methods that return a new array (`slice`, `map`,
 * `filter`, `toSorted`, `with`) return an ordinary, writable copy.
 *
 * @category models
 * @since 0.1.0
 */
export type ReadonlyTypedArray<T extends TypedArray> = Omit<T, TypedArrayWrites | number> & {
  readonly [index: number]: T[number]
  readonly buffer: ReadonlyArrayBuffer
  subarray(begin?: number, end?: number): ReadonlyTypedArray<T>
}

/**
 * A DataView with its getters and without its setters.
 *
 * @category models
 * @since 0.1.0
 */
export type ReadonlyDataView = Omit<DataView, `set${string}` | "buffer"> & { readonly buffer: ReadonlyArrayBuffer }

/**
 * A Date with its getters and without its setters.
 *
 * @category models
 * @since 0.1.0
 */
export type ReadonlyDate = Omit<Date, `set${string}`>

/**
 * A deeply readonly view of `A`, the type `copy: "readonly"` values have:
 * readonly fields and arrays all the way down, `ReadonlyMap` and
 * `ReadonlySet`, and readonly typed arrays, buffers, DataViews and Dates
 * (which JS cannot freeze, so the types are what protects them). Effect's
 * immutable types keep their own type, with readonly contents.
 *
 * @category models
 * @since 0.1.0
 */
export type DeepReadonly<A> = A extends (...args: ReadonlyArray<any>) => unknown
  ? A
  : A extends DateTime.DateTime | Duration.Duration
    ? A
    : A extends EffectContainer
      ? DeepReadonlyEffect<A>
      : DeepReadonlyData<A>

/** Effect's immutable containers, whose contents may be mutable data. */
type EffectContainer =
  | Option.Option<unknown>
  | Result.Result<unknown, unknown>
  | Chunk.Chunk<unknown>
  | HashMap.HashMap<unknown, unknown>
  | HashSet.HashSet<unknown>

type DeepReadonlyEffect<A> =
  A extends Option.Some<infer V>
    ? Option.Some<DeepReadonly<V>>
    : A extends Option.None<infer V>
      ? Option.None<DeepReadonly<V>>
      : A extends Result.Success<infer S, infer F>
        ? Result.Success<DeepReadonly<S>, DeepReadonly<F>>
        : A extends Result.Failure<infer S, infer F>
          ? Result.Failure<DeepReadonly<S>, DeepReadonly<F>>
          : A extends Chunk.Chunk<infer V>
            ? Chunk.Chunk<DeepReadonly<V>>
            : A extends HashMap.HashMap<infer K, infer V>
              ? HashMap.HashMap<DeepReadonly<K>, DeepReadonly<V>>
              : A extends HashSet.HashSet<infer V>
                ? HashSet.HashSet<DeepReadonly<V>>
                : A

type DeepReadonlyData<A> = A extends TypedArray
  ? ReadonlyTypedArray<TypedArrays[A[typeof Symbol.toStringTag]]>
  : A extends DataView
    ? ReadonlyDataView
    : A extends ArrayBuffer | SharedArrayBuffer
      ? ReadonlyArrayBuffer
      : A extends Date
        ? ReadonlyDate
        : A extends ReadonlyMap<infer K, infer V>
          ? ReadonlyMap<DeepReadonly<K>, DeepReadonly<V>>
          : A extends ReadonlySet<infer V>
            ? ReadonlySet<DeepReadonly<V>>
            : A extends object
              ? { readonly [K in keyof A]: DeepReadonly<A[K]> }
              : A
