/**
 * Replay: what a cached body writes through Effect's `Console` and its log
 * lines, recorded on a miss and written again on every hit, in order, as
 * Streamlit replays the `st.*` elements of a cached function.
 *
 * - Recording wraps the computation's Console (the starting caller's) and
 *   adds two loggers around its loggers, so the computing caller still sees
 *   everything as it happens.
 * - A log line keeps the annotations and log spans the body added (those of
 *   the caller that started the computation are that caller's, not the
 *   body's), as they were when it logged; a replayed line carries them on
 *   top of the hit caller's own, and each span shows the time it had been
 *   open when the body logged, not the time since.
 * - What is recorded is a copy, taken when the body writes: later changes to
 *   a logged object do not change the replay, and the copy counts toward the
 *   entry's bytes at its real size. An argument with no data form (a
 *   function, a class instance, an Error) is kept as a short rendering, a
 *   string; a cause as the errors `Cause.pretty` shows, with their messages
 *   and stacks.
 * - A nested cached call's output, replayed or written, goes through the
 *   outer body's Console and loggers, so the outer entry records it too: it
 *   is the outer computation's output. What runs on the cache's behalf
 *   rather than the body's (a background refresh, the reporter's lines) runs
 *   {@link outside} every recording.
 * - On replay, groups are balanced: a `group` the body left open is closed
 *   after the entry's last line, and a `groupEnd` with no group of the
 *   entry's own to close is left out.
 *
 * A record is plain data (a Console method and its arguments, or a log
 * level, message, cause, annotations and spans): the stores of a later issue
 * persist it beside the value.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import * as Copy from "./copy.ts"

/** One thing a body wrote. @internal */
export type Line =
  | { readonly _tag: "Console"; readonly method: ConsoleMethod; readonly args: ReadonlyArray<unknown> }
  | {
      readonly _tag: "Log"
      readonly level: LogLevel.LogLevel
      readonly message: ReadonlyArray<unknown>
      readonly cause: Cause.Cause<unknown> | undefined
      /** The annotations the body added or changed, as they were when it logged. */
      readonly annotations: Readonly<Record<string, unknown>> | undefined
      /** The log spans the body opened, innermost first, each with how long it had been open when the line was logged. */
      readonly spans: ReadonlyArray<readonly [label: string, elapsedMillis: number]> | undefined
    }

type ConsoleMethod = Exclude<keyof Console.Console, symbol>

/**
 * Console methods that write; `clear` and the counters/timers keep state of
 * their own and are passed through unrecorded. The only methods a recorded
 * line (and a persisted one) may name.
 *
 * @internal
 */
export const recordedMethods: ReadonlyArray<ConsoleMethod> = [
  "log",
  "info",
  "warn",
  "error",
  "debug",
  "trace",
  "dir",
  "dirxml",
  "table",
  "group",
  "groupCollapsed",
  "groupEnd",
  "assert"
]

/** The lines one computation writes, in order. @internal */
export class Recorder {
  readonly lines: Array<Line> = []
  bytes = 0
  /**
   * Past this many bytes the entry cannot be kept (a byte budget, when
   * nothing but memory would keep it): the lines go, and recording stops, so
   * that a body that logs without end does not hold all it wrote until it
   * returns. `bytes` stays past the limit, which keeps the value unstored.
   */
  readonly limit: number
  /** Set once `bytes` passed `limit`. */
  overflowed = false
  /** Inside a log call: Console writes are the loggers' own output, not the body's. */
  inLog = false
  /**
   * Set when the computation ends. Fibers the body forked (a keep-alive, a
   * release) inherit its Console and loggers and may write later: that is
   * not the computation's output, and the entry's lines stay as stored.
   */
  closed = false

  constructor(limit = Infinity) {
    this.limit = limit
  }

  /** Whether lines are still recorded: the computation runs, and its entry is within the limit. */
  get recording(): boolean {
    return !this.closed && !this.overflowed
  }

  push(line: Line, bytes: number): void {
    if (!this.recording) return
    this.bytes += bytes
    if (this.bytes <= this.limit) {
      this.lines.push(line)
      return
    }
    this.overflowed = true
    this.lines.length = 0
  }
}

/** The Console and loggers from before any recording, for what runs on the cache's behalf. */
interface Outputs {
  readonly console: Console.Console
  readonly loggers: ReadonlySet<Logger.Logger<unknown, any>>
}

/** Set while a body records: what its outermost recording wrapped. */
const Outside = Context.Reference<Outputs | undefined>("@recall/core/internal/Replay/Outside", { defaultValue: () => undefined })

/**
 * Runs `effect` with the Console and loggers from before any recording, so
 * that nothing it writes is recorded into a body in progress: a background
 * refresh started by a stale hit inside a body, the reporter's lines for a
 * computation nested in one. Outside a recording it is `effect` itself.
 *
 * @internal
 */
export const outside = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    const outputs = fiber.getRef(Outside)
    return outputs === undefined
      ? effect
      : effect.pipe(Effect.provideService(Console.Console, outputs.console), Effect.provideService(Logger.CurrentLoggers, outputs.loggers))
  })

/**
 * The body, recording what it writes into `recorder` while still writing it
 * through the Console and loggers of the fiber it runs in.
 *
 * @internal
 */
export const recording = <A, E, R>(body: Effect.Effect<A, E, R>, recorder: Recorder): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    const console = fiber.getRef(Console.Console)
    const loggers = fiber.getRef(Logger.CurrentLoggers)
    // What the caller that started the computation had is the caller's: only what the body adds is recorded.
    const baseAnnotations = fiber.getRef(References.CurrentLogAnnotations)
    const baseSpans = fiber.getRef(References.CurrentLogSpans)
    // Loggers run one after another, in the set's order, within one log call.
    // The first and last loggers here bracket that call: what the others write
    // to the Console meanwhile (Effect's default logger prints through it) is
    // the log line itself, recorded once, as a log line.
    // The line is kept (copied) by the first logger, before the caller's own
    // loggers run: one that edits what it is given (a scrubber) cannot change
    // what later hits replay.
    const opening = Logger.make((options) => {
      recorder.inLog = true
      if (recorder.recording) recordLog(recorder, options, baseAnnotations, baseSpans)
    })
    const closing = Logger.make(() => {
      recorder.inLog = false
    })
    return body.pipe(
      Effect.provideService(Console.Console, recordingConsole(console, recorder)),
      Effect.provideService(Logger.CurrentLoggers, new Set([opening, ...loggers, closing])),
      Effect.provideService(Outside, fiber.getRef(Outside) ?? { console, loggers })
    )
  })

const recordingConsole = (target: Console.Console, recorder: Recorder): Console.Console => {
  const console = Object.create(target) as Record<string, unknown>
  for (const method of recordedMethods) {
    console[method] = (...args: ReadonlyArray<unknown>) => {
      if (!recorder.inLog && recorder.recording) {
        let bytes = LINE_BYTES
        const kept = args.map((arg) => {
          const sized = keep(arg)
          bytes += sized.bytes
          return sized.value
        })
        recorder.push({ _tag: "Console", method, args: kept }, bytes)
      }
      ;(target[method] as (...args: ReadonlyArray<unknown>) => void)(...args)
    }
  }
  return console as unknown as Console.Console
}

const recordLog = (
  recorder: Recorder,
  { cause, date, fiber, logLevel, message }: Logger.Options<unknown>,
  baseAnnotations: Readonly<Record<string, unknown>>,
  baseSpans: ReadonlyArray<readonly [string, number]>
): void => {
  let bytes = LINE_BYTES
  const message_ = (Array.isArray(message) ? message : [message]).map((part) => {
    const sized = keep(part)
    bytes += sized.bytes
    return sized.value
  })
  let keptCause: Cause.Cause<unknown> | undefined
  if (cause.reasons.length > 0) {
    const sized = keepCause(cause)
    keptCause = sized.value
    bytes += sized.bytes
  }
  let annotations: Record<string, unknown> | undefined
  const current = fiber.getRef(References.CurrentLogAnnotations)
  if (current !== baseAnnotations) {
    for (const key of Object.keys(current)) {
      const value = current[key]
      if (Object.hasOwn(baseAnnotations, key) && Object.is(baseAnnotations[key], value)) continue
      const sized = keep(value)
      annotations ??= {}
      setOwn(annotations, key, sized.value)
      bytes += annotationBytes(key, sized.bytes)
    }
  }
  let spans: Array<readonly [string, number]> | undefined
  const currentSpans = fiber.getRef(References.CurrentLogSpans)
  if (currentSpans !== baseSpans) {
    const now = date.getTime()
    for (const span of currentSpans) {
      if (baseSpans.includes(span)) continue
      spans ??= []
      spans.push([span[0], now - span[1]])
      bytes += spanBytes(span[0])
    }
  }
  recorder.push({ _tag: "Log", level: logLevel, message: message_, cause: keptCause, annotations, spans }, bytes)
}

/**
 * Writes recorded lines again, through the hit caller's Console and loggers,
 * with groups balanced: a `groupEnd` with no group of these lines to close is
 * left out, and groups the lines left open are closed after the last one.
 *
 * @internal
 */
export const replay = (lines: ReadonlyArray<Line>): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const console = fiber.getRef(Console.Console)
    let depth = 0
    const effects: Array<Effect.Effect<void>> = []
    for (const line of lines) {
      if (line._tag === "Log") {
        effects.push(replayLog(line))
        continue
      }
      if (line.method === "group" || line.method === "groupCollapsed") depth++
      else if (line.method === "groupEnd") {
        if (depth === 0) continue
        depth--
      }
      // Each replay hands out copies: what one hit's Console does to them never reaches the next hit.
      effects.push(Effect.sync(() => (console[line.method] as (...args: ReadonlyArray<unknown>) => void)(...line.args.map(fresh))))
    }
    for (; depth > 0; depth--) effects.push(Effect.sync(() => console.groupEnd()))
    return Effect.forEach(effects, (effect) => effect, { discard: true })
  })

const replayLog = (line: Extract<Line, { readonly _tag: "Log" }>): Effect.Effect<void> => {
  // Copies, as for Console lines: the hit caller's loggers get values of their own.
  let log = Effect.suspend(() =>
    Effect.logWithLevel(line.level as LogLevel.Severity)(...line.message.map(fresh), ...(line.cause === undefined ? [] : [line.cause]))
  )
  if (line.annotations !== undefined) {
    const annotations = line.annotations
    const plain = log
    log = Effect.suspend(() => Effect.annotateLogs(plain, fresh(annotations) as Record<string, unknown>))
  }
  const spans = line.spans
  if (spans === undefined) return log
  // Each span starts as long before this line as it had been open when the body logged: it shows its own duration.
  return Effect.withFiber((fiber) => {
    const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    const replayed = spans.map(([label, elapsed]): [string, number] => [label, now - elapsed])
    return Effect.provideService(log, References.CurrentLogSpans, [...replayed, ...fiber.getRef(References.CurrentLogSpans)])
  })
}

// ---------------------------------------------------------------------------
// What is kept of a written value
// ---------------------------------------------------------------------------

// Rough sizes in V8, used only for byte budgets.
const LINE_BYTES = 32
const STRING_BYTES = 16
const SPAN_BYTES = 48

// What a line's parts count, as it is recorded and as it is read back from a store alike (see linesBytes).
/** An annotation: its key, and its value's size. */
const annotationBytes = (key: string, valueBytes: number): number => STRING_BYTES + 2 * key.length + valueBytes
/** A log span: its label. */
const spanBytes = (label: string): number => SPAN_BYTES + 2 * label.length
/** A kept cause's reason: its error's text and stack (an interrupt has none: a line). */
const reasonBytes = (error: unknown): number => (error instanceof Error ? errorBytes(error) : LINE_BYTES)

/** The longest rendering kept of a value with no data form. */
const MAX_RENDERING = 2000

/** A copy of `value` and its size; for a value with no data form, a short rendering. */
/** A copy of a kept value (kept values are copies or renderings, which always copy again). */
const fresh = (value: unknown): unknown => Copy.copy(value).value

const keep = (value: unknown): Copy.Sized<unknown> => keepAt(value, 0)

/** How many levels of plain objects and arrays are copied around a part with no data form, before the rest is rendered whole. */
const MAX_KEPT_DEPTH = 4

const keepAt = (value: unknown, depth: number): Copy.Sized<unknown> => {
  try {
    return Copy.copy(value)
  } catch {
    // A plain object or array that holds something with no data form (`{ err: new Error(...) }`): the container
    // is kept as data, and only that part rendered, so that a logger given an object on the miss gets one on a hit.
    if (depth < MAX_KEPT_DEPTH) {
      const around = keptAround(value, depth)
      if (around !== undefined) return around
    }
    // Uncopyable, or a value that throws when read: a rendering, which a logging call must never fail to make.
    const text = render(value)
    return { value: text, bytes: STRING_BYTES + 2 * text.length }
  }
}

/**
 * A plain object's or array's copy with each part kept as {@link keepAt}
 * keeps it; none for anything else, or one that throws. Its size is the copy
 * estimate of what is kept (data, and strings for the parts rendered), as
 * the same lines read back from a store count it.
 */
const keptAround = (value: unknown, depth: number): Copy.Sized<unknown> | undefined => {
  let out: unknown
  try {
    if (Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype) {
      out = Array.from(value as ReadonlyArray<unknown>, (item) => keepAt(item, depth + 1).value)
    } else {
      if (typeof value !== "object" || value === null) return undefined
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return undefined
      const record: Record<string, unknown> = {}
      for (const key of Object.keys(value)) setOwn(record, key, keepAt((value as Record<string, unknown>)[key], depth + 1).value)
      out = record
    }
    return { value: out, bytes: Copy.copy(out).bytes }
  } catch {
    return undefined
  }
}

/**
 * A cause as `Cause.pretty` shows it: each failure and defect becomes an
 * Error with the message and stack (and causes) it is printed with; what
 * the original held besides is not kept.
 */
const keepCause = (cause: Cause.Cause<unknown>): Copy.Sized<Cause.Cause<unknown>> => {
  let errors: ReadonlyArray<Error>
  try {
    errors = Cause.prettyErrors(cause)
  } catch {
    errors = []
  }
  let bytes = 0
  let at = 0
  const reasons = cause.reasons.map((reason): Cause.Reason<unknown> => {
    if (reason._tag === "Interrupt") {
      bytes += reasonBytes(undefined)
      return Cause.makeInterruptReason(reason.fiberId)
    }
    const pretty = errors[at++]
    const error = pretty === undefined ? new Error(render(reason._tag === "Fail" ? reason.error : reason.defect)) : plainError(pretty, 0)
    bytes += reasonBytes(error)
    return reason._tag === "Fail" ? Cause.makeFailReason(error) : Cause.makeDieReason(error)
  })
  return { value: Cause.fromReasons(reasons), bytes }
}

/**
 * The bytes recorded lines count for, estimated as their recording counted
 * them (a string two bytes a character, whatever its encoding in a store):
 * lines read back from a store count the same in every process, so a byte
 * budget keeps or refuses an entry alike wherever it is read.
 *
 * @internal
 */
export const linesBytes = (lines: ReadonlyArray<Line>): number => {
  let bytes = 0
  for (const line of lines) {
    bytes += LINE_BYTES
    if (line._tag === "Console") {
      for (const arg of line.args) bytes += keep(arg).bytes
      continue
    }
    for (const part of line.message) bytes += keep(part).bytes
    for (const reason of line.cause?.reasons ?? []) {
      bytes += reasonBytes(reason._tag === "Fail" ? reason.error : reason._tag === "Die" ? reason.defect : undefined)
    }
    if (line.annotations !== undefined) {
      for (const key of Object.keys(line.annotations)) bytes += annotationBytes(key, keep(line.annotations[key]).bytes)
    }
    for (const [label] of line.spans ?? []) bytes += spanBytes(label)
  }
  return bytes
}

/** How many causes deep an error's chain is kept. */
const MAX_CAUSES = 8

const plainError = (error: Error, depth: number): Error => {
  const inner = error.cause instanceof Error && depth < MAX_CAUSES ? plainError(error.cause, depth + 1) : undefined
  const plain = new Error(String(error.message), inner === undefined ? undefined : { cause: inner })
  plain.name = String(error.name)
  plain.stack = String(error.stack ?? `${plain.name}: ${plain.message}`)
  return plain
}

const errorBytes = (error: Error): number => {
  let bytes = 0
  for (let at: unknown = error; at instanceof Error; at = at.cause) {
    bytes += LINE_BYTES + 2 * (at.name.length + at.message.length + (at.stack?.length ?? 0))
  }
  return bytes
}

const setOwn = (record: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true })
  else record[key] = value
}

/**
 * An Error as a console shows it: its stack, the fields it carries besides
 * (a `Data.TaggedError`'s), and its `cause`, a few levels deep.
 */
const renderError = (error: Error, depth: number): string => {
  let text = String(error.stack ?? `${error.name}: ${error.message}`)
  const fields = Object.keys(error).filter((key) => key !== "cause" && key !== "stack" && key !== "message")
  if (fields.length > 0) {
    text += ` { ${fields
      .slice(0, MAX_ENTRIES)
      .map((key) => `${key}: ${describe((error as unknown as Record<string, unknown>)[key], 1)}`)
      .join(", ")}${fields.length > MAX_ENTRIES ? ", …" : ""} }`
  }
  const cause: unknown = error.cause
  if (cause !== undefined && depth < MAX_CAUSES) {
    text += `\n[cause]: ${cause instanceof Error ? renderError(cause, depth + 1) : describe(cause, 1)}`
  }
  return text
}

/**
 * A short rendering of a value that has no data form: an Error's stack, a
 * function's name, what a class's own `toString` says (a `Redacted` shows
 * `<redacted>`), or the first fields of an instance, two levels deep.
 */
const render = (value: unknown): string => {
  let text: string
  try {
    text = value instanceof Error ? renderError(value, 0) : describe(value, 0)
  } catch {
    text = "[a value that could not be read]"
  }
  return text.length > MAX_RENDERING ? `${text.slice(0, MAX_RENDERING)}…` : text
}

/** Entries shown per object or list in a rendering. */
const MAX_ENTRIES = 10

const describe = (value: unknown, depth: number): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value)
    case "bigint":
      return `${value}n`
    case "function":
      return `[Function${value.name === "" ? " (anonymous)" : `: ${value.name}`}]`
    case "object":
      break
    default:
      return String(value)
  }
  if (value === null) return "null"
  const own = (value as { toString?: unknown }).toString
  if (typeof own === "function" && own !== Object.prototype.toString && own !== Array.prototype.toString) {
    // A typed array's toString would list every element.
    if (!ArrayBuffer.isView(value)) return String(own.call(value))
  }
  const name = constructorName(value)
  if (depth >= 2) return `${name} {…}`
  if (value instanceof DataView || value instanceof ArrayBuffer) return `${name}(${value.byteLength} bytes)`
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const list = value as ArrayLike<unknown>
    const items: Array<string> = []
    for (let i = 0; i < Math.min(list.length, MAX_ENTRIES); i++) items.push(describe(list[i], depth + 1))
    return `${name}(${list.length}) [${items.join(", ")}${list.length > MAX_ENTRIES ? ", …" : ""}]`
  }
  if (value instanceof Map || value instanceof Set) {
    const items: Array<string> = []
    for (const item of value instanceof Map ? value.entries() : value.values()) {
      if (items.length === MAX_ENTRIES) break
      items.push(describe(item, depth + 1))
    }
    return `${name}(${value.size}) [${items.join(", ")}${value.size > MAX_ENTRIES ? ", …" : ""}]`
  }
  const keys = Object.keys(value)
  const fields = keys.slice(0, MAX_ENTRIES).map((key) => `${key}: ${describe((value as Record<string, unknown>)[key], depth + 1)}`)
  return `${name === "Object" ? "" : `${name} `}{ ${fields.join(", ")}${keys.length > MAX_ENTRIES ? ", …" : ""} }`
}

const constructorName = (value: object): string => {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === "string" && name !== "" ? name : "Object"
}
