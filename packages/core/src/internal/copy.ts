/**
 * Deep copy with the reach of `structuredClone`, plus Effect's immutable data
 * types, built for speed on the shapes data code returns: plain objects and
 * arrays of primitives and typed arrays.
 *
 * - Own keys are copied as own data properties, `"__proto__"` included (an
 *   assignment would set the copy's prototype instead). Symbol keys, an
 *   array's fields besides its indices (a RegExp match's `index`), and own
 *   fields of a Map, Set, Date, RegExp, ArrayBuffer or DataView are copied
 *   too, and holes in a sparse array stay holes. {@link copy} looks for these
 *   (which costs a string per array element); a value that has none is a
 *   plain tree that {@link copyTree} copies without looking. Own fields of a
 *   typed array are not looked for (listing its keys lists every element).
 * - Built-in containers are copied only as themselves: an instance of a
 *   subclass of Array, Map, Set, Date, RegExp, a typed array, ArrayBuffer or
 *   DataView throws {@link Uncopyable}, since its copy would lose its class
 *   and whatever state the class adds. Node's Buffer, a Uint8Array subclass
 *   with no state of its own, is the one exception: it is copied as a Buffer.
 * - Shared references and cycles are preserved (a memo of copied objects).
 * - {@link copy} walks with an explicit stack, so 100,000-deep nesting cannot
 *   overflow the call stack. {@link copyTree}, the copy a hit pays for,
 *   recurses for speed and hands anything deeper than {@link MAX_RECURSION}
 *   levels to the same iterative walk.
 * - Typed arrays and ArrayBuffers are copied a buffer at a time (one
 *   allocation each), never element by element. A view whose buffer nothing
 *   else in the value reaches is sliced: a 4-byte view of a 1 GB buffer costs
 *   4 bytes. When several views (or the ArrayBuffer itself) reach one buffer,
 *   that buffer is copied once, from the first byte any view reaches to the
 *   last (the whole buffer when the ArrayBuffer itself is reached), and every
 *   view is rebuilt over that one copy, so writes through one view show
 *   through the others as before. Which case applies is only known once the
 *   whole value is walked: a view sliced before a second view of its buffer
 *   turns up makes the walk start again with that knowledge, at most once.
 * - Effect's immutable data types come back as values of their own type,
 *   `Equal.equals` to the original, their contents deep-copied. What each
 *   kind of value is, and how it is copied, comes from the one table of value
 *   kinds (valueKinds.ts), which the hasher follows too: a kind the hasher
 *   keys is a kind the copier copies, and what one refuses the other does.
 * - Class instances outside that table, functions, symbols, promises and
 *   other values without a data form throw {@link Uncopyable}: copying them
 *   would silently drop their prototype or their identity. So does an error
 *   thrown while reading the value (a getter, a revoked proxy).
 *
 * Alongside the copy it estimates the bytes the value holds, for byte budgets.
 */
import * as V from "./valueKinds.ts"

/** @internal */
export class Uncopyable {
  readonly value: unknown
  /** Why `value` cannot be copied, when its type alone does not say. */
  readonly reason: string | undefined
  constructor(value: unknown, reason?: string) {
    this.value = value
    this.reason = reason
  }
}

// Rough per-value overheads in V8, used only for byte budgets.
const OBJECT_BYTES = 16
const SLOT_BYTES = 8
const U64 = 2n ** 64n

/**
 * A BigInt's digits in bytes, as V8 keeps them (64 bits a digit): 8 for one
 * within 64 bits (the common case, two comparisons); for a larger one, its
 * hex digits counted (a pass over it, as long as a copy would take).
 */
const bigintBytes = (value: bigint): number => (value < U64 && value > -U64 ? 8 : Math.ceil(value.toString(16).length / 16) * 8)

/** What a primitive holds, for byte budgets: a string two bytes a character, a BigInt its digits, others a slot. */
const primitiveBytes = (value: unknown): number =>
  typeof value === "string" ? OBJECT_BYTES + 2 * value.length : typeof value === "bigint" ? OBJECT_BYTES + bigintBytes(value) : SLOT_BYTES

/** Nesting depth past which {@link copyTree} stops recursing and walks with a stack. */
const MAX_RECURSION = 1000

/** @internal */
export interface Sized<A> {
  readonly value: A
  readonly bytes: number
}

/** Writes `value` as an own data property of `out`, even for the key `"__proto__"`. */
const setOwn = (out: Record<PropertyKey, unknown>, key: PropertyKey, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true })
  else out[key] = value
}

const isEnumerable = Object.prototype.propertyIsEnumerable

/** Own enumerable symbol keys of `value`, the ones spread and `Object.assign` copy. */
const symbolKeys = (value: object): Array<symbol> => {
  const symbols = Object.getOwnPropertySymbols(value)
  return symbols.length === 0 ? symbols : symbols.filter((symbol) => isEnumerable.call(value, symbol))
}

/** Whether `key` is an array index: a canonical integer string below 2 ** 32 - 1. */
const isIndex = (key: string): boolean => {
  const n = Number(key)
  return n >>> 0 === n && n !== 4294967295 && String(n) === key
}

// Arrays longer than this are probed for holes before they are walked.
const SPARSE_PROBE_LENGTH = 4096
const SPARSE_PROBES = 8

/**
 * Whether a long array is probably sparse: one of a few random positions is a
 * hole. Then it is walked by its keys (linear in its elements) rather than by
 * its length. The guess only decides the speed, never the copy (both walks
 * copy the same), and random positions cannot be aimed at by a crafted value.
 */
const looksSparse = (array: ReadonlyArray<unknown>): boolean => {
  const n = array.length
  if (n <= SPARSE_PROBE_LENGTH) return false
  if (!(n - 1 in array)) return true
  for (let probe = 0; probe < SPARSE_PROBES; probe++) {
    if (!(Math.floor(Math.random() * n) in array)) return true
  }
  return false
}

/**
 * Own enumerable string keys of an array other than its indices. `Object.keys`
 * lists the indices first, so the fields are the keys after the last index.
 * This costs a string per element, which is why only {@link copy} looks.
 */
const arrayFields = (array: ReadonlyArray<unknown>): Array<string> => {
  const keys = Object.keys(array)
  let first = keys.length
  while (first > 0 && !isIndex(keys[first - 1]!)) first--
  return first === keys.length ? [] : keys.slice(first)
}

const entriesOf = (map: Iterable<readonly [unknown, unknown]>): Array<unknown> => {
  const flat: Array<unknown> = []
  for (const [key, value] of map) flat.push(key, value)
  return flat
}

/** Why a value of no copyable kind is refused, when its type alone does not say. */
const refusal = (value: object): string | undefined => V.opaqueReason(value, "copy")

// ---------------------------------------------------------------------------
// Typed arrays and buffers
// ---------------------------------------------------------------------------

const typedArraySlice = Object.getPrototypeOf(Uint8Array.prototype).slice as (this: ArrayBufferView) => ArrayBufferView

/** A view like `view` (same class, same length) over `buffer` at `byteOffset`. */
const viewOver = (view: ArrayBufferView, buffer: ArrayBufferLike, byteOffset: number): ArrayBufferView => {
  const proto = Object.getPrototypeOf(view)
  // The built-in constructor of its kind (a Buffer is rebuilt as a Uint8Array, then given its prototype back).
  const Constructor = V.views.get(proto)?.Constructor
  if (Constructor === undefined) throw new Uncopyable(view)
  const length = view instanceof DataView ? view.byteLength : (view as Uint8Array).length
  const out = new Constructor(buffer, byteOffset, length)
  if (Object.getPrototypeOf(out) !== proto) Object.setPrototypeOf(out, proto)
  return out
}

/**
 * A copy of `view` over a new buffer of its own bytes only, of the same kind:
 * a view of a SharedArrayBuffer gets a SharedArrayBuffer of its own (a typed
 * array's `slice` makes an ArrayBuffer, and `Atomics.wait` then throws on the
 * copy; found by an outside trial).
 */
const sliceView = (view: ArrayBufferView): ArrayBufferView =>
  view instanceof DataView
    ? new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength))
    : V.isSharedBuffer(view.buffer)
      ? viewOver(view, view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength), 0)
      : typedArraySlice.call(view)

/** The part of a source buffer that a copy must hold: `[start, end)`. */
interface Span {
  start: number
  end: number
}

/**
 * How one source buffer is copied in this walk: either one copy (of the whole
 * buffer, or of a span starting at `base`) that views are rebuilt over, or,
 * so far, one view sliced on its own (`copy` undefined, `span` its bytes).
 */
interface BufferCopy {
  readonly copy: ArrayBufferLike | undefined
  readonly base: number
  readonly span: Span
}

// The largest element is 8 bytes: a span copy that starts at a multiple of 8
// keeps every view's offset aligned.
const alignDown = (offset: number): number => offset - (offset % 8)

// ---------------------------------------------------------------------------
// The iterative copier
// ---------------------------------------------------------------------------

// Tasks on the stack, each pushed as its operands then its operation (popped first):
const COPY = 0 // value, target, key: copy `value` into `target[key]`
const LEAVE = 1 // a container's children are done
const LEAVE_MAP = 2 // map, entries: ... and the copied entries can be inserted, in order
const LEAVE_SET = 3 // set, elements: ... and the copied elements can be added, in order
const LEAVE_BUILD = 4 // building, target, key: ... and the Effect collection can be built
const LEAVE_HASHED = 5 // the hashed part of an Effect collection (keys, elements) is done

/** Marks, in the memo, an Effect collection whose copy is not built yet. */
const BUILDING = Symbol("building")

type CollectionKind = keyof typeof V.collections

interface Building {
  readonly type: (typeof V.collections)[CollectionKind]
  readonly kind: CollectionKind
  readonly original: object
  readonly items: Array<unknown>
}

const describeThrown = (e: unknown): string => {
  try {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
  } catch {
    return "a value that cannot be printed"
  }
}

/**
 * One depth-first walk. A container's copy is created and memoized when it is
 * first reached, before its children, so a cycle closes on it; children are
 * tasks on the stack, and a LEAVE task under them runs once they are all
 * done: Maps and Sets are filled then (in their original order), Effect
 * collections built then. `open` is the path of containers whose LEAVE has
 * not run, which is what tells a back-reference (a cycle) from a reference to
 * a finished copy.
 */
class Copier {
  readonly memo = new Map<object, unknown>()
  readonly stack: Array<any> = []
  /** The containers being copied, outermost first: an object is "open" while it is here. */
  readonly open: Array<object> = []
  /** Where, in `open`, each hashed part being copied starts, innermost last. */
  hashed: Array<number> | undefined = undefined
  /** Buffers reached so far, and how they were copied. */
  buffers: Map<ArrayBufferLike, BufferCopy> | undefined = undefined
  /** Buffers reached again after one of their views was sliced: this walk's copy is wrong and must be redone. */
  conflicts: Map<ArrayBufferLike, Span> | undefined = undefined
  /** Buffers known, from an earlier walk, to be reached more than once, and the span to copy of each. */
  readonly plan: ReadonlyMap<ArrayBufferLike, Span> | undefined
  bytes = 0
  /** Whether some object was reached twice (a shared reference or a cycle). */
  shared = false
  /**
   * Whether to look for own fields that {@link copyTree} does not copy: an
   * array's fields besides its indices, symbol keys, fields on a Map, Set,
   * Date, RegExp, ArrayBuffer or DataView. Looking costs a string per array
   * element, so a store looks and a load looks only if the store found some.
   */
  readonly look: boolean
  /** Whether the value has parts {@link copyTree} does not copy: the fields above, or holes in an array. */
  extras = false
  /** Whether a Data or Schema class instance was copied (see {@link Copied.classes}). */
  classes = false
  /** The object being read, to blame when reading it throws. */
  current: unknown = undefined

  constructor(plan: ReadonlyMap<ArrayBufferLike, Span> | undefined, look: boolean) {
    this.plan = plan
    this.look = look
  }

  /** The copy of the value, once {@link run} is done. */
  out: unknown = undefined

  run(root: unknown): unknown {
    try {
      this.put(root, this, "out")
      this.drain()
    } catch (e) {
      if (e instanceof Uncopyable) throw e
      // A getter that throws, a revoked proxy, a buffer too large to allocate: a typed failure, not a defect.
      throw new Uncopyable(this.current, `copying it threw ${describeThrown(e)}`)
    }
    return this.out
  }

  /** Copies a primitive into `target[key]` at once; schedules an object. */
  put(value: unknown, target: any, key: string | number): void {
    if (typeof value === "object" && value !== null) this.stack.push(value, target, key, COPY)
    else target[key] = this.primitive(value)
  }

  primitive(value: unknown): unknown {
    switch (typeof value) {
      case "function":
      case "symbol":
        throw new Uncopyable(value)
      default:
        this.bytes += primitiveBytes(value)
        return value
    }
  }

  drain(): void {
    const stack = this.stack
    while (stack.length > 0) {
      switch (stack.pop() as number) {
        case COPY: {
          const key = stack.pop()
          const target = stack.pop()
          this.copy(stack.pop(), target, key)
          break
        }
        case LEAVE:
          this.open.pop()
          break
        case LEAVE_MAP: {
          const entries = stack.pop() as Array<unknown>
          const map = stack.pop() as Map<unknown, unknown>
          for (let i = 0; i < entries.length; i += 2) map.set(entries[i], entries[i + 1])
          this.open.pop()
          break
        }
        case LEAVE_SET: {
          const elements = stack.pop() as Array<unknown>
          const set = stack.pop() as Set<unknown>
          for (const element of elements) set.add(element)
          this.open.pop()
          break
        }
        case LEAVE_BUILD: {
          const key = stack.pop()
          const target = stack.pop()
          this.build(stack.pop(), target, key)
          break
        }
        case LEAVE_HASHED:
          this.hashed!.pop()
          break
      }
    }
  }

  copy(value: object, target: any, key: string | number): void {
    const known = this.memo.get(value)
    if (known !== undefined) {
      target[key] = this.again(value, known)
      return
    }
    this.current = value
    // What each kind is: the table of value kinds (valueKinds.ts).
    const kind = V.kindOf(value)
    switch (kind) {
      case V.Kind.Array: {
        const array = value as Array<unknown>
        const out = new Array(array.length)
        this.enter(value, out, target, key)
        this.stack.push(LEAVE)
        if (looksSparse(array)) {
          // `a[2 ** 32 - 2] = 1` has one element: walk what is there, not the length.
          this.extras = true
          let count = 0
          for (const index of Object.keys(array)) {
            if (!isIndex(index)) break // indices come first, in order
            this.put(array[index as unknown as number], out, Number(index))
            count++
          }
          this.bytes += OBJECT_BYTES + SLOT_BYTES * count
        } else {
          this.bytes += OBJECT_BYTES + SLOT_BYTES * array.length
          for (let i = 0; i < array.length; i++) {
            const item = array[i]
            // A hole stays a hole, as in structuredClone (`out` starts with holes only).
            if (item === undefined && !(i in array)) this.extras = true
            else this.put(item, out, i)
          }
        }
        if (this.look) {
          for (const field of arrayFields(array)) this.extra(value, field, out)
          for (const symbol of symbolKeys(value)) this.extra(value, symbol, out)
        }
        return
      }
      case V.Kind.Plain: {
        const out: Record<string, unknown> = Object.getPrototypeOf(value) === null ? Object.create(null) : {}
        this.enter(value, out, target, key)
        this.stack.push(LEAVE)
        this.bytes += OBJECT_BYTES
        for (const field in value) this.field(value, field, out)
        if (this.look) for (const symbol of symbolKeys(value)) this.extra(value, symbol, out)
        return
      }
      case V.Kind.View:
        // Own fields on a typed array are not looked for: `Object.keys` would list every element.
        return this.leaf(value, this.view(value as ArrayBufferView), target, key, 0, value instanceof DataView)
      case V.Kind.Buffer:
        return this.leaf(value, this.buffer(value as ArrayBufferLike), target, key, 0, true)
      case V.Kind.Date:
        return this.leaf(value, new Date((value as Date).getTime()), target, key, SLOT_BYTES, true)
      case V.Kind.RegExp: {
        const regexp = value as RegExp
        const out = new RegExp(regexp.source, regexp.flags)
        out.lastIndex = regexp.lastIndex
        return this.leaf(value, out, target, key, 2 * regexp.source.length, true)
      }
      case V.Kind.Map: {
        const out = new Map()
        const entries = entriesOf(value as Map<unknown, unknown>)
        this.enter(value, out, target, key)
        this.stack.push(out, entries, LEAVE_MAP)
        this.children(entries)
        this.fields(value, out)
        return
      }
      case V.Kind.Set: {
        const out = new Set()
        const elements = Array.from(value as Set<unknown>)
        this.enter(value, out, target, key)
        this.stack.push(out, elements, LEAVE_SET)
        this.children(elements)
        this.fields(value, out)
        return
      }
      case V.Kind.Option:
      case V.Kind.Result:
      case V.Kind.Data: {
        // `Option.none()` is a singleton with nothing inside: keep it one (and a value that shares it a tree).
        if (kind === V.Kind.Option && (value as { readonly _tag?: unknown })._tag === "None") {
          target[key] = value
          return
        }
        // A new object with the same prototype and copies of the own fields: what the type's constructor builds.
        if (kind === V.Kind.Data) this.classes = true
        const out: Record<string, unknown> = Object.create(Object.getPrototypeOf(value))
        this.enter(value, out, target, key)
        this.stack.push(LEAVE)
        this.bytes += OBJECT_BYTES
        for (const field of Object.keys(value)) this.field(value, field, out)
        return
      }
      // Immutable: rebuilt at each reference, so one DateTime used in many rows keeps a value a tree.
      case V.Kind.DateTime:
        this.bytes += OBJECT_BYTES
        target[key] = V.rebuildDateTime(value as never)
        return
      case V.Kind.Duration:
        this.bytes += OBJECT_BYTES
        target[key] = V.rebuildDuration(value as never)
        return
      case V.Kind.BigDecimal:
        this.bytes += OBJECT_BYTES
        target[key] = V.rebuildBigDecimal(value as never)
        return
      case V.Kind.Chunk:
      case V.Kind.HashMap:
      case V.Kind.HashSet:
      case V.Kind.Redacted:
        return this.collection(value, kind, target, key)
      default:
        throw new Uncopyable(value, refusal(value))
    }
  }

  /** A second reach of an object already (being) copied. */
  again(value: object, known: unknown): unknown {
    if (known === BUILDING) {
      throw new Uncopyable(
        value,
        `a cycle passes through this ${V.kinds[V.kindOf(value)].name}, which can only be built once its contents are copied`
      )
    }
    // A hashed part (a HashMap key) must be complete when it is hashed, so it cannot reach back into a value still being copied.
    if (this.hashed !== undefined && this.hashed.length > 0) {
      const at = this.open.lastIndexOf(value)
      if (at !== -1 && at < this.hashed[this.hashed.length - 1]!) {
        throw new Uncopyable(value, "a HashMap key or HashSet element refers back to a value that contains it, so it cannot be hashed")
      }
    }
    this.shared = true
    return known
  }

  /** Registers the copy of a container, open until the caller's LEAVE task runs after its children. */
  enter(value: object, out: unknown, target: any, key: string | number): void {
    this.memo.set(value, out)
    target[key] = out
    this.open.push(value)
  }

  /** Copies `source[field]` as an own field, keeping its place in key order while an object is copied into it. */
  field(source: object, field: PropertyKey, out: Record<PropertyKey, unknown>): void {
    const value = (source as Record<PropertyKey, unknown>)[field]
    this.bytes += SLOT_BYTES
    if (typeof value === "object" && value !== null) {
      setOwn(out, field, undefined)
      this.stack.push(value, out, field, COPY)
    } else {
      setOwn(out, field, this.primitive(value))
    }
  }

  /** A field {@link copyTree} does not copy: the value is no longer a tree. */
  extra(source: object, field: PropertyKey, out: object): void {
    this.extras = true
    this.field(source, field, out as Record<PropertyKey, unknown>)
  }

  /** Own enumerable fields (string and symbol keys) of a Map, Set, Date, RegExp, ArrayBuffer or DataView, when looking. */
  fields(value: object, out: object): void {
    if (!this.look) return
    for (const field of Object.keys(value)) this.extra(value, field, out)
    for (const symbol of symbolKeys(value)) this.extra(value, symbol, out)
  }

  /** Schedules copies of `items` into their own places. */
  children(items: Array<unknown>): void {
    this.bytes += OBJECT_BYTES + SLOT_BYTES * items.length
    for (let i = 0; i < items.length; i++) this.put(items[i], items, i)
  }

  leaf(value: object, out: object, target: any, key: string | number, bytes = 0, fields = false): void {
    this.memo.set(value, out)
    this.bytes += OBJECT_BYTES + bytes
    target[key] = out
    if (fields) this.fields(value, out)
  }

  /** Chunk, HashSet, HashMap: copy the items, then build once they are complete (LEAVE_BUILD). */
  collection(value: object, kind: CollectionKind, target: any, key: string | number): void {
    const type = V.collections[kind]
    const items = type.items(value)
    this.memo.set(value, BUILDING)
    this.open.push(value)
    this.stack.push({ type, kind, original: value, items } satisfies Building, target, key, LEAVE_BUILD)
    if (!type.hashed) return this.children(items)
    this.bytes += OBJECT_BYTES + SLOT_BYTES * items.length
    // Hashed parts (keys, elements) are scheduled last, so they are copied first, inside a marked region.
    const step = type.entries ? 2 : 1
    if (step === 2) for (let i = 1; i < items.length; i += 2) this.put(items[i], items, i)
    this.stack.push(LEAVE_HASHED)
    this.hashed ??= []
    this.hashed.push(this.open.length)
    for (let i = 0; i < items.length; i += step) this.put(items[i], items, i)
  }

  build(building: Building, target: any, key: string | number): void {
    const out = building.type.build(building.items)
    this.memo.set(building.original, out)
    this.open.pop()
    target[key] = out
  }

  view(value: ArrayBufferView): ArrayBufferView {
    const buffer = value.buffer
    const start = value.byteOffset
    const end = start + value.byteLength
    this.buffers ??= new Map()
    const seen = this.buffers.get(buffer)
    if (seen === undefined) {
      const planned = this.plan?.get(buffer)
      if (planned !== undefined) {
        const copied = this.copyOnce(buffer, planned.start, planned.end)
        return viewOver(value, copied.copy!, start - copied.base)
      }
      const out = sliceView(value)
      this.bytes += value.byteLength
      // A view of its whole buffer can stand in for that buffer; a partial view cannot.
      const whole = start === 0 && end === buffer.byteLength
      this.buffers.set(buffer, { copy: whole ? out.buffer : undefined, base: 0, span: { start, end } })
      return out
    }
    this.shared = true
    if (seen.copy !== undefined) return viewOver(value, seen.copy, start - seen.base)
    this.conflict(buffer, seen.span, start, end)
    return sliceView(value)
  }

  buffer(value: ArrayBufferLike): ArrayBufferLike {
    this.buffers ??= new Map()
    const seen = this.buffers.get(value)
    if (seen === undefined) return this.copyOnce(value, 0, value.byteLength).copy!
    this.shared = true
    if (seen.copy !== undefined && seen.base === 0 && seen.copy.byteLength === value.byteLength) return seen.copy
    this.conflict(value, seen.span, 0, value.byteLength)
    return value.slice(0)
  }

  copyOnce(buffer: ArrayBufferLike, start: number, end: number): BufferCopy {
    const base = alignDown(start)
    const copied: BufferCopy = { copy: buffer.slice(base, end), base, span: { start, end } }
    this.bytes += end - base
    this.buffers!.set(buffer, copied)
    return copied
  }

  /** Records that `buffer` must be copied once, spanning every view, in the next walk. */
  conflict(buffer: ArrayBufferLike, first: Span, start: number, end: number): void {
    this.conflicts ??= new Map()
    const span = this.conflicts.get(buffer) ?? { start: first.start, end: first.end }
    span.start = Math.min(span.start, start)
    span.end = Math.max(span.end, end)
    this.conflicts.set(buffer, span)
  }
}

/** A copy of `value` made with an explicit stack, and the copier that made it (sizes, sharing). */
const walk = (value: unknown, look: boolean): { readonly copier: Copier; readonly out: unknown } => {
  const copier = new Copier(undefined, look)
  const out = copier.run(value)
  if (copier.conflicts === undefined) return { copier, out }
  // Some buffer turned out to be shared after one of its views was sliced: copy again, knowing.
  const again = new Copier(copier.conflicts, look)
  return { copier: again, out: again.run(value) }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/** @internal */
export interface Copied<A> extends Sized<A> {
  /**
   * No object is reached twice and nothing is there that {@link copyTree}
   * skips (see `extras`): later copies may use {@link copyTree}.
   */
  readonly tree: boolean
  /**
   * Some array has holes or fields besides its indices, some object has
   * symbol keys, or some Map, Set, Date, RegExp, ArrayBuffer or DataView has
   * own fields: later copies must be made by {@link copy}, looking for them.
   */
  readonly extras: boolean
  /**
   * Some Data or Schema class instance was copied (rebuilt from its own
   * fields, without its constructor: state in `#private` fields is not
   * there).
   */
  readonly classes: boolean
}

/**
 * A deep copy of `value` and its estimated size.
 *
 * `look` (the default) looks for own fields beyond those of plain data (see
 * {@link Copied.extras}); copies of a value already known to have none may
 * skip looking, which costs a string per array element.
 *
 * @throws Uncopyable for values with no data form, and for instances of
 * subclasses of built-in classes (other than Node's Buffer): a copy would drop
 * their class.
 * @internal
 */
export const copy = <A>(value: A, look = true): Copied<A> => {
  // Primitives: no copier, no allocation (the common hit path).
  if (typeof value !== "object" || value === null) {
    if (typeof value === "function" || typeof value === "symbol") throw new Uncopyable(value)
    return {
      value,
      bytes: primitiveBytes(value),
      tree: true,
      extras: false,
      classes: false
    }
  }
  const { copier, out } = walk(value, look)
  return { value: out as A, bytes: copier.bytes, tree: !copier.shared && !copier.extras, extras: copier.extras, classes: copier.classes }
}

/**
 * A deep copy of a value already known to be a tree of copyable values (a
 * value {@link copy} made and reported `tree: true`): no memo, no size, no
 * checks for plain objects, arrays, typed arrays and Dates. This is the copy a
 * hit pays for, so it does as little as it can; anything else, and anything
 * nested deeper than {@link MAX_RECURSION}, goes to the iterative walk.
 *
 * @internal
 */
export const copyTree = <A>(value: A): A => (typeof value === "object" && value !== null ? (tree(value, 0) as A) : value)

const tree = (value: object, depth: number): unknown => {
  if (depth === MAX_RECURSION) return walk(value, false).out
  if (Array.isArray(value)) {
    const out = new Array(value.length)
    for (let i = 0; i < value.length; i++) {
      const item = value[i]
      out[i] = typeof item === "object" && item !== null ? tree(item, depth + 1) : item
    }
    return out
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Object.prototype) {
    const out: Record<string, unknown> = {}
    for (const key in value) {
      const item = (value as Record<string, unknown>)[key]
      setOwn(out, key, typeof item === "object" && item !== null ? tree(item, depth + 1) : item)
    }
    return out
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return sliceView(value)
  if (value instanceof Date) return new Date(value.getTime())
  // Option, Result, Data classes and DateTimes are common in rows: copy them here rather than start a walk for each.
  switch (V.kindOf(value)) {
    case V.Kind.Option:
      if ((value as { readonly _tag?: unknown })._tag === "None") return value
      return fieldsTree(value, Object.create(proto), depth)
    case V.Kind.Result:
    case V.Kind.Data:
      return fieldsTree(value, Object.create(proto), depth)
    case V.Kind.DateTime:
      return V.rebuildDateTime(value as never)
    case V.Kind.Duration:
      return V.rebuildDuration(value as never)
    case V.Kind.BigDecimal:
      return V.rebuildBigDecimal(value as never)
  }
  return walk(value, false).out
}

const fieldsTree = (value: object, out: Record<string, unknown>, depth: number): unknown => {
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key]
    setOwn(out, key, typeof item === "object" && item !== null ? tree(item, depth + 1) : item)
  }
  return out
}

/**
 * Deep-freezes plain objects, arrays, Data and Schema class instances,
 * Options and Results in place (Effect keeps their hashes in a WeakMap, not
 * on them) and estimates the size, walking into Maps, Sets and Effect's
 * collections to freeze the plain data they hold. Typed arrays cannot be
 * frozen by JS; Map, Set, other class instances (whose own methods may write
 * to them) and Effect's collections and times (Chunk, HashMap, HashSet and
 * DateTime keep lazy state on themselves) stay as they are: their
 * readonly-ness is in the types only.
 *
 * @internal
 */
export const freeze = <A>(value: A): Sized<A> => {
  let bytes = 0
  const stack: Array<unknown> = [value]
  const seen = new Set<object>()
  while (stack.length > 0) {
    const item = stack.pop()
    if (typeof item !== "object" || item === null) {
      bytes += primitiveBytes(item)
      continue
    }
    bytes += SLOT_BYTES
    if (seen.has(item)) continue
    seen.add(item)
    // What each kind is: the table of value kinds (valueKinds.ts).
    let kind: V.Kind
    try {
      kind = V.kindOf(item)
    } catch {
      continue
    }
    switch (kind) {
      case V.Kind.View:
        bytes += (item as ArrayBufferView).byteLength
        break
      case V.Kind.Buffer:
        bytes += (item as ArrayBufferLike).byteLength
        break
      case V.Kind.Array:
      case V.Kind.Plain:
        Object.freeze(item)
        for (const key in item) stack.push((item as Record<string, unknown>)[key])
        for (const symbol of symbolKeys(item)) stack.push((item as Record<symbol, unknown>)[symbol])
        break
      case V.Kind.Map:
        for (const [k, v] of item as Map<unknown, unknown>) stack.push(k, v)
        break
      case V.Kind.Set:
        for (const v of item as Set<unknown>) stack.push(v)
        break
      case V.Kind.Option:
      case V.Kind.Result:
      case V.Kind.Data:
        Object.freeze(item)
        for (const key of Object.keys(item)) stack.push((item as Record<string, unknown>)[key])
        break
      case V.Kind.Chunk:
      case V.Kind.HashMap:
      case V.Kind.HashSet:
      case V.Kind.Redacted:
        for (const child of V.collections[kind].items(item)) stack.push(child)
        break
    }
  }
  return { value, bytes }
}

// ---------------------------------------------------------------------------
// Paths, after a failure
// ---------------------------------------------------------------------------

/**
 * One step from a container to a child, formatted only if it ends up in a
 * path: `[2]`, `field "a"`, `element 0`, `key of entry 0`, `value at key "k"`.
 */
type Step =
  | readonly ["index" | "element" | "entry key", number]
  | readonly ["field", string | symbol]
  | readonly ["entry value", number, key: unknown]

type Child = readonly [value: unknown, step: Step]

const formatStep = (step: Step): string => {
  switch (step[0]) {
    case "index":
      return `[${step[1]}]`
    case "field":
      return typeof step[1] === "symbol" ? `field [${String(step[1])}]` : `field ${JSON.stringify(step[1])}`
    case "element":
      return `element ${step[1]}`
    case "entry key":
      return `key of entry ${step[1]}`
    case "entry value": {
      const key = step[2]
      if (typeof key === "string") return `value at key ${JSON.stringify(key)}`
      if (typeof key === "number" || typeof key === "boolean") return `value at key ${key}`
      return `value of entry ${step[1]}`
    }
  }
}

const indexed = (items: ArrayLike<unknown>, kind: "index" | "element"): Array<Child> =>
  Array.from(items, (item, i): Child => [item, [kind, i]])

const fieldsOf = (value: object, keys: ReadonlyArray<string | symbol> = Object.keys(value)): Array<Child> =>
  keys.map((key): Child => [(value as Record<PropertyKey, unknown>)[key], ["field", key]])

const entriesAsChildren = (flat: Array<unknown>): Array<Child> => {
  const out: Array<Child> = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], ["entry key", i / 2]], [flat[i + 1], ["entry value", i / 2, flat[i]]])
  return out
}

/** The children of `value` as the copier sees them, each with the step that reaches it. */
const childrenOf = (value: object): Array<Child> => {
  const own = () => fieldsOf(value, [...Object.keys(value), ...symbolKeys(value)])
  // What each kind holds: the table of value kinds (valueKinds.ts).
  const kind = V.kindOf(value)
  switch (kind) {
    case V.Kind.Array:
      return [
        ...indexed(value as Array<unknown>, "index"),
        ...fieldsOf(value, [...arrayFields(value as Array<unknown>), ...symbolKeys(value)])
      ]
    case V.Kind.Plain:
      return own()
    case V.Kind.Map:
      return [...entriesAsChildren(entriesOf(value as Map<unknown, unknown>)), ...own()]
    case V.Kind.Set:
      return [...indexed(Array.from(value as Set<unknown>), "element"), ...own()]
    case V.Kind.View:
      return value instanceof DataView ? own() : []
    case V.Kind.Date:
    case V.Kind.RegExp:
    case V.Kind.Buffer:
      return own()
    case V.Kind.Option:
    case V.Kind.Result:
    case V.Kind.Data:
      return fieldsOf(value)
    case V.Kind.Chunk:
      return indexed(V.collections[kind].items(value), "index")
    case V.Kind.HashSet:
      return indexed(V.collections[kind].items(value), "element")
    case V.Kind.HashMap:
      return entriesAsChildren(V.collections[kind].items(value))
    case V.Kind.Redacted:
      // Its value, without naming it: a path never shows what a Redacted holds.
      return [[V.collections[kind].items(value)[0], ["field", "(redacted value)"]]]
    default:
      return []
  }
}

/**
 * Where `target` sits in `root`, as steps from the root (`field "a"`, `[2]`),
 * or `undefined` if it is not there. Runs only after a copy failed, so the
 * success path keeps no paths; each object is visited once and keeps one
 * link to its parent, so the search is linear in the size of the value.
 *
 * @internal
 */
export const locate = (root: unknown, target: unknown): Array<string> | undefined => {
  if (root === target) return []
  if (typeof root !== "object" || root === null) return undefined
  const parents = new Map<unknown, readonly [parent: unknown, step: Step]>()
  const stack: Array<object> = [root]
  while (stack.length > 0) {
    const value = stack.pop()!
    let children: Array<Child>
    try {
      children = childrenOf(value)
    } catch {
      continue
    }
    for (const [child, step] of children) {
      if (child === target) return pathFrom(parents, value, step)
    }
    for (let i = children.length - 1; i >= 0; i--) {
      const [child, step] = children[i]!
      if (typeof child === "object" && child !== null && child !== root && !parents.has(child)) {
        parents.set(child, [value, step])
        stack.push(child)
      }
    }
  }
  return undefined
}

const pathFrom = (parents: Map<unknown, readonly [unknown, Step]>, parent: unknown, last: Step): Array<string> => {
  const steps = [formatStep(last)]
  for (let link = parents.get(parent); link !== undefined; link = parents.get(link[0])) steps.push(formatStep(link[1]))
  return steps.reverse()
}
