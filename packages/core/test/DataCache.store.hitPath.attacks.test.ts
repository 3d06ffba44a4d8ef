/**
 * Attacks on three changes of the store tier:
 *
 * 1. a front miss over a store is read by its caller, in its own fiber
 *    (computation.ts startReading / settleRead, calls.ts begin);
 * 2. store operations are bounded by one watcher per layer (storeTier.ts
 *    bounded / watch / watching / makeDeadlines);
 * 3. the circuit breaker is skipped while the store is healthy
 *    (storeTier.ts throughBreaker, Tier.healthy).
 *
 * A failing test is a finding; the passing ones are regression tests.
 */
import { assert, describe, it } from "@effect/vitest"
import { CacheStore, DataCache } from "@recall/core"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import { captureLogs, makeHarness } from "./fixtures/storeHarness.ts"

/** A DataCache over `store` (a new front tier each time it is provided). */
const over = (store: CacheStore.Service, options?: DataCache.StoreLayerOptions) =>
  DataCache.layerStore(options ?? {}).pipe(Layer.provide(Layer.succeed(CacheStore.CacheStore, store)))

const memoryStore = () => Context.get(Effect.runSync(Layer.build(CacheStore.layerMemory()).pipe(Effect.scoped)), CacheStore.CacheStore)

type Step = "ok" | "fail" | Deferred.Deferred<void>

/**
 * A memory store whose `get`s follow a script, one step per call (then
 * `otherwise`): succeed, fail, or wait for a gate and then succeed. Every
 * other operation works. `gets` counts the calls that reached the store;
 * `reachedGet(n)` is done once the n-th get was called.
 */
const scripted = () => {
  const inner = memoryStore()
  const script: Array<Step> = []
  const state = { gets: 0, otherwise: "ok" as "ok" | "fail" }
  const arrivals = new Map<number, Deferred.Deferred<void>>()
  const reachedGet = (n: number) => {
    let d = arrivals.get(n)
    if (d === undefined) {
      d = Deferred.makeUnsafe<void>()
      if (state.gets >= n) Deferred.doneUnsafe(d, Effect.void)
      arrivals.set(n, d)
    }
    return d
  }
  const store = CacheStore.make({
    ...inner,
    get: (namespace, key) =>
      Effect.suspend(() => {
        state.gets++
        const arrival = arrivals.get(state.gets)
        if (arrival !== undefined) Deferred.doneUnsafe(arrival, Effect.void)
        const step = script.shift() ?? state.otherwise
        if (step === "fail") return Effect.fail(new CacheStore.CacheStoreError({ operation: "get", reason: "scripted failure" }))
        if (step === "ok") return inner.get(namespace, key)
        return Effect.andThen(Deferred.await(step), inner.get(namespace, key))
      })
  })
  return { inner, store, script, state, reachedGet }
}

// ---------------------------------------------------------------------------
// 3. The breaker skipped while healthy
// ---------------------------------------------------------------------------

describe("hit path attacks: the breaker skipped while the store is healthy", () => {
  /**
   * Four failures in a row (the breaker counts 4), then a read admitted by
   * the breaker that is slow to succeed, then a fifth failure that opens the
   * breaker. The slow read's success comes after the breaker opened: the
   * breaker ignores it (it was admitted before the trip), but the tier marks
   * itself healthy all the same.
   */
  const openWithLateSuccess = Effect.gen(function* () {
    const s = scripted()
    const front = yield* Layer.build(over(s.store))
    const fn = DataCache.fn("breakerLateSuccess", (n: number) => Effect.succeed(n))
    const has = (n: number) => fn.has(n).pipe(Effect.provide(front))
    s.script.push("fail", "fail", "fail", "fail")
    for (let i = 1; i <= 4; i++) assert.isFalse(yield* has(i))
    assert.strictEqual(s.state.gets, 4)
    const gate = yield* Deferred.make<void>()
    s.script.push(gate)
    const slow = yield* Effect.forkChild(has(5), { startImmediately: true })
    yield* Deferred.await(s.reachedGet(5))
    s.script.push("fail")
    assert.isFalse(yield* has(6)) // the fifth failure in a row: the breaker opens (for 5 s)
    assert.strictEqual(s.state.gets, 6)
    yield* Deferred.succeed(gate, undefined)
    assert.isFalse(yield* Fiber.join(slow)) // it worked (a miss), after the breaker opened
    return { s, has }
  })

  it.effect("an admitted read that succeeds after the breaker opened does not let calls reach the store while it is open", () =>
    Effect.gen(function* () {
      const { has, s } = yield* openWithLateSuccess
      const before = s.state.gets
      s.state.otherwise = "fail"
      for (let i = 10; i < 13; i++) yield* has(i)
      assert.strictEqual(s.state.gets, before, "the breaker is open (5 consecutive failures, 0 s ago): the store must not be called")
    })
  )

  it.effect("after that, a single failure among successes must not open the breaker again", () =>
    Effect.gen(function* () {
      const { has, s } = yield* openWithLateSuccess
      yield* TestClock.adjust("6 seconds")
      // The store works: three reads succeed.
      for (let i = 20; i < 23; i++) yield* has(i)
      // One failure, then the store works again.
      s.script.push("fail")
      yield* has(23)
      const before = s.state.gets
      yield* has(24)
      yield* has(25)
      assert.strictEqual(s.state.gets, before + 2, "one failure after successes opened the breaker: reads after it were refused")
    })
  )

  it.effect("five failures in a row, none concurrent: the breaker opens, refuses for 5 s, then closes on a success", () =>
    Effect.gen(function* () {
      const s = scripted()
      const front = yield* Layer.build(over(s.store))
      const fn = DataCache.fn("breakerPlain", (n: number) => Effect.succeed(n))
      const has = (n: number) => fn.has(n).pipe(Effect.provide(front))
      s.script.push("fail", "fail", "fail", "fail")
      for (let i = 0; i < 4; i++) yield* has(i)
      assert.strictEqual(s.state.gets, 4)
      yield* has(4) // a success resets the count
      s.script.push("fail", "fail", "fail", "fail")
      for (let i = 0; i < 4; i++) yield* has(i)
      assert.strictEqual(s.state.gets, 9, "4 + 1 + 4 failures: never 5 in a row, all reached the store")
      s.script.push("fail")
      yield* has(9) // the fifth in a row
      assert.strictEqual(s.state.gets, 10)
      yield* has(10)
      assert.strictEqual(s.state.gets, 10, "open: refused")
      yield* TestClock.adjust(4_999)
      yield* has(11)
      assert.strictEqual(s.state.gets, 10, "still open 1 ms before 5 s")
      yield* TestClock.adjust(1)
      yield* has(12) // the half-open probe succeeds: closed
      assert.strictEqual(s.state.gets, 11)
      s.script.push("fail", "fail", "fail", "fail")
      for (let i = 0; i < 4; i++) yield* has(i)
      yield* has(13)
      assert.strictEqual(s.state.gets, 16, "closed and reset: four failures do not open it")
    })
  )

  it.effect("many concurrent reads fail while the store is healthy: the breaker opens (at least 5 failures), and not on fewer", () =>
    Effect.gen(function* () {
      const s = scripted()
      const fn = DataCache.fn("breakerConcurrent", (n: number) => Effect.succeed(n))
      // Four reads in flight at once while healthy, all failing together.
      const gate = yield* Deferred.make<void>()
      const failAfter = (d: Deferred.Deferred<void>) =>
        Effect.andThen(Deferred.await(d), Effect.fail(new CacheStore.CacheStoreError({ operation: "get", reason: "x" })))
      const failing = CacheStore.make({ ...s.store, get: (ns, k) => Effect.andThen(s.store.get(ns, k), failAfter(gate)) })
      const front2 = yield* Layer.build(over(failing))
      const has2 = (n: number) => fn.has(n).pipe(Effect.provide(front2))
      const fibers = yield* Effect.forEach([1, 2, 3, 4], (n) => Effect.forkChild(has2(n), { startImmediately: true }))
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.joinAll(fibers)
      const afterFour = s.state.gets
      yield* has2(5) // reached: four failures only so far
      assert.strictEqual(s.state.gets, afterFour + 1, "four concurrent failures do not open the breaker")
      yield* has2(6)
      assert.strictEqual(s.state.gets, afterFour + 1, "the fifth in a row opened it")
    })
  )

  it.effect("a lock renewer started while healthy must not keep calling the store while the breaker is open", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const fn = DataCache.fn("renewerBypass", (n: number) =>
        Effect.gen(function* () {
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(gate)
          return { n }
        })
      )
      const other = DataCache.fn("renewerOther", (n: number) => Effect.succeed(n))
      // lockTtl 3 s: the lock is renewed every second.
      const front = yield* Layer.build(h.cache({ lockTtl: "3 seconds" }))
      const call = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)))
      yield* Deferred.await(started)
      h.fault = "fail"
      h.faultOps.add("renew")
      for (let i = 0; i < 5; i++) yield* TestClock.adjust("1 second")
      assert.strictEqual(h.calls.renew, 5, "five renewals failed in a row: the breaker opened for locks")
      const gets = h.calls.get ?? 0
      yield* other.has(1).pipe(Effect.provide(front))
      assert.strictEqual(h.calls.get ?? 0, gets + 1, "reads have a breaker of their own, closed: a read still reaches the store")
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(h.calls.renew, 5, "while the breaker is open, the renewer must not call the store either")
      h.fault = "none"
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(call)).n, 1)
    })
  )
})

// ---------------------------------------------------------------------------
// 2. One watcher per layer
// ---------------------------------------------------------------------------

describe("hit path attacks: store operations bounded by one watcher", () => {
  it.effect(
    "a layer shared by two tests (each with its own TestClock): the second test's hanging read still times out after storeTimeout",
    () =>
      Effect.gen(function* () {
        const h = makeHarness({ locks: false })
        const { fn, runs } = counted("twoClocks")
        // Built once, outside both tests (a module-level runtime, a layer memoized across suites).
        const front = yield* Layer.build(h.cache({ storeTimeout: "1 second" }))
        // Test 1: a slow read that answers (a miss) before its deadline; the test ends without moving its clock further.
        const test1 = Effect.gen(function* () {
          h.gate = yield* Deferred.make<void>()
          h.fault = "gate"
          h.faultOps.add("get")
          const call = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
          yield* Deferred.await(h.reached("get"))
          yield* Deferred.succeed(h.gate, undefined)
          assert.strictEqual((yield* Fiber.join(call)).n, 1)
        }).pipe(Effect.provide(TestClock.layer()))
        yield* test1
        // Test 2, its own TestClock (at 0 again): the read hangs.
        const test2 = Effect.gen(function* () {
          h.fault = "hang"
          const call = yield* Effect.forkChild(fn(2).pipe(Effect.provide(front)), { startImmediately: true })
          yield* TestClock.adjust(999)
          assert.isUndefined(call.pollUnsafe(), "1 ms before the timeout")
          yield* TestClock.adjust(1)
          for (let i = 0; i < 10 && call.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
          assert.isDefined(call.pollUnsafe(), "the read never timed out: 11 s after a storeTimeout of 1 s the call still waits")
          assert.strictEqual((yield* Fiber.join(call)).n, 2)
        }).pipe(Effect.provide(TestClock.layer()))
        yield* test2
        assert.strictEqual(runs.count, 2)
      }),
    { timeout: 20_000 }
  )

  it.effect(
    "a caller on the live clock while the watcher sleeps on a TestClock: its hanging read ends after storeTimeout",
    () =>
      Effect.gen(function* () {
        const h = makeHarness({ locks: false })
        const { fn } = counted("liveAfterTest")
        const front = yield* Layer.build(h.cache({ storeTimeout: "50 millis" }))
        h.fault = "hang"
        h.faultOps.add("get")
        // A first call on the TestClock: its read hangs (its deadline at 50 on the TestClock).
        const first = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
        // A second on the live clock (TestClock.withLive): deadline at now + 50 ms of real time.
        const second = yield* Effect.forkChild(TestClock.withLive(Effect.timeoutOption(fn(2).pipe(Effect.provide(front)), "3 seconds")), {
          startImmediately: true
        })
        const result = yield* Fiber.join(second)
        assert.isTrue(Option.isSome(result), "the live caller's read did not time out within 3 s (storeTimeout 50 ms)")
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(first)
      }),
    { timeout: 20_000 }
  )
})

/** A counted body: `n` → `{ n, run }`. */
const counted = (name: string, options?: Omit<DataCache.Options<unknown>, "name">) => {
  const runs = { count: 0 }
  const fn = DataCache.fn({ name, ttl: "1 hour", ...options }, (n: number) => Effect.sync(() => ({ n, run: ++runs.count })))
  return { fn, runs }
}

// ---------------------------------------------------------------------------
// 1. The caller reads the store
// ---------------------------------------------------------------------------

describe("hit path attacks: the caller reads the store", () => {
  for (const copy of ["readonly", "clone"] as const) {
    it.effect(
      `copy ${copy}: a value larger than the front, its reader interrupted while one other caller waits: that caller gets the value`,
      () =>
        Effect.gen(function* () {
          const h = makeHarness({ locks: false })
          const fn = DataCache.fn({ name: `bigInterrupted-${copy}`, copy }, (n: number) =>
            Effect.succeed({ n, list: Array.from({ length: 2000 }, (_, i) => i + n) })
          )
          // Written by another front straight over the inner store (so the harness counts no get yet).
          yield* fn(1).pipe(Effect.provide(over(h.inner)))
          h.gate = yield* Deferred.make<void>()
          h.fault = "gate"
          h.faultOps.add("get")
          const front = yield* Layer.build(h.cache({ maxBytes: 1000 }))
          const reader = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
          yield* Deferred.await(h.reached("get"))
          const joiner = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
          // The reader's request is abandoned: the computation reads again, for the joiner.
          yield* Fiber.interrupt(reader)
          yield* Deferred.succeed(h.gate, undefined)
          const value = yield* Fiber.join(joiner)
          assert.isDefined(value, "the waiting caller got undefined instead of the value")
          assert.strictEqual(value?.n, 1)
          assert.strictEqual(value?.list[1999], 2000)
        })
    )
  }
})

// ---------------------------------------------------------------------------
// 2 (continued). Deadlines: overlapping operations, jumps, ends exactly at the deadline
// ---------------------------------------------------------------------------

describe("hit path attacks: deadlines of overlapping operations", () => {
  it.effect("a big hanging write and reads started at different times: each read ends at its own deadline, in one layer", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      h.fault = "hang"
      h.faultOps.add("get")
      h.faultOps.add("set")
      // 10 MB: its write may take storeTimeout + 200 ms.
      const big = DataCache.fn("mixedBig", (n: number) => Effect.sync(() => new Uint8Array(10_000_000).fill(n)))
      const { fn, runs } = counted("mixedReads")
      const front = yield* Layer.build(h.cache({ storeTimeout: "1 second" }))
      const first = yield* Effect.forkChild(big(1).pipe(Effect.provide(front)), { startImmediately: true })
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(first))[0], 1) // read timed out at 1 s; the write hangs until 2.2 s
      const r1 = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true }) // deadline 2 s
      yield* TestClock.adjust(300)
      const r2 = yield* Effect.forkChild(fn(2).pipe(Effect.provide(front)), { startImmediately: true }) // deadline 2.3 s
      yield* TestClock.adjust(100)
      const r3 = yield* Effect.forkChild(fn(3).pipe(Effect.provide(front)), { startImmediately: true }) // deadline 2.4 s
      yield* TestClock.adjust(599) // 1999
      assert.deepStrictEqual(
        [r1, r2, r3].map((f) => f.pollUnsafe() === undefined),
        [true, true, true]
      )
      yield* TestClock.adjust(1) // 2000
      assert.strictEqual((yield* Fiber.join(r1)).n, 1)
      assert.deepStrictEqual(
        [r2, r3].map((f) => f.pollUnsafe() === undefined),
        [true, true]
      )
      yield* TestClock.adjust(299) // 2299
      assert.isUndefined(r2.pollUnsafe())
      yield* TestClock.adjust(1) // 2300
      assert.strictEqual((yield* Fiber.join(r2)).n, 2)
      assert.isUndefined(r3.pollUnsafe())
      yield* TestClock.adjust(100) // 2400
      assert.strictEqual((yield* Fiber.join(r3)).n, 3)
      assert.strictEqual(runs.count, 3)
      // The writes (of 1, 2, 3 and the big one) time out in their turn.
      yield* TestClock.adjust("2 seconds")
    })
  )

  it.effect("one TestClock jump far past many deadlines at once ends every hanging operation", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      h.fault = "hang"
      const { fn, runs } = counted("jump")
      const scope = yield* Scope.make()
      const front = yield* Layer.buildWithScope(h.cache({ storeTimeout: "1 second" }), scope)
      const callers = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => Effect.forkChild(fn(i % 10).pipe(Effect.provide(front)), { startImmediately: true })
      )
      yield* TestClock.adjust("1 hour")
      const values = yield* Fiber.joinAll(callers)
      assert.deepStrictEqual(
        values.map((v) => v.n),
        Array.from({ length: 50 }, (_, i) => i % 10)
      )
      assert.strictEqual(runs.count, 10)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(closing)
    })
  )

  it.effect("a read that answers exactly at its deadline: the call has the right value (a store hit or a computed value)", () =>
    Effect.gen(function* () {
      const inner = memoryStore()
      const { fn, runs } = counted("exactDeadline")
      yield* fn(4).pipe(Effect.provide(over(inner)))
      const slow = CacheStore.make({ ...inner, get: (ns, k) => Effect.andThen(Effect.sleep("1 second"), inner.get(ns, k)) })
      const call = yield* Effect.forkChild(fn(4).pipe(Effect.provide(over(slow, { storeTimeout: "1 second" }))), {
        startImmediately: true
      })
      yield* TestClock.adjust(999)
      assert.isUndefined(call.pollUnsafe())
      yield* TestClock.adjust(1)
      const value = yield* Fiber.join(call)
      assert.strictEqual(value.n, 4)
      assert.isAtMost(runs.count, 2)
    })
  )

  it.effect("storeTimeout 1 millis: 20 concurrent keys over a store whose reads take 1 ms end with their values", () =>
    Effect.gen(function* () {
      const inner = memoryStore()
      const slow = CacheStore.make({ ...inner, get: (ns, k) => Effect.andThen(Effect.sleep("1 millis"), inner.get(ns, k)) })
      const { fn, runs } = counted("oneMilli")
      const front = yield* Layer.build(over(slow, { storeTimeout: "1 millis" }))
      const call = yield* Effect.forkChild(
        Effect.all(
          Array.from({ length: 20 }, (_, i) => fn(i)),
          { concurrency: "unbounded" }
        ).pipe(Effect.provide(front)),
        { startImmediately: true }
      )
      for (let i = 0; i < 10 && call.pollUnsafe() === undefined; i++) yield* TestClock.adjust(1)
      const values = yield* Fiber.join(call)
      assert.deepStrictEqual(
        values.map((v) => v.n),
        Array.from({ length: 20 }, (_, i) => i)
      )
      assert.strictEqual(runs.count, 20)
    })
  )

  it.effect("storeTimeout 1 day: a hanging read ends after 1 day, not before", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      h.fault = "hang"
      h.faultOps.add("get")
      const { fn } = counted("oneDay")
      const front = yield* Layer.build(h.cache({ storeTimeout: "1 day" }))
      const call = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
      yield* TestClock.adjust(86_400_000 - 1)
      assert.isUndefined(call.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* Fiber.join(call)).n, 1)
    })
  )

  it.effect("a hanging lock acquire: the call computes once storeTimeout passed", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "hang"
      h.faultOps.add("acquire")
      const { fn, runs } = counted("hangAcquire")
      const front = yield* Layer.build(h.cache({ storeTimeout: "1 second" }))
      const call = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
      yield* Deferred.await(h.reached("acquire"))
      yield* TestClock.adjust(999)
      assert.isUndefined(call.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* Fiber.join(call)).n, 1)
      assert.strictEqual(runs.count, 1)
    })
  )

  it.effect("a hanging awaitRelease while another front holds the lock: the waiter computes after lockTtl + storeTimeout", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      let runs = 0
      const fn = DataCache.fn("hangAwait", (n: number) =>
        Effect.gen(function* () {
          const run = ++runs
          if (run === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          return { n, run }
        })
      )
      const a = yield* Layer.build(h.cache({ storeTimeout: "1 second", lockTtl: "2 seconds" }))
      const b = yield* Layer.build(h.cache({ storeTimeout: "1 second", lockTtl: "2 seconds" }))
      const first = yield* Effect.forkChild(fn(1).pipe(Effect.provide(a)), { startImmediately: true })
      yield* Deferred.await(started)
      h.fault = "hang"
      h.faultOps.add("awaitRelease")
      const waiter = yield* Effect.forkChild(fn(1).pipe(Effect.provide(b)), { startImmediately: true })
      yield* Deferred.await(h.reached("awaitRelease"))
      yield* TestClock.adjust(2_999)
      assert.isUndefined(waiter.pollUnsafe(), "1 ms before lockTtl + storeTimeout")
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* Fiber.join(waiter)).run, 2, "gave up waiting: computed its own")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(first)).run, 1)
    })
  )
})

// ---------------------------------------------------------------------------
// Interrupts and closing, with no time passing
// ---------------------------------------------------------------------------

describe("hit path attacks: interrupts and closing", () => {
  it.effect(
    "callers interrupted while their reads hang: the layer then closes without any time passing",
    () =>
      Effect.gen(function* () {
        const h = makeHarness()
        h.fault = "hang"
        h.faultOps.add("get")
        const { fn } = counted("interruptThenClose")
        const scope = yield* Scope.make()
        const front = yield* Layer.buildWithScope(h.cache(), scope)
        const callers = yield* Effect.forEach([1, 2, 3, 1, 2], (n) =>
          Effect.forkChild(fn(n).pipe(Effect.provide(front)), { startImmediately: true })
        )
        yield* Fiber.interruptAll(callers)
        yield* Scope.close(scope, Exit.void)
      }),
    { timeout: 10_000 }
  )

  it.effect(
    "the layer closes while callers' reads hang (no time passes): every caller ends with a value or CacheClosedError",
    () =>
      Effect.gen(function* () {
        const h = makeHarness()
        h.fault = "hang"
        h.faultOps.add("get")
        const { fn } = counted("closeNoTime")
        const scope = yield* Scope.make()
        const front = yield* Layer.buildWithScope(h.cache(), scope)
        const callers = yield* Effect.forEach([1, 1, 2, 3], (n) =>
          Effect.forkChild(Effect.exit(fn(n).pipe(Effect.provide(front))), { startImmediately: true })
        )
        yield* Scope.close(scope, Exit.void)
        const exits = yield* Fiber.joinAll(callers)
        for (const [i, exit] of exits.entries()) {
          if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.n, [1, 1, 2, 3][i])
          else assert.include(String(Cause.squash(exit.cause)), "CacheClosedError")
        }
      }),
    { timeout: 10_000 }
  )

  // An operation that waits for a hanging write (invalidate, DataCache.clear), and the layer's close, in either order.
  const waitsAcrossClose = [
    { label: "invalidate waiting for a hanging write while the layer closes", op: "delete", closeFirst: false },
    { label: "invalidate waiting for a hanging write, the layer closing first", op: "delete", closeFirst: true },
    { label: "DataCache.clear waiting for a hanging write while the layer closes", op: "clearAll", closeFirst: false }
  ] as const
  for (const { label, op, closeFirst } of waitsAcrossClose) {
    it.effect(
      `${label}: it still ends, bounded by storeTimeout`,
      () =>
        Effect.gen(function* () {
          const h = makeHarness({ locks: false })
          const { fn } = counted(`acrossClose-${op}-${closeFirst}`)
          const scope = yield* Scope.make()
          const front = yield* Layer.buildWithScope(h.cache({ storeTimeout: "1 second" }), scope)
          h.fault = "hang"
          h.faultOps.add("set")
          h.faultOps.add(op)
          yield* fn(1).pipe(Effect.provide(front))
          yield* Deferred.await(h.reached("set"))
          const operation = (op === "delete" ? fn.invalidate(1) : DataCache.clear).pipe(Effect.provide(front))
          const close = Scope.close(scope, Exit.void)
          const [first, second] = closeFirst ? [close, operation] : [operation, close]
          const firstFiber = yield* Effect.forkChild(first, { startImmediately: true })
          const secondFiber = yield* Effect.forkChild(second, { startImmediately: true })
          const [operating, closing] = closeFirst ? [secondFiber, firstFiber] : [firstFiber, secondFiber]
          for (let i = 0; i < 10 && (operating.pollUnsafe() === undefined || closing.pollUnsafe() === undefined); i++) {
            yield* TestClock.adjust("1 second")
          }
          assert.isDefined(closing.pollUnsafe(), "the close ended")
          assert.isDefined(operating.pollUnsafe(), "the operation (after the write) never timed out")
        }),
      { timeout: 10_000 }
    )
  }
})

// ---------------------------------------------------------------------------
// 1 (continued). The caller's read: copies, replay, stale window, cycles, races
// ---------------------------------------------------------------------------

describe("hit path attacks: the caller's read, continued", () => {
  it.effect("a reader and three joiners of one store read: each has its own copy; one store hit, three hits", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      const { fn, runs } = counted("copies")
      yield* fn(1).pipe(Effect.provide(over(h.inner)))
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("get")
      const front = yield* Layer.build(h.cache())
      const fibers = yield* Effect.forEach([0, 1, 2, 3], () =>
        Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
      )
      yield* Deferred.succeed(h.gate, undefined)
      const values = yield* Fiber.joinAll(fibers)
      assert.strictEqual(new Set(values).size, 4, "four distinct objects")
      ;(values[0] as { n: number }).n = -1
      for (const v of values.slice(1)) assert.strictEqual(v.n, 1)
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(front))).n, 1)
      const stats = yield* fn.stats.pipe(Effect.provide(front))
      assert.deepStrictEqual([stats.storeHits, stats.hits, stats.misses], [1, 4, 0])
      assert.strictEqual(h.calls.get, 1)
      assert.strictEqual(runs.count, 1)
    })
  )

  it.effect("replay: a reader and a joiner of one store read both replay the body's log lines, once each", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      const fn = DataCache.fn("chattyRead", (n: number) =>
        Effect.gen(function* () {
          yield* Effect.logInfo("computing", n)
          return n * 2
        })
      )
      yield* fn(3).pipe(Effect.provide(over(h.inner)))
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("get")
      const logs = captureLogs()
      const front = yield* Layer.build(h.cache())
      const a = yield* Effect.forkChild(fn(3).pipe(Effect.provide(front), Effect.provide(logs.layer)), { startImmediately: true })
      const b = yield* Effect.forkChild(fn(3).pipe(Effect.provide(front), Effect.provide(logs.layer)), { startImmediately: true })
      yield* Deferred.succeed(h.gate, undefined)
      assert.deepStrictEqual([yield* Fiber.join(a), yield* Fiber.join(b)], [6, 6])
      assert.deepStrictEqual(logs.infos(), ["Info computing 3", "Info computing 3"])
    })
  )

  it.effect("stale window: a reader and a joiner of a stale store entry both get it; one refresh runs; then the fresh value", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      let runs = 0
      const refreshed = yield* Deferred.make<void>()
      const fn = DataCache.fn({ name: "staleJoin", ttl: "1 hour", staleWhileRevalidate: "1 hour" }, (n: number) =>
        Effect.sync(() => {
          const run = ++runs
          if (run > 1) Deferred.doneUnsafe(refreshed, Effect.void)
          return { n, run }
        })
      )
      yield* fn(1).pipe(Effect.provide(over(h.inner)))
      yield* TestClock.adjust(60 * 60_000 + 1)
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("get")
      const front = yield* Layer.build(h.cache())
      const a = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
      const b = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
      h.fault = "none"
      yield* Deferred.succeed(h.gate, undefined)
      assert.deepStrictEqual([(yield* Fiber.join(a)).run, (yield* Fiber.join(b)).run], [1, 1])
      const waited = yield* Effect.forkChild(Effect.timeoutOption(Deferred.await(refreshed), "1 second"))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isSome(yield* Fiber.join(waited)), "a refresh ran")
      assert.strictEqual(runs, 2, "one refresh")
      assert.strictEqual((yield* fn(1).pipe(Effect.provide(front))).run, 2)
    })
  )

  it.effect(
    "stale window, a value larger than the front: calls in the window start a refresh (the stale value is not served forever)",
    () =>
      Effect.gen(function* () {
        const h = makeHarness({ locks: false })
        let runs = 0
        const fn = DataCache.fn({ name: "staleBig", ttl: "1 hour", staleWhileRevalidate: "1 day" }, (n: number) =>
          Effect.sync(() => ({ n, run: ++runs, list: Array.from({ length: 2000 }, (_, i) => i) }))
        )
        yield* fn(1).pipe(Effect.provide(over(h.inner)))
        yield* TestClock.adjust(60 * 60_000 + 1)
        const front = yield* Layer.build(h.cache({ maxBytes: 1000 }))
        const seen: Array<number> = []
        for (let i = 0; i < 5; i++) {
          seen.push((yield* fn(1).pipe(Effect.provide(front))).run)
          yield* TestClock.adjust("1 minute")
        }
        assert.isAbove(runs, 1, `five calls over 5 minutes in the stale window all got the stale value and none refreshed it: ${seen}`)
      })
  )

  it.effect("a reader that finds a corrupt entry while a caller waits: both get the computed value; one run, one warning", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      const { fn, runs } = counted("corruptJoin")
      yield* fn(2).pipe(Effect.provide(over(h.inner)))
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("get")
      // Every entry read comes back with its last byte flipped.
      const corrupting = CacheStore.make({
        ...h.store,
        get: (n, k) =>
          Effect.map(h.store.get(n, k), (o) =>
            Option.map(o, (e) => {
              const bytes = e.bytes.slice()
              bytes[bytes.length - 1]! ^= 0x80
              return { ...e, bytes }
            })
          )
      })
      const logs = captureLogs()
      const front = yield* Layer.build(over(corrupting))
      const a = yield* Effect.forkChild(fn(2).pipe(Effect.provide(front), Effect.provide(logs.layer)), { startImmediately: true })
      const b = yield* Effect.forkChild(fn(2).pipe(Effect.provide(front), Effect.provide(logs.layer)), { startImmediately: true })
      h.fault = "none"
      yield* Deferred.succeed(h.gate, undefined)
      assert.deepStrictEqual([(yield* Fiber.join(a)).n, (yield* Fiber.join(b)).n], [2, 2])
      assert.strictEqual(runs.count, 2, "computed once more, for both")
      assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
    })
  )

  it.effect(
    "cycle detection over a store: a body calling itself with the same arguments dies with the message",
    () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const self: { fn?: (n: number) => Effect.Effect<number, never, DataCache.DataCache> } = {}
        const fn = DataCache.fn("selfCall", (n: number) => Effect.map(self.fn!(n), (x) => x + 1))
        self.fn = fn
        const exit = yield* Effect.exit(fn(1).pipe(Effect.provide(h.cache())))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(Cause.squash(exit.cause)), "called itself with the same arguments")
      }),
    { timeout: 10_000 }
  )

  it.effect(
    "cycle detection over a store: f calls g calls f (same arguments) dies with the message; g's store read ran in f's fiber",
    () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const refs: {
          f?: (n: number) => Effect.Effect<number, never, DataCache.DataCache>
          g?: (n: number) => Effect.Effect<number, never, DataCache.DataCache>
        } = {}
        refs.f = DataCache.fn("cycleF", (n: number) => Effect.map(refs.g!(n), (x) => x + 1))
        refs.g = DataCache.fn("cycleG", (n: number) => Effect.map(refs.f!(n), (x) => x + 1))
        const exit = yield* Effect.exit(refs.f(1).pipe(Effect.provide(h.cache())))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(Cause.squash(exit.cause)), "called itself with the same arguments")
      }),
    { timeout: 10_000 }
  )

  it.effect(
    "invalidate while the reader's read is in flight, with a joiner: neither the front nor a later caller keeps the old value",
    () =>
      Effect.gen(function* () {
        const h = makeHarness({ locks: false })
        let version = 1
        const fn = DataCache.fn("raceJoin", (n: number) => Effect.sync(() => ({ n, version })))
        yield* fn(1).pipe(Effect.provide(over(h.inner)))
        version = 2
        h.gate = yield* Deferred.make<void>()
        h.fault = "gate"
        h.faultOps.add("get")
        const front = yield* Layer.build(h.cache())
        const reader = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
        const joiner = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
        yield* Deferred.await(h.reached("get"))
        // From now on no get is gated (an empty faultOps would mean every operation).
        h.faultOps.clear()
        h.faultOps.add("no such operation")
        const invalidating = yield* Effect.forkChild(fn.invalidate(1).pipe(Effect.provide(front)), { startImmediately: true })
        yield* Fiber.join(invalidating)
        const later = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
        yield* Deferred.succeed(h.gate, undefined)
        yield* Fiber.join(reader)
        yield* Fiber.join(joiner)
        assert.strictEqual((yield* Fiber.join(later)).version, 2)
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(front))).version, 2, "the front kept the old value")
        assert.strictEqual((yield* fn(1).pipe(Effect.provide(h.cache()))).version, 2, "the store holds the old value")
      })
  )

  it.effect(
    "the layer closes while a read is gated and a write hangs: the read answers meanwhile, its callers get the value",
    () =>
      Effect.gen(function* () {
        const h = makeHarness({ locks: false })
        const { fn } = counted("closeReadAnswers")
        yield* fn(1).pipe(Effect.provide(over(h.inner)))
        const scope = yield* Scope.make()
        const front = yield* Layer.buildWithScope(h.cache({ storeTimeout: "1 second" }), scope)
        h.fault = "hang"
        h.faultOps.add("set")
        yield* fn(2).pipe(Effect.provide(front)) // its write hangs: the close waits for it
        h.gate = yield* Deferred.make<void>()
        h.fault = "gate"
        h.faultOps.clear()
        h.faultOps.add("get")
        const a = yield* Effect.forkChild(Effect.exit(fn(1).pipe(Effect.provide(front))), { startImmediately: true })
        const b = yield* Effect.forkChild(Effect.exit(fn(1).pipe(Effect.provide(front))), { startImmediately: true })
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
        yield* Deferred.succeed(h.gate, undefined)
        for (const exit of [yield* Fiber.join(a), yield* Fiber.join(b)]) {
          if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.n, 1)
          else assert.include(String(Cause.squash(exit.cause)), "CacheClosedError")
        }
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(closing)
      }),
    { timeout: 10_000 }
  )
})

describe("hit path attacks: a read inside another body", () => {
  it.effect("an inner function's store warning logged while an outer body runs is not recorded into the outer entry's replay", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      const inner = DataCache.fn("innerWarn", (n: number) => Effect.succeed(n + 1))
      const outer = DataCache.fn("outerWarn", (n: number) =>
        Effect.gen(function* () {
          yield* Effect.logInfo("outer body", n)
          return (yield* inner(n)) * 10
        })
      )
      const logs = captureLogs()
      // Reads of inner's entries fail (outer's work): inner's read fails while outer's body runs, and is logged there.
      let failInner = true
      const store = CacheStore.make({
        ...h.store,
        get: (ns, k) =>
          failInner && ns.startsWith("innerWarn")
            ? Effect.fail(new CacheStore.CacheStoreError({ operation: "get", reason: "inner's reads fail" }))
            : h.store.get(ns, k)
      })
      const front = yield* Layer.build(over(store))
      assert.strictEqual(yield* outer(1).pipe(Effect.provide(front), Effect.provide(logs.layer)), 20)
      assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
      failInner = false
      logs.lines.length = 0
      // A hit of outer replays what outer's body wrote: its own line, not the cache's warning about inner's read.
      assert.strictEqual(yield* outer(1).pipe(Effect.provide(front), Effect.provide(logs.layer)), 20)
      assert.deepStrictEqual(logs.infos(), ["Info outer body 1"])
      assert.deepStrictEqual(logs.warnings(), [], "the cache's own warning was replayed as if outer's body had logged it")
    })
  )

  it.effect("an inner function's corrupt entry, read while an outer body runs: its warning is not replayed on outer's hits", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      const inner = DataCache.fn("innerCorrupt", (n: number) => Effect.succeed(n + 1))
      const outer = DataCache.fn("outerCorrupt", (n: number) => Effect.map(inner(n), (x) => x * 10))
      yield* inner(1).pipe(Effect.provide(over(h.inner)))
      const corrupting = CacheStore.make({
        ...h.store,
        get: (n, k) =>
          Effect.map(h.store.get(n, k), (o) =>
            Option.map(o, (e) => {
              const bytes = e.bytes.slice()
              bytes[bytes.length - 1]! ^= 0x80
              return { ...e, bytes }
            })
          )
      })
      const logs = captureLogs()
      const front = yield* Layer.build(over(corrupting))
      assert.strictEqual(yield* outer(1).pipe(Effect.provide(front), Effect.provide(logs.layer)), 20)
      assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
      logs.lines.length = 0
      assert.strictEqual(yield* outer(1).pipe(Effect.provide(front), Effect.provide(logs.layer)), 20)
      assert.deepStrictEqual(logs.warnings(), [], "the warning about inner's entry was replayed on a hit of outer")
    })
  )
})

describe("hit path attacks: breaker and watcher together", () => {
  for (const [count, opens] of [
    [4, false],
    [5, true]
  ] as const) {
    it.effect(
      `${count} concurrent reads of a healthy store hang and time out at one instant: the breaker ${opens ? "opens" : "stays closed"}`,
      () =>
        Effect.gen(function* () {
          const h = makeHarness({ locks: false })
          h.fault = "hang"
          h.faultOps.add("get")
          const fn = DataCache.fn(`hangTogether${count}`, (n: number) => Effect.succeed(n))
          const front = yield* Layer.build(h.cache({ storeTimeout: "1 second" }))
          const fibers = yield* Effect.forEach(
            Array.from({ length: count }, (_, i) => i),
            (i) => Effect.forkChild(fn.has(i).pipe(Effect.provide(front)), { startImmediately: true })
          )
          yield* TestClock.adjust("1 second")
          yield* Fiber.joinAll(fibers)
          h.fault = "none"
          const before = h.calls.get ?? 0
          yield* fn.has(100).pipe(Effect.provide(front))
          assert.strictEqual(h.calls.get ?? 0, opens ? before : before + 1)
        })
    )
  }

  it.effect("a joiner interrupted while the reader reads a value larger than the front: the reader still gets its value", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      const fn = DataCache.fn("bigJoinerGone", (n: number) => Effect.succeed({ n, list: Array.from({ length: 2000 }, (_, i) => i) }))
      yield* fn(1).pipe(Effect.provide(over(h.inner)))
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("get")
      const front = yield* Layer.build(h.cache({ maxBytes: 1000 }))
      const reader = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
      const joiner = yield* Effect.forkChild(fn(1).pipe(Effect.provide(front)), { startImmediately: true })
      yield* Fiber.interrupt(joiner)
      yield* Deferred.succeed(h.gate, undefined)
      const value = yield* Fiber.join(reader)
      assert.strictEqual(value.n, 1)
      assert.strictEqual(value.list[1999], 1999)
      assert.strictEqual(h.calls.get, 1)
    })
  )
})
