/**
 * How a cached function's body is called: as a plain function. `this` in it
 * is `undefined`, never recall's definition of the function (whose fields a
 * body read as its own data, and cached, before), so a method body that
 * reads `this` fails, and its failure is not cached. So are the functions
 * of its options (`cacheIf`, `validate`).
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache } from "@recall/core"
import { Effect, Exit } from "effect"

describe("a cached function's body", () => {
  it.effect("runs with `this` undefined, called bare or as a method of an object", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const f = DataCache.fn("thisOf", function (this: unknown, n: number) {
        seen.push(this)
        return Effect.succeed(n)
      })
      const holder = { f, table: "orders" }
      assert.strictEqual(yield* f(1), 1)
      assert.strictEqual(yield* holder.f(2), 2)
      assert.deepStrictEqual(seen, [undefined, undefined])
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a generator body too", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const f = DataCache.fn("thisOfGenerator", function* (this: unknown, n: number) {
        seen.push(this)
        return yield* Effect.succeed(n)
      })
      assert.strictEqual(yield* f(1), 1)
      assert.deepStrictEqual(seen, [undefined])
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a method body that reads `this` fails (a TypeError), and nothing is cached", () =>
    Effect.gen(function* () {
      class Scores {
        readonly score: number
        constructor(score: number) {
          this.score = score
        }
      }
      const multiply = DataCache.fn("multiplyScore", function (this: Scores, by: number) {
        return Effect.sync(() => this.score * by)
      })
      const exit = yield* Effect.exit(multiply.call(new Scores(15), 2))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "TypeError")
      assert.strictEqual((yield* multiply.stats).entries, 0)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("cacheIf runs with `this` undefined", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const f = DataCache.fn(
        {
          name: "cacheIfThis",
          cacheIf(this: unknown, value: number) {
            seen.push(this)
            return value > 0
          }
        },
        (n: number) => Effect.succeed(n)
      )
      assert.strictEqual(yield* f(1), 1)
      assert.deepStrictEqual(seen, [undefined])
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("a ResourceCache validate runs with `this` undefined", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const open = ResourceCache.fn(
        {
          name: "validateThis",
          validate(this: unknown) {
            seen.push(this)
            return Effect.succeed(true)
          }
        },
        (url: string) => Effect.succeed({ url })
      )
      yield* open("db://a")
      yield* open("db://a")
      assert.deepStrictEqual(seen, [undefined])
    }).pipe(Effect.provide(ResourceCache.layerMemory()), Effect.scoped)
  )

  it.effect("a ResourceCache body runs with `this` undefined", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const open = ResourceCache.fn("openThis", function (this: unknown, url: string) {
        seen.push(this)
        return Effect.succeed({ url })
      })
      assert.strictEqual((yield* open("db://a")).url, "db://a")
      assert.deepStrictEqual(seen, [undefined])
    }).pipe(Effect.provide(ResourceCache.layerMemory()), Effect.scoped)
  )
})
