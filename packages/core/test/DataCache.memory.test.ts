/**
 * Nothing the cache dropped may stay reachable from it. Each test keeps only a
 * WeakRef to a stored value (with `copy: "readonly"` the stored instance is
 * the one the call returns), makes the entry leave the cache, forces a
 * garbage collection and checks that the value is gone.
 */

import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Effect } from "effect"
import { TestClock } from "effect/testing"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

/** Whether the value `ref` points to was collected, after a forced collection. */
const collected = (ref: WeakRef<object>) =>
  Effect.promise(async () => {
    // Let the fibers that touched the value finish their turn first.
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    return ref.deref() === undefined
  })

type Removal = (f: ReturnType<typeof makeFunction>) => Effect.Effect<unknown, unknown, DataCache.DataCache>

const makeFunction = (options: { readonly maxEntries?: number; readonly maxBytes?: number }) =>
  DataCache.fn({ name: "big", ttl: "1 hour", copy: "readonly", ...options }, (n: number) =>
    Effect.sync(() => ({ n, payload: new Float64Array(1024) }))
  )

/** Calls `f(0)` and returns only a weak reference to the value it stored. */
const storeZero = (f: ReturnType<typeof makeFunction>) => Effect.map(f(0), (value) => new WeakRef(value))

const removals: ReadonlyArray<readonly [string, { readonly maxEntries?: number; readonly maxBytes?: number }, Removal]> = [
  ["evicted by maxEntries", { maxEntries: 1 }, (f) => f(1)],
  ["evicted by maxBytes", { maxBytes: 10_000 }, (f) => f(1)],
  ["invalidated", {}, (f) => f.invalidate(0)],
  ["cleared", {}, (f) => f.clear],
  ["expired", {}, (f) => Effect.andThen(TestClock.adjust("1 hour"), f(1))]
]

describe("DataCache memory", () => {
  for (const [reason, options, remove] of removals) {
    it.effect(`a value ${reason} is unreachable from the cache at once, though the ttl has not passed`, () =>
      Effect.gen(function* () {
        const f = makeFunction(options)
        const ref = yield* storeZero(f)
        assert.isFalse(yield* collected(ref), "the cache holds the stored value")
        yield* remove(f)
        assert.isTrue(yield* collected(ref), "the cache let go of it")
      }).pipe(Effect.provide(DataCache.layerMemory()))
    )
  }
})
