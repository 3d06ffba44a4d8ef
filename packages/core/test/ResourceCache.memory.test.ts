/**
 * A released instance, and the output recorded with an entry, may not stay
 * reachable from the cache: each test keeps only WeakRefs, makes the entry
 * leave, forces a garbage collection and checks that they are gone.
 */

import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache } from "@recall/core"
import { Console, Effect } from "effect"
import { TestClock } from "effect/testing"
import { collected, liveBufferBytes } from "./fixtures/collected.ts"

const makePool = () =>
  ResourceCache.fn({ name: "pool", ttl: "1 hour", maxEntries: 1 }, (n: number) =>
    Effect.acquireRelease(
      Effect.sync(() => ({ n, buffer: new Float64Array(1024) })),
      () => Effect.void
    )
  )

type Removal = (f: ReturnType<typeof makePool>) => Effect.Effect<unknown, unknown, ResourceCache.ResourceCache>

const removals: ReadonlyArray<readonly [string, Removal]> = [
  ["evicted", (f) => f(1)],
  ["invalidated", (f) => f.invalidate(0)],
  ["cleared", (f) => f.clear],
  ["expired", (f) => Effect.andThen(TestClock.adjust("1 hour"), f(1))],
  ["released after a borrow", (f) => f.use(0, () => f.invalidate(0))]
]

describe("ResourceCache memory", () => {
  for (const [reason, remove] of removals) {
    it.effect(`an instance ${reason} is unreachable from the cache once released`, () =>
      Effect.gen(function* () {
        const pool = makePool()
        const ref = yield* Effect.map(pool(0), (instance) => new WeakRef(instance))
        assert.isFalse(yield* collected(ref), "the cache holds the instance")
        yield* remove(pool)
        assert.isTrue(yield* collected(ref), "the cache let go of it")
      }).pipe(Effect.provide(ResourceCache.layerMemory()))
    )
  }

  it.effect("recorded output leaves with its entry", () =>
    Effect.gen(function* () {
      const quiet: Console.Console = Object.assign(Object.create(globalThis.console), { log: () => {} })
      // 32 MB logged: the entry's copy of it is what the array-buffer memory holds.
      const size = 4 * 1024 * 1024
      const report = DataCache.fn("report", (n: number) =>
        Effect.suspend(() => Effect.as(Console.log({ text: `row ${n}`, padding: new Float64Array(size) }), n))
      )
      const before = yield* liveBufferBytes
      yield* report(0).pipe(Effect.provideService(Console.Console, quiet))
      assert.isAtLeast((yield* liveBufferBytes) - before, 8 * size, "the entry keeps what it recorded")
      yield* report.invalidate(0)
      assert.isBelow((yield* liveBufferBytes) - before, 8 * size, "and lets go of it with the entry")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
