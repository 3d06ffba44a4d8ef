/**
 * Nothing the cache dropped may stay reachable from it. Each test keeps only a
 * WeakRef to a stored value (with `copy: "readonly"` the stored instance is
 * the one the call returns), makes the entry leave the cache, forces a
 * garbage collection and checks that the value is gone.
 */

import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { collected } from "./fixtures/collected.ts"

type Removal = (f: ReturnType<typeof makeFunction>) => Effect.Effect<unknown, unknown, DataCache.DataCache>

const makeFunction = (options: { readonly maxEntries?: number; readonly maxBytes?: number }) =>
  DataCache.fn({ name: "big", ttl: "1 hour", copy: "readonly", ...options }, (n: number) =>
    Effect.sync(() => ({ n, payload: new Float64Array(1024) }))
  )

/** Calls `f(0)` and returns only a weak reference to the value it stored. */
const storeZero = (f: ReturnType<typeof makeFunction>) => Effect.map(f(0), (value) => new WeakRef(value))

const removals: ReadonlyArray<readonly [string, { readonly maxEntries?: number; readonly maxBytes?: number }, Removal]> = [
  ["evicted by maxEntries", { maxEntries: 1 }, (f) => f(1)],
  ["evicted by maxBytes", { maxBytes: 10_000 }, (f) => f(1)],
  ["invalidated", {}, (f) => f.invalidate(0)],
  ["cleared", {}, (f) => f.clear],
  ["expired", {}, (f) => Effect.andThen(TestClock.adjust("1 hour"), f(1))]
]

describe("DataCache memory", () => {
  for (const [reason, options, remove] of removals) {
    it.effect(`a value ${reason} is unreachable from the cache at once, though the ttl has not passed`, () =>
      Effect.gen(function* () {
        const f = makeFunction(options)
        const ref = yield* storeZero(f)
        assert.isFalse(yield* collected(ref), "the cache holds the stored value")
        yield* remove(f)
        assert.isTrue(yield* collected(ref), "the cache let go of it")
      }).pipe(Effect.provide(DataCache.layerMemory()))
    )
  }

  it.effect("the tables of functions nobody can call any more leave the cache once empty", () =>
    Effect.gen(function* () {
      const tenantReport = (tenant: number) => DataCache.fn({ name: "report", version: tenant }, (x: number) => Effect.succeed(x))
      const kept = tenantReport(-1)
      yield* kept(1)
      const tables = () => Effect.map(DataCache.stats, (stats) => stats.functions.length)
      // In a generator of its own, so that no frame of the test keeps the last function.
      yield* Effect.gen(function* () {
        for (let tenant = 0; tenant < 200; tenant++) {
          const report = tenantReport(tenant)
          yield* report(1)
          if (tenant % 2 === 0) yield* report.clear
        }
      })
      assert.strictEqual(yield* tables(), 201)
      // Finalizers run some time after a collection: give them a bounded number of turns.
      for (let turn = 0; turn < 50 && (yield* tables()) > 101; turn++) yield* collected(new WeakRef({}))
      assert.strictEqual(yield* tables(), 101, "the 100 cleared tables left; those with entries and the live function's stay")
      yield* DataCache.clear
      for (let turn = 0; turn < 50 && (yield* tables()) > 1; turn++) yield* collected(new WeakRef({}))
      assert.strictEqual(yield* tables(), 1, "once emptied, only the table of the function still in use is kept")
      assert.strictEqual(yield* kept(1), 1)
      const again = tenantReport(7)
      assert.strictEqual(yield* again(2), 2, "a function defined again gets a new table")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
