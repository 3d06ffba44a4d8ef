/**
 * `NodeCacheStore` is recall's disk store: a {@link CacheStore.CacheStore}
 * in a directory, on Effect's `FileSystem` (`@effect/platform-node`), that
 * several processes of one machine share: they write, read and prune it at
 * once, and compute a key once between them (the store offers locks). It
 * also has the Redis store ({@link layerRedis}), shared by the processes of
 * many machines; its contract is on `layerRedis`.
 *
 * **Layout**
 *
 * ```text
 * <directory>/                     0700
 *   CACHEDIR.TAG                   0600, the cache directory tag (https://bford.info/cachedir/)
 *   <hash of the namespace>/       0700, one per namespace
 *     <hash of the key>            0600, one entry: a header, then the bytes
 *     .tmp-<host>-<pid>-<ms>-<n>   a write in progress (never read)
 *   .locks/                        0700
 *     <ns hash>-<key hash>.lock    a held lock: its owner's token and expiry (after a failed computation:
 *                                  expired, marked failed, for the waiters to read)
 *   .notices/                      0700
 *     <ms>-<origin>-<n>.json       a removal's notice, for the other processes (swept after a minute)
 * ```
 *
 * Names are hashes only (SHA-256 of the text, 32 hex digits), never argument
 * or namespace text. The namespace and the key are kept in each entry's
 * header instead: `list` names namespaces from it, and `get` checks it, so
 * that even a collision of two names reads as a miss, never as another key's
 * value.
 *
 * **Contract** (on top of `CacheStore`'s)
 *
 * - Writes are atomic: a temporary file in the entry's own directory, written
 *   whole, `fsync`ed, then renamed over the entry. A reader sees the old entry
 *   or the new one, never a part. A writer killed before the rename leaves a
 *   temporary file that nobody reads; sweeps delete it once its process is
 *   gone (or after an hour).
 * - An entry file that is truncated, too long, or not an entry (a bad magic
 *   number, a bad header checksum, another namespace or key in its header)
 *   reads as missing and is deleted, with a warning naming the file.
 * - Expiry is on Effect's `Clock`: `get` never returns an expired entry, and
 *   sweeps delete them (when the layer is built, on `list` and `stats`, and on
 *   a write when `sweepInterval` has passed since the last sweep).
 * - `maxEntries` and `maxBytes` bound the whole directory, least recently
 *   used first (recency is the file's modification time, which a write sets
 *   and a `get` sets again once it is older than the recency precision: a
 *   tenth of `sweepInterval`, at most a minute): see {@link Options}.
 * - A failing disk (permissions, a full disk, the directory deleted) fails
 *   the operation with `CacheStoreError`; nothing throws, and building the
 *   layer never fails (directories are made on the first write, and again
 *   after they were deleted).
 * - {@link layerFileSystem} also installs `NodeHasher`'s native XXH3-128
 *   for the process (the entry format's checksum of a large payload, on
 *   every read and write, then runs at about memory bandwidth).
 * - Large entries are one buffer each way: a write is a header and the
 *   caller's bytes written as they are; a read of an entry this process
 *   knows (its scan, its writes, its reads) is an open and one `read` into a
 *   buffer of the file's size, the file closed in the background (one it
 *   does not know yet starts with 16 KiB), and the returned bytes are a view
 *   of that buffer. `layerFileSystem` reads with Node's `fs` directly
 *   (internal/entryRead.ts); {@link layer} through its `FileSystem`.
 * - Small reads (entries up to 64 KiB, lock files, a hit's recency stamp)
 *   are synchronous unless `synchronousReads: false`, each timed: slow ones
 *   turn them off for the store's life (see {@link Options}).
 *
 * **Locks** are lock files created with `O_EXCL` (which fails when the name
 * exists) and written in the same call. A lock file holds its owner's token
 * (its host and pid first) and its expiry on `Clock`; an expired one is
 * taken over, and so is a live one whose owner was a process of this host
 * that is gone. From the create to
 * the write the file exists, empty: a lock file that is empty or does not
 * parse counts as one being written, held while its modification time is
 * less than 10 s old (real time), and is taken over when older (its creator
 * died in between, or it was garbled). A creator that took 5 s or more reads
 * its file back before it counts the lock as held (it may have been taken
 * over as old meanwhile).
 *
 * A takeover first takes the lock's short guard file (published whole, with
 * `link(2)` of a written temporary file, and removed at once), so two
 * processes taking over one expired lock cannot both win. A renewal or a
 * release takes it too when the lock has less than 5 s left, so that a
 * holder renewing at its expiry cannot overwrite a new owner's lock; with
 * more left, no takeover can come before its one rename or remove lands, and
 * it takes none (with the default `lockTtl`, renewed every third, no renewal
 * or release needs it). `awaitRelease` polls the lock file, every 5 ms at
 * first and at most every 100 ms. A release after a failed computation
 * rewrites the file expired and marked failed rather than removing it, so
 * that its pollers hear of the failure; the next acquire takes it over.
 *
 * **Notices** (`CacheStore.Notices`): every `delete`, `clearNamespace` and
 * `clearAll` writes a small file into `.notices/` (written beside, renamed
 * in: the removal, its namespace and key, and the writing instance's
 * origin); `notices.subscribe` watches the directory (`fs.watch`) and hears
 * the files of other instances, so that a `DataCache.layerStore` drops its
 * front tier's copies of what another process (or `recall clear`) removed.
 * Best effort: a file system without change events (some network ones)
 * sends none. Sweeps delete notices older than a minute.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import { basename, dirname, resolve } from "node:path"
import { NodeFileSystem } from "@effect/platform-node"
import { InvalidOptionsError } from "@recall/core/CachedFunction"
import * as CacheStore from "@recall/core/CacheStore"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as PlatformError from "effect/PlatformError"
import * as UserDirectories from "effect/persistence/UserDirectories"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as EntryRead from "./internal/entryRead.ts"
import * as Notice from "./internal/notice.ts"
import * as RedisStore from "./internal/redisStore.ts"
import * as NodeHasher from "./NodeHasher.ts"

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * Options of {@link layerFileSystem} and {@link layer}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The store's directory. Made (0700, with its parents) on the first write.
   * Give the store a directory of its own: `clearAll` clears every
   * namespace directory in it. The store deletes only files it made (other
   * files, in the directory or in a namespace directory, are left alone), and
   * its first write tags the directory with a `CACHEDIR.TAG`, without which
   * the `recall` command leaves a directory that has files alone. A
   * relative path is resolved against the working directory; `""` is an
   * `InvalidOptionsError`, as are bounds under 1.
   */
  readonly directory: string
  /**
   * At most this many live entries in the whole directory (every namespace,
   * every process). When a write of this process takes the directory over,
   * the least recently used entries are deleted (a `get` counts as a use).
   *
   * Default: no bound.
   *
   * **Cost.** Recency is each entry file's modification time, on disk, so
   * that every process sees the others' uses: a `get` sets it (one `utimes`)
   * when it is older than the recency precision (see `sweepInterval`). Each
   * process keeps a view of the directory in memory (path,
   * recency and size of each entry: a few hundred bytes an entry), built by a
   * scan of the directory (one `readdir` per namespace, then an `open`, an
   * `fstat` and a header read per entry) when the store starts and every
   * `sweepInterval`, and kept up by its own operations. A write that takes
   * the view over a bound deletes its least recently used entries, each
   * checked with one `stat` first: one that another process used since (its
   * modification time moved) is kept and moved to the end instead. A full
   * store's write costs a `stat` and an `unlink` more.
   *
   * **Several processes.** Each sees the others' writes at its next scan
   * (or when it reads them), so the directory may exceed the bound by what
   * the others wrote since: with P processes writing, up to about P times
   * the bound between scans.
   */
  readonly maxEntries?: number | undefined
  /**
   * At most this many bytes of entry files in the whole directory (the
   * payloads plus a header of 40 bytes and the namespace and key of each),
   * enforced like `maxEntries`, least recently used first. An entry larger
   * than `maxBytes` on its own is not written (the entry it replaces is
   * deleted).
   *
   * Default: no bound.
   */
  readonly maxBytes?: number | undefined
  /**
   * How often a write also sweeps the directory (deletes expired entries and
   * the temporary files of processes that died mid-write), on `Clock`.
   *
   * It also sets the precision of recency (for `maxEntries` and `maxBytes`):
   * a tenth of it, at most a minute. A `get` sets an entry's recency on disk
   * only when the last it knows of is older than that, so hits of one entry
   * closer together cost no write. This process's own uses all count, in
   * order (its view of the directory keeps them) until its next scan; on
   * disk, and so for the other processes and after a scan, entries used
   * within the precision of each other may be evicted in either order.
   *
   * Default: 10 minutes (recency precise to a minute).
   */
  readonly sweepInterval?: Duration.Input | undefined
  /**
   * Whether reads of small entry files (up to 64 KiB: the first read of an
   * entry of unknown size, and every entry this process knows to be small)
   * and of lock files, and the recency stamp a hit sets (one `utimes`, at
   * most once per entry per recency precision), use synchronous calls.
   * Only {@link layerFileSystem} reads this way; {@link layer}, on a
   * `FileSystem` of your own, always goes through it.
   *
   * Default: `true`.
   *
   * **Cost.** A small file in the page cache reads in a few µs
   * synchronously, where the same read through the thread pool is three
   * round trips of tens of µs each (an open, a read, a close), more on a
   * loaded machine: a disk hit of 1 KB is about ten times cheaper. The price
   * is that the read blocks the event loop while it lasts, so each is timed:
   * after 16 reads slower than 1 ms, or one slower than 20 ms (a network
   * file system, a disk that seeks, a saturated device), the store reads
   * asynchronously for the rest of its life, and its operations' timeouts
   * bound them again. Writes (a lock's creation and removal among them) and
   * large reads are always asynchronous.
   * Set `false` where even those few blocked reads matter (a directory on a
   * network mount).
   */
  readonly synchronousReads?: boolean | undefined
}

// ---------------------------------------------------------------------------
// Entry files
// ---------------------------------------------------------------------------

// An entry file: a fixed header, the namespace and the key (UTF-8), for a
// file written in parts its table of parts, zeros up to a multiple of 8
// bytes (so that a payload read into a fresh buffer is aligned for any typed
// array view), then the payload. Little-endian throughout.
//   0  magic "RCS1", or "RCS2" for a file with a table of parts
//   4  namespace byte length, u32
//   8  key byte length, u32
//  12  FNV-1a 32 of bytes 16 up to the payload's padding (the names and the table included), u32
//  16  writtenAt, f64 (epoch ms)
//  24  expiresAt, f64 (epoch ms; Infinity never)
//  32  payload length, f64
// "RCS2" only (a 48-byte fixed header):
//  40  number of parts in the table, u32 (1 to MAX_TABLE_ROWS)
//  44  zero, u32
// The table, after the names: per part, its offset in the payload and its
// length (f64 each), in order, apart from each other: the parts of the
// payload that `setParts` was given of JOIN_BYTES or more, which `getParts`
// reads into buffers of their own.
const MAGIC = 0x31534352 // "RCS1" little-endian
const MAGIC_PARTED = 0x32534352 // "RCS2" little-endian
const HEADER_BYTES = 40
const PARTED_HEADER_BYTES = 48
const ROW_BYTES = 16
/** The most parts a table holds: an entry of more large parts is written without one (read whole). */
const MAX_TABLE_ROWS = 4096

/** Where the payload starts after a header ending at `headerEnd`: the next multiple of 8. */
const payloadStart = (headerEnd: number): number => Math.ceil(headerEnd / 8) * 8

/** Where a file's header ends and its payload starts, from its first bytes; `undefined` when they are no entry's header (or too few). */
interface FileLayout {
  readonly nsLength: number
  readonly keyLength: number
  readonly namesStart: number
  readonly rows: number
  /** The end of the names and the table: what the header checksum covers from byte 16. */
  readonly headerEnd: number
  readonly payloadOffset: number
}

const fileLayout = (bytes: Uint8Array): FileLayout | undefined => {
  if (bytes.byteLength < HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, PARTED_HEADER_BYTES))
  const magic = view.getUint32(0, true)
  const parted = magic === MAGIC_PARTED
  if (!parted && magic !== MAGIC) return undefined
  if (parted && bytes.byteLength < PARTED_HEADER_BYTES) return undefined
  const rows = parted ? view.getUint32(40, true) : 0
  if (parted && (rows === 0 || rows > MAX_TABLE_ROWS || view.getUint32(44, true) !== 0)) return undefined
  const nsLength = view.getUint32(4, true)
  const keyLength = view.getUint32(8, true)
  const namesStart = parted ? PARTED_HEADER_BYTES : HEADER_BYTES
  const headerEnd = namesStart + nsLength + keyLength + rows * ROW_BYTES
  return { nsLength, keyLength, namesStart, rows, headerEnd, payloadOffset: payloadStart(headerEnd) }
}

/** The most parent directories {@link make}'s `ensureDirectory` makes for one path. */
const MAX_DIRECTORY_DEPTH = 64

/** The largest entry file (2 GiB - 1: Node's limit for one buffer read or written in one call). */
const MAX_FILE_BYTES = 2 ** 31 - 1
/** The most one `read` asks for: Linux reads at most 2 GiB - 4 KiB in one call, Node takes at most 2 GiB - 1. */
const READ_CHUNK = 2 ** 30
/**
 * Parts of an entry under this size are written joined to their neighbours
 * and the header (one write); a part of this size or more as it is (no
 * copy), and kept in the table (read apart by `getParts`).
 */
const JOIN_BYTES = 64 * 1024

/**
 * The writes of an entry's parts: runs of parts under {@link JOIN_BYTES}
 * joined into one buffer (a write per part would be a round trip to the
 * thread pool each), larger parts as they are.
 */
const writesOf = (parts: ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> => {
  const writes: Array<Uint8Array> = []
  let run: Array<Uint8Array> = []
  const endRun = () => {
    if (run.length === 1) writes.push(run[0]!)
    else if (run.length > 1) writes.push(Buffer.concat(run))
    run = []
  }
  for (const part of parts) {
    if (part.byteLength === 0) continue
    if (part.byteLength >= JOIN_BYTES) {
      endRun()
      writes.push(part)
    } else run.push(part)
  }
  endRun()
  return writes
}

/** A part of the payload that is read apart: its offset in the payload and its length. */
interface Row {
  readonly offset: number
  readonly length: number
}

/** The table of a payload given as `parts`: its parts of {@link JOIN_BYTES} or more; none past {@link MAX_TABLE_ROWS}. */
const rowsOf = (parts: ReadonlyArray<Uint8Array>): ReadonlyArray<Row> => {
  const rows: Array<Row> = []
  let offset = 0
  for (const part of parts) {
    if (part.byteLength >= JOIN_BYTES) rows.push({ offset, length: part.byteLength })
    offset += part.byteLength
  }
  return rows.length <= MAX_TABLE_ROWS ? rows : []
}

/** How often an entry's recency is set again at most, whatever `sweepInterval` is. */
const MAX_RECENCY_PRECISION = 60_000
const encoder = new TextEncoder()

const fnv1a = (bytes: Uint8Array, from: number, to: number, seed = 0x811c9dc5): number => {
  let h = seed
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0
  return h
}

/** An entry file's header: "RCS1", or "RCS2" with the table of `rows` when there are any. */
const makeHeader = (
  names: Uint8Array,
  nsLength: number,
  writtenAt: number,
  expiresAt: number,
  payloadLength: number,
  rows: ReadonlyArray<Row>
): Uint8Array => {
  const namesStart = rows.length === 0 ? HEADER_BYTES : PARTED_HEADER_BYTES
  const headerEnd = namesStart + names.byteLength + rows.length * ROW_BYTES
  const out = new Uint8Array(payloadStart(headerEnd))
  const view = new DataView(out.buffer)
  view.setUint32(0, rows.length === 0 ? MAGIC : MAGIC_PARTED, true)
  view.setUint32(4, nsLength, true)
  view.setUint32(8, names.byteLength - nsLength, true)
  view.setFloat64(16, writtenAt, true)
  view.setFloat64(24, expiresAt, true)
  view.setFloat64(32, payloadLength, true)
  if (rows.length > 0) view.setUint32(40, rows.length, true)
  out.set(names, namesStart)
  rows.forEach((row, i) => {
    view.setFloat64(namesStart + names.byteLength + i * ROW_BYTES, row.offset, true)
    view.setFloat64(namesStart + names.byteLength + i * ROW_BYTES + 8, row.length, true)
  })
  view.setUint32(12, fnv1a(out, 16, headerEnd), true)
  return out
}

/**
 * The size of the entry file whose first bytes are `bytes`, by its header;
 * `undefined` when they are not (or not enough of) an entry's header. Not
 * checked further: {@link parseHeader} does that.
 */
const entrySize = (bytes: Uint8Array): number | undefined => {
  const at = fileLayout(bytes)
  if (at === undefined) return undefined
  const size = at.payloadOffset + new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES).getFloat64(32, true)
  return Number.isSafeInteger(size) && size <= MAX_FILE_BYTES ? size : undefined
}

interface Header {
  readonly writtenAt: number
  readonly expiresAt: number
  readonly payloadLength: number
  /** Where the payload starts. */
  readonly payloadOffset: number
  readonly namespace: Uint8Array
  readonly key: Uint8Array
  /** The parts read apart (none for an "RCS1" file), checked: in order, apart, inside the payload. */
  readonly rows: ReadonlyArray<Row>
}

/**
 * The header of an entry file from its first bytes (at least the header,
 * the names and the table), checked; `undefined` when it is not an entry or
 * `size` (the file's) does not match it.
 */
const parseHeader = (bytes: Uint8Array, size: number): Header | undefined => {
  const at = fileLayout(bytes)
  if (at === undefined || bytes.byteLength < at.headerEnd) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, at.headerEnd)
  if (fnv1a(bytes, 16, at.headerEnd) !== view.getUint32(12, true)) return undefined
  const writtenAt = view.getFloat64(16, true)
  const expiresAt = view.getFloat64(24, true)
  const payloadLength = view.getFloat64(32, true)
  if (!Number.isFinite(writtenAt) || Number.isNaN(expiresAt) || at.payloadOffset + payloadLength !== size) return undefined
  const namesEnd = at.namesStart + at.nsLength + at.keyLength
  const rows: Array<Row> = []
  for (let i = 0, end = 0; i < at.rows; i++) {
    const offset = view.getFloat64(namesEnd + i * ROW_BYTES, true)
    const length = view.getFloat64(namesEnd + i * ROW_BYTES + 8, true)
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < end || length < 1 || offset + length > payloadLength) {
      return undefined
    }
    rows.push({ offset, length })
    end = offset + length
  }
  return {
    writtenAt,
    expiresAt,
    payloadLength,
    payloadOffset: at.payloadOffset,
    namespace: bytes.subarray(at.namesStart, at.namesStart + at.nsLength),
    key: bytes.subarray(at.namesStart + at.nsLength, namesEnd),
    rows
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

const decoder = new TextDecoder()

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/** 32 hex digits of SHA-256: the only names the store gives files. */
const nameOf = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 32)
const HASH_NAME = /^[0-9a-f]{32}$/

const READ_LIMITS: EntryRead.Limits = {
  minBytes: HEADER_BYTES,
  maxBytes: MAX_FILE_BYTES,
  readChunk: READ_CHUNK,
  entrySize: (bytes) => entrySize(bytes)
}

/** The buffer a read of an entry of unknown size starts with: most entries fit, and a larger one costs an `fstat` and a second read. */
const SIZE_GUESS = 16 * 1024

/** Files of this size or more that a process knows of are read by `getParts` header first ({@link APART_PROBE}); smaller ones whole. */
const APART_FROM = 1024 * 1024

/** The first read of a large file by `getParts`: its header and table (a larger one makes the file read whole). */
const APART_PROBE = 64 * 1024

/** How a file with a table is read in parts (see EntryRead.readEntryApart): its rows as file positions; none for a file without. */
const planOf = (bytes: Uint8Array): EntryRead.Plan | undefined => {
  const size = entrySize(bytes)
  const header = size === undefined ? undefined : parseHeader(bytes, size)
  if (header === undefined || header.rows.length === 0) return undefined
  return {
    from: header.payloadOffset,
    rows: header.rows.map((row) => ({ at: header.payloadOffset + row.offset, length: row.length }))
  }
}

/**
 * The Cache Directory Tagging Specification's tag (https://bford.info/cachedir/),
 * which the store writes into its directory on its first write: backup tools
 * skip a tagged directory, and the `recall` command works only on a directory
 * that has it (or is empty), so that a `--dir` pointed at the wrong place
 * never deletes anything there.
 *
 * @category models
 * @since 0.1.0
 */
export const CACHE_DIRECTORY_TAG = "CACHEDIR.TAG"
const TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
/** The line of the tag that says recall made it (other tools' tags have the signature too). */
const TAG_RECALL_LINE = "# This file is a cache directory tag created by recall (a disk cache of @recall/node)."
const TAG_TEXT = `${TAG_SIGNATURE}
${TAG_RECALL_LINE}
# For information about cache directory tags, see: https://bford.info/cachedir/
`

/** Whether `text` (a file's first bytes) is a cache directory tag: it starts with the signature. */
export const isCacheDirectoryTag = (text: string): boolean => text.startsWith(TAG_SIGNATURE)

const HOST = nameOf(hostname()).slice(0, 8)
let counter = 0
/** A fresh name for a temporary file: its host, process and creation time, so that sweeps know whose it is. */
const tempName = (): string => `.tmp-${HOST}-${process.pid}-${Date.now()}-${++counter}${randomBytes(4).toString("hex")}`
const TEMP_NAME = /^\.tmp-([0-9a-f]{8})-(\d+)-(\d+)-/
/** The host and pid at the start of a lock's or guard's token. */
const TOKEN_OWNER = /^([0-9a-f]{8})-(\d+)-/
/** A temporary file older than this is deleted by sweeps even when its process seems alive (its pid reused). */
const TEMP_MAX_AGE = 60 * 60 * 1000

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    // EPERM: alive, someone else's.
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
  return !exited(pid)
}

/**
 * Whether `pid`, which signals still reach, has ended and waits for its
 * parent to reap it (a zombie, state `Z` in Linux's `/proc/<pid>/stat`): a
 * holder killed under a parent that reaps late (some container inits) or
 * never would otherwise keep its lock until it expires. Elsewhere, never.
 */
const exited = (pid: number): boolean => {
  if (process.platform !== "linux") return false
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return false
  }
  // "pid (comm) state ...": the command may hold spaces and parentheses, so the state follows the last ")".
  const state = stat.charAt(stat.lastIndexOf(")") + 2)
  return state === "Z" || state === "X"
}

/** A notice file's name: when it was written (epoch ms, this host's clock), the writer's origin, a count. */
const NOTICE_NAME = /^(\d+)-[0-9a-f]{16}-\d+\.json$/
/** How long a notice file stays in `.notices/`: listeners read it when it appears; sweeps delete it after this. */
const NOTICE_MILLIS = 60_000
/** The directory of notices, in the store's directory. */
const NOTICES_NAME = ".notices"
/** How often a listener checks that `.notices/` is still the directory it watches (real time). */
const NOTICE_POLL_MILLIS = 1_000

/** Whether the process `pid` of the host hashed `host` (a temporary file's or a token's) is one of this host that is gone. */
const goneHere = (host: string, pid: number): boolean => host === HOST && pid !== process.pid && !processAlive(pid)

/** Whether a temporary file (by its name) belongs to a writer that is gone. */
const abandoned = (name: string): boolean => {
  const match = TEMP_NAME.exec(name)
  if (match === null) return false
  if (Date.now() - Number(match[3]) > TEMP_MAX_AGE) return true
  return goneHere(match[1]!, Number(match[2]))
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const isNotFound = (e: PlatformError.PlatformError): boolean => e.reason._tag === "NotFound"
const isAlreadyExists = (e: PlatformError.PlatformError): boolean => e.reason._tag === "AlreadyExists"

/** What went wrong, with the system's error code (`EACCES`, `ENOSPC`, ...) when there is one. */
const describe = (cause: unknown): string => {
  const message = cause instanceof Error ? cause.message : String(cause)
  const code = (cause as { readonly cause?: { readonly code?: unknown } } | undefined)?.cause?.code
  return typeof code === "string" && !message.includes(code) ? `${message} (${code})` : message
}

const failed =
  (operation: string) =>
  (cause: unknown): CacheStore.CacheStoreError =>
    cause instanceof CacheStore.CacheStoreError ? cause : new CacheStore.CacheStoreError({ operation, reason: describe(cause), cause })

/** A sleep in real time, for polling the disk (which no virtual clock moves). */
const pause = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

interface Found {
  readonly path: string
  readonly namespace: string
  readonly fileBytes: number
  readonly payloadBytes: number
  readonly writtenAt: number
  readonly expiresAt: number
  readonly usedAt: number
}

interface Known {
  readonly usedAt: number
  readonly fileBytes: number
}

interface LockFile {
  readonly token: string
  readonly expiresAt: number
  /** Empty, cut short or not JSON: a lock file being written, or garbled (see {@link make}'s `create`). */
  readonly damaged?: true
  /**
   * Given back by a holder whose computation failed: the file stays, expired
   * (free to take), so that the processes polling it hear of the failure.
   */
  readonly failed?: true
}

/** How many files a scan reads at once. */
const SCAN_CONCURRENCY = 16

const millisOf = (ttl: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(ttl))

/**
 * The disk store over whatever `FileSystem` is provided (the node one in
 * {@link layerFileSystem}; a wrapped one in tests, to fail writes on
 * purpose).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<CacheStore.Service, never, FileSystem.FileSystem> =>
  makeStore(checked("NodeCacheStore.make", options), false)

/**
 * `options`, checked: a directory that is a non-empty string (`""` would be
 * the working directory, silently), bounds of at least 1.
 *
 * @throws InvalidOptionsError, naming the option and the fix.
 */
const checked = (maker: string, options: Options): Options => {
  const invalid = (option: string, reason: string) => new InvalidOptionsError({ functionName: maker, option, reason })
  if (options === null || typeof options !== "object") throw invalid("options", "pass an object: { directory }")
  if (typeof options.directory !== "string" || options.directory.length === 0) {
    throw invalid(
      "directory",
      `got ${options.directory === "" ? "an empty string, which would be the working directory" : typeof options.directory}; ` +
        'give the path of the cache directory (e.g. "/var/cache/my-app"), or use NodeCacheStore.layerFileSystemConfig for RECALL_CACHE_DIR or the user cache directory'
    )
  }
  for (const option of ["maxEntries", "maxBytes"] as const) {
    const bound = options[option]
    if (bound === undefined || bound === Infinity) continue
    if (typeof bound !== "number" || !(bound >= 1) || (option === "maxEntries" && !Number.isInteger(bound))) {
      throw invalid(
        option,
        `got ${String(bound)}; give ${option === "maxEntries" ? "a whole number" : "a number of bytes"} of at least 1, or leave it out for no bound`
      )
    }
  }
  if (options.synchronousReads !== undefined && typeof options.synchronousReads !== "boolean") {
    throw invalid("synchronousReads", `got ${typeof options.synchronousReads}; give true or false, or leave it out (true)`)
  }
  return options
}

/** The warning for an entry file the store cannot take for the entry it looked for (it is deleted). */
const damagedMessage = (path: string, kind: "damaged" | "misplaced"): string =>
  `recall: the disk store's entry file ${path} ${
    kind === "damaged"
      ? "is not a whole entry (cut short, too long, or its header does not check)"
      : "holds the entry of another key (copied or moved there)"
  }: it is not used and is deleted, and the value is computed again.`

/** {@link make}; with `nodeReads`, entry files are read with Node's `fs` directly (internal/entryRead.ts). */
const makeStore = (options: Options, nodeReads: boolean): Effect.Effect<CacheStore.Service, never, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const root = resolve(options.directory)
    const locksDir = `${root}/.locks`
    const noticesDir = `${root}/${NOTICES_NAME}`
    const maxEntries = options.maxEntries ?? Infinity
    const maxBytes = options.maxBytes ?? Infinity
    const bounded = maxEntries !== Infinity || maxBytes !== Infinity
    const sweepEvery = millisOf(options.sweepInterval ?? "10 minutes")
    /** A `get` sets an entry's recency only when it is older than this (see {@link Options.sweepInterval}). */
    const recencyPrecision = Math.min(sweepEvery / 10, MAX_RECENCY_PRECISION)
    const now = Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))
    const syncReads = EntryRead.syncReads(nodeReads && options.synchronousReads !== false)

    /**
     * This process's view of the directory, from its last scan and its own
     * operations since: the entries, least recently used first (a `Map`
     * keeps insertion order, and a use moves an entry to the end), and their
     * totals. `undefined` before the first scan.
     */
    let known: { readonly entries: Map<string, Known>; count: number; bytes: number } | undefined
    let lastSweep = -Infinity

    const forget = (path: string) => {
      const entry = known?.entries.get(path)
      if (known === undefined || entry === undefined) return
      known.entries.delete(path)
      known.count--
      known.bytes -= entry.fileBytes
    }
    const used = (path: string, usedAt: number) => {
      const entry = known?.entries.get(path)
      if (known === undefined || entry === undefined) return
      known.entries.delete(path)
      known.entries.set(path, { usedAt, fileBytes: entry.fileBytes })
    }
    /**
     * A `get` met the entry at `path` (`fileBytes` long) and its recency on
     * disk is now `usedAt`: it moves to the end of the view, and joins it
     * when it was written by another process since the last scan.
     */
    const seen = (path: string, usedAt: number, fileBytes: number) => {
      if (known === undefined) return
      const entry = known.entries.get(path)
      if (entry === undefined) {
        known.count++
      } else {
        known.entries.delete(path)
        known.bytes -= entry.fileBytes
      }
      known.entries.set(path, { usedAt, fileBytes })
      known.bytes += fileBytes
    }
    const over = () => known !== undefined && (known.count > maxEntries || known.bytes > maxBytes)

    // A namespace's directory, remembered: a get names it on every call, and a SHA-256 is a few µs.
    const namespaceDirs = new Map<string, string>()
    const namespaceDir = (namespace: string) => {
      let dir = namespaceDirs.get(namespace)
      if (dir === undefined) {
        dir = `${root}/${nameOf(namespace)}`
        if (namespaceDirs.size >= 1024) namespaceDirs.clear()
        namespaceDirs.set(namespace, dir)
      }
      return dir
    }
    const entryPath = (namespace: string, key: string) => `${namespaceDir(namespace)}/${nameOf(key)}`

    /** Sets the recency `at` (epoch ms) of the file at `path` through the FileSystem, as EntryRead.stamp does synchronously. */
    const stampThrough = (path: string, at: number) => fs.utimes(path, EntryRead.stampSeconds(at), EntryRead.stampSeconds(at))

    /**
     * Makes the directory `path` (0700) and its missing parents, one `mkdir`
     * each; one that exists is fine.
     * Not Node's `recursive: true`: where `mkdir` says ENOENT with the parent
     * there (a path under `/proc`), Node 24's recursive mkdir loops forever,
     * on a thread of the pool, so that four such calls stop every file
     * operation of the process. Here an ENOENT climbs to the parent, makes
     * it, and tries once more: then it fails.
     */
    const ensureDirectory = (path: string, depth = 0): Effect.Effect<void, PlatformError.PlatformError> =>
      fs.makeDirectory(path, { mode: 0o700 }).pipe(
        Effect.catch((e) => {
          if (isAlreadyExists(e)) return Effect.void
          const parent = dirname(path)
          if (!isNotFound(e) || parent === path || depth >= MAX_DIRECTORY_DEPTH) return Effect.fail(e)
          return Effect.andThen(
            ensureDirectory(parent, depth + 1),
            fs.makeDirectory(path, { mode: 0o700 }).pipe(Effect.catch((e) => (isAlreadyExists(e) ? Effect.void : Effect.fail(e))))
          )
        })
      )

    /**
     * Writes the cache directory tag into the directory once per layer, on its
     * first write (making the directory when it is missing); a tag that is
     * there already is kept. A failure is no failure of the write: it is tried
     * again on the next one.
     */
    let tagged = false
    const tagDirectory = Effect.suspend(() => {
      if (tagged) return Effect.void
      const write = fs.writeFileString(`${root}/${CACHE_DIRECTORY_TAG}`, TAG_TEXT, { flag: "wx", mode: 0o600 })
      return write.pipe(
        Effect.catch((e) => (isNotFound(e) ? Effect.andThen(ensureDirectory(root), write) : Effect.fail(e))),
        Effect.catch((e) => (isAlreadyExists(e) ? Effect.void : Effect.fail(e))),
        Effect.tap(() => Effect.sync(() => (tagged = true))),
        Effect.ignore
      )
    })

    /**
     * Writes an entry (its `header`, then the bytes of `parts` one after
     * another) to a fresh temporary file in `dir` (made when missing),
     * stamped with the recency `at`, synced and closed; returns its path.
     * Small parts are joined to their neighbours (one write for a small
     * entry and its header), large ones written as they are (no copy). The
     * stamp and the sync run at once, one round trip less: the sync may not
     * cover the stamp, but a journaled file system commits metadata in order,
     * so a crash that kept the rename keeps the stamp; at worst a stamp lost
     * is a recency, never a byte.
     */
    const writeEntryTemp = (
      dir: string,
      header: Uint8Array,
      parts: ReadonlyArray<Uint8Array>,
      at: number,
      attempt = 0
    ): Effect.Effect<string, PlatformError.PlatformError> => {
      const path = `${dir}/${tempName()}`
      return Effect.scoped(
        Effect.gen(function* () {
          const file = yield* fs.open(path, { flag: "wx", mode: 0o600 })
          for (const bytes of writesOf([header, ...parts])) yield* file.writeAll(bytes)
          yield* Effect.all([file.sync, stampThrough(path, at)], { concurrency: 2, discard: true })
        })
      ).pipe(
        Effect.as(path),
        Effect.catch((e) => {
          if (isNotFound(e) && attempt < 3) {
            // The directory is gone (deleted under the running store): made again, and tagged again after the write.
            tagged = false
            return Effect.andThen(ensureDirectory(dir), writeEntryTemp(dir, header, parts, at, attempt + 1))
          }
          return Effect.andThen(Effect.ignore(fs.remove(path, { force: true })), Effect.fail(e))
        })
      )
    }

    /**
     * Writes `bytes` to a fresh temporary file in `.locks/` (made when
     * missing), in one `writeFile` (open, write, close); returns its path.
     * Not synced: other processes see the bytes once written (the page
     * cache), and after a machine crash a lock means nothing (one that reads
     * back garbled counts as expired and is taken over).
     */
    const writeLockTemp = (bytes: Uint8Array, attempt = 0): Effect.Effect<string, PlatformError.PlatformError> => {
      const path = `${locksDir}/${tempName()}`
      return fs.writeFile(path, bytes, { flag: "wx", mode: 0o600 }).pipe(
        Effect.as(path),
        Effect.catch((e) => {
          if (isNotFound(e) && attempt < 3) return Effect.andThen(ensureDirectory(locksDir), writeLockTemp(bytes, attempt + 1))
          return Effect.andThen(Effect.ignore(fs.remove(path, { force: true })), Effect.fail(e))
        })
      )
    }

    /**
     * The bytes of the entry file at `path`, read whole into one buffer (the
     * returned bytes are a view of it, from its start, so a payload at a
     * multiple of 8 is aligned); none when it is gone. A file that is not an
     * entry, truncated or too long is returned as far as it was read (its
     * header then does not check).
     *
     * With `sizeHint` (what this process knows of the file: its scan, its
     * writes, its reads), an open, one `read` (up to 1 GiB each) into a
     * buffer of that size and a close, where Node's `readFile` would `fstat`
     * and read 512 KiB at a time: one round trip to the thread pool each. The
     * buffer is one byte longer than expected, so that a read stopping short
     * of it has met the end of the file (a read of a regular file stops short
     * only there) and a file too long shows; a file larger than expected (the
     * entry rewritten by another process) costs an `fstat` and a second read.
     * Without a size (an entry another process wrote since, or a miss: one
     * failed open), the same with a guess of {@link SIZE_GUESS} bytes: a small
     * entry is still one read, a larger one an `fstat` and a second read. The
     * file is closed in the background (see {@link readingFile}).
     */
    const readEntryFile = (path: string, sizeHint: number | undefined) =>
      nodeReads
        ? EntryRead.readEntry(path, sizeHint ?? SIZE_GUESS, READ_LIMITS, syncReads)
        : readSized(path, sizeHint ?? SIZE_GUESS).pipe(
            Effect.map(Option.some),
            Effect.catch((e) => (isNotFound(e) ? Effect.succeedNone : Effect.fail(e)))
          )

    const readSized = (path: string, sizeHint: number) =>
      readingFile(path, (file) =>
        Effect.gen(function* () {
          let buffer = Buffer.allocUnsafeSlow(Math.min(Math.max(sizeHint, HEADER_BYTES), MAX_FILE_BYTES) + 1)
          let filled = 0
          /** Whether the last read stopped short of what it asked for: at the end of the file, most likely. */
          let short = false
          /** Reads until `until` bytes are in the buffer (or it is full) or the file ends. */
          const fill = (until: number) =>
            Effect.gen(function* () {
              while (filled < until && filled < buffer.length) {
                const want = Math.min(buffer.length - filled, READ_CHUNK)
                const read = yield* file.read(buffer.subarray(filled, filled + want), { position: BigInt(filled) })
                filled += read
                short = read < want
                if (read === 0) return
              }
            })
          // The first read asks for the whole buffer: most often the whole file.
          yield* fill(HEADER_BYTES)
          let size = entrySize(buffer.subarray(0, filled))
          if (size !== undefined && size + 1 > buffer.length) {
            // Larger than this process expected: the file's own size says whether its
            // header is to be believed (a damaged one may claim gigabytes).
            if (Number((yield* file.stat).size) === size) {
              const larger = Buffer.allocUnsafeSlow(size + 1)
              buffer.copy(larger, 0, 0, filled)
              buffer = larger
            } else {
              size = undefined
            }
          }
          if (size !== undefined) {
            yield* fill(size)
            // One byte past the size, unless a read stopped short there already: the file is too long, or it ends.
            // (A file system that stops short elsewhere only hides a file too long: the bytes read are the file's.)
            if (filled === size && !short) yield* fill(size + 1)
          }
          return EntryRead.filledBytes(buffer, filled)
        })
      )

    /**
     * Opens `path` for reading and runs `use` on it; the file is closed in the
     * background, once `use` ended. A read needs the bytes, not the close: a
     * close awaited is one more round trip to the thread pool (about a third
     * of a small entry's read), and a file open a moment longer is harmless
     * (an entry is replaced by a rename, never written in place).
     */
    const readingFile = <A, E>(path: string, use: (file: FileSystem.File) => Effect.Effect<A, E>) =>
      Effect.flatMap(Scope.make(), (scope) =>
        Effect.onExit(Effect.flatMap(Scope.provide(fs.open(path, { flag: "r" }), scope), use), (exit) =>
          Effect.asVoid(Effect.forkDetach(Scope.close(scope, exit)))
        )
      )

    /** Reads into `buffer` from `position` until it is full or the file ends (a read may stop short); how many bytes came. */
    const readFully = (file: FileSystem.File, buffer: Uint8Array, position: number) =>
      Effect.gen(function* () {
        let filled = 0
        while (filled < buffer.byteLength) {
          const read = yield* file.read(buffer.subarray(filled), { position: BigInt(position + filled) })
          if (read === 0) break
          filled += read
        }
        return filled
      })

    /** What a scan knows of an entry file from its first bytes. */
    const headOf = ({ bytes, size, usedAt }: EntryRead.Head) => {
      const magicNumber = bytes.byteLength >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) : undefined
      return { header: parseHeader(bytes, size), magic: magicNumber === MAGIC || magicNumber === MAGIC_PARTED, size, usedAt }
    }

    /**
     * Reads the header (and names) of an entry file, with its size and
     * modification time; none when it is gone. With Node's `fs`, opened
     * non-blocking, and a file that is not a regular file is not read (a
     * FIFO: see `EntryRead.readHead`).
     */
    const readHeader = (path: string) =>
      nodeReads
        ? Effect.map(
            EntryRead.readHead(path, 512, (bytes) => fileLayout(bytes)?.headerEnd),
            Option.map(headOf)
          )
        : readHeaderThrough(path)

    const readHeaderThrough = (path: string) =>
      Effect.scoped(
        Effect.gen(function* () {
          const file = yield* fs.open(path, { flag: "r" })
          const info = yield* file.stat
          const size = Number(info.size)
          const usedAt = Option.match(info.mtime, { onNone: () => 0, onSome: (d) => d.getTime() })
          // The header and, most often, the names in one read.
          let bytes = new Uint8Array(Math.min(size, 512))
          bytes = bytes.subarray(0, yield* readFully(file, bytes, 0))
          const headerEnd = fileLayout(bytes)?.headerEnd
          if (headerEnd !== undefined && headerEnd <= size && headerEnd > bytes.byteLength) {
            // Names (or a table) longer than what was read: read the header with them.
            const whole = new Uint8Array(headerEnd)
            bytes = whole.subarray(0, yield* readFully(file, whole, 0))
          }
          return headOf({ bytes, size, usedAt })
        })
      ).pipe(
        Effect.map(Option.some),
        Effect.catch((e) => (isNotFound(e) ? Effect.succeedNone : Effect.fail(e)))
      )

    /** The names in a directory; none when it is gone. */
    const listDirectory = (path: string) =>
      fs.readDirectory(path).pipe(Effect.catch((e) => (isNotFound(e) ? Effect.succeed<Array<string>>([]) : Effect.fail(e))))

    /**
     * Reads every namespace directory: deletes expired and malformed entries
     * and abandoned temporary files, then, with `evict`, the least recently
     * used entries over the bounds. Returns the live entries that are left.
     */
    const scan = (at: number, evict: boolean) =>
      Effect.gen(function* () {
        const names = yield* listDirectory(root)
        // A tag there already: the first write needs no try at one (the layer is built with a scan).
        if (names.includes(CACHE_DIRECTORY_TAG)) tagged = true
        const dirs: Array<string> = []
        for (const dirName of names) {
          if (dirName.startsWith(".tmp-")) {
            if (abandoned(dirName)) yield* Effect.ignore(fs.remove(`${root}/${dirName}`, { recursive: true, force: true }))
          } else if (HASH_NAME.test(dirName)) dirs.push(`${root}/${dirName}`)
        }
        const paths: Array<string> = []
        for (const files of yield* Effect.forEach(dirs, (dir) => Effect.map(listDirectory(dir), (files) => ({ dir, files })), {
          concurrency: SCAN_CONCURRENCY
        })) {
          for (const fileName of files.files) {
            const path = `${files.dir}/${fileName}`
            if (fileName.startsWith(".tmp-")) {
              if (abandoned(fileName)) yield* Effect.ignore(fs.remove(path, { force: true }))
            } else if (HASH_NAME.test(fileName)) paths.push(path)
          }
        }
        // The headers, a few at a time: each is an open, an fstat, a read and a close.
        const inspected = yield* Effect.forEach(
          paths,
          (path) =>
            Effect.flatMap(readHeader(path), (read): Effect.Effect<Found | undefined, PlatformError.PlatformError> => {
              if (Option.isNone(read)) return Effect.undefined
              const { header, magic, size, usedAt } = read.value
              // A file without the magic number was never an entry: not the store's to delete.
              if (header === undefined && !magic) return Effect.undefined
              if (header === undefined || header.expiresAt <= at)
                return Effect.as(Effect.ignore(fs.remove(path, { force: true })), undefined)
              return Effect.succeed({
                path,
                namespace: decoder.decode(header.namespace),
                fileBytes: size,
                payloadBytes: header.payloadLength,
                writtenAt: header.writtenAt,
                expiresAt: header.expiresAt,
                usedAt
              })
            }),
          { concurrency: SCAN_CONCURRENCY }
        )
        const found = inspected.filter((f): f is Found => f !== undefined)
        const lockFiles = yield* fs.readDirectory(locksDir).pipe(Effect.orElseSucceed((): Array<string> => []))
        for (const name of lockFiles) if (abandoned(name)) yield* Effect.ignore(fs.remove(`${locksDir}/${name}`, { force: true }))
        // Notices past their time (their listeners read them when they came), and abandoned writes of them.
        const noticeFiles = yield* fs.readDirectory(noticesDir).pipe(Effect.orElseSucceed((): Array<string> => []))
        for (const name of noticeFiles) {
          const written = NOTICE_NAME.exec(name)?.[1]
          if ((written !== undefined && Date.now() - Number(written) > NOTICE_MILLIS) || abandoned(name)) {
            yield* Effect.ignore(fs.remove(`${noticesDir}/${name}`, { force: true }))
          }
        }
        const byUse = [...found].sort((a, b) => a.usedAt - b.usedAt)
        known = {
          entries: new Map(byUse.map((f) => [f.path, { usedAt: f.usedAt, fileBytes: f.fileBytes }])),
          count: found.length,
          bytes: found.reduce((n, f) => n + f.fileBytes, 0)
        }
        lastSweep = at
        if (!evict || !over()) return found
        yield* prune
        return found.filter((f) => known?.entries.has(f.path) === true)
      })

    /**
     * Deletes the least recently used entries until the directory is within
     * its bounds, by this process's view, each checked on disk first: one
     * gone already is forgotten, one used since (its modification time moved,
     * a `get` of another process) is moved to the end instead.
     */
    const prune: Effect.Effect<void, PlatformError.PlatformError> = Effect.gen(function* () {
      if (known === undefined) return
      for (let checked = 0; over() && checked <= known.entries.size; checked++) {
        const [path, entry] = known.entries.entries().next().value!
        const info = yield* fs.stat(path).pipe(
          Effect.map(Option.some),
          Effect.catch((e) => (isNotFound(e) ? Effect.succeedNone : Effect.fail(e)))
        )
        if (Option.isNone(info)) {
          forget(path)
          continue
        }
        const usedAt = Option.match(info.value.mtime, { onNone: () => entry.usedAt, onSome: (d) => d.getTime() })
        if (usedAt !== entry.usedAt) {
          used(path, usedAt)
          continue
        }
        yield* fs.remove(path, { force: true })
        forget(path)
      }
    })

    const summarize = (found: ReadonlyArray<Found>): ReadonlyArray<CacheStore.NamespaceInfo> => {
      const byNamespace = new Map<
        string,
        { entries: number; bytes: number; oldestWrite: number; newestWrite: number; nextExpiry: number }
      >()
      for (const f of found) {
        const info = byNamespace.get(f.namespace) ?? {
          entries: 0,
          bytes: 0,
          oldestWrite: Infinity,
          newestWrite: -Infinity,
          nextExpiry: Infinity
        }
        info.entries++
        info.bytes += f.payloadBytes
        info.oldestWrite = Math.min(info.oldestWrite, f.writtenAt)
        info.newestWrite = Math.max(info.newestWrite, f.writtenAt)
        info.nextExpiry = Math.min(info.nextExpiry, f.expiresAt)
        byNamespace.set(f.namespace, info)
      }
      return Array.from(byNamespace, ([namespace, info]) => ({ namespace, ...info }))
    }

    /**
     * Clears a namespace directory (a symbolic link in its place is removed,
     * never followed). One that holds only what the store makes
     * (entry files, each starting with the magic number, and temporary files)
     * is renamed away first, so that writers into it start a new one, then
     * removed. One that holds anything else (the directory was never the
     * store's own) keeps it: only the entry files in it are deleted.
     */
    const clearDirectory = (path: string) =>
      Effect.gen(function* () {
        // A link where a namespace directory belongs is not the store's to follow: the link goes, its target stays.
        const info = yield* fs.lstat(path).pipe(
          Effect.map(Option.some),
          Effect.catch((e) => (isNotFound(e) ? Effect.succeedNone : Effect.fail(e)))
        )
        if (Option.isNone(info)) return
        if (info.value.type === "SymbolicLink") return yield* fs.remove(path)
        const names = yield* listDirectory(path)
        const candidates = names.filter((name) => HASH_NAME.test(name))
        const entries = yield* Effect.filter(
          candidates,
          (name) => Effect.map(readHeader(`${path}/${name}`), (read) => Option.isNone(read) || read.value.magic),
          { concurrency: SCAN_CONCURRENCY }
        )
        const onlyOurs = entries.length === candidates.length && names.every((name) => HASH_NAME.test(name) || TEMP_NAME.test(name))
        if (onlyOurs) return yield* removeTree(path)
        for (const name of entries) yield* fs.remove(`${path}/${name}`, { force: true })
      })

    /** Removes a directory tree atomically first (renamed away), so that writers into it start a new one. */
    const removeTree = (path: string) => {
      const trash = `${root}/${tempName()}`
      return fs.rename(path, trash).pipe(
        Effect.andThen(fs.remove(trash, { recursive: true, force: true })),
        Effect.catch((e) => (isNotFound(e) ? Effect.void : Effect.fail(e)))
      )
    }

    /**
     * The entry of `namespace` and `key`, read by `read` (whole, or in parts),
     * checked against its header and stamped with its use, as `entryOf`
     * makes it of the file read; none when it is missing, malformed, another
     * key's or expired (then deleted).
     */
    const readStored = <A, R>(
      namespace: string,
      key: string,
      read: (path: string) => Effect.Effect<Option.Option<A>, PlatformError.PlatformError>,
      entryOf: (file: A) => { readonly header: Header | undefined; readonly fileBytes: number; readonly entry: (header: Header) => R }
    ) =>
      Effect.gen(function* () {
        const path = entryPath(namespace, key)
        const at = yield* now
        const file = yield* read(path)
        if (Option.isNone(file)) return Option.none<R>()
        const { header, fileBytes, entry } = entryOf(file.value)
        const valid =
          header !== undefined && sameBytes(header.namespace, encoder.encode(namespace)) && sameBytes(header.key, encoder.encode(key))
        if (!valid || header.expiresAt <= at) {
          // Malformed, truncated, another key's, or expired: gone.
          yield* Effect.ignore(fs.remove(path, { force: true }))
          // An entry that does not read is damage an operator should hear of (an expired one is not).
          if (!valid) yield* Effect.logWarning(damagedMessage(path, header === undefined ? "damaged" : "misplaced"))
          return Option.none<R>()
        }
        // A use: the modification time is the recency that eviction reads. It is set
        // again only when older than the precision (as far as this process knows):
        // a hit that repeats within it costs no write.
        const stamp = known?.entries.get(path)?.usedAt
        if (stamp !== undefined && stamp <= at && at - stamp < recencyPrecision) {
          seen(path, stamp, fileBytes)
        } else {
          const stamped = yield* EntryRead.stamp(path, at, syncReads, stampThrough(path, at)).pipe(
            Effect.as(true),
            Effect.orElseSucceed(() => false)
          )
          seen(path, stamped ? at : (stamp ?? at), fileBytes)
        }
        return Option.some(entry(header))
      })

    /** The payload of an entry file read whole: a view of the bytes read. */
    const payloadOf = (bytes: Uint8Array, header: Header) =>
      new Uint8Array(bytes.buffer, bytes.byteOffset + header.payloadOffset, header.payloadLength)

    const get = (namespace: string, key: string) =>
      readStored(
        namespace,
        key,
        (path) => readEntryFile(path, known?.entries.get(path)?.fileBytes),
        (bytes) => ({
          header: parseHeader(bytes, bytes.byteLength),
          fileBytes: bytes.byteLength,
          entry: (header): CacheStore.StoredEntry => ({
            bytes: payloadOf(bytes, header),
            writtenAt: header.writtenAt,
            expiresAt: header.expiresAt
          })
        })
      ).pipe(Effect.mapError(failed("get")))

    /**
     * `get`, its bytes in parts: a file with a table of parts (a large entry
     * written by `setParts`) is read a part at a time, each part of the table
     * into a buffer of its own. The first read is as `get`'s (a file this
     * process knows to be small is read whole at once), but for a file it
     * knows to be large, which starts with a read of {@link APART_PROBE}
     * bytes (its header and table); a file larger than that first read and
     * with no table is read whole.
     */
    const getParts = (namespace: string, key: string) =>
      readStored(
        namespace,
        key,
        (path): Effect.Effect<Option.Option<Uint8Array | EntryRead.Apart>, PlatformError.PlatformError> => {
          const size = known?.entries.get(path)?.fileBytes
          const first = size === undefined ? SIZE_GUESS : size < APART_FROM ? size : APART_PROBE
          // A file known to be large is not tried synchronously: its first read would only be read again.
          return EntryRead.readEntryApart(path, first, READ_LIMITS, planOf, first === APART_PROBE ? undefined : syncReads)
        },
        (file) => {
          const whole = file instanceof Uint8Array
          return {
            header: whole ? parseHeader(file, file.byteLength) : parseHeader(file.head, file.size),
            fileBytes: whole ? file.byteLength : file.size,
            entry: (header): CacheStore.StoredParts => ({
              parts: whole ? [payloadOf(file, header)] : file.parts,
              writtenAt: header.writtenAt,
              expiresAt: header.expiresAt
            })
          }
        }
      ).pipe(Effect.mapError(failed("get")))

    const set = (namespace: string, key: string, bytes: Uint8Array, expiresAt: number) => setParts(namespace, key, [bytes], expiresAt)

    const setParts = (namespace: string, key: string, parts: ReadonlyArray<Uint8Array>, expiresAt: number) =>
      Effect.gen(function* () {
        const dir = namespaceDir(namespace)
        const path = `${dir}/${nameOf(key)}`
        const at = yield* now
        const nsBytes = encoder.encode(namespace)
        const names = new Uint8Array(nsBytes.byteLength + encoder.encode(key).byteLength)
        names.set(nsBytes)
        encoder.encodeInto(key, names.subarray(nsBytes.byteLength))
        const payloadLength = parts.reduce((n, part) => n + part.byteLength, 0)
        const header = makeHeader(names, nsBytes.byteLength, at, expiresAt, payloadLength, rowsOf(parts))
        const fileBytes = header.byteLength + payloadLength
        if (fileBytes > MAX_FILE_BYTES) {
          return yield* new CacheStore.CacheStoreError({
            operation: "set",
            reason: `an entry of ${fileBytes} bytes is over the disk store's limit of 2 GiB per entry; keep such values out of the persistent tier`
          })
        }
        if (fileBytes > maxBytes) {
          // Never fits: not written, and what it replaces is gone.
          yield* fs.remove(path, { force: true })
          forget(path)
          return
        }
        yield* tagDirectory
        // Written whole beside the entry, stamped, synced, then renamed over it.
        let attempt = 0
        while (true) {
          const temp = yield* writeEntryTemp(dir, header, parts, at)
          const moved = yield* fs.rename(temp, path).pipe(
            Effect.as(true),
            Effect.catch((e) =>
              Effect.andThen(
                Effect.ignore(fs.remove(temp, { force: true })),
                // The directory was removed (a clear) between the write and the rename: again.
                isNotFound(e) && ++attempt < 3 ? Effect.succeed(false) : Effect.fail(e)
              )
            )
          )
          if (moved) break
        }
        yield* tagDirectory
        if (known !== undefined) {
          // Whatever it replaced (this process's view of it) is gone; it is the most recently used.
          forget(path)
          known.entries.set(path, { usedAt: at, fileBytes })
          known.count++
          known.bytes += fileBytes
        }
        // The entry is written: a sweep or a prune that fails does not fail the write.
        if (known === undefined || at - lastSweep >= sweepEvery) {
          lastSweep = at
          yield* Effect.ignore(scan(at, true))
        } else if (bounded && over()) yield* Effect.ignore(prune)
      }).pipe(Effect.mapError(failed("set")))

    // --- Locks ---------------------------------------------------------------

    const lockPath = (namespace: string, key: string) => `${locksDir}/${nameOf(namespace)}-${nameOf(key)}.lock`

    /**
     * What a lock or guard file holds; `undefined` when there is none. One
     * that does not parse is `damaged`, with no owner and long expired: a
     * guard (published whole) is then garbage, to take over; a lock file may
     * be one being written (see {@link create}).
     */
    const readLock = (path: string): Effect.Effect<LockFile | undefined, PlatformError.PlatformError> =>
      EntryRead.readText(path, syncReads, nodeReads ? EntryRead.readTextAsync(path) : fs.readFileString(path)).pipe(
        Effect.map((text): LockFile => {
          try {
            const parsed = JSON.parse(text) as Partial<LockFile>
            if (typeof parsed.token === "string" && typeof parsed.expiresAt === "number") {
              return parsed.failed === true
                ? { token: parsed.token, expiresAt: parsed.expiresAt, failed: true }
                : { token: parsed.token, expiresAt: parsed.expiresAt }
            }
          } catch {
            // Not JSON: empty, cut short, or not a lock file.
          }
          return { token: "", expiresAt: -Infinity, damaged: true }
        }),
        Effect.catch((e) => (isNotFound(e) ? Effect.undefined : Effect.fail(e)))
      )

    /**
     * How long a damaged lock file counts as one being written, so held, by
     * its modification time (real time: the file system sets it). Its owner
     * writes it right after creating it; only a process that died between the
     * two, or stalled this long, leaves it so longer.
     */
    const LOCK_WRITE_WINDOW = 10_000

    /**
     * How far in the future a lock file's modification time may be and still
     * count as now (file systems round times; clocks of one machine agree).
     * One further ahead (the clock stepped back after a crash, a copied
     * file) was not written just now: it would never age out of
     * {@link LOCK_WRITE_WINDOW}, and hold the key for every `lockWait`.
     */
    const LOCK_CLOCK_SLACK = 1_000

    /** Whether the lock file at `path` was made (or last written) less than {@link LOCK_WRITE_WINDOW} ago. */
    const young = (path: string) =>
      fs.stat(path).pipe(
        Effect.map((info) =>
          Option.match(info.mtime, {
            onNone: () => false,
            onSome: (mtime) => {
              const age = Date.now() - mtime.getTime()
              return age > -LOCK_CLOCK_SLACK && age < LOCK_WRITE_WINDOW
            }
          })
        ),
        Effect.catch((e) => (isNotFound(e) ? Effect.succeed(false) : Effect.fail(e)))
      )

    /**
     * Whether `lock`, read from the lock file at `path` at `at`, holds the
     * key: live, or damaged while young. A live lock whose holder was a
     * process of this host that is gone (killed while it computed) holds
     * nothing: it is taken over at once, not at its expiry.
     */
    const holds = (path: string, lock: LockFile, at: number) =>
      lock.damaged === true ? young(path) : Effect.succeed(lock.expiresAt > at && !ownerGone(lock.token))

    const lockContent = (lock: LockFile) =>
      encoder.encode(
        JSON.stringify({
          token: lock.token,
          // JSON has no Infinity: a lock without expiry is held until the largest time.
          expiresAt: Number.isFinite(lock.expiresAt) ? lock.expiresAt : Number.MAX_VALUE,
          ...(lock.failed === true ? { failed: true } : {}),
          pid: process.pid,
          host: hostname()
        })
      )

    /**
     * Creates the lock file `path` holding `lock`, if no file has that name
     * (`false` when one has): one `writeFile` with `O_EXCL` (open, write and
     * close in one call). Between its open and its write the file exists,
     * empty, so readers take a damaged lock file for one being written, held
     * while {@link young}. A creation that took half of that window or more
     * (its process stalled) reads the file back before it counts as held,
     * since it may have been taken over as old meanwhile. A creation whose
     * write failed (a full disk) removes its empty file, unless it stalled.
     */
    const create = (path: string, lock: LockFile, attempt = 0): Effect.Effect<boolean, PlatformError.PlatformError> =>
      Effect.suspend(() => {
        // On the clock that judges a lock file's age (the wall clock, as its modification time).
        const started = Date.now()
        const stalled = () => Date.now() - started >= LOCK_WRITE_WINDOW / 2
        return fs.writeFile(path, lockContent(lock), { flag: "wx", mode: 0o600 }).pipe(
          Effect.as(true),
          Effect.catch((e): Effect.Effect<boolean, PlatformError.PlatformError> => {
            if (isAlreadyExists(e)) return Effect.succeed(false)
            if (isNotFound(e) && attempt < 3) return Effect.andThen(ensureDirectory(locksDir), create(path, lock, attempt + 1))
            // Made by this open (Node names the call that failed), then not written.
            const made = e.reason._tag !== "BadArgument" && e.reason.syscall !== undefined && e.reason.syscall !== "open"
            return Effect.andThen(made && !stalled() ? Effect.ignore(fs.remove(path, { force: true })) : Effect.void, Effect.fail(e))
          }),
          Effect.flatMap((created) =>
            created && stalled() ? Effect.map(readLock(path), (held) => held?.token === lock.token) : Effect.succeed(created)
          )
        )
      })

    /** Creates a guard file `path` holding `lock`, whole (`link(2)` of a written temporary file), if no file has that name: `false` when one has. */
    const publish = (path: string, lock: LockFile) =>
      Effect.flatMap(writeLockTemp(lockContent(lock)), (temp) =>
        fs.link(temp, path).pipe(
          Effect.as(true),
          Effect.catch((e) => (isAlreadyExists(e) ? Effect.succeed(false) : Effect.fail(e))),
          Effect.ensuring(Effect.ignore(fs.remove(temp, { force: true })))
        )
      )

    const newToken = () => `${HOST}-${process.pid}-${randomBytes(12).toString("hex")}`

    /** Whether the process that made `token` (by its host and pid) is gone: a process of this host that is not running. */
    const ownerGone = (token: string): boolean => {
      const match = TOKEN_OWNER.exec(token)
      return match !== null && goneHere(match[1]!, Number(match[2]))
    }

    /** How long a guard is honoured; a guard is held for a few file operations. */
    const GUARD_TTL = 10_000
    /**
     * A renewal or a release with at least this long left on the lock (on
     * `Clock`) takes no guard: a takeover needs the lock expired, and the one
     * rename or remove that follows the check lands well within it. Half of
     * {@link GUARD_TTL}, the bound a guard's own holder is trusted to. With
     * the default `lockTtl` (10 s, renewed every third), every renewal and
     * release has more than this left.
     */
    const UNGUARDED_MARGIN = GUARD_TTL / 2

    /**
     * Runs `body` holding the guard of a lock file; `busy` when another
     * process holds it (after retrying for about half a second, with
     * `patient`). A guard left by a process that died holding it is taken
     * over at once when that process was of this host (a guard outliving
     * its owner would hold off a takeover longer than the lock's own ttl),
     * else after {@link GUARD_TTL}.
     */
    const guarded = <A>(path: string, body: (at: number) => Effect.Effect<A, PlatformError.PlatformError>, busy: A, patient: boolean) =>
      Effect.gen(function* () {
        const guard = `${path}.guard`
        const token = newToken()
        for (let attempt = 0; attempt < 50; attempt++) {
          const at = yield* now
          if (yield* publish(guard, { token, expiresAt: at + GUARD_TTL })) {
            return yield* body(at).pipe(
              Effect.ensuring(
                Effect.ignore(
                  Effect.flatMap(readLock(guard), (held) => (held?.token === token ? fs.remove(guard, { force: true }) : Effect.void))
                )
              )
            )
          }
          const held = yield* readLock(guard)
          if (held !== undefined && (held.expiresAt <= at || ownerGone(held.token))) {
            // Abandoned: moved aside, and deleted only if it is still the one judged abandoned.
            const aside = `${locksDir}/${tempName()}`
            yield* fs.rename(guard, aside).pipe(Effect.catch((e) => (isNotFound(e) ? Effect.void : Effect.fail(e))))
            const moved = yield* readLock(aside)
            if (moved !== undefined && moved.token !== held.token) {
              yield* fs.link(aside, guard).pipe(Effect.catch((e) => (isAlreadyExists(e) ? Effect.void : Effect.fail(e))))
            }
            yield* fs.remove(aside, { force: true })
            continue
          }
          if (!patient) return busy
          yield* pause(Math.min(1 + attempt, 10))
        }
        return busy
      })

    const acquire = (namespace: string, key: string, ttl: Duration.Input) =>
      Effect.gen(function* () {
        const path = lockPath(namespace, key)
        const token = newToken()
        const millis = millisOf(ttl)
        for (let attempt = 0; attempt < 3; attempt++) {
          const at = yield* now
          if (yield* create(path, { token, expiresAt: at + millis })) return Option.some<CacheStore.Lock>({ namespace, key, token })
          const held = yield* readLock(path)
          if (held === undefined) continue // released meanwhile
          if (yield* holds(path, held, at)) return Option.none<CacheStore.Lock>()
          // Expired (or damaged and old): taken over under the guard, if it is still the one judged so.
          const taken = yield* guarded(
            path,
            (at) =>
              Effect.gen(function* () {
                const current = yield* readLock(path)
                if (current !== undefined && (current.token !== held.token || (yield* holds(path, current, at)))) return false
                yield* fs.remove(path, { force: true })
                return yield* create(path, { token, expiresAt: at + millis })
              }),
            // Another process is changing this lock (taking it over, renewing it): it is held.
            false,
            false
          )
          return taken ? Option.some<CacheStore.Lock>({ namespace, key, token }) : Option.none<CacheStore.Lock>()
        }
        return Option.none<CacheStore.Lock>()
      }).pipe(Effect.mapError(failed("acquire a lock")))

    /** Whether `current` (what the lock file holds at `at`) is still the live lock of `lock`'s holder. */
    const ours = (current: LockFile | undefined, lock: CacheStore.Lock, at: number): current is LockFile =>
      current !== undefined && current.token === lock.token && current.expiresAt > at

    /** The lock file rewritten whole, with a new expiry: a temporary file renamed over it. */
    const extend = (path: string, lock: CacheStore.Lock, expiresAt: number, failed?: true) =>
      Effect.flatMap(writeLockTemp(lockContent({ token: lock.token, expiresAt, ...(failed ? { failed } : {}) })), (temp) =>
        fs.rename(temp, path).pipe(Effect.tapError(() => Effect.ignore(fs.remove(temp, { force: true }))))
      )

    const renew = (lock: CacheStore.Lock, ttl: Duration.Input) =>
      Effect.gen(function* () {
        const path = lockPath(lock.namespace, lock.key)
        const millis = millisOf(ttl)
        const start = yield* now
        const current = yield* readLock(path)
        if (!ours(current, lock, start)) return false
        // Far from its expiry: nobody may take the lock over before the rename lands, so no guard.
        const at = yield* now
        if (current.expiresAt - at >= UNGUARDED_MARGIN) {
          yield* extend(path, lock, at + millis)
          return true
        }
        // Near it: under the guard, so that a takeover cannot come between the check and the rename.
        const result = yield* guarded(
          path,
          (at) =>
            Effect.flatMap(readLock(path), (current) =>
              ours(current, lock, at) ? Effect.as(extend(path, lock, at + millis), "renewed" as const) : Effect.succeed("lost" as const)
            ),
          "busy" as const,
          true
        )
        if (result === "busy") {
          return yield* new CacheStore.CacheStoreError({
            operation: "renew a lock",
            reason: "its guard file stayed held by another process"
          })
        }
        return result === "renewed"
      }).pipe(Effect.mapError(failed("renew a lock")))

    const release = (lock: CacheStore.Lock, options?: { readonly failed?: boolean | undefined }) =>
      Effect.gen(function* () {
        const path = lockPath(lock.namespace, lock.key)
        const current = yield* readLock(path)
        const at = yield* now
        // Not this holder's any more (expired, taken over, gone): nothing to give back.
        if (!ours(current, lock, at)) return
        // After a failure the file stays, expired and marked, for the waiters to read (the next acquire takes it over).
        const giveBack = options?.failed === true ? extend(path, lock, 0, true) : fs.remove(path, { force: true })
        // Far from its expiry: nobody may take the lock over before the remove lands, so no guard.
        if (current.expiresAt - at >= UNGUARDED_MARGIN) return yield* giveBack
        // Near it: under the guard, so that a takeover cannot come between the check and the remove.
        yield* guarded(
          path,
          (at) => Effect.flatMap(readLock(path), (current) => (ours(current, lock, at) ? giveBack : Effect.void)),
          // Still held by another after the retries: the lock is left to expire.
          undefined,
          true
        )
      }).pipe(Effect.mapError(failed("release a lock")))

    const awaitRelease = (namespace: string, key: string, timeout: Duration.Input) =>
      Effect.gen(function* () {
        const path = lockPath(namespace, key)
        const deadline = (yield* now) + millisOf(timeout)
        let interval = 5
        while (true) {
          const at = yield* now
          const held = yield* readLock(path)
          if (held?.failed === true) return "failed" as const
          if (held === undefined || at >= deadline || !(yield* holds(path, held, at))) return "done" as const
          yield* pause(interval)
          interval = Math.min(interval * 2, 100)
        }
      }).pipe(Effect.mapError(failed("wait for a lock")))

    // --- Notices ---------------------------------------------------------------

    // Every removal through this instance is written as a small file into .notices/ (written beside, renamed in),
    // marked with this instance's origin; the other instances over the directory (other processes) watch it.
    const origin = randomBytes(8).toString("hex")
    let notices = 0
    /** How many subscriptions of this instance are open: while any is, a removal makes `.notices/` when it is missing. */
    let listening = 0

    /** Tells the other instances of a removal: best effort (a failure to write the notice is no failure of the removal). */
    const tellOthers = (notice: CacheStore.Notice): Effect.Effect<void> => {
      const temp = `${noticesDir}/${tempName()}`
      const write = fs.writeFileString(temp, Notice.encode(origin, notice), { flag: "wx", mode: 0o600 })
      return write.pipe(
        // Without .notices/ nobody listens (listeners make it): nothing to tell, and nothing made. Unless this
        // instance listens itself: then the directory (or .notices/ alone) was deleted under the listeners, who
        // watch it again within a second and read what came meanwhile, so it is made again and the notice sent
        // (found by an attack trial: an invalidate in that second never reached the other processes).
        Effect.catch((e) => {
          if (!isNotFound(e)) return Effect.fail(e)
          // Nor where this instance does not listen (`recall clear`) but a store used the directory (it has
          // recall's own tag). An untagged one, or one another tool tagged (Cargo's target/), stays as it is.
          const remake =
            listening > 0
              ? Effect.succeed(true)
              : fs.readFileString(`${root}/${CACHE_DIRECTORY_TAG}`).pipe(
                  Effect.map((text) => text.includes(TAG_RECALL_LINE)),
                  Effect.orElseSucceed(() => false)
                )
          return Effect.flatMap(remake, (yes) =>
            yes
              ? Effect.andThen(
                  Effect.suspend(() => {
                    tagged = false
                    return Effect.andThen(tagDirectory, ensureDirectory(noticesDir))
                  }),
                  write
                )
              : Effect.fail(e)
          )
        }),
        Effect.andThen(
          fs
            .rename(temp, `${noticesDir}/${Date.now()}-${origin}-${++notices}.json`)
            .pipe(Effect.catch(() => fs.remove(temp, { force: true })))
        ),
        Effect.ignore
      )
    }

    /**
     * Hears the notices of the other instances while the scope lasts: a watch
     * of .notices/ (made when missing, with the directory and its tag), ready
     * before this returns (a second at most); each new notice file is read
     * once. A `.notices/` deleted (with the directory or alone) and made
     * again is watched again within {@link NOTICE_POLL_MILLIS}, and the
     * notices that came meanwhile are read. Best effort: file systems
     * without change events (some network ones) send none.
     */
    const subscribeNotices = (onNotice: (notice: CacheStore.Notice) => void) =>
      Effect.gen(function* () {
        listening++
        yield* Effect.addFinalizer(() => Effect.sync(() => listening--))
        // The directory is the store's from now on (as on its first write): made, tagged, and its .notices/ made.
        yield* tagDirectory
        yield* Effect.ignore(ensureDirectory(noticesDir))
        const ready = yield* Deferred.make<void>()
        const heard = new Set<string>()
        const hear = (name: string) => {
          if (!NOTICE_NAME.test(name) || heard.has(name)) return Effect.void
          if (heard.size >= 1024) heard.clear()
          heard.add(name)
          return fs.readFileString(`${noticesDir}/${name}`).pipe(
            Effect.tap((text) =>
              Effect.sync(() => {
                const notice = Notice.decode(text, origin)
                if (notice !== undefined) onNotice(notice)
              })
            ),
            Effect.ignore
          )
        }
        /** The notice files there are now that were not heard yet: what came while no watch was in place. */
        const hearAll = fs.readDirectory(noticesDir).pipe(
          Effect.flatMap((names) => Effect.forEach(names, hear, { discard: true })),
          Effect.ignore
        )
        const inode = fs.stat(noticesDir).pipe(
          Effect.map((info) => Option.getOrUndefined(info.ino)),
          Effect.orElseSucceed(() => undefined)
        )
        /**
         * One watch of .notices/, until the directory it watches is gone or
         * another (deleted and made again: a watch stays on the inode it was
         * given, and would hear nothing more), checked every
         * {@link NOTICE_POLL_MILLIS} in real time. A directory missing is made
         * again where the store's directory is still there.
         */
        const watchOnce = (first: boolean) =>
          Effect.gen(function* () {
            let watched = yield* inode
            if (watched === undefined) {
              yield* Effect.ignore(fs.makeDirectory(noticesDir, { mode: 0o700 }))
              watched = yield* inode
              if (watched === undefined) return
            }
            const watching = fs.watch(noticesDir, { onReady: () => Deferred.doneUnsafe(ready, Exit.void) }).pipe(
              // An event named as the directory itself: it was deleted (Linux says so at once). The watch ends, and the
              // next one is on the directory made next: its inode may be the same number, so the poll below cannot tell.
              Stream.takeWhile((event) => basename(event.path) !== NOTICES_NAME),
              Stream.runForEach((event) => (event._tag === "Remove" ? Effect.void : hear(basename(event.path)))),
              // A watch that cannot be made (no more inotify watches: fs.watch throws): no notices, no failure.
              Effect.catchCause((cause) => (Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.never))
            )
            const replaced = Effect.gen(function* () {
              if (!first) yield* hearAll
              while ((yield* inode) === watched) yield* pause(NOTICE_POLL_MILLIS)
            })
            yield* Effect.raceFirst(watching, replaced)
          })
        yield* Effect.gen(function* () {
          yield* watchOnce(true).pipe(Effect.ensuring(Deferred.done(ready, Exit.void)))
          while (true) {
            yield* pause(NOTICE_POLL_MILLIS)
            yield* watchOnce(false)
          }
        }).pipe(Effect.forkScoped)
        yield* Deferred.await(ready).pipe(Effect.timeoutOption("1 second"))
      })

    // The first sweep, as the store starts: it counts the directory for the
    // bounds and deletes what expired while no process ran. A failing disk
    // does not fail the layer: its operations will say so.
    yield* Effect.ignore(Effect.flatMap(now, (at) => scan(at, true)))

    return CacheStore.make({
      get,
      set,
      setParts,
      getParts: nodeReads ? getParts : undefined,
      delete: (namespace, key) => {
        const path = entryPath(namespace, key)
        return fs.remove(path, { force: true }).pipe(
          Effect.tap(() => Effect.sync(() => forget(path))),
          Effect.mapError(failed("delete")),
          Effect.tap(() => tellOthers({ _tag: "Deleted", namespace, key }))
        )
      },
      clearNamespace: (namespace) => {
        const dir = `${namespaceDir(namespace)}/`
        return clearDirectory(namespaceDir(namespace)).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              for (const path of [...(known?.entries.keys() ?? [])]) if (path.startsWith(dir)) forget(path)
            })
          ),
          Effect.mapError(failed("clear a namespace")),
          Effect.tap(() => tellOthers({ _tag: "NamespaceCleared", namespace }))
        )
      },
      clearAll: Effect.gen(function* () {
        const names = yield* fs.readDirectory(root).pipe(Effect.catch((e) => (isNotFound(e) ? Effect.succeed([]) : Effect.fail(e))))
        for (const name of names) if (HASH_NAME.test(name)) yield* clearDirectory(`${root}/${name}`)
        known = { entries: new Map(), count: 0, bytes: 0 }
      }).pipe(
        Effect.mapError(failed("clear")),
        Effect.tap(() => tellOthers({ _tag: "Cleared" }))
      ),
      list: Effect.flatMap(now, (at) => Effect.map(scan(at, false), summarize)).pipe(Effect.mapError(failed("list"))),
      stats: Effect.flatMap(now, (at) =>
        Effect.map(scan(at, false), (found) => {
          const namespaces = summarize(found)
          return {
            namespaces: namespaces.length,
            entries: found.length,
            bytes: found.reduce((n, f) => n + f.payloadBytes, 0)
          }
        })
      ).pipe(Effect.mapError(failed("read stats"))),
      locks: { acquire, renew, release, awaitRelease },
      notices: { subscribe: subscribeNotices }
    })
  })

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/**
 * The disk store over the `FileSystem` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<CacheStore.CacheStore, never, FileSystem.FileSystem> =>
  Layer.effect(CacheStore.CacheStore, makeStore(checked("NodeCacheStore.layer", options), false))

/**
 * The disk store in `directory`, on `@effect/platform-node`'s file system:
 * atomic writes, files 0600 in directories 0700, names from hashes only, TTL
 * and `maxEntries` / `maxBytes` enforced on disk (least recently used first),
 * and locks, so that the processes of one machine sharing the directory
 * compute each key once.
 *
 * **Details**
 *
 * Building it also installs {@link NodeHasher.layer}'s native XXH3-128 for
 * the process: the entry format checksums every payload it writes and reads
 * with XXH3-128, and the native digester does a large one at about memory
 * bandwidth, where hash-wasm alone takes about a third of a large entry's
 * read (a 320 MB payload: about 16 ms against 95 ms here). Digests are the same bytes
 * either way; where `xxhash-addon` is not installed, hashing stays on
 * hash-wasm (see `NodeHasher`). {@link layer} (any `FileSystem`) installs
 * nothing: provide `NodeHasher.layer` beside it.
 *
 * **Gotchas**
 *
 * - Give it a directory of its own; `clearAll` clears its namespace
 *   directories.
 * - On a network file system (NFS), renames, links and `O_EXCL` creates
 *   are atomic but time stamps and the check for a dead writer's temporary
 *   files are per machine; locks assume one machine's processes (and one
 *   clock).
 *
 * @example
 * ```ts
 * import { CacheStore, NodeCacheStore } from "@recall/node"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* CacheStore.CacheStore
 *   yield* store.set("report:1f2e", "c0ffee", new Uint8Array([1, 2, 3]), Infinity)
 *   return Option.map(yield* store.get("report:1f2e", "c0ffee"), (entry) => entry.bytes)
 * })
 *
 * Effect.runPromise(
 *   program.pipe(Effect.provide(NodeCacheStore.layerFileSystem({ directory: "/tmp/my-app-cache", maxBytes: 1 << 30 })))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFileSystem = (options: Options): Layer.Layer<CacheStore.CacheStore> =>
  Layer.merge(
    Layer.effect(CacheStore.CacheStore, makeStore(checked("NodeCacheStore.layerFileSystem", options), true)).pipe(
      Layer.provide(NodeFileSystem.layer)
    ),
    NodeHasher.layer
  )

/**
 * The disk store in the directory named by `RECALL_CACHE_DIR`, or else the
 * user's cache directory for recall (`effect/persistence`'s
 * `UserDirectories`: `$XDG_CACHE_HOME/recall` or `~/.cache/recall` on Linux,
 * `~/Library/Caches/recall` on macOS, `%LOCALAPPDATA%\recall\Cache` on
 * Windows).
 *
 * Fails to build with a `ConfigError` when `RECALL_CACHE_DIR` is not a
 * string, and with a `CacheStoreError` when it is not set and there is no
 * home directory to put the cache in.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFileSystemConfig = (
  options?: Omit<Options, "directory">
): Layer.Layer<CacheStore.CacheStore, Config.ConfigError | CacheStore.CacheStoreError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const directory = yield* configuredDirectory
      return layerFileSystem({ ...options, directory })
    })
  )

/**
 * The directory {@link layerFileSystemConfig} uses: `RECALL_CACHE_DIR`, or
 * else the user's cache directory for recall. The `recall` command's
 * default `--dir`.
 *
 * @category layers
 * @since 0.1.0
 */
export const configuredDirectory: Effect.Effect<string, Config.ConfigError | CacheStore.CacheStoreError> = Effect.gen(function* () {
  const configured = yield* Config.option(Config.String("RECALL_CACHE_DIR"))
  // Set but empty (RECALL_CACHE_DIR= in a shell or an env file) counts as not set: "" would be the working directory.
  if (Option.isSome(configured) && configured.value !== "") return configured.value
  return yield* Effect.flatMap(UserDirectories.UserDirectories, (dirs) => dirs.cache("recall")).pipe(
    Effect.provide(UserDirectories.layer),
    Effect.mapError(
      (cause) =>
        new CacheStore.CacheStoreError({
          operation: "find the cache directory",
          reason: `${cause.message}; set RECALL_CACHE_DIR to the directory to use`,
          cause
        })
    )
  )
})

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

/**
 * A node-redis client (`createClient` of the `redis` package), whatever its
 * modules, scripts and protocol.
 *
 * @category models
 * @since 0.1.0
 */
export type RedisClient = RedisStore.RedisClient

/**
 * A node-redis cluster client (`createCluster` of the `redis` package).
 *
 * @category models
 * @since 0.1.0
 */
export type RedisClusterClient = RedisStore.RedisClusterClient

/**
 * Options of {@link layerRedis}.
 *
 * @category models
 * @since 0.1.0
 */
export interface RedisOptions {
  /**
   * Where Redis is, when the store makes its own client: `redis://` (or
   * `rediss://` for TLS), with a user and password for ACL users
   * (`redis://app:secret@cache.internal:6379/0`) and a database number.
   * Ignored when `client` is given.
   *
   * Default: `redis://127.0.0.1:6379`.
   */
  readonly url?: string | undefined
  /**
   * A node-redis client or cluster client to use instead of making one: for
   * a Redis Cluster, TLS certificates, sockets, or anything else node-redis's
   * options do. The store uses it as it is and never closes it (it is
   * yours); one that is not open yet is connected (in the background).
   * Give a client that reconnects (node-redis's default) so the store serves
   * again once Redis is back. The store's own commands run with node-redis's
   * command timeout (`commandOptions.timeout`) off: `DataCache.layerStore`'s
   * `storeTimeout` bounds each of them instead, at no cost per command; the
   * client's other users keep theirs.
   *
   * Default: a client of the store's own, made from `url`, that fails its
   * commands at once while disconnected (no offline queue) and reconnects
   * forever (at most a second apart), closed with the layer.
   */
  readonly client?: RedisClient | RedisClusterClient | undefined
  /**
   * The first part of every key (`<prefix>:{<namespace hash>}:...`), so that
   * several stores (apps, environments) share one Redis apart: `clearAll`,
   * `list` and `stats` see only their own prefix. No braces (they would
   * change the keys' hash tags), and not empty (an empty
   * `RECALL_REDIS_PREFIX` reads as not set, the default): either fails the
   * layer with `CacheStoreError`.
   *
   * Default: `recall`.
   */
  readonly prefix?: string | undefined
}

/**
 * The Redis store as a scoped effect: what {@link layerRedis} builds. Fails
 * (with `CacheStoreError`) for options no store can start with: an empty
 * prefix or one with braces, a `url` that does not parse; a Redis that is
 * down, or that refuses the credentials, fails operations, not this.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRedis = (options: RedisOptions = {}): Effect.Effect<CacheStore.Service, CacheStore.CacheStoreError, Scope.Scope> =>
  RedisStore.make(options)

/**
 * A store in Redis (or a Redis Cluster) that the processes of many machines
 * share, over node-redis (the `redis` package, which `@effect/platform-node`
 * brings): binary values, TTL as Redis expiry, `clearAll` and `list` by
 * `SCAN` (never `KEYS`), and locks, so that replicas compute each key once
 * between them.
 *
 * **Details**
 *
 * - Keys: `<prefix>:{<namespace hash>}:e:<key hash>` (an entry: a 32-byte
 *   header with `writtenAt` and `expiresAt`, the namespace and the key, then
 *   the bytes), `...:i` and `...:m` (the namespace's index: a sorted set by
 *   expiry and a hash of each entry's times and size, and the namespace's
 *   name), `...:l:<key hash>` (a lock). Hashes are the first 32 hex digits
 *   of SHA-256, so no argument text is in a key name. The namespace is the
 *   hash tag: an entry, its lock and its namespace's index are on one slot
 *   of a cluster, and every script runs on one node.
 * - `set` writes the entry and its index in one script, with `PX` the time
 *   left until `expiresAt` (none for `Infinity`). `get` checks `expiresAt`
 *   on Effect's `Clock` too, so no expired entry is returned even when Redis
 *   has not dropped it yet, and a hash collision reads as a miss.
 * - `list` and `stats` find namespaces by `SCAN` on every master, then read
 *   each index (dropping what expired, or what Redis evicted); `clearAll`
 *   scans the same way and deletes the entries and indexes of this prefix;
 *   `clearNamespace` deletes what the namespace's index names, then scans
 *   for the namespace's entries too (Redis may have evicted the index and
 *   kept entries).
 * - An index key of another type (written by hand, or by another program
 *   under this prefix) makes writes to its namespace fail with
 *   `CacheStoreError`, naming the key, before anything is written; `list`
 *   leaves that namespace out; `delete` and `clearNamespace` still work, and
 *   `clearNamespace` deletes the damaged keys.
 * - Locks: `acquire` is `SET NX PX` in effect (a script: the lock's value
 *   also records its expiry on the holder's `Clock`, and a lock past it is
 *   taken over even before Redis drops it); `renew` and `release` are
 *   check-and-set and check-and-delete scripts on the holder's token;
 *   `release` publishes on the lock's channel, and `awaitRelease` waits for
 *   that message, the lock's expiry, or the timeout, and polls (every 10 ms
 *   at first, at most every 250 ms) in case a message is missed or a holder
 *   crashed. A release after a failed computation publishes `failed` and
 *   leaves the lock expired and marked for 10 s, for pollers.
 * - Redis down, unreachable or restarted: operations fail with
 *   `CacheStoreError` (at once, while the client reconnects) and work again
 *   when Redis is back; building the layer never waits for Redis.
 * - Notices (`CacheStore.Notices`): every `delete`, `clearNamespace` and
 *   `clearAll` publishes a notice on the channel `<prefix>:notices` once its
 *   entries are gone (in the same script as the removal, for `delete`); a
 *   `DataCache.layerStore`
 *   over the store listens (on the subscriber connection the locks use) and
 *   drops its front tier's copies of what another instance removed. Best
 *   effort: notices sent while the listener is disconnected are not heard.
 * - Building the layer installs `NodeHasher`'s native XXH3-128 for the
 *   process (as `NodeHasher.layer` does; same digests, harmless to others):
 *   every hit checks its payload's checksum, about ten times faster so on a
 *   1 MB value.
 *
 * **Gotchas**
 *
 * - A wrong password, ACL user or database index is not an error when the
 *   layer is built (building never waits for Redis): it looks like an
 *   outage. Calls compute on their own, `storeErrors` counts, and the one
 *   warning of the outage carries Redis's reply (`WRONGPASS`, `NOAUTH`,
 *   `NOPERM`): check the log or the stats after a deploy.
 * - An operation after the store's layer closed fails at once with
 *   `CacheStoreError` ("is closed").
 * - Lock expiry is on each process's clock as well as Redis's: keep the
 *   machines' clocks synchronised (NTP). A clock ahead by s takes over
 *   locks s early, which costs a computation twice, never a wrong value.
 * - Redis evicting keys (`maxmemory-policy`, `allkeys-lru` included) is
 *   fine: an evicted entry is a miss, and a clear finds entries whose index
 *   was evicted. (`list`, and so `recall ls`, counts only indexed entries.)
 *   A Redis without persistence loses the cache on restart, which is only a
 *   cold cache.
 *
 * @example
 * ```ts
 * import { CacheStore, NodeCacheStore } from "@recall/node"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* CacheStore.CacheStore
 *   yield* store.set("report:1f2e", "c0ffee", new Uint8Array([1, 2, 3]), Date.now() + 60_000)
 *   return Option.map(yield* store.get("report:1f2e", "c0ffee"), (entry) => entry.bytes)
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(NodeCacheStore.layerRedis({ url: "redis://127.0.0.1:6379", prefix: "my-app" }))))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedis = (options: RedisOptions = {}): Layer.Layer<CacheStore.CacheStore, CacheStore.CacheStoreError> =>
  Layer.effect(CacheStore.CacheStore, makeRedis(options))

/**
 * The Redis store at `RECALL_REDIS_URL` (default `redis://127.0.0.1:6379`)
 * with the key prefix `RECALL_REDIS_PREFIX` (default `recall`), from
 * Effect's `Config` (the environment by default).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedisConfig = (
  options: Omit<RedisOptions, "url" | "prefix"> = {}
): Layer.Layer<CacheStore.CacheStore, Config.ConfigError | CacheStore.CacheStoreError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const url = yield* Config.option(Config.String("RECALL_REDIS_URL"))
      const prefix = yield* Config.option(Config.String("RECALL_REDIS_PREFIX"))
      return layerRedis({ ...options, url: Option.getOrUndefined(url), prefix: Option.getOrUndefined(prefix) })
    })
  )
