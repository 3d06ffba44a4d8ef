import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Deferred, Effect, Fiber, Logger } from "effect"
import { TestClock } from "effect/testing"

const withCache = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>) => Effect.provide(effect, DataCache.layerMemory())

/** Lets forked background work run to its next wait. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 10; i++) yield* Effect.yieldNow
})

/** A body whose runs are numbered, and that can be made to wait or fail. */
const versions = () => {
  let runs = 0
  let gate: Deferred.Deferred<void> | undefined
  let failing = false
  return {
    runs: () => runs,
    hold: (deferred: Deferred.Deferred<void>) => {
      gate = deferred
    },
    fail: (on: boolean) => {
      failing = on
    },
    // `key` is a parameter of the key: a `_key` would be left out.
    body: (key: string) =>
      Effect.suspend(() => {
        const run = ++runs
        const wait = gate === undefined ? Effect.void : Deferred.await(gate)
        return Effect.andThen(wait, failing ? Effect.fail(`run ${run} failed`) : Effect.succeed(`v${run}`))
      }).pipe(Effect.annotateLogs("key", key))
  }
}

const options = { name: "prices", ttl: "1 minute", staleWhileRevalidate: "1 minute" } as const

describe("DataCache staleWhileRevalidate", () => {
  it.effect("within the window: the stale value at once, one refresh in the background, then the fresh value", () =>
    withCache(
      Effect.gen(function* () {
        const v = versions()
        const prices = DataCache.fn(options, v.body)
        assert.strictEqual(yield* prices("a"), "v1")
        yield* TestClock.adjust("61 seconds")
        const gate = yield* Deferred.make<void>()
        v.hold(gate)
        // Three stale calls: each returns at once, and only one refresh starts.
        assert.deepStrictEqual(yield* Effect.all([prices("a"), prices("a"), prices("a")]), ["v1", "v1", "v1"])
        yield* settle
        assert.strictEqual(v.runs(), 2)
        yield* Deferred.succeed(gate, undefined)
        yield* settle
        assert.strictEqual(yield* prices("a"), "v2")
        assert.strictEqual(v.runs(), 2)
      })
    )
  )

  it.effect("the refreshed entry is fresh for a full ttl from when it was stored", () =>
    withCache(
      Effect.gen(function* () {
        const v = versions()
        const prices = DataCache.fn(options, v.body)
        yield* prices("a")
        yield* TestClock.adjust("90 seconds")
        assert.strictEqual(yield* prices("a"), "v1")
        yield* settle
        yield* TestClock.adjust("59 seconds")
        assert.strictEqual(yield* prices("a"), "v2")
        yield* settle
        assert.strictEqual(v.runs(), 2, "still fresh: no refresh")
      })
    )
  )

  it.effect("past the window a call waits for a fresh value", () =>
    withCache(
      Effect.gen(function* () {
        const v = versions()
        const prices = DataCache.fn(options, v.body)
        yield* prices("a")
        yield* TestClock.adjust("120 seconds")
        assert.isFalse(yield* prices.has("a"))
        const gate = yield* Deferred.make<void>()
        v.hold(gate)
        const call = yield* Effect.forkChild(prices("a"))
        yield* settle
        assert.isUndefined(call.pollUnsafe(), "it waits for the computation")
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* Fiber.join(call), "v2")
      })
    )
  )

  it.effect("a refresh's result is dropped when the entry is invalidated meanwhile", () =>
    withCache(
      Effect.gen(function* () {
        const v = versions()
        const prices = DataCache.fn(options, v.body)
        yield* prices("a")
        yield* TestClock.adjust("61 seconds")
        const gate = yield* Deferred.make<void>()
        v.hold(gate)
        assert.strictEqual(yield* prices("a"), "v1")
        yield* settle
        yield* prices.invalidate("a")
        yield* Deferred.succeed(gate, undefined)
        yield* settle
        assert.isFalse(yield* prices.has("a"), "v2 was not stored")
        v.hold(yield* Deferred.make<void>().pipe(Effect.tap((d) => Deferred.succeed(d, undefined))))
        assert.strictEqual(yield* prices("a"), "v3")
      })
    )
  )

  it.effect("a refresh whose entry was evicted meanwhile is not stored (it would evict a newer entry)", () =>
    withCache(
      Effect.gen(function* () {
        const v = versions()
        const prices = DataCache.fn({ ...options, maxEntries: 1 }, v.body)
        yield* prices("a")
        yield* TestClock.adjust("61 seconds")
        const gate = yield* Deferred.make<void>()
        v.hold(gate)
        yield* prices("a")
        yield* settle
        v.hold(yield* Deferred.make<void>().pipe(Effect.tap((d) => Deferred.succeed(d, undefined))))
        yield* prices("b") // evicts "a"
        yield* Deferred.succeed(gate, undefined)
        yield* settle
        assert.isFalse(yield* prices.has("a"))
        assert.isTrue(yield* prices.has("b"))
      })
    )
  )

  it.effect("a failed refresh keeps the stale value and backs off: 1 s, then 2 s", () =>
    withCache(
      Effect.gen(function* () {
        const v = versions()
        const prices = DataCache.fn(options, v.body)
        yield* prices("a")
        yield* TestClock.adjust("61 seconds")
        v.fail(true)
        assert.strictEqual(yield* prices("a"), "v1")
        yield* settle
        assert.strictEqual(v.runs(), 2, "the first refresh ran and failed")
        assert.strictEqual(yield* prices("a"), "v1", "the stale value stays")
        yield* settle
        assert.strictEqual(v.runs(), 2, "no retry within 1 s")
        yield* TestClock.adjust("1 second")
        yield* prices("a")
        yield* settle
        assert.strictEqual(v.runs(), 3, "retried after 1 s, failed again")
        yield* TestClock.adjust("1 second")
        yield* prices("a")
        yield* settle
        assert.strictEqual(v.runs(), 3, "the next wait is 2 s")
        v.fail(false)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* prices("a"), "v1")
        yield* settle
        assert.strictEqual(yield* prices("a"), "v4")
      })
    )
  )

  // Found by an outside trial: a refresh whose value cacheIf refused was retried on the next stale call, at once:
  // one call every 100 ms ran the body 600 times over a one-minute window.
  it.effect("a refresh whose value cacheIf refuses backs off as a failed one does", () =>
    withCache(
      Effect.gen(function* () {
        const v = versions()
        const prices = DataCache.fn({ ...options, cacheIf: (value: string) => value === "v1" }, v.body)
        yield* prices("a")
        yield* TestClock.adjust("61 seconds")
        for (let i = 0; i < 9; i++) {
          assert.strictEqual(yield* prices("a"), "v1", "the stale value stays")
          yield* settle
          yield* TestClock.adjust("100 millis")
        }
        assert.strictEqual(v.runs(), 2, "one refresh, refused; no retry within 1 s")
        yield* TestClock.adjust("200 millis")
        yield* prices("a")
        yield* settle
        assert.strictEqual(v.runs(), 3, "retried after 1 s")
      })
    )
  )

  // Found by an outside trial: the refresh's own live output reached the caller before the replay of the value it got.
  it.effect("a stale hit replays its value's output before the refresh it starts writes anything", () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => lines.push((message as ReadonlyArray<unknown>).join(" ")))
    return Effect.gen(function* () {
      let runs = 0
      const prices = DataCache.fn(options, (key: string) =>
        Effect.gen(function* () {
          const run = ++runs
          yield* Effect.logInfo(`computed ${run}`)
          return `${key}${run}`
        })
      )
      yield* prices("a")
      yield* TestClock.adjust("61 seconds")
      lines.length = 0
      assert.strictEqual(yield* prices("a"), "a1")
      yield* settle
      assert.deepStrictEqual(lines, ["computed 1", "computed 2"], "the replay, then the refresh's own line")
    }).pipe(Effect.provide([DataCache.layerMemory(), Logger.layer([logger])]))
  })

  it.effect("closing the layer interrupts a refresh in flight", () =>
    Effect.gen(function* () {
      let runs = 0
      const interrupted = yield* Deferred.make<void>()
      const prices = DataCache.fn(options, (_key: string) =>
        ++runs === 1 ? Effect.succeed("v1") : Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      )
      yield* Effect.gen(function* () {
        yield* prices("a")
        yield* TestClock.adjust("61 seconds")
        assert.strictEqual(yield* prices("a"), "v1")
        yield* settle
        assert.strictEqual(runs, 2, "the refresh is running")
      }).pipe(withCache)
      yield* Deferred.await(interrupted)
    })
  )

  it("needs a ttl, and a positive duration", () => {
    assert.throws(
      // @ts-expect-error a type error too
      () => DataCache.fn({ name: "f", staleWhileRevalidate: "1 minute" }, (n: number) => Effect.succeed(n)),
      /needs a `ttl`/
    )
    assert.throws(
      () => DataCache.fn({ name: "f", ttl: "1 minute", staleWhileRevalidate: "soon" }, (n: number) => Effect.succeed(n)),
      /staleWhileRevalidate/
    )
  })
})
