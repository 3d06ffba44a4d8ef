/**
 * What a cached function and a cache offer besides calls: `invalidate`,
 * `has`, `clear` and `stats`, per function and cache-wide.
 *
 * Each reads the clock once, purges what has expired (those releases go on
 * in the background), changes the tables in one synchronous step, then
 * waits (interruptibly) for the releases it made due: when `invalidate` or
 * `clear` returns, the unborrowed instances it removed have been released.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { CacheClosedError, type FunctionStats, type Stats } from "../CachedFunction.ts"
import * as Cache from "./cache.ts"
import { closed, nowOf } from "./calls.ts"
import { shownId } from "./definition.ts"
import type { Slot } from "./slot.ts"
import * as StoreTier from "./storeTier.ts"
import * as Table from "./table.ts"

/**
 * At the fiber's time: purges what has expired (`purge`), releasing it in the
 * background, then runs `change` and waits for the releases it made due: an
 * operation never waits for another entry's release.
 */
const afterPurge = <X>(
  cache: Cache.Cache,
  fiber: Fiber.Fiber<unknown, unknown>,
  purge: (now: number) => void,
  change: (now: number) => X
) =>
  Effect.suspend(() => {
    const now = nowOf(fiber, cache)
    purge(now)
    return Effect.andThen(
      Cache.drainInBackground(cache),
      Effect.flatMap(
        Effect.sync(() => change(now)),
        (x) => Effect.as(Cache.drain(cache), x)
      )
    )
  })

/** {@link afterPurge} on one slot's table. */
const changing = <X>(slot: Slot<any, any>, fiber: Fiber.Fiber<unknown, unknown>, change: (table: Table.Table, now: number) => X) =>
  afterPurge(
    slot.cache,
    fiber,
    (now) => slot.table.purgeExpired(now),
    (now) => change(slot.table, now)
  )

/** The store name of a call's arguments, when the slot persists and they can be named. */
const storedName = (slot: Slot<any, any>, args: ReadonlyArray<unknown>): string | undefined =>
  slot.place === undefined ? undefined : StoreTier.entryNameOf(slot.place, args)

/**
 * Removes one key from both tiers: the front tier at once (a computation in
 * flight is superseded), then the store, after its write in flight. Reads
 * of the entry wait for the store's delete from the front tier's step on, so
 * that no caller reads back what is being removed.
 *
 * @internal
 */
export const invalidate = (
  slot: Slot<any, any>,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  args: ReadonlyArray<unknown>
): Effect.Effect<void> => {
  if (slot.cache.closed) return closed(slot)
  const name = storedName(slot, args)
  return Effect.flatten(
    changing(slot, fiber, (table, now) => {
      table.invalidate(key, now)
      // In the same step: from now on, reads of the name wait for its removal from the store.
      return name === undefined ? Effect.void : StoreTier.beginRemove(slot.place!, name, fiber)
    })
  )
}

/**
 * Whether either tier holds a live entry; the store is asked only on a
 * front-tier miss (and its entry is checked, not decoded).
 *
 * @internal
 */
export const has = (
  slot: Slot<any, any>,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>,
  args: ReadonlyArray<unknown>
): Effect.Effect<boolean> =>
  slot.cache.closed
    ? closed(slot)
    : Effect.flatMap(
        changing(slot, fiber, (table, now) => table.has(key, now)),
        (front) => {
          if (front) return Effect.succeed(true)
          const name = storedName(slot, args)
          return name === undefined ? Effect.succeed(false) : StoreTier.has(slot.place!, name)
        }
      )

/** Removes every entry of the function, from both tiers. @internal */
export const clear = (slot: Slot<any, any>, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> =>
  slot.cache.closed
    ? closed(slot)
    : Effect.flatten(
        changing(slot, fiber, (table, now) => {
          table.clear(now)
          // In the same step: from now on, reads of the function's entries wait for the store's clear.
          return slot.place === undefined ? Effect.void : StoreTier.beginClearNamespace(slot.place, fiber)
        })
      )

/** @internal */
export const stats = (slot: Slot<any, any>, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<FunctionStats> =>
  changing(slot, fiber, functionStats)

/** @internal */
export const functionStats = (table: Table.Table): FunctionStats => ({
  name: table.name,
  id: shownId(table.publicId),
  ...table.counters,
  entries: table.entries.size,
  bytes: table.bytes
})

/**
 * Removes every entry of every function of a cache, and every entry of its
 * store; waits for their releases.
 *
 * @internal
 */
export const clearAll = (cache: Cache.Cache): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    // As a function's operations: the cache (and its store) is gone, and a clear through it would answer for nobody.
    if (cache.closed) return Effect.die(new CacheClosedError({ functionName: `${cache.kind}.clear`, cache: cache.kind }))
    const tier = cache.tier
    return Effect.flatten(
      afterPurge(
        cache,
        fiber,
        (now) => cache.registry.purgeExpired(now),
        (now) => {
          for (const table of cache.registry.tables.values()) table.clear(now)
          // In the same step: from now on, every read of the store waits for its clear.
          return tier === undefined ? Effect.void : StoreTier.beginClearAll(tier, fiber)
        }
      )
    )
  })

/**
 * Counters of every function of a cache, and their totals; expired entries
 * are purged first.
 *
 * @internal
 */
export const statsOf = (cache: Cache.Cache): Effect.Effect<Stats> =>
  Effect.withFiber((fiber) =>
    Effect.flatMap(
      Effect.sync(() => cache.registry.purgeExpired(nowOf(fiber, cache))),
      () =>
        Effect.andThen(
          // Stats never wait for a release.
          Cache.drainInBackground(cache),
          Effect.sync(() => {
            const functions = Array.from(cache.registry.tables.values(), functionStats)
            const totals = { ...Table.emptyCounters(), entries: 0, bytes: 0 }
            for (const stats of functions) {
              for (const field of Object.keys(totals) as Array<keyof typeof totals>) totals[field] += stats[field]
            }
            return { functions, ...totals }
          })
        )
    )
  )
