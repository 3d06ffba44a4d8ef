/**
 * The entries of one cached function in one cache, the computations in
 * flight for them, and the registry of every function's table.
 *
 * Settled values live in `entries` (a Map whose insertion order is the LRU
 * order: a use moves the key to the end). Work in flight lives apart, in
 * `flights`, so a computation never looks like a value. Every counted change
 * goes through `record`, which keeps the counters that feed stats and
 * Metrics, so the two can never disagree.
 *
 * An entry is stored with absolute times (`storedAt`, `freshUntil`,
 * `expiresAt`), decided by whoever stores it: the engine from the function's
 * `ttl` and the clock, a store tier from what it read. Entries that expire
 * sit in a min-heap by `expiresAt` (each entry knows its place in it), so
 * expired entries leave in order however their expiries were chosen (a
 * redefinition with a shorter `ttl`, entries read from a store), and an entry
 * that leaves for any other reason is taken out of the heap at once: nothing
 * the table dropped stays reachable from it.
 *
 * A table lives while it holds entries or computations, or while a cached
 * function that can still be called uses it (`users`, released when the
 * function object is garbage collected): an empty table nobody can reach is
 * dropped from the registry, with its counters and its Metrics, so functions
 * made per tenant or per request do not accumulate.
 */
import type * as Deferred from "effect/Deferred"

/** How an entry left its table. @internal */
export type Departure = "eviction" | "expiration" | "invalidation" | "replaced"

/** @internal */
export interface Entry {
  readonly key: string
  readonly stored: unknown
  /** What the computation wrote (Console, logs), replayed on each hit; `undefined` when nothing. */
  readonly output: ReadonlyArray<unknown> | undefined
  readonly bytes: number
  readonly storedAt: number
  /** From here on the entry is stale: served while one refresh runs (`staleWhileRevalidate`). Shortened by a redefinition's ttl. */
  freshUntil: number
  /** From here on the entry is gone. Shortened by a redefinition's ttl (the table keeps its heap in order). */
  expiresAt: number
  /** No background refresh starts before this time (backoff after a failed refresh). */
  refreshAfter: number
  /** Failed refreshes in a row, for the backoff. */
  refreshFailures: number
  /** Registry-wide use counter, for the global byte budget's LRU choice. */
  lastUsed: number
  /** Its place in the expiry heap; -1 when it is not there. */
  heapIndex: number
  /** Set when the entry leaves its table. */
  departed: Departure | undefined
}

/** The absolute times of an entry, as its storer decided them. @internal */
export interface Times {
  readonly storedAt: number
  readonly freshUntil: number
  readonly expiresAt: number
}

/**
 * How a computation in flight ended, as seen by the callers waiting on it.
 *
 * - `Value`: it produced a value (stored or not); `value` is the computing
 *   face's own result, for the caller that started it.
 * - `Failed`: it failed; every caller waiting on it gets the cause (nothing
 *   is stored, and the next call runs again).
 * - `Retry`: it ended without a value or a failure to hand out (the layer
 *   closed): check again.
 *
 * @internal
 */
export type FlightResult =
  | {
      readonly _tag: "Value"
      readonly stored: unknown
      readonly output: ReadonlyArray<unknown> | undefined
      readonly value: unknown
      /** Read from the store rather than computed: the starter replays its output too. */
      readonly fromStore: boolean
      /** The stored entry's times, when it was read from the store. */
      readonly times?: Times | undefined
      /**
       * The arguments' key changed while the body ran (an argument object
       * was changed): the value is its starter's alone; other callers, whose
       * arguments had the key the body began with, compute again.
       */
      readonly argumentsChanged?: true | undefined
    }
  | { readonly _tag: "Failed"; readonly cause: unknown }
  | { readonly _tag: "Retry" }

/**
 * One computation in flight. It belongs to the cache, not to the caller that
 * started it: it runs in a fiber of the layer's scope.
 *
 * @internal
 */
export interface Flight {
  readonly key: string
  readonly done: Deferred.Deferred<FlightResult>
  /** The caller that started it (it gets the failure), if any: a refresh has none. */
  readonly starter: object | undefined
  /** Set by a clear or invalidate during the computation: its result is not stored. */
  superseded: boolean
  /** The fiber running the body, once it runs. */
  fiberId: number | undefined
  /** The flight this computation's own fiber is waiting for, if any (to find cycles). */
  waitingOn: Flight | undefined
  /**
   * The flights that fibers it forked wait for now, one element per wait
   * (`Effect.all` with concurrency, a fork it may or may not join): a cycle
   * through them hangs only if the body waits for that fiber, which nothing
   * shows, so it is warned about rather than ended.
   */
  forkedWaits: Array<Flight> | undefined
  /** Callers waiting for it now. */
  waiters: number
  /** Whether its starter is among them (a starter interrupted, or reading the store itself, is not). */
  starterWaits: boolean
  /** A value computed but not stored, released once the last waiter has it (a resource). */
  unstored: { readonly stored: unknown } | undefined
  settled: boolean
}

/**
 * The events that change a table; stats and Metrics count exactly these.
 *
 * @internal
 */
export type Event = "hit" | "miss" | "eviction" | "expiration" | "invalidation" | "storeHit" | "storeWrite" | "storeError"

/** @internal */
export interface Limits {
  readonly ttlMillis: number
  /** How long past `ttl` a stale entry is served while it refreshes; 0 without `staleWhileRevalidate`. */
  readonly staleMillis: number
  readonly maxEntries: number
  readonly maxBytes: number
}

/** @internal */
export interface Counters {
  hits: number
  misses: number
  evictions: number
  expirations: number
  invalidations: number
  storeHits: number
  storeWrites: number
  storeErrors: number
}

/** Every counter at zero. @internal */
export const emptyCounters = (): Counters => ({
  hits: 0,
  misses: 0,
  evictions: 0,
  expirations: 0,
  invalidations: 0,
  storeHits: 0,
  storeWrites: 0,
  storeErrors: 0
})

const counterOf: Record<Event, keyof Counters> = {
  hit: "hits",
  miss: "misses",
  eviction: "evictions",
  expiration: "expirations",
  invalidation: "invalidations",
  storeHit: "storeHits",
  storeWrite: "storeWrites",
  storeError: "storeErrors"
}

/** @internal */
export class Table {
  /** The function identity (exact, in memory). */
  readonly id: string
  readonly name: string
  /** `name:hash` of the identity, for stats; needs the hasher. */
  readonly publicId: () => string
  readonly registry: Registry
  private _limits!: Limits
  /** Whether any limit can evict an entry of this table, so recency must be kept. */
  bounded = true
  readonly entries = new Map<string, Entry>()
  readonly flights = new Map<string, Flight>()
  readonly counters: Counters = emptyCounters()
  bytes = 0
  /** Live cached-function objects that use this table. */
  users = 0
  /** Set once the registry dropped this table; a function that held it asks for a new one. */
  dropped = false
  /** Set once a second live function object claimed this identity (warned about once). */
  shared = false
  /**
   * Told when an entry leaves (evicted, expired, invalidated, cleared or
   * replaced): ResourceCache releases its instance there.
   */
  onLeave: ((entry: Entry) => void) | undefined = undefined
  /** Entries that expire, as a binary min-heap by `expiresAt`. */
  private readonly heap: Array<Entry> = []

  constructor(registry: Registry, id: string, name: string, limits: Limits, publicId: () => string) {
    this.registry = registry
    this.id = id
    this.name = name
    this.publicId = publicId
    this.limits = limits
  }

  get limits(): Limits {
    return this._limits
  }

  set limits(limits: Limits) {
    const before = this._limits
    this._limits = limits
    this.bounded = limits.maxEntries !== Infinity || limits.maxBytes !== Infinity || this.registry.maxBytes !== Infinity
    // A redefinition with a shorter ttl (or stale window) holds for the entries already here, from their own
    // storedAt, as a store's reader applies it: code that says `ttl: "2 seconds"` never hits a value 2 seconds
    // old. A longer one applies to new entries (an entry never outlives what it was stored with).
    if (before !== undefined && (limits.ttlMillis < before.ttlMillis || limits.staleMillis < before.staleMillis)) this.shorten()
    // Smaller bounds hold at once, not at the next store: a redefinition that only hits would keep them over.
    while (this.entries.size > limits.maxEntries || this.bytes > limits.maxBytes) this.evictOldest()
  }

  /** Each entry's times brought within the limits, from its storedAt; the expiry heap rebuilt. */
  private shorten(): void {
    const { ttlMillis, staleMillis } = this._limits
    for (const entry of this.entries.values()) {
      const freshUntil = Math.min(entry.freshUntil, entry.storedAt + ttlMillis)
      const expiresAt = Math.min(entry.expiresAt, freshUntil + staleMillis)
      entry.freshUntil = freshUntil
      entry.refreshAfter = Math.min(entry.refreshAfter, freshUntil)
      if (expiresAt === entry.expiresAt) continue
      if (entry.heapIndex >= 0) this.heapRemove(entry)
      entry.expiresAt = expiresAt
      this.heapPush(entry)
    }
  }

  /** Whether some entry can expire, so that a hit must read the clock. */
  get expiring(): boolean {
    return this.heap.length > 0
  }

  record(event: Event, count = 1): void {
    this.counters[counterOf[event]] += count
  }

  /** The times of an entry stored now under this table's limits. */
  timesAt(now: number): Times {
    const freshUntil = now + this.limits.ttlMillis
    return { storedAt: now, freshUntil, expiresAt: freshUntil + this.limits.staleMillis }
  }

  /** The live entry for `key`, bumped to most recently used; expired ones are removed. */
  use(key: string, now: number): Entry | undefined {
    this.purgeExpired(now)
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    // Recency only matters when something can evict: then move the key to the
    // end of the Map (its LRU order). Unbounded caches skip the ~50 ns bump.
    if (this.bounded) {
      if (this.entries.size > 1) {
        this.entries.delete(key)
        this.entries.set(key, entry)
      }
      entry.lastUsed = this.registry.tick++
    }
    return entry
  }

  /** Whether a live entry exists, without counting as a use. */
  has(key: string, now: number): boolean {
    const entry = this.entries.get(key)
    return entry !== undefined && now < entry.expiresAt
  }

  /**
   * Stores a value with the given absolute times; `false` when it was not
   * stored (larger than a byte budget, or already expired at `now`).
   */
  store(key: string, stored: unknown, output: ReadonlyArray<unknown> | undefined, bytes: number, times: Times, now: number): boolean {
    this.purgeExpired(now)
    if (bytes > this.limits.maxBytes || bytes > this.registry.maxBytes || times.expiresAt <= now) return false
    const previous = this.entries.get(key)
    if (previous !== undefined) this.remove(previous, "replaced")
    const entry: Entry = {
      key,
      stored,
      output,
      bytes,
      storedAt: times.storedAt,
      freshUntil: times.freshUntil,
      expiresAt: times.expiresAt,
      refreshAfter: times.freshUntil,
      refreshFailures: 0,
      lastUsed: this.registry.tick++,
      heapIndex: -1,
      departed: undefined
    }
    this.entries.set(key, entry)
    this.bytes += bytes
    this.registry.bytes += bytes
    if (entry.expiresAt !== Infinity) this.heapPush(entry)
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) this.evictOldest()
    this.registry.enforceBudget()
    return true
  }

  evictOldest(): void {
    const first = this.entries.values().next()
    if (first.done === true) return
    this.remove(first.value, "eviction")
  }

  /**
   * Removes one key and supersedes any computation in flight for it (its
   * result is not stored, and new callers start another). Entries already
   * expired at `now` leave first, counted as expirations.
   */
  invalidate(key: string, now: number): void {
    this.purgeExpired(now)
    const entry = this.entries.get(key)
    if (entry !== undefined) this.remove(entry, "invalidation")
    const flight = this.flights.get(key)
    if (flight !== undefined) {
      flight.superseded = true
      this.flights.delete(key)
      this.dropIfUnused()
    }
  }

  /** Removes every entry and supersedes every computation; those already expired at `now` count as expirations. */
  clear(now: number): void {
    this.purgeExpired(now)
    if (this.entries.size > 0) this.record("invalidation", this.entries.size)
    this.removeAll()
  }

  /** Removes every entry and supersedes every computation, counting nothing: the layer closed, nobody invalidated them. */
  close(): void {
    this.removeAll()
  }

  private removeAll(): void {
    this.registry.bytes -= this.bytes
    this.bytes = 0
    const left = Array.from(this.entries.values())
    this.entries.clear()
    this.heap.length = 0
    for (const entry of left) {
      entry.heapIndex = -1
      entry.departed = "invalidation"
      this.onLeave?.(entry)
    }
    for (const flight of this.flights.values()) flight.superseded = true
    this.flights.clear()
    this.dropIfUnused()
  }

  purgeExpired(now: number): void {
    const heap = this.heap
    while (heap.length > 0 && heap[0]!.expiresAt <= now) this.remove(heap[0]!, "expiration")
  }

  /** Takes a flight out of the table if it is still the key's flight. */
  endFlight(flight: Flight): void {
    if (this.flights.get(flight.key) === flight) {
      this.flights.delete(flight.key)
      this.dropIfUnused()
    }
  }

  private remove(entry: Entry, departure: Departure): void {
    this.entries.delete(entry.key)
    if (entry.heapIndex >= 0) this.heapRemove(entry)
    this.bytes -= entry.bytes
    this.registry.bytes -= entry.bytes
    entry.departed = departure
    if (departure !== "replaced") this.record(departure)
    this.onLeave?.(entry)
    this.dropIfUnused()
  }

  // The expiry heap: parent of i is (i - 1) >> 1.

  private heapPush(entry: Entry): void {
    entry.heapIndex = this.heap.length
    this.heap.push(entry)
    this.siftUp(entry.heapIndex)
  }

  private heapRemove(entry: Entry): void {
    const heap = this.heap
    const i = entry.heapIndex
    const last = heap.pop()!
    entry.heapIndex = -1
    if (last === entry) return
    heap[i] = last
    last.heapIndex = i
    this.siftDown(i)
    this.siftUp(last.heapIndex)
  }

  private siftUp(i: number): void {
    const heap = this.heap
    const entry = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.expiresAt <= entry.expiresAt) break
      heap[i] = heap[parent]!
      heap[i]!.heapIndex = i
      i = parent
    }
    heap[i] = entry
    entry.heapIndex = i
  }

  private siftDown(i: number): void {
    const heap = this.heap
    const n = heap.length
    const entry = heap[i]!
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && heap[right]!.expiresAt < heap[left]!.expiresAt ? right : left
      if (heap[child]!.expiresAt >= entry.expiresAt) break
      heap[i] = heap[child]!
      heap[i]!.heapIndex = i
      i = child
    }
    heap[i] = entry
    entry.heapIndex = i
  }

  /** A function that used this table was garbage collected. */
  release(): void {
    this.users--
    this.dropIfUnused()
  }

  /** Leaves the registry once nothing is stored, nothing computes and no function can call it. */
  dropIfUnused(): void {
    if (this.users === 0 && this.entries.size === 0 && this.flights.size === 0 && !this.dropped) this.registry.drop(this)
  }
}

/**
 * Every function's table in one cache, and the byte budget they share.
 *
 * @internal
 */
export class Registry {
  readonly tables = new Map<string, Table>()
  readonly maxBytes: number
  bytes = 0
  tick = 0
  /** Told when a table leaves, to remove what was registered for it (Metrics). */
  onDrop: (table: Table) => void = () => {}

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  drop(table: Table): void {
    table.dropped = true
    if (this.tables.get(table.id) === table) this.tables.delete(table.id)
    this.onDrop(table)
  }

  /** Evicts the least recently used entry of any function until under budget. */
  enforceBudget(): void {
    while (this.bytes > this.maxBytes) {
      let oldest: Table | undefined
      let oldestUse = Infinity
      for (const table of this.tables.values()) {
        const first = table.entries.values().next()
        if (first.done !== true && first.value.lastUsed < oldestUse) {
          oldest = table
          oldestUse = first.value.lastUsed
        }
      }
      if (oldest === undefined) return
      oldest.evictOldest()
    }
  }

  purgeExpired(now: number): void {
    for (const table of this.tables.values()) table.purgeExpired(now)
  }
}
