/**
 * XXH3-128, from hash-wasm's WebAssembly build: a published hash with
 * reference vectors and a clean SMHasher record, running on every JS runtime
 * that has WebAssembly.
 *
 * WebAssembly modules compile asynchronously (browsers refuse synchronous
 * compilation on the main thread), so the hasher is loaded once, by {@link load},
 * which every DataCache layer runs while it is built. After that, hashing is
 * synchronous: the hit path never suspends. Hashing before the load throws
 * {@link NotLoaded}, a defect that says how to fix it.
 *
 * The instance is a module singleton with internal state; every use runs
 * `init`, `update`, `digest` without yielding, so calls cannot interleave.
 */
import * as Effect from "effect/Effect"
import { createXXHash128, type IHasher } from "hash-wasm"

let hasher: IHasher | undefined
let loading: Promise<void> | undefined

/**
 * Loads the WebAssembly hasher once per process; later runs return at once.
 * A failed load (no WebAssembly) is a defect, and the next run tries again.
 *
 * @internal
 */
export const load: Effect.Effect<void> = Effect.suspend(() =>
  hasher !== undefined
    ? Effect.void
    : Effect.promise(() => {
        loading ??= createXXHash128().then(
          (loaded) => {
            hasher = loaded
          },
          (cause: unknown) => {
            loading = undefined
            throw cause
          }
        )
        return loading
      })
)

/** @internal */
export const isLoaded = (): boolean => hasher !== undefined

/**
 * Thrown when something hashes before {@link load} ran.
 *
 * @internal
 */
export class NotLoaded extends Error {
  constructor() {
    super(
      "recall's hasher (XXH3-128, WebAssembly) is not loaded yet. It loads when a DataCache layer is built; " +
        "to hash outside one, run `Hasher.load` first (e.g. `yield* Hasher.load`)."
    )
    this.name = "NotLoaded"
  }
}

const loaded = (): IHasher => {
  if (hasher === undefined) throw new NotLoaded()
  return hasher.init()
}

/**
 * The XXH3-128 hash of `bytes` as its canonical 16 bytes (big-endian, as
 * `XXH128_canonicalFromHash` writes it).
 *
 * @internal
 */
export const digest = (bytes: Uint8Array): Uint8Array => loaded().update(bytes).digest("binary")

/**
 * The XXH3-128 hash of `bytes` as 32 lowercase hex digits, in canonical
 * (big-endian) order: the same text `xxhsum -H2` prints.
 *
 * @internal
 */
export const hex = (bytes: Uint8Array): string => loaded().update(bytes).digest("hex")
