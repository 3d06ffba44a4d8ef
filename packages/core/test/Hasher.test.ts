import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Hasher } from "@recall/core"
import { Data, Effect, Option, Schema } from "effect"
import { cases } from "./fixtures/hashCases.ts"

const hasher = Hasher.structural()
const hash = (value: unknown) => hasher.hashUnsafe(value)

describe("Hasher", () => {
  describe("structural", () => {
    it("is 32 hex digits, equal for equal values", () => {
      assert.match(hash({ a: 1 }), /^[0-9a-f]{32}$/)
      assert.strictEqual(hash({ a: [1, 2], b: "x" }), hash({ a: [1, 2], b: "x" }))
    })

    it("does not depend on key order, Map order or Set order", () => {
      assert.strictEqual(hash({ a: 1, b: { c: 2, d: 3 } }), hash({ b: { d: 3, c: 2 }, a: 1 }))
      assert.strictEqual(
        hash(
          new Map([
            ["a", 1],
            ["b", 2]
          ])
        ),
        hash(
          new Map([
            ["b", 2],
            ["a", 1]
          ])
        )
      )
      assert.strictEqual(hash(new Set([1, 2, 3])), hash(new Set([3, 1, 2])))
    })

    it("keeps distinct types apart", () => {
      const values = [1, "1", 1n, true, [1], { 0: 1 }, new Set([1]), new Map([[0, 1]]), null, undefined, [], {}, ""]
      assert.strictEqual(new Set(values.map(hash)).size, values.length)
    })

    it("keeps a Float64Array apart from the Uint8Array of the same bytes", () => {
      const floats = new Float64Array([1, 2])
      assert.notStrictEqual(hash(floats), hash(new Uint8Array(floats.buffer)))
    })

    it("treats 0 and -0 as one value, like ===", () => {
      assert.strictEqual(hash(0), hash(-0))
      assert.strictEqual(hash(Number.NaN), hash(Number.NaN))
    })

    it("hashes a typed array by content, wherever its bytes sit", () => {
      const source = new Uint8Array(10_003).map((_, i) => i % 251)
      const unaligned = source.subarray(3)
      assert.strictEqual(hash(unaligned), hash(unaligned.slice()))
      const big = new Float64Array(1_000_000).fill(1)
      const before = hash(big)
      big[999_999] = 2
      assert.notStrictEqual(hash(big), before, "a change in the last element changes the hash")
    })

    it("handles cycles", () => {
      const a: Record<string, unknown> = { name: "a" }
      a.self = a
      const b: Record<string, unknown> = { name: "a" }
      b.self = b
      assert.strictEqual(hash(a), hash(b))
      const c: Record<string, unknown> = { name: "c" }
      c.self = c
      assert.notStrictEqual(hash(a), hash(c))
      const set = new Set<unknown>()
      set.add(set)
      assert.match(hash(set), /^[0-9a-f]{32}$/)
    })

    it("does not overflow the stack on 100,000-deep nesting", () => {
      let array: unknown = []
      let object: unknown = {}
      for (let i = 0; i < 100_000; i++) {
        array = [array]
        object = { next: object }
      }
      assert.match(hash(array), /^[0-9a-f]{32}$/)
      assert.notStrictEqual(hash(array), hash(object))
    })

    it("hashes Data, Schema.Class and Option values by their fields and class", () => {
      class Point extends Schema.Class<Point>("Point")({ x: Schema.Number }) {}
      class Other extends Schema.Class<Other>("Other")({ x: Schema.Number }) {}
      class Tagged extends Data.Class<{ x: number }> {}
      assert.strictEqual(hash(new Point({ x: 1 })), hash(new Point({ x: 1 })))
      assert.notStrictEqual(hash(new Point({ x: 1 })), hash(new Other({ x: 1 })))
      assert.strictEqual(hash(new Tagged({ x: 1 })), hash(new Tagged({ x: 1 })))
      assert.notStrictEqual(hash(Option.some(1)), hash(Option.none()))
      assert.strictEqual(hash(Option.some(1)), hash(Option.some(1)))
    })

    it("throws Unhashable with the path of what it cannot hash", () => {
      class Socket {}
      try {
        hash({ options: [1, { socket: new Socket() }] })
        assert.fail("expected Unhashable")
      } catch (e) {
        assert.instanceOf(e, Hasher.Unhashable)
        assert.deepStrictEqual(e.path, ["options", 1, "socket"])
        assert.instanceOf(e.value, Socket)
      }
      assert.throws(() => hash(() => 1), Hasher.Unhashable)
      assert.throws(() => hash(Symbol("local")), Hasher.Unhashable)
    })

    it("uses per-type hashers before the built-in rules", () => {
      class Model {
        readonly id: string
        readonly weights: Float64Array
        constructor(id: string) {
          this.id = id
          this.weights = new Float64Array(3).fill(Math.random())
        }
      }
      const byId = Hasher.structural({ hashers: [Hasher.by(Model, (m) => m.id)] })
      assert.strictEqual(byId.hashUnsafe([new Model("a")]), byId.hashUnsafe([new Model("a")]))
      assert.notStrictEqual(byId.hashUnsafe([new Model("a")]), byId.hashUnsafe([new Model("b")]))
    })

    it("per-type hashers can override a built-in rule", () => {
      const byLength = Hasher.structural({ hashers: [Hasher.by(Float64Array, (a) => a.length)] })
      assert.strictEqual(byLength.hashUnsafe(new Float64Array([1, 2])), byLength.hashUnsafe(new Float64Array([3, 4])))
    })

    it.effect("Hasher.hash fails with UnhashableParamError instead of throwing", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Hasher.hash(hasher, { f: () => 1 }))
        assert.strictEqual(error._tag, "UnhashableParamError")
        assert.strictEqual(error.typeName, "function f")
      })
    )
  })

  describe("fromSchema", () => {
    it("hashes the encoded form, with record keys sorted and undeclared fields dropped", () => {
      const schema = Schema.Struct({ at: Schema.Date, tags: Schema.Record(Schema.String, Schema.Number) })
      const h = Hasher.fromSchema(schema)
      const a = h.hashUnsafe({ at: new Date(0), tags: { z: 1, a: 2 } })
      const b = h.hashUnsafe({ at: new Date(0), tags: { a: 2, z: 1 } })
      const c = h.hashUnsafe({ at: new Date(0), tags: { a: 2, z: 1 }, extra: "ignored" } as never)
      assert.strictEqual(a, b)
      assert.strictEqual(a, c)
      assert.notStrictEqual(a, h.hashUnsafe({ at: new Date(1), tags: { a: 2, z: 1 } }))
    })

    it("throws Unhashable with the schema's issue for a value that does not match", () => {
      const h = Hasher.fromSchema(Schema.Struct({ id: Schema.Number }))
      assert.throws(() => h.hashUnsafe({ id: "x" } as never), Hasher.Unhashable)
    })

    it("fingerprints change with the schema", () => {
      const a = Hasher.fingerprint(Schema.Struct({ id: Schema.Number }))
      assert.strictEqual(a, Hasher.fingerprint(Schema.Struct({ id: Schema.Number })))
      assert.notStrictEqual(a, Hasher.fingerprint(Schema.Struct({ id: Schema.String })))
      assert.notStrictEqual(a, Hasher.fingerprint(Schema.Struct({ id: Schema.Number, name: Schema.String })))
    })
  })

  it("keeps its published values: a change here orphans every persisted entry", () => {
    assert.strictEqual(hash([1, "a", { b: [true, null] }]), "bb9e21a1a3f5e9afca97f4ff7831d667")
    assert.strictEqual(hash(new Float64Array([1, 2, 3])), "b59dbcba06b2cf43258170091d6b0b70")
  })

  it("gives the same hashes in other processes and on other runs", () => {
    const script = fileURLToPath(new URL("./fixtures/print-hashes.ts", import.meta.url))
    const run = () => JSON.parse(execFileSync(process.execPath, [script], { encoding: "utf8" })) as Record<string, string>
    const here = Object.fromEntries(Object.entries(cases()).map(([name, value]) => [name, hash(value)]))
    const first = run()
    const second = run()
    assert.deepStrictEqual(first, here)
    assert.deepStrictEqual(second, here)
    assert.strictEqual(new Set(Object.values(here)).size, Object.keys(here).length)
  })
})
