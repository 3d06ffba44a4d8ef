/**
 * The disk store's read of one entry file with Node's `fs` directly, for
 * `NodeCacheStore.layerFileSystem` (whose FileSystem is Node's anyway): the
 * open and the reads chained in callbacks under one `Effect.callback`, and
 * the file closed in the background once the bytes are in. Through Effect's
 * `FileSystem` the same read is a resumption of the fiber per operation and
 * an awaited close: about a third more for a small entry on a loaded
 * machine, where each round trip to the thread pool costs tens of µs.
 *
 * **Contract** (the same as the store's `FileSystem` read, `readSized`)
 *
 * - Reads into one buffer of `sizeHint` bytes (clamped to
 *   `[minBytes, maxBytes]`) plus one: a read that stops short of it met the
 *   end of the file, and a file longer than expected shows.
 * - A file whose header (`entrySize`) says it is larger than the buffer costs
 *   an `fstat`: when the file is that size, it is read whole into a larger
 *   buffer; otherwise the header is not believed and what was read is
 *   returned (the header then does not check).
 * - Returns a view of the buffer from its start (its byte past the end
 *   zeroed), or a copy of its own when the size known was wrong; `None` when
 *   the file does not exist; a `PlatformError` otherwise, as Effect's
 *   `FileSystem` would give.
 * - Interrupted, it returns at once; the file is closed when its operation in
 *   flight comes back.
 * - With {@link SyncReads} on, a read whose buffer is at most
 *   {@link SYNC_MAX_BYTES} is made with synchronous calls (an open, the
 *   reads, a close): from the page cache that is a few µs, where each round
 *   trip to the thread pool costs tens of µs, more on a loaded machine
 *   (lmdb-js reads synchronously for the same reason). A file that turns
 *   out larger than its buffer is read again, asynchronously. Each such read
 *   is timed: one over {@link SLOW_READ_MILLIS} (a network file system, a
 *   disk that seeks) counts against the store, and after
 *   {@link SLOW_READS} of them, or one over {@link STALLED_READ_MILLIS},
 *   the store reads asynchronously from then on, so that a slow disk blocks
 *   the event loop a bounded number of times, never on every read.
 *
 * The store's other small calls that may be synchronous, under the same
 * {@link SyncReads}, are here too: a lock file's read ({@link readText}) and
 * a hit's recency stamp ({@link stamp}).
 *
 * {@link readEntryApart} reads the same, but a file larger than its buffer
 * whose header has a table of parts (`apart`) is read into a buffer per
 * part instead of one for the whole file: each part in the table alone in
 * its buffer (so that the reader may keep views of it), the bytes between
 * them views of the first read's buffer when they are in it, buffers of
 * their own otherwise.
 *
 * @internal
 */
import * as NFS from "node:fs"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PlatformError from "effect/PlatformError"

export interface Limits {
  /** The smallest buffer: a header. */
  readonly minBytes: number
  /** The largest entry file. */
  readonly maxBytes: number
  /** The most one `read` asks for. */
  readonly readChunk: number
  /** The entry's whole size from its first `minBytes` bytes, when they are a header. */
  readonly entrySize: (bytes: Uint8Array) => number | undefined
}

/** Where the parts of a file are, from its first bytes (see {@link readEntryApart}). */
export interface Plan {
  /** Where the bytes read in parts start: the file's bytes before are its header. */
  readonly from: number
  /** The parts to read alone in their buffers, as file positions: in order, apart, between `from` and the end. */
  readonly rows: ReadonlyArray<{ readonly at: number; readonly length: number }>
}

/** A file read in parts. */
export interface Apart {
  /** The file's first bytes, its header among them. */
  readonly head: Uint8Array
  /** The file's size, checked with `fstat`. */
  readonly size: number
  /** The bytes from the plan's `from` to the end of the file, in parts one after another. */
  readonly parts: ReadonlyArray<Uint8Array>
}

const REASONS: Record<string, PlatformError.SystemErrorTag> = {
  ENOENT: "NotFound",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  EEXIST: "AlreadyExists",
  EISDIR: "BadResource",
  ENOTDIR: "BadResource",
  ELOOP: "BadResource",
  EBUSY: "Busy"
}

/** A Node error as the `PlatformError` that `@effect/platform-node`'s FileSystem gives for it. */
const platformError = (error: NodeJS.ErrnoException, method: string, path: string): PlatformError.PlatformError =>
  PlatformError.systemError({
    _tag: REASONS[error.code ?? ""] ?? "Unknown",
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    syscall: error.syscall,
    cause: error
  })

const closeQuietly = (fd: number) => NFS.close(fd, () => {})

const closeSyncQuietly = (fd: number) => {
  try {
    NFS.closeSync(fd)
  } catch {
    // A close that fails (it cannot on a file read this way) loses nothing read.
  }
}

/**
 * Read-only and non-blocking: a regular file reads as ever, but a FIFO put
 * where a file was expected opens at once and fails its first read
 * (`ESPIPE`), where a blocking open would wait for a writer forever (on the
 * event loop, or on one of the thread pool's four threads).
 */
const OPEN_FLAGS = NFS.constants.O_RDONLY | NFS.constants.O_NONBLOCK

/** The most of a small text file (a lock file) that {@link readText} reads. */
const TEXT_MAX_BYTES = 4096

/**
 * The `filled` bytes read into `buffer` (one byte longer than the size
 * expected), as a read returns them: a view of the buffer from its start when
 * the size was right (the byte past the end, never read, zeroed, since the
 * view's buffer reaches it), else a copy of their own.
 *
 * @internal
 */
export const filledBytes = (buffer: Buffer, filled: number): Uint8Array => {
  if (buffer.length === filled + 1) {
    buffer[filled] = 0
    return new Uint8Array(buffer.buffer, buffer.byteOffset, filled)
  }
  // Read into a buffer of another size (the size known was wrong): copied into one of its own.
  const exact = new Uint8Array(filled)
  exact.set(buffer.subarray(0, filled))
  return exact
}

/** The largest buffer read synchronously (see the module's contract). */
export const SYNC_MAX_BYTES = 64 * 1024

/** A synchronous read slower than this counts against synchronous reads. */
export const SLOW_READ_MILLIS = 1

/** After this many slow synchronous reads, a store reads asynchronously. */
export const SLOW_READS = 16

/** One synchronous read slower than this turns them off at once. */
export const STALLED_READ_MILLIS = 20

/**
 * Whether a store reads small entry files synchronously: one record per
 * store, changed only by {@link timed} (see the module's contract).
 *
 * @internal
 */
export interface SyncReads {
  on: boolean
  /** Reads slower than {@link SLOW_READ_MILLIS} so far. */
  slow: number
}

/** @internal */
export const syncReads = (on: boolean): SyncReads => ({ on, slow: 0 })

/**
 * Counts a synchronous read of `millis` against `reads`; true when it turned
 * synchronous reads off.
 *
 * @internal
 */
export const timed = (reads: SyncReads, millis: number): boolean => {
  if (!reads.on || millis <= SLOW_READ_MILLIS) return false
  reads.slow++
  if (reads.slow < SLOW_READS && millis <= STALLED_READ_MILLIS) return false
  reads.on = false
  return true
}

/** A file's first bytes, as a scan reads them (see {@link readHead}). */
export interface Head {
  /** The bytes read from the start: none for a file that is not a regular file. */
  readonly bytes: Uint8Array
  readonly size: number
  /** The modification time, epoch ms: whole, as the store's `stat` gives it (a `Date`), so that the two compare equal. */
  readonly usedAt: number
}

/**
 * The first `first` bytes of the file at `path` (fewer for a shorter file),
 * or as many as `whole` asks for once it has seen them (a header longer than
 * the first read), with the file's size and modification time; `None` when
 * it does not exist. The file is opened as every read here opens it, so a
 * FIFO does not wait for a writer (a scan that met one stopped every later
 * operation of the process, and its exit), and one that is not a regular
 * file is not read at all: no bytes, so no header.
 *
 * @internal
 */
export const readHead = (
  path: string,
  first: number,
  whole: (bytes: Uint8Array) => number | undefined
): Effect.Effect<Option.Option<Head>, PlatformError.PlatformError> =>
  Effect.tryPromise({
    try: async (): Promise<Option.Option<Head>> => {
      let method = "open"
      try {
        const handle = await NFS.promises.open(path, OPEN_FLAGS)
        try {
          method = "stat"
          const info = await handle.stat()
          if (!info.isFile()) return Option.some({ bytes: new Uint8Array(0), size: info.size, usedAt: info.mtime.getTime() })
          method = "read"
          const readUpTo = async (length: number) => {
            const bytes = new Uint8Array(length)
            let filled = 0
            while (filled < length) {
              const { bytesRead } = await handle.read(bytes, filled, length - filled, filled)
              if (bytesRead === 0) break
              filled += bytesRead
            }
            return bytes.subarray(0, filled)
          }
          let bytes = await readUpTo(Math.min(info.size, first))
          const wanted = whole(bytes)
          if (wanted !== undefined && wanted <= info.size && wanted > bytes.byteLength) bytes = await readUpTo(wanted)
          return Option.some({ bytes, size: info.size, usedAt: info.mtime.getTime() })
        } finally {
          await handle.close().catch(() => {})
        }
      } catch (error) {
        const e = error as NodeJS.ErrnoException
        if (e.code === "ENOENT") return Option.none()
        throw platformError(e, method, path)
      }
    },
    catch: (error) => (PlatformError.isPlatformError(error) ? error : platformError(error as NodeJS.ErrnoException, "read", path))
  })

/**
 * `run`, a synchronous call on the file at `path`, timed against `sync`, when
 * synchronous calls are on; `fallback` otherwise. What `run` throws is the
 * `PlatformError` of `method`, as Effect's `FileSystem` gives it.
 */
const synchronously = <A>(
  path: string,
  method: string,
  sync: SyncReads,
  fallback: Effect.Effect<A, PlatformError.PlatformError>,
  run: () => A
): Effect.Effect<A, PlatformError.PlatformError> =>
  Effect.suspend(() => {
    if (!sync.on) return fallback
    const start = performance.now()
    try {
      return Effect.succeed(run())
    } catch (error) {
      return Effect.fail(platformError(error as NodeJS.ErrnoException, method, path))
    } finally {
      timed(sync, performance.now() - start)
    }
  })

/**
 * The small text file at `path` (a lock file), read synchronously when
 * `sync` is on (and timed against it), else through `fallback`; fails as
 * Effect's `FileSystem.readFileString` does (a missing file is `NotFound`).
 *
 * @internal
 */
export const readText = (
  path: string,
  sync: SyncReads,
  fallback: Effect.Effect<string, PlatformError.PlatformError>
): Effect.Effect<string, PlatformError.PlatformError> =>
  synchronously(path, "readFile", sync, fallback, () => {
    const fd = NFS.openSync(path, OPEN_FLAGS)
    try {
      // Lock files are far shorter: what is cut off was no lock file anyway, and nothing endless (a device) is read on.
      const buffer = Buffer.allocUnsafe(TEXT_MAX_BYTES)
      let filled = 0
      while (filled < buffer.length) {
        const read = NFS.readSync(fd, buffer, filled, buffer.length - filled, filled)
        if (read === 0) break
        filled += read
      }
      return buffer.toString("utf8", 0, filled)
    } finally {
      closeSyncQuietly(fd)
    }
  })

/**
 * The small text file at `path` read through the thread pool, opened as
 * {@link readText} opens it (a FIFO does not wait for a writer); fails as
 * Effect's `FileSystem.readFileString` does.
 *
 * @internal
 */
export const readTextAsync = (path: string): Effect.Effect<string, PlatformError.PlatformError> =>
  Effect.tryPromise({
    try: (signal) => NFS.promises.readFile(path, { encoding: "utf8", flag: OPEN_FLAGS, signal }),
    catch: (error) => platformError(error as NodeJS.ErrnoException, "readFile", path)
  })

/**
 * The seconds `utimes` is given to stamp the recency `at` (epoch ms): half a
 * microsecond past it. `at / 1000` is a double a little below or above the
 * millisecond, which libuv cuts to whole nanoseconds; a stamp is read back
 * rounded to the millisecond by Node's `Stats` (the scan's), but cut by its
 * bigint `Stats` (Effect's `FileSystem.stat`, the eviction's). Cut, a stamp
 * just below read back one lower, and the eviction took the entry for one
 * another process had used since and passed over it. Half a microsecond past
 * (the double's error here is about a tenth of one) reads back as `at` both
 * ways.
 *
 * @internal
 */
export const stampSeconds = (at: number): number => (at + 0.0005) / 1000

/**
 * Sets the modification time of the file at `path` to `at` (epoch ms), the
 * recency a hit leaves: synchronously when `sync` is on (a metadata update
 * of a file just read, timed against it like a read), else `fallback`.
 *
 * @internal
 */
export const stamp = (
  path: string,
  at: number,
  sync: SyncReads,
  fallback: Effect.Effect<void, PlatformError.PlatformError>
): Effect.Effect<void, PlatformError.PlatformError> =>
  synchronously(path, "utimes", sync, fallback, () => NFS.utimesSync(path, stampSeconds(at), stampSeconds(at)))

/**
 * The file at `path` read synchronously into a buffer of `bytes` bytes, with
 * the async read's result; `undefined` when its header says it is larger
 * than the buffer (the caller reads it asynchronously).
 */
const readSync = (
  path: string,
  bytes: number,
  limits: Limits
): Effect.Effect<Option.Option<Uint8Array>, PlatformError.PlatformError> | undefined => {
  let fd: number
  try {
    fd = NFS.openSync(path, OPEN_FLAGS)
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    return e.code === "ENOENT" ? Effect.succeedNone : Effect.fail(platformError(e, "open", path))
  }
  try {
    const buffer = Buffer.allocUnsafeSlow(bytes)
    let filled = 0
    let short = false
    // As the asynchronous read: each read asks for the rest of the buffer, so a small entry is one read.
    const fill = (until: number) => {
      while (filled < until && filled < buffer.length) {
        const want = Math.min(buffer.length - filled, limits.readChunk)
        const read = NFS.readSync(fd, buffer, filled, want, filled)
        filled += read
        short = read < want
        if (read === 0) return
      }
    }
    fill(limits.minBytes)
    const size = limits.entrySize(buffer.subarray(0, filled))
    if (size !== undefined && size + 1 > buffer.length) return undefined
    if (size !== undefined) {
      fill(size)
      if (filled === size && !short) fill(size + 1)
    }
    return Effect.succeedSome(filledBytes(buffer, filled))
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    // Not a file one can read at a position (a FIFO): no entry, as an empty file is none.
    return e.code === "ESPIPE" ? Effect.succeedSome(new Uint8Array(0)) : Effect.fail(platformError(e, "read", path))
  } finally {
    closeSyncQuietly(fd)
  }
}

/**
 * The bytes of the file at `path` (see the module's contract).
 *
 * @internal
 */
export const readEntry = (
  path: string,
  sizeHint: number,
  limits: Limits,
  sync: SyncReads | undefined
): Effect.Effect<Option.Option<Uint8Array>, PlatformError.PlatformError> =>
  read(path, sizeHint, limits, undefined, sync) as Effect.Effect<Option.Option<Uint8Array>, PlatformError.PlatformError>

/**
 * The bytes of the file at `path`, whole or, for a file larger than
 * `sizeHint` whose first bytes give a {@link Plan} (`apart`), in parts (see
 * the module's contract).
 *
 * @internal
 */
export const readEntryApart = (
  path: string,
  sizeHint: number,
  limits: Limits,
  apart: (bytes: Uint8Array) => Plan | undefined,
  sync: SyncReads | undefined
): Effect.Effect<Option.Option<Uint8Array | Apart>, PlatformError.PlatformError> => read(path, sizeHint, limits, apart, sync)

const read = (
  path: string,
  sizeHint: number,
  limits: Limits,
  apart: ((bytes: Uint8Array) => Plan | undefined) | undefined,
  sync: SyncReads | undefined
): Effect.Effect<Option.Option<Uint8Array | Apart>, PlatformError.PlatformError> =>
  Effect.suspend(() => {
    const bytes = Math.min(Math.max(sizeHint, limits.minBytes), limits.maxBytes) + 1
    if (sync?.on === true && bytes <= SYNC_MAX_BYTES + 1) {
      const start = performance.now()
      const read = readSync(path, bytes, limits)
      timed(sync, performance.now() - start)
      if (read !== undefined) return read
    }
    return readAsync(path, bytes, limits, apart)
  })

const readAsync = (
  path: string,
  bytes: number,
  limits: Limits,
  apart: ((bytes: Uint8Array) => Plan | undefined) | undefined
): Effect.Effect<Option.Option<Uint8Array | Apart>, PlatformError.PlatformError> =>
  Effect.callback<Option.Option<Uint8Array | Apart>, PlatformError.PlatformError>((resume) => {
    let interrupted = false
    let buffer = Buffer.allocUnsafeSlow(bytes)
    let filled = 0
    /** Whether the last read stopped short of what it asked for: at the end of the file, most likely. */
    let short = false
    let size: number | undefined

    NFS.open(path, OPEN_FLAGS, (error, fd) => {
      if (interrupted) {
        if (!error) closeQuietly(fd)
        return
      }
      if (error) return resume(error.code === "ENOENT" ? Effect.succeedNone : Effect.fail(platformError(error, "open", path)))
      const fail = (e: NodeJS.ErrnoException, method: string) => {
        closeQuietly(fd)
        // Not a file one can read at a position (a FIFO): no entry, as an empty file is none.
        resume(e.code === "ESPIPE" ? Effect.succeedSome(new Uint8Array(0)) : Effect.fail(platformError(e, method, path)))
      }
      const finish = () => {
        closeQuietly(fd)
        resume(Effect.succeedSome(filledBytes(buffer, filled)))
      }
      /** Reads until `until` bytes are in the buffer (or it is full) or the file ends, then `next`. */
      const fill = (until: number, next: () => void) => {
        if (filled >= until || filled >= buffer.length) return next()
        const want = Math.min(buffer.length - filled, limits.readChunk)
        NFS.read(fd, buffer, filled, want, filled, (e, read) => {
          if (interrupted) return closeQuietly(fd)
          if (e) return fail(e, "read")
          filled += read
          short = read < want
          if (read === 0) return next()
          fill(until, next)
        })
      }
      const afterHeader = () => {
        size = limits.entrySize(buffer.subarray(0, filled))
        if (size === undefined) return finish()
        if (size + 1 <= buffer.length) return fill(size, afterWhole)
        // Larger than expected: the file's own size says whether its header is to be
        // believed (a damaged one may claim gigabytes).
        NFS.fstat(fd, (e, stats) => {
          if (interrupted) return closeQuietly(fd)
          if (e) return fail(e, "stat")
          if (stats.size !== size) return finish()
          const plan = apart?.(buffer.subarray(0, filled))
          if (plan !== undefined) return readApart(plan, size!)
          const larger = Buffer.allocUnsafeSlow(size! + 1)
          buffer.copy(larger, 0, 0, filled)
          buffer = larger
          fill(size!, afterWhole)
        })
      }
      /** Reads `length` bytes at `position` into `into` from `offset` on; `done(false)` when the file ended first. */
      const readInto = (into: Buffer, offset: number, position: number, length: number, done: (whole: boolean) => void) => {
        if (length === 0) return done(true)
        NFS.read(fd, into, offset, Math.min(length, limits.readChunk), position, (e, got) => {
          if (interrupted) return closeQuietly(fd)
          if (e) return fail(e, "read")
          if (got === 0) return done(false)
          readInto(into, offset + got, position + got, length - got, done)
        })
      }
      /** The bytes from `plan.from` to `size`, a part at a time (see {@link readEntryApart}). */
      const readApart = (plan: Plan, size: number) => {
        const segments: Array<{ readonly at: number; readonly end: number; readonly alone: boolean }> = []
        let at = plan.from
        for (const row of plan.rows) {
          if (row.at > at) segments.push({ at, end: row.at, alone: false })
          segments.push({ at: row.at, end: row.at + row.length, alone: true })
          at = row.at + row.length
        }
        if (size > at) segments.push({ at, end: size, alone: false })
        const parts: Array<Uint8Array> = []
        const next = (i: number) => {
          if (i === segments.length) {
            closeQuietly(fd)
            return resume(Effect.succeedSome({ head: new Uint8Array(buffer.buffer, buffer.byteOffset, filled), size, parts }))
          }
          const { at, end, alone } = segments[i]!
          if (!alone && end <= filled) {
            parts.push(new Uint8Array(buffer.buffer, buffer.byteOffset + at, end - at))
            return next(i + 1)
          }
          // Its own buffer: what the first read has of it copied, the rest read.
          const own = Buffer.allocUnsafeSlow(end - at)
          const copied = Math.max(0, Math.min(filled, end) - at)
          if (copied > 0) buffer.copy(own, 0, at, at + copied)
          readInto(own, copied, at + copied, end - at - copied, (whole) => {
            // Cut short (the file shrank under the read): what was read first, whose header then does not check.
            if (!whole) return finish()
            parts.push(new Uint8Array(own.buffer, own.byteOffset, own.byteLength))
            next(i + 1)
          })
        }
        next(0)
      }
      const afterWhole = () => {
        // One byte past the size, unless a read stopped short there already: the file is too long, or it ends.
        if (filled === size && !short) return fill(size + 1, finish)
        finish()
      }
      fill(limits.minBytes, afterHeader)
    })
    return Effect.sync(() => {
      interrupted = true
    })
  })
