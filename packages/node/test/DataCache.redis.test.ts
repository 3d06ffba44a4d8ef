/**
 * DataCache.layerStore over the Redis store, on a real redis-server: a
 * restart is served from Redis, two caches over one Redis compute a key
 * once, a tampered or foreign-secret entry is a miss, and `recall --redis`
 * lists and clears what a program cached.
 */
import { type AddressInfo, createServer, type Server } from "node:net"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { CacheStore, NodeCacheStore } from "@recall/node"
import * as RecallCommand from "@recall/node/RecallCommand"
import { Cause, ConfigProvider, Console, Deferred, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { createClient, createCluster, RESP_TYPES } from "redis"
import { eventually } from "./fixtures/eventually.ts"
import { keysUnder, rawCommand, startRedisServer, useRedisCluster, useRedisServer } from "./fixtures/redisServer.ts"

const server = useRedisServer()
const cluster = useRedisCluster()

const SECRET = Redacted.make("a secret of at least sixteen bytes")

let prefixes = 0
/** A store of its own per test: a fresh key prefix on the one server. */
const freshPrefix = () => `t${process.pid}x${++prefixes}`

const cacheOver = (prefix: string, secret?: Redacted.Redacted<string>) =>
  DataCache.layerStore(secret === undefined ? {} : { secret }).pipe(
    Layer.provide(Layer.orDie(NodeCacheStore.layerRedis({ url: server().url, prefix })))
  )

const runCli = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const console: Console.Console = { ...globalThis.console, log: (...xs: ReadonlyArray<unknown>) => out.push(xs.join(" ")) }
    const exit = yield* RecallCommand.run(args).pipe(Effect.provideService(Console.Console, console), Effect.exit)
    return { out: out.join("\n"), exit }
  }).pipe(Effect.provide(NodeServices.layer))

describe("DataCache over Redis", () => {
  // Two layers over two instances of the store (as two processes have): a removal through one reaches the other's
  // front tier, which would otherwise serve its copy until it expired.
  it.live("an invalidate, a function's clear or DataCache.clear in one cache reaches the front tier of another over the same Redis", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const prefix = freshPrefix()
        let version = 1
        const data = DataCache.fn({ name: "data", ttl: "1 hour" }, (k: string) => Effect.sync(() => `${k}@v${version}`))
        const other = DataCache.fn({ name: "other", ttl: "1 hour" }, (k: string) => Effect.sync(() => `${k}@v${version}`))
        /** A cache over a store instance of its own, built once Redis answered (its notices then subscribed). */
        const cache = () =>
          Effect.gen(function* () {
            const store = yield* Layer.build(Layer.orDie(NodeCacheStore.layerRedis({ url: server().url, prefix })))
            yield* Effect.provide(
              Effect.flatMap(CacheStore.CacheStore, (s) => s.get("warm", "up")),
              store
            )
            return yield* Layer.build(DataCache.layerStore().pipe(Layer.provide(Layer.succeedContext(store))))
          })
        const a = yield* cache()
        const b = yield* cache()
        const inA = <X, E>(effect: Effect.Effect<X, E, DataCache.DataCache>) => Effect.provide(effect, a)
        const inB = <X, E>(effect: Effect.Effect<X, E, DataCache.DataCache>) => Effect.provide(effect, b)
        /** B's value, once its front tier dropped the old one (a notice comes soon, not at once). */
        const untilB = (f: typeof data, key: string, expected: string) => eventually(inB(f(key)), expected)
        assert.strictEqual(yield* inA(data("k")), "k@v1")
        assert.strictEqual(yield* inB(data("k")), "k@v1", "B reads A's entry and keeps it in front")
        assert.strictEqual(yield* inB(other("k")), "k@v1")
        version = 2
        yield* inA(data.invalidate("k"))
        assert.strictEqual(yield* untilB(data, "k", "k@v2"), "k@v2", "A's invalidate reached B's front tier")
        assert.strictEqual(yield* inB(other("k")), "k@v1", "another function's front copy stays")
        version = 3
        yield* inA(data.clear)
        assert.strictEqual(yield* untilB(data, "k", "k@v3"), "k@v3", "A's function clear reached B")
        version = 4
        yield* inA(DataCache.clear)
        assert.strictEqual(yield* untilB(other, "k", "k@v4"), "k@v4", "A's DataCache.clear reached B")
        // B's own removals: B's front is as after its own clear, and A hears them.
        version = 5
        yield* inB(DataCache.clear)
        assert.strictEqual(yield* inB(data("k")), "k@v5")
        assert.strictEqual(yield* eventually(inA(data("k")), "k@v5"), "k@v5")
      })
    )
  )

  it.live("a restart is served from Redis: the body runs once, the value is a fresh copy with its typed array", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      let runs = 0
      const frame = DataCache.fn({ name: "frame", ttl: "1 hour" }, (n: number) =>
        Effect.sync(() => {
          runs++
          return { n, values: Float64Array.from({ length: 1000 }, (_, i) => i * n) }
        })
      )
      const first = yield* Effect.provide(frame(3), cacheOver(prefix, SECRET))
      const [again, stats] = yield* Effect.provide(Effect.all([frame(3), frame.stats]), cacheOver(prefix, SECRET))
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual([stats.storeHits, stats.misses], [1, 0])
      assert.deepStrictEqual(Array.from(again.values), Array.from(first.values))
      assert.instanceOf(again.values, Float64Array)
    })
  )

  it.live("two caches over one Redis, 25 callers each, compute the key once; the other waits on the lock and reads it", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      let runs = 0
      const started = yield* Deferred.make<void>()
      const go = yield* Deferred.make<void>()
      const slow = DataCache.fn("slow", (n: number) =>
        Effect.gen(function* () {
          runs++
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(go)
          return n * 2
        })
      )
      const callers = (cache: Layer.Layer<DataCache.DataCache>) =>
        Effect.provide(
          Effect.all(
            Array.from({ length: 25 }, () => slow(21)),
            { concurrency: "unbounded" }
          ),
          cache
        )
      const a = yield* Effect.forkChild(callers(cacheOver(prefix)))
      yield* Deferred.await(started)
      // b's store tells when b found the lock held by a: b waits on it from then on.
      const bBlocked = yield* Deferred.make<void>()
      const bStore = Layer.effect(
        CacheStore.CacheStore,
        Effect.map(CacheStore.CacheStore, (store) => {
          const locks = store.locks!
          return CacheStore.make({
            ...store,
            locks: {
              ...locks,
              acquire: (namespace, key, ttl) =>
                Effect.tap(locks.acquire(namespace, key, ttl), (taken) =>
                  Option.isNone(taken) ? Deferred.succeed(bBlocked, undefined) : Effect.void
                )
            }
          })
        })
      ).pipe(Layer.provide(Layer.orDie(NodeCacheStore.layerRedis({ url: server().url, prefix }))))
      const b = yield* Effect.forkChild(callers(DataCache.layerStore().pipe(Layer.provide(bStore))))
      yield* Deferred.await(bBlocked)
      yield* Deferred.succeed(go, undefined)
      const [va, vb] = [yield* Fiber.join(a), yield* Fiber.join(b)]
      assert.isTrue([...va, ...vb].every((v) => v === 42))
      assert.strictEqual(runs, 1)
    })
  )

  it.live("an invalidate or clear in one cache wins over a computation in flight in another: its late result is not stored", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      for (const remove of ["invalidate", "clear", "clearAll"] as const) {
        let runs = 0
        const started = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        const compute = DataCache.fn(`late-${remove}`, (n: number) =>
          Effect.gen(function* () {
            runs++
            if (runs === 1) {
              yield* Deferred.succeed(started, undefined)
              yield* Deferred.await(go)
            }
            return { n, run: runs }
          })
        )
        // A computes; B removes while it runs; then A's value is returned to its caller, but not stored.
        const a = yield* Effect.forkChild(Effect.provide(compute(1), cacheOver(prefix)))
        yield* Deferred.await(started)
        yield* Effect.provide(
          remove === "invalidate" ? compute.invalidate(1) : remove === "clear" ? compute.clear : DataCache.clear,
          cacheOver(prefix)
        )
        yield* Deferred.succeed(go, undefined)
        assert.deepStrictEqual(yield* Fiber.join(a), { n: 1, run: 1 }, "the caller still gets its value")
        // A restart: nothing stale was left behind, so it computes again.
        assert.deepStrictEqual(yield* Effect.provide(compute(1), cacheOver(prefix)), { n: 1, run: 2 }, remove)
      }
    })
  )

  it.live("a hung Redis (SIGSTOP: connected, never answering) costs a call its storeTimeout; after SIGCONT it serves again", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => startRedisServer()),
      (own) =>
        Effect.gen(function* () {
          const prefix = freshPrefix()
          const layer = DataCache.layerStore({ storeTimeout: "300 millis" }).pipe(
            Layer.provide(Layer.orDie(NodeCacheStore.layerRedis({ url: own.url, prefix })))
          )
          let runs = 0
          const square = DataCache.fn("hung-square", (n: number) => Effect.sync(() => ({ n, square: n * n, run: ++runs })))
          // Stored: a layer's close waits for its writes.
          yield* Effect.provide(square(1), layer)
          yield* Effect.provide(
            Effect.gen(function* () {
              process.kill(own.pid()!, "SIGSTOP")
              // Ten callers on keys of their own: each read hangs until its deadline; each computes and returns.
              const start = Date.now()
              const values = yield* Effect.forEach(
                Array.from({ length: 10 }, (_, i) => i + 2),
                (n) => square(n),
                {
                  concurrency: "unbounded"
                }
              )
              const took = Date.now() - start
              assert.deepStrictEqual(
                values.map((v) => v.square),
                Array.from({ length: 10 }, (_, i) => (i + 2) ** 2)
              )
              // The read's 300 ms, and not node-redis's own 5 s command timeout (the store turns it off).
              assert.isBelow(took, 3_000, `the calls took ${took} ms`)
              assert.isAtLeast((yield* square.stats).storeErrors, 1)
            }),
            layer
          )
          process.kill(own.pid()!, "SIGCONT")
          // A new layer reads what was stored before the hang, once Redis answers (the breaker may hold it a few seconds).
          const deadline = Date.now() + 10_000
          while (true) {
            const [value, stats] = yield* Effect.provide(Effect.all([square(1), square.stats]), layer)
            assert.deepStrictEqual([value.n, value.square], [1, 1])
            if (stats.storeHits === 1) {
              assert.strictEqual(value.run, 1, "the stored value, not a recomputed one")
              break
            }
            assert.isBelow(Date.now(), deadline, "Redis serves again within 10 s of SIGCONT")
            yield* Effect.sleep("50 millis")
          }
        }),
      (own) =>
        Effect.promise(async () => {
          const pid = own.pid()
          if (pid !== undefined) process.kill(pid, "SIGCONT")
          await own.dispose()
        })
    )
  )

  it.live("an entry tampered with in Redis, or signed with another secret, is a miss: recomputed, right value", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      let runs = 0
      const value = DataCache.fn("value", (n: number) =>
        Effect.sync(() => {
          runs++
          return { n, text: "x".repeat(64) }
        })
      )
      yield* Effect.provide(value(1), cacheOver(prefix, SECRET))
      // Another secret: a miss (its names differ, so it does not even find the entry).
      yield* Effect.provide(value(1), cacheOver(prefix, Redacted.make("another secret, sixteen bytes or more")))
      assert.strictEqual(runs, 2)
      // Flip one byte of every stored value under the prefix, straight in Redis.
      const keys = yield* Effect.promise(() => keysUnder(server().url, prefix))
      const flipped = yield* Effect.promise(async () => {
        const client = createClient({ url: server().url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
        await client.connect()
        let count = 0
        try {
          for (const key of keys) {
            if ((await client.type(key)) !== "string") continue
            const bytes = await client.get(key)
            if (bytes === null || bytes.length < 200) continue
            bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 0x01
            await client.set(key, bytes, { KEEPTTL: true })
            count++
          }
        } finally {
          client.destroy()
        }
        return count
      })
      assert.isAtLeast(flipped, 1)
      const got = yield* Effect.provide(value(1), cacheOver(prefix, SECRET))
      assert.deepStrictEqual(got, { n: 1, text: "x".repeat(64) })
      assert.strictEqual(runs, 3, "the tampered entry was not used")
    })
  )

  // Found by a stranger trial: a URL that did not parse (a bad port) was printed whole, password and all.
  it.live("recall --redis never shows the URL's password, also when the URL does not parse", () =>
    Effect.gen(function* () {
      for (const url of [
        "redis://app:hunter2@127.0.0.1:notaport",
        "redis://app:hunter2@127.0.0.1:99999",
        "redis://:hu/nter2@127.0.0.1:1",
        // Found by an attack trial: a slash short, the URL parses with no host and its credentials in the path.
        "redis:/app:hunter2@127.0.0.1:6379",
        "redis:app:hunter2@127.0.0.1:6379",
        "redis://app:hunter2@127.0.0.1:6379@extra:1"
      ]) {
        const run = yield* runCli(["ls", "--redis", url])
        assert.isTrue(Exit.isFailure(run.exit), url)
        const said = `${run.out} ${Exit.isFailure(run.exit) ? String(Cause.squash(run.exit.cause)) : ""} ${
          Exit.isFailure(run.exit) ? JSON.stringify(Cause.squash(run.exit.cause)) : ""
        }`
        assert.notInclude(said, "hunter2", url)
        assert.notInclude(said, "hu/nter2", url)
      }
    })
  )

  // Found by a spec trial: against a node of a Redis Cluster, the command saw that node's keys only, and said
  // "Cleared everything" while two thirds of the entries stayed on the other masters.
  it.live("recall --redis with the URL of one node of a Redis Cluster lists and clears on every master", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const client: NodeCacheStore.RedisClusterClient = createCluster({ rootNodes: [...cluster().rootNodes] })
      client.on("error", () => {})
      yield* Effect.promise(() => client.connect())
      const names = Array.from({ length: 8 }, (_, i) => `fn${i}`)
      const fns = names.map((name) => DataCache.fn(name, (n: number) => Effect.succeed({ name, n })))
      yield* Effect.forEach(fns, (fn) => Effect.all([fn(1), fn(2)]), { discard: true }).pipe(
        Effect.provide(DataCache.layerStore().pipe(Layer.provide(Layer.orDie(NodeCacheStore.layerRedis({ client, prefix })))))
      )
      // The writes are in the background: each function's namespace lands on a master of its own hash tag.
      const entriesOnEvery = () =>
        Effect.promise(async () => {
          const counts: Array<number> = []
          for (const master of client.masters) {
            const node = await client.nodeClient(master)
            let n = 0
            for await (const batch of node.scanIterator({ MATCH: `${prefix}:*:e:*`, COUNT: 1000 })) n += batch.length
            counts.push(n)
          }
          return counts
        })
      const total = Effect.map(entriesOnEvery(), (counts) => counts.reduce((a, b) => a + b, 0))
      assert.strictEqual(yield* eventually(total, 16), 16)
      const spread = yield* entriesOnEvery()
      assert.isAbove(spread.filter((n) => n > 0).length, 1, "the entries are on more than one master")
      const one = cluster().rootNodes[0]!.url
      const listed = yield* runCli(["ls", "--redis", one, "--prefix", prefix, "--json"])
      assert.isTrue(Exit.isSuccess(listed.exit), listed.out)
      const doc = JSON.parse(listed.out) as { functions: Array<{ name: string; entries: number }> }
      assert.deepStrictEqual(
        doc.functions.map((f) => [f.name, f.entries]),
        names.map((name) => [name, 2])
      )
      const cleared = yield* runCli(["clear", "--redis", one, "--prefix", prefix])
      assert.isTrue(Exit.isSuccess(cleared.exit), cleared.out)
      assert.include(cleared.out, "16 entries")
      assert.deepStrictEqual(
        yield* entriesOnEvery(),
        spread.map(() => 0)
      )
      yield* Effect.promise(() => client.close())
    })
  )

  // Found by an attack trial: the command's probe for a cluster waited forever on a Redis that accepts
  // connections and never answers (stopped with SIGSTOP), and SIGTERM did not end it.
  it.live("recall --redis against a Redis that accepts connections and never answers fails in seconds, saying so", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => startRedisServer()),
      (stopped) =>
        Effect.gen(function* () {
          process.kill(stopped.pid()!, "SIGSTOP")
          const started = Date.now()
          const run = yield* runCli(["stats", "--redis", stopped.url])
          assert.isTrue(Exit.isFailure(run.exit))
          const said = String(Exit.isFailure(run.exit) ? Cause.squash(run.exit.cause) : "")
          assert.include(said, "not connected to Redis")
          // With the reason (an outside trial saw only "reconnecting").
          assert.include(said, "the server has not answered yet")
          assert.isBelow(Date.now() - started, 15_000)
        }),
      (stopped) =>
        Effect.promise(async () => {
          const pid = stopped.pid()
          if (pid !== undefined) process.kill(pid, "SIGCONT")
          await stopped.dispose()
        })
    )
  )

  // Found by an outside trial: a Redis that wants a password gave the server's own NOAUTH text, and no word of how to
  // give it one.
  it.live("recall --redis against a Redis that wants a password says how to give it one", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => startRedisServer()),
      (guarded) =>
        Effect.gen(function* () {
          assert.strictEqual(yield* Effect.promise(() => rawCommand(guarded.port, "CONFIG SET requirepass s3cret")), "+OK\r\n")
          const refused = yield* runCli(["stats", "--redis", guarded.url])
          const said = String(Exit.isFailure(refused.exit) ? Cause.squash(refused.exit.cause) : "")
          assert.include(said, "NOAUTH")
          assert.include(said, "this Redis wants a password; put it in the URL (redis://:PASSWORD@host:port")
          const allowed = yield* runCli(["stats", "--redis", `redis://:s3cret@127.0.0.1:${guarded.port}`, "--json"])
          assert.isTrue(Exit.isSuccess(allowed.exit), allowed.out)
          assert.notInclude(allowed.out, "s3cret")
        }),
      (guarded) => Effect.promise(() => guarded.dispose())
    )
  )

  // Found by an operations trial: a redis:// url pointed at a TLS port said only "read ECONNRESET".
  it.live("recall --redis with redis:// against a port that resets plain connections (TLS) says to use rediss://", () =>
    Effect.acquireUseRelease(
      Effect.promise(
        () =>
          new Promise<Server>((resolve) => {
            // What a TLS port does with a plain client's first bytes: resets the connection.
            const server = createServer((socket) => socket.on("data", () => socket.resetAndDestroy()))
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
      ),
      (server) =>
        Effect.gen(function* () {
          const { port } = server.address() as AddressInfo
          const run = yield* runCli(["stats", "--redis", `redis://127.0.0.1:${port}`])
          const said = String(Exit.isFailure(run.exit) ? Cause.squash(run.exit.cause) : "")
          assert.include(said, "ECONNRESET")
          assert.include(said, "if that port speaks TLS, use a rediss:// url")
          // The command stops at the first failure: no word of a client that keeps trying.
          assert.notInclude(said, "keeps trying")
        }),
      (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
    )
  )

  it.live("recall --redis lists the functions a program cached there, and clears one", () =>
    Effect.gen(function* () {
      const prefix = freshPrefix()
      const report = DataCache.fn("report", (month: number) => Effect.succeed({ month }))
      const users = DataCache.fn("users", (id: string) => Effect.succeed({ id }))
      yield* Effect.provide(Effect.all([report(1), report(2), users("ada")]), cacheOver(prefix))
      const listed = yield* runCli(["ls", "--redis", server().url, "--prefix", prefix, "--json"])
      assert.isTrue(Exit.isSuccess(listed.exit), listed.out)
      const doc = JSON.parse(listed.out) as { redis: string; functions: Array<{ name: string; entries: number }> }
      assert.strictEqual(doc.redis, server().url)
      assert.deepStrictEqual(
        doc.functions.map((f) => [f.name, f.entries]),
        [
          ["report", 2],
          ["users", 1]
        ]
      )
      const cleared = yield* runCli(["clear", "users", "--redis", server().url, "--prefix", prefix, "--json"])
      assert.deepStrictEqual((JSON.parse(cleared.out) as { cleared: Array<string> }).cleared, [users.id])
      const after = JSON.parse((yield* runCli(["ls", "--redis", server().url, "--prefix", prefix, "--json"])).out) as {
        functions: Array<{ name: string }>
      }
      assert.deepStrictEqual(
        after.functions.map((f) => f.name),
        ["report"]
      )
      // The default prefix holds nothing of this test's.
      const other = JSON.parse((yield* runCli(["ls", "--redis", server().url, "--json"])).out) as { functions: Array<unknown> }
      assert.deepStrictEqual(other.functions, [])
      // Found by a stranger trial: without --prefix the command said "nothing" and gave no clue why.
      const hinted = yield* runCli(["ls", "--redis", server().url])
      assert.include(hinted.out, "No cached functions in")
      assert.include(hinted.out, "Other key prefixes there hold recall's entries")
      assert.include(hinted.out, prefix)
      const named = yield* runCli(["clear", "report", "--redis", server().url])
      assert.include(named.out, `Nothing cached for report`)
      assert.include(named.out, prefix)
      const both = yield* runCli(["ls", "--redis", server().url, "--dir", "/tmp"])
      assert.isTrue(Exit.isFailure(both.exit))
      // The shared flags go before the subcommand's name too.
      const before = JSON.parse((yield* runCli(["--redis", server().url, "--prefix", prefix, "ls", "--json"])).out) as {
        prefix: string
        functions: Array<{ name: string }>
      }
      assert.strictEqual(before.prefix, prefix)
      assert.deepStrictEqual(
        before.functions.map((f) => f.name),
        ["report"]
      )
      // As NodeCacheStore.layerRedisConfig does, the command reads RECALL_REDIS_URL and RECALL_REDIS_PREFIX.
      const environment = ConfigProvider.fromUnknown({ RECALL_REDIS_URL: server().url, RECALL_REDIS_PREFIX: prefix })
      const fromEnvironment = yield* runCli(["ls"]).pipe(Effect.provideService(ConfigProvider.ConfigProvider, environment))
      assert.isTrue(Exit.isSuccess(fromEnvironment.exit), fromEnvironment.out)
      assert.include(fromEnvironment.out, `(key prefix ${prefix})`)
      assert.include(fromEnvironment.out, "report")
    })
  )
})
