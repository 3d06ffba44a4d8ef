/**
 * The paths of one call: a hit from the table, a hit checked by `validate`,
 * and the miss path (join a computation in flight, or start one). Calls
 * under `DataCache.layerPassthrough` run their body and keep nothing.
 *
 * **Invariants**
 *
 * - A hit is synchronous unless there is output to replay, a release to
 *   start or a `validate` to call; it allocates nothing before the table is
 *   read.
 * - The miss path is one uninterruptible region: checking for a value,
 *   choosing between joining and starting a flight, and registering and
 *   starting a computation cannot be separated by an interrupt. Only waits
 *   are interruptible: for a computation, for `validate`, for a release.
 * - A computation's own fiber never waits for itself: a wait that would close
 *   a cycle (a body calling itself with its own arguments, two bodies waiting
 *   for each other) dies with a message instead. A cycle through a fiber a
 *   body forked is logged once per function, and waits: it hangs only if the
 *   body waits for that fiber, which no fiber shows.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { CacheClosedError, CycleError } from "../CachedFunction.ts"
import * as Hasher from "../Hasher.ts"
import * as Cache from "./cache.ts"
import * as Computation from "./computation.ts"
import { type Hold, unusable } from "./face.ts"
import * as Refresh from "./refresh.ts"
import * as Replay from "./replay.ts"
import { type Slot, warnOnce } from "./slot.ts"
import * as StoreTier from "./storeTier.ts"
import type * as Table from "./table.ts"
import * as Xxh3 from "./xxh3.ts"

/**
 * The arguments' in-memory key, or the typed error that they cannot be
 * hashed.
 *
 * @internal
 */
export const hashArgs = (slotName: string, hashKey: (args: ReadonlyArray<unknown>) => string, args: ReadonlyArray<unknown>) => {
  try {
    return hashKey(args)
  } catch (e) {
    if (e instanceof Hasher.Unhashable) return Hasher.toParamError(e, slotName, [])
    // A key that needs a digest before the hasher loaded (or where it cannot load).
    if (e instanceof Xxh3.NotLoaded) return e
    throw e
  }
}

/**
 * Loads what a key needed (the WebAssembly hasher), then runs `again` once.
 * Where it cannot load (a page whose CSP refuses WebAssembly, Node
 * `--jitless`) the call dies with `WebAssemblyUnavailableError`, which says
 * how to fix it: an environment without a hasher is no error of the call's
 * arguments. Small keys never get here: they need no digest. `retried`: this
 * is the second time, after a load that succeeded (then it is a bug: die).
 *
 * @internal
 */
export const loadThen = <A>(
  missing: Xxh3.NotLoaded,
  retried: boolean,
  again: () => Effect.Effect<A, unknown, unknown>
): Effect.Effect<A, unknown, unknown> => (retried ? Effect.die(missing) : Effect.andThen(Effect.orDie(missing.load), Effect.suspend(again)))

/**
 * The clock's time, from the fiber's own Clock; the cache remembers that
 * clock for its sweep.
 *
 * @internal
 */
export const nowOf = (fiber: Fiber.Fiber<unknown, unknown>, cache: Cache.Cache): number => {
  const clock = fiber.getRef(Clock.Clock)
  Cache.useClock(cache, clock)
  return clock.currentTimeMillisUnsafe()
}

/** Makes its effect as interruptible as the caller was, inside the miss path's one uninterruptible region. */
type Restore = <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>

/** Runs `body` in the caller's uninterruptible region if it is in one already, else opens one. */
const withRegion = <A>(outer: Restore | undefined, body: (restore: Restore) => Effect.Effect<A, unknown, unknown>) =>
  outer === undefined ? Effect.uninterruptibleMask(body) : body(outer)

/** What a call (or `has`, `invalidate`, `clear`) through a closed layer gets. @internal */
export const closed = (slot: Slot<any, any>) =>
  Effect.die(new CacheClosedError({ functionName: slot.definition.name, cache: slot.cache.kind }))

/**
 * A call: a hit from the table, or the miss path.
 *
 * @internal
 */
export const call = <A, S>(
  slot: Slot<A, S>,
  args: ReadonlyArray<unknown>,
  key: string,
  hold: Hold | undefined,
  fiber: Fiber.Fiber<unknown, unknown>,
  owner: object
): Effect.Effect<A, unknown, unknown> => {
  const cache = slot.cache
  // A hit through a layer whose scope is closing is harmless; the miss path checks that too (`resolve`).
  if (cache.closed) return closed(slot)
  if (slot.warning !== undefined) return Effect.andThen(warnOnce(slot), call(slot, args, key, hold, fiber, owner))
  if (cache.passthrough) return passThrough(slot, { args, key, hold, owner }, fiber)
  // Nothing is allocated for a hit: the call's record is made on the way to a miss.
  return hit(slot, args, key, hold, fiber, undefined, undefined, owner) ?? resolve(slot, { args, key, hold, owner }, undefined)
}

/** The hit path: the caller's value, or `undefined` on a miss. */
const hit = <A, S>(
  slot: Slot<A, S>,
  args: ReadonlyArray<unknown>,
  key: string,
  hold: Hold | undefined,
  fiber: Fiber.Fiber<unknown, unknown>,
  made: Computation.Call | undefined,
  restore: Restore | undefined,
  owner: object
): Effect.Effect<A, unknown, unknown> | undefined => {
  const table = slot.table
  // Like Effect's Cache: the clock is read only when entries can expire.
  const now = table.expiring ? nowOf(fiber, slot.cache) : 0
  const entry = table.use(key, now)
  if (entry === undefined) return undefined
  const face = slot.definition.face
  if (face.lifecycle?.check !== undefined) return checked(slot, made ?? { args, key, hold, owner }, entry, now, restore)
  const value = face.load(entry.stored as S, hold)
  if (value === unusable) {
    // What the table kept can no longer be used: drop it and recompute.
    table.invalidate(key, now)
    return undefined
  }
  table.record("hit")
  const result = served(slot.cache, entry.output, value)
  return now < entry.freshUntil
    ? result
    : Effect.tap(result, () => Refresh.inBackground(slot, made ?? { args, key, hold, owner }, entry, now))
}

/** The value, after the recorded output is replayed; releases that fell due meanwhile start in the background. */
const served = <A>(cache: Cache.Cache, output: ReadonlyArray<unknown> | undefined, value: A): Effect.Effect<A> => {
  const result = output === undefined ? Effect.succeed(value) : Effect.as(Replay.replay(output as ReadonlyArray<Replay.Line>), value)
  return cache.pending.length === 0 ? result : Effect.andThen(Cache.drainInBackground(cache), result)
}

/** The entries whose `validate` this fiber is running. */
const InsideValidate = Context.Reference<ReadonlyArray<Table.Entry>>("@recall/core/internal/InsideValidate", { defaultValue: () => [] })

/**
 * Ends a borrow and waits (interruptibly) for the release it made due, if
 * it was the last one on an instance that left the cache.
 *
 * @internal
 */
export const endHold = (slot: Slot<any, any>, hold: Hold): Effect.Effect<void> =>
  // Releases queued by others (a purge on the way) go on in the background: only this borrow's is waited for.
  Effect.andThen(
    Cache.drainInBackground(slot.cache),
    Effect.suspend(() => {
      Cache.queueRelease(slot.cache, slot.definition.face.lifecycle!.unhold(hold))
      return Cache.drain(slot.cache)
    })
  )

/**
 * A hit with a `check` (ResourceCache's `validate`): the entry is held while
 * the check runs; false or a failure drops that entry (if it is still the
 * one stored) and recomputes.
 */
const checked = <A, S>(
  slot: Slot<A, S>,
  call: Computation.Call,
  entry: Table.Entry,
  now: number,
  outer: Restore | undefined
): Effect.Effect<A, unknown, unknown> =>
  // The probe's hold is taken and given back inside one uninterruptible
  // region, so no interrupt can leave the instance held forever.
  withRegion(outer, (restore) =>
    Effect.withFiber((fiber) => {
      const { definition, table } = slot
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
      const lifecycle = face.lifecycle!
      const probe = lifecycle.hold()
      const value = face.load(entry.stored as S, probe)
      if (value === unusable) {
        table.invalidate(call.key, now)
        return Effect.andThen(Cache.drainInBackground(slot.cache), resolve(slot, call, restore))
      }
      const release = endHold(slot, probe)
      let verdict: unknown
      try {
        // Called bare: `this` in a validate is undefined, never recall's lifecycle record.
        const check = lifecycle.check!
        verdict = check(value)
      } catch (e) {
        // A validate that throws counts as one that dies: false.
        verdict = Effect.die(e)
      }
      if (!Effect.isEffect(verdict)) {
        // Not a verdict at all (an async validate returns a Promise): a bug to fix, not a failed check.
        return Effect.andThen(
          release,
          Effect.die(
            new TypeError(
              `validate of ${definition.name} must return an Effect<boolean>, got ${Hasher.describeType(verdict)}` +
                (verdict instanceof Promise
                  ? ": an async function returns a Promise; wrap it, e.g. (conn) => Effect.promise(() => conn.ping())"
                  : ".")
            )
          )
        )
      }
      // A validate that fails or dies counts as false; an interrupt stays an interrupt, alone (the
      // handler sits outside `restore`, so it also runs for a caller interrupted during validate).
      const passed = Effect.catchCause(
        restore(Effect.provideService(verdict as Effect.Effect<boolean, unknown>, InsideValidate, [...validating, entry])),
        (cause) =>
          Cause.hasInterrupts(cause)
            ? Effect.interrupt
            : Effect.as(Replay.outside(Effect.logDebug(`recall: validate of ${definition.name} failed; recomputing`, cause)), false)
      )
      // The probe is given back on every way out; on success only after the
      // caller's value is decided, so the instance cannot be released between.
      return Effect.flatMap(
        Effect.onExit(passed, (exit) => (Exit.isSuccess(exit) ? Effect.void : release)),
        (ok) =>
          Effect.withFiber((fiber) => {
            const current = table.entries.get(call.key) === entry
            if (!ok || !current) {
              // Only the entry that was checked leaves; a newer one stays. One
              // that left while it was checked is not handed out: recompute.
              if (current) table.invalidate(call.key, nowOf(fiber, slot.cache))
              return Effect.andThen(release, resolve(slot, call, restore))
            }
            const kept = call.hold === undefined ? value : face.load(entry.stored as S, call.hold)
            if (kept === unusable) return Effect.andThen(release, resolve(slot, call, restore))
            table.record("hit")
            const result = Effect.andThen(release, served(slot.cache, entry.output, kept))
            return now < entry.freshUntil ? result : Effect.tap(result, () => Refresh.inBackground(slot, call, entry, now))
          })
      )
    })
  )

/**
 * The miss path: share a computation in flight, or start one.
 *
 * Checking for a value, choosing between joining and starting a flight, and
 * registering and starting a computation form one uninterruptible region;
 * only the waits inside are interruptible.
 */
const resolve = <A, S>(slot: Slot<A, S>, call: Computation.Call, outer: Restore | undefined): Effect.Effect<A, unknown, unknown> =>
  withRegion(outer, (restore) =>
    Effect.withFiber((fiber) => {
      // Another fiber may have stored the value since this caller's hit check.
      const stored = hit(slot, call.args, call.key, call.hold, fiber, call, restore, call.owner)
      if (stored !== undefined) return stored
      if (Cache.closing(slot.cache)) return closed(slot)
      const flight = slot.table.flights.get(call.key)
      const next = flight === undefined ? begin(slot, call, restore, fiber) : wait(slot, call, flight, restore, fiber)
      // Entries the hit check found expired are released in the background.
      return slot.cache.pending.length === 0 ? next : Effect.andThen(Cache.drainInBackground(slot.cache), next)
    })
  )

/**
 * Starts the computation of a key nobody computes, and waits for it. Over a
 * store, the caller reads the store first, in its own fiber: a value found
 * there is this caller's at once (no computation, no wait).
 */
const begin = <A, S>(
  slot: Slot<A, S>,
  call: Computation.Call,
  restore: Restore,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A, unknown, unknown> => {
  const place = slot.place
  const name = place === undefined ? undefined : StoreTier.entryNameOf(place, call.args)
  if (place === undefined || name === undefined) {
    return Effect.flatMap(Computation.start(slot, call, call, "miss", fiber, undefined, undefined), (started) =>
      wait(slot, call, started, restore, fiber)
    )
  }
  return Effect.flatMap(Computation.startReading(slot, place, name, call, fiber, restore), (reading) =>
    reading._tag === "Wait"
      ? wait(slot, call, reading.flight, restore, fiber)
      : fromStore(slot, call, fiber, reading.output, reading.value, reading.times)
  )
}

/**
 * Waits for a computation: its value, its failure, or the turn to check
 * again (it ended without either: the layer closed).
 */
const wait = <A, S>(
  slot: Slot<A, S>,
  call: Computation.Call,
  flight: Table.Flight,
  restore: Restore,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A, unknown, unknown> => {
  // A wait by a computation's own fiber that leads back to it is a cycle:
  // that fiber is blocked. A fiber it forked may be waited for (Effect.all
  // with concurrency) or not (a fork left to run): its wait is recorded, and a
  // cycle through it is warned about, since only the first kind hangs.
  const current = fiber.getRef(Computation.CurrentComputation)
  const own = current !== undefined && current.fiberId === fiber.id ? current : undefined
  let warning: Effect.Effect<void> = Effect.void
  if (own !== undefined) {
    for (let at: Table.Flight | undefined = flight; at !== undefined; at = at.waitingOn) {
      if (at === own) {
        return Effect.die(new CycleError({ functionName: slot.definition.name }))
      }
    }
    own.waitingOn = flight
  } else if (current !== undefined) {
    if (current.forkedWaits === undefined) current.forkedWaits = []
    current.forkedWaits.push(flight)
  }
  if (current !== undefined && !warnedCycles.has(slot) && leadsTo(flight, current)) {
    warnedCycles.add(slot)
    warning = Replay.outside(
      Effect.logWarning(
        `${slot.definition.name} was called in a cycle: the computation it waits for waits for this call, ` +
          "through a fiber that a body in the cycle forked (Effect.all with concurrency, Effect.forkChild, a race). " +
          "If the body waits for that fiber, neither ever ends: compute the inner value without the cache, or with other arguments. " +
          "A fiber the body does not wait for gets the value once the body ends."
      )
    )
  }
  flight.waiters++
  const starter = flight.starter === call
  if (starter) flight.starterWaits = true
  const face = slot.definition.face
  return Effect.flatMap(
    Effect.onExit(Effect.andThen(warning, restore(Deferred.await(flight.done))), (exit) =>
      Effect.sync(() => {
        if (own !== undefined) own.waitingOn = undefined
        else if (current !== undefined) current.forkedWaits!.splice(current.forkedWaits!.indexOf(flight), 1)
        if (starter) flight.starterWaits = false
        if (Exit.isFailure(exit)) Computation.leaveFlight(slot, flight)
      })
    ),
    (result): Effect.Effect<A, unknown, unknown> => {
      switch (result._tag) {
        case "Value": {
          const first = flight.starter === call
          if (!first && result.argumentsChanged === true) {
            // Computed from arguments that were changed meanwhile: not this caller's value. It runs the body on its
            // own arguments, uncached, rather than join another computation that may change them again (as a body
            // that sorts its argument in place does): the callers waiting now compute at once, not one after another.
            Computation.leaveFlight(slot, flight)
            return face.lifecycle === undefined ? restore(passThrough(slot, call, fiber)) : resolve(slot, call, restore)
          }
          const value = first ? (result.value as A) : face.load(result.stored as S, call.hold)
          Computation.leaveFlight(slot, flight)
          if (value === unusable) return resolve(slot, call, restore)
          // The starter saw its body's output as it ran; a value from the store replays what its computer wrote.
          if (first && !result.fromStore) return served(slot.cache, undefined, value)
          if (first) return fromStore(slot, call, fiber, result.output, value, result.times)
          slot.table.record("hit")
          return served(slot.cache, result.output, value)
        }
        case "Failed":
          // Every caller waiting on the computation gets its failure: one run per failure, however many wait.
          Computation.leaveFlight(slot, flight)
          return Effect.andThen(Cache.drainInBackground(slot.cache), Effect.failCause(result.cause as Cause.Cause<unknown>))
        case "Retry":
          Computation.leaveFlight(slot, flight)
          return resolve(slot, call, restore)
      }
    }
  )
}

/** The functions (per layer) warned about a cycle through a forked fiber: once each. */
const warnedCycles = new WeakSet<Slot<any, any>>()

/**
 * Whether `from` is `target`, or waits for it through the flights that its
 * fibers (its own and those it forked) wait for. The graph is the nesting of
 * cached calls: small, and walked with a visited set, since cycles through
 * forked fibers stay in it.
 */
const leadsTo = (from: Table.Flight, target: Table.Flight): boolean => {
  if (from === target) return true
  if (from.waitingOn === undefined && (from.forkedWaits === undefined || from.forkedWaits.length === 0)) return false
  const seen = new Set<Table.Flight>()
  const pending = [from]
  while (pending.length > 0) {
    const at = pending.pop()!
    if (at === target) return true
    if (seen.has(at)) continue
    seen.add(at)
    if (at.waitingOn !== undefined) pending.push(at.waitingOn)
    if (at.forkedWaits !== undefined) for (const next of at.forkedWaits) pending.push(next)
  }
  return false
}

/**
 * The caller whose miss read the value from the store: its recorded output
 * is replayed, and an entry read in its stale window starts its refresh at
 * once (another process wrote it, and this one serves it stale meanwhile).
 * A value the front tier did not keep (larger than its budget) is refreshed
 * from its stored times.
 */
const fromStore = <A>(
  slot: Slot<A, any>,
  call: Computation.Call,
  fiber: Fiber.Fiber<unknown, unknown>,
  output: ReadonlyArray<unknown> | undefined,
  value: A,
  times: Table.Times | undefined
): Effect.Effect<A, unknown, unknown> => {
  const result = served(slot.cache, output, value)
  const entry = slot.table.entries.get(call.key)
  const now = nowOf(fiber, slot.cache)
  if (entry === undefined) {
    return times === undefined || now < times.freshUntil ? result : Effect.tap(result, () => Refresh.ofStored(slot, call, times))
  }
  return now < entry.freshUntil ? result : Effect.tap(result, () => Refresh.inBackground(slot, call, entry, now))
}

/** Stands for a computation under passthrough, which has no flight. */
const uncached: Table.Flight = {
  key: "",
  done: Deferred.makeUnsafe(),
  starter: undefined,
  superseded: true,
  fiberId: undefined,
  waitingOn: undefined,
  forkedWaits: undefined,
  waiters: 0,
  starterWaits: false,
  unstored: undefined,
  settled: true
}

/**
 * A call under `DataCache.layerPassthrough`: the body runs in the caller's
 * fiber, its value goes through the face, nothing is kept.
 */
const passThrough = <A, S>(
  slot: Slot<A, S>,
  call: Computation.Call,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A, unknown, unknown> => {
  slot.table.record("miss")
  const scope = Scope.makeUnsafe()
  return Effect.onExit(Scope.provide(Computation.bodyOf(slot, call, "miss", undefined, fiber, uncached), scope), (exit) =>
    Cache.closeScope(slot.cache, scope, exit)
  ).pipe(
    Effect.flatMap((value) => {
      const kept = slot.definition.face.keep(value, scope, undefined)
      return kept._tag === "Rejected" ? Effect.fail(kept.error) : Effect.succeed(kept.value)
    })
  )
}
