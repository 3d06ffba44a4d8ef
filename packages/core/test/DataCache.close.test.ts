/**
 * Closing a layer while callers wait: its scope closes before its own
 * finalizer runs, and no computation may start in between. (Found by an
 * attack round: waiters started new flights in a busy loop meanwhile.)
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"

const turns = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

describe("attack: layer close during a wait", () => {
  it.effect(
    "waiters of a key whose computation the close interrupted end promptly, without running anything, while another computation's interrupt is slow",
    () =>
      Effect.gen(function* () {
        let bodyRuns = 0
        const slowGate = yield* Deferred.make<void>()
        const slow = DataCache.fn("close-slow", (n: number) =>
          // its interrupt waits: an uninterruptible step (a flush, a commit)
          Effect.as(Effect.uninterruptible(Deferred.await(slowGate)), n)
        )
        const f = DataCache.fn("close-fast", (n: number) =>
          Effect.gen(function* () {
            bodyRuns++
            return yield* Effect.never.pipe(Effect.as(n))
          })
        )
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(DataCache.layerMemory(), scope)
        const withCache = <A, E>(e: Effect.Effect<A, E, DataCache.DataCache>) => Effect.provideContext(e, context)
        const slowCaller = yield* Effect.forkChild(withCache(slow(1)))
        yield* turns(5)
        const waiters = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(withCache(f(1))))
        yield* turns(5)
        assert.strictEqual(bodyRuns, 1)
        const missesBefore = (yield* withCache(f.stats)).misses
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        yield* turns(200)
        const missesDuring = (yield* withCache(f.stats)).misses
        // While slow's interrupt waits, f's waiters must have ended (CacheClosedError) or be parked, not spinning.
        const ended = waiters.filter((w) => w.pollUnsafe() !== undefined).length
        yield* Deferred.succeed(slowGate, undefined)
        yield* Fiber.await(closing)
        yield* Fiber.await(slowCaller)
        for (const w of waiters) {
          const exit = yield* Fiber.await(w)
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), "a waiter of a closed layer dies with CacheClosedError")
        }
        assert.strictEqual(missesBefore, 1)
        assert.strictEqual(missesDuring, 1, `the waiters kept starting flights while the layer closed (busy loop): ${missesDuring} misses`)
        assert.strictEqual(ended, 3, "the waiters were still running (retrying) while the layer closed")
      })
  )
})
