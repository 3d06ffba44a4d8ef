import { assert, describe, it } from "@effect/vitest"
import { CacheReporter, DataCache, ResourceCache } from "@recall/core"
import { Deferred, Effect, Fiber, Logger, References } from "effect"
import { TestClock } from "effect/testing"

/** A reporter that writes each event as a line. */
const recording = () => {
  const events: Array<string> = []
  const computations: Array<CacheReporter.Computation> = []
  const layer = CacheReporter.layer({
    started: (c) =>
      Effect.sync(() => {
        computations.push(c)
        events.push(`start ${c.function}(${c.arguments}) ${c.kind}${c.nested ? " nested" : ""}`)
      }),
    ended: (c, outcome, millis) => Effect.sync(() => events.push(`end ${c.function} ${outcome} ${millis}`))
  })
  return { events, computations, layer }
}

describe("CacheReporter", () => {
  it.effect("is told of each computation's start and end, with its duration on the Clock; hits are not reported", () => {
    const r = recording()
    return Effect.gen(function* () {
      const load = DataCache.fn("load", (city: string, _token: { _secret: string }) => Effect.as(Effect.sleep("1500 millis"), city))
      const fiber = yield* Effect.forkChild(load("Oslo", { _secret: "x" }))
      yield* TestClock.adjust("1500 millis")
      yield* Fiber.join(fiber)
      yield* load("Oslo", { _secret: "x" })
      // `_token` is left out of the key, and so of the summary.
      assert.deepStrictEqual(r.events, ['start load("Oslo") miss', "end load success 1500"])
    }).pipe(Effect.provide([DataCache.layerMemory(), r.layer]))
  })

  it.effect("ended comes once for a failure and for an interrupt (the layer closing), not for a caller that stops waiting", () => {
    const r = recording()
    return Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const fails = DataCache.fn("fails", (n: number) => Effect.fail(`bad ${n}`))
        yield* Effect.exit(fails(1))
        const never = DataCache.fn("never", (n: number) => Effect.as(Effect.never, n))
        const fiber = yield* Effect.forkChild(never(1))
        yield* Effect.yieldNow
        yield* Fiber.interrupt(fiber)
        // The computation belongs to the cache: the caller's interrupt does not end it.
        assert.deepStrictEqual(r.events, ["start fails(1) miss", "end fails failure 0", "start never(1) miss"])
      }).pipe(Effect.provide(DataCache.layerMemory()))
      assert.deepStrictEqual(r.events, ["start fails(1) miss", "end fails failure 0", "start never(1) miss", "end never interrupted 0"])
    }).pipe(Effect.provide(r.layer))
  })

  it.effect("spinner text: the default, a text of its own, and none; showTime passes through", () => {
    const r = recording()
    return Effect.gen(function* () {
      yield* DataCache.fn("plain", (n: number) => Effect.succeed(n))(1)
      yield* DataCache.fn({ name: "texted", spinner: "Loading trips", showTime: true }, (n: number) => Effect.succeed(n))(1)
      yield* DataCache.fn({ name: "hidden", spinner: false }, (n: number) => Effect.succeed(n))(1)
      yield* ResourceCache.fn("pool", (n: number) => Effect.succeed({ n }))(1)
      // Called with no arguments, Streamlit's wording: "Running name()".
      yield* DataCache.fn("bare", () => Effect.succeed(1))()
      yield* DataCache.fn("optional", (n?: number) => Effect.succeed(n ?? 0))()
      yield* DataCache.fn({ name: "textedBare", spinner: "Loading" }, () => Effect.succeed(1))()
      assert.deepStrictEqual(
        r.computations.map((c) => [c.function, c.cache, c.spinner, c.showTime]),
        [
          ["plain", "DataCache", "Running plain(...)", false],
          ["texted", "DataCache", "Loading trips", true],
          ["hidden", "DataCache", undefined, false],
          ["pool", "ResourceCache", "Running pool(...)", false],
          ["bare", "DataCache", "Running bare()", false],
          ["optional", "DataCache", "Running optional()", false],
          ["textedBare", "DataCache", "Loading", false]
        ]
      )
    }).pipe(Effect.provide([DataCache.layerMemory(), ResourceCache.layerMemory(), r.layer]))
  })

  it.effect("a computation inside another cached body is nested; a background refresh says so", () => {
    const r = recording()
    return Effect.gen(function* () {
      const inner = DataCache.fn("inner", (n: number) => Effect.succeed(n))
      const outer = DataCache.fn({ name: "outer", ttl: "1 minute", staleWhileRevalidate: "1 minute" }, (n: number) => inner(n))
      yield* outer(1)
      yield* TestClock.adjust("61 seconds")
      yield* inner.clear
      const done = yield* Deferred.make<void>()
      yield* outer(1)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      yield* Deferred.succeed(done, undefined)
      assert.deepStrictEqual(
        r.events.filter((e) => e.startsWith("start")),
        ["start outer(1) miss", "start inner(1) miss nested", "start outer(1) refresh", "start inner(1) miss nested"]
      )
    }).pipe(Effect.provide([DataCache.layerMemory(), r.layer]))
  })

  it.effect("the default reporter logs at debug level only", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => lines.push(`${logLevel} ${(message as ReadonlyArray<unknown>).join(" ")}`))
      const load = DataCache.fn("load", (a: { readonly city: string }) => Effect.succeed(a.city.length))
      yield* load({ city: "Oslo" }).pipe(Effect.provide([DataCache.layerMemory(), Logger.layer([logger])]))
      assert.deepStrictEqual(lines, [])
      yield* load({ city: "Bergen" }).pipe(
        Effect.provide([DataCache.layerMemory(), Logger.layer([logger])]),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
      assert.deepStrictEqual(lines, ['Debug computing load({ city: "Bergen" })', 'Debug load({ city: "Bergen" }): success after 0 ms'])
    })
  )

  it("formatDuration reads as a person would say it", () => {
    assert.strictEqual(CacheReporter.formatDuration(850), "850 ms")
    assert.strictEqual(CacheReporter.formatDuration(2400), "2.4 s")
    assert.strictEqual(CacheReporter.formatDuration(185_000), "3 min 05 s")
  })
})
