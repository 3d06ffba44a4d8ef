/**
 * The Redis store (`NodeCacheStore.layerRedis`): the CacheStore contract
 * (with locks) against a real redis-server and a real three-node Redis
 * Cluster (both with `KEYS` renamed away, so nothing here may use it), then
 * what only Redis has: one slot per namespace on a cluster, the keys'
 * expiry in Redis, release messages, a prefix per store, and Redis stopped
 * and started again (by pid) under the store, or down when the layer is
 * built.
 */
import { createHash } from "node:crypto"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { CacheStore, NodeCacheStore } from "@recall/node"
import { Cause, ConfigProvider, Effect, Exit, Fiber, Layer, Option } from "effect"
import { createClient, createCluster } from "redis"
import * as Redis5 from "redis5"
import { storeConformance } from "../../core/test/fixtures/storeConformance.ts"
import { captureLogs } from "../../core/test/fixtures/storeHarness.ts"
import { freePort, rawCommand, startRedisServer, useRedisCluster, useRedisServer } from "./fixtures/redisServer.ts"

// No KEYS on these servers: listing and clearing must scan.
const NO_KEYS = ["--rename-command", "KEYS", ""]
const server = useRedisServer({ args: NO_KEYS })
const cluster = useRedisCluster({ args: NO_KEYS })
// No APPEND either: a large write's second part fails there.
const noAppend = useRedisServer({ args: [...NO_KEYS, "--rename-command", "APPEND", ""] })

let prefixes = 0
/** A prefix of its own per store, so that tests sharing one server never see each other's keys. */
const freshPrefix = () => `recall-test-${process.pid}-${++prefixes}`

let clusterClient: NodeCacheStore.RedisClusterClient | undefined
beforeAll(async () => {
  clusterClient = createCluster({ rootNodes: [...cluster().rootNodes] })
  clusterClient.on("error", () => {})
  await clusterClient.connect()
}, 120_000)
afterAll(async () => {
  if (clusterClient?.isOpen) clusterClient.destroy()
})

const onServer = (prefix = freshPrefix()) => NodeCacheStore.layerRedis({ url: server().url, prefix }).pipe(Layer.orDie)
const onCluster = (prefix = freshPrefix()) => NodeCacheStore.layerRedis({ client: clusterClient!, prefix }).pipe(Layer.orDie)

const withStore = <A, E>(layer: Layer.Layer<CacheStore.CacheStore>, body: (store: CacheStore.Service) => Effect.Effect<A, E>) =>
  Effect.flatMap(CacheStore.CacheStore, body).pipe(Effect.provide(layer))

const newClient = (url: string) => createClient({ url })

/** A plain node-redis client of the test's own, for looking at what the store wrote. */
const inspect = <A>(url: string, f: (client: ReturnType<typeof newClient>) => Promise<A>) =>
  Effect.promise(async () => {
    const client = newClient(url)
    client.on("error", () => {})
    await client.connect()
    try {
      return await f(client)
    } finally {
      client.destroy()
    }
  })

/** Every key of `prefix` on the server. */
const serverKeys = (prefix: string) =>
  inspect(server().url, async (client) => {
    const keys: Array<string> = []
    for await (const batch of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) keys.push(...batch.map(String))
    return keys
  })

/** Every key of `prefix` on the cluster, scanned on each master. */
const clusterKeys = (prefix: string) =>
  Effect.promise(async () => {
    const keys: Array<string> = []
    for (const master of clusterClient!.masters) {
      const node = await clusterClient!.nodeClient(master)
      for await (const batch of node.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) keys.push(...batch.map(String))
    }
    return keys
  })

const bytesOf = (...values: ReadonlyArray<number>) => new Uint8Array(values)

for (const [name, on] of [
  ["NodeCacheStore.layerRedis", onServer],
  ["NodeCacheStore.layerRedis on a Redis Cluster", onCluster]
] as const) {
  storeConformance(name, () => on(), {
    locks: true,
    generations: true,
    notices: () => {
      const prefix = freshPrefix()
      return [on(prefix), on(prefix), on(`${prefix}-other`)]
    }
  })
}

/** Each kind of Redis, its store's layer, and how to list its keys. */
const SERVER_AND_CLUSTER = [
  ["a server", onServer, serverKeys],
  ["a cluster", onCluster, clusterKeys]
] as const

describe("NodeCacheStore.layerRedis in Redis", () => {
  it.effect("the servers have no KEYS command: listing and clearing scan", () =>
    Effect.gen(function* () {
      const reply = yield* Effect.promise(() => rawCommand(server().port, "KEYS *"))
      assert.match(reply ?? "", /^-ERR unknown command/)
      const prefix = freshPrefix()
      yield* withStore(onServer(prefix), (store) =>
        Effect.gen(function* () {
          for (let i = 0; i < 30; i++) yield* store.set(`ns${i % 3}`, `k${i}`, bytesOf(i), Infinity)
          assert.deepStrictEqual(yield* store.stats, { namespaces: 3, entries: 30, bytes: 30 })
          yield* store.clearAll
          assert.deepStrictEqual(yield* store.stats, { namespaces: 0, entries: 0, bytes: 0 })
        })
      )
      const left = yield* inspect(server().url, async (client) => {
        const keys: Array<string> = []
        for await (const batch of client.scanIterator({ MATCH: `${prefix}:*` })) keys.push(...batch)
        return Promise.all(keys.map(async (key) => [key, await client.pTTL(key)] as const))
      })
      // Only the namespaces' generations stay (so late writes of computations in flight are refused), and they expire.
      assert.deepStrictEqual(
        left.filter(([key]) => !key.endsWith("}:g")),
        []
      )
      assert.lengthOf(left, 3)
      for (const [, ttl] of left) assert.isAbove(ttl, 0)
    })
  )

  it.effect("an index Redis evicted (allkeys-lru): clearNamespace still deletes every entry of the namespace", () =>
    Effect.gen(function* () {
      const onOne = { layer: onServer, keys: serverKeys, del: (key: string) => inspect(server().url, (c) => c.del(key)) }
      const onMany = {
        layer: onCluster,
        keys: clusterKeys,
        del: (key: string) => Effect.promise(() => clusterClient!.sendCommand(key, false, ["DEL", key]))
      }
      for (const on of [onOne, onMany]) {
        const prefix = freshPrefix()
        yield* withStore(on.layer(prefix), (store) =>
          Effect.gen(function* () {
            for (let i = 0; i < 20; i++) yield* store.set("evicted", `k${i}`, bytesOf(i), Infinity)
            yield* store.set("kept", "k", bytesOf(99), Infinity)
            // Redis drops the namespaces' indexes (their :i and :m keys), as it may drop any key; more entries come.
            for (const key of (yield* on.keys(prefix)).filter((key) => /\}:[im]$/.test(key))) yield* on.del(key)
            for (let i = 20; i < 25; i++) yield* store.set("evicted", `k${i}`, bytesOf(i), Infinity)
            yield* store.clearNamespace("evicted")
            for (let i = 0; i < 25; i++) assert.isTrue(Option.isNone(yield* store.get("evicted", `k${i}`)), `k${i} is gone`)
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("kept", "k")).bytes, bytesOf(99))
            assert.lengthOf(
              (yield* on.keys(prefix)).filter((key) => key.includes(":e:")),
              1
            )
          })
        )
      }
    })
  )

  it.effect(
    "an index key of another type (written by hand): writes fail with CacheStoreError before writing anything; removals and clears work",
    () =>
      Effect.gen(function* () {
        const prefix = freshPrefix()
        yield* withStore(onServer(prefix), (store) =>
          Effect.gen(function* () {
            yield* store.set("damaged", "old", bytesOf(1), Infinity)
            const index = (yield* serverKeys(prefix)).find((key) => key.endsWith("}:i"))!
            yield* Effect.promise(() => rawCommand(server().port, `DEL ${index}`))
            yield* Effect.promise(() => rawCommand(server().port, `SET ${index} notazset`))
            const exit = yield* Effect.exit(store.set("damaged", "new", bytesOf(2), Infinity))
            assert.isTrue(Exit.isFailure(exit))
            assert.match(JSON.stringify(exit), /CacheStoreError.*another type; delete those keys/)
            assert.isTrue(Option.isNone(yield* store.get("damaged", "new")), "nothing written")
            // The rest of the store still lists; a delete and a clear of the namespace work, and repair it.
            yield* store.set("fine", "k", bytesOf(3), Infinity)
            assert.deepStrictEqual(
              (yield* store.list).map((info) => info.namespace),
              ["fine"]
            )
            yield* store.delete("damaged", "old")
            assert.isTrue(Option.isNone(yield* store.get("damaged", "old")))
            yield* store.clearNamespace("damaged")
            yield* store.set("damaged", "new", bytesOf(2), Infinity)
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("damaged", "new")).bytes, bytesOf(2))
          })
        )
      })
  )

  it.effect("on a cluster, an entry, its lock and its namespace's index are on one slot", () => {
    const prefix = freshPrefix()
    return withStore(onCluster(prefix), (store) =>
      Effect.gen(function* () {
        yield* store.set("report:1f2e", "c0ffee", bytesOf(1, 2, 3), Infinity)
        yield* store.set("report:1f2e", "decaf", bytesOf(4), Infinity)
        yield* store.locks!.acquire("report:1f2e", "c0ffee", "1 minute")
        yield* store.set("users:9", "c0ffee", bytesOf(5), Infinity)
        const keys = (yield* clusterKeys(prefix)).sort()
        const slots = yield* Effect.promise(() =>
          Promise.all(
            keys.map(async (key) => [key, Number(await clusterClient!.sendCommand(key, true, ["CLUSTER", "KEYSLOT", key]))] as const)
          )
        )
        const byTag = new Map<string, Set<number>>()
        for (const [key, slot] of slots) {
          const tag = key.slice(key.indexOf("{"), key.indexOf("}") + 1)
          byTag.set(tag, (byTag.get(tag) ?? new Set()).add(slot))
        }
        // Two namespaces; report:1f2e has two entries, an index (i, m) and a lock: five keys on one slot.
        assert.strictEqual(byTag.size, 2)
        const kinds = (tag: string) =>
          keys
            .filter((key) => key.includes(tag))
            .map((key) => key.slice(key.indexOf("}") + 2).split(":")[0])
            .sort()
        const reportTag = [...byTag.keys()].find((tag) => kinds(tag).includes("l"))!
        assert.deepStrictEqual(kinds(reportTag), ["e", "e", "i", "l", "m"])
        for (const set of byTag.values()) assert.strictEqual(set.size, 1, "one slot per namespace")
      })
    )
  })

  it.live("set gives the entry a Redis expiry (PX) of the time left; Infinity none; names are hashes", () => {
    const prefix = freshPrefix()
    return withStore(onServer(prefix), (store) =>
      Effect.gen(function* () {
        const at = Date.now()
        yield* store.set("loadReport:secret", "city=Oslo&token=hunter2", bytesOf(1), at + 60_000)
        yield* store.set("loadReport:secret", "forever", bytesOf(2), Infinity)
        const ttls = yield* inspect(server().url, async (client) => {
          const keys: Array<string> = []
          for await (const batch of client.scanIterator({ MATCH: `${prefix}:*:e:*` })) keys.push(...batch)
          return Promise.all(keys.map(async (key) => [key, await client.pTTL(key)] as const))
        })
        assert.strictEqual(ttls.length, 2)
        const finite = ttls.map(([, ttl]) => ttl).sort((a, b) => a - b)
        assert.strictEqual(finite[0], -1, "no expiry for Infinity")
        assert.isTrue(finite[1]! > 50_000 && finite[1]! <= 60_000, `PX about 60 s, got ${finite[1]}`)
        for (const [key] of ttls) {
          assert.notInclude(key, "Oslo")
          assert.notInclude(key, "loadReport")
          assert.match(key, new RegExp(`^${prefix}:\\{[0-9a-f]{32}\\}:e:[0-9a-f]{32}$`))
        }
      })
    )
  })

  for (const [where, on, keysOf] of SERVER_AND_CLUSTER) {
    // A script's arguments are copied into Lua and out: a large value goes in by a SET of a temporary key, then a move.
    it.live(
      `on ${where}, a large value is written apart and moved into place: its PX, a generation's refusal, no temporary key left`,
      () => {
        const prefix = freshPrefix()
        return withStore(on(prefix), (store) =>
          Effect.gen(function* () {
            const large = (n: number) => Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7 + n) % 256)
            const renames = () =>
              where === "a server"
                ? inspect(server().url, async (client) =>
                    Number(/cmdstat_rename:calls=(\d+)/.exec(await client.info("commandstats"))?.[1] ?? 0)
                  )
                : Effect.succeed<number | undefined>(undefined)
            const renamesBefore = yield* renames()
            const at = Date.now()
            yield* store.set("large:ns", "timed", large(1), at + 60_000)
            yield* store.set("large:ns", "doomed", large(2), Infinity)
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("large:ns", "timed")).bytes, large(1))
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("large:ns", "doomed")).bytes, large(2))
            const generations = store.generations!
            const begun = yield* generations.current("large:ns")
            assert.isTrue(yield* generations.setIf("large:ns", "current", large(3), Infinity, begun))
            yield* store.delete("large:ns", "doomed")
            assert.isFalse(yield* generations.setIf("large:ns", "late", large(4), Infinity, begun), "begun before the delete")
            assert.isTrue(Option.isNone(yield* store.get("large:ns", "late")))
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("large:ns", "current")).bytes, large(3))
            const renamesAfter = yield* renames()
            if (renamesBefore !== undefined) assert.strictEqual(renamesAfter! - renamesBefore, 3, "each written value moved into place")
            const keys = yield* keysOf(prefix)
            assert.deepStrictEqual(
              keys.filter((key) => key.includes(":t:")),
              [],
              "no temporary key stays, written or refused"
            )
            const ttls = yield* Effect.promise(() =>
              Promise.all(
                keys
                  .filter((key) => key.includes(":e:"))
                  .map(
                    (key): Promise<number> =>
                      where === "a server"
                        ? Effect.runPromise(inspect(server().url, (client) => client.pTTL(key)))
                        : clusterClient!.pTTL(key).then(Number)
                  )
              )
            )
            const sorted = ttls.sort((a, b) => a - b)
            assert.strictEqual(sorted.length, 2, "timed and current")
            assert.strictEqual(sorted[0], -1, "current: no expiry")
            assert.isTrue(sorted[1]! > 50_000 && sorted[1]! <= 60_000, `timed: PX about 60 s, got ${sorted[1]}`)
          })
        )
      }
    )
  }

  it.effect(
    "a large write whose payload's part fails (no APPEND) fails with CacheStoreError, writes nothing, and keeps what was there",
    () =>
      withStore(NodeCacheStore.layerRedis({ url: noAppend().url, prefix: freshPrefix() }).pipe(Layer.orDie), (store) =>
        Effect.gen(function* () {
          const large = Uint8Array.from({ length: 100_000 }, (_, i) => i % 256)
          // Twice: the first loads the script that moves a value into place (EVALSHA, then EVAL), so the second
          // sends its three commands at once, the move right behind the failed part.
          for (const attempt of [1, 2]) {
            yield* store.set("large:ns", "k", bytesOf(1, 2, 3), Infinity)
            const failed = yield* Effect.flip(store.set("large:ns", "k", large, Infinity))
            assert.strictEqual(failed._tag, "CacheStoreError")
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("large:ns", "k")).bytes, bytesOf(1, 2, 3), `attempt ${attempt}`)
          }
          const temporary = yield* inspect(noAppend().url, async (client) => {
            const keys: Array<string> = []
            for await (const batch of client.scanIterator({ MATCH: "*:t:*" })) keys.push(...batch.map(String))
            return keys
          })
          assert.deepStrictEqual(temporary, [], "the head alone was not kept")
        })
      )
  )

  // Found by an attack trial: with the index or the names evicted (allkeys-lru), `recall clear NAME` said
  // "Nothing cached" and left the entries, which fresh processes went on reading.
  for (const [where, on, keysOf] of SERVER_AND_CLUSTER) {
    it.effect(`on ${where}, list finds the entries of a namespace whose index or names Redis lost, and puts them back in its index`, () => {
      const prefix = freshPrefix()
      const del = (key: string) =>
        where === "a server"
          ? inspect(server().url, (client) => client.del(key)).pipe(Effect.asVoid)
          : Effect.promise(() => clusterClient!.del(key)).pipe(Effect.asVoid)
      return withStore(on(prefix), (store) =>
        Effect.gen(function* () {
          for (let i = 0; i < 3; i++) yield* store.set("calc:1f2e", `k${i}`, bytesOf(i, i), Infinity)
          for (let i = 0; i < 2; i++) yield* store.set("other:9", `k${i}`, bytesOf(i), Date.now() + 60_000)
          const keys = yield* keysOf(prefix)
          const baseOf = (namespaceKey: string) => namespaceKey.slice(0, namespaceKey.indexOf("}") + 1)
          // Which base is which: calc's has three entries.
          const bases = [...new Set(keys.filter((key) => key.includes(":e:")).map(baseOf))]
          assert.strictEqual(bases.length, 2)
          const before = yield* store.list
          const calcBase = bases.find((b) => keys.filter((key) => key.startsWith(`${b}:e:`)).length === 3)!
          const otherBase = bases.find((b) => b !== calcBase)!
          yield* del(`${calcBase}:i`)
          yield* del(`${otherBase}:m`)
          const listed = (yield* store.list).map(({ namespace, entries }) => [namespace, entries] as const).sort()
          assert.deepStrictEqual(listed, [
            ["calc:1f2e", 3],
            ["other:9", 2]
          ])
          assert.deepStrictEqual(listed, before.map(({ namespace, entries }) => [namespace, entries] as const).sort(), "as before the loss")
          assert.include(yield* keysOf(prefix), `${calcBase}:i`, "the index is back")
          assert.include(yield* keysOf(prefix), `${otherBase}:m`, "the names are back")
          yield* store.clearNamespace("calc:1f2e")
          assert.isTrue(Option.isNone(yield* store.get("calc:1f2e", "k0")))
          assert.deepStrictEqual(
            (yield* store.list).map(({ namespace }) => namespace),
            ["other:9"]
          )
        })
      )
    })
  }

  // Found by a spec trial (on disk; the Redis store did the same): a value that is not the key's entry was a
  // silent miss, and stayed.
  it.effect(
    "a value that is not the key's entry (cut short, garbage, another key's) is a miss, deleted, one warning naming the key",
    () => {
      const prefix = freshPrefix()
      const logs = captureLogs()
      return withStore(onServer(prefix), (store) =>
        Effect.gen(function* () {
          yield* store.set("ns", "mine", bytesOf(1, 2, 3), Infinity)
          yield* store.set("ns", "victim", bytesOf(4), Infinity)
          const keys = (yield* serverKeys(prefix)).filter((key) => key.includes(":e:"))
          const mine = keys.find((key) => key.endsWith(createHash("sha256").update("mine").digest("hex").slice(0, 32)))!
          const victim = keys.find((key) => key !== mine)!
          for (const [label, damage] of [
            ["cut short", (client: ReturnType<typeof newClient>) => client.set(victim, "RRS1")],
            ["garbage", (client: ReturnType<typeof newClient>) => client.set(victim, Buffer.alloc(100, 7))],
            ["another key's", async (client: ReturnType<typeof newClient>) => void (await client.copy(mine, victim, { REPLACE: true }))]
          ] as const) {
            yield* inspect(server().url, async (client) => void (await damage(client)))
            assert.isTrue(Option.isNone(yield* store.get("ns", "victim")), label)
            assert.deepStrictEqual(
              (yield* serverKeys(prefix)).filter((key) => key === victim),
              [],
              `${label}: deleted`
            )
          }
          assert.isTrue(Option.isSome(yield* store.get("ns", "mine")))
          const warnings = logs.warnings()
          assert.strictEqual(warnings.length, 3, warnings.join("\n"))
          for (const warning of warnings) assert.include(warning, victim)
        }).pipe(Effect.provide(logs.layer))
      )
    }
  )

  // Found by an attack trial: with redis@5 (in the peer range), whose cluster client has no `isReady`, every
  // operation on a cluster failed as "not connected". The tests otherwise run node-redis 6.
  for (const [where, make] of [
    ["a server", () => Redis5.createClient({ url: server().url })],
    ["a cluster", () => Redis5.createCluster({ rootNodes: [...cluster().rootNodes] })]
  ] as const) {
    it.live(`a node-redis 5 client of ${where}, given unconnected: the store connects it and works`, () => {
      const client = make()
      client.on("error", () => {})
      const layer = NodeCacheStore.layerRedis({ client: client as unknown as NodeCacheStore.RedisClient, prefix: freshPrefix() })
      return withStore(Layer.orDie(layer), (store) =>
        Effect.gen(function* () {
          const large = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251)
          for (let i = 0; i < 6; i++) yield* store.set(`redis5:${i}`, "k", bytesOf(i), Infinity)
          yield* store.set("redis5:large", "k", large, Infinity)
          for (let i = 0; i < 6; i++) assert.deepStrictEqual(Option.getOrThrow(yield* store.get(`redis5:${i}`, "k")).bytes, bytesOf(i))
          assert.deepStrictEqual(Option.getOrThrow(yield* store.get("redis5:large", "k")).bytes, large)
          assert.strictEqual((yield* store.list).length, 7)
          const lock = yield* store.locks!.acquire("redis5:0", "k", "10 seconds")
          assert.isTrue(Option.isSome(lock))
          yield* store.locks!.release(Option.getOrThrow(lock))
          yield* store.clearAll
          assert.deepStrictEqual(yield* store.list, [])
        })
      ).pipe(Effect.ensuring(Effect.sync(() => client.destroy())))
    })
  }

  it.effect(
    "clearAll wins over computations in flight: their generation, read before it, no longer writes, even where the namespace had no key",
    () =>
      withStore(onServer(), (store) =>
        Effect.gen(function* () {
          const generations = store.generations!
          // A computation began in a namespace with nothing in Redis yet (no entry, no lock), and one beside an entry.
          const lone = yield* generations.current("lone")
          yield* store.set("busy", "old", bytesOf(1), Infinity)
          const busy = yield* generations.current("busy")
          const writes = yield* Effect.forkChild(
            Effect.forEach(
              Array.from({ length: 20 }, (_, i) => i),
              (i) => generations.setIf("busy", `k${i}`, bytesOf(i), Infinity, busy),
              {
                concurrency: 4
              }
            ),
            { startImmediately: true }
          )
          yield* store.clearAll
          yield* Fiber.join(writes)
          assert.isFalse(yield* generations.setIf("lone", "k", bytesOf(1), Infinity, lone), "the lone namespace's generation changed")
          assert.isTrue(Option.isNone(yield* store.get("lone", "k")))
          assert.isFalse(yield* generations.setIf("busy", "late", bytesOf(1), Infinity, busy))
          for (let i = 0; i < 20; i++)
            assert.isTrue(Option.isNone(yield* store.get("busy", `k${i}`)), `k${i}: written before the clear, gone after it`)
          assert.isTrue(Option.isNone(yield* store.get("busy", "old")))
        })
      )
  )

  // Found by a stranger trial: generations were counters, so a generation key lost (Redis restarted without
  // persistence, or evicted it) started again at 0, and a delete then handed a computation in flight its old
  // generation back: its value landed over the delete.
  it.effect("a generation key lost while a computation runs: a delete after it still refuses the computation's write", () => {
    const url = server().url
    const prefix = freshPrefix()
    // Every generation key of the prefix gone, as a restart or an eviction would lose them.
    const loseGenerations = inspect(url, async (client) => {
      for await (const batch of client.scanIterator({ MATCH: `${prefix}:*:g`, COUNT: 1000 })) {
        for (const key of batch) await client.del(String(key))
      }
    })
    return withStore(onServer(prefix), (store) =>
      Effect.gen(function* () {
        const generations = store.generations!
        yield* store.delete("ns", "k")
        const begun = yield* generations.current("ns")
        yield* loseGenerations
        yield* store.delete("ns", "k")
        assert.notStrictEqual(yield* generations.current("ns"), begun)
        assert.isFalse(yield* generations.setIf("ns", "k", bytesOf(1), Infinity, begun), "begun before the delete: not written")
        assert.isTrue(Option.isNone(yield* store.get("ns", "k")))
        // Lost and not remade: the computation's write is refused too (the store cannot tell what came between).
        const again = yield* generations.current("ns")
        yield* loseGenerations
        assert.isFalse(yield* generations.setIf("ns", "k", bytesOf(1), Infinity, again))
        assert.isTrue(yield* generations.setIf("ns", "k", bytesOf(2), Infinity, yield* generations.current("ns")))
      })
    )
  })

  it.effect("a prefix keeps stores apart: clearAll, list and stats see only their own", () => {
    const url = server().url
    const a = NodeCacheStore.layerRedis({ url, prefix: freshPrefix() }).pipe(Layer.orDie)
    const b = NodeCacheStore.layerRedis({ url, prefix: freshPrefix() }).pipe(Layer.orDie)
    return withStore(a, (storeA) =>
      withStore(b, (storeB) =>
        Effect.gen(function* () {
          yield* storeA.set("ns", "k", bytesOf(1), Infinity)
          yield* storeB.set("ns", "k", bytesOf(2, 2), Infinity)
          yield* storeB.clearAll
          assert.deepStrictEqual(yield* storeA.stats, { namespaces: 1, entries: 1, bytes: 1 })
          assert.deepStrictEqual(Option.getOrThrow(yield* storeA.get("ns", "k")).bytes, bytesOf(1))
          assert.isTrue(Option.isNone(yield* storeB.get("ns", "k")))
        })
      )
    )
  })

  it.live("awaitRelease in another store is woken by the release message (it subscribes to the lock's channel)", () => {
    const prefix = freshPrefix()
    return withStore(onServer(prefix), (holder) =>
      withStore(onServer(prefix), (waiter) =>
        Effect.gen(function* () {
          const lock = Option.getOrThrow(yield* holder.locks!.acquire("ns", "k", "1 minute"))
          assert.isTrue(Option.isNone(yield* waiter.locks!.acquire("ns", "k", "1 minute")), "held across stores")
          const waiting = yield* Effect.forkChild(waiter.locks!.awaitRelease("ns", "k", "1 minute"))
          // Wait until the waiter's subscription is on the server.
          const subscribed = yield* inspect(server().url, async (client) => {
            for (let i = 0; i < 250; i++) {
              const reply = (await client.sendCommand(["PUBSUB", "CHANNELS", `${prefix}:*`])) as Array<string>
              if (reply.length === 1) return reply[0]
              await new Promise((resolve) => setTimeout(resolve, 20))
            }
            return undefined
          })
          assert.isDefined(subscribed)
          assert.include(subscribed!, ":r:")
          assert.isUndefined(waiting.pollUnsafe(), "waits while held")
          yield* holder.locks!.release(lock)
          yield* Fiber.join(waiting)
          assert.isTrue(Option.isSome(yield* waiter.locks!.acquire("ns", "k", "1 minute")))
        })
      )
    )
  })

  it.live("a client given is used as it is, connected if it was not, and never closed by the store", () =>
    Effect.gen(function* () {
      const client = newClient(server().url)
      client.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => client.isOpen && client.destroy()))
      yield* withStore(NodeCacheStore.layerRedis({ client, prefix: freshPrefix() }).pipe(Layer.orDie), (store) =>
        Effect.gen(function* () {
          yield* store.set("ns", "k", bytesOf(1, 2), Infinity)
          assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", "k")).bytes, bytesOf(1, 2))
        })
      )
      assert.isTrue(client.isOpen, "still open after the layer closed")
      assert.strictEqual(yield* Effect.promise(() => client.ping()), "PONG")
    })
  )

  it.live("every command it sends turns node-redis's own command timeout off: the store's deadline bounds each operation", () => {
    // node-redis 6 times each command out after 5 s by default, with an AbortSignal.timeout, a listener and
    // a timer per command (and a DOMException when the timer fires, reply or not): a sixth of a hit's CPU.
    const client = newClient(server().url)
    const sent: Array<{ readonly command: string; readonly timeout: unknown }> = []
    const send = client.sendCommand.bind(client)
    client.sendCommand = ((args: ReadonlyArray<unknown>, options?: { readonly timeout?: unknown }) => {
      sent.push({ command: String(args[0]), timeout: options?.timeout })
      return send(args as never, options as never)
    }) as typeof client.sendCommand
    return Effect.ensuring(
      withStore(NodeCacheStore.layerRedis({ client, prefix: freshPrefix() }).pipe(Layer.orDie), (store) =>
        Effect.gen(function* () {
          yield* store.set("ns", "k", bytesOf(1), Infinity)
          assert.isTrue(Option.isSome(yield* store.get("ns", "k")))
          const lock = Option.getOrThrow(yield* store.locks!.acquire("ns", "k", "1 minute"))
          yield* store.locks!.release(lock)
          yield* store.delete("ns", "k")
          yield* store.list
          const commands = new Set(sent.map((s) => s.command))
          for (const command of ["GET", "EVALSHA"]) assert.isTrue(commands.has(command), `${command} among ${[...commands]}`)
          assert.deepStrictEqual(
            sent.filter((s) => s.timeout !== 0),
            [],
            "no command with node-redis's timeout on"
          )
        })
      ),
      Effect.sync(() => client.destroy())
    )
  })

  // The empty one found by a stranger trial: `layerRedis({ prefix: "" })` named a store of its own, while an empty
  // RECALL_REDIS_PREFIX read as the default: one setting, two stores.
  it.effect("a prefix with braces, or an empty one, fails the layer with CacheStoreError", () =>
    Effect.gen(function* () {
      for (const prefix of ["a{b}", ""]) {
        const exit = yield* Effect.exit(
          Effect.provide(
            Effect.gen(function* () {
              yield* CacheStore.CacheStore
            }),
            NodeCacheStore.layerRedis({ url: server().url, prefix })
          )
        )
        assert.isTrue(Exit.isFailure(exit), JSON.stringify(prefix))
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "CacheStoreError")
      }
    })
  )

  // Found by a stranger trial: `url: "nonsense"` failed the build with node-redis's bare "Invalid URL", naming neither the
  // option nor the value.
  it.effect("a URL that is not a redis: or rediss: URL fails the layer with CacheStoreError naming it (password hidden) and the fix", () =>
    Effect.gen(function* () {
      for (const [url, says] of [
        ["nonsense", "is not a URL"],
        ["http://app:hunter2@127.0.0.1:6379", "has the scheme http:"],
        [7 as unknown as string, "is a number"]
      ] as const) {
        const exit = yield* Effect.exit(
          Effect.provide(Effect.asVoid(Effect.map(CacheStore.CacheStore, (store) => store)), NodeCacheStore.layerRedis({ url }))
        )
        assert.isTrue(Exit.isFailure(exit), String(url))
        const message = String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "")
        assert.include(message, says)
        assert.include(message, "RECALL_REDIS_URL")
        assert.include(message, "redis://127.0.0.1:6379")
        assert.notInclude(message, "hunter2")
      }
    })
  )

  it.effect("layerRedisConfig reads RECALL_REDIS_URL and RECALL_REDIS_PREFIX", () => {
    const prefix = freshPrefix()
    const layer = NodeCacheStore.layerRedisConfig().pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ RECALL_REDIS_URL: server().url, RECALL_REDIS_PREFIX: prefix }))),
      Layer.orDie
    )
    return withStore(layer, (store) =>
      Effect.gen(function* () {
        yield* store.set("ns", "k", bytesOf(7), Infinity)
        const keys = yield* inspect(server().url, async (client) => {
          const keys: Array<string> = []
          for await (const batch of client.scanIterator({ MATCH: `${prefix}:*` })) keys.push(...batch)
          return keys
        })
        assert.strictEqual(keys.length, 3, "an entry, and its namespace's index (i, m)")
      })
    )
  })
})

/** Retries `op` until it succeeds (Redis answering again), at most `timeoutMs`; how long that took. */
const untilServing = <A>(op: Effect.Effect<A, CacheStore.CacheStoreError>, timeoutMs: number) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (true) {
      const exit = yield* Effect.exit(op)
      if (Exit.isSuccess(exit)) return Date.now() - start
      if (Date.now() - start > timeoutMs) return yield* Effect.die(new Error(`the store did not serve again within ${timeoutMs} ms`))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 25)))
    }
  })

const failsWithStoreError = <A>(op: Effect.Effect<A, CacheStore.CacheStoreError>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(op)
    assert.isTrue(Exit.isFailure(exit), "fails while Redis is down")
    if (Exit.isFailure(exit)) {
      const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
      assert.isDefined(error, `a failure, not a defect: ${String(exit.cause)}`)
      assert.instanceOf((error as { readonly error: unknown }).error, CacheStore.CacheStoreError)
    }
  })

// Found by an attack trial: on a full Redis (noeviction), every delete and clear failed (its script changed the
// generation first, a SET that Redis refuses there, and the script ended before its deletes), so an invalidated
// value was read on by every fresh process, and `recall clear` could not free space.
describe("NodeCacheStore.layerRedis on a full Redis (maxmemory, noeviction)", () => {
  it.effect("delete, clearNamespace and clearAll still remove what they remove, and a computation begun before them writes nothing", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => startRedisServer()),
      (full) =>
        withStore(NodeCacheStore.layerRedis({ url: full.url, prefix: freshPrefix() }).pipe(Layer.orDie), (store) =>
          Effect.gen(function* () {
            for (const ns of ["a", "b", "c"]) for (const key of ["k1", "k2"]) yield* store.set(ns, key, bytesOf(1, 2, 3), Infinity)
            const begun = yield* store.generations!.current("a")
            yield* inspect(full.url, async (client) => {
              await client.configSet("maxmemory-policy", "noeviction")
              await client.configSet("maxmemory", "1")
            })
            const refused = yield* Effect.flip(store.set("a", "new", bytesOf(9), Infinity))
            assert.include(refused.reason, "OOM", "the premise: Redis is full")
            yield* store.delete("a", "k1")
            assert.isTrue(Option.isNone(yield* store.get("a", "k1")), "deleted")
            yield* store.clearNamespace("b")
            assert.isTrue(Option.isNone(yield* store.get("b", "k1")))
            yield* store.clearAll
            assert.isTrue(Option.isNone(yield* store.get("c", "k2")))
            assert.isTrue(Option.isNone(yield* store.get("a", "k2")))
            yield* inspect(full.url, (client) => client.configSet("maxmemory", "0"))
            assert.isFalse(yield* store.generations!.setIf("a", "late", bytesOf(7), Infinity, begun), "begun before the delete")
            assert.isTrue(Option.isNone(yield* store.get("a", "late")))
          })
        ),
      (full) => Effect.promise(() => full.dispose())
    )
  )
})

describe("NodeCacheStore.layerRedis when Redis goes away", () => {
  it.live("Redis stopped (by pid) and started again under the store: CacheStoreError while down, serving again after", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => startRedisServer()),
      (own) =>
        withStore(NodeCacheStore.layerRedis({ url: own.url, prefix: freshPrefix() }).pipe(Layer.orDie), (store) =>
          Effect.gen(function* () {
            yield* store.set("ns", "k", bytesOf(1), Infinity)
            const lock = Option.getOrThrow(yield* store.locks!.acquire("ns", "k", "1 minute"))
            yield* Effect.promise(() => own.stop())
            assert.isUndefined(own.pid())
            const start = Date.now()
            yield* failsWithStoreError(store.get("ns", "k"))
            yield* failsWithStoreError(store.set("ns", "k", bytesOf(2), Infinity))
            yield* failsWithStoreError(store.list)
            yield* failsWithStoreError(store.clearAll)
            yield* failsWithStoreError(store.locks!.acquire("ns", "k", "1 minute"))
            yield* failsWithStoreError(store.locks!.release(lock))
            yield* failsWithStoreError(store.locks!.awaitRelease("ns", "k", "1 second"))
            assert.isBelow(Date.now() - start, 2_000, "failing fast while down, not waiting for Redis")
            yield* Effect.promise(() => own.start())
            const took = yield* untilServing(store.set("ns", "k", bytesOf(3), Infinity), 5_000)
            assert.isBelow(took, 5_000)
            // Persistence is off: what was there before is gone; what is written now is there.
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", "k")).bytes, bytesOf(3))
            assert.deepStrictEqual(yield* store.stats, { namespaces: 1, entries: 1, bytes: 1 })
          })
        ),
      (own) => Effect.promise(() => own.dispose())
    )
  )

  it.live("an operation on a store whose layer closed fails at once with CacheStoreError, saying it is closed", () =>
    Effect.gen(function* () {
      const store = yield* Effect.scoped(
        Effect.flatMap(Layer.build(onServer()), (context) => Effect.provide(CacheStore.CacheStore, context))
      )
      const started = Date.now()
      const exit = yield* Effect.exit(store.get("ns", "k"))
      assert.isBelow(Date.now() - started, 500, "at once, not after the reconnect wait")
      assert.isTrue(Exit.isFailure(exit))
      assert.match(JSON.stringify(exit), /CacheStoreError.*is closed/)
    })
  )

  it.live("a layer built while Redis is down builds, fails with CacheStoreError, and serves once Redis is up", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      yield* withStore(NodeCacheStore.layerRedis({ url: `redis://127.0.0.1:${port}`, prefix: freshPrefix() }).pipe(Layer.orDie), (store) =>
        Effect.acquireUseRelease(
          Effect.gen(function* () {
            yield* failsWithStoreError(store.get("ns", "k"))
            return yield* Effect.promise(() => startRedisServer({ port }))
          }),
          () =>
            Effect.gen(function* () {
              yield* untilServing(store.set("ns", "k", bytesOf(9), Infinity), 5_000)
              assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", "k")).bytes, bytesOf(9))
            }),
          (own) => Effect.promise(() => own.dispose())
        )
      )
    })
  )
})
