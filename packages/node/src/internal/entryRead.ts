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
import type * as Option from "effect/Option"
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

/**
 * The bytes of the file at `path` (see the module's contract).
 *
 * @internal
 */
export const readEntry = (
  path: string,
  sizeHint: number,
  limits: Limits
): Effect.Effect<Option.Option<Uint8Array>, PlatformError.PlatformError> =>
  read(path, sizeHint, limits, undefined) as Effect.Effect<Option.Option<Uint8Array>, PlatformError.PlatformError>

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
  apart: (bytes: Uint8Array) => Plan | undefined
): Effect.Effect<Option.Option<Uint8Array | Apart>, PlatformError.PlatformError> => read(path, sizeHint, limits, apart)

const read = (
  path: string,
  sizeHint: number,
  limits: Limits,
  apart: ((bytes: Uint8Array) => Plan | undefined) | undefined
): Effect.Effect<Option.Option<Uint8Array | Apart>, PlatformError.PlatformError> =>
  Effect.callback<Option.Option<Uint8Array | Apart>, PlatformError.PlatformError>((resume) => {
    let interrupted = false
    let buffer = Buffer.allocUnsafeSlow(Math.min(Math.max(sizeHint, limits.minBytes), limits.maxBytes) + 1)
    let filled = 0
    /** Whether the last read stopped short of what it asked for: at the end of the file, most likely. */
    let short = false
    let size: number | undefined

    NFS.open(path, "r", (error, fd) => {
      if (interrupted) {
        if (!error) closeQuietly(fd)
        return
      }
      if (error) return resume(error.code === "ENOENT" ? Effect.succeedNone : Effect.fail(platformError(error, "open", path)))
      const fail = (e: NodeJS.ErrnoException, method: string) => {
        closeQuietly(fd)
        resume(Effect.fail(platformError(e, method, path)))
      }
      const finish = () => {
        closeQuietly(fd)
        if (buffer.length === filled + 1) {
          // The byte past the end was never read: zeroed, since the returned view's buffer reaches it.
          buffer[filled] = 0
          return resume(Effect.succeedSome(new Uint8Array(buffer.buffer, buffer.byteOffset, filled)))
        }
        // Read into a buffer of another size (the size known was wrong): copied into one of its own.
        const exact = new Uint8Array(filled)
        exact.set(buffer.subarray(0, filled))
        resume(Effect.succeedSome(exact))
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
