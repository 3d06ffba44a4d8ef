/**
 * Runs an effect and prints how long it took on Effect's Clock (wall time in
 * the tour, virtual time under TestClock in the docs tests).
 */
import { Clock, Console, Effect } from "effect"

export const timed = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const value = yield* effect
    const millis = (yield* Clock.currentTimeMillis) - start
    yield* Console.log(`  ${label.padEnd(44)} ${String(millis).padStart(6)} ms`)
    return { value, millis }
  })
