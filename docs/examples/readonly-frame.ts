/**
 * Large frames: a copy per hit costs a memory copy; `copy: "readonly"` shares
 * one frozen frame and costs nothing.
 */
import { DataCache } from "@recall/core"
import { Effect } from "effect"
import { timed } from "./timed.ts"

const ROWS = 1_000_000

const makeFrame = (rows: number) =>
  Effect.sync(() => ({
    fare: new Float64Array(rows).fill(12.5),
    distance: new Float64Array(rows).fill(3.2),
    tip: new Float64Array(rows).fill(1),
    duration: new Float64Array(rows).fill(900)
  }))

const copied = DataCache.fn("framePerCaller", (rows: number) => makeFrame(rows))
const shared = DataCache.fn({ name: "frameShared", copy: "readonly" }, (rows: number) => makeFrame(rows))

export const program = Effect.gen(function* () {
  yield* copied(ROWS)
  yield* shared(ROWS)
  const a = yield* timed(`hit, a fresh copy of 4 x ${ROWS} Float64`, copied(ROWS))
  const b = yield* timed(`hit, copy: "readonly" (shared, frozen)`, shared(ROWS))
  const again = yield* shared(ROWS)
  return { copyIsFresh: a.value.fare !== (yield* copied(ROWS)).fare, sharedIsSame: b.value === again, frozen: Object.isFrozen(b.value) }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
