/**
 * Tools for copy-isolation properties: an independent deep snapshot, a deep
 * comparison that also checks aliasing, and a random deep mutator.
 *
 * - {@link snapshot} copies a value with its prototypes, shared references,
 *   cycles and shared ArrayBuffers, without going through recall's own
 *   copier (a test must not check the library against itself).
 * - {@link difference} compares two values as graphs: primitives by
 *   `Object.is` (so `-0` is not `0` and `NaN` is `NaN`), objects by
 *   prototype and own enumerable keys, Dates by time, typed arrays by type,
 *   offset and bytes, Maps and Sets in order, and an object or buffer
 *   reached twice in one value must be reached twice in the other. It
 *   returns where they first differ, or `undefined`. It uses an explicit
 *   stack: 100,000-deep values are fine.
 * - {@link mutation} draws one mutation (a path into the value and an
 *   operation) and {@link mutate} applies it "in every way" a caller could:
 *   assign, add and delete fields, change prototypes, push / splice / sort /
 *   truncate arrays, write typed arrays directly and through their buffer,
 *   detach that buffer, set a Date's time, and add, delete or clear Map and
 *   Set members. Mutations that throw (a frozen value) are reported, not
 *   rethrown. Effect's immutable data types (anything implementing `Equal`:
 *   Option, Chunk, HashMap, DateTime, ...) are never mutated themselves,
 *   only the contents of an `Option.some`: `Option.none()` is a shared
 *   singleton, and changing it is breaking Effect's contract, not finding a
 *   copy that was shared.
 */
import * as Equal from "effect/Equal"
import * as Option from "effect/Option"
import fc from "fast-check"

// ---------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------

/** A deep copy of `value` sharing nothing with it, prototypes and aliasing kept. */
export const snapshot = <A>(value: A): A => {
  const memo = new Map<object, unknown>()
  const buffers = new Map<ArrayBufferLike, ArrayBufferLike>()
  const bufferOf = (buffer: ArrayBufferLike): ArrayBufferLike => {
    let out = buffers.get(buffer)
    if (out === undefined) {
      out = buffer.slice(0)
      buffers.set(buffer, out)
    }
    return out
  }
  // Objects are created first and filled from a work list, so depth costs no stack.
  const work: Array<() => void> = []
  const copy = (item: unknown): unknown => {
    if (typeof item !== "object" || item === null) return item
    const known = memo.get(item)
    if (known !== undefined) return known
    let out: object
    if (item instanceof ArrayBuffer) {
      out = bufferOf(item)
    } else if (ArrayBuffer.isView(item)) {
      const View = item.constructor as new (buffer: ArrayBufferLike, offset: number, length: number) => ArrayBufferView
      const length = item instanceof DataView ? item.byteLength : (item as Uint8Array).length
      out = new View(bufferOf(item.buffer), item.byteOffset, length)
    } else if (item instanceof Date) {
      out = new Date(item.getTime())
    } else if (item instanceof Map) {
      const map = new Map()
      work.push(() => {
        for (const [k, v] of item) map.set(copy(k), copy(v))
      })
      out = map
    } else if (item instanceof Set) {
      const set = new Set()
      work.push(() => {
        for (const v of item) set.add(copy(v))
      })
      out = set
    } else {
      const target: object = Array.isArray(item) ? new Array(item.length) : Object.create(Object.getPrototypeOf(item))
      work.push(() => {
        for (const key of ownKeys(item)) define(target, key, copy((item as Record<PropertyKey, unknown>)[key]))
      })
      out = target
    }
    memo.set(item, out)
    return out
  }
  const root = copy(value)
  while (work.length > 0) work.pop()!()
  return root as A
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/**
 * Where `actual` first differs from `expected`, as a readable sentence, or
 * `undefined` when they are the same graph.
 */
export const difference = (actual: unknown, expected: unknown): string | undefined => {
  const pairs = new Map<object, object>()
  const reverse = new Map<object, object>()
  /** Records that `a` stands for `e`; false when either already stands for something else. */
  const pair = (a: object, e: object): "new" | "seen" | "clash" => {
    const known = pairs.get(e)
    if (known !== undefined) return known === a ? "seen" : "clash"
    if (reverse.has(a)) return "clash"
    pairs.set(e, a)
    reverse.set(a, e)
    return "new"
  }
  const stack: Array<readonly [unknown, unknown, string]> = [[actual, expected, ""]]
  while (stack.length > 0) {
    const [a, e, path] = stack.pop()!
    const at = path === "" ? "at the root" : `at ${path}`
    if (typeof e !== "object" || e === null || typeof a !== "object" || a === null) {
      if (!Object.is(a, e)) return `${at}: expected ${show(e)}, got ${show(a)}`
      continue
    }
    const paired = pair(a, e)
    if (paired === "seen") continue
    if (paired === "clash") return `${at}: aliasing differs (an object is shared in one value and not in the other)`
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(e)) {
      return `${at}: expected ${article(kind(e))}, got ${article(kind(a))}`
    }
    if (e instanceof Date) {
      if (!Object.is((a as Date).getTime(), e.getTime())) return `${at}: expected ${show(e)}, got ${show(a)}`
      continue
    }
    if (e instanceof ArrayBuffer || ArrayBuffer.isView(e)) {
      const problem = bytesDifference(a as ArrayBuffer | ArrayBufferView, e, pair)
      if (problem !== undefined) return `${at}: ${problem}`
      continue
    }
    if (e instanceof Map || e instanceof Set) {
      const as = [...(a as Map<unknown, unknown> | Set<unknown>).entries()]
      const es = [...e.entries()]
      if (as.length !== es.length) return `${at}: expected ${es.length} members, got ${as.length}`
      for (let i = es.length - 1; i >= 0; i--) {
        stack.push([as[i]![1], es[i]![1], `${path}.get(#${i})`], [as[i]![0], es[i]![0], `${path}.key(#${i})`])
      }
      continue
    }
    if (Array.isArray(e) && (a as Array<unknown>).length !== e.length) {
      return `${at}: expected length ${e.length}, got ${(a as Array<unknown>).length}`
    }
    const aKeys = ownKeys(a)
    const eKeys = ownKeys(e)
    const missing = eKeys.filter((key) => !Object.hasOwn(a, key))
    const extra = aKeys.filter((key) => !Object.hasOwn(e, key))
    if (missing.length > 0 || extra.length > 0) {
      return `${at}: keys differ (missing ${missing.map(String).join(", ") || "none"}; extra ${extra.map(String).join(", ") || "none"})`
    }
    for (let i = eKeys.length - 1; i >= 0; i--) {
      const key = eKeys[i]!
      stack.push([(a as Record<PropertyKey, unknown>)[key], (e as Record<PropertyKey, unknown>)[key], `${path}${step(key)}`])
    }
  }
  return undefined
}

const bytesDifference = (
  a: ArrayBuffer | ArrayBufferView,
  e: ArrayBuffer | ArrayBufferView,
  pair: (a: object, e: object) => "new" | "seen" | "clash"
): string | undefined => {
  const aBuffer = a instanceof ArrayBuffer ? a : a.buffer
  const eBuffer = e instanceof ArrayBuffer ? e : e.buffer
  if (pair(aBuffer, eBuffer) === "clash") return "buffer sharing differs (views share a buffer in one value and not in the other)"
  if (aBuffer.byteLength === 0 && eBuffer.byteLength > 0) return "the buffer is detached or empty"
  const aView = a instanceof ArrayBuffer ? { byteOffset: 0, byteLength: a.byteLength } : a
  const eView = e instanceof ArrayBuffer ? { byteOffset: 0, byteLength: e.byteLength } : e
  if (aView.byteOffset !== eView.byteOffset || aView.byteLength !== eView.byteLength) {
    return `expected ${eView.byteLength} bytes at offset ${eView.byteOffset}, got ${aView.byteLength} at ${aView.byteOffset}`
  }
  const aBytes = new Uint8Array(aBuffer, aView.byteOffset, aView.byteLength)
  const eBytes = new Uint8Array(eBuffer, eView.byteOffset, eView.byteLength)
  for (let i = 0; i < eBytes.length; i++) {
    if (aBytes[i] !== eBytes[i]) return `byte ${i} differs: expected ${show(e)}, got ${show(a)}`
  }
  return undefined
}

// ---------------------------------------------------------------------------
// Mutation
// ---------------------------------------------------------------------------

/** One mutation: where to go (a choice per level) and what to do there. */
export interface Mutation {
  readonly path: ReadonlyArray<number>
  readonly operation: number
  readonly index: number
  readonly payload: unknown
}

/** What {@link mutate} did. */
export interface Mutated {
  /** The kind of the mutated target: "array", "object", "typed array", "Date", "Map", "Set", ... */
  readonly target: string
  /** The path to the target and the operation, for failure messages. */
  readonly description: string
  /** What the operation threw, if it threw. */
  readonly threw: unknown
}

const payload: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.integer(),
  fc.string({ maxLength: 3 }),
  fc.constant(-0),
  fc.constant(Number.NaN),
  fc.constant(1n),
  fc.constant({ injected: true }),
  fc.constant([1, 2, 3])
)

/** A random mutation, shrinking towards the root and the first operation. */
export const mutation: fc.Arbitrary<Mutation> = fc.record(
  { path: fc.array(fc.nat(), { maxLength: 6 }), operation: fc.nat(), index: fc.nat(), payload },
  { noNullPrototype: true }
)

/** A few mutations in a row. */
export const mutations: fc.Arbitrary<ReadonlyArray<Mutation>> = fc.array(mutation, { minLength: 1, maxLength: 6 })

/**
 * Applies `m` to `value` in place: walks down `m.path` (each number picks a
 * child, or stops at the current node) and mutates the node it stops at.
 * Payloads are fresh copies, so no two mutations share an object.
 */
export const mutate = (value: unknown, m: Mutation): Mutated => {
  let node = value
  let path = ""
  for (const choice of m.path) {
    const kids = children(node)
    if (kids.length === 0 || choice % (kids.length + 1) === kids.length) break
    const [label, child] = kids[choice % (kids.length + 1)]!
    node = child
    path += label
  }
  const operations = operationsFor(node)
  if (operations.length === 0) {
    return { target: kind(node), description: `${path || "root"}: nothing to mutate in ${kind(node)}`, threw: undefined }
  }
  const [name, run] = operations[m.operation % operations.length]!
  const description = `${path || "root"}: ${name}(${show(m.payload)}, index ${m.index})`
  try {
    run(node as never, m.index, snapshot(m.payload))
    return { target: kind(node), description, threw: undefined }
  } catch (threw) {
    return { target: kind(node), description, threw }
  }
}

type Operation<T> = readonly [name: string, run: (target: T, index: number, payload: unknown) => void]

const arrayOperations: ReadonlyArray<Operation<Array<unknown>>> = [
  ["set element", (a, i, p) => (a[i % (a.length + 1)] = p)],
  ["push", (a, _, p) => a.push(p)],
  ["pop", (a) => a.pop()],
  ["shift", (a) => a.shift()],
  ["unshift", (a, _, p) => a.unshift(p)],
  ["splice", (a, i, p) => a.splice(i % (a.length + 1), 1, p, p)],
  ["reverse", (a) => a.reverse()],
  ["sort", (a) => a.sort()],
  ["fill", (a, _, p) => a.fill(p)],
  ["copyWithin", (a) => a.copyWithin(0, 1)],
  ["truncate", (a) => (a.length = 0)],
  ["grow with holes", (a) => (a.length += 2)],
  ["delete element", (a, i) => delete a[i % (a.length + 1)]],
  ["set a named field", (a, _, p) => define(a, "extra", p)]
]

const objectOperations: ReadonlyArray<Operation<Record<PropertyKey, unknown>>> = [
  ["assign field", (o, i, p) => (o[pick(ownKeys(o), i) ?? "added"] = p)],
  ["add field", (o, _, p) => (o.added = p)],
  ["delete field", (o, i) => delete o[pick(ownKeys(o), i) ?? "added"]],
  ["define getter", (o, i, p) => Object.defineProperty(o, pick(ownKeys(o), i) ?? "added", { get: () => p, enumerable: true })],
  ["set prototype to null", (o) => Object.setPrototypeOf(o, null)],
  ["set own __proto__", (o, _, p) => define(o, "__proto__", p)]
]

const typedArrayOperations: ReadonlyArray<Operation<Uint8Array | BigInt64Array>> = [
  ["write element", (t, i) => write(t, i % Math.max(1, t.length), 7)],
  ["fill", (t) => (t instanceof BigInt64Array || t instanceof BigUint64Array ? t.fill(7n as never) : (t as Uint8Array).fill(7))],
  ["reverse", (t) => t.reverse()],
  ["sort", (t) => t.sort()],
  ["write through the buffer", (t, i) => (new Uint8Array(t.buffer)[i % Math.max(1, t.buffer.byteLength)] = 255)],
  ["write through subarray", (t) => write(t.subarray(0), 0, 9)],
  ["detach the buffer", (t) => (t.buffer as { transfer?: () => ArrayBuffer }).transfer?.()]
]

const dateOperations: ReadonlyArray<Operation<Date>> = [
  ["setTime", (d, i) => d.setTime(i)],
  ["setFullYear", (d) => d.setFullYear(1999)],
  ["setTime NaN", (d) => d.setTime(Number.NaN)]
]

const mapOperations: ReadonlyArray<Operation<Map<unknown, unknown>>> = [
  ["Map.set new key", (m, _, p) => m.set({ key: p }, p)],
  ["Map.set existing key", (m, i, p) => m.set(pick([...m.keys()], i) ?? "added", p)],
  ["Map.delete", (m, i) => m.delete(pick([...m.keys()], i))],
  ["Map.clear", (m) => m.clear()]
]

const setOperations: ReadonlyArray<Operation<Set<unknown>>> = [
  ["Set.add", (s, _, p) => s.add(p)],
  ["Set.delete", (s, i) => s.delete(pick([...s], i))],
  ["Set.clear", (s) => s.clear()]
]

const operationsFor = (node: unknown): ReadonlyArray<Operation<never>> => {
  if (typeof node !== "object" || node === null || Equal.isEqual(node)) return []
  if (Array.isArray(node)) return arrayOperations
  if (node instanceof DataView) return [["setUint8", (v: DataView, i) => v.setUint8(i % Math.max(1, v.byteLength), 7)]]
  if (ArrayBuffer.isView(node)) return typedArrayOperations
  if (node instanceof ArrayBuffer) return [["write bytes", (b: ArrayBuffer) => new Uint8Array(b).fill(255)]]
  if (node instanceof Date) return dateOperations
  if (node instanceof Map) return mapOperations
  if (node instanceof Set) return setOperations
  return objectOperations
}

/** The children a mutation can walk into, with their path labels. */
const children = (node: unknown): Array<readonly [string, unknown]> => {
  if (typeof node !== "object" || node === null || ArrayBuffer.isView(node) || node instanceof Date) return []
  if (Equal.isEqual(node)) return Option.isOption(node) && Option.isSome(node) ? [[".value", node.value]] : []
  if (node instanceof Map) return [...node].flatMap(([k, v], i) => [[`.key(#${i})`, k] as const, [`.get(#${i})`, v] as const])
  if (node instanceof Set) return [...node].map((v, i) => [`.member(#${i})`, v] as const)
  return ownKeys(node).map((key) => [step(key), (node as Record<PropertyKey, unknown>)[key]] as const)
}

const write = (t: ArrayBufferView, i: number, n: number): void => {
  const array = t as unknown as Record<number, unknown>
  array[i] = t instanceof BigInt64Array || t instanceof BigUint64Array ? BigInt(n) : n
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Own enumerable keys, strings and symbols (array holes are absent keys). */
const ownKeys = (value: object): Array<PropertyKey> => {
  const keys: Array<PropertyKey> = Object.keys(value)
  for (const symbol of Object.getOwnPropertySymbols(value)) {
    if (Object.prototype.propertyIsEnumerable.call(value, symbol)) keys.push(symbol)
  }
  return keys
}

const pick = <A>(items: ReadonlyArray<A>, i: number): A | undefined => (items.length === 0 ? undefined : items[i % items.length])

const define = (target: object, key: PropertyKey, value: unknown): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

const step = (key: PropertyKey): string =>
  typeof key === "string" && /^\d+$/.test(key)
    ? `[${key}]`
    : typeof key === "string"
      ? `.${JSON.stringify(key).slice(1, -1)}`
      : `[${String(key)}]`

/** A readable name for the kind of a value. */
export const kind = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value !== "object") return typeof value
  if (Array.isArray(value)) return "array"
  const proto = Object.getPrototypeOf(value)
  if (proto === null) return "null-prototype object"
  if (proto === Object.prototype) return "object"
  if (ArrayBuffer.isView(value)) return value.constructor.name
  return (proto.constructor as Function | undefined)?.name ?? "object"
}

const article = (noun: string): string => (/^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`)

const show = (value: unknown): string => {
  if (typeof value === "bigint") return `${value}n`
  if (Object.is(value, -0)) return "-0"
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value !== "object" || value === null) return String(value)
  if (value instanceof Date) return `Date(${value.getTime()})`
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return `${value.constructor.name}[${Array.from(value as Uint8Array, show).join(", ")}]`
  }
  return kind(value)
}
