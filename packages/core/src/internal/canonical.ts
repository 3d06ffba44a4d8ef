/**
 * The canonical form of a value, its XXH3-128 hash, and the in-memory key
 * built from it.
 *
 * **The canonical form** is a sequence of UTF-16 code units. Every value is a
 * type tag followed by its content, with counts before variable-sized parts,
 * so the form of a value is prefix-free and `1`, `"1"`, `1n`, `true` and `[1]`
 * can never share it:
 *
 * - strings: their code units as they are (no encoding step, so lone
 *   surrogates stay distinct); numbers: the four code units of their float64
 *   bits, with one pattern for every NaN (`0` and `-0` keep theirs: they are
 *   `===`, but `1 / x` and `Object.is` tell them apart, so a body may too);
 * - plain-object keys sorted (registered-symbol keys apart, after them); Map
 *   entries and Set members sorted by their own canonical forms, so insertion
 *   order never counts;
 * - built-in containers (arrays, Date, Map, Set, RegExp, typed arrays,
 *   ArrayBuffer) by their built-in rule only when their prototype is exactly
 *   the built-in's (Node's Buffer has a binary kind of its own); an instance
 *   of any other subclass has no form (it needs a per-type hasher). Their own
 *   enumerable fields besides their content (a match array's `index`, a
 *   Map's `unit`) follow the content, keys sorted, behind a tag of their own;
 * - arrays with holes are walked by their indices (linear in their elements,
 *   not in their length); a run of holes is one count;
 * - what each kind of value is comes from the one table of value kinds
 *   (valueKinds.ts), which the copier and the other walks follow too;
 * - effect's HashMap and HashSet as unordered entries and members, with tags
 *   of their own; Option, Result, Chunk, DateTime (instant and zone id or
 *   offset) and Duration (normalised to nanoseconds) by what their own
 *   equality compares; Data and Schema.Class instances by class name and
 *   fields, and in in-memory keys also by a number per class; any other
 *   `Equal` (its equality is its own, which the walk cannot see) has no form;
 * - a Redacted by its value: written out in in-memory keys, and in every
 *   other form only as the HMAC-SHA-256 (keyed, secretDigest.ts) of its
 *   value's form, so a secret never leaves the process in clear or under an
 *   unkeyed hash;
 * - typed arrays and ArrayBuffers up to {@link INLINE_BINARY_BYTES} written
 *   as their bytes; larger ones hashed in place (XXH3-128, never element by
 *   element) and only their 16-byte digest joins the form;
 * - **content addressing**: an array, object, Map, Set or hashed instance
 *   (anything but the root) whose form is longer than {@link DIGEST_LIMIT} is
 *   replaced by the digest of that form, and so is a Map or Set member, which
 *   keeps sorting members linear in the size of the value. The form of a value
 *   is therefore computed bottom-up from its parts alone, whatever is shared:
 *   `{ l: o, r: o }` and `{ l: o, r: clone(o) }` have one form.
 *
 * A count below 0xFFFF is one code unit; a larger one is 0xFFFF followed by
 * its float64 bits.
 *
 * **Hashes** (`hex`, `digest`) are XXH3-128 of the form's bytes (each code
 * unit little-endian): the same on every run and in every process of a
 * little-endian host (x86-64, ARM64, every WebAssembly host), so they can name
 * entries on disk and in Redis. Big-endian hosts would compute other names.
 *
 * **In-memory keys** (`key`): a form of at most {@link EXACT_KEY_LIMIT} code
 * units is the key itself (prefixed `=`), so two small values share a key only
 * when their forms are equal: no collision is possible. A longer form is
 * reduced to `#` and its hash (as 8 code units).
 *
 * The walk is iterative (an explicit stack, Map and Set members included), so
 * deep nesting never overflows the call stack; it keeps the path from the root
 * to the value at hand, so an unhashable value is located without a second
 * search. Getters, Proxy traps and per-type hashers that throw become an
 * {@link UnhashableValue} with the path.
 *
 * **Sharing and cycles.** A reference back to an object still being walked (an
 * ancestor) is written as a back-reference: how many levels up it is, so
 * cycles terminate and a part's form does not depend on how deep it sits.
 * Within one walk, each object whose form was replaced by its digest is
 * remembered (by identity), so meeting it again costs one Map lookup: the walk
 * of a value with shared parts (a DAG, a persistent structure, an AST with
 * shared subtrees) is linear in its distinct objects times
 * {@link DIGEST_LIMIT}, not in its paths. Only parts that cannot reach
 * themselves are remembered: the form of a part on a cycle depends on which of
 * its objects are ancestors where it is met, so it is walked again each time.
 * Should that write more than {@link REWALK_BUDGET} code units again (a cyclic
 * graph with exponentially many paths, such as a complete graph), the walk starts over in
 * *graph mode*: every object is numbered at its first meeting and referred to
 * by its number afterwards, which is linear. A graph-mode form starts with its
 * own tag, so it never equals a form of the other kind; it depends on what is
 * shared (two equal graphs with different sharing are two keys: a miss, never
 * another call's value).
 */
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as SecretDigest from "./secretDigest.ts"
import * as V from "./valueKinds.ts"
import * as Xxh3 from "./xxh3.ts"

/**
 * A per-type hasher: instances of the class are hashed through the function's
 * result (the typed form of Streamlit's `hash_funcs`).
 *
 * @internal
 */
export type TypeHasher = readonly [abstract new (...args: ReadonlyArray<any>) => unknown, (instance: any) => unknown]

/**
 * Why a value has no canonical form: an instance of a class the hasher does
 * not know, a value that has no value form at all (a function, a local
 * symbol), or user code (a getter, a Proxy trap, a per-type hasher) that threw.
 *
 * @internal
 */
export type Reason = "instance" | "value" | "threw"

/**
 * Thrown by the walk when a value has no canonical form. `path` leads from the
 * hashed value's root to it.
 *
 * @internal
 */
export class UnhashableValue {
  readonly value: unknown
  readonly issue: string | undefined
  readonly reason: Reason
  path: ReadonlyArray<PropertyKey> | undefined
  constructor(value: unknown, reason: Reason, issue?: string, path?: ReadonlyArray<PropertyKey>) {
    this.value = value
    this.reason = reason
    this.issue = issue
    this.path = path
  }
}

/**
 * The longest form used exactly as an in-memory key, in code units. Up to
 * about this size an exact key costs no more than hashing (measured: a
 * 250-unit key about the same, a 500-unit one 1.2-1.4x, a 1,000-unit one
 * 2x, as the Map hashes and compares the whole key); beyond it keys would
 * also grow with the arguments. Only in-memory keys depend on it. It is below
 * {@link DIGEST_LIMIT}, so a part of an exact key is written out unless it is
 * over {@link DIGEST_LIMIT} units (or a typed array over
 * {@link INLINE_BINARY_BYTES}) by itself; such a part is its digest there as in
 * every other form of the value.
 *
 * @internal
 */
export const EXACT_KEY_LIMIT = 256

/**
 * Parts of a value (arrays, objects, Maps, Sets and hashed instances below the
 * root; Map and Set members) whose form is longer than this, in code units,
 * are replaced by their digest. Part of the canonical form: changing it
 * changes persisted names.
 *
 * @internal
 */
export const DIGEST_LIMIT = 512

/**
 * How many code units one walk may write again for large parts that lie on
 * cycles (met a second time by another path), before it starts over in graph
 * mode.
 *
 * @internal
 */
export const REWALK_BUDGET = 1 << 20

/**
 * Typed arrays and ArrayBuffers up to this many bytes are written into the
 * form as they are; larger ones as their digest. Part of the canonical form.
 *
 * @internal
 */
export const INLINE_BINARY_BYTES = 1024

/** The binary kind of a SharedArrayBuffer (views and ArrayBuffer take 0 to 14). Part of the canonical form. */
const SHARED_BUFFER_KIND = 15

/** Views of a SharedArrayBuffer take their kind plus this (16 to 30). Part of the canonical form. */
const SHARED_VIEW_KINDS = 16

const Tag = {
  undefined: 1,
  null: 2,
  true: 3,
  false: 4,
  number: 5,
  bigint: 6,
  string: 7,
  symbol: 8,
  array: 9,
  object: 10,
  date: 11,
  map: 12,
  set: 13,
  binary: 14,
  regexp: 15,
  valueObject: 16,
  custom: 17,
  backReference: 18,
  hole: 19,
  binaryDigest: 20,
  objectWithSymbols: 21,
  /** A part (or a Map or Set member) replaced by the XXH3-128 of its form. */
  digest: 22,
  /** Starts a graph-mode form. */
  graph: 23,
  /** Graph mode: an object met for the first time, and its number. */
  node: 24,
  /** Graph mode: an object met before, by its number. */
  reference: 25,
  /** An effect/HashMap: its entries, sorted by their forms. */
  hashMap: 26,
  /** An effect/HashSet: its members, sorted by their forms. */
  hashSet: 27,
  /**
   * Starts a built-in container (array, Date, Map, Set, RegExp) that has own
   * enumerable fields besides its content: its form follows, then a count of
   * string keys, a count of symbol keys, and the fields, keys sorted.
   */
  withFields: 28,
  /** A run of two or more holes in an array, and its length. */
  holes: 29,
  /** An effect/Option: 0 (None), or 1 (Some) and its `value` field. */
  option: 30,
  /** An effect/Result: 1 (Success) and its `success` field, or 2 (Failure) and its `failure` field. */
  result: 31,
  /** An effect/Chunk: its length and its elements, in order. */
  chunk: 32,
  /** An effect/DateTime: its epoch millis, then 0 (UTC), 1 and a zone id, or 2 and an offset. */
  dateTime: 33,
  /** An effect/Duration: 0 and its nanoseconds (hex), 1 (infinity) or 2 (negative infinity). */
  duration: 34,
  /** An effect/Redacted in an in-memory key: its value's form (memory never leaves the process). */
  redacted: 35,
  /** An effect/Redacted in a persistent form: the HMAC-SHA-256 (keyed) of its value's form, 16 code units. */
  redactedDigest: 36,
  /** An effect/BigDecimal: its normalised value (hex) and scale. */
  bigDecimal: 37,
  /**
   * A RegExp whose `lastIndex` is not 0 (a global or sticky one part way
   * through a string, where `exec` and `test` start): source, flags, then
   * `lastIndex`. One at 0 keeps {@link Tag.regexp}'s form.
   */
  regexpAt: 38,
  /**
   * An instance of a subclass of a class with a per-type hasher (and none of
   * its own): the subclass (its identity in memory, its name), then the
   * hasher's {@link Tag.custom} form. Two subclasses with one base hasher are
   * two keys; an instance of the class itself keeps {@link Tag.custom}'s form.
   */
  customSubclass: 39
} as const

/**
 * Where a RegExp's `exec` would start: its `lastIndex` as the language reads
 * it (ToLength: `"3"` is 3, `NaN` and negatives are 0). A `lastIndex` that
 * cannot be read as a number (a symbol) makes `exec` throw: it counts as 0.
 */
const lastIndexOf = (regexp: RegExp): number => {
  const raw: unknown = regexp.lastIndex
  if (raw === 0) return 0
  let n: number
  try {
    n = Number(raw)
  } catch {
    return 0
  }
  n = Math.trunc(n)
  return Number.isNaN(n) || n <= 0 ? 0 : Math.min(n, Number.MAX_SAFE_INTEGER)
}

/**
 * A number for each class of value object (Data, Schema.Class, Equal),
 * by identity: part of in-memory keys only, so two classes with the same
 * name and fields are two keys in memory. Persistent hashes can only use the
 * class name, which is the same in every process.
 */
const classIds = new WeakMap<Function, number>()
let nextClassId = 1
const classId = (Class: unknown): number => {
  if (typeof Class !== "function") return 0
  let id = classIds.get(Class)
  if (id === undefined) {
    id = nextClassId++
    classIds.set(Class, id)
  }
  return id
}

/**
 * The per-type hasher whose class is nearest in `value`'s prototype chain:
 * the class itself before any base. Only when one matches at all
 * (`instanceof`, as a class's `Symbol.hasInstance` may say) is the chain
 * walked; a chain that cannot be read (a Proxy that throws) falls back to
 * the first match in the list.
 */
const nearestHasher = (value: unknown, hashers: ReadonlyArray<TypeHasher>): TypeHasher | undefined => {
  let first: TypeHasher | undefined
  let matches = 0
  for (const hasher of hashers) {
    if (value instanceof hasher[0]) {
      first ??= hasher
      matches++
    }
  }
  if (matches <= 1) return first
  try {
    for (let proto = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) {
      for (const hasher of hashers) if (hasher[0].prototype === proto) return hasher
    }
  } catch {
    // A prototype chain that throws: the list's order decides.
  }
  return first
}

/** The class `value` was made by: the constructor of its prototype, read without running a getter; none when there is none. */
const ownClass = (value: unknown): Function | undefined => {
  try {
    const proto = Object.getPrototypeOf(value)
    if (proto === null) return undefined
    const descriptor = Object.getOwnPropertyDescriptor(proto, "constructor")
    return typeof descriptor?.value === "function" ? descriptor.value : undefined
  } catch {
    return undefined
  }
}

/** Whether `key` is an index of an array of length `n`. */
const isIndex = (key: string, n: number): boolean => {
  const c = key.charCodeAt(0)
  if (c < 48 || c > 57) return false
  const i = Number(key)
  return i < n && String(i) === key
}

/**
 * Node's Buffer (also in Bun and Deno) writes a string's UTF-16 code units at
 * memory speed, lone surrogates included (checked here); elsewhere strings
 * are copied code unit by code unit.
 */
interface Utf16Writer {
  readonly write: (string: string, offset: number, length: number, encoding: "utf16le") => number
  readonly toString: (encoding: "utf16le", start: number, end: number) => string
}
const utf16Writer: ((buffer: ArrayBufferLike) => Utf16Writer) | undefined = (() => {
  const NodeBuffer = (globalThis as { readonly Buffer?: { readonly from: (buffer: ArrayBufferLike) => Utf16Writer } }).Buffer
  if (typeof NodeBuffer?.from !== "function") return undefined
  try {
    const probe = "a\ud800\udfff\udc00\u00ff"
    const units = new Uint16Array(probe.length)
    const buffer = NodeBuffer.from(units.buffer)
    buffer.write(probe, 0, 2 * probe.length, "utf16le")
    for (let i = 0; i < probe.length; i++) if (units[i] !== probe.charCodeAt(i)) return undefined
    if (buffer.toString("utf16le", 0, 2 * probe.length) !== probe) return undefined
    return (buffer) => NodeBuffer.from(buffer)
  } catch {
    return undefined
  }
})()

// Strings shorter than this are copied code unit by code unit, which beats
// the call into Buffer.
const BULK_STRING = 64

const scratch = new Float64Array(1)
const scratchUnits = new Uint16Array(scratch.buffer)
const COUNT_ESCAPE = 0xffff

/** The four code units of a number's canonical float64 bits, in `scratchUnits`. */
const bitsOf = (n: number): void => {
  if (Number.isNaN(n)) {
    // One pattern for every NaN: its payload bits are not part of its value
    // (and a Float64Array store may or may not keep them).
    scratchUnits[0] = 0
    scratchUnits[1] = 0
    scratchUnits[2] = 0
    scratchUnits[3] = 0x7ff8
  } else {
    // -0 keeps its sign bit: `1 / -0` is -Infinity, so f(-0) and f(0) may differ.
    scratch[0] = n
  }
}

/**
 * A growable buffer of code units. The form starts at unit 1: unit 0 is kept
 * for the prefix of an exact in-memory key, so the key is read out of the
 * buffer in one piece (a concatenation would be a rope, which a Map lookup
 * flattens again). Positions (`length`, member marks) count from unit 0.
 */
class Writer {
  units = new Uint16Array(256)
  bytes = new Uint8Array(this.units.buffer)
  bulk: Utf16Writer | undefined = utf16Writer?.(this.units.buffer)
  length = 1

  reserve(n: number): void {
    const needed = this.length + n
    if (needed <= this.units.length) return
    let size = this.units.length * 2
    while (size < needed) size *= 2
    const next = new Uint16Array(size)
    next.set(this.units.subarray(0, this.length))
    this.units = next
    this.bytes = new Uint8Array(next.buffer)
    this.bulk = utf16Writer?.(next.buffer)
  }

  unit(u: number): void {
    this.reserve(1)
    this.units[this.length++] = u
  }

  /** Two code units: a tag and a small count, the most common pair. */
  tagCount(tag: number, n: number): void {
    if (n >= COUNT_ESCAPE) {
      this.unit(tag)
      return this.count(n)
    }
    this.reserve(2)
    this.units[this.length] = tag
    this.units[this.length + 1] = n
    this.length += 2
  }

  count(n: number): void {
    if (n < COUNT_ESCAPE) return this.unit(n)
    this.number(COUNT_ESCAPE, n)
  }

  /** `tag`, then the four code units of a number's canonical float64 bits. */
  number(tag: number, n: number): void {
    bitsOf(n)
    this.reserve(5)
    const units = this.units
    const at = this.length
    units[at] = tag
    units[at + 1] = scratchUnits[0]!
    units[at + 2] = scratchUnits[1]!
    units[at + 3] = scratchUnits[2]!
    units[at + 4] = scratchUnits[3]!
    this.length = at + 5
  }

  /** A count, then the string's code units. */
  string(s: string): void {
    const n = s.length
    this.count(n)
    this.reserve(n)
    const at = this.length
    if (n >= BULK_STRING && this.bulk !== undefined) {
      this.bulk.write(s, 2 * at, 2 * n, "utf16le")
    } else {
      const units = this.units
      for (let i = 0; i < n; i++) units[at + i] = s.charCodeAt(i)
    }
    this.length = at + n
  }

  tagString(tag: number, s: string): void {
    this.unit(tag)
    this.string(s)
  }

  /** 16 digest bytes as 8 code units, each little-endian. */
  digestUnits(digest: Uint8Array): void {
    this.reserve(8)
    const units = this.units
    for (let i = 0; i < 8; i++) units[this.length + i] = digest[2 * i]! | (digest[2 * i + 1]! << 8)
    this.length += 8
  }

  binary(kind: number, buffer: ArrayBufferLike, offset: number, byteLength: number): void {
    if (byteLength <= INLINE_BINARY_BYTES) {
      this.tagCount(Tag.binary, kind)
      this.count(byteLength)
      const n = (byteLength + 1) >>> 1
      this.reserve(n)
      const at = 2 * this.length
      this.bytes.set(new Uint8Array(buffer, offset, byteLength), at)
      if (byteLength % 2 === 1) this.bytes[at + byteLength] = 0
      this.length += n
      return
    }
    // Hashed where it sits: by the native digester from 4 KiB on when one is
    // installed (@recall/node), else by hash-wasm; the same digest either way.
    const digest = Xxh3.digest(new Uint8Array(buffer, offset, byteLength))
    this.tagCount(Tag.binaryDigest, kind)
    this.count(byteLength)
    this.digestUnits(digest)
  }

  /** Replaces the form written since `start` (a part, or a Map or Set member) by its digest, and returns it. */
  reduce(start: number): Uint8Array {
    const digest = Xxh3.digest(this.bytes.subarray(2 * start, 2 * this.length))
    this.length = start
    this.digestOf(digest)
    return digest
  }

  /** What stands for a part whose form has this digest. */
  digestOf(digest: Uint8Array): void {
    this.unit(Tag.digest)
    this.digestUnits(digest)
  }

  /** Code units copied from an earlier part of the form. */
  copy(units: Uint16Array): void {
    this.reserve(units.length)
    this.units.set(units, this.length)
    this.length += units.length
  }

  /**
   * Sorts the members written since `marks[base]` (member `i` spans
   * `marks[base + i]` to `marks[base + i + 1]`) by their code units.
   */
  sortMembers(marks: ReadonlyArray<number>, base: number): void {
    const k = marks.length - base - 1
    if (k < 2) return
    const units = this.units
    const compare = (a: number, b: number) =>
      compareUnits(units, marks[base + a]!, marks[base + a + 1]!, marks[base + b]!, marks[base + b + 1]!)
    let sorted = true
    for (let i = 1; i < k && sorted; i++) sorted = compare(i - 1, i) <= 0
    if (sorted) return
    const order = Array.from({ length: k }, (_, i) => i).sort(compare)
    const start = marks[base]!
    const copy = units.slice(start, this.length)
    let at = start
    for (const i of order) {
      const from = marks[base + i]! - start
      const to = marks[base + i + 1]! - start
      units.set(copy.subarray(from, to), at)
      at += to - from
    }
  }

  /** The form's size in code units. */
  size(): number {
    return this.length - 1
  }

  /** The form's bytes; a view that the next write may overwrite. */
  view(): Uint8Array {
    return this.bytes.subarray(2, 2 * this.length)
  }

  /** `prefix` and the form's code units, as one flat string. */
  text(prefix: number): string {
    this.units[0] = prefix
    if (this.bulk !== undefined) return this.bulk.toString("utf16le", 0, 2 * this.length)
    return String.fromCharCode.apply(null, this.units.subarray(0, this.length) as unknown as Array<number>)
  }
}

const compareUnits = (units: Uint16Array, a: number, aEnd: number, b: number, bEnd: number): number => {
  const n = Math.min(aEnd - a, bEnd - b)
  for (let i = 0; i < n; i++) {
    const d = units[a + i]! - units[b + i]!
    if (d !== 0) return d
  }
  return aEnd - a - (bEnd - b)
}

/**
 * Sorts strings by code units, in place; insertion sort for the few keys most
 * objects have.
 *
 * @internal
 */
export const sortKeys = <K extends string>(keys: Array<K>): Array<K> => {
  const n = keys.length
  if (n > 16) return keys.sort()
  for (let i = 1; i < n; i++) {
    const key = keys[i]!
    let j = i - 1
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!
      j--
    }
    keys[j + 1] = key
  }
  return keys
}

/**
 * Whether a top-level field of an argument is left out of the key: a single
 * leading underscore, as Streamlit's `_param`. `_tag` is data (Effect's
 * discriminator, on plain objects too: `Data.taggedEnum`) and a double
 * underscore (`__typename`) is a data format's convention: both stay.
 *
 * @internal
 */
export const isExcludedField = (key: string): boolean => key.charCodeAt(0) === 95 /* _ */ && key.charCodeAt(1) !== 95 && key !== "_tag"

/**
 * An object literal or `Object.create(null)` (from the table of value kinds).
 *
 * @internal
 */
export const isPlainObject = V.isPlainObject

const describeError = (e: unknown): string => {
  try {
    if (e instanceof Error) return `${e.name}: ${e.message}`
    return String(e)
  } catch {
    return "(an error that cannot be printed)"
  }
}

// What an item on the walk's stack is. Values are read from their container
// when their turn comes, so the path to a value that fails (or whose getter
// throws) is always at hand.
const VALUE = 0 // the item is the value (the root, a hasher's result)
const FIELDS = 1 // the item is the index of the next string key of the innermost open object
const SYMBOL_FIELD = 2 // the item is a registered-symbol key of it
const ELEMENTS = 3 // the item is the index of the next element of the innermost open array
const MAP_KEY = 4 // the item is a Map entry; its key
const MAP_VALUE = 5 // the item is a Map entry; its value
const SET_MEMBER = 6 // the item is a Set member
const END_MEMBER = 7 // a Map entry or Set member is complete
const LEAVE = 8 // the innermost open container is complete
const LEAVE_UNORDERED = 9 // the innermost open Map or Set is complete; the item is its first mark
const SPARSE = 10 // the item is the position, among its elements, of the next element of the innermost open array with holes
const EXTRA_FIELDS = 11 // the item is the {@link Extra} fields of the innermost open built-in container, due now
const SORT_MEMBERS = 12 // the members of the innermost open Map or Set are complete; the item is its first mark
const LIST = 13 // the item is the index of the next item of the innermost open Chunk (its items are in `keys`)
const REDACTED_VALUE = 14 // the item is the value of the innermost open Redacted

/** Own enumerable fields of a built-in container besides its content. */
interface Extra {
  /** String keys, sorted. */
  readonly keys: Array<string>
  /** Registered-symbol keys, sorted by their registry key. */
  readonly named: ReadonlyArray<symbol>
}

/** What an array with holes has to walk: its indices that hold an element, in order, and its length. */
interface Sparse {
  readonly indices: ReadonlyArray<number>
  readonly length: number
}

// Containers open at depths below this are found by scanning `open`; deeper
// ones through a Map, so cycles cost nothing on shallow values and stay
// linear on deep ones.
const SCAN_DEPTH = 32

// Marks the read of a field or element, so a throwing getter is told apart.
const READING = Symbol("reading")

// Thrown inside a walk to start it over in graph mode.
const RESTART = Symbol("restart")

// No back-reference below this depth (yet): `low` of a part without any.
const NO_BACK_REFERENCE = 0x3fffffff // a small integer (31 bits), so `low` stays an array of them

// A spare walk keeps its buffer; one grown past this by a huge value is
// dropped instead of being held for the life of the process.
const MAX_SPARE_BYTES = 1 << 20

class Walk {
  readonly writer = new Writer()
  hashers: ReadonlyArray<TypeHasher> = []
  readonly items: Array<unknown> = []
  readonly kinds: Array<number> = []
  /** The containers on the path to the value at hand, by depth. */
  readonly open: Array<object | undefined> = []
  /** `path[d]` leads from `open[d]` to the next step. */
  readonly path: Array<PropertyKey> = []
  /**
   * What `open[d]` has to walk, fixed when it was entered (a getter that
   * changes it meanwhile cannot make the form disagree with its counts): its
   * sorted string keys, or its length.
   */
  readonly keys: Array<ReadonlyArray<string> | number | Sparse | undefined> = []
  /** Where the form of `open[d]` starts in the writer. */
  readonly starts: Array<number> = []
  /**
   * The smallest depth a back-reference written inside `open[d]` points to,
   * {@link NO_BACK_REFERENCE} when none: `open[d]` lies on a cycle exactly
   * when this is at most `d`.
   */
  readonly low: Array<number> = []
  readonly deep = new Map<object, number>()
  /** Where each member of the open Maps and Sets starts and ends. */
  readonly marks: Array<number> = []
  /**
   * This walk's parts already reduced to their digest, by identity: the
   * digest of a container's form, or the code units of a large binary's form.
   * `null` marks a large container on a cycle: it is walked again each time
   * it is met.
   */
  readonly memo = new Map<object, Uint8Array | Uint16Array | null>()
  /** Code units written by walks again of large containers marked `null`. */
  rewritten = 0
  /** Graph mode: every object met so far, and its number. */
  readonly numbers = new Map<object, number>()
  graph = false
  depth = 0
  /** Where the form of the object at hand starts: set by `object`, read by `enter`. */
  start = 0
  /** An in-memory key: value objects' classes count by identity too. */
  memory = false

  run(root: unknown, hashers: ReadonlyArray<TypeHasher>, memory: boolean): Writer {
    this.hashers = hashers
    this.memory = memory
    const { items, kinds, open, path, writer } = this
    writer.length = 1
    if (this.graph) writer.unit(Tag.graph)
    let current: unknown = root
    try {
      this.value(root)
      while (items.length > 0) {
        const item = items.pop()
        const kind = kinds.pop()
        const d = this.depth - 1
        switch (kind) {
          case FIELDS: {
            // Fields whose values are primitives are written here, in one go;
            // at a container, the rest wait on the stack behind its content.
            const keys = this.keys[d] as ReadonlyArray<string>
            const object = open[d] as Record<string, unknown>
            for (let i = item as number; i < keys.length; i++) {
              const key = keys[i]!
              writer.string(key)
              path[d] = key
              current = READING
              current = object[key]
              if ((typeof current === "object" && current !== null) || typeof current === "function") {
                if (i + 1 < keys.length) this.push(i + 1, FIELDS)
                this.value(current)
                break
              }
              this.value(current)
            }
            break
          }
          case ELEMENTS: {
            const array = open[d] as Array<unknown>
            const n = this.keys[d] as number
            // Every index holds an element (holes take SPARSE).
            for (let i = item as number; i < n; i++) {
              path[d] = i
              current = READING
              current = array[i]
              if ((typeof current === "object" && current !== null) || typeof current === "function") {
                if (i + 1 < n) this.push(i + 1, ELEMENTS)
                this.value(current)
                break
              }
              this.value(current)
            }
            break
          }
          case SPARSE: {
            // The elements by their indices, so the walk is linear in the
            // elements, not in the length; a run of holes is one count.
            const array = open[d] as Array<unknown>
            const { indices, length } = this.keys[d] as Sparse
            const m = indices.length
            let before = item === 0 ? -1 : indices[(item as number) - 1]!
            for (let i = item as number; i <= m; i++) {
              const at = i < m ? indices[i]! : length
              const gap = at - before - 1
              if (gap === 1) writer.unit(Tag.hole)
              else if (gap > 1) {
                writer.unit(Tag.holes)
                writer.count(gap)
              }
              if (i === m) break
              before = at
              path[d] = at
              current = READING
              current = array[at]
              if ((typeof current === "object" && current !== null) || typeof current === "function") {
                this.push(i + 1, SPARSE)
                this.value(current)
                break
              }
              this.value(current)
            }
            break
          }
          case LIST: {
            const list = this.keys[d] as unknown as ReadonlyArray<unknown>
            for (let i = item as number; i < list.length; i++) {
              path[d] = i
              current = list[i]
              if ((typeof current === "object" && current !== null) || typeof current === "function") {
                if (i + 1 < list.length) this.push(i + 1, LIST)
                this.value(current)
                break
              }
              this.value(current)
            }
            break
          }
          case REDACTED_VALUE: {
            path[d] = "(redacted value)"
            current = item
            this.value(current)
            break
          }
          case EXTRA_FIELDS: {
            const { keys, named } = item as Extra
            writer.count(keys.length)
            writer.count(named.length)
            this.keys[d] = keys
            for (let i = named.length - 1; i >= 0; i--) this.push(named[i], SYMBOL_FIELD)
            if (keys.length > 0) this.push(0, FIELDS)
            break
          }
          case SORT_MEMBERS: {
            writer.sortMembers(this.marks, item as number)
            this.marks.length = item as number
            break
          }
          case LEAVE: {
            this.leave()
            break
          }
          case SYMBOL_FIELD: {
            writer.string(Symbol.keyFor(item as symbol)!)
            path[d] = item as symbol
            current = READING
            current = (open[d] as Record<symbol, unknown>)[item as symbol]
            this.value(current)
            break
          }
          case MAP_KEY: {
            path[d] = "(map key)"
            current = (item as readonly [unknown, unknown])[0]
            this.value(current)
            break
          }
          case MAP_VALUE: {
            const [key, value] = item as readonly [unknown, unknown]
            path[d] = typeof key === "string" || typeof key === "number" ? `(map value ${JSON.stringify(key)})` : "(map value)"
            current = value
            this.value(current)
            break
          }
          case SET_MEMBER: {
            path[d] = "(set member)"
            current = item
            this.value(current)
            break
          }
          case END_MEMBER: {
            const marks = this.marks
            if (writer.length - marks[marks.length - 1]! > DIGEST_LIMIT) writer.reduce(marks[marks.length - 1]!)
            marks.push(writer.length)
            break
          }
          case LEAVE_UNORDERED: {
            writer.sortMembers(this.marks, item as number)
            this.marks.length = item as number
            this.leave()
            break
          }
          default: {
            path[d] = "(hasher result)"
            current = item
            this.value(current)
          }
        }
      }
      return writer
    } catch (e) {
      if (e !== RESTART) throw this.failure(e, current)
    }
    // Walking parts on cycles again went over budget: start over in graph mode.
    this.clear()
    this.graph = true
    return this.run(root, hashers, memory)
  }

  failure(e: unknown, current: unknown): unknown {
    if (e instanceof Xxh3.NotLoaded) return e
    const path = this.path.slice(0, this.depth)
    if (e instanceof UnhashableValue) {
      e.path ??= path
      return e
    }
    // A getter, a Proxy trap or a hasher's user code threw.
    return current === READING
      ? new UnhashableValue(this.open[this.depth - 1], "threw", `reading it threw ${describeError(e)}`, path)
      : new UnhashableValue(current, "threw", `inspecting it threw ${describeError(e)}`, path)
  }

  push(item: unknown, kind: number): void {
    this.items.push(item)
    this.kinds.push(kind)
  }

  /** Opens `container`, whose form started at `this.start`. */
  enter(container: object, leave: number, item?: unknown): void {
    const depth = this.depth
    this.open[depth] = container
    this.starts[depth] = this.start
    this.low[depth] = NO_BACK_REFERENCE
    if (depth >= SCAN_DEPTH) this.deep.set(container, depth)
    this.depth = depth + 1
    this.push(item, leave)
  }

  /**
   * Closes the innermost container. Below the root, a form over
   * {@link DIGEST_LIMIT} is replaced by its digest, which is remembered for
   * the rest of the walk unless the container lies on a cycle.
   */
  leave(): void {
    const depth = --this.depth
    const container = this.open[depth]!
    if (depth >= SCAN_DEPTH) this.deep.delete(container)
    this.open[depth] = undefined
    this.keys[depth] = undefined
    if (depth === 0) return
    const low = this.low[depth]!
    if (low < this.low[depth - 1]!) this.low[depth - 1] = low
    const start = this.starts[depth]!
    if (this.writer.length - start > DIGEST_LIMIT) this.close(container, depth, low, start)
  }

  /** The rest of `leave` for a large container: its digest replaces its form. */
  close(container: object, depth: number, low: number, start: number): void {
    const w = this.writer
    // Walking a large container on a cycle again (it was marked when it was
    // left before) is what can grow without bound: it is counted. A small
    // one costs at most the limit, within its parent's walk.
    if (this.memo.size > 0 && this.memo.get(container) === null) {
      this.rewritten += w.length - start
      if (this.rewritten > REWALK_BUDGET) throw RESTART
    }
    const digest = w.reduce(start)
    if (this.graph) return
    // A container that reaches itself (a back-reference inside it points to
    // it or above) has a form that depends on where it is met: it is marked,
    // to be walked again. Any other has one form wherever it is met (its
    // back-references all point inside it, and count levels up).
    this.memo.set(container, low <= depth ? null : digest)
  }

  /** The depth of `value` if it is a container being walked, else -1. */
  ancestor(value: object): number {
    const open = this.open
    const scan = this.depth < SCAN_DEPTH ? this.depth : SCAN_DEPTH
    for (let i = 0; i < scan; i++) {
      if (open[i] === value) return i
    }
    return this.depth > SCAN_DEPTH ? (this.deep.get(value) ?? -1) : -1
  }

  value(value: unknown): void {
    const w = this.writer
    switch (typeof value) {
      case "number":
        return w.number(Tag.number, value)
      case "string":
        return w.tagString(Tag.string, value)
      case "boolean":
        return w.unit(value ? Tag.true : Tag.false)
      case "undefined":
        return w.unit(Tag.undefined)
      case "bigint":
        return w.tagString(Tag.bigint, value.toString(16))
      case "symbol": {
        // Only registered symbols are the same in every process.
        const key = Symbol.keyFor(value)
        if (key === undefined) {
          throw new UnhashableValue(
            value,
            "value",
            `${String(value)} is not registered (Symbol.for), so it is not the same in another process`
          )
        }
        return w.tagString(Tag.symbol, key)
      }
      case "function":
        if (this.hashers.length > 0) {
          this.start = w.length
          if (this.seen(value)) return
          if (this.custom(value)) return
        }
        throw new UnhashableValue(value, "value")
      case "object":
        if (value === null) return w.unit(Tag.null)
        return this.object(value)
    }
  }

  /**
   * Writes what stands for an object met before, and says whether it did: a
   * back-reference to an ancestor, a remembered digest, or in graph mode its
   * number (an object met for the first time gets its number here).
   */
  seen(value: object): boolean {
    const w = this.writer
    if (this.graph) {
      const n = this.numbers.get(value)
      if (n !== undefined) {
        w.unit(Tag.reference)
        w.count(n)
        return true
      }
      this.numbers.set(value, this.numbers.size)
      w.unit(Tag.node)
      w.count(this.numbers.size - 1)
      return false
    }
    const depth = this.depth
    const at = this.ancestor(value)
    if (at >= 0) {
      // Levels up, so the form of a part does not depend on its depth.
      w.unit(Tag.backReference)
      w.count(depth - at)
      if (at < this.low[depth - 1]!) this.low[depth - 1] = at
      return true
    }
    if (this.memo.size > 0) {
      const known = this.memo.get(value)
      if (known) {
        if (known instanceof Uint8Array) w.digestOf(known)
        else w.copy(known)
        return true
      }
    }
    return false
  }

  object(value: object): void {
    const w = this.writer
    this.start = w.length
    if (this.seen(value)) return
    // Per-type hashers come first, so they can override a built-in rule too.
    if (this.hashers.length > 0 && this.custom(value)) return
    // Built-in containers by their built-in rule only when the prototype is
    // exactly the built-in's: a subclass may add fields and behaviour (and
    // prints, compares or computes otherwise), so it needs a hasher of its own.
    // What each kind is: the table of value kinds (valueKinds.ts).
    const kind = V.kindOf(value)
    switch (kind) {
      case V.Kind.Plain:
        return this.fields(value, Tag.object)
      case V.Kind.Array:
        return this.array(value as Array<unknown>)
      case V.Kind.View: {
        const view = value as ArrayBufferView
        const kind = V.views.get(Object.getPrototypeOf(view))!.binaryKind
        // A view of shared memory is another key than one of an ArrayBuffer, as the two buffers are (a body
        // can tell them apart: found by an outside trial).
        const shared = V.isSharedBuffer(view.buffer)
        return this.binary(value, shared ? SHARED_VIEW_KINDS + kind : kind, view.buffer, view.byteOffset, view.byteLength)
      }
      case V.Kind.Buffer:
        // An ArrayBuffer is binary kind 0, a SharedArrayBuffer 15: Equal tells them apart, so must the key.
        return this.binary(
          value,
          Object.getPrototypeOf(value) === V.sharedArrayBufferPrototype ? SHARED_BUFFER_KIND : 0,
          value as ArrayBufferLike,
          0,
          (value as ArrayBufferLike).byteLength
        )
      case V.Kind.Date: {
        const time = (value as Date).getTime()
        const extra = this.extra(value)
        if (extra === undefined) return w.number(Tag.date, time)
        w.unit(Tag.withFields)
        w.number(Tag.date, time)
        this.enter(value, LEAVE)
        return this.push(extra, EXTRA_FIELDS)
      }
      case V.Kind.Map:
        return this.unordered(value, Tag.map, Array.from(value as Map<unknown, unknown>), MAP_KEY, this.extra(value))
      case V.Kind.Set:
        return this.unordered(value, Tag.set, Array.from(value as Set<unknown>), SET_MEMBER, this.extra(value))
      case V.Kind.RegExp: {
        const { flags, source } = value as RegExp
        const lastIndex = lastIndexOf(value as RegExp)
        const extra = this.extra(value)
        if (extra !== undefined) w.unit(Tag.withFields)
        w.unit(lastIndex === 0 ? Tag.regexp : Tag.regexpAt)
        w.string(source)
        w.string(flags)
        if (lastIndex !== 0) w.number(Tag.number, lastIndex)
        if (extra === undefined) return
        this.enter(value, LEAVE)
        return this.push(extra, EXTRA_FIELDS)
      }
      // Effect's data types, each by what its own equality compares.
      case V.Kind.Option:
      case V.Kind.Result: {
        const keys = V.variantFields(value as { readonly _tag?: unknown })
        const variant = (value as { readonly _tag: string })._tag
        w.unit(kind === V.Kind.Option ? Tag.option : Tag.result)
        w.unit(variant === "Some" || variant === "Success" ? 1 : variant === "Failure" ? 2 : 0)
        this.keys[this.depth] = keys
        this.enter(value, LEAVE)
        if (keys.length > 0) this.push(0, FIELDS)
        return
      }
      case V.Kind.Chunk: {
        const items = Array.from(value as Iterable<unknown>)
        w.tagCount(Tag.chunk, items.length)
        this.keys[this.depth] = items as never
        this.enter(value, LEAVE)
        if (items.length > 0) this.push(0, LIST)
        return
      }
      // Effect's persistent collections, by their content (their fields are
      // the trie that holds it, which depends on insertion history).
      case V.Kind.HashMap:
        return this.unordered(value, Tag.hashMap, Array.from(value as Iterable<unknown>), MAP_KEY)
      case V.Kind.HashSet:
        return this.unordered(value, Tag.hashSet, Array.from(value as Iterable<unknown>), SET_MEMBER)
      case V.Kind.DateTime: {
        const dateTime = value as DateTime.DateTime
        w.number(Tag.dateTime, dateTime.epochMilliseconds)
        const zone = V.dateTimeZone(dateTime)
        if (zone === undefined) return w.unit(0)
        if ("id" in zone) return w.tagString(1, zone.id)
        return w.number(2, zone.offset)
      }
      case V.Kind.Duration: {
        const nanos = V.durationNanos(value as Duration.Duration)
        w.unit(Tag.duration)
        if (nanos === "+") return w.unit(1)
        if (nanos === "-") return w.unit(2)
        return w.tagString(0, nanos.toString(16))
      }
      case V.Kind.Redacted:
        return this.redacted(value as Redacted.Redacted<unknown>)
      case V.Kind.BigDecimal: {
        const { scale, value: digits } = V.bigDecimalParts(value as never)
        w.tagString(Tag.bigDecimal, digits.toString(16))
        return w.number(Tag.number, scale)
      }
      case V.Kind.Data: {
        // Data and Schema.Class instances: values by contract. The class name
        // and `_tag` (often on the prototype) join the key, so two classes with
        // the same fields differ. In memory, the class itself counts too (two
        // classes may share a name).
        const tag = (value as { readonly _tag?: unknown })._tag
        // The class from the prototype: an own field named `constructor` is data, not the class.
        const Class = (Object.getPrototypeOf(value) as { readonly constructor?: Function } | null)?.constructor
        w.unit(Tag.valueObject)
        if (this.memory) w.count(classId(Class))
        w.string(typeof Class === "function" ? Class.name : "")
        w.string(typeof tag === "string" ? tag : "")
        return this.fields(value, Tag.valueObject)
      }
      default:
        throw new UnhashableValue(value, "instance", V.opaqueReason(value, "hash"))
    }
  }

  /**
   * A Redacted, keyed by its value. In an in-memory key the value's form is
   * written as it is (memory never leaves the process); in a persistent form
   * only the HMAC-SHA-256 of the value's form, under the process's key, so the
   * value never leaves the process in clear or under an unkeyed hash.
   */
  redacted(value: Redacted.Redacted<unknown>): void {
    const w = this.writer
    if (this.memory) {
      w.unit(Tag.redacted)
      this.enter(value, LEAVE)
      return this.push(Redacted.value(value), REDACTED_VALUE)
    }
    // Its value is walked on its own, so a cycle back through it would never end: it has no form.
    if (digesting.has(value)) throw new UnhashableValue(value, "value", "a cycle passes through this Redacted, back into its own value")
    let digest: Uint8Array
    digesting.add(value)
    try {
      digest = withForm(Redacted.value(value), this.hashers, (writer) => SecretDigest.digest(writer.view()))
    } catch (e) {
      if (e instanceof UnhashableValue) e.path = [...this.path.slice(0, this.depth), "(redacted value)", ...(e.path ?? [])]
      throw e
    } finally {
      digesting.delete(value)
    }
    w.unit(Tag.redactedDigest)
    w.digestUnits(digest.subarray(0, 16))
    w.digestUnits(digest.subarray(16, 32))
  }

  /**
   * An array: its length, its elements (by their indices when it has holes,
   * so the walk is linear in its elements, not in its length), then its own
   * enumerable fields that are not indices, if any.
   */
  array(value: Array<unknown>): void {
    const w = this.writer
    const n = value.length
    // The indices come first, in order, then the other keys.
    const own = Object.keys(value)
    let elements = n
    let sparse: Sparse | undefined
    if (own.length < n || (n > 0 && own[n - 1] !== String(n - 1))) {
      // Holes: the indices that hold an element.
      const indices: Array<number> = []
      for (const key of own) if (isIndex(key, n)) indices.push(Number(key))
      for (let i = 1; i < indices.length; i++) {
        if (indices[i - 1]! >= indices[i]!) {
          indices.sort((a, b) => a - b) // a Proxy's keys, in its own order
          break
        }
      }
      elements = indices.length
      sparse = { indices, length: n }
    }
    // Without holes the first `n` keys are the indices.
    const others = own.length === elements ? [] : sparse === undefined ? own.slice(n) : own.filter((key) => !isIndex(key, n))
    const extra = this.extra(value, others)
    if (extra !== undefined) w.unit(Tag.withFields)
    w.tagCount(Tag.array, n)
    this.keys[this.depth] = sparse ?? n
    this.enter(value, LEAVE)
    if (extra !== undefined) this.push(extra, EXTRA_FIELDS)
    if (sparse !== undefined) this.push(0, SPARSE)
    else if (n > 0) this.push(0, ELEMENTS)
  }

  /**
   * The own enumerable fields of a built-in container besides its content
   * (string `keys` when given, else all of them), or `undefined` when it has
   * none.
   */
  extra(value: object, keys: Array<string> = Object.keys(value)): Extra | undefined {
    const symbols = Object.getOwnPropertySymbols(value)
    const named = symbols.length === 0 ? symbols : this.symbolKeys(value, symbols)
    if (keys.length === 0 && named.length === 0) return undefined
    return { keys: sortKeys(keys), named }
  }

  /** A typed array or buffer; a large one is hashed once per walk, however often it is met. */
  binary(value: object, kind: number, buffer: ArrayBufferLike, offset: number, byteLength: number): void {
    const w = this.writer
    if (byteLength <= INLINE_BINARY_BYTES || this.graph) return w.binary(kind, buffer, offset, byteLength)
    const known = this.memo.get(value)
    if (known instanceof Uint16Array) return w.copy(known)
    const start = w.length
    w.binary(kind, buffer, offset, byteLength)
    this.memo.set(value, w.units.slice(start, w.length))
  }

  /**
   * Applies the per-type hasher of the nearest class in the value's
   * prototype chain (a subclass's own hasher before its base's, whatever
   * their order in the list); false when none matches. A subclass instance
   * hashed by a base class's hasher is keyed by its own class too: the
   * base's hasher cannot see what the subclass adds (a `Square` and a
   * `Circle` with one `id` are two keys).
   */
  custom(value: unknown): boolean {
    const matched = nearestHasher(value, this.hashers)
    if (matched === undefined) return false
    const [Class, hash] = matched
    let result: unknown
    try {
      result = hash(value)
    } catch (e) {
      throw new UnhashableValue(value, "threw", `its hasher (Hasher.by(${Class.name}, ...)) threw ${describeError(e)}`)
    }
    const own = ownClass(value)
    if (own !== undefined && own !== Class) {
      this.writer.unit(Tag.customSubclass)
      if (this.memory) this.writer.count(classId(own))
      this.writer.string(typeof own.name === "string" ? own.name : "")
    }
    this.writer.unit(Tag.custom)
    if (this.memory) this.writer.count(classId(Class))
    this.writer.string(Class.name)
    // Open, so a hasher that returns the instance itself ends as a back-reference.
    this.enter(value as object, LEAVE)
    this.push(result, VALUE)
    return true
  }

  /**
   * Own enumerable fields, keys sorted: string keys, then registered-symbol
   * keys (by their registry key). Non-enumerable fields are not data (as for
   * `Object.keys`, spread, JSON and structuredClone); an enumerable field keyed
   * by an unregistered symbol cannot be named across processes and fails.
   */
  fields(value: object, tag: number): void {
    const w = this.writer
    const keys = Object.keys(value)
    sortKeys(keys)
    const symbols = Object.getOwnPropertySymbols(value)
    const named = symbols.length === 0 ? symbols : this.symbolKeys(value, symbols)
    if (tag === Tag.object && named.length === 0) {
      w.tagCount(Tag.object, keys.length)
    } else {
      if (tag === Tag.object) w.unit(Tag.objectWithSymbols)
      w.count(keys.length)
      w.count(named.length)
    }
    this.keys[this.depth] = keys
    this.enter(value, LEAVE)
    for (let i = named.length - 1; i >= 0; i--) this.push(named[i], SYMBOL_FIELD)
    if (keys.length > 0) this.push(0, FIELDS)
  }

  symbolKeys(value: object, symbols: ReadonlyArray<symbol>): Array<symbol> {
    const named: Array<symbol> = []
    for (const symbol of symbols) {
      if (!Object.prototype.propertyIsEnumerable.call(value, symbol)) continue
      if (Symbol.keyFor(symbol) === undefined) {
        throw new UnhashableValue(
          symbol,
          "value",
          `a field is keyed by ${String(symbol)}, which is not registered (Symbol.for), so it cannot be named the same way in another process`,
          [...this.path.slice(0, this.depth), symbol]
        )
      }
      named.push(symbol)
    }
    return named.sort((a, b) => {
      const x = Symbol.keyFor(a)!
      const y = Symbol.keyFor(b)!
      return x < y ? -1 : x > y ? 1 : 0
    })
  }

  /** Map entries and Set members, each written whole, then sorted by their forms. */
  unordered(container: object, tag: number, members: ReadonlyArray<unknown>, kind: number, extra?: Extra): void {
    if (extra !== undefined) this.writer.unit(Tag.withFields)
    this.writer.tagCount(tag, members.length)
    const base = this.marks.length
    this.marks.push(this.writer.length)
    if (extra === undefined) {
      this.enter(container, LEAVE_UNORDERED, base)
    } else {
      // Members, sorted; then the fields, in order.
      this.enter(container, LEAVE)
      this.push(extra, EXTRA_FIELDS)
      this.push(base, SORT_MEMBERS)
    }
    for (let i = members.length - 1; i >= 0; i--) {
      this.push(undefined, END_MEMBER)
      if (kind === MAP_KEY) this.push(members[i], MAP_VALUE)
      this.push(members[i], kind)
    }
  }

  /** Drops what a walk left: its stack, and references to the values walked. */
  clear(): void {
    if (this.items.length > 0) {
      this.items.length = 0
      this.kinds.length = 0
    }
    if (this.depth > 0) {
      this.open.length = 0
      this.keys.length = 0
      this.depth = 0
    }
    this.marks.length = 0
    if (this.deep.size > 0) this.deep.clear()
    if (this.memo.size > 0) this.memo.clear()
    if (this.numbers.size > 0) this.numbers.clear()
    this.rewritten = 0
  }

  reset(): void {
    this.clear()
    this.hashers = []
    this.graph = false
    if (this.path.length > 64) this.path.length = 0
  }
}

/** The Redacted values whose digests are being computed (their values are walked on their own). */
const digesting = new Set<object>()

let spare: Walk | undefined = new Walk()

/**
 * Walks `value` and hands the written form to `finish`. One spare walk is
 * reused, so small keys allocate little; a walk started while it is in use (a
 * per-type hasher that hashes) makes its own.
 */
const withForm = <A>(value: unknown, hashers: ReadonlyArray<TypeHasher>, finish: (writer: Writer) => A, memory = false): A => {
  const walk = spare ?? new Walk()
  spare = undefined
  try {
    return finish(walk.run(value, hashers, memory))
  } finally {
    walk.reset()
    spare = walk.writer.units.byteLength <= MAX_SPARE_BYTES ? walk : undefined
  }
}

/**
 * The XXH3-128 hash of a value's canonical form as 32 hex digits (canonical,
 * big-endian order, as `xxhsum -H2` prints it).
 *
 * @throws UnhashableValue when some part of the value has no canonical form.
 * @internal
 */
export const hex = (value: unknown, hashers: ReadonlyArray<TypeHasher>): string =>
  withForm(value, hashers, (writer) => Xxh3.hex(writer.view()))

/**
 * The XXH3-128 hash of a value's canonical form as 16 bytes (canonical order).
 *
 * @throws UnhashableValue when some part of the value has no canonical form.
 * @internal
 */
export const digest = (value: unknown, hashers: ReadonlyArray<TypeHasher>): Uint8Array =>
  withForm(value, hashers, (writer) => Xxh3.digest(writer.view()))

/**
 * What `finish` makes of the canonical form's bytes (a view, valid only
 * during the call): a keyed digest of them, for store names under a secret.
 *
 * @throws UnhashableValue when some part of the value has no canonical form.
 * @internal
 */
export const spell = <A>(value: unknown, hashers: ReadonlyArray<TypeHasher>, finish: (form: Uint8Array) => A): A =>
  withForm(value, hashers, (writer) => finish(writer.view()))

/**
 * A copy of the canonical form's bytes (for tests and tools).
 *
 * @throws UnhashableValue when some part of the value has no canonical form.
 * @internal
 */
export const bytes = (value: unknown, hashers: ReadonlyArray<TypeHasher>): Uint8Array =>
  withForm(value, hashers, (writer) => writer.view().slice())

/**
 * An in-memory key: `=` and the canonical form itself when it has at most
 * {@link EXACT_KEY_LIMIT} code units, else `#` and its hash (as 8 code
 * units). Two keys are
 * equal exactly when the forms are (up to XXH3-128 for long forms).
 *
 * @throws UnhashableValue when some part of the value has no canonical form.
 * @internal
 */
export const key = (value: unknown, hashers: ReadonlyArray<TypeHasher>): string =>
  withForm(
    value,
    hashers,
    (writer) => {
      if (writer.size() <= EXACT_KEY_LIMIT) return writer.text(0x3d /* = */)
      // The digest as 8 code units: shorter than hex, and cheaper to build.
      const d = Xxh3.digest(writer.view())
      return String.fromCharCode(
        0x23 /* # */,
        d[0]! | (d[1]! << 8),
        d[2]! | (d[3]! << 8),
        d[4]! | (d[5]! << 8),
        d[6]! | (d[7]! << 8),
        d[8]! | (d[9]! << 8),
        d[10]! | (d[11]! << 8),
        d[12]! | (d[13]! << 8),
        d[14]! | (d[15]! << 8)
      )
    },
    true
  )
