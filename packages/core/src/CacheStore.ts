/**
 * `CacheStore` is the storage boundary of recall's persistent tier: binary
 * entries with an absolute expiry, per namespace. A namespace is a cached
 * function's identity; a key is the bounded name of a call's arguments. What
 * the bytes mean (the entry format, signatures) is the caller's business,
 * not the store's.
 *
 * **Contract**
 *
 * - `set` writes bytes under (namespace, key) with an absolute expiry in
 *   epoch milliseconds (`Infinity`: never), replacing what was there. A store
 *   may also offer `setParts`, the same write of bytes given in parts.
 * - `get` returns the bytes and times of an entry that has not expired at the
 *   clock's time (Effect's `Clock`, so `TestClock` drives it); at or after
 *   `expiresAt` the entry is gone (the store may delete it then). Expired
 *   entries count nowhere: not in `list`, not in `stats`. A store may also
 *   offer `getParts`, the same read of bytes returned in parts.
 * - `delete`, `clearNamespace` and `clearAll` remove; removing what is not
 *   there is not an error.
 * - `list` gives each namespace with entries: their count, bytes, and the
 *   oldest and newest write.
 * - Every operation may fail with {@link CacheStoreError} (a disk, a network
 *   or a full store); a store never throws and never dies for such reasons.
 * - Bytes handed to `set` are the store's from then on (the caller does not
 *   write to them again); bytes returned by `get` are the caller's: no later
 *   operation of the store writes to them.
 *
 * **Locks** (optional, `locks`): a store that several processes share may
 * offer one lock per (namespace, key), so that one of them computes a key
 * while the others wait for its value: acquire with an expiry, renew while
 * computing, release when done; an expired lock may be taken by another. A
 * holder whose computation failed says so as it releases, and the processes
 * waiting for it hear it (`awaitRelease` gives `"failed"`): a failure is no
 * value the others could read, so they compute at once, side by side, rather
 * than one after another behind the lock. A store without locks
 * (`locks: undefined`) still works: each process computes on its own.
 *
 * **Generations** (optional, `generations`): a store shared by several
 * processes may give each namespace a generation that every `delete`,
 * `clearNamespace` and `clearAll` changes, and a `setIf` that writes only
 * while the generation is the one read before computing, atomically. A clear
 * or invalidate in one process then wins over a computation in flight in
 * another: its late result is not stored. Without them, such a late write
 * lands after the clear.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * One stored entry, as `get` returns it.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoredEntry {
  readonly bytes: Uint8Array
  /** When it was written, in epoch milliseconds on the writer's clock. */
  readonly writtenAt: number
  /** From this time on (epoch milliseconds) it is gone; `Infinity` never. */
  readonly expiresAt: number
}

/**
 * An entry as `getParts` reads it: {@link StoredEntry}, its bytes in parts.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoredParts {
  /** The entry's bytes, one part after another. */
  readonly parts: ReadonlyArray<Uint8Array>
  /** When it was written, in epoch milliseconds on the writer's clock. */
  readonly writtenAt: number
  /** From this time on (epoch milliseconds) it is gone; `Infinity` never. */
  readonly expiresAt: number
}

/**
 * What a namespace holds, as `list` reports it.
 *
 * @category models
 * @since 0.1.0
 */
export interface NamespaceInfo {
  readonly namespace: string
  readonly entries: number
  readonly bytes: number
  /** The oldest and the newest write of its live entries, in epoch milliseconds. */
  readonly oldestWrite: number
  readonly newestWrite: number
  /** The soonest `expiresAt` of its live entries, in epoch milliseconds (`Infinity`: none expires). */
  readonly nextExpiry: number
}

/**
 * Totals of a store's live entries.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreStats {
  readonly namespaces: number
  readonly entries: number
  readonly bytes: number
}

/**
 * A lock held on one key.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lock {
  readonly namespace: string
  readonly key: string
  /** Names this holder: only the holder renews or releases it. */
  readonly token: string
}

/**
 * The optional lock capability of a store shared by several processes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Locks {
  /**
   * Takes the lock of (namespace, key) for `ttl`, if nobody holds it (or its
   * holder's lock expired); `None` when another holds it.
   */
  readonly acquire: (namespace: string, key: string, ttl: Duration.Input) => Effect.Effect<Option.Option<Lock>, CacheStoreError>
  /** Extends a held lock by `ttl` from now; `false` when it was lost (expired and taken, or released). */
  readonly renew: (lock: Lock, ttl: Duration.Input) => Effect.Effect<boolean, CacheStoreError>
  /**
   * Gives a held lock back; a lock no longer held (expired, taken) is left
   * alone. With `failed`, the holder's computation failed (nothing was
   * written): the processes waiting for the lock are told so.
   */
  readonly release: (lock: Lock, options?: { readonly failed?: boolean | undefined }) => Effect.Effect<void, CacheStoreError>
  /**
   * Waits until the lock of (namespace, key) is released or expires, or
   * `timeout` passes; returns at once when nobody holds it. `"failed"` when
   * its holder released it saying that its computation failed (and the lock
   * is free); `"done"` otherwise.
   */
  readonly awaitRelease: (namespace: string, key: string, timeout: Duration.Input) => Effect.Effect<LockWait, CacheStoreError>
}

/**
 * How a wait for a lock ended ({@link Locks.awaitRelease}): `"failed"` when
 * its holder gave it back after its computation failed, so no value was
 * written; `"done"` when it was released otherwise, expired, or the wait's
 * timeout passed.
 *
 * @category models
 * @since 0.1.0
 */
export type LockWait = "done" | "failed"

/**
 * The optional generation capability of a store shared by several
 * processes: a clear or invalidate in one wins over a computation in flight
 * in another.
 *
 * @category models
 * @since 0.1.0
 */
export interface Generations {
  /** The namespace's generation now; every `delete`, `clearNamespace` and `clearAll` that touches it changes it. */
  readonly current: (namespace: string) => Effect.Effect<string, CacheStoreError>
  /**
   * `set`, atomically, only while the namespace's generation is still
   * `generation`; `false` (nothing written) when a delete or clear changed it.
   */
  readonly setIf: (
    namespace: string,
    key: string,
    bytes: Uint8Array,
    expiresAt: number,
    generation: string
  ) => Effect.Effect<boolean, CacheStoreError>
}

const TypeId = "~@recall/core/CacheStore" as const

/**
 * The operations of a store; reach them through the {@link CacheStore}
 * service.
 *
 * @category models
 * @since 0.1.0
 */
export interface Service {
  readonly [TypeId]: typeof TypeId
  readonly get: (namespace: string, key: string) => Effect.Effect<Option.Option<StoredEntry>, CacheStoreError>
  readonly set: (namespace: string, key: string, bytes: Uint8Array, expiresAt: number) => Effect.Effect<void, CacheStoreError>
  /**
   * Optional: `set` of the bytes of `parts` one after another, for a store
   * that writes them without joining them first (the disk store writes each
   * as it is): DataCache hands a large value's entry over this way, its typed
   * arrays' bytes as they lie in the front tier's copy, rather than copying
   * it into one buffer. Absent, the entry is given to `set` whole. The parts
   * are the store's as `set`'s bytes are.
   */
  readonly setParts?:
    | ((namespace: string, key: string, parts: ReadonlyArray<Uint8Array>, expiresAt: number) => Effect.Effect<void, CacheStoreError>)
    | undefined
  /**
   * Optional: `get`, its bytes in parts, for a store that keeps the parts
   * `setParts` was given apart (the disk store): the bytes of `parts` one
   * after another are `get`'s, and a part that is the whole of its
   * `ArrayBuffer` is this reader's alone (nothing else holds the buffer), so
   * DataCache may keep a typed array as a view of it instead of a copy. A
   * large value's typed arrays then come back from the store each in a
   * buffer of its own, read once. Absent, `get`.
   */
  readonly getParts?: ((namespace: string, key: string) => Effect.Effect<Option.Option<StoredParts>, CacheStoreError>) | undefined
  readonly delete: (namespace: string, key: string) => Effect.Effect<void, CacheStoreError>
  readonly clearNamespace: (namespace: string) => Effect.Effect<void, CacheStoreError>
  readonly clearAll: Effect.Effect<void, CacheStoreError>
  readonly list: Effect.Effect<ReadonlyArray<NamespaceInfo>, CacheStoreError>
  readonly stats: Effect.Effect<StoreStats, CacheStoreError>
  /** The lock capability, for stores that several processes share; `undefined` when the store has none. */
  readonly locks: Locks | undefined
  /** The generation capability, for stores that several processes share; absent when the store has none. */
  readonly generations?: Generations | undefined
  /** The notice capability, for stores that several processes share; absent when the store has none. */
  readonly notices?: Notices | undefined
}

/**
 * A removal done through another instance of a shared store (another
 * process, or another layer over the same Redis): one entry deleted, a
 * namespace cleared, or the whole store cleared.
 *
 * @category models
 * @since 0.1.0
 */
export type Notice =
  | { readonly _tag: "Deleted"; readonly namespace: string; readonly key: string }
  | { readonly _tag: "NamespaceCleared"; readonly namespace: string }
  | { readonly _tag: "Cleared" }

/**
 * Optional capability of a store that several processes share: hearing of
 * the removals the others make (`delete`, `clearNamespace`, `clearAll`
 * through another instance of the store), so that a process drops the
 * copies its memory keeps of what they removed. Best effort: a notice sent
 * while a listener is disconnected is not heard (the copies then live until
 * they expire).
 *
 * @category models
 * @since 0.1.0
 */
export interface Notices {
  /** Calls `onNotice` for every removal made through another instance of the store, until the scope closes. */
  readonly subscribe: (onNotice: (notice: Notice) => void) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * The store behind DataCache's persistent tier.
 *
 * @category services
 * @since 0.1.0
 */
export class CacheStore extends Context.Service<CacheStore, Service>()("@recall/core/CacheStore") {}

/**
 * Raised when a store operation fails (a disk, a connection, a full store).
 * `operation` names it (`"get"`, `"set"`, ...).
 *
 * @category errors
 * @since 0.1.0
 */
export class CacheStoreError extends Schema.TaggedError<CacheStoreError>()("CacheStoreError", {
  operation: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    return `recall's cache store failed to ${this.operation}: ${this.reason}`
  }
}

/**
 * Makes a store from its operations.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (operations: Omit<Service, typeof TypeId>): Service => CacheStore.of({ [TypeId]: TypeId, ...operations })

// ---------------------------------------------------------------------------
// In memory
// ---------------------------------------------------------------------------

interface MemoryEntry extends StoredEntry {}

interface MemoryLock {
  readonly token: string
  expiresAt: number
  readonly released: Deferred.Deferred<LockWait>
}

const entryKey = (namespace: string, key: string): string => `${namespace.length}:${namespace}${key}`

let tokens = 0

/**
 * Totals and per-namespace figures of live entries, from an iteration of
 * `(namespace, entry)` pairs; the stores share it.
 */
const summarize = (live: Iterable<readonly [string, StoredEntry]>): ReadonlyArray<NamespaceInfo> => {
  const byNamespace = new Map<string, { entries: number; bytes: number; oldestWrite: number; newestWrite: number; nextExpiry: number }>()
  for (const [namespace, entry] of live) {
    const info = byNamespace.get(namespace) ?? { entries: 0, bytes: 0, oldestWrite: Infinity, newestWrite: -Infinity, nextExpiry: Infinity }
    info.entries++
    info.bytes += entry.bytes.byteLength
    info.oldestWrite = Math.min(info.oldestWrite, entry.writtenAt)
    info.newestWrite = Math.max(info.newestWrite, entry.writtenAt)
    info.nextExpiry = Math.min(info.nextExpiry, entry.expiresAt)
    byNamespace.set(namespace, info)
  }
  return Array.from(byNamespace, ([namespace, info]) => ({ namespace, ...info }))
}

const totals = (namespaces: ReadonlyArray<NamespaceInfo>): StoreStats => ({
  namespaces: namespaces.length,
  entries: namespaces.reduce((n, info) => n + info.entries, 0),
  bytes: namespaces.reduce((n, info) => n + info.bytes, 0)
})

const millisOf = (ttl: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(ttl))

/**
 * A store in memory, for tests and for the shape of the contract: entries
 * live as long as the layer, and locks work between the fibers of one
 * process. Each build of the layer is a new, empty store.
 *
 * @example
 * ```ts
 * import { CacheStore } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* CacheStore.CacheStore
 *   yield* store.set("report:1f2e", "c0ffee", new Uint8Array([1, 2, 3]), Infinity)
 *   return yield* store.get("report:1f2e", "c0ffee")
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(CacheStore.layerMemory())))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (): Layer.Layer<CacheStore> =>
  Layer.sync(CacheStore, () => {
    const namespaces = new Map<string, Map<string, MemoryEntry>>()
    const locks = new Map<string, MemoryLock>()
    // Generations: one per namespace, changed by its deletes and clears, and one for clearAll.
    const generations = new Map<string, number>()
    let clearedAll = 0
    const generationOf = (namespace: string) => `${clearedAll}:${generations.get(namespace) ?? 0}`
    const bump = (namespace: string) => generations.set(namespace, (generations.get(namespace) ?? 0) + 1)
    /** The live entries at `now`; expired ones are deleted on the way. */
    const live = function* (now: number): Generator<readonly [string, StoredEntry]> {
      for (const [namespace, entries] of namespaces) {
        for (const [key, entry] of entries) {
          if (!(entry.expiresAt > now)) entries.delete(key)
          else yield [namespace, entry]
        }
        if (entries.size === 0) namespaces.delete(namespace)
      }
    }
    const now = Clock.currentTimeMillis
    const heldLock = (id: string, at: number): MemoryLock | undefined => {
      const lock = locks.get(id)
      if (lock === undefined || lock.expiresAt > at) return lock
      // An expired lock is free: whoever waits for it may go on.
      locks.delete(id)
      Deferred.doneUnsafe(lock.released, Effect.succeed("done"))
      return undefined
    }
    const write = (namespace: string, key: string, bytes: Uint8Array, expiresAt: number, at: number) => {
      const entries = namespaces.get(namespace) ?? new Map<string, MemoryEntry>()
      namespaces.set(namespace, entries)
      entries.set(key, { bytes, writtenAt: at, expiresAt })
    }
    return make({
      get: (namespace, key) =>
        Effect.map(now, (at) => {
          const entries = namespaces.get(namespace)
          const entry = entries?.get(key)
          if (entry === undefined) return Option.none()
          // `!(expiresAt > at)`: an entry whose expiry is not a time (NaN) is expired, as in the other stores.
          if (!(entry.expiresAt > at)) {
            entries!.delete(key)
            return Option.none()
          }
          // A copy: what the caller gets is its own.
          return Option.some({ bytes: entry.bytes.slice(), writtenAt: entry.writtenAt, expiresAt: entry.expiresAt })
        }),
      set: (namespace, key, bytes, expiresAt) => Effect.map(now, (at) => write(namespace, key, bytes, expiresAt, at)),
      delete: (namespace, key) =>
        Effect.sync(() => {
          bump(namespace)
          const entries = namespaces.get(namespace)
          entries?.delete(key)
          if (entries?.size === 0) namespaces.delete(namespace)
        }),
      clearNamespace: (namespace) =>
        Effect.sync(() => {
          bump(namespace)
          namespaces.delete(namespace)
        }),
      clearAll: Effect.sync(() => {
        clearedAll++
        namespaces.clear()
      }),
      generations: {
        current: (namespace) => Effect.sync(() => generationOf(namespace)),
        setIf: (namespace, key, bytes, expiresAt, generation) =>
          Effect.map(now, (at) => {
            if (generationOf(namespace) !== generation) return false
            write(namespace, key, bytes, expiresAt, at)
            return true
          })
      },
      list: Effect.map(now, (at) => summarize(live(at))),
      stats: Effect.map(now, (at) => totals(summarize(live(at)))),
      locks: {
        acquire: (namespace, key, ttl) =>
          Effect.map(now, (at) => {
            const id = entryKey(namespace, key)
            if (heldLock(id, at) !== undefined) return Option.none()
            const token = `memory-${++tokens}`
            locks.set(id, { token, expiresAt: at + millisOf(ttl), released: Deferred.makeUnsafe() })
            return Option.some({ namespace, key, token })
          }),
        renew: (lock, ttl) =>
          Effect.map(now, (at) => {
            const held = heldLock(entryKey(lock.namespace, lock.key), at)
            if (held === undefined || held.token !== lock.token) return false
            held.expiresAt = at + millisOf(ttl)
            return true
          }),
        release: (lock, options) =>
          Effect.map(now, (at) => {
            const id = entryKey(lock.namespace, lock.key)
            const held = heldLock(id, at)
            if (held === undefined || held.token !== lock.token) return
            locks.delete(id)
            Deferred.doneUnsafe(held.released, Effect.succeed(options?.failed === true ? "failed" : "done"))
          }),
        awaitRelease: (namespace, key, timeout) =>
          Effect.flatMap(now, (at): Effect.Effect<LockWait> => {
            const held = heldLock(entryKey(namespace, key), at)
            if (held === undefined) return Effect.succeed("done")
            // Until it is released, or its expiry (when another may take it), or the timeout.
            const until = Math.min(held.expiresAt - at, millisOf(timeout))
            return Effect.map(
              Effect.timeoutOption(Deferred.await(held.released), Duration.millis(Math.max(until, 0))),
              Option.getOrElse((): LockWait => "done")
            )
          })
      }
    })
  })

// ---------------------------------------------------------------------------
// Over Effect's KeyValueStore
// ---------------------------------------------------------------------------

// An entry's value in the key-value store: a 24-byte header (the magic
// "RCKV", 4 zero bytes, writtenAt and expiresAt as little-endian float64;
// Infinity is a float64 too), then the bytes. The magic tells recall's values
// from others' in a store the application shares.
const HEADER_BYTES = 24
const MAGIC = [0x52, 0x43, 0x4b, 0x56]

const pack = (bytes: Uint8Array, writtenAt: number, expiresAt: number): Uint8Array => {
  const out = new Uint8Array(HEADER_BYTES + bytes.byteLength)
  const view = new DataView(out.buffer)
  out.set(MAGIC)
  view.setFloat64(8, writtenAt, true)
  view.setFloat64(16, expiresAt, true)
  out.set(bytes, HEADER_BYTES)
  return out
}

/** The entry in a value under recall's prefix, or `undefined` when it is not one (damaged, truncated). */
const unpack = (value: Uint8Array): StoredEntry | undefined => {
  if (value.byteLength < HEADER_BYTES || MAGIC.some((byte, i) => value[i] !== byte)) return undefined
  const view = new DataView(value.buffer, value.byteOffset, HEADER_BYTES)
  const writtenAt = view.getFloat64(8, true)
  const expiresAt = view.getFloat64(16, true)
  if (Number.isNaN(writtenAt) || Number.isNaN(expiresAt)) return undefined
  return { writtenAt, expiresAt, bytes: value.slice(HEADER_BYTES) }
}

// Every key of the adapter starts with this prefix; namespace and key are each escaped after it, so neither
// can contain the separator. Keys without the prefix are the application's: never read, listed or removed.
const SEPARATOR = "/"
const PREFIX = `recall${SEPARATOR}`
const storeKey = (namespace: string, key: string): string =>
  `${PREFIX}${encodeURIComponent(namespace)}${SEPARATOR}${encodeURIComponent(key)}`
const namespacePrefix = (namespace: string): string => `${PREFIX}${encodeURIComponent(namespace)}${SEPARATOR}`

const failed =
  (operation: string) =>
  (cause: unknown): CacheStoreError =>
    new CacheStoreError({ operation, reason: cause instanceof Error ? cause.message : String(cause), cause })

/**
 * A store over Effect's `KeyValueStore`, so that `KeyValueStore.layerMemory`,
 * `layerFileSystem`, `layerSql` and `layerStorage` (the browser) serve as
 * stores with no extra code. The expiry is kept in each value's header;
 * expired entries are deleted when met. It offers no locks.
 *
 * The key-value store may be the application's too: recall's keys all start
 * with `recall/`, and its values with a magic; `list`, `stats`, `clearAll`
 * and the removal of expired entries only ever touch those, never another
 * key.
 *
 * **Gotchas**
 *
 * `list` and `stats` read every key (a key-value store has no other index).
 * Effect's `KeyValueStore.layerFileSystem` writes files in place, not
 * atomically: a process killed mid-write can leave a truncated value, which
 * reads as missing here. `@recall/node`'s disk store is atomic.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerKeyValueStore: Layer.Layer<CacheStore, never, KeyValueStore.KeyValueStore> = Layer.effect(
  CacheStore,
  Effect.map(KeyValueStore.KeyValueStore, (kvs: KeyValueStore.KeyValueStore) => {
    // A key under recall's prefix: its entry, or `undefined` when it is expired (then removed) or not recall's (left alone).
    const read = (key: string, at: number) =>
      Effect.flatMap(kvs.getUint8Array(key), (value) => {
        const entry = value === undefined ? undefined : unpack(value)
        if (entry === undefined) return Effect.undefined
        return entry.expiresAt > at ? Effect.succeed(entry) : Effect.as(kvs.remove(key), undefined)
      })
    /** The namespace of one of recall's keys, or `undefined` for a key that is not recall's. */
    const namespaceOf = (key: string): string | undefined => {
      if (!key.startsWith(PREFIX)) return undefined
      const end = key.indexOf(SEPARATOR, PREFIX.length)
      if (end < 0 || key.indexOf(SEPARATOR, end + 1) >= 0) return undefined
      try {
        return decodeURIComponent(key.slice(PREFIX.length, end))
      } catch {
        return undefined
      }
    }
    const live = (at: number) =>
      Effect.flatMap(kvs.keys, (keys) =>
        Effect.map(
          Effect.forEach(
            keys.flatMap((key) => {
              const namespace = namespaceOf(key)
              return namespace === undefined ? [] : [[key, namespace] as const]
            }),
            ([key, namespace]) => Effect.map(read(key, at), (entry) => [namespace, entry] as const)
          ),
          (pairs) => pairs.filter((pair): pair is readonly [string, StoredEntry] => pair[1] !== undefined)
        )
      )
    return make({
      get: (namespace, key) =>
        Effect.clockWith((clock) => read(storeKey(namespace, key), clock.currentTimeMillisUnsafe())).pipe(
          Effect.map(Option.fromUndefinedOr),
          Effect.mapError(failed("get"))
        ),
      set: (namespace, key, bytes, expiresAt) =>
        Effect.clockWith((clock) => kvs.set(storeKey(namespace, key), pack(bytes, clock.currentTimeMillisUnsafe(), expiresAt))).pipe(
          Effect.mapError(failed("set"))
        ),
      delete: (namespace, key) => Effect.mapError(kvs.remove(storeKey(namespace, key)), failed("delete")),
      clearNamespace: (namespace) => Effect.mapError(kvs.clearPrefix(namespacePrefix(namespace)), failed("clear a namespace")),
      clearAll: Effect.mapError(kvs.clearPrefix(PREFIX), failed("clear")),
      list: Effect.clockWith((clock) => Effect.map(live(clock.currentTimeMillisUnsafe()), summarize)).pipe(Effect.mapError(failed("list"))),
      stats: Effect.clockWith((clock) => Effect.map(live(clock.currentTimeMillisUnsafe()), (found) => totals(summarize(found)))).pipe(
        Effect.mapError(failed("read stats"))
      ),
      locks: undefined
    })
  })
)
