/**
 * The disk store: the CacheStore contract (with locks) on a real temporary
 * directory, then what only a disk has: modes, names, bounds on disk,
 * damaged files, a directory deleted or unwritable, and several OS processes
 * sharing one directory (writing, holding a lock when killed, killed
 * mid-write, computing one key).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it, vi } from "@effect/vitest"
import { InvalidOptionsError } from "@recall/core/CachedFunction"
import { CacheStore, NodeCacheStore, NodeHasher } from "@recall/node"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, FileSystem, Layer, Option, Queue, Stream } from "effect"
import * as PlatformError from "effect/PlatformError"
import * as TestClock from "effect/testing/TestClock"
// The core's hashing internals, to uninstall the native digester.
import * as Xxh3 from "../../core/src/internal/xxh3.ts"
import { storeConformance } from "../../core/test/fixtures/storeConformance.ts"
import { captureLogs } from "../../core/test/fixtures/storeHarness.ts"
import * as EntryRead from "../src/internal/entryRead.ts"
import { tempDirectories } from "./fixtures/tempDirectories.ts"

const parentDirectory = tempDirectories("recall-disk-")

/** A fresh directory; the store's own is a child of it, so the store makes it. */
const fresh = (): string => {
  return join(parentDirectory(), "cache")
}

const nameOf = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 32)
const entryPath = (directory: string, namespace: string, key: string) => join(directory, nameOf(namespace), nameOf(key))
const modeOf = (path: string) => statSync(path).mode & 0o777
/** The recency the store stamped on the file at `path`, in whole ms (it stamps half a microsecond past the ms). */
const stampedAt = (path: string) => Math.floor(statSync(path).mtimeMs)
const bytesOf = (...values: ReadonlyArray<number>) => new Uint8Array(values)

/** Every path under `directory`, relative. */
const walk = (directory: string): Array<string> =>
  readdirSync(directory, { recursive: true, encoding: "utf8" }).map((path) => path.toString())

const withStore = <A, E>(layer: Layer.Layer<CacheStore.CacheStore>, body: (store: CacheStore.Service) => Effect.Effect<A, E>) =>
  Effect.flatMap(CacheStore.CacheStore, body).pipe(Effect.provide(layer))

const onDisk = (options: NodeCacheStore.Options) => NodeCacheStore.layerFileSystem(options)

/** A disk store over `directory`, open (its notices' listeners too) while the enclosing scope lasts. */
const storeIn = (directory: string) =>
  Effect.flatMap(Layer.build(onDisk({ directory })), (context) => Effect.provide(CacheStore.CacheStore, context))

storeConformance("NodeCacheStore.layerFileSystem", () => onDisk({ directory: fresh() }), {
  locks: true,
  setParts: true,
  getParts: true,
  notices: () => {
    const directory = fresh()
    return [onDisk({ directory }), onDisk({ directory }), onDisk({ directory: fresh() })]
  }
})

/** Writes the entries "a", "b" and "c" of namespace "ns" at 1 s, 2 s and 3 s on the TestClock (oldest first). */
const writeAbc = (store: CacheStore.Service, bytes: () => Uint8Array) =>
  Effect.gen(function* () {
    for (const [time, key] of [
      [1_000, "a"],
      [2_000, "b"],
      [3_000, "c"]
    ] as const) {
      yield* TestClock.setTime(time)
      yield* store.set("ns", key, bytes(), Infinity)
    }
  })

describe("NodeCacheStore.layerFileSystem on disk", () => {
  // Found by a stranger trial: `directory: ""` silently used the working directory (its .locks/ and CACHEDIR.TAG
  // landed in the project's root), and `maxEntries: 0` was taken.
  it("bad options are an InvalidOptionsError when the layer is made, naming the option and the fix", () => {
    const cases: ReadonlyArray<readonly [NodeCacheStore.Options, string, string]> = [
      [{ directory: "" }, "directory", "working directory"],
      [{ directory: 7 as unknown as string }, "directory", "number"],
      [{ directory: fresh(), maxEntries: 0 }, "maxEntries", "at least 1"],
      [{ directory: fresh(), maxEntries: 2.5 }, "maxEntries", "whole number"],
      [{ directory: fresh(), maxBytes: -1 }, "maxBytes", "at least 1"],
      [{ directory: fresh(), maxBytes: Number.NaN }, "maxBytes", "at least 1"]
    ]
    for (const [options, option, says] of cases) {
      for (const make of [NodeCacheStore.layerFileSystem, NodeCacheStore.layer, NodeCacheStore.make] as ReadonlyArray<
        (options: NodeCacheStore.Options) => unknown
      >) {
        let thrown: unknown
        try {
          make(options)
        } catch (e) {
          thrown = e
        }
        assert.instanceOf(thrown, InvalidOptionsError, `${option}: ${String(thrown)}`)
        assert.include((thrown as Error).message, `\`${option}\``)
        assert.include((thrown as Error).message, says)
      }
    }
    // Bounds left out, or Infinity, are no bound.
    NodeCacheStore.layerFileSystem({ directory: fresh(), maxEntries: Infinity, maxBytes: undefined })
  })

  it.effect("files are 0600 in directories 0700, lock files included", () => {
    const directory = fresh()
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        yield* store.set("ns", "k", bytesOf(1), Infinity)
        yield* store.locks!.acquire("ns", "k", "1 minute")
        assert.strictEqual(modeOf(directory), 0o700)
        assert.strictEqual(modeOf(join(directory, nameOf("ns"))), 0o700)
        assert.strictEqual(modeOf(entryPath(directory, "ns", "k")), 0o600)
        assert.strictEqual(modeOf(join(directory, ".locks")), 0o700)
        const locks = readdirSync(join(directory, ".locks"))
        assert.strictEqual(locks.length, 1)
        assert.strictEqual(modeOf(join(directory, ".locks", locks[0]!)), 0o600)
      })
    )
  })

  it.effect("file names are hashes: no namespace or argument text", () => {
    const directory = fresh()
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        yield* store.set("loadReport:secret", "city=Oslo&token=hunter2", bytesOf(1), Infinity)
        yield* store.locks!.acquire("loadReport:secret", "city=Oslo&token=hunter2", "1 minute")
        const names = walk(directory)
        assert.isAbove(names.length, 2)
        for (const name of names) {
          assert.match(name, /^(CACHEDIR\.TAG|\.locks|[0-9a-f]{32})(\/([0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{32}\.lock))?$/, name)
          assert.notMatch(name, /Oslo|hunter2|secret|loadReport/)
        }
        assert.deepStrictEqual(
          (yield* store.list).map((info) => info.namespace),
          ["loadReport:secret"]
        )
      })
    )
  })

  it.effect("the first write tags the directory (CACHEDIR.TAG), and keeps a tag that is there", () => {
    const directory = fresh()
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        yield* store.set("ns", "k", bytesOf(1), Infinity)
        const tag = readFileSync(join(directory, NodeCacheStore.CACHE_DIRECTORY_TAG), "utf8")
        assert.isTrue(tag.startsWith("Signature: 8a477f597d28d172789f06886806bc55"))
        assert.isTrue(NodeCacheStore.isCacheDirectoryTag(tag))
        assert.strictEqual(modeOf(join(directory, NodeCacheStore.CACHE_DIRECTORY_TAG)), 0o600)
        writeFileSync(join(directory, NodeCacheStore.CACHE_DIRECTORY_TAG), `${tag}# edited\n`)
        yield* store.set("ns", "k2", bytesOf(2), Infinity)
        assert.include(readFileSync(join(directory, NodeCacheStore.CACHE_DIRECTORY_TAG), "utf8"), "# edited")
      })
    )
  })

  it.effect("files the store did not make are never deleted: not by sweeps, clearNamespace or clearAll", () => {
    const directory = fresh()
    const ns = join(directory, nameOf("ns"))
    const foreign = join(directory, "f".repeat(32))
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        yield* store.set("ns", "k", bytesOf(1), Infinity)
        // Beside the store's entry: a file with another name, and one with an entry's name but no entry in it.
        writeFileSync(join(ns, "notes.txt"), "keep")
        writeFileSync(join(ns, "e".repeat(32)), "not an entry")
        mkdirSync(foreign)
        writeFileSync(join(foreign, "d".repeat(32)), "another program's")
        yield* store.list
        assert.isTrue(existsSync(join(ns, "e".repeat(32))), "a sweep deletes only entries")
        yield* store.clearNamespace("ns")
        assert.isTrue(Option.isNone(yield* store.get("ns", "k")))
        assert.sameMembers(readdirSync(ns), ["notes.txt", "e".repeat(32)])
        yield* store.set("ns", "k", bytesOf(1), Infinity)
        yield* store.clearAll
        assert.isTrue(Option.isNone(yield* store.get("ns", "k")))
        assert.sameMembers(readdirSync(ns), ["notes.txt", "e".repeat(32)])
        assert.strictEqual(readFileSync(join(foreign, "d".repeat(32)), "utf8"), "another program's")
        // A link in a namespace directory's place: the link goes, what it points to stays, entries included.
        const elsewhere = fresh()
        yield* withStore(onDisk({ directory: elsewhere }), (other) => other.set("ns", "k", bytesOf(9), Infinity))
        rmSync(ns, { recursive: true, force: true })
        symlinkSync(join(elsewhere, nameOf("ns")), ns)
        writeFileSync(join(elsewhere, nameOf("ns"), "notes.txt"), "keep")
        yield* store.clearAll
        assert.isFalse(existsSync(ns))
        assert.isTrue(existsSync(entryPath(elsewhere, "ns", "k")), "the entry the link pointed at is not deleted")
      })
    )
  })

  it.effect("maxEntries: the least recently used go first, a get counts as a use", () => {
    const directory = fresh()
    return withStore(onDisk({ directory, maxEntries: 3 }), (store) =>
      Effect.gen(function* () {
        yield* writeAbc(store, () => bytesOf(1))
        yield* TestClock.setTime(4_000)
        assert.isTrue(Option.isSome(yield* store.get("ns", "a")), "a used after b and c")
        yield* TestClock.setTime(5_000)
        yield* store.set("other", "d", bytesOf(2), Infinity)
        assert.isTrue(Option.isNone(yield* store.get("ns", "b")), "b: least recently used")
        for (const [namespace, key] of [
          ["ns", "a"],
          ["ns", "c"],
          ["other", "d"]
        ] as const) {
          assert.isTrue(Option.isSome(yield* store.get(namespace, key)), key)
        }
        assert.strictEqual((yield* store.stats).entries, 3)
        assert.isFalse(existsSync(entryPath(directory, "ns", "b")), "deleted on disk")
        yield* TestClock.setTime(6_000)
        yield* store.set("ns", "a", bytesOf(9), Infinity)
        assert.strictEqual((yield* store.stats).entries, 3, "a replacement is not a new entry")
      })
    )
  })

  it.effect("maxEntries: an entry whose modification time has a fraction of a millisecond is evicted in its turn", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      yield* withStore(onDisk({ directory }), (store) => writeAbc(store, () => bytesOf(1)))
      // Set by hand, or by a tool that stamps in nanoseconds: the scan and the eviction's stat must agree on it.
      utimesSync(entryPath(directory, "ns", "a"), 0.5004567, 0.5004567)
      yield* withStore(onDisk({ directory, maxEntries: 3 }), (store) =>
        Effect.gen(function* () {
          yield* TestClock.setTime(4_000)
          yield* store.set("ns", "d", bytesOf(1), Infinity)
        })
      )
      assert.isFalse(existsSync(entryPath(directory, "ns", "a")), "a, the least recently used, went")
      assert.isTrue(existsSync(entryPath(directory, "ns", "b")))
    })
  })

  // Found by a spec trial: six sets in one process, maxEntries 3, kept [1,4,5] or [2,3,5] about half the time.
  // `utimes` takes seconds as a double, which libuv cuts to whole nanoseconds; for these times `t / 1000` lies
  // just below the millisecond, and a bigint stat (Effect's FileSystem.stat, the eviction's) cuts it to one
  // lower, where Node's plain stat (the scan's) rounds it: the eviction took the entry for one another process
  // had used since, and passed over it.
  it.effect("maxEntries: entries stamped at times whose seconds are not exact doubles are evicted oldest first", () => {
    const directory = fresh()
    const times = [1_796_410_969_001, 1_796_410_969_002, 1_796_410_969_003, 1_796_410_969_004, 1_796_410_969_005, 1_796_410_969_006]
    const probeDirectory = fresh()
    mkdirSync(probeDirectory, { recursive: true })
    const probe = join(probeDirectory, "probe")
    writeFileSync(probe, "")
    const readBack = times.map((t) => {
      utimesSync(probe, t / 1000, t / 1000)
      return Number(statSync(probe, { bigint: true }).mtimeNs / 1_000_000n) - t
    })
    return withStore(onDisk({ directory, maxEntries: 3 }), (store) =>
      Effect.gen(function* () {
        // The premise: the first stamp reads back one lower, cut, the second as it is.
        assert.deepStrictEqual(readBack.slice(0, 2), [-1, 0])
        for (const [i, t] of times.entries()) {
          yield* TestClock.setTime(t)
          yield* store.set("ns", `k${i}`, bytesOf(i), Infinity)
          const present: Array<number> = []
          for (let j = 0; j <= i; j++) if (existsSync(entryPath(directory, "ns", `k${j}`))) present.push(j)
          assert.deepStrictEqual(
            present,
            [i - 2, i - 1, i].filter((j) => j >= 0),
            `after k${i}`
          )
        }
      })
    )
  })

  it.effect("maxEntries: a get in another process (another store) counts as a use too", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      const writer = yield* Effect.provide(
        Effect.map(CacheStore.CacheStore, (store) => store),
        onDisk({ directory, maxEntries: 3 })
      )
      const reader = yield* Effect.provide(
        Effect.map(CacheStore.CacheStore, (store) => store),
        onDisk({ directory })
      )
      yield* writeAbc(writer, () => bytesOf(1))
      yield* TestClock.setTime(4_000)
      assert.isTrue(Option.isSome(yield* reader.get("ns", "a")))
      yield* TestClock.setTime(5_000)
      yield* writer.set("ns", "d", bytesOf(1), Infinity)
      assert.isFalse(existsSync(entryPath(directory, "ns", "b")), "b, not a: the writer checks the disk before it evicts")
      assert.isTrue(existsSync(entryPath(directory, "ns", "a")))
      assert.strictEqual((yield* reader.stats).entries, 3)
    })
  })

  it.effect(
    "a get sets the recency on disk again only once it is older than the precision (a tenth of sweepInterval, at most a minute); this process's order counts every use",
    () => {
      const directory = fresh()
      return withStore(onDisk({ directory, maxEntries: 3 }), (store) =>
        Effect.gen(function* () {
          yield* writeAbc(store, () => bytesOf(1))
          const a = entryPath(directory, "ns", "a")
          yield* TestClock.setTime(4_000)
          assert.isTrue(Option.isSome(yield* store.get("ns", "a")))
          assert.strictEqual(stampedAt(a), 1_000, "3 s after its stamp: the file is left alone")
          yield* TestClock.setTime(5_000)
          yield* store.set("ns", "d", bytesOf(1), Infinity)
          assert.isFalse(existsSync(entryPath(directory, "ns", "b")), "b went: the use of a counted in this process")
          assert.isTrue(existsSync(a))
          yield* TestClock.setTime(61_000)
          assert.isTrue(Option.isSome(yield* store.get("ns", "a")))
          assert.strictEqual(stampedAt(a), 61_000, "a minute after its stamp: set again")
        })
      ).pipe(
        Effect.andThen(() => {
          // With a sweep every 10 seconds, the precision is a second.
          const other = fresh()
          return withStore(onDisk({ directory: other, sweepInterval: "10 seconds" }), (store) =>
            Effect.gen(function* () {
              yield* TestClock.setTime(100_000)
              yield* store.set("ns", "a", bytesOf(1), Infinity)
              yield* TestClock.setTime(100_900)
              yield* store.get("ns", "a")
              assert.strictEqual(stampedAt(entryPath(other, "ns", "a")), 100_000)
              yield* TestClock.setTime(101_000)
              yield* store.get("ns", "a")
              assert.strictEqual(stampedAt(entryPath(other, "ns", "a")), 101_000)
            })
          )
        })
      )
    }
  )

  it.effect(
    "another process's get counts on disk once the recency it knows is older than the precision; within it, the file is left alone",
    () => {
      const directory = fresh()
      return Effect.gen(function* () {
        const writer = yield* Effect.provide(
          Effect.map(CacheStore.CacheStore, (store) => store),
          onDisk({ directory, maxEntries: 3 })
        )
        yield* writeAbc(writer, () => bytesOf(1))
        // Started after the writes: its scan knows each entry's recency.
        const reader = yield* Effect.provide(
          Effect.map(CacheStore.CacheStore, (store) => store),
          onDisk({ directory })
        )
        const a = entryPath(directory, "ns", "a")
        yield* TestClock.setTime(30_000)
        assert.isTrue(Option.isSome(yield* reader.get("ns", "a")))
        assert.strictEqual(stampedAt(a), 1_000, "within a minute of the stamp it knows")
        yield* TestClock.setTime(62_000)
        assert.isTrue(Option.isSome(yield* reader.get("ns", "a")))
        assert.strictEqual(stampedAt(a), 62_000)
        yield* TestClock.setTime(63_000)
        yield* writer.set("ns", "d", bytesOf(1), Infinity)
        assert.isFalse(existsSync(entryPath(directory, "ns", "b")), "b, not a: the reader's use is on disk")
        assert.isTrue(existsSync(a))
      })
    }
  )

  it.effect("an entry another process wrote since this one's scan counts toward this one's bounds once it reads it", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      const reader = yield* Effect.provide(
        Effect.map(CacheStore.CacheStore, (store) => store),
        onDisk({ directory, maxEntries: 1 })
      )
      const writer = yield* Effect.provide(
        Effect.map(CacheStore.CacheStore, (store) => store),
        onDisk({ directory })
      )
      yield* TestClock.setTime(1_000)
      yield* writer.set("ns", "x", bytesOf(1), Infinity)
      yield* TestClock.setTime(2_000)
      assert.isTrue(Option.isSome(yield* reader.get("ns", "x")))
      assert.strictEqual(stampedAt(entryPath(directory, "ns", "x")), 2_000, "unknown to the reader: stamped")
      yield* TestClock.setTime(3_000)
      yield* reader.set("ns", "y", bytesOf(2), Infinity)
      assert.isFalse(existsSync(entryPath(directory, "ns", "x")), "x was in the reader's view: its write evicted it")
      assert.isTrue(existsSync(entryPath(directory, "ns", "y")))
    })
  })

  it.effect("entries of every size read whole: with no size known, a wrong one, and reads that stop short", () => {
    const directory = fresh()
    /** The node file system, with every read of an open file returning at most `most` bytes (as a network file system may). */
    const shortReads = (most: number) =>
      Layer.effect(
        FileSystem.FileSystem,
        Effect.map(
          FileSystem.FileSystem,
          (fs): FileSystem.FileSystem => ({
            ...fs,
            open: (path, options) =>
              Effect.map(fs.open(path, options), (file) =>
                Object.assign(Object.create(file) as FileSystem.File, {
                  read: (buffer: Uint8Array, readOptions?: FileSystem.File.ReadOptions) =>
                    file.read(buffer.subarray(0, Math.min(buffer.byteLength, most)), readOptions)
                })
              )
          })
        )
      ).pipe(Layer.provide(NodeFileSystem.layer))
    const payloadOf = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff)
    const cases = [
      ["ns", 0],
      ["ns", 1],
      ["ns", 1_000],
      ["ns", 16_000],
      ["ns", 16_384],
      ["ns", 17_000],
      ["ns", 65_400],
      ["ns", 65_536],
      ["ns", 70_000],
      ["ns", 1_000_000],
      ["n".repeat(20_000), 10]
    ] as const
    return Effect.gen(function* () {
      const storeOn = (layer: Layer.Layer<CacheStore.CacheStore>) =>
        Effect.provide(
          Effect.map(CacheStore.CacheStore, (store) => store),
          layer
        )
      const writer = yield* storeOn(onDisk({ directory }))
      // Started before the writes: it knows no sizes.
      const blind = [
        yield* storeOn(onDisk({ directory })),
        yield* storeOn(onDisk({ directory, synchronousReads: false })),
        yield* storeOn(NodeCacheStore.layer({ directory }).pipe(Layer.provide(shortReads(1_000))))
      ]
      for (const [namespace, length] of cases) yield* writer.set(namespace, `k${length}`, payloadOf(length, 1), Infinity)
      // Started after: it knows every size, then each entry is rewritten with another.
      const knowing = [
        yield* storeOn(onDisk({ directory })),
        yield* storeOn(onDisk({ directory, synchronousReads: false })),
        yield* storeOn(NodeCacheStore.layer({ directory }).pipe(Layer.provide(shortReads(777))))
      ]
      for (const [s, store] of [...blind, ...knowing].entries()) {
        for (const [namespace, length] of cases) {
          const got = yield* store.get(namespace, `k${length}`)
          assert.isTrue(Option.isSome(got), `${length} bytes, store ${s}`)
          assert.deepStrictEqual(Option.getOrThrow(got).bytes, payloadOf(length, 1), `${length} bytes, store ${s}`)
        }
      }
      const swapped = [
        [0, 17_000],
        [1_000, 70_000],
        [16_384, 1_000_000],
        [1, 16_000]
      ] as const
      for (const [one, other] of swapped) {
        yield* writer.set("ns", `k${one}`, payloadOf(other, 2), Infinity)
        yield* writer.set("ns", `k${other}`, payloadOf(one, 2), Infinity)
      }
      for (const [s, store] of [...blind, ...knowing].entries()) {
        for (const [one, other] of swapped) {
          assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", `k${one}`)).bytes, payloadOf(other, 2), `k${one}, store ${s}`)
          assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", `k${other}`)).bytes, payloadOf(one, 2), `k${other}, store ${s}`)
        }
      }
    })
  })

  it.live("small reads are synchronous (a hit completes in Effect.runSync), large ones and synchronousReads: false are not", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      const storeOn = (options: Partial<NodeCacheStore.Options>) =>
        Effect.provide(
          Effect.map(CacheStore.CacheStore, (store) => store),
          onDisk({ directory, ...options })
        )
      const writer = yield* storeOn({})
      yield* writer.set("ns", "small", bytesOf(1, 2, 3), Infinity)
      yield* writer.set("ns", "large", new Uint8Array(100_000).fill(9), Infinity)
      const [sync, async] = [yield* storeOn({}), yield* storeOn({ synchronousReads: false })]
      assert.deepStrictEqual(Option.getOrThrow(Effect.runSync(sync.get("ns", "small"))).bytes, bytesOf(1, 2, 3))
      assert.isTrue(Option.isNone(Effect.runSync(sync.get("ns", "missing"))), "a miss is one failed open")
      for (const [store, key] of [
        [sync, "large"],
        [async, "small"]
      ] as const) {
        const exit = Effect.runSyncExit(store.get("ns", key))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), `${key}: the read went to the thread pool`)
        assert.isTrue(Option.isSome(yield* store.get("ns", key)), key)
      }
    })
  })

  it("slow synchronous reads turn them off: 16 over 1 ms, or one over 20 ms; fast ones never", () => {
    const fast = EntryRead.syncReads(true)
    for (let i = 0; i < 10_000; i++) EntryRead.timed(fast, 0.9)
    assert.isTrue(fast.on)
    const slow = EntryRead.syncReads(true)
    for (let i = 1; i < EntryRead.SLOW_READS; i++) assert.isFalse(EntryRead.timed(slow, 5), `slow read ${i}`)
    assert.isTrue(slow.on)
    assert.isTrue(EntryRead.timed(slow, 5), "the 16th slow read turns them off")
    assert.isFalse(slow.on)
    const stalled = EntryRead.syncReads(true)
    assert.isTrue(EntryRead.timed(stalled, 25))
    assert.isFalse(stalled.on)
  })

  // Small reads are synchronous by default (they cannot be interrupted: they end before the interrupt); the large
  // one is read asynchronously, and every read is with synchronousReads off.
  for (const [synchronousReads, inFlight] of [
    [false, 100],
    [true, 20]
  ] as const) {
    it.live(
      `reads interrupted at every step leave no file open, and the entries still read (synchronousReads: ${synchronousReads})`,
      () => {
        const directory = fresh()
        const openFiles = () => readdirSync("/proc/self/fd").length
        return withStore(onDisk({ directory, synchronousReads }), (store) =>
          Effect.gen(function* () {
            for (let i = 0; i < 20; i++) yield* store.set("ns", `k${i}`, bytesOf(i, 1, 2), Infinity)
            yield* store.set("ns", "large", new Uint8Array(3_000_000).fill(7), Infinity)
            const before = openFiles()
            let interrupted = 0
            for (let turns = 0; turns < 40; turns++) {
              const fibers = []
              for (const key of [...Array.from({ length: 20 }, (_, i) => `k${i}`), "large", "missing"]) {
                fibers.push(yield* Effect.forkChild(store.get("ns", key), { startImmediately: true }))
              }
              for (let t = 0; t < turns % 5; t++) yield* Effect.yieldNow
              yield* Fiber.interruptAll(fibers)
              for (const fiber of fibers) if (Exit.hasInterrupts(yield* Fiber.await(fiber))) interrupted++
            }
            assert.isAbove(interrupted, inFlight, "reads were interrupted in flight")
            // The closes run on the thread pool: bounded, they are done within a few seconds.
            for (let waited = 0; openFiles() > before && waited < 100; waited++) yield* Effect.sleep("20 millis")
            assert.isAtMost(openFiles(), before, "every file opened by an interrupted read is closed")
            for (let i = 0; i < 20; i++) assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", `k${i}`)).bytes, bytesOf(i, 1, 2))
            assert.strictEqual(Option.getOrThrow(yield* store.get("ns", "large")).bytes.byteLength, 3_000_000)
          })
        )
      }
    )
  }

  it.live("reads in parts interrupted at every step leave no file open, and the entries still read", () => {
    const directory = fresh()
    const openFiles = () => readdirSync("/proc/self/fd").length
    const large = (seed: number) => new Uint8Array(1_200_000).fill(seed)
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        for (let i = 0; i < 4; i++)
          yield* store.setParts!("ns", `k${i}`, [bytesOf(i), large(i), bytesOf(i, i), large(i + 1), bytesOf(9)], Infinity)
        const before = openFiles()
        let interrupted = 0
        for (let turns = 0; turns < 40; turns++) {
          const fibers = []
          for (const key of ["k0", "k1", "k2", "k3", "missing"]) {
            fibers.push(yield* Effect.forkChild(store.getParts!("ns", key), { startImmediately: true }))
          }
          for (let t = 0; t < turns % 8; t++) yield* Effect.yieldNow
          yield* Fiber.interruptAll(fibers)
          for (const fiber of fibers) if (Exit.hasInterrupts(yield* Fiber.await(fiber))) interrupted++
        }
        assert.isAbove(interrupted, 50, "reads were interrupted in flight")
        for (let waited = 0; openFiles() > before && waited < 100; waited++) yield* Effect.sleep("20 millis")
        assert.isAtMost(openFiles(), before, "every file opened by an interrupted read is closed")
        for (let i = 0; i < 4; i++) {
          const parts = Option.getOrThrow(yield* store.getParts!("ns", `k${i}`)).parts
          assert.deepStrictEqual(
            parts.map((part) => part.byteLength),
            [1, 1_200_000, 2, 1_200_000, 1]
          )
          assert.deepStrictEqual(parts[3], large(i + 1))
        }
      })
    )
  })

  it.effect(
    "an entry with a table of parts (RCS2): header and table flipped, cut at its parts' edges, one byte too many: a miss or the same bytes",
    () => {
      const directory = fresh()
      const large = (seed: number) => Uint8Array.from({ length: 1_100_000 }, (_, i) => (i * 7 + seed) & 0xff)
      const parts = [bytesOf(1, 2, 3), large(1), bytesOf(4), large(2), bytesOf(5, 6)]
      const whole = Buffer.concat(parts)
      return Effect.gen(function* () {
        const provide = <A, E>(body: (store: CacheStore.Service) => Effect.Effect<A, E>) => withStore(onDisk({ directory }), body)
        yield* TestClock.setTime(1_000)
        yield* provide((store) => store.setParts!("ns", "k", parts, 1_000_000))
        const path = entryPath(directory, "ns", "k")
        const original = readFileSync(path)
        assert.strictEqual(original.toString("latin1", 0, 4), "RCS2")
        const payloadAt = original.byteLength - whole.byteLength
        // Each read both ways, by a store that knows the file (its scan) and by one that started before it was written.
        const reads = (store: CacheStore.Service) =>
          Effect.gen(function* () {
            const got = yield* store.get("ns", "k")
            const inParts = yield* store.getParts!("ns", "k")
            return [got, Option.map(inParts, (entry) => ({ ...entry, bytes: Buffer.concat(entry.parts) }))] as const
          })
        const check = (
          what: string,
          read: ReadonlyArray<Option.Option<{ readonly bytes: Uint8Array; readonly expiresAt: number }>>,
          mayRead: boolean
        ) => {
          for (const got of read) {
            if (Option.isNone(got)) continue
            assert.isTrue(mayRead, `${what}: read`)
            assert.isTrue(Buffer.from(got.value.bytes).equals(whole), `${what}: the same bytes`)
            assert.strictEqual(got.value.expiresAt, 1_000_000)
          }
        }
        for (let i = 0; i < payloadAt; i++) {
          const flipped = Buffer.from(original)
          flipped[i]! ^= 0x10
          writeFileSync(path, flipped)
          // Only the padding after the table may change unseen.
          check(`byte ${i} flipped`, yield* provide(reads), i >= payloadAt - 7)
        }
        const edges = [0, 4, 40, 48, payloadAt - 1, payloadAt, payloadAt + 3, payloadAt + 4, payloadAt + 1_100_003, original.byteLength - 1]
        for (const edge of edges) {
          for (const length of [edge - 1, edge, edge + 1]) {
            if (length < 0 || length >= original.byteLength) continue
            writeFileSync(path, original.subarray(0, length))
            check(`cut to ${length} bytes`, yield* provide(reads), false)
          }
        }
        writeFileSync(path, Buffer.concat([original, Buffer.from([0])]))
        check("one byte too many", yield* provide(reads), false)
        writeFileSync(path, original)
        const [got, inParts] = yield* provide(reads)
        assert.isTrue(Buffer.from(Option.getOrThrow(got).bytes).equals(whole), "the original still reads")
        assert.isTrue(Buffer.from(Option.getOrThrow(inParts).bytes).equals(whole), "the original still reads in parts")
      })
    }
  )

  it.effect(
    "getParts reads apart whatever this process knows of the file: nothing, its size, a size gone stale; names longer than the first read",
    () => {
      const directory = fresh()
      const large = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff)
      const longNamespace = "n".repeat(70_000)
      return Effect.gen(function* () {
        const storeOn = () =>
          Effect.provide(
            Effect.map(CacheStore.CacheStore, (store) => store),
            onDisk({ directory })
          )
        const writer = yield* storeOn()
        const blind = yield* storeOn()
        const write = (namespace: string, seed: number, length: number) =>
          writer.setParts!(namespace, "k", [bytesOf(seed), large(length, seed), bytesOf(seed, seed)], Infinity)
        yield* write("ns", 1, 1_500_000)
        yield* write(longNamespace, 2, 1_500_000)
        yield* write("small", 3, 100_000)
        const knowing = yield* storeOn()
        /** Reads the entry in parts: the same bytes; with `apart`, its large part alone in its buffer. */
        const expect = (store: CacheStore.Service, namespace: string, seed: number, length: number, apart: boolean, what: string) =>
          Effect.gen(function* () {
            const parts = Option.getOrThrow(yield* store.getParts!(namespace, "k")).parts
            assert.isTrue(Buffer.concat(parts).equals(Buffer.concat([bytesOf(seed), large(length, seed), bytesOf(seed, seed)])), what)
            const alone = parts.some((part) => part.byteLength === length && part.buffer.byteLength === length)
            if (apart) assert.isTrue(alone, `${what}: read apart`)
          })
        for (const [s, store] of [blind, knowing, writer].entries()) {
          yield* expect(store, "ns", 1, 1_500_000, true, `store ${s}`)
          // Its names and table are past the first read: read whole.
          yield* expect(store, longNamespace, 2, 1_500_000, false, `store ${s}, a long name`)
          yield* expect(store, "small", 3, 100_000, false, `store ${s}, a small entry`)
        }
        // Each rewritten at another size: what the readers knew is stale.
        yield* write("ns", 4, 200_000)
        yield* write("small", 5, 2_000_000)
        for (const [s, store] of [blind, knowing].entries()) {
          yield* expect(store, "ns", 4, 200_000, false, `store ${s}, shrunk`)
          yield* expect(store, "small", 5, 2_000_000, true, `store ${s}, grown`)
        }
      })
    }
  )

  it.live("notices on disk: listening makes and tags the directory; notices older than a minute are swept", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const directory = fresh()
        const storeOn = () => storeIn(directory)
        yield* (yield* storeOn()).notices!.subscribe(() => {})
        // The directory is the store's from then on: tagged, so the recall command takes it.
        assert.isTrue(existsSync(join(directory, "CACHEDIR.TAG")))
        const old = join(directory, ".notices", `${Date.now() - 120_000}-0123456789abcdef-2.json`)
        const recent = join(directory, ".notices", `${Date.now()}-0123456789abcdef-3.json`)
        for (const path of [old, recent]) writeFileSync(path, JSON.stringify({ origin: "0123456789abcdef", _tag: "Cleared" }))
        // A new store's first sweep.
        yield* storeOn()
        assert.isFalse(existsSync(old), "an old notice is swept")
        assert.isTrue(existsSync(recent), "a recent one stays")
      })
    )
  )

  it.live("notices after the directory, or its .notices/, is deleted and made again: listeners watch the new one within seconds", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const directory = fresh()
        const storeOn = () => storeIn(directory)
        const writer = yield* storeOn()
        const listener = yield* storeOn()
        const arrived = yield* Queue.unbounded<CacheStore.Notice>()
        yield* listener.notices!.subscribe((notice) => Queue.offerUnsafe(arrived, notice))
        /** Deletes keys through the writer until the listener hears one (the first may come before its new watch). */
        const heardAgain = (what: string) =>
          Effect.gen(function* () {
            for (let i = 0; i < 40; i++) {
              yield* writer.delete("ns", `${what}${i}`)
              const notice = yield* Queue.take(arrived).pipe(Effect.timeoutOption("250 millis"))
              if (Option.isSome(notice)) return notice.value
            }
            return assert.fail(`${what}: no notice heard within 10 s`)
          })
        assert.deepStrictEqual(yield* heardAgain("before"), { _tag: "Deleted", namespace: "ns", key: "before0" })
        rmSync(join(directory, ".notices"), { recursive: true, force: true })
        assert.strictEqual((yield* heardAgain("notices"))._tag, "Deleted")
        rmSync(directory, { recursive: true, force: true })
        yield* writer.set("ns", "k", bytesOf(1), Infinity)
        assert.strictEqual((yield* heardAgain("directory"))._tag, "Deleted")
      })
    )
  )

  // Found by an attack trial: the first removal after the directory (or its .notices/) was deleted found no .notices/
  // and sent nothing, though listeners were about to watch the new one: the other processes kept the value.
  it.live(
    "the first removal after .notices/ or the directory is deleted is heard: from an instance that listens, or any in a tagged directory",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const directory = fresh()
          const storeOn = () => storeIn(directory)
          // Both listen, as every DataCache.layerStore over the store does.
          const [writer, listener] = [yield* storeOn(), yield* storeOn()]
          yield* writer.notices!.subscribe(() => {})
          const arrived = yield* Queue.unbounded<CacheStore.Notice>()
          yield* listener.notices!.subscribe((notice) => Queue.offerUnsafe(arrived, notice))
          for (const [what, deleted] of [
            ["notices", join(directory, ".notices")],
            ["directory", directory]
          ] as const) {
            rmSync(deleted, { recursive: true, force: true })
            yield* writer.delete("ns", what)
            const notice = yield* Queue.take(arrived).pipe(Effect.timeoutOption("5 seconds"))
            assert.deepStrictEqual(Option.getOrUndefined(notice), { _tag: "Deleted", namespace: "ns", key: what }, what)
          }
          assert.isTrue(existsSync(join(directory, NodeCacheStore.CACHE_DIRECTORY_TAG)), "the directory made again is tagged")
          // Found by a second attack trial: the same from an instance that does not listen (`recall clear`), in a
          // directory a store used (tagged).
          const command = yield* storeOn()
          rmSync(join(directory, ".notices"), { recursive: true, force: true })
          yield* command.delete("ns", "command")
          const notice = yield* Queue.take(arrived).pipe(Effect.timeoutOption("5 seconds"))
          assert.deepStrictEqual(Option.getOrUndefined(notice), { _tag: "Deleted", namespace: "ns", key: "command" }, "from the command")
        })
      )
  )

  // Found by a spec trial: `recall clear --dir` on a directory another tool tagged (Cargo's target/) made
  // .notices/ and a notice file there, though no recall store ever used it.
  it.effect("a removal in a directory another tool tagged (not recall's tag) writes no notice and makes nothing", () =>
    Effect.gen(function* () {
      const directory = fresh()
      mkdirSync(directory)
      const cargo = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cargo.\n"
      writeFileSync(join(directory, NodeCacheStore.CACHE_DIRECTORY_TAG), cargo)
      yield* withStore(onDisk({ directory }), (store) =>
        Effect.gen(function* () {
          yield* store.clearAll
          yield* store.clearNamespace("ns")
          yield* store.delete("ns", "k")
        })
      )
      assert.deepStrictEqual(readdirSync(directory), [NodeCacheStore.CACHE_DIRECTORY_TAG])
      assert.strictEqual(readFileSync(join(directory, NodeCacheStore.CACHE_DIRECTORY_TAG), "utf8"), cargo, "its tag untouched")
    })
  )

  it.effect("a removal where nobody listens (no .notices/) writes no notice and makes nothing: an empty directory stays empty", () =>
    Effect.gen(function* () {
      const directory = fresh()
      mkdirSync(directory)
      yield* withStore(onDisk({ directory }), (store) =>
        Effect.gen(function* () {
          yield* store.clearAll
          yield* store.clearNamespace("ns")
          yield* store.delete("ns", "k")
        })
      )
      assert.deepStrictEqual(readdirSync(directory), [])
    })
  )

  it.live(
    "a watch that cannot be made (fs.watch throws: no inotify watches left) or that fails: subscribing returns, the store works",
    () =>
      Effect.gen(function* () {
        for (const broken of [
          Stream.die(new Error("ENOSPC: System limit for number of file watchers reached")),
          Stream.fail(failure("Unknown", "EIO", "watch", "x"))
        ]) {
          const directory = fresh()
          const unwatchable = Layer.effect(
            FileSystem.FileSystem,
            Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({ ...fs, watch: () => broken }))
          ).pipe(Layer.provide(NodeFileSystem.layer))
          yield* Effect.scoped(
            Effect.gen(function* () {
              const store = yield* Effect.provide(
                CacheStore.CacheStore,
                yield* Layer.build(NodeCacheStore.layer({ directory }).pipe(Layer.provide(unwatchable)))
              )
              yield* store.notices!.subscribe(() => {})
              yield* store.set("ns", "k", bytesOf(1), Infinity)
              yield* store.delete("ns", "k")
              assert.isTrue(Option.isNone(yield* store.get("ns", "k")))
            })
          )
        }
      })
  )

  it.effect("maxBytes: file bytes bounded, least recently used first; an entry over maxBytes alone is not kept", () => {
    const directory = fresh()
    const kib = () => new Uint8Array(1024).fill(5)
    return withStore(onDisk({ directory, maxBytes: 3_400 }), (store) =>
      Effect.gen(function* () {
        yield* writeAbc(store, kib)
        yield* TestClock.setTime(4_000)
        yield* store.get("ns", "a")
        yield* TestClock.setTime(5_000)
        yield* store.set("ns", "d", kib(), Infinity)
        assert.isTrue(Option.isNone(yield* store.get("ns", "b")))
        assert.isTrue(Option.isSome(yield* store.get("ns", "a")))
        const onDiskBytes = walk(directory)
          .filter((name) => /\/[0-9a-f]{32}$/.test(name))
          .reduce((n, name) => n + statSync(join(directory, name)).size, 0)
        assert.isAtMost(onDiskBytes, 3_400)
        yield* store.set("ns", "a", new Uint8Array(4_000), Infinity)
        assert.isTrue(Option.isNone(yield* store.get("ns", "a")), "too large: not written, and the old a is gone")
      })
    )
  })

  it.effect(
    "a truncated file, a garbage file, and another key's file read as missing, are deleted, and each is a warning naming it",
    () => {
      const directory = fresh()
      const logs = captureLogs()
      return withStore(onDisk({ directory }), (store) =>
        Effect.gen(function* () {
          yield* store.set("ns", "truncated", new Uint8Array(1000).fill(1), Infinity)
          const truncated = entryPath(directory, "ns", "truncated")
          truncateSync(truncated, statSync(truncated).size - 1)
          assert.isTrue(Option.isNone(yield* store.get("ns", "truncated")))
          assert.isFalse(existsSync(truncated), "deleted")

          yield* store.set("ns", "short", bytesOf(1), Infinity)
          truncateSync(entryPath(directory, "ns", "short"), 10)
          assert.isTrue(Option.isNone(yield* store.get("ns", "short")), "cut inside the header")

          yield* store.set("ns", "garbage", bytesOf(1), Infinity)
          const garbage = entryPath(directory, "ns", "garbage")
          writeFileSync(
            garbage,
            Uint8Array.from({ length: 200 }, (_, i) => (i * 91) & 0xff)
          )
          assert.isTrue(Option.isNone(yield* store.get("ns", "garbage")))
          assert.isFalse(existsSync(garbage))

          yield* store.set("ns", "flipped", new Uint8Array(100), Infinity)
          const flipped = entryPath(directory, "ns", "flipped")
          const bytes = readFileSync(flipped)
          bytes[20]! ^= 1 // in writtenAt: the header checksum catches it
          writeFileSync(flipped, bytes)
          assert.isTrue(Option.isNone(yield* store.get("ns", "flipped")))

          yield* store.set("ns", "mine", bytesOf(7), Infinity)
          writeFileSync(entryPath(directory, "ns", "yours"), readFileSync(entryPath(directory, "ns", "mine")))
          assert.isTrue(Option.isNone(yield* store.get("ns", "yours")), "the header names another key")
          assert.isTrue(Option.isSome(yield* store.get("ns", "mine")))
          assert.deepStrictEqual(yield* store.stats, { namespaces: 1, entries: 1, bytes: 1 })
          // Found by a spec trial: these were deleted without a word. One warning each, naming the file.
          const warnings = logs.warnings()
          assert.strictEqual(warnings.length, 5, warnings.join("\n"))
          for (const [i, key] of ["truncated", "short", "garbage", "flipped"].entries()) {
            assert.include(warnings[i], entryPath(directory, "ns", key))
            assert.include(warnings[i], "is not a whole entry")
          }
          assert.include(warnings[4], "holds the entry of another key")
        }).pipe(Effect.provide(logs.layer))
      )
    }
  )

  // Found by an attack trial: the scan as a store starts opened a FIFO at an entry's name without O_NONBLOCK, on a
  // thread of the pool, waiting for a writer forever: every operation of the process after it waited too, and the
  // process could not exit.
  it.live("a FIFO where an entry belongs: a store starting over it builds and serves, the FIFO reads as a miss and is replaced", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      yield* withStore(onDisk({ directory }), (store) =>
        Effect.gen(function* () {
          yield* store.set("ns", "good", bytesOf(1, 2), Infinity)
          yield* store.set("ns", "fifo", bytesOf(3), Infinity)
        })
      )
      const path = entryPath(directory, "ns", "fifo")
      rmSync(path)
      execFileSync("mkfifo", [path])
      for (const synchronousReads of [true, false]) {
        const served = yield* withStore(onDisk({ directory, synchronousReads }), (store) =>
          Effect.gen(function* () {
            assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", "good")).bytes, bytesOf(1, 2))
            assert.strictEqual((yield* store.stats).entries, 1, "the FIFO is no entry")
            return yield* store.get("ns", "fifo")
          })
        ).pipe(Effect.timeoutOption("10 seconds"))
        assert.isTrue(Option.isSome(served), `synchronousReads: ${synchronousReads}: the store answered`)
        assert.isTrue(Option.isNone(Option.getOrThrow(served)), "the FIFO reads as a miss")
        if (existsSync(path)) continue
        // Deleted as what reads as no entry is: planted again for the other mode.
        execFileSync("mkfifo", [path])
      }
      yield* withStore(onDisk({ directory }), (store) => store.set("ns", "fifo", bytesOf(4), Infinity))
      assert.isTrue(statSync(path).isFile(), "the next write replaced it")
    })
  })

  it.effect("every byte of the header flipped, every truncation, one byte too many: a miss (or, in padding, the same bytes)", () => {
    const directory = fresh()
    const payload = Uint8Array.from({ length: 16 }, (_, i) => i + 1)
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        yield* TestClock.setTime(1_000)
        yield* store.set("ns", "k", payload.slice(), 1_000_000)
        const path = entryPath(directory, "ns", "k")
        const original = readFileSync(path)
        const headerEnd = original.byteLength - payload.byteLength
        for (let i = 0; i < headerEnd; i++) {
          const flipped = Buffer.from(original)
          flipped[i]! ^= 0x10
          writeFileSync(path, flipped)
          const got = yield* store.get("ns", "k")
          if (Option.isSome(got)) {
            assert.isAtLeast(i, 40 + 3, `byte ${i}: only the padding after the names may change unseen`)
            assert.deepStrictEqual(got.value.bytes, payload)
            assert.strictEqual(got.value.expiresAt, 1_000_000)
          }
        }
        for (let length = 0; length < original.byteLength; length++) {
          writeFileSync(path, original.subarray(0, length))
          assert.isTrue(Option.isNone(yield* store.get("ns", "k")), `cut to ${length} bytes`)
          assert.isFalse(existsSync(path))
        }
        writeFileSync(path, Buffer.concat([original, Buffer.from([0])]))
        assert.isTrue(Option.isNone(yield* store.get("ns", "k")), "one byte too many")
        writeFileSync(path, original)
        assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", "k")).bytes, payload, "the original still reads")
      })
    )
  })

  it.effect("expired entries are deleted from disk: on stats, and by the sweep when a store starts", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      yield* TestClock.setTime(0)
      yield* withStore(onDisk({ directory }), (store) =>
        Effect.gen(function* () {
          yield* store.set("ns", "a", bytesOf(1), 1_000)
          yield* store.set("ns", "b", bytesOf(1), 2_000)
          yield* TestClock.setTime(1_500)
          yield* store.stats
          assert.isFalse(existsSync(entryPath(directory, "ns", "a")))
          assert.isTrue(existsSync(entryPath(directory, "ns", "b")))
        })
      )
      yield* TestClock.setTime(2_000)
      yield* withStore(onDisk({ directory }), () => Effect.void)
      assert.isFalse(existsSync(entryPath(directory, "ns", "b")), "swept as the store started")
    })
  })

  it.effect("the directory deleted under a running store: reads miss, the next write makes it again, tagged", () => {
    const directory = fresh()
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        yield* store.set("ns", "k", bytesOf(1), Infinity)
        yield* store.locks!.acquire("ns", "held", "1 minute")
        rmSync(directory, { recursive: true, force: true })
        assert.isTrue(Option.isNone(yield* store.get("ns", "k")))
        assert.deepStrictEqual(yield* store.list, [])
        yield* store.delete("ns", "k")
        yield* store.clearNamespace("ns")
        yield* store.clearAll
        yield* store.set("ns", "k", bytesOf(2), Infinity)
        assert.deepStrictEqual(Option.getOrThrow(yield* store.get("ns", "k")).bytes, bytesOf(2))
        assert.strictEqual(modeOf(directory), 0o700)
        // Tagged again, so the recall command still takes it for a cache directory.
        assert.isTrue(existsSync(join(directory, "CACHEDIR.TAG")))
        assert.isTrue(Option.isSome(yield* store.locks!.acquire("ns", "held", "1 minute")), "the lock files went too")
      })
    )
  })

  const failure = (tag: PlatformError.SystemError["_tag"], code: string, method: string, path: string) =>
    PlatformError.systemError({
      _tag: tag,
      module: "FileSystem",
      method,
      pathOrDescriptor: path,
      cause: Object.assign(new Error(`${code}: ${method} '${path}'`), { code })
    })

  /** The node file system, with every write failing as `code` does (reads work). */
  const unwritable = (tag: PlatformError.SystemError["_tag"], code: string) =>
    Layer.effect(
      FileSystem.FileSystem,
      Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => {
        const fail = (method: string) => (path: string) => Effect.fail(failure(tag, code, method, path))
        return {
          ...fs,
          open: (path, options) =>
            options?.flag === undefined || options.flag === "r"
              ? fs.open(path, options)
              : // ENOSPC shows when writing; EACCES when opening.
                code === "ENOSPC"
                ? Effect.map(fs.open(path, options), (file) => ({ ...file, writeAll: () => fail("writeAll")(path) }))
                : fail("open")(path),
          makeDirectory: fail("makeDirectory"),
          rename: fail("rename"),
          link: fail("link"),
          utimes: fail("utimes"),
          writeFile: fail("writeFile")
        }
      })
    ).pipe(Layer.provide(NodeFileSystem.layer))

  for (const [tag, code] of [
    ["PermissionDenied", "EACCES"],
    ["Unknown", "ENOSPC"]
  ] as const) {
    it.effect(`writes that fail (${code}) fail with CacheStoreError, never throw, and leave no temporary file`, () => {
      const directory = fresh()
      return Effect.gen(function* () {
        yield* withStore(onDisk({ directory }), (store) => store.set("ns", "old", bytesOf(1), Infinity))
        yield* withStore(NodeCacheStore.layer({ directory }).pipe(Layer.provide(unwritable(tag, code))), (store) =>
          Effect.gen(function* () {
            const exits: ReadonlyArray<Exit.Exit<unknown, CacheStore.CacheStoreError>> = [
              yield* Effect.exit(store.set("ns", "k", bytesOf(1), Infinity)),
              yield* Effect.exit(store.set("new namespace", "k", bytesOf(1), Infinity)),
              yield* Effect.exit(store.locks!.acquire("ns", "k", "1 minute"))
            ]
            for (const exit of exits) {
              assert.isTrue(Exit.isFailure(exit))
              const error = Exit.findErrorOption(exit)
              assert.isTrue(Option.isSome(error), "a failure, not a defect")
              assert.instanceOf(Option.getOrThrow(error), CacheStore.CacheStoreError)
            }
            assert.include(String(Option.getOrThrow(Exit.findErrorOption(exits[0]!))), code)
            assert.isTrue(Option.isSome(yield* store.get("ns", "old")), "reads still work")
          })
        )
        assert.deepStrictEqual(
          walk(directory).filter((name) => name.includes(".tmp-")),
          []
        )
      })
    })
  }

  it.effect("layerFileSystem installs NodeHasher's native XXH3-128 for the process; layer, over any FileSystem, does not", () =>
    Effect.gen(function* () {
      Xxh3.setLargeDigester(undefined)
      yield* withStore(NodeCacheStore.layer({ directory: fresh() }).pipe(Layer.provide(NodeFileSystem.layer)), () => Effect.void)
      assert.strictEqual(NodeHasher.native(), undefined)
      yield* withStore(onDisk({ directory: fresh() }), () => Effect.void)
      assert.strictEqual(NodeHasher.native(), "xxhash-addon")
    })
  )

  it.effect("a payload starts at a multiple of 8 bytes: a Float64Array views it without a copy", () => {
    const directory = fresh()
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        const column = Float64Array.from({ length: 1000 }, (_, i) => i / 3)
        for (const namespace of ["n", "odd:12345", "名前"]) {
          yield* store.set(namespace, "k", new Uint8Array(column.buffer.slice(0)), Infinity)
          const { bytes } = Option.getOrThrow(yield* store.get(namespace, "k"))
          assert.strictEqual(bytes.byteOffset % 8, 0, namespace)
          assert.deepStrictEqual(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8), column)
        }
      })
    )
  })

  it.effect("a lock with an infinite ttl stays held", () => {
    const directory = fresh()
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        const locks = store.locks!
        const forever = Option.getOrThrow(yield* locks.acquire("ns", "forever", Duration.infinity))
        yield* TestClock.adjust("1000 days")
        assert.isTrue(Option.isNone(yield* locks.acquire("ns", "forever", "1 second")))
        assert.isTrue(yield* locks.renew(forever, Duration.infinity))
        yield* locks.release(forever)
        assert.isTrue(Option.isSome(yield* locks.acquire("ns", "forever", "1 second")))
      })
    )
  })

  const lockFileOf = (directory: string, key: string) => join(directory, ".locks", `${nameOf("ns")}-${nameOf(key)}.lock`)
  /** Sets a file's modification time a minute back (real time, as the file system keeps it). */
  const age = (path: string) => {
    const minuteAgo = (Date.now() - 60_000) / 1000
    utimesSync(path, minuteAgo, minuteAgo)
  }

  it.effect(
    "a lock file being written (empty, cut short, not JSON) is held while it is young, by its modification time; an older one is taken over",
    () => {
      const directory = fresh()
      const polledTwice = Deferred.makeUnsafe<void>()
      let polls = 0
      /** The node file system, telling when the lock file of "waiting" was read twice. */
      const watching = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(
          FileSystem.FileSystem,
          (fs): FileSystem.FileSystem => ({
            ...fs,
            readFileString: (path, encoding) =>
              Effect.tap(fs.readFileString(path, encoding), () =>
                Effect.sync(() => {
                  if (path === lockFileOf(directory, "waiting") && ++polls === 2) Deferred.doneUnsafe(polledTwice, Effect.void)
                })
              )
          })
        )
      ).pipe(Layer.provide(NodeFileSystem.layer))
      return withStore(NodeCacheStore.layer({ directory }).pipe(Layer.provide(watching)), (store) =>
        Effect.gen(function* () {
          const locks = store.locks!
          yield* locks.acquire("ns", "first", "1 minute")
          for (const [key, content] of [
            ["empty", ""],
            ["cut", '{"token":"ab'],
            ["garbled", "{ not json"]
          ] as const) {
            writeFileSync(lockFileOf(directory, key), content, { mode: 0o600 })
            assert.isTrue(Option.isNone(yield* locks.acquire("ns", key, "1 minute")), `${key}: young, held`)
            age(lockFileOf(directory, key))
            assert.isTrue(Option.isSome(yield* locks.acquire("ns", key, "1 minute")), `${key}: old, taken over`)
          }
          // Found by a stranger trial: a damaged lock file dated an hour ahead (the clock stepped back) never aged,
          // and held its key for every caller's full lockWait.
          writeFileSync(lockFileOf(directory, "future"), "", { mode: 0o600 })
          const hourAhead = (Date.now() + 3_600_000) / 1000
          utimesSync(lockFileOf(directory, "future"), hourAhead, hourAhead)
          assert.isTrue(
            Option.isSome(yield* locks.acquire("ns", "future", "1 minute")),
            "dated in the future: not being written, taken over"
          )
          writeFileSync(lockFileOf(directory, "waiting"), "", { mode: 0o600 })
          const waiting = yield* Effect.forkChild(locks.awaitRelease("ns", "waiting", "1 hour"))
          yield* Deferred.await(polledTwice)
          assert.isUndefined(waiting.pollUnsafe(), "polled again: the empty lock file is young, so held")
          age(lockFileOf(directory, "waiting"))
          yield* Fiber.join(waiting)
        })
      )
    }
  )

  it.effect("a lock's creation that stalled 5 s or more reads its file back: taken over meanwhile, the lock is not held", () => {
    const directory = fresh()
    let stall: "no" | "alone" | "taken over" = "no"
    const taker = JSON.stringify({ token: "the taker", expiresAt: Number.MAX_VALUE })
    let offset = 0
    const realNow = Date.now.bind(Date)
    /** The node file system, whose lock creation stalls on demand (the wall clock jumps), another process taking the lock over meanwhile. */
    const stalling = Layer.effect(
      FileSystem.FileSystem,
      Effect.map(
        FileSystem.FileSystem,
        (fs): FileSystem.FileSystem => ({
          ...fs,
          writeFile: (path, data, options) =>
            Effect.tap(fs.writeFile(path, data, options), () =>
              Effect.sync(() => {
                if (!path.endsWith(".lock") || stall === "no") return
                offset += 6_000
                if (stall === "taken over") writeFileSync(path, taker)
              })
            )
        })
      )
    ).pipe(Layer.provide(NodeFileSystem.layer))
    return Effect.acquireUseRelease(
      Effect.sync(() => vi.spyOn(Date, "now").mockImplementation(() => realNow() + offset)),
      () =>
        withStore(NodeCacheStore.layer({ directory }).pipe(Layer.provide(stalling)), (store) =>
          Effect.gen(function* () {
            stall = "alone"
            assert.isTrue(Option.isSome(yield* store.locks!.acquire("ns", "alone", "1 minute")), "still its own: held")
            stall = "taken over"
            assert.isTrue(Option.isNone(yield* store.locks!.acquire("ns", "taken", "1 minute")), "another's: not held")
            assert.strictEqual(readFileSync(lockFileOf(directory, "taken"), "utf8"), taker, "and left alone")
          })
        ),
      (spy) => Effect.sync(() => spy.mockRestore())
    )
  })

  it.effect(
    "a lock's creation whose write failed after its open (a full disk) removes its empty file; one whose open failed removes nothing",
    () => {
      const directory = fresh()
      const other = JSON.stringify({ token: "another process", expiresAt: Number.MAX_VALUE })
      /** The node file system, whose lock files are created and then not written (ENOSPC), or not opened at all (EACCES). */
      const failing = Layer.effect(
        FileSystem.FileSystem,
        Effect.map(
          FileSystem.FileSystem,
          (fs): FileSystem.FileSystem => ({
            ...fs,
            writeFile: (path, data, options) =>
              !path.endsWith(".lock")
                ? fs.writeFile(path, data, options)
                : Effect.suspend(() => {
                    const opened = path.endsWith(`${nameOf("full")}.lock`)
                    if (opened) writeFileSync(path, "", { flag: "wx", mode: 0o600 })
                    return Effect.fail(
                      PlatformError.systemError({
                        _tag: opened ? "Unknown" : "PermissionDenied",
                        module: "FileSystem",
                        method: "writeFile",
                        pathOrDescriptor: path,
                        syscall: opened ? "write" : "open",
                        cause: Object.assign(new Error(opened ? "ENOSPC" : "EACCES"), { code: opened ? "ENOSPC" : "EACCES" })
                      })
                    )
                  })
          })
        )
      ).pipe(Layer.provide(NodeFileSystem.layer))
      return withStore(NodeCacheStore.layer({ directory }).pipe(Layer.provide(failing)), (store) =>
        Effect.gen(function* () {
          mkdirSync(join(directory, ".locks"), { recursive: true, mode: 0o700 })
          assert.isTrue(Exit.isFailure(yield* Effect.exit(store.locks!.acquire("ns", "full", "1 minute"))))
          assert.isFalse(existsSync(lockFileOf(directory, "full")), "the empty file it made is gone")
          writeFileSync(lockFileOf(directory, "denied"), other, { mode: 0o600 })
          age(lockFileOf(directory, "denied"))
          assert.isTrue(Exit.isFailure(yield* Effect.exit(store.locks!.acquire("ns", "denied", "1 minute"))))
          assert.strictEqual(readFileSync(lockFileOf(directory, "denied"), "utf8"), other, "another's file is left alone")
        })
      )
    }
  )

  it.effect(
    "a renewal or release with 5 s or more left on its lock takes no guard; nearer its expiry it waits for the guard, which a takeover may hold",
    () => {
      const directory = fresh()
      return withStore(onDisk({ directory }), (store) =>
        Effect.gen(function* () {
          const locks = store.locks!
          const lockFile = (key: string) => join(directory, ".locks", `${nameOf("ns")}-${nameOf(key)}.lock`)
          /** The lock's guard file, as another process taking the lock over holds it. */
          const guardHeld = (key: string) =>
            writeFileSync(`${lockFile(key)}.guard`, JSON.stringify({ token: "another process", expiresAt: Number.MAX_VALUE }), {
              mode: 0o600
            })
          const far = Option.getOrThrow(yield* locks.acquire("ns", "far", "1 minute"))
          guardHeld("far")
          assert.isTrue(yield* locks.renew(far, "1 minute"), "renewed, the guard held elsewhere")
          yield* locks.release(far)
          assert.isFalse(existsSync(lockFile("far")), "released, the guard held elsewhere")

          const near = Option.getOrThrow(yield* locks.acquire("ns", "near", "4 seconds"))
          guardHeld("near")
          assert.isTrue(Exit.isFailure(yield* Effect.exit(locks.renew(near, "4 seconds"))), "a renewal waits for the guard, then fails")
          yield* locks.release(near)
          assert.isTrue(existsSync(lockFile("near")), "a release leaves the lock to the guard's holder")
        })
      )
    }
  )

  it.effect("many stores racing to take over one expired lock: exactly one gets it", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      yield* TestClock.setTime(0)
      yield* withStore(onDisk({ directory }), (store) => store.locks!.acquire("ns", "k", "1 second"))
      yield* TestClock.setTime(5_000)
      const stores = yield* Effect.forEach(Array.from({ length: 16 }), () =>
        Effect.provide(
          Effect.map(CacheStore.CacheStore, (store) => store),
          onDisk({ directory })
        )
      )
      for (let round = 0; round < 5; round++) {
        const won = yield* Effect.forEach(stores, (store) => store.locks!.acquire("ns", "k", "1 second"), { concurrency: "unbounded" })
        assert.strictEqual(won.filter(Option.isSome).length, 1, `round ${round}`)
        yield* TestClock.adjust("2 seconds")
      }
      assert.deepStrictEqual(
        readdirSync(join(directory, ".locks")).filter((name) => !name.endsWith(".lock")),
        [],
        "no guard or temporary file left"
      )
    })
  })

  it.effect("stores writing, reading and pruning one directory at once: every read is a written value or a miss", () => {
    const directory = fresh()
    const contentOf = (key: string) => new TextEncoder().encode(`value of ${key} `.repeat(20))
    return Effect.gen(function* () {
      const stores = yield* Effect.forEach(Array.from({ length: 4 }), () =>
        Effect.provide(
          Effect.map(CacheStore.CacheStore, (store) => store),
          onDisk({ directory, maxEntries: 20 })
        )
      )
      yield* Effect.forEach(
        stores,
        (store, s) =>
          Effect.forEach(Array.from({ length: 40 }), (_, i) =>
            Effect.gen(function* () {
              const key = `k${(i * 7 + s) % 30}`
              yield* store.set("shared", key, contentOf(key), Infinity)
              const read = `k${(i * 3 + s) % 30}`
              const got = yield* store.get("shared", read)
              if (Option.isSome(got)) assert.deepStrictEqual(got.value.bytes, contentOf(read))
              if (i % 10 === 0) yield* store.clearNamespace(s === 0 ? "shared" : "elsewhere")
            })
          ),
        { concurrency: "unbounded" }
      )
      // Each store counts its own writes since its last scan, so the others'
      // may take the directory over the bound until the next scan: a store
      // starting scans it and prunes it to the bound.
      const stats = yield* withStore(onDisk({ directory, maxEntries: 20 }), (store) => store.stats)
      assert.isAtMost(stats.entries, 20)
      assert.deepStrictEqual(
        walk(directory).filter((name) => name.includes(".tmp-")),
        []
      )
    })
  })

  it.effect("layerFileSystemConfig reads RECALL_CACHE_DIR", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      const previous = process.env.RECALL_CACHE_DIR
      process.env.RECALL_CACHE_DIR = directory
      try {
        yield* withStore(Layer.orDie(NodeCacheStore.layerFileSystemConfig()), (store) => store.set("ns", "k", bytesOf(1), Infinity))
      } finally {
        if (previous === undefined) delete process.env.RECALL_CACHE_DIR
        else process.env.RECALL_CACHE_DIR = previous
      }
      assert.isTrue(existsSync(entryPath(directory, "ns", "k")))
    })
  })
})

// ---------------------------------------------------------------------------
// Several OS processes
// ---------------------------------------------------------------------------

const worker = fileURLToPath(new URL("./fixtures/disk-store-worker.ts", import.meta.url))

interface Running {
  readonly child: ChildProcess
  /** Resolves with the first stdout line equal to `line`. */
  readonly waitFor: (line: string) => Promise<void>
  readonly done: Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>
}

const start = (...args: ReadonlyArray<string>): Running => startAs(undefined, ...args)

/** Starts the worker, as the user `uid` when given (the tests run as root here). */
const startAs = (uid: number | undefined, ...args: ReadonlyArray<string>): Running => {
  const child = spawn(process.execPath, ["--conditions=@recall/source", worker, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(uid === undefined ? {} : { uid, gid: uid })
  })
  let stdout = ""
  let stderr = ""
  const waiters: Array<{ line: string; resolve: () => void }> = []
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString()
    for (const waiter of waiters) if (stdout.split("\n").includes(waiter.line)) waiter.resolve()
  })
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  )
  return {
    child,
    waitFor: (line) =>
      new Promise<void>((resolve, reject) => {
        if (stdout.split("\n").includes(line)) return resolve()
        waiters.push({ line, resolve })
        void done.then(() => reject(new Error(`exited before printing ${line}: ${stderr}`)))
      }),
    done
  }
}

const kill = (running: Running) =>
  Effect.promise(() => {
    running.child.kill("SIGKILL")
    return running.done
  })

describe("NodeCacheStore.layerFileSystem across OS processes", () => {
  it.live("two processes writing and reading one directory see each other's entries", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      const [a, b] = yield* Effect.promise(() =>
        Promise.all([start("exchange", directory, "a", "b", "25").done, start("exchange", directory, "b", "a", "25").done])
      )
      for (const run of [a, b]) {
        assert.strictEqual(run.code, 0, run.stderr)
        assert.deepStrictEqual(JSON.parse(run.stdout), { seen: 25 })
      }
      yield* withStore(onDisk({ directory }), (store) =>
        Effect.map(store.stats, (stats) => assert.deepStrictEqual(stats, { namespaces: 1, entries: 50, bytes: stats.bytes }))
      )
    })
  })

  // Found by a stranger trial: a process killed while it computed left its waiters stalled until the lock expired
  // (10 s by default), where the lock file names its holder, a process of this host that is gone.
  it.live("a process killed (SIGKILL) holding a lock: another of this host takes it over at once; another host's, at its expiry", () => {
    const directory = fresh()
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        const locks = store.locks!
        const holder = start("hold", directory, "60000")
        yield* Effect.promise(() => holder.waitFor("locked"))
        assert.isTrue(Option.isNone(yield* locks.acquire("shared", "k", "10 seconds")), "held while its holder lives")
        yield* kill(holder)
        const taken = yield* locks.acquire("shared", "k", "10 seconds")
        assert.isTrue(Option.isSome(taken), "taken over at once: its holder is gone, a minute before its expiry")
        yield* locks.release(Option.getOrThrow(taken))

        // A lock of another host (its holder's pid cannot be checked here): held until its expiry.
        const path = join(directory, ".locks", `${nameOf("shared")}-${nameOf("k")}.lock`)
        writeFileSync(path, JSON.stringify({ token: `00000000-1-${"ab".repeat(12)}`, expiresAt: Date.now() + 1_500 }))
        assert.isTrue(Option.isNone(yield* locks.acquire("shared", "k", "10 seconds")), "another host's lock, live")
        const started = Date.now()
        yield* locks.awaitRelease("shared", "k", "10 seconds")
        assert.isBelow(Date.now() - started, 5_000, "released at its expiry, well before the timeout")
        assert.isTrue(Option.isSome(yield* locks.acquire("shared", "k", "10 seconds")), "taken over")
      })
    )
  })

  // Found by an outside trial: a killed holder stayed "running" until its parent reaped it (1.5 s under this
  // machine's init; under a parent that never reaps, until the lock expired), as signals still reach a zombie.
  it.live("a lock whose holder is a zombie (dead, not reaped yet) is taken over at once", () => {
    const directory = fresh()
    // A parent that never reaps: the shell forks a child that exits at once, then becomes `sleep`, which never waits.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 60"], { stdio: ["ignore", "pipe", "ignore"] })
    const stopParent = Effect.sync(() => parent.kill("SIGKILL"))
    return withStore(onDisk({ directory }), (store) =>
      Effect.gen(function* () {
        const zombie = Number(
          yield* Effect.promise(() => new Promise<string>((resolve) => parent.stdout!.once("data", (chunk) => resolve(String(chunk)))))
        )
        const state = () =>
          readFileSync(`/proc/${zombie}/stat`, "latin1")
            .replace(/^.*\) /s, "")
            .charAt(0)
        for (let tries = 0; tries < 500 && state() !== "Z"; tries++) yield* Effect.sleep("10 millis")
        assert.strictEqual(state(), "Z", "the child has exited and is not reaped")
        process.kill(zombie, 0) // signals still reach it: it counted as running

        // This host's token format, from a lock of the store's own, with the zombie as its holder.
        const locks = store.locks!
        const own = Option.getOrThrow(yield* locks.acquire("shared", "z", "10 seconds"))
        const path = join(directory, ".locks", `${nameOf("shared")}-${nameOf("z")}.lock`)
        const host = (JSON.parse(readFileSync(path, "utf8")) as { token: string }).token.split("-")[0]
        yield* locks.release(own)
        writeFileSync(path, JSON.stringify({ token: `${host}-${zombie}-${"ab".repeat(12)}`, expiresAt: Date.now() + 60_000 }))
        assert.isTrue(Option.isSome(yield* locks.acquire("shared", "z", "10 seconds")), "taken over at once, a minute before its expiry")
      }).pipe(Effect.ensuring(stopParent))
    )
  })

  it.live("a writer killed between write and rename leaves no readable entry; its temporary file is swept", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      const writer = start("stall", directory)
      yield* Effect.promise(() => writer.waitFor("renaming"))
      yield* kill(writer)
      const temps = () => walk(directory).filter((name) => name.includes(".tmp-"))
      assert.strictEqual(temps().length, 1, "the whole entry, written and synced, never renamed")
      // A store starting sweeps it: its process is gone.
      yield* withStore(onDisk({ directory }), (store) =>
        Effect.gen(function* () {
          assert.isTrue(Option.isNone(yield* store.get("shared", "k")))
          assert.deepStrictEqual(yield* store.stats, { namespaces: 0, entries: 0, bytes: 0 })
        })
      )
      assert.deepStrictEqual(temps(), [])
    })
  })

  // Found by a stranger trial: under /proc, mkdir says ENOENT with the parent there, and Node's recursive mkdir then
  // loops forever on a thread of the pool: every lock and write of the store waited out its timeout.
  it.live("a directory that cannot be made (under /proc: mkdir says ENOENT): writes and locks fail at once with CacheStoreError", () =>
    withStore(onDisk({ directory: `/proc/recall-test-${process.pid}/cache` }), (store) =>
      Effect.gen(function* () {
        for (let round = 0; round < 6; round++) {
          const wrote = yield* Effect.exit(store.set("ns", `k${round}`, new Uint8Array([1]), Infinity))
          const locked = yield* Effect.exit(store.locks!.acquire("ns", `k${round}`, "1 minute"))
          for (const exit of [wrote, locked] as ReadonlyArray<Exit.Exit<unknown, unknown>>) {
            assert.isTrue(Exit.isFailure(exit))
            if (Exit.isFailure(exit)) assert.include(String(Cause.squash(exit.cause)), "ENOENT")
          }
        }
        assert.isTrue(Option.isNone(yield* store.get("ns", "k0")))
      })
    )
  )

  it.live("a read-only directory (chmod 0500): writes fail with CacheStoreError, reads work (as a user that is not root)", () => {
    const directory = fresh()
    // Root writes through chmod; the worker runs as nobody then.
    const asRoot = process.getuid?.() === 0
    mkdirSync(directory, { mode: 0o700 })
    if (asRoot) {
      chmodSync(join(directory, ".."), 0o755)
      chownSync(directory, 65534, 65534)
    }
    return Effect.gen(function* () {
      const run = yield* Effect.promise(() => startAs(asRoot ? 65534 : undefined, "readonly", directory).done)
      assert.strictEqual(run.code, 0, run.stderr)
      const outcome = JSON.parse(run.stdout) as Record<string, unknown>
      assert.notStrictEqual(outcome.uid, 0)
      for (const write of ["sameNamespace", "replace", "newNamespace", "lock"]) {
        assert.match(String(outcome[write]), /^CacheStoreError: .*EACCES/, write)
      }
      assert.deepStrictEqual(outcome.old, [1], "the old entry still reads")
    })
  })

  it.live("four processes needing one key compute it once", () => {
    const directory = fresh()
    return Effect.gen(function* () {
      const runs = yield* Effect.promise(() => Promise.all(Array.from({ length: 4 }, () => start("once", directory).done)))
      for (const run of runs) assert.strictEqual(run.code, 0, run.stderr)
      const outcomes = runs.map((run) => run.stdout.trim()).sort()
      assert.deepStrictEqual(outcomes, ["computed", "hit", "hit", "hit"])
    })
  })
})
