import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { xxh3 } from "@node-rs/xxhash"
import { Hasher } from "@recall/core"
import { Data, Effect, Option, Schema } from "effect"
import * as Canonical from "../src/internal/canonical.ts"
import * as Xxh3 from "../src/internal/xxh3.ts"
import { cases } from "./fixtures/hashCases.ts"
import { identify, knownCollisions, nearValues } from "./fixtures/nearValues.ts"

const hasher = Hasher.structural()
const hash = (value: unknown) => hasher.hashUnsafe(value)

/** The native XXH3-128 (@node-rs/xxhash) as 32 hex digits, canonical (big-endian) order. */
const native = (bytes: Uint8Array): string => xxh3.xxh128(bytes).toString(16).padStart(32, "0")

/** Deterministic pseudo-random bytes (xorshift32). */
const randomBytes = (length: number, seed: number): Uint8Array => {
  const words = new Uint32Array(Math.ceil(length / 4))
  let state = seed | 0 || 1
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    words[i] = state
  }
  return new Uint8Array(words.buffer, 0, length)
}

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (e) {
    return e
  }
  return assert.fail("expected a throw")
}

describe("Hasher", () => {
  beforeAll(() => Effect.runPromise(Hasher.load))

  describe("XXH3-128", () => {
    it("hash-wasm agrees with the native implementation on every length from 0 to 4 KiB, aligned or not", () => {
      const bytes = randomBytes(4096 + 8, 1)
      for (let length = 0; length <= 4096; length++) {
        const aligned = bytes.subarray(0, length)
        const unaligned = bytes.subarray(3, 3 + length)
        assert.strictEqual(Xxh3.hex(aligned), native(aligned), `length ${length}`)
        assert.strictEqual(Xxh3.hex(unaligned), native(unaligned), `length ${length} at offset 3`)
      }
    })

    it("hash-wasm agrees with the native implementation on 1 MiB and on 16 MiB and an odd tail", () => {
      for (const [length, seed] of [
        [1 << 20, 2],
        [(16 << 20) + 7, 3]
      ] as const) {
        const bytes = randomBytes(length, seed)
        assert.strictEqual(Xxh3.hex(bytes), native(bytes), `${length} bytes`)
        assert.deepStrictEqual(Array.from(Xxh3.digest(bytes)), Array.from(Buffer.from(native(bytes), "hex")))
      }
    })

    it("a hash is the XXH3-128 of the value's canonical bytes, and the digest is the same hash", () => {
      for (const value of [...Object.values(cases()), 0, "", [], {}, new Float64Array(10_000).fill(2.5)]) {
        const expected = native(Canonical.bytes(value, []))
        assert.strictEqual(hash(value), expected)
        assert.strictEqual(Hasher.toHex(hasher.digestUnsafe(value)), expected)
      }
    })

    it("a large typed array joins the canonical form as its own XXH3-128", () => {
      const large = new Float64Array(1000).map((_, i) => i)
      const form = Canonical.bytes(large, [])
      assert.isBelow(form.length, 32, "the form holds the digest, not the 8,000 bytes")
      const digest = Buffer.from(native(new Uint8Array(large.buffer)), "hex")
      assert.deepStrictEqual(Array.from(form.subarray(form.length - 16)), Array.from(digest))
    })
  })

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
      const long = (n: number) => "x".repeat(n)
      // Members longer than the inline limit are sorted by their digests.
      assert.strictEqual(hash(new Set([long(600), long(700), 1])), hash(new Set([1, long(700), long(600)])))
      assert.strictEqual(hasher.keyUnsafe(new Set([long(600), 2])), hasher.keyUnsafe(new Set([2, long(600)])))
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
      assert.strictEqual(hash([0, { x: 0 }]), hash([-0, { x: -0 }]))
    })

    it("treats every NaN as one value, inside arrays, objects, Maps and Dates too", () => {
      const view = new DataView(new ArrayBuffer(8))
      view.setFloat64(0, Number.NaN)
      view.setUint32(4, view.getUint32(4) | 0xbeef)
      const other = view.getFloat64(0)
      assert.isNaN(other)
      for (const wrap of [(x: number) => x, (x: number) => [x], (x: number) => ({ x }), (x: number) => new Map([[x, x]])]) {
        assert.strictEqual(hash(wrap(other)), hash(wrap(Number.NaN)))
        assert.strictEqual(hasher.keyUnsafe(wrap(other)), hasher.keyUnsafe(wrap(Number.NaN)))
      }
      assert.strictEqual(hash(new Date(Number.NaN)), hash(new Date("not a date")))
    })

    it("hashes a typed array by content, wherever its bytes sit", () => {
      const source = new Uint8Array(10_003).map((_, i) => i % 251)
      const unaligned = source.subarray(3)
      assert.strictEqual(hash(unaligned), hash(unaligned.slice()))
      assert.strictEqual(hash(source.subarray(5, 105)), hash(source.slice(5, 105)))
      const big = new Float64Array(1_000_000).fill(1)
      const before = hash(big)
      big[999_999] = 2
      assert.notStrictEqual(hash(big), before, "a change in the last element changes the hash")
    })

    it("gives every value of a corpus of near values its own hash and its own key", () => {
      const values = nearValues()
      assert.isAbove(values.length, 5000)
      const hashes = new Map<string, string>()
      const keys = new Map<string, string>()
      for (const value of values) {
        const id = identify(value)
        const h = hash(value)
        const k = hasher.keyUnsafe(value)
        assert.isUndefined(hashes.get(h), `${id} has the hash of ${hashes.get(h)}`)
        assert.isUndefined(keys.get(k), `${id} has the key of ${keys.get(k)}`)
        hashes.set(h, id)
        keys.set(k, id)
      }
      for (const [a, b] of knownCollisions) assert.notStrictEqual(hash(a), hash(b))
    })

    it("uses small values as their own in-memory key, and the hash of large ones", () => {
      assert.strictEqual(hasher.keyUnsafe("abc")[0], "=")
      assert.strictEqual(hasher.keyUnsafe(new Float64Array(16))[0], "=", "small typed arrays are keyed by their bytes")
      const long = hasher.keyUnsafe("x".repeat(2000))
      assert.strictEqual(long[0], "#")
      assert.strictEqual(long.length, 9, "the 128-bit digest as 8 code units")
      assert.strictEqual(hasher.keyUnsafe("x".repeat(2000)), long)
      assert.notStrictEqual(hasher.keyUnsafe("x".repeat(1999) + "y"), long)
      assert.strictEqual(hasher.keyUnsafe(new Float64Array(4096))[0], "=", "a large typed array is keyed by its digest, in a short key")
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
      // A cycle closing more than 32 levels down.
      const deep = (name: string) => {
        const root: Record<string, unknown> = { name }
        let node = root
        for (let i = 0; i < 40; i++) node = node.next = { i } as Record<string, unknown>
        node.back = root
        return root
      }
      assert.strictEqual(hash(deep("x")), hash(deep("x")))
      assert.notStrictEqual(hash(deep("x")), hash(deep("y")))
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

    it("does not overflow the stack on Maps and Sets nested 20,000 deep", () => {
      let map: unknown = 1
      let set: unknown = 1
      for (let i = 0; i < 20_000; i++) {
        map = new Map([[i % 3, map]])
        set = new Set([set, i])
      }
      assert.match(hash(map), /^[0-9a-f]{32}$/)
      assert.match(hash(set), /^[0-9a-f]{32}$/)
      assert.isAtMost(hasher.keyUnsafe(set).length, 513, "each level holds the digest of a long member below it")
    })

    it("walks an array to the length it had when the walk reached it, whatever a getter does", () => {
      const array: Array<unknown> = [0, 2]
      Object.defineProperty(array, 0, {
        get: () => {
          array.push(3)
          return {}
        },
        enumerable: true
      })
      assert.strictEqual(hash(array), hash([{}, 2]))
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

    it("counts fields keyed by registered symbols, apart from string keys; leaves out non-enumerable fields", () => {
      const tenant = Symbol.for("recall.test.tenant")
      assert.notStrictEqual(hash({ [tenant]: "acme", id: 1 }), hash({ [tenant]: "globex", id: 1 }))
      assert.notStrictEqual(hash({ [tenant]: "acme", id: 1 }), hash({ id: 1 }))
      assert.notStrictEqual(hash({ [tenant]: "acme" }), hash({ "recall.test.tenant": "acme" }))
      const other = Symbol.for("recall.test.other")
      assert.strictEqual(hash({ [tenant]: 1, [other]: 2 }), hash({ [other]: 2, [tenant]: 1 }))
      const hidden = Object.defineProperty({ id: 1 }, "cache", { value: new Map([[1, 2]]), enumerable: false })
      assert.strictEqual(hash(hidden), hash({ id: 1 }))
      assert.strictEqual(hash(Object.defineProperty({ id: 1 }, Symbol("local"), { value: 1, enumerable: false })), hash({ id: 1 }))
    })

    it("rejects fields keyed by unregistered or well-known symbols, naming the path", () => {
      for (const symbol of [Symbol("tenant"), Symbol.iterator]) {
        const e = thrown(() => hash({ a: [{ [symbol]: "acme", id: 1 }] }))
        assert.instanceOf(e, Hasher.Unhashable)
        assert.deepStrictEqual(e.path, ["a", 0, symbol])
        assert.strictEqual(e.reason, "value")
        assert.include(e.message, "Symbol.for")
      }
    })

    it("throws Unhashable with the path of what it cannot hash", () => {
      class Socket {}
      const e = thrown(() => hash({ options: [1, { socket: new Socket() }] }))
      assert.instanceOf(e, Hasher.Unhashable)
      assert.deepStrictEqual(e.path, ["options", 1, "socket"])
      assert.instanceOf(e.value, Socket)
      assert.strictEqual(e.reason, "instance")
      const inMap = thrown(() => hash([new Map([["conn", new Socket()]]), new Set([() => 1])]))
      assert.instanceOf(inMap, Hasher.Unhashable)
      assert.deepStrictEqual(inMap.path, [0, '(map value "conn")'])
      assert.deepStrictEqual((thrown(() => hash([1, new Set([() => 1])])) as Hasher.Unhashable).path, [1, "(set member)"])
      assert.strictEqual((thrown(() => hash(() => 1)) as Hasher.Unhashable).reason, "value")
      assert.strictEqual((thrown(() => hash(Symbol("local"))) as Hasher.Unhashable).reason, "value")
    })

    it("locates an unhashable value 100,000 levels down in linear time, with a short message", { timeout: 10_000 }, () => {
      let value: unknown = () => 1
      for (let i = 0; i < 100_000; i++) value = { next: value }
      const e = thrown(() => hash([value]))
      assert.instanceOf(e, Hasher.Unhashable)
      assert.strictEqual(e.path.length, 100_001)
      const error = Hasher.toParamError(e, "deep", [])
      assert.isBelow(error.message.length, 1000)
      assert.include(error.argument, "… 99990 more …")
      assert.match(error.argument, /^argument 0 → field "next"/)
    })

    it("turns throwing getters, Proxy traps, revoked Proxies and per-type hashers into Unhashable; the next hash is right", () => {
      class Model {
        readonly id = "m"
      }
      const fails = Hasher.structural({
        hashers: [
          Hasher.by(Model, () => {
            throw new Error("no id")
          })
        ]
      })
      const { proxy: revoked, revoke } = Proxy.revocable({}, {})
      revoke()
      const trap = new Proxy(
        {},
        {
          ownKeys() {
            throw new Error("trap")
          }
        }
      )
      const getter = {
        get secret(): number {
          throw new Error("sealed")
        }
      }
      const before = hash({ a: [1, new Set([2])] })
      const cases: ReadonlyArray<readonly [() => unknown, ReadonlyArray<PropertyKey>, string]> = [
        [() => hash({ a: [getter] }), ["a", 0, "secret"], "sealed"],
        [() => hash({ a: new Map([[1, getter]]) }), ["a", "(map value 1)", "secret"], "sealed"],
        [() => hash({ a: new Set([{ b: trap }]) }), ["a", "(set member)", "b"], "trap"],
        [() => hash([1, revoked]), [1], "revoked"],
        [() => fails.hashUnsafe({ model: new Model() }), ["model"], "no id"]
      ]
      for (const [run, path, message] of cases) {
        const e = thrown(run)
        assert.instanceOf(e, Hasher.Unhashable)
        assert.deepStrictEqual(e.path, path)
        assert.strictEqual(e.reason, "threw")
        assert.include(e.issue, message)
        assert.strictEqual(hash({ a: [1, new Set([2])] }), before, "the walk is reusable after a throw")
        assert.strictEqual(hasher.keyUnsafe({ a: [1, new Set([2])] }), hasher.keyUnsafe({ a: [1, new Set([2])] }))
      }
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
      const itself = Hasher.structural({ hashers: [Hasher.by(Model, (m) => m)] })
      assert.match(itself.hashUnsafe(new Model("a")), /^[0-9a-f]{32}$/, "a hasher that returns the instance ends")
    })

    it("per-type hashers can override a built-in rule", () => {
      const byLength = Hasher.structural({ hashers: [Hasher.by(Float64Array, (a) => a.length)] })
      assert.strictEqual(byLength.hashUnsafe(new Float64Array([1, 2])), byLength.hashUnsafe(new Float64Array([3, 4])))
    })

    it("Hasher.by rejects what is not a class or not a function; structural rejects malformed hashers", () => {
      assert.throws(() => Hasher.by((() => 1) as never, (x) => x), TypeError, /must be a class/)
      assert.throws(() => Hasher.by("Model" as never, (x) => x), TypeError, /must be a class/)
      assert.throws(() => Hasher.by(Date, "id" as never), TypeError, /must be a function/)
      assert.throws(() => Hasher.structural({ hashers: [[Date] as never] }), TypeError, /hashers\[0\]/)
      assert.throws(() => Hasher.structural({ hashers: [Hasher.by(Date, (d) => d), null as never] }), TypeError, /hashers\[1\]/)
    })

    it.effect("Hasher.hash fails with UnhashableParamError instead of throwing", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(Hasher.hash(hasher, { f: () => 1 }))
        assert.strictEqual(error._tag, "UnhashableParamError")
        assert.strictEqual(error.typeName, "function f")
        assert.strictEqual(error.argument, 'field "f"')
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
      const e = thrown(() => h.hashUnsafe({ id: "x" } as never))
      assert.instanceOf(e, Hasher.Unhashable)
      assert.strictEqual(e.reason, "schema")
    })

    it("fingerprints change with the schema", () => {
      const a = Hasher.fingerprint(Schema.Struct({ id: Schema.Number }))
      assert.strictEqual(a, Hasher.fingerprint(Schema.Struct({ id: Schema.Number })))
      assert.notStrictEqual(a, Hasher.fingerprint(Schema.Struct({ id: Schema.String })))
      assert.notStrictEqual(a, Hasher.fingerprint(Schema.Struct({ id: Schema.Number, name: Schema.String })))
    })
  })

  describe("UnhashableParamError", () => {
    const messageOf = (value: unknown) => {
      const e = thrown(() => hash([value]))
      assert.instanceOf(e, Hasher.Unhashable)
      return Hasher.toParamError(e, "f", []).message
    }

    it("suggests a per-type hasher only for class instances, naming the class", () => {
      class Socket {}
      const instance = messageOf({ socket: new Socket() })
      assert.include(instance, 'Cannot hash argument 0 → field "socket" of f')
      assert.include(instance, "Hasher.by(Socket")
      assert.include(instance, "`key` schema")
      assert.include(instance, '"_"')
      for (const value of [{ onDone: () => 1 }, Symbol("local"), { [Symbol("local")]: 1 }]) {
        const message = messageOf(value)
        assert.notInclude(message, "Hasher.by")
        assert.include(message, '"_"')
      }
      assert.include(messageOf({ onDone: () => 1 }), "a function onDone has no value form")
    })

    it("says what threw, and where", () => {
      const message = messageOf({
        get secret(): number {
          throw new RangeError("sealed")
        }
      })
      assert.include(message, 'argument 0 → field "secret"')
      assert.include(message, "RangeError: sealed")
      assert.notInclude(message, "Hasher.by")
    })

    it("for a schema mismatch, points at the schema rather than at adding one", () => {
      const e = thrown(() => Hasher.fromSchema(Schema.Struct({ id: Schema.Number })).hashUnsafe({ id: "x" } as never))
      assert.instanceOf(e, Hasher.Unhashable)
      const message = Hasher.toParamError(e, "page", [0]).message
      assert.include(message, "Cannot hash argument 0 of page: it does not match the `key` schema")
      assert.notInclude(message, "Hasher.by")
      assert.notInclude(message, "DataCache.fn({")
    })
  })

  it("keeps its published values: a change here orphans every persisted entry", () => {
    // Changed once, on 2026-11-22, from recall's own 128-bit hash to XXH3-128
    // (issue 5: the old hash had structured collisions). See docs/hashing.md.
    assert.strictEqual(hash([1, "a", { b: [true, null] }]), "65085e6a515abe8d98419d389918d4ce")
    assert.strictEqual(hash(new Float64Array([1, 2, 3])), "773b573ee44e697c4285fcb40879a646")
    assert.strictEqual(hash(new Float64Array(4096).fill(0.5)), "06b31d7783cd9cbe4a90a19d8da1b798")
    assert.strictEqual(
      hash(
        new Map<unknown, unknown>([
          ["b", 2],
          ["a", new Set([1, "x"])]
        ])
      ),
      "e6a4afc8eb82cea806be937d1d2bfc1a"
    )
  })

  it("gives the same hashes in other processes and on other runs", () => {
    const script = fileURLToPath(new URL("./fixtures/print-hashes.ts", import.meta.url))
    const run = () =>
      JSON.parse(execFileSync(process.execPath, [script], { encoding: "utf8" })) as {
        readonly beforeLoad: string
        readonly viaHash: string
        readonly hashes: Record<string, string>
      }
    const here = Object.fromEntries(Object.entries(cases()).map(([name, value]) => [name, hash(value)]))
    const first = run()
    const second = run()
    assert.strictEqual(first.beforeLoad, "NotLoaded", "hashing before the load is a clear defect")
    assert.strictEqual(first.viaHash, here.nested, "Hasher.hash loads the hasher itself")
    assert.deepStrictEqual(first.hashes, here)
    assert.deepStrictEqual(second.hashes, here)
    assert.strictEqual(new Set(Object.values(here)).size, Object.keys(here).length)
  })
})
