import { assert, describe, it } from "@effect/vitest"
import { Hasher } from "@recall/core"
import fc from "fast-check"

/**
 * A deep copy of `value` in which every object's keys, every Map's entries
 * and every Set's members come in a different order, chosen by `order`.
 */
const reordered = (value: unknown, order: (n: number) => Array<number>): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map((item) => reordered(item, order))
  if (ArrayBuffer.isView(value) || value instanceof Date) return value
  if (value instanceof Map) {
    const entries = [...value]
    return new Map(order(entries.length).map((i) => [reordered(entries[i]![0], order), reordered(entries[i]![1], order)]))
  }
  if (value instanceof Set) {
    const members = [...value]
    return new Set(order(members.length).map((i) => reordered(members[i], order)))
  }
  const keys = Object.keys(value)
  const out = Object.create(Object.getPrototypeOf(value))
  for (const i of order(keys.length)) {
    // defineProperty, so a "__proto__" key stays a key.
    Object.defineProperty(out, keys[i]!, {
      value: reordered((value as Record<string, unknown>)[keys[i]!], order),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return out
}

const anything = fc.anything({
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  maxDepth: 4
})

// A permutation source: each call shuffles 0..n-1 with the drawn seed.
const permutations = fc.integer().map((seed) => {
  let state = seed | 0
  return (n: number) => {
    const out = Array.from({ length: n }, (_, i) => i)
    for (let i = n - 1; i > 0; i--) {
      state = (Math.imul(state, 1103515245) + 12345) | 0
      const j = (state >>> 0) % (i + 1)
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }
})

describe("Hasher properties", () => {
  const hasher = Hasher.structural()

  it("equal values hash equal, records, Maps and Sets in any order included", () => {
    fc.assert(
      fc.property(anything, permutations, (value, order) => {
        assert.strictEqual(hasher.hashUnsafe(reordered(value, order)), hasher.hashUnsafe(value))
      }),
      { numRuns: 500 }
    )
  })

  it("values that differ in one JSON leaf hash differently", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (record, key) => {
        const changed = { ...record, [key]: { changed: Object.hasOwn(record, key) ? record[key] : null } }
        assert.notStrictEqual(hasher.hashUnsafe(changed), hasher.hashUnsafe(record))
      }),
      { numRuns: 300 }
    )
  })
})
