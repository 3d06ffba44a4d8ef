/**
 * The hasher's WebAssembly side: what happens where WebAssembly cannot be
 * compiled (`node --jitless`, a page whose CSP lacks 'wasm-unsafe-eval'), and
 * the hook through which a native XXH3-128 takes over large inputs.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import { xxh3 } from "@node-rs/xxhash"
import { Hasher } from "@recall/core"
import { Effect } from "effect"
import * as Xxh3 from "../src/internal/xxh3.ts"

/** @node-rs/xxhash's XXH3-128 as canonical (big-endian) bytes: an implementation independent of hash-wasm. */
const reference = (bytes: Uint8Array): Uint8Array => {
  const hex = xxh3.xxh128(bytes).toString(16).padStart(32, "0")
  return Uint8Array.from(hex.match(/../g)!, (pair) => Number.parseInt(pair, 16))
}

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

/** A digester that records the inputs it is given. */
const recording = (name = "recording") => {
  const seen: Array<{ readonly length: number; readonly shared: boolean }> = []
  return {
    seen,
    digester: {
      name,
      digest: (bytes: Uint8Array) => {
        seen.push({ length: bytes.byteLength, shared: !(bytes.buffer instanceof ArrayBuffer) })
        return reference(bytes)
      }
    }
  }
}

interface Outcome {
  readonly success?: unknown
  readonly failures?: ReadonlyArray<{ readonly tag: string; readonly message?: string; readonly reason?: string }>
}
interface NoWasmReport {
  readonly beforeLoad: string
  /** recall's hasher's load. */
  readonly load: Outcome
  /** `Hasher.load`: recall's hasher, and whatever else it loads. */
  readonly hasherLoad: Outcome
  readonly hash: Outcome
  readonly smallKey: string
  readonly largeKey: string
  readonly retried: Outcome | "not run"
  readonly hashAfterRetry: string
  readonly loaded: boolean
  readonly nativeCalls: number
}

const noWasm = (...args: ReadonlyArray<string>): NoWasmReport => {
  const script = fileURLToPath(new URL("./fixtures/no-wasm.ts", import.meta.url))
  return JSON.parse(execFileSync(process.execPath, [script, ...args], { encoding: "utf8" })) as NoWasmReport
}

// The value the fixture hashes.
const shared = new Float64Array(new SharedArrayBuffer(8 * 1000)).fill(1.5)
const large = { rows: new Float64Array(10_000).fill(0.25), name: "large", shared }

describe("Hasher and WebAssembly", () => {
  beforeAll(() => Effect.runPromise(Hasher.load))
  afterEach(() => Xxh3.setLargeDigester(undefined))

  describe("where WebAssembly cannot be compiled", () => {
    it("Node --jitless (no WebAssembly): load fails with WebAssemblyUnavailableError, small keys still work, a retry loads", () => {
      const report = noWasm("missing")
      assert.strictEqual(report.beforeLoad, "NotLoaded")
      const [failure] = report.load.failures ?? []
      assert.strictEqual(failure?.tag, "WebAssemblyUnavailableError")
      assert.strictEqual(failure?.reason, "Error: WebAssembly is not supported in this environment")
      assert.match(failure?.message ?? "", /WebAssembly cannot be compiled here/)
      assert.match(failure?.message ?? "", /script-src 'self' 'wasm-unsafe-eval'/)
      assert.match(failure?.message ?? "", /--jitless/)
      assert.strictEqual(report.hasherLoad.failures?.[0]?.tag, "WebAssemblyUnavailableError")
      assert.strictEqual(report.hash.failures?.[0]?.tag, "WebAssemblyUnavailableError", "Hasher.hash fails typed, it does not die")
      assert.strictEqual(report.smallKey, "returned", "a small exact key needs no WebAssembly")
      assert.strictEqual(report.largeKey, "NotLoaded", "a key that needs a digest asks for the load")
      assert.deepStrictEqual(report.retried, { success: null }, "the next load tries again")
      assert.strictEqual(report.hashAfterRetry, Hasher.structural().hashUnsafe(large))
    })

    it("a page whose Content-Security-Policy refuses WebAssembly: the same typed error, with the browser's words", () => {
      const report = noWasm("csp")
      const [failure] = report.load.failures ?? []
      assert.strictEqual(failure?.tag, "WebAssemblyUnavailableError")
      assert.match(failure?.reason ?? "", /^CompileError: .*Content Security Policy/)
      assert.match(failure?.message ?? "", /'wasm-unsafe-eval'/)
      assert.strictEqual(report.hash.failures?.[0]?.tag, "WebAssemblyUnavailableError")
      assert.strictEqual(report.smallKey, "returned")
      assert.isFalse(report.loaded)
    })

    it("with a native digester installed, the load succeeds without WebAssembly, and hashes are the same", () => {
      const report = noWasm("missing", "native")
      assert.strictEqual(report.beforeLoad, "NotLoaded", "hash-wasm is tried first: it is faster on small inputs")
      assert.deepStrictEqual(report.load, { success: null }, "the native digester hashes every input")
      assert.isFalse(report.loaded)
      assert.deepStrictEqual(report.hash, { success: Hasher.structural().hashUnsafe(large) })
      assert.strictEqual(report.largeKey, "returned")
      assert.isAbove(report.nativeCalls, 0)
    })

    it("WebAssemblyUnavailableError is a tagged error with the reason in its message", () => {
      const error = new Hasher.WebAssemblyUnavailableError({ reason: "Error: no" })
      assert.instanceOf(error, Hasher.WebAssemblyUnavailableError)
      assert.strictEqual(error._tag, "WebAssemblyUnavailableError")
      assert.match(error.message, /^recall's hasher \(XXH3-128\) is WebAssembly, and WebAssembly cannot be compiled here: Error: no\.\n/)
      assert.match(error.message, /NodeHasher\.layer/)
    })
  })

  describe("a native digester for large inputs", () => {
    it("the reference digests it is checked against are XXH3-128 (hash-wasm and @node-rs/xxhash agree)", () => {
      for (const [length, hex] of Xxh3.referenceDigests) {
        const input = Xxh3.referenceInput(length)
        assert.strictEqual(toHex(Xxh3.wasmDigest(input)), hex, `${length} bytes, hash-wasm`)
        assert.strictEqual(toHex(reference(input)), hex, `${length} bytes, @node-rs/xxhash`)
      }
    })

    it(`takes inputs of ${Xxh3.LARGE_DIGEST_BYTES} bytes and more; hash-wasm keeps the smaller ones`, () => {
      const { seen, digester } = recording()
      Hasher.setLargeDigester(digester)
      assert.strictEqual(Hasher.largeDigester(), "recording")
      seen.length = 0
      const bytes = new Uint8Array(3 * Xxh3.LARGE_DIGEST_BYTES).map((_, i) => i * 7)
      for (const length of [
        0,
        1,
        1024,
        Xxh3.LARGE_DIGEST_BYTES - 1,
        Xxh3.LARGE_DIGEST_BYTES,
        Xxh3.LARGE_DIGEST_BYTES + 1,
        3 * Xxh3.LARGE_DIGEST_BYTES - 5
      ]) {
        const view = bytes.subarray(5, 5 + length)
        assert.strictEqual(toHex(Xxh3.digest(view)), toHex(Xxh3.wasmDigest(view)), `${length} bytes`)
        assert.strictEqual(Xxh3.hex(view), toHex(Xxh3.wasmDigest(view)), `${length} bytes, hex`)
      }
      assert.deepStrictEqual(
        seen.map((s) => s.length),
        [
          Xxh3.LARGE_DIGEST_BYTES,
          Xxh3.LARGE_DIGEST_BYTES,
          Xxh3.LARGE_DIGEST_BYTES + 1,
          Xxh3.LARGE_DIGEST_BYTES + 1,
          3 * Xxh3.LARGE_DIGEST_BYTES - 5,
          3 * Xxh3.LARGE_DIGEST_BYTES - 5
        ]
      )
    })

    it("never sees shared memory or a view that lies about its buffer; those are hashed by hash-wasm", () => {
      const { seen, digester } = recording()
      Hasher.setLargeDigester(digester)
      seen.length = 0
      const shared = new Uint8Array(new SharedArrayBuffer(2 * Xxh3.LARGE_DIGEST_BYTES))
      for (let i = 0; i < shared.length; i++) shared[i] = i
      const plain = shared.slice()
      assert.instanceOf(plain.buffer, ArrayBuffer)
      assert.strictEqual(toHex(Xxh3.digest(shared)), toHex(reference(plain)))
      // Shared memory with ArrayBuffer's prototype fools `instanceof`, not the
      // built-in getters, which read internal slots.
      const disguised = new SharedArrayBuffer(2 * Xxh3.LARGE_DIGEST_BYTES)
      Object.setPrototypeOf(disguised, ArrayBuffer.prototype)
      assert.instanceOf(disguised, ArrayBuffer)
      assert.strictEqual(toHex(Xxh3.digest(new Uint8Array(disguised))), toHex(reference(new Uint8Array(2 * Xxh3.LARGE_DIGEST_BYTES))))
      assert.deepStrictEqual(seen, [])
      // The same bytes in a plain buffer go to the digester.
      Xxh3.digest(plain)
      assert.deepStrictEqual(seen, [{ length: plain.byteLength, shared: false }])
    })

    it("a large binary argument's canonical hash is the same with the digester and without", () => {
      const floats = new Float64Array((1 << 20) + 3).map((_, i) => i / 3)
      const shared = new Uint8Array(new SharedArrayBuffer(9000)).fill(3)
      const value = [floats, { at: new Uint8Array(floats.buffer, 5, 70_001) }, shared]
      const hasher = Hasher.structural()
      const without = [hasher.hashUnsafe(value), hasher.keyUnsafe(value)]
      const { seen, digester } = recording()
      Hasher.setLargeDigester(digester)
      seen.length = 0
      assert.deepStrictEqual([hasher.hashUnsafe(value), hasher.keyUnsafe(value)], without)
      assert.includeMembers(
        seen.map((s) => s.length),
        [floats.byteLength, 70_001]
      )
      assert.notInclude(
        seen.map((s) => s.length),
        shared.byteLength
      )
      assert.isFalse(
        seen.some((s) => s.shared),
        "the SharedArrayBuffer leaf went to hash-wasm"
      )
    })

    it("refuses a digester that is not XXH3-128, and keeps the one installed", () => {
      const { digester } = recording("first")
      Hasher.setLargeDigester(digester)
      assert.throws(
        () => Hasher.setLargeDigester({ name: "xxh3-64", digest: (bytes) => reference(bytes).map((b, i) => (i < 8 ? 0 : b)) }),
        /xxh3-64 is not XXH3-128: 0 reference bytes gave/
      )
      assert.throws(
        () =>
          Hasher.setLargeDigester({
            name: "throws",
            digest: () => {
              throw new Error("no")
            }
          }),
        /no/
      )
      assert.strictEqual(Hasher.largeDigester(), "first")
    })

    it("installing is idempotent: the digester of the same name installed again is kept as it was", () => {
      const first = recording("native")
      const second = recording("native")
      Hasher.setLargeDigester(first.digester)
      Hasher.setLargeDigester(second.digester)
      Hasher.setLargeDigester(first.digester)
      first.seen.length = 0
      Xxh3.digest(new Uint8Array(Xxh3.LARGE_DIGEST_BYTES))
      assert.strictEqual(first.seen.length, 1)
      assert.strictEqual(second.seen.length, 0, "the second install of the same name did nothing (not even its check)")
    })
  })
})
