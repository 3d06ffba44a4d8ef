/**
 * One computation of a key: the flight that callers wait for, and the body
 * that settles it.
 *
 * **A computation belongs to the cache**, not to the caller that started it.
 * It runs in a fiber of the layer's scope, with the starting caller's
 * services; interrupting any caller, the starter included, only stops that
 * caller's wait. The computation runs to its end and its value is stored
 * unless a clear or invalidate superseded it, `cacheIf` said no, a byte
 * budget refused it, or the layer closed (which interrupts it). So requests
 * that time out still fill the cache.
 *
 * Each computation runs in a `Scope` of its own: a ResourceCache keeps it
 * with the instance and closes it when the instance is released; for a
 * DataCache it closes as soon as the value is kept (what the body acquired
 * is released then).
 *
 * A flight is registered, forked and settled without any interruptible step
 * in between: its fiber starts at once, uninterruptibly, and a backstop on
 * the fiber's exit settles it whatever happens. No interrupt can leave a key
 * whose callers wait forever.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { InvalidOptionsError } from "../CachedFunction.ts"
import * as CacheReporter from "../CacheReporter.ts"
import * as Hasher from "../Hasher.ts"
import * as Cache from "./cache.ts"
import type { Hold, Kind } from "./face.ts"
import * as Replay from "./replay.ts"
import type { Slot } from "./slot.ts"
import * as StoreTier from "./storeTier.ts"
import * as Summary from "./summary.ts"
import type * as Table from "./table.ts"

/**
 * One call past the hit check: its arguments, key and borrow. It holds the
 * cached function object, so that a function garbage-collected during its own
 * call cannot drop the table its value goes to.
 *
 * @internal
 */
export interface Call {
  readonly args: ReadonlyArray<unknown>
  readonly key: string
  /** The caller borrows what it gets (ResourceCache's `use`). */
  readonly hold: Hold | undefined
  readonly owner: object
}

/**
 * The computation the fiber is running, if any: set in a computation's
 * fiber and inherited by the fibers it forks. Reports say `nested`, and
 * waits look for cycles from it.
 *
 * @internal
 */
export const CurrentComputation = Context.Reference<Table.Flight | undefined>("@recall/core/internal/CurrentComputation", {
  defaultValue: () => undefined
})

/** What happens once a computation ended (a refresh keeps its backoff here). */
export type OnEnd = (outcome: "stored" | "unstored" | "failed", now: number) => void

/**
 * Registers a flight for `call.key` and starts its computation in the
 * layer's scope. Must run where nothing can interrupt between the two (the
 * caller's uninterruptible region): the flight is in the table once this
 * returns, and its fiber is running.
 *
 * @internal
 */
export const start = <A, S>(
  slot: Slot<A, S>,
  call: Call,
  starter: object | undefined,
  kind: CacheReporter.Computation["kind"],
  fiber: Fiber.Fiber<unknown, unknown>,
  refreshing: Table.Entry | undefined,
  onEnd: OnEnd | undefined
): Effect.Effect<Table.Flight, never, unknown> => {
  const flight = register(slot, call, starter)
  return Effect.as(fork(slot, call, flight, kind, fiber, refreshing, onEnd, undefined), flight)
}

/** A flight for `call.key`, in the table: callers that come from now on wait for it. */
const register = (slot: Slot<any, any>, call: Call, starter: object | undefined): Table.Flight => {
  const flight: Table.Flight = {
    key: call.key,
    done: Deferred.makeUnsafe(),
    starter,
    superseded: false,
    fiberId: undefined,
    waitingOn: undefined,
    forkedWaits: undefined,
    waiters: 0,
    starterWaits: false,
    unstored: undefined,
    settled: false
  }
  slot.table.flights.set(call.key, flight)
  // Over a store, a miss is counted once the store missed too (the body runs).
  if (slot.place === undefined) slot.table.record("miss")
  return flight
}

/** Starts the computation of a registered flight in the layer's scope (`read`: what a read before it found, if one ran). */
const fork = <A, S>(
  slot: Slot<A, S>,
  call: Call,
  flight: Table.Flight,
  kind: CacheReporter.Computation["kind"],
  fiber: Fiber.Fiber<unknown, unknown>,
  refreshing: Table.Entry | undefined,
  onEnd: OnEnd | undefined,
  read: ReadBefore | undefined
): Effect.Effect<void, never, unknown> =>
  Effect.flatMap(
    Effect.forkIn(compute(slot, call, flight, kind, fiber, refreshing, onEnd, read), slot.cache.scope, {
      startImmediately: true,
      uninterruptible: true
    }),
    // The backstop: a fiber interrupted before its first step settles nothing itself.
    (computation) => Effect.sync(() => computation.addObserver(() => settle(slot, flight, RETRY)))
  )

/** What the starting caller's own read of the store found before the computation began: nothing, or a store that failed. */
type ReadBefore = "missed" | "failed"

/**
 * What {@link startReading} gives its caller: the value read from the
 * store (with the output to replay), or the flight to wait for.
 *
 * @internal
 */
export type Reading<A> =
  | {
      readonly _tag: "Read"
      readonly value: A
      readonly output: ReadonlyArray<Replay.Line> | undefined
      readonly times: Table.Times
    }
  | { readonly _tag: "Wait"; readonly flight: Table.Flight }

/**
 * A miss over a store, whose starting caller reads the store itself: a
 * value that is there costs one store read, and no fiber. The flight is
 * registered first, so callers that come meanwhile wait for it. A read that
 * missed, or a store that failed, hands the flight to a computation of the
 * layer's scope (which does not read again); so does an interrupt of the
 * reader (that computation reads again): as everywhere, an interrupted
 * caller only stops waiting. Must run in the caller's uninterruptible
 * region; `restore` makes the read as interruptible as the caller was.
 *
 * @internal
 */
export const startReading = <A, S>(
  slot: Slot<A, S>,
  place: StoreTier.Place<A, S>,
  name: string,
  call: Call,
  fiber: Fiber.Fiber<unknown, unknown>,
  restore: <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>
): Effect.Effect<Reading<A>, unknown, unknown> => {
  const flight = register(slot, call, call)
  const handOver = (read: ReadBefore | undefined) => fork(slot, call, flight, "miss", fiber, undefined, undefined, read)
  return Effect.matchCauseEffect(restore(StoreTier.read(place, name)), {
    onFailure: (cause) => {
      // Interrupted: the computation goes on for whoever waits, and fills the cache.
      if (Cause.hasInterruptsOnly(cause)) return Effect.andThen(handOver(undefined), Effect.failCause(cause))
      settleFailed(slot, flight, cause, ignoreEnd)
      return Effect.failCause(cause)
    },
    onSuccess: (found): Effect.Effect<Reading<A>, unknown, unknown> => {
      if (found === undefined || found === StoreTier.failed) {
        return Effect.as(handOver(found === undefined ? "missed" : "failed"), { _tag: "Wait", flight } as const)
      }
      try {
        const clock = fiber.getRef(Clock.Clock)
        Cache.useClock(slot.cache, clock)
        const mayKeep = () => keepable(slot, call, flight, undefined)
        const value = settleRead(slot, call, flight, found, clock.currentTimeMillisUnsafe(), mayKeep, ignoreEnd)
        return Effect.succeed({ _tag: "Read", value, output: found.output, times: found.times } as const)
      } catch (e) {
        settleFailed(slot, flight, Cause.die(e), ignoreEnd)
        return Effect.die(e)
      }
    }
  })
}

const ignoreEnd = (): void => {}

/**
 * Whether a value of this flight's key may still be kept: not after a clear
 * or invalidate, nor once the layer closes; a refresh replaces the entry it
 * refreshes, or that entry once it expired, never a newer one nor an evicted
 * one.
 */
const keepable = (slot: Slot<any, any>, call: Call, flight: Table.Flight, refreshing: Table.Entry | undefined): boolean => {
  if (flight.superseded || Cache.closing(slot.cache)) return false
  const current = slot.table.entries.get(call.key)
  return refreshing === undefined || current === refreshing || (current === undefined && refreshing.departed === "expiration")
}

/**
 * Settles a flight with a value read from the store, and gives its reader's
 * value: the front tier keeps a copy of it (its times are the entry's own).
 * A value too large for the front tier, read for its starter alone (no other
 * caller waits), is handed over without a copy.
 */
const settleRead = <A, S>(
  slot: Slot<A, S>,
  call: Call,
  flight: Table.Flight,
  found: StoreTier.Found<A, S>,
  now: number,
  mayKeep: () => boolean,
  end: (outcome: "stored" | "unstored") => void
): A => {
  const table = slot.table
  table.record("storeHit")
  const others = flight.waiters - (flight.starterWaits ? 1 : 0)
  if (found.payloadBytes > Math.min(table.limits.maxBytes, table.registry.maxBytes) && others === 0) {
    settle(slot, flight, {
      _tag: "Value",
      stored: undefined,
      output: found.output,
      value: found.value,
      fromStore: true,
      times: found.times
    })
    end("unstored")
    return found.value
  }
  const kept = found.keep()
  const stored = mayKeep() && table.store(call.key, kept.stored, found.output, kept.bytes, found.times, now)
  if (!stored) flight.unstored = { stored: kept.stored }
  settle(slot, flight, { _tag: "Value", stored: kept.stored, output: found.output, value: kept.value, fromStore: true, times: found.times })
  end(stored ? "stored" : "unstored")
  return kept.value
}

const RETRY: Table.FlightResult = { _tag: "Retry" }

/** Ends a flight once: out of the table, and its waiters woken. Later calls do nothing. */
const settle = (slot: Slot<any, any>, flight: Table.Flight, result: Table.FlightResult): void => {
  if (flight.settled) return
  flight.settled = true
  slot.table.endFlight(flight)
  Deferred.doneUnsafe(flight.done, Exit.succeed(result))
  if (flight.waiters === 0) releaseUnstored(slot, flight)
}

/**
 * A caller stops waiting for a flight (it has its result, or was
 * interrupted): the last one out releases a value that was never stored.
 *
 * @internal
 */
export const leaveFlight = (slot: Slot<any, any>, flight: Table.Flight): void => {
  flight.waiters--
  if (flight.settled && flight.waiters === 0) releaseUnstored(slot, flight)
}

const releaseUnstored = (slot: Slot<any, any>, flight: Table.Flight): void => {
  const unstored = flight.unstored
  if (unstored === undefined) return
  flight.unstored = undefined
  Cache.queueRelease(slot.cache, slot.definition.face.lifecycle?.leave(unstored.stored))
}

/**
 * The computation's fiber: over a store, the store first (and its lock);
 * then the body, keeping its value (in both tiers) and settling the flight.
 */
const compute = <A, S>(
  slot: Slot<A, S>,
  call: Call,
  flight: Table.Flight,
  kind: CacheReporter.Computation["kind"],
  parent: Fiber.Fiber<unknown, unknown>,
  refreshing: Table.Entry | undefined,
  onEnd: OnEnd | undefined,
  readBefore: ReadBefore | undefined
): Effect.Effect<void, never, unknown> =>
  Effect.withFiber((self) => {
    flight.fiberId = self.id
    const cache = slot.cache
    const place = slot.place
    const clock = self.getRef(Clock.Clock)
    Cache.useClock(cache, clock)
    const end = (outcome: "stored" | "unstored" | "failed") => onEnd?.(outcome, clock.currentTimeMillisUnsafe())
    const mayKeep = () => keepable(slot, call, flight, refreshing)
    const name = place === undefined ? undefined : StoreTier.entryNameOf(place, call.args)
    if (place === undefined || name === undefined) return run(slot, call, flight, kind, parent, end, mayKeep, undefined, undefined)
    const fromStore = (found: StoreTier.Found<A, S>): Effect.Effect<void> =>
      Effect.sync(() => {
        settleRead(slot, call, flight, found, clock.currentTimeMillisUnsafe(), mayKeep, end)
      })
    return Effect.gen(function* () {
      const found =
        readBefore === undefined
          ? yield* Effect.interruptible(StoreTier.read(place, name))
          : readBefore === "failed"
            ? StoreTier.failed
            : undefined
      // A refresh takes only what another process wrote since the entry it refreshes.
      if (found !== undefined && found !== StoreTier.failed && (refreshing === undefined || found.times.storedAt > refreshing.storedAt)) {
        return yield* fromStore(found)
      }
      // A store that could not be read is not asked for its lock either: this process computes on its own.
      const turn =
        refreshing === undefined && found !== StoreTier.failed ? yield* Effect.interruptible(StoreTier.turn(place, name)) : undefined
      if (turn?._tag === "Found") return yield* fromStore(turn.found)
      const held = turn?.held
      // A store that could not be read is not asked for the generation either (each wait could be a storeTimeout),
      // and is not written: without the generation, a write could land after a clear in another process.
      if (found === StoreTier.failed && place.tier.store.generations !== undefined) {
        return yield* run(slot, call, flight, kind, parent, end, mayKeep, undefined, held)
      }
      // Read before the body runs: a delete or clear in any process from now on makes its write a no-op.
      const generation = yield* Effect.interruptible(StoreTier.generationOf(place)).pipe(
        Effect.onInterrupt(() => held?.release ?? Effect.void)
      )
      if (generation === StoreTier.failed) return yield* run(slot, call, flight, kind, parent, end, mayKeep, undefined, held)
      return yield* run(slot, call, flight, kind, parent, end, mayKeep, { place, name, generation }, held)
    }).pipe(
      // Interrupted while it read the store (the layer closes), or a defect there.
      Effect.catchCause((cause) => Effect.sync(() => settleFailed(slot, flight, cause, end))),
      Effect.ensuring(backstop(slot, flight, Effect.void))
    )
  })

/**
 * Settles a computation that ended without a value: interrupted because the
 * layer closes, nothing to hand out (the waiters check again, and meet the
 * closed layer); otherwise (a body that failed, died or interrupted itself)
 * every waiter gets the cause.
 */
const settleFailed = (slot: Slot<any, any>, flight: Table.Flight, cause: Cause.Cause<unknown>, end: (outcome: "failed") => void): void => {
  settle(slot, flight, Cause.hasInterruptsOnly(cause) && Cache.closing(slot.cache) ? RETRY : { _tag: "Failed", cause })
  end("failed")
}

/** The last step of a computation's fiber, whatever happened: the flight is settled, `after` runs, releases start. */
const backstop = (slot: Slot<any, any>, flight: Table.Flight, after: Effect.Effect<void>): Effect.Effect<void> =>
  Effect.suspend(() => {
    settle(slot, flight, RETRY)
    return Effect.andThen(after, Cache.drainInBackground(slot.cache))
  })

/**
 * Whether the arguments' key is not the one the call was made with: an
 * argument object changed while the body ran (by a caller that stopped
 * waiting, another fiber, or the body itself). The body then saw other
 * arguments than its key says, so its value is not kept under that key.
 * Arguments that no longer hash count as changed.
 */
const argumentsChanged = (slot: Slot<any, any>, call: Call): boolean => {
  if (call.args.length === 0) return false
  try {
    return slot.definition.hashKey(call.args) !== call.key
  } catch {
    return true
  }
}

/** The functions (per layer) warned that their arguments changed during a computation: once each. */
const warnedArguments = new WeakSet<Slot<any, any>>()

const warnArgumentsChanged = (slot: Slot<any, any>): Effect.Effect<void> => {
  if (warnedArguments.has(slot)) return Effect.void
  warnedArguments.add(slot)
  return Replay.outside(
    Effect.logWarning(
      `recall: the arguments of ${slot.definition.name} changed while it computed (an object passed to it was changed ` +
        "by a caller that stopped waiting, by another fiber, or by the body itself, as an in-place sort does). " +
        "Its value went to the call that started it and is not cached; other callers waiting for it compute again. " +
        (slot.definition.face.lifecycle === undefined
          ? ""
          : "As any instance that is not cached, it is released once the callers waiting have it (hold it with `use`). ") +
        "Leave arguments unchanged while a call runs: pass a copy (or, in the body, change a copy)."
    )
  )
}

/** From this size (the front tier's estimate) a value's entry is encoded after its callers have it. */
const DEFERRED_ENCODING_BYTES = 1 << 20

/** The body, then keeping its value and settling the flight; over a store, writing it there and releasing the lock. */
const run = <A, S>(
  slot: Slot<A, S>,
  call: Call,
  flight: Table.Flight,
  kind: CacheReporter.Computation["kind"],
  parent: Fiber.Fiber<unknown, unknown>,
  end: (outcome: "stored" | "unstored" | "failed") => void,
  mayKeep: () => boolean,
  persisted: { readonly place: StoreTier.Place<A, S>; readonly name: string; readonly generation: string | undefined } | undefined,
  held: StoreTier.Held | undefined
): Effect.Effect<void, never, unknown> =>
  Effect.withFiber((self) => {
    const { cache, definition, table } = slot
    const face = definition.face
    const scope = Scope.makeUnsafe()
    // Over a store an entry too large for the front tier is still kept (in the store): only memory's budgets bound it.
    const recorder =
      (definition.replay ?? cache.replay)
        ? new Replay.Recorder(slot.place === undefined ? Math.min(table.limits.maxBytes, table.registry.maxBytes) : Infinity)
        : undefined
    const clock = self.getRef(Clock.Clock)
    // Over a store the miss was not counted when the flight started: the body runs now.
    if (slot.place !== undefined) table.record("miss")
    // The lock goes back once the value is written (or at once when nothing is).
    let release = held?.release ?? Effect.void
    const body = Scope.provide(bodyOf(slot, call, kind, recorder, parent, flight), scope)
    // A DataCache computation's scope ends with it; a resource's lives with the instance.
    const done = (): Effect.Effect<void> => (face.lifecycle === undefined ? Cache.closeScope(cache, scope, Exit.void) : Effect.void)
    const keep = (value: A): Effect.Effect<void> => {
      // The layer closed while the body ran on past its interrupt (an uninterruptible acquire, say): nothing is handed
      // out, as to the callers of a computation the close interrupted (they meet the closed layer), and what the body
      // acquired is released now. Handed out, a resource would be one its release had already closed.
      if (Cache.closing(cache)) {
        settle(slot, flight, RETRY)
        end("unstored")
        return Cache.closeScope(cache, scope, Exit.void)
      }
      const kept = face.keep(value, scope, flight.starter === undefined ? undefined : call.hold)
      if (kept._tag === "Rejected") {
        if (held !== undefined) release = held.releaseFailed
        settle(slot, flight, { _tag: "Failed", cause: Cause.fail(kept.error) })
        end("failed")
        return done()
      }
      const output = recorder === undefined || recorder.lines.length === 0 ? undefined : recorder.lines
      let keepIt: boolean
      try {
        // Called bare: `this` in a cacheIf is undefined, never the definition.
        const { cacheIf } = definition
        keepIt = cacheIf === undefined || cacheIf(value)
      } catch (e) {
        // A defect in cacheIf: nothing is stored, and every waiter gets the defect.
        flight.unstored = { stored: kept.stored }
        settle(slot, flight, { _tag: "Failed", cause: Cause.die(e) })
        end("failed")
        return done()
      }
      const changed = argumentsChanged(slot, call)
      const now = clock.currentTimeMillisUnsafe()
      const times = table.timesAt(now)
      const keepable = keepIt && !changed && mayKeep()
      const stored = keepable && table.store(call.key, kept.stored, output, kept.bytes + (recorder?.bytes ?? 0), times, now)
      // Computed but not kept: it leaves once the callers waiting now have it (a resource is released once unborrowed).
      if (!stored) flight.unstored = { stored: kept.stored }
      const settled = (): Effect.Effect<void> => {
        settle(slot, flight, {
          _tag: "Value",
          stored: kept.stored,
          output,
          value: kept.value,
          fromStore: false,
          argumentsChanged: changed ? true : undefined
        })
        end(stored ? "stored" : "unstored")
        return changed ? Effect.andThen(warnArgumentsChanged(slot), done()) : done()
      }
      // The store keeps what the front tier may be too small for (a value over the front's byte budget).
      if (persisted === undefined || !keepable) return settled()
      const after = release
      release = Effect.void
      // Only the entry this computation stored leaves: a newer one (or none) stays as it is.
      const superseded = () => {
        if (table.entries.get(call.key)?.stored === kept.stored) table.invalidate(call.key, clock.currentTimeMillisUnsafe())
      }
      // The write is registered before the callers have the value, so that an invalidate or clear they
      // make next waits for it (and deletes after it) rather than letting it land afterwards. A large
      // value's encoding waits until they have it (it takes a while); a small one's runs first.
      return Effect.andThen(
        StoreTier.writeInBackground(
          persisted.place,
          persisted.name,
          kept.stored,
          output,
          times,
          after,
          persisted.generation,
          superseded,
          // Not when the callers hold the very instance kept (`copy: "readonly"`): its entry is encoded before they have it.
          kept.bytes >= DEFERRED_ENCODING_BYTES && (kept.value as unknown) !== kept.stored,
          held?.renew
        ),
        Effect.suspend(settled)
      )
    }
    return Effect.exit(Effect.interruptible(body)).pipe(
      Effect.flatMap((exit): Effect.Effect<void> => {
        if (recorder !== undefined) recorder.closed = true
        if (Exit.isSuccess(exit)) return keep(exit.value)
        // Failed or died (not interrupted by the layer's close): the processes waiting for the lock hear so, and
        // compute at once rather than queue for it (a failure is no value they could read).
        if (held !== undefined && !Cause.hasInterruptsOnly(exit.cause)) release = held.releaseFailed
        settleFailed(slot, flight, exit.cause, end)
        // What the body acquired before it failed or was interrupted is released now.
        return Cache.closeScope(cache, scope, exit)
      }),
      // `release` is read when the fiber ends: the lock, unless a write took it over.
      Effect.ensuring(Effect.suspend(() => backstop(slot, flight, release)))
    )
  })

/**
 * The body's Effect for one computation: checked to be an Effect, recording
 * its output, reported and traced.
 *
 * @internal
 */
export const bodyOf = <A, S>(
  slot: Slot<A, S>,
  call: Call,
  kind: CacheReporter.Computation["kind"],
  recorder: Replay.Recorder | undefined,
  fiber: Fiber.Fiber<unknown, unknown>,
  flight: Table.Flight
): Effect.Effect<A, unknown, unknown> => {
  const definition = slot.definition
  let body: Effect.Effect<A, unknown, unknown> = Effect.suspend(() => {
    const effect = definition.compute(...call.args)
    return Effect.isEffect(effect) ? effect : Effect.die(notAnEffect(definition.face.kind, definition.name, effect))
  })
  if (recorder !== undefined) body = Replay.recording(body, recorder)
  let summary: string | undefined
  const computation: CacheReporter.Computation = {
    function: definition.name,
    cache: definition.face.kind,
    get arguments() {
      summary ??= Summary.summarize(call.args, definition.parameters)
      return summary
    },
    kind,
    spinner: call.args.length === 0 ? definition.spinnerWithoutArguments : definition.spinner,
    showTime: definition.showTime,
    nested: fiber.getRef(CurrentComputation) !== undefined
  }
  const reporter = fiber.getRef(CacheReporter.CacheReporter)
  const clock = fiber.getRef(Clock.Clock)
  // The reporter speaks for the cache, not the body: a computation nested in
  // another body reports outside that body's recording, or the outer entry
  // would replay the inner computation's "computing ..." lines on every hit.
  return Effect.acquireUseRelease(
    Effect.as(Replay.outside(reporter.started(computation)), clock.currentTimeMillisUnsafe()),
    () => Effect.provideService(body, CurrentComputation, flight),
    (startedAt, exit) =>
      Replay.outside(
        reporter.ended(
          computation,
          Exit.isSuccess(exit) ? "success" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failure",
          clock.currentTimeMillisUnsafe() - startedAt
        )
      )
  ).pipe(
    Effect.withSpan(`recall.${definition.face.kind}.compute`, { attributes: { "recall.function": definition.name, "recall.kind": kind } })
  )
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
