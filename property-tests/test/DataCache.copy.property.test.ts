/**
 * Copy isolation of `DataCache.fn`, as properties over values generated from
 * Effect Schemas (see ./arbitrary.ts).
 *
 * Each run calls a cached function twice at once (one runs the body, one
 * waits for it), then mutates every value it can reach in every way
 * (./values.ts): the results of both callers, the value the body returned,
 * and later hits. Every result must still be the same graph as a snapshot of
 * the first result taken before any mutation, and the body must have run
 * once. With `copy: "readonly"`, every mutation that would change the shared
 * value must throw instead.
 *
 * Runs use a fixed seed (42; `FC_SEED=n` to explore another). A failure
 * prints fast-check's seed, path and shrunk counterexample.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { annotation, fromSchema } from "./arbitrary.ts"
import { Float64, Int32 } from "./typedArrays.ts"
import { difference, kind, type Mutation, mutate, mutations, snapshot } from "./values.ts"

const seed = Number(process.env.FC_SEED ?? 42)

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

const Point = Schema.Struct({ x: Schema.Number, y: Schema.Number })
const Shape = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("circle"), center: Point, radius: Schema.Number }),
  Schema.Struct({ kind: Schema.Literal("polygon"), corners: Schema.Array(Point) }),
  Schema.Null
])

/** Plain data: what the structured copy (no `value` schema) must handle. */
const Plain = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  tags: Schema.Array(Schema.String),
  nested: Schema.Struct({
    point: Point,
    when: Schema.Date,
    note: Schema.optionalKey(Schema.String),
    maybe: Schema.optional(Schema.Number),
    deeper: Schema.Array(Schema.Struct({ level: Schema.Array(Schema.Array(Schema.Number)) }))
  }),
  scores: Schema.Record(Schema.String, Schema.Array(Schema.Number)),
  pair: Schema.Tuple([Schema.String, Schema.BigInt, Schema.optionalKey(Schema.Boolean)]),
  shape: Shape,
  bytes: Schema.Uint8Array,
  samples: Float64,
  counts: Int32,
  index: Schema.ReadonlyMap(Schema.String, Point),
  seen: Schema.ReadonlySet(Schema.Number)
})

class Reading extends Schema.Class<Reading>("Reading")({
  at: Schema.Date,
  values: Float64,
  counts: Int32,
  flags: Schema.Array(Schema.Boolean)
}) {}

class Station extends Schema.Class<Station>("Station")({
  name: Schema.String,
  location: Point,
  shape: Shape,
  readings: Schema.Array(Reading),
  latest: Schema.Option(Reading),
  // Finite numbers: NaN and the infinities encode as the strings "NaN", "Infinity", which this
  // union decodes as strings, so the value schema (rightly) refuses them (see ValueCodec.fromSchema).
  meta: Schema.Record(Schema.String, Schema.Union([Schema.String, Schema.Finite, Schema.Null])),
  bytes: Schema.Uint8Array
}) {}

/** Classes, Options, Dates and typed arrays: kept with a `value` schema. */
const Stations = Schema.Struct({ stations: Schema.Array(Station), primary: Schema.optionalKey(Station) })

/** JSON-like data, for `copy: "readonly"` (what JS can freeze). */
const Frozen = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  tags: Schema.Array(Schema.String),
  nested: Schema.Struct({ point: Point, note: Schema.optionalKey(Schema.String), rows: Schema.Array(Schema.Array(Schema.Number)) }),
  scores: Schema.Record(Schema.String, Schema.Array(Point)),
  pair: Schema.Tuple([Schema.String, Schema.BigInt, Schema.optionalKey(Schema.Boolean)]),
  shape: Shape
})

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/** Runs `f` with one in-memory cache, disposed at the end. */
const withCache = async (
  f: (run: <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>) => Promise<A>) => Promise<void>
): Promise<void> => {
  const runtime = ManagedRuntime.make(DataCache.layerMemory())
  try {
    await f((effect) => runtime.runPromise(effect))
  } finally {
    await runtime.dispose()
  }
}

/** The body of every cached function here: returns `state.value`, after a yield so a second caller joins. */
interface Body<A> {
  value: A
  runs: number
}
// The cached functions pass their key on, so it is a parameter of the key (a `_key` would be left out).
const body = <A>(state: Body<A>, _key: number) =>
  Effect.yieldNow.pipe(
    Effect.andThen(
      Effect.sync(() => {
        state.runs++
        return state.value
      })
    )
  )

const same = (actual: unknown, expected: unknown, what: string, log: ReadonlyArray<string>): void => {
  const problem = difference(actual, expected)
  if (problem !== undefined) {
    throw new Error(`${what} differs from the first result ${problem}\nmutations so far:\n  ${log.join("\n  ") || "(none)"}`)
  }
}

const applyAll = (target: unknown, plan: ReadonlyArray<Mutation>, who: string, log: Array<string>): void => {
  for (const m of plan) log.push(`${who} ${mutate(target, m).description}`)
}

const plans = fc.tuple(mutations, mutations, mutations, mutations)

/**
 * The copy-isolation property for one cached function over `values`.
 *
 * 1. Two concurrent calls: the body runs once; the runner's and the waiter's
 *    results are equal (the expected value is a snapshot of the runner's).
 * 2. Mutating the runner's result leaves the waiter's intact, and mutating
 *    the body's own value after it returned changes nothing stored.
 * 3. A hit equals the snapshot; mutating the waiter's result and the hit,
 *    the next hit still equals it. The body ran once in all.
 */
const isolation = <A>(
  values: fc.Arbitrary<A>,
  state: Body<A>,
  cached: (key: number) => Effect.Effect<A, unknown, DataCache.DataCache>,
  numRuns: number
) =>
  withCache(async (run) => {
    let key = 0
    await fc.assert(
      fc.asyncProperty(values, plans, async (generated, [onRunner, onBody, onWaiter, onHit]) => {
        const k = key++
        // fast-check may replay a generated value: mutate only copies of it.
        const value = snapshot(generated)
        state.value = value
        state.runs = 0
        const log: Array<string> = []
        const [runner, waiter] = await run(Effect.all([cached(k), cached(k)], { concurrency: "unbounded" }))
        const expected = snapshot(runner)
        same(waiter, expected, "the waiter's result", log)
        applyAll(runner, onRunner, "runner's result:", log)
        same(waiter, expected, "the waiter's result, after the runner's was mutated,", log)
        applyAll(value, onBody, "body's value:", log)
        const hit = await run(cached(k))
        same(hit, expected, "a hit", log)
        applyAll(waiter, onWaiter, "waiter's result:", log)
        applyAll(hit, onHit, "first hit:", log)
        same(await run(cached(k)), expected, "a later hit", log)
        assert.strictEqual(state.runs, 1, "the body ran once")
      }),
      { seed, numRuns }
    )
  })

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

describe("DataCache.fn copy isolation", () => {
  it("plain data without a value schema: mutating any result or the body's value never reaches later results", async () => {
    const state: Body<typeof Plain.Type> = { value: undefined as never, runs: 0 }
    const cached = DataCache.fn("copyPlain", (key: number) => body(state, key))
    await isolation(fromSchema(Plain), state, cached, 150)
  })

  it("classes, Options, Dates and typed arrays with a value schema: same isolation, and hits are instances again", async () => {
    const state: Body<typeof Stations.Type> = { value: undefined as never, runs: 0 }
    const cached = DataCache.fn({ name: "copyStations", value: Stations }, (key: number) => body(state, key))
    await isolation(fromSchema(Stations, { maxLength: 3 }), state, cached, 100)
  })

  it("own __proto__ keys stay own keys and never become prototypes", async () => {
    const Record = Schema.Record(Schema.Union([Schema.Literal("__proto__"), Schema.String]), Schema.Array(Schema.Number))
    const ProtoKeys = Schema.Struct({ top: Record, list: Schema.Array(Record) })
    const state: Body<typeof ProtoKeys.Type> = { value: undefined as never, runs: 0 }
    const cached = DataCache.fn("copyProtoKeys", (key: number) => body(state, key))
    await isolation(fromSchema(ProtoKeys), state, cached, 50)
  })

  it("shared references, cycles and views of one buffer survive the copy and stay private", async () => {
    const shared = fc.tuple(fromSchema(Point), fc.array(fc.double(), { minLength: 1, maxLength: 4 }), fc.boolean(), fc.nat(3))
    const values = shared.map(([point, numbers, partFirst, offset]) => {
      const whole = Float64Array.from(numbers)
      const part = new Uint8Array(whole.buffer, offset, 4)
      const cycle: Record<string, unknown> = { point }
      cycle.self = cycle
      // Both orders: a partial view reached before or after the whole one.
      return partFirst
        ? { part, whole, first: point, again: point, list: [point, cycle], cycle }
        : { whole, part, first: point, again: point, list: [point, cycle], cycle }
    })
    const state: Body<unknown> = { value: undefined, runs: 0 }
    const cached = DataCache.fn("copyShared", (key: number) => body(state, key))
    await isolation(values, state, cached, 100)
  })

  it("values nested up to 100,000 deep are copied, and stay isolated", async () => {
    // Too deep for a generic snapshot and comparison per step: a known shape, checked by a loop.
    const build = (depth: number): unknown => {
      let value: unknown = { leaf: [depth] }
      for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { next: value }
      return value
    }
    /** The innermost `{ leaf }` of a value `build(depth)` made, or why the value is not that shape. */
    const leafOf = (value: unknown, depth: number): { leaf: Array<number> } | string => {
      let node = value
      for (let i = depth - 1; i >= 0; i--) {
        const level = depth - 1 - i
        if (i % 2 === 0) {
          if (!Array.isArray(node) || node.length !== 1) return `level ${level} is not a one-element array`
          node = node[0]
        } else {
          if (difference(Object.keys(node as object), ["next"]) !== undefined) return `level ${level} is not { next }`
          node = (node as { next: unknown }).next
        }
      }
      const leaf = node as { leaf: Array<number> }
      return difference(leaf, { leaf: [depth] }) === undefined ? leaf : `the leaf is ${JSON.stringify(leaf)}`
    }
    const state: Body<unknown> = { value: undefined, runs: 0 }
    const cached = DataCache.fn("copyDeep", (key: number) => body(state, key))
    await withCache(async (run) => {
      let key = 0
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), async (depth) => {
          const k = key++
          const value = build(depth)
          const bodyLeaf = leafOf(value, depth) as { leaf: Array<number> }
          state.value = value
          state.runs = 0
          const intact = (result: unknown, what: string) => {
            const leaf = leafOf(result, depth)
            if (typeof leaf === "string") throw new Error(`${what}, ${depth} deep: ${leaf}`)
            return leaf
          }
          const [runner, waiter] = await run(Effect.all([cached(k), cached(k)], { concurrency: "unbounded" }))
          intact(runner, "the runner's result").leaf.push(-1)
          intact(waiter, "the waiter's result, after the runner's leaf was changed").leaf.push(-2)
          bodyLeaf.leaf.push(-3)
          const hit = await run(cached(k))
          intact(hit, "a hit").leaf.length = 0
          intact(await run(cached(k)), "a later hit")
          assert.strictEqual(state.runs, 1)
        }),
        { seed, numRuns: 3, examples: [[100_000]] }
      )
    })
  })
})

// ---------------------------------------------------------------------------
// Effect's data types without a value schema
// ---------------------------------------------------------------------------

class Money extends Data.Class<{ readonly amount: number; readonly currency: string; readonly history: Array<number> }> {}

const MoneySchema = Schema.declare((u): u is Money => u instanceof Money, {
  [annotation]: () =>
    fc.record({ amount: fc.integer(), currency: fc.string({ maxLength: 3 }), history: fc.array(fc.integer()) }).map((f) => new Money(f))
})

/** What a value holds, with Effect's data types replaced by their contents, for {@link difference}. */
const contents = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map(contents)
  if (Equal.isEqual(value)) {
    if (Option.isOption(value)) return { Option: Option.isSome(value) ? contents(value.value) : "None" }
    if (Symbol.iterator in value) return { [kind(value)]: Array.from(value as Iterable<unknown>, contents) }
    return { [kind(value)]: JSON.stringify(value) }
  }
  const out = Object.create(Object.getPrototypeOf(value))
  for (const [k, v] of Object.entries(value)) out[k] = contents(v)
  return out
}

const EffectTypes = Schema.Struct({
  option: Schema.Option(Schema.Struct({ xs: Schema.Array(Schema.Number) })),
  chunk: Schema.Chunk(Schema.Number),
  map: Schema.HashMap(Schema.String, Schema.Number),
  at: Schema.DateTimeUtc,
  took: Schema.Duration,
  money: MoneySchema
})

describe("DataCache.fn with Effect's data types and no value schema", () => {
  it("Option, Chunk, HashMap, DateTime, Duration and Data.Class come back Equal and of their own type", async () => {
    const state: Body<typeof EffectTypes.Type> = { value: undefined as never, runs: 0 }
    const cached = DataCache.fn("copyEffectTypes", (key: number) => body(state, key))
    await withCache(async (run) => {
      let key = 0
      await fc.assert(
        fc.asyncProperty(fromSchema(EffectTypes, { maxLength: 3 }), fc.array(fc.integer(), { maxLength: 3 }), async (generated, pushed) => {
          const k = key++
          const value = snapshot(generated)
          state.value = value
          state.runs = 0
          const expected = snapshot(value)
          const check = (actual: typeof value, what: string) => {
            for (const field of Object.keys(expected) as Array<keyof typeof expected>) {
              const [a, e] = [actual[field], expected[field]]
              assert.strictEqual(Object.getPrototypeOf(a), Object.getPrototypeOf(e), `${what}: ${field} keeps its type`)
              // Equal caches its answers per pair of objects: compare with a fresh copy every time.
              assert.isTrue(Equal.equals(a, snapshot(e)), `${what}: ${field} is Equal to the original`)
              const problem = difference(contents(a), contents(e))
              if (problem !== undefined) throw new Error(`${what}: ${field} ${problem}`)
            }
          }
          // Immutable containers, mutable contents: a caller can still change those.
          const scribble = (result: typeof value) => {
            if (result.option._tag === "Some") (result.option.value.xs as Array<number>).push(...pushed, -1)
            ;(result.money.history as Array<number>).push(...pushed, -1)
          }
          const first = await run(cached(k))
          check(first, "the miss")
          scribble(first)
          const hit = await run(cached(k))
          check(hit, "a hit after the miss's contents were changed")
          scribble(hit)
          check(await run(cached(k)), "a hit after the first hit's contents were changed")
          assert.strictEqual(state.runs, 1)
        }),
        { seed, numRuns: 50 }
      )
    })
  })
})

// ---------------------------------------------------------------------------
// copy: "readonly"
// ---------------------------------------------------------------------------

describe('DataCache.fn with copy: "readonly"', () => {
  it("every caller gets one deep-frozen instance, and every mutation that would change it throws a TypeError", async () => {
    const state: Body<typeof Frozen.Type> = { value: undefined as never, runs: 0 }
    const cached = DataCache.fn({ name: "readonlyPlain", copy: "readonly" }, (key: number) => body(state, key))
    await withCache(async (run) => {
      let key = 0
      await fc.assert(
        fc.asyncProperty(fromSchema(Frozen), mutations, async (generated, plan) => {
          const k = key++
          // Readonly freezes in place: freeze a copy, never fast-check's own value.
          const value = snapshot(generated)
          state.value = value
          state.runs = 0
          const expected = snapshot(value)
          const [first, second] = await run(Effect.all([cached(k), cached(k)], { concurrency: "unbounded" }))
          assert.strictEqual(second, first, "one shared instance")
          for (const m of plan) {
            // The same mutation on an unfrozen copy tells whether it would change anything.
            const probe = snapshot(expected)
            mutate(probe, m)
            const wouldChange = difference(probe, expected) !== undefined
            const result = mutate(first, m)
            const leaked = difference(first, expected)
            if (leaked !== undefined) throw new Error(`${result.description} changed the shared value ${leaked}`)
            if (wouldChange && !(result.threw instanceof TypeError)) {
              throw new Error(`${result.description} would change the value but did not throw a TypeError (threw ${String(result.threw)})`)
            }
          }
          const later = await run(cached(k))
          assert.strictEqual(later, first, "a later hit is the same instance")
          same(later, expected, "a later hit", [])
          assert.strictEqual(state.runs, 1)
        }),
        { seed, numRuns: 150 }
      )
    })
  })
})
