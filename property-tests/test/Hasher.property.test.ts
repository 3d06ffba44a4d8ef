import { assert, beforeAll, describe, it } from "@effect/vitest"
import { DataCache, Hasher } from "@recall/core"
import { BigDecimal, Chunk, DateTime, Duration, Effect, Equal, HashMap, HashSet, Option, Redacted, Result } from "effect"
import fc from "fast-check"

// A fixed seed, as for every property here; FC_SEED=n explores another. A failure prints it.
const seed = Number(process.env.FC_SEED ?? 42)

/**
 * A deep copy of `value` in which every object's keys, every Map's entries
 * and every Set's members come in a different order, chosen by `order`.
 */
const reordered = (value: unknown, order: (n: number) => Array<number>): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map((item) => reordered(item, order))
  if (ArrayBuffer.isView(value) || value instanceof Date) return value
  if (value instanceof Map) {
    const entries = [...value]
    return new Map(order(entries.length).map((i) => [reordered(entries[i]![0], order), reordered(entries[i]![1], order)]))
  }
  if (value instanceof Set) {
    const members = [...value]
    return new Set(order(members.length).map((i) => reordered(members[i], order)))
  }
  const keys = Object.keys(value)
  const out = Object.create(Object.getPrototypeOf(value))
  for (const i of order(keys.length)) {
    // defineProperty, so a "__proto__" key stays a key.
    Object.defineProperty(out, keys[i]!, {
      value: reordered((value as Record<string, unknown>)[keys[i]!], order),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return out
}

const anything = fc.anything({
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  maxDepth: 4
})

// A permutation source: each call shuffles 0..n-1 with the drawn seed.
const permutations = fc.integer().map((seed) => {
  let state = seed | 0
  return (n: number) => {
    const out = Array.from({ length: n }, (_, i) => i)
    for (let i = n - 1; i > 0; i--) {
      state = (Math.imul(state, 1103515245) + 12345) | 0
      const j = (state >>> 0) % (i + 1)
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }
})

/**
 * A reference spelling of a value, written independently of recall: two
 * values are equal (as recall's keys mean it) exactly when their spellings
 * are. Object keys and Map and Set members sorted, every NaN one value, 0 and
 * -0 two (Map keys and Set members aside, where JavaScript stores -0 as 0),
 * typed arrays by type and bytes. With `strip`, the value is a
 * list of arguments and the `_` fields of its plain objects are left out.
 */
const spell = (value: unknown, depth = 0, strip = false): string => {
  switch (typeof value) {
    case "number":
      return Number.isNaN(value) ? "n:NaN" : Object.is(value, -0) ? "n:-0" : `n:${value}`
    case "string":
      return `s:${JSON.stringify(value)}`
    case "bigint":
      return `i:${value}`
    case "boolean":
    case "undefined":
      return String(value)
    case "object": {
      if (value === null) return "null"
      if (Array.isArray(value)) {
        return `[${Array.from({ length: value.length }, (_, i) => (i in value ? spell(value[i], depth + 1, strip) : "hole")).join(",")}]`
      }
      if (value instanceof Date) return `date:${Number.isNaN(value.getTime()) ? "NaN" : value.getTime()}`
      if (value instanceof Map) {
        const entries = Array.from(value, ([k, v]) => `${spell(k, depth + 1, strip)}=>${spell(v, depth + 1, strip)}`)
        return `map{${entries.sort().join(",")}}`
      }
      if (value instanceof Set)
        return `set{${Array.from(value, (v) => spell(v, depth + 1, strip))
          .sort()
          .join(",")}}`
      if (ArrayBuffer.isView(value)) {
        return `${value.constructor.name}:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`
      }
      const keys = Object.keys(value)
        // The `_` rule: a single leading underscore, `_tag` and `__` names kept.
        .filter((key) => !(strip && depth === 1 && key.startsWith("_") && !key.startsWith("__") && key !== "_tag"))
        .sort()
      return `{${keys.map((key) => `${JSON.stringify(key)}:${spell((value as Record<string, unknown>)[key], depth + 1, strip)}`).join(",")}}`
    }
    default:
      throw new Error(`no spelling for ${typeof value}`)
  }
}

/** A NaN whose payload bits differ from `Number.NaN`'s. */
const otherNaN = (() => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, Number.NaN)
  view.setUint32(4, view.getUint32(4) | 1)
  return view.getFloat64(0)
})()

/**
 * A deep copy of `value` whose `k`-th primitive leaf (in walk order, counted
 * modulo the number of leaves) is nudged: a number by one, its sign, or
 * another NaN; a string by one character; a boolean flipped.
 */
const nudged = (value: unknown, k: number): unknown => {
  let leaves = 0
  const count = (v: unknown): void => {
    if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") leaves++
    else if (Array.isArray(v)) v.forEach(count)
    else if (v instanceof Map) {
      for (const [key, x] of v) {
        count(key)
        count(x)
      }
    } else if (v instanceof Set) v.forEach(count)
    else if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v) && !(v instanceof Date)) Object.values(v).forEach(count)
  }
  count(value)
  let target = leaves === 0 ? -1 : k % leaves
  const nudge = (v: unknown): unknown => {
    if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") {
      if (target-- !== 0) return v
      if (typeof v === "boolean") return !v
      if (typeof v === "string") return k % 2 === 0 ? `${v}a` : v.slice(1)
      if (Number.isNaN(v)) return otherNaN
      return v === 0 ? -v : k % 2 === 0 ? -v : v + 1
    }
    if (Array.isArray(v)) {
      const out = new Array(v.length)
      for (let i = 0; i < v.length; i++) if (i in v) out[i] = nudge(v[i])
      return out
    }
    if (v instanceof Map) return new Map(Array.from(v, ([key, x]) => [nudge(key), nudge(x)]))
    if (v instanceof Set) return new Set(Array.from(v, nudge))
    if (typeof v !== "object" || v === null || ArrayBuffer.isView(v) || v instanceof Date) return v
    const out = Object.create(Object.getPrototypeOf(v))
    for (const key of Object.keys(v)) {
      Object.defineProperty(out, key, {
        value: nudge((v as Record<string, unknown>)[key]),
        enumerable: true,
        writable: true,
        configurable: true
      })
    }
    return out
  }
  return nudge(value)
}

describe("Hasher properties", () => {
  const hasher = Hasher.structural()

  beforeAll(() => Effect.runPromise(Hasher.load))

  it("equal values hash equal, records, Maps and Sets in any order included", () => {
    fc.assert(
      fc.property(anything, permutations, (value, order) => {
        assert.strictEqual(hasher.hashUnsafe(reordered(value, order)), hasher.hashUnsafe(value))
      }),
      { seed, numRuns: 500 }
    )
  })

  it("values with shared parts hash and key as their copies in which nothing is shared", () => {
    // `reordered` copies every path apart. The padding makes each part long
    // enough to be reduced to its digest, which the walk remembers.
    fc.assert(
      fc.property(anything, anything, permutations, (a, b, order) => {
        const part = { a, pad: "x".repeat(600) }
        const other = { b, part }
        const value = [part, { m: part, o: other }, new Map([[1, other]]), [other, part]]
        const copy = reordered(value, order)
        assert.strictEqual(hasher.hashUnsafe(copy), hasher.hashUnsafe(value))
        assert.strictEqual(hasher.keyUnsafe([copy, 1]), hasher.keyUnsafe([value, 1]))
        const changed = reordered([part, { m: nudged(part, 0), o: other }, new Map([[1, other]]), [other, part]], order)
        assert.notStrictEqual(hasher.hashUnsafe(changed), hasher.hashUnsafe(value))
      }),
      { seed, numRuns: 300 }
    )
  })

  it("values that differ in one JSON leaf hash differently", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (record, key) => {
        const changed = { ...record, [key]: { changed: Object.hasOwn(record, key) ? record[key] : null } }
        assert.notStrictEqual(hasher.hashUnsafe(changed), hasher.hashUnsafe(record))
      }),
      { seed, numRuns: 300 }
    )
  })

  it.effect("keys and hashes tell values apart exactly as a reference spelling does", () =>
    Effect.gen(function* () {
      // Through the public API: a cached function returns the spelling of its
      // argument, so a shared key shows as another value's spelling.
      let runs = 0
      const spelled = DataCache.fn("spelled", (x: unknown, y?: unknown) =>
        Effect.sync(() => {
          runs++
          return spell([x, y], 0, true)
        })
      )
      const context = yield* Effect.context<DataCache.DataCache>()
      const call = (x: unknown, y?: unknown) => Effect.runSync(spelled(x, y).pipe(Effect.provide(context)))
      const pairs = fc.oneof(
        fc.tuple(anything, permutations).map(([a, order]) => [a, reordered(a, order)] as const),
        fc.tuple(anything, fc.nat()).map(([a, k]) => [a, nudged(a, k)] as const),
        fc.tuple(anything, anything)
      )
      fc.assert(
        fc.property(pairs, fc.boolean(), ([a, b], second) => {
          const [x, y] = second ? [1, a] : [a, undefined]
          const [v, w] = second ? [1, b] : [b, undefined]
          const equal = spell([x, y], 0, true) === spell([v, w], 0, true)
          assert.strictEqual(call(x, y), spell([x, y], 0, true))
          const before = runs
          assert.strictEqual(call(v, w), spell([v, w], 0, true), "no other value's entry")
          if (equal) assert.strictEqual(runs, before, "equal arguments share the entry")
          assert.strictEqual(hasher.hashUnsafe(a) === hasher.hashUnsafe(b), spell(a) === spell(b))
        }),
        { seed, numRuns: 1000 }
      )
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})

/**
 * Values of Effect's data types, with leaves from small ranges so that equal
 * values (built in different ways: a Duration from millis or from nanos, a
 * Chunk appended or made at once, a HashMap inserted in another order) turn
 * up often.
 */
const effectValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer({ min: -2, max: 2 }),
    fc.constantFrom("a", "b"),
    fc.constant(Option.none()),
    tie("value").map((v) => Option.some(v)),
    tie("value").map((v) => Result.succeed(v)),
    tie("value").map((v) => Result.fail(v)),
    fc.array(tie("value"), { maxLength: 3 }).map((items) => Chunk.fromIterable(items)),
    fc
      .tuple(fc.array(tie("value"), { maxLength: 2 }), fc.array(tie("value"), { maxLength: 2 }))
      .map(([a, b]) => Chunk.appendAll(Chunk.fromIterable(a), Chunk.fromIterable(b))),
    fc
      .uniqueArray(fc.tuple(fc.constantFrom("k", "l", "m"), fc.integer({ min: 0, max: 2 })), { selector: ([k]) => k, maxLength: 3 })
      .chain((entries) => fc.shuffledSubarray(entries, { minLength: entries.length }))
      .map((entries) => HashMap.fromIterable(entries)),
    fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }).map((items) => HashSet.fromIterable(items)),
    fc.integer({ min: 0, max: 2 }).map((s) => Duration.seconds(s)),
    fc.integer({ min: 0, max: 2000 }).map((ms) => Duration.millis(ms - (ms % 500))),
    fc.integer({ min: 0, max: 4 }).map((k) => Duration.nanos(BigInt(k) * 500_000_000n)),
    fc.constantFrom(Duration.infinity, Duration.negativeInfinity, Duration.millis(Number.POSITIVE_INFINITY)),
    fc.tuple(fc.integer({ min: 0, max: 1 }), fc.constantFrom(undefined, "Europe/Oslo", "Asia/Tokyo", 3_600_000)).map(([ms, zone]) =>
      zone === undefined
        ? DateTime.makeUnsafe(ms * 3_600_000)
        : DateTime.makeZonedUnsafe(ms * 3_600_000, {
            timeZone: typeof zone === "number" ? DateTime.zoneMakeOffset(zone) : zone
          })
    ),
    fc.constantFrom("alice", "bob").map((token) => Redacted.make(token)),
    fc
      .tuple(fc.integer({ min: -2, max: 2 }), fc.integer({ min: 0, max: 2 }))
      .map(([v, zeros]) => BigDecimal.make(BigInt(v) * 10n ** BigInt(zeros), zeros)),
    fc.array(tie("value"), { maxLength: 2 }),
    fc.record({ x: tie("value") })
  )
})).value

/** The same value built another way: durations from nanos, chunks by appending, maps in reverse, fresh objects. */
const rebuilt = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map(rebuilt)
  if (Option.isOption(value)) return Option.map(value, rebuilt)
  if (Result.isResult(value)) return Result.isSuccess(value) ? Result.succeed(rebuilt(value.success)) : Result.fail(rebuilt(value.failure))
  if (Chunk.isChunk(value)) {
    const items = Array.from(value, rebuilt)
    return Chunk.appendAll(Chunk.fromIterable(items.slice(0, 1)), Chunk.fromIterable(items.slice(1)))
  }
  if (HashMap.isHashMap(value)) return HashMap.fromIterable(Array.from(value, ([k, v]) => [rebuilt(k), rebuilt(v)] as const).reverse())
  if (HashSet.isHashSet(value)) return HashSet.fromIterable(Array.from(value, rebuilt).reverse())
  if (Duration.isDuration(value)) return Duration.isFinite(value) ? Duration.nanos(Duration.toNanosUnsafe(value)) : value
  if (DateTime.isDateTime(value)) {
    const utc = DateTime.makeUnsafe(new Date(value.epochMilliseconds))
    return DateTime.isZoned(value) ? DateTime.setZone(utc, value.zone) : utc
  }
  if (Redacted.isRedacted(value)) return Redacted.make(rebuilt(Redacted.value(value)))
  if (BigDecimal.isBigDecimal(value)) return BigDecimal.make(value.value * 10n, value.scale + 1)
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebuilt(v)]))
}

describe("Hasher properties: Effect's data types", () => {
  beforeAll(() => Effect.runPromise(Hasher.load))
  const hasher = Hasher.structural()

  it("two values share a hash and a key exactly when Equal.equals says they are equal", () => {
    let equalPairs = 0
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(effectValue, effectValue),
          effectValue.map((a) => [a, rebuilt(a)] as const)
        ),
        ([a, b]) => {
          const equal = Equal.equals(a, b)
          if (equal && a !== b) equalPairs++
          assert.strictEqual(hasher.hashUnsafe(a) === hasher.hashUnsafe(b), equal)
          assert.strictEqual(hasher.keyUnsafe(a) === hasher.keyUnsafe(b), equal)
        }
      ),
      { seed, numRuns: 2000 }
    )
    assert.isAbove(equalPairs, 500, "equal values built apart turn up")
  })
})
