/**
 * `DataCache` is the `st.cache_data` of Effect: it memoizes functions that
 * return Effects, and hands every caller its own copy of the value.
 *
 * **Contract**
 *
 * - Key = function identity + arguments. The identity is the name, the
 *   XXH3-128 hash of the function's source text (a generator body's own
 *   source), the `version` option, the `hashers` and the fingerprints of the
 *   `key` and `value` schemas:
 *   editing the body or the schema starts a new cache, and old entries are
 *   never returned. `Effect.fn` wrappers hide their body and are refused
 *   without a `version`.
 * - Arguments are hashed by value ({@link Hasher}). Top-level fields whose
 *   names start with `_` in plain-object arguments are not part of the key,
 *   at run time and in the types. Trailing `undefined` arguments are dropped:
 *   `f(1)` and `f(1, undefined)` are one key.
 * - Copy isolation: every call, the first included, returns a value that
 *   shares no mutable state with the cache or with other callers (unless
 *   `copy: "readonly"`).
 * - `ttl`: an entry is a miss at exactly `storedAt + ttl`, on Effect's
 *   `Clock` (so `TestClock` drives it); reads do not extend it. Expired
 *   entries are removed on the next access to their function and by a sweep
 *   of the layer, not just hidden.
 * - `maxEntries`: least-recently-used eviction; reads and writes count as
 *   use, `has` does not. `maxBytes` per function and on the layer.
 * - Single flight: concurrent calls with one key run the body once. If the
 *   runner fails or is interrupted, one waiter takes over; interrupting a
 *   waiter never interrupts the shared computation.
 * - Failures are not cached; `cacheIf` skips storing unwanted values.
 * - A clear or invalidate during a computation wins: its late result is not
 *   stored (callers already waiting for it still get it).
 * - No interrupt, wherever it lands, leaves a key whose callers wait forever:
 *   a computation in flight is registered and settled in one uninterruptible
 *   region.
 * - An entry that leaves the cache (evicted, expired, invalidated, cleared)
 *   is unreachable from it at once.
 * - Options are checked when a function or layer is defined: mistakes are
 *   type errors where the types can tell, and always an
 *   {@link InvalidOptionsError}. A call's error type holds only the library
 *   errors it can raise.
 *
 * Hits stay synchronous: the key is built, the entry read and the copy made
 * without suspending the fiber. Only misses enter the slow path. The hasher
 * (WebAssembly) loads while a layer is built, so a call never waits for it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Hasher from "./Hasher.ts"
import * as EffectCopies from "./internal/effectCopies.ts"
import * as Key from "./internal/key.ts"
import * as Table from "./internal/table.ts"
import * as Validate from "./internal/validate.ts"
import * as Xxh3 from "./internal/xxh3.ts"
import * as ValueCodec from "./ValueCodec.ts"

const TypeId = "~@recall/core/DataCache" as const

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/**
 * Field names that are left out of the cache key: a single leading
 * underscore, as in Streamlit's `_param`. `_tag` is data (Effect's
 * discriminator: `Data.taggedEnum` values are plain objects) and names with a
 * double underscore (`__typename`) are conventions of data formats: both stay
 * in the key.
 *
 * @category models
 * @since 0.1.0
 */
export type ExcludedKey = `_${string}`

/**
 * Whether the field name `K` is left out of the key ({@link ExcludedKey},
 * less `_tag` and `__` names).
 *
 * @category models
 * @since 0.1.0
 */
export type IsExcluded<K> = K extends "_tag" | `__${string}` ? false : K extends ExcludedKey ? true : false

/**
 * The field names of `T` left out of the key.
 *
 * @category models
 * @since 0.1.0
 */
export type ExcludedOf<T> = { [K in keyof T]-?: IsExcluded<K> extends true ? K : never }[keyof T]

/**
 * One argument as the key sees it: an object type without its `_` fields.
 *
 * @category models
 * @since 0.1.0
 */
export type KeyOf<T> = T extends object
  ? [ExcludedOf<T>] extends [never]
    ? T
    : { readonly [K in keyof T as IsExcluded<K> extends true ? never : K]: T[K] }
  : T

/**
 * The arguments as the key sees them, e.g. the type of a `key` schema.
 *
 * @category models
 * @since 0.1.0
 */
export type KeyArgs<Args extends ReadonlyArray<unknown>> = { readonly [I in keyof Args]: KeyOf<Args[I]> }

/**
 * The arguments `invalidate` takes: the call's arguments, where `_` fields may
 * be left out.
 *
 * @category models
 * @since 0.1.0
 */
export type InvalidateArgs<Args extends ReadonlyArray<unknown>> = {
  readonly [I in keyof Args]: Args[I] extends object
    ? [ExcludedOf<Args[I]>] extends [never]
      ? Args[I]
      : KeyOf<Args[I]> & { readonly [K in keyof Args[I] as IsExcluded<K> extends true ? K : never]?: Args[I][K] }
    : Args[I]
}

/**
 * A deeply readonly view of `A`, the type `copy: "readonly"` values have:
 * see {@link ValueCodec.DeepReadonly}.
 *
 * @category models
 * @since 0.1.0
 */
export type DeepReadonly<A> = ValueCodec.DeepReadonly<A>

/**
 * The value type of a cached function: the `value` schema's type when given,
 * deeply readonly with `copy: "readonly"`.
 *
 * @category models
 * @since 0.1.0
 */
export type ValueOf<O, A> = O extends { readonly copy: "readonly" }
  ? DeepReadonly<A>
  : O extends { readonly value: Schema.Top }
    ? O["value"]["Type"]
    : A

/**
 * Type checks of the `key` and `value` schemas against the function: the key
 * schema must accept the arguments without their `_` fields, and the value
 * schema must accept what the function returns. A mismatch turns the option's
 * expected type into a message saying so.
 *
 * @category models
 * @since 0.1.0
 */
export type SchemaChecks<O, Args extends ReadonlyArray<unknown>, A> = (O extends { readonly key: infer S extends Schema.Top }
  ? IsPositional<S["Type"]> extends true
    ? [Args] extends [S["Type"]]
      ? unknown
      : { readonly key: "the key schema must accept the arguments" }
    : Args["length"] extends 0 | 1
      ? [Args[0]] extends [S["Type"]]
        ? unknown
        : { readonly key: "the key schema must accept the argument" }
      : { readonly key: "a non-tuple key schema describes one argument; this function takes more: use Schema.Tuple([...]) for all of them" }
  : unknown) &
  (O extends { readonly value: infer S extends Schema.Top }
    ? [A] extends [S["Type"]]
      ? unknown
      : { readonly value: "the value schema must accept what the function returns" }
    : unknown)

/**
 * Rejects option names that {@link Options} does not have (a typo such as
 * `maxEntry`): each unknown name's expected type becomes a message saying so.
 *
 * @category models
 * @since 0.1.0
 */
export type UnknownOptions<O> = {
  readonly [K in Exclude<keyof O, keyof Options<unknown>>]: `unknown option: ${K & string} is not a DataCache.fn option`
}

/**
 * `ttl` accepts any string so that shared option objects (whose strings
 * widen to `string`) type-check; a string literal that is not a duration is
 * still a type error here, and any bad string an `InvalidOptionsError` when
 * the function is defined.
 *
 * @category models
 * @since 0.1.0
 */
export type TtlCheck<O> = O extends { readonly ttl: infer T }
  ? string extends T
    ? unknown
    : [T] extends [Duration.Input | undefined]
      ? unknown
      : { readonly ttl: 'not a duration: use a number of milliseconds or a string such as "10 minutes"' }
  : unknown

/**
 * Every compile-time check of {@link fn}'s options.
 *
 * @category models
 * @since 0.1.0
 */
export type OptionChecks<O, Args extends ReadonlyArray<unknown>, A> = SchemaChecks<O, Args, A> & UnknownOptions<O> & TtlCheck<O>

/**
 * The body of a generator-style cached function, as `Effect.fn` takes it.
 *
 * @category models
 * @since 0.1.0
 */
export type GeneratorBody<Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A> = (
  ...args: Args
) => Generator<Eff, A, never>

/**
 * Options of a cached function. Every option is optional except a name for
 * anonymous functions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<A> {
  /**
   * Names the function in keys, stats, metrics, spans and errors.
   *
   * Default: the function's own `name`. An anonymous function without a
   * `name` option is rejected. Two functions with the same name and the same
   * source text share one cache: give one a `version` to separate them.
   */
  readonly name?: string | undefined
  /**
   * Joins the function identity. Bump it to drop every entry of the function
   * when something outside its source changed (a data file, a dependency).
   *
   * Default: none.
   */
  readonly version?: string | number | undefined
  /**
   * A Schema for the arguments, used to hash them: a `Schema.Tuple` for
   * positional arguments, or a `Schema.Struct` (any non-tuple schema) for a
   * function of one argument only: on a function of several arguments it is
   * a type error, and a call with more than one argument fails with
   * `UnhashableParamError`, never a key that leaves an argument out. It describes the arguments without their `_`
   * fields ({@link KeyArgs}), and may describe less: fields it does not
   * declare never reach the key. Arguments that do not match it fail the call
   * with `UnhashableParamError`, carrying the schema's issue.
   *
   * Default: the structural hasher ({@link Hasher.structural}), which handles
   * primitives, arrays, plain objects, Date, Map, Set, typed arrays and Data /
   * Schema.Class instances. Cost: one schema encode per call, hit or miss.
   */
  readonly key?: (Schema.Top & { readonly EncodingServices: never }) | undefined
  /**
   * A Schema for the value. Values are kept in its JSON encoding and decoded
   * on every hit, so class instances, Dates and branded types come back as
   * themselves, validated. Its fingerprint joins the function identity:
   * changing the schema starts a new cache.
   *
   * The cached function returns the schema's type. A value the body returns
   * that does not match fails the call with `UnserializableValueError`.
   *
   * Default: a structured copy (deep copies in and out, no class instances).
   * Cost: one encode per miss and one decode per hit, usually slower than the
   * structured copy for plain data. Ignored with `copy: "readonly"`.
   */
  readonly value?: (Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }) | undefined
  /**
   * Time to live of each entry, from the moment it is stored. An entry is a
   * miss at exactly `storedAt + ttl`; reads do not extend it.
   *
   * Default: no expiry. Must be positive. Time comes from Effect's `Clock`.
   */
  readonly ttl?: Duration.Input | string | undefined
  /**
   * Most entries kept for this function; the least recently used is evicted
   * first. Reads and writes count as use.
   *
   * Default: unbounded. Must be a positive integer.
   */
  readonly maxEntries?: number | undefined
  /**
   * Byte budget for this function's stored values (an estimate of their
   * in-memory size). Least recently used entries are evicted to stay under
   * it; a single value larger than the budget is returned but not stored.
   *
   * Default: unbounded (the layer's budget still applies).
   */
  readonly maxBytes?: number | undefined
  /**
   * Called with each computed value; `false` skips storing it (empty results,
   * partial data). The caller still gets the value.
   *
   * Default: store every value.
   */
  readonly cacheIf?: ((value: NoInfer<A>) => boolean) | undefined
  /**
   * Per-type hashers for arguments the structural hasher cannot see into:
   * `[Class, (instance) => hashable value]`, best built with {@link Hasher.by}.
   * The typed form of Streamlit's `hash_funcs`. Ignored when `key` is given.
   */
  readonly hashers?: ReadonlyArray<Hasher.TypeHasher> | undefined
  /**
   * `"clone"` (default): every caller gets its own deep copy. `"readonly"`:
   * every caller gets the same deep-frozen instance, typed deeply readonly;
   * no copy on hit, for large data where copying costs too much.
   */
  readonly copy?: "clone" | "readonly" | undefined
  /**
   * Show a spinner while the function computes: `true` (text
   * "Running name(...)"), `false`, or the text to show. Accepted now; the
   * terminal spinner comes with `@recall/node`.
   */
  readonly spinner?: boolean | string | undefined
  /** Show the computation's duration next to the spinner. Accepted now, wired later. */
  readonly showTime?: boolean | undefined
  /** Replay Console output and logs of a miss on every hit. Accepted now, wired later. */
  readonly replay?: boolean | undefined
}

/**
 * The counters recall keeps, per function and in total.
 *
 * @category models
 * @since 0.1.0
 */
export interface Counters {
  /** Calls served without running the body: from the cache, or by sharing a computation in flight. */
  readonly hits: number
  /** Calls that ran the body. */
  readonly misses: number
  /** Entries removed for `maxEntries` or a byte budget. */
  readonly evictions: number
  /** Entries removed because their `ttl` passed. */
  readonly expirations: number
  /** Entries removed by `invalidate` or `clear`. */
  readonly invalidations: number
  /** Live entries. */
  readonly entries: number
  /** Estimated bytes of the live entries' values. */
  readonly bytes: number
}

/**
 * Counters of one cached function.
 *
 * @category models
 * @since 0.1.0
 */
export interface FunctionStats extends Counters {
  readonly name: string
  /** The function identity: name and a hash of its source, version and value schema. */
  readonly id: string
}

/**
 * Counters of every cached function, and their totals.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats extends Counters {
  readonly functions: ReadonlyArray<FunctionStats>
}

/**
 * Argument types the structural hasher always handles, so a call with only
 * these can never fail with `UnhashableParamError`.
 *
 * @category models
 * @since 0.1.0
 */
export type Hashable = string | number | boolean | bigint | null | undefined

/**
 * The key error a call can raise: none when every key argument is
 * {@link Hashable} and no `key` schema could reject it.
 *
 * @category models
 * @since 0.1.0
 */
export type KeyErrorOf<O, Args extends ReadonlyArray<unknown>> = O extends { readonly key: Schema.Top }
  ? Hasher.UnhashableParamError
  : IsAny<KeyArgs<Args>[number]> extends true
    ? Hasher.UnhashableParamError
    : [KeyArgs<Args>[number]] extends [Hashable]
      ? never
      : Hasher.UnhashableParamError

/**
 * Whether `X` is `any`, which would pass every `extends` test: an `any`
 * argument or value (from `JSON.parse`, `res.json()`) can be anything, so
 * its errors stay in the type.
 *
 * @category models
 * @since 0.1.0
 */
export type IsAny<X> = 0 extends 1 & X ? true : false

/**
 * The value error a call can raise: none with `copy: "readonly"` (nothing is
 * copied) or for primitive values without a `value` schema.
 *
 * @category models
 * @since 0.1.0
 */
export type ValueErrorOf<O, A> = O extends { readonly copy: "readonly" }
  ? never
  : O extends { readonly value: Schema.Top }
    ? ValueCodec.UnserializableValueError
    : IsAny<A> extends true
      ? ValueCodec.UnserializableValueError
      : [A] extends [Hashable]
        ? never
        : // biome-ignore lint/suspicious/noConfusingVoidType: an Effect<void> body returns nothing to copy
          [A] extends [void]
          ? never
          : ValueCodec.UnserializableValueError

/**
 * The arguments `invalidate` and `has` take. Without a `key` schema: the
 * call's arguments, where `_` fields may be left out. With one: what the key
 * schema takes, plus, optionally, the argument's other fields (so a call's own
 * arguments work too).
 *
 * @category models
 * @since 0.1.0
 */
export type LookupArgs<O, Args extends ReadonlyArray<unknown>> = O extends { readonly key: infer S extends Schema.Top }
  ? IsPositional<S["Type"]> extends true
    ? { readonly [I in keyof S["Type"]]: LookupArg<S["Type"][I], I extends keyof Args ? Args[I] : never> }
    : readonly [LookupArg<S["Type"], Args[0]>]
  : InvalidateArgs<Args>

/**
 * Whether a key schema's type describes the arguments one by one: a tuple
 * (`Schema.Tuple`). `Schema.Array` and every other schema describe one
 * argument.
 *
 * @category models
 * @since 0.1.0
 */
export type IsPositional<T> = T extends readonly [] | readonly [unknown, ...Array<unknown>] ? true : false

/**
 * One lookup argument: the key schema's type, plus the call argument's other
 * fields as optional.
 *
 * @category models
 * @since 0.1.0
 */
export type LookupArg<K, Arg> =
  K extends ReadonlyArray<unknown>
    ? K
    : K extends object
      ? Arg extends object
        ? K & { readonly [F in Exclude<keyof Arg, keyof K>]?: Arg[F] }
        : K
      : K

/**
 * A cached function: call it like the original; it needs a {@link DataCache}.
 *
 * `E` holds the body's errors and the library errors a call can really
 * raise ({@link KeyErrorOf}, {@link ValueErrorOf}); `Lookup` is what
 * `invalidate` and `has` take ({@link LookupArgs}).
 *
 * @category models
 * @since 0.1.0
 */
export interface CachedFunction<
  Args extends ReadonlyArray<unknown>,
  A,
  E,
  R,
  Lookup extends ReadonlyArray<unknown> = InvalidateArgs<Args>,
  LookupError = Hasher.UnhashableParamError
> {
  (...args: Args): Effect.Effect<A, E, R | DataCache>
  /**
   * The function identity: the name and the XXH3-128 hash of the source,
   * `version` and value schema. Read it once a DataCache layer is built (or
   * after `Hasher.load`): the hash needs the WebAssembly hasher.
   */
  readonly id: string
  readonly name: string
  /** Removes the entry of these arguments (`_` fields may be left out). */
  readonly invalidate: (...args: Lookup) => Effect.Effect<void, LookupError, DataCache>
  /** Whether a live entry exists for these arguments; does not count as use. */
  readonly has: (...args: Lookup) => Effect.Effect<boolean, LookupError, DataCache>
  /** Removes every entry of this function. */
  readonly clear: Effect.Effect<void, never, DataCache>
  readonly stats: Effect.Effect<FunctionStats, never, DataCache>
}

/**
 * A cached function bound to one {@link DataCache} by {@link bind}: the same
 * calls, needing no `DataCache` from the caller.
 *
 * @category models
 * @since 0.1.0
 */
export interface BoundFunction<Args extends ReadonlyArray<unknown>, A, E, R, Lookup extends ReadonlyArray<unknown>, LookupError> {
  (...args: Args): Effect.Effect<A, E, R>
  readonly id: string
  readonly name: string
  readonly invalidate: (...args: Lookup) => Effect.Effect<void, LookupError>
  readonly has: (...args: Lookup) => Effect.Effect<boolean, LookupError>
  readonly clear: Effect.Effect<void>
  readonly stats: Effect.Effect<FunctionStats>
}

/**
 * Raised when a cached function is defined with invalid options. Thrown by
 * {@link fn} at definition time, before any body can run.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidOptionsError extends Schema.TaggedError<InvalidOptionsError>()("InvalidOptionsError", {
  functionName: Schema.String,
  option: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid option \`${this.option}\` for cached function ${this.functionName}: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/**
 * The state a `DataCache` layer holds; reach it through the module functions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Service {
  readonly [TypeId]: typeof TypeId
  /** @internal */
  readonly registry: Table.Registry
  /** @internal Called once per function table, when its function is first called. */
  readonly onTable: (table: Table.Table) => void
  /** @internal Every call runs its body and nothing is stored ({@link layerPassthrough}). */
  readonly passthrough: boolean
}

/**
 * The service holding every cached function's entries, global to the
 * program like Streamlit's cache.
 *
 * @category services
 * @since 0.1.0
 */
export class DataCache extends Context.Service<DataCache, Service>()("@recall/core/DataCache") {}

/**
 * Options of {@link layerMemory}.
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions {
  /**
   * Byte budget for all stored values together (an estimate of their
   * in-memory size). The least recently used entry of any function is
   * evicted first. Default: unbounded.
   */
  readonly maxBytes?: number | undefined
  /**
   * How often a background fiber removes expired entries of functions that
   * are not being called (called functions purge on every access). Default:
   * 1 minute.
   */
  readonly sweepInterval?: Duration.Input | undefined
}

/**
 * The in-memory `DataCache`: the embedded default.
 *
 * **Details**
 *
 * Each build of the layer is a fresh, empty cache, so tests that provide it
 * per test are isolated. Its scope closes the expiry sweep.
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const double = DataCache.fn("double", (n: number) => Effect.succeed(n * 2))
 *
 * Effect.runPromise(double(21).pipe(Effect.provide(DataCache.layerMemory({ maxBytes: 512 * 1024 * 1024 }))))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory = (options?: LayerOptions): Layer.Layer<DataCache> => {
  const { maxBytes, sweepMillis } = invalidOptions(() => Validate.layerOptions(options))
  return Layer.effect(DataCache, make(maxBytes, sweepMillis, false))
}

/**
 * The in-memory `DataCache` with the default options (no global byte budget,
 * a sweep every minute), as one value.
 *
 * **Details**
 *
 * Layers are memoized by reference: providing `DataCache.layer` in two places
 * of one program builds one cache. Call {@link layerMemory} for a cache of
 * your own, or per test.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<DataCache> = layerMemory()

/**
 * A `DataCache` that never stores anything: every call runs its body, with
 * no sharing between concurrent calls, and `has` is always false.
 *
 * **When to use**
 *
 * In tests of code that uses cached functions, where the test is about that
 * code, not about caching: each call does its work, as it would without
 * recall. Arguments are still hashed and values still go through the codec,
 * so an argument that cannot be hashed or a value that cannot be copied fails
 * exactly as it would with a real cache. Each caller gets what the body
 * returned (with a `value` schema, the decoded value), as the caller that
 * computes does with a real cache. Stats count every call as a miss. Use
 * {@link layerMemory} (a fresh one per test) when the test is about what is
 * cached.
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * let runs = 0
 * const load = DataCache.fn("load", (id: number) => Effect.sync(() => ++runs + id))
 *
 * const program = Effect.all([load(1), load(1)]) // the body runs twice
 * Effect.runPromise(program.pipe(Effect.provide(DataCache.layerPassthrough)))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPassthrough: Layer.Layer<DataCache> = Layer.effect(DataCache, make(Infinity, 60_000, true))

/** Builds a DataCache: checks for a second copy of Effect, loads the hasher, starts the sweep. */
function make(maxBytes: number, sweepMillis: number, passthrough: boolean): Effect.Effect<Service, never, Scope.Scope> {
  return Effect.gen(function* () {
    yield* EffectCopies.checkRuntime
    // Hashing is synchronous on the hit path: the WebAssembly hasher loads here, once.
    yield* Xxh3.load
    const registry = new Table.Registry(maxBytes)
    const sweep = Effect.clockWith((clock) => Effect.sync(() => registry.purgeExpired(clock.currentTimeMillisUnsafe())))
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(sweepMillis)))
    const context = yield* Effect.context<never>()
    const registrations = new Map<Table.Table, ReadonlyArray<Metric.Registration>>()
    const unregister = (table: Table.Table) => {
      for (const registration of registrations.get(table) ?? []) registration.remove()
      registrations.delete(table)
    }
    registry.onDrop = unregister
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const table of Array.from(registrations.keys())) unregister(table)
      })
    )
    return DataCache.of({
      [TypeId]: TypeId,
      registry,
      onTable: (table) => registrations.set(table, registerMetrics(table, context)),
      passthrough
    })
  })
}

// ---------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------

/**
 * Runs option checks, turning a problem they find into the public
 * {@link InvalidOptionsError}. A function declaration, so that `layer` can use
 * it while the module loads.
 */
function invalidOptions<X>(check: () => X): X {
  try {
    return check()
  } catch (e) {
    if (e instanceof Validate.OptionProblem) throw new InvalidOptionsError(e)
    throw e
  }
}

interface Definition<A> {
  /** The function identity; hashed on first use, when a layer has loaded the hasher. */
  readonly id: () => string
  readonly name: string
  readonly limits: Table.Limits
  readonly codec: ValueCodec.ValueCodec<A>
  readonly cacheIf: ((value: A) => boolean) | undefined
  readonly hashKey: (args: ReadonlyArray<unknown>) => string
}

const define = <A>(given: Options<A>, f: Function): Definition<A> => {
  // Each option is read once, by the checks: what was checked is what is used.
  const checked = invalidOptions(() => Validate.functionOptions(given as Options<unknown>, f))
  const { name, limits } = checked
  const options = checked.options as Options<A>
  const codec: ValueCodec.ValueCodec<A> =
    options.copy === "readonly"
      ? ValueCodec.readonly()
      : options.value !== undefined
        ? ValueCodec.fromSchema(options.value as Schema.Codec<A, unknown>)
        : ValueCodec.structuredCopy()
  let id: string | undefined
  const identity = () =>
    (id ??= `${name}:${Hasher.structural().hashUnsafe([
      // Function.prototype's own toString: an own `toString` cannot stand in for the source.
      Function.prototype.toString.call(f),
      options.version ?? null,
      options.value === undefined ? null : Hasher.fingerprint(options.value),
      codec.kind,
      // Per-type hashers decide what a key is: other hashers, other entries.
      (options.hashers ?? []).map(([Class, hash]) => [Class.name, Function.prototype.toString.call(hash)]),
      options.key === undefined ? null : Hasher.fingerprint(options.key)
    ])}`)
  const argumentsKey = Key.makeKeyHasher(options.key, options.hashers ?? [])
  return {
    id: identity,
    name,
    limits,
    codec,
    cacheIf: options.cacheIf,
    hashKey: (args) => argumentsKey(Key.keyArgs(args))
  }
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

// Metrics read the table's counters when exported, so hits pay nothing for them.
const counterMetrics = {
  hits: Metric.counter("recall_data_cache_hits", { description: "Calls served without running the body" }),
  misses: Metric.counter("recall_data_cache_misses", { description: "Calls that ran the body" }),
  evictions: Metric.counter("recall_data_cache_evictions", { description: "Entries evicted for maxEntries or a byte budget" }),
  expirations: Metric.counter("recall_data_cache_expirations", { description: "Entries removed because their ttl passed" }),
  invalidations: Metric.counter("recall_data_cache_invalidations", { description: "Entries removed by invalidate or clear" })
} as const
const gaugeMetrics = {
  entries: Metric.gauge("recall_data_cache_entries", { description: "Entries held" }),
  bytes: Metric.gauge("recall_data_cache_bytes", { description: "Estimated bytes of the values held" })
} as const

const registerMetrics = (table: Table.Table, context: Context.Context<never>): Array<Metric.Registration> => {
  const attributes = { function: table.name }
  const ignore = () => {}
  return [
    ...Object.entries(counterMetrics).map(([field, metric]) =>
      Metric.registerUnsafe(Metric.withAttributes(metric, attributes), context, {
        get: () => ({ count: table.counters[field as keyof Table.Counters], incremental: false }),
        update: ignore,
        modify: ignore
      })
    ),
    Metric.registerUnsafe(Metric.withAttributes(gaugeMetrics.entries, attributes), context, {
      get: () => ({ value: table.entries.size }),
      update: ignore,
      modify: ignore
    }),
    Metric.registerUnsafe(Metric.withAttributes(gaugeMetrics.bytes, attributes), context, {
      get: () => ({ value: table.bytes }),
      update: ignore,
      modify: ignore
    })
  ]
}

/** The table of a function identity in one cache, made on first use. */
const tableOf = (service: Service, definition: Definition<any>): Table.Table => {
  const id = definition.id()
  const existing = service.registry.tables.get(id)
  if (existing !== undefined) return existing
  const table = new Table.Table(service.registry, id, definition.name, definition.limits)
  service.registry.tables.set(id, table)
  service.onTable(table)
  return table
}

/**
 * Releases a cached function's claim on its tables once the function object
 * is garbage collected, so that the tables of functions nobody can call any
 * more leave their caches when they are empty. Weak references: a function
 * that outlives a cache (a module-level function, a layer per test) does not
 * keep that cache's tables alive.
 */
const functionFinalizers = new FinalizationRegistry<WeakRef<Table.Table>>((table) => table.deref()?.release())

/**
 * A cached function's table in each cache it is called with: looked up once
 * per cache (then a WeakMap read), counted in the table's `users`.
 */
const tablesOfFunction = (definition: Definition<any>, owner: object) => {
  const tables = new WeakMap<Service, Table.Table>()
  return (service: Service): Table.Table => {
    let table = tables.get(service)
    if (table === undefined || table.dropped) {
      table = tableOf(service, definition)
      table.users++
      tables.set(service, table)
      functionFinalizers.register(owner, new WeakRef(table))
    }
    // A redefinition (same identity, new limits) takes over the table.
    if (table.limits !== definition.limits) table.limits = definition.limits
    return table
  }
}

const hashArgs = (definition: Definition<any>, args: ReadonlyArray<unknown>): string | Hasher.UnhashableParamError => {
  try {
    return definition.hashKey(args)
  } catch (e) {
    if (e instanceof Hasher.Unhashable) return Hasher.toParamError(e, definition.name, [])
    throw e
  }
}

/** A value for one caller from what the cache keeps; `None` when it no longer loads. */
const loadOption = <A>(definition: Definition<A>, stored: unknown): Option.Option<A> => {
  try {
    return Option.some(definition.codec.loadUnsafe(stored))
  } catch {
    return Option.none()
  }
}

/** The hit path: a fresh value for the caller, or `undefined` on a miss. Synchronous. */
const hit = <A>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<A> | undefined => {
  // Like Effect's Cache: the clock is read only when entries can expire.
  const now = table.limits.ttlMillis === Infinity ? 0 : nowOf(fiber)
  const entry = table.use(key, now)
  if (entry === undefined) return undefined
  const value = loadOption(definition, entry.stored)
  if (Option.isNone(value)) {
    // A stored value that no longer loads is dropped and recomputed.
    table.invalidate(key, now)
    return undefined
  }
  table.record("hit")
  return Effect.succeed(value.value)
}

const nowOf = (fiber: Fiber.Fiber<unknown, unknown>): number => fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()

/**
 * The miss path: share a computation in flight, or start one.
 *
 * Checking for a value, choosing between joining and starting a flight,
 * registering a new flight and settling it form one uninterruptible region;
 * only the body and the wait for someone else's flight are interruptible. So
 * no interrupt, wherever it lands, can leave a flight that never settles and
 * a key whose callers wait forever.
 */
const resolve = <A, E, R>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  compute: () => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ValueCodec.UnserializableValueError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiber((fiber) => {
      // Another fiber may have stored the value since this caller's hit check.
      const stored = hit(definition, table, key, fiber)
      if (stored !== undefined) return stored
      const flight = table.flights.get(key)
      return flight === undefined ? run(definition, table, key, compute, restore) : join(definition, table, key, flight, compute, restore)
    })
  )

/** Waits for another caller's computation; takes over when it ends without a value. */
const join = <A, E, R>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  flight: Table.Flight,
  compute: () => Effect.Effect<A, E, R>,
  restore: <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>
): Effect.Effect<A, E | ValueCodec.UnserializableValueError, R> =>
  Effect.flatMap(restore(Deferred.await(flight.done)), (result) => {
    switch (result._tag) {
      case "Value": {
        const value = loadOption(definition, result.stored)
        if (Option.isNone(value)) return resolve(definition, table, key, compute)
        table.record("hit")
        return Effect.succeed(value.value)
      }
      case "Fail":
        return Effect.fail(result.error as ValueCodec.UnserializableValueError)
      case "Retry":
        // The runner failed or was interrupted: check again, and take over if nobody else has.
        return resolve(definition, table, key, compute)
    }
  })

/** The body's Effect for one call, traced; a non-Effect return is a defect that says so. */
const bodyOf = <A, E, R>(definition: Definition<A>, compute: () => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const effect = compute()
    return Effect.isEffect(effect) ? effect : Effect.die(notAnEffect(definition.name, effect))
  }).pipe(Effect.withSpan("recall.DataCache.compute", { attributes: { "recall.function": definition.name } }))

/** Runs the body as the key's only flight. Called inside `resolve`'s uninterruptible region. */
const run = <A, E, R>(
  definition: Definition<A>,
  table: Table.Table,
  key: string,
  compute: () => Effect.Effect<A, E, R>,
  restore: <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, RX>
): Effect.Effect<A, E | ValueCodec.UnserializableValueError, R> => {
  const flight: Table.Flight = { done: Deferred.makeUnsafe(), stale: false }
  table.flights.set(key, flight)
  table.record("miss")
  // Idempotent, and also run by `ensuring`: whatever happens (a defect in
  // `cacheIf`, an interrupt), the waiters are released and the flight removed.
  const settle = (result: Table.FlightResult) => {
    if (table.flights.get(key) === flight) {
      table.flights.delete(key)
      table.dropIfUnused()
    }
    Deferred.doneUnsafe(flight.done, Exit.succeed(result))
  }
  const keep = (value: A, now: number): Effect.Effect<A, ValueCodec.UnserializableValueError> => {
    // With a schema codec, `kept.value` is the decoded value, as every hit gets.
    let kept: ReturnType<ValueCodec.ValueCodec<A>["storeUnsafe"]>
    try {
      kept = definition.codec.storeUnsafe(value)
    } catch (e) {
      const error = ValueCodec.toValueError(e, definition.name)
      settle({ _tag: "Fail", error })
      return Effect.fail(error)
    }
    if (!flight.stale && (definition.cacheIf === undefined || definition.cacheIf(value))) {
      table.store(key, kept.stored, kept.bytes, now)
    }
    settle({ _tag: "Value", stored: kept.stored })
    return Effect.succeed(kept.value)
  }
  return Effect.exit(restore(bodyOf(definition, compute))).pipe(
    Effect.flatMap(
      (exit): Effect.Effect<A, E | ValueCodec.UnserializableValueError> =>
        Exit.isFailure(exit) ? exit : Effect.clockWith((clock) => keep(exit.value, clock.currentTimeMillisUnsafe()))
    ),
    Effect.ensuring(Effect.sync(() => settle({ _tag: "Retry" })))
  )
}

/** A call under {@link layerPassthrough}: the body runs, its value goes through the codec, nothing is kept. */
const passThrough = <A, E, R>(
  definition: Definition<A>,
  table: Table.Table,
  compute: () => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ValueCodec.UnserializableValueError, R> => {
  table.record("miss")
  return Effect.flatMap(bodyOf(definition, compute), (value) => {
    try {
      return Effect.succeed(definition.codec.storeUnsafe(value).value)
    } catch (e) {
      return Effect.fail(ValueCodec.toValueError(e, definition.name))
    }
  })
}

const notAnEffect = (name: string, value: unknown): InvalidOptionsError =>
  new InvalidOptionsError({
    functionName: name,
    option: "f",
    reason:
      `the function returned ${Hasher.describeType(value)}, not an Effect. ` +
      "Return an Effect: wrap a generator in Effect.gen, a promise in Effect.promise or Effect.tryPromise."
  })

/**
 * Turns a function that returns an Effect into a cached one.
 *
 * **Details**
 *
 * The result takes the same arguments and returns an Effect that needs a
 * {@link DataCache}. A hit returns a fresh copy of the stored value at once; a
 * miss runs the body in the caller's fiber (with the caller's services) and
 * stores a copy of its value. Concurrent calls with one key run the body
 * once. Errors are never cached.
 *
 * Invalid options throw {@link InvalidOptionsError} here, when the function
 * is defined, rather than when it is first called.
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const expensive = DataCache.fn("expensive", (a: number, b: number) =>
 *   Effect.sleep("2 seconds").pipe(Effect.as(a * b)))
 *
 * const program = Effect.gen(function*() {
 *   yield* expensive(2, 21) // miss: runs for 2 s
 *   yield* expensive(2, 21) // hit: a fresh copy at once
 *   yield* expensive.invalidate(2, 21)
 *   yield* DataCache.clear
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(DataCache.layerMemory())))
 * ```
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Effect, Schema } from "effect"
 *
 * const Trip = Schema.Struct({ id: Schema.Number, start: Schema.Date })
 *
 * const loadTrips = DataCache.fn(
 *   { name: "loadTrips", ttl: "1 hour", maxEntries: 1000, value: Schema.Array(Trip) },
 *   ({ city }: { city: string; _log: (line: string) => void }) =>
 *     Effect.succeed([{ id: 1, start: new Date(0) }])
 * )
 *
 * // `_log` is not part of the key; invalidate without it:
 * const refresh = loadTrips.invalidate({ city: "Oslo" })
 * ```
 *
 * @throws InvalidOptionsError
 * @category constructors
 * @since 0.1.0
 */
export const fn: {
  <const Args extends ReadonlyArray<any>, A, E, R>(
    name: string,
    f: (...args: Args) => Effect.Effect<A, E, R>
  ): CachedFunction<Args, A, E | KeyErrorOf<{}, Args> | ValueErrorOf<{}, A>, R, InvalidateArgs<Args>, KeyErrorOf<{}, Args>>
  <const Args extends ReadonlyArray<any>, A, E, R, const O extends Options<NoInfer<A>> = {}>(
    options: O & Options<NoInfer<A>> & OptionChecks<O, NoInfer<Args>, NoInfer<A>>,
    f: (...args: Args) => Effect.Effect<A, E, R>
  ): CachedFunction<Args, ValueOf<O, A>, E | KeyErrorOf<O, Args> | ValueErrorOf<O, A>, R, LookupArgs<O, Args>, KeyErrorOf<O, Args>>
  <const Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A>(
    name: string,
    body: GeneratorBody<Args, Eff, A>
  ): CachedFunction<
    Args,
    A,
    Effect.Error<Eff> | KeyErrorOf<{}, Args> | ValueErrorOf<{}, A>,
    Effect.Services<Eff>,
    InvalidateArgs<Args>,
    KeyErrorOf<{}, Args>
  >
  <const Args extends ReadonlyArray<any>, Eff extends Effect.Effect<any, any, any>, A, const O extends Options<NoInfer<A>> = {}>(
    options: O & Options<NoInfer<A>> & OptionChecks<O, NoInfer<Args>, NoInfer<A>>,
    body: GeneratorBody<Args, Eff, A>
  ): CachedFunction<
    Args,
    ValueOf<O, A>,
    Effect.Error<Eff> | KeyErrorOf<O, Args> | ValueErrorOf<O, A>,
    Effect.Services<Eff>,
    LookupArgs<O, Args>,
    KeyErrorOf<O, Args>
  >
} = (
  nameOrOptions: string | Options<unknown>,
  f: (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown> | Generator<unknown, unknown, never>
): CachedFunction<ReadonlyArray<unknown>, unknown, unknown, unknown, ReadonlyArray<unknown>, never> => {
  if (typeof f !== "function") {
    throw new InvalidOptionsError({
      functionName: typeof nameOrOptions === "string" ? nameOrOptions : String(nameOrOptions?.name ?? "(anonymous)"),
      option: "f",
      reason: "the second argument must be a function returning an Effect, or a generator function as Effect.fn takes."
    })
  }
  const options = typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions
  const definition = define(options, f)
  // A generator body runs as Effect.fn(name) would run it; its own source is the identity.
  const compute = (Validate.isGeneratorFunction(f) ? Effect.fn(definition.name)(f as GeneratorBody<Array<unknown>, any, unknown>) : f) as (
    ...args: ReadonlyArray<unknown>
  ) => Effect.Effect<unknown, unknown, unknown>
  const withTable = <X, EX>(
    body: (table: Table.Table, fiber: Fiber.Fiber<unknown, unknown>, service: Service) => Effect.Effect<X, EX, unknown>
  ) =>
    Effect.withFiber((fiber) => {
      const service = Context.getUnsafe(fiber.context, DataCache)
      return body(tableIn(service), fiber, service)
    })
  const cached = (...args: ReadonlyArray<unknown>) =>
    withTable((table, fiber, service) => {
      const key = hashArgs(definition, args)
      if (typeof key !== "string") return Effect.fail(key)
      if (service.passthrough) return passThrough(definition, table, () => compute(...args))
      return hit(definition, table, key, fiber) ?? resolve(definition, table, key, () => compute(...args))
    })
  const byKey = <X>(args: ReadonlyArray<unknown>, body: (table: Table.Table, key: string, now: number) => X) =>
    withTable((table, fiber) => {
      const key = hashArgs(definition, args)
      return typeof key === "string" ? Effect.sync(() => body(table, key, nowOf(fiber))) : Effect.fail(key)
    })
  const tableIn = tablesOfFunction(definition, cached)
  // A function's own `name` is read-only to assignment, not to definition.
  Object.defineProperty(cached, "name", { value: definition.name })
  Object.defineProperty(cached, "id", { get: definition.id, enumerable: true })
  return Object.assign(cached, {
    invalidate: (...args: ReadonlyArray<unknown>) => byKey(args, (table, key, now) => table.invalidate(key, now)),
    has: (...args: ReadonlyArray<unknown>) => byKey(args, (table, key, now) => table.has(key, now)),
    clear: withTable((table, fiber) => Effect.sync(() => table.clear(nowOf(fiber)))),
    stats: withTable((table, fiber) =>
      Effect.sync(() => {
        table.purgeExpired(nowOf(fiber))
        return functionStats(table)
      })
    )
  }) as unknown as CachedFunction<ReadonlyArray<unknown>, unknown, unknown, unknown, ReadonlyArray<unknown>, never>
}

/**
 * Binds a cached function to the {@link DataCache} in context, so that its
 * calls (and `invalidate`, `has`, `clear`, `stats`) no longer require one.
 *
 * **When to use**
 *
 * In a service built with `Layer.effect`, whose methods should have
 * `R = never`: bind the cached functions while the layer is built, and the
 * methods use the layer's cache.
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Context, Effect, Layer } from "effect"
 *
 * // `copy: "readonly"` and a number argument: no library error can happen.
 * const fetchUser = DataCache.fn({ name: "fetchUser", ttl: "5 minutes", copy: "readonly" }, (id: number) =>
 *   Effect.succeed({ id, name: `user ${id}` }))
 *
 * class Users extends Context.Service<Users, {
 *   readonly get: (id: number) => Effect.Effect<{ readonly id: number; readonly name: string }>
 * }>()("app/Users") {
 *   static readonly layer = Layer.effect(Users, Effect.gen(function*() {
 *     const get = yield* DataCache.bind(fetchUser)
 *     return Users.of({ get })
 *   })).pipe(Layer.provide(DataCache.layer))
 * }
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const bind = <Args extends ReadonlyArray<unknown>, A, E, R, Lookup extends ReadonlyArray<unknown>, LookupError>(
  f: CachedFunction<Args, A, E, R, Lookup, LookupError>
): Effect.Effect<BoundFunction<Args, A, E, R, Lookup, LookupError>, never, DataCache> =>
  Effect.map(DataCache, (service: Service) => {
    const provide = <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.provideService(effect, DataCache, service)
    const bound = (...args: Args) => provide(f(...args))
    Object.defineProperty(bound, "name", { value: f.name })
    Object.defineProperty(bound, "id", { get: () => f.id, enumerable: true })
    return Object.assign(bound, {
      invalidate: (...args: Lookup) => provide(f.invalidate(...args)),
      has: (...args: Lookup) => provide(f.has(...args)),
      clear: provide(f.clear),
      stats: provide(f.stats)
    }) as unknown as BoundFunction<Args, A, E, R, Lookup, LookupError>
  })

const functionStats = (table: Table.Table): FunctionStats => ({
  name: table.name,
  id: table.id,
  ...table.counters,
  entries: table.entries.size,
  bytes: table.bytes
})

/**
 * Removes every entry of every cached function. Computations in flight finish
 * for their callers but are not stored.
 *
 * @category operations
 * @since 0.1.0
 */
export const clear: Effect.Effect<void, never, DataCache> = Effect.flatMap(DataCache, (service) =>
  Effect.clockWith((clock) =>
    Effect.sync(() => {
      const now = clock.currentTimeMillisUnsafe()
      for (const table of service.registry.tables.values()) table.clear(now)
    })
  )
)

/**
 * Counters of every cached function that has been called, and their totals.
 * Expired entries are purged first, so `entries` and `bytes` are exact.
 *
 * A function whose object was garbage collected and whose entries are all
 * gone leaves the list, with its counters: functions made per tenant or per
 * request do not accumulate.
 *
 * @category operations
 * @since 0.1.0
 */
export const stats: Effect.Effect<Stats, never, DataCache> = Effect.flatMap(DataCache, (service) =>
  Effect.clockWith((clock) =>
    Effect.sync(() => {
      service.registry.purgeExpired(clock.currentTimeMillisUnsafe())
      const functions = Array.from(service.registry.tables.values(), functionStats)
      const totals = { hits: 0, misses: 0, evictions: 0, expirations: 0, invalidations: 0, entries: 0, bytes: 0 }
      for (const stats of functions) {
        for (const field of Object.keys(totals) as Array<keyof Counters>) totals[field] += stats[field]
      }
      return { functions, ...totals }
    })
  )
)
