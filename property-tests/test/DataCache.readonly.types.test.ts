/**
 * `copy: "readonly"` where JS cannot freeze: the types.
 *
 * A readonly cached value is one shared, deep-frozen instance. `Object.freeze`
 * stops writes to plain objects and arrays at run time (the property in
 * DataCache.copy.property.test.ts checks every such write throws), but not to
 * the elements of a typed array, the bytes of a buffer, a Date's time or the
 * members of a Map or Set. For those, the value's type is the guard: every
 * write below is a type error, checked by `tsc` (`npm run check`, which
 * `npm test` runs first) through the `@ts-expect-error` comments; a write that
 * compiled would make its comment an error.
 *
 * At run time the test applies every write to a fresh shared value and checks
 * what JS itself stops: the writes to plain objects and arrays throw.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"

const frame = DataCache.fn({ name: "readonlyFrame", copy: "readonly" }, (_id: number) =>
  Effect.sync(() => ({
    samples: new Float64Array([1, 2, 3, 4]),
    ids: new BigInt64Array([1n, 2n]),
    bytes: new Uint8Array([1, 2]),
    view: new DataView(new ArrayBuffer(8)),
    buffer: new ArrayBuffer(8),
    when: new Date(0),
    index: new Map([["a", { n: 1 }]]),
    seen: new Set([1, 2]),
    rows: [{ xs: [1, 2] }],
    meta: { name: "frame" }
  }))
)

type Frame = Effect.Success<ReturnType<typeof frame>>

/** Reads type-check, and return what a fresh frame holds. */
const reads = (v: Frame): ReadonlyArray<unknown> => [
  v.samples[0],
  v.samples.length,
  v.samples.subarray(1)[0],
  v.samples.slice(0, 1)[0],
  v.ids[1],
  v.bytes.reduce((sum, byte) => sum + byte, 0),
  v.view.getFloat64(0),
  v.buffer.byteLength,
  v.samples.buffer.byteLength,
  v.when.getTime(),
  v.index.get("a")?.n,
  v.seen.has(2),
  v.rows[0]?.xs[1],
  v.meta.name
]

/** Writes to plain objects and arrays: type errors, and `Object.freeze` stops them at run time. */
const frozenWrites: ReadonlyArray<(v: Frame) => unknown> = [
  // @ts-expect-error a readonly array has no push
  (v) => v.rows.push({ xs: [] }),
  // @ts-expect-error readonly array element
  (v) => (v.rows[0]!.xs[0] = 9),
  // @ts-expect-error readonly field
  (v) => (v.meta.name = "changed"),
  // @ts-expect-error readonly field
  (v) => (v.index.get("a")!.n = 2),
  // @ts-expect-error readonly array has no splice
  (v) => v.rows[0]!.xs.splice(0, 1),
  // @ts-expect-error readonly array has no sort
  (v) => v.rows[0]!.xs.sort(),
  // @ts-expect-error readonly array length
  (v) => (v.rows.length = 0)
]

/** Writes JS cannot stop on a frozen value: type errors only. */
const typeOnlyWrites: ReadonlyArray<(v: Frame) => unknown> = [
  // @ts-expect-error typed array element
  (v) => (v.samples[0] = 0),
  // @ts-expect-error bigint typed array element
  (v) => (v.ids[0] = 0n),
  // @ts-expect-error typed array set
  (v) => v.samples.set([9]),
  // @ts-expect-error typed array fill
  (v) => v.bytes.fill(0),
  // @ts-expect-error typed array sort
  (v) => v.samples.sort(),
  // @ts-expect-error typed array reverse
  (v) => v.samples.reverse(),
  // @ts-expect-error typed array copyWithin
  (v) => v.samples.copyWithin(0, 1),
  // @ts-expect-error an element of a subarray (a view of the same buffer)
  (v) => (v.samples.subarray(0)[0] = 0),
  // @ts-expect-error a writable view of the typed array's buffer
  (v) => (new Uint8Array(v.samples.buffer)[0] = 0),
  // @ts-expect-error a writable view of a buffer
  (v) => (new Uint8Array(v.buffer)[0] = 0),
  // @ts-expect-error DataView setter
  (v) => v.view.setFloat64(0, 1),
  // @ts-expect-error Date setter
  (v) => v.when.setTime(1),
  // @ts-expect-error Date setter
  (v) => v.when.setFullYear(1999),
  // @ts-expect-error ReadonlyMap has no set
  (v) => v.index.set("b", { n: 2 }),
  // @ts-expect-error ReadonlyMap has no delete
  (v) => v.index.delete("a"),
  // @ts-expect-error ReadonlyMap has no clear
  (v) => v.index.clear(),
  // @ts-expect-error ReadonlySet has no add
  (v) => v.seen.add(3),
  // @ts-expect-error ReadonlySet has no delete
  (v) => v.seen.delete(1)
]

describe('DataCache.fn with copy: "readonly", in the types', () => {
  it("reads type-check; writes are type errors; JS stops those on plain objects and arrays", async () => {
    const runtime = ManagedRuntime.make(DataCache.layerMemory())
    try {
      let id = 0
      const fresh = () => runtime.runPromise(frame(id++))
      const initial = [1, 4, 2, 1, 2n, 3, 0, 8, 32, 0, 1, true, 2, "frame"]
      assert.deepStrictEqual(reads(await fresh()), initial)
      for (const write of frozenWrites) {
        const value = await fresh()
        assert.throws(() => write(value), TypeError, undefined, String(write))
        assert.deepStrictEqual(reads(value), initial, `unchanged after ${String(write)}`)
        assert.deepStrictEqual(value.rows, [{ xs: [1, 2] }], `unchanged after ${String(write)}`)
      }
      // What the types alone protect: JS lets these through on the shared instance.
      for (const write of typeOnlyWrites) write(await fresh())
    } finally {
      await runtime.dispose()
    }
  })
})
