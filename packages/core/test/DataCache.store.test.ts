/**
 * DataCache over a store (`DataCache.layerStore`): the two tiers, names,
 * invalidate and clear in both, persist: false, unencodable values, replay.
 */
import { assert, describe, it } from "@effect/vitest"
import { CacheStore, DataCache } from "@recall/core"
import { Context, Effect, Layer } from "effect"

/** A store that outlives the DataCache layers built over it: a "restart" is a new front tier over it. */
const sharedStore = () => Effect.runSync(Layer.build(CacheStore.layerMemory()).pipe(Effect.scoped))

describe("DataCache.layerStore", () => {
  it.effect("a second front tier over the same store is served from the store, with the original times", () =>
    Effect.gen(function* () {
      const context = sharedStore()
      let runs = 0
      const square = DataCache.fn({ name: "square", ttl: "1 hour" }, (n: number) =>
        Effect.sync(() => {
          runs++
          return n * n
        })
      )
      const cache = DataCache.layerStore().pipe(Layer.provide(Layer.succeedContext(context)))
      assert.strictEqual(yield* square(12).pipe(Effect.provide(cache)), 144)
      const [value, stats] = yield* Effect.all([square(12), square(12), square.stats]).pipe(
        Effect.map(([a, _, s]) => [a, s] as const),
        Effect.provide(cache)
      )
      assert.strictEqual(value, 144)
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual([stats.misses, stats.storeHits, stats.hits], [0, 1, 1])
      const store = Context.get(context, CacheStore.CacheStore)
      assert.strictEqual((yield* store.stats).entries, 1)
    })
  )
})
