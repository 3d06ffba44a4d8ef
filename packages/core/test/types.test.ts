/**
 * Types that accept correct programs, and name the mistakes in wrong ones.
 *
 * Most checks here are compile-time: `tsc -p tsconfig.json` (`npm run
 * check`) fails on an `expectTypeOf` that does not hold, and on a
 * `@ts-expect-error` whose line compiles. The runtime tests run the same
 * programs, so what type-checks also works. One test runs the compiler on a
 * fixture to read the words of its errors.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache, type ValueCodec } from "@recall/core"
import { Chunk, Context, Effect, Layer, Option } from "effect"
import { expectTypeOf } from "vitest"
import { rejection } from "./fixtures/rejection.ts"

describe("bind provides its cache to the body too", () => {
  const celsius = DataCache.fn("celsius", (city: string) => Effect.succeed(city.length))
  // Its body calls another cached function, so it needs a DataCache.
  const report = DataCache.fn("report", (city: string) => Effect.map(celsius(city), (c) => `${city}: ${c} °C`))

  class Reports extends Context.Service<Reports, { readonly get: (city: string) => Effect.Effect<string> }>()("test/Reports") {
    static readonly layer = Layer.effect(
      Reports,
      Effect.gen(function* () {
        const get = yield* DataCache.bind(report)
        // Before: Effect<string, never, DataCache>, not assignable to the method.
        expectTypeOf(get).returns.toEqualTypeOf<Effect.Effect<string>>()
        return Reports.of({ get })
      })
    )
  }

  it.effect("DataCache.bind: a body that calls other cached functions needs no DataCache from the caller", () =>
    Effect.gen(function* () {
      const reports = yield* Reports
      assert.strictEqual(yield* reports.get("Oslo"), "Oslo: 4 °C")
      assert.strictEqual(yield* reports.get("Oslo"), "Oslo: 4 °C")
    }).pipe(Effect.provide(Reports.layer.pipe(Layer.provide(DataCache.layerMemory()))))
  )

  const socket = ResourceCache.fn("socket", (host: string) => Effect.succeed({ host }))
  const client = ResourceCache.fn("client", (host: string) => Effect.map(socket(host), (s) => ({ socket: s, id: 1 })))
  // A DataCache the body needs is not ResourceCache's to provide.
  const mixed = ResourceCache.fn("mixed", (city: string) => Effect.map(celsius(city), (c) => ({ c })))

  it.effect("ResourceCache.bind: calls, use and borrow need no ResourceCache; a DataCache stays", () =>
    Effect.gen(function* () {
      const bound = yield* ResourceCache.bind(client)
      expectTypeOf(bound).returns.toEqualTypeOf<Effect.Effect<{ socket: { host: string }; id: number }>>()
      const used = bound.use("db", (c) => Effect.map(socket(c.socket.host), (s) => s.host))
      expectTypeOf(used).toEqualTypeOf<Effect.Effect<string>>()
      const boundMixed = yield* ResourceCache.bind(mixed)
      expectTypeOf(boundMixed).returns.toEqualTypeOf<Effect.Effect<{ c: number }, never, DataCache.DataCache>>()
      // Run without a ResourceCache in context: only the binding needed one.
      const run = <A>(effect: Effect.Effect<A>) => Effect.runPromise(effect)
      assert.strictEqual((yield* Effect.promise(() => run(bound("db")))).socket.host, "db")
      assert.strictEqual(yield* Effect.promise(() => run(used)), "db")
      assert.strictEqual((yield* Effect.promise(() => run(Effect.scoped(bound.borrow("db"))))).id, 1)
    }).pipe(Effect.provide(ResourceCache.layerMemory()))
  )
})

describe("use with optional trailing parameters", () => {
  interface Opts {
    readonly readOnly?: boolean
  }
  const connect = ResourceCache.fn("connectOpts", (dsn: string, opts?: Opts) => Effect.succeed({ dsn, readOnly: opts?.readOnly ?? false }))
  type Conn = { dsn: string; readOnly: boolean }

  it.effect("use(dsn, body) and use(dsn, opts, body) type-check and run; wrong bodies and arguments do not", () =>
    Effect.gen(function* () {
      const short = connect.use("pg://a", (conn) => Effect.succeed(conn.dsn))
      const long = connect.use("pg://a", { readOnly: true }, (conn) => Effect.succeed(conn.readOnly))
      const explicit = connect.use("pg://a", undefined, (conn) => Effect.succeed(conn.dsn))
      // Plain-data arguments (a string, the options object) are always hashed.
      expectTypeOf(short).toEqualTypeOf<Effect.Effect<string, never, ResourceCache.ResourceCache>>()
      expectTypeOf(long).toEqualTypeOf<Effect.Effect<boolean, never, ResourceCache.ResourceCache>>()
      assert.strictEqual(yield* short, "pg://a")
      assert.strictEqual(yield* long, true)
      assert.strictEqual(yield* explicit, "pg://a")
      // `use("pg://a", body)` is `connect("pg://a")`: one key with `connect("pg://a", undefined)`.
      assert.strictEqual((yield* connect.stats).misses, 2)

      // @ts-expect-error the body must return an Effect
      connect.use("pg://a", (conn: Conn) => conn.dsn)
      // @ts-expect-error the body must return an Effect, with the options too
      connect.use("pg://a", {}, (conn: Conn) => conn.dsn)
      // @ts-expect-error the options have the wrong type
      connect.use("pg://a", 1, (conn: Conn) => Effect.succeed(conn))
      // @ts-expect-error the required argument is missing
      connect.use((conn: Conn) => Effect.succeed(conn))
      // @ts-expect-error one argument too many
      connect.use("pg://a", {}, {}, (conn: Conn) => Effect.succeed(conn))
    }).pipe(Effect.provide(ResourceCache.layerMemory()))
  )

  it.effect("several optional parameters, no parameters and rest parameters", () =>
    Effect.gen(function* () {
      const three = ResourceCache.fn("three", (a: string, b?: number, c?: boolean) => Effect.succeed(`${a}${b ?? ""}${c ?? ""}`))
      assert.strictEqual(yield* three.use("a", (s) => Effect.succeed(s)), "a")
      assert.strictEqual(yield* three.use("a", 1, (s) => Effect.succeed(s)), "a1")
      assert.strictEqual(yield* three.use("a", 1, true, (s) => Effect.succeed(s)), "a1true")
      // @ts-expect-error `b` is a number
      three.use("a", true, (s: string) => Effect.succeed(s))
      const none = ResourceCache.fn("none", () => Effect.succeed(1))
      assert.strictEqual(yield* none.use((n) => Effect.succeed(n + 1)), 2)
      const rest = ResourceCache.fn("rest", (...ids: Array<number>) => Effect.succeed(ids.length))
      assert.strictEqual(yield* rest.use(1, 2, (n) => Effect.succeed(n)), 2)
      assert.strictEqual(yield* rest.use((n) => Effect.succeed(n)), 0)
      const bound = yield* ResourceCache.bind(connect)
      assert.strictEqual(yield* bound.use("pg://b", (conn) => Effect.succeed(conn.dsn)), "pg://b")
    }).pipe(Effect.provide(ResourceCache.layerMemory()))
  )
})

describe("plain data values carry no UnserializableValueError", () => {
  type ErrorOf<F extends (...args: any) => Effect.Effect<any, any, any>> = Effect.Error<ReturnType<F>>

  it.effect("JSON-like values, Dates, typed arrays, Maps and Effect's data types: no library error", () =>
    Effect.gen(function* () {
      const tags = DataCache.fn("tags", (n: number) => Effect.succeed(Array.from({ length: n }, (_, i) => `tag${i}`)))
      const forecast = DataCache.fn("forecast", (city: string) => Effect.succeed({ city, celsius: 21 }))
      const nested = DataCache.fn("nested", (n: number) =>
        Effect.succeed({
          at: new Date(n),
          samples: new Float64Array([n]),
          index: new Map([["a", { rows: [[n]] as ReadonlyArray<ReadonlyArray<number>> }]]),
          maybe: Option.some(n),
          chunk: Chunk.make(n),
          pair: [n, "x"] as const,
          optional: n > 0 ? { deep: null } : undefined
        })
      )
      expectTypeOf<ErrorOf<typeof tags>>().toEqualTypeOf<never>()
      expectTypeOf<ErrorOf<typeof forecast>>().toEqualTypeOf<never>()
      expectTypeOf<ErrorOf<typeof nested>>().toEqualTypeOf<never>()
      assert.deepStrictEqual(yield* tags(2), ["tag0", "tag1"])
      assert.deepStrictEqual(yield* forecast("Oslo"), { city: "Oslo", celsius: 21 })
      const value = yield* nested(1)
      assert.strictEqual(value.at.getTime(), 1)
      assert.isTrue(Option.isSome(value.maybe))
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )

  it("functions, methods, unknown, any and schemas keep it", () => {
    class Socket {
      readonly host = "h"
      send() {
        return this.host
      }
    }
    const send = DataCache.fn("send", (n: number) => Effect.succeed({ n, send: () => n }))
    const socket = DataCache.fn("socket", (_n: number) => Effect.succeed(new Socket()))
    const unknownValue = DataCache.fn("unknownValue", (n: number) => Effect.succeed(n as unknown))
    const anyValue = DataCache.fn("anyValue", (n: number) => Effect.succeed(JSON.parse(`${n}`)))
    const anyObject = DataCache.fn("anyObject", (n: number) => Effect.succeed({ n } as object))
    expectTypeOf<ErrorOf<typeof send>>().toEqualTypeOf<ValueCodec.UnserializableValueError>()
    expectTypeOf<ErrorOf<typeof socket>>().toEqualTypeOf<ValueCodec.UnserializableValueError>()
    expectTypeOf<ErrorOf<typeof unknownValue>>().toEqualTypeOf<ValueCodec.UnserializableValueError>()
    expectTypeOf<ErrorOf<typeof anyValue>>().toEqualTypeOf<ValueCodec.UnserializableValueError>()
    expectTypeOf<ErrorOf<typeof anyObject>>().toEqualTypeOf<ValueCodec.UnserializableValueError>()
    expectTypeOf<DataCache.IsPlainData<Promise<number>>>().toEqualTypeOf<false>()
    expectTypeOf<DataCache.IsPlainData<symbol>>().toEqualTypeOf<false>()
    expectTypeOf<DataCache.IsPlainData<Map<string, () => void>>>().toEqualTypeOf<false>()
    // A built-in subclass with members of its own: its copy would lose them.
    class Rows extends Array<number> {
      total() {
        return 0
      }
    }
    expectTypeOf<DataCache.IsPlainData<Rows>>().toEqualTypeOf<false>()
    expectTypeOf<DataCache.IsPlainData<{ readonly rows: ReadonlyArray<{ readonly id: number }> }>>().toEqualTypeOf<true>()
  })

  it.effect("the documented gap: a class with data fields only has a plain type, and still fails at run time", () =>
    Effect.gen(function* () {
      class City {
        readonly city = "Oslo"
      }
      const city = DataCache.fn("city", (): Effect.Effect<{ readonly city: string }> => Effect.succeed(new City()))
      expectTypeOf<ErrorOf<typeof city>>().toEqualTypeOf<never>()
      const exit = yield* Effect.exit(city())
      assert.isTrue(exit._tag === "Failure" && String(exit.cause).includes("UnserializableValueError"))
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})

describe("option mistakes are named on the option", () => {
  const body = (n: number) => Effect.succeed(n)

  it("an unknown option is an error on that option only: the other options keep their types", () => {
    assert.throws(() =>
      DataCache.fn(
        {
          name: "typo",
          // @ts-expect-error maxEntry is not an option (did you mean maxEntries?)
          maxEntry: 5,
          cacheIf: (v) => {
            expectTypeOf(v).toEqualTypeOf<number>()
            return v > 0
          }
        },
        body
      )
    )
    assert.throws(() =>
      DataCache.fn(
        {
          name: "typoGenerator",
          // @ts-expect-error maxEntry is not an option, with a generator body too
          maxEntry: 5,
          cacheIf: (v) => {
            expectTypeOf(v).toEqualTypeOf<number>()
            return v > 0
          }
        },
        function* (n: number) {
          return yield* Effect.succeed(n)
        }
      )
    )
    assert.throws(() =>
      DataCache.fn(
        {
          name: "badValue",
          // @ts-expect-error a known option with a value of the wrong type
          maxEntries: "5",
          cacheIf: (v) => {
            expectTypeOf(v).toEqualTypeOf<number>()
            return v > 0
          }
        },
        body
      )
    )
    assert.throws(() =>
      ResourceCache.fn(
        {
          name: "resourceTypo",
          // @ts-expect-error copy is a DataCache option
          copy: "readonly",
          validate: (conn) => {
            expectTypeOf(conn).toEqualTypeOf<number>()
            return Effect.succeed(true)
          }
        },
        body
      )
    )
  })

  it("the nearest known names", () => {
    type Names = keyof DataCache.Options<unknown>
    expectTypeOf<DataCache.NearestName<"maxEntry", Names>>().toEqualTypeOf<"maxEntries">()
    expectTypeOf<DataCache.NearestName<"TTL", Names>>().toEqualTypeOf<"ttl">()
    expectTypeOf<DataCache.NearestName<"cachIf", Names>>().toEqualTypeOf<"cacheIf">()
    expectTypeOf<DataCache.NearestName<"maxbyte", Names>>().toEqualTypeOf<"maxBytes">()
    expectTypeOf<DataCache.NearestName<"staleWhileRevalidat", Names>>().toEqualTypeOf<"staleWhileRevalidate">()
    expectTypeOf<DataCache.NearestName<"validate", Names>>().toEqualTypeOf<never>()
  })

  it("the compiler's message names the unknown option and the nearest known one", () => {
    const root = fileURLToPath(new URL("../../..", import.meta.url))
    const dir = join(root, "node_modules", ".cache", "recall-type-errors")
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const lines = [
      `import { DataCache, ResourceCache } from "@recall/core"`,
      `import { Effect } from "effect"`,
      `export const a = DataCache.fn({ name: "a", maxEntry: 5, cacheIf: (v) => v > 0 }, (n: number) => Effect.succeed(n))`,
      `export const b = ResourceCache.fn({ name: "b", copy: "readonly" }, (n: number) => Effect.succeed(n))`,
      `export const c = DataCache.fn({ name: "c", ttl: "soon", cacheIf: (v) => v > 0 }, (n: number) => Effect.succeed(n))`
    ]
    writeFileSync(join(dir, "fixture.ts"), `${lines.join("\n")}\n`)
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: join(root, "tsconfig.base.json"), files: ["fixture.ts"] }))
    const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc")
    let output = ""
    try {
      execFileSync(process.execPath, [tsc, "-p", "tsconfig.json", "--pretty", "false"], { cwd: dir, encoding: "utf8", stdio: "pipe" })
    } catch (error) {
      output = String((error as { stdout?: string }).stdout)
    }
    // The fixture's diagnostics, each with its indented elaboration (errors elsewhere are not this test's).
    const diagnostics = output.split(/\n(?=\S)/).filter((diagnostic) => diagnostic.startsWith("fixture.ts("))
    const text = diagnostics.join("\n")
    // One error per fixture line, on the bad option's column.
    assert.deepStrictEqual(
      diagnostics.map((diagnostic) => diagnostic.slice(0, diagnostic.indexOf(":"))),
      [
        `fixture.ts(3,${lines[2]!.indexOf("maxEntry") + 1})`,
        `fixture.ts(4,${lines[3]!.indexOf("copy") + 1})`,
        `fixture.ts(5,${lines[4]!.indexOf("ttl") + 1})`
      ],
      output
    )
    assert.include(text, "maxEntry is not a DataCache.fn option; did you mean maxEntries?")
    assert.include(text, "copy is a DataCache option")
    assert.include(text, "not a duration")
    // Before: `Type '"a"' is not assignable to type 'never'` on `name`, and `cacheIf`'s `v` unknown.
    assert.notInclude(text, "'never'")
    assert.notInclude(text, "unknown")
  }, 120_000)
})

describe("an Effect.fn body", () => {
  it("is named the body, and the message says to pass the generator itself", () => {
    const traced = Effect.fn("load")(function* (n: number) {
      return yield* Effect.succeed(n)
    })
    const error = rejection(() => DataCache.fn("load", traced))
    assert.strictEqual(error.option, "body")
    assert.include(error.message, "the body is an Effect.fn wrapper")
    assert.include(error.message, 'Pass the generator itself: DataCache.fn("load", function* (...) { ... })')
    assert.notInclude(error.message, "`f`")
    const resource = rejection(() => ResourceCache.fn("open", traced))
    assert.strictEqual(resource.option, "body")
    assert.include(resource.message, 'ResourceCache.fn("open", function* (...) { ... })')
    // Not a type error: Effect.fn returns a plain `(...args) => Effect`, which no type can tell from any other.
    expectTypeOf(traced).toEqualTypeOf<(n: number) => Effect.Effect<number>>()
  })

  it.effect("a second argument that is no function, and a body that returns no Effect, are named the body too", () =>
    Effect.gen(function* () {
      assert.strictEqual(rejection(() => DataCache.fn("nothing", 1 as never)).option, "body")
      const promised = DataCache.fn("promised", ((n: number) => Promise.resolve(n)) as unknown as (n: number) => Effect.Effect<number>)
      const exit = yield* Effect.exit(promised(1))
      const text = String(exit._tag === "Failure" ? exit.cause : "")
      assert.include(text, "the body returned")
      assert.include(text, 'pass a generator function itself as the body: DataCache.fn("promised", function* (...) { ... })')
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})

describe("staleWhileRevalidate needs a ttl, in the types too", () => {
  it("without a ttl it is a type error on the option; with one it is not", () => {
    const withTtl = DataCache.fn({ name: "swrOk", ttl: "1 minute", staleWhileRevalidate: "1 minute" }, (n: number) => Effect.succeed(n))
    assert.strictEqual(withTtl.name, "swrOk")
    assert.throws(() =>
      // @ts-expect-error staleWhileRevalidate needs a ttl
      DataCache.fn({ name: "swrBad", staleWhileRevalidate: "1 minute" }, (n: number) => Effect.succeed(n))
    )
    assert.throws(() =>
      // @ts-expect-error the same for ResourceCache
      ResourceCache.fn({ name: "swrBadResource", staleWhileRevalidate: "1 minute" }, (n: number) => Effect.succeed({ n }))
    )
  })
})
