/**
 * Attacks on DataCache.layerStore from outside: wrong values and hangs.
 * Each test asserts what docs/persistence.md, docs/stores.md and
 * docs/data-cache.md promise; a failing test is a finding.
 */
import { assert, describe, it } from "@effect/vitest"
import { CacheStore, DataCache } from "@recall/core"
import { Context, Deferred, Effect, Exit, Fiber, Inspectable, Layer, Logger, Option, Redacted, Schema, SchemaGetter, Scope } from "effect"
import { TestClock } from "effect/testing"
import { captureLogs, makeHarness } from "./fixtures/storeHarness.ts"

/** A DataCache over `store` (a new front tier each time it is provided). */
const over = (store: CacheStore.Service, options?: DataCache.StoreLayerOptions) =>
  DataCache.layerStore(options ?? {}).pipe(Layer.provide(Layer.succeed(CacheStore.CacheStore, store)))

/** Wraps a store so that `get` reads the inner entry first, then waits for `gate` before returning it. */
const readThenWait = (inner: CacheStore.Service, gate: Deferred.Deferred<void>, reached: Deferred.Deferred<void>) =>
  CacheStore.make({
    ...inner,
    get: (namespace, key) =>
      Effect.tap(inner.get(namespace, key), () => Effect.andThen(Deferred.succeed(reached, undefined), Deferred.await(gate)))
  })

describe("layerStore attacks: identity", () => {
  it.effect("a value schema edited only in its transformation is a new identity: the old entry is not decoded by the new schema", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      // One body (one source text), as when the schema lives in another module and is edited there.
      const load = (n: number) => Effect.succeed(n)
      const before = DataCache.fn({ name: "price", value: Schema.Number }, load)
      const Doubled = Schema.Number.pipe(
        Schema.decodeTo(Schema.Number, {
          decode: SchemaGetter.transform((x: number) => x * 2),
          encode: SchemaGetter.transform((x: number) => x / 2)
        })
      )
      const after = DataCache.fn({ name: "price", value: Doubled }, load)
      assert.strictEqual(yield* before(5).pipe(Effect.provide(h.cache())), 5)
      // The new code's body returns 5 for 5; the docs: "Editing the body or the schema therefore starts a new cache".
      const read = yield* after(5).pipe(Effect.provide(h.cache()))
      assert.strictEqual(read, 5, "the new function's value for 5 is its body's, not the old entry decoded by the new schema")
      assert.notStrictEqual(before.id, after.id, "two schemas, two identities")
    })
  )

  it.effect("Schema.String and Schema.NumberFromString (one JSON Schema document, {type: string}) make two identities", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const before = DataCache.fn({ name: "code", value: Schema.String }, (n: number) => Effect.succeed(String(n * 10)))
      // The same source text once TypeScript is stripped; the value schemas differ.
      const after = DataCache.fn(
        { name: "code", value: Schema.NumberFromString },
        (n: number) => Effect.succeed(String(n * 10)) as unknown as Effect.Effect<number>
      )
      yield* before(4).pipe(Effect.provide(h.cache()))
      assert.notStrictEqual(before.id, after.id)
    })
  )

  it.effect("two functions with one name and different bodies never read each other's entries", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const a = DataCache.fn("shared", (n: number) => Effect.succeed({ v: n + 1 }))
      const b = DataCache.fn("shared", (n: number) => Effect.succeed({ v: n + 2 }))
      assert.strictEqual((yield* a(1).pipe(Effect.provide(h.cache()))).v, 2)
      assert.strictEqual((yield* b(1).pipe(Effect.provide(h.cache()))).v, 3)
      assert.strictEqual((yield* a(1).pipe(Effect.provide(h.cache()))).v, 2)
    })
  )

  it.effect("copy: clone and copy: readonly of one name and body are two identities", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const body = (n: number) => Effect.succeed({ v: n })
      const a = DataCache.fn({ name: "modes" }, body)
      const b = DataCache.fn({ name: "modes", copy: "readonly" }, body)
      yield* a(1).pipe(Effect.provide(h.cache()))
      const read = yield* b(1).pipe(Effect.provide(h.cache()))
      assert.isTrue(Object.isFrozen(read))
    })
  )
})

describe("layerStore attacks: values read from the store", () => {
  // Found by a stranger trial: typed arrays read from the store were views into the entry's one buffer (its header
  // and the value's other fields visible through `.buffer`; transferring one detached the others), and front-tier
  // hits after the read kept them sharing a buffer.
  it.effect("typed arrays read from the store each have a buffer of their own, in the read and in later front-tier hits", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const fn = DataCache.fn("columns", (n: number) =>
        Effect.sync(() => ({ a: new Float64Array(20_000).fill(n), b: new Float64Array(20_000).fill(n + 1), s: new Uint8Array([1, 2, 3]) }))
      )
      yield* fn(1).pipe(Effect.provide(h.cache()))
      yield* Effect.gen(function* () {
        for (const [i, value] of [yield* fn(1), yield* fn(1)].entries()) {
          const buffers = [value.a.buffer, value.b.buffer, value.s.buffer]
          assert.strictEqual(new Set(buffers).size, 3, `read ${i}: three buffers`)
          assert.deepStrictEqual(
            buffers.map((buffer) => buffer.byteLength),
            [160_000, 160_000, 3],
            `read ${i}: each buffer holds its array only`
          )
          structuredClone(value.a, { transfer: [value.a.buffer] })
          assert.strictEqual(value.b[19_999], 2, `read ${i}: b is whole after a's buffer was transferred`)
        }
      }).pipe(Effect.provide(h.cache()))
    })
  )

  it.effect("copy: readonly: a value read from the store is deeply frozen, and the next caller sees it unchanged", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const fn = DataCache.fn({ name: "frozen", copy: "readonly" }, (n: number) =>
        Effect.succeed({ n, list: [1, 2], nested: { deep: { x: 1 } }, map: new Map([["a", [1]]]) })
      )
      yield* fn(1).pipe(Effect.provide(h.cache()))
      yield* Effect.gen(function* () {
        const read = yield* fn(1)
        assert.isTrue(Object.isFrozen(read), "top")
        assert.isTrue(Object.isFrozen(read.list), "array")
        assert.isTrue(Object.isFrozen(read.nested.deep), "nested")
        assert.throws(() => {
          ;(read.list as Array<number>).push(3)
        })
        const again = yield* fn(1)
        assert.deepStrictEqual(again.list, [1, 2])
        assert.strictEqual(again.nested.deep.x, 1)
      }).pipe(Effect.provide(h.cache()))
    })
  )

  it.effect("a value larger than the front's maxBytes, read from the store by 8 concurrent callers: each has its own copy", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const fn = DataCache.fn("big", (n: number) =>
        Effect.succeed({ n, frame: new Float64Array(10_000).fill(n), list: Array.from({ length: 1000 }, (_, i) => i) })
      )
      yield* fn(3).pipe(Effect.provide(h.cache()))
      yield* Effect.gen(function* () {
        const values = yield* Effect.all(
          Array.from({ length: 8 }, () => fn(3)),
          { concurrency: "unbounded" }
        )
        values[0]!.frame[0] = -1
        values[0]!.list[0] = -1
        for (const v of values.slice(1)) {
          assert.strictEqual(v.frame[0], 3)
          assert.strictEqual(v.list[0], 0)
        }
        const next = yield* fn(3)
        assert.strictEqual(next.frame[0], 3)
        assert.strictEqual(next.list[0], 0)
      }).pipe(Effect.provide(h.cache({ maxBytes: 1000 })))
    })
  )

  it.effect("odd values come back from the store as the computing caller got them", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const make = () => {
        const sparse: Array<unknown> = []
        sparse[3] = "x"
        const withProto = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')
        const bare = Object.create(null) as Record<string, unknown>
        bare.k = 1
        return {
          sparse,
          withProto,
          bare,
          invalidDate: new Date(Number.NaN),
          undef: undefined,
          numericKeys: { "1": "a", "01": "b", "-0": "c" },
          mapKeys: new Map<unknown, unknown>([
            [-0, "negzero"],
            [Number.NaN, "nan"],
            [1n, "big"],
            ["", "empty"]
          ]),
          emptyBytes: new Uint8Array(0),
          lone: "\ud800",
          big: -(2n ** 64n),
          floats: [Number.MIN_VALUE, -Number.MAX_VALUE, Infinity, -Infinity]
        }
      }
      const fn = DataCache.fn("odd", () => Effect.sync(make))
      const computed = yield* fn().pipe(Effect.provide(h.cache()))
      const read = yield* fn().pipe(Effect.provide(h.cache()))
      const stats = yield* fn.stats.pipe(Effect.provide(h.cache()))
      assert.strictEqual(stats.storeErrors, 0)
      assert.deepStrictEqual(read, computed)
      assert.isFalse(1 in read.sparse, "a hole stays a hole")
      assert.strictEqual(read.sparse.length, 4)
      assert.isTrue(Object.hasOwn(read.withProto, "__proto__"), "an own __proto__ key stays an own key")
      assert.isUndefined(({} as Record<string, unknown>).polluted)
      assert.isNull(Object.getPrototypeOf(read.bare))
      assert.isTrue(Number.isNaN(read.invalidDate.getTime()))
      assert.isTrue("undef" in read)
      assert.isTrue(Object.is([...read.mapKeys.keys()][0], 0) || Object.is([...read.mapKeys.keys()][0], -0))
      assert.strictEqual(read.mapKeys.get(Number.NaN), "nan")
      assert.strictEqual(read.lone, "\ud800")
      assert.strictEqual(read.big, -(2n ** 64n))
    })
  )

  it.effect("a value nested 10,000 deep: the call succeeds and a restart gets the same value (or computes it)", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const deep = () => {
        let v: unknown = "leaf"
        for (let i = 0; i < 10_000; i++) v = { c: v }
        return v
      }
      let runs = 0
      const fn = DataCache.fn("deep", () =>
        Effect.sync(() => {
          runs++
          return deep()
        })
      )
      yield* fn().pipe(Effect.provide(h.cache()))
      const read = yield* fn().pipe(Effect.provide(h.cache()))
      let v: any = read
      let depth = 0
      while (typeof v === "object") {
        v = v.c
        depth++
      }
      assert.strictEqual(depth, 10_000)
      assert.strictEqual(v, "leaf")
      assert.isAtMost(runs, 2)
    })
  )

  it.effect("a value nested 100,000 deep: the call succeeds; no hang, no defect", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const deep = () => {
        let v: unknown = 1
        for (let i = 0; i < 100_000; i++) v = [v]
        return v
      }
      const fn = DataCache.fn("deeper", () => Effect.sync(deep))
      const exit1 = yield* Effect.exit(fn().pipe(Effect.provide(h.cache())))
      const exit2 = yield* Effect.exit(fn().pipe(Effect.provide(h.cache())))
      // A too-deep value may fail the call with a value error, but both fronts must agree and none may die.
      assert.isFalse(Exit.isFailure(exit1) && exit1.cause.reasons.some((r) => r._tag === "Die"), String(exit1))
      assert.isFalse(Exit.isFailure(exit2) && exit2.cause.reasons.some((r) => r._tag === "Die"), String(exit2))
    })
  )
})

describe("layerStore attacks: keys", () => {
  it.effect("_-prefixed parameters are ignored by the store name as in memory", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn("withConn", (_conn: { id: number }, n: number) =>
        Effect.sync(() => {
          runs++
          return { n }
        })
      )
      yield* fn({ id: 1 }, 7).pipe(Effect.provide(h.cache()))
      const read = yield* fn({ id: 2 }, 7).pipe(Effect.provide(h.cache()))
      assert.strictEqual(read.n, 7)
      assert.strictEqual(runs, 1)
      const other = yield* fn({ id: 1 }, 8).pipe(Effect.provide(h.cache()))
      assert.strictEqual(other.n, 8)
    })
  )

  // Found by a stranger trial: alice's signed entry, copied unchanged to mallory's name, was read as mallory's balance.
  it.effect("with a secret, an entry copied to another call's name is a miss: computed for that call, never the other's value", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const secret = Redacted.make("a store secret of 32 characters!")
      let runs = 0
      const balance = DataCache.fn("balance", (user: string) =>
        Effect.sync(() => ({ user, balance: user === "alice" ? 1_000_000 : 5, run: ++runs }))
      )
      yield* balance("alice").pipe(Effect.provide(h.cache({ secret })))
      const alice = h.lastWritten()
      yield* balance("mallory").pipe(Effect.provide(h.cache({ secret })))
      const mallory = h.lastWritten()
      assert.strictEqual(alice.namespace, mallory.namespace)
      // Someone who can write to the store, without the secret, puts alice's entry under mallory's name.
      const stolen = Option.getOrThrow(yield* h.inner.get(alice.namespace, alice.key))
      yield* h.inner.set(mallory.namespace, mallory.key, stolen.bytes.slice(), stolen.expiresAt)
      const logs = captureLogs()
      const read = yield* balance("mallory").pipe(Effect.provide(Layer.merge(h.cache({ secret }), logs.layer)))
      assert.strictEqual(read.user, "mallory", "mallory's own value, computed again")
      assert.strictEqual(read.balance, 5)
      assert.strictEqual(runs, 3)
      assert.isTrue(
        logs.lines.some((line) => line.includes("signature")),
        logs.lines.join("\n")
      )
      // Alice's entry, where it belongs, still reads.
      assert.strictEqual((yield* balance("alice").pipe(Effect.provide(h.cache({ secret })))).run, 1)
    })
  )

  it.effect("Redacted arguments with different values never share an entry, with or without a secret", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const fn = DataCache.fn("token", (t: Redacted.Redacted<string>) => Effect.sync(() => ({ len: Redacted.value(t).length })))
      yield* fn(Redacted.make("a")).pipe(Effect.provide(h.cache()))
      assert.strictEqual((yield* fn(Redacted.make("bb")).pipe(Effect.provide(h.cache()))).len, 2)
      const secret = Redacted.make("a store secret of 32 characters!")
      yield* fn(Redacted.make("ccc")).pipe(Effect.provide(h.cache({ secret })))
      assert.strictEqual((yield* fn(Redacted.make("dddd")).pipe(Effect.provide(h.cache({ secret })))).len, 4)
      assert.strictEqual((yield* fn(Redacted.make("ccc")).pipe(Effect.provide(h.cache({ secret })))).len, 3)
    })
  )

  it.effect("a key schema: two argument values the schema maps alike share an entry in the store as in memory, others do not", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn({ name: "keyed", key: Schema.Struct({ id: Schema.Number }) }, (q: { id: number; trace?: string }) =>
        Effect.sync(() => {
          runs++
          return { id: q.id }
        })
      )
      yield* fn({ id: 1, trace: "x" }).pipe(Effect.provide(h.cache()))
      assert.strictEqual((yield* fn({ id: 1, trace: "y" }).pipe(Effect.provide(h.cache()))).id, 1)
      assert.strictEqual(runs, 1)
      assert.strictEqual((yield* fn({ id: 2 }).pipe(Effect.provide(h.cache()))).id, 2)
    })
  )

  it.effect('1, "1", 1n, [1] and trailing undefined name distinct entries (or the same ones) alike in store and memory', () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const fn = DataCache.fn("near", (x: unknown, y?: unknown) =>
        Effect.sync(() => ({ x: typeof x, y: y === undefined ? "u" : typeof y }))
      )
      const inputs: Array<[unknown, unknown?]> = [[1], ["1"], [1n], [[1]], [1, undefined], [1, null], [-0], [0]]
      const firstFront = yield* Effect.forEach(inputs, (args) => fn(...args)).pipe(Effect.provide(h.cache()))
      const secondFront = yield* Effect.forEach(inputs, (args) => fn(...args)).pipe(Effect.provide(h.cache()))
      assert.deepStrictEqual(secondFront, firstFront)
      assert.strictEqual(firstFront[2]!.x, "bigint")
      assert.strictEqual(firstFront[5]!.y, "object")
    })
  )
})

describe("layerStore attacks: times", () => {
  it.effect("an entry read from the store 1 ms before its expiry expires in front at the same instant", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn({ name: "edge", ttl: "1 hour" }, (n: number) => Effect.sync(() => ({ n, run: ++runs })))
      yield* fn(1).pipe(Effect.provide(h.cache()))
      yield* TestClock.adjust(60 * 60_000 - 1)
      yield* Effect.gen(function* () {
        assert.strictEqual((yield* fn(1)).run, 1)
        yield* TestClock.adjust(1)
        assert.strictEqual((yield* fn(1)).run, 2)
      }).pipe(Effect.provide(h.cache()))
    })
  )

  // Found by a stranger trial: deploy 1 had `ttl: "1 hour"`, deploy 2 (the same body) `ttl: "2 seconds"`, and
  // deploy 2 was served a 4-second-old value from the store. ttl is not part of a function's identity.
  it.effect("a ttl shortened in code applies to entries stored under the longer one; a longer ttl does not outlive the stored expiry", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const body = (n: number) => Effect.sync(() => ({ n, run: ++runs }))
      const deploy1 = DataCache.fn({ name: "rates", ttl: "1 hour" }, body)
      const deploy2 = DataCache.fn({ name: "rates", ttl: "2 seconds" }, body)
      const deploy3 = DataCache.fn({ name: "rates", ttl: "2 seconds", staleWhileRevalidate: "10 seconds" }, body)
      const deploy4 = DataCache.fn({ name: "rates", ttl: "1 day" }, body)
      yield* deploy1(1).pipe(Effect.provide(h.cache()))
      assert.strictEqual(deploy1.id, deploy2.id, "one identity: they share entries")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* deploy2(1).pipe(Effect.provide(h.cache()))).run, 1, "within the new ttl: read from the store")
      assert.isTrue(yield* deploy2.has(1).pipe(Effect.provide(h.cache())))
      yield* TestClock.adjust("3 seconds")
      assert.isFalse(yield* deploy2.has(1).pipe(Effect.provide(h.cache())), "past storedAt + the new ttl: not there")
      assert.strictEqual((yield* deploy2(1).pipe(Effect.provide(h.cache()))).run, 2, "past storedAt + the new ttl: computed")
      // Stored at 4 s with a 2 s ttl and no stale window (kept in the store until 6 s): a 1-day ttl does not read it at 7 s.
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual((yield* deploy4(1).pipe(Effect.provide(h.cache()))).run, 3)
      // The stale window too: stored at 7 s under a 1-day ttl, it is stale at 10 s under ttl 2 s + 10 s, served while it
      // refreshes; past 7 s + 2 s + 10 s it is a miss.
      yield* TestClock.adjust("3 seconds")
      yield* Effect.gen(function* () {
        assert.strictEqual((yield* deploy3(1)).run, 3, "stale, served while it refreshes")
        yield* TestClock.adjust("1 millis")
        assert.strictEqual((yield* deploy3(1)).run, 4, "refreshed")
      }).pipe(Effect.provide(h.cache()))
      yield* deploy4.invalidate(1).pipe(Effect.provide(h.cache()))
      yield* deploy4(1).pipe(Effect.provide(h.cache()))
      yield* TestClock.adjust("13 seconds")
      assert.strictEqual((yield* deploy3(1).pipe(Effect.provide(h.cache()))).run, 6, "past storedAt + ttl + staleWhileRevalidate: computed")
    })
  )

  // Found by a stranger trial (over Redis, whose store header is unsigned): an expired signed entry written back
  // with a later store expiry was served again, 5.6 s old with a 2 s ttl.
  it.effect("an entry the store returns past the expiry its bytes carry (its store expiry rewritten) is a miss", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const secret = Redacted.make("a store secret of 32 characters!")
      let runs = 0
      const fn = DataCache.fn({ name: "revived", ttl: "2 seconds" }, (n: number) => Effect.sync(() => ({ n, run: ++runs })))
      yield* fn(1).pipe(Effect.provide(h.cache({ secret })))
      const { namespace, key } = h.lastWritten()
      const saved = Option.getOrThrow(yield* h.inner.get(namespace, key))
      yield* TestClock.adjust("3 seconds")
      yield* h.inner.set(namespace, key, saved.bytes.slice(), Infinity)
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache({ secret })))).run, 2, "computed again, not the revived entry")
    })
  )

  it.effect("staleWhileRevalidate: a stale entry read from the store is refreshed, the refresh is stored, a restart reads it", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn({ name: "swrStore", ttl: "1 minute", staleWhileRevalidate: "10 minutes" }, (n: number) =>
        Effect.sync(() => ({ n, run: ++runs }))
      )
      yield* fn(1).pipe(Effect.provide(h.cache()))
      yield* TestClock.adjust("2 minutes")
      yield* Effect.gen(function* () {
        assert.strictEqual((yield* fn(1)).run, 1, "stale from the store")
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* fn(1)).run, 2, "refreshed")
      }).pipe(Effect.provide(h.cache()))
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache()))).run, 2, "the refresh was stored")
      yield* TestClock.adjust("11 minutes")
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache()))).run, 3, "past the window: computed")
    })
  )

  it.effect("a front whose entry expired while the store holds a newer one written by another front reads the newer one", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn({ name: "newer", ttl: "1 minute" }, (n: number) => Effect.sync(() => ({ n, run: ++runs })))
      const a = yield* Layer.build(h.cache())
      const b = yield* Layer.build(h.cache())
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(a))).run, 1)
      yield* TestClock.adjust("61 seconds")
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(b))).run, 2, "b computes after expiry")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(a))).run, 2, "a reads b's value from the store")
    })
  )
})

describe("layerStore attacks: what must not be stored", () => {
  it.effect("cacheIf false: nothing reaches the store, a restart computes", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn({ name: "cacheIfNo", cacheIf: (v: { n: number }) => v.n > 0 }, (n: number) =>
        Effect.sync(() => ({ n, run: ++runs }))
      )
      yield* fn(0).pipe(Effect.provide(h.cache()))
      assert.strictEqual((yield* h.inner.stats).entries, 0)
      assert.strictEqual((yield* fn(0).pipe(Effect.provide(h.cache()))).run, 2)
    })
  )

  it.effect("a body that fails stores nothing, and a waiting front on the lock computes at once (no lockTtl wait)", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn("failsOnce", (n: number) =>
        Effect.gen(function* () {
          runs++
          if (runs === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
            return yield* Effect.fail("boom")
          }
          return { n, run: runs }
        })
      )
      const a = yield* Layer.build(h.cache())
      const b = yield* Layer.build(h.cache())
      const first = yield* Effect.forkChild(Effect.exit(fn(1).pipe(Effect.provide(a))))
      yield* Deferred.await(started)
      const second = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b)))
      yield* Deferred.await(h.reached("awaitRelease"))
      yield* Deferred.succeed(gate, undefined)
      const exit = yield* Fiber.join(first)
      assert.isTrue(Exit.isFailure(exit))
      // No TestClock adjustment: the release must wake b.
      const value = yield* Fiber.join(second)
      assert.strictEqual(value.run, 2)
    })
  )

  it.effect("cacheIf false while another front waits on the lock: the waiter is woken and computes its own value", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn({ name: "cacheIfLock", cacheIf: (v: { run: number }) => v.run > 1 }, (n: number) =>
        Effect.gen(function* () {
          runs++
          if (runs === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          return { n, run: runs }
        })
      )
      const a = yield* Layer.build(h.cache())
      const b = yield* Layer.build(h.cache())
      const first = yield* Effect.forkChild(fn(1).pipe(Effect.provide(a)))
      yield* Deferred.await(started)
      const second = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b)))
      yield* Deferred.await(h.reached("awaitRelease"))
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(first)).run, 1)
      assert.strictEqual((yield* Fiber.join(second)).run, 2)
    })
  )

  it.effect("an unencodable value while another front waits on the lock: the waiter is woken and computes", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn("unencodableLock", (n: number) =>
        Effect.gen(function* () {
          runs++
          if (runs === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          return { n, run: runs, secret: Redacted.make("x") }
        })
      )
      const logs = captureLogs()
      const a = yield* Layer.build(h.cache())
      const b = yield* Layer.build(h.cache())
      const first = yield* Effect.forkChild(fn(1).pipe(Effect.provide(a), Effect.provide(logs.layer)))
      yield* Deferred.await(started)
      const second = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b), Effect.provide(logs.layer)))
      yield* Deferred.await(h.reached("awaitRelease"))
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(first)).run, 1)
      assert.strictEqual((yield* Fiber.join(second)).run, 2)
      assert.strictEqual((yield* h.inner.stats).entries, 0)
    })
  )
})

describe("layerStore attacks: locks", () => {
  it.effect("a body running 30 s with lockTtl 10 s: the lock is renewed, the other front waits and reads (one run)", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn("slowLock", (n: number) =>
        Effect.gen(function* () {
          runs++
          yield* Effect.sleep("30 seconds")
          return { n, run: runs }
        })
      )
      const a = yield* Layer.build(h.cache())
      const b = yield* Layer.build(h.cache())
      const first = yield* Effect.forkChild(fn(1).pipe(Effect.provide(a)))
      yield* Deferred.await(h.reached("acquire"))
      yield* Effect.yieldNow
      const second = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b)))
      for (let i = 0; i < 35; i++) yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(first)).run, 1)
      assert.strictEqual((yield* Fiber.join(second)).run, 1)
      assert.strictEqual(runs, 1)
    })
  )

  it.effect("closing the computing front's layer mid-body releases its lock: the waiting front computes without lockTtl", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn("closedHolder", (n: number) =>
        Effect.gen(function* () {
          runs++
          if (runs === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Effect.never
          }
          return { n, run: runs }
        })
      )
      const scope = yield* Scope.make()
      const a = yield* Layer.buildWithScope(h.cache(), scope)
      const b = yield* Layer.build(h.cache())
      const first = yield* Effect.forkChild(Effect.exit(fn(1).pipe(Effect.provide(a))))
      yield* Deferred.await(started)
      const second = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b)))
      yield* Deferred.await(h.reached("awaitRelease"))
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(first)
      const value = yield* Fiber.join(second)
      assert.strictEqual(value.run, 2)
    })
  )
})

describe("layerStore attacks: invalidate and clear racing", () => {
  it.effect("invalidate while the store read of the old entry is in flight: a later caller never gets the old value", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let version = 1
      const fn = DataCache.fn("raceRead", (n: number) => Effect.sync(() => ({ n, version })))
      yield* fn(1).pipe(Effect.provide(h.cache()))
      version = 2
      const gate = yield* Deferred.make<void>()
      const reached = yield* Deferred.make<void>()
      const racing = readThenWait(h.store, gate, reached)
      const front = yield* Layer.build(over(racing))
      const reader = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)))
      yield* Deferred.await(reached)
      yield* fn.invalidate(1).pipe(Effect.provide(front))
      // The read of the old entry is still in flight; a caller after the invalidate starts fresh.
      const later = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)))
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(reader)
      assert.strictEqual((yield* Fiber.join(later)).version, 2, "the caller after the invalidate")
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(front))).version, 2, "the front does not keep the old value")
    })
  )

  it.effect("DataCache.clear while the store read of the old entry is in flight: a later caller never gets the old value", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let version = 1
      const fn = DataCache.fn("raceClear", (n: number) => Effect.sync(() => ({ n, version })))
      yield* fn(1).pipe(Effect.provide(h.cache()))
      version = 2
      const gate = yield* Deferred.make<void>()
      const reached = yield* Deferred.make<void>()
      const front = yield* Layer.build(over(readThenWait(h.store, gate, reached)))
      const reader = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)))
      yield* Deferred.await(reached)
      yield* DataCache.clear.pipe(Effect.provide(front))
      const later = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)))
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(reader)
      assert.strictEqual((yield* Fiber.join(later)).version, 2)
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(front))).version, 2)
    })
  )

  it.effect("invalidate while the body runs: the body's value is not written to the store", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn("raceBody", (n: number) =>
        Effect.gen(function* () {
          runs++
          if (runs === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          return { n, run: runs }
        })
      )
      const front = yield* Layer.build(h.cache())
      const caller = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)))
      yield* Deferred.await(started)
      yield* fn.invalidate(1).pipe(Effect.provide(front))
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(caller)).run, 1)
      yield* Effect.yieldNow
      assert.strictEqual((yield* h.inner.stats).entries, 0, "the superseded value never reached the store")
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache()))).run, 2)
    })
  )

  it.effect("clear while the body runs, over CacheStore.layerMemory in another front (generations): the late write is refused", () =>
    Effect.gen(function* () {
      const service = Context.get(yield* Layer.build(CacheStore.layerMemory()), CacheStore.CacheStore)
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn("raceGen", (n: number) =>
        Effect.gen(function* () {
          runs++
          if (runs === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          return { n, run: runs }
        })
      )
      const a = yield* Layer.build(over(service))
      const b = yield* Layer.build(over(service))
      const caller = yield* Effect.forkChild(fn(1).pipe(Effect.provide(a)))
      yield* Deferred.await(started)
      yield* fn.clear.pipe(Effect.provide(b))
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(caller)).run, 1)
      yield* Effect.yieldNow
      assert.strictEqual((yield* service.stats).entries, 0)
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(over(service)))).run, 2)
    })
  )
})

describe("layerStore attacks: interrupts swept over each store step", () => {
  for (const op of ["get", "acquire", "set", "release"] as const) {
    it.effect(`the only caller interrupted while ${op} is gated: no hang, the store ends right, the next front reads or computes`, () =>
      Effect.gen(function* () {
        const h = makeHarness()
        h.gate = yield* Deferred.make<void>()
        h.fault = "gate"
        h.faultOps.add(op)
        let runs = 0
        const fn = DataCache.fn(`sweep-${op}`, (n: number) => Effect.sync(() => ({ n, run: ++runs })))
        const front = yield* Layer.build(h.cache())
        const caller = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)))
        yield* Deferred.await(h.reached(op))
        yield* Fiber.interrupt(caller)
        yield* Deferred.succeed(h.gate!, undefined)
        h.fault = "none"
        // The computation belongs to the cache: it finishes, its value is in front and lands in the store.
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(front))).run, 1)
        const other = yield* Effect.forkChild(fn(1).pipe(Effect.provide(h.cache())))
        // Bounded: nothing may wait for a lock's ttl here.
        yield* Effect.yieldNow
        const value = yield* Fiber.join(other)
        assert.strictEqual(value.run, 1)
      })
    )
  }
})

describe("layerStore attacks: front bounds with store hits", () => {
  it.effect("maxEntries 1 with alternating keys: every call gets its own key's value, from front or store", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      let runs = 0
      const fn = DataCache.fn({ name: "alternating", maxEntries: 1 }, (n: number) => Effect.sync(() => ({ n, run: ++runs })))
      yield* Effect.gen(function* () {
        for (let i = 0; i < 20; i++) {
          const n = i % 3
          assert.strictEqual((yield* fn(n)).n, n)
        }
        const results = yield* Effect.all(
          Array.from({ length: 30 }, (_, i) => fn(i % 3)),
          { concurrency: "unbounded" }
        )
        for (const [i, r] of results.entries()) assert.strictEqual(r.n, i % 3)
      }).pipe(Effect.provide(h.cache()))
      assert.strictEqual(runs, 3)
    })
  )

  it.effect("has during a write in flight and after: true in the computing front; a fresh front sees the stored entry", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("set")
      const fn = DataCache.fn("hasWrite", (n: number) => Effect.succeed({ n }))
      const front = yield* Layer.build(h.cache())
      yield* fn(1).pipe(Effect.provide(front))
      yield* Deferred.await(h.reached("set"))
      assert.isTrue(yield* fn.has(1).pipe(Effect.provide(front)))
      yield* Deferred.succeed(h.gate!, undefined)
      h.fault = "none"
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      assert.isTrue(yield* fn.has(1).pipe(Effect.provide(h.cache())))
    })
  )
})

describe("layerStore attacks: Option results in values", () => {
  it.effect("a value Option.none() and an Option.some(undefined) stay apart through the store", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const fn = DataCache.fn("options", (n: number) => Effect.succeed(n === 0 ? Option.none<undefined>() : Option.some(undefined)))
      yield* Effect.all([fn(0), fn(1)]).pipe(Effect.provide(h.cache()))
      const [a, b] = yield* Effect.all([fn(0), fn(1)]).pipe(Effect.provide(h.cache()))
      assert.isTrue(Option.isNone(a))
      assert.isTrue(Option.isSome(b))
    })
  )
})

/**
 * What the structured copy keeps (docs/mutation-and-concurrency.md), through the store: a restarted front must
 * get what the computing front got, or (a value the store cannot hold) compute it again; never a value with a
 * part silently missing.
 */
describe("layerStore attacks: the structured copy's reach, through the store", () => {
  const cases: Array<readonly [string, () => unknown, (read: any, fresh: any) => void]> = [
    ["an array's own fields besides its indices", () => Object.assign([1, 2], { total: 3 }), (read) => assert.strictEqual(read.total, 3)],
    [
      "a symbol-keyed field (Symbol.for)",
      () => ({ a: 1, [Symbol.for("tenant")]: "t1" }),
      (read) => assert.strictEqual(read[Symbol.for("tenant")], "t1")
    ],
    [
      "a RegExp's lastIndex and flags",
      () => Object.assign(/a+/gy, { lastIndex: 2 }),
      (read) => {
        assert.instanceOf(read, RegExp)
        assert.strictEqual(read.flags, "gy")
        assert.strictEqual(read.lastIndex, 2)
      }
    ],
    ["own fields of a Map", () => Object.assign(new Map([[1, 2]]), { label: "m" }), (read) => assert.strictEqual(read.label, "m")],
    ["own fields of a Date", () => Object.assign(new Date(5), { zone: "x" }), (read) => assert.strictEqual(read.zone, "x")],
    [
      "shared references stay shared",
      () => {
        const x = { v: 1 }
        return { a: x, b: x }
      },
      (read) => assert.strictEqual(read.a, read.b)
    ],
    [
      "a cycle",
      () => {
        const o: Record<string, unknown> = { v: 1 }
        o.self = o
        return o
      },
      (read) => assert.strictEqual(read.self, read)
    ],
    [
      "a typed array viewing part of a larger buffer",
      () => new Float64Array(new Float64Array([1, 2, 3, 4]).buffer, 8, 2),
      (read) => assert.deepStrictEqual(Array.from(read), [2, 3])
    ],
    [
      "two views over one ArrayBuffer stay one buffer",
      () => {
        const buffer = new ArrayBuffer(16)
        return { bytes: new Uint8Array(buffer), words: new Uint32Array(buffer) }
      },
      (read) => {
        read.bytes[0] = 1
        assert.strictEqual(read.words[0], 1)
      }
    ],
    [
      "a DataView",
      () => {
        const view = new DataView(new ArrayBuffer(8))
        view.setFloat64(0, Math.PI)
        return view
      },
      (read) => {
        assert.instanceOf(read, DataView)
        assert.strictEqual(read.getFloat64(0), Math.PI)
      }
    ],
    [
      "a sparse array's hole next to an explicit undefined",
      () => {
        // A hole at index 1, beside an explicit undefined.
        const sparse: Array<unknown> = [1]
        sparse[2] = undefined
        sparse[3] = 3
        return sparse
      },
      (read) => {
        assert.isFalse(1 in read)
        assert.isTrue(2 in read)
      }
    ],
    [
      "a list nested 100,000 deep",
      () => {
        let v: unknown = 1
        for (let i = 0; i < 100_000; i++) v = [v]
        return v
      },
      (read) => {
        let depth = 0
        let v: any = read
        while (Array.isArray(v)) {
          v = v[0]
          depth++
        }
        assert.strictEqual(depth, 100_000)
      }
    ]
  ]
  for (const [label, make, check] of cases) {
    it.effect(`${label}: a restarted front gets it whole, or computes it again`, () =>
      Effect.gen(function* () {
        const h = makeHarness()
        let runs = 0
        const fn = DataCache.fn(`reach-${label}`, () =>
          Effect.sync(() => {
            runs++
            return make()
          })
        )
        const logs = captureLogs()
        const fresh = yield* fn().pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
        check(fresh, fresh)
        const read = yield* fn().pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
        if (runs === 1) check(read, fresh)
      })
    )
  }
})

describe("layerStore attacks: replay of odd output through the store", () => {
  const safeLogs = () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => {
      const parts = Array.isArray(message) ? message : [message]
      lines.push(parts.map((part) => (typeof part === "string" ? part : Inspectable.toStringUnknown(part))).join(" "))
    })
    return { lines, layer: Logger.layer([logger]), ours: () => lines.filter((l) => !l.startsWith("recall:")) }
  }
  const cyc: Record<string, unknown> = { a: 1 }
  cyc.self = cyc
  const bodies: Array<readonly [string, Effect.Effect<void>]> = [
    [
      "a cycle, a symbol, a bigint, a Map with object keys and a 100,000-character line",
      Effect.gen(function* () {
        yield* Effect.log("cycle", cyc)
        yield* Effect.log(Symbol("s"), 10n)
        yield* Effect.log(new Map([[{ k: 1 }, new Set([1])]]))
        yield* Effect.log("x".repeat(100_000))
      })
    ],
    // docs/data-cache.md (replay): "a class instance ... a `Redacted` stays `<redacted>`" is kept as a short rendering.
    ["a Redacted", Effect.log("token", Redacted.make("hunter2-secret"))],
    ["a Redacted inside an object", Effect.log({ user: "u", token: Redacted.make("hunter2-secret") })]
  ]
  for (const [label, output] of bodies) {
    it.effect(`a body that logs ${label}: its value is stored, and a restart replays the same lines`, () =>
      Effect.gen(function* () {
        const h = makeHarness()
        let runs = 0
        const fn = DataCache.fn(`oddOutput-${label}`, (n: number) =>
          Effect.gen(function* () {
            runs++
            yield* output
            return { n }
          })
        )
        const first = safeLogs()
        yield* fn(1).pipe(Effect.provide(h.cache()), Effect.provide(first.layer))
        const second = safeLogs()
        const [value, stats] = yield* Effect.all([fn(1), fn.stats]).pipe(Effect.provide(h.cache()), Effect.provide(second.layer))
        assert.strictEqual(value.n, 1)
        assert.strictEqual(runs, 1, `stored despite the output; logs: ${first.lines.join(" | ").slice(0, 600)}`)
        assert.strictEqual(stats.storeErrors, 0)
        assert.deepStrictEqual(second.ours(), first.ours())
        assert.notInclude(second.lines.join("\n"), "hunter2")
      })
    )
  }
})

describe("layerStore attacks: closing and waiters", () => {
  it.effect("the layer closes while the store read is gated: callers end (value or CacheClosedError), no hang", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("get")
      const fn = DataCache.fn("closeMidRead", (n: number) => Effect.succeed({ n }))
      const scope = yield* Scope.make()
      const front = yield* Layer.buildWithScope(h.cache(), scope)
      const callers = yield* Effect.forkChild(
        Effect.all(
          Array.from({ length: 5 }, () => Effect.exit(fn(1))),
          { concurrency: "unbounded" }
        ).pipe(Effect.provide(front))
      )
      yield* Deferred.await(h.reached("get"))
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("6 seconds")
      yield* Fiber.join(closing)
      const exits = yield* Fiber.join(callers)
      for (const exit of exits) {
        if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.n, 1)
        else assert.include(String(exit.cause), "CacheClosedError")
      }
    })
  )

  it.effect("a waiter on another front's lock is interrupted; the holder finishes; the waiter's front then reads the value", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn("waiterInterrupted", (n: number) =>
        Effect.gen(function* () {
          runs++
          if (runs === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          return { n, run: runs }
        })
      )
      const a = yield* Layer.build(h.cache())
      const b = yield* Layer.build(h.cache())
      const first = yield* Effect.forkChild(fn(1).pipe(Effect.provide(a)))
      yield* Deferred.await(started)
      const waiter = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b)))
      yield* Deferred.await(h.reached("awaitRelease"))
      yield* Fiber.interrupt(waiter)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(first)).run, 1)
      const later = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b)))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(later)).run, 1)
      assert.strictEqual(runs, 1)
    })
  )
})
