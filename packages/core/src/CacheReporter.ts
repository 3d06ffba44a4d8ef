/**
 * `CacheReporter` is told when a cached function starts computing and when it
 * ends: the hook behind Streamlit's "Running load_data(...)" spinner.
 *
 * **Contract**
 *
 * - `started` is called when a body starts to run: on a miss, or for a
 *   background refresh (`staleWhileRevalidate`). Hits, and callers that wait
 *   for another caller's computation, are not reported.
 * - `ended` is called exactly once for every `started`, with the same
 *   `Computation` object (so a reporter may key its state by it), how the
 *   body ended and how long it ran on Effect's `Clock`, whatever the exit: a
 *   value, a failure or an interrupt.
 * - Both run in the computation's fiber (in the layer's scope, with the
 *   starting caller's services) and must not fail; keep them
 *   quick, as the computation waits for them.
 * - `computation.nested` is true when the computation started inside another
 *   cached function's body: a spinner shows only the outermost one.
 *
 * The default reporter logs both events at debug level. Every computation is
 * also traced as a span (`recall.DataCache.compute`,
 * `recall.ResourceCache.compute`) whatever the reporter. `@recall/node`
 * provides a terminal spinner (`NodeSpinner.layer`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"

/**
 * One computation of a cached function, as the reporter sees it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Computation {
  /** The cached function's name. */
  readonly function: string
  /** The cache it belongs to. */
  readonly cache: "DataCache" | "ResourceCache"
  /** A short, printable summary of the key arguments (`_` fields left out), at most about 60 characters; made when first read. */
  readonly arguments: string
  /** `"miss"`: a caller waits for it. `"refresh"`: a background refresh of a stale value; nobody waits. */
  readonly kind: "miss" | "refresh"
  /**
   * The text to show while it runs: the function's `spinner` option, by
   * default `"Running name(...)"` (`"Running name()"` for a call without
   * arguments); `undefined` when the option is `false`.
   */
  readonly spinner: string | undefined
  /** The function's `showTime` option: show the elapsed time next to the text. */
  readonly showTime: boolean
  /** Whether it started inside another cached function's body. */
  readonly nested: boolean
}

/**
 * How a computation ended.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome = "success" | "failure" | "interrupted"

/**
 * What a reporter does with the start and the end of each computation.
 *
 * @category models
 * @since 0.1.0
 */
export interface Reporter {
  readonly started: (computation: Computation) => Effect.Effect<void>
  readonly ended: (computation: Computation, outcome: Outcome, durationMillis: number) => Effect.Effect<void>
}

/**
 * Logs each start and end at debug level, annotated with the function name.
 * Visible with `Logger.minimumLogLevel` at `"Debug"` or lower.
 *
 * @category reporters
 * @since 0.1.0
 */
export const debugLogs: Reporter = {
  started: (computation) =>
    whenDebug(
      () => `${computation.kind === "refresh" ? "refreshing" : "computing"} ${computation.function}(${computation.arguments})`,
      computation
    ),
  ended: (computation, outcome, durationMillis) =>
    whenDebug(() => `${computation.function}(${computation.arguments}): ${outcome} after ${formatDuration(durationMillis)}`, computation)
}

/** A debug log line, built only when debug lines are logged: a miss does not pay for a summary nobody reads. */
const whenDebug = (message: () => string, computation: Computation): Effect.Effect<void> =>
  Effect.withFiber((fiber) =>
    LogLevel.isGreaterThan(fiber.getRef(References.MinimumLogLevel), "Debug")
      ? Effect.void
      : Effect.logDebug(message()).pipe(Effect.annotateLogs({ "recall.function": computation.function }))
  )

/**
 * The reporter recall's caches use; {@link debugLogs} unless provided.
 *
 * @example
 * ```ts
 * import { CacheReporter, DataCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const seen: Array<string> = []
 * const reporter = CacheReporter.layer({
 *   started: (c) => Effect.sync(() => seen.push(`start ${c.function}`)),
 *   ended: (c, outcome) => Effect.sync(() => seen.push(`${outcome} ${c.function}`))
 * })
 *
 * const slow = DataCache.fn("slow", (n: number) => Effect.succeed(n))
 * Effect.runPromise(slow(1).pipe(Effect.provide([DataCache.layerMemory(), reporter])))
 * ```
 *
 * @category references
 * @since 0.1.0
 */
export const CacheReporter: Context.Reference<Reporter> = Context.Reference<Reporter>("@recall/core/CacheReporter", {
  defaultValue: () => debugLogs
})

/**
 * A layer providing a reporter.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (reporter: Reporter): Layer.Layer<never> => Layer.succeed(CacheReporter, reporter)

/**
 * Reports nothing (spans are still recorded).
 *
 * @category reporters
 * @since 0.1.0
 */
export const silent: Reporter = { started: () => Effect.void, ended: () => Effect.void }

/**
 * A duration as a person reads it: `"850 ms"`, `"2.4 s"`, `"3 min 05 s"`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const formatDuration = (millis: number): string => {
  if (millis < 1000) return `${Math.round(millis)} ms`
  if (millis < 60_000) return `${(millis / 1000).toFixed(1)} s`
  const minutes = Math.floor(millis / 60_000)
  const seconds = Math.floor((millis % 60_000) / 1000)
  return `${minutes} min ${String(seconds).padStart(2, "0")} s`
}
