/**
 * The Schema-to-fast-check bridge (./arbitrary.ts): what it generates is
 * valid for the schema, reaches the edge cases the copy properties rely on,
 * shrinks to small counterexamples, and refuses what it cannot generate.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { annotation, fromSchema } from "./arbitrary.ts"
import { Float64 } from "./typedArrays.ts"

const seed = 42

class Item extends Schema.Class<Item>("Item")({ label: Schema.String, at: Schema.Date, weights: Float64 }) {}

interface Tree {
  readonly value: number
  readonly children: ReadonlyArray<Tree>
}
const Tree: Schema.Codec<Tree> = Schema.Struct({ value: Schema.Int, children: Schema.Array(Schema.suspend(() => Tree)) })

const schemas = {
  primitives: Schema.Tuple([Schema.String, Schema.Number, Schema.Boolean, Schema.BigInt, Schema.Null, Schema.Undefined]),
  literals: Schema.Union([Schema.Literals(["a", "b"]), Schema.Literal(1), Schema.Literal(true)]),
  checked: Schema.Struct({
    int: Schema.Int,
    between: Schema.Number.check(Schema.isBetween({ minimum: -1, maximum: 1 })),
    name: Schema.String.check(Schema.isMinLength(2), Schema.isMaxLength(4)),
    few: Schema.Array(Schema.Boolean).check(Schema.isMinLength(1), Schema.isMaxLength(3))
  }),
  optional: Schema.Struct({ key: Schema.optionalKey(Schema.String), value: Schema.optional(Schema.Number) }),
  tuples: Schema.Tuple([Schema.String, Schema.optionalKey(Schema.Number), Schema.optionalKey(Schema.Boolean)]),
  rest: Schema.TupleWithRest(Schema.Tuple([Schema.String]), [Schema.Number, Schema.Boolean]),
  records: Schema.Record(Schema.String, Schema.Array(Schema.Number)),
  builtIns: Schema.Struct({
    date: Schema.Date,
    bytes: Schema.Uint8Array,
    map: Schema.ReadonlyMap(Schema.String, Schema.Number),
    set: Schema.ReadonlySet(Schema.Int)
  }),
  classes: Schema.Array(Item),
  effectTypes: Schema.Struct({ option: Schema.Option(Item), chunk: Schema.Chunk(Schema.Number), duration: Schema.Duration }),
  recursive: Tree
}

describe("fromSchema", () => {
  for (const [name, schema] of Object.entries(schemas)) {
    it(`generates values its schema accepts: ${name}`, () => {
      const is = Schema.is(schema as Schema.Codec<unknown>)
      fc.assert(
        fc.property(fromSchema(schema), (value) => is(value)),
        { seed, numRuns: 200 }
      )
    })
  }

  it("reaches the edge cases: NaN, -0, infinities, missing and present optional keys, own __proto__ keys, class instances", () => {
    const Edge = Schema.Struct({
      n: Schema.Number,
      key: Schema.optionalKey(Schema.String),
      record: Schema.Record(Schema.Union([Schema.Literal("__proto__"), Schema.String]), Schema.Number),
      item: Item
    })
    const values = fc.sample(fromSchema(Edge), { seed, numRuns: 1000 })
    const some = (label: string, predicate: (value: (typeof values)[number]) => boolean) =>
      assert.isTrue(values.some(predicate), `some value has ${label}`)
    some("NaN", (v) => Number.isNaN(v.n))
    some("-0", (v) => Object.is(v.n, -0))
    some("Infinity", (v) => v.n === Infinity)
    some("-Infinity", (v) => v.n === -Infinity)
    some("a missing optional key", (v) => !("key" in v))
    some("a present optional key", (v) => Object.hasOwn(v, "key"))
    for (const v of values) {
      assert.isTrue(Object.hasOwn(v.record, "__proto__"), "__proto__ is an own key")
      assert.strictEqual(Object.getPrototypeOf(v.record), Object.prototype, "and not a prototype")
      assert.instanceOf(v.item, Item)
      assert.instanceOf(v.item.weights, Float64Array)
    }
  })

  it("keeps recursive schemas finite", () => {
    const depth = (tree: Tree): number => 1 + Math.max(0, ...tree.children.map(depth))
    const trees = fc.sample(fromSchema(Tree), { seed, numRuns: 500 })
    assert.isAtMost(Math.max(...trees.map(depth)), 8)
    assert.isAbove(Math.max(...trees.map(depth)), 2, "and still recursive")
  })

  it("shrinks to the smallest counterexample", () => {
    const Order = Schema.Struct({
      id: Schema.Int,
      note: Schema.optionalKey(Schema.String),
      lines: Schema.Array(Schema.Struct({ sku: Schema.String, quantity: Schema.Int }))
    })
    const result = fc.check(
      fc.property(fromSchema(Order), (order) => order.lines.length < 2 || order.id < 10),
      { seed, numRuns: 1000 }
    )
    assert.isTrue(result.failed, "the property has counterexamples")
    assert.deepStrictEqual(result.counterexample, [
      {
        id: 10,
        lines: [
          { sku: "", quantity: 0 },
          { sku: "", quantity: 0 }
        ]
      }
    ])
  })

  it("names the node and the path it cannot generate", () => {
    assert.throws(
      () => fromSchema(Schema.Struct({ rows: Schema.Array(Schema.Struct({ data: Schema.Unknown })) })),
      /cannot generate Unknown at rows\.0\.data/
    )
    class Socket {}
    assert.throws(
      () => fromSchema(Schema.Struct({ socket: Schema.instanceOf(Socket, { identifier: "Socket" }) })),
      /cannot generate Declaration Socket at socket/
    )
  })

  it("generates a declaration from its annotation", () => {
    class Socket {
      readonly port: number
      constructor(port: number) {
        this.port = port
      }
    }
    const SocketSchema = Schema.instanceOf(Socket, { [annotation]: () => fc.nat(65535).map((port) => new Socket(port)) })
    fc.assert(
      fc.property(fromSchema(Schema.Array(SocketSchema)), (sockets) => sockets.every((socket) => socket instanceof Socket)),
      { seed, numRuns: 50 }
    )
  })
})
