/**
 * Model-based test of `DataCache.fn` itself, through its public API, on
 * Effect's `TestClock`.
 *
 * fast-check draws the limits of one cached function (`ttl`, `maxEntries`,
 * `maxBytes`, each possibly absent) and a sequence of commands: calls whose
 * body returns values of several sizes, calls whose body fails, abandoned
 * calls (the caller is interrupted while the body runs: the computation
 * belongs to the cache and still ends and is stored; a failing one fails the
 * caller that waited for it too), clock moves, `has`, `invalidate` and `clear`. Each command runs against the real cached
 * function in a fresh `DataCache.layerMemory()` and against {@link Model}, a
 * Map in least-recently-used order with store times. After every command the
 * two must agree on the returned value or failure, the body runs per key, the
 * `has` answer, and every counter of `fn.stats` (hits, misses, evictions,
 * expirations, invalidations, entries and bytes).
 *
 * **Byte budgets.** The byte estimate of a value is the library's business,
 * so the test measures it through the public API first: it stores one value
 * of each size in an unbounded function and reads `stats.bytes`. The model
 * then predicts budgets exactly, assuming only that the estimate of a value
 * depends on its shape (the values of one size differ only in digits) and
 * that `bytes` is the sum over live entries, as documented.
 *
 * Runs use a fixed seed (42; `FC_SEED=n` to explore another). A failure
 * prints fast-check's seed, path and the shrunk list of commands.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import fc from "fast-check"

const seed = Number(process.env.FC_SEED ?? 42)

const keys = ["a", "b", "c", "d", "e"] as const
type Key = (typeof keys)[number]
/** Payload lengths of the values a call returns; their byte estimates are measured, not assumed. */
const sizes = [0, 40, 200, 1000] as const
type Size = (typeof sizes)[number]

interface Value {
  readonly key: string
  /** Which run of the body made it, fixed width so that every value of one size has one byte estimate. */
  readonly stamp: string
  readonly payload: string
}

const makeValue = (key: string, run: number, size: number): Value => ({
  key,
  stamp: String(run).padStart(6, "0"),
  payload: "x".repeat(size)
})

class Boom {
  readonly _tag = "Boom"
  readonly key: string
  constructor(key: string) {
    this.key = key
  }
}

interface Limits {
  readonly ttl: number | undefined
  readonly maxEntries: number | undefined
  readonly maxBytes: number | undefined
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

interface Entry {
  readonly value: Value
  readonly storedAt: number
  readonly bytes: number
}

type Outcome = { readonly _tag: "Value"; readonly value: Value } | { readonly _tag: "Boom"; readonly key: string }

/** What the cached function should do: live entries in least-recently-used order, and the counters. */
class Model {
  readonly limits: Limits
  readonly bytesOf: ReadonlyMap<number, number>
  now = 0
  readonly entries = new Map<string, Entry>()
  readonly runs: Record<string, number> = {}
  readonly counters = { hits: 0, misses: 0, evictions: 0, expirations: 0, invalidations: 0 }

  constructor(limits: Limits, bytesOf: ReadonlyMap<number, number>) {
    this.limits = limits
    this.bytesOf = bytesOf
  }

  get bytes(): number {
    let total = 0
    for (const entry of this.entries.values()) total += entry.bytes
    return total
  }

  /** Time passes; an entry is gone at exactly `storedAt + ttl`. */
  advance(millis: number): void {
    this.now += millis
    const ttl = this.limits.ttl
    if (ttl === undefined) return
    for (const [key, entry] of this.entries) {
      if (this.now >= entry.storedAt + ttl) {
        this.entries.delete(key)
        this.counters.expirations++
      }
    }
  }

  /** A call: a hit is a use (moved to the recent end, expiry unchanged); a miss runs the body. */
  call(key: string, size: number, fails: boolean): Outcome {
    const entry = this.entries.get(key)
    if (entry !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, entry)
      this.counters.hits++
      return { _tag: "Value", value: entry.value }
    }
    this.counters.misses++
    const run = (this.runs[key] ?? 0) + 1
    this.runs[key] = run
    if (fails) return { _tag: "Boom", key }
    const value = makeValue(key, run, size)
    const bytes = this.bytesOf.get(size)!
    const { maxEntries = Infinity, maxBytes = Infinity } = this.limits
    // A value larger than the whole budget is returned but not stored.
    if (bytes <= maxBytes) {
      this.entries.set(key, { value, storedAt: this.now, bytes })
      while (this.entries.size > maxEntries || this.bytes > maxBytes) {
        this.entries.delete(this.entries.keys().next().value!)
        this.counters.evictions++
      }
    }
    return { _tag: "Value", value }
  }

  /**
   * A call whose caller gives up while the body runs, and a second call of
   * the key that waits for it: the abandoned computation ends (and is stored,
   * within the limits), and the second call shares its value (a hit) or its
   * failure (one run for both).
   */
  abandoned(key: string, size: number, fails: boolean): Outcome {
    const first = this.call(key, size, fails)
    if (first._tag === "Value") this.counters.hits++
    return first
  }

  invalidate(key: string): void {
    if (this.entries.delete(key)) this.counters.invalidations++
  }

  clear(): void {
    this.counters.invalidations += this.entries.size
    this.entries.clear()
  }
}

// ---------------------------------------------------------------------------
// The real thing
// ---------------------------------------------------------------------------

/** The cached function under test, with `limits`; its body counts its runs per key in `runs`. */
const cachedFunction = (limits: Limits, runs: Record<string, number>) =>
  DataCache.fn(
    {
      name: "model",
      ...(limits.ttl === undefined ? {} : { ttl: limits.ttl }),
      ...(limits.maxEntries === undefined ? {} : { maxEntries: limits.maxEntries }),
      ...(limits.maxBytes === undefined ? {} : { maxBytes: limits.maxBytes })
    },
    // `_size`, `_fails` and `_gate` are not part of the key: one key, whatever the call asks the body to do.
    ({
      key,
      _size,
      _fails,
      _gate
    }: {
      readonly key: string
      readonly _size: number
      readonly _fails: boolean
      readonly _gate?: Gate | undefined
    }) =>
      Effect.suspend(() => {
        const run = (runs[key] ?? 0) + 1
        runs[key] = run
        const result = _fails ? Effect.fail(new Boom(key)) : Effect.succeed(makeValue(key, run, _size))
        return _gate === undefined
          ? result
          : Effect.andThen(Deferred.succeed(_gate.started, undefined), Effect.andThen(Deferred.await(_gate.open), result))
      })
  )

/** Holds a body until its caller has given up. */
interface Gate {
  readonly started: Deferred.Deferred<void>
  readonly open: Deferred.Deferred<void>
}

/** One cached function in its own layer and TestClock. */
class Real {
  readonly runtime = ManagedRuntime.make(DataCache.layerMemory().pipe(Layer.provideMerge(TestClock.layer())))
  readonly runs: Record<string, number> = {}
  readonly cached: ReturnType<typeof cachedFunction>

  constructor(limits: Limits) {
    this.cached = cachedFunction(limits, this.runs)
  }

  run<A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>): Promise<A> {
    return this.runtime.runPromise(effect)
  }

  async call(key: string, size: number, fails: boolean): Promise<Outcome> {
    return this.outcome(key, await this.runtime.runPromiseExit(this.cached({ key, _size: size, _fails: fails })))
  }

  /** A caller that gives up (is interrupted) while the body runs, then a second call of the key. */
  async abandoned(key: string, size: number, fails: boolean): Promise<Outcome> {
    const cached = this.cached
    const exit = await this.runtime.runPromiseExit(
      Effect.gen(function* () {
        const gate: Gate = { started: yield* Deferred.make<void>(), open: yield* Deferred.make<void>() }
        const caller = yield* Effect.forkChild(cached({ key, _size: size, _fails: fails, _gate: gate }))
        yield* Deferred.await(gate.started)
        yield* Fiber.interrupt(caller)
        // The second caller reaches the computation (and waits for it) before the body may end.
        const second = yield* Effect.forkChild(cached({ key, _size: size, _fails: fails }), { startImmediately: true })
        yield* Deferred.succeed(gate.open, undefined)
        return yield* Fiber.join(second)
      })
    )
    return this.outcome(key, exit)
  }

  outcome(key: string, exit: Exit.Exit<Value, unknown>): Outcome {
    if (Exit.isSuccess(exit)) return { _tag: "Value", value: exit.value }
    const error = Cause.findErrorOption(exit.cause)
    if (Option.isSome(error) && error.value instanceof Boom) return { _tag: "Boom", key: error.value.key }
    throw new Error(`call(${key}) ended with an unexpected cause: ${String(exit.cause)}`)
  }
}

/** After every command but a clock move: the same body runs, and the same stats. */
const agree = async (model: Model, real: Real, after: string): Promise<void> => {
  assert.deepStrictEqual(real.runs, model.runs, `body runs per key after ${after}`)
  const { hits, misses, evictions, expirations, invalidations, entries, bytes } = await real.run(real.cached.stats)
  assert.deepStrictEqual(
    { hits, misses, evictions, expirations, invalidations, entries, bytes },
    { ...model.counters, entries: model.entries.size, bytes: model.bytes },
    `stats after ${after}`
  )
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

type Command = fc.AsyncCommand<Model, Real>

class Call implements Command {
  readonly key: Key
  readonly size: Size
  readonly fails: boolean
  constructor(key: Key, size: Size, fails: boolean) {
    this.key = key
    this.size = size
    this.fails = fails
  }
  check = () => true
  async run(model: Model, real: Real): Promise<void> {
    const expected = model.call(this.key, this.size, this.fails)
    assert.deepStrictEqual(await real.call(this.key, this.size, this.fails), expected, `the result of ${this}`)
    await agree(model, real, String(this))
  }
  toString = () => `${this.fails ? "failingCall" : "call"}(${this.key}, ${this.size})`
}

class Abandoned implements Command {
  readonly key: Key
  readonly size: Size
  readonly fails: boolean
  constructor(key: Key, size: Size, fails: boolean) {
    this.key = key
    this.size = size
    this.fails = fails
  }
  // Only on a miss: a hit is synchronous, and there is no body to give up on.
  check = (model: Readonly<Model>) => !model.entries.has(this.key)
  async run(model: Model, real: Real): Promise<void> {
    const expected = model.abandoned(this.key, this.size, this.fails)
    assert.deepStrictEqual(await real.abandoned(this.key, this.size, this.fails), expected, `the result of ${this}`)
    await agree(model, real, String(this))
  }
  toString = () => `abandoned${this.fails ? "Failing" : ""}Call(${this.key}, ${this.size})`
}

class Advance implements Command {
  readonly millis: number
  constructor(millis: number) {
    this.millis = millis
  }
  check = () => true
  async run(model: Model, real: Real): Promise<void> {
    model.advance(this.millis)
    await real.run(TestClock.adjust(this.millis))
    // No stats here: they purge expired entries, and the next command should meet them unpurged
    // (a `has` exactly at `storedAt + ttl` must answer false by itself).
  }
  toString = () => `advance(${this.millis})`
}

class Has implements Command {
  readonly key: Key
  constructor(key: Key) {
    this.key = key
  }
  check = () => true
  async run(model: Model, real: Real): Promise<void> {
    assert.strictEqual(await real.run(real.cached.has({ key: this.key })), model.entries.has(this.key), String(this))
    await agree(model, real, String(this))
  }
  toString = () => `has(${this.key})`
}

class Invalidate implements Command {
  readonly key: Key
  constructor(key: Key) {
    this.key = key
  }
  check = () => true
  async run(model: Model, real: Real): Promise<void> {
    model.invalidate(this.key)
    await real.run(real.cached.invalidate({ key: this.key }))
    await agree(model, real, String(this))
  }
  toString = () => `invalidate(${this.key})`
}

class Clear implements Command {
  check = () => true
  async run(model: Model, real: Real): Promise<void> {
    model.clear()
    await real.run(real.cached.clear)
    await agree(model, real, String(this))
  }
  toString = () => "clear"
}

const key = fc.constantFrom(...keys)
const call = fc.tuple(key, fc.constantFrom(...sizes)).map(([key, size]): Command => new Call(key, size, false))
const commands = fc.commands(
  [
    // fast-check picks each arbitrary equally often: calls come three times, clears rarely.
    call,
    call,
    call,
    key.map((key): Command => new Call(key, 0, true)),
    fc.tuple(key, fc.constantFrom(...sizes), fc.boolean()).map(([key, size, fails]): Command => new Abandoned(key, size, fails)),
    // Moves of the order of the ttl, so that entries often reach exactly `storedAt + ttl`.
    fc.integer({ min: 0, max: 12 }).map((millis): Command => new Advance(millis)),
    fc.integer({ min: 0, max: 12 }).map((millis): Command => new Advance(millis)),
    key.map((key): Command => new Has(key)),
    key.map((key): Command => new Invalidate(key)),
    fc.oneof({ arbitrary: call, weight: 3 }, { arbitrary: fc.constant<Command>(new Clear()), weight: 1 })
  ],
  { maxCommands: 60, size: "max" }
)

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

/** The byte estimate of a value of each size, read from `stats.bytes` of an unbounded function. */
const measureBytes = async (): Promise<ReadonlyMap<number, number>> => {
  const runtime = ManagedRuntime.make(DataCache.layerMemory())
  try {
    const measure = DataCache.fn("measureBytes", (size: number) => Effect.succeed(makeValue("a", 1, size)))
    const out = new Map<number, number>()
    for (const size of sizes) {
      const before = (await runtime.runPromise(measure.stats)).bytes
      await runtime.runPromise(measure(size))
      out.set(size, (await runtime.runPromise(measure.stats)).bytes - before)
    }
    return out
  } finally {
    await runtime.dispose()
  }
}

describe("DataCache.fn against a model", () => {
  it("calls, failures, clock moves, has, invalidate and clear agree with an LRU + TTL + byte-budget model", async () => {
    const bytesOf = await measureBytes()
    for (const size of sizes) assert.isAbove(bytesOf.get(size)!, 0, `values of size ${size} have a byte estimate`)
    const [small, medium, large] = [bytesOf.get(40)!, bytesOf.get(200)!, bytesOf.get(1000)!]
    const limits: fc.Arbitrary<Limits> = fc.record({
      ttl: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
      maxEntries: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      // No budget; exactly one large value (a value as large as the budget is kept); a budget large values
      // do not fit; room for about two medium values; room for a few of anything.
      maxBytes: fc.constantFrom(undefined, large, medium + small, 2 * medium + small, 3 * large)
    })
    await fc.assert(
      fc.asyncProperty(limits, commands, async (limits, commands) => {
        const real = new Real(limits)
        try {
          await fc.asyncModelRun(() => ({ model: new Model(limits, bytesOf), real }), commands)
        } finally {
          await real.runtime.dispose()
        }
      }),
      { seed, numRuns: 400 }
    )
  })
})
