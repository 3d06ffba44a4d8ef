/**
 * `ResourceCache` is the `st.cache_resource` of Effect: one shared instance
 * per key (a connection pool, a model, a client), with scoped release.
 *
 * **Contract**
 *
 * - Keys, `ttl`, `maxEntries`, single flight, `invalidate`, `clear`, stats,
 *   `staleWhileRevalidate`, replay and reporting are DataCache's
 *   ({@link CachedFunction}); the engine under both is one.
 * - Values are shared by reference: every caller gets the same instance, and
 *   nothing is copied.
 * - The body may acquire with `Effect.acquireRelease`: each computation runs
 *   in a `Scope` of its own, kept with the instance. That scope is closed
 *   (the release runs) exactly once, when the entry leaves the cache for any
 *   reason: LRU eviction, `ttl`, `invalidate`, `clear`, a false or failed
 *   `validate`, replacement by a background refresh, or the layer's scope
 *   closing. Releases are independent: each runs in a fiber of its own, so
 *   one that hangs delays only its entry, and what waits for it:
 *   `invalidate`, `clear` and the end of a `use` wait (interruptibly) for
 *   the releases they made due, and closing the layer waits for every
 *   release, so a release that never ends keeps the layer's close (and a
 *   `ManagedRuntime`'s `dispose`) waiting: bound one that can hang with
 *   `Effect.timeout` inside it. A body that fails or is
 *   interrupted after acquiring (the layer closed) releases
 *   what it acquired at once. A release that fails is logged and the other
 *   entries are still released.
 * - Borrowing: `fn.use(...args, (resource) => effect)` and `fn.borrow(...args)`
 *   (scoped) hold the instance; a release that falls due while it is held
 *   waits for the last borrower, as Effect's `RcMap` does. A plain call
 *   returns the instance without holding it (as Streamlit does): the cache
 *   may release it at any later moment.
 * - `validate` runs on each hit from the cache (not on the computing call,
 *   nor for callers that waited for it), while the instance is held; `false`
 *   or a failure removes the entry, releases it and computes a new one.
 * - A clear or invalidate during a computation wins: the new instance is not
 *   stored, and is released once its callers' borrows end (at once for plain
 *   calls).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type {
  CommonOptions,
  FunctionStats,
  GeneratorBody,
  InvalidateArgs,
  KeyErrorOf,
  LookupArgs,
  Mistake,
  Stats,
  TtlCheck,
  UnknownOption
} from "./CachedFunction.ts"
import type { SchemaChecks } from "./DataCache.ts"
import * as Hasher from "./Hasher.ts"
import * as Cache from "./internal/cache.ts"
import * as Callable from "./internal/callable.ts"
import * as Calls from "./internal/calls.ts"
import * as Definition from "./internal/definition.ts"
import * as Face from "./internal/face.ts"
import * as Operations from "./internal/operations.ts"
import * as Validate from "./internal/validate.ts"

const TypeId = "~@recall/core/ResourceCache" as const

/**
 * Options of a ResourceCache function: the {@link CommonOptions} of every
 * cached function, and `validate`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<A> extends CommonOptions {
  /**
   * Checks a cached instance before a hit returns it (a ping, an `isOpen`).
   * `false` or a failure removes the entry, releases the instance and
   * computes a new one for this caller. The instance is held while the check
   * runs, so it is not released under it. It does not run on the call that
   * computed the instance, nor for callers that waited for that computation.
   *
   * Default: none. Cost: the check runs on every hit, which is then no
   * longer synchronous, and waits for it: a check that never ends keeps its
   * caller waiting (bound a ping with `Effect.timeout`; a timeout's failure
   * counts as invalid).
   */
  readonly validate?: ((resource: NoInfer<A>) => Effect.Effect<boolean, unknown>) | undefined
}

/**
 * Rejects option names that {@link Options} does not have: a typo (named
 * with the nearest known names, as DataCache's), or a DataCache option such
 * as `copy`, which says why a ResourceCache does not take it.
 *
 * @category models
 * @since 0.1.0
 */
export type UnknownOptions<O> = {
  readonly [K in Exclude<keyof O, keyof Options<unknown>>]: K extends "value" | "copy" | "cacheIf" | "maxBytes"
    ? Mistake<`${K} is a DataCache option: a ResourceCache shares one instance by reference, so it neither copies, encodes nor sizes values`>
    : UnknownOption<K, "ResourceCache", keyof Options<unknown>>
}

/**
 * Every compile-time check of {@link fn}'s options.
 *
 * @category models
 * @since 0.1.0
 */
export type OptionChecks<O, Args extends ReadonlyArray<unknown>> = SchemaChecks<Omit<O, "value">, Args, unknown> &
  UnknownOptions<O> &
  TtlCheck<O>

/**
 * The arguments of `use`: the function's arguments, then the body. Optional
 * trailing parameters may be left out before the body, as in a call: for
 * `(dsn: string, opts?: Opts) =>`, both `use(dsn, body)` and
 * `use(dsn, opts, body)` type-check.
 *
 * @category models
 * @since 0.1.0
 */
export type UseArguments<Args extends ReadonlyArray<unknown>, A, B, E2, R2> = [
  ...CallArities<Args>,
  body: (resource: A) => Effect.Effect<B, E2, R2>
]

/**
 * Every argument list a call of a function with parameters `Args` can pass:
 * one tuple per number of optional trailing parameters given. A rest
 * parameter stays as it is.
 *
 * @category models
 * @since 0.1.0
 */
export type CallArities<Args extends ReadonlyArray<unknown>, Given extends ReadonlyArray<unknown> = []> = number extends Args["length"]
  ? [...Given, ...Args]
  : Args extends readonly []
    ? Given
    : Args extends readonly [infer Head, ...infer Tail]
      ? CallArities<Tail, [...Given, Head]>
      : Args extends readonly [(infer Head)?, ...infer Tail]
        ? Given | CallArities<Tail, [...Given, Head]>
        : Given

/**
 * A cached resource function: call it like the original; it needs a
 * {@link ResourceCache}.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResourceFunction<
  Args extends ReadonlyArray<unknown>,
  A,
  E,
  R,
  Lookup extends ReadonlyArray<unknown> = InvalidateArgs<Args>,
  LookupError = never
> {
  /** The shared instance, not held: the cache may release it later. Use {@link ResourceFunction.use} to hold it. */
  (...args: Args): Effect.Effect<A, E, R | ResourceCache>
  /**
   * Runs `body` with the instance, held until `body` ends: a release that
   * falls due meanwhile (eviction, ttl, invalidate, clear) waits for it.
   */
  readonly use: <B, E2, R2>(...argsAndBody: UseArguments<Args, A, B, E2, R2>) => Effect.Effect<B, E | E2, R | R2 | ResourceCache>
  /** The instance, held until the caller's scope closes. */
  readonly borrow: (...args: Args) => Effect.Effect<A, E, R | ResourceCache | Scope.Scope>
  /** The function identity, as DataCache's. */
  readonly id: string
  readonly name: string
  /** Removes the entry of these arguments; its release runs once no borrower holds it. */
  readonly invalidate: (...args: Lookup) => Effect.Effect<void, LookupError, ResourceCache>
  /** Whether a live entry exists for these arguments; does not count as use. */
  readonly has: (...args: Lookup) => Effect.Effect<boolean, LookupError, ResourceCache>
  /** Removes every entry of this function. */
  readonly clear: Effect.Effect<void, never, ResourceCache>
  readonly stats: Effect.Effect<FunctionStats, never, ResourceCache>
}

/**
 * A resource function bound to one {@link ResourceCache} by {@link bind}: the
 * same calls, needing no `ResourceCache` from the caller.
 *
 * `R` is what the body needs. The bound cache is provided to the body (and to
 * `use`'s body) too, so one that calls other resource functions needs no
 * `ResourceCache` from the caller: the calls' `R` is `R` without
 * `ResourceCache`. A `DataCache` the body needs stays in `R`.
 *
 * @category models
 * @since 0.1.0
 */
export interface BoundFunction<Args extends ReadonlyArray<unknown>, A, E, R, Lookup extends ReadonlyArray<unknown>, LookupError> {
  (...args: Args): Effect.Effect<A, E, Exclude<R, ResourceCache>>
  readonly use: <B, E2, R2>(...argsAndBody: UseArguments<Args, A, B, E2, R2>) => Effect.Effect<B, E | E2, Exclude<R | R2, ResourceCache>>
  readonly borrow: (...args: Args) => Effect.Effect<A, E, Exclude<R, ResourceCache> | Scope.Scope>
  readonly id: string
  readonly name: string
  readonly invalidate: (...args: Lookup) => Effect.Effect<void, LookupError>
  readonly has: (...args: Lookup) => Effect.Effect<boolean, LookupError>
  readonly clear: Effect.Effect<void>
  readonly stats: Effect.Effect<FunctionStats>
}

export type { Counters, FunctionStats, Stats } from "./CachedFunction.ts"
export { CacheClosedError, CycleError, InvalidOptionsError } from "./CachedFunction.ts"

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/**
 * The state a `ResourceCache` layer holds; reach it through the module
 * functions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Service {
  readonly [TypeId]: typeof TypeId
  /** @internal */
  readonly cache: Cache.Cache
}

/**
 * The service holding every cached resource. Closing the scope of the layer
 * that built it releases every instance (a borrowed one when its borrow
 * ends).
 *
 * @category services
 * @since 0.1.0
 */
export class ResourceCache extends Context.Service<ResourceCache, Service>()("@recall/core/ResourceCache") {}

/**
 * Options of {@link layerMemory}.
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions {
  /**
   * How often a background fiber removes (and releases) expired entries of
   * functions that are not being called. Default: 1 minute.
   */
  readonly sweepInterval?: Duration.Input | undefined
  /**
   * Whether functions that do not set their own `replay` option record what
   * their body writes and write it again on every hit. Default: `false`: a
   * resource's output is about acquiring it ("opened connection #1"), and
   * replaying it would make operational logs lie.
   */
  readonly replay?: boolean | undefined
}

/**
 * An in-memory `ResourceCache`.
 *
 * **Details**
 *
 * Each build of the layer is a fresh, empty cache whose instances live until
 * the layer's scope closes at the latest. Provide one per session (an HTTP
 * session, a test) to give each its own resources: Streamlit's
 * `scope="session"`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (options?: LayerOptions): Layer.Layer<ResourceCache> => {
  const { replay, sweepMillis } = Definition.invalidOptions(() =>
    Validate.layerOptions("ResourceCache.layerMemory", options, layerOptionNames)
  )
  return Layer.effect(ResourceCache, make(sweepMillis, replay ?? false))
}

const layerOptionNames: ReadonlySet<string> = new Set<keyof LayerOptions>(["sweepInterval", "replay"])

function make(sweepMillis: number, replay: boolean): Effect.Effect<Service, never, Scope.Scope> {
  return Effect.map(Cache.make({ kind: "ResourceCache", maxBytes: Infinity, sweepMillis, passthrough: false, replay }), (cache) =>
    ResourceCache.of({ [TypeId]: TypeId, cache })
  )
}

/**
 * The in-memory `ResourceCache` with the default options, as one value:
 * layers are memoized by reference, so providing it in two places of one
 * program builds one cache.
 *
 * @example
 * ```ts
 * import { ResourceCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * let opened = 0
 * const connect = ResourceCache.fn("connect", (dsn: string) =>
 *   Effect.acquireRelease(
 *     Effect.sync(() => ({ dsn, id: ++opened })),
 *     (conn) => Effect.log(`closing ${conn.dsn}`)
 *   ))
 *
 * const program = Effect.gen(function*() {
 *   const a = yield* connect("postgres://db")
 *   const b = yield* connect("postgres://db")
 *   return a === b // true: one instance
 * })
 *
 * // Closing the layer's scope (here, at the end of the program) releases it.
 * Effect.runPromise(program.pipe(Effect.provide(ResourceCache.layer)))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<ResourceCache> = layerMemory()

// ---------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------

const optionNames: ReadonlySet<string> = new Set<keyof Options<unknown>>([
  "name",
  "version",
  "key",
  "ttl",
  "staleWhileRevalidate",
  "maxEntries",
  "hashers",
  "validate",
  "spinner",
  "showTime",
  "replay"
])

/** One instance in the cache: its scope, and who holds it. */
interface Resource {
  readonly value: unknown
  readonly scope: Scope.Closeable
  /** Borrows in progress. */
  holds: number
  /** No longer in the table (or never stored): released when the last borrow ends. */
  left: boolean
  released: boolean
}

/** One borrow: the resource it holds, once it holds one. */
interface Borrow {
  resource: Resource | undefined
  /** Ended (its scope closed): it holds nothing from now on, even if its call returns later. */
  ended: boolean
}

const release = (resource: Resource): Effect.Effect<void> | undefined => {
  if (resource.released) return undefined
  resource.released = true
  return Scope.close(resource.scope, Exit.void)
}

/** ResourceCache's face: the table keeps the instance with its scope and reference count. */
const faceOf = <A>(options: Options<A>): Definition.FaceOf<A, Resource> => {
  const attach = (resource: Resource, hold: Face.Hold | undefined) => {
    if (hold === undefined) return
    const borrow = hold as Borrow
    if (borrow.ended || borrow.resource !== undefined) return
    borrow.resource = resource
    resource.holds++
  }
  return {
    face: {
      kind: "ResourceCache",
      keep: (value, scope, hold) => {
        const resource: Resource = { value, scope, holds: 0, left: false, released: false }
        attach(resource, hold)
        return { _tag: "Kept", stored: resource, bytes: 0, value }
      },
      load: (resource, hold) => {
        if (resource.released) return Face.unusable
        attach(resource, hold)
        return resource.value as A
      },
      lifecycle: {
        leave: (resource) => {
          resource.left = true
          return resource.holds === 0 ? release(resource) : undefined
        },
        check: options.validate,
        hold: (): Borrow => ({ resource: undefined, ended: false }),
        unhold: (hold) => {
          const borrow = hold as Borrow
          borrow.ended = true
          const resource = borrow.resource
          if (resource === undefined) return undefined
          borrow.resource = undefined
          resource.holds--
          return resource.left && resource.holds === 0 ? release(resource) : undefined
        }
      },
      // A shared instance (a connection, a model) has no bytes to store: a ResourceCache never reaches a store.
      persistence: undefined
    },
    identity: ["resource"]
  }
}

/**
 * Turns a function that returns an Effect, possibly scoped
 * (`Effect.acquireRelease`), into a cached resource: one shared instance per
 * key, released when its entry leaves the cache.
 *
 * **Details**
 *
 * A miss runs the body in a fiber of the layer's scope (with the caller's
 * services) and in a Scope of its own, which the cache keeps with the
 * instance; a caller that is interrupted stops waiting, and the instance is
 * still acquired and cached. Every
 * caller gets the same instance. Plain calls do not hold it; `use` and
 * `borrow` do. Invalid options throw `InvalidOptionsError` here.
 *
 * @example
 * ```ts
 * import { ResourceCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * interface Connection { readonly dsn: string; readonly ping: Effect.Effect<boolean>; readonly close: Effect.Effect<void> }
 * const open = (dsn: string): Effect.Effect<Connection> =>
 *   Effect.succeed({ dsn, ping: Effect.succeed(true), close: Effect.void })
 *
 * const connect = ResourceCache.fn(
 *   { name: "db", ttl: "10 minutes", maxEntries: 4, validate: (conn) => conn.ping },
 *   (dsn: string) => Effect.acquireRelease(open(dsn), (conn) => conn.close)
 * )
 *
 * const program = Effect.gen(function*() {
 *   // Held for the duration of the body: not released under it.
 *   const rows = yield* connect.use("postgres://db", (conn) => Effect.succeed([conn.dsn]))
 *   yield* connect.invalidate("postgres://db") // released now (nobody holds it)
 *   return rows
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(ResourceCache.layer)))
 * ```
 *
 * @throws InvalidOptionsError
 * @category constructors
 * @since 0.1.0
 */
export const fn: {
  // Generator bodies first: when no overload matches, the compiler reports the
  // last one's errors, and a body that returns an Effect is the common case.
  <const Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A>(
    name: string,
    body: GeneratorBody<Args, Eff, A>
  ): ResourceFunction<
    Args,
    A,
    Effect.Error<Eff> | KeyErrorOf<{}, Args>,
    Exclude<Effect.Services<Eff>, Scope.Scope>,
    InvalidateArgs<Args>,
    KeyErrorOf<{}, Args>
  >
  <const Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A, const O extends Options<NoInfer<A>> = {}>(
    options: O & Options<NoInfer<A>> & OptionChecks<O, NoInfer<Args>>,
    body: GeneratorBody<Args, Eff, A>
  ): ResourceFunction<
    Args,
    A,
    Effect.Error<Eff> | KeyErrorOf<O, Args>,
    Exclude<Effect.Services<Eff>, Scope.Scope>,
    LookupArgs<O, Args>,
    KeyErrorOf<O, Args>
  >
  <const Args extends ReadonlyArray<any>, A, E, R>(
    name: string,
    f: (...args: Args) => Effect.Effect<A, E, R>
  ): ResourceFunction<Args, A, E | KeyErrorOf<{}, Args>, Exclude<R, Scope.Scope>, InvalidateArgs<Args>, KeyErrorOf<{}, Args>>
  <const Args extends ReadonlyArray<any>, A, E, R, const O extends Options<NoInfer<A>> = {}>(
    options: O & Options<NoInfer<A>> & OptionChecks<O, NoInfer<Args>>,
    // A generator body reaches this overload only with options the one above rejected: taking it here too reports just those.
    f: ((...args: Args) => Effect.Effect<A, E, R>) | ((...args: Args) => Generator<Effect.Effect<any, E, R>, A, never>)
  ): ResourceFunction<Args, A, E | KeyErrorOf<O, Args>, Exclude<R, Scope.Scope>, LookupArgs<O, Args>, KeyErrorOf<O, Args>>
} = (
  nameOrOptions: string | Options<unknown>,
  f: (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown> | Generator<unknown, unknown, never>
): ResourceFunction<ReadonlyArray<unknown>, unknown, unknown, unknown, ReadonlyArray<unknown>, never> => {
  Definition.requireFunction("ResourceCache", nameOrOptions, f)
  const options = typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions
  const definition = Definition.define("ResourceCache", options, f, optionNames, faceOf)
  return Callable.build(definition, cacheOf, ({ call, slotOf }) => {
    const borrow = (...args: ReadonlyArray<unknown>) =>
      Effect.withFiber((fiber) => {
        const slot = slotOf(fiber)
        const hold = definition.face.lifecycle!.hold()
        // The finalizer is in place before the call can take the hold, so an
        // interrupt anywhere still ends the borrow; a hold the call takes
        // after the borrow ended (its scope closed first) is never taken.
        const end = Calls.endHold(slot, hold)
        return Effect.andThen(
          Effect.addFinalizer(() => end),
          call(args, hold)
        )
      })
    return {
      borrow,
      use: (...argsAndBody: ReadonlyArray<unknown>) => {
        const body = argsAndBody[argsAndBody.length - 1]
        if (typeof body !== "function") {
          return Effect.die(new TypeError(`${definition.name}.use: the last argument must be a function (resource) => Effect.`))
        }
        return Effect.scoped(
          Effect.flatMap(borrow(...argsAndBody.slice(0, -1)), (resource) => {
            const effect = (body as (resource: unknown) => unknown)(resource)
            // An async function or a plain value would kill the fiber past its finalizers, leaving the borrow open.
            return Effect.isEffect(effect)
              ? effect
              : Effect.die(new TypeError(`${definition.name}.use: the body must return an Effect, got ${Hasher.describeType(effect)}.`))
          })
        )
      }
    }
  }) as ResourceFunction<ReadonlyArray<unknown>, unknown, unknown, unknown, ReadonlyArray<unknown>, never>
}

const cacheOf = (fiber: Fiber.Fiber<unknown, unknown>): Cache.Cache => Context.getUnsafe(fiber.context, ResourceCache).cache

/**
 * Binds a resource function to the {@link ResourceCache} in context, so that
 * its calls (and `use`, `borrow`, `invalidate`, `has`, `clear`, `stats`) no
 * longer require one: for services built with `Layer.effect` whose methods
 * should have `R = never`.
 *
 * @example
 * ```ts
 * import { ResourceCache } from "@recall/core"
 * import { Context, Effect, Layer } from "effect"
 *
 * const connect = ResourceCache.fn("connect", (dsn: string) => Effect.succeed({ dsn }))
 *
 * class Db extends Context.Service<Db, {
 *   readonly query: (sql: string) => Effect.Effect<string>
 * }>()("app/Db") {
 *   static readonly layer = Layer.effect(Db, Effect.gen(function*() {
 *     const pool = yield* ResourceCache.bind(connect)
 *     return Db.of({ query: (sql) => pool.use("postgres://db", (conn) => Effect.succeed(`${sql} on ${conn.dsn}`)) })
 *   })).pipe(Layer.provide(ResourceCache.layer))
 * }
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const bind = <Args extends ReadonlyArray<unknown>, A, E, R, Lookup extends ReadonlyArray<unknown>, LookupError>(
  f: ResourceFunction<Args, A, E, R, Lookup, LookupError>
): Effect.Effect<BoundFunction<Args, A, E, R, Lookup, LookupError>, never, ResourceCache> =>
  Effect.map(
    ResourceCache,
    (service: Service) =>
      Callable.bindFunction(
        f as unknown as Parameters<typeof Callable.bindFunction>[0],
        (effect) => Effect.provideService(effect, ResourceCache, service),
        ["use", "borrow", "invalidate", "has"],
        ["clear", "stats"]
      ) as BoundFunction<Args, A, E, R, Lookup, LookupError>
  )

/**
 * Removes every entry of every cached resource and releases each instance
 * (a borrowed one when its last borrow ends). Computations in flight finish
 * for their callers but are not stored.
 *
 * @category operations
 * @since 0.1.0
 */
export const clear: Effect.Effect<void, never, ResourceCache> = Effect.flatMap(ResourceCache, (service) =>
  Effect.uninterruptible(Operations.clearAll(service.cache))
)

/**
 * Counters of every cached resource function that has been called, and their
 * totals. Expired entries are purged (and released) first.
 *
 * @category operations
 * @since 0.1.0
 */
export const stats: Effect.Effect<Stats, never, ResourceCache> = Effect.flatMap(ResourceCache, (service) =>
  Effect.uninterruptible(Operations.statsOf(service.cache))
)
