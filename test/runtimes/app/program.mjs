/**
 * The program of the runtime check (test/runtimes/run.ts): plain ES2022
 * JavaScript that imports only `@recall/core` and `effect`, so Node, Bun and
 * Deno run this file as it is and a browser gets it bundled by esbuild. Every
 * runtime must return the same result; `runtime` is left out of the
 * comparison.
 */
import { DataCache, Hasher } from "@recall/core"
import { Cause, Effect, Exit, Fiber, Option } from "effect"
// Not `effect/testing`: its index also pulls in TestSchema, which imports `node:assert`.
import * as TestClock from "effect/testing/TestClock"

export const runtime = () => {
  const g = globalThis
  if (g.Bun !== undefined) return `bun ${g.Bun.version}`
  if (g.Deno !== undefined) return `deno ${g.Deno.version.deno}`
  if (g.process?.versions?.node !== undefined) return `node ${g.process.versions.node}`
  const brand = g.navigator?.userAgentData?.brands?.find((b) => /chrom/i.test(b.brand))
  return brand !== undefined ? `${brand.brand} ${brand.version}` : (g.navigator?.userAgent ?? "unknown")
}

/** What every runtime hashes: one value of each kind the structural hasher knows. */
export const values = () => [
  0,
  -0,
  Number.NaN,
  1.5,
  2 ** 53,
  -1e-300,
  Number.POSITIVE_INFINITY,
  123456789012345678901234567890n,
  "",
  "héllo wörld ✓ 𝄞",
  "x".repeat(2048),
  true,
  null,
  undefined,
  Symbol.for("recall.runtimes"),
  // biome-ignore lint/suspicious/noSparseArray: a hole is not undefined, and hashes apart from it
  [1, [2, [3]], , 4],
  { b: 1, a: { d: [true, false], c: "c" }, [Symbol.for("tenant")]: "acme" },
  new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
  new Map([
    ["k", 1],
    [2, { v: [2] }]
  ]),
  new Set(["a", 1, 1n]),
  /ab+c/giu,
  new Uint8Array([0, 1, 2, 254, 255]),
  new Float64Array([1.5, -0, Number.NaN]),
  new Int32Array([-1, 2 ** 31 - 1]),
  new Uint8Array([9, 8, 7]).buffer,
  new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2)
]

const clip = (text) => (text.length > 800 ? `${text.slice(0, 800)}...` : text)

/** An Exit as JSON: its value, its typed error (tag and message) or its defect. */
const describe = (exit) => {
  if (Exit.isSuccess(exit)) return { kind: "success", value: exit.value }
  const error = Exit.findErrorOption(exit)
  return Option.isSome(error)
    ? { kind: "failure", tag: error.value?._tag, message: clip(String(error.value?.message ?? error.value)) }
    : {
        kind: "defect",
        tag: Cause.squash(exit.cause)?._tag,
        message: clip(String(Cause.squash(exit.cause)?.message ?? Cause.pretty(exit.cause)))
      }
}

/**
 * The full check: miss, hit, copy isolation, single flight and ttl on the
 * TestClock, and the fingerprint of {@link values}.
 */
export const check = Effect.gen(function* () {
  let runs = 0
  const load = DataCache.fn({ name: "load", ttl: "1 minute" }, (id, options) =>
    Effect.sync(() => {
      runs++
      return { id, options, tags: ["a", "b"], run: runs }
    })
  )
  let slowRuns = 0
  const slow = DataCache.fn("slow", (n) =>
    Effect.sleep("2 seconds").pipe(
      Effect.map(() => {
        slowRuns++
        return n * 2
      })
    )
  )

  const miss = yield* load(1, { deep: [1, 2] })
  miss.tags.push("mutated by the caller")
  miss.options.deep.length = 0
  const hit = yield* load(1, { deep: [1, 2] })
  const bigKey = "k".repeat(2048)
  const bigMiss = yield* load(bigKey, {})
  const bigHit = yield* load(bigKey, {})

  const both = yield* Effect.forkChild(Effect.all([slow(21), slow(21)], { concurrency: 2 }))
  yield* TestClock.adjust("2 seconds")
  const shared = yield* Fiber.join(both)

  yield* TestClock.adjust("57 seconds") // 59 s after the first call
  const liveAt59s = yield* load.has(1, { deep: [1, 2] })
  yield* TestClock.adjust("1 second") // exactly storedAt + ttl
  const liveAt60s = yield* load.has(1, { deep: [1, 2] })
  const afterExpiry = yield* load(1, { deep: [1, 2] })
  const stats = yield* load.stats

  yield* Hasher.load
  const hasher = Hasher.structural()
  const list = values()
  return {
    miss: { run: miss.run, tags: ["a", "b"] },
    hit: { run: hit.run, tags: hit.tags, deep: hit.options.deep, sameObject: hit === miss },
    bigKey: { miss: bigMiss.run, hit: bigHit.run },
    singleFlight: { results: shared, runs: slowRuns },
    ttl: { liveAt59s, liveAt60s, runAfterExpiry: afterExpiry.run },
    stats: { hits: stats.hits, misses: stats.misses },
    runs,
    hashes: list.map((value) => hasher.hashUnsafe(value)),
    fingerprint: hasher.hashUnsafe(list)
  }
}).pipe(Effect.provide(DataCache.layerMemory()), Effect.provide(TestClock.layer()))

/**
 * Where WebAssembly cannot be compiled (a page whose CSP lacks
 * 'wasm-unsafe-eval', `node --jitless`): small keys still work, and a key
 * that needs a digest fails that call with recall's typed error.
 */
export const lazyWasm = Effect.gen(function* () {
  const f = DataCache.fn("lazyWasm", (key) => Effect.succeed(typeof key === "string" ? key.length : key))
  const small = [yield* f(1), yield* f(1), yield* f("abc")]
  const stats = yield* f.stats
  const big = yield* Effect.exit(f("x".repeat(2048)))
  return { small, hits: stats.hits, misses: stats.misses, big: describe(big) }
}).pipe(Effect.provide(DataCache.layerMemory()))

/**
 * Runs one of the checks and prints one JSON line, `{ runtime, exit }`:
 * `exit.value` is the result; a failed or dead run has `exit.kind` "failure"
 * or "defect" and its message.
 */
export const main = (which) =>
  Effect.runPromiseExit(which).then((exit) => {
    console.log(JSON.stringify({ runtime: runtime(), exit: describe(exit) }))
  })
