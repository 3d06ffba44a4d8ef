/**
 * Model-based test of the entry table behind DataCache: random sequences of
 * calls, `has`, invalidations and clock moves, checked step by step against a
 * plain Map that keeps entries in least-recently-used order.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Table from "../../packages/core/src/internal/table.ts"

type Op =
  | { readonly _tag: "call"; readonly key: string }
  | { readonly _tag: "has"; readonly key: string }
  | { readonly _tag: "invalidate"; readonly key: string }
  | { readonly _tag: "advance"; readonly millis: number }

const key = fc.constantFrom("a", "b", "c", "d", "e")
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: key.map((key) => ({ _tag: "call", key }) as const) },
  { weight: 2, arbitrary: key.map((key) => ({ _tag: "has", key }) as const) },
  { weight: 1, arbitrary: key.map((key) => ({ _tag: "invalidate", key }) as const) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 120 }).map((millis) => ({ _tag: "advance", millis }) as const) }
)

/** The reference: live entries and their store times, least recently used first. */
class Model {
  readonly entries = new Map<string, number>()
  readonly ttl: number
  readonly maxEntries: number
  constructor(ttl: number, maxEntries: number) {
    this.ttl = ttl
    this.maxEntries = maxEntries
  }

  dropExpired(now: number) {
    for (const [key, storedAt] of this.entries) if (now >= storedAt + this.ttl) this.entries.delete(key)
  }

  /** A call: true for a hit (bumped), false for a miss (stored, LRU evicted). */
  call(key: string, now: number): boolean {
    this.dropExpired(now)
    const storedAt = this.entries.get(key)
    this.entries.delete(key)
    if (storedAt !== undefined) {
      this.entries.set(key, storedAt)
      return true
    }
    this.entries.set(key, now)
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
    return false
  }
}

describe("DataCache entry table", () => {
  it("agrees with an LRU + TTL model on hits, misses, has and sizes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(op, { maxLength: 80 }),
        (ttl, maxEntries, ops) => {
          const registry = new Table.Registry(Infinity)
          const table = new Table.Table(registry, "id", "f", { ttlMillis: ttl, maxEntries, maxBytes: Infinity })
          const model = new Model(ttl, maxEntries)
          let now = 0
          for (const step of ops) {
            switch (step._tag) {
              case "advance":
                now += step.millis
                break
              case "invalidate":
                table.invalidate(step.key)
                model.entries.delete(step.key)
                break
              case "has": {
                model.dropExpired(now)
                assert.strictEqual(table.has(step.key, now), model.entries.has(step.key), `has(${step.key}) at ${now}`)
                break
              }
              case "call": {
                const hit = table.use(step.key, now) !== undefined
                if (!hit) table.store(step.key, step.key, 1, now)
                assert.strictEqual(hit, model.call(step.key, now), `call(${step.key}) at ${now}`)
                break
              }
            }
            table.purgeExpired(now)
            model.dropExpired(now)
            assert.deepStrictEqual([...table.entries.keys()], [...model.entries.keys()], "same entries in the same LRU order")
            assert.strictEqual(table.bytes, table.entries.size)
          }
        }
      ),
      { numRuns: 400 }
    )
  })
})
