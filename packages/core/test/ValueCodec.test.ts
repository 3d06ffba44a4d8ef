import { assert, describe, it } from "@effect/vitest"
import { ValueCodec } from "@recall/core"
import { Schema } from "effect"

const roundTrip = <A>(codec: ValueCodec.ValueCodec<A>, value: A): A => codec.loadUnsafe(codec.storeUnsafe(value).stored)

describe("ValueCodec", () => {
  describe("structuredCopy", () => {
    const codec = ValueCodec.structuredCopy<any>()

    it("returns primitives as they are and copies containers deeply", () => {
      for (const primitive of [1, "s", true, null, undefined, 1n]) assert.strictEqual(roundTrip(codec, primitive), primitive)
      const value = { list: [1, { deep: [2] }], when: new Date(5), re: /a+/g }
      const copy = roundTrip(codec, value)
      assert.deepStrictEqual(copy, value)
      assert.notStrictEqual(copy.list, value.list)
      assert.notStrictEqual(copy.list[1], value.list[1])
      assert.notStrictEqual(copy.when, value.when)
    })

    it("keeps shared references and cycles", () => {
      const shared = { n: 1 }
      const value: Record<string, unknown> = { a: shared, b: shared }
      value.self = value
      const copy = roundTrip(codec, value) as Record<string, unknown>
      assert.strictEqual(copy.a, copy.b)
      assert.notStrictEqual(copy.a, shared)
      assert.strictEqual(copy.self, copy)
    })

    it("copies typed arrays as whole buffers, and views of one buffer stay views of one copy", () => {
      const buffer = new ArrayBuffer(16)
      const whole = new Uint8Array(buffer)
      const floats = new Float64Array(buffer, 8, 1)
      const copy = roundTrip(codec, { whole, floats })
      assert.notStrictEqual(copy.whole.buffer, buffer)
      assert.strictEqual(copy.floats.buffer, copy.whole.buffer)
      copy.floats[0] = 1
      assert.strictEqual(floats[0], 0)
      assert.notStrictEqual(copy.whole[15], 0)
    })

    it("copies a Node Buffer into a Buffer that does not alias it", () => {
      const buffer = Buffer.from("hello")
      const copy = roundTrip(codec, buffer) as Buffer
      assert.isTrue(Buffer.isBuffer(copy))
      copy[0] = 0
      assert.strictEqual(buffer.toString(), "hello")
    })

    it("refuses functions, symbols and class instances", () => {
      class Conn {}
      for (const value of [() => 1, Symbol("s"), new Conn(), { nested: [new Conn()] }, Promise.resolve(1)]) {
        assert.throws(() => codec.storeUnsafe(value), ValueCodec.Unstorable)
      }
    })

    it("estimates bytes from the data held", () => {
      const small = codec.storeUnsafe({ x: 1 }).bytes
      const large = codec.storeUnsafe({ x: new Float64Array(1000) }).bytes
      assert.isAbove(large, 8000)
      assert.isBelow(small, 100)
    })
  })

  describe("fromSchema", () => {
    it("keeps the JSON encoding and decodes a fresh value each time", () => {
      class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number, at: Schema.Date }) {}
      const codec = ValueCodec.fromSchema(Schema.Array(Trip))
      const { stored } = codec.storeUnsafe([new Trip({ id: 1, at: new Date(0) })])
      assert.strictEqual(typeof stored, "string")
      const a = codec.loadUnsafe(stored)
      const b = codec.loadUnsafe(stored)
      assert.instanceOf(a[0], Trip)
      assert.notStrictEqual(a[0], b[0])
      assert.strictEqual(a[0]!.at.getTime(), 0)
    })
  })

  describe("readonly", () => {
    it("shares one deep-frozen value", () => {
      const codec = ValueCodec.readonly<{ list: Array<number>; inner: { x: number } }>()
      const value = { list: [1], inner: { x: 1 } }
      const loaded = roundTrip(codec, value)
      assert.strictEqual(loaded, value)
      assert.isTrue(Object.isFrozen(value.list))
      assert.isTrue(Object.isFrozen(value.inner))
    })
  })
})
