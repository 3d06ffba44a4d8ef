/**
 * Values through DataCache.fn end to end: what a cached function may return
 * without a `value` schema, and what every caller gets back.
 */

import { inspect, isDeepStrictEqual } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ValueCodec } from "@recall/core"
import {
  Cause,
  Chunk,
  Data,
  DateTime,
  Duration,
  Effect,
  Equal,
  Exit,
  Hash,
  HashMap,
  HashSet,
  Option,
  Redacted,
  Result,
  Schema
} from "effect"

const withCache = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>) => Effect.provide(effect, DataCache.layerMemory())

/** A body that counts its runs. */
const counting = <A>(make: () => A) => {
  let runs = 0
  return {
    runs: () => runs,
    run: () =>
      Effect.sync(() => {
        runs++
        return make()
      })
  }
}

/**
 * Three concurrent calls that fail, then one more: every caller's error, and
 * how often the later call ran the body (1 when nothing was stored).
 */
const failingCalls = <E>(f: () => Effect.Effect<unknown, E, DataCache.DataCache>, body: { readonly runs: () => number }) =>
  Effect.gen(function* () {
    const errors = yield* Effect.all(
      Array.from({ length: 3 }, () => Effect.flip(f())),
      { concurrency: "unbounded" }
    )
    const before = body.runs()
    const later = yield* Effect.flip(f())
    return { errors: [...errors, later], laterRuns: body.runs() - before }
  })

/** Five concurrent calls, then one more. */
const callers = <A, E, R>(call: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const first = yield* Effect.all(
      Array.from({ length: 5 }, () => call),
      { concurrency: "unbounded" }
    )
    return [...first, yield* call]
  })

/** `{ next: { next: ... { leaf } } }`, `depth` levels, built without recursion. */
const nested = (depth: number, leaf: unknown): { next?: unknown; leaf?: unknown } => {
  let value: { next?: unknown; leaf?: unknown } = { leaf }
  for (let i = 0; i < depth; i++) value = { next: value }
  return value
}

describe("DataCache values", () => {
  describe("own keys", () => {
    it.effect("a value with an own __proto__ key is stored once and every caller gets the key as an own property", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting(() => JSON.parse('{"__proto__": {"x": 1}, "a": 1}'))
          const f = DataCache.fn("parsed", body.run)
          for (const value of yield* callers(f())) {
            assert.strictEqual(Object.getPrototypeOf(value), Object.prototype)
            assert.isTrue(Object.hasOwn(value, "__proto__"))
            assert.deepStrictEqual(Object.getOwnPropertyDescriptor(value, "__proto__")?.value, { x: 1 })
            assert.strictEqual(value.a, 1)
          }
          assert.strictEqual(body.runs(), 1)
        })
      )
    )
  })

  describe("what plain data holds besides its elements and fields", () => {
    it.effect("array fields, holes and symbol-keyed fields reach the miss and every hit alike", () =>
      withCache(
        Effect.gen(function* () {
          const tenant = Symbol.for("tenant")
          const make = () => ({
            // biome-ignore lint/suspicious/noSparseArray: the hole is the point
            sparse: [1, , 3],
            page: Object.assign([{ id: 1 }], { total: 10, next: { offset: 1 } }),
            match: /(?<n>\d+)/.exec("page 42")!,
            [tenant]: { name: "acme" }
          })
          const body = counting(make)
          const f = DataCache.fn("extras", body.run)
          const values = yield* callers(f())
          assert.strictEqual(body.runs(), 1)
          for (const value of values) {
            assert.isTrue(isDeepStrictEqual(value, make()), inspect(value))
            assert.isFalse(1 in value.sparse)
            assert.strictEqual(value.page.total, 10)
            assert.strictEqual(value.match.index, 5)
            assert.strictEqual(value.match.groups?.n, "42")
            assert.strictEqual(value[tenant].name, "acme")
          }
          values[0]!.page.next.offset = 99
          values[0]![tenant].name = "mutated"
          const again = yield* f()
          assert.strictEqual(again.page.next.offset, 1)
          assert.strictEqual(again[tenant].name, "acme")
        })
      )
    )

    it.effect(
      "an instance of a subclass of Map or Array fails every caller with UnserializableValueError, never comes back as a plain one",
      () =>
        withCache(
          Effect.gen(function* () {
            class Weights extends Map<string, number> {
              readonly unit = "kg"
            }
            class Rows extends Array<number> {}
            const cases: Array<readonly [string, () => unknown, string]> = [
              ["weights", () => new Weights([["a", 1]]), "returned an instance of Weights, which DataCache cannot copy (it extends Map"],
              ["rows", () => ({ rows: Rows.from([1]) }), 'an instance of Rows at value → field "rows" (it extends Array']
            ]
            for (const [name, make, phrase] of cases) {
              const body = counting(make)
              const f = DataCache.fn(name, body.run)
              // Nothing was stored: a later call runs the body again, and fails the same way.
              const { errors, laterRuns } = yield* failingCalls(f, body)
              for (const error of errors) {
                assert.instanceOf(error, ValueCodec.UnserializableValueError)
                assert.include(error.message, phrase)
              }
              assert.strictEqual(laterRuns, 1)
            }
          })
        )
    )
  })

  describe("sparse arrays", () => {
    it.effect("cost their elements, not their length: one element at index 2 ** 32 - 2, on a miss and on hits", () =>
      withCache(
        Effect.gen(function* () {
          const f = DataCache.fn("sparse", () =>
            Effect.sync(() => {
              const a: Array<number> = []
              a[2 ** 32 - 2] = 7
              return a
            })
          )
          for (const call of ["miss", "hit", "hit"]) {
            const value = yield* f()
            assert.strictEqual(value.length, 2 ** 32 - 1, call)
            assert.strictEqual(value[2 ** 32 - 2], 7, call)
            assert.isFalse(0 in value, `${call}: holes stay holes`)
          }
        })
      )
    )
  })

  describe("typed arrays", () => {
    it.effect("views that share a buffer share one copied buffer on every call", () =>
      withCache(
        Effect.gen(function* () {
          const f = DataCache.fn("views", () =>
            Effect.sync(() => {
              const buffer = new ArrayBuffer(16)
              return { part: new Uint8Array(buffer, 4, 4), floats: new Float64Array(buffer, 8, 1), all: new Uint8Array(buffer) }
            })
          )
          yield* f()
          const a = yield* f()
          const b = yield* f()
          assert.strictEqual(a.part.buffer, a.all.buffer)
          assert.strictEqual(a.floats.buffer, a.all.buffer)
          assert.notStrictEqual(a.all.buffer, b.all.buffer)
          a.part[0] = 1
          assert.strictEqual(a.all[4], 1)
          assert.strictEqual(b.all[4], 0)
        })
      )
    )
  })

  describe("deep values", () => {
    it.effect("a value nested 100,000 deep is computed once for five concurrent callers and returned to each", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting(() => nested(100_000, "bottom"))
          const f = DataCache.fn("deep", body.run)
          const values = yield* callers(f())
          assert.strictEqual(body.runs(), 1)
          for (const value of values) {
            let at: any = value
            while (at.next !== undefined) at = at.next
            assert.strictEqual(at.leaf, "bottom")
          }
        })
      )
    )

    it.effect("an uncopyable part 100,000 deep fails every caller with UnserializableValueError", () =>
      withCache(
        Effect.gen(function* () {
          const f = DataCache.fn("deepFunction", () => Effect.succeed(nested(100_000, () => 1)))
          const errors = yield* Effect.all(
            Array.from({ length: 5 }, () => Effect.flip(f())),
            { concurrency: "unbounded" }
          )
          for (const error of errors) assert.instanceOf(error, ValueCodec.UnserializableValueError)
        })
      )
    )
  })

  // Found by an outside trial: a body returning an Exit (`.pipe(Effect.exit)`) was told to "yield* it in the body",
  // which undoes what it meant to do.
  it.effect("a returned Exit or Cause is refused with the way to keep it: a value schema, or a Result", () =>
    withCache(
      Effect.gen(function* () {
        const exits = DataCache.fn("returnsExit", (n: number) => Effect.exit(n > 0 ? Effect.succeed(n) : Effect.fail("none")))
        const causes = DataCache.fn("returnsCause", (n: number) => Effect.succeed(Cause.fail(`bad ${n}`)))
        const attempts: ReadonlyArray<Effect.Effect<unknown, ValueCodec.UnserializableValueError, DataCache.DataCache>> = [
          exits(1),
          exits(0),
          causes(1)
        ]
        for (const attempt of attempts) {
          const error = yield* Effect.flip(attempt)
          assert.instanceOf(error, ValueCodec.UnserializableValueError)
          assert.include(error.message, "give a value schema, value: Schema.")
        }
        // With the schema it names, an Exit is kept.
        const kept = DataCache.fn({ name: "keepsExit", value: Schema.Exit(Schema.Number, Schema.String, Schema.Defect()) }, (n: number) =>
          Effect.exit(n > 0 ? Effect.succeed(n) : Effect.fail("none"))
        )
        assert.isTrue(Exit.isSuccess(yield* kept(1)))
        assert.deepStrictEqual(yield* kept(1), Exit.succeed(1))
      })
    )
  )

  describe("value schema", () => {
    class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number, at: Schema.Date }) {}

    it.effect("the caller that ran the body gets the decoded value, as a hit does", () =>
      withCache(
        Effect.gen(function* () {
          const Value = Schema.Struct({ trip: Trip })
          const f = DataCache.fn({ name: "decoded", value: Value }, () =>
            Effect.succeed({ trip: new Trip({ id: 1, at: new Date(0) }), extra: "not in the schema" })
          )
          const miss = yield* f()
          const hit = yield* f()
          assert.deepStrictEqual(miss, hit)
          assert.instanceOf(miss.trip, Trip)
          assert.isFalse("extra" in miss)
        })
      )
    )

    it.effect("a union whose members' encodings overlap fails every caller rather than return a value of another type", () =>
      withCache(
        Effect.gen(function* () {
          const cases = [
            ["bigintOrString", Schema.Union([Schema.BigInt, Schema.String]), "1", 'returned a string ("1")'],
            ["dateOrString", Schema.Union([Schema.Date, Schema.String]), "1970-01-01T00:00:00.000Z", "gives a Date"],
            ["numberOrString", Schema.Union([Schema.Number, Schema.String]), "NaN", "gives a number (NaN)"]
          ] as const
          for (const [name, schema, value, phrase] of cases) {
            const body = counting(() => value)
            const f = DataCache.fn({ name, value: schema as Schema.Codec<unknown, unknown> }, body.run)
            const { errors, laterRuns } = yield* failingCalls(f, body)
            for (const error of errors) {
              assert.instanceOf(error, ValueCodec.UnserializableValueError)
              assert.include(error.message, `${name} returned a value that does not match its \`value\` schema`)
              assert.include(error.message, phrase)
            }
            // Nothing was stored.
            assert.strictEqual(laterRuns, 1)
          }
        })
      )
    )

    it.effect("values a union gives back as they were: the miss, the waiters and the hits all get the body's value", () =>
      withCache(
        Effect.gen(function* () {
          const Code = Schema.Union([Schema.BigInt, Schema.String])
          const Shape = Schema.Union([
            Schema.TaggedStruct("Id", { value: Schema.BigInt }),
            Schema.TaggedStruct("Label", { value: Schema.String })
          ])
          const Value = Schema.Struct({ codes: Schema.Array(Code), shape: Shape, at: Schema.Union([Schema.Date, Schema.Number]) })
          const make = () => ({ codes: [1n, "x"], shape: { _tag: "Label" as const, value: "1" }, at: new Date(0) })
          const body = counting(make)
          const f = DataCache.fn({ name: "roundTrips", value: Value }, body.run)
          for (const value of yield* callers(f())) assert.deepStrictEqual(value, make())
          assert.strictEqual(body.runs(), 1)
        })
      )
    )
  })

  describe("errors", () => {
    it.effect("name the uncopyable part in plain English", () =>
      withCache(
        Effect.gen(function* () {
          class Socket {
            readonly fd = 3
          }
          const cases: Array<readonly [string, unknown, string]> = [
            ["socket", new Socket(), "returned an instance of Socket"],
            ["error", new Error("e"), "returned an instance of Error"],
            ["proto", Object.create({ x: 1 }), "returned an object with a custom prototype"],
            ["send", () => 1, "returned a function"]
          ]
          for (const [name, value, phrase] of cases) {
            const f = DataCache.fn(name, () => Effect.succeed(value))
            const error = yield* Effect.flip(f())
            assert.instanceOf(error, ValueCodec.UnserializableValueError)
            assert.include(error.message, `${name} ${phrase}`)
            assert.notMatch(error.message, /\ba (Object|Error|Socket)\b/)
          }
        })
      )
    )
  })

  describe("Effect data types without a schema", () => {
    class Person extends Data.Class<{ readonly name: string; readonly tags: Array<string> }> {}
    class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number }) {}

    it.effect("come back as themselves, equal to what the body returned, and private to each caller", () =>
      withCache(
        Effect.gen(function* () {
          const make = () => ({
            option: Option.some({ list: [1] }),
            result: Result.succeed(1),
            chunk: Chunk.make([1], [2]),
            map: HashMap.make(["a", [1]]),
            set: HashSet.make("x"),
            utc: DateTime.makeUnsafe(0),
            zoned: DateTime.makeZonedUnsafe(0, { timeZone: "Asia/Tokyo" }),
            duration: Duration.minutes(5),
            person: new Person({ name: "ada", tags: [] }),
            trip: new Trip({ id: 1 })
          })
          const body = counting(make)
          const f = DataCache.fn("effectTypes", body.run)
          const [miss, hit, again] = [yield* f(), yield* f(), yield* f()]
          assert.strictEqual(body.runs(), 1)
          assert.isTrue(Equal.equals(hit, make()))
          assert.isTrue(Equal.equals(miss, hit))
          assert.instanceOf(hit.person, Person)
          assert.instanceOf(hit.trip, Trip)
          assert.strictEqual(DateTime.zoneToString((hit.zoned as DateTime.Zoned).zone), "Asia/Tokyo")
          Option.getOrThrow(hit.option).list.push(2)
          hit.person.tags.push("mutated")
          assert.deepStrictEqual(Option.getOrThrow(again.option).list, [1])
          assert.deepStrictEqual(again.person.tags, [])
        })
      )
    )

    it.effect("a Redacted comes back as a Redacted of a private copy of its value, never printed", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting(() => ({ key: Redacted.make({ token: "alice-token", scopes: ["read"] }, { label: "api" }) }))
          const f = DataCache.fn("secret", body.run)
          const [hit, again] = [yield* f(), yield* f()]
          assert.isTrue(Redacted.isRedacted(hit.key))
          assert.strictEqual(String(hit.key), "<redacted:api>")
          assert.isTrue(Equal.equals(hit.key, again.key))
          Redacted.value(hit.key).scopes.push("write")
          assert.deepStrictEqual(Redacted.value(again.key).scopes, ["read"])
          assert.deepStrictEqual(Redacted.value((yield* f()).key).scopes, ["read"])
        })
      )
    )

    it.effect("a class whose Equal recall cannot see (#private state) is refused as a value, saying why", () =>
      withCache(
        Effect.gen(function* () {
          class Money implements Equal.Equal {
            readonly #cents: number
            constructor(cents: number) {
              this.#cents = cents
            }
            [Equal.symbol](that: unknown): boolean {
              return that instanceof Money && that.#cents === this.#cents
            }
            [Hash.symbol](): number {
              return Hash.number(this.#cents)
            }
          }
          class Overrides extends Data.Class<{ readonly id: number }> {
            [Equal.symbol](that: unknown): boolean {
              return that instanceof Overrides && that.id === this.id
            }
            [Hash.symbol](): number {
              return Hash.number(this.id)
            }
          }
          for (const value of [new Money(1), new Overrides({ id: 1 })]) {
            const error = yield* Effect.flip(DataCache.fn("money", () => Effect.succeed({ value }))())
            assert.instanceOf(error, ValueCodec.UnserializableValueError)
            assert.include(error.message, "implements Equal")
          }
        })
      )
    )

    it.effect("with a value schema, every hit is a fresh copy of the decoded value", () =>
      withCache(
        Effect.gen(function* () {
          class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number, at: Schema.Date, tags: Schema.Array(Schema.String) }) {}
          const body = counting(() => [new Trip({ id: 1, at: new Date(0), tags: ["a"] })])
          const f = DataCache.fn({ name: "trips", value: Schema.Array(Trip) }, body.run)
          const [miss, hit, again] = [yield* f(), yield* f(), yield* f()]
          assert.strictEqual(body.runs(), 1)
          for (const trips of [miss, hit, again]) assert.instanceOf(trips[0], Trip)
          assert.notStrictEqual(hit[0], again[0])
          assert.notStrictEqual(hit[0]!.at, again[0]!.at)
          ;(hit[0]!.tags as Array<string>).push("mutated")
          hit[0]!.at.setTime(5)
          ;(miss[0]!.tags as Array<string>).push("mutated too")
          const next = yield* f()
          assert.deepStrictEqual(next[0]!.tags, ["a"])
          assert.strictEqual(next[0]!.at.getTime(), 0)
        })
      )
    )

    it.effect("an Effect error class is still refused, with a clear message", () =>
      withCache(
        Effect.gen(function* () {
          class Boom extends Data.TaggedError("Boom")<{}> {}
          const f = DataCache.fn("boom", () => Effect.succeed({ error: new Boom() }))
          const error = yield* Effect.flip(f())
          assert.instanceOf(error, ValueCodec.UnserializableValueError)
          assert.include(error.message, "Boom")
        })
      )
    )
  })
})
