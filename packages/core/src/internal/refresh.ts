/**
 * Stale-while-revalidate (Streamlit's `refresh_mode="background"`): a hit on
 * a stale entry starts one background refresh, and is served the stale value
 * at once.
 *
 * - A refresh is a computation like a miss (it belongs to the cache, runs in
 *   a fiber of the layer's scope and in a `Scope` of its own), started by
 *   nobody: callers that arrive once the entry has expired join it.
 * - Marking the entry as refreshing and starting the refresh are one
 *   uninterruptible step: a refresh is started exactly once per window, or
 *   not marked as started.
 * - Its value replaces the entry it refreshes, or that entry once it has
 *   expired (a refresh that outlasts the window is not thrown away), never a
 *   newer entry, an evicted one, or one a clear or invalidate removed.
 * - A refresh that stored nothing (it failed, or `cacheIf` or a byte budget
 *   refused its value) keeps the stale value and backs off: 1 s, 2 s, 4 s,
 *   ... (at most the window) before the next try. Retried at once, a value
 *   that `cacheIf` keeps refusing would run the body on every stale call.
 */
import * as Effect from "effect/Effect"
import * as Cache from "./cache.ts"
import * as Computation from "./computation.ts"
import * as Replay from "./replay.ts"
import type { Slot } from "./slot.ts"
import type * as Table from "./table.ts"

const startable = (slot: Slot<any, any>, call: Computation.Call, entry: Table.Entry, now: number): boolean =>
  now >= entry.refreshAfter && !slot.table.flights.has(call.key) && !Cache.closing(slot.cache) && slot.table.entries.get(call.key) === entry

/**
 * Starts one background refresh of a stale entry, unless one runs, the
 * backoff after a failed refresh has not passed, or the cache closed.
 *
 * @internal
 */
export const inBackground = (
  slot: Slot<any, any>,
  call: Computation.Call,
  entry: Table.Entry,
  now: number
): Effect.Effect<void, never, unknown> => {
  if (!startable(slot, call, entry, now)) return Effect.void
  return Effect.uninterruptible(
    Effect.withFiber((fiber) => {
      if (!startable(slot, call, entry, now)) return Effect.void
      entry.refreshAfter = Infinity
      // A refresh is the cache's work, not the output of the body whose stale
      // hit started it: it runs outside that body's recording (its own
      // output is recorded for the entry it refreshes).
      return Effect.asVoid(
        Replay.outside(
          Computation.start(slot, { ...call, hold: undefined }, undefined, "refresh", fiber, entry, (outcome, at) => {
            if (outcome === "stored") {
              // The entry is replaced (this one is no longer served).
              entry.refreshAfter = at
              return
            }
            // Failed, or kept nothing (`cacheIf`, a byte budget; a clear meanwhile removed the entry anyway).
            entry.refreshFailures++
            const backoff = Math.min(1000 * 2 ** (entry.refreshFailures - 1), Math.max(slot.table.limits.staleMillis, 1))
            entry.refreshAfter = at + backoff
          })
        )
      )
    })
  )
}

/**
 * Starts one background refresh of a stale entry that only the store holds
 * (its value is larger than the front tier's budget), unless a computation
 * of the key runs. It stands on the stored entry's times: it takes only what
 * another process wrote since, and its value goes to the store (as one that
 * replaces an expired front entry would). There is no backoff to keep: each
 * such call reads the store anyway.
 *
 * @internal
 */
export const ofStored = (slot: Slot<any, any>, call: Computation.Call, times: Table.Times): Effect.Effect<void, never, unknown> => {
  const startable = () => !slot.table.flights.has(call.key) && !Cache.closing(slot.cache)
  if (!startable()) return Effect.void
  return Effect.uninterruptible(
    Effect.withFiber((fiber) => {
      if (!startable()) return Effect.void
      // What the computation checks of the entry it refreshes: when it was stored, and that it is gone from the front.
      const stored = { storedAt: times.storedAt, departed: "expiration" } as Table.Entry
      return Effect.asVoid(
        Replay.outside(Computation.start(slot, { ...call, hold: undefined }, undefined, "refresh", fiber, stored, undefined))
      )
    })
  )
}
