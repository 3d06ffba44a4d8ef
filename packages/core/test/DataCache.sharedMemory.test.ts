/**
 * Typed arrays over a SharedArrayBuffer (found by an outside trial): as a
 * value, every caller's copy is a view of shared memory of its own (a typed
 * array's `slice` made it an ArrayBuffer, and `Atomics.wait` threw on it),
 * and a store does not hold it (read back, it would be over an ArrayBuffer):
 * it stays in the front tier, with a warning; as an argument, it is another
 * key than the same bytes over an ArrayBuffer.
 */
import { assert, describe, it } from "@effect/vitest"
import { CacheStore, DataCache } from "@recall/core"
import { Effect, Layer } from "effect"
import { captureLogs } from "./fixtures/storeHarness.ts"

const sharedInts = (...values: ReadonlyArray<number>) => {
  const out = new Int32Array(new SharedArrayBuffer(4 * values.length))
  out.set(values)
  return out
}

describe("typed arrays over a SharedArrayBuffer", () => {
  it.effect("as a value: each caller gets a copy over a SharedArrayBuffer of its own", () =>
    Effect.gen(function* () {
      const f = DataCache.fn("sharedValue", (n: number) => Effect.sync(() => sharedInts(n, n + 1)))
      const first = yield* f(1)
      const hit = yield* f(1)
      for (const got of [first, hit]) {
        assert.instanceOf(got.buffer, SharedArrayBuffer)
        assert.deepStrictEqual(Array.from(got), [1, 2])
      }
      // Usable as shared memory (Atomics.wait throws on an ArrayBuffer's view), and isolated.
      assert.strictEqual(Atomics.wait(hit, 0, 0, 0), "not-equal")
      hit[0] = 99
      assert.deepStrictEqual(Array.from(yield* f(1)), [1, 2])
      assert.notStrictEqual((yield* f(1)).buffer, hit.buffer)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("over a store: kept in the front tier only, with a warning, and still shared", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const f = DataCache.fn("sharedStored", (n: number) => Effect.sync(() => sharedInts(n)))
      assert.instanceOf((yield* f(3)).buffer, SharedArrayBuffer)
      assert.instanceOf((yield* f(3)).buffer, SharedArrayBuffer)
      const stats = yield* f.stats
      assert.strictEqual(stats.storeWrites, 0)
      assert.strictEqual(stats.hits, 1)
      const warnings = logs.warnings()
      assert.strictEqual(warnings.length, 1, warnings.join("\n"))
      assert.include(warnings[0], "SharedArrayBuffer")
    }).pipe(Effect.provide(Layer.mergeAll(DataCache.layerStore().pipe(Layer.provide(CacheStore.layerMemory())), logs.layer)))
  })

  it.effect("as an argument: another key than the same bytes over an ArrayBuffer", () =>
    Effect.gen(function* () {
      const kind = DataCache.fn("bufferKind", (bytes: Uint8Array) => Effect.sync(() => bytes.buffer.constructor.name))
      const shared = new Uint8Array(new SharedArrayBuffer(3))
      shared.set([1, 2, 3])
      assert.strictEqual(yield* kind(shared), "SharedArrayBuffer")
      assert.strictEqual(yield* kind(Uint8Array.from([1, 2, 3])), "ArrayBuffer")
      assert.strictEqual(yield* kind(shared), "SharedArrayBuffer")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
