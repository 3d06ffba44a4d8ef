/**
 * Metrics series per live cache and function identity: each series carries
 * `function`, `id` and `cache` attributes, reads the table's own counters
 * (so it agrees with `stats` at every moment), and is removed with its
 * cache, touching no other cache's series. Each test runs with a Metric
 * registry of its own.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache } from "@recall/core"
import { Cause, Effect, Exit, Layer, Metric, Scope } from "effect"
import { TestClock } from "effect/testing"

const fields = [
  "hits",
  "misses",
  "evictions",
  "expirations",
  "invalidations",
  "storeHits",
  "storeWrites",
  "storeErrors",
  "entries",
  "bytes"
] as const

/** A stats field's series name: `storeHits` is `recall_data_cache_store_hits`. */
const seriesName = (field: string) => `recall_data_cache_${field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`

/** A DataCache layer built into a scope of its own: a session. */
const session = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(DataCache.layerMemory(), scope)
  return { scope, context }
})

type Session = Effect.Success<typeof session>

const inSession =
  (s: Session) =>
  <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>): Effect.Effect<A, E> =>
    Effect.provide(effect, s.context)

const readingOf = (snapshot: Metric.Metric.Snapshot): number =>
  Number("count" in (snapshot.state as object) ? (snapshot.state as { count: number }).count : (snapshot.state as { value: number }).value)

/** The recall series of one function name, optionally of one cache. */
const seriesOf = (name: string, cache?: string) =>
  Effect.map(Metric.snapshot, (all) =>
    all.filter(
      (m) =>
        m.id.startsWith("recall_data_cache_") && m.attributes?.function === name && (cache === undefined || m.attributes?.cache === cache)
    )
  )

/** The `cache` labels of a function's series. */
const labelsOf = (name: string) => Effect.map(seriesOf(name), (all) => new Set(all.map((m) => m.attributes?.cache)))

/** Every series of `f` in the session's cache equals its `stats`, one series per field. */
const agree = (f: DataCache.CachedFunction<any, any, any, any, any, any>, s: Session, label: string, moment: string) =>
  Effect.gen(function* () {
    const stats = yield* inSession(s)(f.stats)
    const series = yield* seriesOf(f.name, label)
    for (const field of fields) {
      const matching = series.filter((m) => m.id === seriesName(field) && m.attributes?.id === stats.id)
      assert.strictEqual(matching.length, 1, `${moment}: one ${field} series for ${f.name} in ${label}`)
      assert.strictEqual(readingOf(matching[0]!), stats[field], `${moment}: ${field} of ${f.name} in ${label} agrees with stats`)
    }
  })

const withRegistry = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, Metric.MetricRegistry, new Map())

describe("DataCache Metrics", () => {
  it.effect("two session layers each have their own series, agreeing with their stats at every moment", () =>
    withRegistry(
      Effect.gen(function* () {
        const f = DataCache.fn({ name: "metered", ttl: "1 minute", maxEntries: 2 }, (n: number) => Effect.succeed({ n }))
        const a = yield* session
        yield* inSession(a)(f(1))
        yield* inSession(a)(f(1))
        const [labelA] = yield* labelsOf("metered")
        const b = yield* session
        yield* inSession(b)(f(2))
        const misses = (yield* seriesOf("metered")).filter((m) => m.id === "recall_data_cache_misses")
        assert.deepStrictEqual(misses.map(readingOf), [1, 1], "one misses series per session, each with its own count")
        const labels = yield* labelsOf("metered")
        assert.isString(labelA)
        assert.strictEqual(labels.size, 2, "two caches, two sets of series")
        const labelB = [...labels].find((label) => label !== labelA)!
        yield* agree(f, a, labelA!, "after a miss and a hit in A")
        yield* agree(f, b, labelB, "after a miss in B")
        const missesA = (yield* seriesOf("metered", labelA)).find((m) => m.id === "recall_data_cache_misses")!
        const missesB = (yield* seriesOf("metered", labelB)).find((m) => m.id === "recall_data_cache_misses")!
        assert.deepStrictEqual([readingOf(missesA), readingOf(missesB)], [1, 1], "each session shows its own misses")
        // Evictions, invalidations and expirations, checked after each.
        yield* inSession(a)(Effect.all([f(2), f(3)]))
        yield* agree(f, a, labelA!, "after an eviction in A")
        yield* agree(f, b, labelB, "B untouched by A's eviction")
        yield* inSession(b)(f.invalidate(2))
        yield* agree(f, b, labelB, "after an invalidate in B")
        yield* inSession(b)(f(4))
        yield* TestClock.adjust("1 minute")
        yield* agree(f, a, labelA!, "after A's entries expired")
        yield* agree(f, b, labelB, "after B's entries expired")
        yield* Scope.close(a.scope, Exit.void)
        yield* Scope.close(b.scope, Exit.void)
      })
    )
  )

  it.effect("two versions of one name are two series, each its own function's", () =>
    withRegistry(
      Effect.gen(function* () {
        const v1 = DataCache.fn({ name: "versioned", version: "1" }, (n: number) => Effect.succeed(n))
        const v2 = DataCache.fn({ name: "versioned", version: "2" }, (n: number) => Effect.succeed(n))
        const s = yield* session
        yield* inSession(s)(Effect.all([v1(1), v1(1), v1(2), v2(1)]))
        const misses = (yield* seriesOf("versioned")).filter((m) => m.id === "recall_data_cache_misses")
        assert.deepStrictEqual(misses.map(readingOf).sort(), [1, 2], "one misses series per version")
        const [label] = yield* labelsOf("versioned")
        assert.deepStrictEqual(new Set(misses.map((m) => m.attributes?.id)), new Set([v1.id, v2.id]))
        yield* agree(v1, s, label!, "version 1")
        yield* agree(v2, s, label!, "version 2")
        yield* Scope.close(s.scope, Exit.void)
      })
    )
  )

  it.effect("closing one layer removes exactly its own series; a live layer's stay and still agree", () =>
    withRegistry(
      Effect.gen(function* () {
        const f = DataCache.fn("sessions", (n: number) => Effect.succeed(n))
        const a = yield* session
        yield* inSession(a)(Effect.all([f(1), f(1)]))
        const [labelA] = yield* labelsOf("sessions")
        const b = yield* session
        yield* inSession(b)(f(1))
        const labelB = [...(yield* labelsOf("sessions"))].find((label) => label !== labelA)
        yield* Scope.close(b.scope, Exit.void)
        const hits = (yield* seriesOf("sessions")).filter((m) => m.id === "recall_data_cache_hits")
        assert.deepStrictEqual(hits.map(readingOf), [1], "A's hits series is the one left")
        assert.isString(labelB)
        assert.deepStrictEqual(yield* seriesOf("sessions", labelB), [], "B's series are gone")
        assert.strictEqual((yield* seriesOf("sessions", labelA)).length, fields.length, "A's series are all there")
        yield* agree(f, a, labelA!, "A after B closed")
        yield* Scope.close(a.scope, Exit.void)
        assert.deepStrictEqual(yield* seriesOf("sessions"), [], "nothing is left once both closed")
      })
    )
  )

  it.effect("a function first called through a closed layer registers no series", () =>
    withRegistry(
      Effect.gen(function* () {
        let runs = 0
        const late = DataCache.fn("late", (n: number) => Effect.sync(() => ++runs + n))
        const s = yield* session
        yield* Scope.close(s.scope, Exit.void)
        const exit = yield* Effect.exit(inSession(s)(late(1)))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), "the call dies")
        if (Exit.isFailure(exit)) assert.instanceOf(Cause.squash(exit.cause), DataCache.CacheClosedError)
        assert.strictEqual(runs, 0)
        assert.deepStrictEqual(yield* seriesOf("late"), [])
      })
    )
  )

  // Found by an outside trial: ResourceCache registered the store tier's three series too, always 0 (it is never persisted).
  it.effect("a ResourceCache function has the documented series only, none of the store tier's", () =>
    withRegistry(
      Effect.gen(function* () {
        const pool = ResourceCache.fn("metrics/pool", (n: number) => Effect.succeed({ n }))
        yield* pool(1)
        const ids = new Set(
          (yield* Metric.snapshot)
            .filter((m) => m.attributes?.function === "metrics/pool")
            .map((m) => m.id.replace("recall_resource_cache_", ""))
        )
        assert.deepStrictEqual([...ids].sort(), ["bytes", "entries", "evictions", "expirations", "hits", "invalidations", "misses"])
      }).pipe(Effect.provide(ResourceCache.layerMemory()))
    )
  )
})
