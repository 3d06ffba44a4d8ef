/**
 * What a cached function and a cache offer besides calls: `invalidate`,
 * `has`, `clear` and `stats`, per function and cache-wide.
 *
 * Each reads the clock once, purges what has expired, changes the tables in
 * one synchronous step, then waits (interruptibly) for the releases it made
 * due: when `invalidate` or `clear` returns, an unborrowed instance has been
 * released.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type { FunctionStats, Stats } from "../CachedFunction.ts"
import * as Cache from "./cache.ts"
import { nowOf } from "./calls.ts"
import type { Slot } from "./slot.ts"
import type * as Table from "./table.ts"

/** Runs `change` on the slot's table at the fiber's time, then the releases it made due. */
const changing = <X>(slot: Slot<any, any>, fiber: Fiber.Fiber<unknown, unknown>, change: (table: Table.Table, now: number) => X) =>
  Effect.flatMap(
    Effect.sync(() => change(slot.table, nowOf(fiber, slot.cache))),
    (x) => Effect.as(Cache.drain(slot.cache), x)
  )

/** @internal */
export const invalidate = (slot: Slot<any, any>, key: string, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> =>
  changing(slot, fiber, (table, now) => table.invalidate(key, now))

/** @internal */
export const has = (slot: Slot<any, any>, key: string, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<boolean> =>
  changing(slot, fiber, (table, now) => table.has(key, now))

/** @internal */
export const clear = (slot: Slot<any, any>, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> =>
  changing(slot, fiber, (table, now) => table.clear(now))

/** @internal */
export const stats = (slot: Slot<any, any>, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<FunctionStats> =>
  changing(slot, fiber, (table, now) => {
    table.purgeExpired(now)
    return functionStats(table)
  })

/** @internal */
export const functionStats = (table: Table.Table): FunctionStats => ({
  name: table.name,
  id: idOf(table.publicId),
  ...table.counters,
  entries: table.entries.size,
  bytes: table.bytes
})

const idOf = (publicId: () => string): string => {
  try {
    return publicId()
  } catch {
    return "unavailable"
  }
}

/**
 * Removes every entry of every function of a cache; waits for their releases.
 *
 * @internal
 */
export const clearAll = (cache: Cache.Cache): Effect.Effect<void> =>
  Effect.withFiber((fiber) =>
    Effect.andThen(
      Effect.sync(() => {
        const now = nowOf(fiber, cache)
        for (const table of cache.registry.tables.values()) table.clear(now)
      }),
      Cache.drain(cache)
    )
  )

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
          Cache.drain(cache),
          Effect.sync(() => {
            const functions = Array.from(cache.registry.tables.values(), functionStats)
            const totals = { hits: 0, misses: 0, evictions: 0, expirations: 0, invalidations: 0, entries: 0, bytes: 0 }
            for (const stats of functions) {
              for (const field of Object.keys(totals) as Array<keyof typeof totals>) totals[field] += stats[field]
            }
            return { functions, ...totals }
          })
        )
    )
  )
