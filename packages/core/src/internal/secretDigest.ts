/**
 * The keyed digest that stands for a `Redacted` value in persistent hashes
 * (`hex`, `digest`, `bytes`: the forms that name entries on disk and in
 * Redis): HMAC-SHA-256, from hash-wasm's WebAssembly build, of the canonical
 * form of the redacted value. A secret therefore never leaves the process in
 * clear or under an unkeyed fast hash: without the key, its digest cannot be
 * tested against guesses.
 *
 * The key is random per process by default, so persistent hashes of
 * arguments that hold a `Redacted` differ from one process to the next (an
 * entry keyed by a secret is a miss in another process) until a configured
 * secret is set with {@link setKey} (the store's `secret`, so every process
 * of a deployment names such entries alike).
 *
 * Loading is asynchronous (WebAssembly); after {@link load}, digests are
 * synchronous. {@link load} runs with `Hasher.load`.
 */
import * as Effect from "effect/Effect"
import { createHMAC, createSHA256, type IHasher } from "hash-wasm"
import * as Xxh3 from "./xxh3.ts"

let hmac: IHasher | undefined
let loading: Promise<void> | undefined
let key: Uint8Array | undefined

// WebCrypto's random source, on every runtime core supports (core builds without DOM or Node types: look it up).
const webCrypto = (globalThis as { readonly crypto?: { readonly getRandomValues: (bytes: Uint8Array) => Uint8Array } }).crypto

const randomKey = (): Uint8Array => {
  const bytes = new Uint8Array(32)
  if (webCrypto === undefined) throw new Error("recall needs WebCrypto's crypto.getRandomValues to key the digests of Redacted values")
  webCrypto.getRandomValues(bytes)
  return bytes
}

const start = (): Promise<void> => {
  key ??= randomKey()
  const current = key
  const promise = createHMAC(createSHA256(), current).then(
    (loaded) => {
      // A key set meanwhile wins.
      if (key === current) hmac = loaded
    },
    (cause: unknown) => {
      loading = undefined
      throw cause
    }
  )
  loading = promise
  return promise
}

/**
 * Loads the keyed digest once per process; later runs return at once.
 *
 * @internal
 */
export const load: Effect.Effect<void, Xxh3.WebAssemblyUnavailableError> = Effect.suspend(() =>
  hmac !== undefined
    ? Effect.void
    : Effect.tryPromise({
        try: () => loading ?? start(),
        catch: (cause) =>
          new Xxh3.WebAssemblyUnavailableError({
            reason: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause),
            cause
          })
      })
)

/**
 * Sets the key (a configured secret, at least 16 bytes) and loads the digest
 * with it. Every persistent hash computed afterwards uses it.
 *
 * @internal
 */
export const setKey = (secret: Uint8Array): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (secret.byteLength < 16) return Effect.die(new RangeError("the key of Redacted digests needs at least 16 bytes"))
    key = secret.slice()
    hmac = undefined
    return Effect.promise(() => start())
  })

/**
 * HMAC-SHA-256 of `bytes` under the process's key (32 bytes).
 *
 * @throws Xxh3.NotLoaded before {@link load} ran (`Hasher.load` runs it).
 * @internal
 */
export const digest = (bytes: Uint8Array): Uint8Array => {
  if (hmac === undefined) throw new Xxh3.NotLoaded()
  hmac.init()
  hmac.update(bytes)
  return hmac.digest("binary")
}
