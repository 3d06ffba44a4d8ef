/**
 * The engine under DataCache and ResourceCache (design section 3b): a call's
 * hit and miss paths, single flight with takeover, the generation guard,
 * stale-while-revalidate, replay, reporting, spans, stats and Metrics, once.
 *
 * A cache's face decides what the table keeps for a value ({@link Face}):
 * DataCache keeps an encoded copy and hands out fresh copies; ResourceCache
 * keeps the instance with its scope and reference count, and releases it when
 * it leaves. The engine never looks inside what the table keeps.
 *
 * **Invariants**
 *
 * - A hit is synchronous unless there is output to replay, a release to run
 *   or a `validate` to call.
 * - A flight is registered, and settled, inside one uninterruptible region
 *   with the check that chose it: only the body and a wait for someone else's
 *   flight can be interrupted. No interrupt can leave a key whose callers
 *   wait forever.
 * - What leaves a table (evicted, expired, invalidated, cleared, replaced,
 *   or computed but never stored) is handed to the face at once; releases
 *   the face asks for are queued on the cache and run, each once, by the
 *   operation that caused them, by the sweep, or when the layer closes.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { InvalidOptionsError } from "../CachedFunction.ts"
import * as CacheReporter from "../CacheReporter.ts"
import * as Hasher from "../Hasher.ts"
import * as EffectCopies from "./effectCopies.ts"
import * as Metrics from "./metrics.ts"
import type * as Parameters from "./parameters.ts"
import * as Replay from "./replay.ts"
import * as Summary from "./summary.ts"
import * as Table from "./table.ts"
import * as Xxh3 from "./xxh3.ts"

/** Which cache: names spans, metrics and reports. @internal */
export type Kind = "DataCache" | "ResourceCache"

/**
 * What one cache keeps for a value, and what each caller gets from it.
 *
 * `Hold` is a borrow (`ResourceCache`'s `use`): a caller that passes one
 * keeps what it got from being released until the borrow ends.
 *
 * @internal
 */
export interface Face<A, S> {
  readonly kind: Kind
  /** Whether each computation runs in a Scope of its own, kept with its value. */
  readonly scoped: boolean
  /**
   * What the table keeps for a computed value, its size, and what the
   * computing caller gets; or the error that the value cannot be kept.
   */
  readonly keep: (value: A, scope: Scope.Closeable | undefined, hold: Hold | undefined) => Kept<A, S> | Rejected
  /** A caller's value from what the table keeps; {@link unusable} when it can no longer be used (the caller recomputes). */
  readonly load: (stored: S, hold: Hold | undefined) => A | Unusable
  /** What the table kept has left it (or was never stored): the release to run, if any. */
  readonly leave: ((stored: S) => Effect.Effect<void> | undefined) | undefined
  /** Checked on each hit from the table (ResourceCache's `validate`); false or a failure recomputes. */
  readonly check: ((value: A) => Effect.Effect<boolean, unknown>) | undefined
  /** A borrow for a `check`; {@link Face.unhold} ends it. */
  readonly hold: () => Hold
  readonly unhold: (hold: Hold) => Effect.Effect<void> | undefined
}

/** @internal */
export type Hold = object

/**
 * What {@link Face.load} returns for a kept value that can no longer be
 * used: a released resource, a stored value that no longer decodes.
 *
 * @internal
 */
export const unusable: unique symbol = Symbol.for("@recall/core/internal/unusable")

/** @internal */
export type Unusable = typeof unusable

/** @internal */
export interface Kept<A, S> {
  readonly _tag: "Kept"
  readonly stored: S
  readonly bytes: number
  readonly value: A
}

/** @internal */
export interface Rejected {
  readonly _tag: "Rejected"
  readonly error: unknown
}

/**
 * One cached function, as the engine runs it: its identity, limits, key,
 * face and presentation.
 *
 * @internal
 */
export interface Definition<A, S> {
  /** The function identity; hashed on first use, when a layer has loaded the hasher. */
  readonly id: () => string
  readonly name: string
  readonly limits: Table.Limits
  readonly hashKey: (args: ReadonlyArray<unknown>) => string
  /** Which arguments `hashKey` leaves out (the `_` parameters), for summaries. */
  readonly parameters?: Parameters.Plan | undefined
  readonly cacheIf: ((value: A) => boolean) | undefined
  readonly replay: boolean
  /** Text for reporters; `undefined` when `spinner: false`. */
  readonly spinner: string | undefined
  readonly showTime: boolean
  readonly face: Face<A, S>
  /** The body: the user's function (a generator body already wrapped as `Effect.fn` would). */
  readonly compute: (...args: ReadonlyArray<unknown>) => Effect.Effect<A, unknown, unknown>
}

/**
 * One cache: what a DataCache or ResourceCache layer holds.
 *
 * @internal
 */
export interface Cache {
  readonly kind: Kind
  readonly registry: Table.Registry
  /** Every call runs its body and nothing is stored (`DataCache.layerPassthrough`). */
  readonly passthrough: boolean
  /** The layer's scope: background refreshes run in it and stop when it closes. */
  readonly scope: Scope.Scope
  /** Releases asked for by the face, not yet run. */
  readonly pending: Array<Effect.Effect<void>>
  /** Called once per function table, when its function is first called. */
  readonly onTable: (table: Table.Table) => void
  closed: boolean
}

/**
 * Builds a cache for a layer: checks for a second copy of Effect, loads the
 * hasher, starts the sweep, registers Metrics, and, when the layer closes,
 * removes every entry and runs their releases.
 *
 * @internal
 */
export const make = (kind: Kind, maxBytes: number, sweepMillis: number, passthrough: boolean): Effect.Effect<Cache, never, Scope.Scope> =>
  Effect.gen(function* () {
    yield* EffectCopies.checkRuntime
    // Hashing is synchronous on the hit path: the WebAssembly hasher loads here, once.
    yield* Xxh3.load
    const registry = new Table.Registry(maxBytes)
    const scope = yield* Effect.scope
    const context = yield* Effect.context<never>()
    const registrations = new Map<Table.Table, Metrics.Registrations>()
    const unregister = (table: Table.Table) => {
      registrations.get(table)?.remove()
      registrations.delete(table)
    }
    registry.onDrop = unregister
    const cache: Cache = {
      kind,
      registry,
      passthrough,
      scope,
      pending: [],
      onTable: (table) => registrations.set(table, Metrics.register(kind, table, context)),
      closed: false
    }
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        cache.closed = true
        for (const table of Array.from(registry.tables.values())) table.clear(Infinity)
        for (const table of Array.from(registrations.keys())) unregister(table)
        return drain(cache)
      })
    )
    const sweep = Effect.clockWith((clock) =>
      Effect.suspend(() => {
        registry.purgeExpired(clock.currentTimeMillisUnsafe())
        return drain(cache)
      })
    )
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(sweepMillis)))
    return cache
  })

/**
 * Runs the releases waiting on the cache, each once. A release that fails
 * is logged and does not stop the others.
 *
 * @internal
 */
export const drain = (cache: Cache): Effect.Effect<void> =>
  Effect.uninterruptible(
    Effect.suspend(() =>
      cache.pending.length === 0
        ? Effect.void
        : Effect.forEach(
            cache.pending.splice(0),
            (release) =>
              Effect.catchCause(release, (cause) =>
                Effect.logWarning(`recall: a ${cache.kind} release failed; the other entries are still released`, cause)
              ),
            { discard: true }
          )
    )
  )

/**
 * Queues a release the face asked for (none when it returned `undefined`),
 * to run with the next {@link drain}.
 *
 * @internal
 */
export const queueRelease = (cache: Cache, release: Effect.Effect<void> | undefined): void => {
  if (release !== undefined) cache.pending.push(release)
}

/**
 * Ends a borrow and runs the release it made due, if it was the last one on
 * an instance that left the cache.
 *
 * @internal
 */
export const endHold = (cache: Cache, face: Face<any, any>, hold: Hold): Effect.Effect<void> =>
  Effect.suspend(() => {
    queueRelease(cache, face.unhold(hold))
    return drain(cache)
  })

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/** The table of a function identity in one cache, made on first use. */
const tableOf = (cache: Cache, definition: Definition<any, any>): Table.Table => {
  const id = definition.id()
  const existing = cache.registry.tables.get(id)
  if (existing !== undefined) return existing
  const table = new Table.Table(cache.registry, id, definition.name, definition.limits)
  const leave = definition.face.leave
  if (leave !== undefined) {
    table.onLeave = (entry) => queueRelease(cache, leave(entry.stored))
  }
  cache.registry.tables.set(id, table)
  cache.onTable(table)
  return table
}

/**
 * Releases a cached function's claim on its tables once the function object
 * is garbage collected, so that the tables of functions nobody can call any
 * more leave their caches when they are empty. Weak references: a function
 * that outlives a cache (a module-level function, a layer per test) does not
 * keep that cache's tables alive.
 */
const functionFinalizers = new FinalizationRegistry<WeakRef<Table.Table>>((table) => table.deref()?.release())

/**
 * A cached function's table in each cache it is called with: looked up once
 * per cache (then a WeakMap read), counted in the table's `users`.
 *
 * @internal
 */
export const tablesOfFunction = (definition: Definition<any, any>, owner: object) => {
  const tables = new WeakMap<Cache, Table.Table>()
  return (cache: Cache): Table.Table => {
    let table = tables.get(cache)
    if (table === undefined || table.dropped) {
      table = tableOf(cache, definition)
      table.users++
      tables.set(cache, table)
      functionFinalizers.register(owner, new WeakRef(table))
    }
    // A redefinition (same identity, new limits) takes over the table.
    if (table.limits !== definition.limits) table.limits = definition.limits
    return table
  }
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/** @internal */
export const hashArgs = (definition: Definition<any, any>, args: ReadonlyArray<unknown>): string | Hasher.UnhashableParamError => {
  try {
    return definition.hashKey(args)
  } catch (e) {
    if (e instanceof Hasher.Unhashable) return Hasher.toParamError(e, definition.name, [])
    throw e
  }
}

/** @internal */
export const nowOf = (fiber: Fiber.Fiber<unknown, unknown>): number => fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()

/**
 * Makes its effect as interruptible as the caller was. The miss path runs in
 * one uninterruptible region; every step inside it (a takeover, a recompute
 * after `validate`) is handed the region's own `restore`, since a new mask
 * opened inside an uninterruptible region would restore nothing.
 */
type Restore = <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>

/** Runs `body` in the caller's uninterruptible region if it is in one already, else opens one. */
const withRegion = <A>(outer: Restore | undefined, body: (restore: Restore) => Effect.Effect<A, unknown, unknown>) =>
  outer === undefined ? Effect.uninterruptibleMask(body) : body(outer)

/** One call past the hit check: its arguments, key and borrow. @internal */
interface Call {
  readonly args: ReadonlyArray<unknown>
  readonly key: string
  /** The caller borrows what it gets (ResourceCache's `use`). */
  readonly hold: Hold | undefined
}

/**
 * A call: a hit from the table, or the miss path. The hit is synchronous when
 * there is nothing to replay, release or check.
 *
 * @internal
 */
export const call = <A, S>(
  definition: Definition<A, S>,
  cache: Cache,
  table: Table.Table,
  args: ReadonlyArray<unknown>,
  key: string,
  hold: Hold | undefined,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A, unknown, unknown> => {
  if (cache.passthrough) return passThrough(definition, table, { args, key, hold }, fiber)
  // Nothing is allocated for a hit: the call's record is made on the way to a miss.
  return (
    hit(definition, cache, table, args, key, hold, fiber, undefined, undefined) ??
    resolve(definition, cache, table, { args, key, hold }, undefined)
  )
}

/** The hit path: the caller's value, or `undefined` on a miss. */
const hit = <A, S>(
  definition: Definition<A, S>,
  cache: Cache,
  table: Table.Table,
  args: ReadonlyArray<unknown>,
  key: string,
  hold: Hold | undefined,
  fiber: Fiber.Fiber<unknown, unknown>,
  made: Call | undefined,
  restore: Restore | undefined
): Effect.Effect<A, unknown, unknown> | undefined => {
  // Like Effect's Cache: the clock is read only when entries can expire.
  const now = table.limits.ttlMillis === Infinity ? 0 : nowOf(fiber)
  const entry = table.use(key, now)
  if (entry === undefined) return undefined
  const face = definition.face
  if (face.check !== undefined) return checked(definition, cache, table, made ?? { args, key, hold }, entry, now, restore)
  const value = face.load(entry.stored as S, hold)
  if (value === unusable) {
    // What the table kept can no longer be used: drop it and recompute.
    table.invalidate(key, now)
    return undefined
  }
  table.record("hit")
  const result = served(cache, entry.output, value)
  return now < entry.freshUntil
    ? result
    : Effect.andThen(refreshInBackground(definition, cache, table, made ?? { args, key, hold }, entry, now), result)
}

/** The value, after the recorded output is replayed and pending releases run. */
const served = <A>(cache: Cache, output: ReadonlyArray<unknown> | undefined, value: A): Effect.Effect<A> => {
  const result = output === undefined ? Effect.succeed(value) : Effect.as(Replay.replay(output as ReadonlyArray<Replay.Line>), value)
  return cache.pending.length === 0 ? result : Effect.andThen(drain(cache), result)
}

/**
 * A hit with a `check` (ResourceCache's `validate`): the entry is held while
 * the check runs; false or a failure drops that entry (if it is still the
 * one stored) and recomputes.
 */
const checked = <A, S>(
  definition: Definition<A, S>,
  cache: Cache,
  table: Table.Table,
  call: Call,
  entry: Table.Entry,
  now: number,
  outer: Restore | undefined
): Effect.Effect<A, unknown, unknown> =>
  // The probe's hold is taken and given back inside one uninterruptible
  // region, so no interrupt can leave the instance held forever.
  withRegion(outer, (restore) =>
    Effect.withFiber((fiber) => {
      const validating = fiber.getRef(InsideValidate)
      if (validating.includes(entry)) {
        // validate called its own function with the arguments it checks: each call would check again, forever.
        return Effect.die(
          new Error(
            `validate of ${definition.name} called ${definition.name} with the arguments it is checking; check the instance it is given instead.`
          )
        )
      }
      const face = definition.face
      const probe = face.hold()
      const value = face.load(entry.stored as S, probe)
      if (value === unusable) {
        table.invalidate(call.key, now)
        return Effect.andThen(drain(cache), resolve(definition, cache, table, call, restore))
      }
      const release = endHold(cache, face, probe)
      const passed = Effect.catchCause(
        Effect.suspend(() => {
          const verdict = face.check!(value)
          return Effect.isEffect(verdict)
            ? Effect.provideService(verdict, InsideValidate, [...validating, entry])
            : Effect.die(new TypeError(`validate of ${definition.name} must return an Effect<boolean>`))
        }),
        (cause) => Effect.as(Effect.logDebug(`recall: validate of ${definition.name} failed; recomputing`, cause), false)
      )
      // The probe is given back on every way out; on success only after the
      // caller's value is decided, so the instance cannot be released between.
      return Effect.flatMap(
        Effect.onExit(restore(passed), (exit) => (Exit.isSuccess(exit) ? Effect.void : release)),
        (ok) =>
          Effect.withFiber((fiber) => {
            const current = table.entries.get(call.key) === entry
            if (!ok || !current) {
              // Only the entry that was checked leaves; a newer one stays. One
              // that left while it was checked is not handed out: recompute.
              if (current) table.invalidate(call.key, nowOf(fiber))
              return Effect.andThen(release, resolve(definition, cache, table, call, restore))
            }
            const kept = call.hold === undefined ? value : face.load(entry.stored as S, call.hold)
            if (kept === unusable) return Effect.andThen(release, resolve(definition, cache, table, call, restore))
            table.record("hit")
            const result = Effect.andThen(release, served(cache, entry.output, kept))
            return now < entry.freshUntil ? result : Effect.andThen(refreshInBackground(definition, cache, table, call, entry, now), result)
          })
      )
    })
  )

/**
 * The miss path: share a computation in flight, or start one.
 *
 * Checking for a value, choosing between joining and starting a flight,
 * registering a new flight and settling it form one uninterruptible region;
 * only the body and the wait for someone else's flight are interruptible.
 */
const resolve = <A, S>(
  definition: Definition<A, S>,
  cache: Cache,
  table: Table.Table,
  call: Call,
  outer: Restore | undefined
): Effect.Effect<A, unknown, unknown> =>
  withRegion(outer, (restore) =>
    Effect.withFiber((fiber) => {
      // Another fiber may have stored the value since this caller's hit check.
      const stored = hit(definition, cache, table, call.args, call.key, call.hold, fiber, call, restore)
      if (stored !== undefined) return stored
      const flight = table.flights.get(call.key)
      if (flight !== undefined && fiber.getRef(InsideComputation).includes(flight)) {
        // The body called its own function with its own arguments: it would wait for itself forever.
        return Effect.die(
          new Error(
            `${definition.name} called itself with the same arguments while computing them; ` +
              "that call would wait for its own result forever. Compute the inner value without the cache, or with other arguments."
          )
        )
      }
      const next =
        flight === undefined
          ? run(definition, cache, table, call, restore, "miss", fiber, undefined)
          : join(definition, cache, table, call, flight, restore)
      // Entries the hit check found expired are released before the caller goes on.
      return cache.pending.length === 0 ? next : Effect.andThen(drain(cache), next)
    })
  )

/** Waits for another caller's computation; takes over when it ends without a value. */
const join = <A, S>(
  definition: Definition<A, S>,
  cache: Cache,
  table: Table.Table,
  call: Call,
  flight: Table.Flight,
  restore: Restore
): Effect.Effect<A, unknown, unknown> =>
  Effect.flatMap(restore(Deferred.await(flight.done)), (result) => {
    switch (result._tag) {
      case "Value": {
        const value = definition.face.load(result.stored as S, call.hold)
        if (value === unusable) return resolve(definition, cache, table, call, restore)
        table.record("hit")
        return served(cache, result.output, value)
      }
      case "Fail":
        return Effect.fail(result.error)
      case "Retry":
        // The runner failed or was interrupted: check again, and take over if nobody else has.
        return resolve(definition, cache, table, call, restore)
    }
  })

/** The entries whose `validate` this fiber is running. */
const InsideValidate = Context.Reference<ReadonlyArray<Table.Entry>>("@recall/core/internal/InsideValidate", { defaultValue: () => [] })

/** Marks the fiber as inside a cached body, so reports of nested computations say so. */
const InsideComputation = Context.Reference<ReadonlyArray<Table.Flight>>("@recall/core/internal/InsideComputation", {
  defaultValue: () => []
})

/**
 * The body's Effect for one computation: checked to be an Effect, recording
 * its output, reported and traced.
 */
const bodyOf = <A, S>(
  definition: Definition<A, S>,
  call: Call,
  kind: CacheReporter.Computation["kind"],
  recorder: Replay.Recorder | undefined,
  fiber: Fiber.Fiber<unknown, unknown>,
  /** The flight it computes, so that a call of the same key inside it is caught. */
  flight: Table.Flight
): Effect.Effect<A, unknown, unknown> => {
  const face = definition.face
  let body: Effect.Effect<A, unknown, unknown> = Effect.suspend(() => {
    const effect = definition.compute(...call.args)
    return Effect.isEffect(effect) ? effect : Effect.die(notAnEffect(face.kind, definition.name, effect))
  })
  if (recorder !== undefined) body = Replay.recording(body, recorder, fiber)
  let summary: string | undefined
  const computation: CacheReporter.Computation = {
    function: definition.name,
    cache: face.kind,
    get arguments() {
      summary ??= Summary.summarize(call.args, definition.parameters)
      return summary
    },
    kind,
    spinner: definition.spinner,
    showTime: definition.showTime,
    nested: fiber.getRef(InsideComputation).length > 0
  }
  const reporter = fiber.getRef(CacheReporter.CacheReporter)
  const clock = fiber.getRef(Clock.Clock)
  return Effect.acquireUseRelease(
    Effect.as(reporter.started(computation), clock.currentTimeMillisUnsafe()),
    () => Effect.provideService(body, InsideComputation, [...fiber.getRef(InsideComputation), flight]),
    (startedAt, exit) =>
      reporter.ended(
        computation,
        Exit.isSuccess(exit) ? "success" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failure",
        clock.currentTimeMillisUnsafe() - startedAt
      )
  ).pipe(Effect.withSpan(`recall.${face.kind}.compute`, { attributes: { "recall.function": definition.name, "recall.kind": kind } }))
}

/**
 * Runs the body as the key's only flight. Called inside an uninterruptible
 * region (`resolve`'s, or a background refresh's); `restore` makes the body
 * interruptible.
 */
const run = <A, S>(
  definition: Definition<A, S>,
  cache: Cache,
  table: Table.Table,
  call: Call,
  restore: Restore,
  kind: CacheReporter.Computation["kind"],
  fiber: Fiber.Fiber<unknown, unknown>,
  refreshing: Table.Entry | undefined
): Effect.Effect<A, unknown, unknown> => {
  const face = definition.face
  const flight: Table.Flight = { done: Deferred.makeUnsafe(), stale: false }
  table.flights.set(call.key, flight)
  table.record("miss")
  // Idempotent, and also run by `ensuring`: whatever happens (a defect in
  // `cacheIf`, an interrupt), the waiters are released and the flight removed.
  const settle = (result: Table.FlightResult) => {
    if (table.flights.get(call.key) === flight) {
      table.flights.delete(call.key)
      table.dropIfUnused()
    }
    Deferred.doneUnsafe(flight.done, Exit.succeed(result))
  }
  const scope = face.scoped ? Scope.makeUnsafe() : undefined
  const recorder = definition.replay ? new Replay.Recorder() : undefined
  let body = bodyOf(definition, call, kind, recorder, fiber, flight)
  if (scope !== undefined) body = Scope.provide(body, scope) as typeof body
  const keep = (value: A, now: number): Effect.Effect<A, unknown> => {
    const kept = face.keep(value, scope, call.hold)
    if (kept._tag === "Rejected") {
      settle({ _tag: "Fail", error: kept.error })
      return Effect.fail(kept.error)
    }
    const output = recorder === undefined || recorder.lines.length === 0 ? undefined : recorder.lines
    const stored =
      !flight.stale &&
      // A refresh replaces the entry it refreshes, not one that took its place, nor an evicted one.
      (refreshing === undefined || table.entries.get(call.key) === refreshing) &&
      !cache.closed &&
      (definition.cacheIf === undefined || definition.cacheIf(value)) &&
      table.store(call.key, kept.stored, output, kept.bytes + (recorder?.bytes ?? 0), now)
    if (!stored) {
      // Computed but not kept: it leaves at once (a resource is released once unborrowed).
      queueRelease(cache, face.leave?.(kept.stored))
    }
    settle({ _tag: "Value", stored: kept.stored, output })
    return Effect.succeed(kept.value)
  }
  return Effect.exit(restore(body)).pipe(
    Effect.flatMap((exit): Effect.Effect<A, unknown> => {
      if (recorder !== undefined) recorder.closed = true
      if (Exit.isSuccess(exit)) return Effect.clockWith((clock) => keep(exit.value, clock.currentTimeMillisUnsafe()))
      // What the body acquired before it failed or was interrupted is released now.
      return scope === undefined ? exit : Effect.andThen(closeScope(cache, scope, exit), exit)
    }),
    Effect.ensuring(
      Effect.suspend(() => {
        settle({ _tag: "Retry" })
        return drain(cache)
      })
    )
  )
}

/**
 * Closes a computation's or an entry's scope; a release that fails is logged.
 *
 * @internal
 */
export const closeScope = (cache: Cache, scope: Scope.Closeable, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Effect.catchCause(Scope.close(scope, exit), (cause) =>
    Effect.logWarning(`recall: a ${cache.kind} release failed; the other entries are still released`, cause)
  )

/**
 * Starts one background refresh of a stale entry, unless one runs, the
 * backoff after a failed refresh has not passed, or the cache closed. The
 * refresh runs in the layer's scope with the caller's services; nobody waits
 * for it. Its result is stored unless the entry was cleared meanwhile; a
 * failure keeps the stale value and doubles the wait before the next try.
 */
const refreshInBackground = <A, S>(
  definition: Definition<A, S>,
  cache: Cache,
  table: Table.Table,
  call: Call,
  entry: Table.Entry,
  now: number
): Effect.Effect<void, never, unknown> => {
  if (now < entry.refreshAfter || table.flights.has(call.key) || cache.closed) return Effect.void
  // Until this refresh ends, no other starts for this entry (and if the layer
  // closes before it starts, the entry simply expires at the window's end).
  entry.refreshAfter = Infinity
  const refresh = Effect.uninterruptibleMask((restore) =>
    Effect.withFiber((fiber) => {
      if (table.entries.get(call.key) !== entry || table.flights.has(call.key)) return Effect.void
      return run(definition, cache, table, { ...call, hold: undefined }, restore, "refresh", fiber, entry).pipe(
        Effect.matchCauseEffect({
          // Stored, or not (cleared meanwhile, `cacheIf`): a later stale hit may try again.
          onSuccess: () => Effect.sync(() => (entry.refreshAfter = nowOf(fiber))),
          onFailure: () =>
            Effect.sync(() => {
              entry.refreshFailures++
              const backoff = Math.min(1000 * 2 ** (entry.refreshFailures - 1), Math.max(table.limits.staleMillis, 1))
              entry.refreshAfter = nowOf(fiber) + backoff
            })
        })
      )
    })
  )
  return Effect.asVoid(Effect.forkIn(refresh, cache.scope))
}

/** Stands for a computation under passthrough, which has no flight: it marks nesting and matches no key. */
const uncached: Table.Flight = { done: Deferred.makeUnsafe(), stale: true }

/**
 * A call under `DataCache.layerPassthrough`: the body runs, its value goes
 * through the face, nothing is kept.
 */
const passThrough = <A, S>(
  definition: Definition<A, S>,
  table: Table.Table,
  call: Call,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A, unknown, unknown> => {
  table.record("miss")
  return Effect.flatMap(bodyOf(definition, call, "miss", undefined, fiber, uncached), (value) => {
    const kept = definition.face.keep(value, undefined, undefined)
    return kept._tag === "Rejected" ? Effect.fail(kept.error) : Effect.succeed(kept.value)
  })
}

const notAnEffect = (kind: Kind, name: string, value: unknown): InvalidOptionsError =>
  new InvalidOptionsError({
    functionName: name,
    option: "body",
    reason:
      `the body returned ${Hasher.describeType(value)}, not an Effect. ` +
      `Return an Effect (a promise through Effect.promise or Effect.tryPromise), or pass a generator function itself as the body: ` +
      `${kind}.fn("${name}", function* (...) { ... }) runs it as Effect.fn("${name}") would.`
  })
