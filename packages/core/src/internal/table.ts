/**
 * The entries of one cached function, and the registry of all of them.
 *
 * Settled values live in `entries` (a Map whose insertion order is the LRU
 * order: a use moves the key to the end). Work in flight lives apart, in
 * `flights`, so a computation never looks like a value. Every change to an
 * entry goes through `record`, which keeps the counters that feed stats and
 * Metrics, so the two can never disagree.
 *
 * An entry is fresh until `storedAt + ttl`; with `staleWhileRevalidate` it
 * stays, stale, for that window more, and leaves at `expiresAt`. Both spans
 * are the same for every entry of a function, so entries expire in the
 * order they were stored: a list of the live entries in store order is
 * purged from its oldest end on every access, which frees expired entries in
 * amortised O(1) without a timer per entry. The list is intrusive (each entry
 * links its neighbours), so an entry that leaves for any reason is unlinked at
 * once: nothing the table dropped stays reachable from it.
 *
 * A table itself lives while it holds entries or computations, or while a
 * cached function that can still be called uses it (`users`, released when
 * the function object is garbage collected): an empty table nobody can reach
 * is dropped from the registry, with its counters, so functions made per
 * tenant or per request do not accumulate.
 */
import type * as Deferred from "effect/Deferred"

/** @internal */
export interface Entry {
  readonly key: string
  readonly stored: unknown
  /** What the computation wrote (Console, logs), replayed on each hit; `undefined` when nothing. */
  readonly output: ReadonlyArray<unknown> | undefined
  readonly bytes: number
  readonly storedAt: number
  /** From here on the entry is stale: served while one refresh runs (`staleWhileRevalidate`). */
  readonly freshUntil: number
  /** From here on the entry is gone. */
  readonly expiresAt: number
  /** No background refresh starts before this time (backoff after a failed refresh). */
  refreshAfter: number
  /** Failed refreshes in a row, for the backoff. */
  refreshFailures: number
  /** Registry-wide use counter, for the global byte budget's LRU choice. */
  lastUsed: number
  /** Neighbours in store (and so expiry) order; only entries that expire are linked. */
  older: Entry | undefined
  newer: Entry | undefined
}

/**
 * How a computation in flight ended, as seen by the callers waiting on it.
 *
 * @internal
 */
export type FlightResult =
  | { readonly _tag: "Value"; readonly stored: unknown; readonly output: ReadonlyArray<unknown> | undefined }
  | { readonly _tag: "Retry" }
  | { readonly _tag: "Fail"; readonly error: unknown }

/** @internal */
export interface Flight {
  readonly done: Deferred.Deferred<FlightResult>
  /** Set by a clear or invalidate during the computation: its result is not stored. */
  stale: boolean
}

/**
 * The events that change a table; stats and Metrics count exactly these.
 *
 * @internal
 */
export type Event = "hit" | "miss" | "eviction" | "expiration" | "invalidation"

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
}

const counterOf: Record<Event, keyof Counters> = {
  hit: "hits",
  miss: "misses",
  eviction: "evictions",
  expiration: "expirations",
  invalidation: "invalidations"
}

/** @internal */
export class Table {
  readonly id: string
  readonly name: string
  readonly registry: Registry
  private _limits!: Limits
  /** Whether any limit can evict an entry of this table, so recency must be kept. */
  bounded = true
  readonly entries = new Map<string, Entry>()
  readonly flights = new Map<string, Flight>()
  readonly counters: Counters = { hits: 0, misses: 0, evictions: 0, expirations: 0, invalidations: 0 }
  bytes = 0
  /** Live cached-function objects that use this table. */
  users = 0
  /** Set once the registry dropped this table; a function that held it asks for a new one. */
  dropped = false
  /**
   * Told when an entry leaves (evicted, expired, invalidated, cleared or
   * replaced): ResourceCache releases its instance there.
   */
  onLeave: ((entry: Entry) => void) | undefined = undefined
  /** Ends of the expiry list: the entry stored first, and the one stored last. */
  private oldest: Entry | undefined
  private newest: Entry | undefined

  constructor(registry: Registry, id: string, name: string, limits: Limits) {
    this.registry = registry
    this.id = id
    this.name = name
    this.limits = limits
  }

  get limits(): Limits {
    return this._limits
  }

  set limits(limits: Limits) {
    const ttlChanged =
      this._limits !== undefined && (this._limits.ttlMillis !== limits.ttlMillis || this._limits.staleMillis !== limits.staleMillis)
    this._limits = limits
    // Entries keep the expiry they were stored with; a new ttl applies to new
    // entries, so the list is no longer in expiry order until resorted.
    if (ttlChanged) this.resortExpiry()
    this.bounded = limits.maxEntries !== Infinity || limits.maxBytes !== Infinity || this.registry.maxBytes !== Infinity
  }

  record(event: Event, count = 1): void {
    this.counters[counterOf[event]] += count
  }

  /** The live entry for `key`, bumped to most recently used; expired ones are removed. */
  use(key: string, now: number): Entry | undefined {
    this.purgeExpired(now)
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (now >= entry.expiresAt) {
      this.remove(entry, "expiration")
      return undefined
    }
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

  /** Stores a value; `false` when it is larger than a byte budget and was not stored. */
  store(key: string, stored: unknown, output: ReadonlyArray<unknown> | undefined, bytes: number, now: number): boolean {
    this.purgeExpired(now)
    if (bytes > this.limits.maxBytes || bytes > this.registry.maxBytes) return false
    const previous = this.entries.get(key)
    if (previous !== undefined) this.remove(previous, undefined)
    const freshUntil = now + this.limits.ttlMillis
    const entry: Entry = {
      key,
      stored,
      output,
      bytes,
      storedAt: now,
      freshUntil,
      expiresAt: freshUntil + this.limits.staleMillis,
      refreshAfter: freshUntil,
      refreshFailures: 0,
      lastUsed: this.registry.tick++,
      older: undefined,
      newer: undefined
    }
    this.entries.set(key, entry)
    this.bytes += bytes
    this.registry.bytes += bytes
    if (entry.expiresAt !== Infinity) this.link(entry)
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
   * Removes one key and makes any computation in flight for it stale. Entries
   * already expired at `now` leave first, counted as expirations.
   */
  invalidate(key: string, now: number): void {
    this.purgeExpired(now)
    const entry = this.entries.get(key)
    if (entry !== undefined) this.remove(entry, "invalidation")
    const flight = this.flights.get(key)
    if (flight !== undefined) {
      flight.stale = true
      this.flights.delete(key)
      this.dropIfUnused()
    }
  }

  /** Removes every entry; those already expired at `now` count as expirations. */
  clear(now: number): void {
    this.purgeExpired(now)
    if (this.entries.size > 0) this.record("invalidation", this.entries.size)
    this.registry.bytes -= this.bytes
    this.bytes = 0
    const left = this.onLeave === undefined ? [] : Array.from(this.entries.values())
    this.entries.clear()
    this.oldest = undefined
    this.newest = undefined
    for (const entry of left) this.onLeave!(entry)
    for (const flight of this.flights.values()) flight.stale = true
    this.flights.clear()
    this.dropIfUnused()
  }

  purgeExpired(now: number): void {
    while (this.oldest !== undefined && this.oldest.expiresAt <= now) this.remove(this.oldest, "expiration")
  }

  private link(entry: Entry): void {
    entry.older = this.newest
    if (this.newest === undefined) this.oldest = entry
    else this.newest.newer = entry
    this.newest = entry
  }

  private unlink(entry: Entry): void {
    if (entry.older === undefined) {
      if (this.oldest === entry) this.oldest = entry.newer
    } else {
      entry.older.newer = entry.newer
    }
    if (entry.newer === undefined) {
      if (this.newest === entry) this.newest = entry.older
    } else {
      entry.newer.older = entry.older
    }
    entry.older = undefined
    entry.newer = undefined
  }

  private resortExpiry(): void {
    const expiring = Array.from(this.entries.values())
      .filter((entry) => entry.expiresAt !== Infinity)
      .sort((a, b) => a.expiresAt - b.expiresAt)
    this.oldest = undefined
    this.newest = undefined
    for (const entry of expiring) {
      entry.older = undefined
      entry.newer = undefined
      this.link(entry)
    }
  }

  private remove(entry: Entry, event: Event | undefined): void {
    this.entries.delete(entry.key)
    if (entry.expiresAt !== Infinity) this.unlink(entry)
    this.bytes -= entry.bytes
    this.registry.bytes -= entry.bytes
    if (event !== undefined) this.record(event)
    this.onLeave?.(entry)
    this.dropIfUnused()
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
 * Every function's table, and the byte budget they share.
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
