/**
 * The bytes of a persisted entry (format version 1): a fixed 96-byte header,
 * the function's name and identity, the payload, and, with a store `secret`,
 * an HMAC-SHA-256 of everything before it. Byte by byte in
 * docs/entry-format.md, so that another tool can read entries.
 *
 * **Every byte is checked.** The header checksum (XXH3-128) covers the fixed
 * fields (the payload checksum among them) and the names; the payload
 * checksum (XXH3-128) covers the payload; the signature, when there is one,
 * covers all of it. So a flipped bit anywhere, a truncation, trailing bytes,
 * another format version, codec or value-schema fingerprint, a missing or
 * wrong signature is an {@link EntryMiss} that says which: never a wrong
 * value, never a throw. The checksums catch corruption; only the signature
 * stops someone who can write to the store (XXH3 is not a cryptographic
 * hash).
 *
 * **Signatures** use WebCrypto's HMAC-SHA-256 through `effect/crypto`'s
 * `Mac`, which every runtime core supports has (browsers, Deno, Bun, Node,
 * workers), even where WebAssembly is refused; the key is derived from the
 * secret for this one purpose ({@link makeSecret}), apart from the key that
 * names entries.
 *
 * Decoding reads lengths before the parts they measure and never allocates
 * from a length it has not checked against the bytes it was given.
 */

import type * as CryptoError from "effect/crypto/CryptoError"
import * as Mac from "effect/crypto/Mac"
import * as SecureRandom from "effect/crypto/SecureRandom"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { byteLengthOf, joinedParts, plainBytes } from "./payload.ts"
import * as Xxh3 from "./xxh3.ts"

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/** `0x89 'R' 'C' 'L'`: a high first byte, as PNG's, so that a text transfer that mangles bytes shows. @internal */
export const MAGIC: ReadonlyArray<number> = [0x89, 0x52, 0x43, 0x4c]

/** @internal */
export const FORMAT_VERSION = 1

/** The fixed part of the header. @internal */
export const HEADER_BYTES = 96

/** An HMAC-SHA-256 tag. @internal */
export const SIGNATURE_BYTES = 32

/** The fields' offsets in the fixed header (little-endian throughout). @internal */
export const Offsets = {
  magic: 0,
  version: 4,
  codec: 6,
  flags: 7,
  fingerprint: 8,
  storedAt: 24,
  expiresAt: 32,
  staleUntil: 40,
  nameLength: 48,
  identityLength: 52,
  payloadLength: 56,
  payloadChecksum: 64,
  headerChecksum: 80
} as const

/** Flag bit 0: the entry ends with an HMAC-SHA-256 signature. The other bits are 0 in version 1. */
const SIGNED = 1

/**
 * How the payload was written: a CBOR payload (internal/payload.ts) of the
 * value itself, or of its `value` schema's encoded form.
 *
 * @internal
 */
export const Codec = {
  structured: 1,
  schema: 2
} as const

/** @internal */
export type Codec = (typeof Codec)[keyof typeof Codec]

/** The bytes of a fingerprint: 16 (an XXH3-128); all zero for "no value schema". @internal */
export const FINGERPRINT_BYTES = 16

/** The fingerprint of "no value schema". @internal */
export const NO_FINGERPRINT: Uint8Array = new Uint8Array(FINGERPRINT_BYTES)

/** The longest name or identity kept, in UTF-8 bytes. */
const MAX_NAME_BYTES = 65_535

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * What an entry's header says.
 *
 * @internal
 */
export interface EntryFields {
  readonly codec: Codec
  /** The value schema's fingerprint ({@link FINGERPRINT_BYTES} bytes), {@link NO_FINGERPRINT} without one. */
  readonly fingerprint: Uint8Array
  /** The cached function's name, for people (`recall ls`). */
  readonly name: string
  /** The cached function's identity (its namespace). */
  readonly identity: string
  /** Epoch milliseconds. */
  readonly storedAt: number
  /** Fresh until then (epoch milliseconds; `Infinity`: never stale). */
  readonly expiresAt: number
  /** Served stale, while it is recomputed, until then; at least `expiresAt`. */
  readonly staleUntil: number
}

/**
 * A decoded entry: its header and the payload bytes (a view into the entry).
 *
 * @internal
 */
export interface DecodedEntry extends EntryFields {
  readonly signed: boolean
  /** Whole, or in parts for an entry read in parts (see `decodePayload`). */
  readonly payload: Uint8Array | ReadonlyArray<Uint8Array>
}

/**
 * What a reader expects of an entry: anything else is a miss.
 *
 * @internal
 */
export interface Expected {
  readonly codec: Codec
  readonly fingerprint: Uint8Array
  /** When given, an entry of another identity is a miss (it was written under the wrong name). */
  readonly identity?: string | undefined
  /** The name the entry was read from, in its namespace: with a secret, its signature must cover it (an entry moved from another call's name is a miss). */
  readonly storeName?: string | undefined
}

/**
 * Why an entry was not used. Each is a miss: the caller deletes the entry,
 * warns with {@link describeMiss}, and computes.
 *
 * @internal
 */
export type EntryMiss =
  | { readonly _tag: "Truncated"; readonly length: number; readonly expected: number }
  | { readonly _tag: "TrailingBytes"; readonly length: number; readonly expected: number }
  | { readonly _tag: "NotAnEntry" }
  | { readonly _tag: "UnsupportedVersion"; readonly version: number }
  | { readonly _tag: "Malformed"; readonly reason: string }
  | { readonly _tag: "BadHeaderChecksum" }
  | { readonly _tag: "BadChecksum" }
  | { readonly _tag: "MissingSignature" }
  | { readonly _tag: "UnexpectedSignature" }
  | { readonly _tag: "BadSignature" }
  | { readonly _tag: "CodecMismatch"; readonly codec: number; readonly expected: number }
  | { readonly _tag: "FingerprintMismatch" }
  | { readonly _tag: "IdentityMismatch"; readonly identity: string; readonly expected: string }

/**
 * One line for a warning.
 *
 * @internal
 */
export const describeMiss = (miss: EntryMiss | { readonly _tag: "PayloadUndecodable"; readonly reason: string }): string => {
  switch (miss._tag) {
    case "Truncated":
      return `the entry is truncated: ${miss.length} bytes of ${miss.expected}`
    case "TrailingBytes":
      return `the entry has ${miss.length - miss.expected} bytes past its end`
    case "NotAnEntry":
      return "the bytes are not a recall entry (no magic number)"
    case "UnsupportedVersion":
      return `the entry is in format version ${miss.version}; this recall reads version ${FORMAT_VERSION}`
    case "Malformed":
      return `the entry's header is malformed: ${miss.reason}`
    case "BadHeaderChecksum":
      return "the entry's header does not match its checksum (corrupted)"
    case "BadChecksum":
      return "the entry's payload does not match its checksum (corrupted)"
    case "MissingSignature":
      return "the entry is not signed, and the store has a secret"
    case "UnexpectedSignature":
      return "the entry is signed, and the store has no secret to check it with"
    case "BadSignature":
      return "the entry's signature is wrong (tampered with, or signed with another secret)"
    case "CodecMismatch":
      return `the entry was written with codec ${miss.codec}, not ${miss.expected} (the value schema was added or removed)`
    case "FingerprintMismatch":
      return "the entry was written with another value schema"
    case "IdentityMismatch":
      return `the entry belongs to ${JSON.stringify(miss.identity)}, not ${JSON.stringify(miss.expected)}`
    case "PayloadUndecodable":
      return `the entry's payload does not decode: ${miss.reason}`
  }
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

const TypeId = "~@recall/core/internal/EntrySecret" as const

/**
 * A store secret made ready to sign and verify entries.
 *
 * @internal
 */
export interface EntrySecret {
  readonly [TypeId]: typeof TypeId
  /** The signature of an entry's `body` stored under `storeName` (see {@link signedMessage}). */
  readonly sign: (body: Uint8Array, storeName: string) => Effect.Effect<Uint8Array, CryptoError.CryptoError>
  readonly verify: (tag: Uint8Array, body: Uint8Array, storeName: string) => Effect.Effect<boolean, CryptoError.CryptoError>
}

const MacWebCrypto = Mac.layerWebCrypto.pipe(Layer.provide(SecureRandom.layerWebCrypto))

// UTF-8 from the runtime's TextEncoder and TextDecoder (every runtime core supports has them; core builds without DOM or Node types).
interface Utf8Globals {
  readonly TextEncoder: new () => { encode(text: string): Uint8Array }
  readonly TextDecoder: new (
    label: string,
    options: { readonly fatal: boolean; readonly ignoreBOM: boolean }
  ) => { decode(bytes: Uint8Array): string }
}
const { TextEncoder: Utf8Encoder, TextDecoder: Utf8Decoder } = globalThis as unknown as Utf8Globals

const encoder = new Utf8Encoder()

/** What the signing key is derived for: a key used for nothing else. */
const SIGNING_PURPOSE = encoder.encode("recall entry signature, format 1")

/**
 * A key for one purpose from a store secret (a string, as `Config.Redacted`
 * gives it, or bytes; at least 16 bytes): HMAC-SHA-256(secret, purpose).
 * Signing entries, naming them and keying the digests of `Redacted`
 * arguments each use their own key, all from the one secret.
 *
 * @internal
 */
export const deriveKey = (
  secret: Redacted.Redacted<string | Uint8Array>,
  purpose: Uint8Array
): Effect.Effect<Uint8Array, CryptoError.CryptoError> =>
  Effect.gen(function* () {
    const raw = Redacted.value(secret)
    const bytes = typeof raw === "string" ? encoder.encode(raw) : raw.slice()
    if (bytes.byteLength < 16) {
      return yield* Effect.die(new RangeError("a store secret needs at least 16 bytes (a random string of 32 characters or more is best)"))
    }
    const mac = yield* Mac.Mac
    const root = yield* Mac.key(Mac.hmacSha256, bytes)
    return yield* mac.sign(root, purpose)
  }).pipe(Effect.provide(MacWebCrypto))

/**
 * A value schema's fingerprint: the XXH3-128 of `text` (its identity, as
 * JSON) in UTF-8. Needs the hasher loaded.
 *
 * @internal
 */
export const fingerprintOf = (text: string): Uint8Array => Xxh3.digest(encoder.encode(text))

/** What the naming key and the key of Redacted digests are derived for. @internal */
export const NAMING_PURPOSE = encoder.encode("recall entry names, format 1")

/** @internal */
export const REDACTED_PURPOSE = encoder.encode("recall redacted digests, format 1")

/** What the signed message of an entry starts with. */
const NAME_DOMAIN = encoder.encode("recall entry stored as")

/**
 * What an entry's signature is the HMAC-SHA-256 of: its store name (the key
 * it is stored under, in its namespace) and the HMAC-SHA-256 of its body,
 * under the same key. So an entry moved to another name (another call's) is
 * a miss, as a changed one is: the body names the function, the store name
 * the call. Nested, so that a large body is signed where it lies rather than
 * copied after the name: the inner HMAC, a pseudorandom function of the body
 * under the secret, stands for it. Laid out as `"recall entry stored as"`,
 * the name's UTF-8 length (u32, little-endian), the name, the inner HMAC.
 *
 * @internal
 */
export const signedMessage = (storeName: string, inner: Uint8Array): Uint8Array => {
  const name = encoder.encode(storeName)
  const out = new Uint8Array(NAME_DOMAIN.byteLength + 4 + name.byteLength + inner.byteLength)
  out.set(NAME_DOMAIN)
  new DataView(out.buffer).setUint32(NAME_DOMAIN.byteLength, name.byteLength, true)
  out.set(name, NAME_DOMAIN.byteLength + 4)
  out.set(inner, NAME_DOMAIN.byteLength + 4 + name.byteLength)
  return out
}

/**
 * The signing key of a store secret (a string, as `Config.Redacted` gives
 * it, or bytes; at least 16 bytes): HMAC-SHA-256(secret, purpose), so the
 * signing key is not the key that names entries, though both come from the
 * one secret.
 *
 * @internal
 */
export const makeSecret = (secret: Redacted.Redacted<string | Uint8Array>): Effect.Effect<EntrySecret, CryptoError.CryptoError> =>
  Effect.gen(function* () {
    const mac = yield* Mac.Mac
    const derived = yield* deriveKey(secret, SIGNING_PURPOSE)
    const key = yield* Mac.key(Mac.hmacSha256, derived)
    const message = (body: Uint8Array, storeName: string) => Effect.map(mac.sign(key, body), (inner) => signedMessage(storeName, inner))
    return {
      [TypeId]: TypeId,
      sign: (body, storeName) => Effect.flatMap(message(body, storeName), (data) => mac.sign(key, data)),
      verify: (tag, body, storeName) => Effect.flatMap(message(body, storeName), (data) => mac.verify(key, tag, data))
    } satisfies EntrySecret
  }).pipe(Effect.provide(MacWebCrypto))

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** The bytes the header checksum covers: the fixed fields before it, then the names. */
const headerDigest = (entry: Uint8Array, namesLength: number): Uint8Array => {
  const covered = new Uint8Array(Offsets.headerChecksum + namesLength)
  covered.set(entry.subarray(0, Offsets.headerChecksum))
  covered.set(entry.subarray(HEADER_BYTES, HEADER_BYTES + namesLength), Offsets.headerChecksum)
  return Xxh3.digest(covered)
}

/**
 * The room an entry of these fields leaves around its payload: the header
 * and names before it, the signature after it (with a secret). A payload
 * encoded with this room (`encodePayload`'s `room`) is written into its
 * entry in place, without a copy (`encodeEntry`'s `inPlace`).
 *
 * @internal
 */
export const entryRoom = (
  fields: Pick<EntryFields, "name" | "identity">,
  signed: boolean
): { readonly before: number; readonly after: number } => ({
  before: HEADER_BYTES + encoder.encode(fields.name).byteLength + encoder.encode(fields.identity).byteLength,
  after: signed ? SIGNATURE_BYTES : 0
})

/**
 * An entry of `payload` with these fields, signed with `secret` when given.
 * Loads the XXH3 hasher if it is not loaded.
 *
 * `inPlace`: `payload` is a view into a buffer of exactly the entry's
 * length, at the offset {@link entryRoom} gives: the entry is written
 * around it, into that buffer, rather than into a copy. `storeName`: the
 * name the entry is stored under in its namespace, which a signature covers
 * (needed with a `secret`).
 *
 * @throws RangeError (a defect) for fields no entry can hold: a fingerprint
 *   of another size, a name over 64 KiB, `staleUntil` before `expiresAt`; a
 *   `secret` without `storeName`.
 * @internal
 */
export const encodeEntry = (
  fields: EntryFields,
  payload: Uint8Array,
  secret?: EntrySecret,
  options?: { readonly inPlace?: boolean; readonly storeName?: string | undefined }
): Effect.Effect<Uint8Array, Xxh3.WebAssemblyUnavailableError | CryptoError.CryptoError> =>
  Effect.flatMap(Xxh3.load, () => {
    const storeName = options?.storeName
    if (secret !== undefined && storeName === undefined)
      return Effect.die(new RangeError("a signed entry needs the name it is stored under"))
    const names = namesOf(fields)
    if (names instanceof RangeError) return Effect.die(names)
    const namesLength = names.name.byteLength + names.identity.byteLength
    const bodyLength = HEADER_BYTES + namesLength + payload.byteLength
    const entryLength = bodyLength + (secret === undefined ? 0 : SIGNATURE_BYTES)
    let entry: Uint8Array
    if (options?.inPlace === true) {
      // The payload sits where the entry puts it, in a buffer of exactly the entry's length (encodePayload's room).
      if (payload.byteOffset !== HEADER_BYTES + namesLength || payload.buffer.byteLength !== entryLength) {
        return Effect.die(new RangeError("an in-place payload needs entryRoom's room around it"))
      }
      entry = new Uint8Array(payload.buffer, 0, entryLength)
    } else {
      entry = new Uint8Array(entryLength)
      entry.set(payload, HEADER_BYTES + namesLength)
    }
    writeHeader(entry, fields, names, payload.byteLength, Xxh3.digest(payload), secret !== undefined)
    if (secret === undefined) return Effect.succeed(entry)
    return Effect.map(secret.sign(entry.subarray(0, bodyLength), storeName!), (signature) => {
      entry.set(signature, bodyLength)
      return entry
    })
  })

/**
 * An unsigned entry of these fields as parts whose bytes one after another
 * are {@link encodeEntry}'s: its header and names, then the payload's parts
 * as they are (encodePayloadParts', written at {@link entryRoom}'s offset),
 * so that a large entry reaches a store that writes parts without being
 * joined into one buffer. Loads the XXH3 hasher if it is not loaded.
 *
 * @throws RangeError (a defect) as {@link encodeEntry}.
 * @internal
 */
export const encodeEntryParts = (
  fields: EntryFields,
  payload: { readonly parts: ReadonlyArray<Uint8Array>; readonly byteLength: number }
): Effect.Effect<ReadonlyArray<Uint8Array>, Xxh3.WebAssemblyUnavailableError> =>
  Effect.flatMap(Xxh3.load, () => {
    const names = namesOf(fields)
    if (names instanceof RangeError) return Effect.die(names)
    const head = new Uint8Array(HEADER_BYTES + names.name.byteLength + names.identity.byteLength)
    writeHeader(head, fields, names, payload.byteLength, Xxh3.digestParts(payload.parts), false)
    return Effect.succeed([head, ...payload.parts])
  })

/** The fields' names as UTF-8, or the RangeError of fields no entry can hold. */
const namesOf = (fields: EntryFields): { readonly name: Uint8Array; readonly identity: Uint8Array } | RangeError => {
  const name = encoder.encode(fields.name)
  const identity = encoder.encode(fields.identity)
  if (fields.fingerprint.byteLength !== FINGERPRINT_BYTES) return new RangeError("a fingerprint is 16 bytes")
  if (name.byteLength > MAX_NAME_BYTES || identity.byteLength > MAX_NAME_BYTES) {
    return new RangeError("a name or identity is at most 65,535 bytes of UTF-8")
  }
  if (!(fields.staleUntil >= fields.expiresAt)) return new RangeError("staleUntil is at least expiresAt")
  return { name, identity }
}

/** Writes the fixed header and the names at the start of `entry`, the header checksum last. */
const writeHeader = (
  entry: Uint8Array,
  fields: EntryFields,
  names: { readonly name: Uint8Array; readonly identity: Uint8Array },
  payloadLength: number,
  payloadChecksum: Uint8Array,
  signed: boolean
): void => {
  const { name, identity } = names
  const view = new DataView(entry.buffer, entry.byteOffset, HEADER_BYTES)
  entry.set(MAGIC, Offsets.magic)
  view.setUint16(Offsets.version, FORMAT_VERSION, true)
  view.setUint8(Offsets.codec, fields.codec)
  view.setUint8(Offsets.flags, signed ? SIGNED : 0)
  entry.set(fields.fingerprint, Offsets.fingerprint)
  view.setFloat64(Offsets.storedAt, fields.storedAt, true)
  view.setFloat64(Offsets.expiresAt, fields.expiresAt, true)
  view.setFloat64(Offsets.staleUntil, fields.staleUntil, true)
  view.setUint32(Offsets.nameLength, name.byteLength, true)
  view.setUint32(Offsets.identityLength, identity.byteLength, true)
  view.setBigUint64(Offsets.payloadLength, BigInt(payloadLength), true)
  entry.set(payloadChecksum, Offsets.payloadChecksum)
  entry.set(name, HEADER_BYTES)
  entry.set(identity, HEADER_BYTES + name.byteLength)
  entry.set(headerDigest(entry, name.byteLength + identity.byteLength), Offsets.headerChecksum)
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

const utf8 = new Utf8Decoder("utf-8", { fatal: true, ignoreBOM: true })

const miss = (reason: EntryMiss): Result.Result<never, EntryMiss> => Result.fail(reason)

interface Layout {
  readonly view: DataView
  readonly signed: boolean
  readonly nameLength: number
  readonly identityLength: number
  readonly payloadLength: number
  readonly bodyLength: number
}

/** The fixed header's structure: magic, version, flags, lengths against the `total` bytes there are (`bytes`, or parts it begins). */
const layout = (bytes: Uint8Array, total = bytes.byteLength): Result.Result<Layout, EntryMiss> => {
  if (bytes.byteLength < MAGIC.length || MAGIC.some((byte, i) => bytes[i] !== byte)) {
    return bytes.byteLength < MAGIC.length && MAGIC.slice(0, bytes.byteLength).every((byte, i) => bytes[i] === byte)
      ? miss({ _tag: "Truncated", length: total, expected: HEADER_BYTES })
      : miss({ _tag: "NotAnEntry" })
  }
  if (bytes.byteLength < HEADER_BYTES) return miss({ _tag: "Truncated", length: total, expected: HEADER_BYTES })
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint16(Offsets.version, true)
  if (version !== FORMAT_VERSION) return miss({ _tag: "UnsupportedVersion", version })
  const flags = view.getUint8(Offsets.flags)
  if ((flags & ~SIGNED) !== 0) return miss({ _tag: "Malformed", reason: `unknown flags 0x${flags.toString(16)}` })
  const signed = (flags & SIGNED) !== 0
  const nameLength = view.getUint32(Offsets.nameLength, true)
  const identityLength = view.getUint32(Offsets.identityLength, true)
  const payloadLength = view.getBigUint64(Offsets.payloadLength, true)
  if (nameLength > MAX_NAME_BYTES || identityLength > MAX_NAME_BYTES) return miss({ _tag: "Malformed", reason: "a name over 64 KiB" })
  if (payloadLength > BigInt(Number.MAX_SAFE_INTEGER)) return miss({ _tag: "Malformed", reason: "a payload length past 2^53" })
  const bodyLength = HEADER_BYTES + nameLength + identityLength + Number(payloadLength)
  const expected = bodyLength + (signed ? SIGNATURE_BYTES : 0)
  if (total < expected) return miss({ _tag: "Truncated", length: total, expected })
  if (total > expected) return miss({ _tag: "TrailingBytes", length: total, expected })
  return Result.succeed({ view, signed, nameLength, identityLength, payloadLength: Number(payloadLength), bodyLength })
}

const fieldsOf = (bytes: Uint8Array, at: Layout): Result.Result<EntryFields, EntryMiss> => {
  const { view } = at
  const codec = view.getUint8(Offsets.codec)
  if (codec !== Codec.structured && codec !== Codec.schema) return miss({ _tag: "Malformed", reason: `unknown codec ${codec}` })
  let name: string
  let identity: string
  try {
    name = utf8.decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + at.nameLength))
    identity = utf8.decode(bytes.subarray(HEADER_BYTES + at.nameLength, HEADER_BYTES + at.nameLength + at.identityLength))
  } catch {
    return miss({ _tag: "Malformed", reason: "a name that is not UTF-8" })
  }
  const storedAt = view.getFloat64(Offsets.storedAt, true)
  const expiresAt = view.getFloat64(Offsets.expiresAt, true)
  const staleUntil = view.getFloat64(Offsets.staleUntil, true)
  if (Number.isNaN(storedAt) || Number.isNaN(expiresAt) || !(staleUntil >= expiresAt)) {
    return miss({ _tag: "Malformed", reason: "times that are not numbers, or stale-until before expires-at" })
  }
  return Result.succeed({
    codec,
    fingerprint: bytes.slice(Offsets.fingerprint, Offsets.fingerprint + FINGERPRINT_BYTES),
    name,
    identity,
    storedAt,
    expiresAt,
    staleUntil
  })
}

/**
 * The header of an entry, checked for structure and against its header
 * checksum but without reading the payload: what `recall ls` shows. Loads
 * the XXH3 hasher if it is not loaded.
 *
 * @internal
 */
export const readHeader = (
  bytes: Uint8Array
): Effect.Effect<
  Result.Result<EntryFields & { readonly signed: boolean; readonly payloadLength: number }, EntryMiss>,
  Xxh3.WebAssemblyUnavailableError
> =>
  Effect.map(Xxh3.load, (): Result.Result<EntryFields & { readonly signed: boolean; readonly payloadLength: number }, EntryMiss> => {
    bytes = plainBytes(bytes)
    const at = layout(bytes)
    if (Result.isFailure(at)) return miss(at.failure)
    if (
      !equalBytes(
        headerDigest(bytes, at.success.nameLength + at.success.identityLength),
        bytes.subarray(Offsets.headerChecksum, HEADER_BYTES)
      )
    ) {
      return miss({ _tag: "BadHeaderChecksum" })
    }
    return Result.map(fieldsOf(bytes, at.success), (fields) => ({
      ...fields,
      signed: at.success.signed,
      payloadLength: at.success.payloadLength
    }))
  })

/**
 * The header and payload of an entry, or the reason it is a miss. With a
 * `secret`, an entry must carry its signature; without one, a signed entry
 * is a miss too (it cannot be checked). The payload is a view into `bytes`.
 * Loads the XXH3 hasher if it is not loaded; a failure of WebCrypto itself
 * (not a wrong signature) is the error.
 *
 * @internal
 */
export const decodeEntry = (
  entry: Uint8Array | ReadonlyArray<Uint8Array>,
  expected: Expected,
  secret?: EntrySecret
): Effect.Effect<Result.Result<DecodedEntry, EntryMiss>, Xxh3.WebAssemblyUnavailableError | CryptoError.CryptoError> =>
  Effect.flatMap(Xxh3.load, (): Effect.Effect<Result.Result<DecodedEntry, EntryMiss>, CryptoError.CryptoError> => {
    const inParts = !(entry instanceof Uint8Array) && entry.length > 1 ? entry : undefined
    // A Node Buffer's `slice` is a view: work on a plain Uint8Array over the same bytes.
    let bytes = plainBytes(entry instanceof Uint8Array ? entry : (entry[0] ?? new Uint8Array(0)))
    if (inParts !== undefined) {
      const parted = decodeParts(bytes, inParts, expected, secret)
      if (parted !== undefined) return Effect.succeed(parted)
      // Parts that this reading does not take (a signature to check, a header cut across parts): joined.
      bytes = joinedParts(inParts)
    }
    const checked = layout(bytes)
    if (Result.isFailure(checked)) return Effect.succeed(miss(checked.failure))
    const at = checked.success
    if (at.signed !== (secret !== undefined)) return Effect.succeed(miss({ _tag: at.signed ? "UnexpectedSignature" : "MissingSignature" }))
    const rest = (): Result.Result<DecodedEntry, EntryMiss> => {
      const header = checkedHeader(bytes, at, expected)
      if (Result.isFailure(header)) return miss(header.failure)
      const payload = bytes.subarray(HEADER_BYTES + at.nameLength + at.identityLength, at.bodyLength)
      if (!equalBytes(Xxh3.digest(payload), bytes.subarray(Offsets.payloadChecksum, Offsets.payloadChecksum + 16))) {
        return miss({ _tag: "BadChecksum" })
      }
      return Result.succeed({ ...header.success, signed: at.signed, payload })
    }
    if (secret === undefined) return Effect.sync(rest)
    // The signature first: nothing else of a tampered entry is looked at.
    if (expected.storeName === undefined) return Effect.die(new RangeError("a signed entry is checked against the name it is stored under"))
    return Effect.map(secret.verify(bytes.subarray(at.bodyLength), bytes.subarray(0, at.bodyLength), expected.storeName), (valid) =>
      valid ? rest() : miss({ _tag: "BadSignature" })
    )
  })

/** The header and names of an entry laid out as `at`, checked (its checksum) and against what the reader expects. */
const checkedHeader = (bytes: Uint8Array, at: Layout, expected: Expected): Result.Result<EntryFields, EntryMiss> => {
  if (!equalBytes(headerDigest(bytes, at.nameLength + at.identityLength), bytes.subarray(Offsets.headerChecksum, HEADER_BYTES))) {
    return miss({ _tag: "BadHeaderChecksum" })
  }
  const read = fieldsOf(bytes, at)
  if (Result.isFailure(read)) return miss(read.failure)
  const fields = read.success
  if (fields.codec !== expected.codec) return miss({ _tag: "CodecMismatch", codec: fields.codec, expected: expected.codec })
  if (!equalBytes(fields.fingerprint, expected.fingerprint)) return miss({ _tag: "FingerprintMismatch" })
  if (expected.identity !== undefined && fields.identity !== expected.identity) {
    return miss({ _tag: "IdentityMismatch", identity: fields.identity, expected: expected.identity })
  }
  return Result.succeed(fields)
}

/**
 * {@link decodeEntry} of an unsigned entry given in `parts` (`first` is the
 * first, as a plain Uint8Array), without joining them: its header and names
 * read from the first part, its payload checksum over the parts; the
 * payload is the parts (the first cut to where the payload starts).
 * `undefined` when this reading does not apply: an entry to be checked
 * against a signature (WebCrypto takes one buffer), or a first part that
 * does not hold the header and names whole.
 */
const decodeParts = (
  first: Uint8Array,
  parts: ReadonlyArray<Uint8Array>,
  expected: Expected,
  secret: EntrySecret | undefined
): Result.Result<DecodedEntry, EntryMiss> | undefined => {
  if (secret !== undefined || first.byteLength < HEADER_BYTES) return undefined
  const checked = layout(first, byteLengthOf(parts))
  if (Result.isFailure(checked)) return miss(checked.failure)
  const at = checked.success
  if (at.signed) return miss({ _tag: "UnexpectedSignature" })
  const namesLength = at.nameLength + at.identityLength
  if (first.byteLength < HEADER_BYTES + namesLength) return undefined
  const header = checkedHeader(first, at, expected)
  if (Result.isFailure(header)) return miss(header.failure)
  const payload = [first.subarray(HEADER_BYTES + namesLength), ...parts.slice(1)]
  if (!equalBytes(Xxh3.digestParts(payload), first.subarray(Offsets.payloadChecksum, Offsets.payloadChecksum + 16))) {
    return miss({ _tag: "BadChecksum" })
  }
  return Result.succeed({ ...header.success, signed: false, payload })
}
