/**
 * Client timeouts must not starve the cache (issue 11 §2), on TestClock.
 *
 * Design section 2, single flight: the computation belongs to the cache, not
 * to the caller that started it. Interrupting any caller (the first included)
 * never interrupts or restarts it; it runs to its end in the layer's scope and
 * its value is stored unless a clear or invalidate won or the layer closed,
 * so requests that time out still fill the cache.
 *
 * The issue's numbers: a 600 ms body behind callers that give up after
 * 400 ms (`Effect.timeout`), one caller every 100 ms, 30 callers. Caller `i`
 * arrives at `100 i` ms and gives up at `100 i + 400` ms; the body, started
 * by caller 0, ends at 600 ms. Callers 0 and 1 give up first (at 400 and
 * 500 ms); caller 2 gives up at 600 ms, the instant the body ends: TestClock
 * wakes sleeps of one instant in the order they were registered, and the
 * body's sleep (registered at 0 ms) comes before caller 2's timeout
 * (registered at 200 ms), so caller 2 gets the value; callers 3-5 get it at
 * 600 ms and callers 6-29 hit. 28 of 30 succeed, as with Effect's own `Cache`
 * in the same harness (the first test, a control).
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache } from "@recall/core"
import { Cache, type Cause, Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"

/** Yields the test fiber up to `turns` times, until `fiber` is done; no time passes. */
const settles = <A, E>(fiber: Fiber.Fiber<A, E>, turns = 2000) =>
  Effect.gen(function* () {
    for (let i = 0; i < turns && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    return fiber.pollUnsafe()
  })

/** What a body did: runs started, runs that ended with a value, runs that failed. */
const counter = () => ({ starts: 0, ends: 0, failures: 0 })

/** The body: 600 ms of work, counted; `started` (if given) is completed once the start is counted. */
const slowBody = (counts: ReturnType<typeof counter>, key: string, started?: Deferred.Deferred<void>) =>
  Effect.sync(() => counts.starts++).pipe(
    Effect.andThen(started === undefined ? Effect.void : Deferred.succeed(started, undefined)),
    Effect.andThen(Effect.sleep("600 millis")),
    Effect.andThen(Effect.sync(() => counts.ends++)),
    Effect.as(`value of ${key}`)
  )

/**
 * One caller every 100 ms, each giving up after 400 ms, as the issue's
 * handlers do; then time enough for every caller to end. The outcome: who
 * succeeded with the right value, who gave up.
 */
const arrivals = <E, R>(call: Effect.Effect<string, E, R>, callers = 30) =>
  Effect.gen(function* () {
    const fibers: Array<Fiber.Fiber<string, E | Cause.TimeoutError>> = []
    for (let i = 0; i < callers; i++) {
      fibers.push(yield* Effect.forkChild(Effect.timeout(call, "400 millis")))
      yield* TestClock.adjust("100 millis")
    }
    yield* TestClock.adjust("1 second")
    const exits = yield* Effect.forEach(fibers, (fiber) => Fiber.await(fiber))
    return {
      succeeded: exits.filter((exit) => Exit.isSuccess(exit) && exit.value === "value of k").length,
      gaveUp: exits.flatMap((exit, i) => (Exit.isFailure(exit) ? [i] : []))
    }
  })

describe("DataCache: client timeouts must not starve the cache (issue 11 §2)", () => {
  it.effect("control: Effect's own Cache in the same harness runs the lookup once and 28 of 30 callers succeed", () =>
    Effect.gen(function* () {
      const counts = counter()
      const cache = yield* Cache.make({ capacity: 16, lookup: (key: string) => slowBody(counts, key) })
      const outcome = yield* arrivals(Cache.get(cache, "k"))
      assert.deepStrictEqual({ ...counts, ...outcome }, { starts: 1, ends: 1, failures: 0, succeeded: 28, gaveUp: [0, 1] })
    })
  )

  it.effect("a 600 ms body behind callers that give up after 400 ms, one every 100 ms: the body runs once and 28 of 30 succeed", () =>
    Effect.gen(function* () {
      const counts = counter()
      const slow = DataCache.fn("slow", (key: string) => slowBody(counts, key))
      const outcome = yield* arrivals(slow("k"))
      const stats = yield* slow.stats
      assert.deepStrictEqual(
        { ...counts, ...outcome, misses: stats.misses, entries: stats.entries },
        { starts: 1, ends: 1, failures: 0, succeeded: 28, gaveUp: [0, 1], misses: 1, entries: 1 }
      )
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("200 callers that all give up before the body ends still fill the cache: the next 200 hit", () =>
    Effect.gen(function* () {
      const counts = counter()
      const slow = DataCache.fn("slow", (key: string) => slowBody(counts, key))
      const wave1 = yield* Effect.forEach(Array.from({ length: 200 }), () => Effect.forkChild(Effect.timeout(slow("k"), "200 millis")))
      yield* TestClock.adjust("200 millis")
      const gaveUp = (yield* Effect.forEach(wave1, (fiber) => Fiber.await(fiber))).filter(Exit.isFailure).length
      yield* TestClock.adjust("400 millis")
      const afterWave1 = { ...counts, stored: yield* slow.has("k") }
      // The second wave must be served at once, without time passing.
      const wave2 = yield* Effect.forEach(Array.from({ length: 200 }), () => Effect.forkChild(slow("k")))
      const atOnce = (yield* Effect.forEach(wave2, (fiber) => settles(fiber))).filter(
        (exit) => exit !== undefined && Exit.isSuccess(exit) && exit.value === "value of k"
      ).length
      yield* TestClock.adjust("1 second")
      const stats = yield* slow.stats
      assert.deepStrictEqual(
        { gaveUp, afterWave1, wave2AtOnce: atOnce, total: { ...counts }, misses: stats.misses },
        {
          gaveUp: 200,
          afterWave1: { starts: 1, ends: 1, failures: 0, stored: true },
          wave2AtOnce: 200,
          total: { starts: 1, ends: 1, failures: 0 },
          misses: 1
        }
      )
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("interrupting the first caller does not interrupt the body: it runs to its end, its value is stored, the next call hits", () =>
    Effect.gen(function* () {
      const counts = counter()
      const started = yield* Deferred.make<void>()
      const slow = DataCache.fn("slow", (key: string) => slowBody(counts, key, started))
      const first = yield* Effect.forkChild(slow("k"))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(first)
      const firstInterrupted = Exit.hasInterrupts(yield* Fiber.await(first))
      yield* TestClock.adjust("600 millis")
      const afterEnd = { ...counts, stored: yield* slow.has("k") }
      const next = yield* Effect.forkChild(slow("k"))
      const nextAtOnce = yield* settles(next)
      if (nextAtOnce === undefined) yield* TestClock.adjust("600 millis") // today's engine runs the body again
      const nextExit = yield* Fiber.await(next)
      const stats = yield* slow.stats
      assert.deepStrictEqual(
        {
          firstInterrupted,
          afterEnd,
          nextAtOnce: nextAtOnce !== undefined,
          next: nextExit,
          total: { ...counts },
          misses: stats.misses,
          hits: stats.hits
        },
        {
          firstInterrupted: true,
          afterEnd: { starts: 1, ends: 1, failures: 0, stored: true },
          nextAtOnce: true,
          next: Exit.succeed("value of k"),
          total: { starts: 1, ends: 1, failures: 0 },
          misses: 1,
          hits: 1
        }
      )
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a caller waiting on an interrupted first caller gets the body's value; the body is not restarted", () =>
    Effect.gen(function* () {
      const counts = counter()
      const started = yield* Deferred.make<void>()
      const slow = DataCache.fn("slow", (key: string) => slowBody(counts, key, started))
      const first = yield* Effect.forkChild(slow("k"))
      yield* Deferred.await(started)
      yield* TestClock.adjust("300 millis")
      const second = yield* Effect.forkChild(slow("k"))
      yield* settles(second, 50)
      yield* Fiber.interrupt(first)
      const atInterrupt = { ...counts }
      // The body started at 0 ms ends at 600 ms; a restart at 300 ms would end at 900 ms.
      yield* TestClock.adjust("300 millis")
      const secondAt600 = yield* settles(second)
      yield* TestClock.adjust("300 millis")
      assert.deepStrictEqual(
        { atInterrupt, secondAt600, total: { ...counts } },
        {
          atInterrupt: { starts: 1, ends: 0, failures: 0 },
          secondAt600: Exit.succeed("value of k"),
          total: { starts: 1, ends: 1, failures: 0 }
        }
      )
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a body that fails after its first caller was interrupted stores nothing: the next call runs it again", () =>
    Effect.gen(function* () {
      const counts = counter()
      const started = yield* Deferred.make<void>()
      const flaky = DataCache.fn("flaky", (key: string) =>
        Effect.gen(function* () {
          const run = ++counts.starts
          yield* Deferred.succeed(started, undefined) // after the start is counted
          yield* Effect.sleep("600 millis")
          if (run === 1) {
            counts.failures++
            return yield* Effect.fail(`run ${run} failed`)
          }
          counts.ends++
          return `value of ${key}`
        })
      )
      const first = yield* Effect.forkChild(flaky("k"))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(first)
      yield* TestClock.adjust("600 millis")
      const afterFailure = { ...counts, stored: yield* flaky.has("k"), entries: (yield* flaky.stats).entries }
      const next = yield* Effect.forkChild(flaky("k"))
      const nextAtOnce = (yield* settles(next)) !== undefined
      yield* TestClock.adjust("600 millis")
      const nextExit = yield* Fiber.await(next)
      assert.deepStrictEqual(
        { afterFailure, nextAtOnce, next: nextExit, total: { ...counts }, misses: (yield* flaky.stats).misses },
        {
          afterFailure: { starts: 1, ends: 0, failures: 1, stored: false, entries: 0 },
          nextAtOnce: false,
          next: Exit.succeed("value of k"),
          total: { starts: 2, ends: 1, failures: 1 },
          misses: 2
        }
      )
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})

describe("ResourceCache: a caller interrupted mid-acquire", () => {
  it.effect("does not stop the acquisition: the instance is acquired once, cached, shared, and released once when the layer closes", () =>
    Effect.gen(function* () {
      const acquired: Array<{ readonly dsn: string; readonly id: number }> = []
      const released: Array<number> = []
      const started = yield* Deferred.make<void>()
      const connect = ResourceCache.fn("connect", (dsn: string) =>
        Effect.acquireRelease(
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.sleep("600 millis")),
            Effect.map(() => {
              const connection = { dsn, id: acquired.length + 1 }
              acquired.push(connection)
              return connection
            })
          ),
          (connection) => Effect.sync(() => released.push(connection.id))
        )
      )
      const whileOpen = yield* Effect.gen(function* () {
        const first = yield* Effect.forkChild(connect("db"))
        yield* Deferred.await(started)
        // Forked: an interrupt that waited for the (uninterruptible) acquire would block the test fiber.
        const interrupting = yield* Effect.forkChild(Fiber.interrupt(first))
        const interruptAtOnce = (yield* settles(interrupting)) !== undefined
        yield* TestClock.adjust("600 millis")
        yield* Fiber.await(interrupting)
        const firstInterrupted = Exit.hasInterrupts(yield* Fiber.await(first))
        const afterAcquire = { acquired: acquired.length, released: [...released], cached: yield* connect.has("db") }
        const later = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(connect("db")))
        const laterAtOnce = (yield* Effect.forEach(later, (fiber) => settles(fiber))).every((exit) => exit !== undefined)
        if (!laterAtOnce) yield* TestClock.adjust("600 millis") // today's engine acquires again
        const instances = yield* Effect.forEach(later, (fiber) => Fiber.join(fiber))
        return {
          interruptAtOnce,
          firstInterrupted,
          afterAcquire,
          laterAtOnce,
          laterGotTheFirstInstance: instances.every((instance) => instance === acquired[0]),
          acquired: acquired.length,
          releasedWhileOpen: [...released]
        }
      }).pipe(Effect.provide(ResourceCache.layerMemory()))
      assert.deepStrictEqual(
        { ...whileOpen, releasedAfterClose: released },
        {
          interruptAtOnce: true,
          firstInterrupted: true,
          afterAcquire: { acquired: 1, released: [], cached: true },
          laterAtOnce: true,
          laterGotTheFirstInstance: true,
          acquired: 1,
          releasedWhileOpen: [],
          releasedAfterClose: [1]
        }
      )
    })
  )
})
