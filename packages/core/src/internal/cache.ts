/**
 * One cache: what a DataCache or ResourceCache layer holds. Its registry of
 * function tables, the layer's scope (computations and refreshes run in it
 * and stop when it closes), the releases the face asked for, and the clock
 * its calls use.
 *
 * **Releases** (ResourceCache) are independent: each runs in a fiber of its
 * own, uninterruptibly, so a release that hangs delays only its own entry.
 * The operation that caused one (`invalidate`, `clear`, a borrow's end)
 * waits for it, interruptibly: interrupting the wait leaves the release
 * running in the background. Calls that merely purge another key's expired
 * entry, and the sweep, start its release and go on. Closing the layer
 * starts the release of every instance nobody holds and waits for them; an
 * instance still held is released when its last hold ends.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as EffectCopies from "./effectCopies.ts"
import type { Kind } from "./face.ts"
import * as Metrics from "./metrics.ts"
import * as StoreTier from "./storeTier.ts"
import * as Table from "./table.ts"
import * as Xxh3 from "./xxh3.ts"

/** @internal */
export interface Cache {
  readonly kind: Kind
  /** Names this cache apart from every other live one, in Metrics (`cache` attribute). */
  readonly label: string
  readonly registry: Table.Registry
  /** Every call runs its body and nothing is stored (`DataCache.layerPassthrough`). */
  readonly passthrough: boolean
  /** Whether functions that do not set `replay` record and replay their output. */
  readonly replay: boolean
  /** The store behind the tables (`DataCache.layerStore`); `undefined` in memory only. */
  readonly tier: StoreTier.Tier | undefined
  /** The layer's scope: computations and refreshes run in it and stop when it closes. */
  readonly scope: Scope.Scope
  /** Releases asked for by the face, not started yet. */
  readonly pending: Array<Effect.Effect<void>>
  /** Told when the cache closes (the function slots unregister their finalizers). */
  readonly onClose: Set<() => void>
  /** Each table's Metrics registrations. */
  readonly metrics: Map<Table.Table, Metrics.Registrations>
  /** The layer's context, where Metrics are registered. */
  readonly context: Context.Context<never>
  /** Releases running now, each in its fiber: closing the layer waits for them too. */
  readonly running: Set<Fiber.Fiber<void>>
  /** The clock the last call used: the sweep reads the same one, so TTL is one timeline. */
  clock: Clock.Clock | undefined
  /** Done when `clock` changes: the sweep wakes and sleeps on the new clock. */
  clockChanged: Deferred.Deferred<void>
  closed: boolean
}

/**
 * Remembers the clock a call used, for the sweep; a new clock wakes the
 * sweep, so that it sleeps on that clock from then on.
 *
 * @internal
 */
export const useClock = (cache: Cache, clock: Clock.Clock): void => {
  if (cache.clock === clock) return
  cache.clock = clock
  const changed = cache.clockChanged
  cache.clockChanged = Deferred.makeUnsafe()
  Deferred.doneUnsafe(changed, Exit.void)
}

let caches = 0

/**
 * Builds a cache for a layer: checks for a second copy of Effect, loads
 * the hasher (so that hits never wait for it; where WebAssembly cannot be
 * compiled the layer is built all the same, and only a key that needs a
 * digest fails), starts the sweep, and, when the layer closes, removes every
 * entry and runs their releases.
 *
 * @internal
 */
export const make = (options: {
  readonly kind: Kind
  readonly maxBytes: number
  readonly sweepMillis: number
  readonly passthrough: boolean
  readonly replay: boolean
  readonly tier?: StoreTier.Tier | undefined
}): Effect.Effect<Cache, never, Scope.Scope> =>
  Effect.gen(function* () {
    yield* EffectCopies.checkRuntime
    yield* Effect.exit(Xxh3.load)
    const registry = new Table.Registry(options.maxBytes)
    const scope = yield* Effect.scope
    const context = yield* Effect.context<never>()
    const cache: Cache = {
      kind: options.kind,
      label: `${options.kind}-${++caches}`,
      registry,
      passthrough: options.passthrough,
      replay: options.replay,
      tier: options.tier,
      scope,
      pending: [],
      onClose: new Set(),
      metrics: new Map(),
      running: new Set(),
      context,
      clock: undefined,
      clockChanged: Deferred.makeUnsafe(),
      closed: false
    }
    registry.onDrop = (table) => unregisterMetrics(cache, table)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        cache.closed = true
        for (const table of Array.from(registry.tables.values())) table.close()
        for (const table of Array.from(cache.metrics.keys())) unregisterMetrics(cache, table)
        for (const close of cache.onClose) close()
        cache.onClose.clear()
        // The releases this close starts, those already running in the background, and the store writes in flight.
        return Effect.flatMap(startReleases(cache), () =>
          Effect.andThen(
            Fiber.awaitAll(Array.from(cache.running)),
            cache.tier === undefined ? Effect.void : StoreTier.awaitAllWrites(cache.tier)
          )
        )
      })
    )
    yield* Effect.forkScoped(sweep(cache, options.sweepMillis))
    return cache
  })

/**
 * Removes expired entries of functions nobody calls, on the calls' own clock
 * (so a `TestClock` provided around the layer drives it too).
 */
const sweep = (cache: Cache, sweepMillis: number): Effect.Effect<never> =>
  Effect.clockWith((layerClock) => {
    const interval = Duration.millis(sweepMillis)
    const once = Effect.suspend(() => {
      const clock = cache.clock ?? layerClock
      return Effect.raceFirst(
        Effect.andThen(
          clock.sleep(interval),
          Effect.suspend(() => {
            cache.registry.purgeExpired((cache.clock ?? layerClock).currentTimeMillisUnsafe())
            return drainInBackground(cache)
          })
        ),
        // The calls' clock changed: sleep on that one instead.
        Deferred.await(cache.clockChanged)
      )
    })
    return Effect.forever(once)
  })

/** Registers a new table's Metrics, unless the cache has closed. @internal */
export const registerMetrics = (cache: Cache, table: Table.Table, id: string): void => {
  if (!cache.closed) cache.metrics.set(table, Metrics.register(cache.kind, table, cache.context, { cache: cache.label, id }))
}

const unregisterMetrics = (cache: Cache, table: Table.Table): void => {
  cache.metrics.get(table)?.remove()
  cache.metrics.delete(table)
}

/**
 * Queues a release the face asked for (none when it returned `undefined`).
 *
 * @internal
 */
export const queueRelease = (cache: Cache, release: Effect.Effect<void> | undefined): void => {
  if (release !== undefined) cache.pending.push(release)
}

const logged = (cache: Cache, release: Effect.Effect<void>): Effect.Effect<void> =>
  Effect.catchCause(release, (cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.void
      : Effect.logWarning(`recall: a ${cache.kind} release failed; the other entries are still released`, cause)
  )

/** Starts every queued release in a fiber of its own, known to the cache until it ends. */
const startReleases = (cache: Cache): Effect.Effect<Array<Fiber.Fiber<void>>> =>
  Effect.suspend(() =>
    cache.pending.length === 0
      ? Effect.succeed([])
      : Effect.forEach(cache.pending.splice(0), (release) =>
          Effect.tap(Effect.forkDetach(logged(cache, release), { startImmediately: true, uninterruptible: true }), (fiber) =>
            Effect.sync(() => {
              if (fiber.pollUnsafe() !== undefined) return
              cache.running.add(fiber)
              fiber.addObserver(() => cache.running.delete(fiber))
            })
          )
        )
  )

/**
 * Whether the layer is closing or closed: its scope closes before its own
 * finalizer runs (the computations' finalizers run first), and no new
 * computation may start meanwhile.
 *
 * @internal
 */
export const closing = (cache: Cache): boolean => cache.closed || cache.scope.state._tag === "Closed"

/**
 * Starts the queued releases and waits for them, interruptibly: an
 * interrupted wait leaves them running.
 *
 * @internal
 */
export const drain = (cache: Cache): Effect.Effect<void> =>
  Effect.suspend(() =>
    cache.pending.length === 0
      ? Effect.void
      : Effect.flatMap(startReleases(cache), (fibers) => Effect.interruptible(Effect.asVoid(Fiber.awaitAll(fibers))))
  )

/**
 * Starts the queued releases without waiting for them.
 *
 * @internal
 */
export const drainInBackground = (cache: Cache): Effect.Effect<void> =>
  Effect.suspend(() => (cache.pending.length === 0 ? Effect.void : Effect.asVoid(startReleases(cache))))

/**
 * Closes a computation's or an entry's scope; a release that fails is logged.
 *
 * @internal
 */
export const closeScope = (cache: Cache, scope: Scope.Closeable, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  logged(cache, Scope.close(scope, exit))
