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
 * - Arguments are hashed by value ({@link Hasher}). As in Streamlit,
 *   *parameters* whose names start with a single `_` are not part of the key:
 *   a positional `(_db: Db, n: number)`, and the `_` names of a destructured
 *   object parameter (`({ url, _http })`), read from the function's own
 *   parameter list with a JavaScript parser. Fields of a parameter that is not
 *   destructured are data (a document's `_id` stays in the key). Where the
 *   names cannot be read, nothing is left out. Trailing `undefined` arguments
 *   are dropped: `f(1)` and `f(1, undefined)` are one key.
 * - Copy isolation: every call, the first included, returns a value that
 *   shares no mutable state with the cache or with other callers (unless
 *   `copy: "readonly"`). The call that ran the body gets the body's own
 *   value (the cache keeps a copy of it), as Streamlit's does: a body that
 *   returns an object it also keeps elsewhere (a module-level table, its own
 *   argument) hands that object itself to its first caller.
 * - `ttl`: an entry is a miss at exactly `storedAt + ttl`, on Effect's
 *   `Clock` (so `TestClock` drives it); reads do not extend it. Expired
 *   entries are removed on the next access to their function and by a sweep
 *   of the layer, not just hidden.
 * - `maxEntries`: least-recently-used eviction; reads and writes count as
 *   use, `has` does not. `maxBytes` per function and on the layer.
 * - Single flight: concurrent calls with one key run the body once. The
 *   computation belongs to the cache: it runs in a fiber of the layer's
 *   scope, and interrupting any caller (the first included) only ends that
 *   caller's wait, so requests that time out still fill the cache. If the
 *   body fails, every caller waiting on it gets the failure (one run per
 *   failure, however many wait); nothing is stored.
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
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type {
  CommonOptions,
  FunctionStats,
  GeneratorBody,
  InvalidateArgs,
  IsAny,
  IsPlainData,
  IsPositional,
  KeyErrorOf,
  LookupArgs,
  Stats,
  TtlCheck,
  UnknownOption
} from "./CachedFunction.ts"
import { InvalidOptionsError } from "./CachedFunction.ts"
import * as CacheStore from "./CacheStore.ts"
import type * as Hasher from "./Hasher.ts"
import * as Cache from "./internal/cache.ts"
import * as Callable from "./internal/callable.ts"
import * as Definition from "./internal/definition.ts"
import * as EntryFormat from "./internal/entryFormat.ts"
import * as Face from "./internal/face.ts"
import * as Operations from "./internal/operations.ts"
import * as StoreTier from "./internal/storeTier.ts"
import * as Validate from "./internal/validate.ts"
import * as ValueCodec from "./ValueCodec.ts"

const TypeId = "~@recall/core/DataCache" as const

export type {
  Counters,
  ExcludedKey,
  ExcludedOf,
  FunctionStats,
  GeneratorBody,
  Hashable,
  InvalidateArgs,
  IsAny,
  IsExcluded,
  IsPlainData,
  IsPositional,
  KeyArgs,
  KeyErrorOf,
  KeyOf,
  LookupArg,
  LookupArgs,
  Mistake,
  NearestName,
  Stats,
  TtlCheck,
  UnknownOption
} from "./CachedFunction.ts"
export { CacheClosedError, CycleError, InvalidOptionsError } from "./CachedFunction.ts"

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

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
 * schema must accept the arguments (TypeScript cannot see parameter names, so
 * it is checked against the whole parameter list), and the value
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
 * `maxEntry`): each unknown name's expected type becomes a {@link Mistake}
 * naming it and the nearest known names (`maxEntry is not a DataCache.fn
 * option; did you mean maxEntries?`). The error is on the unknown option
 * only: the other options, `cacheIf`'s parameter included, keep their types.
 *
 * @category models
 * @since 0.1.0
 */
export type UnknownOptions<O> = {
  readonly [K in Exclude<keyof O, keyof Options<unknown>>]: UnknownOption<K, "DataCache", keyof Options<unknown>>
}

/**
 * Every compile-time check of {@link fn}'s options.
 *
 * @category models
 * @since 0.1.0
 */
export type OptionChecks<O, Args extends ReadonlyArray<unknown>, A> = SchemaChecks<O, Args, A> & UnknownOptions<O> & TtlCheck<O>

/**
 * Options of a DataCache function: the {@link CommonOptions} of every cached
 * function, and what DataCache adds about values.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<A> extends CommonOptions {
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
   * Byte budget for this function's stored values (an estimate of their
   * in-memory size, recorded output included). Least recently used entries
   * are evicted to stay under it; a single value larger than the budget is
   * returned but not stored.
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
   * `"clone"` (default): every caller gets its own deep copy. `"readonly"`:
   * every caller gets the same deep-frozen instance, typed deeply readonly;
   * no copy on hit, for large data where copying costs too much. (What JS
   * cannot freeze, such as typed-array elements, Map contents and instances
   * of your own classes, is readonly in the types only: see
   * `ValueCodec.readonly`.)
   */
  readonly copy?: "clone" | "readonly" | undefined
  /**
   * Under {@link layerStore}: whether this function's values also go to the
   * store (and are read from it). `false` keeps it in the front (memory)
   * tier only: values that must not leave the process, or that are cheaper
   * to compute than to read.
   *
   * Default: `true`. A value the store cannot hold (a class instance without
   * a `value` schema) is kept in memory, and the function is warned about
   * once. Without a store the option does nothing. It is not part of the
   * function identity.
   */
  readonly persist?: boolean | undefined
}

/**
 * The value error a call can raise: none with `copy: "readonly"` (nothing is
 * copied), and none without a `value` schema when the value's static type is
 * plain data that the structured copy always copies ({@link IsPlainData}):
 * `string[]`, `{ city: string; celsius: number }`, `void`.
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
      : IsPlainData<A> extends true
        ? never
        : ValueCodec.UnserializableValueError

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
  /**
   * Removes the entry of these arguments. The left-out ones are ignored:
   * `_` fields of an object argument are optional in the type, and a
   * positional `_` parameter takes whatever the caller has.
   */
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
 * `R` is what the body needs. The bound cache is provided to the body too, so
 * a body that calls other cached functions (and so needs a `DataCache`)
 * needs none from the caller: the calls' `R` is `R` without `DataCache`.
 *
 * @category models
 * @since 0.1.0
 */
export interface BoundFunction<Args extends ReadonlyArray<unknown>, A, E, R, Lookup extends ReadonlyArray<unknown>, LookupError> {
  (...args: Args): Effect.Effect<A, E, Exclude<R, DataCache>>
  readonly id: string
  readonly name: string
  readonly invalidate: (...args: Lookup) => Effect.Effect<void, LookupError>
  readonly has: (...args: Lookup) => Effect.Effect<boolean, LookupError>
  readonly clear: Effect.Effect<void>
  readonly stats: Effect.Effect<FunctionStats>
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
  readonly cache: Cache.Cache
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
  /**
   * Whether functions that do not set their own `replay` option record and
   * replay their output. Default: `true`.
   */
  readonly replay?: boolean | undefined
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
  const { maxBytes, replay, sweepMillis } = Definition.invalidOptions(() => Validate.layerOptions("DataCache.layerMemory", options))
  return Layer.effect(DataCache, make({ maxBytes, sweepMillis, passthrough: false, replay: replay ?? true }))
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
export const layerPassthrough: Layer.Layer<DataCache> = Layer.effect(
  DataCache,
  make({ maxBytes: Infinity, sweepMillis: 60_000, passthrough: true, replay: true })
)

/**
 * Options of {@link layerStore}: {@link layerMemory}'s, for the front tier,
 * and the store's.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreLayerOptions extends LayerOptions {
  /**
   * Signs every entry (HMAC-SHA-256, through WebCrypto) and keys the names
   * of entries with it, so that an entry written or changed by anyone
   * without the secret is a miss, and nobody who controls arguments can
   * craft a name that collides with another call's. At least 16 bytes; a
   * `Config` (`Config.Redacted("RECALL_SECRET")`) is read when the layer is
   * built, and one missing or shorter than 16 bytes fails the layer with
   * `ConfigError` (a secret in code that is too short is an
   * `InvalidOptionsError` when the layer is made). Every process that shares the store needs the same secret: an
   * entry signed with another is a miss (recomputed, not an error).
   *
   * Default: none (entries are checked by their XXH3-128 checksum only:
   * enough against corruption, not against someone who can write to the
   * store). The secret also keys the digests of `Redacted` arguments for the
   * whole process, so processes with one secret name them alike.
   */
  readonly secret?: Redacted.Redacted<string | Uint8Array> | Config.Config<Redacted.Redacted<string>> | undefined
  /**
   * How long one store operation may take before the call goes on without
   * it (counted in `storeErrors`, as a failure is). A write gets one more
   * second per 50 MB of its entry. Default: 5 seconds.
   */
  readonly storeTimeout?: Duration.Input | undefined
  /**
   * With a store that has locks (the disk store, Redis): how long the lock
   * of a process computing a key lasts without renewal. It is renewed every
   * third of this while the body runs; a process that crashed loses it
   * after this long, and another takes over. Default: 10 seconds.
   */
  readonly lockTtl?: Duration.Input | undefined
  /**
   * With a store that has locks: the longest a call waits for another
   * process computing its key (holding its lock, and renewing it) before it
   * computes the key itself, without the lock; the body then runs in both
   * processes, and one warning per function says so. It bounds what nothing
   * else would: two processes whose bodies call each other's keys (`a` calls
   * `b` in one, `b` calls `a` in the other) each hold one lock and wait for
   * the other's; after this long each computes, meets its own cycle and
   * fails with the message a cycle gets in one process. Set it above your
   * longest body. Default: 5 minutes.
   */
  readonly lockWait?: Duration.Input | undefined
}

/**
 * A `DataCache` with two tiers: the bounded in-memory table of
 * {@link layerMemory} in front of the {@link CacheStore.CacheStore} in
 * context (a disk directory, Redis, any `KeyValueStore`), so a restart keeps
 * its cache and processes that share a store share its entries.
 *
 * **Details**
 *
 * - A call looks in the front tier; on a miss, in the store; on a store
 *   miss it computes (once per key in the process, and once across
 *   processes where the store has locks) and writes both tiers. The callers
 *   do not wait for the store write. A value read from the store keeps its
 *   original `storedAt` and expiry, and its recorded output is replayed.
 * - `fn.invalidate` and `fn.clear` reach the store; {@link clear} removes
 *   every entry of the store, also those of functions this process has not
 *   called (and of other programs that share it). Each process keeps its own
 *   front tier: over a store with notices (`CacheStore.Notices`: the disk
 *   and Redis stores), a removal in one process (or by `recall clear`) also
 *   drops the front-tier copies the others hold of that function, within a
 *   message's time (best effort: a process disconnected from Redis then
 *   keeps its copies until they expire); over a store without, other
 *   processes keep serving their copies until they expire.
 * - A store that fails, is slow or full never fails a call: the call
 *   computes and returns its value; the failure is counted (`storeErrors`),
 *   logged once per outage, and a circuit breaker stops calling the store
 *   for a while, then tries again by itself.
 * - An entry that does not read (corrupt, truncated, tampered, another
 *   secret, another value schema) is a miss: deleted, warned about, computed
 *   again. Reading never runs code from the bytes.
 * - Values the store cannot hold (a class instance without a `value`
 *   schema) stay in memory; the function is warned about once. Functions
 *   with `persist: false` never reach the store. ResourceCache is never
 *   persisted.
 * - Stats count front-tier `hits`, `storeHits`, `misses` (the body ran),
 *   `storeWrites` and `storeErrors` per function.
 *
 * @example
 * ```ts
 * import { CacheStore, DataCache } from "@recall/core"
 * import { Effect, Layer } from "effect"
 *
 * const square = DataCache.fn({ name: "square", ttl: "1 hour" }, (n: number) => Effect.succeed(n * n))
 *
 * const Cache = DataCache.layerStore().pipe(Layer.provide(CacheStore.layerMemory()))
 *
 * Effect.runPromise(square(12).pipe(Effect.provide(Cache)))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore = <const O extends StoreLayerOptions = {}>(
  options?: O
): Layer.Layer<DataCache, O extends { readonly secret: Config.Config<any> } ? Config.ConfigError : never, CacheStore.CacheStore> => {
  const checked = Definition.invalidOptions(() => Validate.storeLayerOptions(options))
  return Layer.effect(
    DataCache,
    Effect.gen(function* () {
      const store = yield* CacheStore.CacheStore
      const given = checked.secret as StoreLayerOptions["secret"]
      const secret =
        given === undefined
          ? undefined
          : Config.isConfig(given)
            ? yield* Effect.mapError(
                Effect.gen(function* () {
                  return yield* given
                }),
                // Effect's own message names the variable, inside a schema issue: say what it is for, and what to set.
                (e) =>
                  new Config.ConfigError(
                    new ConfigProvider.SourceError({
                      message:
                        `DataCache.layerStore's secret could not be read from Config (${e.message.replace(/\s+/g, " ")}): ` +
                        "set it to a random string of 32 characters or more, the same in every process that shares the store"
                    })
                  )
              )
            : given
      // A secret read from Config is checked as a given one is, but fails the layer with a ConfigError (the
      // environment is wrong, not the code), whose message never shows it.
      if (secret !== undefined && Config.isConfig(given)) {
        try {
          Definition.invalidOptions(() => Validate.storeSecret(secret, " (read from Config)"))
        } catch (e) {
          if (!(e instanceof InvalidOptionsError)) throw e
          return yield* Effect.fail(
            new Config.ConfigError(new ConfigProvider.SourceError({ message: `DataCache.layerStore's secret: ${e.reason}` }))
          )
        }
      }
      const keys = secret === undefined ? undefined : yield* Effect.orDie(StoreTier.fromSecret(secret))
      const breaker = yield* StoreTier.makeBreaker
      const tier: StoreTier.Tier = {
        store,
        secret: keys?.entrySecret,
        mac: keys?.mac,
        breaker,
        unhealthy: new Set(),
        timeout: Duration.millis(checked.timeoutMillis),
        lockMillis: checked.lockMillis,
        lockWaitMillis: checked.lockWaitMillis,
        down: new Map(),
        writes: new Set(),
        clearing: undefined,
        tombstone: undefined,
        scope: yield* Effect.scope,
        deadlines: yield* StoreTier.makeDeadlines,
        places: new Map()
      }
      const service = yield* make({
        maxBytes: checked.maxBytes,
        sweepMillis: checked.sweepMillis,
        passthrough: false,
        replay: checked.replay ?? true,
        tier
      })
      // Removals in other processes reach this one's front tier (a store that can tell: the disk and Redis stores).
      if (store.notices !== undefined) {
        const cache = service.cache
        yield* store.notices.subscribe((notice) => {
          if (!cache.closed) StoreTier.hear(tier, notice, cache.clock?.currentTimeMillisUnsafe() ?? Date.now())
        })
      }
      return service
    })
  ) as Layer.Layer<DataCache, any, CacheStore.CacheStore>
}

function make(options: {
  readonly maxBytes: number
  readonly sweepMillis: number
  readonly passthrough: boolean
  readonly replay: boolean
  readonly tier?: StoreTier.Tier | undefined
}): Effect.Effect<Service, never, Scope.Scope> {
  return Effect.map(Cache.make({ kind: "DataCache", ...options }), (cache) => DataCache.of({ [TypeId]: TypeId, cache }))
}

// ---------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------

const optionNames: ReadonlySet<string> = new Set<keyof Options<unknown>>([
  "name",
  "version",
  "key",
  "value",
  "ttl",
  "staleWhileRevalidate",
  "maxEntries",
  "maxBytes",
  "cacheIf",
  "hashers",
  "copy",
  "spinner",
  "showTime",
  "replay",
  "persist"
])

/**
 * DataCache's face: the table keeps the codec's stored form, and each caller
 * gets a fresh copy of it (the computing caller, the codec's own result).
 */
const faceOf = <A>(options: Options<A>, name: string): Definition.FaceOf<A, unknown> => {
  const codec: ValueCodec.ValueCodec<A> =
    options.copy === "readonly"
      ? ValueCodec.readonly()
      : options.value !== undefined
        ? ValueCodec.fromSchema(options.value as Schema.Codec<A, unknown>)
        : ValueCodec.structuredCopy()
  if (options.persist !== undefined && typeof options.persist !== "boolean") {
    throw new InvalidOptionsError({
      functionName: name,
      option: "persist",
      reason: `must be true or false, got ${typeof options.persist}. Leave it out to persist under DataCache.layerStore.`
    })
  }
  return {
    face: {
      kind: "DataCache",
      keep: (value) => {
        try {
          return asKept(codec.storeUnsafe(value))
        } catch (e) {
          return { _tag: "Rejected", error: ValueCodec.toValueError(e, name) }
        }
      },
      load: (stored) => {
        try {
          return codec.loadUnsafe(stored)
        } catch {
          // A stored value that no longer loads is dropped and recomputed.
          return Face.unusable
        }
      },
      lifecycle: undefined,
      persistence:
        options.persist === false
          ? undefined
          : options.copy === "readonly"
            ? // A value schema does nothing here: readonly keeps (and stores) the instance itself.
              persistenceOf(
                codec,
                undefined,
                '`copy: "readonly"` keeps the instance itself, and a `value` schema does not apply to it: to store such values, ' +
                  "leave `copy` at its default and give the function a `value` schema, or set `persist: false` to keep this function in memory and silence this warning."
              )
            : persistenceOf(codec, options.value)
    },
    identity: [Definition.schemaIdentity(options.value), codec.kind],
    cacheIf: options.cacheIf
  }
}

/** What a codec keeps, as the face hands it to the table. */
const asKept = <A>(kept: { readonly stored: unknown; readonly bytes: number; readonly value: A }): Face.Kept<A, unknown> => ({
  _tag: "Kept",
  stored: kept.stored,
  bytes: kept.bytes,
  value: kept.value
})

/**
 * How a codec's kept values go to a store: a schema's JSON encoding under
 * the schema codec id and the schema's fingerprint; otherwise the value
 * itself, under the structured codec id.
 */
const persistenceOf = <A>(
  codec: ValueCodec.ValueCodec<A>,
  schema: Schema.Top | undefined,
  unstorableFix?: string
): Face.Persistence<A, unknown> => {
  let fingerprint: Uint8Array | undefined
  return {
    unstorableFix,
    codec: schema === undefined ? EntryFormat.Codec.structured : EntryFormat.Codec.schema,
    // The schema's XXH3-128, read once the hasher loaded (by the layer, before any store operation).
    get fingerprint() {
      fingerprint ??=
        schema === undefined ? EntryFormat.NO_FINGERPRINT : EntryFormat.fingerprintOf(JSON.stringify(Definition.schemaIdentity(schema)))
      return fingerprint
    },
    toPersisted: codec.persisted.toPersisted,
    readUnsafe: codec.persisted.readUnsafe,
    keepUnsafe: (value, persisted) => asKept(codec.persisted.keepUnsafe(value, persisted))
  }
}

/**
 * Turns a function that returns an Effect into a cached one.
 *
 * **Details**
 *
 * The result takes the same arguments and returns an Effect that needs a
 * {@link DataCache}. A hit returns a fresh copy of the stored value at once; a
 * miss runs the body in a fiber of the layer's scope (with the caller's
 * services, and in a `Scope` of its own that closes when the body's value is
 * kept) and stores a copy of its value. The computation belongs to the cache:
 * a caller that is interrupted (a request that timed out) stops waiting, and
 * the value is stored all the same. Concurrent calls with one key run the
 * body once. Errors are never cached.
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
 *   ({ city, _log }: { city: string; _log: (line: string) => void }) =>
 *     Effect.sync(() => {
 *       _log(`loading ${city}`)
 *       return [{ id: 1, start: new Date(0) }]
 *     })
 * )
 *
 * // `_log`, a `_` name of the destructured parameter, is not part of the key; invalidate without it:
 * const refresh = loadTrips.invalidate({ city: "Oslo" })
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
  ): CachedFunction<
    Args,
    A,
    Effect.Error<Eff> | KeyErrorOf<{}, Args> | ValueErrorOf<{}, A>,
    Exclude<Effect.Services<Eff>, Scope.Scope>,
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
    Exclude<Effect.Services<Eff>, Scope.Scope>,
    LookupArgs<O, Args>,
    KeyErrorOf<O, Args>
  >
  <const Args extends ReadonlyArray<any>, A, E, R>(
    name: string,
    f: (...args: Args) => Effect.Effect<A, E, R>
  ): CachedFunction<
    Args,
    A,
    E | KeyErrorOf<{}, Args> | ValueErrorOf<{}, A>,
    Exclude<R, Scope.Scope>,
    InvalidateArgs<Args>,
    KeyErrorOf<{}, Args>
  >
  <const Args extends ReadonlyArray<any>, A, E, R, const O extends Options<NoInfer<A>> = {}>(
    options: O & Options<NoInfer<A>> & OptionChecks<O, NoInfer<Args>, NoInfer<A>>,
    // A generator body reaches this overload only with options the one above rejected: taking it here too reports just those.
    f: ((...args: Args) => Effect.Effect<A, E, R>) | ((...args: Args) => Generator<Effect.Effect<any, E, R>, A, never>)
  ): CachedFunction<
    Args,
    ValueOf<O, A>,
    E | KeyErrorOf<O, Args> | ValueErrorOf<O, A>,
    Exclude<R, Scope.Scope>,
    LookupArgs<O, Args>,
    KeyErrorOf<O, Args>
  >
} = (
  nameOrOptions: string | Options<unknown>,
  f: (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown> | Generator<unknown, unknown, never>
): CachedFunction<ReadonlyArray<unknown>, unknown, unknown, unknown, ReadonlyArray<unknown>, never> => {
  Definition.requireFunction("DataCache", nameOrOptions, f)
  const options = typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions
  const definition = Definition.define("DataCache", options, f, optionNames, faceOf)
  return Callable.build(definition, cacheOf) as CachedFunction<
    ReadonlyArray<unknown>,
    unknown,
    unknown,
    unknown,
    ReadonlyArray<unknown>,
    never
  >
}

const cacheOf = (fiber: Fiber.Fiber<unknown, unknown>): Cache.Cache => Context.getUnsafe(fiber.context, DataCache).cache

/**
 * Binds a cached function to the {@link DataCache} in context, so that its
 * calls (and `invalidate`, `has`, `clear`, `stats`) no longer require one.
 *
 * **When to use**
 *
 * In a service built with `Layer.effect`, whose methods should have
 * `R = never`: bind the cached functions while the layer is built, and the
 * methods use the layer's cache. The cache is provided to the body too, so a
 * body that calls other cached functions needs no `DataCache` either.
 *
 * @example
 * ```ts
 * import { DataCache } from "@recall/core"
 * import { Context, Effect, Layer } from "effect"
 *
 * // A number argument and a plain-data value: no library error can happen.
 * const fetchUser = DataCache.fn({ name: "fetchUser", ttl: "5 minutes" }, (id: number) =>
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
  Effect.map(
    DataCache,
    (service: Service) =>
      Callable.bindFunction(
        f as unknown as Parameters<typeof Callable.bindFunction>[0],
        (effect) => Effect.provideService(effect, DataCache, service),
        ["invalidate", "has"],
        ["clear", "stats"]
      ) as BoundFunction<Args, A, E, R, Lookup, LookupError>
  )

/**
 * Removes every entry of every cached function. Computations in flight finish
 * for their callers but are not stored.
 *
 * @category operations
 * @since 0.1.0
 */
export const clear: Effect.Effect<void, never, DataCache> = Effect.flatMap(DataCache, (service) =>
  Effect.uninterruptible(Operations.clearAll(service.cache))
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
  Effect.uninterruptible(Operations.statsOf(service.cache))
)
