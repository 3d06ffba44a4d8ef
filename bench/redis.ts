/**
 * `npm run bench -- redis`: the Redis tier, on a redis-server of its own
 * (started by the test fixture on a free loopback port, stopped at the end).
 *
 * - A Redis-tier hit (a front miss served by the store: the front tier's
 *   `maxBytes` is smaller than the value, so every call reads Redis) of a
 *   1 KB and a 1 MB `Uint8Array`, against a raw node-redis `GET` of the same
 *   bytes: one caller in a loop, and 50 concurrent callers (each its own key,
 *   so that the in-process single flight does not merge them). Target:
 *   >= 0.7x the raw throughput.
 * - Cross-process single flight: 8 worker processes asking for one value at
 *   once (computed once, the others waiting on its lock) against one process
 *   computing it alone. Target: <= 1.2x, plus one Redis round trip.
 * - A failing body across processes: 4 processes ask for a key whose body
 *   fails; the waiters, told of the failure, run it side by side. About 2x
 *   one process alone (it was one body per process, taking turns).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { CacheStore, DataCache, NodeCacheStore } from "@recall/node"
import { Effect, Layer } from "effect"
import { createClient, RESP_TYPES } from "redis"
import * as StoreTier from "../packages/core/src/internal/storeTier.ts"
import { startRedisServer } from "../packages/node/test/fixtures/redisServer.ts"
import type { Figure } from "./measure.ts"

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const CALLERS = 50

/** Ops per second of `rounds` alternating rounds of each run (each run does `ops` operations): the medians. */
const throughput = async (rounds: number, ops: number, runs: ReadonlyArray<() => Promise<void>>): Promise<Array<number>> => {
  for (const run of runs) await run() // warm-up
  const samples = runs.map((): Array<number> => [])
  for (let r = 0; r < rounds; r++) {
    for (const [i, run] of runs.entries()) {
      const start = process.hrtime.bigint()
      await run()
      samples[i]!.push(ops / (Number(process.hrtime.bigint() - start) / 1e9))
    }
  }
  return samples.map(median)
}

// ---------------------------------------------------------------------------
// Worker processes (packages/node/test/fixtures/data-cache-worker.ts)
// ---------------------------------------------------------------------------

const workerPath = fileURLToPath(new URL("../packages/node/test/fixtures/data-cache-worker.ts", import.meta.url))

interface Message {
  readonly event?: string
  readonly op?: string
  readonly millis?: number
}

class Worker {
  readonly child: ChildProcess
  private readonly messages: Array<Message> = []
  private readonly wake = new Set<() => void>()
  private buffered = ""
  private replies = 0

  constructor(config: object) {
    this.child = spawn(process.execPath, ["--conditions=@recall/source", workerPath, JSON.stringify(config)], {
      stdio: ["pipe", "pipe", "inherit"]
    })
    this.child.stdout!.on("data", (chunk: Buffer) => {
      this.buffered += chunk.toString()
      const lines = this.buffered.split("\n")
      this.buffered = lines.pop()!
      for (const line of lines) if (line.startsWith("@@")) this.messages.push(JSON.parse(line.slice(2)) as Message)
      for (const wake of this.wake) wake()
    })
    this.child.on("close", () => {
      for (const wake of this.wake) wake()
    })
  }

  private waitFor(predicate: (m: Message) => boolean, nth: number): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("a bench worker did not answer within 60 s")), 60_000)
      const check = () => {
        const found = this.messages.filter(predicate)[nth - 1]
        if (found === undefined && this.child.exitCode === null) return
        clearTimeout(timer)
        this.wake.delete(check)
        if (found === undefined) reject(new Error(`a bench worker exited (${this.child.exitCode})`))
        else resolve(found)
      }
      this.wake.add(check)
      check()
    })
  }

  ready = () => this.waitFor((m) => m.event === "ready", 1)

  call(arg: number, bodyMillis: number, variant: "v1" | "fails" = "v1"): Promise<Message> {
    const nth = ++this.replies
    this.child.stdin!.write(`${JSON.stringify({ op: "call", variant, arg, callers: 1, bodyMillis })}\n`)
    return this.waitFor((m) => m.op !== undefined, nth)
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL")
  }
}

// ---------------------------------------------------------------------------
// The section
// ---------------------------------------------------------------------------

export const redis: Effect.Effect<ReadonlyArray<Figure>> = Effect.promise(async () => {
  const server = await startRedisServer()
  const figures: Array<Figure> = []
  const logs = mkdtempSync(join(tmpdir(), "recall-bench-redis-"))
  const workers: Array<Worker> = []
  const raw = createClient({ url: server.url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
  // The same with node-redis's own command timeout off, as the Redis store sends its commands (its deadline bounds them).
  const rawUntimed = createClient({ url: server.url, commandOptions: { timeout: 0 } }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer
  })
  try {
    await raw.connect()
    await rawUntimed.connect()
    // One Redis round trip, for the single-flight target.
    const pings: Array<number> = []
    for (let i = 0; i < 200; i++) {
      const start = process.hrtime.bigint()
      await raw.ping()
      pings.push(Number(process.hrtime.bigint() - start) / 1e6)
    }
    const rtt = median(pings)
    figures.push({ name: "redis: one round trip (PING), node-redis", value: rtt, unit: "ms" })

    for (const [label, size, ops] of [
      ["1 KB", 1024, 4_000],
      ["1 MB", 1024 * 1024, 200]
    ] as const) {
      const bytes = (n: number) => new Uint8Array(size).fill(n % 251)
      const blob = DataCache.fn({ name: `bench/redis-${label}` }, (n: number) => Effect.sync(() => bytes(n)))
      // A front tier too small for the value: every call is a front miss served by Redis.
      const store = Layer.orDie(NodeCacheStore.layerRedis({ url: server.url, prefix: `bench${size}` }))
      const layer = DataCache.layerStore({ maxBytes: 512 }).pipe(Layer.provideMerge(store))
      const rows = await Effect.runPromise(
        Effect.gen(function* () {
          const context = yield* Effect.context<DataCache.DataCache>()
          for (let c = 0; c < CALLERS; c++) yield* blob(c)
          // The writes are in the background: wait until every value is in Redis.
          for (let round = 0; round < 500 && (yield* blob.stats).storeWrites < CALLERS; round++) yield* Effect.sleep(10)
          const stats = yield* blob.stats
          if (stats.storeWrites < CALLERS) throw new Error(`only ${stats.storeWrites} of ${CALLERS} values were written`)
          for (let c = 0; c < CALLERS; c++) yield* Effect.promise(() => raw.set(`raw${size}:${c}`, Buffer.from(bytes(c))))
          const check = (value: Uint8Array, c: number) => {
            if (value.byteLength !== size || value[size - 1] !== c % 251) throw new Error("a wrong value")
          }
          const recallLoop = (c: number, n: number) =>
            Effect.runPromise(
              Effect.gen(function* () {
                for (let i = 0; i < n; i++) check(yield* blob(c), c)
              }).pipe(Effect.provide(context))
            )
          const rawLoop = (client: typeof raw) => async (c: number, n: number) => {
            for (let i = 0; i < n; i++) check((await client.get(`raw${size}:${c}`))!, c)
          }
          const perCaller = Math.ceil(ops / CALLERS)
          const [recallOne, rawOne, untimedOne] = yield* Effect.promise(() =>
            throughput(7, ops, [() => recallLoop(0, ops), () => rawLoop(raw)(0, ops), () => rawLoop(rawUntimed)(0, ops)])
          )
          const many = (loop: (c: number, n: number) => Promise<void>) => () =>
            Promise.all(Array.from({ length: CALLERS }, (_, c) => loop(c, perCaller))).then(() => {})
          const [recallMany, rawMany, untimedMany] = yield* Effect.promise(() =>
            throughput(7, perCaller * CALLERS, [many(recallLoop), many(rawLoop(raw)), many(rawLoop(rawUntimed))])
          )
          const after = yield* blob.stats
          if (after.misses !== CALLERS || after.hits !== 0) throw new Error(`not every call was a Redis-tier hit: ${JSON.stringify(after)}`)

          // The write side, one caller: the store's own set of the entry (its script checks the namespace's
          // generation and indexes the key), and a miss until its entry is in Redis (the call returns first;
          // the write is in the background), against a raw SET with an expiry of the same bytes.
          const cache = yield* DataCache.DataCache
          const cacheStore = yield* CacheStore.CacheStore
          const writes = Math.ceil(ops / 4)
          const payload = Buffer.from(bytes(7))
          let fresh = CALLERS
          const storeSet = () =>
            Effect.runPromise(
              Effect.gen(function* () {
                for (let i = 0; i < writes; i++) yield* cacheStore.set("bench-set", `k${i}`, payload, Date.now() + 3_600_000)
              })
            )
          const missUntilStored = () =>
            Effect.runPromise(
              Effect.gen(function* () {
                for (let i = 0; i < writes; i++) {
                  yield* blob(++fresh)
                  yield* StoreTier.awaitAllWrites(cache.cache.tier!)
                }
              }).pipe(Effect.provide(context))
            )
          const rawSet = async () => {
            for (let i = 0; i < writes; i++) await rawUntimed.set(`rawset${size}:${i}`, payload, { PX: 3_600_000 })
          }
          const [storeSets, misses, rawSets] = yield* Effect.promise(() => throughput(5, writes, [storeSet, missUntilStored, rawSet]))
          return [recallOne!, rawOne!, untimedOne!, recallMany!, rawMany!, untimedMany!, storeSets!, misses!, rawSets!] as const
        }).pipe(Effect.provide(layer))
      )
      const [recallOne, rawOne, untimedOne, recallMany, rawMany, untimedMany, storeSets, misses, rawSets] = rows
      const unit = "ops/s"
      figures.push({ name: `redis ${label}, 1 caller: raw GET`, value: rawOne, unit })
      figures.push({ name: `redis ${label}, 1 caller: recall Redis-tier hit`, value: recallOne, unit })
      figures.push({ name: `redis ${label}, 1 caller: recall / raw GET`, value: recallOne / rawOne, unit: "x", baseline: "raw GET" })
      figures.push({
        name: `redis ${label}, 1 caller: recall / raw GET with node-redis's timeout off`,
        value: recallOne / untimedOne,
        unit: "x",
        baseline: "raw GET, timeout off"
      })
      figures.push({ name: `redis ${label}, ${CALLERS} callers: raw GET`, value: rawMany, unit })
      figures.push({ name: `redis ${label}, ${CALLERS} callers: recall Redis-tier hit`, value: recallMany, unit })
      figures.push({
        name: `redis ${label}, ${CALLERS} callers: recall / raw GET`,
        value: recallMany / rawMany,
        unit: "x",
        baseline: "raw GET"
      })
      figures.push({
        name: `redis ${label}, ${CALLERS} callers: recall / raw GET with node-redis's timeout off`,
        value: recallMany / untimedMany,
        unit: "x",
        baseline: "raw GET, timeout off"
      })
      figures.push({ name: `redis ${label}, 1 caller: raw SET with PX`, value: rawSets, unit })
      figures.push({ name: `redis ${label}, 1 caller: the Redis store's set`, value: storeSets, unit })
      figures.push({ name: `redis ${label}, 1 caller: recall miss until in Redis`, value: misses, unit })
      figures.push({ name: `redis ${label}, 1 caller: store set / raw SET`, value: storeSets / rawSets, unit: "x", baseline: "raw SET" })
      figures.push({
        name: `redis ${label}, 1 caller: miss until in Redis / raw SET`,
        value: misses / rawSets,
        unit: "x",
        baseline: "raw SET"
      })
    }

    // recall's own path, without a network: a store-tier hit of the 1 KB value over CacheStore.layerMemory (every
    // call a front miss read from the store), against the same value's front-tier hit. What a Redis-tier hit adds
    // to its GET, in CPU: at 50 callers a raw GET costs about 1e6 / its throughput in µs, and so does recall's.
    const inMemory = DataCache.fn({ name: "bench/redis-memory-store" }, (n: number) => Effect.sync(() => new Uint8Array(1024).fill(n)))
    const perHit = (front: Layer.Layer<DataCache.DataCache>) =>
      Effect.runPromise(
        Effect.gen(function* () {
          yield* inMemory(1)
          for (let round = 0; round < 500 && (yield* inMemory.stats).storeWrites < 1; round++) yield* Effect.sleep(10)
          const rounds: Array<number> = []
          for (let r = 0; r < 9; r++) {
            const start = process.hrtime.bigint()
            for (let i = 0; i < 2_000; i++) yield* inMemory(1)
            rounds.push(Number(process.hrtime.bigint() - start) / 1e3 / 2_000)
          }
          return median(rounds)
        }).pipe(Effect.provide(front))
      )
    const storeHitMicros = await perHit(DataCache.layerStore({ maxBytes: 512 }).pipe(Layer.provide(CacheStore.layerMemory())))
    const frontHitMicros = await perHit(DataCache.layerStore().pipe(Layer.provide(CacheStore.layerMemory())))
    figures.push({
      name: "store-tier hit over CacheStore.layerMemory, 1 KB (recall's path, no network)",
      value: storeHitMicros,
      unit: "µs"
    })
    figures.push({ name: "front-tier hit of the same value (a copy of 1 KB)", value: frontHitMicros, unit: "µs" })

    // Cross-process single flight: 8 processes, one body of BODY ms, against one process alone.
    const BODY = 500
    const config = { redis: { url: server.url, prefix: "benchflight" }, log: join(logs, "runs.log") }
    for (let i = 0; i < 8; i++) workers.push(new Worker(config))
    await Promise.all(workers.map((w) => w.ready()))
    // Warm-up: each process's first call loads code paths (args of their own).
    await Promise.all(workers.map((w, i) => w.call(1_000 + i, 0)))
    let arg = 0
    const alone: Array<number> = []
    const eight: Array<number> = []
    for (let round = 0; round < 5; round++) {
      arg++
      alone.push((await workers[round % 8]!.call(arg, BODY)).millis!)
      arg++
      const start = Date.now()
      const replies = await Promise.all(workers.map((w) => w.call(arg, BODY)))
      eight.push(Math.max(Date.now() - start, ...replies.map((r) => r.millis!)))
    }
    const aloneMs = median(alone)
    const eightMs = median(eight)
    figures.push({ name: `single flight: 1 process computes alone (${BODY} ms body)`, value: aloneMs, unit: "ms" })
    figures.push({ name: "single flight: 8 processes, computed once", value: eightMs, unit: "ms" })
    figures.push({ name: "single flight: 8 processes / 1 alone", value: eightMs / aloneMs, unit: "x", baseline: "one process alone" })
    figures.push({
      name: "single flight: target 1.2x alone + one round trip",
      value: 1.2 * aloneMs + rtt,
      unit: "ms"
    })

    // A failing body (a backend that is down): FAILING processes ask for one key whose body fails after BODY ms.
    // The holder's failure reaches no one else, but its release says it failed, and the waiting processes then run
    // the body at once, side by side: about 2 bodies' time for the last caller, where taking turns behind the lock
    // cost one body per process.
    const FAILING = 4
    const failingAlone: Array<number> = []
    const failingAll: Array<number> = []
    for (let round = 0; round < 3; round++) {
      arg++
      failingAlone.push((await workers[round % 8]!.call(arg, BODY, "fails")).millis!)
      arg++
      const start = Date.now()
      const replies = await Promise.all(workers.slice(0, FAILING).map((w) => w.call(arg, BODY, "fails")))
      failingAll.push(Math.max(Date.now() - start, ...replies.map((r) => r.millis!)))
    }
    const failingAloneMs = median(failingAlone)
    const failingAllMs = median(failingAll)
    figures.push({ name: `failing body: 1 process alone (${BODY} ms, then a failure)`, value: failingAloneMs, unit: "ms" })
    figures.push({ name: `failing body: ${FAILING} processes on one key, until the last has its failure`, value: failingAllMs, unit: "ms" })
    figures.push({
      name: `failing body: ${FAILING} processes / 1 alone`,
      value: failingAllMs / failingAloneMs,
      unit: "x",
      baseline: "one process alone"
    })
    return figures
  } finally {
    for (const w of workers) w.kill()
    raw.destroy()
    rawUntimed.destroy()
    await server.dispose()
    rmSync(logs, { recursive: true, force: true })
  }
})
