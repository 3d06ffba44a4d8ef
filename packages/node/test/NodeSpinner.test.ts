import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { CacheReporter, DataCache, NodeSpinner } from "@recall/node"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { screen } from "./fixtures/terminal.ts"

/** A stream that keeps what is written to it. */
const fakeStream = (options: { readonly isTTY: boolean; readonly columns?: number }) => {
  const writes: Array<string> = []
  return {
    isTTY: options.isTTY,
    columns: options.columns,
    write: (text: string) => {
      writes.push(text)
      return true
    },
    writes,
    output: () => writes.join(""),
    /** The terminal's lines after everything written. */
    screen: () => screen(writes.join("")),
    /** The spinner's line without its frame, `""` when erased. */
    line: () => (screen(writes.join("")).at(-1) ?? "").replace(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /, "")
  }
}

const computation = (name = "load", fields: Partial<CacheReporter.Computation> = {}): CacheReporter.Computation => ({
  function: name,
  cache: "DataCache",
  arguments: '"Oslo"',
  kind: "miss",
  spinner: `Running ${name}(...)`,
  showTime: false,
  nested: false,
  ...fields
})

const erase = "\r\x1b[K"

describe("NodeSpinner", () => {
  describe("on a terminal", () => {
    it.effect("writes nothing for a computation that ends before the delay", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const c = computation()
        yield* reporter.started(c)
        yield* TestClock.adjust("499 millis")
        yield* reporter.ended(c, "success", 499)
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(out.writes, [])
      })
    )

    it.effect("draws the text at 0.5 s, a new frame every 80 ms, and erases the line at the end", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const c = computation()
        yield* reporter.started(c)
        yield* TestClock.adjust("500 millis")
        assert.deepStrictEqual(out.writes, [`${erase}⠋ Running load(...)`])
        yield* TestClock.adjust("160 millis")
        assert.deepStrictEqual(out.writes.slice(1), [`${erase}⠙ Running load(...)`, `${erase}⠹ Running load(...)`])
        yield* reporter.ended(c, "success", 660)
        assert.strictEqual(out.writes.at(-1), erase)
        assert.deepStrictEqual(out.screen(), [""])
        const written = out.writes.length
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(out.writes.length, written, "no frame after the end: the fibers are interrupted")
      })
    )

    it.effect("delay and interval options", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out, delay: "2 seconds", interval: 1000 })
        const c = computation()
        yield* reporter.started(c)
        yield* TestClock.adjust("1999 millis")
        assert.deepStrictEqual(out.writes, [])
        yield* TestClock.adjust("1 milli")
        assert.strictEqual(out.writes.length, 1)
        yield* TestClock.adjust("999 millis")
        assert.strictEqual(out.writes.length, 1)
        yield* TestClock.adjust("1 milli")
        assert.deepStrictEqual(out.writes, [`${erase}⠋ Running load(...)`, `${erase}⠙ Running load(...)`])
        yield* reporter.ended(c, "success", 3000)
      })
    )

    it.effect("delay 0 shows a computation at once", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out, delay: 0 })
        yield* reporter.started(computation())
        yield* TestClock.adjust("1 milli")
        assert.strictEqual(out.line(), "Running load(...)")
      })
    )

    it.effect("showTime appends the elapsed time", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const c = computation("load", { showTime: true })
        yield* reporter.started(c)
        yield* TestClock.adjust("500 millis")
        assert.strictEqual(out.line(), "Running load(...) (500 ms)")
        yield* TestClock.adjust("1040 millis")
        assert.strictEqual(out.screen()[0], "⠸ Running load(...) (1.5 s)")
        yield* TestClock.adjust("2 minutes")
        assert.strictEqual(out.line(), "Running load(...) (2 min 01 s)")
        yield* reporter.ended(c, "success", 121_540)
        assert.deepStrictEqual(out.screen(), [""])
      })
    )

    it.effect("nested computations, refreshes and spinner: false are never shown", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const hidden = [
          computation("nested", { nested: true }),
          computation("refresh", { kind: "refresh" }),
          computation("quiet", { spinner: undefined })
        ]
        yield* Effect.forEach(hidden, reporter.started)
        yield* TestClock.adjust("5 seconds")
        yield* Effect.forEach(hidden, (c) => reporter.ended(c, "success", 5000))
        assert.deepStrictEqual(out.writes, [])
      })
    )

    it.effect("a nested computation under a shown one leaves the line as it is", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const outer = computation("outer")
        const inner = computation("inner", { nested: true })
        yield* reporter.started(outer)
        yield* reporter.started(inner)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(out.line(), "Running outer(...)")
        yield* reporter.ended(inner, "success", 1000)
        assert.strictEqual(out.line(), "Running outer(...)")
        yield* reporter.ended(outer, "success", 1000)
        assert.notInclude(out.output(), "inner")
        assert.deepStrictEqual(out.screen(), [""])
      })
    )

    it.effect("concurrent computations: the oldest one's text, and how many more run", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const [a, b, c, fast] = [computation("a"), computation("b"), computation("c"), computation("fast")]
        yield* reporter.started(a)
        yield* TestClock.adjust("100 millis")
        yield* reporter.started(b)
        yield* TestClock.adjust("100 millis")
        yield* reporter.started(c)
        yield* TestClock.adjust("300 millis")
        assert.strictEqual(out.line(), "Running a(...)", "b and c are not past their delay yet")
        yield* TestClock.adjust("200 millis")
        assert.strictEqual(out.line(), "Running a(...) (+2 more)")
        yield* reporter.ended(a, "success", 700)
        assert.strictEqual(out.line(), "Running b(...) (+1 more)", "redrawn at once")
        yield* reporter.started(fast)
        yield* TestClock.adjust("100 millis")
        yield* reporter.ended(fast, "failure", 100)
        assert.strictEqual(out.line(), "Running b(...) (+1 more)")
        yield* reporter.ended(c, "interrupted", 600)
        assert.strictEqual(out.line(), "Running b(...)")
        yield* reporter.ended(b, "success", 700)
        assert.deepStrictEqual(out.screen(), [""])
        assert.notInclude(out.output(), "fast")
      })
    )

    it.effect("the line is erased while the only other computation waits for its delay", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const [a, b] = [computation("a"), computation("b")]
        yield* reporter.started(a)
        yield* TestClock.adjust("600 millis")
        yield* reporter.started(b)
        yield* TestClock.adjust("100 millis")
        yield* reporter.ended(a, "success", 700)
        assert.deepStrictEqual(out.screen(), [""])
        const written = out.writes.length
        yield* TestClock.adjust("399 millis")
        assert.strictEqual(out.writes.length, written, "no frames while nothing is shown")
        yield* TestClock.adjust("1 milli")
        assert.strictEqual(out.line(), "Running b(...)")
        yield* TestClock.adjust("80 millis")
        assert.strictEqual(out.writes.length, written + 2, "one ticker again, not two")
        yield* reporter.ended(b, "success", 580)
        assert.deepStrictEqual(out.screen(), [""])
      })
    )

    it.effect("the line is cut to the terminal's width", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true, columns: 12 })
        const reporter = yield* NodeSpinner.make({ stream: out })
        yield* reporter.started(computation())
        yield* TestClock.adjust("500 millis")
        assert.deepStrictEqual(out.screen(), ["⠋ Running l"])
      })
    )

    it.effect("a text on several lines is drawn on one", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        yield* reporter.started(computation("load", { spinner: "Loading\ntrips\r\x1b[2J" }))
        yield* TestClock.adjust("500 millis")
        assert.deepStrictEqual(out.writes, [`${erase}⠋ Loading trips [2J`])
      })
    )

    it.effect("closing the scope erases the line and stops the frames", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const reporter = yield* NodeSpinner.make({ stream: out })
            yield* reporter.started(computation())
            yield* TestClock.adjust("600 millis")
            assert.strictEqual(out.line(), "Running load(...)")
          })
        )
        assert.strictEqual(out.writes.at(-1), erase)
        const written = out.writes.length
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(out.writes.length, written)
      })
    )

    it.effect("ended finds a computation by its fields when given another object", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const reporter = yield* NodeSpinner.make({ stream: out })
        yield* reporter.started(computation())
        yield* TestClock.adjust("500 millis")
        yield* reporter.ended(computation("other"), "success", 500)
        assert.strictEqual(out.line(), "Running load(...)", "an unknown computation is ignored")
        yield* reporter.ended(computation(), "success", 500)
        assert.deepStrictEqual(out.screen(), [""])
      })
    )

    it.effect("a stream that throws does not fail the computation", () =>
      Effect.gen(function* () {
        const reporter = yield* NodeSpinner.make({
          stream: {
            isTTY: true,
            write: () => {
              throw new Error("EPIPE")
            }
          }
        })
        const c = computation()
        yield* reporter.started(c)
        yield* TestClock.adjust("1 second")
        const exit = yield* Effect.exit(reporter.ended(c, "success", 1000))
        assert.isTrue(Exit.isSuccess(exit))
      })
    )
  })

  describe("not on a terminal", () => {
    it.effect("a line when a computation passes the delay, one when it ends; nothing for fast ones", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: false })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const [ok, bad, stopped, fast] = [computation("ok"), computation("bad"), computation("stopped"), computation("fast")]
        yield* Effect.forEach([ok, bad, stopped, fast], reporter.started)
        yield* TestClock.adjust("100 millis")
        yield* reporter.ended(fast, "success", 100)
        yield* TestClock.adjust("400 millis")
        assert.deepStrictEqual(out.writes, ["Running ok(...)\n", "Running bad(...)\n", "Running stopped(...)\n"])
        yield* TestClock.adjust("700 millis")
        yield* reporter.ended(ok, "success", 1234)
        yield* reporter.ended(bad, "failure", 1200)
        yield* reporter.ended(stopped, "interrupted", 65_000)
        assert.deepStrictEqual(out.writes.slice(3), [
          "Running ok(...): done in 1.2 s\n",
          "Running bad(...): failed after 1.2 s\n",
          "Running stopped(...): interrupted after 1 min 05 s\n"
        ])
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(out.writes.length, 6)
      })
    )

    it.effect("a computation that ends after the spinner's layer closed still gets its end line (the DataCache layer closes later)", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: false })
        const scope = yield* Scope.make()
        const reporter = yield* Scope.provide(NodeSpinner.make({ stream: out }), scope)
        const slow = computation("slow")
        yield* reporter.started(slow)
        yield* TestClock.adjust("600 millis")
        yield* Scope.close(scope, Exit.void)
        yield* reporter.ended(slow, "interrupted", 700)
        assert.deepStrictEqual(out.writes, ["Running slow(...)\n", "Running slow(...): interrupted after 700 ms\n"])
      })
    )

    it.effect("hidden computations write nothing", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: false })
        const reporter = yield* NodeSpinner.make({ stream: out })
        const hidden = [computation("n", { nested: true }), computation("r", { kind: "refresh" }), computation("q", { spinner: undefined })]
        yield* Effect.forEach(hidden, reporter.started)
        yield* TestClock.adjust("5 seconds")
        yield* Effect.forEach(hidden, (c) => reporter.ended(c, "success", 5000))
        assert.deepStrictEqual(out.writes, [])
      })
    )
  })

  describe("options", () => {
    it("invalid options throw InvalidSpinnerOptionsError, naming the option", () => {
      const bad = (options: unknown, pattern: RegExp) =>
        assert.throws(() => NodeSpinner.make(options as NodeSpinner.Options), NodeSpinner.InvalidSpinnerOptionsError, pattern)
      bad({ delay: "soon" }, /Invalid option `delay` for NodeSpinner: cannot read "soon" as a duration/)
      bad({ delay: Number.NaN }, /`delay`.*cannot read NaN/)
      bad({ delay: -1 }, /`delay`.*at least 0 ms, got -1/)
      bad({ delay: "Infinity" }, /`delay`.*finite/)
      bad({ interval: 0 }, /`interval`.*at least 10 ms, got 0/)
      bad({ stream: {} }, /`stream`.*must have a `write\(text\)` method/)
      bad({ speed: 2 }, /`speed`.*is not an option/)
      bad("fast", /`options`.*must be an object/)
      assert.throws(() => NodeSpinner.layerWith({ interval: "5 millis" }), NodeSpinner.InvalidSpinnerOptionsError, /`interval`/)
    })

    it.effect("layer and layerWith provide the reporter", () =>
      Effect.gen(function* () {
        const fromLayer = yield* Effect.provide(CacheReporter.CacheReporter, NodeSpinner.layer)
        const fromLayerWith = yield* Effect.provide(CacheReporter.CacheReporter, NodeSpinner.layerWith({ delay: "1 second" }))
        assert.notStrictEqual(fromLayer, CacheReporter.debugLogs)
        assert.notStrictEqual(fromLayerWith, CacheReporter.debugLogs)
        assert.isFunction(fromLayer.started)
      })
    )
  })

  describe("through DataCache.fn", () => {
    const spinnerOn = (out: NodeSpinner.Output) => Layer.effect(CacheReporter.CacheReporter, NodeSpinner.make({ stream: out }))
    const withSpinner = <A, E>(out: NodeSpinner.Output, effect: Effect.Effect<A, E, DataCache.DataCache>) =>
      Effect.provide(effect, [DataCache.layerMemory(), spinnerOn(out)])

    it.effect("a slow miss shows 'Running name(...)' until it ends; a hit shows nothing", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const load = DataCache.fn("load", (city: string) => Effect.sleep("1200 millis").pipe(Effect.as(city.length)))
        yield* withSpinner(
          out,
          Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(load("Oslo"))
            yield* TestClock.adjust("499 millis")
            assert.deepStrictEqual(out.writes, [])
            yield* TestClock.adjust("1 milli")
            assert.strictEqual(out.line(), "Running load(...)")
            yield* TestClock.adjust("700 millis")
            assert.strictEqual(yield* Fiber.join(fiber), 4)
            assert.deepStrictEqual(out.screen(), [""])
            const written = out.writes.length
            assert.strictEqual(yield* load("Oslo"), 4)
            yield* TestClock.adjust("10 seconds")
            assert.strictEqual(out.writes.length, written)
          })
        )
      })
    )

    it.effect("only the outermost cached call is shown", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const inner = DataCache.fn("inner", (n: number) => Effect.sleep("1 second").pipe(Effect.as(n)))
        const outer = DataCache.fn("outer", (n: number) => inner(n).pipe(Effect.map((m) => m + 1)))
        yield* withSpinner(
          out,
          Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(outer(1))
            yield* TestClock.adjust("600 millis")
            assert.strictEqual(out.line(), "Running outer(...)")
            yield* TestClock.adjust("400 millis")
            assert.strictEqual(yield* Fiber.join(fiber), 2)
            assert.deepStrictEqual(out.screen(), [""])
            assert.notInclude(out.output(), "inner")
          })
        )
      })
    )

    it.effect("the spinner and showTime options", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: true })
        const quiet = DataCache.fn({ name: "quiet", spinner: false }, (n: number) => Effect.sleep("1 second").pipe(Effect.as(n)))
        const trips = DataCache.fn({ name: "trips", spinner: "Loading trips", showTime: true }, (n: number) =>
          Effect.sleep("1 second").pipe(Effect.as(n))
        )
        yield* withSpinner(
          out,
          Effect.gen(function* () {
            const first = yield* Effect.forkChild(quiet(1))
            yield* TestClock.adjust("1 second")
            yield* Fiber.join(first)
            assert.deepStrictEqual(out.writes, [])
            const second = yield* Effect.forkChild(trips(1))
            yield* TestClock.adjust("500 millis")
            assert.strictEqual(out.line(), "Loading trips (500 ms)")
            yield* TestClock.adjust("500 millis")
            yield* Fiber.join(second)
            assert.deepStrictEqual(out.screen(), [""])
          })
        )
      })
    )

    it.effect("plain lines when the stream is not a terminal, with the outcome", () =>
      Effect.gen(function* () {
        const out = fakeStream({ isTTY: false })
        const bad = DataCache.fn("bad", (n: number) => Effect.sleep("1 second").pipe(Effect.andThen(Effect.fail(`no ${n}`))))
        yield* withSpinner(
          out,
          Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(Effect.exit(bad(1)))
            yield* TestClock.adjust("1 second")
            assert.isTrue(Exit.isFailure(yield* Fiber.join(fiber)))
            assert.deepStrictEqual(out.writes, ["Running bad(...)\n", "Running bad(...): failed after 1.0 s\n"])
          })
        )
      })
    )
  })
})

// ---------------------------------------------------------------------------
// A real terminal: the demo program under `script`, which gives it a pseudo-terminal.
// ---------------------------------------------------------------------------

const root = fileURLToPath(new URL("../../../", import.meta.url))
const node = `${root}node_modules/.bin/node`
const demo = `${root}packages/node/test/fixtures/spinner-demo.ts`

/** util-linux `script` (Debian and Ubuntu have it; BSD `script` takes other flags). */
const hasScript = (() => {
  const result = spawnSync("script", ["--version"], { encoding: "utf8" })
  return result.status === 0 && result.stdout.includes("util-linux")
})()

const run = (
  command: string,
  args: ReadonlyArray<string>,
  /** Called with the output so far; returns what to type on stdin, if anything. */
  typeWhen?: (stdout: string) => string | undefined
) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: [typeWhen === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let typed = false
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      const keys = typed ? undefined : typeWhen?.(stdout)
      if (keys !== undefined) {
        typed = true
        child.stdin?.write(keys)
      }
    })
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`

/** Runs the demo with stdout and stderr on a pseudo-terminal; returns what the terminal received. */
const inTerminal = (mode: "cached" | "direct", typeWhen?: (stdout: string) => string | undefined) =>
  run("script", ["-qfec", [node, "--conditions=@recall/source", demo, mode].map(quote).join(" "), "/dev/null"], typeWhen)

describe("NodeSpinner in a pseudo-terminal (util-linux script)", () => {
  it("has util-linux `script` to make the terminal (Debian's bsdutils; install it rather than skip)", () => {
    assert.isTrue(hasScript, "util-linux `script` was not found on the PATH")
  })

  for (const mode of ["direct", "cached"] as const) {
    it(`draws the spinner on stderr and erases it at the end (${mode})`, async () => {
      const { code, stdout, stderr } = await inTerminal(mode)
      assert.strictEqual(code, 0, stderr)
      const frames = stdout.split(erase).filter((drawn) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Running load\(\.\.\.\) \(\d+ ms\)$/.test(drawn))
      assert.isAtLeast(frames.length, 3, `spinner frames in ${JSON.stringify(stdout)}`)
      const last = stdout.lastIndexOf("Running load(...)")
      const erased = stdout.indexOf("\r\x1b[K", last)
      assert.isAbove(erased, last, "the line is erased after the last frame")
      assert.isBelow(erased, stdout.indexOf("after 4 4"), "before the program goes on")
      assert.deepStrictEqual(screen(stdout), ["before", "after 4 4"], "nothing of the spinner stays on screen")
    })
  }

  it("Ctrl-C while the spinner is drawn: the program stops and the line is erased", async () => {
    const { code, stdout } = await inTerminal("cached", (output) => (output.includes("Running load(...)") ? "\x03" : undefined))
    assert.strictEqual(code, 130, "ended by SIGINT")
    assert.isTrue(stdout.endsWith(erase), `the last write erases the line: ${JSON.stringify(stdout)}`)
    assert.deepStrictEqual(screen(stdout), ["before"], "nothing of the spinner stays on screen")
  })

  it("writes plain lines when stderr is a pipe", async () => {
    const { code, stdout, stderr } = await run(node, ["--conditions=@recall/source", demo, "cached"])
    assert.strictEqual(code, 0, stderr)
    assert.strictEqual(stdout, "before\nafter 4 4\n")
    assert.match(stderr, /^Running load\(\.\.\.\)\nRunning load\(\.\.\.\): done in 1\.\d s\n$/)
  })
})
