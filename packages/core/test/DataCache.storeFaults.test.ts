/**
 * DataCache over a store that goes wrong: corrupt, truncated and foreign
 * entries; a store that fails, dies or hangs (a call never fails and never
 * waits past `storeTimeout`; one warning per outage; the breaker; the
 * recovery); interrupts during the store read; a layer closing while a write
 * is in flight.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as StoreTier from "../src/internal/storeTier.ts"
import { captureLogs, type Harness, makeHarness, storedBytes } from "./fixtures/storeHarness.ts"

/** A body whose value depends on its argument only, so a recomputed entry has the very bytes of the first. */
const deterministic = (name: string) => {
  const runs = { count: 0 }
  const fn = DataCache.fn({ name, ttl: "1 hour" }, (n: number) =>
    Effect.sync(() => {
      runs.count++
      return { n, square: n * n, label: `value ${n}`, frame: new Float64Array([n, n / 3]) }
    })
  )
  return { fn, runs }
}

/** One call through a new front tier, with its log lines. */
const restartAndCall = <A>(h: Harness, call: Effect.Effect<A, never, DataCache.DataCache>) =>
  Effect.gen(function* () {
    const logs = captureLogs()
    const value = yield* call.pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
    return { value, warnings: logs.warnings(), infos: logs.infos() }
  })

describe("DataCache.layerStore: entries that do not read", () => {
  const corruptions: ReadonlyArray<readonly [string, (entry: Uint8Array, other: Uint8Array) => Uint8Array]> = [
    ["garbage", () => Uint8Array.from({ length: 200 }, (_, i) => (i * 131 + 7) & 0xff)],
    ["no bytes at all", () => new Uint8Array(0)],
    ["only the magic number", (entry) => entry.slice(0, 4)],
    ["the header only", (entry) => entry.slice(0, 96)],
    ["one byte short", (entry) => entry.slice(0, entry.length - 1)],
    ["a byte too many", (entry) => Uint8Array.from([...entry, 0])],
    [
      "a flipped payload byte",
      (entry) => {
        const bytes = entry.slice()
        bytes[bytes.length - 1]! ^= 0x80
        return bytes
      }
    ],
    [
      "another version of the format",
      (entry) => {
        const bytes = entry.slice()
        bytes[4] = 2
        return bytes
      }
    ],
    ["another function's entry", (_, other) => other]
  ]

  for (const [label, corrupt] of corruptions) {
    it.effect(`${label}: a miss, recomputed with the right value, one warning, the entry replaced`, () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const { fn, runs } = deterministic(`corrupt-${label}`)
        const other = deterministic(`other-${label}`)
        yield* Effect.all([fn(6), other.fn(6)]).pipe(Effect.provide(h.cache()))
        const otherAt = h.lastWritten()
        const at = h.written[0]!
        const original = yield* storedBytes(h, at)
        const foreign = yield* storedBytes(h, otherAt)
        yield* h.inner.set(at.namespace, at.key, corrupt(original.bytes.slice(), foreign.bytes.slice()), original.expiresAt)
        const { value, warnings } = yield* restartAndCall(h, fn(6))
        assert.deepStrictEqual(value.label, "value 6")
        assert.deepStrictEqual(Array.from(value.frame), [6, 2])
        assert.strictEqual(runs.count, 2, "recomputed")
        assert.strictEqual(warnings.length, 1, warnings.join("\n"))
        assert.include(warnings[0], "not used and is deleted")
        assert.deepStrictEqual((yield* storedBytes(h, at)).bytes, original.bytes, "the entry was written again")
        const again = yield* restartAndCall(h, fn(6))
        assert.strictEqual(runs.count, 2, "the replaced entry reads")
        assert.deepStrictEqual(again.warnings, [])
      })
    )
  }

  it.effect("every single-bit flip at every byte, and every truncation, of an entry is a miss with the right value", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const { fn, runs } = deterministic("everyByte")
      yield* fn(3).pipe(Effect.provide(h.cache()))
      const at = h.lastWritten()
      const original = (yield* storedBytes(h, at)).bytes
      const variants: Array<readonly [string, Uint8Array]> = []
      for (let i = 0; i < original.length; i++) {
        for (const bit of [0x01, 0x80]) {
          const bytes = original.slice()
          bytes[i]! ^= bit
          variants.push([`bit ${bit} of byte ${i}`, bytes])
        }
      }
      for (let length = 0; length < original.length; length++) variants.push([`truncated to ${length}`, original.slice(0, length)])
      let expectedRuns = 1
      for (const [label, bytes] of variants) {
        yield* h.inner.set(at.namespace, at.key, bytes, Infinity)
        const { value, warnings } = yield* restartAndCall(h, fn(3))
        expectedRuns++
        assert.strictEqual(value.label, "value 3", label)
        assert.deepStrictEqual(Array.from(value.frame), [3, 1], label)
        assert.strictEqual(runs.count, expectedRuns, `${label}: recomputed`)
        assert.strictEqual(warnings.length, 1, `${label}: ${warnings.join("\n")}`)
        assert.deepStrictEqual((yield* storedBytes(h, at)).bytes, original, `${label}: replaced`)
      }
    })
  )
})

describe("DataCache.layerStore: a store that fails", () => {
  it.effect("every operation fails: every call succeeds with its value, storeErrors counts, ONE warning for the outage", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "fail"
      const logs = captureLogs()
      const { fn, runs } = deterministic("down")
      const stats = yield* Effect.gen(function* () {
        for (let i = 0; i < 20; i++) assert.strictEqual((yield* fn(i % 4)).square, (i % 4) ** 2)
        yield* fn.invalidate(0)
        yield* fn.has(1)
        yield* fn.clear
        yield* DataCache.clear
        return yield* fn.stats
      }).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
      assert.strictEqual(runs.count, 4, "the front tier still works")
      assert.isAbove(stats.storeErrors, 0)
      assert.strictEqual(stats.storeWrites, 0)
      assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
      assert.include(logs.warnings()[0], "logged once per outage")
      assert.deepStrictEqual(logs.infos(), [], "no recovery was announced: the store never worked")
    })
  )

  it.effect(
    "a kind of operation nobody tries again does not hold an outage open: it ends after a quiet while, and the next is logged",
    () =>
      Effect.gen(function* () {
        const h = makeHarness()
        const logs = captureLogs()
        const { fn } = deterministic("quiet")
        yield* Effect.gen(function* () {
          h.fault = "fail"
          yield* fn(1) // its read and its write fail: an outage of reads and writes
          h.fault = "none"
          yield* TestClock.adjust("6 seconds")
          yield* fn.has(5) // a read works; the writes failed 6 s ago: still the same outage
          assert.deepStrictEqual(logs.infos(), [])
          yield* TestClock.adjust("11 seconds")
          yield* fn.has(5) // nobody wrote since, and nothing failed for 10 s: the outage is over
          assert.strictEqual(logs.infos().length, 1)
          h.fault = "fail"
          yield* fn.has(6) // a new outage, logged as such
        }).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
        assert.strictEqual(logs.warnings().length, 2, logs.warnings().join("\n"))
      })
  )

  // Found by an operations trial: a Redis user without pub/sub rights failed every lock release (its script
  // publishes), and the function's storeErrors stayed 0, so an alert on that metric missed it.
  it.effect("a lock's release that fails: counted among the function's storeErrors, tried every time, one outage", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "fail"
      h.faultOps.add("release")
      const { fn, runs } = deterministic("releaseFails")
      const logs = captureLogs()
      const stats = yield* Effect.gen(function* () {
        for (let i = 0; i < 8; i++) {
          assert.strictEqual((yield* fn(i)).square, i ** 2)
          yield* StoreTier.awaitAllWrites((yield* DataCache.DataCache).cache.tier!)
        }
        return yield* fn.stats
      }).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
      assert.strictEqual(runs.count, 8)
      assert.strictEqual(h.calls.release, 8, "every release tried: one skipped would hold its lock until it expired")
      assert.strictEqual(stats.storeErrors, 8, "each failed release counted")
      assert.strictEqual(stats.storeWrites, 8, "the values were written")
      // One outage: the acquires that work between the failing releases do not end it (they flapped, a warning and
      // a "works again" on every miss).
      assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
      assert.deepStrictEqual(logs.infos(), [])
    })
  )

  it.effect("a read-only store (reads work, writes and locks fail) is one outage: one warning, no false recovery", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "fail"
      for (const op of ["set", "delete", "acquire", "renew", "release", "awaitRelease"]) h.faultOps.add(op)
      const logs = captureLogs()
      const { fn, runs } = deterministic("readOnly")
      yield* Effect.gen(function* () {
        for (let i = 0; i < 8; i++) assert.strictEqual((yield* fn(i)).square, i ** 2)
      }).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
      assert.strictEqual(runs.count, 8)
      assert.isAbove(h.calls.get ?? 0, 0, "reads reached the store")
      assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
      assert.deepStrictEqual(logs.infos(), [], "successful reads do not end an outage of writes")
    })
  )

  // Found by a spec trial: a read-only directory took a lock file and a temporary file on every miss (97
  // misses, 194 failing calls), since the reads between succeeded and the breaker counted failures in a row.
  it.effect("a read-only store: writes and locks stop after five failures in a row each (their breaker opens), reads go on", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "fail"
      for (const op of ["set", "delete", "acquire", "renew", "release", "awaitRelease"]) h.faultOps.add(op)
      const { fn, runs } = deterministic("readOnlyBreaker")
      yield* Effect.gen(function* () {
        for (let i = 0; i < 20; i++) assert.strictEqual((yield* fn(i)).square, i ** 2)
        const stats = yield* fn.stats
        assert.strictEqual(stats.storeWrites, 0)
      }).pipe(Effect.provide(h.cache()), Effect.provide(captureLogs().layer))
      assert.strictEqual(runs.count, 20)
      assert.strictEqual(h.calls.get, 20, "every miss still read the store")
      assert.strictEqual(h.calls.acquire, 5, "locks: five failures, then refused")
      assert.strictEqual(h.calls.set ?? 0, 5, "writes: five failures, then refused")
      // After the open duration, one write is tried again, and works once the store does.
      h.fault = "none"
      yield* TestClock.adjust("5 seconds")
      yield* fn(100).pipe(Effect.provide(h.cache()))
      assert.strictEqual(h.calls.set, 6)
    })
  )

  it.effect("once the store recovers, after the breaker's open duration writes and reads work again, and that is logged once", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "fail"
      const logs = captureLogs()
      const { fn, runs } = deterministic("recovers")
      yield* Effect.gen(function* () {
        for (let i = 0; i < 10; i++) yield* fn(i)
        const before = { ...h.calls }
        yield* fn(100)
        assert.deepStrictEqual(h.calls, before, "the breaker is open: the store is not called")
        h.fault = "none"
        yield* TestClock.adjust("5 seconds")
        yield* fn(200)
        const stats = yield* fn.stats
        assert.strictEqual(stats.storeWrites, 1)
      }).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
      assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
      assert.strictEqual(logs.infos().length, 1, logs.infos().join("\n"))
      assert.include(logs.infos()[0], "works again")
      const after = yield* restartAndCall(h, fn(200))
      assert.strictEqual(after.value.square, 40_000)
      assert.strictEqual(runs.count, 12, "200 was read from the store")
    })
  )

  // Found by an attack trial: a full Redis (noeviction) refuses writes and answers a generation's read, and with
  // that read counted as a write, each miss closed the write breaker again and ended the outage: a failing
  // write, a warning and a "works again" on every miss.
  it.effect(
    "a full store (writes and locks fail, reads and generations work): writes stop after five, one warning, no recovery logged",
    () =>
      Effect.gen(function* () {
        const h = makeHarness({ generations: true })
        h.fault = "fail"
        for (const op of ["set", "setIf", "delete", "acquire", "renew", "release", "awaitRelease"]) h.faultOps.add(op)
        const logs = captureLogs()
        const { fn, runs } = deterministic("fullStore")
        yield* Effect.gen(function* () {
          for (let i = 0; i < 20; i++) assert.strictEqual((yield* fn(i)).square, i ** 2)
        }).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer))
        assert.strictEqual(runs.count, 20)
        const writes = (h.calls.set ?? 0) + (h.calls.setIf ?? 0)
        assert.strictEqual(writes, 5, "writes: five failures, then refused")
        assert.isAtLeast(h.calls.current ?? 0, 5, "generations are read")
        assert.strictEqual(logs.warnings().length, 1, logs.warnings().join("\n"))
        assert.deepStrictEqual(logs.infos(), [], "nothing worked again")
      })
  )

  it.effect(
    "each kind of operation has its own breaker: reads failing in a row open it for reads; every write still reaches the store",
    () =>
      Effect.gen(function* () {
        const h = makeHarness({ locks: false })
        h.fault = "fail"
        h.faultOps.add("get")
        const { fn, runs } = deterministic("interleaved")
        // Each call: its read fails, its write works.
        yield* Effect.gen(function* () {
          for (let i = 0; i < 10; i++) assert.strictEqual((yield* fn(i)).square, i * i)
        }).pipe(Effect.provide(h.cache()))
        assert.strictEqual(runs.count, 10)
        assert.strictEqual(h.calls.get, 5, "five reads failed in a row: reads are refused")
        assert.strictEqual(h.calls.set, 10, "writes kept working: none was refused")
      })
  )

  it.effect("failures of one kind between its successes never open its breaker: it counts failures in a row", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      const { fn } = deterministic("alternating")
      // Every other read fails: ten failures, never two in a row.
      yield* Effect.gen(function* () {
        for (let i = 0; i < 20; i++) {
          h.fault = i % 2 === 0 ? "fail" : "none"
          if (i % 2 === 0) h.faultOps.add("get")
          assert.strictEqual((yield* fn(i)).square, i * i)
        }
      }).pipe(Effect.provide(h.cache()))
      assert.strictEqual(h.calls.get, 20, "no read was refused by an open breaker")
    })
  )

  it.effect("a store whose operations die is treated as failing", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "die"
      const { fn, runs } = deterministic("dies")
      const { value, warnings } = yield* restartAndCall(
        h,
        Effect.gen(function* () {
          const values = [yield* fn(1), yield* fn(2), yield* fn(1)]
          return { values, stats: yield* fn.stats }
        })
      )
      assert.deepStrictEqual(
        value.values.map((v) => v.square),
        [1, 4, 1]
      )
      assert.strictEqual(runs.count, 2)
      assert.isAbove(value.stats.storeErrors, 0)
      assert.strictEqual(warnings.length, 1, warnings.join("\n"))
    })
  )

  it.effect("only writes fail: the call has its value, storeErrors is 1, a restart recomputes", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "fail"
      h.faultOps.add("set")
      const { fn, runs } = deterministic("writeFails")
      const { value, warnings } = yield* restartAndCall(h, Effect.all([fn(2), fn.stats]).pipe(Effect.map(([v, stats]) => ({ v, stats }))))
      assert.strictEqual(value.v.square, 4)
      assert.deepStrictEqual([value.stats.storeErrors, value.stats.storeWrites], [1, 0])
      assert.strictEqual(warnings.length, 1)
      h.fault = "none"
      yield* restartAndCall(h, fn(2))
      assert.strictEqual(runs.count, 2)
    })
  )

  it.effect("a get that never returns: the call returns the computed value after storeTimeout, not before", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "hang"
      h.faultOps.add("get")
      const { fn, runs } = deterministic("hangs")
      const logs = captureLogs()
      const call = yield* Effect.forkChild(fn(9).pipe(Effect.provide(h.cache()), Effect.provide(logs.layer)))
      yield* Deferred.await(h.reached("get"))
      yield* TestClock.adjust(4_999)
      assert.isUndefined(call.pollUnsafe(), "still waiting on the store 1 ms before the timeout")
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* Fiber.join(call)).square, 81)
      assert.strictEqual(runs.count, 1)
      assert.strictEqual(logs.warnings().length, 1)
    })
  )

  it.effect("a read that begins while a longer write hangs times out at its own deadline, not the write's", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false })
      h.fault = "hang"
      h.faultOps.add("get")
      h.faultOps.add("set")
      // 5 MB: its write may take storeTimeout + 100 ms (a second per 50 MB).
      const big = DataCache.fn("bigWrite", (n: number) => Effect.sync(() => new Uint8Array(5_000_000).fill(n)))
      const { fn, runs } = deterministic("afterBigWrite")
      const front = yield* Layer.build(h.cache({ storeTimeout: "1 second" }))
      const first = yield* Effect.forkChild(big(3).pipe(Effect.provide(front)))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(first))[0], 3, "its read timed out; computed; its write now hangs until 2.1 s")
      const second = yield* Effect.forkChild(fn(7).pipe(Effect.provide(front)))
      yield* TestClock.adjust(999)
      assert.isUndefined(second.pollUnsafe(), "1 ms before its own deadline")
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* Fiber.join(second)).square, 49, "ended at 2 s, before the write's deadline")
      assert.strictEqual(runs.count, 1)
      // The two writes time out (at 2.1 s and 3 s): then the layer can close (it waits for its writes).
      yield* TestClock.adjust("1 second")
    })
  )

  it.effect("a store with generations that hangs: a call waits one storeTimeout (its read), not one more for the generation", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false, generations: true })
      h.fault = "hang"
      const { fn, runs } = deterministic("hangsWithGenerations")
      const front = yield* Layer.build(h.cache({ storeTimeout: "1 second" }))
      const call = yield* Effect.forkChild(fn(3).pipe(Effect.provide(front)))
      yield* Deferred.await(h.reached("get"))
      yield* TestClock.adjust(1000)
      assert.strictEqual((yield* Fiber.join(call)).square, 9, "the value, one timeout after the read began")
      assert.strictEqual(runs.count, 1)
      assert.isUndefined(h.calls.current, "the generation of a store that could not be read is not asked for")
      assert.isUndefined(h.calls.setIf, "nor is the value written without it")
      assert.isUndefined(h.calls.set)
    })
  )

  it.effect("a generation that cannot be read: the value is returned and kept in front, not written (it could land after a clear)", () =>
    Effect.gen(function* () {
      const h = makeHarness({ locks: false, generations: true })
      h.fault = "fail"
      h.faultOps.add("current")
      const { fn, runs } = deterministic("generationFails")
      const front = yield* Layer.build(h.cache())
      assert.strictEqual((yield* fn(4).pipe(Effect.provide(front))).square, 16)
      assert.strictEqual((yield* fn(4).pipe(Effect.provide(front))).square, 16)
      assert.strictEqual(runs.count, 1, "the front tier kept it")
      assert.strictEqual(h.calls.current, 1)
      assert.isUndefined(h.calls.setIf)
      assert.isUndefined(h.calls.set)
    })
  )

  it.effect("every operation hangs, storeTimeout 1 second: calls return, and closing the layer is bounded too", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "hang"
      const { fn } = deterministic("allHang")
      const call = yield* Effect.forkChild(
        Effect.all([fn(1), fn(1), fn(2)], { concurrency: "unbounded" }).pipe(Effect.provide(h.cache({ storeTimeout: "1 second" })))
      )
      // Read, lock, write at close: each one timeout at most.
      for (let i = 0; i < 10 && call.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      const values = yield* Fiber.join(call)
      assert.deepStrictEqual(
        values.map((v) => v.square),
        [1, 1, 4]
      )
    })
  )
})

describe("DataCache.layerStore: interrupts and closing", () => {
  it.effect("callers interrupted during the store read: the computation goes on, and the next caller gets the value", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("get")
      const { fn, runs } = deterministic("interruptRead")
      const a = yield* Layer.build(h.cache())
      const callers = yield* Effect.forkChild(
        Effect.all(
          Array.from({ length: 10 }, () => fn(5)),
          { concurrency: "unbounded" }
        ).pipe(Effect.provide(a))
      )
      yield* Deferred.await(h.reached("get"))
      yield* Fiber.interrupt(callers)
      yield* Deferred.succeed(h.gate!, undefined)
      assert.strictEqual((yield* fn(5).pipe(Effect.provide(a))).square, 25)
      assert.strictEqual(runs.count, 1)
      h.fault = "none"
      yield* restartAndCall(h, fn(5))
      assert.strictEqual(runs.count, 1, "the interrupted callers' computation wrote the entry")
    })
  )

  it.effect("closing the layer while a write is in flight waits for it: the write lands, and a restarted front reads it", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("set")
      const { fn, runs } = deterministic("closeWhileWriting")
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(h.cache(), scope)
      assert.strictEqual((yield* fn(4).pipe(Effect.provide(context))).square, 16, "the caller does not wait for the write")
      yield* Deferred.await(h.reached("set"))
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Effect.yieldNow
      assert.isUndefined(closing.pollUnsafe(), "the close waits for the write")
      yield* Deferred.succeed(h.gate!, undefined)
      yield* Fiber.join(closing)
      assert.strictEqual((yield* h.inner.stats).entries, 1)
      h.fault = "none"
      yield* restartAndCall(h, fn(4))
      assert.strictEqual(runs.count, 1)
    })
  )

  it.effect("closing the layer while a write hangs ends after storeTimeout", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.fault = "hang"
      h.faultOps.add("set")
      const { fn } = deterministic("closeWhileHanging")
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(h.cache(), scope)
      yield* fn(4).pipe(Effect.provide(context))
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust(4_999)
      assert.isUndefined(closing.pollUnsafe())
      yield* TestClock.adjust(1)
      yield* Fiber.join(closing)
      assert.strictEqual((yield* h.inner.stats).entries, 0)
    })
  )

  it.effect("invalidate while a write is in flight: the late write does not land after it", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      h.gate = yield* Deferred.make<void>()
      h.fault = "gate"
      h.faultOps.add("set")
      const { fn, runs } = deterministic("invalidateWhileWriting")
      const context = yield* Layer.build(h.cache())
      yield* fn(4).pipe(Effect.provide(context))
      yield* Deferred.await(h.reached("set"))
      const invalidating = yield* Effect.forkChild(fn.invalidate(4).pipe(Effect.provide(context)))
      yield* Deferred.succeed(h.gate!, undefined)
      yield* Fiber.join(invalidating)
      assert.strictEqual((yield* h.inner.stats).entries, 0)
      h.fault = "none"
      yield* restartAndCall(h, fn(4))
      assert.strictEqual(runs.count, 2)
    })
  )
})
