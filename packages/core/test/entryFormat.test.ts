/**
 * The persisted entry format (internal/entryFormat.ts) and its CBOR payload
 * (internal/payload.ts): round trips of every value kind and of replay
 * lines, a second CBOR implementation (cbor-x) reading what recall writes
 * and writing what recall reads, every flipped byte and every truncation a
 * miss, the reasons of each miss, decoding that runs no code, and a 10M
 * Float64Array as raw bytes.
 */
import { createHmac } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import * as CborX from "cbor-x"
import { Tag as Cbor2Tag, encode as cbor2Encode } from "cbor2"
import { BigDecimal, Cause, Chunk, Data, DateTime, Duration, Effect, Equal, HashMap, HashSet, Option, Redacted, Result } from "effect"
import fc from "fast-check"
import * as Entry from "../src/internal/entryFormat.ts"
import * as Payload from "../src/internal/payload.ts"
import type { Line } from "../src/internal/replay.ts"
import { joinedBytes as joined, nativeHex } from "./fixtures/bytes.ts"

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const reasonOf = (result: Result.Result<unknown, Entry.EntryMiss>): string => {
  assert.isTrue(Result.isFailure(result))
  return (result as Result.Failure<unknown, Entry.EntryMiss>).failure._tag
}

const encoded = (value: unknown, output?: ReadonlyArray<Line>): Uint8Array => {
  const result = Payload.encodePayload(value, output)
  if (Result.isFailure(result)) throw new Error(`unencodable: ${result.failure.reason} at ${result.failure.path.join(" ")}`)
  return result.success
}

const decoded = (bytes: Uint8Array, adopt = false): Payload.Payload => {
  const result = Payload.decodePayload(bytes, { adopt })
  if (Result.isFailure(result)) throw new Error(`undecodable: ${result.failure.reason}`)
  return result.success
}

const roundTrip = <A>(value: A): A => decoded(encoded(value)).value as A

/** Equal for Effect's types, deep equality (prototypes included) for the rest. */
const same = (actual: unknown, expected: unknown): void => {
  if (Equal.isEqual(expected)) {
    assert.isTrue(Equal.equals(actual, expected), `${String(actual)} is not Equal to ${String(expected)}`)
    return
  }
  assert.deepStrictEqual(actual, expected)
}

const fields = (overrides?: Partial<Entry.EntryFields>): Entry.EntryFields => ({
  codec: Entry.Codec.structured,
  fingerprint: Entry.NO_FINGERPRINT,
  name: "loadReport",
  identity: "reports.ts#loadReport:1f2e",
  storedAt: 1_700_000_000_000,
  expiresAt: 1_700_000_060_000,
  staleUntil: 1_700_000_120_000,
  ...overrides
})

/** The name the test entries are stored under, in their namespace (a signature covers it). */
const STORE_NAME = "3f9a0c1b2d4e5f60718293a4b5c6d7e8"

const expected: Entry.Expected = {
  codec: Entry.Codec.structured,
  fingerprint: Entry.NO_FINGERPRINT,
  identity: "reports.ts#loadReport:1f2e",
  storeName: STORE_NAME
}

/** encodeEntry's options for an entry stored under STORE_NAME. */
const named = { storeName: STORE_NAME }

const secret = Entry.makeSecret(Redacted.make("a secret of more than sixteen bytes"))
const otherSecret = Entry.makeSecret(Redacted.make("another secret of more than sixteen bytes"))

/** decodeEntry, then decodePayload: what a store tier does with the bytes it reads. */
const read = (bytes: Uint8Array, key?: Entry.EntrySecret) =>
  Effect.map(
    Entry.decodeEntry(bytes, expected, key),
    (entry): Result.Result<Payload.Payload, Entry.EntryMiss | Payload.PayloadMiss> =>
      Result.isFailure(entry) ? Result.fail(entry.failure) : Payload.decodePayload(entry.success.payload)
  )

const sample = {
  id: 7,
  label: "café ☕",
  scores: new Float64Array([1.5, -0, Number.NaN, Infinity]),
  when: new Date(1_700_000_000_123),
  tags: new Set(["a", "b"])
}

// ---------------------------------------------------------------------------
// The payload
// ---------------------------------------------------------------------------

describe("payload: round trips", () => {
  const Float16 = (globalThis as { readonly Float16Array?: new (values: ArrayLike<number>) => ArrayBufferView }).Float16Array
  const cases: ReadonlyArray<readonly [string, unknown]> = [
    ["null", null],
    ["undefined", undefined],
    ["true", true],
    ["false", false],
    ["an integer", 42],
    ["a negative integer", -123_456_789],
    ["a float", Math.PI],
    ["-0", -0],
    ["NaN", Number.NaN],
    ["Infinity", Infinity],
    ["-Infinity", -Infinity],
    ["MAX_SAFE_INTEGER + 2", Number.MAX_SAFE_INTEGER + 2],
    ["0n", 0n],
    ["1n", 1n],
    ["-1n", -1n],
    ["a huge bigint", 2n ** 200n + 12345n],
    ["a huge negative bigint", -(2n ** 90n)],
    ["an empty string", ""],
    ["a string with astral characters", "naïve 𝄞 文字"],
    ["an array", [1, "two", [3, [4]], null, undefined]],
    ["an empty object", {}],
    ["a nested object", { a: { b: { c: [1, 2, { d: "e" }] } }, "1": "integer-like key", "": "empty key" }],
    ["an object with an own __proto__ key", JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')],
    ["an object without prototype", Object.assign(Object.create(null), { x: 1 })],
    ["a Date", new Date(1_700_000_000_123)],
    ["an invalid Date", new Date(Number.NaN)],
    [
      "a Map with keys of every kind",
      new Map<unknown, unknown>([
        ["b", 1],
        ["1", 2],
        [1, 3],
        [{ k: 1 }, 4],
        [null, 5]
      ])
    ],
    ["an empty Map", new Map()],
    ["a Set", new Set([3, "x", { y: 1 }])],
    ["a RegExp", /^a(b+)c$/giu],
    ["a Uint8Array", new Uint8Array([0, 1, 255])],
    ["a Uint8ClampedArray", new Uint8ClampedArray([0, 128, 255])],
    ["an Int8Array", new Int8Array([-128, 0, 127])],
    ["a Uint16Array", new Uint16Array([0, 65535])],
    ["an Int16Array", new Int16Array([-32768, 32767])],
    ["a Uint32Array", new Uint32Array([0, 4294967295])],
    ["an Int32Array", new Int32Array([-2147483648, 2147483647])],
    ["a Float32Array", new Float32Array([1.5, -0, Number.NaN])],
    ["a Float64Array", new Float64Array([Math.E, -0, Number.NaN, -Infinity])],
    ["a BigInt64Array", new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])],
    ["a BigUint64Array", new BigUint64Array([0n, 2n ** 64n - 1n])],
    ...(Float16 === undefined ? [] : [["a Float16Array", new Float16(Array.of(1.5, -2))] as const]),
    ["an empty Float64Array", new Float64Array(0)],
    ["a view into the middle of a buffer", new Float64Array(new ArrayBuffer(64), 16, 3)],
    ["an ArrayBuffer", new Uint8Array([9, 8, 7]).buffer],
    ["a Buffer", Buffer.from("bytes")],
    ["a row of data", sample]
  ]
  for (const [name, value] of cases) {
    it(name, () => same(roundTrip(value), value))
  }

  it("a DataView comes back over a buffer of its own bytes", () => {
    const back = roundTrip(new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2))
    assert.instanceOf(back, DataView)
    assert.deepStrictEqual([...new Uint8Array(back.buffer)], [2, 3])
  })

  it("bytes read as a Node Buffer (a file store's) decode the same, into copies of their own", () => {
    const bytes = encoded(sample)
    const pooled = Buffer.concat([Buffer.alloc(3), Buffer.from(bytes)]).subarray(3)
    const back = decoded(pooled).value as typeof sample
    same(back, sample)
    assert.notStrictEqual(back.scores.buffer, pooled.buffer)
  })

  it("a view into a larger buffer writes its own bytes only", () => {
    const big = new Float64Array(1000).fill(1)
    const view = big.subarray(10, 12)
    assert.isBelow(encoded(view).byteLength, 40)
    same(roundTrip(view), new Float64Array([1, 1]))
  })

  const effectCases: ReadonlyArray<readonly [string, unknown]> = [
    ["Option.none", Option.none()],
    ["Option.some", Option.some({ a: [1, 2] })],
    ["Result.succeed", Result.succeed(new Date(5))],
    ["Result.fail", Result.fail("bad")],
    ["Chunk", Chunk.make(1, "two", Option.some(3))],
    ["HashMap", HashMap.make(["a", 1], ["b", Chunk.make(2)])],
    ["HashSet", HashSet.make(1, 2, Option.some("x"))],
    ["DateTime.Utc", DateTime.makeUnsafe(1_700_000_000_123)],
    ["DateTime.Zoned (named)", DateTime.makeZonedUnsafe(1_700_000_000_123, { timeZone: "Europe/Paris" })],
    ["DateTime.Zoned (offset)", DateTime.setZone(DateTime.makeUnsafe(0), DateTime.zoneMakeOffset(3 * 3_600_000))],
    ["Duration (millis)", Duration.millis(1500)],
    ["Duration (nanos)", Duration.nanos(123_456_789_123n)],
    ["Duration.infinity", Duration.infinity],
    ["Duration.negativeInfinity", Duration.negativeInfinity],
    ["BigDecimal", BigDecimal.fromStringUnsafe("-12345678901234567890.0012")]
  ]
  for (const [name, value] of effectCases) {
    it(`${name}, rebuilt through Effect's constructors`, () => {
      const back = roundTrip(value)
      same(back, value)
      assert.strictEqual(Object.getPrototypeOf(back), Object.getPrototypeOf(value))
    })
  }

  it("a DateTime keeps its zone", () => {
    const zoned = DateTime.makeZonedUnsafe(1_700_000_000_123, { timeZone: "Asia/Tokyo" })
    const back = roundTrip(zoned) as DateTime.Zoned
    assert.strictEqual(back.zone._tag, "Named")
    assert.strictEqual(DateTime.formatIsoZoned(back), DateTime.formatIsoZoned(zoned))
  })

  it("a Duration keeps its unit", () => {
    assert.strictEqual(roundTrip(Duration.millis(5)).value._tag, "Millis")
    assert.strictEqual(roundTrip(Duration.nanos(5n)).value._tag, "Nanos")
  })

  it("shared references stay shared and cycles stay cycles", () => {
    const shared = { n: 1 }
    const cyclic: Record<string, unknown> = { name: "root" }
    cyclic.self = cyclic
    const list: Array<unknown> = [shared, shared]
    list.push(list)
    const map = new Map<unknown, unknown>([[shared, cyclic]])
    map.set("map", map)
    const value = { a: shared, b: shared, cyclic, list, map, set: new Set([shared]), option: Option.some(shared) }
    const back = roundTrip(value)
    assert.strictEqual(back.a, back.b)
    assert.strictEqual(back.cyclic.self, back.cyclic)
    assert.strictEqual(back.list[0], back.a)
    assert.strictEqual(back.list[2], back.list)
    assert.strictEqual([...back.map.keys()][0], back.a)
    assert.strictEqual(back.map.get(back.a), back.cyclic)
    assert.strictEqual(back.map.get("map"), back.map)
    assert.strictEqual([...back.set][0], back.a)
    assert.strictEqual(Option.getOrThrow(back.option), back.a)
  })

  it("typed arrays are copies of their own by default; adopted, only the largest (64 KiB or more) is a view into the bytes", () => {
    const bytes = encoded({ a: new Float64Array([1, 2, 3]), b: new Uint8Array([4, 5]) })
    const copied = decoded(bytes).value as { a: Float64Array; b: Uint8Array }
    assert.notStrictEqual(copied.a.buffer, bytes.buffer)
    assert.notStrictEqual(copied.b.buffer, bytes.buffer)
    assert.strictEqual(copied.a.buffer.byteLength, 24)
    // Small ones are copies even when adopted: a view would show the whole entry through its buffer.
    const small = decoded(bytes, true).value as { a: Float64Array; b: Uint8Array }
    assert.notStrictEqual(small.b.buffer, bytes.buffer)
    same(small, copied)
    // Found by a stranger trial: adopted views of one entry shared its buffer, which the body's arrays did not
    // (transferring one's buffer detached the other). Only the largest is a view; each other has a buffer of its own.
    const large = encoded({ a: new Float64Array(10_000).fill(1), b: new Float64Array(50_000).fill(2), c: new Int32Array(30_000).fill(3) })
    const adopted = decoded(large, true).value as { a: Float64Array; b: Float64Array; c: Int32Array }
    assert.strictEqual(adopted.b.buffer, large.buffer, "the largest, over half of the bytes, is a view")
    assert.notStrictEqual(adopted.a.buffer, large.buffer)
    assert.notStrictEqual(adopted.c.buffer, large.buffer)
    assert.notStrictEqual(adopted.a.buffer, adopted.c.buffer)
    assert.strictEqual(adopted.a.buffer.byteLength, adopted.a.byteLength)
    structuredClone(adopted.a, { transfer: [adopted.a.buffer] })
    assert.strictEqual(adopted.c[29_999], 3, "transferring one array's buffer leaves the others whole")
    assert.strictEqual(adopted.b[49_999], 2)
    // Four columns of a quarter each: a view of one would keep all four columns' bytes alive; every one is a copy.
    const frame = encoded({
      a: new Float64Array(20_000),
      b: new Float64Array(20_000),
      c: new Float64Array(20_000),
      d: new Float64Array(20_000)
    })
    const columns = Object.values(decoded(frame, true).value as Record<string, Float64Array>)
    for (const column of columns) assert.notStrictEqual(column.buffer, frame.buffer)
    assert.strictEqual(new Set(columns.map((column) => column.buffer)).size, 4)
  })

  it("decoding never throws, whatever the bytes (every byte of a payload flipped, every truncation)", () => {
    const bytes = encoded(sample, [{ _tag: "Console", method: "log", args: ["hello", { n: 1 }] }])
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const flipped = bytes.slice()
        flipped[i]! ^= mask
        Payload.decodePayload(flipped)
      }
      assert.isTrue(Result.isFailure(Payload.decodePayload(bytes.subarray(0, i))))
    }
  })
})

describe("payload: replay lines", () => {
  it("Console and log lines, with causes, annotations and spans, come back as they were recorded", () => {
    const failure = new Error("boom", { cause: new TypeError("inner") })
    const cause = Cause.fromReasons([
      Cause.makeFailReason(failure),
      Cause.makeDieReason(new RangeError("defect")),
      Cause.makeInterruptReason(7)
    ])
    const lines: ReadonlyArray<Line> = [
      { _tag: "Console", method: "log", args: ["rows:", 3, { sample: new Float64Array([1, 2]) }] },
      { _tag: "Console", method: "group", args: [] },
      { _tag: "Console", method: "table", args: [[{ a: 1 }, { a: 2 }]] },
      { _tag: "Console", method: "groupEnd", args: [] },
      { _tag: "Log", level: "Info", message: ["loaded", new Map([["k", 1]])], cause: undefined, annotations: undefined, spans: undefined },
      {
        _tag: "Log",
        level: "Error",
        message: ["failed"],
        cause,
        annotations: { request: "r-1", attempt: 2, __proto__: "own" } as Record<string, unknown>,
        spans: [
          ["load", 12.5],
          ["parse", 3]
        ]
      }
    ]
    const back = decoded(encoded({ ok: true }, lines))
    same(back.value, { ok: true })
    const output = back.output!
    assert.strictEqual(output.length, lines.length)
    for (let i = 0; i < 5; i++) same(output[i], lines[i])
    const log = output[5] as Extract<Line, { _tag: "Log" }>
    assert.strictEqual(log.level, "Error")
    same(log.message, ["failed"])
    same(log.annotations, lines[5]!._tag === "Log" ? lines[5]!.annotations : undefined)
    same(log.spans, [
      ["load", 12.5],
      ["parse", 3]
    ])
    const reasons = log.cause!.reasons
    assert.strictEqual(reasons.length, 3)
    const [fail, die, interrupt] = reasons
    assert.strictEqual(fail!._tag, "Fail")
    const error = (fail as Cause.Fail<Error>).error
    assert.instanceOf(error, Error)
    assert.strictEqual(error.message, "boom")
    assert.strictEqual(error.stack, failure.stack)
    assert.strictEqual((error.cause as Error).name, "TypeError")
    assert.strictEqual(((die as Cause.Die).defect as Error).name, "RangeError")
    assert.strictEqual((interrupt as Cause.Interrupt).fiberId, 7)
  })

  it("no output is undefined, and an empty output is empty", () => {
    assert.isUndefined(decoded(encoded(1)).output)
    assert.deepStrictEqual(decoded(encoded(1, [])).output, [])
  })

  it("a line of a Console method that does not exist, or of no log level, is a miss", () => {
    for (const line of [
      [0, "constructor", []],
      [1, "Loud", [], null, null, null],
      [2, "log", []]
    ]) {
      const bytes = cbor2Encode(new Cbor2Tag(Payload.Tags.payload, [1, [line]]))
      assert.isTrue(Result.isFailure(Payload.decodePayload(bytes)))
    }
  })
})

describe("payload: what it refuses, with a typed reason", () => {
  class Account {
    balance = 1
  }
  class Point extends Data.Class<{ x: number }> {}
  // biome-ignore lint/suspicious/noSparseArray: the hole is the point
  const sparse = [1, , 3]
  const withField = Object.assign([1, 2], { extra: true })
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["a class instance", { account: new Account() }, 'field "account"'],
    ["a Data class instance (it needs a value schema)", [new Point({ x: 1 })], "[0]"],
    ["a Redacted (never written in clear)", { password: Redacted.make("hunter2") }, 'field "password"'],
    ["a function", { run: () => 1 }, 'field "run"'],
    ["a symbol-keyed field", { [Symbol("s")]: 1 }, ""],
    ["an array with holes", { sparse }, 'field "sparse"'],
    ["an array with fields besides its elements", { withField }, 'field "withField"'],
    ["a string that is not well-formed UTF-16", { text: "a\uD800b" }, 'field "text"'],
    ["a subclass of Map", { m: new (class Weights extends Map {})() }, 'field "m"'],
    [
      "a RegExp with a lastIndex",
      (() => {
        const r = /a/g
        r.lastIndex = 1
        return { r }
      })(),
      'field "r"'
    ]
  ]
  for (const [name, value, path] of cases) {
    it(name, () => {
      const result = Payload.encodePayload(value)
      assert.isTrue(Result.isFailure(result))
      const failure = (result as Result.Failure<Uint8Array, Payload.Unencodable>).failure
      assert.strictEqual(failure._tag, "Unencodable")
      assert.strictEqual(failure.path.join(" "), path)
      assert.isString(failure.reason)
    })
  }

  it("nesting deeper than MAX_DEPTH is refused, not a stack overflow", () => {
    let deep: unknown = 1
    for (let i = 0; i < Payload.MAX_DEPTH + 5; i++) deep = [deep]
    const result = Payload.encodePayload(deep)
    assert.isTrue(Result.isFailure(result))
    let ok: unknown = 1
    for (let i = 0; i < Payload.MAX_DEPTH - 1; i++) ok = [ok]
    same(roundTrip(ok), ok)
  })

  it("a replay line that cannot be written names its line", () => {
    const result = Payload.encodePayload(1, [{ _tag: "Console", method: "log", args: ["ok", () => 1] }])
    assert.isTrue(Result.isFailure(result))
    assert.strictEqual((result as Result.Failure<Uint8Array, Payload.Unencodable>).failure.path[0], "output line 0")
  })
})

describe("payload: a second CBOR implementation (cbor-x)", () => {
  // The plain kinds: what any CBOR reader can take from recall's payload, and what recall reads from any writer.
  const plain: ReadonlyArray<readonly [string, unknown]> = [
    ["null", null],
    ["undefined", undefined],
    ["booleans", [true, false]],
    ["integers", [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32, -1, -(2 ** 40)]],
    ["floats", [1.5, Math.PI, 1e300, -1e-300, Number.NaN, Infinity, -Infinity]],
    ["strings", ["", "ascii", "naïve 𝄞 文字"]],
    ["a bignum", 2n ** 100n],
    ["a negative bignum", -(2n ** 100n)],
    ["arrays", [[], [1, [2, [3]]]]],
    ["objects", { a: 1, nested: { b: [1, "x"] }, "": null }],
    ["a Uint8Array", new Uint8Array([1, 2, 3])],
    ["an Int8Array", new Int8Array([-1, 1])],
    ["a Uint8ClampedArray", new Uint8ClampedArray([0, 255])],
    ["a Uint16Array", new Uint16Array([1, 65535])],
    ["an Int16Array", new Int16Array([-1, 1])],
    ["a Uint32Array", new Uint32Array([1, 2 ** 32 - 1])],
    ["an Int32Array", new Int32Array([-1, 1])],
    ["a Float32Array", new Float32Array([1.5, -2.25])],
    ["a Float64Array", new Float64Array([Math.PI, -0])],
    ["a BigInt64Array", new BigInt64Array([-1n, 2n ** 62n])],
    ["a BigUint64Array", new BigUint64Array([1n, 2n ** 64n - 1n])]
  ]
  // int64AsNumber: 64-bit integer heads as numbers, as recall reads them (cbor-x's default gives bigints).
  const decoder = new CborX.Decoder({ mapsAsObjects: true, useRecords: false, int64AsNumber: true } as CborX.Options)
  const encoder = new CborX.Encoder({ useRecords: false, tagUint8Array: true })

  for (const [name, value] of plain) {
    it(`${name}: cbor-x reads what recall writes, and recall reads what cbor-x writes`, () => {
      const ours = decoder.decode(encoded(value)) as CborX.Tag
      assert.instanceOf(ours, CborX.Tag)
      assert.strictEqual(ours.tag, Payload.Tags.payload)
      same((ours.value as Array<unknown>)[0], value)
      const theirs = encoder.encode(new CborX.Tag([value, null], Payload.Tags.payload))
      same(decoded(theirs).value, value)
    })
  }

  it("-0, which cbor-x writes as 0, still reads back from cbor-x as a number, and recall's -0 reads as -0 there", () => {
    assert.isTrue(Object.is((decoder.decode(encoded(-0)) as CborX.Tag).value[0], -0))
  })

  it("recall's Map and Set are the registered tags cbor-x reads (259, 258); RegExp is tag 21066, [source, flags]", () => {
    const map = new Map<unknown, unknown>([
      [1, "a"],
      ["b", 2]
    ])
    const theirs = (decoder.decode(encoded([map, new Set([1, 2]), /x+/g])) as CborX.Tag).value[0] as Array<unknown>
    same(theirs[0], map)
    same(theirs[1], new Set([1, 2]))
    const regExp = theirs[2] as CborX.Tag
    assert.strictEqual(regExp.tag, 21066)
    assert.deepStrictEqual(regExp.value, ["x+", "g"])
  })

  it("an own __proto__ key that cbor-x writes is an own key here (cbor-x itself renames it when reading)", () => {
    const value = JSON.parse('{"__proto__": {"x": 1}}')
    const back = decoded(encoder.encode(new CborX.Tag([value, null], Payload.Tags.payload))).value as object
    assert.isTrue(Object.hasOwn(back, "__proto__"))
    assert.strictEqual(Object.getPrototypeOf(back), Object.prototype)
    same(back, value)
  })
})

describe("payload: decoding runs no code", () => {
  it("__proto__ keys and constructor names stay plain data", () => {
    const crafted = cbor2Encode(
      new Cbor2Tag(Payload.Tags.payload, [
        new Map<string, unknown>([
          ["__proto__", new Map([["polluted", true]])],
          ["constructor", new Map([["prototype", new Map([["polluted", true]])]])],
          ["toString", "Function('return globalThis')()"],
          ["type", "Function"]
        ]),
        null
      ])
    )
    const value = decoded(crafted).value as Record<string, unknown>
    assert.strictEqual(Object.getPrototypeOf(value), Object.prototype)
    assert.isTrue(Object.hasOwn(value, "__proto__"))
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(value, "__proto__")?.value, { polluted: true })
    assert.isUndefined(({} as Record<string, unknown>).polluted)
    const own = (key: string): unknown => Object.getOwnPropertyDescriptor(value, key)?.value
    assert.strictEqual(own("toString"), "Function('return globalThis')()")
    assert.deepStrictEqual(own("constructor"), { prototype: { polluted: true } })
  })

  it("neither Function nor eval is called while decoding", () => {
    // biome-ignore lint/security/noGlobalEval: eval is read to be trapped, never called
    const original = { Function: globalThis.Function, eval: globalThis.eval }
    const calls: Array<string> = []
    const trap = (name: string) =>
      new Proxy(original[name as "eval"], {
        apply: () => {
          calls.push(name)
          throw new Error(`${name} called`)
        },
        construct: () => {
          calls.push(name)
          throw new Error(`${name} called`)
        }
      })
    const bytes = encoded({ rows: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `n${i}`, v: [i] })), sample })
    globalThis.Function = trap("Function") as FunctionConstructor
    globalThis.eval = trap("eval") as typeof eval
    try {
      for (let i = 0; i < 5; i++) decoded(bytes)
    } finally {
      globalThis.Function = original.Function
      globalThis.eval = original.eval
    }
    assert.deepStrictEqual(calls, [])
  })

  it("tags recall never writes are a miss: cbor-x's records, Errors, a JS class name", () => {
    const records = new CborX.Encoder({ useRecords: true }).encode(new CborX.Tag([[{ a: 1 }, { a: 2 }], null], Payload.Tags.payload))
    const error = new CborX.Encoder().encode(new CborX.Tag([new Error("x"), null], Payload.Tags.payload))
    const classTag = cbor2Encode(new Cbor2Tag(Payload.Tags.payload, [new Cbor2Tag(27, ["Function", "return 1"]), null]))
    for (const bytes of [records, error, classTag]) {
      const result = Payload.decodePayload(bytes)
      assert.isTrue(Result.isFailure(result))
      assert.strictEqual((result as Result.Failure<Payload.Payload, Payload.PayloadMiss>).failure._tag, "PayloadUndecodable")
    }
  })

  it("a reference to a shareable not yet complete inside an immutable value is a miss", () => {
    const crafted = cbor2Encode(
      new Cbor2Tag(Payload.Tags.payload, [new Cbor2Tag(28, new Cbor2Tag(Payload.Tags.option, [new Cbor2Tag(29, 0)])), null])
    )
    assert.isTrue(Result.isFailure(Payload.decodePayload(crafted)))
  })
})

// ---------------------------------------------------------------------------
// The entry
// ---------------------------------------------------------------------------

describe("entry: round trips", () => {
  it.effect("fields and payload come back, unsigned and signed", () =>
    Effect.gen(function* () {
      const payload = encoded(sample)
      const key = yield* secret
      for (const signing of [undefined, key]) {
        const bytes = yield* Entry.encodeEntry(fields(), payload, signing, named)
        assert.strictEqual(bytes.byteLength, Entry.HEADER_BYTES + 10 + 26 + payload.byteLength + (signing ? 32 : 0))
        const entry = yield* Entry.decodeEntry(bytes, expected, signing)
        assert.isTrue(Result.isSuccess(entry))
        const got = (entry as Result.Success<Entry.DecodedEntry, Entry.EntryMiss>).success
        assert.strictEqual(got.name, "loadReport")
        assert.strictEqual(got.identity, "reports.ts#loadReport:1f2e")
        assert.strictEqual(got.storedAt, 1_700_000_000_000)
        assert.strictEqual(got.expiresAt, 1_700_000_060_000)
        assert.strictEqual(got.staleUntil, 1_700_000_120_000)
        assert.strictEqual(got.signed, signing !== undefined)
        assert.deepStrictEqual(got.payload, payload)
        same(decoded(got.payload as Uint8Array).value, sample)
      }
    })
  )

  it.effect("the header is little-endian at fixed offsets, names in UTF-8 after it (docs/entry-format.md)", () =>
    Effect.gen(function* () {
      const fingerprint = Uint8Array.from({ length: 16 }, (_, i) => i + 1)
      const bytes = yield* Entry.encodeEntry(
        fields({ codec: Entry.Codec.schema, fingerprint, name: "é", identity: "id", expiresAt: Infinity, staleUntil: Infinity }),
        new Uint8Array([0xaa, 0xbb])
      )
      const view = new DataView(bytes.buffer)
      assert.deepStrictEqual([...bytes.subarray(0, 4)], [0x89, 0x52, 0x43, 0x4c])
      assert.strictEqual(view.getUint16(4, true), 1)
      assert.strictEqual(bytes[6], 2)
      assert.strictEqual(bytes[7], 0)
      assert.deepStrictEqual(bytes.subarray(8, 24), fingerprint)
      assert.strictEqual(view.getFloat64(24, true), 1_700_000_000_000)
      assert.strictEqual(view.getFloat64(32, true), Infinity)
      assert.strictEqual(view.getFloat64(40, true), Infinity)
      assert.strictEqual(view.getUint32(48, true), 2)
      assert.strictEqual(view.getUint32(52, true), 2)
      assert.strictEqual(view.getBigUint64(56, true), 2n)
      assert.deepStrictEqual([...bytes.subarray(96)], [0xc3, 0xa9, 0x69, 0x64, 0xaa, 0xbb])
      const header = yield* Entry.readHeader(bytes)
      assert.isTrue(Result.isSuccess(header))
      assert.strictEqual((header as Result.Success<Entry.EntryFields, Entry.EntryMiss>).success.name, "é")
    })
  )
})

describe("entry: checked against second implementations", () => {
  const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

  it.effect("the checksums are XXH3-128 as @node-rs/xxhash computes it", () =>
    Effect.gen(function* () {
      const payload = encoded(sample)
      const bytes = yield* Entry.encodeEntry(fields(), payload)
      assert.strictEqual(hex(bytes.subarray(64, 80)), nativeHex(payload))
      const names = bytes.subarray(96, 96 + 10 + 26)
      const covered = new Uint8Array(80 + names.length)
      covered.set(bytes.subarray(0, 80))
      covered.set(names, 80)
      assert.strictEqual(hex(bytes.subarray(80, 96)), nativeHex(covered))
    })
  )

  it.effect("the signature is HMAC-SHA-256 as node:crypto computes it, under the derived key", () =>
    Effect.gen(function* () {
      const bytes = yield* Entry.encodeEntry(fields(), encoded(sample), yield* secret, named)
      const key = createHmac("sha256", "a secret of more than sixteen bytes").update("recall entry signature, format 1").digest()
      const body = bytes.subarray(0, bytes.length - 32)
      // HMAC("recall entry stored as" || u32le(name length) || name || HMAC(body)), as docs/entry-format.md lays it out.
      const inner = createHmac("sha256", key).update(body).digest()
      const length = Buffer.alloc(4)
      length.writeUInt32LE(Buffer.byteLength(STORE_NAME))
      const signature = createHmac("sha256", key)
        .update("recall entry stored as")
        .update(length)
        .update(STORE_NAME)
        .update(inner)
        .digest("hex")
      assert.strictEqual(hex(bytes.subarray(bytes.length - 32)), signature)
      assert.strictEqual(bytes[Entry.Offsets.flags], 1)
    })
  )
})

describe("entry: every corruption is a miss", () => {
  const corruptions = (key: Entry.EntrySecret | undefined) =>
    Effect.gen(function* () {
      const bytes = yield* Entry.encodeEntry(fields(), encoded(sample, [{ _tag: "Console", method: "log", args: ["x"] }]), key, named)
      const reasons = new Set<string>()
      for (let i = 0; i < bytes.length; i++) {
        for (const mask of [0x01, 0xff]) {
          const flipped = bytes.slice()
          flipped[i]! ^= mask
          const result = yield* read(flipped, key)
          assert.isTrue(Result.isFailure(result), `byte ${i} ^ ${mask} was not a miss`)
          if (Result.isFailure(result)) reasons.add(result.failure._tag)
        }
      }
      for (let length = 0; length < bytes.length; length++) {
        const result = yield* read(bytes.slice(0, length), key)
        assert.isTrue(Result.isFailure(result), `a truncation to ${length} bytes was not a miss`)
      }
      const longer = new Uint8Array(bytes.length + 1)
      longer.set(bytes)
      const trailing = yield* read(longer, key)
      assert.strictEqual(Result.isFailure(trailing) ? trailing.failure._tag : undefined, "TrailingBytes")
      return reasons
    })

  it.effect("every byte flipped, every truncation, trailing bytes: unsigned", () =>
    Effect.map(corruptions(undefined), (reasons) => {
      for (const reason of ["NotAnEntry", "UnsupportedVersion", "BadHeaderChecksum", "BadChecksum", "Truncated"]) {
        assert.isTrue(reasons.has(reason), `no flip gave ${reason}: ${[...reasons]}`)
      }
    })
  )

  it.effect("every byte flipped, every truncation, trailing bytes: signed", () =>
    Effect.flatMap(secret, (key) =>
      Effect.map(corruptions(key), (reasons) => {
        assert.isTrue(reasons.has("BadSignature"))
      })
    )
  )
})

describe("entry: the reason of each miss", () => {
  const payload = new Uint8Array([1, 2, 3])

  it.effect("a bad payload checksum", () =>
    Effect.gen(function* () {
      const bytes = yield* Entry.encodeEntry(fields(), payload)
      bytes[bytes.length - 1]! ^= 1
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(bytes, expected)), "BadChecksum")
    })
  )

  it.effect("a payload encoded with the entry's room is written in place: the same bytes as a copied one", () =>
    Effect.gen(function* () {
      const key = yield* secret
      const value = { a: new Float64Array([1, 2, 3]), text: "héllo" }
      for (const signing of [undefined, key]) {
        const room = Entry.entryRoom(fields(), signing !== undefined)
        const spaced = Payload.encodePayload(value, undefined, room)
        if (Result.isFailure(spaced)) throw new Error("unencodable")
        const inPlace = yield* Entry.encodeEntry(fields(), spaced.success, signing, { inPlace: true, ...named })
        assert.strictEqual(inPlace.buffer, spaced.success.buffer)
        assert.deepStrictEqual(inPlace, yield* Entry.encodeEntry(fields(), encoded(value), signing, named))
      }
    })
  )

  it.effect("a wrong secret, a missing signature, a signature nobody can check", () =>
    Effect.gen(function* () {
      const key = yield* secret
      const other = yield* otherSecret
      const signed = yield* Entry.encodeEntry(fields(), payload, key, named)
      const unsigned = yield* Entry.encodeEntry(fields(), payload)
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(signed, expected, other)), "BadSignature")
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(unsigned, expected, key)), "MissingSignature")
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(signed, expected)), "UnexpectedSignature")
      // A tampered entry re-checksummed by someone without the secret is still a miss.
      const tampered = signed.slice()
      tampered[Entry.Offsets.expiresAt + 7]! ^= 0x01
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(tampered, expected, key)), "BadSignature")
      // Found by a stranger trial: a signed entry copied, unchanged, to another call's name (alice's balance
      // read as mallory's). The signature covers the name it is stored under.
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(signed, { ...expected, storeName: "another call's name" }, key)), "BadSignature")
      assert.isTrue(Result.isSuccess(yield* Entry.decodeEntry(signed, expected, key)))
    })
  )

  it.effect("another format version, codec, value-schema fingerprint or identity", () =>
    Effect.gen(function* () {
      const bytes = yield* Entry.encodeEntry(fields(), payload)
      const version = bytes.slice()
      new DataView(version.buffer).setUint16(Entry.Offsets.version, 2, true)
      const miss = yield* Entry.decodeEntry(version, expected)
      assert.deepStrictEqual((miss as Result.Failure<unknown, Entry.EntryMiss>).failure, { _tag: "UnsupportedVersion", version: 2 })
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(bytes, { ...expected, codec: Entry.Codec.schema })), "CodecMismatch")
      assert.strictEqual(
        reasonOf(yield* Entry.decodeEntry(bytes, { ...expected, fingerprint: new Uint8Array(16).fill(7) })),
        "FingerprintMismatch"
      )
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(bytes, { ...expected, identity: "another" })), "IdentityMismatch")
      const withSchema = yield* Entry.encodeEntry(fields({ codec: Entry.Codec.schema, fingerprint: new Uint8Array(16).fill(1) }), payload)
      assert.strictEqual(
        reasonOf(yield* Entry.decodeEntry(withSchema, { ...expected, codec: Entry.Codec.schema, fingerprint: new Uint8Array(16).fill(2) })),
        "FingerprintMismatch"
      )
      for (const tag of ["Truncated", "NotAnEntry", "BadChecksum", "BadSignature", "FingerprintMismatch"] as const) {
        assert.isString(Entry.describeMiss({ _tag: tag } as Entry.EntryMiss))
      }
    })
  )

  it("a secret shorter than 16 bytes is refused", async () => {
    const exit = await Effect.runPromiseExit(Entry.makeSecret(Redacted.make("short")))
    assert.isTrue(exit._tag === "Failure")
  })
})

// ---------------------------------------------------------------------------
// Large binary values
// ---------------------------------------------------------------------------

describe("aligned typed arrays", () => {
  it.effect("typed arrays of 1 KiB or more start on a multiple of 8 in the entry, so an owner of the bytes views them in place", () =>
    Effect.gen(function* () {
      const value = {
        a: new Float64Array(10_000).fill(2),
        b: "x",
        c: new Int32Array(5_000).fill(3),
        d: new Uint8Array(3),
        e: new Float64Array(3)
      }
      // Names of every length modulo 8 move the payload's start: the padding follows it.
      for (const name of ["f", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"]) {
        const entryFields = fields({ name, identity: `${name}:0123` })
        const payload = Result.getOrThrow(Payload.encodePayload(value, undefined, Entry.entryRoom(entryFields, false)))
        const bytes = yield* Entry.encodeEntry(entryFields, payload, undefined, { inPlace: true })
        const entry = Result.getOrThrow(yield* Entry.decodeEntry(bytes, { codec: entryFields.codec, fingerprint: entryFields.fingerprint }))
        const read = Result.getOrThrow(Payload.decodePayload(entry.payload, { adopt: true })).value as typeof value
        assert.strictEqual(read.a.buffer, bytes.buffer, `${name}: the Float64Array, the largest, is a view into the entry`)
        assert.notStrictEqual(read.c.buffer, bytes.buffer, `${name}: the Int32Array is a copy (one view per buffer)`)
        assert.strictEqual(read.a.byteOffset % 8, 0)
        same(read, value)
        // Without adopting, every array is a copy of its own.
        const copied = Result.getOrThrow(Payload.decodePayload(entry.payload)).value as typeof value
        assert.notStrictEqual(copied.a.buffer, bytes.buffer)
        same(copied, value)
      }
    })
  )

  it("cbor-x reads an aligned typed array as recall's tag around the RFC 8746 one, padding first", () => {
    const column = new Float64Array(200).fill(1.5)
    const decoder = new CborX.Decoder({ mapsAsObjects: true, useRecords: false, int64AsNumber: true } as CborX.Options)
    const payload = decoder.decode(encoded(column)) as CborX.Tag
    const aligned = (payload.value as Array<unknown>)[0] as CborX.Tag
    assert.strictEqual(aligned.tag, Payload.Tags.aligned)
    const [padding, inner] = aligned.value as [Uint8Array, Float64Array]
    assert.isAtMost(padding.byteLength, 7)
    assert.deepStrictEqual(Array.from(inner), Array.from(column))
  })
})

describe("an entry in parts (a large value for a store's setParts)", () => {
  it.effect("its parts joined are the entry written whole, byte for byte; its typed arrays are parts by reference", () =>
    Effect.gen(function* () {
      const a = new Float64Array(20_000).map((_, i) => i / 3)
      const c = new Int16Array(40_000).fill(-7)
      const values = [
        { a, b: "text between", c, d: new Uint8Array(3), e: [new Float32Array(17_000).fill(0.5), new Map([["k", 1]])] },
        a,
        { small: new Float64Array(10), text: "héllo" },
        { a, c }
      ]
      const output: ReadonlyArray<Line> = [{ _tag: "Console", method: "log", args: ["a line"] }]
      // Names of every length modulo 8 move the payload's start: the padding follows it in parts as whole.
      for (const name of ["f", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"]) {
        const entryFields = fields({ name, identity: `${name}:0123` })
        for (const value of values) {
          for (const lines of [undefined, output]) {
            const room = Entry.entryRoom(entryFields, false)
            const whole = yield* Entry.encodeEntry(entryFields, Result.getOrThrow(Payload.encodePayload(value, lines, room)), undefined, {
              inPlace: true
            })
            const payload = Result.getOrThrow(Payload.encodePayloadParts(value, lines, room.before))
            const parts = yield* Entry.encodeEntryParts(entryFields, payload)
            assert.deepStrictEqual(joined(parts), whole, `${name}: the same bytes`)
            assert.strictEqual(joined(parts).byteLength, room.before + payload.byteLength)
          }
        }
        const parts = Result.getOrThrow(Payload.encodePayloadParts(values[0], undefined, 100)).parts
        assert.isTrue(
          parts.some((part) => part.buffer === a.buffer),
          "a typed array of 64 KiB and more is a part of its own, not copied"
        )
        assert.isTrue(parts.some((part) => part.buffer === c.buffer))
      }
    })
  )

  it.effect("its payload checksum is XXH3-128 of the joined payload, as @node-rs/xxhash computes it", () =>
    Effect.gen(function* () {
      const value = { a: new Float64Array(30_000).fill(1.25), b: "between", c: new Uint8Array(70_000).fill(9) }
      const room = Entry.entryRoom(fields(), false)
      const payload = Result.getOrThrow(Payload.encodePayloadParts(value, undefined, room.before))
      assert.isAbove(payload.parts.length, 2)
      const entry = joined(yield* Entry.encodeEntryParts(fields(), payload))
      const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
      assert.strictEqual(hex(entry.subarray(64, 80)), nativeHex(entry.subarray(room.before)))
      const read = Result.getOrThrow(yield* Entry.decodeEntry(entry, expected))
      same(Result.getOrThrow(Payload.decodePayload(read.payload)).value, value)
    })
  )
})

describe("a 10M-element Float64Array", () => {
  it.effect("is written and read as its raw bytes, at about the cost of slice()", () =>
    Effect.gen(function* () {
      const n = 10_000_000
      const column = new Float64Array(n)
      for (let i = 0; i < n; i++) column[i] = i * 0.5
      const time = <A>(f: () => A): { readonly ms: number; readonly value: A } => {
        let best = Infinity
        let value!: A
        for (let run = 0; run < 3; run++) {
          const start = performance.now()
          value = f()
          best = Math.min(best, performance.now() - start)
        }
        return { ms: best, value }
      }
      const slice = time(() => column.slice())
      const encode = time(() => encoded({ column }))
      const payload = encode.value
      // Raw bytes: 8 per element and a few bytes of CBOR heads; no base64, no numbers one by one.
      assert.isBelow(payload.byteLength - n * 8, 64)
      const decode = time(() => decoded(payload).value as { column: Float64Array })
      const adopt = time(() => decoded(payload, true).value as { column: Float64Array })
      const entry = yield* Entry.encodeEntry(fields(), payload)
      const start = performance.now()
      const read = yield* Entry.decodeEntry(entry, expected)
      const entryMs = performance.now() - start
      assert.isTrue(Result.isSuccess(read))
      const back = decode.value.column
      assert.strictEqual(back.length, n)
      assert.deepStrictEqual(new Uint8Array(back.buffer, back.byteOffset, back.byteLength), new Uint8Array(column.buffer))
      assert.strictEqual(adopt.value.column[n - 1], (n - 1) * 0.5)
      const encodeEntryStart = performance.now()
      yield* Entry.encodeEntry(fields(), payload)
      const encodeEntryMs = performance.now() - encodeEntryStart
      console.log(
        [
          `10M Float64Array (80 MB), best of 3: slice() ${slice.ms.toFixed(1)} ms`,
          `encodePayload ${encode.ms.toFixed(1)} ms (${(encode.ms / slice.ms).toFixed(2)}x slice)`,
          `decodePayload ${decode.ms.toFixed(1)} ms (${(decode.ms / slice.ms).toFixed(2)}x)`,
          `decodePayload adopt ${adopt.ms.toFixed(1)} ms (${adopt.value.column.buffer === payload.buffer ? "a view" : "a copy: unaligned"})`,
          `encodeEntry ${encodeEntryMs.toFixed(1)} ms, decodeEntry (checksums) ${entryMs.toFixed(1)} ms`
        ].join("; ")
      )
    })
  )
})

describe("a payload read in parts (a store's getParts)", () => {
  /** A copy of `bytes` alone in a buffer of its own, as a store that reads parts apart returns a large one. */
  const alone = (bytes: Uint8Array): Uint8Array => {
    const own = new Uint8Array(bytes.byteLength)
    own.set(bytes)
    return own
  }
  /**
   * `encodePayloadParts`' parts as the disk store returns them: each part of
   * 64 KiB or more alone in its buffer, the runs of smaller ones joined (then
   * cut again at `cuts`, fractions of each run, as a store may).
   */
  const asRead = (parts: ReadonlyArray<Uint8Array>, cuts: ReadonlyArray<number> = []): Array<Uint8Array> => {
    const out: Array<Uint8Array> = []
    let run: Array<Uint8Array> = []
    const endRun = () => {
      if (run.length === 0) return
      const bytes = joined(run)
      run = []
      let from = 0
      for (const cut of [...cuts].sort()) {
        const at = Math.floor(cut * bytes.byteLength)
        if (at > from) out.push(bytes.subarray(from, at))
        from = Math.max(from, at)
      }
      out.push(bytes.subarray(from))
    }
    for (const part of parts) {
      if (part.byteLength >= 64 * 1024) {
        endRun()
        out.push(alone(part))
      } else run.push(part)
    }
    endRun()
    return out
  }
  const partsOf = (value: unknown, output?: ReadonlyArray<Line>) => Result.getOrThrow(Payload.encodePayloadParts(value, output, 0)).parts
  const inParts = (parts: ReadonlyArray<Uint8Array>, adopt: boolean) => Result.getOrThrow(Payload.decodePayload(parts, { adopt }))

  it("a frame's columns come back each a view of its own part, with adopt; copies without; the small ones copies", () => {
    const frame = {
      a: new Float64Array(20_000).map((_, i) => i / 3),
      b: new Int32Array(30_000).map((_, i) => -i),
      label: "a frame",
      small: new Float32Array([1.5, -0]),
      nested: [new Uint16Array(40_000).fill(7), { c: new BigInt64Array(9_000).fill(-3n) }]
    }
    const output: ReadonlyArray<Line> = [{ _tag: "Console", method: "log", args: ["a line", new Float64Array(10_000).fill(2)] }]
    const parts = asRead(partsOf(frame, output))
    const large = parts.filter((part) => part.byteLength >= 64 * 1024)
    assert.strictEqual(large.length, 5)
    const read = inParts(parts, true)
    same(read.value, frame)
    same(read.output, output)
    const value = read.value as typeof frame
    const logged = (read.output![0] as Extract<Line, { _tag: "Console" }>).args[1] as Float64Array
    const columns = [value.a, value.b, value.nested[0] as Uint16Array, (value.nested[1] as { c: BigInt64Array }).c, logged]
    for (const column of columns) {
      assert.isTrue(
        large.some((part) => part.buffer === column.buffer),
        "a view of its part, not a copy"
      )
    }
    assert.strictEqual(new Set(columns.map((column) => column.buffer)).size, 5, "no two share a buffer")
    assert.isFalse(large.some((part) => part.buffer === value.small.buffer))
    const copied = inParts(asRead(partsOf(frame)), false).value as typeof frame
    assert.isFalse(
      large.some((part) => part.buffer === copied.a.buffer || part.buffer === copied.b.buffer),
      "without adopt, copies"
    )
    same(copied, frame)
  })

  it("a large part that is not alone in its buffer is copied, not viewed", () => {
    const a = new Float64Array(20_000).fill(1.25)
    const shared = new Uint8Array(a.byteLength + 16)
    const parts = asRead(partsOf({ a })).map((part) => {
      if (part.byteLength < 64 * 1024) return part
      shared.set(part, 8)
      return shared.subarray(8, 8 + part.byteLength)
    })
    const read = inParts(parts, true).value as { a: Float64Array }
    same(read, { a })
    assert.notStrictEqual(read.a.buffer, shared.buffer)
  })

  it("bytes inside a string that look like the head of the part after them: the payload is read whole, the string intact", () => {
    // "Z" is 0x5a, and 0x00010000 is 65,536: the head of a byte string of 65,536 bytes, inside a text string.
    const text = `${"x".repeat(10)}Z\u0000\u0001\u0000\u0000${"y".repeat(65_536)}${"z".repeat(10)}`
    const value = { text, a: new Float64Array(10_000).fill(3) }
    const whole = encoded(value)
    const at = Buffer.from(whole).indexOf(Buffer.from([0x5a, 0x00, 0x01, 0x00, 0x00])) + 5
    assert.isAbove(at, 5)
    const parts = [whole.subarray(0, at), alone(whole.subarray(at, at + 65_536)), whole.subarray(at + 65_536)]
    same(inParts(parts, true).value, value)
    same(inParts(parts, false).value, value)
  })

  it("a look-alike head whose skeleton still reads (as another value): the cut nobody took makes the payload read whole", () => {
    // A's bytes begin with what looks like the head of a 65,536-byte byte string (the part cut after it). Left out,
    // A would take in B's heads and most of B, and the skeleton would read as [A', 1]: a value, a wrong one.
    const a = new Uint8Array(5 + 65_536).fill(0xab)
    a.set([0x5a, 0x00, 0x01, 0x00, 0x00])
    const b = new Uint8Array(65_532).fill(0xcd)
    b[b.length - 1] = 0x01
    const whole = cbor2Encode(new Cbor2Tag(Payload.Tags.payload, [[new Cbor2Tag(64, a), new Cbor2Tag(64, b)], null]))
    const at = Buffer.from(whole).indexOf(Buffer.from(a.subarray(0, 8))) + 5
    const parts = [whole.subarray(0, at), alone(whole.subarray(at, at + 65_536)), whole.subarray(at + 65_536)]
    same(decoded(whole).value, [a, b])
    same(inParts(parts, true).value, [a, b])
  })

  it("a damaged payload in parts is a miss, never a throw; one part, and no parts, read as whole", () => {
    const value = { a: new Float64Array(20_000).fill(1), b: "between" }
    const parts = asRead(partsOf(value))
    const cut = parts.slice(0, -1)
    assert.isTrue(Result.isFailure(Payload.decodePayload(cut, { adopt: true })))
    same(inParts([joined(parts)], true).value, value)
    assert.isTrue(Result.isFailure(Payload.decodePayload([], { adopt: true })))
  })

  it("any value, its parts cut anywhere between the large ones: the value read whole", () => {
    const typed = fc.oneof(
      fc.integer({ min: 0, max: 20_000 }).map((n) => new Float64Array(n).map((_, i) => i * 0.5)),
      fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).map((_, i) => i)),
      fc.integer({ min: 0, max: 40_000 }).map((n) => new Int16Array(n).map((_, i) => -i)),
      fc.integer({ min: 60_000, max: 70_000 }).map((n) => new Uint8Array(n).fill(0x5a))
    )
    const item = fc.oneof(typed, fc.string({ maxLength: 20 }), fc.double(), fc.constant(null))
    const value = fc.oneof(fc.array(item, { maxLength: 6 }), fc.dictionary(fc.string({ maxLength: 4 }), item, { maxKeys: 5 }))
    fc.assert(
      fc.property(value, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }), fc.boolean(), (v, cuts, adopt) => {
        const parts = asRead(partsOf(v), cuts)
        same(inParts(parts, adopt).value, decoded(joined(parts)).value)
      }),
      { seed: 42, numRuns: 150 }
    )
  })

  it.effect("an entry in parts: decoded as the joined entry; a flipped byte in a part is a bad checksum; signed, it is checked whole", () =>
    Effect.gen(function* () {
      const value = { a: new Float64Array(30_000).fill(1.25), b: "between", c: new Uint8Array(70_000).fill(9) }
      const room = Entry.entryRoom(fields(), false)
      const entryParts = asRead(
        yield* Entry.encodeEntryParts(fields(), Result.getOrThrow(Payload.encodePayloadParts(value, undefined, room.before)))
      )
      const read = Result.getOrThrow(yield* Entry.decodeEntry(entryParts, expected))
      same(Result.getOrThrow(Payload.decodePayload(read.payload, { adopt: true })).value, value)
      assert.deepStrictEqual(Result.getOrThrow(yield* Entry.decodeEntry(joined(entryParts), expected)).storedAt, read.storedAt)
      // The header cut across parts: the parts are joined, and read the same.
      const early = [joined(entryParts).subarray(0, 50), joined(entryParts).subarray(50)]
      same(Result.getOrThrow(Payload.decodePayload(Result.getOrThrow(yield* Entry.decodeEntry(early, expected)).payload)).value, value)
      const large = entryParts.findIndex((part) => part.byteLength === 70_000)
      const flipped = entryParts.map((part, i) => (i === large ? Uint8Array.from(part, (b, j) => (j === 12_345 ? b ^ 1 : b)) : part))
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(flipped, expected)), "BadChecksum")
      const key = yield* secret
      const signed = yield* Entry.encodeEntry(fields(), encoded(value), key, named)
      const signedParts = [signed.subarray(0, 200), alone(signed.subarray(200, 100_000)), signed.subarray(100_000)]
      same(
        Result.getOrThrow(Payload.decodePayload(Result.getOrThrow(yield* Entry.decodeEntry(signedParts, expected, key)).payload)).value,
        value
      )
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(signedParts, expected)), "UnexpectedSignature")
      const other = yield* otherSecret
      assert.strictEqual(reasonOf(yield* Entry.decodeEntry(signedParts, expected, other)), "BadSignature")
    })
  )
})
