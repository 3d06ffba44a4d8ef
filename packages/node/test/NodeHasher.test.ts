import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { DataCache, Hasher, NodeHasher } from "@recall/node"
import { Effect, Layer } from "effect"
// The core's internals, for hash-wasm's digest and the digest the hook routes.
import * as Xxh3 from "../../core/src/internal/xxh3.ts"
import { nativeHex, randomBytes } from "../../core/test/fixtures/bytes.ts"

/** The addon itself: only ever given views over an ArrayBuffer here too. */
const addon = createRequire(import.meta.url)("xxhash-addon") as { readonly XXHash128: { readonly hash: (data: Uint8Array) => Uint8Array } }

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/** A third implementation (@node-rs/xxhash, scalar Rust). */
const third = nativeHex

/** Runs `f` with hashing on hash-wasm alone, then installs the native digester again. */
const withoutNative = <A>(f: () => A): Effect.Effect<A> =>
  Effect.gen(function* () {
    Xxh3.setLargeDigester(undefined)
    try {
      return f()
    } finally {
      yield* NodeHasher.install
    }
  })

describe("NodeHasher", () => {
  beforeAll(() => Effect.runPromise(Effect.andThen(Hasher.load, Layer.build(NodeHasher.layer).pipe(Effect.scoped))))

  it.effect("the layer installs xxhash-addon, process-wide; building it again changes nothing", () =>
    Effect.gen(function* () {
      assert.strictEqual(NodeHasher.native(), "xxhash-addon")
      yield* Layer.build(NodeHasher.layer).pipe(Effect.scoped)
      yield* NodeHasher.install
      assert.strictEqual(NodeHasher.native(), "xxhash-addon", "kept after the layer is released and built again")
    })
  )

  describe("xxhash-addon and hash-wasm give the same digests", () => {
    it("on every length from 0 to 4096, at aligned and unaligned offsets", () => {
      const bytes = randomBytes(4096 + 16, 1)
      for (let length = 0; length <= 4096; length++) {
        for (const offset of [0, 1, 3, 8]) {
          const view = bytes.subarray(offset, offset + length)
          const expected = hex(Xxh3.wasmDigest(view))
          assert.strictEqual(hex(addon.XXHash128.hash(view)), expected, `length ${length} at offset ${offset}`)
          // What the canonical form hashes: the native digester from 4 KiB on.
          assert.strictEqual(hex(Xxh3.digest(view)), expected, `length ${length} at offset ${offset}, through the hook`)
        }
      }
    })

    it("on large buffers with odd tails (16 MiB + 7, 64 MiB + 3), aligned and not; a third implementation agrees", () => {
      for (const [length, seed] of [
        [(16 << 20) + 7, 2],
        [(64 << 20) + 3, 3]
      ] as const) {
        const bytes = randomBytes(length + 5, seed)
        for (const view of [bytes.subarray(0, length), bytes.subarray(5, 5 + length)]) {
          const native = hex(Xxh3.digest(view))
          assert.strictEqual(native, hex(Xxh3.wasmDigest(view)), `${length} bytes at offset ${view.byteOffset}`)
          assert.strictEqual(native, third(view), `${length} bytes at offset ${view.byteOffset}, @node-rs/xxhash`)
        }
      }
    })
  })

  describe("digests of parts (an entry written in parts)", () => {
    it.effect("the native digester's, and hash-wasm's, of parts cut anywhere are the whole's; a third implementation agrees", () =>
      Effect.gen(function* () {
        const length = (1 << 20) + 13
        const bytes = randomBytes(length, 6)
        const whole = third(bytes)
        for (const cuts of [[0], [1], [4095, 4096], [7, 70_000, 70_001], [length - 1], [1 << 19, (1 << 19) + 64 * 1024]]) {
          const ends = [...cuts, length]
          const parts = ends.map((end, i) => bytes.subarray(i === 0 ? 0 : ends[i - 1]!, end))
          assert.strictEqual(
            parts.reduce((n, part) => n + part.byteLength, 0),
            length
          )
          assert.strictEqual(hex(Xxh3.digestParts(parts)), whole, `native, cut at ${cuts.join(", ")}`)
          assert.strictEqual(hex(yield* withoutNative(() => Xxh3.digestParts(parts))), whole, `hash-wasm, cut at ${cuts.join(", ")}`)
        }
        // Small parts, on both, and a part over shared memory (never given to the addon).
        const small = [bytes.subarray(0, 10), bytes.subarray(10, 100), bytes.subarray(100, 3000)]
        assert.strictEqual(hex(Xxh3.digestParts(small)), third(bytes.subarray(0, 3000)))
        const shared = new Uint8Array(new SharedArrayBuffer(5000))
        shared.set(bytes.subarray(3000, 8000))
        assert.strictEqual(hex(Xxh3.digestParts([bytes.subarray(0, 3000), shared])), third(bytes.subarray(0, 8000)))
      })
    )
  })

  describe("hashes of arguments", () => {
    it.effect("a large Float64Array argument has the same hash and key with the layer and without", () =>
      Effect.gen(function* () {
        const floats = new Float64Array((2 << 20) + 3).map((_, i) => Math.sin(i))
        const args = [floats, { window: new Float32Array(floats.buffer, 8, 50_001), label: "sin" }, Buffer.from(randomBytes(9001, 4))]
        const hasher = Hasher.structural()
        const without = yield* withoutNative(() => [hasher.hashUnsafe(args), hasher.keyUnsafe(args), hasher.hashUnsafe(floats)])
        assert.strictEqual(NodeHasher.native(), "xxhash-addon")
        assert.deepStrictEqual([hasher.hashUnsafe(args), hasher.keyUnsafe(args), hasher.hashUnsafe(floats)], without)
      })
    )

    it.effect("a call keyed on hash-wasm's digest hits once the native digester is installed", () =>
      Effect.gen(function* () {
        let runs = 0
        const total = DataCache.fn("total", (xs: Float64Array) =>
          Effect.sync(() => {
            runs++
            return xs.reduce((a, b) => a + b, 0)
          })
        )
        const xs = new Float64Array(100_000).fill(0.5)
        Xxh3.setLargeDigester(undefined)
        assert.strictEqual(yield* total(xs), 50_000)
        yield* NodeHasher.install
        assert.strictEqual(NodeHasher.native(), "xxhash-addon")
        assert.strictEqual(yield* total(new Float64Array(100_000).fill(0.5)), 50_000)
        assert.strictEqual(runs, 1)
      }).pipe(Effect.provide(DataCache.layerMemory()))
    )

    it("a view over a SharedArrayBuffer is digested as the same bytes in a plain buffer are (it never reaches the addon), and is another key", () => {
      const plain = new Float64Array(1 << 16).map((_, i) => i * 0.25)
      const shared = new Float64Array(new SharedArrayBuffer(plain.byteLength))
      shared.set(plain)
      const hasher = Hasher.structural()
      // Another key since a body can tell the two apart (core's DataCache.sharedMemory test); hashed without a throw.
      assert.notStrictEqual(hasher.hashUnsafe(shared), hasher.hashUnsafe(plain))
      const again = new Float64Array(new SharedArrayBuffer(plain.byteLength))
      again.set(plain)
      assert.strictEqual(hasher.hashUnsafe(again), hasher.hashUnsafe(shared), "the same bytes in shared memory: one key")
      assert.strictEqual(hex(Xxh3.digest(new Uint8Array(shared.buffer, 3))), hex(Xxh3.wasmDigest(new Uint8Array(plain.buffer, 3))))
    })
  })

  it("where xxhash-addon cannot be imported, hashing stays on hash-wasm with one debug log, and gives the same hashes", () => {
    const script = fileURLToPath(new URL("./fixtures/hasher-without-addon.ts", import.meta.url))
    const report = JSON.parse(execFileSync(process.execPath, [script], { encoding: "utf8" })) as {
      readonly native: string | null
      readonly logs: ReadonlyArray<string>
      readonly hash: string
    }
    assert.strictEqual(report.native, null)
    assert.deepStrictEqual(report.logs, [
      "Debug NodeHasher: hashing large arguments with hash-wasm (WebAssembly): xxhash-addon could not be loaded: Cannot find package 'xxhash-addon'"
    ])
    assert.strictEqual(report.hash, Hasher.structural().hashUnsafe(new Float64Array(1 << 16).fill(1.5)))
  })
})
