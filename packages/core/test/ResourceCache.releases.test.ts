/**
 * Releases started in the background (by a purge, the sweep, an interrupted
 * invalidate) and the layer's close, which waits for them; and operations
 * that wait only for the releases they made due, never for another entry's
 * (found by an attack round).
 */
import { assert, describe, it } from "@effect/vitest"
import { ResourceCache } from "@recall/core"
import { Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"

const turns = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.yieldNow
  })

const slowConnections = () => {
  const closed: Array<string> = []
  const releaseGate = Deferred.makeUnsafe<void>()
  const open = (k: string) =>
    Effect.acquireRelease(Effect.succeed(k), (k) =>
      Effect.andThen(
        k === "a" ? Deferred.await(releaseGate) : Effect.void,
        Effect.sync(() => closed.push(k))
      )
    )
  return { closed, releaseGate, open }
}

describe("attack: background releases and the layer's close", () => {
  it.effect("a release started by a purge (another key's miss) is awaited by the layer's close", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn({ name: "rel-close-purge", ttl: "1 minute" }, (k: string) => c.open(k))
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(ResourceCache.layerMemory(), scope)
      yield* Effect.provideContext(f("a"), context)
      yield* TestClock.adjust("61 seconds")
      yield* Effect.provideContext(f("b"), context) // purges a: its release starts in the background and waits
      yield* turns(5)
      assert.deepStrictEqual(c.closed, [])
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* turns(50)
      const closedBeforeA = closing.pollUnsafe() !== undefined
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.await(closing)
      assert.isFalse(closedBeforeA, "the layer's close returned while a's release was still running")
      assert.deepStrictEqual(c.closed.sort(), ["a", "b"])
    })
  )

  it.effect("a release whose invalidate was interrupted is awaited by the layer's close", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn("rel-close-inv", (k: string) => c.open(k))
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(ResourceCache.layerMemory(), scope)
      yield* Effect.provideContext(f("a"), context)
      const inv = yield* Effect.forkChild(Effect.provideContext(f.invalidate("a"), context))
      yield* turns(5)
      yield* Fiber.interrupt(inv)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* turns(50)
      const closedBeforeA = closing.pollUnsafe() !== undefined
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.await(closing)
      assert.isFalse(closedBeforeA, "the layer's close returned while a's release was still running")
      assert.deepStrictEqual(c.closed, ["a"])
    })
  )

  it.effect("a release started by the sweep is awaited by the layer's close", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn({ name: "rel-close-sweep", ttl: "1 minute" }, (k: string) => c.open(k))
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(ResourceCache.layerMemory(), scope)
      yield* Effect.provideContext(f("a"), context)
      yield* TestClock.adjust("10 minutes") // the sweep purges a
      yield* turns(20)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* turns(50)
      const closedBeforeA = closing.pollUnsafe() !== undefined
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.await(closing)
      assert.isFalse(closedBeforeA, "the layer's close returned while a's release was still running")
      assert.deepStrictEqual(c.closed, ["a"])
    })
  )

  it.effect("a release that hangs delays only its own entry: invalidating another key returns", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn("rel-independent", (k: string) => c.open(k))
      yield* f("a")
      yield* f("b")
      const inv = yield* Effect.forkChild(f.invalidate("a"))
      yield* turns(5)
      assert.isUndefined(inv.pollUnsafe(), "invalidate(a) waits for a's release")
      yield* f.invalidate("b")
      assert.deepStrictEqual(c.closed, ["b"])
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.join(inv)
    }).pipe(Effect.provide(ResourceCache.layerMemory()))
  )

  it.effect("a validated hit that purges another key's expired entry does not wait for that entry's hanging release", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn({ name: "rel-validate-purge", ttl: "1 minute", validate: () => Effect.succeed(true) }, (k: string) =>
        c.open(k)
      )
      yield* f("a")
      yield* TestClock.adjust("30 seconds")
      yield* f("b")
      yield* TestClock.adjust("40 seconds") // a expired, b live
      const hit = yield* Effect.forkChild(f("b"))
      yield* turns(20)
      const ended = hit.pollUnsafe() !== undefined
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.await(hit)
      assert.isTrue(ended, "the hit on b waited for a's release (which hangs)")
    }).pipe(Effect.provide(ResourceCache.layerMemory({ sweepInterval: "1 day" })))
  )

  it.effect("a use of b that purges a's expired entry does not wait, at its end, for a's hanging release", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn({ name: "rel-use-purge", ttl: "1 minute" }, (k: string) => c.open(k))
      yield* f("a")
      yield* TestClock.adjust("30 seconds")
      yield* f("b")
      yield* TestClock.adjust("40 seconds")
      const user = yield* Effect.forkChild(f.use("b", (conn) => Effect.succeed(conn)))
      yield* turns(20)
      const ended = user.pollUnsafe() !== undefined
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.await(user)
      assert.isTrue(ended, "use(b) waited for a's release (which hangs)")
    }).pipe(Effect.provide(ResourceCache.layerMemory({ sweepInterval: "1 day" })))
  )

  it.effect("invalidate of b does not wait for a's hanging release queued by a purge", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn({ name: "rel-inv-purge", ttl: "1 minute" }, (k: string) => c.open(k))
      yield* f("a")
      yield* TestClock.adjust("30 seconds")
      yield* f("b")
      yield* TestClock.adjust("40 seconds")
      const inv = yield* Effect.forkChild(f.invalidate("b")) // purges a first, then removes b
      yield* turns(20)
      const ended = inv.pollUnsafe() !== undefined
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.await(inv)
      assert.isTrue(ended, "invalidate(b) waited for a's release (which hangs)")
    }).pipe(Effect.provide(ResourceCache.layerMemory({ sweepInterval: "1 day" })))
  )

  it.effect("stats does not wait for a hanging release of an expired entry it purges", () =>
    Effect.gen(function* () {
      const c = slowConnections()
      const f = ResourceCache.fn({ name: "rel-stats-purge", ttl: "1 minute" }, (k: string) => c.open(k))
      yield* f("a")
      yield* TestClock.adjust("70 seconds")
      const stats = yield* Effect.forkChild(f.stats)
      const all = yield* Effect.forkChild(ResourceCache.stats)
      yield* turns(20)
      const ended = [stats.pollUnsafe() !== undefined, all.pollUnsafe() !== undefined]
      yield* Deferred.succeed(c.releaseGate, undefined)
      yield* Fiber.await(stats)
      yield* Fiber.await(all)
      assert.deepStrictEqual(ended, [true, true], "f.stats / ResourceCache.stats waited for a's release (which hangs)")
    }).pipe(Effect.provide(ResourceCache.layerMemory({ sweepInterval: "1 day" })))
  )
})
