/**
 * Interrupts at every step of a call, as a fuzzer would sweep them. The
 * victim fiber runs with the smallest operation budget Effect's run loop can
 * advance with (3: with 1 or 2 it yields again before every operation and
 * livelocks), one or two operations per scheduler turn, so the
 * test fiber can interrupt it after any number of scheduler turns; the sweep
 * goes on until the victim finishes before the interrupt lands. After each
 * interrupt, the key must still work: a waiter that was sharing the flight
 * finishes, and a new call finishes. A hung key would leave them waiting.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Cause, Deferred, Effect, Exit, Fiber, Scheduler } from "effect"

/** Yields the test fiber up to `turns` times, until `fiber` is done. */
const settles = <A, E>(fiber: Fiber.Fiber<A, E>, turns = 2000) =>
  Effect.gen(function* () {
    for (let i = 0; i < turns && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    return fiber.pollUnsafe()
  })

const oneOpAtATime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.forkChild(Effect.provideService(effect, Scheduler.MaxOpsBeforeYield, 3))

const bodies = {
  succeeds: (n: number) => Effect.yieldNow.pipe(Effect.andThen(Effect.yieldNow), Effect.as(n * 2)),
  fails: (n: number) => Effect.yieldNow.pipe(Effect.andThen(Effect.fail(`no ${n}`)))
} as const

describe("DataCache interrupts", () => {
  for (const [outcome, body] of Object.entries(bodies)) {
    for (const target of ["first caller", "second caller"] as const) {
      it.effect(`an interrupt of the ${target} at any step of a call that ${outcome} leaves no hung key`, () =>
        Effect.gen(function* () {
          let interrupted = 0
          for (let step = 0; step < 1000; step++) {
            const finishedFirst = yield* Effect.gen(function* () {
              const f = DataCache.fn({ name: `sweep-${outcome}` }, body)
              const first = yield* oneOpAtATime(f(21))
              const second = yield* oneOpAtATime(f(21))
              const [victim, survivor] = target === "first caller" ? [first, second] : [second, first]
              for (let i = 0; i < step; i++) yield* Effect.yieldNow
              if (victim.pollUnsafe() !== undefined) return true
              yield* Fiber.interrupt(victim)
              interrupted++
              const survived = yield* settles(survivor)
              assert.isDefined(survived, `step ${step}: the other caller of the key finished`)
              const after = yield* Effect.forkChild(f(21))
              const next = yield* settles(after)
              assert.isDefined(next, `step ${step}: a new call after the interrupt finished`)
              if (outcome === "succeeds") {
                assert.deepStrictEqual(survived, Exit.succeed(42))
                assert.deepStrictEqual(next, Exit.succeed(42))
              }
              return false
            }).pipe(Effect.provide(DataCache.layerMemory()))
            if (finishedFirst) break
          }
          assert.isAbove(interrupted, 10, "the sweep interrupted the call at many steps")
        })
      )
    }
  }

  it.effect("callers waiting for a computation that never ends can be interrupted; a failure before reaches every waiter", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const failNow = yield* Deferred.make<void>()
      let runs = 0
      // The first run fails when told to; the next run never ends.
      const f = DataCache.fn("waits", (n: number) =>
        Effect.andThen(
          Deferred.succeed(started, undefined),
          runs++ === 0 ? Effect.andThen(Deferred.await(failNow), Effect.fail("first")) : Effect.never.pipe(Effect.as(n))
        )
      )
      const first = yield* Effect.forkChild(f(1))
      yield* Deferred.await(started)
      const second = yield* Effect.forkChild(f(1))
      yield* Effect.yieldNow
      yield* Deferred.succeed(failNow, undefined)
      for (const caller of [first, second]) {
        const failed = yield* Fiber.await(caller)
        assert.isTrue(Exit.isFailure(failed) && Cause.squash(failed.cause) === "first", "every waiter gets the failure")
      }
      assert.strictEqual(runs, 1)
      const third = yield* Effect.forkChild(f(1))
      const fourth = yield* Effect.forkChild(f(1))
      for (let i = 0; i < 10 && runs < 2; i++) yield* Effect.yieldNow
      assert.strictEqual(runs, 2, "the next call ran again")
      // Fiber.interrupt waits for the fiber to end: a wait that could not be
      // interrupted would never end, and these would time out.
      yield* Fiber.interrupt(fourth)
      yield* Fiber.interrupt(third)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(third)))
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
