/**
 * DataCache over the disk store (`DataCache.layerStore()` on
 * `NodeCacheStore.layerFileSystem`), across real OS processes on a real
 * directory: processes sharing entries, one computation for many processes,
 * an edited function, a process killed while it computes, and a disk that
 * is read-only, full, deleted, or whose writer dies before the rename.
 *
 * The processes run fixtures/data-cache-worker.ts; each run of a body is one
 * line in a log file (O_APPEND), so runs are counted across processes.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { CacheStore, DataCache } from "@recall/core"
import { NodeCacheStore } from "@recall/node"
import * as RecallCommand from "@recall/node/RecallCommand"
import { Cause, Console, Deferred, Effect, Exit, Layer, Option, Redacted } from "effect"
import { assertFailingSideBySide, assertValues, counts, runsOf, Worker } from "./fixtures/dataCacheWorkers.ts"
import { eventually } from "./fixtures/eventually.ts"
import { tempDirectories } from "./fixtures/tempDirectories.ts"

const parentDirectory = tempDirectories("recall-dc-disk-")

/** A fresh setting: the store's directory (made by the store) and the runs log beside it. */
const setting = () => {
  const base = parentDirectory()
  return { base, directory: join(base, "cache"), log: join(base, "runs.log") }
}

/** Every path under `directory`, relative. */
const walk = (directory: string): Array<string> =>
  existsSync(directory) ? readdirSync(directory, { recursive: true, encoding: "utf8" }).map((path) => path.toString()) : []
const temporaryFiles = (directory: string) => walk(directory).filter((name) => name.includes(".tmp-"))
const entryFiles = (directory: string) => walk(directory).filter((name) => /^[0-9a-f]{32}\/[0-9a-f]{32}$/.test(name))

/** The disk store in `directory`, with the operations `spy` gives in place of its own (to watch what DataCache calls). */
const diskSpied = (directory: string, spy: (store: CacheStore.Service) => Partial<CacheStore.Service>) =>
  Layer.effect(
    CacheStore.CacheStore,
    Effect.map(CacheStore.CacheStore, (store) => CacheStore.make({ ...store, ...spy(store) }))
  ).pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory })))

const STORE_FAILED = "recall: the cache store failed"
const STORE_BACK = "recall: the cache store works again"

describe("DataCache.layerStore on disk, across OS processes", () => {
  it("two processes sharing a directory see each other's entries: after one exited, and both ways while both run", async () => {
    const { directory, log } = setting()
    const first = new Worker({ directory, log })
    await first.ready()
    assert.strictEqual(assertValues(await first.call("v1", 1, 3), "v1", 1, 3), first.pid)
    await first.exit()

    const [second, third] = [new Worker({ directory, log }), new Worker({ directory, log })]
    await Promise.all([second.ready(), third.ready()])
    const fromExited = await second.call("v1", 1, 3)
    assert.strictEqual(assertValues(fromExited, "v1", 1, 3), first.pid, "the value the exited process wrote")
    assert.deepStrictEqual(counts(fromExited.stats), { misses: 0, storeHits: 1, hits: 2 })

    // Both running: the third computes and the second reads it, then the other way round.
    // (The write is in the background: a reader that comes first waits for the writer's lock.)
    assert.strictEqual(assertValues(await third.call("v1", 2, 2), "v1", 2, 2), third.pid)
    const fromThird = await second.call("v1", 2, 2)
    assert.strictEqual(assertValues(fromThird, "v1", 2, 2), third.pid)
    assert.strictEqual(fromThird.stats.storeHits, 2)
    assert.strictEqual(assertValues(await second.call("v1", 3, 2), "v1", 3, 2), second.pid)
    const fromSecond = await third.call("v1", 3, 2)
    assert.strictEqual(assertValues(fromSecond, "v1", 3, 2), second.pid)
    assert.deepStrictEqual(counts(fromSecond.stats), { misses: 1, storeHits: 1, hits: 2 })

    for (const arg of [1, 2, 3]) assert.strictEqual(runsOf(log, "v1", arg).length, 1, `arg ${arg}: one run in all`)
    await Promise.all([second.exit(), third.exit()])
  })

  it("a process killed while renewing its lock (holding the lock's guard file): another still takes over after lockTtl, without spinning", async () => {
    const { directory, log } = setting()
    const doomed = new Worker({ directory, log, lockTtl: "1 second", fault: "stallrenew" })
    const survivor = new Worker({ directory, log, lockTtl: "1 second" })
    await Promise.all([doomed.ready(), survivor.ready()])
    void doomed.call("v1", 8, 1, 60_000).catch(() => {})
    await doomed.event("computing")
    await doomed.event("renewing")
    const killedAt = Date.now()
    await doomed.kill()
    const before = (await survivor.call("v1", 0)).links
    const reply = await survivor.call("v1", 8, 2)
    assert.strictEqual(assertValues(reply, "v1", 8, 2), survivor.pid)
    assert.deepStrictEqual(runsOf(log, "v1", 8), [doomed.pid, survivor.pid])
    const computing = await survivor.waitFor((m) => m.event === "computing" && m.arg === 8, "computing 8")
    assert.isBelow(computing.at - killedAt, 5_000, "taken over at the lock's expiry (1 s)")
    assert.isBelow(reply.links - before, 100, "lock attempts while waiting are paced, not a busy loop")
    await survivor.exit()
  })

  it("a process whose read missed just before another wrote and released: it takes the lock, reads again, and does not compute", async () => {
    const { directory, log } = setting()
    const writer = new Worker({ directory, log })
    // The reader's disk reads come back 1.5 s late: it reads (a miss) while the writer computes,
    // and hears of the miss after the writer wrote the entry and released its lock.
    const reader = new Worker({ directory, log, fault: "slowread" })
    await Promise.all([writer.ready(), reader.ready()])
    const written = writer.call("v1", 20, 1, 1_000)
    await writer.event("computing")
    const read = reader.call("v1", 20, 3)
    assert.strictEqual(assertValues(await written, "v1", 20, 1), writer.pid)
    const reply = await read
    assert.deepStrictEqual(runsOf(log, "v1", 20), [writer.pid], "the body ran once in all")
    assert.strictEqual(assertValues(reply, "v1", 20, 3), writer.pid)
    assert.deepStrictEqual(counts(reply.stats), { misses: 0, storeHits: 1, hits: 2 })
    assert.isAtLeast(reply.millis, 2_900, "two slow reads: the miss while the writer computed, and the read under the lock")
    await Promise.all([writer.exit(), reader.exit()])
  })

  it("4 processes × 25 concurrent callers of one slow key: the body runs once in all, every caller gets its value", async () => {
    const { directory, log } = setting()
    const workers = Array.from({ length: 4 }, () => new Worker({ directory, log, bodyMillis: 1_500 }))
    // The start barrier: every layer is built before any call is sent.
    await Promise.all(workers.map((w) => w.ready()))
    const replies = await Promise.all(workers.map((w) => w.call("v1", 10, 25)))
    const computedBy = new Set(replies.map((reply) => assertValues(reply, "v1", 10, 25)))
    assert.strictEqual(computedBy.size, 1, "one computation's value everywhere")
    assert.deepStrictEqual(runsOf(log, "v1", 10), [...computedBy], "the body ran once, in the process whose value all got")
    const total = (field: "misses" | "storeHits" | "hits") => replies.reduce((n, reply) => n + reply.stats[field], 0)
    assert.deepStrictEqual(
      { misses: total("misses"), storeHits: total("storeHits"), hits: total("hits") },
      { misses: 1, storeHits: 3, hits: 96 }
    )
    for (const reply of replies) assert.strictEqual(reply.stats.storeErrors, 0)
    await Promise.all(workers.map((w) => w.exit()))
  })

  // Found by an outside trial: waiters in three processes took turns behind the lock after a failure, one body each.
  it("3 processes on a key whose body fails: the two waiting on the holder run it at once, side by side", async () => {
    const { directory, log } = setting()
    const BODY = 800
    await assertFailingSideBySide(
      Array.from({ length: 3 }, () => new Worker({ directory, log, bodyMillis: BODY })),
      log,
      BODY
    )
  })

  it("an edited function (another source, another id) does not read the old entries; the unchanged one does", async () => {
    const { directory, log } = setting()
    const before = new Worker({ directory, log })
    await before.ready()
    const old = await before.call("v1", 5, 2)
    assertValues(old, "v1", 5, 2)
    await before.exit()

    const after = new Worker({ directory, log })
    await after.ready()
    const edited = await after.call("v2", 5, 2)
    assert.notStrictEqual(edited.id, old.id)
    assert.strictEqual(edited.id.split(":")[0], old.id.split(":")[0], "the same name")
    assert.strictEqual(assertValues(edited, "v2", 5, 2), after.pid, "computed again, not the old entry")
    assert.deepStrictEqual(counts(edited.stats), { misses: 1, storeHits: 0, hits: 1 })
    const unchanged = await after.call("v1", 5, 2)
    assert.strictEqual(unchanged.id, old.id)
    assert.strictEqual(assertValues(unchanged, "v1", 5, 2), before.pid, "the old entry, still there")
    assert.deepStrictEqual(counts(unchanged.stats), { misses: 0, storeHits: 1, hits: 1 })
    await after.exit()

    // Both versions' entries live side by side.
    const third = new Worker({ directory, log })
    await third.ready()
    assert.strictEqual(assertValues(await third.call("v2", 5), "v2", 5, 1), after.pid)
    assert.strictEqual(assertValues(await third.call("v1", 5), "v1", 5, 1), before.pid)
    assert.deepStrictEqual([runsOf(log, "v1", 5), runsOf(log, "v2", 5)], [[before.pid], [after.pid]])
    await third.exit()
  })

  it("a process killed (SIGKILL) while computing: another waiting for it takes its lock over after lockTtl and computes", async () => {
    const { directory, log } = setting()
    const doomed = new Worker({ directory, log, lockTtl: "1 second" })
    const survivor = new Worker({ directory, log, lockTtl: "1 second" })
    await Promise.all([doomed.ready(), survivor.ready()])
    void doomed.call("v1", 7, 5, 60_000).catch(() => {})
    await doomed.event("computing")
    // The survivor's call meets the lock, held and renewed while the doomed process lives.
    const answer = survivor.call("v1", 7, 5, 200)
    // An observation window, not a synchronisation: while the holder lives and renews its lock, for
    // 2.5 times lockTtl, the survivor does not compute.
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    assert.isFalse(
      survivor.messages.some((m) => m.event === "computing"),
      "the survivor waits while the holder lives (its lock renewed past lockTtl)"
    )
    const killedAt = Date.now()
    await doomed.kill()
    const reply = await answer
    assert.strictEqual(assertValues(reply, "v1", 7, 5), survivor.pid)
    const computing = await survivor.event("computing")
    assert.isAtLeast(computing.at, killedAt, "computed only after the holder died")
    assert.isBelow(computing.at - killedAt, 5_000, "taken over once the holder died, not after the default 10 s")
    assert.deepStrictEqual(counts(reply.stats), { misses: 1, storeHits: 0, hits: 4 })
    assert.deepStrictEqual(runsOf(log, "v1", 7), [doomed.pid, survivor.pid], "twice in all: the killed run and the survivor's")

    // The survivor's value is on disk for the next process.
    const next = new Worker({ directory, log, lockTtl: "1 second" })
    await next.ready()
    const hit = await next.call("v1", 7, 2)
    assert.strictEqual(assertValues(hit, "v1", 7, 2), survivor.pid)
    assert.strictEqual(hit.stats.storeHits, 1)
    await Promise.all([survivor.exit(), next.exit()])
  })
})

describe("DataCache.clear across OS processes", () => {
  it("a clear in one process while another computes: the clear reaches the disk and the other's front tier, every value is right, nothing hangs", async () => {
    const { directory, log } = setting()
    const [a, b] = [new Worker({ directory, log }), new Worker({ directory, log })]
    await Promise.all([a.ready(), b.ready()])
    assertValues(await a.call("v1", 1, 2), "v1", 1, 2)
    await a.writes(1)
    assert.strictEqual(assertValues(await b.call("v1", 1, 2), "v1", 1, 2), a.pid)

    const slow = a.call("v1", 2, 3, 800)
    slow.catch(() => {}) // awaited below
    await a.waitFor((m) => m.event === "computing" && m.arg === 2, "computing 2")
    await b.request({ op: "clear" })
    assert.strictEqual(entryFiles(directory).length, 0, "the store is empty")
    const recomputed = await b.call("v1", 1, 2)
    assert.strictEqual(assertValues(recomputed, "v1", 1, 2), b.pid, "cleared in both tiers: computed again")
    assert.strictEqual(assertValues(await slow, "v1", 2, 3), a.pid)
    // a heard b's clear (a notice in .notices/, within moments; its computation of 2 took 800 ms): its front copy of 1
    // is gone, so 1 is read from the disk (b's value) or computed, never a's old copy from before the clear.
    const hitsBefore = (await a.stats()).hits
    const fromA = await a.call("v1", 1, 1)
    assertValues(fromA, "v1", 1, 1)
    assert.strictEqual(fromA.stats.hits, hitsBefore, "not a front-tier hit of the copy from before the clear")
    // a's computation ran across b's clear: its value is not kept (superseded by the clear), or, when it ended before
    // a heard the clear, written after it; either that or b's own is right.
    const after = await b.call("v1", 2, 2)
    assertValues(after, "v1", 2, 2)
    assert.include([a.pid, b.pid], after.values[0]!.computedBy)
    assert.strictEqual(after.stats.storeErrors, 0)
    await Promise.all([a.exit(), b.exit()])
  })
})

describe("DataCache.layerStore on a failing disk: every call returns its value, nothing wrong is read, the tier recovers", () => {
  // As root, chmod does not stop writes: the workers of the chmod case run as nobody then.
  const asRoot = process.getuid?.() === 0
  const NOBODY = 65534

  for (const how of ["chmod 0500", "EROFS"] as const) {
    it(`a read-only directory (${how}): old entries read, new values are computed and returned, not stored; writable again, it writes`, async () => {
      const { base, directory } = setting()
      const real = how === "chmod 0500"
      const uid = real && asRoot ? NOBODY : undefined
      // The runs log in a directory of its own, that the workers (maybe nobody) can write.
      const logs = join(base, "logs")
      mkdirSync(logs)
      const log = join(logs, "runs.log")
      if (uid !== undefined) {
        chmodSync(base, 0o755)
        mkdirSync(directory, { mode: 0o700 })
        chownSync(directory, uid, uid)
        chownSync(logs, uid, uid)
      }
      const writer = new Worker({ directory, log }, uid)
      await writer.ready()
      assertValues(await writer.call("v1", 1, 2), "v1", 1, 2)
      await writer.writes(1)
      const reader = new Worker({ directory, log }, uid)
      await reader.ready()

      const directories = [
        directory,
        join(directory, ".locks"),
        ...walk(directory)
          .filter((name) => /^[0-9a-f]{32}$/.test(name))
          .map((name) => join(directory, name))
      ]
      assert.strictEqual(directories.length, 3, "the root, .locks and one namespace")
      if (real) for (const path of directories) chmodSync(path, 0o500)
      else await reader.fault("erofs")
      try {
        const old = await reader.call("v1", 1, 2)
        assert.strictEqual(assertValues(old, "v1", 1, 2), writer.pid, "the entry written before still reads")
        assert.deepStrictEqual(counts(old.stats), { misses: 0, storeHits: 1, hits: 1 })

        const fresh = await reader.call("v1", 2, 3)
        assert.strictEqual(assertValues(fresh, "v1", 2, 3), reader.pid)
        assert.strictEqual(fresh.stats.misses, 1)
        assert.isAtLeast(fresh.stats.storeErrors, 1, "the failed lock and write are counted")
        const again = await reader.call("v1", 2, 3)
        assert.strictEqual(assertValues(again, "v1", 2, 3), reader.pid, "kept in the front tier")
        assert.strictEqual(again.stats.misses, 1)
        assert.deepStrictEqual(temporaryFiles(directory), [], "no temporary file left behind")
        assert.strictEqual(entryFiles(directory).length, 1, "nothing new on disk")
        assert.match(reader.logs.find((line) => line.includes(STORE_FAILED)) ?? "", real ? /EACCES/ : /EROFS/)
      } finally {
        if (real) for (const path of directories) chmodSync(path, 0o700)
      }
      if (!real) await reader.fault("none")

      // Writable again: the next value is written, and another process reads it.
      const recovered = await reader.call("v1", 3, 2)
      assert.strictEqual(assertValues(recovered, "v1", 3, 2), reader.pid)
      await reader.writes(1)
      const elsewhere = await writer.call("v1", 3, 2)
      assert.strictEqual(assertValues(elsewhere, "v1", 3, 2), reader.pid, "read from the disk")
      assert.strictEqual(elsewhere.stats.storeHits, 1)
      // The value that was not stored is computed again elsewhere, never read half-written.
      assert.strictEqual(assertValues(await writer.call("v1", 2, 1), "v1", 2, 1), writer.pid)
      assert.deepStrictEqual(
        [1, 2, 3].map((arg) => runsOf(log, "v1", arg)),
        [[writer.pid], [reader.pid, writer.pid], [reader.pid]]
      )
      assert.strictEqual(reader.logged(STORE_FAILED), 1, "one outage, logged once")
      assert.strictEqual(reader.logged(STORE_BACK), 1, "its end, logged once")
      await Promise.all([writer.exit(), reader.exit()])
    })
  }

  it("a full disk (ENOSPC): values are computed and returned, nothing partial is stored, and the tier writes again once there is room", async () => {
    const { directory, log } = setting()
    const full = new Worker({ directory, log })
    await full.ready()
    assertValues(await full.call("v1", 1, 2), "v1", 1, 2)
    await full.writes(1)
    await full.fault("enospc")
    for (let arg = 2; arg <= 8; arg++) {
      const reply = await full.call("v1", arg, 3)
      assert.strictEqual(assertValues(reply, "v1", arg, 3), full.pid)
    }
    const during = await full.stats()
    assert.deepStrictEqual([during.misses, during.storeWrites], [8, 1])
    assert.isAtLeast(during.storeErrors, 5)
    // Another process reads the old entry and none of the failed ones.
    const other = new Worker({ directory, log })
    await other.ready()
    assert.strictEqual(assertValues(await other.call("v1", 1), "v1", 1, 1), full.pid)
    assert.strictEqual(assertValues(await other.call("v1", 2), "v1", 2, 1), other.pid)

    // Room again: within the breaker's open time (5 s) and a few calls, the tier writes again.
    await full.fault("none")
    let arg = 100
    for (; arg < 140; arg++) {
      const reply = await full.call("v1", arg)
      assertValues(reply, "v1", arg, 1)
      if ((await full.stats()).storeWrites > 1) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    assert.isBelow(arg, 140, "the tier came back")
    const hit = await other.call("v1", arg)
    assert.strictEqual(assertValues(hit, "v1", arg, 1), full.pid, "the first value written after the outage")
    // Closing waits for the writes in flight: then nothing is half-written, and none of the values of
    // the full disk's time was stored.
    await full.exit()
    assert.deepStrictEqual(temporaryFiles(directory), [], "the failed writes removed their temporary files")
    for (let arg = 3; arg <= 8; arg++) assert.strictEqual(assertValues(await other.call("v1", arg), "v1", arg, 1), other.pid)
    assert.strictEqual(full.logged(STORE_FAILED), 1, "one outage (the disk full for 7 calls), logged once")
    assert.strictEqual(full.logged(STORE_BACK), 1, "its end, logged once")
    await other.exit()
  })

  it("a writer killed (SIGKILL) between its write and the rename: no entry is read, its lock expires, the next process computes", async () => {
    const { directory, log } = setting()
    const writer = new Worker({ directory, log, lockTtl: "1 second", fault: "stall" })
    await writer.ready()
    // The callers have their value before the write, which stalls before its rename.
    assert.strictEqual(assertValues(await writer.call("v1", 1, 3), "v1", 1, 3), writer.pid)
    await writer.event("renaming")
    assert.strictEqual(temporaryFiles(directory).length, 1, "written and synced, not renamed")
    await writer.kill()

    const next = new Worker({ directory, log, lockTtl: "1 second" })
    await next.ready()
    assert.deepStrictEqual(temporaryFiles(directory), [], "swept as the store started: its writer is gone")
    const reply = await next.call("v1", 1, 3)
    assert.strictEqual(assertValues(reply, "v1", 1, 3), next.pid)
    assert.deepStrictEqual(counts(reply.stats), { misses: 1, storeHits: 0, hits: 2 })
    assert.strictEqual(reply.stats.storeErrors, 0)
    assert.deepStrictEqual(runsOf(log, "v1", 1), [writer.pid, next.pid])
    await next.exit()
    assert.strictEqual(entryFiles(directory).length, 1)

    const last = new Worker({ directory, log })
    await last.ready()
    const hit = await last.call("v1", 1)
    assert.strictEqual(assertValues(hit, "v1", 1, 1), next.pid)
    assert.strictEqual(hit.stats.storeHits, 1)
    await last.exit()
  })

  it("the directory deleted (rm -rf) under running caches, also while one computes: right values, and the tier writes again", async () => {
    const { directory, log } = setting()
    const [a, b] = [new Worker({ directory, log }), new Worker({ directory, log })]
    await Promise.all([a.ready(), b.ready()])
    for (const arg of [1, 2]) assertValues(await a.call("v1", arg, 2), "v1", arg, 2)
    await a.writes(2)

    rmSync(directory, { recursive: true, force: true, maxRetries: 10 })
    assert.strictEqual(assertValues(await a.call("v1", 1, 2), "v1", 1, 2), a.pid, "the front tier still has it")
    assert.strictEqual(assertValues(await a.call("v1", 3, 2), "v1", 3, 2), a.pid)
    await a.writes(3)
    assert.isTrue(existsSync(directory), "made again by the write")
    const fromA = await b.call("v1", 3, 2)
    assert.strictEqual(assertValues(fromA, "v1", 3, 2), a.pid, "written after the deletion, read elsewhere")
    assert.strictEqual(assertValues(await b.call("v1", 1, 2), "v1", 1, 2), b.pid, "deleted: computed again")

    // Deleted while a computes, its lock file with it: b may compute too; both get right values.
    const slow = a.call("v1", 4, 2, 1_000)
    slow.catch(() => {}) // awaited below; a failure before that is the test's, not unhandled
    await a.waitFor((m) => m.event === "computing" && m.arg === 4, "computing 4")
    rmSync(directory, { recursive: true, force: true, maxRetries: 10 })
    const inB = await b.call("v1", 4, 2)
    const inA = await slow
    assertValues(inA, "v1", 4, 2)
    assertValues(inB, "v1", 4, 2)
    assert.isAtMost(runsOf(log, "v1", 4).length, 2)
    await Promise.all([a.exit(), b.exit()])
    assert.strictEqual(inA.stats.storeErrors + inB.stats.storeErrors, 0, "a missing directory is no store failure")

    const last = new Worker({ directory, log })
    await last.ready()
    const hit = await last.call("v1", 4)
    assertValues(hit, "v1", 4, 1)
    assert.include([a.pid, b.pid], hit.values[0]!.computedBy)
    assert.strictEqual(hit.stats.storeHits, 1)
    await last.exit()
  })
})

describe("DataCache.layerStore on disk, in one process", () => {
  // Found by a stranger trial: two processes whose bodies call each other's keys each held one lock, renewed
  // it, and waited for the other's forever. Two layers over one directory stand for the two processes here.
  it.live("two processes whose bodies call each other's keys: after lockWait each computes, and both end with the cycle message", () =>
    Effect.gen(function* () {
      const directory = join(parentDirectory(), "cache")
      const process = () =>
        DataCache.layerStore({ lockWait: "1 second" }).pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory })))
      // Each body calls the other key once both hold their locks: each process then waits for the other's.
      const aStarted = yield* Deferred.make<void>()
      const bStarted = yield* Deferred.make<void>()
      const a: (n: number) => Effect.Effect<number, unknown, DataCache.DataCache> = DataCache.fn("cycleA", (n: number) =>
        Effect.andThen(Deferred.succeed(aStarted, undefined), Deferred.await(bStarted)).pipe(
          Effect.andThen(b(n)),
          Effect.map((x) => x + 1)
        )
      )
      const b: (n: number) => Effect.Effect<number, unknown, DataCache.DataCache> = DataCache.fn("cycleB", (n: number) =>
        Effect.andThen(Deferred.succeed(bStarted, undefined), Deferred.await(aStarted)).pipe(
          Effect.andThen(a(n)),
          Effect.map((x) => x + 1)
        )
      )
      const started = Date.now()
      const [one, two] = yield* Effect.all(
        [Effect.exit(a(1).pipe(Effect.provide(process()))), Effect.exit(b(1).pipe(Effect.provide(process())))],
        {
          concurrency: 2
        }
      )
      assert.isBelow(Date.now() - started, 20_000, "bounded by lockWait, not by the test's timeout")
      for (const exit of [one, two]) {
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(Cause.squash(exit.cause)), "called itself with the same arguments")
      }
    })
  )

  // Found by a stranger trial: between the front tier's invalidate and the store's delete, another
  // caller's miss read the entry about to be deleted, and kept it as fresh.
  it.live("30 fibers invalidating and calling one key: a call after an invalidate never gets a value computed before it", () =>
    Effect.gen(function* () {
      let generation = 0
      const stale: Array<string> = []
      const f = DataCache.fn("invalidate-race", (k: string) => Effect.sync(() => ({ k, generation })).pipe(Effect.delay("2 millis")))
      const worker = Effect.gen(function* () {
        for (let j = 0; j < 40; j++) {
          if (j % 10 !== 3) {
            yield* f("k")
            continue
          }
          const before = ++generation
          yield* f.invalidate("k")
          const value = yield* f("k")
          if (value.generation < before) stale.push(`after the invalidate at ${before}, a value of ${value.generation}`)
        }
      })
      for (let round = 0; round < 3; round++) {
        yield* Effect.all(
          Array.from({ length: 30 }, () => worker),
          { concurrency: "unbounded", discard: true }
        ).pipe(
          Effect.provide(
            DataCache.layerStore().pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory: join(parentDirectory(), "cache") })))
          )
        )
      }
      assert.deepStrictEqual(stale, [])
    })
  )

  // The miss's write runs in the background, on the disk's thread pool: the caller has its value first.
  it.live("an invalidate or clear right after a miss, its write still in flight, removes the entry: the next call computes", () =>
    Effect.gen(function* () {
      for (const remove of ["invalidate", "clear", "DataCache.clear"] as const) {
        let runs = 0
        const f = DataCache.fn(`write-then-${remove}`, (k: number) => Effect.sync(() => ({ k, run: ++runs })))
        for (let k = 0; k < 20; k++) {
          const first = yield* f(k)
          yield* remove === "invalidate" ? f.invalidate(k) : remove === "clear" ? f.clear : DataCache.clear
          assert.isFalse(yield* f.has(k), `${remove} ${k}: gone at once`)
          const again = yield* f(k)
          assert.strictEqual(again.run, first.run + 1, `${remove} ${k}: computed again, not the removed value read back`)
        }
      }
    }).pipe(
      Effect.provide(
        DataCache.layerStore().pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory: join(parentDirectory(), "cache") })))
      )
    )
  )

  // Two layers over two instances of the disk store (as two processes have), and the recall command: a removal
  // through any of them reaches the others' front tiers, which would otherwise serve their copies until they expired.
  it.live(
    "an invalidate, a function's clear, DataCache.clear or recall clear reaches the front tier of another cache over the directory",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const directory = join(parentDirectory(), "cache")
          let version = 1
          const data = DataCache.fn({ name: "data", ttl: "1 hour" }, (k: string) => Effect.sync(() => `${k}@v${version}`))
          const other = DataCache.fn({ name: "other", ttl: "1 hour" }, (k: string) => Effect.sync(() => `${k}@v${version}`))
          const cache = () => Layer.build(DataCache.layerStore().pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory }))))
          const a = yield* cache()
          const b = yield* cache()
          const inA = <X, E>(effect: Effect.Effect<X, E, DataCache.DataCache>) => Effect.provide(effect, a)
          const inB = <X, E>(effect: Effect.Effect<X, E, DataCache.DataCache>) => Effect.provide(effect, b)
          /** B's value, once its front tier dropped the old one (a notice comes soon, not at once). */
          const untilB = (f: typeof data, key: string, expected: string) => eventually(inB(f(key)), expected)
          /**
           * Once B's write of what it computed is on disk (a write is in the background, and the disk store has no
           * generations: a clear does not stop a write already under way, see persistence.md).
           */
          const landed = (f: typeof data, key: string) =>
            Effect.gen(function* () {
              const deadline = Date.now() + 5_000
              while (!(yield* inA(f.has(key))) && Date.now() < deadline) yield* Effect.sleep("10 millis")
            })
          assert.strictEqual(yield* inA(data("k")), "k@v1")
          yield* landed(data, "k")
          assert.strictEqual(yield* inB(data("k")), "k@v1", "B reads A's entry and keeps it in front")
          assert.strictEqual(yield* inB(other("k")), "k@v1")
          yield* landed(other, "k")
          version = 2
          yield* inA(data.invalidate("k"))
          assert.strictEqual(yield* untilB(data, "k", "k@v2"), "k@v2", "A's invalidate reached B's front tier")
          assert.strictEqual(yield* inB(other("k")), "k@v1", "another function's front copy stays")
          yield* landed(data, "k")
          version = 3
          yield* inA(data.clear)
          assert.strictEqual(yield* untilB(data, "k", "k@v3"), "k@v3", "A's function clear reached B")
          yield* landed(data, "k")
          version = 4
          yield* inA(DataCache.clear)
          assert.strictEqual(yield* untilB(other, "k", "k@v4"), "k@v4", "A's DataCache.clear reached B")
          // B's write of v4 on disk before the command clears (a write under way would land after the clear).
          yield* landed(other, "k")
          // The recall command, a store of its own over the directory.
          version = 5
          const cleared = yield* RecallCommand.run(["clear", "--dir", directory]).pipe(
            Effect.provideService(Console.Console, { ...globalThis.console, log: () => {} }),
            Effect.provide(NodeServices.layer),
            Effect.exit
          )
          assert.isTrue(Exit.isSuccess(cleared))
          assert.strictEqual(yield* untilB(other, "k", "k@v5"), "k@v5", "recall clear reached B")
        })
      )
  )

  // Read back in a new layer, each of its large typed arrays is a view of the buffer the disk store read its bytes into:
  // no copy out of one buffer holding them all (none shares a buffer with another).
  it.live("a large value read back from disk: each large typed array in a buffer of its own, as read (getParts), none copied", () =>
    Effect.gen(function* () {
      const directory = join(parentDirectory(), "cache")
      const read: Array<Uint8Array> = []
      const spied = diskSpied(directory, (store) => ({
        getParts: (namespace, key) =>
          Effect.tap(store.getParts!(namespace, key), (got) => Effect.sync(() => Option.isSome(got) && read.push(...got.value.parts)))
      }))
      const column = (seed: number) => new Float64Array(1 << 17).map((_, i) => seed + i / 7)
      const frame = DataCache.fn("apart-frame", (seed: number) =>
        Effect.sync(() => ({ a: column(seed), b: column(seed + 1), c: new Int32Array(1 << 18).fill(seed), label: `frame ${seed}` }))
      )
      yield* frame(1).pipe(Effect.provide(DataCache.layerStore().pipe(Layer.provide(spied))))
      read.length = 0
      const got = yield* Effect.gen(function* () {
        const value = yield* frame(1)
        assert.strictEqual((yield* frame.stats).storeHits, 1)
        return value
      }).pipe(Effect.provide(DataCache.layerStore().pipe(Layer.provide(spied))))
      assert.deepStrictEqual(got, { a: column(1), b: column(2), c: new Int32Array(1 << 18).fill(1), label: "frame 1" })
      for (const array of [got.a, got.b, got.c]) {
        assert.isTrue(
          read.some((part) => part.buffer === array.buffer),
          "a view of the buffer the store read"
        )
        assert.strictEqual(array.buffer.byteLength, array.byteLength)
      }
      assert.strictEqual(new Set([got.a.buffer, got.b.buffer, got.c.buffer]).size, 3)
    })
  )

  // A large value's entry goes to the disk store in parts (setParts): its typed arrays' bytes as they lie in the
  // front tier's copy, never joined into one buffer. The caller's own value is another object.
  it.live("a large value goes to the store in parts, a small one whole, a signed one whole; each reads back exactly in a new layer", () =>
    Effect.gen(function* () {
      const directory = join(parentDirectory(), "cache")
      const calls: Array<string> = []
      const spied = diskSpied(directory, (store) => ({
        set: (namespace, key, bytes, expiresAt) => {
          calls.push(`set ${bytes.byteLength}`)
          return store.set(namespace, key, bytes, expiresAt)
        },
        setParts: (namespace, key, parts, expiresAt) => {
          calls.push(`setParts ${parts.length}`)
          return store.setParts!(namespace, key, parts, expiresAt)
        }
      }))
      const column = (seed: number) => new Float64Array(1 << 17).map((_, i) => seed + i / 7)
      let runs = 0
      const frame = DataCache.fn("parts-frame", (seed: number) =>
        Effect.sync(() => {
          runs++
          return { a: column(seed), b: column(seed + 1), label: `frame ${seed}`, small: new Int8Array([1, -1]) }
        })
      )
      const expected = (seed: number) => ({ a: column(seed), b: column(seed + 1), label: `frame ${seed}`, small: new Int8Array([1, -1]) })
      for (const signed of [false, true]) {
        calls.length = 0
        const layer = () =>
          DataCache.layerStore(signed ? { secret: Redacted.make("a secret of more than sixteen bytes") } : {}).pipe(Layer.provide(spied))
        const seed = signed ? 10 : 0
        yield* Effect.gen(function* () {
          const got = yield* frame(seed)
          // The caller's value is its own: changed at once, before the background write ran, it is not what is stored.
          got.a.fill(-1)
          got.label = "changed"
          assert.deepStrictEqual(yield* frame(seed + 100).pipe(Effect.map((v) => v.label)), `frame ${seed + 100}`)
          yield* DataCache.fn("parts-small", (n: number) => Effect.succeed({ n }))(1)
        }).pipe(Effect.provide(layer()))
        assert.strictEqual(calls.filter((call) => call.startsWith("setParts")).length, signed ? 0 : 2, calls.join(", "))
        assert.strictEqual(calls.filter((call) => call.startsWith("set ")).length, signed ? 3 : 1, calls.join(", "))
        const before = runs
        const read = yield* Effect.all([frame(seed), frame(seed + 100)]).pipe(Effect.provide(layer()))
        assert.strictEqual(runs, before, "both read from the store, not computed")
        assert.deepStrictEqual(read, [expected(seed), expected(seed + 100)])
      }
    })
  )
})
