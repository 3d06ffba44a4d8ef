/**
 * Single flight: ten concurrent callers, one computation. A failure is not
 * cached: the callers waiting for it when it fails all get it (one run per
 * failure), and the next call runs again.
 */
import { DataCache } from "@recall/core"
import { Console, Effect } from "effect"
import { timed } from "./timed.ts"

let runs = 0
const report = DataCache.fn("report", (month: string) =>
  Effect.sync(() => runs++).pipe(Effect.andThen(Effect.sleep("1 second")), Effect.as({ month, total: 42 }))
)

let attempts = 0
const flaky = DataCache.fn("flaky", (id: number) =>
  Effect.suspend(() => (++attempts === 1 ? Effect.fail(`attempt 1 for ${id} failed`) : Effect.succeed(`ok after ${attempts} attempts`)))
)

export const program = Effect.gen(function* () {
  yield* timed(
    "10 concurrent report('2024-01') calls",
    Effect.all(
      Array.from({ length: 10 }, () => report("2024-01")),
      { concurrency: "unbounded" }
    )
  )
  yield* Console.log(`  the body ran ${runs} time`)
  const first = yield* Effect.flip(flaky(7))
  const second = yield* flaky(7)
  yield* Console.log(`  failures are not cached: "${first}", then "${second}"`)
  return { runs, attempts }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
