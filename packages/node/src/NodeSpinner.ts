/**
 * `NodeSpinner` is a {@link CacheReporter.Reporter} that shows, on stderr,
 * which cached function the program is waiting for: Streamlit's
 * "Running load_data(...)" spinner, for the terminal.
 *
 * **Contract**
 *
 * - Only computations worth a line are shown: the outermost cached call
 *   (`computation.nested === false`), a miss (a background refresh makes
 *   nobody wait), with a text (`computation.spinner` is not `undefined`).
 * - Nothing is written for a computation that ends before the delay (0.5 s by
 *   default). The delay and the frames are sleeps on Effect's `Clock`, in
 *   fibers forked when a computation starts, so `TestClock` drives them; the
 *   fibers are interrupted when the computation ends.
 * - On a TTY, one line is drawn and redrawn in place (`\r`, then erase to the
 *   end of the line): a frame, the text of the oldest computation shown, its
 *   elapsed time with `showTime`, and `(+n more)` when other computations are
 *   past their delay too. The line is cut to the terminal's width. When the
 *   last computation shown ends the line is erased, leaving the cursor at the
 *   start of an empty line, as before the spinner; also when the layer
 *   closes.
 * - On anything else (a pipe, a file, CI logs): one line when a computation
 *   passes the delay (its text) and one when it ends (`text: done in 1.2 s`,
 *   `failed after`, `interrupted after`), for every computation shown.
 * - The reporter never fails and never waits for the terminal: a write that
 *   throws is ignored.
 *
 * Other output written to the same terminal while the spinner is drawn lands
 * after the spinner's text on its line; the next frame draws on the line
 * below. Log to another stream, or keep the spinner for quiet programs.
 *
 * @since 0.1.0
 */
import * as CacheReporter from "@recall/core/CacheReporter"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * Where the spinner writes: `process.stderr`, or anything shaped like it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Output {
  /** `true` for a terminal: one line redrawn in place. Otherwise plain lines. */
  readonly isTTY?: boolean | undefined
  /** The terminal's width; the line is cut to fit. Read on every frame, so resizes apply. */
  readonly columns?: number | undefined
  readonly write: (text: string) => unknown
}

/**
 * Options of {@link make} and {@link layerWith}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Where to write. Whether it is a terminal (`isTTY`) is read once, when the
   * reporter is made.
   *
   * Default: `process.stderr`, so the spinner stays out of piped stdout.
   */
  readonly stream?: Output | undefined
  /**
   * How long a computation runs before it is shown. Computations that end
   * sooner write nothing, so fast misses do not flicker. `0` shows every
   * computation (in plain mode, two lines each: noisy).
   *
   * Default: 500 ms.
   */
  readonly delay?: Duration.Input | undefined
  /**
   * Time between two frames on a terminal, at least 10 ms. Each frame is one
   * write of one line; below 50 ms the terminal redraws more than anyone can
   * see.
   *
   * Default: 80 ms.
   */
  readonly interval?: Duration.Input | undefined
}

/**
 * Thrown by {@link make} and {@link layerWith} when an option is invalid,
 * before anything is written. Its own tag: core's `InvalidOptionsError` is
 * about a cached function's options and has other fields.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidSpinnerOptionsError extends Schema.TaggedError<InvalidSpinnerOptionsError>()("InvalidSpinnerOptionsError", {
  option: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid option \`${this.option}\` for NodeSpinner: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

interface Settings {
  readonly stream: Output | undefined
  readonly delayMillis: number
  readonly intervalMillis: number
}

const optionNames: ReadonlySet<string> = new Set(["stream", "delay", "interval"])

const describe = (value: unknown): string =>
  typeof value === "string" ? JSON.stringify(value) : value === null ? "null" : typeof value === "object" ? "an object" : String(value)

const millisOf = (option: string, input: unknown, fallback: number, minimum: number): number => {
  if (input === undefined) return fallback
  let duration: Option.Option<Duration.Duration>
  try {
    duration = typeof input === "number" && Number.isNaN(input) ? Option.none() : Duration.fromInput(input as Duration.Input)
  } catch {
    duration = Option.none()
  }
  if (Option.isNone(duration)) {
    throw new InvalidSpinnerOptionsError({
      option,
      reason: `cannot read ${describe(input)} as a duration. Use a number of milliseconds or a string such as "500 millis".`
    })
  }
  const millis = Duration.toMillis(duration.value)
  if (!(millis >= minimum) || !Number.isFinite(millis)) {
    throw new InvalidSpinnerOptionsError({ option, reason: `must be a finite duration of at least ${minimum} ms, got ${describe(input)}.` })
  }
  return millis
}

const settingsOf = (options: Options | undefined): Settings => {
  if (options === undefined) return { stream: undefined, delayMillis: 500, intervalMillis: 80 }
  if (typeof options !== "object" || options === null) {
    throw new InvalidSpinnerOptionsError({ option: "options", reason: `must be an object or undefined, got ${describe(options)}.` })
  }
  for (const name of Object.keys(options)) {
    if (!optionNames.has(name)) {
      throw new InvalidSpinnerOptionsError({ option: name, reason: "is not an option. The options are `stream`, `delay` and `interval`." })
    }
  }
  const stream = options.stream
  if (stream !== undefined && (typeof stream !== "object" || stream === null || typeof stream.write !== "function")) {
    throw new InvalidSpinnerOptionsError({
      option: "stream",
      reason: `must have a \`write(text)\` method, as process.stderr has, got ${describe(stream)}.`
    })
  }
  return {
    stream,
    delayMillis: millisOf("delay", options.delay, 500, 0),
    intervalMillis: millisOf("interval", options.interval, 80, 10)
  }
}

// ---------------------------------------------------------------------------
// Reporter
// ---------------------------------------------------------------------------

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"] as const

/** Back to the start of the line, and erase it. */
const eraseLine = "\r\x1b[K"

/** One computation the spinner may show, from `started` to `ended`. */
interface Running {
  readonly computation: CacheReporter.Computation
  /** The text, on one line. */
  readonly text: string
  readonly startedAt: number
  /** Past the delay: on the line (TTY) or announced (plain). */
  shown: boolean
  ended: boolean
  /** Sleeps for the delay, then shows it. */
  timer: Fiber.Fiber<void> | undefined
}

const isShown = (computation: CacheReporter.Computation): boolean =>
  !computation.nested && computation.kind === "miss" && computation.spinner !== undefined

// Control characters (a newline in a custom text) would break the line the spinner redraws.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const oneLine = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ")

const endings: Record<CacheReporter.Outcome, string> = {
  success: "done in",
  failure: "failed after",
  interrupted: "interrupted after"
}

const now = Clock.currentTimeMillis

/**
 * A spinner reporter writing to `options.stream`, whose fibers live in the
 * current `Scope`: closing it interrupts them and erases the line.
 *
 * **Details**
 *
 * Use it to choose the stream or the timing, or to drive the spinner in a
 * test: with a fake stream and `TestClock`, call the reporter's `started`
 * and `ended` yourself and read what was written.
 *
 * @example
 * ```ts
 * import { CacheReporter, NodeSpinner } from "@recall/node"
 * import { Effect, Layer } from "effect"
 *
 * const written: Array<string> = []
 * const spinner = Layer.effect(
 *   CacheReporter.CacheReporter,
 *   NodeSpinner.make({ stream: { isTTY: false, write: (text) => written.push(text) }, delay: "1 second" })
 * )
 * ```
 *
 * @throws InvalidSpinnerOptionsError
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: Options): Effect.Effect<CacheReporter.Reporter, never, Scope.Scope> => {
  const settings = settingsOf(options)
  return Effect.gen(function* () {
    const scope = yield* Effect.scope
    const stream = settings.stream ?? process.stderr
    const interactive = stream.isTTY === true
    const running: Array<Running> = []
    /** What the line holds now: the last frame drawn, or `""` when erased. */
    let line = ""
    let frame = 0
    let ticker: Fiber.Fiber<void> | undefined
    /** Bumped whenever the ticker stops, so a ticker forked before that exits. */
    let tickerGeneration = 0
    let ticking = false

    const write = (text: string): void => {
      try {
        stream.write(text)
      } catch {
        // A closed stream: the reporter must not fail the computation.
      }
    }

    const shownNow = (): Array<Running> => running.filter((r) => r.shown)

    const draw = (at: number): void => {
      const shown = shownNow()
      const first = shown[0]
      if (first === undefined) return erase()
      const time = first.computation.showTime ? ` (${CacheReporter.formatDuration(at - first.startedAt)})` : ""
      const more = shown.length > 1 ? ` (+${shown.length - 1} more)` : ""
      let next = `${frames[frame % frames.length]} ${first.text}${time}${more}`
      // A line as wide as the terminal wraps, and `\r` no longer reaches its start.
      const columns = stream.columns
      if (columns !== undefined && columns > 1) {
        const characters = Array.from(next)
        if (characters.length >= columns) next = characters.slice(0, columns - 1).join("")
      }
      line = next
      write(eraseLine + next)
    }

    const erase = (): void => {
      if (line === "") return
      line = ""
      write(eraseLine)
    }

    const tick = (generation: number): Effect.Effect<void> =>
      Effect.sleep(settings.intervalMillis).pipe(
        Effect.andThen(now),
        Effect.flatMap((at) => {
          if (generation !== tickerGeneration) return Effect.void
          if (shownNow().length === 0) {
            stopTicker()
            return Effect.void
          }
          frame++
          draw(at)
          return tick(generation)
        })
      )

    const startTicker: Effect.Effect<void> = Effect.suspend(() => {
      if (ticking) return Effect.void
      ticking = true
      const generation = tickerGeneration
      return Effect.flatMap(Effect.forkIn(tick(generation), scope, { startImmediately: true }), (fiber) =>
        Effect.sync(() => {
          if (generation === tickerGeneration) ticker = fiber
        })
      )
    })

    const stopTicker = (): Fiber.Fiber<void> | undefined => {
      const fiber = ticker
      ticking = false
      tickerGeneration++
      ticker = undefined
      return fiber
    }

    const show = (entry: Running): Effect.Effect<void> =>
      Effect.flatMap(now, (at) => {
        if (entry.ended) return Effect.void
        entry.shown = true
        if (!interactive) {
          write(`${entry.text}\n`)
          return Effect.void
        }
        draw(at)
        return startTicker
      })

    const find = (computation: CacheReporter.Computation): number => {
      const index = running.findIndex((r) => r.computation === computation)
      if (index !== -1) return index
      // A reporter should get the object `started` got; if not, the same call.
      return running.findIndex(
        (r) =>
          r.computation.function === computation.function &&
          r.computation.arguments === computation.arguments &&
          r.computation.cache === computation.cache
      )
    }

    // Closed: the line is erased and nothing is drawn again, but computations that end later (a
    // DataCache layer closing after this one interrupts them) still get their end line off a terminal.
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        stopTicker()
        erase()
      })
    )

    const reporter: CacheReporter.Reporter = {
      started: (computation) => {
        if (!isShown(computation)) return Effect.void
        return Effect.flatMap(now, (at) => {
          const entry: Running = {
            computation,
            text: oneLine(computation.spinner ?? ""),
            startedAt: at,
            shown: false,
            ended: false,
            timer: undefined
          }
          running.push(entry)
          // Showing is one step, so an interrupt cannot land between marking the ticker and forking it.
          const reveal = Effect.sleep(settings.delayMillis).pipe(Effect.andThen(Effect.uninterruptible(Effect.suspend(() => show(entry)))))
          return Effect.flatMap(Effect.forkIn(reveal, scope, { startImmediately: true }), (fiber) =>
            Effect.sync(() => {
              entry.timer = fiber
            })
          )
        })
      },
      ended: (computation, outcome, durationMillis) =>
        Effect.suspend(() => {
          if (!isShown(computation)) return Effect.void
          const index = find(computation)
          if (index === -1) return Effect.void
          const entry = running[index]!
          running.splice(index, 1)
          entry.ended = true
          const fibers: Array<Fiber.Fiber<void>> = entry.timer === undefined ? [] : [entry.timer]
          if (entry.shown) {
            if (!interactive) {
              write(`${entry.text}: ${endings[outcome]} ${CacheReporter.formatDuration(durationMillis)}\n`)
            } else if (closed || shownNow().length === 0) {
              const fiber = stopTicker()
              if (fiber !== undefined) fibers.push(fiber)
              erase()
            } else {
              return Effect.flatMap(now, (at) => {
                draw(at)
                return Fiber.interruptAll(fibers)
              })
            }
          }
          return fibers.length === 0 ? Effect.void : Fiber.interruptAll(fibers)
        })
    }
    return reporter
  })
}

/**
 * The terminal spinner on `process.stderr` with a custom delay or frame
 * interval, or on another stream.
 *
 * @example
 * ```ts
 * import { DataCache, NodeSpinner } from "@recall/node"
 * import { Effect } from "effect"
 *
 * const load = DataCache.fn("load", (city: string) => Effect.sleep("2 seconds").pipe(Effect.as(city.length)))
 *
 * // Shown after 2 s rather than 0.5 s.
 * const program = load("Oslo").pipe(Effect.provide([DataCache.layerMemory(), NodeSpinner.layerWith({ delay: "2 seconds" })]))
 * ```
 *
 * @throws InvalidSpinnerOptionsError
 * @category layers
 * @since 0.1.0
 */
export const layerWith = (options: Options): Layer.Layer<never> => Layer.effect(CacheReporter.CacheReporter, make(options))

/**
 * The terminal spinner: provides {@link CacheReporter.CacheReporter}, showing
 * on `process.stderr` each outermost cached computation that runs longer
 * than 0.5 s.
 *
 * **Details**
 *
 * The text is the function's `spinner` option (default
 * `"Running name(...)"`; `spinner: false` hides the function), with the
 * elapsed time when `showTime` is set. When stderr is not a terminal, each
 * such computation gets a start line and an end line instead.
 *
 * **Gotchas**
 *
 * Layers are memoized by reference: providing `NodeSpinner.layer` in two
 * places of one program builds one spinner. It replaces any other reporter
 * (the default one logs at debug level); combine reporters with a
 * `CacheReporter.Reporter` of your own that calls both.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { DataCache, NodeSpinner } from "@recall/node"
 * import { Effect } from "effect"
 *
 * const loadTrips = DataCache.fn({ name: "loadTrips", showTime: true }, (city: string) =>
 *   Effect.sleep("2 seconds").pipe(Effect.as([city])))
 *
 * // stderr shows "⠹ Running loadTrips(...) (1.2 s)" until the trips are loaded.
 * NodeRuntime.runMain(loadTrips("Oslo").pipe(Effect.provide([DataCache.layerMemory(), NodeSpinner.layer])))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.effect(CacheReporter.CacheReporter, make())
