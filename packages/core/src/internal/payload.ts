/**
 * The payload of a persisted entry: a cached value and the output its body
 * recorded (replay lines), as CBOR (RFC 8949), written and read by cbor2, a
 * pure-JS, eval-free implementation that runs on every runtime and bundles
 * for browsers. docs/entry-format.md describes the bytes for other tools.
 *
 * **What is written.** The kinds the structured copy keeps (valueKinds.ts),
 * except where a kind cannot be persisted faithfully:
 *
 * - primitives (`undefined`, `-0`, `NaN` and the infinities included;
 *   bigints always as RFC 8949 bignums, tags 2 and 3), arrays, plain objects
 *   (own enumerable string keys, `"__proto__"` included, as a CBOR map of
 *   text keys), Date, Map (tag 259), Set (tag 258), RegExp (tag 21066),
 *   ArrayBuffer, DataView, Node's Buffer;
 * - typed arrays as RFC 8746 tags over their raw bytes (native byte order:
 *   the little-endian tags on every common platform): one copy of the whole
 *   buffer, never element by element, never base64 or numbers;
 * - Effect's `Option`, `Result`, `Chunk`, `HashMap`, `HashSet`, `DateTime`,
 *   `Duration` and `BigDecimal`, under tags of recall's own;
 * - shared references and cycles, as RFC 8949's registered tags 28
 *   (shareable) and 29 (shared reference).
 *
 * **What is refused** ({@link Unencodable}, with the part and why, so that
 * the caller keeps the value in memory only): class instances (a Data or
 * Schema class needs a `value` schema: a prototype never comes from the
 * bytes), `Redacted` (it would be written in clear), functions, symbols,
 * subclasses of built-ins (a `Redacted` in recorded output is written as the
 * text it prints), strings that are not well-formed UTF-16 (UTF-8
 * cannot hold a lone surrogate), arrays with holes or fields besides their
 * elements, symbol-keyed fields, own fields on a Map, Set, Date, RegExp,
 * ArrayBuffer or DataView, a RegExp with a `lastIndex`, a SharedArrayBuffer,
 * views that share one ArrayBuffer (with each other or with the buffer),
 * and values nested deeper than {@link MAX_DEPTH} levels.
 *
 * **Reading never executes code.** cbor2 builds only CBOR's data model
 * (numbers, strings, byte strings, arrays, maps, tags; it has no `eval` and
 * no `Function`), with every global tag decoder switched off; this module
 * then rebuilds values through the runtime's own constructors and Effect's
 * public ones. No prototype, constructor or property descriptor comes from
 * the bytes: a `"__proto__"` key is an own data property, a class name is a
 * string. A tag, shape or simple value this module does not write is a
 * {@link PayloadMiss}, never a partial value.
 *
 * **Aliasing.** Typed arrays are copied out of the payload bytes (one
 * allocation and copy each) unless the caller says it owns those bytes
 * (`adopt`): then the largest typed array (64 KiB or more, aligned, and at
 * least half of the bytes) is a view into them, with no copy, and the
 * others are copies, so that no two views share a buffer the body's value
 * did not share.
 * Each view is written as its own bytes, so a value whose views share one
 * buffer is refused (kept in memory, where the copy keeps them shared)
 * rather than read back apart.
 */
import { type Writer as CborWriter, decode, type EncodeOptions, Tag, type TypeEncoderMap } from "cbor2"
import { defaultEncodeOptions, writeLength, writeUnknown } from "cbor2/encoder"
import { Writer as CborOutput } from "cbor2/writer"
import * as BigDecimal from "effect/BigDecimal"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Copy from "./copy.ts"
import { type Line, recordedMethods } from "./replay.ts"
import * as V from "./valueKinds.ts"

// ---------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------

/**
 * recall's own tags sit in CBOR's first-come-first-served range (32768 and
 * up, RFC 8949 section 9.2), from `0x52430000` ("RC"): 5-byte tag heads.
 */
const OWN = 0x5243_0000

/**
 * Every tag a payload may hold. The registered ones are used as registered;
 * the others are recall's (documented in docs/entry-format.md).
 *
 * @internal
 */
export const Tags = {
  /** RFC 8949: unsigned and negative bignums (a bigint, always, whatever its size). */
  positiveBignum: 2,
  negativeBignum: 3,
  /** Registered: a value that later references point at, and such a reference (its index, in order of appearance). */
  shareable: 28,
  sharedReference: 29,
  /** Registered: a JS Set (an array of its members) and a JS Map (a CBOR map of its entries, in order). */
  set: 258,
  map: 259,
  /** Registered: an ECMAScript RegExp, `[source, flags]`. */
  regExp: 21066,
  /** The payload itself: `[value, output]`, `output` `null` or an array of replay lines. */
  payload: OWN,
  /** A Date: its time value in milliseconds (a float; `NaN` for an invalid Date). */
  date: OWN + 1,
  /** An ArrayBuffer, a DataView, a Node Buffer: a byte string of their bytes. */
  arrayBuffer: OWN + 2,
  dataView: OWN + 3,
  nodeBuffer: OWN + 4,
  /**
   * A typed array of 1 KiB or more, aligned: `[padding, typed array]`, where
   * `padding` is a byte string of 0 to 7 zero bytes chosen so that the typed
   * array's bytes start at a multiple of 8 from the start of the entry. A
   * reader that owns the bytes may then view them in place. Readers skip the
   * padding.
   */
  aligned: OWN + 5,
  /** A plain object with a null prototype (`Object.create(null)`): the map of its fields, as a plain object's. */
  nullPrototype: OWN + 6,
  /** Effect's data types. */
  option: OWN + 16,
  result: OWN + 17,
  chunk: OWN + 18,
  hashMap: OWN + 19,
  hashSet: OWN + 20,
  dateTime: OWN + 21,
  duration: OWN + 22,
  bigDecimal: OWN + 23,
  /**
   * A `Redacted` in recorded output: its label or `null`, never its value. It
   * is read back as a Redacted of nothing, which prints as the original did.
   */
  redactedOutput: OWN + 24
} as const

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

type TypedArrayConstructor = new (
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number
) => ArrayBufferView & { readonly length: number }

const Float16 = (globalThis as { readonly Float16Array?: TypedArrayConstructor }).Float16Array

/** RFC 8746 typed-array tags: [constructor, little-endian tag, big-endian tag] (one tag for one-byte elements). */
const typedArrays: ReadonlyArray<readonly [TypedArrayConstructor | undefined, number, number]> = [
  [Uint8Array, 64, 64],
  [Uint8ClampedArray, 68, 68],
  [Int8Array, 72, 72],
  [Uint16Array, 69, 65],
  [Uint32Array, 70, 66],
  [BigUint64Array, 71, 67],
  [Int16Array, 77, 73],
  [Int32Array, 78, 74],
  [BigInt64Array, 79, 75],
  [Float16, 84, 80],
  [Float32Array, 85, 81],
  [Float64Array, 86, 82]
]

/** The tag a typed array of this prototype is written with (native byte order). */
const tagByPrototype = new Map<object, number>()
/** How each typed-array tag is read: its constructor and whether its bytes are in native order. */
const typedArrayByTag = new Map<number, { readonly Constructor: TypedArrayConstructor; readonly native: boolean }>()
for (const [Constructor, le, be] of typedArrays) {
  if (Constructor === undefined) continue
  tagByPrototype.set(Constructor.prototype, littleEndian ? le : be)
  typedArrayByTag.set(le, { Constructor, native: littleEndian || le === be })
  if (be !== le) typedArrayByTag.set(be, { Constructor, native: !littleEndian })
}

/** Nesting deeper than this many containers is refused when writing (and cannot be read). */
export const MAX_DEPTH = 1000

// ---------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------

/**
 * A value (or a part of it) that the payload codec cannot write: the caller
 * keeps the value in memory only.
 *
 * @internal
 */
export interface Unencodable {
  readonly _tag: "Unencodable"
  /** The part that cannot be written. */
  readonly value: unknown
  /** Where it sits, as steps from the root: `['field "handlers"', "[2]"]` (output parts start with `output`). */
  readonly path: ReadonlyArray<string>
  /** Why, in words. */
  readonly reason: string
}

/**
 * Payload bytes that do not decode to a value this codec writes: a miss.
 *
 * @internal
 */
export interface PayloadMiss {
  readonly _tag: "PayloadUndecodable"
  readonly reason: string
}

class Refused {
  readonly value: unknown
  readonly reason: string
  constructor(value: unknown, reason: string) {
    this.value = value
    this.reason = reason
  }
}

class Malformed {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

const hasOwnFields = (value: object): boolean => Object.keys(value).length > 0 || Object.getOwnPropertySymbols(value).length > 0

const hasSymbolKeys = (value: object): boolean => Object.getOwnPropertySymbols(value).length > 0

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength)

// ES2024's String.prototype.isWellFormed, on every runtime core supports (the lib is es2023: look it up).
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed: () => boolean }).isWellFormed()

/**
 * Turns a value into cbor2's data model (arrays, Maps, byte strings, Tags,
 * primitives). One walk finds the objects reached twice; only then is the
 * walk made again, writing those as shareables and references.
 */
class Writer {
  /** Objects met in this walk. */
  readonly seen = new Set<object>()
  /** Objects reached more than once, found by this walk. */
  repeated: Set<object> | undefined = undefined
  /** From an earlier walk: the objects to write as shareables, and the index each got. */
  readonly shared: ReadonlySet<object> | undefined
  readonly indices = new Map<object, number>()
  /** The buffers reached so far, by a view or as themselves: a second reach would not come back shared. */
  readonly buffers = new Set<ArrayBufferLike>()
  /** Writing replay lines (output, not the value): a Redacted there is written as the text it prints. */
  inOutput = false

  constructor(shared: ReadonlySet<object> | undefined) {
    this.shared = shared
  }

  /**
   * Notes that a view (or a buffer itself) reaches `buffer`. Each view is
   * written as its own bytes, so views sharing one buffer would come back
   * apart: such a value is refused (kept in memory, where the copy keeps them
   * shared) rather than persisted with a different shape.
   */
  reachBuffer(value: unknown, buffer: ArrayBufferLike): void {
    if (this.buffers.has(buffer)) {
      throw new Refused(value, "it shares its ArrayBuffer with another part of the value, and a stored entry would not keep them shared")
    }
    this.buffers.add(buffer)
  }

  value(value: unknown, depth: number): unknown {
    switch (typeof value) {
      case "string":
        if (!isWellFormed(value)) throw new Refused(value, "it is not well-formed UTF-16 (a lone surrogate), which UTF-8 cannot hold")
        return value
      case "number":
      case "boolean":
      case "undefined":
      case "bigint":
        return value
      case "function":
      case "symbol":
        throw new Refused(value, `a ${typeof value} has no data form`)
    }
    if (value === null) return null
    const object = value as object
    if (depth >= MAX_DEPTH) throw new Refused(object, `it is nested more than ${MAX_DEPTH} levels deep`)
    if (this.shared?.has(object)) {
      const index = this.indices.get(object)
      if (index !== undefined) return new Tag(Tags.sharedReference, index)
      this.indices.set(object, this.indices.size)
      return new Tag(Tags.shareable, this.object(object, depth))
    }
    if (this.seen.has(object)) {
      this.repeated ??= new Set()
      this.repeated.add(object)
      return null
    }
    this.seen.add(object)
    return this.object(object, depth)
  }

  object(value: object, depth: number): unknown {
    const next = depth + 1
    const kind = V.kindOf(value)
    switch (kind) {
      case V.Kind.Plain: {
        if (hasSymbolKeys(value)) throw new Refused(value, "it has symbol-keyed fields, which CBOR's text keys cannot hold")
        const out = new Map<string, unknown>()
        for (const key of Object.keys(value)) out.set(key, this.value((value as Record<string, unknown>)[key], next))
        // Read back with the prototype it had: `"constructor" in dict` and `dict.toString` must stay as they were.
        return Object.getPrototypeOf(value) === null ? new Tag(Tags.nullPrototype, out) : out
      }
      case V.Kind.Array: {
        const array = value as ReadonlyArray<unknown>
        if (Object.keys(array).length !== array.length || hasSymbolKeys(array)) {
          throw new Refused(value, "it has holes or fields besides its elements, which a CBOR array cannot hold")
        }
        const out = new Array<unknown>(array.length)
        for (let i = 0; i < array.length; i++) out[i] = this.value(array[i], next)
        return out
      }
      case V.Kind.View: {
        const view = value as ArrayBufferView
        // As a SharedArrayBuffer itself: read back, its view would be over an ArrayBuffer (found by an outside trial).
        if (V.isSharedBuffer(view.buffer)) {
          throw new Refused(value, "it is a view of a SharedArrayBuffer: shared memory, not a value to persist")
        }
        this.reachBuffer(value, view.buffer)
        if (view instanceof DataView) {
          if (hasOwnFields(view)) throw new Refused(value, "it has fields of its own")
          return new Tag(Tags.dataView, bytesOf(view))
        }
        const proto = Object.getPrototypeOf(view) as object
        if (proto === V.bufferPrototype) return new Tag(Tags.nodeBuffer, bytesOf(view))
        const tag = tagByPrototype.get(proto)
        if (tag === undefined) throw new Refused(value, "its typed-array type has no RFC 8746 tag")
        // Large arrays of wide elements are aligned, so that a reader can view them where they were read.
        if (view.byteLength >= ALIGN_FROM && (view as unknown as { readonly BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT > 1) {
          return new Aligned(tag, bytesOf(view))
        }
        return new Tag(tag, bytesOf(view))
      }
      case V.Kind.Buffer: {
        if (!(value instanceof ArrayBuffer)) throw new Refused(value, "a SharedArrayBuffer is shared memory, not a value to persist")
        this.reachBuffer(value, value)
        if (hasOwnFields(value)) throw new Refused(value, "it has fields of its own")
        return new Tag(Tags.arrayBuffer, new Uint8Array(value))
      }
      case V.Kind.Date:
        if (hasOwnFields(value)) throw new Refused(value, "it has fields of its own")
        return new Tag(Tags.date, (value as Date).getTime())
      case V.Kind.Map: {
        if (hasOwnFields(value)) throw new Refused(value, "it has fields of its own")
        const out = new Map<unknown, unknown>()
        for (const [k, v] of value as Map<unknown, unknown>) {
          const key = this.value(k, next)
          out.set(key, this.value(v, next))
        }
        // Two keys whose encodings are equal (two empty objects) would collapse in the model: keep every entry.
        if (out.size !== (value as Map<unknown, unknown>).size) throw new Refused(value, "two of its keys are written alike")
        return new Tag(Tags.map, out)
      }
      case V.Kind.Set: {
        if (hasOwnFields(value)) throw new Refused(value, "it has fields of its own")
        return new Tag(
          Tags.set,
          Array.from(value as Set<unknown>, (item) => this.value(item, next))
        )
      }
      case V.Kind.RegExp: {
        const regExp = value as RegExp
        if (regExp.lastIndex !== 0 || hasOwnFields(regExp)) {
          throw new Refused(
            value,
            "it has a lastIndex other than 0 or fields of its own, which the stored form of a RegExp (its source and flags) does not hold"
          )
        }
        return new Tag(Tags.regExp, [regExp.source, regExp.flags])
      }
      case V.Kind.Option: {
        const option = value as Option.Option<unknown>
        return new Tag(Tags.option, Option.isSome(option) ? [this.value(option.value, next)] : [])
      }
      case V.Kind.Result: {
        const result = value as Result.Result<unknown, unknown>
        return new Tag(
          Tags.result,
          Result.isSuccess(result) ? [0, this.value(result.success, next)] : [1, this.value(result.failure, next)]
        )
      }
      case V.Kind.Chunk:
      case V.Kind.HashSet:
      case V.Kind.HashMap: {
        const items = V.collections[kind].items(value)
        const out = items.map((item) => this.value(item, next))
        return new Tag(kind === V.Kind.Chunk ? Tags.chunk : kind === V.Kind.HashSet ? Tags.hashSet : Tags.hashMap, out)
      }
      case V.Kind.DateTime: {
        const dateTime = value as DateTime.DateTime
        const zone = V.dateTimeZone(dateTime)
        return new Tag(
          Tags.dateTime,
          zone === undefined ? [dateTime.epochMilliseconds] : [dateTime.epochMilliseconds, "id" in zone ? zone.id : zone.offset]
        )
      }
      case V.Kind.Duration: {
        const duration = (value as Duration.Duration).value
        switch (duration._tag) {
          case "Millis":
            return new Tag(Tags.duration, duration.millis)
          case "Nanos":
            return new Tag(Tags.duration, duration.nanos)
          case "Infinity":
            return new Tag(Tags.duration, Infinity)
          case "NegativeInfinity":
            return new Tag(Tags.duration, -Infinity)
        }
        break
      }
      case V.Kind.BigDecimal: {
        const decimal = value as BigDecimal.BigDecimal
        return new Tag(Tags.bigDecimal, [decimal.value, decimal.scale])
      }
      case V.Kind.Redacted:
        // In recorded output a Redacted is what it prints; as (part of) a value it would be written in clear.
        if (this.inOutput) return new Tag(Tags.redactedOutput, (value as Redacted.Redacted<unknown>).label ?? null)
        throw new Refused(value, "a Redacted value is never persisted: it would be written in clear")
      case V.Kind.Data:
        throw new Refused(
          value,
          "a Data or Schema class instance is persisted only through a `value` schema (a prototype never comes from the bytes)"
        )
    }
    throw new Refused(
      value,
      V.opaqueReason(value, "copy") ??
        "an instance of a class is persisted only through a `value` schema (a prototype never comes from the bytes)"
    )
  }
}

const refusedAt = (root: unknown, refused: Refused, prefix: ReadonlyArray<string>): Unencodable => ({
  _tag: "Unencodable",
  value: refused.value,
  path: [...prefix, ...(Copy.locate(root, refused.value) ?? [])],
  reason: refused.reason
})

/** The data model of `value`, written with shareables when some object is reached twice. */
const model = (write: (writer: Writer) => unknown): unknown => {
  const first = new Writer(undefined)
  const out = write(first)
  if (first.repeated === undefined) return out
  return write(new Writer(first.repeated))
}

// ---------------------------------------------------------------------------
// Replay lines
// ---------------------------------------------------------------------------

const consoleMethods: ReadonlySet<string> = new Set(recordedMethods)

const logLevels: ReadonlySet<string> = new Set<LogLevel.LogLevel>(["All", "Fatal", "Error", "Warn", "Info", "Debug", "Trace", "None"])

/** How many causes deep an error's chain is written (as the recorder keeps it). */
const MAX_CAUSES = 8

const writeError = (error: unknown, depth: number): unknown => {
  if (!(error instanceof Error)) return [String(error), "", "", null]
  const inner = error.cause instanceof Error && depth < MAX_CAUSES ? writeError(error.cause, depth + 1) : null
  return [String(error.name), String(error.message), String(error.stack ?? ""), inner]
}

const writeCause = (cause: Cause.Cause<unknown>): unknown =>
  cause.reasons.map((reason) =>
    reason._tag === "Fail"
      ? [0, writeError(reason.error, 0)]
      : reason._tag === "Die"
        ? [1, writeError(reason.defect, 0)]
        : [2, reason.fiberId ?? null]
  )

/**
 * A replay line in the data model. Console: `[0, method, args]`; log:
 * `[1, level, message, cause, annotations, spans]`, absent parts `null`.
 */
const writeLine = (writer: Writer, line: Line): unknown => {
  if (line._tag === "Console") return [0, line.method, line.args.map((arg) => writer.value(arg, 2))]
  const annotations = line.annotations === undefined ? null : writer.value(line.annotations, 1)
  return [
    1,
    line.level,
    line.message.map((part) => writer.value(part, 2)),
    line.cause === undefined ? null : writeCause(line.cause),
    annotations,
    line.spans === undefined ? null : line.spans.map(([label, elapsed]) => [label, elapsed])
  ]
}

// ---------------------------------------------------------------------------
// Entry points: writing
// ---------------------------------------------------------------------------

/** CBOR's major type of maps. */
const MAP = 5

/** Typed arrays of at least this many bytes are written {@link Tags.aligned}. */
const ALIGN_FROM = 1024

/** A typed array to write aligned ({@link Tags.aligned}): its RFC 8746 tag and its bytes. */
class Aligned {
  readonly tag: number
  readonly bytes: Uint8Array
  constructor(tag: number, bytes: Uint8Array) {
    this.tag = tag
    this.bytes = bytes
  }
}

/** The size of a CBOR head whose argument is `n`. */
const headSize = (n: number): number => (n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1_0000_0000 ? 5 : 9)

/** A CBOR head: major type and argument, in its shortest form. */
const head = (major: number, n: number): Uint8Array => {
  const size = headSize(n)
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  // The additional information: the argument itself below 24, else 24 to 27 for 1, 2, 4 or 8 bytes of it.
  out[0] = (major << 5) | (size === 1 ? n : size === 2 ? 24 : size === 3 ? 25 : size === 5 ? 26 : 27)
  if (size === 2) out[1] = n
  else if (size === 3) view.setUint16(1, n)
  else if (size === 5) view.setUint32(1, n)
  else if (size === 9) view.setBigUint64(1, BigInt(n))
  return out
}

/**
 * Writes an {@link Aligned} typed array: tag, a two-item array, the padding
 * that puts the bytes on a multiple of 8 from the start of the output (which
 * starts where the entry does), the RFC 8746 tag, and the bytes (kept by
 * reference by the writer).
 */
const writeAligned = (aligned: Aligned, writer: CborWriter): undefined => {
  const TAG = 6
  const ARRAY = 4
  const BYTES = 2
  const lead = headSize(Tags.aligned) + 1 /* [ */ + 1 /* padding's head */
  const after = headSize(aligned.tag) + headSize(aligned.bytes.byteLength)
  const padding = (8 - ((writer.length + lead + after) % 8)) % 8
  writer.write(head(TAG, Tags.aligned))
  writer.write(head(ARRAY, 2))
  writer.write(head(BYTES, padding))
  if (padding > 0) writer.write(new Uint8Array(padding))
  writer.write(head(TAG, aligned.tag))
  writer.write(head(BYTES, aligned.bytes.byteLength))
  writer.write(aligned.bytes)
  return undefined
}

/**
 * cbor2's own Map encoder writes each key first to a buffer of its own (a
 * 4 KiB allocation per key, to sort keys or find duplicates, which recall
 * does not ask for): 100,000 rows took seconds. This one writes entries in
 * order, straight to the output, with cbor2's own writers.
 */
const types = {
  get: (type: unknown) =>
    type === Aligned
      ? writeAligned
      : type === Map
        ? (map: Map<unknown, unknown>, writer: CborWriter, options: Parameters<typeof writeUnknown>[2]) => {
            writeLength(map, map.size, MAP, writer, options)
            for (const [key, item] of map) {
              writeUnknown(key, writer, options)
              writeUnknown(item, writer, options)
            }
            return undefined
          }
        : undefined
} as unknown as TypeEncoderMap

const encodeOptions = { ...defaultEncodeOptions, collapseBigInts: false, rejectDuplicateKeys: false, types } as Required<EncodeOptions>

/** Zero bytes the payload's buffer leaves before and after it (an entry's header and signature: see entryFormat's `entryRoom`). @internal */
export interface Room {
  readonly before: number
  readonly after: number
}

/**
 * The payload bytes of `value` and the replay lines its body wrote, or why
 * they cannot be written.
 *
 * With `room`, the payload is a view into a buffer with that many zero
 * bytes before and after it, so that an entry can be written around it
 * without copying it (large payloads are most of their entry).
 *
 * @internal
 */
export const encodePayload = (value: unknown, output?: ReadonlyArray<Line>, room?: Room): Result.Result<Uint8Array, Unencodable> =>
  Result.map(
    writePayload(value, output, () => {
      // cbor2's `encode`, with the room written around it: the writer keeps large byte strings by reference and
      // copies every chunk once into the buffer it reads out.
      const writer = new CborOutput(encodeOptions)
      if (room !== undefined && room.before > 0) writer.write(new Uint8Array(room.before))
      return writer
    }),
    (writer) => {
      if (room !== undefined && room.after > 0) writer.write(new Uint8Array(room.after))
      const bytes = writer.read()
      return room === undefined ? bytes : bytes.subarray(room.before, bytes.byteLength - room.after)
    }
  )

/** Byte strings of at least this many bytes are parts of their own in {@link encodePayloadParts}. */
const PART_FROM = 64 * 1024

/**
 * cbor2's writer, keeping the output as parts: large byte strings (a typed
 * array's bytes) are parts of their own, by reference; the bytes between
 * them are read out of the writer into parts of their own. `length` counts
 * from `offset`, where the payload starts in its entry, so that aligned typed
 * arrays are padded as in a payload written whole.
 */
class PartsOutput extends CborOutput {
  readonly parts: Array<Uint8Array> = []
  private flushed: number
  private readonly offset: number
  constructor(offset: number) {
    super(encodeOptions)
    this.flushed = offset
    this.offset = offset
  }
  override get length(): number {
    return this.flushed + super.length
  }
  override write(bytes: Uint8Array): void {
    if (bytes.length < PART_FROM) return super.write(bytes)
    this.flush()
    this.parts.push(bytes)
    this.flushed += bytes.length
  }
  /** The parts, their bytes' count, once everything is written. */
  finish(): Parts {
    this.flush()
    return { parts: this.parts, byteLength: this.flushed - this.offset }
  }
  private flush(): void {
    if (super.length === 0) return
    const bytes = super.read()
    super.clear()
    this.parts.push(bytes)
    this.flushed += bytes.byteLength
  }
}

/** A payload as parts to write one after another. @internal */
export interface Parts {
  readonly parts: ReadonlyArray<Uint8Array>
  /** Their bytes, in all. */
  readonly byteLength: number
}

/**
 * The payload of {@link encodePayload}, as parts whose bytes one after
 * another are that payload's, written at `offset` in its entry (the room
 * before it): the bytes of typed arrays of 64 KiB and more are parts of their
 * own, views of the value's own memory, so that a large value is written to a
 * store without being copied into one buffer first. The value must not
 * change until its parts are written.
 *
 * @internal
 */
export const encodePayloadParts = (
  value: unknown,
  output: ReadonlyArray<Line> | undefined,
  offset: number
): Result.Result<Parts, Unencodable> =>
  Result.map(
    writePayload(value, output, () => new PartsOutput(offset)),
    (writer) => writer.finish()
  )

/** Writes the payload of `value` and `output` to the writer `start` makes, or says why it cannot be written. */
const writePayload = <W extends CborOutput>(
  value: unknown,
  output: ReadonlyArray<Line> | undefined,
  start: () => W
): Result.Result<W, Unencodable> => {
  let current: "value" | number = "value"
  try {
    const data = model((writer) => {
      current = "value"
      const written = writer.value(value, 0)
      if (output === undefined) return new Tag(Tags.payload, [written, null])
      const lines: Array<unknown> = []
      writer.inOutput = true
      for (let i = 0; i < output.length; i++) {
        current = i
        lines.push(writeLine(writer, output[i]!))
      }
      return new Tag(Tags.payload, [written, lines])
    })
    const writer = start()
    writeUnknown(data, writer, encodeOptions)
    return Result.succeed(writer)
  } catch (e) {
    if (e instanceof Refused) {
      return Result.fail(current === "value" ? refusedAt(value, e, []) : refusedAt(output![current], e, [`output line ${current}`]))
    }
    // A getter that throws, a revoked proxy, a value too large to allocate.
    return Result.fail({ _tag: "Unencodable", value, path: [], reason: `writing it threw ${describeThrown(e)}` })
  }
}

const describeThrown = (e: unknown): string => {
  try {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
  } catch {
    return "a value that cannot be printed"
  }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

const PENDING = Symbol("pending")

/**
 * A copy of `bytes` in a new buffer of exactly its length. Not `bytes.slice()`:
 * on a Node Buffer (what a file store reads) `slice` is a view, not a copy.
 */
const copyOf = (bytes: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return copy
}

/**
 * `bytes` as a plain Uint8Array over the same memory, so that what is cut
 * from it (cbor2's byte strings) is a plain Uint8Array too, whatever
 * subclass (a Node Buffer) the caller passed.
 *
 * @internal
 */
export const plainBytes = (bytes: Uint8Array): Uint8Array =>
  Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const setOwn = (out: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true })
  else out[key] = value
}

const bigintOf = (tag: number, contents: unknown): bigint => {
  if (!(contents instanceof Uint8Array)) throw new Malformed("a bignum whose contents is not a byte string")
  let hex = ""
  for (let i = 0; i < contents.length; i++) hex += contents[i]!.toString(16).padStart(2, "0")
  const magnitude = hex === "" ? 0n : BigInt(`0x${hex}`)
  return tag === Tags.positiveBignum ? magnitude : -1n - magnitude
}

const isTag = (value: unknown): value is Tag => value instanceof Tag

const arrayOf = (contents: unknown, what: string, length?: number): ReadonlyArray<unknown> => {
  if (!Array.isArray(contents) || (length !== undefined && contents.length !== length)) throw new Malformed(`a malformed ${what}`)
  return contents
}

/** Rebuilds values from cbor2's data model, through the runtime's and Effect's own constructors. */
class Reader {
  readonly shareables: Array<unknown> = []
  /** The one byte string a typed array may view in place (see {@link adoptable}); every other is copied. */
  readonly adopt: Uint8Array | undefined
  /** A payload read in parts: where its parts left out of the skeleton go (see {@link skeletonOf}). */
  readonly skeleton: Skeleton | undefined
  /** The parts of {@link skeleton} taken back, each alone in its buffer: typed arrays may view them (with `adopt`). */
  readonly alone = new Set<Uint8Array>()
  /** Whether typed arrays may view the parts of {@link skeleton} in place. */
  readonly adoptParts: boolean
  /** Reading replay lines: only there may a redacted output stand. */
  inOutput = false

  constructor(adopt: Uint8Array | undefined, skeleton?: Skeleton, adoptParts = false) {
    this.adopt = adopt
    this.skeleton = skeleton
    this.adoptParts = adoptParts
  }

  value(node: unknown): unknown {
    switch (typeof node) {
      case "string":
      case "number":
      case "boolean":
      case "undefined":
        return node
      case "object":
        break
      default:
        // A bigint from a 64-bit integer head: recall writes bigints as bignums and numbers as floats past 2^53.
        throw new Malformed(`a ${typeof node} where recall writes none`)
    }
    if (node === null) return null
    if (Array.isArray(node)) return this.array(node, -1)
    if (node instanceof Map) return this.plain(node, -1)
    if (isTag(node)) return this.tag(node, -1)
    throw new Malformed("a byte string or simple value outside any tag")
  }

  share(index: number, out: unknown): void {
    if (index >= 0) this.shareables[index] = out
  }

  array(node: ReadonlyArray<unknown>, share: number): Array<unknown> {
    const out = new Array<unknown>(node.length)
    this.share(share, out)
    for (let i = 0; i < node.length; i++) out[i] = this.value(node[i])
    return out
  }

  plain(node: Map<unknown, unknown>, share: number, nullPrototype = false): Record<string, unknown> {
    const out: Record<string, unknown> = nullPrototype ? Object.create(null) : {}
    this.share(share, out)
    for (const [key, item] of node) {
      if (typeof key !== "string") throw new Malformed("an object key that is not a string")
      setOwn(out, key, this.value(item))
    }
    return out
  }

  tag(node: Tag, share: number): unknown {
    const contents = node.contents
    const tag = Number(node.tag)
    switch (tag) {
      case Tags.shareable: {
        if (share >= 0 || (isTag(contents) && (Number(contents.tag) === Tags.shareable || Number(contents.tag) === Tags.sharedReference))) {
          throw new Malformed("a shareable of a shareable or of a reference")
        }
        const index = this.shareables.length
        this.shareables.push(PENDING)
        let out: unknown
        if (Array.isArray(contents)) out = this.array(contents, index)
        else if (contents instanceof Map) out = this.plain(contents, index)
        else if (isTag(contents)) out = this.tag(contents, index)
        else throw new Malformed("a shareable primitive")
        this.shareables[index] = out
        return out
      }
      case Tags.sharedReference: {
        if (typeof contents !== "number" || !Number.isInteger(contents) || contents < 0 || contents >= this.shareables.length) {
          throw new Malformed("a reference to no shareable")
        }
        const out = this.shareables[contents]
        if (out === PENDING) throw new Malformed("a reference into an immutable value being built (a cycle recall never writes)")
        return out
      }
      case Tags.positiveBignum:
      case Tags.negativeBignum:
        return this.shared(share, bigintOf(tag, contents))
      case Tags.map: {
        if (!(contents instanceof Map)) throw new Malformed("a Map whose contents is not a map")
        const out = new Map<unknown, unknown>()
        this.share(share, out)
        for (const [k, v] of contents) {
          const key = this.value(k)
          out.set(key, this.value(v))
        }
        if (out.size !== contents.size) throw new Malformed("a Map with duplicate keys")
        return out
      }
      case Tags.set: {
        const items = arrayOf(contents, "Set")
        const out = new Set<unknown>()
        this.share(share, out)
        for (const item of items) out.add(this.value(item))
        return out
      }
      case Tags.regExp: {
        const [source, flags] = arrayOf(contents, "RegExp", 2)
        if (typeof source !== "string" || typeof flags !== "string") throw new Malformed("a malformed RegExp")
        return this.shared(share, new RegExp(source, flags))
      }
      case Tags.nullPrototype:
        if (!(contents instanceof Map)) throw new Malformed("a null-prototype object that is not a map")
        return this.plain(contents, share, true)
      case Tags.date:
        if (typeof contents !== "number") throw new Malformed("a Date whose time is not a number")
        return this.shared(share, new Date(contents))
      case Tags.arrayBuffer:
        return this.shared(share, copyOf(this.bytes(contents)).buffer)
      case Tags.dataView:
        return this.shared(share, new DataView(copyOf(this.bytes(contents)).buffer))
      case Tags.nodeBuffer: {
        const out = copyOf(this.bytes(contents))
        if (V.bufferPrototype !== undefined) Object.setPrototypeOf(out, V.bufferPrototype)
        return this.shared(share, out)
      }
      case Tags.option: {
        const items = arrayOf(contents, "Option")
        if (items.length > 1) throw new Malformed("a malformed Option")
        return this.shared(share, items.length === 0 ? Option.none() : Option.some(this.value(items[0])))
      }
      case Tags.result: {
        const [variant, item] = arrayOf(contents, "Result", 2)
        if (variant !== 0 && variant !== 1) throw new Malformed("a malformed Result")
        return this.shared(share, variant === 0 ? Result.succeed(this.value(item)) : Result.fail(this.value(item)))
      }
      case Tags.chunk:
        return this.shared(share, Chunk.fromIterable(arrayOf(contents, "Chunk").map((item) => this.value(item))))
      case Tags.hashSet:
        return this.shared(share, HashSet.fromIterable(arrayOf(contents, "HashSet").map((item) => this.value(item))))
      case Tags.hashMap: {
        const flat = arrayOf(contents, "HashMap")
        if (flat.length % 2 !== 0) throw new Malformed("a HashMap with an odd number of items")
        const pairs: Array<[unknown, unknown]> = []
        for (let i = 0; i < flat.length; i += 2) {
          const key = this.value(flat[i])
          pairs.push([key, this.value(flat[i + 1])])
        }
        return this.shared(share, HashMap.fromIterable(pairs))
      }
      case Tags.dateTime: {
        const parts = arrayOf(contents, "DateTime")
        const [millis, zone] = parts
        if (typeof millis !== "number" || parts.length > 2) throw new Malformed("a malformed DateTime")
        const utc = DateTime.makeUnsafe(millis)
        if (parts.length === 1) return this.shared(share, utc)
        if (typeof zone === "string") return this.shared(share, DateTime.setZone(utc, DateTime.zoneMakeNamedUnsafe(zone)))
        if (typeof zone === "number") return this.shared(share, DateTime.setZone(utc, DateTime.zoneMakeOffset(zone)))
        throw new Malformed("a DateTime with a malformed zone")
      }
      case Tags.duration: {
        if (typeof contents === "number") {
          if (contents === Infinity) return this.shared(share, Duration.infinity)
          if (contents === -Infinity) return this.shared(share, Duration.negativeInfinity)
          if (!Number.isSafeInteger(contents)) throw new Malformed("a Duration of fractional milliseconds")
          return this.shared(share, Duration.millis(contents))
        }
        if (isTag(contents)) return this.shared(share, Duration.nanos(bigintOf(Number(contents.tag), contents.contents)))
        throw new Malformed("a malformed Duration")
      }
      case Tags.redactedOutput: {
        if (!this.inOutput) throw new Malformed("a redacted output in a value")
        if (contents !== null && typeof contents !== "string") throw new Malformed("a malformed redacted output")
        return Redacted.make(undefined, contents === null ? undefined : { label: contents })
      }
      case Tags.bigDecimal: {
        const [digits, scale] = arrayOf(contents, "BigDecimal", 2)
        if (!isTag(digits) || typeof scale !== "number" || !Number.isSafeInteger(scale)) throw new Malformed("a malformed BigDecimal")
        return this.shared(share, BigDecimal.make(bigintOf(Number(digits.tag), digits.contents), scale))
      }
    }
    if (tag === Tags.aligned) {
      // The padding is skipped; what it aligns is a typed array, and nothing else.
      const [padding, inner] = arrayOf(contents, "aligned typed array", 2)
      if (!(padding instanceof Uint8Array) || padding.byteLength > 7 || !isTag(inner))
        throw new Malformed("a malformed aligned typed array")
      return this.typedTag(Number(inner.tag), inner.contents, share)
    }
    return this.typedTag(tag, contents, share)
  }

  /** A typed array under its RFC 8746 tag. */
  typedTag(tag: number, contents: unknown, share: number): ArrayBufferView {
    const typed = typedArrayByTag.get(tag)
    if (typed === undefined) throw new Malformed(`tag ${tag}, which recall never writes`)
    return this.shared(share, this.typedArray(typed.Constructor, typed.native, this.bytes(contents)))
  }

  /** An immutable value (or one built whole) that a shareable names: it is known only once built. */
  shared<A>(share: number, out: A): A {
    this.share(share, out)
    return out
  }

  bytes(contents: unknown): Uint8Array {
    if (!(contents instanceof Uint8Array)) throw new Malformed("binary contents that is not a byte string")
    const skeleton = this.skeleton
    if (skeleton !== undefined && contents.byteLength === 0 && contents.buffer === skeleton.bytes.buffer) {
      // One of the byte strings cut out of the skeleton: the part it was cut for.
      const at = contents.byteOffset - skeleton.bytes.byteOffset
      const part = skeleton.cut.get(at)
      if (part !== undefined) {
        skeleton.cut.delete(at)
        this.alone.add(part)
        return part
      }
    }
    return contents
  }

  typedArray(Constructor: TypedArrayConstructor, native: boolean, bytes: Uint8Array): ArrayBufferView {
    const size = (Constructor as unknown as { readonly BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
    if (bytes.byteLength % size !== 0) throw new Malformed(`a typed array of ${bytes.byteLength} bytes, not a multiple of ${size}`)
    const length = bytes.byteLength / size
    if (native && (bytes === this.adopt || (this.adoptParts && this.alone.has(bytes))) && bytes.byteOffset % size === 0) {
      return new Constructor(bytes.buffer, bytes.byteOffset, length)
    }
    // One copy of the whole buffer (page faults dominate; never element by element).
    const copy = copyOf(bytes)
    if (!native) {
      // The other byte order (a payload from a big-endian machine): swap each element in place.
      for (let at = 0; at < copy.length; at += size) copy.subarray(at, at + size).reverse()
    }
    return new Constructor(copy.buffer, 0, length)
  }
}

const readError = (node: unknown, depth: number): Error => {
  const [name, message, stack, inner] = arrayOf(node, "error", 4)
  if (typeof name !== "string" || typeof message !== "string" || typeof stack !== "string") throw new Malformed("a malformed error")
  if (inner !== null && depth >= MAX_CAUSES) throw new Malformed("an error chain deeper than recall writes")
  const error = new Error(message, inner === null ? undefined : { cause: readError(inner, depth + 1) })
  error.name = name
  error.stack = stack
  return error
}

const readCause = (node: unknown): Cause.Cause<unknown> =>
  Cause.fromReasons(
    arrayOf(node, "cause").map((reason): Cause.Reason<unknown> => {
      const [variant, item] = arrayOf(reason, "cause reason", 2)
      switch (variant) {
        case 0:
          return Cause.makeFailReason(readError(item, 0))
        case 1:
          return Cause.makeDieReason(readError(item, 0))
        case 2:
          if (item !== null && (typeof item !== "number" || !Number.isSafeInteger(item))) throw new Malformed("a malformed fiber id")
          return Cause.makeInterruptReason(item ?? undefined)
        default:
          throw new Malformed("a malformed cause reason")
      }
    })
  )

/** A replay line from its data model (see `writeLine`): every part checked, nothing taken on trust. */
const readLine = (reader: Reader, node: unknown): Line => {
  const parts = arrayOf(node, "replay line")
  if (parts[0] === 0 && parts.length === 3) {
    const [, method, args] = parts
    if (typeof method !== "string" || !consoleMethods.has(method)) throw new Malformed("a replay line of no Console method")
    return {
      _tag: "Console",
      method: method as Extract<Line, { _tag: "Console" }>["method"],
      args: arrayOf(args, "arguments").map((arg) => reader.value(arg))
    }
  }
  if (parts[0] !== 1 || parts.length !== 6) throw new Malformed("a malformed replay line")
  const [, level, message, cause, annotations, spans] = parts
  if (typeof level !== "string" || !logLevels.has(level)) throw new Malformed("a log line of no log level")
  let readAnnotations: Record<string, unknown> | undefined
  if (annotations !== null) {
    if (!(annotations instanceof Map)) throw new Malformed("log annotations that are not a map")
    readAnnotations = reader.plain(annotations, -1)
  }
  return {
    _tag: "Log",
    level: level as LogLevel.LogLevel,
    message: arrayOf(message, "log message").map((part) => reader.value(part)),
    cause: cause === null ? undefined : readCause(cause),
    annotations: readAnnotations,
    spans:
      spans === null
        ? undefined
        : arrayOf(spans, "log spans").map((span) => {
            const [label, elapsed] = arrayOf(span, "log span", 2)
            if (typeof label !== "string" || typeof elapsed !== "number") throw new Malformed("a malformed log span")
            return [label, elapsed] as const
          })
  }
}

/**
 * What a payload holds.
 *
 * @internal
 */
export interface Payload {
  readonly value: unknown
  /** The replay lines recorded with it; `undefined` when none were written. */
  readonly output: ReadonlyArray<Line> | undefined
}

/** Typed arrays of at least this many bytes may be views into the bytes read ({@link adoptable}); smaller ones are copied. */
const ADOPT_FROM = 64 * 1024

/**
 * The byte string of the value's largest typed array, when it is of
 * {@link ADOPT_FROM} bytes or more and at least half of the `payloadBytes`
 * read: the one typed array that may be a view into the bytes read. Only
 * one: two views of one buffer would share it, as the value the body
 * returned did not (a transfer of one's buffer would detach the other; a
 * view of one's buffer would reach the other's bytes). At least half: the
 * view keeps the whole buffer alive, so a value of several large arrays
 * would hold its bytes nearly twice (each other array is a copy); then every
 * array is a copy, and the bytes read are free once decoded.
 */
const adoptable = (value: unknown, payloadBytes: number): Uint8Array | undefined => {
  let largest: Uint8Array | undefined
  const stack: Array<unknown> = [value]
  while (stack.length > 0) {
    const node = stack.pop()
    if (node === null || typeof node !== "object") continue
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item)
    } else if (node instanceof Map) {
      for (const [key, item] of node) stack.push(key, item)
    } else if (isTag(node)) {
      const contents = node.contents
      if (contents instanceof Uint8Array && typedArrayByTag.has(Number(node.tag))) {
        if (contents.byteLength >= ADOPT_FROM && (largest === undefined || contents.byteLength > largest.byteLength)) largest = contents
      } else stack.push(contents)
    }
  }
  return largest !== undefined && largest.byteLength * 2 >= payloadBytes ? largest : undefined
}

/**
 * Payload bytes: whole, or in parts one after another (a store's
 * `getParts`), where a part that is the whole of its buffer is the
 * reader's alone.
 *
 * @internal
 */
export type PayloadBytes = Uint8Array | ReadonlyArray<Uint8Array>

/** The bytes of a payload, whole or in parts. @internal */
export const byteLengthOf = (bytes: PayloadBytes): number =>
  bytes instanceof Uint8Array ? bytes.byteLength : bytes.reduce((n, part) => n + part.byteLength, 0)

/**
 * A payload in parts, without its large byte strings: the other parts
 * joined (`bytes`), and, for each large part left out, where in them its
 * byte string now stands, empty (`cut`).
 */
interface Skeleton {
  readonly bytes: Uint8Array
  /** Offset in `bytes` of an empty byte string's contents -> the part that was its contents. */
  readonly cut: Map<number, Uint8Array>
}

/**
 * Whether `before` ends with the head of a byte string of `length` bytes,
 * as cbor2 writes it (lengths of 64 KiB and more take a 4- or 8-byte
 * argument); the head's width, or 0.
 */
const headBefore = (before: Uint8Array, length: number): number => {
  const width = length < 2 ** 32 ? 5 : 9
  if (before.byteLength < width) return 0
  const view = new DataView(before.buffer, before.byteOffset + before.byteLength - width, width)
  if (width === 5) return view.getUint8(0) === 0x5a && view.getUint32(1) === length ? 5 : 0
  return view.getUint8(0) === 0x5b && view.getBigUint64(1) === BigInt(length) ? 9 : 0
}

/**
 * The skeleton of a payload in `parts`, or `undefined` when no part is left
 * out. A part is left out when it is of {@link ADOPT_FROM} bytes or more, the
 * whole of its buffer, and the part before it (one that is kept) ends with
 * the head of a byte string of exactly its length: the contents of that byte
 * string, as a store that keeps `setParts`' parts apart returns them. Its
 * head is kept with its width and a length of 0 (CBOR allows a longer head
 * than needed; cbor2 reads it), so that the skeleton reads as the payload
 * with that byte string empty, at a known offset. Whether each head was a
 * head (and not bytes inside a string that look like one) shows when the
 * skeleton is read: a cut that no byte string took makes the payload read
 * whole instead (see {@link decodePayload}).
 */
const skeletonOf = (parts: ReadonlyArray<Uint8Array>): Skeleton | undefined => {
  const widths = new Array<number>(parts.length).fill(0)
  let kept = 0
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const before = parts[i - 1]
    if (
      before !== undefined &&
      widths[i - 1] === 0 &&
      part.byteLength >= ADOPT_FROM &&
      part.byteOffset === 0 &&
      part.buffer.byteLength === part.byteLength
    ) {
      widths[i] = headBefore(before, part.byteLength)
    }
    if (widths[i] === 0) kept += part.byteLength
  }
  if (widths.every((width) => width === 0)) return undefined
  const bytes = new Uint8Array(kept)
  const cut = new Map<number, Uint8Array>()
  let at = 0
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (widths[i] === 0) {
      bytes.set(part, at)
      at += part.byteLength
    } else {
      // The head's length, zeroed: an empty byte string whose contents start at `at`.
      bytes.fill(0, at - widths[i]! + 1, at)
      cut.set(at, part)
    }
  }
  return { bytes, cut }
}

/** The bytes of `parts` one after another, in one new buffer. @internal */
export const joinedParts = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(byteLengthOf(parts))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}

/**
 * The value and replay lines of payload bytes, or why they are a miss.
 * Never throws, never runs code from the bytes.
 *
 * `adopt`: the caller owns `bytes` (freshly read, held by nothing else), so
 * the value's largest typed array (of 64 KiB or more, and at least half of
 * `bytes`) may be a view into them rather than a copy; the others are
 * copies, each with a buffer of its own. By default every typed array and
 * buffer is a copy of its own.
 *
 * In parts, a part alone in its buffer that holds a byte string's contents
 * (a typed array written by `encodePayloadParts`, read back by a store that
 * keeps parts apart) is not copied into the rest: with `adopt`, the typed
 * array is a view of it, each in its own buffer; the rest is read from a
 * skeleton of the other parts ({@link skeletonOf}). When that reading does
 * not take every such part where it was cut, the parts are joined and read
 * whole: the same value, at the cost of a copy.
 *
 * @internal
 */
export const decodePayload = (bytes: PayloadBytes, options?: { readonly adopt?: boolean }): Result.Result<Payload, PayloadMiss> => {
  const adopt = options?.adopt === true
  if (bytes instanceof Uint8Array) return decodeWith(bytes, adopt ? (value) => adoptable(value, bytes.byteLength) : undefined)
  if (bytes.length === 1) return decodePayload(bytes[0]!, options)
  const skeleton = skeletonOf(bytes)
  if (skeleton !== undefined) {
    const read = decodeWith(skeleton.bytes, undefined, skeleton, adopt)
    if (Result.isSuccess(read) && skeleton.cut.size === 0) return read
  }
  const whole = joinedParts(bytes)
  return decodeWith(whole, adopt ? (value) => adoptable(value, whole.byteLength) : undefined)
}

const decodeWith = (
  bytes: Uint8Array,
  adopt: ((value: unknown) => Uint8Array | undefined) | undefined,
  skeleton?: Skeleton,
  adoptParts?: boolean
): Result.Result<Payload, PayloadMiss> => {
  try {
    const data = decode(plainBytes(bytes), {
      ignoreGlobalTags: true,
      preferMap: true,
      rejectStreaming: true,
      rejectUndefined: false,
      maxDepth: 4 * MAX_DEPTH + 16
    })
    if (!isTag(data) || Number(data.tag) !== Tags.payload) throw new Malformed("not a recall payload")
    const [value, output] = arrayOf(data.contents, "payload", 2)
    const reader = new Reader(adopt?.(value), skeleton, adoptParts)
    const read = reader.value(value)
    reader.inOutput = true
    const lines = output === null ? undefined : arrayOf(output, "output").map((line) => readLine(reader, line))
    return Result.succeed({ value: read, output: lines })
  } catch (e) {
    return Result.fail({ _tag: "PayloadUndecodable", reason: e instanceof Malformed ? e.reason : describeThrown(e) })
  }
}
