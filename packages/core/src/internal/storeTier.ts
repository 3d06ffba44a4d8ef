/**
 * DataCache's second tier: the `CacheStore` behind the in-memory table.
 *
 * **A call over a store.** The front tier (the table) first; on a front
 * miss, one computation per key in the process (the in-process single
 * flight), which reads the store; on a store miss it takes the store's lock
 * when the store has locks (so one process computes while the others wait
 * for its value), runs the body, and keeps the value in both tiers. A value
 * read from the store keeps its original times: a front copy never outlives
 * the stored one.
 *
 * **Names.** A function's namespace is its public identity (`name:hash`);
 * an entry's key is the bounded name of its arguments (Definition's
 * `storeName`), keyed by the secret when there is one.
 *
 * **A store that fails never fails a call.** Every operation has a timeout
 * and goes through a circuit breaker (effect/persistence's
 * `CircuitBreaker`): a failure is counted (`storeErrors`), logged once per
 * outage (and its end once), and treated as a miss or a skipped write; the
 * breaker keeps a state per kind of operation (reads, writes, locks, generations; releases
 * are always tried), and
 * while it is open for a kind, the store is not called for that kind at all,
 * and it is tried again by itself after the open duration. An outage lasts while some kind of
 * operation (reads, writes, locks, releases, generations) keeps failing (see `Tier.down`).
 *
 * **Across processes.** With the store's locks, a computation whose read
 * missed takes the entry's lock, reads again under it (another process may
 * have just written), and only then runs the body; the others wait for the
 * lock to go and read what was written. With the store's generations, the
 * namespace's generation is read before the body runs and the write is
 * conditional on it: a delete or clear in any process since makes it a
 * no-op.
 *
 * **Entries that do not read** (truncated, corrupt, tampered, signed with
 * another secret, written by another format or codec, a payload that does
 * not decode) are misses: deleted, one warning each, recomputed. Decoding
 * never runs code from the bytes (see payload.ts).
 *
 * **Writes** run after the callers have their value, each in a fiber of its
 * own that the layer waits for when it closes (bounded by the timeout), so a
 * short-lived program still leaves its entries behind. `invalidate` and
 * `clear` wait for the writes of what they remove, so a late write never
 * lands after them.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as CryptoError from "effect/crypto/CryptoError"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as CircuitBreaker from "effect/persistence/CircuitBreaker"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { createHMAC, createSHA256 } from "hash-wasm"
import type * as CacheStore from "../CacheStore.ts"
import * as EntryFormat from "./entryFormat.ts"
import type { Kept, Persistence } from "./face.ts"
import * as Payload from "./payload.ts"
import * as Replay from "./replay.ts"
import * as SecretDigest from "./secretDigest.ts"
import type * as Table from "./table.ts"
import * as Xxh3 from "./xxh3.ts"

/** @internal */
export interface Tier {
  readonly store: CacheStore.Service
  readonly secret: EntryFormat.EntrySecret | undefined
  /** Names arguments under the secret (a keyed digest of their canonical form); `undefined` without one. */
  readonly mac: ((form: Uint8Array) => string) | undefined
  /**
   * The circuit breaker, one state per kind of operation ({@link kindOf}):
   * a store whose writes fail while its reads work (a read-only directory, a
   * full Redis) stops being written to, and goes on serving hits.
   */
  readonly breaker: CircuitBreaker.CircuitBreaker
  /**
   * The kinds of operation that failed since the breaker last recorded a
   * success of theirs; the others skip the breaker's bookkeeping (see
   * {@link guarded}).
   */
  readonly unhealthy: Set<OperationKind>
  readonly timeout: Duration.Duration
  /** How long a computing process holds the store's lock before it must renew it. */
  readonly lockMillis: number
  /** The longest a computation waits for another process's lock before it computes without it. */
  readonly lockWaitMillis: number
  /**
   * The kinds of operation ({@link kindOf}) failing now, each with the time
   * (on Clock) of its last failure. An outage starts when a kind fails while
   * none failed lately (logged once) and ends once each failing kind worked
   * again or has not failed for {@link QUIET_MILLIS} (logged once): a
   * read-only store, whose reads work while its writes fail on every miss,
   * is one outage, and a kind nobody tried again since (no lock was needed)
   * does not hold an outage open forever.
   */
  readonly down: Map<OperationKind, number>
  /** Writes in flight (and their lock releases): closing the layer waits for them. */
  readonly writes: Set<Fiber.Fiber<void>>
  /** A `clearAll` of the store in progress: every read waits for it (see {@link Removals}). */
  clearing: Deferred.Deferred<void> | undefined
  /** When a `clearAll` whose store operation failed began: older entries read as misses (see {@link Tombstones}). */
  tombstone: number | undefined
  /** The layer's scope, which the writes outlive until it closes. */
  readonly scope: Scope.Scope
  /** The operations in flight with a deadline ({@link bounded}). */
  readonly deadlines: Deadlines
  /** The places of the functions called through the tier, by namespace: what a store's notice reaches ({@link hear}). */
  readonly places: Map<string, Set<Place<any, any>>>
}

/**
 * The deadlines of a tier's store operations in flight, and the one fiber
 * that ends those past theirs. A timer per operation (Effect.timeout's
 * race: two fibers and a timer) cost a Redis-tier hit about a third of its
 * time; one watcher, sleeping until the earliest deadline, costs nothing
 * per operation but a fiber for it and a set entry.
 *
 * @internal
 */
export interface Deadlines {
  /** Where the watchers run: closed after the layer waited for its writes, so a hanging write still times out then. */
  readonly scope: Scope.Scope
  /**
   * By Clock: an operation is timed on its caller's Clock, by a watcher
   * that sleeps on that Clock (a layer may serve fibers of several clocks,
   * a TestClock per test and the live one).
   */
  readonly byClock: Map<Clock.Clock, Watch>
  closed: boolean
}

/** The deadlines of one Clock, and the fiber that ends those past theirs. */
interface Watch {
  readonly pending: Set<Deadline>
  watcher: Fiber.Fiber<void> | undefined
  /** When the watcher wakes next (Infinity: no watcher). */
  wakeAt: number
}

interface Deadline {
  readonly fiber: Fiber.Fiber<unknown, unknown>
  readonly at: number
  /** Why the operation was ended: its deadline passed, or the layer closed while it ran. */
  ended: "timeout" | "closed" | undefined
}

/** What an operation in flight dies with when the layer closes under it: no store failure, so neither counted nor logged. */
const layerClosed = new Error("recall: the layer closed while a store operation ran")

/**
 * A tier's {@link Deadlines}, in a scope of their own forked from the
 * current one now: made before the layer registers its wait for the writes,
 * that scope closes after it.
 *
 * @internal
 */
export const makeDeadlines: Effect.Effect<Deadlines, never, Scope.Scope> = Effect.gen(function* () {
  const scope = yield* Scope.fork(yield* Effect.scope)
  const deadlines: Deadlines = { scope, byClock: new Map(), closed: false }
  // The layer waited for its writes already: what still runs (a read, a lock) is ended, as the layer's fibers are.
  yield* Scope.addFinalizer(
    scope,
    Effect.sync(() => {
      deadlines.closed = true
      for (const watch of deadlines.byClock.values()) {
        for (const deadline of watch.pending) {
          deadline.ended = "closed"
          deadline.fiber.interruptUnsafe()
        }
        watch.pending.clear()
      }
      deadlines.byClock.clear()
    })
  )
  return deadlines
})

/**
 * Runs `effect` in a fiber of its own, which fails with a `TimeoutError`
 * (and is interrupted) if it has not ended `timeout` after it began, on the
 * caller's Clock. An operation that ends at once (a store in memory) has no
 * deadline at all. Once the tier's deadlines closed (the layer is gone),
 * Effect.timeout bounds it instead.
 */
const bounded = <A, E>(tier: Tier, effect: Effect.Effect<A, E>, timeout: Duration.Duration): Effect.Effect<A, E | Cause.TimeoutError> => {
  const deadlines = tier.deadlines
  if (deadlines.closed) return Effect.timeout(effect, timeout)
  return Effect.withFiber((parent) =>
    Effect.flatMap(Effect.forkChild(effect, { startImmediately: true }), (fiber) => {
      const ended = fiber.pollUnsafe()
      if (ended !== undefined) return ended
      const clock = parent.getRef(Clock.Clock)
      let watch = deadlines.byClock.get(clock)
      if (watch === undefined) {
        watch = { pending: new Set(), watcher: undefined, wakeAt: Infinity }
        deadlines.byClock.set(clock, watch)
      }
      const deadline: Deadline = { fiber, at: clock.currentTimeMillisUnsafe() + Duration.toMillis(timeout), ended: undefined }
      const pending = watch.pending
      pending.add(deadline)
      fiber.addObserver(() => pending.delete(deadline))
      const waited = Effect.flatMap(
        Effect.onInterrupt(Fiber.await(fiber), () => Fiber.interrupt(fiber)),
        (exit): Effect.Effect<A, E | Cause.TimeoutError> =>
          deadline.ended === undefined
            ? exit
            : deadline.ended === "closed"
              ? Effect.die(layerClosed)
              : Effect.fail(new Cause.TimeoutError(`Operation timed out after '${Duration.format(timeout)}'`))
      )
      return watch.watcher !== undefined && watch.wakeAt <= deadline.at
        ? waited
        : Effect.andThen(startWatcher(deadlines, clock, watch), waited)
    })
  )
}

/**
 * Starts a watcher for one Clock's deadlines, which wakes for the earliest
 * (the one before it wakes later, or not at all: it is stopped). Forked from
 * the caller's fiber, it sleeps on the caller's Clock, the one it watches.
 */
const startWatcher = (deadlines: Deadlines, clock: Clock.Clock, watch: Watch): Effect.Effect<void> =>
  Effect.flatMap(Effect.forkIn(watching(deadlines, clock, watch), deadlines.scope, { startImmediately: true }), (fiber) =>
    Effect.sync(() => {
      const previous = watch.watcher
      // The new watcher may have found nothing to wait for and ended already.
      if (fiber.pollUnsafe() === undefined) {
        watch.watcher = fiber
        if (previous !== undefined && previous !== fiber) previous.interruptUnsafe()
      }
    })
  )

/** Ends the operations past their deadline, then sleeps until the next one; ends when none is left. */
const watching = (deadlines: Deadlines, clock: Clock.Clock, watch: Watch): Effect.Effect<void> =>
  Effect.suspend(function sweep(): Effect.Effect<void> {
    const now = clock.currentTimeMillisUnsafe()
    let next = Infinity
    for (const deadline of watch.pending) {
      if (deadline.at <= now) {
        watch.pending.delete(deadline)
        deadline.ended = "timeout"
        deadline.fiber.interruptUnsafe()
      } else if (deadline.at < next) next = deadline.at
    }
    watch.wakeAt = next
    if (next === Infinity) {
      watch.watcher = undefined
      if (deadlines.byClock.get(clock) === watch) deadlines.byClock.delete(clock)
      return Effect.void
    }
    return Effect.andThen(Effect.sleep(Duration.millis(next - now)), Effect.suspend(sweep))
  })

/** One function's place in the tier: its namespace, entry names, and the warnings it gave. @internal */
export interface Place<A, S> {
  readonly tier: Tier
  readonly namespace: string
  readonly name: string
  readonly persistence: Persistence<A, S>
  readonly entryName: (args: ReadonlyArray<unknown>) => string
  readonly table: () => Table.Table
  /** Whether the function replays recorded output (its `replay`, else the layer's): off, output stored by others is not replayed either. */
  readonly replay: boolean
  /** Writes in flight, by entry name. */
  readonly writing: Map<string, Fiber.Fiber<void>>
  /** Removals from the store in progress (see {@link Removals}). */
  readonly removals: Removals
  /** Set once the function was warned that a value cannot be stored. */
  warnedUnencodable: boolean
}

/**
 * The removals of one function's entries in progress: by entry name
 * (`invalidate`) and of its whole namespace (`clear`). A removal takes the
 * front tier first, then the store (after the writes in flight); a read of
 * the store between the two would find the entry the removal is about to
 * delete, and keep it as fresh. So a removal is registered in the same
 * synchronous step as its front-tier change ({@link beginRemove}), and reads
 * of what it removes wait for it ({@link awaitRemovals}).
 *
 * @internal
 */
export interface Removals {
  readonly byName: Map<string, Deferred.Deferred<void>>
  namespace: Deferred.Deferred<void> | undefined
  /**
   * Removals whose store operation failed (the store down, read-only, too
   * slow): the time each began, by entry name, and for the whole namespace.
   * An entry stored at or before it is one the removal meant to delete, and
   * reads as a miss (see {@link Tombstones}).
   */
  readonly tombstones: Tombstones
}

/**
 * Where a removal's store operation failed, the entries it meant to delete
 * are still there; a read must not bring them back. A tombstone keeps the
 * time the removal began: a read of an entry stored at or before it is a
 * miss. One per name that failed (at most {@link MAX_TOMBSTONES}; past that,
 * the whole namespace's, which only costs misses), and one per namespace.
 *
 * @internal
 */
export interface Tombstones {
  readonly byName: Map<string, number>
  namespace: number | undefined
}

const MAX_TOMBSTONES = 10_000

/** @internal */
export const makeRemovals = (): Removals => ({
  byName: new Map(),
  namespace: undefined,
  tombstones: { byName: new Map(), namespace: undefined }
})

/**
 * A place joins its tier's {@link Tier.places}, so that notices of removals
 * in other processes reach its front tier; {@link leave} (its function
 * collected) takes it out.
 *
 * @internal
 */
export const join = (place: Place<any, any>): void => {
  const places = place.tier.places.get(place.namespace) ?? new Set()
  places.add(place)
  place.tier.places.set(place.namespace, places)
}

/** @internal */
export const leave = (place: Place<any, any>): void => {
  const places = place.tier.places.get(place.namespace)
  places?.delete(place)
  if (places?.size === 0) place.tier.places.delete(place.namespace)
}

/**
 * A removal made through another instance of the store (another process):
 * the front tier of each function it concerns drops its copies and
 * supersedes its computations in flight (whose values are then not kept in
 * front), as a `clear` of the function does here, without touching the
 * store. A deleted entry's function drops all its copies: the front tier
 * keeps them by key, not by entry name, and the others are read back from
 * the store (store hits, not computations).
 *
 * @internal
 */
export const hear = (tier: Tier, notice: CacheStore.Notice, now: number): void => {
  const places =
    notice._tag === "Cleared"
      ? Array.from(tier.places.values(), (set) => Array.from(set)).flat()
      : Array.from(tier.places.get(notice.namespace) ?? [])
  for (const place of places) place.table().clear(now)
}

/** The time before which an entry of `name` was removed (by a removal whose store operation failed), if any. */
const removedBefore = (place: Place<any, any>, name: string): number => {
  const { tombstones } = place.removals
  return Math.max(tombstones.byName.get(name) ?? -Infinity, tombstones.namespace ?? -Infinity, place.tier.tombstone ?? -Infinity)
}

const bury = (tombstones: Tombstones, name: string | undefined, at: number): void => {
  if (name === undefined || tombstones.byName.size >= MAX_TOMBSTONES) {
    tombstones.namespace = Math.max(tombstones.namespace ?? -Infinity, at)
    if (name === undefined) tombstones.byName.clear()
  } else {
    tombstones.byName.set(name, Math.max(tombstones.byName.get(name) ?? -Infinity, at))
  }
}

/**
 * Logs a warning of the tier outside any recording: a store read runs in its
 * caller's fiber, which may be a body of another cached function, whose
 * replayed output must not carry the tier's lines.
 */
const warn = (message: string): Effect.Effect<void> => Replay.outside(Effect.logWarning(message))

/** The breaker's key of each kind of operation: each kind opens and closes on its own (made once: every operation reads one). */
const BREAKER_KEYS: Readonly<Record<OperationKind, string>> = {
  reads: "@recall/core/store/reads",
  writes: "@recall/core/store/writes",
  locks: "@recall/core/store/locks",
  releases: "@recall/core/store/releases",
  generations: "@recall/core/store/generations"
}

/**
 * The store name of a call's arguments, or `undefined` (the call is not
 * persisted) when they cannot be named: the in-memory key was made already,
 * so they hash; a name that needs what is not loaded leaves them unnamed.
 *
 * @internal
 */
export const entryNameOf = (place: Place<any, any>, args: ReadonlyArray<unknown>): string | undefined => {
  try {
    return place.entryName(args)
  } catch {
    return undefined
  }
}

/**
 * What a secret gives a tier: the entries' signing key, the naming MAC
 * (HMAC-SHA-256 of the arguments' canonical form under a key of its own,
 * as 32 hex digits), and the key of `Redacted` digests, set for the process
 * so that every process with the secret names such arguments alike.
 *
 * @internal
 */
export const fromSecret = (
  secret: Redacted.Redacted<string | Uint8Array>
): Effect.Effect<
  { readonly entrySecret: EntryFormat.EntrySecret; readonly mac: (form: Uint8Array) => string },
  CryptoError.CryptoError | Xxh3.WebAssemblyUnavailableError
> =>
  Effect.gen(function* () {
    const entrySecret = yield* EntryFormat.makeSecret(secret)
    const namingKey = yield* EntryFormat.deriveKey(secret, EntryFormat.NAMING_PURPOSE)
    yield* SecretDigest.setKey(yield* EntryFormat.deriveKey(secret, EntryFormat.REDACTED_PURPOSE))
    const hmac = yield* Effect.tryPromise({
      try: () => createHMAC(createSHA256(), namingKey),
      catch: (cause) => new Xxh3.WebAssemblyUnavailableError({ reason: String(cause), cause })
    })
    const mac = (form: Uint8Array): string => {
      hmac.init()
      hmac.update(form)
      return hmac.digest("hex").slice(0, 32)
    }
    return { entrySecret, mac }
  })

/** The circuit breaker of a tier: five failures in a row of one kind of operation open it for that kind for five seconds. @internal */
export const makeBreaker: Effect.Effect<CircuitBreaker.CircuitBreaker, never, Scope.Scope> = Effect.provide(
  CircuitBreaker.make({ tripPolicy: CircuitBreaker.consecutive(5), openDuration: "5 seconds" }),
  CircuitBreaker.layerStoreMemory()
)

/** What {@link guarded} returns when the store could not be used. */
export const failed: unique symbol = Symbol.for("@recall/core/internal/storeTier/failed")

const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/**
 * Runs one store operation with the tier's timeout, through its breaker:
 * its result, or {@link failed} (counted and logged once per outage) when
 * it failed, died, timed out, or the breaker refused it.
 *
 * The breaker keeps a state per kind of operation (reads, writes, locks, generations, and releases, which it never skips:
 * {@link kindOf}), so five failures in a row of one kind open it for that
 * kind only. While a kind works (not in {@link Tier.unhealthy}), its
 * operations run without the breaker's bookkeeping (a scope, an admission
 * and a record per call, about a third of a Redis-tier hit): a success
 * after successes changes nothing in a breaker that counts consecutive
 * failures. A kind's first failure is recorded in the breaker, and from then
 * on each of its operations goes through it (so it opens after five, and
 * refuses them while open) until one succeeds, which closes and resets it as
 * a fresh breaker is.
 *
 * @internal
 */
export const guarded = <A>(
  tier: Tier,
  table: Table.Table | undefined,
  operation: string,
  effect: Effect.Effect<A, CacheStore.CacheStoreError | CryptoError.CryptoError | Xxh3.WebAssemblyUnavailableError>,
  timeout: Duration.Duration = tier.timeout
): Effect.Effect<A | typeof failed> => {
  const kind = kindOf(operation)
  // Interruptible, so that the timeout can stop it even where its caller is not (invalidate, a write's fiber).
  return throughBreaker(tier, kind, bounded(tier, Effect.interruptible(effect), timeout)).pipe(
    Effect.tap(() => (tier.down.size > 0 ? recovered(tier, kind) : Effect.void)),
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const error = Cause.squash(cause)
      if (error === layerClosed) return Effect.succeed(failed)
      // The breaker refusing a call is no new failure: the outage was counted and logged already.
      if (error instanceof CircuitBreaker.CircuitBreakerError && error.reason._tag !== "CircuitBreakerStoreError") {
        return Effect.succeed(failed)
      }
      table?.record("storeError")
      return Effect.clockWith((clock) => {
        const now = clock.currentTimeMillisUnsafe()
        const started = !failingLately(tier, now)
        tier.down.set(kind, now)
        if (!started) return Effect.succeed(failed)
        return Effect.as(
          warn(
            `recall: the cache store failed to ${operation} (${describe(cause)}); calls compute and return their values without it, ` +
              "and the store is tried again by itself. This is logged once per outage."
          ),
          failed
        )
      })
    })
  ) as Effect.Effect<A | typeof failed>
}

/**
 * After a success through the breaker: the tier is healthy again once the
 * breaker is closed (a success admitted before it opened leaves it open).
 */
const markHealthy = (tier: Tier, kind: OperationKind): Effect.Effect<void> =>
  Effect.ignore(
    Effect.flatMap(tier.breaker.state(BREAKER_KEYS[kind]), (state) =>
      Effect.sync(() => {
        if (state._tag === "Closed") tier.unhealthy.delete(kind)
      })
    )
  )

/**
 * Runs `effect` through the tier's breaker, or beside it while the store is
 * healthy (see {@link guarded}); which one is decided when it runs, so an
 * operation built once and run again (a lock's renewal) follows the tier.
 */
const throughBreaker = <A, E>(
  tier: Tier,
  kind: OperationKind,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E | CircuitBreaker.CircuitBreakerError> =>
  Effect.suspend(() => {
    // A release is always tried: skipped, its lock would hold the other processes until it expired.
    if (kind === "releases") return effect
    const key = BREAKER_KEYS[kind]
    if (tier.unhealthy.has(kind)) return Effect.tap(tier.breaker.execute(effect, { key }), () => markHealthy(tier, kind))
    return Effect.onExit(effect, (exit) => {
      // A success needs no record; one that ends after another operation failed is not counted (as if it came first).
      if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return Effect.void
      tier.unhealthy.add(kind)
      return Effect.ignore(tier.breaker.execute(Effect.failCause(exit.cause), { key }))
    })
  })

/** How long a kind of operation must not have failed for its failure to count as over without a success. */
const QUIET_MILLIS = 10_000

const failingLately = (tier: Tier, now: number): boolean => {
  for (const last of tier.down.values()) if (now - last < QUIET_MILLIS) return true
  return false
}

/** An operation of `kind` worked: the outage ends once no other kind failed lately. */
const recovered = (tier: Tier, kind: OperationKind): Effect.Effect<void> =>
  Effect.clockWith((clock) => {
    tier.down.delete(kind)
    if (failingLately(tier, clock.currentTimeMillisUnsafe())) return Effect.void
    tier.down.clear()
    return Replay.outside(Effect.logInfo("recall: the cache store works again; the store tier is back"))
  })

/** What an outage is about: a store may fail its writes (read-only, full), its locks or their releases while it still reads. @internal */
export type OperationKind = "reads" | "writes" | "locks" | "releases" | "generations"

/**
 * An operation's kind: a lock's release; a lock's other operations; a read
 * of an entry; a generation's read; else a write. A generation's read is a
 * kind of its own: it is neither a hit's read nor a write (a full Redis
 * refuses writes and answers it), and counted with either it would end the
 * other's outage and close its breaker on every miss (found by an attack
 * trial: a full Redis got a failing write, a warning and a "works again" on
 * every miss). A release is one too, for the same reason: a Redis user
 * without pub/sub rights takes locks and fails to release them (the release
 * publishes), and counted with the acquires it logged a warning and a "works
 * again" on every miss (an operations trial). It never goes through the
 * breaker (see {@link throughBreaker}).
 */
const kindOf = (operation: string): OperationKind =>
  operation === "release a lock"
    ? "releases"
    : operation.includes("lock")
      ? "locks"
      : operation === "read an entry"
        ? "reads"
        : operation === "read a generation"
          ? "generations"
          : "writes"

/**
 * A value read from the store: the reader's value, the output to replay,
 * its times, the payload's size (an estimate of the value's, known before
 * any copy), and `keep`, which makes the front tier's own copy of it.
 *
 * @internal
 */
export interface Found<A, S> {
  readonly value: A
  readonly output: ReadonlyArray<Replay.Line> | undefined
  readonly times: Table.Times
  readonly payloadBytes: number
  /** What the front tier keeps: a copy of the value (the reader keeps `value` itself). */
  readonly keep: () => Kept<A, S>
}

/**
 * Reads an entry: the value, `undefined` for a miss (none, or one that does
 * not read), or {@link failed} when the store could not be read. An entry
 * that does not read is deleted and warned about.
 *
 * @internal
 */
export const read = <A, S>(place: Place<A, S>, name: string): Effect.Effect<Found<A, S> | undefined | typeof failed> =>
  Effect.gen(function* () {
    const { persistence } = place
    const decoded = yield* fetch(place, name)
    if (decoded === failed) return failed
    if (decoded === undefined || decoded === unchecked) return undefined
    if (Result.isFailure(decoded)) return yield* unreadable(place, name, EntryFormat.describeMiss(decoded.failure))
    const entry = decoded.success
    const times = timesOf(entry, place.table().limits)
    // Expired under the function's ttl as it is now: a miss here (another process with the old ttl may still read it).
    if ((yield* Clock.currentTimeMillis) >= times.expiresAt) return undefined
    // The store's bytes are this reader's alone: typed arrays may be views into them.
    const payload = Payload.decodePayload(entry.payload, { adopt: true })
    if (Result.isFailure(payload)) return yield* unreadable(place, name, EntryFormat.describeMiss(payload.failure))
    const persisted = payload.success.value
    let value: A
    try {
      value = persistence.readUnsafe(persisted)
    } catch (e) {
      return yield* unreadable(place, name, `its value does not load: ${e instanceof Error ? e.message : String(e)}`)
    }
    // With replay off (for the function or the layer), output that another process recorded is not replayed here.
    const output = place.replay ? payload.success.output : undefined
    const payloadBytes = Payload.byteLengthOf(entry.payload)
    return {
      value,
      output,
      times,
      payloadBytes,
      keep: () => {
        const kept = persistence.keepUnsafe(value, persisted)
        // Recorded output counts too, as its recording counted it (in the process that computed it).
        return output === undefined ? kept : { ...kept, bytes: kept.bytes + Replay.linesBytes(output as ReadonlyArray<Replay.Line>) }
      }
    }
  })

/**
 * A stored entry's times in the front tier: as stored, but never past what
 * the function's `ttl` and `staleWhileRevalidate` give now from its
 * `storedAt`, so that a ttl shortened in code applies to entries stored
 * under the longer one (an entry is a miss at exactly `storedAt + ttl`). A
 * longer ttl does not lengthen them: the store keeps an entry only until
 * its stored expiry.
 */
const timesOf = (entry: EntryFormat.EntryFields, limits: Table.Limits): Table.Times => {
  const freshUntil = Math.min(entry.expiresAt, entry.storedAt + limits.ttlMillis)
  return {
    storedAt: entry.storedAt,
    freshUntil,
    expiresAt: Math.max(freshUntil, Math.min(entry.staleUntil, entry.storedAt + limits.ttlMillis + limits.staleMillis))
  }
}

/** What {@link fetch} returns for an entry that could not be checked (WebCrypto failing; counted and warned about). */
const unchecked: unique symbol = Symbol.for("@recall/core/internal/storeTier/unchecked")

/**
 * An entry read from the store and checked (header, checksum, signature):
 * the check's result; `undefined` when there is none; {@link failed} when
 * the store could not be read; {@link unchecked} when it could not be
 * checked.
 */
const fetch = (
  place: Place<any, any>,
  name: string
): Effect.Effect<Result.Result<EntryFormat.DecodedEntry, EntryFormat.EntryMiss> | undefined | typeof failed | typeof unchecked> =>
  awaitRemovals(place, name, fetchNow(place, name))

/** Runs `then` once no removal of `name` is in progress: at once, most often. */
const awaitRemovals = <X>(place: Place<any, any>, name: string, then: Effect.Effect<X>): Effect.Effect<X> => {
  const pending = place.removals.byName.get(name) ?? place.removals.namespace ?? place.tier.clearing
  return pending === undefined
    ? then
    : Effect.andThen(
        Deferred.await(pending),
        Effect.suspend(() => awaitRemovals(place, name, then))
      )
}

const fetchNow = (
  place: Place<any, any>,
  name: string
): Effect.Effect<Result.Result<EntryFormat.DecodedEntry, EntryFormat.EntryMiss> | undefined | typeof failed | typeof unchecked> =>
  Effect.flatMap(
    guarded(place.tier, place.table(), "read an entry", readEntry(place, name)),
    (got): Effect.Effect<Result.Result<EntryFormat.DecodedEntry, EntryFormat.EntryMiss> | undefined | typeof failed | typeof unchecked> => {
      if (got === failed) return Effect.succeed(failed)
      if (Option.isNone(got)) return Effect.succeed(undefined)
      const entry = got.value
      return Effect.map(check(place, name, "parts" in entry ? entry.parts : entry.bytes), (decoded) => {
        if (decoded === failed) return unchecked
        // An entry a removal meant to delete, whose delete failed: gone all the same.
        if (Result.isSuccess(decoded) && decoded.success.storedAt <= removedBefore(place, name)) return undefined
        return decoded
      })
    }
  )

/**
 * An entry as the store reads it: in parts from a store that offers
 * `getParts` (a large value's typed arrays then come back each in a buffer
 * of its own, not copied out of one), unless it is to be checked against a
 * signature (WebCrypto's HMAC takes one buffer); else whole. The store's
 * answer as it is: no step more on the hit path.
 */
const readEntry = (
  place: Place<any, any>,
  name: string
): Effect.Effect<Option.Option<CacheStore.StoredEntry | CacheStore.StoredParts>, CacheStore.CacheStoreError> => {
  const { store, secret } = place.tier
  return store.getParts !== undefined && secret === undefined ? store.getParts(place.namespace, name) : store.get(place.namespace, name)
}

/**
 * An entry's header, checksum and signature, checked: no store operation,
 * so neither the breaker nor the timeout; WebCrypto failing (not a wrong
 * signature) is a store error all the same.
 */
const check = (place: Place<any, any>, name: string, bytes: Payload.PayloadBytes) =>
  EntryFormat.decodeEntry(
    bytes,
    { codec: place.persistence.codec, fingerprint: place.persistence.fingerprint, identity: place.namespace, storeName: name },
    place.tier.secret
  ).pipe(
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.andThen(
            Effect.sync(() => place.table().record("storeError")),
            Effect.as(warn(`recall: an entry of ${place.name} could not be checked (${describe(cause)}); it is computed again.`), failed)
          )
    )
  )

const unreadable = (place: Place<any, any>, name: string, reason: string): Effect.Effect<undefined> =>
  Effect.andThen(
    warn(`recall: a stored entry of ${place.name} was not used and is deleted (${reason}); the value is computed again.`),
    Effect.as(guarded(place.tier, place.table(), "delete an entry", place.tier.store.delete(place.namespace, name)), undefined)
  )

/** An entry to write: whole, or as parts whose bytes one after another are the entry's. */
type Entry = Uint8Array | ReadonlyArray<Uint8Array>

/**
 * The entry of a value, or `undefined` (warned about once per function) when
 * the payload codec cannot write it: the value then stays in the front tier
 * only. `inParts`: as parts (encodeEntryParts), for a store's `setParts`;
 * else whole.
 */
const entryOf = <A, S>(
  place: Place<A, S>,
  name: string,
  stored: S,
  output: ReadonlyArray<unknown> | undefined,
  times: Table.Times,
  inParts: boolean
): Effect.Effect<Entry | undefined, CryptoError.CryptoError | Xxh3.WebAssemblyUnavailableError> =>
  Effect.suspend((): Effect.Effect<Entry | undefined, CryptoError.CryptoError | Xxh3.WebAssemblyUnavailableError> => {
    const fields: EntryFormat.EntryFields = {
      codec: place.persistence.codec,
      fingerprint: place.persistence.fingerprint,
      name: place.name,
      identity: place.namespace,
      storedAt: times.storedAt,
      expiresAt: times.freshUntil,
      staleUntil: times.expiresAt
    }
    const room = EntryFormat.entryRoom(fields, place.tier.secret !== undefined)
    const persisted = place.persistence.toPersisted(stored)
    const lines = output as ReadonlyArray<Replay.Line> | undefined
    if (inParts) {
      // The typed arrays' bytes go to the store as they lie in the front tier's copy: not copied into one buffer.
      const payload = Payload.encodePayloadParts(persisted, lines, room.before)
      return Result.isFailure(payload) ? unencodable(place, payload.failure) : EntryFormat.encodeEntryParts(fields, payload.success)
    }
    // Encoded with room for the entry around it: the entry is written in place, not copied (the payload is most of it).
    const payload = Payload.encodePayload(persisted, lines, room)
    return Result.isFailure(payload)
      ? unencodable(place, payload.failure)
      : EntryFormat.encodeEntry(fields, payload.success, place.tier.secret, { inPlace: true, storeName: name })
  })

/** A value the store cannot hold: warned about once per function, and kept in the front tier only. */
const unencodable = (place: Place<any, any>, { path, reason, value }: Payload.Unencodable): Effect.Effect<undefined> => {
  if (place.warnedUnencodable) return Effect.succeed(undefined)
  place.warnedUnencodable = true
  return Effect.as(
    warn(
      `recall: a value of ${place.name} is kept in memory only: the store cannot hold ${path.length === 0 ? "it" : `its part at ${shownPath(path)}`} (${reason}). ` +
        `The call succeeded. ${place.persistence.unstorableFix ?? fixFor(value, reason)} Logged once per function and layer.`
    ),
    undefined
  )
}

/** The longest path a warning shows whole; a longer one keeps its first and last steps. */
const MAX_PATH_STEPS = 12

/** A part's path for a warning: a part 1,000 levels deep must not make a 10 KB line. */
const shownPath = (path: ReadonlyArray<string>): string =>
  path.length <= MAX_PATH_STEPS
    ? path.join(" ")
    : [...path.slice(0, MAX_PATH_STEPS / 2), `… ${path.length - MAX_PATH_STEPS} more …`, ...path.slice(-MAX_PATH_STEPS / 2)].join(" ")

/** What to do about a value the store cannot hold, by why it cannot. */
const fixFor = (part: unknown, reason: string): string =>
  Redacted.isRedacted(part)
    ? // A value schema would store the secret's encoded form: the secret itself, in clear (a store secret signs, it does not encrypt).
      "Set `persist: false` to keep this function in memory and silence this warning; a `value` schema would store the secret in clear."
    : "To store it, give the function a `value` schema" +
      (reason.includes("class") ? " (a Data or Schema class needs one)" : "") +
      ", or set `persist: false` to keep this function in memory and silence this warning."

/**
 * Writes a value to the store in a fiber of its own, then runs `after` (a
 * lock's release): the callers do not wait for it; the layer's close, and
 * the `invalidate` or `clear` that removes it, do. A write refused by the
 * store's generation (a delete or clear in any process since the
 * computation began) calls `superseded`, which drops the front tier's copy.
 *
 * A large value's encoding (`deferEncoding`) runs `renew` (the held lock's
 * renewal) first: the encoding is synchronous, and a value of many small
 * objects can take seconds, during which the lock's own renewals cannot run;
 * renewed right before it, the lock has its whole `lockTtl` for it, and
 * another process does not take the key over and compute it again (found by
 * a stranger trial: with `lockTtl` 3 s, a 40 MB value of 400k rows was
 * computed twice, and the two processes served different values).
 *
 * @internal
 */
export const writeInBackground = <A, S>(
  place: Place<A, S>,
  name: string,
  stored: S,
  output: ReadonlyArray<unknown> | undefined,
  times: Table.Times,
  after: Effect.Effect<void>,
  generation: string | undefined,
  superseded: () => void,
  deferEncoding: boolean,
  renew: Effect.Effect<void> = Effect.void
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { tier } = place
    // Writes of one name land in the order they started (read here: this write is registered before it starts).
    const previous = place.writing.get(name)
    const generations = tier.store.generations
    const conditional = generation !== undefined && generations !== undefined
    const { setParts } = tier.store
    // A large unsigned entry goes in parts to a store that writes them as they are (a signature covers the joined bytes).
    const inParts = deferEncoding && setParts !== undefined && tier.secret === undefined && !conditional
    const encode = entryOf(place, name, stored, output, times, inParts).pipe(
      Effect.catchCause((cause) =>
        Effect.as(warn(`recall: a value of ${place.name} could not be encoded (${describe(cause)}); it stays in memory.`), undefined)
      )
    )
    const write = (encoded: Effect.Effect<Entry | undefined>) =>
      Effect.gen(function* () {
        // A large value is encoded once the forking fiber has gone on (its callers then have their value first).
        if (deferEncoding) yield* Effect.yieldNow
        if (previous !== undefined) yield* Fiber.await(previous)
        const table = place.table()
        if (deferEncoding) yield* renew
        const entry = yield* encoded
        if (entry === undefined) return
        let bytes = 0
        let write: Effect.Effect<boolean, CacheStore.CacheStoreError>
        if (entry instanceof Uint8Array) {
          bytes = entry.byteLength
          // With generations, written only while no delete or clear (here or in another process) came since the computation began.
          write = conditional
            ? generations.setIf(place.namespace, name, entry, times.expiresAt, generation)
            : Effect.as(tier.store.set(place.namespace, name, entry, times.expiresAt), true)
        } else {
          for (const part of entry) bytes += part.byteLength
          write = Effect.as(setParts!(place.namespace, name, entry, times.expiresAt), true)
        }
        const written = yield* guarded(tier, table, "write an entry", write, writeTimeout(tier, bytes))
        if (written === true) table.record("storeWrite")
        // A delete or clear in some process came since the computation began: its value must not outlive it here either.
        else if (written === false) superseded()
      }).pipe(Effect.ensuring(after))
    // Not deferred, the entry is encoded here, before the callers have the value: its bytes are then a
    // snapshot, whatever a caller does with the value next (under `copy: "readonly"` the callers hold the
    // very instance kept, whose typed arrays cannot be frozen), even when the write waits for an earlier one.
    if (deferEncoding) return track(place, name, write(encode))
    return Effect.flatMap(encode, (entry) => track(place, name, write(Effect.succeed(entry))))
  })

/** Forks `work` and registers it as the name's write in flight. */
const track = (place: Place<any, any>, name: string, work: Effect.Effect<void>): Effect.Effect<void> =>
  Effect.flatMap(Effect.forkDetach(work, { startImmediately: true, uninterruptible: true }), (fiber) =>
    Effect.sync(() => {
      if (fiber.pollUnsafe() !== undefined) return
      place.tier.writes.add(fiber)
      place.writing.set(name, fiber)
      fiber.addObserver(() => {
        place.tier.writes.delete(fiber)
        if (place.writing.get(name) === fiber) place.writing.delete(name)
      })
    })
  )

/**
 * The namespace's generation before a computation runs, where the store has
 * generations; `undefined` without them (the write is unconditional);
 * {@link failed} when the store could not tell it (then nothing is written:
 * a write without it could land after a clear in another process).
 *
 * @internal
 */
export const generationOf = (place: Place<any, any>): Effect.Effect<string | undefined | typeof failed> => {
  const generations = place.tier.store.generations
  if (generations === undefined) return Effect.succeed(undefined)
  return guarded(place.tier, place.table(), "read a generation", generations.current(place.namespace))
}

/**
 * The time a write of `bytes` may take: the tier's timeout, plus a second
 * per 50 MB (a slow disk's pace), so that a large entry is not given up
 * (and counted as an outage) for its size alone.
 */
const writeTimeout = (tier: Tier, bytes: number): Duration.Duration =>
  Duration.sum(tier.timeout, Duration.millis(Math.floor(bytes / 50_000)))

/** Waits for `fibers` to end (at once when there are none). */
const awaitFibers = (fibers: ReadonlyArray<Fiber.Fiber<void>>): Effect.Effect<void> =>
  fibers.length === 0 ? Effect.void : Effect.asVoid(Fiber.awaitAll(fibers))

/** Waits for the writes in flight of one entry name, or of every name of the function. @internal */
export const awaitWrites = (place: Place<any, any>, name?: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    const fibers = name === undefined ? Array.from(place.writing.values()) : [place.writing.get(name)].filter((f) => f !== undefined)
    return awaitFibers(fibers)
  })

/** Waits for every write in flight of the tier (the layer closes: bounded by each write's timeout). @internal */
export const awaitAllWrites = (tier: Tier): Effect.Effect<void> => Effect.suspend(() => awaitFibers(Array.from(tier.writes)))

/** Whether the store holds a live, readable entry for `name` (the payload is not decoded). @internal */
export const has = (place: Place<any, any>, name: string): Effect.Effect<boolean> =>
  Effect.flatMap(fetch(place, name), (decoded) =>
    decoded === failed || decoded === undefined || decoded === unchecked || Result.isFailure(decoded)
      ? Effect.succeed(false)
      : Effect.map(Clock.currentTimeMillis, (now) => now < timesOf(decoded.success, place.table().limits).expiresAt)
  )

/**
 * Registers a removal now and starts it in a fiber of its own (on the
 * context of `fiber`, the caller's), returning the wait for it: reads see the
 * removal from the moment this is called (see {@link Removals}) until it
 * ended, however it ends. As a computation does, it belongs to the cache: an
 * interrupted caller only stops waiting, and the layer's close waits for it
 * as for a write. Registered twice, the later one is awaited by the reads
 * that come after it.
 */
const registered = (
  tier: Tier,
  fiber: Fiber.Fiber<unknown, unknown>,
  register: (done: Deferred.Deferred<void>) => void,
  unregister: (done: Deferred.Deferred<void>) => void,
  work: Effect.Effect<void>
): Effect.Effect<void> => {
  const done = Deferred.makeUnsafe<void>()
  register(done)
  const finish = Effect.sync(() => {
    unregister(done)
    Deferred.doneUnsafe(done, Exit.void)
  })
  // Started after the caller's synchronous step (the front tier's change) has ended.
  const running = Effect.runForkWith(fiber.context)(Effect.ensuring(Effect.andThen(Effect.yieldNow, work), finish), {
    uninterruptible: true
  })
  tier.writes.add(running)
  running.addObserver(() => tier.writes.delete(running))
  return Fiber.await(running).pipe(Effect.asVoid)
}

/**
 * Deletes one entry, after its writes in flight; registered and started at
 * once, so call it in the same synchronous step as the front tier's
 * invalidate.
 *
 * @internal
 */
export const beginRemove = (place: Place<any, any>, name: string, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> =>
  registered(
    place.tier,
    fiber,
    (done) => place.removals.byName.set(name, done),
    (done) => {
      if (place.removals.byName.get(name) === done) place.removals.byName.delete(name)
    },
    Effect.andThen(
      awaitWrites(place, name),
      buryIfFailed(
        guarded(place.tier, place.table(), "delete an entry", place.tier.store.delete(place.namespace, name)),
        (at) => bury(place.removals.tombstones, name, at),
        fiber
      )
    )
  )

/**
 * Deletes every entry of the function, after its writes in flight;
 * registered at once, as {@link beginRemove}.
 *
 * @internal
 */
export const beginClearNamespace = (place: Place<any, any>, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> =>
  registered(
    place.tier,
    fiber,
    (done) => {
      place.removals.namespace = done
    },
    (done) => {
      if (place.removals.namespace === done) place.removals.namespace = undefined
    },
    Effect.andThen(
      awaitWrites(place),
      buryIfFailed(
        guarded(place.tier, place.table(), "clear a namespace", place.tier.store.clearNamespace(place.namespace)),
        (at) => bury(place.removals.tombstones, undefined, at),
        fiber
      )
    )
  )

/**
 * Deletes every entry of the store, after the writes in flight; registered
 * at once, as {@link beginRemove}.
 *
 * @internal
 */
export const beginClearAll = (tier: Tier, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> =>
  registered(
    tier,
    fiber,
    (done) => {
      tier.clearing = done
    },
    (done) => {
      if (tier.clearing === done) tier.clearing = undefined
    },
    // The writes in flight now (taken before this clear joins them, so that it does not wait for itself).
    Effect.andThen(
      awaitFibers(Array.from(tier.writes)),
      buryIfFailed(
        guarded(tier, undefined, "clear the store", tier.store.clearAll),
        (at) => {
          tier.tombstone = Math.max(tier.tombstone ?? -Infinity, at)
        },
        fiber
      )
    )
  )

/**
 * Runs a removal's store operation; where it failed, `bury` keeps the time
 * the removal began (on the caller's clock, which stamps this process's
 * entries), so that what it meant to delete reads as a miss.
 */
const buryIfFailed = (
  operation: Effect.Effect<unknown>,
  bury: (at: number) => void,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<void> => {
  const began = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
  return Effect.flatMap(operation, (result) =>
    Effect.sync(() => {
      if (result === failed) bury(began)
    })
  )
}

// ---------------------------------------------------------------------------
// Cross-process single flight
// ---------------------------------------------------------------------------

/** A lock the computation holds, and how to give it back. @internal */
export interface Held {
  /** Renews the lock now (a failure is the tier's, as a renewal's). */
  readonly renew: Effect.Effect<void>
  /** Stops renewing and releases the lock. */
  readonly release: Effect.Effect<void>
  /** The same, telling the processes that wait for it that the computation failed (they compute at once). */
  readonly releaseFailed: Effect.Effect<void>
}

/** What a computation does after reading the store missed: compute (holding the lock, maybe), or use a value another process wrote. */
export type Turn<A, S> =
  | { readonly _tag: "Compute"; readonly held: Held | undefined }
  | { readonly _tag: "Found"; readonly found: Found<A, S> }

/**
 * Takes the store's lock of an entry before computing it, where the store
 * has locks: while another process holds it, waits for its release (or
 * expiry) and reads again; a value it wrote is used, a holder that failed
 * lets its waiters compute at once (without the lock), and a holder that
 * crashed loses the lock when it expires. Once it holds the lock it reads
 * once more (a value written and released just before the acquire is used,
 * not computed again). Where the store has no locks, or
 * fails, the process computes on its own.
 *
 * @internal
 */
export const turn = <A, S>(place: Place<A, S>, name: string): Effect.Effect<Turn<A, S>> =>
  Effect.gen(function* () {
    const { tier } = place
    const locks = tier.store.locks
    if (locks === undefined) return { _tag: "Compute", held: undefined } as const
    const table = place.table()
    const clock = yield* Clock.Clock
    let waitingSince: number | undefined
    for (;;) {
      const acquired = yield* guarded(tier, table, "take a lock", locks.acquire(place.namespace, name, tier.lockMillis))
      if (acquired === failed) return { _tag: "Compute", held: undefined } as const
      if (Option.isSome(acquired)) {
        const held = yield* renewing(tier, table, acquired.value)
        // Another process may have written the value and released the lock between the read that missed and
        // this acquire: read again under the lock before computing (and give the lock back when it is there).
        const found = yield* Effect.uninterruptibleMask((restore) =>
          restore(read(place, name)).pipe(
            Effect.onInterrupt(() => held.release),
            Effect.tap((found) => (found === undefined ? Effect.void : held.release))
          )
        )
        if (found === undefined || found === failed) return { _tag: "Compute", held } as const
        return { _tag: "Found", found } as const
      }
      // Another process computes it: wait for it to finish (or its lock to expire), then read what it wrote;
      // for lockWait at most, since a holder that keeps renewing may itself wait for this process (a cycle).
      const now = clock.currentTimeMillisUnsafe()
      waitingSince ??= now
      const left = waitingSince + tier.lockWaitMillis - now
      if (left <= 0) {
        yield* warnLockWait(place)
        return { _tag: "Compute", held: undefined } as const
      }
      const wait = Math.min(tier.lockMillis, left)
      const waited = yield* guarded(
        tier,
        table,
        "wait for a lock",
        locks.awaitRelease(place.namespace, name, wait),
        Duration.sum(Duration.millis(wait), tier.timeout)
      )
      if (waited === failed) return { _tag: "Compute", held: undefined } as const
      const found = yield* read(place, name)
      if (found === failed) return { _tag: "Compute", held: undefined } as const
      if (found !== undefined) return { _tag: "Found", found } as const
      // Its holder failed: the other processes that waited compute now, side by side, rather than one after
      // another behind the lock (a backend that is down would cost each its turn of the body's time).
      if (waited === "failed") return { _tag: "Compute", held: undefined } as const
    }
  })

/** The functions (per layer) warned that a call stopped waiting for another process: once each. */
const warnedLockWait = new WeakSet<Place<any, any>>()

const warnLockWait = (place: Place<any, any>): Effect.Effect<void> => {
  if (warnedLockWait.has(place)) return Effect.void
  warnedLockWait.add(place)
  return warn(
    `recall: a call of ${place.name} waited lockWait (${Duration.format(Duration.millis(place.tier.lockWaitMillis))}) for another process ` +
      "computing the same arguments, and computes them itself: the body runs in both. Either that body takes longer than " +
      "lockWait (raise it: DataCache.layerStore({ lockWait })), or the two processes wait for each other (bodies that call " +
      "each other's keys, which this process's call then reports as a cycle)."
  )
}

/** Renews a held lock every third of its time, in a fiber of the layer's scope, until it is released; failures count as the function's store errors. */
const renewing = (tier: Tier, table: Table.Table, lock: CacheStore.Lock): Effect.Effect<Held> =>
  Effect.gen(function* () {
    const locks = tier.store.locks!
    const renewOnce = Effect.asVoid(guarded(tier, table, "renew a lock", locks.renew(lock, tier.lockMillis)))
    const renewer = yield* Effect.forkIn(
      Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(Math.max(1, Math.floor(tier.lockMillis / 3)))), renewOnce)),
      tier.scope,
      { startImmediately: true }
    )
    const releasing = (failed: boolean) =>
      Effect.andThen(Fiber.interrupt(renewer), Effect.asVoid(guarded(tier, table, "release a lock", locks.release(lock, { failed }))))
    return { renew: renewOnce, release: releasing(false), releaseFailed: releasing(true) }
  })
