/**
 * The first example of Streamlit's caching guide: a slow function is slow
 * once, then instant for the same arguments.
 */
import { DataCache } from "@recall/core"
import { Effect } from "effect"
import { timed } from "./timed.ts"

const expensive = DataCache.fn("expensive", (a: number, b: number) => Effect.sleep("2 seconds").pipe(Effect.as(a * b)))

export const program = Effect.gen(function* () {
  const first = yield* timed("expensive(2, 21), a miss: runs the body", expensive(2, 21))
  const second = yield* timed("expensive(2, 21), a hit: no body", expensive(2, 21))
  const other = yield* timed("expensive(3, 14), other arguments: a miss", expensive(3, 14))
  return { first: first.millis, second: second.millis, other: other.millis, value: second.value }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
