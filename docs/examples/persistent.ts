/**
 * A DataCache whose entries outlive the process: the memory tier in front of a
 * store. Here the store is in memory (so the example runs anywhere); a program
 * gives it `NodeCacheStore.layerFileSystem({ directory })` from `@recall/node`
 * instead, and a restart is served from disk.
 */
import { CacheStore, DataCache } from "@recall/core"
import { Effect, Layer, Redacted } from "effect"

let computed = 0

export const loadReport = DataCache.fn({ name: "loadReport", ttl: "1 hour" }, (month: string) =>
  Effect.sleep("1 second").pipe(
    Effect.as({ month, rows: [1, 2, 3] }),
    Effect.tap(() => Effect.sync(() => computed++))
  )
)

// Sessions are never written to the store.
export const session = DataCache.fn({ name: "session", persist: false }, (id: string) => Effect.succeed({ id }))

/** The two tiers: a memory front of at most 64 MB, over the store, with signed entries. */
const cacheOver = (store: Layer.Layer<CacheStore.CacheStore>) =>
  DataCache.layerStore({ maxBytes: 64 * 1024 * 1024, secret: Redacted.make("a secret of at least 16 bytes") }).pipe(Layer.provide(store))

export const program = Effect.gen(function* () {
  // One store, two "runs" of the program: each run builds its own DataCache layer.
  const store = Layer.succeedContext(yield* Layer.build(CacheStore.layerMemory()))
  const first = yield* Effect.provide(loadReport("2026-11"), cacheOver(store))
  const second = yield* Effect.provide(Effect.all({ report: loadReport("2026-11"), stats: loadReport.stats }), cacheOver(store))
  return { first, second: second.report, storeHits: second.stats.storeHits, computed }
}).pipe(Effect.scoped)

// `{ first, second, storeHits: 1, computed: 1 }`: the second run is served from the store.
if (import.meta.main) Effect.runPromise(program).then((result) => console.log(result))
