/**
 * DataCache over a store (`DataCache.layerStore`): the two tiers, names,
 * invalidate and clear in both, persist: false, unencodable values, replay,
 * secrets, cross-process single flight and the layer's options.
 *
 * A "restart" is a new front tier over the same store: each `Effect.provide`
 * of `harness.cache()` builds one, and closing it waits for its writes.
 */
import { assert, describe, it } from "@effect/vitest"
import { CacheStore, DataCache } from "@recall/core"
import {
  Cause,
  Chunk,
  Clock,
  Config,
  ConfigProvider,
  Console,
  Data,
  Deferred,
  Effect,
  Equal,
  Exit,
  Fiber,
  HashMap,
  Layer,
  Option,
  Redacted,
  Schema
} from "effect"
import { TestClock } from "effect/testing"
import * as StoreTier from "../src/internal/storeTier.ts"
import { rejection } from "./fixtures/rejection.ts"
import { captureLogs, type Harness, makeHarness, storedBytes } from "./fixtures/storeHarness.ts"

const SECRET = Redacted.make("a store secret of 32 characters!")
const OTHER_SECRET = Redacted.make("another secret, also long enough")

/** A counted body: `n` → `{ n, run }` where `run` counts the body's runs. */
const counted = (name: string, options?: Omit<DataCache.Options<unknown>, "name">) => {
  const runs = { count: 0 }
  const fn = DataCache.fn({ name, ttl: "1 hour", ...options }, (n: number) =>
    Effect.sync(() => ({ n, square: n * n, run: ++runs.count, tags: ["a"] }))
  )
  return { fn, runs }
}

/** What a restarted front reads of `make()`'s value, computed once by a first front over the same store (the body ran once). */
const readAfterRestart = <A>(h: Harness, name: string, make: () => A) =>
  Effect.gen(function* () {
    let runs = 0
    const fn = DataCache.fn(name, () =>
      Effect.sync(() => {
        runs++
        return make()
      })
    )
    yield* fn().pipe(Effect.provide(h.cache()))
    const read = yield* fn().pipe(Effect.provide(h.cache()))
    assert.strictEqual(runs, 1)
    return read
  })

/** The three removals, each with the store operation it ends in. */
const removals = [
  ["fn.invalidate", (f: ReturnType<typeof counted>["fn"]) => f.invalidate(1), "delete"],
  ["fn.clear", (f: ReturnType<typeof counted>["fn"]) => f.clear, "clearNamespace"],
  ["DataCache.clear", () => DataCache.clear, "clearAll"]
] as const

describe("DataCache.layerStore", () => {
  it.effect("a removal whose store operation fails (or hangs): what it meant to delete never comes back from the store", () =>
    Effect.gen(function* () {
      for (const fault of ["fail", "hang"] as const) {
        for (const [label, remove, operation] of removals) {
          const h = makeHarness()
          const { fn, runs } = counted(`failing ${operation} ${fault}`)
          yield* Effect.gen(function* () {
            assert.strictEqual((yield* fn(1)).run, 1)
            h.fault = fault
            h.faultOps.add(operation)
            const removing = yield* Effect.forkChild(remove(fn), { startImmediately: true })
            if (fault === "hang") yield* TestClock.adjust("10 seconds")
            yield* Fiber.join(removing)
            assert.isFalse(yield* fn.has(1), `${label} (${fault}): gone`)
            assert.strictEqual((yield* fn(1)).run, 2, `${label} (${fault}): the call after it computes anew`)
            assert.strictEqual(runs.count, 2)
          }).pipe(Effect.provide(h.cache({ storeTimeout: "1 second" })), Effect.provide(captureLogs().layer))
        }
      }
    })
  )

  it.effect("a call made while an invalidate or clear is removing from the store never reads what it removes", () =>
    Effect.gen(function* () {
      for (const [label, remove, operation] of removals) {
        const h = makeHarness()
        const { fn, runs } = counted(`removing through ${label}`)
        yield* Effect.gen(function* () {
          assert.strictEqual((yield* fn(1)).run, 1)
          // The store's removal waits at a gate, after the front tier let the entry go.
          h.fault = "gate"
          h.faultOps.add(operation)
          h.gate = yield* Deferred.make<void>()
          const removing = yield* Effect.forkChild(remove(fn), { startImmediately: true })
          yield* Deferred.await(h.reached(operation))
          const during = yield* Effect.forkChild(fn(1), { startImmediately: true })
          yield* Deferred.succeed(h.gate, undefined)
          yield* Fiber.join(removing)
          assert.strictEqual((yield* Fiber.join(during)).run, 2, `${label}: the call after it computes anew`)
          assert.strictEqual((yield* fn(1)).run, 2, `${label}: and that value is the one kept`)
          assert.strictEqual(runs.count, 2)
        }).pipe(Effect.provide(h.cache()))
      }
    })
  )

  describe("restarts are served from the store", () => {
    it.effect("a second front tier over the same store reads the value: the body ran once, a store hit, then front hits", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn, runs } = counted("restart")
        assert.strictEqual((yield* fn(12).pipe(Effect.provide(h.cache()))).square, 144)
        const [value, again, stats] = yield* Effect.all([fn(12), fn(12), fn.stats]).pipe(Effect.provide(h.cache()))
        assert.strictEqual(value.square, 144)
        assert.strictEqual(again.square, 144)
        assert.strictEqual(runs.count, 1)
        assert.deepStrictEqual([stats.misses, stats.storeHits, stats.hits, stats.storeWrites], [0, 1, 1, 0])
        assert.strictEqual((yield* h.inner.stats).entries, 1)
      })
    )

    it.effect("a value read from the store is the caller's own: mutating it changes neither the front nor the store", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const fn = DataCache.fn("mutable", (n: number) =>
          Effect.sync(() => ({ n, tags: ["a"], frame: new Float64Array([1, 2, 3]), nested: { list: [1] } }))
        )
        yield* fn(1).pipe(Effect.provide(h.cache()))
        yield* Effect.gen(function* () {
          const first = yield* fn(1)
          first.tags.push("mutated")
          first.frame[0] = 99
          first.nested.list.push(2)
          const second = yield* fn(1)
          assert.deepStrictEqual(second.tags, ["a"])
          assert.deepStrictEqual(Array.from(second.frame), [1, 2, 3])
          assert.deepStrictEqual(second.nested.list, [1])
          second.frame[1] = 77
          assert.deepStrictEqual(Array.from((yield* fn(1)).frame), [1, 2, 3])
        }).pipe(Effect.provide(h.cache()))
        const third = yield* fn(1).pipe(Effect.provide(h.cache()))
        assert.deepStrictEqual(Array.from(third.frame), [1, 2, 3])
        assert.deepStrictEqual(third.tags, ["a"])
      })
    )

    it.effect("a Float64Array of a million elements comes back as itself, every element", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const frame = (n: number) => Float64Array.from({ length: 1_000_000 }, (_, i) => i * n + 0.5)
        let runs = 0
        const fn = DataCache.fn("frame", (n: number) =>
          Effect.sync(() => {
            runs++
            return frame(n)
          })
        )
        yield* fn(3).pipe(Effect.provide(h.cache()))
        const read = yield* fn(3).pipe(Effect.provide(h.cache()))
        assert.strictEqual(runs, 1)
        assert.instanceOf(read, Float64Array)
        assert.strictEqual(read.length, 1_000_000)
        const expected = frame(3)
        let same = true
        for (let i = 0; i < expected.length; i++) if (!Object.is(read[i], expected[i])) same = false
        assert.isTrue(same)
      })
    )

    it.effect("Map, Set, Date, bigint, -0, NaN and nested typed arrays come back as themselves", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const make = () => ({
          map: new Map<unknown, unknown>([
            ["a", 1],
            [2, new Set([1, "x"])]
          ]),
          set: new Set([1n, 2n ** 80n, -(2n ** 70n)]),
          date: new Date(Date.UTC(2020, 1, 29, 12, 0, 0, 123)),
          big: 12345678901234567890123n,
          zero: -0,
          nan: Number.NaN,
          bytes: new Uint8Array([0, 255, 7]),
          ints: new Int32Array([-1, 2 ** 31 - 1])
        })
        const read = yield* readAfterRestart(h, "kinds", make)
        assert.instanceOf(read.map, Map)
        assert.instanceOf(read.set, Set)
        assert.instanceOf(read.date, Date)
        assert.instanceOf(read.bytes, Uint8Array)
        assert.instanceOf(read.ints, Int32Array)
        assert.strictEqual(typeof read.big, "bigint")
        assert.isTrue(Object.is(read.zero, -0))
        assert.isTrue(Number.isNaN(read.nan))
        assert.deepStrictEqual(read, make())
      })
    )

    it.effect("an object with a null prototype comes back with a null prototype, nested and shared too", () =>
      Effect.gen(function* () {
        const read = yield* readAfterRestart(makeHarness(), "nullPrototype", () => {
          const dict = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, constructor: "c", toString: "t" })
          return { dict, twice: [dict, dict], plain: { b: 2 } }
        })
        assert.isNull(Object.getPrototypeOf(read.dict))
        assert.deepStrictEqual({ ...read.dict }, { a: 1, constructor: "c", toString: "t" })
        assert.strictEqual(read.twice[0], read.twice[1], "one object, shared as it was")
        assert.isNull(Object.getPrototypeOf(read.twice[0]))
        assert.strictEqual(Object.getPrototypeOf(read.plain), Object.prototype, "a literal keeps Object.prototype")
      })
    )

    it.effect("Option, Chunk and HashMap come back as values of their own type, Equal to the originals", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const make = () => ({
          some: Option.some(1),
          none: Option.none<number>(),
          chunk: Chunk.make(1, 2, 3),
          map: HashMap.make(["a", 1], ["b", 2])
        })
        const read = yield* readAfterRestart(h, "effectTypes", make)
        const expected = make()
        assert.isTrue(Option.isOption(read.some) && Equal.equals(read.some, expected.some))
        assert.isTrue(Option.isOption(read.none) && Option.isNone(read.none))
        assert.isTrue(Chunk.isChunk(read.chunk) && Equal.equals(read.chunk, expected.chunk))
        assert.isTrue(HashMap.isHashMap(read.map) && Equal.equals(read.map, expected.map))
      })
    )

    it.effect("with a value schema, a Schema.Class with a Date comes back as an instance, after a restart", () =>
      Effect.gen(function* () {
        class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number, at: Schema.Date }) {}
        const h = makeHarness()
        let runs = 0
        const fn = DataCache.fn({ name: "trips", value: Schema.Array(Trip) }, (n: number) =>
          Effect.sync(() => {
            runs++
            return [new Trip({ id: n, at: new Date(n * 1000) })]
          })
        )
        yield* fn(5).pipe(Effect.provide(h.cache()))
        const read = yield* fn(5).pipe(Effect.provide(h.cache()))
        assert.strictEqual(runs, 1)
        assert.instanceOf(read[0], Trip)
        assert.instanceOf(read[0]!.at, Date)
        assert.strictEqual(read[0]!.at.getTime(), 5000)
        assert.isTrue(Equal.equals(read[0], new Trip({ id: 5, at: new Date(5000) })))
      })
    )
  })

  describe("values larger than the front tier", () => {
    it.effect("are read from the store on every call, each caller gets its own value, and nothing is kept in front", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        let runs = 0
        const big = DataCache.fn({ name: "big" }, (n: number) =>
          Effect.sync(() => {
            runs++
            return { n, values: new Float64Array(64 * 1024).fill(n) }
          })
        )
        // A 64 KB front: the 512 KB value is written to the store but not kept in front.
        const small = h.cache({ maxBytes: 64 * 1024 })
        yield* Effect.provide(big(3), small)
        const result = yield* Effect.provide(
          Effect.gen(function* () {
            const first = yield* big(3)
            first.values[0] = -1 // the caller's own: the next one does not see it
            const second = yield* big(3)
            const together = yield* Effect.all([big(3), big(3), big(3)], { concurrency: "unbounded" })
            together[0]!.values[1] = -2
            return { first, second, together, stats: yield* big.stats }
          }),
          small
        )
        assert.strictEqual(runs, 1)
        assert.strictEqual(result.first.values[0], -1)
        assert.strictEqual(result.second.values[0], 3)
        assert.notStrictEqual(result.second.values, result.first.values)
        // Concurrent callers (sharing a store read or not) each get a value of their own.
        assert.strictEqual(result.together[1]!.values[1], 3)
        assert.strictEqual(result.together[2]!.values[1], 3)
        assert.strictEqual(new Set(result.together.map((v) => v.values)).size, 3)
        assert.strictEqual(result.stats.entries, 0, "nothing kept in front")
        assert.isAtLeast(result.stats.storeHits, 3)
      })
    )
  })

  describe("times", () => {
    it.effect(
      "an entry keeps its original times: stored at 0 with ttl 1 hour, read by a restarted front at 50 min, expires at 60 min",
      () =>
        Effect.gen(function* () {
          const h = makeHarness()
          const { fn, runs } = counted("times")
          yield* fn(1).pipe(Effect.provide(h.cache()))
          yield* TestClock.adjust("50 minutes")
          yield* Effect.gen(function* () {
            assert.strictEqual((yield* fn(1)).run, 1, "served from the store")
            yield* TestClock.adjust(10 * 60_000 - 1)
            assert.strictEqual((yield* fn(1)).run, 1, "still fresh 1 ms before 60 min")
            yield* TestClock.adjust(1)
            assert.strictEqual((yield* fn(1)).run, 2, "expired at 60 min: the body runs again")
            const stats = yield* fn.stats
            assert.deepStrictEqual([stats.storeHits, stats.hits, stats.misses], [1, 1, 1])
          }).pipe(Effect.provide(h.cache()))
          assert.strictEqual(runs.count, 2)
        })
    )

    it.effect("a restarted front past ttl but within staleWhileRevalidate gets the stale value, and one refresh runs", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const refreshed = yield* Deferred.make<void>()
        let runs = 0
        const fn = DataCache.fn({ name: "stale", ttl: "1 hour", staleWhileRevalidate: "1 hour" }, (n: number) =>
          Effect.sync(() => {
            runs++
            if (runs > 1) Deferred.doneUnsafe(refreshed, Effect.void)
            return { n, run: runs }
          })
        )
        yield* fn(1).pipe(Effect.provide(h.cache()))
        yield* TestClock.adjust(60 * 60_000 + 1)
        yield* Effect.gen(function* () {
          assert.strictEqual((yield* fn(1)).run, 1, "the stale value, at once")
          // The refresh runs in the background: wait for it, with a bound on the test clock.
          const waited = yield* Effect.forkChild(Effect.timeoutOption(Deferred.await(refreshed), "1 second"))
          yield* TestClock.adjust("1 second")
          assert.isTrue(Option.isSome(yield* Fiber.join(waited)), "a refresh ran after the stale value was served")
          assert.strictEqual(runs, 2)
          assert.strictEqual((yield* fn(1)).run, 2, "the refreshed value")
        }).pipe(Effect.provide(h.cache()))
      })
    )
  })

  describe("invalidate, clear and has reach the store", () => {
    it.effect("fn.invalidate removes the stored entry: a restarted front recomputes", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("invalidate")
        yield* Effect.gen(function* () {
          yield* fn(1)
          yield* fn(2)
          yield* fn.invalidate(1)
        }).pipe(Effect.provide(h.cache()))
        yield* Effect.gen(function* () {
          assert.strictEqual((yield* fn(1)).run, 3, "recomputed")
          assert.strictEqual((yield* fn(2)).run, 2, "the other key is still stored")
        }).pipe(Effect.provide(h.cache()))
      })
    )

    it.effect("an invalidate in another front while this one computes: its callers get the late value, neither tier keeps it", () =>
      Effect.gen(function* () {
        // CacheStore.layerMemory has generations, as Redis does: the late write is refused.
        const store = Layer.succeedContext(yield* Layer.build(CacheStore.layerMemory()))
        const started = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        let runs = 0
        const fn = DataCache.fn({ name: "lateAfterInvalidate", ttl: "1 hour" }, (n: number) =>
          Effect.gen(function* () {
            const run = ++runs
            if (run === 1) {
              yield* Deferred.succeed(started, undefined)
              yield* Deferred.await(gate)
            }
            return { n, run }
          })
        )
        const a = yield* Layer.build(DataCache.layerStore().pipe(Layer.provide(store)))
        const b = yield* Layer.build(DataCache.layerStore().pipe(Layer.provide(store)))
        const inA = yield* Effect.forkChild(fn(1).pipe(Effect.provide(a)))
        yield* Deferred.await(started)
        yield* fn.invalidate(1).pipe(Effect.provide(b))
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual((yield* Fiber.join(inA)).run, 1, "the computation's callers get its value")
        // Bounded: the write runs in the background, and its refusal drops A's front copy.
        for (let i = 0; i < 100 && (yield* fn.stats.pipe(Effect.provide(a))).entries > 0; i++) yield* Effect.yieldNow
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(a))).run, 2, "A's front tier does not serve the value the invalidate removed")
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(b))).run, 2, "B reads what A computed after the invalidate")
      })
    )

    it.effect("fn.invalidate in a front that never read the entry still removes it from the store", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn, runs } = counted("invalidateCold")
        yield* fn(1).pipe(Effect.provide(h.cache()))
        yield* fn.invalidate(1).pipe(Effect.provide(h.cache()))
        assert.strictEqual((yield* h.inner.stats).entries, 0)
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache()))).run, 2)
        assert.strictEqual(runs.count, 2)
      })
    )

    it.effect("fn.clear removes the function's stored entries, and only its own", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const a = counted("clearA")
        const b = counted("clearB")
        yield* Effect.all([a.fn(1), a.fn(2), b.fn(1)]).pipe(Effect.provide(h.cache()))
        yield* a.fn.clear.pipe(Effect.provide(h.cache()))
        yield* Effect.gen(function* () {
          assert.strictEqual((yield* a.fn(1)).run, 3)
          assert.strictEqual((yield* a.fn(2)).run, 4)
          assert.strictEqual((yield* b.fn(1)).run, 1, "another function's entry stays")
        }).pipe(Effect.provide(h.cache()))
      })
    )

    it.effect("DataCache.clear removes every stored entry, of functions this front never called too", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const a = counted("clearAllA")
        const b = counted("clearAllB")
        yield* Effect.all([a.fn(1), b.fn(1)]).pipe(Effect.provide(h.cache()))
        yield* DataCache.clear.pipe(Effect.provide(h.cache()))
        assert.strictEqual((yield* h.inner.stats).entries, 0)
        const [x, y] = yield* Effect.all([a.fn(1), b.fn(1)]).pipe(Effect.provide(h.cache()))
        assert.deepStrictEqual([x.run, y.run], [2, 2])
      })
    )

    it.effect("has sees an entry only the store holds, and no longer after invalidate", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn, runs } = counted("has")
        yield* fn(1).pipe(Effect.provide(h.cache()))
        yield* Effect.gen(function* () {
          assert.isTrue(yield* fn.has(1), "the store's entry")
          assert.isFalse(yield* fn.has(2))
          const stats = yield* fn.stats
          assert.deepStrictEqual([stats.hits, stats.storeHits, stats.misses, stats.entries], [0, 0, 0, 0], "has is no call")
          yield* fn.invalidate(1)
          assert.isFalse(yield* fn.has(1))
        }).pipe(Effect.provide(h.cache()))
        assert.strictEqual(runs.count, 1)
      })
    )

    it.effect("has is false for an entry past its ttl in the store", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("hasExpired")
        yield* fn(1).pipe(Effect.provide(h.cache()))
        yield* TestClock.adjust("1 hour")
        assert.isFalse(yield* fn.has(1).pipe(Effect.provide(h.cache())))
      })
    )
  })

  describe("what is not stored", () => {
    it.effect("persist: false never reaches the store: no get, no set, no lock; a restart recomputes", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn, runs } = counted("memoryOnly", { persist: false })
        yield* Effect.all([fn(1), fn(1), fn(2), fn.has(3), fn.invalidate(1)]).pipe(Effect.provide(h.cache()))
        assert.deepStrictEqual(yield* h.inner.stats, { namespaces: 0, entries: 0, bytes: 0 })
        assert.deepStrictEqual(h.calls, {})
        assert.strictEqual((yield* fn(2).pipe(Effect.provide(h.cache()))).run, 3)
        const stats = yield* fn.stats.pipe(Effect.provide(h.cache()))
        assert.deepStrictEqual([stats.storeWrites, stats.storeHits, stats.storeErrors], [0, 0, 0])
        assert.strictEqual(runs.count, 3)
      })
    )

    it.effect("a Data.Class value without a value schema: calls succeed from the front, one warning per function, nothing stored", () =>
      Effect.gen(function* () {
        class Point extends Data.Class<{ readonly x: number }> {}
        class Other extends Data.Class<{ readonly y: number }> {}
        const h = makeHarness()
        const logs = captureLogs()
        let runs = 0
        const point = DataCache.fn("point", (x: number) =>
          Effect.sync(() => {
            runs++
            return new Point({ x })
          })
        )
        const other = DataCache.fn("other", (y: number) => Effect.sync(() => new Other({ y })))
        yield* Effect.gen(function* () {
          for (let i = 0; i < 20; i++) {
            const p = yield* point(i % 5)
            assert.instanceOf(p, Point)
            assert.strictEqual(p.x, i % 5)
          }
          yield* other(1)
          yield* other(2)
          const stats = yield* point.stats
          assert.deepStrictEqual([stats.misses, stats.hits, stats.storeWrites, stats.storeErrors], [5, 15, 0, 0])
        }).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
        assert.strictEqual(runs, 5)
        const warnings = logs.warnings()
        assert.strictEqual(warnings.length, 2, warnings.join("\n"))
        assert.include(warnings[0], "point")
        assert.include(warnings[1], "other")
        assert.include(warnings[0], "value")
        assert.deepStrictEqual(yield* h.inner.stats, { namespaces: 0, entries: 0, bytes: 0 })
      })
    )
  })

  // Found by an attack trial: a large value's entry was encoded after its callers had it, from the instance kept,
  // which under readonly is theirs too: a caller's write into a typed array (those cannot be frozen) reached the
  // store, and so every process and every restart after.
  it.effect('copy: "readonly": a caller\'s write into a typed array after the call never reaches the store, small or large', () =>
    Effect.gen(function* () {
      const h = makeHarness()
      for (const length of [10, 300_000]) {
        let runs = 0
        const frame = DataCache.fn({ name: `frame-${length}`, copy: "readonly" }, () =>
          Effect.sync(() => {
            runs++
            return { f: new Float64Array(length) }
          })
        )
        yield* Effect.gen(function* () {
          // The types forbid the write (a ReadonlyTypedArray); the bytes cannot.
          const f = (yield* frame()).f as unknown as Float64Array
          f[0] = 777
          f[length - 1] = 777
        }).pipe(Effect.provide(h.cache()))
        const read = yield* frame().pipe(Effect.provide(h.cache()))
        assert.strictEqual(runs, 1, "read from the store")
        assert.strictEqual(read.f[0], 0, `${length} elements: the first`)
        assert.strictEqual(read.f[length - 1], 0, `${length} elements: the last`)
      }
    })
  )

  it.effect('copy: "readonly" with a value schema: the warning says the schema does not apply there, not to add one', () =>
    Effect.gen(function* () {
      class Point extends Schema.Class<Point>("Point")({ x: Schema.Number }) {}
      const h = makeHarness()
      const logs = captureLogs()
      const point = DataCache.fn({ name: "point", copy: "readonly", value: Point }, (x: number) => Effect.sync(() => new Point({ x })))
      yield* point(1).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
      const [warning] = logs.warnings()
      assert.include(warning, 'copy: "readonly"` keeps the instance itself')
      assert.notInclude(warning, "To store it, give the function a `value` schema")
    })
  )

  it.effect("a Redacted value: kept in memory, and the warning does not advise a value schema (that would store the secret in clear)", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const logs = captureLogs()
      const token = DataCache.fn("token", (user: string) => Effect.succeed(Redacted.make(`secret of ${user}`)))
      const value = yield* token("ann").pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
      assert.strictEqual(Redacted.value(value), "secret of ann")
      const warnings = logs.warnings()
      assert.strictEqual(warnings.length, 1, warnings.join("\n"))
      assert.include(warnings[0], "persist: false")
      assert.include(warnings[0], "in clear")
      assert.notInclude(warnings[0], "To store it")
      assert.notInclude(warnings[0], "Data or Schema class")
      assert.deepStrictEqual(yield* h.inner.stats, { namespaces: 0, entries: 0, bytes: 0 })
    })
  )

  it.effect("a value nested 1,500 levels deep: kept in memory, and the warning names its part in a short line", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const logs = captureLogs()
      const deep = DataCache.fn("deep", (levels: number) =>
        Effect.sync(() => {
          let value: unknown = "bottom"
          for (let i = 0; i < levels; i++) value = { o: value }
          return value
        })
      )
      yield* deep(1500).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
      const [warning] = logs.warnings()
      assert.include(warning, "nested more than 1000 levels deep")
      assert.include(warning, "more …")
      assert.isBelow(warning!.length, 1000)
    })
  )

  it.effect("replay: after a restart, the store hit writes the body's Console and log lines again, in order", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const lines: Array<string> = []
      const console: Console.Console = Object.assign(Object.create(globalThis.console), {
        log: (...args: ReadonlyArray<unknown>) => lines.push(["console", ...args].join(" "))
      })
      const logs = captureLogs()
      const fn = DataCache.fn("chatty", (n: number) =>
        Effect.gen(function* () {
          yield* Console.log("computing", n)
          yield* Effect.logInfo("logged", n)
          yield* Console.log("done", n)
          return n * 2
        })
      )
      const run = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>) =>
        effect.pipe(Effect.provide(h.cache()), Effect.provideService(Console.Console, console), Effect.provide(logs.layer))
      assert.strictEqual(yield* run(fn(4)), 8)
      const first = [...lines]
      const firstLogs = logs.infos()
      assert.deepStrictEqual(first, ["console computing 4", "console done 4"])
      assert.deepStrictEqual(firstLogs, ["Info logged 4"])
      lines.length = 0
      logs.lines.length = 0
      assert.strictEqual(yield* run(fn(4)), 8)
      assert.deepStrictEqual(lines, first)
      assert.deepStrictEqual(logs.infos(), firstLogs)
      assert.strictEqual((yield* run(fn.stats)).storeHits, 0, "stats of a new front")
    })
  )

  // Found by a stranger trial: a process with replay off still replayed the output another process had stored.
  it.effect("replay: false, on the function or the layer, replays nothing that other processes stored", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const lines: Array<string> = []
      const console: Console.Console = Object.assign(Object.create(globalThis.console), {
        log: (...args: ReadonlyArray<unknown>) => lines.push(args.join(" "))
      })
      const body = (n: number) => Effect.as(Console.log("computing", n), n * 2)
      const chatty = DataCache.fn("quietly", body)
      const quiet = DataCache.fn({ name: "quietly", replay: false }, body)
      const run = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>, layer = h.cache()) =>
        effect.pipe(Effect.provide(layer), Effect.provideService(Console.Console, console))
      yield* run(chatty(1))
      yield* run(chatty(2))
      assert.deepStrictEqual(lines, ["computing 1", "computing 2"])
      lines.length = 0
      assert.strictEqual(yield* run(quiet(1)), 2)
      assert.strictEqual(yield* run(chatty(2), h.cache({ replay: false })), 4)
      assert.deepStrictEqual(lines, [], "read from the store, nothing replayed")
      assert.strictEqual(yield* run(chatty(1)), 2)
      assert.deepStrictEqual(lines, ["computing 1"], "with replay on, the stored output is replayed")
    })
  )

  // Found by an outside trial: recorded output counted two bytes a character in the process that computed it and
  // its UTF-8 length in one that read it from the store, so a byte budget kept it in one process and not the other.
  it.effect("recorded output read from the store counts as its recording did: one byte budget, one outcome in every process", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const quiet: Console.Console = Object.assign(Object.create(globalThis.console), { log: () => {} })
      // 300,000 characters: about 600 KB as recorded (two bytes a character), 300 KB in the payload.
      const chatty = DataCache.fn({ name: "chattyBudget", maxBytes: 400_000 }, (n: number) =>
        Effect.as(Console.log("x".repeat(300_000)), n)
      )
      const run = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>, layer: Layer.Layer<DataCache.DataCache>) =>
        effect.pipe(Effect.provide(layer), Effect.provideService(Console.Console, quiet))
      const computing = h.cache()
      const reading = h.cache()
      const a = yield* Layer.build(computing)
      yield* run(chatty(1), Layer.succeedContext(a))
      yield* StoreTier.awaitAllWrites((yield* DataCache.DataCache.pipe(Effect.provide(a))).cache.tier!)
      assert.strictEqual((yield* run(chatty.stats, Layer.succeedContext(a))).entries, 0, "over the budget where it was computed")
      const b = yield* Layer.build(reading)
      assert.strictEqual(yield* run(chatty(1), Layer.succeedContext(b)), 1)
      const read = yield* run(chatty.stats, Layer.succeedContext(b))
      assert.strictEqual(read.storeHits, 1)
      assert.strictEqual(read.entries, 0, "over the budget where it was read, too")
      // Under the budget, with Errors inside logged objects (rendered in place): the same bytes both ways.
      const nested = DataCache.fn("nestedErrorBytes", (n: number) =>
        Effect.as(Console.log({ err: new Error(`failed ${n}`), n }, [1, new Error("in a list")]), n)
      )
      yield* run(nested(1), Layer.succeedContext(a))
      yield* StoreTier.awaitAllWrites((yield* DataCache.DataCache.pipe(Effect.provide(a))).cache.tier!)
      yield* run(nested(1), Layer.succeedContext(b))
      const [there, here] = [yield* run(nested.stats, Layer.succeedContext(a)), yield* run(nested.stats, Layer.succeedContext(b))]
      assert.deepStrictEqual([here.storeHits, here.entries], [1, 1])
      assert.strictEqual(here.bytes, there.bytes, "counted alike where computed and where read")
    })
  )

  describe("secret", () => {
    it.effect("entries are signed; a front with the same secret reads them", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn, runs } = counted("signed")
        yield* fn(1).pipe(Effect.provide(h.cache({ secret: SECRET })))
        const entry = yield* storedBytes(h, h.lastWritten())
        assert.strictEqual(entry.bytes[7], 1, "the signed flag")
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache({ secret: SECRET })))).run, 1)
        assert.strictEqual(runs.count, 1)
      })
    )

    it.effect("a front with another secret, or none, does not use a signed entry: it recomputes", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("otherSecret")
        yield* fn(1).pipe(Effect.provide(h.cache({ secret: SECRET })))
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache({ secret: OTHER_SECRET })))).run, 2)
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache()))).run, 3)
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache({ secret: SECRET })))).run, 1, "its own entry is intact")
      })
    )

    it.effect("a signed entry put under the name an unsigned front reads is a miss for it, and the reverse", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("swapped")
        yield* fn(1).pipe(Effect.provide(h.cache({ secret: SECRET })))
        const signed = h.lastWritten()
        yield* fn(1).pipe(Effect.provide(h.cache()))
        const plain = h.lastWritten()
        assert.notStrictEqual(signed.key, plain.key, "a secret keys the names")
        const signedBytes = (yield* storedBytes(h, signed)).bytes
        const plainBytes = (yield* storedBytes(h, plain)).bytes
        yield* h.inner.set(plain.namespace, plain.key, signedBytes, Infinity)
        yield* h.inner.set(signed.namespace, signed.key, plainBytes, Infinity)
        const logs = captureLogs()
        const a = yield* fn(1).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
        const b = yield* fn(1).pipe(Effect.provide(h.cache({ secret: SECRET })), Effect.provide(logs.layer))
        assert.deepStrictEqual([a.run, b.run], [3, 4])
        assert.strictEqual(logs.warnings().length, 2, logs.warnings().join("\n"))
      })
    )

    it.effect("a tampered signed entry is a miss: recomputed, warned about once, replaced", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("tampered")
        yield* fn(7).pipe(Effect.provide(h.cache({ secret: SECRET })))
        const at = h.lastWritten()
        const entry = yield* storedBytes(h, at)
        const bytes = entry.bytes.slice()
        // The last payload byte sits just before the 32-byte signature.
        bytes[bytes.length - 33]! ^= 0x01
        yield* h.inner.set(at.namespace, at.key, bytes, entry.expiresAt)
        const logs = captureLogs()
        const value = yield* fn(7).pipe(Effect.provide(h.cache({ secret: SECRET })), Effect.provide(logs.layer))
        assert.deepStrictEqual([value.square, value.run], [49, 2])
        assert.strictEqual(logs.warnings().length, 1)
        assert.include(logs.warnings()[0], "signature")
        assert.strictEqual((yield* fn(7).pipe(Effect.provide(h.cache({ secret: SECRET })))).run, 2, "replaced")
      })
    )

    it.effect("a secret from Config.Redacted through a ConfigProvider signs as the same Redacted does", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("configSecret")
        const provider = ConfigProvider.fromUnknown({ RECALL_SECRET: Redacted.value(SECRET) })
        yield* fn(1).pipe(
          Effect.provide(h.cache({ secret: Config.Redacted("RECALL_SECRET") })),
          Effect.provideService(ConfigProvider.ConfigProvider, provider)
        )
        assert.strictEqual((yield* storedBytes(h, h.lastWritten())).bytes[7], 1)
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache({ secret: SECRET })))).run, 1)
      })
    )

    it.effect("a missing Config secret fails the layer with a ConfigError", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const exit = yield* Effect.exit(
          DataCache.clear.pipe(
            Effect.provide(h.cache({ secret: Config.Redacted("RECALL_SECRET_UNSET") })),
            Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown({}))
          )
        )
        assert.isTrue(Exit.isFailure(exit) && Cause.hasFails(exit.cause), String(exit))
        // Found by a stranger trial: Effect's own message named only a schema issue; it says what the secret is for.
        const error = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause) as Config.ConfigError
        assert.strictEqual(error._tag, "ConfigError")
        assert.include(error.message, "DataCache.layerStore's secret could not be read from Config")
        assert.include(error.message, "RECALL_SECRET_UNSET")
        assert.include(error.message, "set it to a random string of 32 characters or more")
      })
    )

    it.effect("a secret shorter than 16 bytes is refused by layerStore itself, naming the option", () =>
      Effect.sync(() => {
        const h = makeHarness()
        const error = rejection(() => h.cache({ secret: Redacted.make("too short") }))
        assert.strictEqual(error.option, "secret")
        assert.include(error.message, "at least 16 bytes, got 9")
        assert.deepStrictEqual(h.calls, {}, "the store was not used")
      })
    )

    it.effect("a short secret from Config fails the layer with a ConfigError (typed, catchable), saying so", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const exit = yield* Effect.exit(
          DataCache.clear.pipe(
            Effect.provide(h.cache({ secret: Config.Redacted("SHORT_SECRET") })),
            Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown({ SHORT_SECRET: "too short" }))
          )
        )
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          // A failure, not a defect (the environment is wrong, not the code): naming the option and where it came
          // from, never the secret.
          const error = Cause.findErrorOption(exit.cause)
          assert.isTrue(Option.isSome(error))
          assert.instanceOf(Option.getOrThrow(error), Config.ConfigError)
          assert.include(String(Option.getOrThrow(error)), "16 bytes (read from Config)")
          assert.notInclude(String(Option.getOrThrow(error)), "too short")
        }
        assert.deepStrictEqual(h.calls, {}, "the store was not used")
      })
    )

    it.effect("a secret of 16 bytes exactly works", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("sixteen")
        const secret = Redacted.make(new Uint8Array(16).fill(7))
        yield* fn(1).pipe(Effect.provide(h.cache({ secret })))
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache({ secret })))).run, 1)
      })
    )

    it("a plain string secret is rejected with InvalidOptionsError", () => {
      const error = rejection(() => DataCache.layerStore({ secret: "a plain string secret of 32 chars" as never }))
      assert.strictEqual(error.option, "secret")
      assert.notInclude(error.message, "a plain string secret of 32 chars", "the secret is not repeated in the error")
    })
  })

  describe("cross-process single flight (CacheStore.layerMemory's locks)", () => {
    it.effect("two front tiers, 25 callers each on one key, a gated body: it runs once; the second waits on the lock and reads", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const started = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        let runs = 0
        const fn = DataCache.fn("flight", (n: number) =>
          Effect.gen(function* () {
            runs++
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
            return { n, run: runs }
          })
        )
        const a = yield* Layer.build(h.cache())
        const b = yield* Layer.build(h.cache())
        const callers = (context: typeof a) =>
          Effect.forkChild(
            Effect.all(
              Array.from({ length: 25 }, () => fn(1)),
              { concurrency: "unbounded" }
            ).pipe(Effect.provide(context))
          )
        const first = yield* callers(a)
        yield* Deferred.await(started)
        const second = yield* callers(b)
        // The second front found the lock taken and waits for its release.
        yield* Deferred.await(h.reached("awaitRelease"))
        yield* TestClock.adjust("30 seconds") // longer than lockTtl: the holder renews its lock
        assert.strictEqual(runs, 1)
        yield* Deferred.succeed(gate, undefined)
        const [xs, ys] = [yield* Fiber.join(first), yield* Fiber.join(second)]
        assert.strictEqual(runs, 1)
        for (const value of [...xs, ...ys]) assert.deepStrictEqual(value, { n: 1, run: 1 })
        const sa = yield* fn.stats.pipe(Effect.provide(a))
        const sb = yield* fn.stats.pipe(Effect.provide(b))
        assert.deepStrictEqual([sa.misses, sa.hits, sa.storeHits], [1, 24, 0])
        assert.deepStrictEqual([sb.misses, sb.hits, sb.storeHits], [0, 24, 1])
      })
    )

    // Found by a stranger trial: a large value's encoding is synchronous (seconds for 400k rows), the lock's own
    // renewals cannot run meanwhile, and with a short lockTtl another process took the key over and computed it again.
    it.effect("a large value's write renews the lock right before its encoding; a small one's does not", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const large = DataCache.fn("largeRenewed", (n: number) => Effect.sync(() => new Float64Array(200_000).fill(n)))
        const small = DataCache.fn("smallNotRenewed", (n: number) => Effect.succeed(n))
        const cache = yield* Layer.build(h.cache({ lockTtl: "3 seconds" }))
        yield* small(1).pipe(Effect.provide(cache))
        yield* StoreTier.awaitAllWrites((yield* DataCache.DataCache.pipe(Effect.provide(cache))).cache.tier!)
        assert.strictEqual(h.calls.renew ?? 0, 0, "no time passed, and a small value is encoded at once")
        assert.strictEqual((yield* large(2).pipe(Effect.provide(cache)))[0], 2)
        yield* StoreTier.awaitAllWrites((yield* DataCache.DataCache.pipe(Effect.provide(cache))).cache.tier!)
        assert.strictEqual(h.calls.renew, 1, "renewed once, before the encoding")
        assert.strictEqual(h.calls.set, 2)
        assert.strictEqual(h.calls.release, 2)
      })
    )

    // Found by an outside trial: with waiters in three processes and a body that fails, the processes took turns
    // behind the lock, each running the body in full, so the last waited three bodies' time.
    it.effect("a body that fails: the fronts waiting on its lock compute at once, side by side, not one after another", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const starts: Array<number> = []
        const fn = DataCache.fn("failsEverywhere", (n: number) =>
          Effect.gen(function* () {
            starts.push(yield* Clock.currentTimeMillis)
            yield* Effect.sleep("300 millis")
            return yield* Effect.fail(`down ${n}`)
          })
        )
        const fronts = [yield* Layer.build(h.cache()), yield* Layer.build(h.cache()), yield* Layer.build(h.cache())]
        const turns = (done: () => boolean) =>
          Effect.gen(function* () {
            for (let i = 0; i < 200 && !done(); i++) yield* Effect.yieldNow
          })
        const first = yield* Effect.forkChild(Effect.flip(fn(1).pipe(Effect.provide(fronts[0]!))))
        yield* turns(() => starts.length === 1)
        const waiting = [
          yield* Effect.forkChild(Effect.flip(fn(1).pipe(Effect.provide(fronts[1]!)))),
          yield* Effect.forkChild(Effect.flip(fn(1).pipe(Effect.provide(fronts[2]!))))
        ]
        yield* turns(() => (h.calls.awaitRelease ?? 0) >= 2)
        assert.strictEqual(h.calls.awaitRelease, 2, "both wait on the holder's lock")
        yield* TestClock.adjust("300 millis")
        assert.strictEqual(yield* Fiber.join(first), "down 1")
        yield* turns(() => starts.length === 3)
        assert.deepStrictEqual(starts, [0, 300, 300], "the two waiters started together, as the holder failed")
        yield* TestClock.adjust("300 millis")
        for (const fiber of waiting) assert.strictEqual(yield* Fiber.join(fiber), "down 1")
      })
    )

    it.effect("a store without locks still works: each front computes on its own", () =>
      Effect.gen(function* () {
        const h = makeHarness({ locks: false })
        const { fn, runs } = counted("noLocks")
        yield* fn(1).pipe(Effect.provide(h.cache()))
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache()))).run, 1)
        assert.strictEqual(runs.count, 1)
      })
    )
  })

  describe("options", () => {
    it("bad storeTimeout, lockTtl, lockWait, secret and persist are InvalidOptionsErrors naming the option", () => {
      for (const storeTimeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "soon", "-5 seconds", {}, null]) {
        assert.strictEqual(rejection(() => DataCache.layerStore({ storeTimeout: storeTimeout as never })).option, "storeTimeout")
      }
      for (const lockTtl of [0, -1, Number.NaN, "forever", "Infinity", true]) {
        assert.strictEqual(rejection(() => DataCache.layerStore({ lockTtl: lockTtl as never })).option, "lockTtl")
        assert.strictEqual(rejection(() => DataCache.layerStore({ lockWait: lockTtl as never })).option, "lockWait")
      }
      for (const secret of ["plain", 42, { value: "x" }, new Uint8Array(32)]) {
        assert.strictEqual(rejection(() => DataCache.layerStore({ secret: secret as never })).option, "secret")
      }
      for (const persist of ["false", 0, 1, null]) {
        const error = rejection(() => DataCache.fn({ name: "p", persist: persist as never }, () => Effect.void))
        assert.strictEqual(error.option, "persist")
      }
      assert.include(rejection(() => DataCache.layerStore({ storeTimout: "1 second" } as never)).message, "storeTimeout")
      assert.strictEqual(rejection(() => DataCache.layerStore({ maxBytes: -1 })).option, "maxBytes")
    })

    it.effect("good options build", () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn } = counted("goodOptions")
        const cache = h.cache({ storeTimeout: "250 millis", lockTtl: 3000, maxBytes: 1 << 20, sweepInterval: "1 minute", replay: false })
        assert.strictEqual((yield* fn(3).pipe(Effect.provide(cache))).square, 9)
      })
    )
  })
})
