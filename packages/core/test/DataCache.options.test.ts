/**
 * Options are checked when a cached function (or the layer) is defined: bad
 * names and values are type errors where the types can tell, and always a
 * typed `InvalidOptionsError` that names the option and says how to fix it,
 * before any body can run.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache } from "@recall/core"
import { Effect, Fiber, Schema } from "effect"
import { rejection } from "./fixtures/rejection.ts"

const body = (n: number) => Effect.succeed(n)

describe("DataCache options", () => {
  it("an unknown option name is a type error and an InvalidOptionsError that suggests the right one", () => {
    // @ts-expect-error maxEntry is not an option
    const error = rejection(() => DataCache.fn({ name: "typo", maxEntry: 10 }, body))
    assert.strictEqual(error.option, "maxEntry")
    assert.include(error.message, "did you mean `maxEntries`")
  })

  // Found by an outside trial: lockTtl given to a function listed the function's options, with no word of the layer.
  it("a layer's option given to a function says which layer takes it", () => {
    for (const [option, value, layer] of [
      ["lockTtl", "3 seconds", "DataCache.layerStore({ lockTtl })"],
      ["secret", "x", "DataCache.layerStore({ secret })"],
      ["storeTimeout", "1 second", "DataCache.layerStore({ storeTimeout })"],
      ["sweepInterval", "1 minute", "DataCache.layerMemory({ sweepInterval })"]
    ] as const) {
      const error = rejection(() => DataCache.fn({ name: "misplaced", [option]: value } as never, body))
      assert.strictEqual(error.option, option)
      assert.include(error.message, `is an option of the layer, not of a function: give it to ${layer}`)
    }
  })

  it("malformed hashers, version, ttl and name say what was wrong", () => {
    const cases: ReadonlyArray<readonly [string, () => unknown, RegExp]> = [
      ["hashers", () => DataCache.fn({ name: "h", hashers: {} as never }, body), /must be an array/],
      ["hashers", () => DataCache.fn({ name: "h", hashers: [[() => 1, String]] as never }, body), /\[Class, \(instance\) => value\]/],
      ["hashers", () => DataCache.fn({ name: "h", hashers: [[Date]] as never }, body), /\[Class, \(instance\) => value\]/],
      ["version", () => DataCache.fn({ name: "v", version: (() => 1) as never }, body), /string or a finite number, got function/],
      ["version", () => DataCache.fn({ name: "v", version: Number.NaN }, body), /finite number/],
      ["ttl", () => DataCache.fn({ name: "t", ttl: Number.NaN }, body), /cannot read NaN as a duration/],
      ["ttl", () => DataCache.fn({ name: "t", ttl: "soon" as never }, body), /cannot read "soon" as a duration/],
      ["name", () => DataCache.fn({ name: "" }, body), /non-empty string, got ""/],
      ["name", () => DataCache.fn({ name: 7 as never }, body), /non-empty string, got 7/],
      ["name", () => DataCache.fn("  ", body), /non-empty string/]
    ]
    for (const [option, define, message] of cases) {
      const error = rejection(define)
      assert.strictEqual(error.option, option)
      assert.match(error.message, message)
      assert.notInclude(error.message, "null")
    }
  })

  it("an options object that throws when read, has symbol keys or is an array is an InvalidOptionsError", () => {
    const throwing = {
      name: "g",
      get ttl(): number {
        throw new Error("getter")
      }
    }
    const revoked = Proxy.revocable({ name: "r" }, {})
    revoked.revoke()
    const ownKeysThrows = new Proxy(
      { name: "o" },
      {
        ownKeys: () => {
          throw new Error("ownKeys")
        }
      }
    )
    const cases: ReadonlyArray<readonly [unknown, string, RegExp]> = [
      [throwing, "options", /reading them threw Error: getter/],
      [revoked.proxy, "options", /reading them threw TypeError/],
      [ownKeysThrows, "options", /reading them threw Error: ownKeys/],
      [{ name: "s", [Symbol("ttl")]: 1 }, "Symbol(ttl)", /symbol keys are not options/],
      [[{ name: "a" }], "options", /got Array/]
    ]
    for (const [options, option, message] of cases) {
      const error = rejection(() => DataCache.fn(options as never, body))
      assert.strictEqual(error.option, option)
      assert.match(error.message, message)
    }
  })

  it("each option is read once: what is checked is what is used", () => {
    let reads = 0
    const options = {
      name: "once",
      get maxEntries() {
        reads++
        return reads === 1 ? 10 : 0
      }
    }
    DataCache.fn(options, body)
    assert.strictEqual(reads, 1)
  })

  it("spinner, showTime and replay take their own types; ttl is at least 1 ms", () => {
    const cases: ReadonlyArray<readonly [string, () => unknown, RegExp]> = [
      ["spinner", () => DataCache.fn({ name: "sp", spinner: 1 as never }, body), /true, false or a text, got 1/],
      ["showTime", () => DataCache.fn({ name: "st", showTime: "yes" as never }, body), /true or false/],
      ["replay", () => DataCache.fn({ name: "re", replay: 0 as never }, body), /true or false/],
      ["ttl", () => DataCache.fn({ name: "ns", ttl: 5n }, body), /at least 1 millisecond/],
      ["ttl", () => DataCache.fn({ name: "tiny", ttl: 1e-9 }, body), /at least 1 millisecond/]
    ]
    for (const [option, define, message] of cases) {
      const error = rejection(define)
      assert.strictEqual(error.option, option)
      assert.match(error.message, message)
    }
    DataCache.fn({ name: "spinning", spinner: "Loading trips", showTime: true, replay: false, ttl: 1 }, body)
  })

  it("a non-tuple key schema on a function that declares two parameters is refused when defined, from JavaScript too", () => {
    const key = Schema.Struct({ city: Schema.String })
    const f = (query: { city: string }, page: number) => Effect.succeed(`${query.city}:${page}`)
    const error = rejection(() => DataCache.fn({ name: "page", key } as never, f))
    assert.strictEqual(error.option, "key")
    assert.include(error.message, "Schema.Tuple([...])")
  })

  it("the body alone, or nothing, is refused with an error that says the name comes first (DataCache and ResourceCache)", () => {
    const load = (id: number) => Effect.succeed(id)
    const alone = rejection(() => (DataCache.fn as unknown as (f: unknown) => unknown)(load))
    assert.strictEqual(alone.option, "name")
    assert.include(alone.message, "takes a name (or options with a `name`) first, then the body")
    assert.include(alone.message, 'DataCache.fn("load", body)')
    const anonymous = rejection(() => (DataCache.fn as unknown as (f: unknown) => unknown)((id: number) => Effect.succeed(id)))
    assert.include(anonymous.message, "it was given a function first")
    const nothing = rejection(() => (DataCache.fn as unknown as () => unknown)())
    assert.strictEqual(nothing.option, "name")
    assert.include(nothing.message, "was called with nothing")
    const resource = rejection(() => (ResourceCache.fn as unknown as (f: unknown) => unknown)(load))
    assert.include(resource.message, 'ResourceCache.fn("load", body)')
  })

  it("a bound function (source `[native code]`) is refused without a version: its source cannot tell it apart", () => {
    const load = (env: string, id: number) => Effect.succeed(`${env}:${id}`)
    const prod = load.bind(null, "prod")
    const error = rejection(() => DataCache.fn("load", prod))
    assert.strictEqual(error.option, "body")
    assert.include(error.message, "[native code]")
    DataCache.fn({ name: "load", version: "prod" }, prod)
  })

  it("an own toString cannot stand in for the source", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const a = (n: number) => Effect.succeed(n + 1)
        const b = (n: number) => Effect.succeed(n + 2)
        b.toString = () => a.toString()
        const fa = DataCache.fn("same", a)
        const fb = DataCache.fn("same", b)
        assert.strictEqual(yield* fa(1), 2)
        assert.strictEqual(yield* fb(1), 3)
      }).pipe(Effect.provide(DataCache.layerMemory()))
    ))

  it("the layer's sweepInterval and maxBytes are checked when the layer is made", () => {
    for (const sweepInterval of [0, -1, Number.NaN, "abc", Number.POSITIVE_INFINITY] as const) {
      const error = rejection(() => DataCache.layerMemory({ sweepInterval: sweepInterval as never }))
      assert.strictEqual(error.option, "sweepInterval")
      assert.include(error.message, "positive, finite duration")
    }
    assert.strictEqual(rejection(() => DataCache.layerMemory({ maxBytes: 0 })).option, "maxBytes")
    assert.include(rejection(() => DataCache.layerMemory({ sweepIntreval: "1 minute" } as never)).message, "did you mean `sweepInterval`")
  })

  it("a non-tuple key schema on a function of several arguments is a type error", () => {
    const City = Schema.Struct({ city: Schema.String })
    const page = (query: { city: string }, page: number) => Effect.succeed(`${query.city}:${page}`)
    const optionalPage = (query: { city: string }, page?: number) => Effect.succeed(`${query.city}:${page}`)
    // @ts-expect-error a Struct key describes one argument; page takes two
    assert.throws(() => DataCache.fn({ name: "page", key: City }, page), /Schema.Tuple/)
    // @ts-expect-error an optional second argument would leave the key too
    assert.throws(() => DataCache.fn({ name: "page2", key: City }, optionalPage), /Schema.Tuple/)
    DataCache.fn({ name: "page3", key: Schema.Tuple([City, Schema.Number]) }, (query: { city: string }, page: number) =>
      Effect.succeed(`${query.city}:${page}`)
    )
    DataCache.fn({ name: "one", key: City }, (query: { city: string }) => Effect.succeed(query.city))
  })
})

describe("DataCache generator bodies and Effect.fn", () => {
  it.effect("a generator body runs as Effect.fn would, named by the cached function", () =>
    Effect.gen(function* () {
      let runs = 0
      const price = DataCache.fn("price", function* (n: number) {
        runs++
        yield* Effect.yieldNow
        return n * 2
      })
      assert.strictEqual(price.name, "price")
      assert.strictEqual(yield* price(21), 42)
      assert.strictEqual(yield* price(21), 42)
      assert.strictEqual(runs, 1)
      const failing = DataCache.fn({ name: "failing" }, function* (n: number) {
        return yield* Effect.fail(`no ${n}`)
      })
      const error = yield* Effect.flip(failing(1))
      assert.strictEqual(error, "no 1")
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it.effect("editing a generator body starts a new cache", () =>
    Effect.gen(function* () {
      const before = DataCache.fn("edited", function* (n: number) {
        return (yield* Effect.succeed(n)) + 1
      })
      const after = DataCache.fn("edited", function* (n: number) {
        return (yield* Effect.succeed(n)) + 2
      })
      assert.strictEqual(yield* before(1), 2)
      assert.strictEqual(yield* after(1), 3, "the edited body's own source is its identity")
      assert.notStrictEqual(before.id, after.id)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it("an Effect.fn body is refused without a version: its generator's source cannot be read", () => {
    const traced = Effect.fn("loadB")(function* (n: number) {
      return yield* Effect.succeed(n)
    })
    const error = rejection(() => DataCache.fn("loadB", traced))
    assert.strictEqual(error.option, "body")
    assert.include(error.message, "Pass the generator itself")
    const untraced = Effect.fnUntraced(function* (n: number) {
      return yield* Effect.succeed(n)
    })
    assert.strictEqual(rejection(() => DataCache.fn("loadC", untraced)).option, "body")
    assert.include(rejection(() => DataCache.fn({}, traced)).message, "Effect.fn hides its name")
  })

  it.effect("with a version, an Effect.fn body is accepted and that version is its identity", () =>
    Effect.gen(function* () {
      const load = Effect.fn("load")(function* (n: number) {
        return (yield* Effect.succeed(n)) * 3
      })
      const cached = DataCache.fn({ name: "load", version: 1 }, load)
      const fiber = yield* Effect.forkChild(cached(2))
      assert.strictEqual(yield* Fiber.join(fiber), 6)
      assert.strictEqual(yield* cached(2), 6)
      assert.strictEqual((yield* cached.stats).misses, 1)
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
