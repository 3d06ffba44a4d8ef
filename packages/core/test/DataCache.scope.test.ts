/**
 * Each DataCache computation runs in a `Scope` of its own, closed once its
 * value is kept: a body that acquires needs no Scope from its caller, and
 * what it acquired is released when the computation ends, whoever waits.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Deferred, Effect, Fiber } from "effect"
import * as TestClock from "effect/testing/TestClock"

describe("DataCache scopes", () => {
  it.effect("a body that acquires needs no Scope from the caller; its release runs when the computation ends", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const report = DataCache.fn("report", (month: string) =>
        Effect.acquireRelease(
          Effect.sync(() => events.push(`open ${month}`)),
          () => Effect.sync(() => events.push(`close ${month}`))
        ).pipe(Effect.as(`report ${month}`))
      )
      // No Effect.scoped: the type needs only DataCache.
      const value: string = yield* report("2024-01")
      assert.strictEqual(value, "report 2024-01")
      assert.deepStrictEqual(events, ["open 2024-01", "close 2024-01"])
      assert.strictEqual(yield* report("2024-01"), "report 2024-01")
      assert.deepStrictEqual(events, ["open 2024-01", "close 2024-01"], "a hit acquires nothing")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("what the body acquired is released when it ends, though the caller that started it was interrupted", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      const opened = yield* Deferred.make<void>()
      const slow = DataCache.fn("slow", (n: number) =>
        Effect.acquireRelease(
          Effect.andThen(
            Effect.sync(() => events.push("open")),
            Deferred.succeed(opened, undefined)
          ),
          () => Effect.sync(() => events.push("close"))
        ).pipe(Effect.andThen(Effect.sleep("1 second")), Effect.as(n))
      )
      const caller = yield* Effect.forkChild(slow(1))
      yield* Deferred.await(opened)
      yield* Fiber.interrupt(caller)
      assert.deepStrictEqual(events, ["open"], "the computation goes on, its resource open")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* slow(1), 1)
      assert.deepStrictEqual(events, ["open", "close"])
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
