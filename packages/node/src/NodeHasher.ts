/**
 * `NodeHasher` hashes large arguments natively on Node: XXH3-128 from the C
 * xxHash library (`xxhash-addon`, which picks SSE2, AVX2 or AVX-512 at run
 * time), at about memory bandwidth, where hash-wasm's scalar WebAssembly is
 * 3x slower. A 320 MB Float64Array argument is hashed in about the time of a
 * `Buffer.copy` of it, on every call, hits included.
 *
 * **Contract**
 *
 * - Same hashes: the native digester computes the same XXH3-128 bytes as
 *   hash-wasm (it is checked against reference digests when installed, and
 *   the tests compare the two on every length up to 4 KiB and on large
 *   buffers), so keys and persisted names are the same with and without this
 *   layer, in every process.
 * - Lazy: `xxhash-addon` is imported when the layer is built, never when
 *   `@recall/node` is imported. It is an optional dependency with prebuilt
 *   binaries for Linux (glibc and musl), macOS and Windows on x64 and arm64.
 *   Where it is missing or does not load, hashing stays on hash-wasm and one
 *   debug log says why; the layer never fails.
 * - Only inputs of 4 KiB and more go to native code (below that a native call
 *   costs more than hash-wasm takes), and every input where WebAssembly cannot
 *   be compiled: so with this layer, Node run with `--jitless` hashes too.
 * - Process-wide: installed once, for every cache of the process, and kept
 *   when the layer is released. Since digests are the same bytes, that can
 *   only change speed; building the layer again does nothing.
 * - The addon reads whatever it is given as a Node buffer and crashes the
 *   process on anything else, so it is only ever given typed arrays over a
 *   plain `ArrayBuffer`: a view over a `SharedArrayBuffer` is hashed by
 *   hash-wasm (or copied first).
 *
 * @since 0.1.0
 */
import { types } from "node:util"
import * as Hasher from "@recall/core/Hasher"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** What `xxhash-addon` exports that is used here. */
interface Addon {
  readonly XXHash128: {
    readonly hash: (data: Uint8Array) => Uint8Array
    new (seed: Uint8Array): { update(data: Uint8Array): void; digest(): Uint8Array }
  }
}

/** Seed 0, as the one-shot `hash` uses (the constructor takes 4 or 8 bytes of seed; anything else aborts the process). */
const SEED_ZERO = new Uint8Array(8)

// A variable, so that bundlers and the type checker leave the optional
// dependency alone when it is not installed.
const addonName: string = "xxhash-addon"

const typedArrayBuffer = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "buffer")!.get! as (
  this: unknown
) => unknown

/**
 * Whether the addon may be given `bytes`: a typed array whose buffer (read
 * with the built-in getter, which no subclass or own field can fake) is a
 * plain ArrayBuffer.
 */
const safeForAddon = (bytes: unknown): boolean => types.isTypedArray(bytes) && types.isArrayBuffer(typedArrayBuffer.call(bytes))

const digester = (addon: Addon): Hasher.LargeDigester => {
  const hash = addon.XXHash128.hash
  return {
    name: "xxhash-addon",
    digest: (bytes) => {
      // @recall/core never passes anything else; checked again because the
      // addon would crash the process instead of throwing.
      if (!safeForAddon(bytes)) throw new TypeError("NodeHasher: the native digester takes typed arrays over an ArrayBuffer only")
      return hash(bytes)
    },
    digestParts: (parts) => {
      if (!parts.every(safeForAddon)) throw new TypeError("NodeHasher: the native digester takes typed arrays over an ArrayBuffer only")
      const state = new addon.XXHash128(SEED_ZERO)
      for (const part of parts) state.update(part)
      return state.digest()
    }
  }
}

/** The native digester, or why there is none, once the import was tried (once per process). */
let attempt: Promise<Hasher.LargeDigester | string> | undefined

const loadDigester = (): Promise<Hasher.LargeDigester | string> =>
  (attempt ??= import(addonName).then(
    (module: { readonly default?: Partial<Addon> } & Partial<Addon>) => {
      const addon = module.default ?? module
      return typeof addon.XXHash128?.hash === "function" ? digester(addon as Addon) : `${addonName} has no XXHash128.hash`
    },
    (e: unknown) => `${addonName} could not be loaded: ${e instanceof Error ? e.message : String(e)}`
  ))

let logged = false

/**
 * Installs the native digester (a check against reference digests first);
 * where it cannot load, or fails the check, logs why at debug level, once
 * per process, and leaves hashing on hash-wasm. Never fails. Running it again
 * does nothing but install it again, which is idempotent.
 *
 * @category constructors
 * @since 0.1.0
 */
export const install: Effect.Effect<void> = Effect.flatMap(
  Effect.promise(() => loadDigester()),
  (loaded) => {
    let reason: string | undefined
    if (typeof loaded === "string") {
      reason = loaded
    } else {
      try {
        Hasher.setLargeDigester(loaded)
      } catch (e) {
        reason = e instanceof Error ? e.message : String(e)
      }
    }
    if (reason === undefined || logged) return Effect.void
    logged = true
    return Effect.logDebug(`NodeHasher: hashing large arguments with hash-wasm (WebAssembly): ${reason}`)
  }
)

/**
 * The name of the native digester in use (`"xxhash-addon"`), or `undefined`
 * while hashing is on hash-wasm alone.
 *
 * @category getters
 * @since 0.1.0
 */
export const native = (): string | undefined => Hasher.largeDigester()

/**
 * Hashes large arguments (4 KiB and more) with the native XXH3-128 of
 * `xxhash-addon`, for the whole process. Same hashes as without it, faster.
 *
 * **When to use**
 *
 * In any Node program whose cached functions take large binary arguments
 * (typed arrays, Buffers, ArrayBuffers): a hit pays for hashing its key, so
 * hashing a 320 MB Float64Array at memory bandwidth instead of hash-wasm's
 * speed is a third of the hit's cost. Also under `node --jitless`, where
 * WebAssembly is off: the native digester then hashes every key.
 *
 * **Gotchas**
 *
 * The layer provides nothing and never fails: where `xxhash-addon` is not
 * installed or has no binary for the platform, hashing stays on hash-wasm
 * and a debug log says so (see {@link native}). The install outlives the
 * layer: it is process-wide, and harmless because digests are the same.
 *
 * @example
 * ```ts
 * import { DataCache, NodeHasher } from "@recall/node"
 * import { Effect, Layer } from "effect"
 *
 * const mean = DataCache.fn("mean", (xs: Float64Array) => Effect.succeed(xs.reduce((a, b) => a + b, 0) / xs.length))
 *
 * const program = mean(new Float64Array(40_000_000).fill(1)).pipe(
 *   Effect.provide(Layer.merge(DataCache.layerMemory(), NodeHasher.layer))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.effectDiscard(install)
