import { assert, describe, it } from "@effect/vitest"
import { ResourceCache } from "@recall/core"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Logger, Scope } from "effect"
import { TestClock } from "effect/testing"
import { connections } from "./fixtures/connections.ts"

const withCache = <A, E>(effect: Effect.Effect<A, E, ResourceCache.ResourceCache>) => Effect.provide(effect, ResourceCache.layerMemory())

describe("ResourceCache", () => {
  describe("sharing", () => {
    it.effect("two callers get the identical instance, computed once", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
          const [a, b] = yield* Effect.all([connect("pg"), connect("pg")], { concurrency: 2 })
          assert.strictEqual(a, b)
          assert.strictEqual(yield* connect("pg"), a)
          assert.deepStrictEqual(db.opened, ["pg#1"])
          assert.notStrictEqual(yield* connect("other"), a)
          const stats = yield* connect.stats
          assert.strictEqual(stats.misses, 2)
          assert.strictEqual(stats.hits, 2)
        })
      )
    )

    it.effect("a body without a scope works too, and generator bodies run as Effect.fn", () =>
      withCache(
        Effect.gen(function* () {
          const model = ResourceCache.fn("model", function* (size: number) {
            yield* Effect.yieldNow
            return { weights: new Float64Array(size) }
          })
          const a = yield* model(4)
          assert.strictEqual(yield* model(4), a)
          assert.strictEqual(a.weights.length, 4)
        })
      )
    )
  })

  describe("release exactly once", () => {
    it.effect("for a resource acquired in an Effect.fn body, and in a generator body", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const viaFn = ResourceCache.fn(
            { name: "viaFn", version: 1 },
            Effect.fn("open")(function* (dsn: string) {
              return yield* db.open(dsn)
            })
          )
          const viaGenerator = ResourceCache.fn("viaGenerator", function* (dsn: string) {
            const conn = yield* db.open(dsn)
            return conn
          })
          const a = yield* viaFn("a")
          assert.strictEqual(yield* viaFn("a"), a)
          const b = yield* viaGenerator("b")
          assert.strictEqual(yield* viaGenerator("b"), b)
          assert.deepStrictEqual(db.closed, [], "the body's own end does not release it")
          yield* ResourceCache.clear
          assert.deepStrictEqual(db.closed.sort(), ["a#1", "b#2"])
        })
      )
    )

    it.effect("on LRU eviction", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn({ name: "connect", maxEntries: 1 }, (dsn: string) => db.open(dsn))
          yield* connect("a")
          yield* connect("b")
          assert.deepStrictEqual(db.closed, ["a#1"])
          assert.strictEqual((yield* connect.stats).evictions, 1)
        })
      )
    )

    it.effect("on ttl, at exactly storedAt + ttl", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn({ name: "connect", ttl: "10 seconds" }, (dsn: string) => db.open(dsn))
          const first = yield* connect("a")
          yield* TestClock.adjust("9999 millis")
          assert.strictEqual(yield* connect("a"), first)
          assert.deepStrictEqual(db.closed, [])
          yield* TestClock.adjust("1 millis")
          const second = yield* connect("a")
          assert.notStrictEqual(second, first)
          assert.deepStrictEqual(db.closed, ["a#1"])
          assert.isFalse(first.open)
        })
      )
    )

    it.effect("on expiry found by the layer's sweep, with nobody calling", () =>
      Effect.gen(function* () {
        const db = connections()
        const connect = ResourceCache.fn({ name: "connect", ttl: "1 second" }, (dsn: string) => db.open(dsn))
        yield* connect("a").pipe(
          Effect.andThen(TestClock.adjust("2 minutes")),
          Effect.andThen(Effect.sync(() => assert.deepStrictEqual(db.closed, ["a#1"]))),
          Effect.provide(ResourceCache.layerMemory({ sweepInterval: "1 minute" }))
        )
      })
    )

    it.effect("on invalidate, fn.clear and ResourceCache.clear", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
          yield* connect("a")
          yield* connect.invalidate("a")
          assert.deepStrictEqual(db.closed, ["a#1"])
          yield* connect.invalidate("a")
          assert.deepStrictEqual(db.closed, ["a#1"], "a second invalidate releases nothing")
          yield* connect("b")
          yield* connect.clear
          assert.deepStrictEqual(db.closed, ["a#1", "b#2"])
          yield* connect("c")
          yield* ResourceCache.clear
          assert.deepStrictEqual(db.closed, ["a#1", "b#2", "c#3"])
          assert.isFalse(yield* connect.has("c"))
        })
      )
    )

    it.effect("when the layer's scope closes", () =>
      Effect.gen(function* () {
        const db = connections()
        const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(ResourceCache.layerMemory(), scope)
        yield* Effect.all([connect("a"), connect("b")]).pipe(Effect.provideContext(context))
        assert.deepStrictEqual(db.closed, [])
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(db.closed.sort(), ["a#1", "b#2"])
      })
    )

    it.effect("a release that fails is logged, and the other entries are still released", () =>
      Effect.gen(function* () {
        const closed: Array<string> = []
        const logged: Array<string> = []
        const connect = ResourceCache.fn("connect", (dsn: string) =>
          Effect.acquireRelease(Effect.succeed(dsn), (d) =>
            d === "bad" ? Effect.die(new Error("close failed")) : Effect.sync(() => closed.push(d))
          )
        )
        const logger = Logger.make(({ message }) => logged.push(String(Array.isArray(message) ? message[0] : message)))
        yield* Effect.gen(function* () {
          yield* connect("bad")
          yield* connect("good")
          yield* ResourceCache.clear
        }).pipe(withCache, Effect.provide(Logger.layer([logger])))
        assert.deepStrictEqual(closed, ["good"])
        assert.isTrue(logged.some((line) => line.includes("release failed")))
      })
    )

    it.effect("a body that fails after acquiring releases what it acquired, and nothing is cached", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          let fail = true
          const connect = ResourceCache.fn("connect", (dsn: string) =>
            Effect.flatMap(db.open(dsn), (conn) => (fail ? Effect.fail("handshake failed" as const) : Effect.succeed(conn)))
          )
          const exit = yield* Effect.exit(connect("a"))
          assert.strictEqual(Exit.isFailure(exit) && Cause.squash(exit.cause), "handshake failed")
          assert.deepStrictEqual(db.closed, ["a#1"])
          fail = false
          const conn = yield* connect("a")
          assert.strictEqual(conn.id, "a#2")
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )

    it.effect(
      "a body interrupted after acquiring (the layer closed) releases what it acquired; a caller's interrupt does not interrupt it",
      () =>
        Effect.gen(function* () {
          const db = connections()
          const acquired = yield* Deferred.make<void>()
          const connect = ResourceCache.fn("connect", (dsn: string) =>
            Effect.flatMap(db.open(dsn), () => Effect.andThen(Deferred.succeed(acquired, undefined), Effect.never))
          )
          yield* Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(connect("a"))
            yield* Deferred.await(acquired)
            yield* Fiber.interrupt(fiber)
            assert.deepStrictEqual(db.closed, [], "the computation belongs to the cache and goes on")
          }).pipe(withCache)
          assert.deepStrictEqual(db.closed, ["a#1"], "closing the layer interrupted it, and released what it acquired")
        })
    )

    it.effect("an invalidate during the computation wins: the new instance is released, not stored", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const gate = yield* Deferred.make<void>()
          const connect = ResourceCache.fn("connect", (dsn: string) => Effect.andThen(Deferred.await(gate), db.open(dsn)))
          const fiber = yield* Effect.forkChild(connect("a"))
          yield* Effect.yieldNow
          yield* connect.invalidate("a")
          yield* Deferred.succeed(gate, undefined)
          const conn = yield* Fiber.join(fiber)
          assert.strictEqual(conn.id, "a#1")
          assert.deepStrictEqual(db.closed, ["a#1"])
          assert.isFalse(yield* connect.has("a"))
        })
      )
    )
  })

  describe("borrowing", () => {
    it.effect("use holds the instance: an invalidate meanwhile releases it when the body ends", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
          const result = yield* connect.use("a", (conn) =>
            Effect.gen(function* () {
              yield* connect.invalidate("a")
              assert.deepStrictEqual(db.closed, [], "not released under its borrower")
              assert.isTrue(conn.open)
              return conn.id
            })
          )
          assert.strictEqual(result, "a#1")
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )

    it.effect("the release waits for the last of several borrowers; plain calls do not hold", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
          const first = yield* Deferred.make<void>()
          const second = yield* Deferred.make<void>()
          const a = yield* Effect.forkChild(connect.use("a", () => Deferred.await(first)))
          const b = yield* Effect.forkChild(connect.use("a", () => Deferred.await(second)))
          yield* Effect.yieldNow
          yield* connect("a")
          yield* connect.clear
          yield* Deferred.succeed(first, undefined)
          yield* Fiber.join(a)
          assert.deepStrictEqual(db.closed, [])
          yield* Deferred.succeed(second, undefined)
          yield* Fiber.join(b)
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )

    it.effect("borrow holds the instance until the caller's scope closes", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn({ name: "connect", maxEntries: 1 }, (dsn: string) => db.open(dsn))
          yield* Effect.scoped(
            Effect.gen(function* () {
              const conn = yield* connect.borrow("a")
              yield* connect("b") // evicts "a"
              assert.isTrue(conn.open)
              assert.deepStrictEqual(db.closed, [])
            })
          )
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )

    it.effect("a borrow that fails or is interrupted ends, and the release still comes", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
          const exit = yield* Effect.exit(connect.use("a", () => Effect.fail("boom")))
          assert.isTrue(Exit.isFailure(exit))
          const fiber = yield* Effect.forkChild(connect.use("a", () => Effect.never))
          yield* Effect.yieldNow
          yield* connect.invalidate("a")
          assert.deepStrictEqual(db.closed, [])
          yield* Fiber.interrupt(fiber)
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )

    it.effect("a layer closing under a borrower releases the instance when the borrow ends", () =>
      Effect.gen(function* () {
        const db = connections()
        const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(ResourceCache.layerMemory(), scope)
        const done = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(connect.use("a", () => Deferred.await(done)).pipe(Effect.provideContext(context)))
        yield* Effect.yieldNow
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(db.closed, [])
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(db.closed, ["a#1"])
      })
    )
  })

  describe("validate", () => {
    it.effect("runs on hits, not on the computing call; false releases the instance and computes a new one", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const checked: Array<string> = []
          const connect = ResourceCache.fn(
            {
              name: "connect",
              validate: (conn) =>
                Effect.sync(() => {
                  checked.push(conn.id)
                  return conn.open
                })
            },
            (dsn: string) => db.open(dsn)
          )
          const first = yield* connect("a")
          assert.deepStrictEqual(checked, [])
          assert.strictEqual(yield* connect("a"), first)
          assert.deepStrictEqual(checked, ["a#1"])
          first.open = false // the server dropped it
          const second = yield* connect("a")
          assert.strictEqual(second.id, "a#2")
          assert.deepStrictEqual(db.closed, ["a#1"])
          assert.deepStrictEqual(checked, ["a#1", "a#1"])
        })
      )
    )

    it.effect("a failing validate is like false", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          let healthy = true
          const connect = ResourceCache.fn(
            { name: "connect", validate: () => (healthy ? Effect.succeed(true) : Effect.fail("ping timed out")) },
            (dsn: string) => db.open(dsn)
          )
          yield* connect("a")
          healthy = false
          const second = yield* connect("a")
          assert.strictEqual(second.id, "a#2")
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )

    it.effect("the instance is held while validate runs; if it leaves meanwhile, the caller gets a fresh one", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const inValidate = yield* Deferred.make<void>()
          const finish = yield* Deferred.make<boolean>()
          let calls = 0
          const connect = ResourceCache.fn(
            {
              name: "connect",
              validate: () =>
                ++calls === 1 ? Effect.andThen(Deferred.succeed(inValidate, undefined), Deferred.await(finish)) : Effect.succeed(true)
            },
            (dsn: string) => db.open(dsn)
          )
          yield* connect("a")
          const fiber = yield* Effect.forkChild(connect("a"))
          yield* Deferred.await(inValidate)
          yield* connect.invalidate("a")
          assert.deepStrictEqual(db.closed, [], "held by the running validate")
          yield* Deferred.succeed(finish, true)
          const conn = yield* Fiber.join(fiber)
          assert.strictEqual(conn.id, "a#2", "not the instance released under the check")
          assert.isTrue(conn.open)
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )
  })

  describe("bind", () => {
    it.effect("a bound function uses the cache it was bound to: calls, use, borrow and operations need none", () =>
      Effect.gen(function* () {
        const db = connections()
        const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
        const bound = yield* ResourceCache.bind(connect).pipe(withCache)
        // The layer that bound it is closed by now: its instances are released.
        const closedAtBind = [...db.closed]
        assert.deepStrictEqual(closedAtBind, [])
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(ResourceCache.layerMemory(), scope)
        const pool = yield* ResourceCache.bind(connect).pipe(Effect.provideContext(context))
        const a = yield* pool("a")
        assert.strictEqual(yield* pool.use("a", (conn) => Effect.succeed(conn)), a)
        assert.strictEqual(yield* Effect.scoped(pool.borrow("a")), a)
        assert.isTrue(yield* pool.has("a"))
        assert.strictEqual((yield* pool.stats).hits, 2)
        yield* pool.invalidate("a")
        assert.deepStrictEqual(db.closed, ["a#1"])
        yield* pool("b")
        yield* pool.clear
        assert.deepStrictEqual(db.closed, ["a#1", "b#2"])
        assert.strictEqual(bound.name, "connect")
        yield* Scope.close(scope, Exit.void)
      })
    )
  })

  describe("attacks", () => {
    it.effect("a validate that calls its own function with the same arguments ends (it counts as failed) instead of recursing", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          type Conn = { readonly id: string; open: boolean }
          // A validate needs no services in its type; one that reaches the cache anyway is a mistake recall survives.
          const connect: ResourceCache.ResourceFunction<[string], Conn, never, never> = ResourceCache.fn(
            {
              name: "connect",
              validate: (conn: Conn) => Effect.map(connect("a"), (again) => again === conn) as unknown as Effect.Effect<boolean>
            },
            (dsn: string) => db.open(dsn)
          )
          yield* connect("a")
          const second = yield* connect("a")
          assert.strictEqual(second.id, "a#2")
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )

    it.effect("a use body or a validate that returns no Effect dies, and the instance is still released", () =>
      Effect.gen(function* () {
        const db = connections()
        const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
        const checked = ResourceCache.fn({ name: "checked", validate: () => true as unknown as Effect.Effect<boolean> }, (dsn: string) =>
          db.open(dsn)
        )
        yield* Effect.gen(function* () {
          const exit = yield* Effect.exit(connect.use("a", (() => Promise.resolve(1)) as unknown as () => Effect.Effect<number>))
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
          yield* checked("b")
          // A validate that returns no Effect (an async function's Promise) is a bug, not a failed check:
          // it dies with a TypeError that says so, rather than silently opening an instance per call.
          const second = yield* Effect.exit(checked("b"))
          assert.isTrue(Exit.isFailure(second) && Cause.hasDies(second.cause))
          assert.include(String(Cause.squash((second as Exit.Failure<unknown, unknown>).cause)), "must return an Effect<boolean>")
          assert.deepStrictEqual(db.closed, [], "the instances stay cached")
        }).pipe(withCache)
        assert.deepStrictEqual(db.closed.sort(), ["a#1", "b#2"])
      })
    )
  })

  describe("sessions", () => {
    it.effect("a layer per session gives each its own instances, released when the session ends", () =>
      Effect.gen(function* () {
        const db = connections()
        const connect = ResourceCache.fn("connect", (dsn: string) => db.open(dsn))
        const session = (name: string) =>
          Effect.gen(function* () {
            const a = yield* connect("pg")
            const b = yield* connect("pg")
            assert.strictEqual(a, b)
            return `${name}:${a.id}`
          }).pipe(Effect.provide(ResourceCache.layerMemory()))
        const [one, two] = yield* Effect.all([session("one"), session("two")])
        assert.deepStrictEqual([one, two], ["one:pg#1", "two:pg#2"])
        assert.deepStrictEqual(db.closed.sort(), ["pg#1", "pg#2"])
      })
    )
  })

  describe("stale-while-revalidate", () => {
    it.effect("a stale instance is served while one refresh runs; the old one is released once replaced", () =>
      withCache(
        Effect.gen(function* () {
          const db = connections()
          const connect = ResourceCache.fn({ name: "connect", ttl: "1 minute", staleWhileRevalidate: "1 minute" }, (dsn: string) =>
            db.open(dsn)
          )
          const first = yield* connect("a")
          yield* TestClock.adjust("61 seconds")
          assert.strictEqual(yield* connect("a"), first, "stale, at once")
          yield* Effect.yieldNow
          yield* Effect.yieldNow
          const second = yield* connect("a")
          assert.strictEqual(second.id, "a#2")
          assert.deepStrictEqual(db.closed, ["a#1"])
        })
      )
    )
  })

  describe("options", () => {
    it("DataCache-only options are refused", () => {
      assert.throws(
        // @ts-expect-error: copy is a DataCache option
        () => ResourceCache.fn({ name: "connect", copy: "readonly" }, (dsn: string) => Effect.succeed(dsn)),
        /is a DataCache option/
      )
      assert.throws(
        // @ts-expect-error: validate must be a function
        () => ResourceCache.fn({ name: "connect", validate: true }, (dsn: string) => Effect.succeed(dsn)),
        /must be a function/
      )
    })
  })

  it.effect("errors of the body reach the caller, with their cause", () =>
    withCache(
      Effect.gen(function* () {
        const connect = ResourceCache.fn("connect", (_dsn: string) => Effect.die(new Error("no route")))
        const exit = yield* Effect.exit(connect("a"))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      })
    )
  )
})
