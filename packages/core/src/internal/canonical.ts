/**
 * The canonical byte form of a value, and its 128-bit hash.
 *
 * Every value is written as a type tag followed by its content, with lengths
 * before variable-sized parts, so `1`, `"1"`, `1n`, `true` and `[1]` can never
 * produce the same bytes. Plain-object keys are sorted; Map and Set entries are
 * hashed one by one and their digests sorted, so insertion order never changes
 * a hash. Typed arrays and ArrayBuffers are hashed in place as whole buffers
 * (never element by element) and only their digest joins the stream.
 *
 * The walk is iterative (an explicit stack), so 100,000-deep nesting does not
 * overflow the call stack, and a reference back to an object still being
 * walked is written as a back-reference to its depth, so cycles terminate.
 */
import * as Data from "effect/Data"
import * as Equal from "effect/Equal"
import * as Schema from "effect/Schema"
import * as Hash128 from "./hash128.ts"

/**
 * A per-type hasher: instances of the class are hashed through the function's
 * result (the typed form of Streamlit's `hash_funcs`).
 *
 * @internal
 */
export type TypeHasher = readonly [abstract new (...args: ReadonlyArray<any>) => unknown, (instance: any) => unknown]

/**
 * Thrown inside the walk when a value has no canonical form; callers turn it
 * into a typed error with the path of the offending value.
 *
 * @internal
 */
export class UnhashableValue {
  readonly value: unknown
  constructor(value: unknown) {
    this.value = value
  }
}

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
  hole: 19
} as const

// One tag per binary kind, so a Float64Array and the Uint8Array of the same
// bytes are different keys.
const binaryKinds: ReadonlyArray<readonly [Function, number]> = [
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
  [DataView, 12]
]

const binaryKind = (value: ArrayBufferView): number => {
  for (const [Class, kind] of binaryKinds) {
    if (value instanceof Class) return kind
  }
  return 13 // Float16Array and views added after this list
}

/** A growable little-endian byte buffer. */
class Writer {
  bytes = new Uint8Array(256)
  view = new DataView(this.bytes.buffer)
  words = new Uint32Array(this.bytes.buffer)
  readonly state = Hash128.initial()
  length = 0

  reserve(n: number): void {
    const needed = this.length + n + Hash128.BLOCK_BYTES
    if (needed <= this.bytes.length) return
    let size = this.bytes.length * 2
    while (size < needed) size *= 2
    const next = new Uint8Array(size)
    next.set(this.bytes.subarray(0, this.length))
    this.bytes = next
    this.view = new DataView(next.buffer)
    this.words = new Uint32Array(next.buffer)
  }

  tag(tag: number): void {
    this.reserve(1)
    this.bytes[this.length++] = tag
  }

  u32(n: number): void {
    this.reserve(4)
    this.view.setUint32(this.length, n, true)
    this.length += 4
  }

  f64(n: number): void {
    this.reserve(8)
    // One bit pattern for 0 and -0 (they are ===), and one for every NaN.
    this.view.setFloat64(this.length, n === 0 ? 0 : n, true)
    this.length += 8
  }

  string(s: string): void {
    const n = s.length
    this.reserve(4 + 2 * n)
    this.view.setUint32(this.length, n, true)
    let at = this.length + 4
    // UTF-16 code units as they are: no encoding step, and lone surrogates
    // (which UTF-8 would replace) stay distinct.
    for (let i = 0; i < n; i++, at += 2) this.view.setUint16(at, s.charCodeAt(i), true)
    this.length = at
  }

  lanes(lanes: readonly [number, number, number, number]): void {
    this.reserve(16)
    for (const lane of lanes) {
      this.view.setInt32(this.length, lane, true)
      this.length += 4
    }
  }

  digest(): readonly [number, number, number, number] {
    const padded = Math.ceil(this.length / Hash128.BLOCK_BYTES) * Hash128.BLOCK_BYTES
    this.bytes.fill(0, this.length, padded)
    const state = Hash128.reset(this.state)
    Hash128.blocks(state, this.words, 0, padded / 4)
    return Hash128.finishLanes(state, this.length)
  }
}

const isValueObject = (value: object): boolean => Equal.isEqual(value) || value instanceof Data.Class || Schema.isSchema(value.constructor)

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

/**
 * What the walk does with one object: the stack holds values, keys to write
 * before a value, and markers that leave an object when its children are done.
 */
const KEY = 1
const LEAVE = 2
const HOLE = 3

// A spare walk keeps its writer's buffer; one grown past this by a huge key is
// dropped instead of being held for the life of the process.
const MAX_SPARE_BYTES = 1 << 20

class Walk {
  readonly writer = new Writer()
  hashers: ReadonlyArray<TypeHasher> = []
  readonly values: Array<unknown> = []
  readonly kinds: Array<number> = []
  readonly ancestors = new Map<object, number>()
  depth = 0

  reset(hashers: ReadonlyArray<TypeHasher>): this {
    this.hashers = hashers
    this.writer.length = 0
    this.depth = 0
    // A finished walk leaves these empty; only an aborted one needs the
    // (costly: Map.clear reallocates) cleanup.
    if (this.values.length > 0) {
      this.values.length = 0
      this.kinds.length = 0
    }
    if (this.ancestors.size > 0) this.ancestors.clear()
    return this
  }

  run(root: unknown): readonly [number, number, number, number] {
    const { values, kinds, writer } = this
    values.push(root)
    kinds.push(0)
    while (values.length > 0) {
      const value = values.pop()
      const kind = kinds.pop()
      if (kind === KEY) {
        writer.string(value as string)
      } else if (kind === HOLE) {
        writer.tag(Tag.hole)
      } else if (kind === LEAVE) {
        this.ancestors.delete(value as object)
        this.depth--
      } else {
        this.value(value)
      }
    }
    return writer.digest()
  }

  push(value: unknown, kind = 0): void {
    this.values.push(value)
    this.kinds.push(kind)
  }

  value(value: unknown): void {
    const w = this.writer
    switch (typeof value) {
      case "number":
        w.tag(Tag.number)
        return w.f64(value)
      case "string":
        w.tag(Tag.string)
        return w.string(value)
      case "boolean":
        return w.tag(value ? Tag.true : Tag.false)
      case "undefined":
        return w.tag(Tag.undefined)
      case "bigint":
        w.tag(Tag.bigint)
        return w.string(value.toString(16))
      case "symbol": {
        // Only registered symbols are the same in every process.
        const key = Symbol.keyFor(value)
        if (key === undefined) throw new UnhashableValue(value)
        w.tag(Tag.symbol)
        return w.string(key)
      }
      case "function":
        if (!this.custom(value)) this.fail(value)
        return
      case "object":
        if (value === null) return w.tag(Tag.null)
        return this.object(value)
    }
  }

  fail(value: unknown): never {
    throw new UnhashableValue(value)
  }

  object(value: object): void {
    const w = this.writer
    const seen = this.ancestors.get(value)
    if (seen !== undefined) {
      w.tag(Tag.backReference)
      return w.u32(seen)
    }
    // Per-type hashers come first, so they can override a built-in rule too.
    if (this.hashers.length > 0 && this.custom(value)) return
    if (Array.isArray(value)) {
      w.tag(Tag.array)
      w.u32(value.length)
      this.enter(value)
      for (let i = value.length - 1; i >= 0; i--) {
        if (i in value) this.push(value[i])
        else this.push(undefined, HOLE)
      }
      return
    }
    if (ArrayBuffer.isView(value)) {
      w.tag(Tag.binary)
      w.tag(binaryKind(value))
      w.f64(value.byteLength)
      return w.lanes(Hash128.hashBytes(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)))
    }
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
      w.tag(Tag.binary)
      w.tag(0)
      w.f64(value.byteLength)
      return w.lanes(Hash128.hashBytes(new Uint8Array(value)))
    }
    if (isPlainObject(value)) {
      w.tag(Tag.object)
      return this.fields(value)
    }
    if (value instanceof Date) {
      w.tag(Tag.date)
      return w.f64(value.getTime())
    }
    if (value instanceof Map) {
      w.tag(Tag.map)
      return this.unordered(value, Array.from(value))
    }
    if (value instanceof Set) {
      w.tag(Tag.set)
      return this.unordered(value, Array.from(value))
    }
    if (value instanceof RegExp) {
      w.tag(Tag.regexp)
      w.string(value.source)
      return w.string(value.flags)
    }
    if (isValueObject(value)) {
      // Data, Schema.Class and Equal instances (Option, ...): values by
      // contract. The class name and `_tag` (often on the prototype) join the
      // key, so two classes with the same fields differ.
      const tag = (value as { readonly _tag?: unknown })._tag
      w.tag(Tag.valueObject)
      w.string(value.constructor?.name ?? "")
      w.string(typeof tag === "string" ? tag : "")
      return this.fields(value)
    }
    this.fail(value)
  }

  /** Applies the first matching per-type hasher; false when none matches. */
  custom(value: unknown): boolean {
    for (const [Class, hash] of this.hashers) {
      if (value instanceof Class) {
        this.writer.tag(Tag.custom)
        this.writer.string(Class.name)
        this.push(hash(value))
        return true
      }
    }
    return false
  }

  fields(value: object): void {
    const keys = Object.keys(value).sort()
    this.writer.u32(keys.length)
    this.enter(value)
    const record = value as Record<string, unknown>
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!
      this.push(record[key])
      this.push(key, KEY)
    }
  }

  enter(value: object): void {
    this.ancestors.set(value, this.depth++)
    this.push(value, LEAVE)
  }

  /** Map entries and Set members: each hashed alone, digests sorted. */
  unordered(container: object, members: Array<unknown>): void {
    this.ancestors.set(container, this.depth)
    const hexes = members.map((member) => Hash128.toHex(digest(member, this.hashers, this.ancestors))).sort()
    this.ancestors.delete(container)
    this.writer.u32(hexes.length)
    for (const hex of hexes) this.writer.string(hex)
  }
}

/**
 * The 128-bit digest of a value's canonical form.
 *
 * @throws UnhashableValue when some part of the value has no canonical form.
 * @internal
 */
export const digest = (
  value: unknown,
  hashers: ReadonlyArray<TypeHasher>,
  ancestors?: ReadonlyMap<object, number>
): readonly [number, number, number, number] => {
  // One spare walk is reused, so hashing small keys allocates nothing. A
  // nested digest (Map and Set members, a per-type hasher that hashes) finds
  // the spare taken and makes its own.
  const walk = (spare ?? new Walk()).reset(hashers)
  spare = undefined
  try {
    if (ancestors !== undefined) {
      for (const [object, depth] of ancestors) walk.ancestors.set(object, depth)
      walk.depth = ancestors.size
    }
    return walk.run(value)
  } finally {
    spare = walk.writer.bytes.length <= MAX_SPARE_BYTES ? walk.reset([]) : undefined
  }
}

let spare: Walk | undefined = new Walk()

/**
 * The 32-hex-digit hash of a value's canonical form.
 *
 * @throws UnhashableValue when some part of the value has no canonical form.
 * @internal
 */
export const hash = (value: unknown, hashers: ReadonlyArray<TypeHasher>): string => Hash128.toHex(digest(value, hashers))

/**
 * Finds where in `root` the first value without a canonical form sits, as a
 * path of keys. Only runs after a hash failed, so the hot path keeps no paths.
 *
 * @internal
 */
export const locate = (root: unknown, target: unknown): ReadonlyArray<PropertyKey> => {
  const stack: Array<readonly [unknown, ReadonlyArray<PropertyKey>]> = [[root, []]]
  const seen = new Set<unknown>()
  while (stack.length > 0) {
    const [value, path] = stack.pop()!
    if (value === target) return path
    if (typeof value !== "object" || value === null || seen.has(value)) continue
    seen.add(value)
    if (value instanceof Map) {
      for (const [k, v] of value) stack.push([v, [...path, k as PropertyKey]], [k, [...path, "(map key)"]])
    } else if (value instanceof Set) {
      for (const v of value) stack.push([v, [...path, "(set member)"]])
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => {
        stack.push([v, [...path, i]])
      })
    } else {
      for (const key of Object.keys(value)) stack.push([(value as Record<string, unknown>)[key], [...path, key]])
    }
  }
  return []
}
