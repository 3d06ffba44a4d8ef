/**
 * A 128-bit non-cryptographic hash in plain JavaScript (no WebAssembly, no
 * native code), so it runs and agrees on every JS runtime.
 *
 * The bulk loop reads 32-byte blocks as eight little-endian 32-bit words into
 * four 32-bit lanes. Each lane takes two words per block (one multiplied into
 * the lane, one added), is rotated, and then the lanes are chained into one
 * another, so a difference confined to one lane spreads to all four at the
 * next block instead of having only 32 bits to cancel in. This was the fastest
 * shape measured on V8 that still mixes across lanes (~5 GB/s on the project
 * machine, see bench/); xxh32-style lanes with a rotate per word ran at 2.6 GB/s.
 *
 * The length joins the finalisation, so zero padding of the last block cannot
 * make two inputs of different lengths agree. Not for adversarial inputs: it
 * names cache entries, it does not authenticate them.
 *
 * Words are read through a `Uint32Array` view, i.e. in the platform's byte
 * order. Every runtime recall targets (x86-64, ARM64, WebAssembly hosts) is
 * little-endian; a big-endian host would compute other hashes.
 */

const P1 = 0x9e3779b1 | 0
const P2 = 0x85ebca77 | 0
const P3 = 0xc2b2ae3d | 0
const P4 = 0x27d4eb2f | 0

/** @internal */
export const BLOCK_BYTES = 32

/**
 * Running state: four lanes and the number of bytes consumed.
 *
 * @internal
 */
export interface State {
  a: number
  b: number
  c: number
  d: number
  length: number
}

/** @internal */
export const initial = (): State => reset({ a: 0, b: 0, c: 0, d: 0, length: 0 })

/** @internal */
export const reset = (state: State): State => {
  state.a = (P1 + P2) | 0
  state.b = P2
  state.c = 0
  state.d = -P1 | 0
  state.length = 0
  return state
}

/**
 * Consumes `words[from, to)`, where `to - from` is a multiple of 8 (whole
 * 32-byte blocks).
 *
 * @internal
 */
export const blocks = (state: State, words: Uint32Array, from: number, to: number): void => {
  let a = state.a
  let b = state.b
  let c = state.c
  let d = state.d
  for (let i = from; i < to; i += 8) {
    a = (Math.imul(a ^ words[i]!, P1) + Math.imul(words[i + 1]!, P2)) | 0
    a = (a << 15) | (a >>> 17)
    b = (Math.imul(b ^ words[i + 2]!, P1) + Math.imul(words[i + 3]!, P2)) | 0
    b = (b << 15) | (b >>> 17)
    c = (Math.imul(c ^ words[i + 4]!, P1) + Math.imul(words[i + 5]!, P2)) | 0
    c = (c << 15) | (c >>> 17)
    d = (Math.imul(d ^ words[i + 6]!, P1) + Math.imul(words[i + 7]!, P2)) | 0
    d = (d << 15) | (d >>> 17)
    a = (a + d) | 0
    b = (b + a) | 0
    c = (c + b) | 0
    d = (d + c) | 0
  }
  state.a = a
  state.b = b
  state.c = c
  state.d = d
  state.length += (to - from) * 4
}

const fmix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, P2)
  h ^= h >>> 13
  h = Math.imul(h, P3)
  return h ^ (h >>> 16)
}

const hex = (n: number): string => (n >>> 0).toString(16).padStart(8, "0")

/**
 * Mixes the length into every lane and avalanches the lanes into each other
 * twice, so every output bit depends on every lane. Returns the four lanes.
 *
 * @internal
 */
export const finishLanes = (state: State, length: number): readonly [number, number, number, number] => {
  const low = length | 0
  const high = Math.floor(length / 0x1_0000_0000) | 0
  let a = state.a ^ low
  let b = state.b ^ Math.imul(high, P4)
  let c = state.c ^ P3
  let d = state.d ^ P4
  for (let round = 0; round < 2; round++) {
    a = fmix((a + d) | 0)
    b = fmix((b + a) | 0)
    c = fmix((c + b) | 0)
    d = fmix((d + c) | 0)
  }
  return [a, b, c, d]
}

/**
 * The digest as 8 UTF-16 code units: a compact in-memory Map key, ~10x
 * cheaper to build than hex. Not for file names or logs (use `toHex`).
 *
 * @internal
 */
export const toKey = (lanes: readonly [number, number, number, number]): string =>
  String.fromCharCode(
    lanes[0] >>> 16,
    lanes[0] & 0xffff,
    lanes[1] >>> 16,
    lanes[1] & 0xffff,
    lanes[2] >>> 16,
    lanes[2] & 0xffff,
    lanes[3] >>> 16,
    lanes[3] & 0xffff
  )

/** @internal */
export const toHex = (lanes: readonly [number, number, number, number]): string =>
  hex(lanes[0]) + hex(lanes[1]) + hex(lanes[2]) + hex(lanes[3])

// One reusable chunk for inputs whose offset is not 4-aligned. hashBytes calls
// no user code, so it cannot be re-entered while the chunk is in use.
const CHUNK_BYTES = 64 * 1024
const chunk = new Uint8Array(CHUNK_BYTES)
const chunkWords = new Uint32Array(chunk.buffer)

/**
 * Hashes any byte range. A 4-byte-aligned range is read in place; an unaligned
 * one is copied through a 64 KiB chunk (copies into already-mapped memory run
 * at memory bandwidth, so this costs little next to the hash itself).
 *
 * @internal
 */
export const hashBytes = (bytes: Uint8Array): readonly [number, number, number, number] => {
  const state = initial()
  const length = bytes.byteLength
  const whole = length - (length % BLOCK_BYTES)
  if (bytes.byteOffset % 4 === 0) {
    blocks(state, new Uint32Array(bytes.buffer, bytes.byteOffset, whole / 4), 0, whole / 4)
  } else {
    for (let at = 0; at < whole; at += CHUNK_BYTES) {
      const n = Math.min(CHUNK_BYTES, whole - at)
      chunk.set(bytes.subarray(at, at + n))
      blocks(state, chunkWords, 0, n / 4)
    }
  }
  if (whole < length) {
    const tail = new Uint8Array(BLOCK_BYTES)
    tail.set(bytes.subarray(whole))
    blocks(state, new Uint32Array(tail.buffer), 0, BLOCK_BYTES / 4)
  }
  return finishLanes(state, length)
}
