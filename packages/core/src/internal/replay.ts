/**
 * Replay: what a cached body writes through Effect's `Console` and its log
 * lines, recorded on a miss and written again on every hit, in order, as
 * Streamlit replays the `st.*` elements of a cached function.
 *
 * Recording wraps the caller's own Console and adds a logger, so the
 * computing caller still sees everything as it happens. A nested cached
 * call's output, replayed or written, goes through the outer body's Console
 * and loggers, so the outer entry records it too.
 *
 * A record is plain data (a Console method and its arguments, or a log
 * level, message and cause): the stores of a later issue persist it beside
 * the value.
 */
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"

/** One thing a body wrote. @internal */
export type Line =
  | { readonly _tag: "Console"; readonly method: ConsoleMethod; readonly args: ReadonlyArray<unknown> }
  | {
      readonly _tag: "Log"
      readonly level: LogLevel.LogLevel
      readonly message: ReadonlyArray<unknown>
      readonly cause: Cause.Cause<unknown> | undefined
    }

type ConsoleMethod = Exclude<keyof Console.Console, symbol>

/** Console methods that write; `clear` and the counters/timers keep state of their own and are passed through unrecorded. */
const recordedMethods: ReadonlyArray<ConsoleMethod> = [
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
  /** Inside a log call: Console writes are the loggers' own output, not the body's. */
  inLog = false
  /**
   * Set when the computation ends. Fibers the body forked (a keep-alive, a
   * refresh, a release) inherit its Console and loggers and may write later:
   * that is not the computation's output, and the entry's lines stay as stored.
   */
  closed = false

  push(line: Line): void {
    if (this.closed) return
    this.lines.push(line)
    this.bytes += estimateBytes(line)
  }
}

/**
 * The body, recording what it writes into `recorder` while still writing it
 * through the caller's Console and loggers.
 *
 * @internal
 */
export const recording = <A, E, R>(
  body: Effect.Effect<A, E, R>,
  recorder: Recorder,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A, E, R> => {
  // Loggers run one after another, in the set's order, within one log call.
  // The first and last loggers here bracket that call: what the others write
  // to the Console meanwhile (Effect's default logger prints through it) is
  // the log line itself, recorded once, as a log line.
  const opening = Logger.make(() => {
    recorder.inLog = true
  })
  const closing = Logger.make(({ logLevel, message, cause }) => {
    recorder.inLog = false
    recorder.push({
      _tag: "Log",
      level: logLevel,
      message: Array.isArray(message) ? [...message] : [message],
      cause: cause.reasons.length === 0 ? undefined : cause
    })
  })
  const loggers = new Set<Logger.Logger<unknown, unknown>>([opening, ...fiber.getRef(Logger.CurrentLoggers), closing])
  return body.pipe(
    Effect.provideService(Console.Console, recordingConsole(fiber.getRef(Console.Console), recorder)),
    Effect.provideService(Logger.CurrentLoggers, loggers)
  )
}

const recordingConsole = (target: Console.Console, recorder: Recorder): Console.Console => {
  const console = Object.create(target) as Record<string, unknown>
  for (const method of recordedMethods) {
    console[method] = (...args: ReadonlyArray<unknown>) => {
      if (!recorder.inLog) recorder.push({ _tag: "Console", method, args })
      ;(target[method] as (...args: ReadonlyArray<unknown>) => void)(...args)
    }
  }
  return console as unknown as Console.Console
}

/**
 * Writes recorded lines again, through the hit caller's Console and loggers.
 *
 * @internal
 */
export const replay = (lines: ReadonlyArray<Line>): Effect.Effect<void> =>
  Effect.forEach(
    lines,
    (line) =>
      line._tag === "Console"
        ? Console.consoleWith((console) =>
            Effect.sync(() => (console[line.method] as (...args: ReadonlyArray<unknown>) => void)(...line.args))
          )
        : Effect.logWithLevel(line.level as LogLevel.Severity)(...line.message, ...(line.cause === undefined ? [] : [line.cause])),
    { discard: true }
  )

/** A rough size of a line in memory: strings at two bytes a unit, other arguments at a flat 16 bytes. */
const estimateBytes = (line: Line): number => {
  let bytes = 32
  for (const part of line._tag === "Console" ? line.args : line.message) {
    bytes += typeof part === "string" ? 2 * part.length : 16
  }
  if (line._tag === "Log" && line.cause !== undefined) bytes += 2 * Cause.pretty(line.cause).length
  return bytes
}
