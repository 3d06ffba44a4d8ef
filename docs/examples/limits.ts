/**
 * TTL, LRU and byte budgets, and the stats that show them working.
 */
import { DataCache } from "@recall/core"
import { Console, Effect } from "effect"

const quote = DataCache.fn({ name: "quote", ttl: "1 second" }, (symbol: string) =>
  Effect.sleep("200 millis").pipe(Effect.as({ symbol, price: 100 }))
)

const thumbnail = DataCache.fn({ name: "thumbnail", maxEntries: 2 }, (id: number) => Effect.succeed(new Uint8Array(64).fill(id)))

export const program = Effect.gen(function* () {
  yield* quote("ACME")
  yield* quote("ACME")
  yield* Effect.sleep("1 second")
  yield* quote("ACME")
  const quotes = yield* quote.stats
  yield* Console.log(`  quote: ${quotes.misses} misses, ${quotes.hits} hit, ${quotes.expirations} expiration (ttl 1 s)`)

  for (const id of [1, 2, 1, 3]) yield* thumbnail(id)
  const thumbs = yield* thumbnail.stats
  const kept = [(yield* thumbnail.has(1)) && 1, (yield* thumbnail.has(2)) && 2, (yield* thumbnail.has(3)) && 3].filter(Boolean)
  yield* Console.log(`  thumbnail: maxEntries 2, kept ${JSON.stringify(kept)}, ${thumbs.evictions} eviction (least recently used)`)

  const all = yield* DataCache.stats
  yield* Console.log(`  all functions: ${all.entries} entries, ${all.bytes} bytes (estimated)`)
  return { quotes, thumbs, kept }
}).pipe(Effect.provide(DataCache.layerMemory({ maxBytes: 64 * 1024 * 1024 })))

if (import.meta.main) Effect.runPromise(program)
