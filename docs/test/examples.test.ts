/**
 * Every example under docs/examples runs here (and is type-checked by
 * `npm run check`), on TestClock so its sleeps take no wall time.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Console, Effect, Fiber } from "effect"
import * as TestClock from "effect/testing/TestClock"
import * as arguments_ from "../examples/arguments.ts"
import * as concurrency from "../examples/concurrency.ts"
import * as disk from "../examples/disk.ts"
import * as expensive from "../examples/expensive.ts"
import * as limits from "../examples/limits.ts"
import * as mutation from "../examples/mutation.ts"
import * as persistent from "../examples/persistent.ts"
import * as readonlyFrame from "../examples/readonly-frame.ts"
import * as replay from "../examples/replay.ts"
import * as resources from "../examples/resources.ts"
import * as schemas from "../examples/schemas.ts"
import * as services from "../examples/services.ts"
import * as stale from "../examples/stale.ts"

/** Runs an example, moving virtual time on until it finishes; keeps what it printed. */
const runExample = <A, E>(program: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const console = { ...globalThis.console, log: (...args: ReadonlyArray<unknown>) => lines.push(args.join(" ")) }
    const fiber = yield* Effect.forkChild(program.pipe(Effect.provideService(Console.Console, console as Console.Console)))
    while (fiber.pollUnsafe() === undefined) {
      yield* TestClock.adjust("100 millis")
      yield* Effect.yieldNow
    }
    return { result: yield* Fiber.join(fiber), lines }
  })

describe("docs/examples", () => {
  // On real time: the store's operations have timeouts on Clock, which a TestClock moved on while the disk works would trip.
  it.live("disk: the first run computes and writes to disk, the next run (a new layer) is served from disk", () =>
    Effect.gen(function* () {
      const directory = mkdtempSync(join(tmpdir(), "recall-docs-disk-"))
      const run = Effect.gen(function* () {
        const lines: Array<string> = []
        const console = { ...globalThis.console, log: (...args: ReadonlyArray<unknown>) => lines.push(args.join(" ")) }
        const result = yield* disk.programIn(directory).pipe(Effect.provideService(Console.Console, console as Console.Console))
        return { result, lines }
      })
      try {
        const first = yield* run
        assert.isFalse(first.result.fromDisk)
        assert.isAtLeast(first.result.computedMillis, 1500)
        assert.match(first.lines[0]!, /computed in \d+\.\d\d s and written to disk/)
        const second = yield* run
        assert.isTrue(second.result.fromDisk)
        assert.strictEqual(second.result.computedMillis, first.result.computedMillis)
        assert.match(second.lines[0]!, /served from disk in \d+ ms \(computing took \d+\.\d\d s: \d+\.\d\d s saved\)/)
      } finally {
        rmSync(directory, { recursive: true, force: true })
      }
    })
  )

  it.effect("expensive: a 2 s miss, an instant hit, a miss for other arguments", () =>
    Effect.gen(function* () {
      const { result, lines } = yield* runExample(expensive.program)
      assert.isAtLeast(result.first, 2000)
      assert.strictEqual(result.second, 0)
      assert.isAtLeast(result.other, 2000)
      assert.strictEqual(result.value, 42)
      assert.strictEqual(lines.length, 3)
    })
  )

  it.effect("persistent: a second run over the same store is served from it, without computing", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(persistent.program)
      assert.deepStrictEqual(result.second, result.first)
      assert.strictEqual(result.storeHits, 1)
      assert.strictEqual(result.computed, 1)
    })
  )

  it.effect("mutation: the next caller's value is untouched", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(mutation.program)
      assert.deepStrictEqual(result.next.columns, ["fare", "distance"])
      assert.strictEqual(result.next.filters.city, "Oslo")
      assert.strictEqual(result.next.prices[0], 9.5)
    })
  )

  it.effect("arguments: `_` fields are not in the key; an edited body is a new cache", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(arguments_.program)
      assert.strictEqual(result.downloads, 2)
      assert.deepStrictEqual(result.greetings, ["Hello, Ada", "Hi, Ada!"])
    })
  )

  it.effect("limits: ttl expires, LRU evicts the least recently used", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(limits.program)
      assert.deepStrictEqual([result.quotes.misses, result.quotes.hits, result.quotes.expirations], [2, 1, 1])
      assert.deepStrictEqual(result.kept, [1, 3])
      assert.strictEqual(result.thumbs.evictions, 1)
    })
  )

  it.effect("concurrency: one run for ten callers; failures are retried, not cached", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(concurrency.program)
      assert.strictEqual(result.runs, 1)
      assert.strictEqual(result.attempts, 2)
    })
  )

  it.effect("schemas: a Trip comes back as a Trip; the key schema ignores requestId", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(schemas.program)
      assert.deepStrictEqual(result, { queries: 1, isTrip: true, hour: 8 })
    })
  )

  it.effect("readonly frame: copies are fresh, readonly is shared and frozen", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(readonlyFrame.program)
      assert.deepStrictEqual(result, { copyIsFresh: true, sharedIsSame: true, frozen: true })
    })
  )

  it.effect("services: methods with R = never share the layer's cache", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(services.program)
      assert.deepStrictEqual(result, { fetches: 2 })
    })
  )

  it.effect("resources: one instance, held while used, closed once; validate replaces a dropped one", () =>
    Effect.gen(function* () {
      const { result, lines } = yield* runExample(resources.program)
      assert.isTrue(result.same)
      assert.deepStrictEqual(result.rows, ["select 1 on connection 1"])
      assert.strictEqual(result.replaced, 3)
      assert.deepStrictEqual(resources.events, ["open 1", "close 1", "open 2", "close 2", "open 3", "close 3"])
      assert.deepStrictEqual(lines, ["same instance: true", "select 1 on connection 1", "after a drop: connection 3"])
    })
  )

  it.effect("replay: the cached call prints what the computing call printed", () =>
    Effect.gen(function* () {
      const { lines } = yield* runExample(replay.program)
      assert.deepStrictEqual(
        lines.filter((line) => line.includes("Loaded")),
        ["Loaded 3 trips for Oslo", "Loaded 3 trips for Oslo"]
      )
      assert.strictEqual(lines.filter((line) => line.includes("no fare")).length, 2, `${lines.join("\n")}`)
    })
  )

  it.effect("stale: the old rate at once past the ttl, the new one after the background refresh", () =>
    Effect.gen(function* () {
      const { result } = yield* runExample(stale.program)
      assert.deepStrictEqual(result, { first: 10.01, stale: 10.01, fresh: 10.02, fetches: 2 })
    })
  )
})
