/**
 * A body whose own exit is an interrupt (`Effect.interrupt`, or a
 * `Fiber.join` of an interrupted fiber) while the layer is open ends as any
 * failure does: its starter gets it, once. Only a closing layer makes the
 * waiters check again. (Found by an attack round: such a body used to run
 * again and again, and its caller never ended.)
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache } from "@recall/core"
import { Effect, Fiber } from "effect"

const settles = <A, E>(fiber: Fiber.Fiber<A, E>, turns = 3000) =>
  Effect.gen(function* () {
    for (let i = 0; i < turns && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    return fiber.pollUnsafe()
  })

describe("attack: a body that ends with an interrupt of its own", () => {
  it.effect("DataCache: Effect.interrupt in the body runs it once and ends the call", () =>
    Effect.gen(function* () {
      let runs = 0
      const f = DataCache.fn("self-interrupt", (n: number) =>
        Effect.suspend(() => (++runs < 10_000 ? Effect.interrupt : Effect.succeed(n)))
      )
      const caller = yield* Effect.forkChild(f(1))
      const exit = yield* settles(caller)
      assert.strictEqual(runs, 1, `the body ran ${runs} times for one call`)
      assert.isDefined(exit)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("DataCache: a body that joins an interrupted fiber runs once", () =>
    Effect.gen(function* () {
      let runs = 0
      const f = DataCache.fn("join-interrupted", (n: number) =>
        Effect.gen(function* () {
          if (++runs >= 10_000) return n
          const child = yield* Effect.forkChild(Effect.never)
          yield* Fiber.interrupt(child)
          return yield* Fiber.join(child)
        })
      )
      const caller = yield* Effect.forkChild(f(1))
      const exit = yield* settles(caller)
      assert.strictEqual(runs, 1, `the body ran ${runs} times for one call`)
      assert.isDefined(exit)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("DataCache: a body that always interrupts itself runs once, and its caller ends", () =>
    Effect.gen(function* () {
      let runs = 0
      const f = DataCache.fn("always-interrupt", (_n: number) =>
        Effect.suspend(() => {
          runs++
          return Effect.interrupt
        })
      )
      const caller = yield* Effect.forkChild(f(1))
      const exit = yield* settles(caller, 500)
      const observed = runs
      yield* Fiber.interrupt(caller)
      assert.isDefined(exit, `the caller was still waiting after ${observed} runs of the body`)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("ResourceCache: Effect.interrupt after acquiring: runs once, released once", () =>
    Effect.gen(function* () {
      let runs = 0
      let releases = 0
      const f = ResourceCache.fn("rc-self-interrupt", (n: number) =>
        Effect.acquireRelease(
          Effect.sync(() => ++runs),
          () => Effect.sync(() => releases++)
        ).pipe(Effect.andThen(runs < 1000 ? Effect.interrupt : Effect.succeed(n)))
      )
      const caller = yield* Effect.forkChild(f(1))
      yield* settles(caller)
      yield* Fiber.interrupt(caller)
      assert.strictEqual(runs, 1, `acquired ${runs} times`)
      assert.strictEqual(releases, runs)
    }).pipe(Effect.provide(ResourceCache.layerMemory()))
  )
})
