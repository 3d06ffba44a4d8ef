/**
 * Lifecycles of DataCache functions and layers: identities claimed twice, a
 * layer that closed, calls that wait for themselves, stale-while-revalidate
 * windows, redefinitions with a shorter `ttl`, where `TestClock` is
 * provided, and what a finished session leaves behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Logger, Metric, Scheduler, Scope } from "effect"
import { TestClock } from "effect/testing"
import { gc } from "./fixtures/collected.ts"

const withCache = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>, options?: DataCache.LayerOptions) =>
  Effect.provide(effect, DataCache.layerMemory(options))

/** A logger that keeps the warnings it is given. */
const warnings = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel === "Warn") lines.push(String(Array.isArray(message) ? message[0] : message))
  })
  return { lines, layer: Logger.layer([logger]) }
}

/** A DataCache layer built into a scope of its own. */
const session = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(DataCache.layerMemory(), scope)
  return { scope, context }
})

const defectOf = (exit: Exit.Exit<unknown, unknown>): unknown => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined)

/** Yields the test fiber up to `turns` times, until `done` holds. */
const until = (done: () => boolean, turns = 100) =>
  Effect.gen(function* () {
    for (let i = 0; i < turns && !done(); i++) yield* Effect.yieldNow
    return done()
  })

/** The entries gauge of a function: what the table holds, read without purging it as `stats` does. */
const entriesGauge = (name: string) =>
  Effect.map(
    Metric.snapshot,
    (all) =>
      (all.find((m) => m.id === "recall_data_cache_entries" && m.attributes?.function === name)?.state as { value: number } | undefined)
        ?.value
  )

/** A module-level function, as most programs define them. */
const moduleLevel = DataCache.fn("moduleLevel", (n: number) => Effect.succeed(n * 2))

describe("DataCache lifecycles", () => {
  describe("one identity, two function objects", () => {
    it.effect("two functions from one factory warn once, naming the function and the fix", () =>
      Effect.gen(function* () {
        const log = warnings()
        const make = (table: string) => DataCache.fn("rows", (id: number) => Effect.succeed(`${table}:${id}`))
        const users = make("users")
        const orders = make("orders")
        yield* Effect.gen(function* () {
          assert.strictEqual(yield* users(1), "users:1")
          // By design the two share entries (one identity); the warning says so.
          assert.strictEqual(yield* orders(1), "users:1")
          yield* orders(2)
          yield* users(2)
          yield* orders(3)
        }).pipe(withCache, Effect.provide(log.layer))
        const about = log.lines.filter((line) => line.includes("rows"))
        assert.strictEqual(about.length, 1, "logged once")
        assert.include(about[0]!, "version")
        // The fix is a name of its own: a `version` each would be pruned as an old code version (a stranger trial).
        assert.include(about[0]!, 'name: "rows:orders"')
        assert.include(about[0]!, "recall prune")
        // A definition made again per request (Streamlit's rerun, translated) is told to move to module level (an outside trial).
        assert.include(about[0]!, "define it once, at module level")
      })
    )

    it.effect("one function called many times, and through bind, does not warn", () =>
      Effect.gen(function* () {
        const log = warnings()
        const f = DataCache.fn("single", (id: number) => Effect.succeed(id))
        yield* Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* f(i % 2)
          const bound = yield* DataCache.bind(f)
          yield* bound(1)
          yield* bound(7)
          yield* bound.invalidate(7)
        }).pipe(withCache, Effect.provide(log.layer))
        assert.deepStrictEqual(log.lines, [])
      })
    )
  })

  describe("a closed layer", () => {
    it.effect("a bound function called after its layer closed dies with CacheClosedError; the body does not run", () =>
      Effect.gen(function* () {
        let runs = 0
        const f = DataCache.fn("afterClose", (n: number) => Effect.sync(() => ++runs + n))
        const s = yield* session
        const bound = yield* Effect.provide(DataCache.bind(f), s.context)
        assert.strictEqual(yield* bound(1), 2)
        yield* Scope.close(s.scope, Exit.void)
        const viaBound = yield* Effect.exit(bound(1))
        const viaContext = yield* Effect.exit(Effect.provide(f(2), s.context))
        for (const exit of [viaBound, viaContext]) {
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
          const error = defectOf(exit)
          assert.instanceOf(error, DataCache.CacheClosedError)
          assert.include((error as Error).message, "afterClose")
          assert.include((error as Error).message, "closed")
        }
        assert.strictEqual(runs, 1, "the body ran for the live call only")
      })
    )

    // Found by a stranger trial: calls died, but has, invalidate and clear went on silently (reaching the disk store),
    // and stats counted the close as invalidations.
    it.effect("has, invalidate and clear through a closed layer die as its calls do; stats keep the counts the layer had", () =>
      Effect.gen(function* () {
        const f = DataCache.fn("opsAfterClose", (n: number) => Effect.succeed(n))
        const s = yield* session
        const bound = yield* Effect.provide(DataCache.bind(f), s.context)
        yield* bound(1)
        yield* bound(2)
        yield* bound(1)
        const before = yield* bound.stats
        yield* Scope.close(s.scope, Exit.void)
        const exits: ReadonlyArray<Exit.Exit<unknown>> = [
          yield* Effect.exit(bound.has(1)),
          yield* Effect.exit(bound.invalidate(1)),
          yield* Effect.exit(bound.clear)
        ]
        for (const exit of exits) {
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
          assert.instanceOf(defectOf(exit), DataCache.CacheClosedError)
        }
        const after = yield* bound.stats
        assert.deepStrictEqual([after.hits, after.misses, after.invalidations, after.expirations], [before.hits, before.misses, 0, 0])
        // DataCache.clear through the closed layer's service too (found by a second stranger trial).
        const clearAll = yield* Effect.exit(Effect.provide(DataCache.clear, s.context))
        assert.isTrue(Exit.isFailure(clearAll) && Cause.hasDies(clearAll.cause))
        assert.instanceOf(defectOf(clearAll), DataCache.CacheClosedError)
      })
    )
  })

  // Found by an outside trial: with two bodies in flight past their interrupt as the layer closed, the first
  // caller got a value and the second CacheClosedError, as the close's order fell.
  it.effect("bodies that run on past the close's interrupt: every caller waiting gets CacheClosedError", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const started = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const f = DataCache.fn("closingUninterruptible", (n: number) =>
        Effect.uninterruptible(Effect.andThen(Deferred.succeed(started[n]!, undefined), Effect.as(Deferred.await(gate), n)))
      )
      const s = yield* session
      const callers = [yield* Effect.forkChild(Effect.provide(f(0), s.context)), yield* Effect.forkChild(Effect.provide(f(1), s.context))]
      for (const each of started) yield* Deferred.await(each)
      const closing = yield* Effect.forkChild(Scope.close(s.scope, Exit.void))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(closing)
      for (const caller of callers) assert.instanceOf(defectOf(yield* Fiber.await(caller)), DataCache.CacheClosedError)
    })
  )

  describe("calls that wait for themselves", () => {
    it.effect("a forked, un-awaited fiber of a body that calls the same key waits and gets the value", () =>
      withCache(
        Effect.gen(function* () {
          let runs = 0
          const child = yield* Deferred.make<Exit.Exit<number, unknown>>()
          const f: (n: number) => Effect.Effect<number, never, DataCache.DataCache> = DataCache.fn("forking", (n: number) =>
            Effect.gen(function* () {
              runs++
              // The child calls the key while this computation is in flight, and is not awaited.
              yield* Effect.forkDetach(
                Effect.flatMap(Effect.exit(f(n)), (exit) => Deferred.succeed(child, exit)),
                {
                  startImmediately: true
                }
              )
              return n * 10
            })
          )
          assert.strictEqual(yield* f(1), 10)
          assert.deepStrictEqual(yield* Deferred.await(child), Exit.succeed(10))
          assert.strictEqual(runs, 1)
        })
      )
    )

    it.effect(
      "a cycle through fibers a body forks and waits for (Effect.all with concurrency) is warned about, names the function, and ends with the layer",
      () =>
        Effect.gen(function* () {
          const log = warnings()
          const a: (n: number) => Effect.Effect<unknown, unknown, DataCache.DataCache> = DataCache.fn("fanOut", (n: number) =>
            Effect.all([b(n), c(n)], { concurrency: "unbounded" })
          )
          const b: (n: number) => Effect.Effect<unknown, unknown, DataCache.DataCache> = DataCache.fn("backEdge", (n: number) =>
            Effect.suspend(() => a(n))
          )
          const c = DataCache.fn("leaf", (n: number) => Effect.succeed(n))
          yield* Effect.gen(function* () {
            const caller = yield* Effect.forkChild(a(1))
            assert.isTrue(yield* until(() => log.lines.length > 0), "the cycle is warned about while it waits")
            yield* Fiber.interrupt(caller)
          }).pipe(withCache, Effect.provide(log.layer))
          assert.strictEqual(log.lines.length, 1)
          // Whichever of the two closes the cycle names itself (which one does depends on the order the fibers run in).
          assert.match(log.lines[0] ?? "", /^(fanOut|backEdge) was called in a cycle/)
          assert.include(log.lines[0], "Effect.all with concurrency")
        })
    )

    it.effect("a forked fiber that calls the same key through another function waits and gets the value (warned once)", () =>
      Effect.gen(function* () {
        const log = warnings()
        const done = yield* Deferred.make<unknown>()
        let summaries = 0
        const summary: (n: number) => Effect.Effect<number, never, DataCache.DataCache> = DataCache.fn("summary", (n: number) =>
          Effect.gen(function* () {
            summaries++
            // Warms the details, which read this summary, in the background.
            yield* Effect.forkDetach(
              Effect.flatMap(details(n), (d) => Deferred.succeed(done, d)),
              { startImmediately: true }
            )
            return n * 10
          })
        )
        const details: (n: number) => Effect.Effect<string, never, DataCache.DataCache> = DataCache.fn("details", (n: number) =>
          Effect.map(summary(n), (s) => `details of ${s}`)
        )
        yield* Effect.gen(function* () {
          assert.strictEqual(yield* summary(1), 10)
          assert.strictEqual(yield* Deferred.await(done), "details of 10")
          assert.strictEqual(yield* details(1), "details of 10")
        }).pipe(withCache, Effect.provide(log.layer))
        assert.strictEqual(summaries, 1)
        assert.strictEqual(log.lines.length, 1, "the possible cycle is named once")
      })
    )

    it.effect("concurrent branches that wait for one computation are no cycle", () =>
      Effect.gen(function* () {
        const log = warnings()
        let shared = 0
        const base = DataCache.fn("base", (n: number) => Effect.sync(() => ++shared + n))
        const left = DataCache.fn("left", (n: number) => Effect.map(base(n), (x) => `l${x}`))
        const right = DataCache.fn("right", (n: number) => Effect.map(base(n), (x) => `r${x}`))
        const top = DataCache.fn("top", (n: number) => Effect.all([left(n), right(n), base(n)], { concurrency: "unbounded" }))
        const result = yield* top(1).pipe(withCache, Effect.provide(log.layer))
        assert.deepStrictEqual(result, ["l2", "r2", 2])
        assert.strictEqual(shared, 1)
        assert.deepStrictEqual(log.lines, [])
      })
    )

    it.effect("a body that calls itself with its own arguments dies with a message", () =>
      withCache(
        Effect.gen(function* () {
          const f: (n: number) => Effect.Effect<number, never, DataCache.DataCache> = DataCache.fn("selfish", (n: number) =>
            Effect.suspend(() => f(n))
          )
          const exit = yield* Effect.exit(f(1))
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
          assert.include(String(defectOf(exit)), "called itself")
        })
      )
    )
  })

  describe("stale-while-revalidate", () => {
    const oneOpAtATime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.forkChild(Effect.provideService(effect, Scheduler.MaxOpsBeforeYield, 3))

    it.effect("a stale hit interrupted at any step leaves the entry refreshable", () =>
      Effect.gen(function* () {
        let interrupted = 0
        for (let step = 0; step < 500; step++) {
          const finishedFirst = yield* Effect.gen(function* () {
            let runs = 0
            const f = DataCache.fn({ name: "swrSweep", ttl: "1 minute", staleWhileRevalidate: "1 hour" }, (n: number) =>
              Effect.sync(() => ({ n, run: ++runs }))
            )
            yield* f(1)
            yield* TestClock.adjust("61 seconds")
            const victim = yield* oneOpAtATime(f(1))
            for (let i = 0; i < step; i++) yield* Effect.yieldNow
            if (victim.pollUnsafe() !== undefined) return true
            yield* Fiber.interrupt(victim)
            interrupted++
            // Whatever the interrupt cut, later stale hits get a refresh in this window.
            let served = 1
            for (let i = 0; i < 200 && served !== 2; i++) {
              served = (yield* f(1)).run
              if (served !== 2) yield* Effect.yieldNow
            }
            assert.strictEqual(served, 2, `step ${step}: the entry was refreshed`)
            assert.strictEqual(runs, 2, `step ${step}: once`)
            return false
          }).pipe(withCache)
          if (finishedFirst) break
        }
        assert.isAbove(interrupted, 3, "the sweep interrupted the stale hit at several steps")
      })
    )

    it.effect("one refresh per window, however many stale hits", () =>
      withCache(
        Effect.gen(function* () {
          let runs = 0
          const gate = yield* Deferred.make<void>()
          const f = DataCache.fn({ name: "swrOnce", ttl: "1 minute", staleWhileRevalidate: "1 minute" }, (n: number) =>
            Effect.suspend(() => (++runs === 1 ? Effect.succeed({ n, run: 1 }) : Effect.as(Deferred.await(gate), { n, run: runs })))
          )
          yield* f(1)
          yield* TestClock.adjust("61 seconds")
          const stale = yield* Effect.all(
            Array.from({ length: 20 }, () => f(1)),
            { concurrency: "unbounded" }
          )
          assert.isTrue(
            stale.every((value) => value.run === 1),
            "all served the stale value at once"
          )
          yield* until(() => runs === 2)
          assert.strictEqual(runs, 2, "one refresh")
          yield* Deferred.succeed(gate, undefined)
          let served = 1
          for (let i = 0; i < 100 && served !== 2; i++) {
            served = (yield* f(1)).run
            if (served !== 2) yield* Effect.yieldNow
          }
          assert.strictEqual(served, 2, "the refreshed value replaced the stale one")
          assert.strictEqual(runs, 2)
        })
      )
    )

    it.effect("a refresh runs in a scope of its own, not in the stale caller's, which has closed", () =>
      withCache(
        Effect.gen(function* () {
          const gate = yield* Deferred.make<void>()
          let runs = 0
          // The body acquires a connection and reads through it; the refresh waits before reading.
          const f = DataCache.fn({ name: "swrScoped", ttl: "1 minute", staleWhileRevalidate: "1 minute" }, (dsn: string) =>
            Effect.gen(function* () {
              const run = ++runs
              const conn = yield* Effect.acquireRelease(
                Effect.sync(() => ({ open: true })),
                (c) => Effect.sync(() => (c.open = false))
              )
              if (run > 1) yield* Deferred.await(gate)
              return `${dsn}: run ${run} read ${conn.open ? "through an open connection" : "through a released connection"}`
            })
          )
          yield* Effect.scoped(f("a"))
          yield* TestClock.adjust("61 seconds")
          // A stale hit from a caller whose scope closes before the refresh reads.
          assert.strictEqual(yield* Effect.scoped(f("a")), "a: run 1 read through an open connection")
          yield* until(() => runs === 2)
          yield* Deferred.succeed(gate, undefined)
          let served = ""
          for (let i = 0; i < 100 && !served.includes("run 2"); i++) {
            served = yield* Effect.scoped(f("a"))
            if (!served.includes("run 2")) yield* Effect.yieldNow
          }
          assert.strictEqual(served, "a: run 2 read through an open connection")
        })
      )
    )

    it.effect("a refresh that outlasts the window still replaces the entry, and the callers that waited for it get its value", () =>
      withCache(
        Effect.gen(function* () {
          let runs = 0
          const gate = yield* Deferred.make<void>()
          const f = DataCache.fn({ name: "swrLate", ttl: "1 minute", staleWhileRevalidate: "1 minute" }, (n: number) =>
            Effect.suspend(() => (++runs === 1 ? Effect.succeed({ n, run: 1 }) : Effect.as(Deferred.await(gate), { n, run: runs })))
          )
          yield* f(1)
          yield* TestClock.adjust("61 seconds")
          assert.strictEqual((yield* f(1)).run, 1, "stale, at once; the refresh starts")
          yield* until(() => runs === 2)
          yield* TestClock.adjust("1 minute")
          // The window is over: this caller waits for the refresh in flight.
          const waiting = yield* Effect.forkChild(f(1), { startImmediately: true })
          yield* Deferred.succeed(gate, undefined)
          assert.strictEqual((yield* Fiber.join(waiting)).run, 2)
          assert.strictEqual((yield* f(1)).run, 2, "the late refresh was stored")
          assert.strictEqual(runs, 2, "nothing ran a third time")
        })
      )
    )
  })

  describe("redefinitions", () => {
    it.effect("after a redefinition with a shorter ttl, every entry expires at it, from its own storedAt", () =>
      Effect.provideService(
        Effect.gen(function* () {
          const define = (ttl: string) => DataCache.fn({ name: "shortened", ttl }, (n: number) => Effect.succeed({ n }))
          const long = define("1 hour")
          yield* long(1)
          const short = define("1 minute")
          yield* short(2)
          yield* short(3)
          assert.strictEqual(yield* entriesGauge("shortened"), 3)
          yield* TestClock.adjust("30 seconds")
          assert.isTrue(yield* long.has(1))
          yield* TestClock.adjust("40 seconds")
          assert.strictEqual(yield* entriesGauge("shortened"), 0, "the sweep removed every entry past the new ttl")
          const stats = yield* short.stats
          assert.strictEqual(stats.expirations, 3)
          // Found by an outside trial: the entry stored under the old ttl kept it in memory, where a store's reader
          // applies the shorter ttl from the entry's storedAt (ttl-and-limits.md). Now both do.
          assert.isFalse(yield* long.has(1), "the entry stored under the old ttl expired at the new one, from its storedAt")
        }).pipe(Effect.provide(DataCache.layerMemory({ sweepInterval: "10 seconds" }))),
        Metric.MetricRegistry,
        new Map()
      )
    )
  })

  // Found by an outside trial: a redefinition's smaller maxEntries or maxBytes held only from its next miss; one
  // that only hit kept the table over its bounds.
  it.effect("a redefinition with a smaller maxEntries or maxBytes evicts down to it at once, on a hit too", () =>
    Effect.gen(function* () {
      const define = (bounds: { readonly maxEntries?: number; readonly maxBytes?: number }) =>
        DataCache.fn({ name: "bounded", ...bounds }, (n: number) => Effect.succeed(new Uint8Array(1_000).fill(n)))
      const wide = define({})
      for (let n = 0; n < 5; n++) yield* wide(n)
      const fewer = define({ maxEntries: 2 })
      yield* fewer(4) // a hit
      const stats = yield* fewer.stats
      assert.deepStrictEqual([stats.entries, stats.evictions, stats.misses], [2, 3, 5])
      assert.isTrue(yield* fewer.has(4), "the one just used stays")
      const smaller = define({ maxBytes: 1_500 })
      yield* smaller(4)
      assert.strictEqual((yield* smaller.stats).entries, 1)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  describe("TestClock", () => {
    it.live("with the layer and TestClock.layer() provided side by side, TTL runs on the calls' clock", () =>
      Effect.gen(function* () {
        let runs = 0
        const f = DataCache.fn({ name: "besideTestClock", ttl: "1 minute" }, (n: number) => Effect.sync(() => ++runs + n))
        yield* f(1)
        yield* TestClock.adjust("30 seconds")
        yield* f(1)
        yield* TestClock.adjust("91 seconds")
        yield* f(1)
        const stats = yield* f.stats
        assert.deepStrictEqual([runs, stats.expirations], [2, 1], "a miss, a hit, and a miss after the entry expired once")
      }).pipe(Effect.provide([DataCache.layerMemory(), TestClock.layer()]))
    )
  })

  describe("sessions", () => {
    it.live(
      "a module-level function used with a layer per session leaves nothing behind per finished session",
      () =>
        Effect.gen(function* () {
          const sessions = (n: number) =>
            Effect.gen(function* () {
              for (let i = 0; i < n; i++) yield* moduleLevel(i).pipe(Effect.provide(DataCache.layerMemory()))
            })
          const heapAfterGc = Effect.promise(async () => {
            // Let finalization callbacks run between two collections.
            gc()
            await new Promise((resolve) => setImmediate(resolve))
            gc()
            return process.memoryUsage().heapUsed
          })
          yield* sessions(1000)
          // Two measured batches; the smaller figure, as the other may include the heap's own growth.
          const perSession: Array<number> = []
          for (let batch = 0; batch < 2; batch++) {
            const before = yield* heapAfterGc
            yield* sessions(2500)
            perSession.push(((yield* heapAfterGc) - before) / 2500)
          }
          const least = Math.min(...perSession)
          assert.isBelow(least, 40, `${least.toFixed(1)} B per finished session`)
        }),
      20_000
    )
  })
})

const sweptEntries = (name: string) =>
  Effect.map(
    Metric.snapshot,
    (all) =>
      (all.find((m) => m.id === "recall_data_cache_entries" && m.attributes?.function === name)?.state as { value: number } | undefined)
        ?.value
  )

describe("DataCache: the sweep's clock and cycles of waits", () => {
  // The sweep sleeps on the calls' clock: the first computation tells the cache which clock that is
  // (here a TestClock provided beside the layer, not to it), and wakes the sweep to sleep on it.
  it.live("the sweep runs on the calls' clock when the layer is provided beside TestClock.layer()", () =>
    Effect.gen(function* () {
      const f = DataCache.fn({ name: "swept", ttl: "1 minute" }, (n: number) => Effect.succeed(n))
      yield* f(1)
      yield* TestClock.adjust("30 seconds")
      yield* f(1) // a hit: the cache learns the calls' clock here
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(yield* sweptEntries("swept"), 0, "swept after sweepInterval on the calls' clock")
    }).pipe(
      Effect.provide([DataCache.layerMemory({ sweepInterval: "1 minute" }), TestClock.layer()]),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  )

  // f(1) -> g(1) -> f(1): the wait that closes the cycle dies, and every waiter of the computations in
  // the cycle gets that defect, rather than one taking the failure's turn and closing it again.
  it.effect("two functions that call each other with the same arguments die once, without recomputing in a loop", () =>
    Effect.gen(function* () {
      let runs = 0
      const guard = <A>(next: () => Effect.Effect<A, never, DataCache.DataCache>) =>
        Effect.suspend(() => (++runs > 50 ? Effect.die(new Error("looping")) : next()))
      const f: (n: number) => Effect.Effect<number, never, DataCache.DataCache> = DataCache.fn("ping", (n: number) => guard(() => g(n)))
      const g: (n: number) => Effect.Effect<number, never, DataCache.DataCache> = DataCache.fn("pong", (n: number) => guard(() => f(n)))
      const exit = yield* Effect.exit(f(1))
      assert.isTrue(Exit.isFailure(exit) && Cause.pretty(exit.cause).includes("called itself"))
      assert.isAtMost(runs, 4, "each body ran about once")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
