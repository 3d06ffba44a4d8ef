/**
 * `staleWhileRevalidate`: past the ttl, callers get the last value at once
 * while one background refresh fetches the next.
 */
import { DataCache } from "@recall/core"
import { Console, Effect } from "effect"

let fetches = 0

export const exchangeRate = DataCache.fn({ name: "exchangeRate", ttl: "1 second", staleWhileRevalidate: "1 minute" }, (pair: string) =>
  Effect.gen(function* () {
    yield* Effect.sleep("600 millis") // a slow upstream
    fetches++
    return { pair, rate: 10 + fetches / 100 }
  })
)

export const program = Effect.gen(function* () {
  const first = yield* exchangeRate("EUR/NOK") // waits 0.6 s
  yield* Effect.sleep("1500 millis") // past the ttl, within the window
  const stale = yield* exchangeRate("EUR/NOK") // at once: the old rate; a refresh starts
  yield* Effect.sleep("1 second") // the refresh finishes in the background
  const fresh = yield* exchangeRate("EUR/NOK") // at once: the new rate
  yield* Console.log(`${first.rate} → ${stale.rate} (stale) → ${fresh.rate}`)
  return { first: first.rate, stale: stale.rate, fresh: fresh.rate, fetches }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
