/**
 * `npm run bench -- nativeHash`: hashing a 320 MB argument with
 * `@recall/node`'s `NodeHasher.layer` (XXH3-128 from the C xxHash library,
 * SIMD) against a `Buffer.copy` of its bytes into mapped memory, and hash-wasm
 * alone on the same bytes, rounds alternating, in one process. See README.md.
 *
 * The native digester is process-wide once installed: this section removes it
 * when it ends, so that sections after it measure hash-wasm as before.
 */
import { Hasher, NodeHasher } from "@recall/node"
import { Effect } from "effect"
import { createXXHash128 } from "hash-wasm"
import * as Xxh3 from "../packages/core/src/internal/xxh3.ts"
import { type Figure, interleaved } from "./measure.ts"

let sink = 0

export const nativeHash = (report: (figure: Figure) => void) =>
  Effect.gen(function* () {
    const floats = new Float64Array(40_000_000)
    for (let i = 0; i < floats.length; i++) floats[i] = i * 0.5
    const bytes = Buffer.from(floats.buffer)
    const target = Buffer.allocUnsafe(bytes.length)
    target.fill(0)
    const hasher = Hasher.structural()
    const raw = yield* Effect.promise(() => createXXHash128())
    yield* Hasher.load
    yield* NodeHasher.install
    const native = NodeHasher.native()
    if (native === undefined) {
      report({ name: "320 MB: NodeHasher not installed (xxhash-addon missing); skipped", value: 0, unit: "x" })
      return
    }
    const expected = raw.init().update(bytes).digest("hex")
    // Recall's hash of the argument (its canonical form, the native digest of
    // the raw bytes inside), against the copy and against hash-wasm alone.
    const [copyMs, nativeMs] = interleaved(
      9,
      () => {
        bytes.copy(target)
      },
      () => {
        sink += hasher.hashUnsafe(floats).length
      }
    )
    const [copyMs2, wasmMs] = interleaved(
      5,
      () => {
        bytes.copy(target)
      },
      () => {
        sink += raw.init().update(bytes).digest("hex").length
      }
    )
    if (Buffer.from(Xxh3.digest(bytes)).toString("hex") !== expected) throw new Error("native and hash-wasm digests differ")
    Xxh3.setLargeDigester(undefined)
    report({ name: "320 MB Float64Array: Buffer.copy", value: copyMs, unit: "ms" })
    report({ name: `320 MB Float64Array: recall hash, NodeHasher (${native})`, value: nativeMs, unit: "ms" })
    report({ name: "320 MB Float64Array: hash-wasm XXH3-128 alone", value: wasmMs, unit: "ms" })
    report({ name: "native hash throughput", value: bytes.length / (nativeMs / 1000) / 1e9, unit: "GB/s" })
    report({ name: "recall hash with NodeHasher / Buffer.copy", value: nativeMs / copyMs, unit: "x", baseline: "Buffer.copy" })
    report({ name: "hash-wasm alone / Buffer.copy", value: wasmMs / copyMs2, unit: "x", baseline: "Buffer.copy" })
    if (sink === -1) console.log(sink)
  })
