/**
 * Every caller gets its own copy: mutating a returned dict or list never
 * changes what the next caller gets (Streamlit's st.cache_data promise).
 */
import { DataCache } from "@recall/core"
import { Console, Effect } from "effect"

const loadConfig = DataCache.fn("loadConfig", () =>
  Effect.succeed({ columns: ["fare", "distance"], filters: { city: "Oslo" }, prices: new Float64Array([9.5, 12]) })
)

export const program = Effect.gen(function* () {
  const mine = yield* loadConfig()
  mine.columns.push("tip")
  mine.filters.city = "Bergen"
  mine.prices[0] = 0
  const next = yield* loadConfig()
  yield* Console.log(`  I changed my copy to: ${JSON.stringify(mine.columns)}, ${mine.filters.city}, ${mine.prices[0]}`)
  yield* Console.log(`  The next caller gets: ${JSON.stringify(next.columns)}, ${next.filters.city}, ${next.prices[0]}`)
  return { next }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
