/**
 * XXH3-128, from hash-wasm's WebAssembly build: a published hash with
 * reference vectors and a clean SMHasher record, running on every JS runtime
 * that has WebAssembly. A native digester may take over large inputs.
 *
 * **Loading is lazy.** WebAssembly modules compile asynchronously (browsers
 * refuse synchronous compilation on the main thread), so the hasher is loaded
 * once, by {@link load}, when something first needs a digest: small exact keys
 * never do. After that, hashing is synchronous: the hit path never suspends.
 * Hashing before the load throws {@link NotLoaded}, a defect the caller turns
 * into "load, then hash again". Where WebAssembly cannot be compiled (a page
 * whose Content-Security-Policy lacks `'wasm-unsafe-eval'`, Node's
 * `--jitless`), {@link load} fails with {@link WebAssemblyUnavailableError};
 * the next run tries again. With a native digester installed it succeeds
 * there instead, and the native digester hashes every input.
 *
 * **Large inputs** ({@link LARGE_DIGEST_BYTES} and over) go to a native
 * digester when one is installed ({@link setLargeDigester}; `@recall/node`
 * installs the C xxHash library, SIMD, at about memory bandwidth, where
 * hash-wasm is scalar). Digests are the same bytes either way: XXH3-128 is one
 * published function, the install checks the digester against reference
 * values, and the tests check both on every length up to 4 KiB and on large
 * buffers. The native code only ever sees typed arrays over a plain
 * `ArrayBuffer`, as the built-in getters (which no subclass or own field can
 * fake) report it: the addon crashes the process on anything else. A view over
 * a `SharedArrayBuffer` is hashed by hash-wasm instead, or, when hash-wasm
 * is not loaded, copied first.
 *
 * The hash-wasm instance is a module singleton with internal state; every use
 * runs `init`, `update`, `digest` without yielding, so calls cannot interleave.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { createXXHash128, type IHasher } from "hash-wasm"

let hasher: IHasher | undefined
let loading: Promise<unknown> | undefined
/** WebAssembly could not be compiled, and the native digester took over every input. */
let refused = false

/**
 * Raised where recall's hasher cannot be loaded because WebAssembly cannot be
 * compiled: a browser page whose Content-Security-Policy does not allow it, or
 * Node run with `--jitless` (which turns WebAssembly off). Only keys that need
 * a digest need WebAssembly, so calls with small arguments still work.
 *
 * Documented for users as `Hasher.WebAssemblyUnavailableError`.
 *
 * @internal
 */
export class WebAssemblyUnavailableError extends Schema.TaggedError<WebAssemblyUnavailableError>()("WebAssemblyUnavailableError", {
  /** What the runtime said when the module was compiled. */
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    return [
      `recall's hasher (XXH3-128) is WebAssembly, and WebAssembly cannot be compiled here: ${this.reason}.`,
      `Small arguments are keyed exactly and need no hash; a key that needs one fails with this error. Ways out:`,
      `  1. in a browser, allow WebAssembly in the page's Content-Security-Policy: add 'wasm-unsafe-eval' to script-src (script-src 'self' 'wasm-unsafe-eval');`,
      `  2. in Node, run without --jitless (it turns WebAssembly off), or provide @recall/node's NodeHasher.layer, which hashes without WebAssembly;`,
      `  3. make the key small: a \`key\` schema that keeps only the fields the result depends on.`
    ].join("\n")
  }
}

/** What a failed compilation said, in one line without its end mark. */
const describeCause = (cause: unknown): string => {
  let text: string
  try {
    text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
  } catch {
    text = "unknown error"
  }
  return text.replace(/\s+/g, " ").replace(/[.!\s]+$/, "")
}

/**
 * Loads the WebAssembly hasher once per process; later runs return at once,
 * and runs while it loads share the one load. Fails with
 * {@link WebAssemblyUnavailableError} when WebAssembly cannot be compiled, and
 * the next run tries again (hash-wasm keeps a failed compilation, so a page
 * whose policy refused it keeps failing; `--jitless` is checked anew).
 *
 * With a native digester installed ({@link setLargeDigester}), a failed
 * compilation is no failure: the native digester then hashes every input,
 * small ones too, and hashing never asks for the load again.
 *
 * @internal
 */
export const load: Effect.Effect<void, WebAssemblyUnavailableError> = Effect.suspend(() =>
  hasher !== undefined
    ? Effect.void
    : Effect.tryPromise({
        try: () =>
          compile().catch((cause: unknown) => {
            if (large === undefined) throw cause
            refused = true
          }),
        catch: (cause) => new WebAssemblyUnavailableError({ reason: describeCause(cause), cause })
      })
)

/** One compilation at a time; a failed one is forgotten, so that the next run tries again. */
const compile = (): Promise<unknown> => {
  if (loading === undefined) {
    loading = createXXHash128().then(
      (loaded) => {
        hasher = loaded
      },
      (cause: unknown) => {
        loading = undefined
        throw cause
      }
    )
  }
  return loading
}

/** @internal */
export const isLoaded = (): boolean => hasher !== undefined

/**
 * Thrown when a digest needs WebAssembly that is not loaded yet. `load` is
 * what loads it (recall's hasher, {@link load}, by default; another
 * WebAssembly digest may name its own): the caller runs it, then hashes
 * again, and fails with its {@link WebAssemblyUnavailableError} where it
 * cannot load.
 *
 * @internal
 */
export class NotLoaded extends Error {
  readonly load: Effect.Effect<void, WebAssemblyUnavailableError>
  constructor(
    what = "recall's hasher (XXH3-128, WebAssembly)",
    loader: Effect.Effect<void, WebAssemblyUnavailableError> = load,
    advice = "It loads when a cached function's key first needs a digest; " +
      "to hash outside one, use `Hasher.hash`, or run `Hasher.load` first (e.g. `yield* Hasher.load`)."
  ) {
    super(`${what} is not loaded yet. ${advice}`)
    this.name = "NotLoaded"
    this.load = loader
  }
}

const loaded = (): IHasher => {
  if (hasher === undefined) throw new NotLoaded()
  return hasher.init()
}

// ---------------------------------------------------------------------------
// Large inputs
// ---------------------------------------------------------------------------

/**
 * A native XXH3-128 (seed 0, default secret) for large inputs.
 *
 * @internal
 */
export interface LargeDigester {
  /** Named in logs and by {@link largeDigester}. */
  readonly name: string
  /**
   * The XXH3-128 of `bytes` as its canonical 16 bytes (big-endian). Only
   * called with a typed array over a plain `ArrayBuffer` (of 4 KiB and more,
   * or of any size where WebAssembly cannot be compiled); synchronous; must
   * not keep `bytes`.
   */
  readonly digest: (bytes: Uint8Array) => Uint8Array
  /**
   * Optional: the XXH3-128 of the parts' bytes one after another (what
   * `digest` of their concatenation gives), without joining them. Used for
   * an entry written in parts (a large value's typed arrays as they are);
   * without it, hash-wasm hashes the parts. Same rules as `digest`.
   */
  readonly digestParts?: ((parts: ReadonlyArray<Uint8Array>) => Uint8Array) | undefined
}

/**
 * Inputs of at least this many bytes go to the installed {@link LargeDigester}.
 * Below it hash-wasm is faster: a call into native code costs about what
 * hash-wasm takes for 3-4 KiB. Measured on this project's machine (two runs,
 * hash-wasm / xxhash-addon): 0.35-0.5 / 1.0-1.4 µs for 0 bytes, 0.5-1.2 /
 * 0.6-1.2 µs at 2 KiB, 0.9-1.5 / 1.0-1.2 µs at 4 KiB, 1.7-2.3 / 1.1-1.2 µs at
 * 8 KiB, 12-18 / 2.6-3.1 µs at 64 KiB. Not part of the canonical form: the
 * digests are the same either way.
 *
 * @internal
 */
export const LARGE_DIGEST_BYTES = 4096

let large: LargeDigester | undefined

/**
 * Lengths of {@link referenceInput}s and their XXH3-128, which every large
 * digester must reproduce (checked against two implementations in the tests).
 *
 * @internal
 */
export const referenceDigests: ReadonlyArray<readonly [length: number, hex: string]> = [
  [0, "99aa06d3014798d86001c324468d497f"],
  [100, "96a6806777948e22bab9deeff9d6a1f5"],
  [4099, "9b00bc911e24ac26a413ec07f817ac12"]
]

/** The reference input of a length: byte `i` is `(167 i + 13) mod 256`. @internal */
export const referenceInput = (length: number): Uint8Array => {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 167 + 13) & 255
  return bytes
}

/**
 * Installs (or, with `undefined`, removes) the digester for large inputs, for
 * the whole process.
 *
 * **Why process-wide.** Digests are bit-identical by contract (XXH3-128 is
 * one published function; this install checks the digester against reference
 * values first, and the tests check it on every length up to 4 KiB and on
 * large buffers), so which implementation computed a digest can never change
 * a key or a persisted name: only the speed. Any layer may install it, as
 * often as it is built; installing the digester already installed (by name)
 * does nothing, and another one replaces it.
 *
 * @throws Error when the digester disagrees with the reference values (or
 *   throws on them); nothing is installed then.
 * @internal
 */
export const setLargeDigester = (digester: LargeDigester | undefined): void => {
  if (digester === undefined || digester === large) {
    large = digester
    return
  }
  if (large !== undefined && large.name === digester.name) return
  for (const [length, expected] of referenceDigests) {
    const input = referenceInput(length)
    const got = toHex(digester.digest(input))
    if (got !== expected) {
      throw new Error(`${digester.name} is not XXH3-128: ${length} reference bytes gave ${got}, expected ${expected}`)
    }
    if (digester.digestParts === undefined) continue
    // In three uneven parts (the first empty when the input is): the parts' digest is the whole's.
    const third = Math.floor(length / 3)
    const inParts = toHex(digester.digestParts([input.subarray(0, third), input.subarray(third, length - 7), input.subarray(length - 7)]))
    if (inParts !== expected) {
      throw new Error(
        `${digester.name}'s digestParts is not XXH3-128: ${length} reference bytes in parts gave ${inParts}, expected ${expected}`
      )
    }
  }
  large = digester
}

/** The name of the installed large-input digester, if any. @internal */
export const largeDigester = (): string | undefined => large?.name

const typedArray = Object.getPrototypeOf(Uint8Array.prototype) as object
const getter = <A>(prototype: object, name: string) => Object.getOwnPropertyDescriptor(prototype, name)!.get! as (this: unknown) => A
const bufferOf = getter<ArrayBufferLike>(typedArray, "buffer")
const byteOffsetOf = getter<number>(typedArray, "byteOffset")
const byteLengthOf = getter<number>(typedArray, "byteLength")
const arrayBufferByteLength = getter<number>(ArrayBuffer.prototype, "byteLength")

/**
 * What backs `bytes`, as the built-in getters report it: they read internal
 * slots, so neither a subclass, an own `buffer` field nor a changed prototype
 * can fake it. `"plain"` for a typed array over an ArrayBuffer, `"shared"`
 * over a SharedArrayBuffer, `undefined` for anything that is not a typed array.
 */
const backing = (bytes: Uint8Array): "plain" | "shared" | undefined => {
  let buffer: ArrayBufferLike
  try {
    buffer = bufferOf.call(bytes)
  } catch {
    return undefined
  }
  try {
    arrayBufferByteLength.call(buffer)
    return "plain"
  } catch {
    return "shared"
  }
}

/**
 * The digest of `bytes` when it is not hash-wasm's: the native digester's for
 * a large input over a plain buffer, and for every input once WebAssembly was
 * refused ({@link load}).
 */
const native = (bytes: Uint8Array): Uint8Array | undefined => {
  if (large === undefined) return undefined
  const everything = hasher === undefined && refused
  if (!everything && bytes.byteLength < LARGE_DIGEST_BYTES) return undefined
  const kind = backing(bytes)
  if (kind === "plain") return large.digest(bytes)
  if (kind === undefined || !everything) return undefined
  // Shared memory, with no hash-wasm to fall back on: hash a plain copy of its bytes.
  const copy = new Uint8Array(byteLengthOf.call(bytes))
  copy.set(new Uint8Array(bufferOf.call(bytes), byteOffsetOf.call(bytes), copy.length))
  return large.digest(copy)
}

const hex8 = (bytes: Uint8Array, i: number): string =>
  (((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0).toString(16).padStart(8, "0")

const toHex = (digest: Uint8Array): string => hex8(digest, 0) + hex8(digest, 4) + hex8(digest, 8) + hex8(digest, 12)

/**
 * The XXH3-128 hash of `bytes` as its canonical 16 bytes (big-endian, as
 * `XXH128_canonicalFromHash` writes it).
 *
 * @internal
 */
export const digest = (bytes: Uint8Array): Uint8Array => native(bytes) ?? loaded().update(bytes).digest("binary")

/**
 * The XXH3-128 of the parts' bytes one after another: {@link digest} of
 * their concatenation, without joining them (an entry written in parts, a
 * large value's typed arrays as they are, is checksummed where it lies).
 *
 * @internal
 */
export const digestParts = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return digest(parts[0]!)
  const inParts = large?.digestParts
  if (inParts !== undefined && (hasher === undefined || parts.some((part) => part.byteLength >= LARGE_DIGEST_BYTES))) {
    if (parts.every((part) => backing(part) === "plain")) return inParts(parts)
  }
  if (hasher === undefined && refused) {
    // No hash-wasm, and a native digester that cannot take these parts: it takes them joined.
    const joined = new Uint8Array(parts.reduce((n, part) => n + byteLengthOf.call(part), 0))
    let at = 0
    for (const part of parts) {
      joined.set(part, at)
      at += part.byteLength
    }
    return digest(joined)
  }
  const wasm = loaded()
  for (const part of parts) wasm.update(part)
  return wasm.digest("binary")
}

/**
 * The XXH3-128 hash of `bytes` as 32 lowercase hex digits, in canonical
 * (big-endian) order: the same text `xxhsum -H2` prints.
 *
 * @internal
 */
export const hex = (bytes: Uint8Array): string => {
  const d = native(bytes)
  return d === undefined ? loaded().update(bytes).digest("hex") : toHex(d)
}

/**
 * hash-wasm's XXH3-128 of `bytes`, whatever digester is installed (for tests
 * and benchmarks that compare the two).
 *
 * @internal
 */
export const wasmDigest = (bytes: Uint8Array): Uint8Array => loaded().update(bytes).digest("binary")
