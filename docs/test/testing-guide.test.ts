/**
 * The test file docs/testing.md walks through: ways to test code that uses
 * cached functions, each one a test that runs in `npm test`.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { CacheReporter, CacheStore, DataCache } from "@recall/core"
import { NodeCacheStore } from "@recall/node"
import { Deferred, Effect, Fiber, Layer, Redacted } from "effect"
import * as TestClock from "effect/testing/TestClock"

// The code under test: a report that loads its rows through a cached function.
let loads = 0
const loadRows = DataCache.fn({ name: "loadRows", ttl: "1 hour" }, (city: string) =>
  Effect.sleep("2 seconds").pipe(Effect.as([`${city}-${++loads}`]))
)
const report = (city: string) => Effect.map(loadRows(city), (rows) => `${city}: ${rows.length} rows`)

// Forks `effect` and waits until the body of the cached function `name` has started (or the call has ended: a
// hit); other cached functions it calls on the way are not waited for. Over a
// store, a call first reads it, and the disk, a secret's HMAC or a network take real time: a TestClock.adjust
// made before the body sleeps passes before the sleep begins, and the sleep never wakes.
const forkComputing = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const reporter = CacheReporter.layer({
      started: (computation) => (computation.function === name ? Effect.asVoid(Deferred.succeed(started, undefined)) : Effect.void),
      ended: () => Effect.void
    })
    const fiber = yield* Effect.forkChild(Effect.provide(effect, reporter))
    yield* Effect.raceFirst(Deferred.await(started), Effect.asVoid(Fiber.await(fiber)))
    return fiber
  })

describe("testing code that uses cached functions", () => {
  // 1. A fresh cache per test: each test starts empty, whatever ran before.
  it.effect("a fresh layerMemory() per test", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(report("Oslo"))
      yield* TestClock.adjust("2 seconds") // the body sleeps on the TestClock: no wall time passes
      assert.strictEqual(yield* Fiber.join(fiber), "Oslo: 1 rows")
      assert.strictEqual((yield* loadRows.stats).misses, 1)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  // 2. TTL on virtual time: expiry reads Effect's Clock.
  it.effect("ttl runs on the TestClock", () =>
    Effect.gen(function* () {
      const first = yield* Effect.forkChild(loadRows("Bergen"))
      yield* TestClock.adjust("2 seconds")
      const rows = yield* Fiber.join(first)
      assert.isTrue(yield* loadRows.has("Bergen"))
      yield* TestClock.adjust("1 hour")
      assert.isFalse(yield* loadRows.has("Bergen"), "expired at exactly storedAt + ttl")
      assert.lengthOf(rows, 1)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  // 3. No caching at all: the code under test behaves as without recall.
  it.effect("layerPassthrough runs every call", () =>
    Effect.gen(function* () {
      const before = loads
      const both = yield* Effect.forkChild(Effect.all([report("Oslo"), report("Oslo")], { concurrency: 2 }))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(both)
      assert.strictEqual(loads - before, 2)
    }).pipe(Effect.provide(DataCache.layerPassthrough))
  )
})

// 4. One cache shared by every test of a block: @effect/vitest's `layer`.
layer(DataCache.layerMemory())("one cache for a block", (it) => {
  it.effect("the first test fills it", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(report("Tromsø"))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      assert.isTrue(yield* loadRows.has("Tromsø"))
    })
  )

  it.effect("the next test finds the entry", () =>
    Effect.gen(function* () {
      assert.isTrue(yield* loadRows.has("Tromsø"))
      assert.strictEqual(yield* report("Tromsø"), "Tromsø: 1 rows")
    })
  )
})

// 5. Over a store: one store per test, shared by two DataCache layers (a restart, or two processes).
it.effect("a restart is served from the store", () =>
  Effect.gen(function* () {
    const store = Layer.succeedContext(yield* Layer.build(CacheStore.layerMemory()))
    const cache = () => DataCache.layerStore().pipe(Layer.provide(store))
    const first = yield* forkComputing(loadRows.name, Effect.provide(loadRows("Tromsø"), cache()))
    yield* TestClock.adjust("2 seconds")
    const rows = yield* Fiber.join(first)
    // A new front tier over the same store: a store hit, the body does not run.
    const again = yield* Effect.provide(Effect.all([loadRows("Tromsø"), loadRows.stats]), cache())
    assert.deepStrictEqual(again[0], rows)
    assert.deepStrictEqual([again[1].storeHits, again[1].misses], [1, 0])
  }).pipe(Effect.scoped)
)

// 6. On disk, signed: the same test over NodeCacheStore.layerFileSystem in a temporary directory, with a secret.
it.effect("a restart is served from disk, signed", () =>
  Effect.gen(function* () {
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "guide-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const secret = Redacted.make("a secret of 32 bytes or more, for the test")
    const cache = () => DataCache.layerStore({ secret }).pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory })))
    const first = yield* forkComputing(loadRows.name, Effect.provide(loadRows("Narvik"), cache()))
    yield* TestClock.adjust("2 seconds")
    const rows = yield* Fiber.join(first)
    const again = yield* Effect.provide(Effect.all([loadRows("Narvik"), loadRows.stats]), cache())
    assert.deepStrictEqual(again[0], rows)
    assert.deepStrictEqual([again[1].storeHits, again[1].misses], [1, 0])
  }).pipe(Effect.scoped)
)
