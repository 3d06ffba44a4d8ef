import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Console, Deferred, Effect, Fiber, Logger } from "effect"

/** A Console and a logger that write every line into one list, in order. */
const capture = () => {
  const lines: Array<string> = []
  const console: Console.Console = Object.assign(Object.create(globalThis.console), {
    log: (...args: ReadonlyArray<unknown>) => lines.push(`log ${args.join(" ")}`),
    warn: (...args: ReadonlyArray<unknown>) => lines.push(`warn ${args.join(" ")}`)
  })
  const logger = Logger.make(({ logLevel, message }) => lines.push(`${logLevel} ${(message as ReadonlyArray<unknown>).join(" ")}`))
  const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.provideService(Console.Console, console),
      Effect.provide(Logger.layer([logger])),
      Effect.provide(DataCache.layerMemory())
    )
  /** The lines written since the last call. */
  const take = () => lines.splice(0)
  return { provide, take }
}

describe("DataCache replay", () => {
  it.effect("a hit writes the miss's Console output and log lines again, in order, before the value returns", () => {
    const out = capture()
    return Effect.gen(function* () {
      let runs = 0
      const load = DataCache.fn("load", (city: string) =>
        Effect.gen(function* () {
          runs++
          yield* Console.log("fetching", city)
          yield* Effect.logInfo("rows", 3)
          yield* Console.warn("slow source")
          return [1, 2, 3]
        })
      )
      assert.deepStrictEqual(yield* load("Oslo"), [1, 2, 3])
      const live = out.take()
      assert.deepStrictEqual(live, ["log fetching Oslo", "Info rows 3", "warn slow source"])
      assert.deepStrictEqual(yield* load("Oslo"), [1, 2, 3])
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual(out.take(), live, "the same lines, in the same order")
    }).pipe(out.provide)
  })

  it.effect("the replayed lines come before the value: a tap after the call sees them written", () => {
    const out = capture()
    return Effect.gen(function* () {
      const load = DataCache.fn("load", (n: number) => Effect.as(Console.log("computing", n), n))
      yield* load(1)
      out.take()
      const seen = yield* Effect.map(load(1), () => out.take())
      assert.deepStrictEqual(seen, ["log computing 1"])
    }).pipe(out.provide)
  })

  it.effect("replay: false writes nothing on a hit", () => {
    const out = capture()
    return Effect.gen(function* () {
      const load = DataCache.fn({ name: "load", replay: false }, (n: number) => Effect.as(Console.log("computing", n), n))
      yield* load(1)
      assert.deepStrictEqual(out.take(), ["log computing 1"])
      yield* load(1)
      assert.deepStrictEqual(out.take(), [])
    }).pipe(out.provide)
  })

  it.effect("nested cached functions: the outer entry records the inner output, replayed or written", () => {
    const out = capture()
    return Effect.gen(function* () {
      const inner = DataCache.fn("inner", (n: number) => Effect.as(Console.log("inner", n), n * 2))
      const outer = DataCache.fn("outer", (n: number) =>
        Effect.gen(function* () {
          yield* Console.log("outer start", n)
          const x = yield* inner(n)
          yield* Console.log("outer end", n)
          return x + 1
        })
      )
      yield* inner(1) // inner's entry exists: the outer miss below replays it
      out.take()
      assert.strictEqual(yield* outer(1), 3)
      const expected = ["log outer start 1", "log inner 1", "log outer end 1"]
      assert.deepStrictEqual(out.take(), expected)
      assert.strictEqual(yield* outer(1), 3)
      assert.deepStrictEqual(out.take(), expected, "the outer hit writes the inner lines inside its own")
      // An inner miss inside an outer miss is recorded too.
      assert.strictEqual(yield* outer(2), 5)
      out.take()
      yield* outer(2)
      assert.deepStrictEqual(out.take(), ["log outer start 2", "log inner 2", "log outer end 2"])
    }).pipe(out.provide)
  })

  it.effect("callers that waited for the computation get the output written too", () => {
    const out = capture()
    return Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const load = DataCache.fn("load", (n: number) => Effect.andThen(Deferred.await(gate), Effect.as(Console.log("computed", n), n)))
      const first = yield* Effect.forkChild(load(1))
      const second = yield* Effect.forkChild(load(1))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.deepStrictEqual(out.take(), ["log computed 1", "log computed 1"])
    }).pipe(out.provide)
  })

  it.effect("recorded output counts toward the entry's bytes, and a failed computation records nothing", () => {
    const out = capture()
    return Effect.gen(function* () {
      const quiet = DataCache.fn("quiet", (n: number) => Effect.succeed(n))
      const chatty = DataCache.fn("chatty", (n: number) => Effect.as(Console.log("x".repeat(1000)), n))
      yield* quiet(1)
      yield* chatty(1)
      const quietBytes = (yield* quiet.stats).bytes
      const chattyBytes = (yield* chatty.stats).bytes
      assert.isAtLeast(chattyBytes - quietBytes, 2000)
      let fail = true
      const flaky = DataCache.fn("flaky", (n: number) =>
        Effect.andThen(Console.log("attempt"), fail ? Effect.fail("nope" as const) : Effect.succeed(n))
      )
      yield* Effect.exit(flaky(1))
      fail = false
      yield* flaky(1)
      out.take()
      yield* flaky(1)
      assert.deepStrictEqual(out.take(), ["log attempt"], "only the successful computation's lines")
    }).pipe(out.provide)
  })

  it.effect("log levels are kept, and lines below the hit caller's minimum level are filtered as usual", () => {
    const out = capture()
    return Effect.gen(function* () {
      const load = DataCache.fn("load", (n: number) =>
        Effect.andThen(Effect.logWarning("careful"), Effect.as(Effect.logError("bad row"), n))
      )
      yield* load(1)
      out.take()
      yield* load(1)
      assert.deepStrictEqual(out.take(), ["Warn careful", "Error bad row"])
      yield* load(1).pipe(Effect.provideService(Logger.CurrentLoggers, new Set()))
      assert.deepStrictEqual(out.take(), [], "the hit caller's loggers decide")
    }).pipe(out.provide)
  })

  it.effect("a log line that Effect's default logger prints through the Console is replayed once, as a log line", () =>
    Effect.gen(function* () {
      const printed: Array<string> = []
      const console: Console.Console = Object.assign(Object.create(globalThis.console), {
        log: (...args: ReadonlyArray<unknown>) => printed.push(args.join(" ")),
        warn: (...args: ReadonlyArray<unknown>) => printed.push(args.join(" ")),
        error: (...args: ReadonlyArray<unknown>) => printed.push(args.join(" "))
      })
      const load = DataCache.fn("load", (n: number) => Effect.as(Effect.logWarning("dropped rows"), n))
      yield* Effect.gen(function* () {
        yield* load(1)
        yield* load(1)
      }).pipe(Effect.provideService(Console.Console, console), Effect.provide(DataCache.layerMemory()))
      assert.strictEqual(printed.filter((line) => line.includes("dropped rows")).length, 2, printed.join("\n"))
    })
  )

  it.effect("what a fiber forked by the body writes after the computation ended is not replayed", () => {
    const out = capture()
    return Effect.gen(function* () {
      const later = yield* Deferred.make<void>()
      const load = DataCache.fn("load", (n: number) =>
        Effect.gen(function* () {
          yield* Console.log("computing", n)
          yield* Effect.forkDetach(Effect.andThen(Deferred.await(later), Console.log("heartbeat")))
          return n
        })
      )
      yield* load(1)
      yield* Deferred.succeed(later, undefined)
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.deepStrictEqual(out.take(), ["log computing 1", "log heartbeat"])
      yield* load(1)
      assert.deepStrictEqual(out.take(), ["log computing 1"])
    }).pipe(out.provide)
  })
})
