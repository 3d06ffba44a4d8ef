/**
 * Deep copy with the reach of `structuredClone`, built for speed on the shapes
 * data code returns: plain objects and arrays of primitives and typed arrays.
 *
 * - Typed arrays and ArrayBuffers are copied as whole buffers with one
 *   allocation each (`%TypedArray%.prototype.slice`), never element by element.
 *   Views that share one buffer stay sharing one copied buffer.
 * - Shared references and cycles are preserved (a memo of copied objects).
 * - Class instances, functions, symbols, promises and other values without a
 *   data form throw {@link Uncopyable}: copying them would silently drop their
 *   prototype or their identity.
 *
 * Alongside the copy it estimates the bytes the value holds, for byte budgets.
 */
import { isPlainObject } from "./canonical.ts"

/** @internal */
export class Uncopyable {
  readonly value: unknown
  constructor(value: unknown) {
    this.value = value
  }
}

const typedArraySlice = Object.getPrototypeOf(Uint8Array.prototype).slice as (this: ArrayBufferView) => ArrayBufferView

// Rough per-value overheads in V8, used only for byte budgets.
const OBJECT_BYTES = 16
const SLOT_BYTES = 8

/** @internal */
export interface Sized<A> {
  readonly value: A
  readonly bytes: number
}

class Copier {
  readonly memo = new Map<object, unknown>()
  bytes = 0
  /** Whether some object was reached twice (a shared reference or a cycle). */
  shared = false

  copy(value: unknown): unknown {
    switch (typeof value) {
      case "number":
      case "boolean":
      case "undefined":
        this.bytes += SLOT_BYTES
        return value
      case "string":
        this.bytes += OBJECT_BYTES + 2 * value.length
        return value
      case "bigint":
        this.bytes += OBJECT_BYTES + 8
        return value
      case "object":
        if (value === null) {
          this.bytes += SLOT_BYTES
          return value
        }
        return this.memo.has(value) ? this.again(value) : this.object(value)
      default:
        throw new Uncopyable(value)
    }
  }

  again(value: object): unknown {
    this.shared = true
    return this.memo.get(value)
  }

  object(value: object): unknown {
    if (Array.isArray(value)) {
      const out = new Array(value.length)
      this.memo.set(value, out)
      this.bytes += OBJECT_BYTES + SLOT_BYTES * value.length
      for (let i = 0; i < value.length; i++) out[i] = this.copy(value[i])
      return out
    }
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = Object.getPrototypeOf(value) === null ? Object.create(null) : {}
      this.memo.set(value, out)
      const record = value as Record<string, unknown>
      this.bytes += OBJECT_BYTES
      for (const key in record) {
        this.bytes += SLOT_BYTES
        out[key] = this.copy(record[key])
      }
      return out
    }
    if (ArrayBuffer.isView(value)) return this.view(value)
    if (value instanceof ArrayBuffer) {
      const out = value.slice(0)
      this.memo.set(value, out)
      this.bytes += OBJECT_BYTES + value.byteLength
      return out
    }
    if (value instanceof Date) {
      this.bytes += OBJECT_BYTES + SLOT_BYTES
      return new Date(value.getTime())
    }
    if (value instanceof Map) {
      const out = new Map()
      this.memo.set(value, out)
      this.bytes += OBJECT_BYTES
      for (const [k, v] of value) out.set(this.copy(k), this.copy(v))
      return out
    }
    if (value instanceof Set) {
      const out = new Set()
      this.memo.set(value, out)
      this.bytes += OBJECT_BYTES
      for (const v of value) out.add(this.copy(v))
      return out
    }
    if (value instanceof RegExp) {
      this.bytes += OBJECT_BYTES + 2 * value.source.length
      return new RegExp(value.source, value.flags)
    }
    throw new Uncopyable(value)
  }

  view(value: ArrayBufferView): unknown {
    this.bytes += OBJECT_BYTES + value.byteLength
    const buffer = this.memo.get(value.buffer) as ArrayBuffer | undefined
    if (buffer !== undefined) this.shared = true
    const Constructor = value.constructor as new (buffer: ArrayBufferLike, offset: number, length: number) => ArrayBufferView
    const length = value instanceof DataView ? value.byteLength : (value as Uint8Array).length
    if (buffer !== undefined) return new Constructor(buffer, value.byteOffset, length)
    if (value instanceof DataView) {
      const out = value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)
      return new DataView(out)
    }
    const out = typedArraySlice.call(value)
    // Only a view of its whole buffer can stand in for that buffer.
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) this.memo.set(value.buffer, out.buffer)
    return out
  }
}

/** @internal */
export interface Copied<A> extends Sized<A> {
  /** No object is reached twice: later copies may skip the memo ({@link copyTree}). */
  readonly tree: boolean
}

/**
 * A deep copy of `value` and its estimated size.
 *
 * @throws Uncopyable for values with no data form.
 * @internal
 */
export const copy = <A>(value: A): Copied<A> => {
  // Primitives: no copier, no allocation (the common hit path).
  if (typeof value !== "object" || value === null) {
    if (typeof value === "function" || typeof value === "symbol") throw new Uncopyable(value)
    return { value, bytes: typeof value === "string" ? OBJECT_BYTES + 2 * value.length : SLOT_BYTES, tree: true }
  }
  const copier = new Copier()
  const out = copier.copy(value) as A
  return { value: out, bytes: copier.bytes, tree: !copier.shared }
}

/**
 * A deep copy of a value already known to be a tree of copyable values (a
 * value {@link copy} made and reported `tree: true`): no memo, no size, no
 * checks. This is the copy a hit pays for, so it does as little as it can.
 *
 * @internal
 */
export const copyTree = <A>(value: A): A => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) {
    const out = new Array(value.length)
    for (let i = 0; i < value.length; i++) out[i] = copyTree(value[i])
    return out as A
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype) {
    const out: Record<string, unknown> = {}
    for (const key in value) out[key] = copyTree((value as Record<string, unknown>)[key])
    return out as A
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return typedArraySlice.call(value) as A
  return new Copier().copy(value) as A
}

/**
 * Deep-freezes plain objects and arrays in place and estimates the size.
 * Typed arrays cannot be frozen by JS, and Map, Set and class instances stay
 * as they are: their readonly-ness is in the types only.
 *
 * @internal
 */
export const freeze = <A>(value: A): Sized<A> => {
  let bytes = 0
  const stack: Array<unknown> = [value]
  const seen = new Set<object>()
  while (stack.length > 0) {
    const item = stack.pop()
    if (typeof item === "string") bytes += OBJECT_BYTES + 2 * item.length
    else bytes += SLOT_BYTES
    if (typeof item !== "object" || item === null || seen.has(item)) continue
    seen.add(item)
    if (ArrayBuffer.isView(item)) {
      bytes += item.byteLength
      continue
    }
    if (item instanceof ArrayBuffer) {
      bytes += item.byteLength
      continue
    }
    if (Array.isArray(item) || isPlainObject(item)) {
      Object.freeze(item)
      for (const key in item) stack.push((item as Record<string, unknown>)[key])
    } else if (item instanceof Map) {
      for (const [k, v] of item) stack.push(k, v)
    } else if (item instanceof Set) {
      for (const v of item) stack.push(v)
    }
  }
  return { value, bytes }
}
