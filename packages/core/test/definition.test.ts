/**
 * A definition's two keys: the exact in-memory key of a call, and the
 * bounded name a store will give its entry (32 hex digits, the same in every
 * process), which leaves out what the key leaves out.
 */
import { assert, describe, it } from "@effect/vitest"
import { Hasher } from "@recall/core"
import { Effect, Schema } from "effect"
import * as Definition from "../src/internal/definition.ts"
import type { Face } from "../src/internal/face.ts"

const face: Face<unknown, unknown> = {
  kind: "DataCache",
  keep: (value) => ({ _tag: "Kept", stored: value, bytes: 0, value }),
  load: (stored) => stored,
  lifecycle: undefined,
  persistence: undefined
}

const define = (options: { readonly name: string; readonly key?: Schema.Top & { readonly EncodingServices: never } }, f: Function) =>
  Definition.define("DataCache", options, f, new Set(["name", "key"]), () => ({ face, identity: [] }))

describe("Definition", () => {
  it.effect("a store name is 32 hex digits of the arguments, whatever spelling their in-memory key takes", () =>
    Effect.gen(function* () {
      yield* Hasher.load
      const d = define({ name: "report" }, (city: string, year: number) => Effect.succeed(`${city} ${year}`))
      const small = d.storeName(["Oslo", 2024])
      const long = d.storeName(["x".repeat(5000), 2024])
      assert.match(small, /^[0-9a-f]{32}$/)
      assert.match(long, /^[0-9a-f]{32}$/)
      assert.strictEqual(small, d.storeName(["Oslo", 2024]))
      assert.notStrictEqual(small, d.storeName(["Oslo", 2025]))
      assert.strictEqual(small, Hasher.structural().hashUnsafe(["Oslo", 2024]), "the canonical hash of the arguments")
      assert.notStrictEqual(d.hashKey(["Oslo", 2024]), small, "the in-memory key is spelled otherwise")
    })
  )

  it.effect("a store name leaves out the `_` parameters, as the key does", () =>
    Effect.gen(function* () {
      yield* Hasher.load
      const d = define({ name: "fetchData" }, (_db: object, numRows: number) => Effect.succeed(numRows))
      assert.strictEqual(d.storeName([{ a: 1 }, 10]), d.storeName([{ b: 2 }, 10]))
      assert.notStrictEqual(d.storeName([{ a: 1 }, 10]), d.storeName([{ a: 1 }, 11]))
    })
  )

  it.effect("with a key schema, a store name is the hash of the arguments' encoding", () =>
    Effect.gen(function* () {
      yield* Hasher.load
      const d = define({ name: "at", key: Schema.Tuple([Schema.Date]) }, (at: Date) => Effect.succeed(at.getTime()))
      assert.strictEqual(d.storeName([new Date(0)]), d.storeName([new Date(0)]))
      assert.notStrictEqual(d.storeName([new Date(0)]), d.storeName([new Date(1)]))
    })
  )

  it("the in-memory identity needs no hasher; the public one is name:hash", () => {
    const d = define({ name: "report" }, (n: number) => Effect.succeed(n))
    assert.isTrue(d.memoryId.startsWith("report\u0000"))
    assert.match(d.publicId(), /^report:[0-9a-f]{32}$/)
  })
})

// Found by an attack trial: a check's parameters live in its annotations, which the identity left out, and the
// JSON Schema document does not always carry them (isMinLength(2) gave `minLength: 1` there).
describe("Definition.schemaIdentity", () => {
  const identityOf = (schema: Schema.Top) => JSON.stringify(Definition.schemaIdentity(schema))
  it("a check's parameters are part of a schema's identity; the same check twice is one identity", () => {
    for (const [a, b] of [
      [Schema.String.check(Schema.isMinLength(1)), Schema.String.check(Schema.isMinLength(2))],
      [Schema.String.check(Schema.isPattern(/^a/)), Schema.String.check(Schema.isPattern(/^b/))],
      [Schema.String.check(Schema.isPattern(/^a/)), Schema.String.check(Schema.isPattern(/^a/i))],
      [Schema.Number.check(Schema.isGreaterThan(0)), Schema.Number.check(Schema.isGreaterThan(1))],
      [Schema.Struct({ n: Schema.Number.check(Schema.isInt()) }), Schema.Struct({ n: Schema.Number.check(Schema.isGreaterThan(0)) })]
    ] as const) {
      assert.notStrictEqual(identityOf(a), identityOf(b))
    }
    assert.strictEqual(identityOf(Schema.String.check(Schema.isPattern(/^a/))), identityOf(Schema.String.check(Schema.isPattern(/^a/))))
    assert.strictEqual(identityOf(Schema.String.check(Schema.isMinLength(3))), identityOf(Schema.String.check(Schema.isMinLength(3))))
  })
})
