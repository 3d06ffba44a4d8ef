/**
 * Defects an attack round found in issue 11's work, one test each: every one
 * of them returned a wrong value (or threw on a hit) before its fix.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Console, Data, Effect, Fiber, Logger, Schema } from "effect"
import * as TestClock from "effect/testing/TestClock"

describe("DataCache, after the attack round", () => {
  it.effect("a parameter named by a compiler (esbuild's lowered `({ url, ...rest })`) stays in the key", () =>
    Effect.gen(function* () {
      // What esbuild (target es2017) emits for `({ url, ...rest }) => url + "?" + rest.page`.
      const body = new Function(
        "Effect",
        'return (_a) => { var _b = _a, { url } = _b, rest = Object.assign({}, _b); delete rest.url; return Effect.succeed(url + "?page=" + rest.page) }'
      )(Effect) as (args: { url: string; page: number }) => Effect.Effect<string>
      const load = DataCache.fn({ name: "load", version: 1 }, body)
      assert.strictEqual(yield* load({ url: "/a", page: 1 }), "/a?page=1")
      assert.strictEqual(yield* load({ url: "/b", page: 2 }), "/b?page=2")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a `_` parameter that a kept parameter's default reads stays in the key", () =>
    Effect.gen(function* () {
      const where = DataCache.fn("where", (_conn: { readonly region: string }, region: string = _conn.region) => Effect.succeed(region))
      assert.strictEqual(yield* where({ region: "eu" }), "eu")
      assert.strictEqual(yield* where({ region: "us" }), "us")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a field a destructured parameter reads twice (`{ _a, _a: { b } }`) stays in the key", () =>
    Effect.gen(function* () {
      const inner = DataCache.fn("inner", ({ _a, _a: { b } }: { readonly _a: { readonly b: number } }) => Effect.succeed(b + (_a.b - b)))
      assert.strictEqual(yield* inner({ _a: { b: 1 } }), 1)
      assert.strictEqual(yield* inner({ _a: { b: 2 } }), 2)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a Data class with a field named `constructor` is keyed by its class, not by that field", () =>
    Effect.gen(function* () {
      class A extends Data.Class<{ readonly constructor: string; readonly x: number }> {}
      class B extends Data.Class<{ readonly constructor: string; readonly x: number }> {}
      const which = DataCache.fn("which", (value: A | B) => Effect.succeed(value instanceof A ? "A" : "B"))
      assert.strictEqual(yield* which(new A({ constructor: "c", x: 1 })), "A")
      assert.strictEqual(yield* which(new B({ constructor: "c", x: 1 })), "B")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("an ArrayBuffer and a SharedArrayBuffer of the same bytes are two keys", () =>
    Effect.gen(function* () {
      const kind = DataCache.fn("kind", (buffer: ArrayBufferLike) => Effect.succeed(buffer instanceof ArrayBuffer ? "plain" : "shared"))
      assert.strictEqual(yield* kind(new ArrayBuffer(8)), "plain")
      assert.strictEqual(yield* kind(new SharedArrayBuffer(8)), "shared")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a hit's loggers and Console get copies: one hit's mutation never reaches the next hit's replay", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const mutating = Logger.make(({ message }) => {
        const first = (message as ReadonlyArray<unknown>)[0] as Array<number>
        seen.push([...first])
        first.push(999)
      })
      const console: Console.Console = Object.assign(Object.create(globalThis.console), {
        log: (...args: ReadonlyArray<unknown>) => {
          const first = args[0] as Array<number>
          seen.push([...first])
          first.push(999)
        }
      })
      const report = DataCache.fn("report", (n: number) =>
        Effect.gen(function* () {
          yield* Effect.logInfo([1, n])
          yield* Console.log([2, n])
          return n
        })
      )
      const call = report(1).pipe(Effect.provideService(Console.Console, console), Effect.provide(Logger.layer([mutating])))
      yield* call
      yield* call
      yield* call
      assert.deepStrictEqual(seen, [
        [1, 1],
        [2, 1],
        [1, 1],
        [2, 1],
        [1, 1],
        [2, 1]
      ])
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("with a value schema, a Schema.Class with #private state works on a hit (classes are decoded, not copied)", () =>
    Effect.gen(function* () {
      class Money extends Schema.Class<Money>("Money")({ cents: Schema.Number }) {
        readonly #format = (cents: number) => `${(cents / 100).toFixed(2)} kr`
        show(): string {
          return this.#format(this.cents)
        }
      }
      const price = DataCache.fn({ name: "price", value: Money }, (cents: number) => Effect.succeed(new Money({ cents })))
      assert.strictEqual((yield* price(250)).show(), "2.50 kr")
      assert.strictEqual((yield* price(250)).show(), "2.50 kr", "a hit")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a backend that is down: 200 callers waiting on a failing body get its failure from one run, at once", () =>
    Effect.gen(function* () {
      let runs = 0
      const fetchRow = DataCache.fn("fetchRow", (id: number) =>
        Effect.suspend(() => {
          runs++
          return Effect.andThen(Effect.sleep("100 millis"), Effect.fail(`backend down (${id})`))
        })
      )
      const callers = yield* Effect.forEach(Array.from({ length: 200 }), () => Effect.forkChild(Effect.flip(fetchRow(1))))
      yield* Effect.yieldNow
      yield* TestClock.adjust("100 millis")
      const failures = yield* Effect.forEach(callers, Fiber.join)
      assert.strictEqual(failures.length, 200)
      assert.isTrue(failures.every((failure) => failure === "backend down (1)"))
      assert.strictEqual(runs, 1, "one run for the failure, not one per waiter (it was 200 serial runs)")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
