/**
 * `npm run bench -- store`: the disk tier (`DataCache.layerStore` over
 * `NodeCacheStore.layerFileSystem`) against the raw file operations under it,
 * in one process, in a temporary directory:
 *
 * - a hit of a 4 x 10M Float64 frame (320 MB) with a cold front tier (a new
 *   layer over the same directory each round) against `readFileSync` of the
 *   entry file: (a) a front tier smaller than the frame (it keeps no copy),
 *   (b) the default front tier (it keeps a copy of its own);
 * - a miss until the entry is on disk (the call, then the layer's close,
 *   which waits for the background write) against a write + fsync + rename
 *   of the same bytes;
 * - the same two for an entry of about 1 KB, many per round, with their pieces: the
 *   disk store's own operations alone, and the same call over `CacheStore.layerMemory`
 *   (no disk: the core side's share);
 * - the first run and later hits at 10M and 50M rows beside Streamlit's
 *   published figures (50M needs several GB free: skipped with a note if
 *   not).
 *
 * Targets (bench/README.md): frame hit and store <= 1.3x, 1 KB <= 1.5x.
 * Each figure where recall is over its floor comes with a breakdown of its
 * pieces, timed alone (the library's internals, called directly).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync
} from "node:fs"
import { open, readFile, rename } from "node:fs/promises"
import { freemem, tmpdir } from "node:os"
import { join } from "node:path"
import { CacheStore, DataCache, Hasher } from "@recall/core"
import { NodeCacheStore } from "@recall/node"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as Copy from "../packages/core/src/internal/copy.ts"
import * as EntryFormat from "../packages/core/src/internal/entryFormat.ts"
import * as Payload from "../packages/core/src/internal/payload.ts"
import * as StoreTier from "../packages/core/src/internal/storeTier.ts"
import * as Xxh3 from "../packages/core/src/internal/xxh3.ts"
import { alternatingAsync, type Figure, gc, since } from "./measure.ts"

interface Frame {
  readonly a: Float64Array
  readonly b: Float64Array
  readonly c: Float64Array
  readonly d: Float64Array
}

const makeFrame = (rows: number): Frame => ({
  a: new Float64Array(rows).fill(12.5),
  b: new Float64Array(rows).fill(3.2),
  c: new Float64Array(rows).fill(1),
  d: new Float64Array(rows).fill(900)
})

const frameBytes = (rows: number) => 4 * 8 * rows

// The bodies return prebuilt values, so a miss costs what recall adds.
const prebuilt = new Map<number, Frame>()
const frame = DataCache.fn("bench/storeFrame", (rows: number) => Effect.sync(() => prebuilt.get(rows)!))
const small = DataCache.fn("bench/storeSmall", (i: number) =>
  Effect.succeed({ id: i, name: `row ${i}`, tags: ["alpha", "beta", "gamma"], note: "x".repeat(900) })
)

// A 1.6 GB write takes longer than the default store timeout (5 s) on a busy machine: it would be skipped.
const layerOver = (directory: string, frontMaxBytes?: number) =>
  DataCache.layerStore({ storeTimeout: "10 minutes", ...(frontMaxBytes === undefined ? {} : { maxBytes: frontMaxBytes }) }).pipe(
    Layer.provide(NodeCacheStore.layerFileSystem({ directory }))
  )

/**
 * Builds `layer` (not timed), then times `body` in it and the layer's close
 * (which waits for the store writes in flight).
 */
const inFreshLayer = <A, E>(layer: Layer.Layer<DataCache.DataCache>, body: Effect.Effect<A, E, DataCache.DataCache>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(layer, scope)
      const start = process.hrtime.bigint()
      const value = yield* Effect.orDie(body.pipe(Effect.provide(context)))
      const callMs = since(start)
      const closing = process.hrtime.bigint()
      yield* Scope.close(scope, Exit.void)
      return { value, callMs, closeMs: since(closing) }
    })
  )

/** The entry files under `directory` (not locks nor temporary files), largest first. */
const entryFiles = (directory: string): Array<string> =>
  (readdirSync(directory, { recursive: true }) as Array<string>)
    .filter((name) => /^[0-9a-f]{32}\/[0-9a-f]{32}$/.test(name))
    .map((name) => join(directory, name))
    .sort((a, b) => statSync(b).size - statSync(a).size)

/** The floor of a store write: a temporary file written whole, fsynced, renamed over the target. */
const atomicWrite = (directory: string, target: string, bytes: Uint8Array): void => {
  const temp = join(directory, `.raw-${process.pid}`)
  const fd = openSync(temp, "w", 0o600)
  for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at, bytes.byteLength - at)
  fsyncSync(fd)
  closeSync(fd)
  renameSync(temp, target)
}

/** The same write through `fs.promises` (open, write, fsync, close, rename): each call a round trip to the thread pool. */
const atomicWriteAsync = async (directory: string, target: string, bytes: Uint8Array): Promise<void> => {
  const temp = join(directory, `.raw-async-${process.pid}`)
  const file = await open(temp, "w", 0o600)
  try {
    await file.writeFile(bytes)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(temp, target)
}

const timed = (run: () => unknown): number => {
  const start = process.hrtime.bigint()
  run()
  return since(start)
}

const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(`bench/store: ${what}`)
}

/** The disk store's file of an entry, taken apart: the namespace and key in its header, and the entry's bytes (the payload). */
const entryOf = (file: Buffer) => {
  const nsLength = file.readUInt32LE(4)
  const keyLength = file.readUInt32LE(8)
  // "RCS1": a 40-byte header; "RCS2" (a table of the parts written apart after the names): 48 bytes.
  const parted = file.toString("latin1", 0, 4) === "RCS2"
  const namesAt = parted ? 48 : 40
  const rows = parted ? file.readUInt32LE(40) : 0
  return {
    namespace: file.subarray(namesAt, namesAt + nsLength).toString(),
    key: file.subarray(namesAt + nsLength, namesAt + nsLength + keyLength).toString(),
    // The disk store's header (the names, the table, padding to 8) comes first.
    entry: new Uint8Array(file.subarray(Math.ceil((namesAt + nsLength + keyLength + rows * 16) / 8) * 8))
  }
}

/** Runs `body` with a disk store over `directory`, its layer built (and its directory scanned) first. */
const withDiskStore = <A>(directory: string, body: (store: CacheStore.Service) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(NodeCacheStore.layerFileSystem({ directory }))
        return yield* Effect.orDie(body(Context.get(context, CacheStore.CacheStore)))
      })
    )
  )

/** How long `effect` took, in ms. */
const timedEffect = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const start = process.hrtime.bigint()
    yield* effect
    return since(start)
  })

/** The section: its figures, and the notes it printed. */
export const store = async (): Promise<ReadonlyArray<Figure>> => {
  const figures: Array<Figure> = []
  const add = (name: string, value: number, unit: string, baseline?: string) => figures.push({ name, value, unit, baseline })
  const root = mkdtempSync(join(tmpdir(), "recall-bench-store-"))
  try {
    // -------------------------------------------------------------------------
    // The 320 MB frame
    // -------------------------------------------------------------------------
    const ROWS = 10_000_000
    prebuilt.set(ROWS, makeFrame(ROWS))
    const frameDir = join(root, "frame")
    const small64 = 64 * 1024 * 1024
    const written = await inFreshLayer(layerOver(frameDir), frame(ROWS))
    check(written.value === prebuilt.get(ROWS), "the computing caller gets the body's value")
    const [entryPath] = entryFiles(frameDir)
    check(entryPath !== undefined && statSync(entryPath).size > frameBytes(ROWS), "the frame's entry is on disk")

    const diskHit = (frontMaxBytes?: number) => async () => {
      const { value, callMs } = await inFreshLayer(
        layerOver(frameDir, frontMaxBytes),
        Effect.tap(frame(ROWS), () => Effect.flatMap(frame.stats, (s) => Effect.sync(() => check(s.storeHits === 1, "a store hit"))))
      )
      check(value.d.length === ROWS && value.d[ROWS - 1] === 900, "the frame read back")
      return callMs
    }
    const rawRead = async () => timed(() => readFileSync(entryPath!))
    const hits = await alternatingAsync(9, [rawRead, diskHit(small64), diskHit()])
    add("frame 320 MB: readFileSync of the entry file", hits.ms[0]!, "ms")
    add("frame 320 MB: disk hit, cold front, front < frame (a)", hits.ms[1]!, "ms")
    add("frame 320 MB: disk hit, cold front, default front (b)", hits.ms[2]!, "ms")
    add("frame disk hit (a) / readFileSync", hits.ratios[1]!, "x", "readFileSync")
    add("frame disk hit (b) / readFileSync", hits.ratios[2]!, "x", "readFileSync")

    // The hit's pieces, alone: the store's read (and readFile, which it called before), the checksums and CBOR decode, and the copy.
    const bytes = readFileSync(entryPath!)
    const { namespace: frameNamespace, key: frameKey, entry } = entryOf(bytes)
    check(entry[1] === 0x52 && entry[2] === 0x43 && entry[3] === 0x4c, "the entry's magic after the disk header")
    await Effect.runPromise(Xxh3.load)
    const expected = { codec: EntryFormat.Codec.structured, fingerprint: EntryFormat.NO_FINGERPRINT }
    let decodedPayload: Uint8Array | undefined
    let decodedValue: unknown
    const pieces = await alternatingAsync(7, [
      rawRead,
      async () => {
        const start = process.hrtime.bigint()
        await readFile(entryPath!)
        return since(start)
      },
      () =>
        withDiskStore(frameDir, (store) =>
          timedEffect(
            Effect.tap(store.get(frameNamespace, frameKey), (got) => Effect.sync(() => check(got._tag === "Some", "a store hit")))
          )
        ),
      async () =>
        timed(() => {
          const decoded = Effect.runSync(EntryFormat.decodeEntry(entry, expected))
          check(decoded._tag === "Success", "the entry decodes")
          if (decoded._tag === "Success") decodedPayload = decoded.success.payload as Uint8Array
        }),
      async () => timed(() => Xxh3.digest(decodedPayload!)),
      async () =>
        timed(() => {
          const payload = Payload.decodePayload(decodedPayload!, { adopt: true })
          if (payload._tag === "Success") decodedValue = payload.success.value
        }),
      async () => timed(() => Copy.copy(decodedValue))
    ])
    const adopted = (decodedValue as Frame).a.buffer === decodedPayload!.buffer
    add("hit piece: readFileSync (floor)", pieces.ms[0]!, "ms")
    add("hit piece: fs.promises.readFile (512 KiB reads: what the store called before)", pieces.ms[1]!, "ms")
    add("hit piece: the disk store's get alone (open, one read, close)", pieces.ms[2]!, "ms")
    add("hit piece: decodeEntry (checksums)", pieces.ms[3]!, "ms")
    add(`hit piece: of which XXH3-128 of the payload (${Hasher.largeDigester() ?? "hash-wasm"})`, pieces.ms[4]!, "ms")
    add(`hit piece: decodePayload, adopt (views: ${adopted ? "yes" : "no, copied"})`, pieces.ms[5]!, "ms")
    add("hit piece: the structured copy of the decoded frame", pieces.ms[6]!, "ms")

    // A miss until the entry is on disk, against writing its bytes atomically.
    const rawTarget = join(root, "raw-frame")
    const missRounds: Array<{ callMs: number; closeMs: number }> = []
    const miss = (rows: number, directory: string, into?: Array<{ callMs: number; closeMs: number }>) => async () => {
      rmSync(directory, { recursive: true, force: true })
      gc()
      const { value, callMs, closeMs } = await inFreshLayer(layerOver(directory), frame(rows))
      check(value === prebuilt.get(rows), "a miss")
      into?.push({ callMs, closeMs })
      return callMs + closeMs
    }
    const rawWrite = async () => timed(() => atomicWrite(root, rawTarget, bytes))
    // The same miss in a memory-only layer: the call's own work (the front tier's copy), which the disk tier does not add.
    const frameMissInMemory = async () => {
      gc()
      const { value, callMs, closeMs } = await inFreshLayer(DataCache.layerMemory(), frame(ROWS))
      check(value === prebuilt.get(ROWS), "a miss in memory")
      return callMs + closeMs
    }
    const writes = await alternatingAsync(7, [rawWrite, miss(ROWS, frameDir, missRounds), frameMissInMemory])
    const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    add("frame 320 MB: write + fsync + rename", writes.ms[0]!, "ms")
    add("frame 320 MB: miss until on disk (call + close)", writes.ms[1]!, "ms")
    add("frame miss: of which the call (the caller has its value)", median(missRounds.map((r) => r.callMs)), "ms")
    add("frame miss: of which the background write (close)", median(missRounds.map((r) => r.closeMs)), "ms")
    add("frame 320 MB: the same miss in a memory-only layer (DataCache.layerMemory)", writes.ms[2]!, "ms")
    add("frame miss until on disk / write + fsync + rename", writes.ratios[1]!, "x", "write + fsync + rename")
    add(
      "frame miss: what the disk tier adds (on disk minus in memory) / write + fsync + rename",
      (writes.ms[1]! - writes.ms[2]!) / writes.ms[0]!,
      "x",
      "write + fsync + rename"
    )

    // The miss's pieces, alone.
    const source = prebuilt.get(ROWS)!
    let kept: unknown
    let payloadBytes: Uint8Array | undefined
    const fields = {
      codec: EntryFormat.Codec.structured,
      fingerprint: EntryFormat.NO_FINGERPRINT,
      name: "bench/storeFrame",
      identity: "bench/storeFrame:0123456789abcdef0123456789abcdef",
      storedAt: Date.now(),
      expiresAt: Infinity,
      staleUntil: Infinity
    }
    const room = EntryFormat.entryRoom(fields, false)
    const writePieces = await alternatingAsync(7, [
      rawWrite,
      async () => timed(() => (kept = Copy.copy(source).value)),
      async () =>
        timed(() => {
          const payload = Payload.encodePayload(kept)
          if (payload._tag === "Success") payloadBytes = payload.success
        }),
      async () => timed(() => Effect.runSync(EntryFormat.encodeEntry(fields, payloadBytes!))),
      async () => timed(() => Xxh3.digest(payloadBytes!)),
      // What the store tier does for a large entry now: the entry in parts, its typed arrays' bytes where they lie.
      async () =>
        timed(() => {
          const payload = Payload.encodePayloadParts(kept, undefined, room.before)
          if (payload._tag === "Success") Effect.runSync(EntryFormat.encodeEntryParts(fields, payload.success))
        }),
      // What it did before: the payload encoded with room for the entry around it, the entry written in place.
      async () =>
        timed(() => {
          const payload = Payload.encodePayload(kept, undefined, room)
          if (payload._tag === "Success") Effect.runSync(EntryFormat.encodeEntry(fields, payload.success, undefined, { inPlace: true }))
        }),
      // What it did before: the payload, then a copy of it into the entry's buffer.
      async () =>
        timed(() => {
          const payload = Payload.encodePayload(kept)
          if (payload._tag === "Success") Effect.runSync(EntryFormat.encodeEntry(fields, payload.success))
        })
    ])
    add("miss piece: write + fsync + rename (floor)", writePieces.ms[0]!, "ms")
    add("miss piece: the structured copy of the value", writePieces.ms[1]!, "ms")
    add("miss piece: encodePayload (CBOR)", writePieces.ms[2]!, "ms")
    add("miss piece: encodeEntry, payload copied into the entry", writePieces.ms[3]!, "ms")
    add(`miss piece: of which XXH3-128 of the payload (${Hasher.largeDigester() ?? "hash-wasm"})`, writePieces.ms[4]!, "ms")
    add("miss piece: the entry in parts, typed arrays by reference (now)", writePieces.ms[5]!, "ms")
    add("miss piece: the entry's bytes, written in place (before)", writePieces.ms[6]!, "ms")
    add("miss piece: the entry's bytes, payload copied (before that)", writePieces.ms[7]!, "ms")
    add("entry: in parts / in place", writePieces.ms[5]! / writePieces.ms[6]!, "x", "the entry written in place")
    kept = undefined
    payloadBytes = undefined
    decodedValue = undefined
    decodedPayload = undefined
    rmSync(rawTarget, { force: true })

    // -------------------------------------------------------------------------
    // A 1 KB entry
    // -------------------------------------------------------------------------
    const PER_ROUND = 40
    const smallDir = join(root, "small")
    await inFreshLayer(layerOver(smallDir), small(0))
    const [smallPath] = entryFiles(smallDir)
    const smallBytes = readFileSync(smallPath!)
    const smallHit = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        const { callMs } = await inFreshLayer(
          layerOver(smallDir),
          Effect.tap(small(0), () => Effect.flatMap(small.stats, (s) => Effect.sync(() => check(s.storeHits === 1, "a store hit"))))
        )
        total += callMs
      }
      return total / PER_ROUND
    }
    // The floors loop as often as recall's side, each op timed alone (the first after a collection is slow).
    const smallRead = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) total += timed(() => readFileSync(smallPath!))
      return total / PER_ROUND
    }
    const smallReadAsync = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        const start = process.hrtime.bigint()
        await readFile(smallPath!)
        total += since(start)
      }
      return total / PER_ROUND
    }
    const smallMissDir = join(root, "small-miss")
    let n = 0
    const smallMiss = async () => {
      rmSync(smallMissDir, { recursive: true, force: true })
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        const { callMs, closeMs } = await inFreshLayer(layerOver(smallMissDir), small(++n))
        total += callMs + closeMs
      }
      return total / PER_ROUND
    }
    const smallWrite = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) total += timed(() => atomicWrite(root, join(root, "raw-small"), smallBytes))
      return total / PER_ROUND
    }
    const smallReads = await alternatingAsync(9, [smallRead, smallHit, smallReadAsync])
    const smallWrites = await alternatingAsync(9, [smallWrite, smallMiss])

    // The 1 KB pieces, alone: the disk store's own operations (its layer built untimed), and
    // the same call over CacheStore.layerMemory (no disk: what the core side costs).
    const { namespace: smallNamespace, key: smallKey, entry: smallEntry } = entryOf(smallBytes)
    const storeGet = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        total += await withDiskStore(smallDir, (store) =>
          timedEffect(
            Effect.tap(store.get(smallNamespace, smallKey), (got) => Effect.sync(() => check(got._tag === "Some", "a store hit")))
          )
        )
      }
      return total / PER_ROUND
    }
    const storeOpsDir = join(root, "small-ops")
    let k = 0
    // Each operation's time too (ms, every call of every round), for the split.
    const opTimes: Record<"get" | "acquire" | "get again" | "set" | "release", Array<number>> = {
      get: [],
      acquire: [],
      "get again": [],
      set: [],
      release: []
    }
    const storeMissOps = async () => {
      rmSync(storeOpsDir, { recursive: true, force: true })
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        const key = `k${++k}`
        total += await withDiskStore(storeOpsDir, (store) =>
          timedEffect(
            Effect.gen(function* () {
              const op = <A, E>(name: keyof typeof opTimes, effect: Effect.Effect<A, E>) =>
                Effect.gen(function* () {
                  const start = process.hrtime.bigint()
                  const result = yield* effect
                  opTimes[name].push(since(start))
                  return result
                })
              yield* op("get", store.get(smallNamespace, key))
              const lock = yield* op("acquire", store.locks!.acquire(smallNamespace, key, "10 seconds"))
              check(lock._tag === "Some", "the lock taken")
              yield* op("get again", store.get(smallNamespace, key))
              yield* op("set", store.set(smallNamespace, key, smallEntry, Infinity))
              if (lock._tag === "Some") yield* op("release", store.locks!.release(lock.value))
            })
          )
        )
      }
      return total / PER_ROUND
    }
    const memoryStore = await Effect.runPromise(
      Effect.gen(function* () {
        const context = yield* Layer.build(CacheStore.layerMemory()).pipe(Effect.provideService(Scope.Scope, yield* Scope.make()))
        const store = Context.get(context, CacheStore.CacheStore)
        yield* store.set(smallNamespace, smallKey, smallEntry, Infinity)
        return store
      })
    )
    const overMemory = DataCache.layerStore({ storeTimeout: "10 minutes" }).pipe(
      Layer.provide(Layer.succeed(CacheStore.CacheStore, memoryStore))
    )
    const memoryHit = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        const { callMs } = await inFreshLayer(
          overMemory,
          Effect.tap(small(0), () => Effect.flatMap(small.stats, (s) => Effect.sync(() => check(s.storeHits === 1, "a store hit"))))
        )
        total += callMs
      }
      return total / PER_ROUND
    }
    const memoryMiss = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        const { callMs, closeMs } = await inFreshLayer(overMemory, small(++n))
        total += callMs + closeMs
      }
      return total / PER_ROUND
    }
    const smallWriteAsync = async () => {
      let total = 0
      for (let i = 0; i < PER_ROUND; i++) {
        const start = process.hrtime.bigint()
        await atomicWriteAsync(root, join(root, "raw-small-async"), smallBytes)
        total += since(start)
      }
      return total / PER_ROUND
    }
    const smallPieces = await alternatingAsync(9, [
      smallReadAsync,
      storeGet,
      memoryHit,
      smallWrite,
      storeMissOps,
      memoryMiss,
      smallWriteAsync
    ])
    add(`1 KB entry (${smallBytes.byteLength} B file): readFileSync`, smallReads.ms[0]! * 1000, "µs")
    add("1 KB entry: fs.promises.readFile", smallReads.ms[2]! * 1000, "µs")
    add("1 KB entry: disk hit, cold front", smallReads.ms[1]! * 1000, "µs")
    add("1 KB disk hit / readFileSync", smallReads.ratios[1]!, "x", "readFileSync")
    add("1 KB disk hit / fs.promises.readFile", smallReads.ms[1]! / smallReads.ms[2]!, "x", "fs.promises.readFile")
    add("1 KB entry: write + fsync + rename", smallWrites.ms[0]! * 1000, "µs")
    add("1 KB entry: miss until on disk", smallWrites.ms[1]! * 1000, "µs")
    add("1 KB miss until on disk / write + fsync + rename", smallWrites.ratios[1]!, "x", "write + fsync + rename")
    add("1 KB hit piece: fs.promises.readFile", smallPieces.ms[0]! * 1000, "µs")
    add("1 KB hit piece: the disk store's get alone", smallPieces.ms[1]! * 1000, "µs")
    add("1 KB hit piece: the same hit over CacheStore.layerMemory (core)", smallPieces.ms[2]! * 1000, "µs")
    add("1 KB miss piece: write + fsync + rename", smallPieces.ms[3]! * 1000, "µs")
    add("1 KB miss piece: the same through fs.promises (each call a thread-pool round trip)", smallPieces.ms[6]! * 1000, "µs")
    add("1 KB miss piece: the disk store's get, acquire, get, set, release", smallPieces.ms[4]! * 1000, "µs")
    add(
      `1 KB miss piece: of the store's, ${Object.entries(opTimes)
        .map(([name, ms]) => `${name} ${Math.round(median(ms) * 1000)}`)
        .join(", ")}`,
      Object.values(opTimes).reduce((n, ms) => n + median(ms), 0) * 1000,
      "µs"
    )
    add("1 KB miss piece: the same miss over CacheStore.layerMemory (core)", smallPieces.ms[5]! * 1000, "µs")

    // The same 1 KB hit and miss in a running layer, as a server sees them: the layer has
    // served calls already, and each timed call is the first of its key there (a cold front:
    // the entry was written by another layer, or is new). Above, each call is a new layer's first.
    const runningDir = join(root, "small-running")
    let fresh = 1_000_000
    /** Keys written to `runningDir` by another layer, for a round of hits. */
    const writeRound = async (): Promise<ReadonlyArray<number>> => {
      const keys = Array.from({ length: PER_ROUND }, () => ++fresh)
      await inFreshLayer(
        layerOver(runningDir),
        Effect.forEach(keys, (i) => small(i), { discard: true })
      )
      return keys
    }
    /** Runs `timedCalls` in a layer that has made one call already; the layer's build and close are untimed. */
    const inRunningLayer = (timedCalls: (cache: DataCache.Service) => Effect.Effect<number, unknown, DataCache.DataCache>) =>
      inFreshLayer(
        layerOver(runningDir),
        Effect.andThen(
          small(0),
          Effect.gen(function* () {
            return yield* timedCalls(yield* DataCache.DataCache)
          })
        )
      ).then(({ value }) => value)
    const runningHit = async () => {
      const keys = await writeRound()
      return inRunningLayer(() =>
        Effect.gen(function* () {
          const before = (yield* small.stats).storeHits
          let total = 0
          for (const i of keys) {
            const start = process.hrtime.bigint()
            yield* small(i)
            total += since(start)
          }
          const { storeHits } = yield* small.stats
          check(storeHits - before === keys.length, "each call a store hit")
          return total / keys.length
        })
      )
    }
    const runningMiss = async () =>
      inRunningLayer((cache) =>
        Effect.gen(function* () {
          let total = 0
          for (let i = 0; i < PER_ROUND; i++) {
            const start = process.hrtime.bigint()
            yield* small(++fresh)
            // Until the entry is on disk: the call returns before its background write ends.
            yield* StoreTier.awaitAllWrites(cache.cache.tier!)
            total += since(start)
          }
          return total / PER_ROUND
        })
      )
    const runningFiles = async () => {
      const before = new Set(existsSync(runningDir) ? entryFiles(runningDir) : [])
      await writeRound()
      return entryFiles(runningDir).filter((path) => !before.has(path))
    }
    const runningReadAsync = async () => {
      const files = await runningFiles()
      let total = 0
      for (const path of files) {
        const start = process.hrtime.bigint()
        await readFile(path)
        total += since(start)
      }
      return total / files.length
    }
    const runningReads = await alternatingAsync(9, [runningReadAsync, runningHit])
    const runningWrites = await alternatingAsync(9, [smallWrite, runningMiss, smallWriteAsync])
    add("1 KB, a running layer: disk hit, cold front", runningReads.ms[1]! * 1000, "µs")
    add("1 KB, a running layer: disk hit / fs.promises.readFile", runningReads.ratios[1]!, "x", "fs.promises.readFile")
    add("1 KB, a running layer: miss until on disk", runningWrites.ms[1]! * 1000, "µs")
    add("1 KB, a running layer: miss until on disk / write + fsync + rename", runningWrites.ratios[1]!, "x", "write + fsync + rename")
    add(
      "1 KB, a running layer: miss until on disk / the same write through fs.promises",
      runningWrites.ms[1]! / runningWrites.ms[2]!,
      "x",
      "write + fsync + rename through fs.promises"
    )

    // -------------------------------------------------------------------------
    // Streamlit's figures: the first run, later hits, at 10M and 50M rows
    // -------------------------------------------------------------------------
    const streamlit: Record<number, { first: number; later: number }> = {
      10000000: { first: 400, later: 200 },
      50000000: { first: 3000, later: 1000 }
    }
    const frontHit = (rows: number) => async () => {
      // The front tier's hit: a copy of what it keeps.
      const layer = DataCache.layerMemory()
      return Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const context = yield* Layer.build(layer)
            yield* frame(rows).pipe(Effect.provide(context))
            const start = process.hrtime.bigint()
            yield* frame(rows).pipe(Effect.provide(context))
            return since(start)
          })
        )
      )
    }
    for (const rows of [10_000_000, 50_000_000]) {
      const label = `${rows / 1e6}M rows (${(frameBytes(rows) / 1e9).toFixed(2)} GB)`
      // A miss holds the body's frame, the kept copy, the CBOR payload and the entry at once, then a hit reads it back.
      const needed = 5 * frameBytes(rows) + 1e9
      if (rows !== ROWS) {
        prebuilt.delete(ROWS)
        gc()
        if (freemem() < needed) {
          console.log(
            `store bench: ${label} skipped: ${(freemem() / 1e9).toFixed(1)} GB free, it needs about ${(needed / 1e9).toFixed(1)} GB`
          )
          continue
        }
        prebuilt.set(rows, makeFrame(rows))
      }
      const dir = join(root, `streamlit-${rows}`)
      const rounds = rows === ROWS ? 5 : 3
      const first = await alternatingAsync(rounds, [miss(rows, dir)])
      const firstCall: Array<{ callMs: number; closeMs: number }> = []
      await miss(rows, dir, firstCall)()
      const later = await alternatingAsync(rounds, [frontHit(rows)])
      const fromDisk = async () => {
        const { callMs } = await inFreshLayer(layerOver(dir, 1), frame(rows))
        return callMs
      }
      const disk = await alternatingAsync(rounds, [fromDisk])
      const published = streamlit[rows]!
      add(`${label}: first run, the caller has its value`, firstCall[0]!.callMs, "ms")
      add(`${label}: first run, until on disk (Streamlit ${published.first} ms)`, first.ms[0]!, "ms")
      add(`${label}: later hit, front tier (Streamlit ${published.later} ms)`, later.ms[0]!, "ms")
      add(`${label}: later hit, from disk (a new process)`, disk.ms[0]!, "ms")
      rmSync(dir, { recursive: true, force: true })
      prebuilt.delete(rows)
      gc()
    }
    return figures
  } finally {
    prebuilt.clear()
    rmSync(root, { recursive: true, force: true })
  }
}
