import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Cause, Console, Data, Deferred, Effect, Fiber, Logger, Redacted, References } from "effect"
import { TestClock } from "effect/testing"
import { collected, gc, liveBufferBytes } from "./fixtures/collected.ts"

/** An argument as a line shows it: strings as they are, other values as JSON. */
const show = (arg: unknown): string => (typeof arg === "string" ? arg : JSON.stringify(arg))

/**
 * A Console and a logger that write every line into one list, in order. A
 * log line shows the annotations and log spans it is logged with, as
 * `{key=value ...}` and `[label=1000ms ...]`, when it has any.
 */
const capture = () => {
  const lines: Array<string> = []
  const write =
    (method: string) =>
    (...args: ReadonlyArray<unknown>) =>
      lines.push([method, ...args.map(show)].join(" "))
  const console: Console.Console = Object.assign(Object.create(globalThis.console), {
    log: write("log"),
    warn: write("warn"),
    group: write("group"),
    groupCollapsed: write("groupCollapsed"),
    groupEnd: write("groupEnd")
  })
  const logger = Logger.make(({ date, fiber, logLevel, message }) => {
    let line = [logLevel, ...(message as ReadonlyArray<unknown>).map(show)].join(" ")
    const annotations = Object.entries(fiber.getRef(References.CurrentLogAnnotations))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => `${key}=${show(value)}`)
    if (annotations.length > 0) line += ` {${annotations.join(" ")}}`
    const spans = fiber.getRef(References.CurrentLogSpans).map(([label, start]) => `${label}=${date.getTime() - start}ms`)
    if (spans.length > 0) line += ` [${spans.join(" ")}]`
    lines.push(line)
  })
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

/** A Console that writes nothing, for bodies that log megabytes. */
const quiet: Console.Console = Object.assign(Object.create(globalThis.console), { log: () => {} })

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

  describe("annotations and log spans", () => {
    it.effect("a replayed log line has the body's annotations and spans, on top of the hit caller's, not the computing caller's", () => {
      const out = capture()
      return Effect.gen(function* () {
        const load = DataCache.fn("load", (city: string) =>
          Effect.gen(function* () {
            yield* Effect.sleep("2 seconds")
            yield* Effect.logInfo("loaded", city)
          }).pipe(Effect.withLogSpan("load"), Effect.annotateLogs({ city, source: "api" }))
        )
        const miss = yield* Effect.forkChild(load("Oslo").pipe(Effect.annotateLogs({ request: 1 }), Effect.withLogSpan("first")))
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(miss)
        assert.deepStrictEqual(out.take(), ["Info loaded Oslo {city=Oslo request=1 source=api} [load=2000ms first=2000ms]"])
        yield* TestClock.adjust("5 seconds")
        yield* load("Oslo").pipe(Effect.annotateLogs({ request: 2, source: "cache?" }), Effect.withLogSpan("second"))
        assert.deepStrictEqual(
          out.take(),
          ["Info loaded Oslo {city=Oslo request=2 source=api} [load=2000ms second=0ms]"],
          "the body's own annotations win; the span shows the time it had been open when the body logged"
        )
        yield* load("Oslo")
        assert.deepStrictEqual(out.take(), ["Info loaded Oslo {city=Oslo source=api} [load=2000ms]"])
      }).pipe(out.provide)
    })

    it.effect("each line keeps the annotations and spans of its own moment, and Console lines are replayed as they were", () => {
      const out = capture()
      return Effect.gen(function* () {
        const load = DataCache.fn("load", (n: number) =>
          Effect.gen(function* () {
            yield* Effect.logInfo("before")
            yield* Effect.gen(function* () {
              yield* Effect.sleep("1 second")
              yield* Console.log("step", n)
              yield* Effect.logWarning("inside")
            }).pipe(Effect.annotateLogs("step", 1), Effect.withLogSpan("step"))
            yield* Effect.sleep("1 second")
            yield* Effect.logInfo("after")
            return n
          }).pipe(Effect.withLogSpan("total"))
        )
        const miss = yield* Effect.forkChild(load(1))
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(miss)
        const live = out.take()
        assert.deepStrictEqual(live, [
          "Info before [total=0ms]",
          "log step 1",
          "Warn inside {step=1} [step=1000ms total=1000ms]",
          "Info after [total=2000ms]"
        ])
        yield* TestClock.adjust("1 minute")
        yield* load(1)
        assert.deepStrictEqual(out.take(), live)
      }).pipe(out.provide)
    })
  })

  describe("what runs outside the body's recording", () => {
    it.effect(
      "a background refresh that a stale hit starts inside another body writes live but is not recorded into the outer entry",
      () => {
        const out = capture()
        return Effect.gen(function* () {
          let runs = 0
          const refreshed = yield* Deferred.make<void>()
          const inner = DataCache.fn({ name: "inner", ttl: "1 second", staleWhileRevalidate: "1 minute" }, (n: number) =>
            Effect.gen(function* () {
              runs++
              yield* Console.log(`inner run ${runs}`)
              if (runs > 1) yield* Deferred.succeed(refreshed, undefined)
              return n
            })
          )
          const outer = DataCache.fn("outer", (n: number) =>
            Effect.gen(function* () {
              yield* Console.log("outer start")
              const x = yield* inner(n)
              // The refresh runs and writes while this body is still being recorded.
              yield* Deferred.await(refreshed)
              yield* Console.log("outer end")
              return x
            })
          )
          yield* inner(1)
          out.take()
          yield* TestClock.adjust("2 seconds")
          yield* outer(1)
          assert.sameMembers(
            out.take(),
            ["log outer start", "log inner run 1", "log inner run 2", "log outer end"],
            "the refresh writes live"
          )
          assert.strictEqual(runs, 2)
          yield* outer(1)
          assert.deepStrictEqual(out.take(), ["log outer start", "log inner run 1", "log outer end"], "the stale hit's replay only")
          yield* inner(1)
          assert.deepStrictEqual(out.take(), ["log inner run 2"], "the refresh recorded its output for the entry it refreshed")
        }).pipe(out.provide)
      }
    )

    it.effect("the reporter's lines for a computation nested in a body are written but not recorded into the outer entry", () => {
      const out = capture()
      return Effect.gen(function* () {
        const inner = DataCache.fn("inner", (n: number) => Effect.as(Console.log("inner", n), n * 2))
        const outer = DataCache.fn("outer", (n: number) =>
          Effect.gen(function* () {
            yield* Console.log("outer start")
            const x = yield* inner(n)
            yield* Console.log("outer end")
            return x
          })
        )
        yield* outer(1)
        const live = out.take()
        assert.includeMembers(live, ["Debug computing inner(1) {recall.function=inner}", "log inner 1"], live.join("\n"))
        yield* outer(1)
        assert.deepStrictEqual(out.take(), ["log outer start", "log inner 1", "log outer end"])
      }).pipe(Effect.provideService(References.MinimumLogLevel, "Debug"), out.provide)
    })

    it.effect("a nested miss's own log lines, with their annotations, are still the outer computation's output", () => {
      const out = capture()
      return Effect.gen(function* () {
        const inner = DataCache.fn("inner", (n: number) =>
          Effect.as(Effect.logInfo("inner", n).pipe(Effect.annotateLogs("part", "inner")), n)
        )
        const outer = DataCache.fn("outer", (n: number) =>
          inner(n).pipe(Effect.annotateLogs("part", "outer"), Effect.annotateLogs("job", n))
        )
        yield* outer(1)
        const live = out.take()
        assert.deepStrictEqual(live, ["Info inner 1 {job=1 part=inner}"])
        yield* outer(1)
        assert.deepStrictEqual(out.take(), live)
        yield* inner(1).pipe(Effect.annotateLogs("job", 9))
        assert.deepStrictEqual(out.take(), ["Info inner 1 {job=9 part=inner}"], "the inner entry keeps only what the inner body added")
      }).pipe(out.provide)
    })
  })

  describe("groups", () => {
    it.effect("a group the body leaves open is closed on replay, and a groupEnd with no group to close is not replayed", () => {
      const out = capture()
      return Effect.gen(function* () {
        const load = DataCache.fn("load", (n: number) =>
          Effect.gen(function* () {
            // Written straight to the Console: Effect's Console.group ends its group with its scope.
            yield* Console.consoleWith((console) => Effect.sync(() => console.groupEnd()))
            // The body's scope closes after its output was recorded: these groups end unrecorded.
            yield* Console.group({ label: "rows" })
            yield* Console.log("row", n)
            yield* Console.group({ label: "details", collapsed: true })
            yield* Console.log("detail", n)
            return n
          })
        )
        yield* load(1)
        assert.deepStrictEqual(out.take(), [
          "groupEnd",
          "group rows",
          "log row 1",
          "groupCollapsed details",
          "log detail 1",
          "groupEnd",
          "groupEnd"
        ])
        yield* load(1)
        assert.deepStrictEqual(out.take(), ["group rows", "log row 1", "groupCollapsed details", "log detail 1", "groupEnd", "groupEnd"])
      }).pipe(out.provide)
    })

    it.effect("a group the body opens and closes is replayed as it was", () => {
      const out = capture()
      return Effect.gen(function* () {
        const load = DataCache.fn("load", (n: number) => Effect.as(Console.withGroup(Console.log("row", n), { label: "rows" }), n))
        yield* load(1)
        const live = out.take()
        assert.deepStrictEqual(live, ["group rows", "log row 1", "groupEnd"])
        yield* load(1)
        assert.deepStrictEqual(out.take(), live)
      }).pipe(out.provide)
    })
  })

  describe("what is kept", () => {
    it.effect("a logged object is copied when the body logs it: changing it afterwards does not change the replay", () => {
      const out = capture()
      return Effect.gen(function* () {
        const load = DataCache.fn("load", (n: number) =>
          Effect.gen(function* () {
            const row = { n, tags: ["new"] }
            yield* Console.log("row", row)
            yield* Effect.logInfo("row", row)
            row.n = -1
            row.tags.push("changed")
            return n
          })
        )
        yield* load(1)
        const live = out.take()
        assert.deepStrictEqual(live, ['log row {"n":1,"tags":["new"]}', 'Info row {"n":1,"tags":["new"]}'])
        yield* load(1)
        assert.deepStrictEqual(out.take(), live)
      }).pipe(out.provide)
    })

    it.effect("an argument with no data form is kept as a short rendering; a cause as the errors it prints", () =>
      Effect.gen(function* () {
        const seen: Array<ReadonlyArray<unknown>> = []
        const pretty: Array<string> = []
        const console: Console.Console = Object.assign(Object.create(globalThis.console), {
          log: (...args: ReadonlyArray<unknown>) => seen.push(args)
        })
        const logger = Logger.make(({ cause }) => pretty.push(Cause.pretty(cause)))
        class Point {
          readonly x: number
          readonly y: number
          constructor(x: number, y: number) {
            this.x = x
            this.y = y
          }
        }
        function handler() {}
        const failure = new Error("no rows")
        const load = DataCache.fn("load", (n: number) =>
          Effect.gen(function* () {
            yield* Console.log(handler, new Point(1, 2), Redacted.make("hunter2"), failure)
            yield* Effect.logError("failed", Cause.fail(failure))
            return n
          })
        )
        const run = load(1).pipe(
          Effect.provideService(Console.Console, console),
          Effect.provideService(Logger.CurrentLoggers, new Set([logger]))
        )
        yield* run
        assert.strictEqual(seen[0]![0], handler, "the computing caller sees the arguments themselves")
        yield* run
        const [fn, point, secret, error] = seen[1]!
        assert.deepStrictEqual([fn, point, error], ["[Function: handler]", "Point { x: 1, y: 2 }", failure.stack])
        // A Redacted is data: kept as a Redacted of its own (a copy), which prints as <redacted>.
        assert.isTrue(Redacted.isRedacted(secret))
        assert.strictEqual(String(secret), "<redacted>")
        assert.strictEqual(Redacted.value(secret as Redacted.Redacted<string>), "hunter2")
        assert.strictEqual(pretty.length, 2)
        assert.strictEqual(pretty[1], pretty[0], "the replayed cause prints as the original did")
        assert.include(pretty[1], "no rows")
      }).pipe(Effect.provide(DataCache.layerMemory()))
    )

    // Found by an outside trial: an object holding an Error was replayed as one string (a structured logger got a
    // string where the miss gave it an object), an Error's cause was lost, and a tagged error's fields too.
    it.effect("an Error inside logged data is rendered in place; its cause and its fields are kept", () =>
      Effect.gen(function* () {
        const seen: Array<ReadonlyArray<unknown>> = []
        const console: Console.Console = Object.assign(Object.create(globalThis.console), {
          log: (...args: ReadonlyArray<unknown>) => seen.push(args)
        })
        class NotFound extends Data.TaggedError("NotFound")<{ readonly code: number }> {}
        const nested = new Error("nested", { cause: new Error("root cause") })
        const load = DataCache.fn("loadErrors", (n: number) =>
          Effect.as(Console.log({ err: nested, n, list: [1, nested] }, new NotFound({ code: 404 })), n)
        )
        const run = load(1).pipe(Effect.provideService(Console.Console, console))
        yield* run
        yield* run
        const [data, tagged] = seen[1]! as [{ err: string; n: number; list: [number, string] }, string]
        assert.strictEqual(data.n, 1, "the object is kept as an object")
        assert.strictEqual(data.list[0], 1)
        for (const rendered of [data.err, data.list[1]]) {
          assert.include(rendered, "Error: nested")
          assert.include(rendered, "[cause]: Error: root cause")
        }
        assert.include(tagged, "code: 404")
      }).pipe(Effect.provide(DataCache.layerMemory()))
    )

    it.effect("recorded output counts toward the entry's bytes at its real size", () =>
      Effect.gen(function* () {
        const quietly = DataCache.fn("quietly", (n: number) => Effect.succeed(n))
        const logging = DataCache.fn("logging", (n: number) => Effect.as(Console.log("rows", new Float64Array(1024)), n))
        const annotated = DataCache.fn("annotated", (n: number) =>
          Effect.as(Effect.logInfo("rows").pipe(Effect.annotateLogs("rows", new Float64Array(1024))), n)
        )
        yield* quietly(1)
        yield* logging(1)
        yield* annotated(1)
        const base = (yield* quietly.stats).bytes
        assert.isAtLeast((yield* logging.stats).bytes - base, 8192, "a logged argument")
        assert.isAtLeast((yield* annotated.stats).bytes - base, 8192, "an annotation")
      }).pipe(
        Effect.provideService(Console.Console, quiet),
        Effect.provideService(Logger.CurrentLoggers, new Set()),
        Effect.provide(DataCache.layerMemory())
      )
    )

    it.effect("a body logging 32 MB, called with 20 keys under maxBytes: 1 MB, keeps no more than the budget", () =>
      Effect.gen(function* () {
        const refs: Array<WeakRef<object>> = []
        const load = DataCache.fn({ name: "load", maxBytes: 1_000_000 }, (key: number) =>
          Effect.suspend(() => {
            const samples = new Float64Array(4_000_000) // 32 MB
            samples[0] = key
            refs.push(new WeakRef(samples))
            return Effect.as(key % 2 === 0 ? Console.log("samples", samples) : Effect.logInfo("samples", samples), key)
          })
        )
        gc()
        const before = process.memoryUsage().arrayBuffers
        for (let key = 0; key < 20; key++) assert.strictEqual(yield* load(key), key)
        const stats = yield* load.stats
        assert.isAtMost(stats.bytes, 1_000_000)
        assert.strictEqual(stats.entries, 0, "each entry is over the budget: none is stored")
        for (const [i, ref] of refs.entries()) assert.isTrue(yield* collected(ref), `the array logged for key ${i} is not kept`)
        const kept = process.memoryUsage().arrayBuffers - before
        assert.isBelow(kept, 32_000_000, `${(kept / 1e6).toFixed(1)} MB of array buffers stayed reachable`)
      }).pipe(
        Effect.provideService(Console.Console, quiet),
        Effect.provideService(Logger.CurrentLoggers, new Set()),
        Effect.provide(DataCache.layerMemory())
      )
    )

    // Found by an outside trial: under a 1 MB budget a body that logged 150k arrays of 1,000 numbers ran out of
    // heap, recording all of it until it returned although the entry could no longer be kept.
    it.effect("past the budget, recording stops while the body still runs: what it logs next is not copied", () =>
      Effect.gen(function* () {
        let reads = 0
        // Each line's copy reads the getter: the count says how many lines were recorded.
        const probe = {
          get text() {
            reads++
            return "x".repeat(1_000)
          }
        }
        const chatty = DataCache.fn({ name: "chatty", maxBytes: 20_000 }, (n: number) =>
          Effect.as(
            Effect.forEach(Array.from({ length: 1_000 }), () => Console.log(probe), { discard: true }),
            n
          )
        )
        assert.strictEqual(yield* chatty(1), 1)
        assert.isBelow(reads, 20, `${reads} of 1,000 lines copied: recording stopped at the budget`)
        assert.strictEqual((yield* chatty.stats).entries, 0, "over the budget: not stored")
        // Under the budget, a body records and replays as ever.
        const brief = DataCache.fn({ name: "brief", maxBytes: 20_000 }, (n: number) => Effect.as(Console.log(probe), n))
        yield* brief(1)
        yield* brief(1)
        assert.strictEqual((yield* brief.stats).hits, 1)
      }).pipe(Effect.provideService(Console.Console, quiet), Effect.provide(DataCache.layerMemory()))
    )

    it.effect("the recorded copy leaves with its entry", () =>
      Effect.gen(function* () {
        // 32 MB logged: the entry's copy of it is what the array-buffer memory holds.
        const size = 4 * 1024 * 1024
        const report = DataCache.fn("report", (n: number) =>
          Effect.as(Effect.logInfo({ text: `row ${n}`, padding: new Float64Array(size) }), n)
        )
        const before = yield* liveBufferBytes
        yield* report(0)
        const kept = (yield* liveBufferBytes) - before
        assert.isAtLeast(kept, 8 * size, "the entry keeps its copy of what was logged")
        yield* report.invalidate(0)
        const after = (yield* liveBufferBytes) - before
        assert.isBelow(after, 8 * size, "and lets go of it with the entry")
      }).pipe(
        Effect.provideService(Logger.CurrentLoggers, new Set()),
        Effect.provide(Logger.layer([])),
        Effect.provide(DataCache.layerMemory())
      )
    )
  })
})
