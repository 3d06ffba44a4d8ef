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
  Effect.callback<Option.Option<Uint8Array>, PlatformError.PlatformError>((resume) => {
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
        size = filled >= limits.minBytes ? limits.entrySize(buffer) : undefined
        if (size === undefined) return finish()
        if (size + 1 <= buffer.length) return fill(size, afterWhole)
        // Larger than expected: the file's own size says whether its header is to be
        // believed (a damaged one may claim gigabytes).
        NFS.fstat(fd, (e, stats) => {
          if (interrupted) return closeQuietly(fd)
          if (e) return fail(e, "stat")
          if (stats.size !== size) return finish()
          const larger = Buffer.allocUnsafeSlow(size! + 1)
          buffer.copy(larger, 0, 0, filled)
          buffer = larger
          fill(size!, afterWhole)
        })
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
