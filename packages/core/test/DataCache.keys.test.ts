/**
 * End-to-end tests of cache keys through `DataCache.fn`: every call whose
 * arguments differ gets its own entry (a shared key would return another
 * call's value), equal arguments share one, and arguments that cannot be
 * keyed fail with `UnhashableParamError` instead of leaving the key.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, Hasher, ResourceCache } from "@recall/core"
import {
  Cause,
  Context,
  Data,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Equal,
  Exit,
  Fiber,
  Hash,
  Option,
  PubSub,
  Redacted,
  Ref,
  Schema,
  SchemaGetter,
  Scope
} from "effect"
import { summarize } from "../src/internal/summary.ts"
import { bitFlips, identify, knownCollisions, nearValues } from "./fixtures/nearValues.ts"
import { captureLogs, makeHarness } from "./fixtures/storeHarness.ts"

const withCache = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>) => Effect.provide(effect, DataCache.layerMemory())

/** A body that counts its runs. */
const counting = () => {
  let runs = 0
  return {
    runs: () => runs,
    run: <A>(value: A) =>
      Effect.sync(() => {
        runs++
        return value
      })
  }
}

/** A NaN whose payload bits differ from `Number.NaN`'s. */
const otherNaN = (() => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, Number.NaN)
  view.setUint32(4, view.getUint32(4) | 0xbeef)
  return view.getFloat64(0)
})()

describe("DataCache keys", () => {
  describe("every different argument gets its own entry", () => {
    it.effect("the values the old hash put on one key", () =>
      withCache(
        Effect.gen(function* () {
          const first = DataCache.fn("first", (xs: Float64Array) => Effect.succeed(xs[0]))
          assert.strictEqual(yield* first(new Float64Array([1, 2, 3, 4])), 1)
          assert.strictEqual(yield* first(new Float64Array([-(1 + 2 ** -21), 2, 3, 4])), -(1 + 2 ** -21))
          const id = DataCache.fn("id", (x: unknown) => Effect.succeed(identify(x)))
          for (const pair of knownCollisions) {
            for (const value of pair) assert.strictEqual(yield* id(value), identify(value))
          }
        })
      )
    )

    // it.live: this takes more than a second, which TestClock warns about.
    it.live("a corpus of near values: bit flips, sign flips, zero buffers of every length, strings one character apart", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const values = nearValues()
          // Each value alone, in an array, in an object and next to another
          // argument: the key takes a different path for each shape.
          const shapes = [
            DataCache.fn("alone", (x: unknown) => body.run(identify(x))),
            DataCache.fn("inArray", (xs: ReadonlyArray<unknown>) => body.run(identify(xs[0]))),
            DataCache.fn("inObject", (o: { readonly x: unknown }) => body.run(identify(o.x))),
            DataCache.fn("withNumber", (x: unknown, _n: number) => body.run(identify(x)))
          ] as const
          const calls = [
            (x: unknown) => shapes[0](x),
            (x: unknown) => shapes[1]([x]),
            (x: unknown) => shapes[2]({ x }),
            (x: unknown) => shapes[3](x, 1)
          ]
          for (const call of calls) {
            for (const value of values) assert.strictEqual(yield* call(value), identify(value))
          }
          assert.strictEqual(body.runs(), values.length * calls.length)
          for (const call of calls) {
            for (const value of values) assert.strictEqual(yield* call(value), identify(value))
          }
          assert.strictEqual(body.runs(), values.length * calls.length, "the second round hits")
        })
      )
    )

    // it.live: this takes more than a second, which TestClock warns about.
    it.live("large buffers one or two bits apart", () =>
      withCache(
        Effect.gen(function* () {
          const id = DataCache.fn("id", (x: Uint8Array) => Effect.succeed(identify(x)))
          for (const value of bitFlips(4096, 61)) assert.strictEqual(yield* id(value), identify(value))
          // 16 MiB and an odd tail, with flips at the ends and at block and
          // stripe boundaries. The label is not part of the key (a `_` field):
          // a key shared with another flip would return that flip's label.
          const size = (16 << 20) + 3
          const data = new Uint8Array(size)
          const label = DataCache.fn("label", ({ _label }: { data: Uint8Array; _label: string }) => Effect.succeed(_label))
          const positions = [0, 1, 7, 8, 31, 32, 63, 64, 511, 512, 1023, 1024, 8191, 8192, 4 * size, 8 * size - 33, 8 * size - 1]
          const flips = [[], ...positions.map((bit) => [bit]), ...positions.slice(0, -2).map((bit) => [bit, bit + 32])]
          for (const bits of flips) {
            for (const bit of bits) data[bit >>> 3]! ^= 1 << (bit & 7)
            assert.strictEqual(yield* label({ data, _label: bits.join(",") }), bits.join(","))
            for (const bit of bits) data[bit >>> 3]! ^= 1 << (bit & 7)
          }
        })
      )
    )

    it.effect("distinct types, whichever path their key takes", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const f = DataCache.fn("f", (x: unknown) => body.run(x))
          const values = [
            1,
            "1",
            1n,
            true,
            null,
            [1],
            ["1"],
            { 0: 1 },
            [null],
            [undefined],
            [[]],
            [{}],
            {},
            [],
            { a: undefined },
            { a: null },
            new Set([1]),
            new Map([[0, 1]]),
            new Date(1),
            [new Date(1)],
            "[1]",
            "p",
            "=",
            "#",
            Number.NaN,
            [Number.NaN],
            Number.POSITIVE_INFINITY,
            [Number.POSITIVE_INFINITY]
          ]
          for (const value of values) yield* f(value)
          assert.strictEqual(body.runs(), values.length)
          for (const value of values) yield* f(value)
          assert.strictEqual(body.runs(), values.length, "each value hits its own entry")
        })
      )
    )
  })

  describe("no argument takes another value's key through toJSON or a second read", () => {
    /** A cached function that returns the `_label` it was called with: a key shared with another call shows as that call's label. */
    const labelled = () => {
      const body = counting()
      const f = DataCache.fn("labelled", ({ _label }: { readonly _label: string }) => body.run(_label))
      return { f, runs: body.runs }
    }

    it.effect("an array whose toJSON returns something else never shares the key of what toJSON returns", () =>
      withCache(
        Effect.gen(function* () {
          const { f } = labelled()
          let calls = 0
          const toJSON = () => {
            calls++
            return "x"
          }
          class Tagged extends Array<number> {
            toJSON() {
              return toJSON()
            }
          }
          assert.strictEqual(yield* f({ v: "x", _label: "the string" } as never), "the string")
          // An own toJSON is a function field, and an Array subclass a class instance: neither can be hashed.
          for (const value of [Object.assign([1, 2], { toJSON }), Tagged.from([3, 4])]) {
            const error = yield* Effect.flip(f({ v: value, _label: "never" } as never))
            assert.instanceOf(error, Hasher.UnhashableParamError)
          }
          const hidden = Object.defineProperty({ id: 1 }, "toJSON", { value: toJSON, enumerable: false })
          assert.strictEqual(yield* f({ v: hidden, _label: "object with a hidden toJSON" } as never), "object with a hidden toJSON")
          assert.strictEqual(
            yield* f({ v: { id: 1 }, _label: "plain" } as never),
            "object with a hidden toJSON",
            "non-enumerable fields are not data"
          )
          assert.strictEqual(calls, 0, "toJSON is never called")
        })
      )
    )

    it.effect("a toJSON on Object.prototype or Array.prototype does not make arguments share a key", () =>
      withCache(
        Effect.gen(function* () {
          const { f } = labelled()
          for (const prototype of [Object.prototype, Array.prototype] as ReadonlyArray<{ toJSON?: unknown }>) {
            prototype.toJSON = () => "polluted"
            try {
              const label = prototype === Object.prototype ? "Object" : "Array"
              assert.strictEqual(yield* f({ id: label, list: [1], _label: `${label} 1` } as never), `${label} 1`)
              assert.strictEqual(yield* f({ id: label, list: [2], _label: `${label} 2` } as never), `${label} 2`)
              assert.strictEqual(yield* f({ id: label, list: [1], _label: "again" } as never), `${label} 1`)
            } finally {
              delete prototype.toJSON
            }
          }
        })
      )
    )

    it.effect("each field is read once: a getter or Proxy that answers differently the next time cannot share another value's key", () =>
      withCache(
        Effect.gen(function* () {
          const { f } = labelled()
          assert.strictEqual(yield* f({ x: null, _label: "null" } as never), "null")
          assert.strictEqual(yield* f({ _label: "empty" } as never), "empty")
          assert.strictEqual(yield* f({ v: [null], _label: "[null]" } as never), "[null]")
          /** `first` on the first read, then `next`. */
          const onceThen = (first: number, next: unknown) => {
            let reads = 0
            return () => (reads++ === 0 ? first : next)
          }
          const nanLater = onceThen(1, Number.NaN)
          const undefinedLater = onceThen(2, undefined)
          const getter = {
            get x() {
              return nanLater()
            },
            _label: "getter"
          }
          const proxy = new Proxy(
            { x: 1, _label: "proxy" },
            { get: (target, key) => (key === "x" ? undefinedLater() : target[key as "x"]) }
          )
          const element = Object.defineProperty([0], 0, { get: onceThen(3, Number.NaN), enumerable: true })
          assert.strictEqual(yield* f(getter as never), "getter")
          assert.strictEqual(yield* f(proxy as never), "proxy")
          assert.strictEqual(yield* f({ v: element, _label: "element getter" } as never), "element getter")
          // Each answered otherwise when the computation ended (its arguments changed): nothing was kept under either key.
          assert.strictEqual(yield* f({ x: 1, _label: "x: 1" } as never), "x: 1", "no other value under the key of what was read: 1")
          assert.strictEqual(yield* f({ x: 2, _label: "x: 2" } as never), "x: 2", "no other value under the key of what was read: 2")
          assert.strictEqual(yield* f({ v: [3], _label: "[3]" } as never), "[3]")
        })
      )
    )

    it.effect("a key reads each field once, at the top level and below (and a miss once more, when its body ended)", () =>
      withCache(
        Effect.gen(function* () {
          let reads = 0
          const counted = () => ({
            get x() {
              reads++
              return 1
            }
          })
          const f = DataCache.fn("f", (a: unknown, b?: unknown) => Effect.succeed([a, b].length))
          for (const args of [[counted()], [{ inner: counted() }], [[counted()]], [1, { a: [counted()] }]]) {
            reads = 0
            yield* f(...(args as [unknown]))
            assert.strictEqual(reads, 2, `${JSON.stringify(args)}: its key, then the check that the arguments did not change`)
            reads = 0
            yield* f(...(args as [unknown]))
            assert.strictEqual(reads, 1, `${JSON.stringify(args)}: a hit reads them once`)
          }
          const hasher = Hasher.structural()
          for (const value of [counted(), { at: new Date(0), inner: counted() }, new Map([[1, counted()]])]) {
            reads = 0
            hasher.hashUnsafe(value)
            assert.strictEqual(reads, 1)
          }
        })
      )
    )
  })

  describe("arguments with shared parts", () => {
    it.effect("are keyed in time linear in their distinct objects, and equal whatever they share", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const f = DataCache.fn("f", (x: unknown) => body.run(typeof x))
          let reads = 0
          const leaf = {
            get v() {
              if (++reads > 10_000) throw new Error("read more than 10,000 times")
              return 1
            }
          }
          let dag: unknown = leaf
          for (let i = 0; i < 40; i++) dag = { l: dag, r: dag }
          yield* f(dag)
          yield* f(dag)
          assert.strictEqual(body.runs(), 1)
          const part = () => ({ rows: Array.from({ length: 60 }, (_, i) => ({ i, name: `row ${i}` })), at: new Date(0) })
          const shared = part()
          yield* f({ a: shared, b: [shared] })
          yield* f({ a: part(), b: [part()] })
          assert.strictEqual(body.runs(), 2, "one entry for equal values, shared or not")
          const other = part()
          other.rows[0]!.i = -1
          yield* f({ a: shared, b: [other] })
          assert.strictEqual(body.runs(), 3)
        })
      )
    )
  })

  describe("equal arguments share one entry", () => {
    it.effect("object keys in any order, destructured `_` fields left out; invalidate finds the entry", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const f = DataCache.fn(
            "f",
            ({ _trace, _http, ...q }: { readonly _trace?: string; readonly _http?: unknown; readonly [k: string]: unknown }) =>
              body.run(JSON.stringify(q))
          )
          yield* f({ city: "Oslo", year: 2024 })
          yield* f({ year: 2024, city: "Oslo" })
          yield* f({ year: 2024, city: "Oslo", _trace: "a" })
          yield* f({ 10: "a", 9: "b", z: [{ y: 1, x: 2 }] })
          yield* f({ z: [{ x: 2, y: 1 }], 9: "b", 10: "a" })
          yield* f({ at: new Date(0), b: 1, a: 2 })
          yield* f({ a: 2, b: 1, at: new Date(0), _http: { get: () => 1 } })
          assert.strictEqual(body.runs(), 3)
          yield* f.invalidate({ year: 2024, city: "Oslo" })
          yield* f({ city: "Oslo", year: 2024 })
          assert.strictEqual(body.runs(), 4)
        })
      )
    )

    it.effect("every NaN is one key, at the top level and inside arrays, objects and Maps; 0 and -0 are two", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const f = DataCache.fn("f", (x: unknown) => body.run(String(x)))
          for (const wrap of [(x: number) => x, (x: number) => [x], (x: number) => ({ x }), (x: number) => new Map([[1, x]])]) {
            yield* f(wrap(Number.NaN))
            yield* f(wrap(otherNaN))
          }
          assert.strictEqual(body.runs(), 4)
          // 0 and -0 are two keys (a body can tell them apart), as arguments, in JSON-like values and in others.
          const sign = DataCache.fn("sign", (x: unknown) => Effect.sync(() => JSON.stringify(x, (_, v) => (Object.is(v, -0) ? "-0" : v))))
          for (const [zero, negative] of [
            [0, -0],
            [
              [0, { x: 0 }],
              [-0, { x: -0 }]
            ],
            [new Date(0), new Date(0)],
            [
              { at: new Date(0), x: 0 },
              { at: new Date(0), x: -0 }
            ],
            [Option.some(0), Option.some(-0)]
          ] as const) {
            const a = yield* sign(zero)
            const b = yield* sign(negative)
            const a2 = yield* sign(zero)
            assert.strictEqual(a2, a)
            if (zero instanceof Date) assert.strictEqual(b, a)
            else assert.notStrictEqual(b, a, `${a} and its -0 twin`)
          }
          const inverse = DataCache.fn("inverse", (x: number) => Effect.succeed(1 / x))
          assert.strictEqual(yield* inverse(0), Infinity)
          assert.strictEqual(yield* inverse(-0), -Infinity)
        })
      )
    )

    it.effect("a destructured `_` field is never read for the key", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          let reads = 0
          const f = DataCache.fn("f", ({ url, _conn }: { url: string; _conn?: unknown; at?: Date }) => body.run(`${url} ${typeof _conn}`))
          const sealed = (extra: object) =>
            Object.defineProperty({ url: "u", ...extra }, "_conn", {
              get: () => {
                reads++
                return "a connection"
              },
              enumerable: true
            })
          yield* f(sealed({}))
          yield* f(sealed({ at: new Date(0) }))
          yield* f({ url: "u" })
          yield* f({ url: "u", at: new Date(0) })
          yield* f(sealed({ at: new Date(0) }))
          assert.strictEqual(body.runs(), 2)
          assert.strictEqual(reads, 2, "only the body read it, on its two runs")
        })
      )
    )
  })

  describe("no argument leaves the key silently", () => {
    it.effect("fields keyed by registered symbols count; other symbol keys fail, naming the field", () =>
      withCache(
        Effect.gen(function* () {
          const tenant = Symbol.for("recall.test.tenant")
          const report = DataCache.fn("report", (q: { readonly [tenant]: string; readonly id: number }) =>
            Effect.succeed(`${q[tenant]}:${q.id}`)
          )
          assert.strictEqual(yield* report({ [tenant]: "acme", id: 1 }), "acme:1")
          assert.strictEqual(yield* report({ [tenant]: "globex", id: 1 }), "globex:1")
          const local = Symbol("tenant")
          const g = DataCache.fn("g", (q: object) => Effect.succeed(Object.keys(q).length))
          const error = yield* Effect.flip(g({ [local]: "acme", id: 1 }))
          assert.instanceOf(error, Hasher.UnhashableParamError)
          assert.strictEqual(error.argument, "argument 0 → field [Symbol(tenant)]")
          assert.include(error.message, "Symbol.for")
        })
      )
    )

    it.effect("a Struct key on a function of two arguments fails instead of dropping the second", () =>
      withCache(
        Effect.gen(function* () {
          // The types reject this definition; at run time it must fail too.
          const page = DataCache.fn({ name: "page", key: Schema.Struct({ city: Schema.String }) }, (q: { city: string }) =>
            Effect.succeed(`${q.city} page 1`)
          )
          const untyped = page as unknown as (...args: ReadonlyArray<unknown>) => ReturnType<typeof page>
          assert.strictEqual(yield* untyped({ city: "Oslo" }, undefined), "Oslo page 1", "trailing undefined is dropped")
          const error = yield* Effect.flip(untyped({ city: "Oslo" }, 2))
          assert.instanceOf(error, Hasher.UnhashableParamError)
          assert.strictEqual(error.reason, "schema")
          assert.include(error.message, "describes 1 argument, but the call has 2")
          assert.include(error.message, "Schema.Tuple([...])")
          assert.notInclude(error.message, "Hasher.by")
        })
      )
    )

    it.effect("a Tuple key whose length does not match the arguments fails", () =>
      withCache(
        Effect.gen(function* () {
          const sum = DataCache.fn({ name: "sum", key: Schema.Tuple([Schema.Number]) }, (a: number) => Effect.succeed(a))
          const untyped = sum as unknown as (...args: ReadonlyArray<unknown>) => ReturnType<typeof sum>
          assert.strictEqual(yield* untyped(1), 1)
          const long = yield* Effect.flip(untyped(1, 2))
          assert.instanceOf(long, Hasher.UnhashableParamError)
          assert.include(long.message, "describes 1 argument, but the call has 2")
          const pair = DataCache.fn({ name: "pair", key: Schema.Tuple([Schema.Number, Schema.Number]) }, (a: number, b: number) =>
            Effect.succeed(a + b)
          )
          const short = yield* Effect.flip((pair as unknown as typeof untyped)(1))
          assert.instanceOf(short, Hasher.UnhashableParamError)
          assert.strictEqual(short.reason, "schema")
        })
      )
    )
  })

  describe("bad input fails with UnhashableParamError", () => {
    it.effect("a throwing getter, a Proxy whose trap throws, a revoked Proxy, a throwing Hasher.by; the next call is right", () =>
      withCache(
        Effect.gen(function* () {
          class Model {
            readonly id = "m"
          }
          const body = counting()
          const f = DataCache.fn(
            {
              name: "f",
              hashers: [
                Hasher.by(Model, () => {
                  throw new Error("no id")
                })
              ]
            },
            (x: unknown, y?: unknown) => body.run(typeof x + typeof y)
          )
          const { proxy: revoked, revoke } = Proxy.revocable({}, {})
          revoke()
          const trap = new Proxy(
            {},
            {
              getPrototypeOf() {
                throw new Error("trap")
              }
            }
          )
          const getter = {
            get secret(): number {
              throw new Error("sealed")
            }
          }
          const cases = [
            [[{ a: getter }], 'argument 0 → field "a" → field "secret"', "sealed"],
            [[1, [getter]], 'argument 1 → [0] → field "secret"', "sealed"],
            [[{ p: trap }], 'argument 0 → field "p"', "trap"],
            [[new Date(0), { p: revoked }], 'argument 1 → field "p"', "revoked"],
            [[{ m: new Model() }], 'argument 0 → field "m"', "no id"]
          ] as const
          for (const [args, argument, message] of cases) {
            const error = yield* Effect.flip(f(...(args as unknown as [unknown])))
            assert.instanceOf(error, Hasher.UnhashableParamError)
            assert.strictEqual(error.functionName, "f")
            assert.strictEqual(error.argument, argument)
            assert.strictEqual(error.reason, "threw")
            assert.include(error.message, message)
            yield* f({ a: [1, new Set([2])] }, new Date(3))
            yield* f({ a: [1, new Set([2])] }, new Date(3))
          }
          assert.strictEqual(body.runs(), 1, "the key is right after every throw")
        })
      )
    )

    it.effect("Map and Set arguments nested 2,000 deep", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const f = DataCache.fn("f", (x: unknown) => body.run(typeof x))
          const nest = (leaf: number) => {
            let value: unknown = leaf
            for (let i = 0; i < 2000; i++) value = i % 2 === 0 ? new Map([["k", value]]) : new Set([value])
            return value
          }
          yield* f(nest(1))
          yield* f(nest(1))
          yield* f(nest(2))
          assert.strictEqual(body.runs(), 2)
        })
      )
    )

    it.effect(
      "an unhashable value 100,000 levels down fails at once, with a short message",
      () =>
        withCache(
          Effect.gen(function* () {
            const f = DataCache.fn("deep", (x: unknown) => Effect.succeed(typeof x))
            let value: unknown = () => 1
            for (let i = 0; i < 100_000; i++) value = { next: value }
            const error = yield* Effect.flip(f(value))
            assert.instanceOf(error, Hasher.UnhashableParamError)
            assert.isBelow(error.message.length, 1000)
            assert.match(error.argument, /^argument 0 → field "next" → .* → … 99990 more … → .*field "next"$/)
          })
        ),
      10_000
    )

    it.effect("the ways out fit the case: a per-type hasher only for class instances", () =>
      withCache(
        Effect.gen(function* () {
          class Socket {
            readonly fd = 3
          }
          const f = DataCache.fn("send", (options: object) => Effect.succeed(Object.keys(options).length))
          const instance = yield* Effect.flip(f({ socket: new Socket() }))
          assert.include(instance.message, "Hasher.by(Socket")
          for (const value of [{ onDone: () => 1 }, { id: Symbol("local") }]) {
            const error = yield* Effect.flip(f(value))
            assert.instanceOf(error, Hasher.UnhashableParamError)
            assert.notInclude(error.message, "Hasher.by")
            assert.include(error.message, '"_"')
            assert.include(error.message, "`key` schema")
          }
          const keyed = DataCache.fn({ name: "keyed", key: Schema.Struct({ id: Schema.Number }) }, (q: { id: number }) =>
            Effect.succeed(q.id)
          )
          const mismatch = yield* Effect.flip(keyed({ id: "x" } as never))
          assert.include(mismatch.message, "does not match the `key` schema")
          assert.notInclude(mismatch.message, 'DataCache.fn({ name: "keyed", key:')
          assert.strictEqual(mismatch.argument, "argument 0")
        })
      )
    )
  })

  describe("the `_` rule and key schemas", () => {
    type Shape = Data.TaggedEnum<{ Circle: { readonly r: number }; Square: { readonly r: number } }>
    const Shape = Data.taggedEnum<Shape>()

    it.effect("`_tag` and `__` names are part of the key; destructured single-underscore names are not", () =>
      withCache(
        Effect.gen(function* () {
          const area = DataCache.fn("area", (shape: Shape) => Effect.succeed(shape._tag === "Circle" ? 3.14 * shape.r ** 2 : shape.r ** 2))
          assert.strictEqual(yield* area(Shape.Circle({ r: 1 })), 3.14)
          assert.strictEqual(yield* area(Shape.Square({ r: 1 })), 1, "a Square is not the Circle's entry")
          // A Date sends these through the canonical form rather than the JSON spelling: same rule.
          const dated = DataCache.fn("dated", (shape: { _tag: string; at: Date }) => Effect.succeed(shape._tag))
          assert.strictEqual(yield* dated({ _tag: "Circle", at: new Date(0) }), "Circle")
          assert.strictEqual(yield* dated({ _tag: "Square", at: new Date(0) }), "Square")
          const typed = DataCache.fn("typed", ({ __typename, _trace }: { __typename: string; id: number; _trace: string }) =>
            Effect.succeed(_trace === "" ? "" : __typename)
          )
          assert.strictEqual(yield* typed({ __typename: "User", id: 1, _trace: "a" }), "User")
          assert.strictEqual(yield* typed({ __typename: "Team", id: 1, _trace: "b" }), "Team")
          assert.strictEqual(yield* typed({ __typename: "Team", id: 1, _trace: "c" }), "Team")
          assert.strictEqual((yield* typed.stats).misses, 2, "`_trace` is left out")
        })
      )
    )

    it.effect("with a key schema, the schema decides: a declared `_id` counts", () =>
      withCache(
        Effect.gen(function* () {
          const byId = DataCache.fn({ name: "byId", key: Schema.Struct({ _id: Schema.String }) }, (doc: { _id: string }) =>
            Effect.succeed(doc._id)
          )
          assert.strictEqual(yield* byId({ _id: "a" }), "a")
          assert.strictEqual(yield* byId({ _id: "b" }), "b")
        })
      )
    )

    it.effect("a Schema.Array key describes one array argument", () =>
      withCache(
        Effect.gen(function* () {
          const total = DataCache.fn({ name: "total", key: Schema.Array(Schema.Number) }, (ids: ReadonlyArray<number>) =>
            Effect.succeed(ids.reduce((a, b) => a + b, 0))
          )
          assert.strictEqual(yield* total([1, 2]), 3)
          assert.strictEqual(yield* total([1, 3]), 4)
        })
      )
    )

    it.effect("a key schema keeps the types its JSON encoding would merge: 1n and '1', a Date and its ISO string, NaN and 'NaN'", () =>
      withCache(
        Effect.gen(function* () {
          const show = (x: unknown) => (x instanceof Date ? "date" : typeof x)
          const cases = [
            [Schema.Union([Schema.BigInt, Schema.String]), 1n, "1"],
            [Schema.Union([Schema.Date, Schema.String]), new Date(0), new Date(0).toISOString()],
            [Schema.Union([Schema.Number, Schema.String]), Number.NaN, "NaN"],
            [Schema.Union([Schema.Number, Schema.String]), Number.POSITIVE_INFINITY, "Infinity"]
          ] as const
          for (const [i, [key, a, b]] of cases.entries()) {
            const f = DataCache.fn({ name: `union${i}`, key } as never, (x: unknown) => Effect.succeed(show(x))) as unknown as (
              x: unknown
            ) => Effect.Effect<string, unknown, DataCache.DataCache>
            assert.strictEqual(yield* f(a), show(a))
            assert.strictEqual(yield* f(b), show(b), `case ${i}: the second argument gets its own entry`)
          }
        })
      )
    )

    it.effect("under a key schema, a revoked proxy or a throwing getter is an UnhashableParamError naming what it threw", () =>
      withCache(
        Effect.gen(function* () {
          const f = DataCache.fn({ name: "fk", key: Schema.Struct({ id: Schema.Number }) }, (q: { id: number }) => Effect.succeed(q.id))
          const revoked = Proxy.revocable({ id: 1 }, {})
          revoked.revoke()
          const throwing = {
            get id(): number {
              throw new Error("no id today")
            }
          }
          for (const [arg, message] of [
            [revoked.proxy, /revoked/],
            [throwing, /no id today/]
          ] as const) {
            const error = yield* Effect.flip(f(arg))
            assert.instanceOf(error, Hasher.UnhashableParamError)
            assert.match(error.message, message)
            const lookup = yield* Effect.flip(f.has(arg))
            assert.instanceOf(lookup, Hasher.UnhashableParamError)
          }
        })
      )
    )
  })
})

/** Money keeps its amount in a #private field and says which Moneys are equal itself: recall cannot see it. */
class Money implements Equal.Equal {
  readonly #cents: number
  constructor(cents: number) {
    this.#cents = cents
  }
  get cents(): number {
    return this.#cents
  }
  [Equal.symbol](that: unknown): boolean {
    return that instanceof Money && that.#cents === this.#cents
  }
  [Hash.symbol](): number {
    return Hash.number(this.#cents)
  }
}

describe("DataCache keys: one value model", () => {
  describe("secrets (Redacted)", () => {
    it.effect("alice's and bob's tokens are two keys: each gets their own value", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const whoAmI = DataCache.fn("whoAmI", (token: Redacted.Redacted<string>) => body.run(Redacted.value(token).split("-")[0]))
          assert.strictEqual(yield* whoAmI(Redacted.make("alice-token")), "alice")
          assert.strictEqual(yield* whoAmI(Redacted.make("bob-token")), "bob")
          assert.strictEqual(yield* whoAmI(Redacted.make("alice-token", { label: "other label" })), "alice", "the label is not the value")
          assert.strictEqual(body.runs(), 2)
          // Inside objects too.
          const byObject = DataCache.fn("byObject", (q: { readonly baseUrl: string; readonly apiKey: Redacted.Redacted<string> }) =>
            body.run(Redacted.value(q.apiKey))
          )
          assert.strictEqual(yield* byObject({ baseUrl: "https://a", apiKey: Redacted.make("key-a") }), "key-a")
          assert.strictEqual(yield* byObject({ baseUrl: "https://a", apiKey: Redacted.make("key-b") }), "key-b")
        })
      )
    )

    it.effect("a ResourceCache keyed by { baseUrl, apiKey: Redacted } builds tenant B its own client", () =>
      Effect.gen(function* () {
        let built = 0
        const client = ResourceCache.fn("client", (q: { readonly baseUrl: string; readonly apiKey: Redacted.Redacted<string> }) =>
          Effect.sync(() => ({ id: ++built, key: Redacted.value(q.apiKey) }))
        )
        const a = yield* client({ baseUrl: "https://api", apiKey: Redacted.make("tenant-a") })
        const b = yield* client({ baseUrl: "https://api", apiKey: Redacted.make("tenant-b") })
        const a2 = yield* client({ baseUrl: "https://api", apiKey: Redacted.make("tenant-a") })
        assert.strictEqual(a.key, "tenant-a")
        assert.strictEqual(b.key, "tenant-b")
        assert.strictEqual(a2, a, "the same key is the same client")
        assert.strictEqual(built, 2)
      }).pipe(Effect.provide(ResourceCache.layerMemory()))
    )

    it("argument summaries (spinners, logs) show <redacted>, never the value or its label", () => {
      const token = Redacted.make("alice-token", { label: "alice" })
      assert.strictEqual(summarize([token]), "<redacted>")
      const summary = summarize([{ baseUrl: "https://api", apiKey: token }])
      assert.strictEqual(summary, '{ baseUrl: "https://api", apiKey: <redacted> }')
      assert.notInclude(summarize([[token]]), "alice")
      assert.strictEqual(summarize([Option.some(1), Duration.seconds(1)]), "Option, Duration")
    })

    it.effect("an error about a Redacted value never shows it", () =>
      withCache(
        Effect.gen(function* () {
          const f = DataCache.fn("leaky", (secret: Redacted.Redacted<unknown>) => Effect.succeed(secret))
          const error = yield* Effect.flip(f(Redacted.make({ token: "alice-token", onUse: () => 1 })))
          assert.instanceOf(error, Hasher.UnhashableParamError)
          assert.notInclude(error.message, "alice-token")
          assert.include(error.argument, "(redacted value)")
          // Hashed for a persistent name too.
          const thrown = (() => {
            try {
              Hasher.structural().hashUnsafe(Redacted.make({ token: "alice-token", onUse: () => 1 }))
            } catch (e) {
              return e
            }
          })()
          assert.instanceOf(thrown, Hasher.Unhashable)
          assert.notInclude(Hasher.toParamError(thrown as Hasher.Unhashable, "f", []).message, "alice-token")
        })
      )
    )
  })

  describe("classes whose equality recall cannot see", () => {
    it.effect("Money(100) and Money(250) (#private state, its own Equal) fail with UnhashableParamError, never share a key", () =>
      withCache(
        Effect.gen(function* () {
          const format = DataCache.fn("format", (money: Money) => Effect.succeed(`${money.cents / 100} NOK`))
          const error = yield* Effect.flip(format(new Money(100)))
          assert.instanceOf(error, Hasher.UnhashableParamError)
          assert.strictEqual(error.reason, "instance")
          assert.include(error.message, "Money implements Equal")
          assert.include(error.message, "Hasher.by(Money")
          assert.include(error.message, "`key` schema")
          assert.instanceOf(yield* Effect.flip(format(new Money(250))), Hasher.UnhashableParamError)
        })
      )
    )

    it.effect("each way out the error suggests works: a hasher, a key schema, a `_` field", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const byHasher = DataCache.fn({ name: "byHasher", hashers: [Hasher.by(Money, (m) => m.cents)] }, (money: Money) =>
            body.run(money.cents)
          )
          assert.strictEqual(yield* byHasher(new Money(100)), 100)
          assert.strictEqual(yield* byHasher(new Money(250)), 250)
          assert.strictEqual(yield* byHasher(new Money(100)), 100)
          assert.strictEqual(body.runs(), 2)
          const MoneyFromCents = Schema.Number.pipe(
            Schema.decodeTo(Schema.instanceOf(Money), {
              decode: SchemaGetter.transform((cents: number) => new Money(cents)),
              encode: SchemaGetter.transform((money: Money) => money.cents)
            })
          )
          const bySchema = DataCache.fn({ name: "bySchema", key: Schema.Tuple([MoneyFromCents]) }, (money: Money) => body.run(money.cents))
          assert.strictEqual(yield* bySchema(new Money(100)), 100)
          assert.strictEqual(yield* bySchema(new Money(250)), 250)
          const leftOut = DataCache.fn("leftOut", ({ id, _money }: { id: string; _money: Money }) => body.run(`${id} ${_money.cents}`))
          assert.strictEqual(yield* leftOut({ id: "a", _money: new Money(1) }), "a 1")
          assert.strictEqual(yield* leftOut({ id: "a", _money: new Money(2) }), "a 1", "the `_` field is not in the key")
        })
      )
    )

    it.effect("a Data class that overrides [Equal.symbol] is refused; Data and Schema classes with Effect's equality are keyed", () =>
      withCache(
        Effect.gen(function* () {
          class Loose extends Data.Class<{ readonly id: number; readonly note: string }> {
            [Equal.symbol](that: unknown): boolean {
              return that instanceof Loose && that.id === this.id
            }
            [Hash.symbol](): number {
              return Hash.number(this.id)
            }
          }
          class Point extends Data.Class<{ readonly x: number }> {}
          class Place extends Schema.Class<Place>("Place")({ name: Schema.String }) {}
          const body = counting()
          const f = DataCache.fn("f", (value: unknown) => body.run(value))
          assert.instanceOf(yield* Effect.flip(f(new Loose({ id: 1, note: "a" }))), Hasher.UnhashableParamError)
          yield* f(new Point({ x: 1 }))
          yield* f(new Point({ x: 1 }))
          yield* f(new Point({ x: 2 }))
          yield* f(new Place({ name: "Oslo" }))
          yield* f(new Place({ name: "Oslo" }))
          assert.strictEqual(body.runs(), 3)
        })
      )
    )
  })

  describe("Effect's data types", () => {
    it.effect("a zoned DateTime is keyed by its instant and zone: two zones are two keys, one zone built twice is one", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const local = DataCache.fn("local", (at: DateTime.DateTime) => body.run(DateTime.formatIsoZoned(at as DateTime.Zoned)))
          const oslo = DateTime.makeZonedUnsafe(0, { timeZone: "Europe/Oslo" })
          assert.strictEqual(yield* local(oslo), "1970-01-01T01:00:00.000+01:00[Europe/Oslo]")
          assert.strictEqual(
            yield* local(DateTime.makeZonedUnsafe(0, { timeZone: "Asia/Tokyo" })),
            "1970-01-01T09:00:00.000+09:00[Asia/Tokyo]"
          )
          assert.strictEqual(
            yield* local(DateTime.makeZonedUnsafe(0, { timeZone: "Europe/Oslo" })),
            "1970-01-01T01:00:00.000+01:00[Europe/Oslo]"
          )
          assert.strictEqual(body.runs(), 2)
          // An offset zone is another zone than the named one with the same offset, as Equal says.
          const offset = DateTime.makeZonedUnsafe(0, { timeZone: DateTime.zoneMakeOffset(3_600_000) })
          assert.isFalse(Equal.equals(offset, oslo))
          yield* local(offset)
          assert.strictEqual(body.runs(), 3)
          // A UTC DateTime of the same instant is a third value.
          yield* DataCache.fn("utc", (at: DateTime.DateTime) => body.run(at.epochMilliseconds))(DateTime.makeUnsafe(0))
        })
      )
    )

    it.effect("a zoned DateTime under a key schema (Schema.DateTimeZoned) hashes too", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const f = DataCache.fn({ name: "zoned", key: Schema.Tuple([Schema.DateTimeZoned]) }, (at: DateTime.Zoned) =>
            body.run(at.zone._tag)
          )
          yield* f(DateTime.makeZonedUnsafe(0, { timeZone: "Europe/Oslo" }))
          yield* f(DateTime.makeZonedUnsafe(0, { timeZone: "Europe/Oslo" }))
          yield* f(DateTime.makeZonedUnsafe(0, { timeZone: "Asia/Tokyo" }))
          assert.strictEqual(body.runs(), 2)
        })
      )
    )

    it.effect("Duration.millis(1000) and Duration.nanos(1_000_000_000n) are one key; other lengths are others", () =>
      withCache(
        Effect.gen(function* () {
          const body = counting()
          const wait = DataCache.fn("wait", (d: Duration.Duration) => body.run(Duration.toMillis(d)))
          assert.strictEqual(yield* wait(Duration.millis(1000)), 1000)
          assert.strictEqual(yield* wait(Duration.nanos(1_000_000_000n)), 1000)
          assert.strictEqual(yield* wait(Duration.seconds(1)), 1000)
          assert.strictEqual(body.runs(), 1)
          yield* wait(Duration.nanos(1_000_000_001n))
          yield* wait(Duration.infinity)
          yield* wait(Duration.millis(Number.POSITIVE_INFINITY))
          assert.strictEqual(body.runs(), 3)
        })
      )
    )
  })
})

describe("arguments changed while their call runs", () => {
  /** A sum whose body waits at `gate` after it started; `runs` counts its runs. */
  const gatedSum = (name: string) => {
    const state = { runs: 0, started: Deferred.makeUnsafe<void>(), gate: Deferred.makeUnsafe<void>() }
    const sum = DataCache.fn(name, (q: { ids: Array<number> }) =>
      Effect.gen(function* () {
        state.runs++
        Deferred.doneUnsafe(state.started, Exit.void)
        yield* Deferred.await(state.gate)
        return q.ids.reduce((a, b) => a + b, 0)
      })
    )
    return { sum, state }
  }

  /** Calls `sum(q)`, stops waiting once the body started, changes `q`, and lets the body end. */
  const abandonThenChange = (gated: ReturnType<typeof gatedSum>) =>
    Effect.gen(function* () {
      const q = { ids: [1] }
      const caller = yield* Effect.forkChild(gated.sum(q), { startImmediately: true })
      yield* Deferred.await(gated.state.started)
      yield* Fiber.interrupt(caller)
      q.ids.push(100)
      Deferred.doneUnsafe(gated.state.gate, Exit.void)
    })

  it.effect("a caller that stopped waiting and then changed its argument: nothing is kept under the key it called with", () =>
    Effect.gen(function* () {
      const log = captureLogs()
      const gated = gatedSum("sumChanged")
      const { sum, state } = gated
      yield* Effect.gen(function* () {
        yield* abandonThenChange(gated)
        assert.strictEqual(yield* sum({ ids: [1] }), 1, "computed for [1], not the value of [1, 100]")
        assert.strictEqual(yield* sum({ ids: [1] }), 1)
        assert.strictEqual(state.runs, 2)
      }).pipe(Effect.provide(DataCache.layerMemory()), Effect.provide(log.layer))
      assert.strictEqual(log.warnings().length, 1)
      assert.include(log.warnings()[0], "the arguments of sumChanged changed while it computed")
    })
  )

  it.effect("callers that joined with equal arguments compute again; the starter gets the value of what its body saw", () =>
    Effect.gen(function* () {
      const { sum, state } = gatedSum("sumJoined")
      yield* Effect.gen(function* () {
        const q = { ids: [1] }
        const starter = yield* Effect.forkChild(sum(q), { startImmediately: true })
        yield* Deferred.await(state.started)
        const joiner = yield* Effect.forkChild(sum({ ids: [1] }), { startImmediately: true })
        q.ids.push(100)
        Deferred.doneUnsafe(state.gate, Exit.void)
        assert.strictEqual(yield* Fiber.join(starter), 101)
        assert.strictEqual(yield* Fiber.join(joiner), 1)
        assert.strictEqual(state.runs, 2)
      }).pipe(Effect.provide(DataCache.layerMemory()))
    })
  )

  it.effect("a body that sorts its argument in place: the call gets its value, nothing is cached, one warning says why", () =>
    Effect.gen(function* () {
      const log = captureLogs()
      let runs = 0
      const smallest = DataCache.fn("smallest", (xs: Array<number>) =>
        Effect.sync(() => {
          runs++
          return xs.sort((a, b) => a - b)[0]
        })
      )
      yield* Effect.gen(function* () {
        assert.strictEqual(yield* smallest([3, 1, 2]), 1)
        assert.strictEqual(yield* smallest([3, 1, 2]), 1)
        assert.strictEqual(runs, 2)
      }).pipe(Effect.provide(DataCache.layerMemory()), Effect.provide(log.layer))
      assert.strictEqual(log.warnings().length, 1)
      assert.include(log.warnings()[0], "as an in-place sort does")
    })
  )

  it.effect("50 callers of a body that sorts its argument in place: the joined ones compute at once, not one after another", () =>
    Effect.gen(function* () {
      let runs = 0
      let running = 0
      const first = yield* Deferred.make<void>()
      const later = yield* Deferred.make<void>()
      const smallest = DataCache.fn("smallestAtOnce", (xs: Array<number>) =>
        Effect.gen(function* () {
          running++
          yield* Deferred.await(++runs === 1 ? first : later)
          running--
          return xs.sort((a, b) => a - b)[0]
        })
      )
      yield* Effect.gen(function* () {
        const calls = yield* Effect.forkChild(
          Effect.all(
            Array.from({ length: 50 }, () => smallest([3, 1, 2])),
            { concurrency: "unbounded" }
          ),
          { startImmediately: true }
        )
        yield* Deferred.succeed(first, undefined)
        const together = yield* Effect.gen(function* () {
          for (let i = 0; i < 100 && running < 49; i++) yield* Effect.yieldNow
          return running
        })
        assert.strictEqual(together, 49, "after the first run, the 49 joined callers run together")
        yield* Deferred.succeed(later, undefined)
        assert.deepStrictEqual(
          yield* Fiber.join(calls),
          Array.from({ length: 50 }, () => 1)
        )
        assert.strictEqual(runs, 50)
      }).pipe(Effect.provide(DataCache.layerMemory()), Effect.provide(captureLogs().layer))
    })
  )

  it.effect("over a store: a value computed from changed arguments is never written", () =>
    Effect.gen(function* () {
      const h = makeHarness()
      const gated = gatedSum("sumStored")
      const { sum } = gated
      yield* Effect.gen(function* () {
        yield* abandonThenChange(gated)
        assert.strictEqual(yield* sum({ ids: [1] }), 1)
      }).pipe(Effect.provide(h.cache()))
      assert.strictEqual(h.written.length, 1, "only the value computed for [1]")
      assert.strictEqual(yield* sum({ ids: [1] }).pipe(Effect.provide(h.cache())), 1, "a new front tier reads the right value")
    })
  )
})

describe("Effect structures with state, as arguments and values", () => {
  it.effect("a Scope is refused as an argument (open, closed, or holding a finalizer) and as a value, with what it is", () =>
    Effect.gen(function* () {
      const f = DataCache.fn("withScope", (scope: Scope.Scope) => Effect.succeed(typeof scope))
      const open = yield* Scope.make()
      const other = yield* Scope.make()
      const closed = yield* Scope.make()
      yield* Scope.close(closed, Exit.void)
      for (const scope of [open, other, closed]) {
        const error = yield* Effect.flip(f(scope))
        assert.instanceOf(error, Hasher.UnhashableParamError)
        assert.include(error.message, "Effect Scope")
        assert.notInclude(error.message, "Hasher.by(")
      }
      const returns = DataCache.fn("returnsScope", () => Scope.make())
      const refused = yield* Effect.exit(returns())
      assert.isTrue(Exit.isFailure(refused))
      assert.include(String(Exit.isFailure(refused) ? Cause.squash(refused.cause) : ""), "it is an Effect Scope")
    }).pipe(withCache)
  )

  it.effect("a Ref is refused with a message that names it and never suggests a hasher for Object", () =>
    Effect.gen(function* () {
      const f = DataCache.fn("withRef", (ref: Ref.Ref<number>) => Ref.get(ref))
      const error = yield* Effect.flip(f(yield* Ref.make(1)))
      assert.include(error.message, "an Effect Ref implements Equal")
      assert.notInclude(error.message, "Hasher.by(")
      assert.include(error.message, 'name that starts with "_"')
    }).pipe(withCache)
  )

  it.effect("Effect structures are named by their type in messages: a Context, a PubSub, a Fiber", () =>
    Effect.gen(function* () {
      const f = DataCache.fn("withStructure", (x: unknown) => Effect.succeed(typeof x))
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [Context.empty(), "an Effect Context"],
        [yield* PubSub.unbounded<number>(), "an Effect PubSub"],
        [yield* Effect.forkChild(Effect.never), "an Effect Fiber"]
      ]
      for (const [value, name] of cases) assert.include((yield* Effect.flip(f(value))).message, name)
    }).pipe(withCache)
  )

  it("Hasher.by(Object, ...) and Hasher.by(Array, ...) are refused: they would key every plain object or array alike", () => {
    for (const Class of [Object, Array] as const) {
      assert.throws(() => Hasher.by(Class as never, (value: { id?: unknown }) => value.id), TypeError, "would key all of them")
    }
  })
})
