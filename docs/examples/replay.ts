/**
 * What a cached body writes on a miss is written again on every hit, as
 * Streamlit replays a cached function's `st.*` calls: the program reads the
 * same whether the value was computed or cached.
 */
import { DataCache } from "@recall/core"
import { Console, Effect } from "effect"

export const loadTrips = DataCache.fn("loadTrips", (city: string) =>
  Effect.gen(function* () {
    yield* Console.log(`Loaded 3 trips for ${city}`)
    yield* Effect.logWarning("2 rows had no fare and were dropped")
    return [12.5, 8, 30]
  })
)

export const program = Effect.gen(function* () {
  yield* loadTrips("Oslo") // runs: prints the line and logs the warning
  yield* loadTrips("Oslo") // cached: prints and logs them again, in order
}).pipe(Effect.provide(DataCache.layer))

if (import.meta.main) Effect.runPromise(program)
