/**
 * The one table of value kinds: what recall knows about a value, whichever
 * walk asks (the canonical hash, the copier's copy, copyTree and freeze, the
 * search for a bad leaf after a failure, the schema codec's round-trip check,
 * the JSON key's check). Each walk switches on {@link kindOf}; what a kind
 * means is written once, in {@link kinds}, and the helpers the walks share
 * (plain objects, typed-array kinds, Node's Buffer, view constructors,
 * Effect's data types) live here and nowhere else.
 *
 * **The rule.** A value has a kind recall can hash and copy only when recall
 * sees everything that makes two such values differ:
 *
 * - primitives, plain objects and arrays, and the built-in containers (Date,
 *   Map, Set, RegExp, typed arrays, DataView, ArrayBuffer) whose prototype is
 *   exactly the built-in's (Node's Buffer is a binary kind of its own);
 * - Effect's data types, each by what its own `Equal` compares: `Option`,
 *   `Result`, `Chunk` (elements in order), `HashMap` and `HashSet` (entries
 *   and members in any order), `DateTime` (epoch millis and, when zoned, the
 *   zone: a named zone's id or an offset), `Duration` (normalised: every
 *   finite duration as its nanoseconds, so `millis(1000)` and
 *   `nanos(1_000_000_000n)` are one value), `Redacted` (by its value, which
 *   the persistent hash writes only as a keyed digest), `BigDecimal` (by its
 *   normalised digits and scale);
 * - `Data.Class`, `Data.TaggedClass`, `Schema.Class` (and Schema's tagged
 *   classes and errors) instances, whose equality is Effect's structural
 *   equality over their own fields: by class name and fields.
 *
 * Anything else is {@link Kind.Opaque}: an instance of another class, of a
 * subclass of a built-in, or of a class that implements `Equal` with its own
 * equality (a class with `#private` state, a Data class that overrides
 * `[Equal.symbol]`): recall cannot see what its equality compares, so both
 * the hasher and the copier refuse it with a typed error that says why
 * ({@link opaqueReason}).
 *
 * Classification is by prototype (a Map lookup after the first value of a
 * prototype), so the hit path pays one lookup per object.
 */
import * as BigDecimal from "effect/BigDecimal"
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Equal from "effect/Equal"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

/**
 * The kinds of objects recall knows (primitives are told apart by `typeof`).
 *
 * @internal
 */
export const Kind = {
  /** Refused by every walk: recall cannot see what makes two such values differ. */
  Opaque: 0,
  /** An object literal or `Object.create(null)`. */
  Plain: 1,
  /** An array of exactly `Array.prototype`. */
  Array: 2,
  /** A typed array, a DataView or a Node Buffer of this realm. */
  View: 3,
  /** An ArrayBuffer or SharedArrayBuffer of this realm. */
  Buffer: 4,
  Date: 5,
  Map: 6,
  Set: 7,
  RegExp: 8,
  Option: 9,
  Result: 10,
  Chunk: 11,
  HashMap: 12,
  HashSet: 13,
  DateTime: 14,
  Duration: 15,
  Redacted: 16,
  /** A Data or Schema class instance with Effect's structural equality: by class and own fields. */
  Data: 17,
  BigDecimal: 18
} as const

/** @internal */
export type Kind = (typeof Kind)[keyof typeof Kind]

/**
 * What each kind is and how each walk treats it: the table the walks follow.
 * `hash` is how the canonical form writes it, `copy` how the copier makes a
 * copy (`fields`: a new object with the same prototype and copies of the own
 * fields; `rebuild`: made anew through the type's constructors; `build`:
 * built from copies of its items once they are complete), `freeze` whether
 * `copy: "readonly"` can freeze it in place.
 *
 * @internal
 */
export const kinds: Readonly<
  Record<
    Kind,
    {
      readonly name: string
      readonly hash: string
      readonly copy: "no" | "same" | "fields" | "rebuild" | "build"
      readonly freeze: boolean
    }
  >
> = {
  [Kind.Opaque]: { name: "class instance", hash: "refused (UnhashableParamError, reason instance)", copy: "no", freeze: false },
  [Kind.Plain]: { name: "plain object", hash: "own enumerable fields, keys sorted", copy: "same", freeze: true },
  [Kind.Array]: { name: "array", hash: "length, elements (holes kept), other own fields", copy: "same", freeze: true },
  [Kind.View]: { name: "typed array", hash: "binary kind, byte length, bytes (XXH3-128 over 1 KiB)", copy: "same", freeze: false },
  [Kind.Buffer]: { name: "ArrayBuffer", hash: "byte length, bytes (XXH3-128 over 1 KiB)", copy: "same", freeze: false },
  [Kind.Date]: { name: "Date", hash: "its time value", copy: "same", freeze: false },
  [Kind.Map]: { name: "Map", hash: "entries in any order", copy: "same", freeze: false },
  [Kind.Set]: { name: "Set", hash: "members in any order", copy: "same", freeze: false },
  [Kind.RegExp]: { name: "RegExp", hash: "source and flags (and lastIndex, when not 0)", copy: "same", freeze: false },
  [Kind.Option]: { name: "Option", hash: "None, or Some and its value", copy: "fields", freeze: true },
  [Kind.Result]: { name: "Result", hash: "Success or Failure and its value", copy: "fields", freeze: true },
  [Kind.Chunk]: { name: "Chunk", hash: "elements in order", copy: "build", freeze: false },
  [Kind.HashMap]: { name: "HashMap", hash: "entries in any order", copy: "build", freeze: false },
  [Kind.HashSet]: { name: "HashSet", hash: "members in any order", copy: "build", freeze: false },
  [Kind.DateTime]: { name: "DateTime", hash: "epoch millis; zoned: and the zone id or offset", copy: "rebuild", freeze: false },
  [Kind.Duration]: { name: "Duration", hash: "nanoseconds (normalised), or ±infinity", copy: "rebuild", freeze: false },
  [Kind.Redacted]: { name: "Redacted", hash: "its value; persisted forms: HMAC-SHA-256 of it", copy: "build", freeze: false },
  [Kind.Data]: { name: "Data class", hash: "class name, _tag, own fields", copy: "fields", freeze: true },
  [Kind.BigDecimal]: { name: "BigDecimal", hash: "its normalised digits and scale", copy: "rebuild", freeze: false }
}

// ---------------------------------------------------------------------------
// Built-ins
// ---------------------------------------------------------------------------

/**
 * An object literal or `Object.create(null)`: the objects whose own fields
 * are all there is to them.
 *
 * @internal
 */
export const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** @internal */
export type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView

/** Node's Buffer (also in Bun and Deno), when there is one: a Uint8Array subclass with no state of its own. */
export const bufferPrototype: object | undefined = (() => {
  const prototype = (globalThis as { readonly Buffer?: { readonly prototype?: unknown } }).Buffer?.prototype
  return typeof prototype === "object" && prototype !== null && prototype !== Uint8Array.prototype ? prototype : undefined
})()

/** @internal */
export const sharedArrayBufferPrototype: object | undefined =
  typeof SharedArrayBuffer === "undefined" ? undefined : SharedArrayBuffer.prototype

const Float16 = (globalThis as { readonly Float16Array?: ViewConstructor }).Float16Array

/**
 * Every built-in view of this runtime by prototype: its constructor (a Buffer
 * is rebuilt as a Uint8Array, then given its prototype back) and its binary
 * kind in the canonical form, one per type, so a Float64Array and the
 * Uint8Array of the same bytes are two keys. Part of the canonical form.
 *
 * @internal
 */
export const views: ReadonlyMap<object, { readonly Constructor: ViewConstructor; readonly binaryKind: number }> = new Map(
  (
    [
      [Uint8Array, 1],
      [Int8Array, 2],
      [Uint8ClampedArray, 3],
      [Int16Array, 4],
      [Uint16Array, 5],
      [Int32Array, 6],
      [Uint32Array, 7],
      [Float32Array, 8],
      [Float64Array, 9],
      [BigInt64Array, 10],
      [BigUint64Array, 11],
      [DataView, 12],
      ...(Float16 === undefined ? [] : [[Float16, 13]]),
      ...(bufferPrototype === undefined ? [] : [[{ prototype: bufferPrototype, buffer: true }, 14]])
    ] as ReadonlyArray<readonly [{ readonly prototype: object; readonly buffer?: boolean }, number]>
  ).map(([C, binaryKind]) => [C.prototype, { Constructor: (C.buffer === true ? Uint8Array : C) as unknown as ViewConstructor, binaryKind }])
)

/** Whether a view's buffer is a SharedArrayBuffer (of any realm: its built-in tag, which a view's real buffer cannot fake). @internal */
export const isSharedBuffer = (buffer: ArrayBufferLike): boolean => Object.prototype.toString.call(buffer) === "[object SharedArrayBuffer]"

/** Whether a value is an ArrayBuffer or a SharedArrayBuffer (of any realm). */
export const isBuffer = (value: object): value is ArrayBufferLike =>
  value instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer)

const builtins = new Map<object, string>(
  [
    Array,
    Map,
    Set,
    Date,
    RegExp,
    ArrayBuffer,
    (globalThis as { SharedArrayBuffer?: Function }).SharedArrayBuffer,
    Object.getPrototypeOf(Uint8Array) as Function,
    ...[...views.values()].map((view) => view.Constructor)
  ]
    .filter((C) => C !== undefined)
    .map((C) => [C.prototype, C === Object.getPrototypeOf(Uint8Array) ? "TypedArray" : C.name])
)

/** The built-in class a subclass instance extends (`"Map"` for a `class Weights extends Map`). */
const builtinName = (value: object): string | undefined => {
  for (let p = Object.getPrototypeOf(Object.getPrototypeOf(value)); p !== null; p = Object.getPrototypeOf(p)) {
    const name = builtins.get(p)
    if (name !== undefined) return name
  }
  return undefined
}

// ---------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------

const byPrototype = new WeakMap<object, Kind>()

const classify = (value: object, proto: object): Kind => {
  switch (proto) {
    case Date.prototype:
      return Kind.Date
    case Map.prototype:
      return Kind.Map
    case Set.prototype:
      return Kind.Set
    case RegExp.prototype:
      return Kind.RegExp
    case ArrayBuffer.prototype:
      return Kind.Buffer
  }
  if (proto === sharedArrayBufferPrototype) return Kind.Buffer
  if (views.has(proto)) return Kind.View
  // Effect's data types, by their type ids (on the prototype).
  if (Option.isOption(value)) return Kind.Option
  if (Result.isResult(value)) return Kind.Result
  if (Chunk.isChunk(value)) return Kind.Chunk
  if (HashMap.isHashMap(value)) return Kind.HashMap
  if (HashSet.isHashSet(value)) return Kind.HashSet
  if (DateTime.isDateTime(value)) return Kind.DateTime
  if (Duration.isDuration(value)) return Kind.Duration
  if (Redacted.isRedacted(value)) return Kind.Redacted
  if (BigDecimal.isBigDecimal(value)) return Kind.BigDecimal
  // Any other `Equal` has an equality of its own that recall cannot see.
  if (Equal.isEqual(value)) return Kind.Opaque
  // Effect's error classes (Data.TaggedError, Schema.TaggedError) are errors first: their stack and cause are state
  // that neither their fields nor a copy of them hold.
  if (value instanceof Error) return Kind.Opaque
  if (value instanceof Data.Class || Schema.isSchema((value as { readonly constructor?: unknown }).constructor)) return Kind.Data
  return Kind.Opaque
}

/**
 * The type ids of Effect's structures that are plain objects (no prototype
 * of their own) but hold state their fields do not show: a `Scope` (its
 * finalizers, whether it closed; an open and a closed one may read alike)
 * and a `PartitionedSemaphore`. As arguments they would share keys; as
 * values, a copy would be a plain object that no longer works.
 */
const STATEFUL_TYPE_IDS: ReadonlyArray<string> = ["~effect/Scope", "~effect/PartitionedSemaphore"]

/** The Effect structure with hidden state that a plain object is, by its type id, if it is one. */
const effectStateName = (value: object): string | undefined => {
  for (const id of STATEFUL_TYPE_IDS) if (id in value) return id.slice("~effect/".length)
  return undefined
}

/**
 * The name of the Effect structure a value is (`Ref`, `Deferred`, `Scope`),
 * from the `"~effect/..."` type id on it or its prototypes (the shortest, so
 * a `Scope.Closeable` is a `Scope`), when it is no instance of a class of
 * its own (Effect makes these from prototype objects); for messages, never a
 * hot path.
 *
 * @internal
 */
export const effectTypeName = (value: object): string | undefined => {
  // An instance of a class of its own (a user's Equal class, an error class) goes by its class's name;
  // Effect's own classes (`PubSubImpl`, `FiberImpl`) by their type id.
  const made = (value as { readonly constructor?: unknown }).constructor
  if (typeof made === "function" && made !== Object && made.name !== "" && !made.name.endsWith("Impl")) return undefined
  let best: string | undefined
  for (let o: object | null = value; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (!key.startsWith("~effect/") || TRAIT_IDS.has(key)) continue
      if (best === undefined || key.length < best.length) best = key
    }
    // The nearest object that has one names it (a Scope.Closeable is a Scope: the shorter of its own ids).
    if (best !== undefined) break
  }
  return best?.slice("~effect/".length)
}

/** Type ids of Effect's traits, which many structures carry: they name none of them. */
const TRAIT_IDS: ReadonlySet<string> = new Set([
  "~effect/Equal",
  "~effect/Hash",
  "~effect/Inspectable",
  "~effect/Pipeable",
  "~effect/Effect",
  // A primitive's own arguments (an Exit's value, a Cause), not a type: an Exit went by it ("Effect/args").
  "~effect/Effect/args"
])

/**
 * The kind of an object. May throw what reading it throws (a revoked Proxy):
 * every walk turns that into its own typed error.
 *
 * @internal
 */
export const kindOf = (value: object): Kind => {
  const proto: object | null = Object.getPrototypeOf(value)
  if (Array.isArray(value)) return proto === Array.prototype ? Kind.Array : Kind.Opaque
  if (proto === Object.prototype || proto === null) return effectStateName(value) === undefined ? Kind.Plain : Kind.Opaque
  let kind = byPrototype.get(proto)
  if (kind === undefined) {
    kind = classify(value, proto)
    byPrototype.set(proto, kind)
  }
  // An object made from a built-in's prototype without its constructor has none of its internal slots.
  if (kind === Kind.View && !ArrayBuffer.isView(value)) return Kind.Opaque
  return kind
}

/** "a" or "an", for a type's name in a message. */
export const article = (name: string): "a" | "an" => (/^[aeiou]/i.test(name) ? "an" : "a")

/**
 * Whether `value`'s prototype chain ends in another realm's `Object.prototype`
 * (an object made in a `node:vm` context or an iframe): its built-ins are not
 * this realm's, so none of the checks by prototype knows it.
 */
const fromAnotherRealm = (value: object): boolean => {
  let last: object | null = null
  for (let proto = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) last = proto
  if (last === null || last === Object.prototype) return false
  const made = Object.getOwnPropertyDescriptor(last, "constructor")?.value as { readonly name?: unknown } | undefined
  return typeof made === "function" && made.name === "Object"
}

/**
 * Why a value of {@link Kind.Opaque} is refused, in words for an error
 * message (never the value itself), for the hasher or the copier; `undefined`
 * when its type says it all (an instance of a class recall does not know).
 *
 * @internal
 */
export const opaqueReason = (value: object, purpose: "hash" | "copy"): string | undefined => {
  try {
    const state = effectStateName(value)
    if (state !== undefined) {
      return purpose === "hash"
        ? `it is an Effect ${state}, which holds state its fields do not show (an open and a closed one may read alike): ` +
            'it cannot be part of a key; leave it out with a "_" parameter name, or pass what identifies it'
        : `it is an Effect ${state}, which holds state its fields do not show: a copy would be a plain object that no longer works; ` +
            "share it through a ResourceCache, or return what it identifies"
    }
    if (Equal.isEqual(value)) {
      const effect = effectTypeName(value)
      const name = (value as { readonly constructor?: { readonly name?: unknown } }).constructor?.name
      const type = effect !== undefined ? `an Effect ${effect}` : typeof name === "string" && name !== "" && name !== "Object" ? name : "it"
      return purpose === "hash"
        ? `${type} implements Equal with an equality of its own, which recall cannot see (its state may be #private): ` +
            "two values it tells apart could share a key"
        : `${type} implements Equal with an equality of its own, which recall cannot see (its state may be #private): ` +
            "a copy made from its fields could lose that state"
    }
    if (fromAnotherRealm(value)) {
      const tag = Object.prototype.toString.call(value).slice(8, -1)
      return purpose === "hash"
        ? `it is ${article(tag)} ${tag} made in another realm (a node:vm context, an iframe), whose built-ins are not this realm's, ` +
            "so recall cannot tell what it holds: make it in this realm, or copy it here first (structuredClone(value))"
        : `its prototype is not this realm's ${tag}.prototype: it was made in another realm, such as a vm context, and a copy ` +
            `would be a plain ${tag} of this realm`
    }
    if (purpose === "hash") return undefined
    const base = builtinName(value)
    if (base !== undefined) {
      return `it extends ${base}, and a copy would be a plain ${base}: its class, its methods and any state the class adds would be lost`
    }
    if (Array.isArray(value) || ArrayBuffer.isView(value)) {
      const tag = Object.prototype.toString.call(value).slice(8, -1)
      return `its prototype is not this realm's ${tag}.prototype: it was made in another realm, such as a vm context, or given another prototype, and a copy would be a plain ${tag} of this realm`
    }
  } catch {
    return undefined
  }
  return undefined
}

// ---------------------------------------------------------------------------
// Effect's data types: what each holds
// ---------------------------------------------------------------------------

/**
 * A Duration as one canonical value: its nanoseconds when finite (so equal
 * durations built from millis or from nanos agree), else `"+"` or `"-"`.
 *
 * @internal
 */
export const durationNanos = (duration: Duration.Duration): bigint | "+" | "-" => {
  const value = duration.value
  switch (value._tag) {
    case "Millis":
      // Millis are integers (Duration turns fractions into nanos), so this is exact.
      return BigInt(value.millis) * 1_000_000n
    case "Nanos":
      return value.nanos
    case "Infinity":
      return "+"
    case "NegativeInfinity":
      return "-"
  }
}

/**
 * A DateTime's zone as what its equality compares: a named zone's id, or an
 * offset in milliseconds. `undefined` for a UTC DateTime.
 *
 * @internal
 */
export const dateTimeZone = (dateTime: DateTime.DateTime): { readonly id: string } | { readonly offset: number } | undefined => {
  if (!DateTime.isZoned(dateTime)) return undefined
  const zone = dateTime.zone
  return zone._tag === "Named" ? { id: zone.id } : { offset: zone.offset }
}

/** @internal */
export const rebuildDateTime = (dateTime: DateTime.DateTime): DateTime.DateTime => {
  const utc = DateTime.makeUnsafe(dateTime.epochMilliseconds)
  return DateTime.isZoned(dateTime) ? DateTime.setZone(utc, dateTime.zone) : utc
}

/** @internal */
export const rebuildDuration = (duration: Duration.Duration): Duration.Duration => {
  const value = duration.value
  switch (value._tag) {
    case "Millis":
      return Duration.millis(value.millis)
    case "Nanos":
      return Duration.nanos(value.nanos)
    case "Infinity":
      return Duration.infinity
    case "NegativeInfinity":
      return Duration.negativeInfinity
  }
}

/**
 * A BigDecimal as what its equality compares: its value normalised (no
 * trailing zeros), so `1.0` and `1.00` are one value.
 *
 * @internal
 */
export const bigDecimalParts = (decimal: BigDecimal.BigDecimal): { readonly value: bigint; readonly scale: number } => {
  const normal = BigDecimal.normalize(decimal)
  return { value: normal.value, scale: normal.scale }
}

/** @internal */
export const rebuildBigDecimal = (decimal: BigDecimal.BigDecimal): BigDecimal.BigDecimal => BigDecimal.make(decimal.value, decimal.scale)

/** The label of a Redacted (shown as `<redacted:label>`), not part of its value. */
export const redactedLabel = (redacted: Redacted.Redacted<unknown>): string | undefined => {
  const label = (redacted as { readonly label?: unknown }).label
  return typeof label === "string" ? label : undefined
}

/**
 * The items of a collection kind (Chunk, HashSet, HashMap as `[key, value,
 * ...]`, Redacted as `[value, label]`), and how to build one from copies of
 * them.
 *
 * @internal
 */
export const collections: {
  readonly [K in typeof Kind.Chunk | typeof Kind.HashMap | typeof Kind.HashSet | typeof Kind.Redacted]: {
    readonly items: (value: any) => Array<unknown>
    readonly build: (items: Array<unknown>) => object
    /** Whether its items are hashed on the way in (they must be complete copies then). */
    readonly hashed: boolean
    /** Every second item is a key (a HashMap's entries). */
    readonly entries: boolean
  }
} = {
  [Kind.Chunk]: { items: (chunk) => Array.from(chunk), build: (items) => Chunk.fromIterable(items), hashed: false, entries: false },
  [Kind.HashSet]: { items: (set) => Array.from(set), build: (items) => HashSet.fromIterable(items), hashed: true, entries: false },
  [Kind.HashMap]: {
    items: (map) => {
      const flat: Array<unknown> = []
      for (const [key, value] of map) flat.push(key, value)
      return flat
    },
    build: (flat) => {
      const pairs: Array<[unknown, unknown]> = []
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]])
      return HashMap.fromIterable(pairs)
    },
    hashed: true,
    entries: true
  },
  [Kind.Redacted]: {
    items: (redacted) => [Redacted.value(redacted), redactedLabel(redacted)],
    build: ([value, label]) => Redacted.make(value, typeof label === "string" ? { label } : undefined),
    hashed: false,
    entries: false
  }
}

/**
 * The own fields an Option or Result holds (its content), by the variant.
 *
 * @internal
 */
export const variantFields = (value: { readonly _tag?: unknown }): ReadonlyArray<string> => {
  switch (value._tag) {
    case "Some":
      return ["value"]
    case "Success":
      return ["success"]
    case "Failure":
      return ["failure"]
    default:
      return []
  }
}
