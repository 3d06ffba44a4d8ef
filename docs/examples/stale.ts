/**
 * `staleWhileRevalidate`: past the ttl, callers get the last value at once
 * while one background refresh fetches the next.
 */
import { DataCache } from "@recall/core"
import { Console, Effect } from "effect"

let fetches = 0

export const exchangeRate = DataCache.fn({ name: "exchangeRate", ttl: "1 minute", staleWhileRevalidate: "10 minutes" }, (pair: string) =>
  Effect.gen(function* () {
    yield* Effect.sleep("2 seconds") // a slow upstream
    fetches++
    return { pair, rate: 10 + fetches / 100 }
  })
)

export const program = Effect.gen(function* () {
  const first = yield* exchangeRate("EUR/NOK") // waits 2 s
  yield* Effect.sleep("90 seconds") // past the ttl, within the window
  const stale = yield* exchangeRate("EUR/NOK") // at once: the old rate; a refresh starts
  yield* Effect.sleep("3 seconds") // the refresh finishes in the background
  const fresh = yield* exchangeRate("EUR/NOK") // at once: the new rate
  yield* Console.log(`${first.rate} → ${stale.rate} (stale) → ${fresh.rate}`)
  return { first: first.rate, stale: stale.rate, fresh: fresh.rate, fetches }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
