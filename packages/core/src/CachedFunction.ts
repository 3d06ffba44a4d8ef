/**
 * What `DataCache.fn` and `ResourceCache.fn` share: the options both take,
 * how arguments become keys (and what `invalidate` and `has` take), the
 * stats both keep, and the error for bad options.
 *
 * **Keys**
 *
 * Key = function identity + arguments. The identity is the name, the
 * XXH3-128 hash of the function's source text (a generator body's own
 * source), the `version` option, the `hashers` and the fingerprints of the
 * `key` (and DataCache's `value`) schema. Arguments are hashed by value
 * ({@link Hasher}). As in Streamlit, *parameters* whose names start with a
 * single `_` are not part of the key: a positional parameter (`_db`,
 * `_db = fallback`, `..._loggers`), and the `_` property names of a destructured
 * object parameter (`({ url, _http }) =>`, `({ _http: http })`), whose getters
 * are never run for the key. The names are read once per definition from the
 * function's own source (`Function.prototype.toString`) with a JavaScript
 * parser (acorn). Everything else is data: the fields of a parameter that is
 * not destructured (a document's `_id`), an object rest (`...rest`), array and
 * nested patterns, computed keys, `_tag` and `__typename`. Where the names
 * cannot be read (a bound function, an `Effect.fn` wrapper, native code),
 * nothing is left out, and an `UnhashableParamError` says so. A minifier that
 * renames parameters (`_db` to `a`) only makes a key longer, never shorter;
 * property names of a destructured parameter survive minification.
 *
 * TypeScript cannot see parameter names or destructuring, so the types are
 * an approximation: `invalidate` and `has` take the `_` fields of an object
 * argument as optional ({@link InvalidateArgs}), and a positional `_`
 * parameter still takes a value of its type (any will do: it is ignored).
 *
 * Trailing `undefined` arguments are dropped, after the `_` ones are left
 * out: `f(1)` and `f(1, undefined)` are one key (an omitted optional
 * parameter and an explicit `undefined` mean the same call), and so are
 * `f(1)` and `f(1, db)` for `(n, _db?) =>`.
 *
 * @since 0.1.0
 */
import type * as Chunk from "effect/Chunk"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as HashMap from "effect/HashMap"
import type * as HashSet from "effect/HashSet"
import type * as Option from "effect/Option"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Hasher from "./Hasher.ts"
import type * as ValueCodec from "./ValueCodec.ts"

/**
 * The options every cached function takes, DataCache's and ResourceCache's.
 *
 * @category models
 * @since 0.1.0
 */
export interface CommonOptions {
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
   * `UnhashableParamError`, never a key that leaves an argument out. It
   * describes the arguments as the key sees them, the `_` parameters left
   * out (`(_db: Db, n: number)` takes `Schema.Tuple([Schema.Number])`; the
   * compile-time check, which cannot see names, compares it with the whole
   * parameter list), and may describe less: fields it does not declare never
   * reach the key.
   * Arguments that do not match it fail the call with `UnhashableParamError`,
   * carrying the schema's issue.
   *
   * Default: the structural hasher ({@link Hasher.structural}), which handles
   * primitives, arrays, plain objects, Date, Map, Set, typed arrays and Data /
   * Schema.Class instances. Cost: one schema encode per call, hit or miss.
   */
  readonly key?: (Schema.Top & { readonly EncodingServices: never }) | undefined
  /**
   * Time to live of each entry, from the moment it is stored. An entry is a
   * miss at exactly `storedAt + ttl` (unless `staleWhileRevalidate` serves
   * it stale); reads do not extend it. A `Duration`, a string such as
   * `"1 hour"`, or a number of **milliseconds** (Effect's `Duration.Input`:
   * `ttl: 3600` is 3.6 seconds, where Streamlit's `ttl=3600` is an hour).
   *
   * Default: no expiry. Must be positive. Time comes from Effect's `Clock`.
   */
  readonly ttl?: Duration.Input | string | undefined
  /**
   * Streamlit's `refresh_mode="background"`: for this long after `ttl`, a
   * call gets the stale value at once and one background refresh runs (in
   * the layer's scope, with the caller's services). A refresh's value
   * replaces the entry unless it was cleared or invalidated meanwhile; a
   * failed refresh keeps the stale value and waits 1 s, then 2 s, 4 s, ...
   * (at most the window) before the next try. Past the window, a call waits
   * for a fresh value.
   *
   * Default: none (entries leave at `ttl`). Needs `ttl`. Cost: a stale hit
   * forks one fiber.
   */
  readonly staleWhileRevalidate?: Duration.Input | string | undefined
  /**
   * Most entries kept for this function; the least recently used is evicted
   * first. Reads and writes count as use.
   *
   * Default: unbounded. Must be a positive integer.
   */
  readonly maxEntries?: number | undefined
  /**
   * Per-type hashers for arguments the structural hasher cannot see into:
   * `[Class, (instance) => hashable value]`, best built with {@link Hasher.by}.
   * The typed form of Streamlit's `hash_funcs`. Ignored when `key` is given.
   */
  readonly hashers?: ReadonlyArray<Hasher.TypeHasher> | undefined
  /**
   * Report computations to the {@link CacheReporter} (the terminal spinner
   * of `@recall/node`): `true` (text `"Running name(...)"`, or `"Running name()"`
   * for a call without arguments, as Streamlit words it), `false` (not
   * shown), or the text to show.
   *
   * Default: `true`.
   */
  readonly spinner?: boolean | string | undefined
  /**
   * Show the elapsed time next to the spinner's text.
   *
   * Default: `false`.
   */
  readonly showTime?: boolean | undefined
  /**
   * Record what the body writes through Effect's `Console` and its log lines
   * on a miss, and write them again, in order, on every hit, before the value
   * returns (Streamlit replays a cached function's `st.*` calls). A log
   * line keeps the annotations and log spans the body added, each span with
   * the time it had been open when the body logged. Nested cached functions'
   * output is recorded inside the outer one's; a background refresh and the
   * reporter's lines are not. What is recorded is a copy taken when the body
   * writes it, counted toward the entry's bytes at its real size; a value
   * with no data form (a function, a class instance, an Error) is kept as a
   * short rendering.
   *
   * Default: the cache's (`replay` of the layer): `true` for a DataCache,
   * `false` for a ResourceCache, whose output is about acquiring the
   * resource. Cost: nothing on a hit that recorded nothing; per miss, one
   * Console wrapper, two loggers and a copy of each argument written.
   */
  readonly replay?: boolean | undefined
}

/**
 * Names that are left out of the cache key when they name a parameter or a
 * property of a destructured parameter: a single leading underscore, as in
 * Streamlit's `_param`. `_tag` is data (Effect's discriminator:
 * `Data.taggedEnum` values are plain objects) and names with a double
 * underscore (`__typename`) are conventions of data formats: both stay in the
 * key. The types cannot tell whether a parameter is destructured, so they
 * treat every such field of an object argument as one that may be left out.
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
 * One argument as the key sees it when it is destructured: an object type
 * without its `_` fields (the types cannot see destructuring).
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
 * The arguments as the key sees them, as far as types can tell: object
 * arguments without their `_` fields. Positional `_` parameters keep their
 * place (TypeScript cannot see parameter names).
 *
 * @category models
 * @since 0.1.0
 */
export type KeyArgs<Args extends ReadonlyArray<unknown>> = { readonly [I in keyof Args]: KeyOf<Args[I]> }

/**
 * The arguments `invalidate` takes: the call's arguments, where `_` fields of
 * object arguments may be left out (they are ignored when the parameter
 * destructures them, and data otherwise: pass them then). A positional `_`
 * parameter keeps its type: pass any value, it is ignored.
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
 * Argument types the structural hasher always handles, so a call with only
 * these can never fail with `UnhashableParamError`.
 *
 * @category models
 * @since 0.1.0
 */
export type Hashable = string | number | boolean | bigint | null | undefined

/**
 * The key error a call can raise: none when every key argument is plain
 * data ({@link IsPlainData}: primitives, and arrays, plain object types,
 * Dates, Maps, Sets, typed arrays and Effect's data types made of them) and
 * no `key` schema could reject it. `_` fields are left out first
 * ({@link KeyArgs}). The same structural gotcha as for values: a class with
 * data fields only has the type of a plain object, and an instance of it
 * still fails at run time with an `UnhashableParamError` its type does not
 * list; a class with methods keeps the error in the type.
 *
 * @category models
 * @since 0.1.0
 */
export type KeyErrorOf<O, Args extends ReadonlyArray<unknown>> = O extends { readonly key: Schema.Top }
  ? Hasher.UnhashableParamError
  : IsAny<KeyArgs<Args>[number]> extends true
    ? Hasher.UnhashableParamError
    : IsPlainData<KeyArgs<Args>[number]> extends true
      ? never
      : Hasher.UnhashableParamError

/**
 * Whether every value of the static type `A` is plain data: data that the
 * structured copy copies and the structural hasher hashes, so that a call
 * returning it cannot fail with `UnserializableValueError`, and a call
 * taking only such arguments cannot fail with `UnhashableParamError`.
 *
 * **Details**
 *
 * Plain data is: `string`, `number`, `boolean`, `bigint`, `null`,
 * `undefined` and `void`; arrays, readonly arrays and tuples of plain data;
 * object types whose every field is plain data; `Date`, typed arrays,
 * `ArrayBuffer` and `DataView`; `Map` and `Set` of plain data; and Effect's
 * `Option`, `Result`, `Chunk`, `HashMap`, `HashSet` of plain data,
 * `DateTime` and `Duration`. Not plain data: `any`, `unknown`, `object`,
 * `{}`, symbols, functions, and every type with a method (so class instances
 * with behaviour: a class type lists its methods), types nested deeper than
 * 10 levels (a recursive type) and built-ins with members of their own (a
 * subclass of `Map`, Node's `Buffer`).
 *
 * **Gotchas**
 *
 * TypeScript's object types are structural, and the copy refuses class
 * instances at run time (a copy would lose the class). A class whose public
 * members are data fields only (no methods) has the type of a plain object,
 * so `{ city: string }` also admits `new City()` of
 * `class City { city = "Oslo" }`; a value that is a proxy, or has a getter
 * that throws, is not told apart either. Such a value still fails the call
 * with `UnserializableValueError` at run time, an error its type does not
 * list. This is the trade the types make: a class without methods returned
 * where plain data is declared is rare, and keeping the error in the type of
 * every plain-data value would make the common case say what cannot happen.
 * Give the function a `value` schema to keep class instances (their error is
 * then in the type), or declare the class type itself.
 *
 * @category models
 * @since 0.1.0
 */
export type IsPlainData<A> = [NotPlainData<A, PlainDataDepth>] extends [never] ? true : false

/** How deep {@link IsPlainData} looks before it assumes the worst. */
type PlainDataDepth = readonly [unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown]

/** The parts of `A` that are not plain data (`never` when there are none). Distributes over unions. */
type NotPlainData<A, Depth extends ReadonlyArray<unknown>> =
  // biome-ignore lint/suspicious/noConfusingVoidType: an Effect<void> body returns nothing to copy
  A extends string | number | boolean | bigint | null | undefined | void
    ? never
    : Depth extends readonly [unknown, ...infer Deeper extends ReadonlyArray<unknown>]
      ? A extends Function
        ? A
        : A extends ReadonlyArray<unknown>
          ? number extends A["length"]
            ? OwnMembers<A, Array<unknown>, `${number}`> | NotPlainData<A[number], Deeper>
            : { [I in keyof A]: NotPlainData<A[I], Deeper> }[number]
          : A extends ValueCodec.TypedArray
            ? OwnMembers<A, ValueCodec.TypedArrays[A[typeof Symbol.toStringTag]]>
            : A extends DataView
              ? OwnMembers<A, DataView>
              : A extends ArrayBuffer
                ? OwnMembers<A, ArrayBuffer>
                : A extends Date
                  ? OwnMembers<A, Date>
                  : A extends ReadonlyMap<infer K, infer V>
                    ? OwnMembers<A, Map<K, V>> | NotPlainData<K, Deeper> | NotPlainData<V, Deeper>
                    : A extends ReadonlySet<infer V>
                      ? OwnMembers<A, Set<V>> | NotPlainData<V, Deeper>
                      : A extends DateTime.DateTime | Duration.Duration
                        ? never
                        : A extends Option.Option<infer V> | Chunk.Chunk<infer V> | HashSet.HashSet<infer V>
                          ? NotPlainData<V, Deeper>
                          : A extends Result.Result<infer S, infer F>
                            ? NotPlainData<S, Deeper> | NotPlainData<F, Deeper>
                            : A extends HashMap.HashMap<infer K, infer V>
                              ? NotPlainData<K, Deeper> | NotPlainData<V, Deeper>
                              : A extends object
                                ? [keyof A] extends [never]
                                  ? A
                                  : // A method: no need to look further (a class instance's type is large).
                                    [MethodOf<A>] extends [never]
                                    ? { [K in keyof A]-?: NotPlainData<A[K], Deeper> }[keyof A]
                                    : A
                                : A
      : A

/** The names of `A`'s fields that hold functions. */
type MethodOf<A> = { [K in keyof A]-?: A[K] extends Function ? K : never }[keyof A]

/** `A` when it has members its built-in `Builtin` has not (a subclass's), else `never`. */
type OwnMembers<A, Builtin, Also = never> = [Exclude<keyof A, keyof Builtin | Also>] extends [never] ? never : A

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
 * `ttl` accepts any string so that shared option objects (whose strings
 * widen to `string`) type-check; a string literal that is not a duration is
 * still a type error here, and any bad string an `InvalidOptionsError` when
 * the function is defined. `staleWhileRevalidate` without a `ttl` is a type
 * error too (and an `InvalidOptionsError`).
 *
 * @category models
 * @since 0.1.0
 */
export type TtlCheck<O> = (O extends { readonly ttl: infer T }
  ? string extends T
    ? unknown
    : [T] extends [Duration.Input | undefined]
      ? unknown
      : { readonly ttl: Mistake<'not a duration: use a number of milliseconds or a string such as "10 minutes"'> }
  : unknown) &
  // The stale window is counted from the ttl: without one there is nothing to be stale after.
  (O extends { readonly staleWhileRevalidate: infer W }
    ? [W] extends [undefined]
      ? unknown
      : O extends { readonly ttl: infer T }
        ? [T] extends [undefined]
          ? { readonly staleWhileRevalidate: Mistake<"staleWhileRevalidate needs a ttl: add one, or leave it out"> }
          : unknown
        : { readonly staleWhileRevalidate: Mistake<"staleWhileRevalidate needs a ttl: add one, or leave it out"> }
    : unknown)

/**
 * The expected type of an option the types reject: the mistake, in words.
 * A type error on the option then reads `Type 'number' is not assignable to
 * type 'Mistake<"maxEntry is not a DataCache.fn option; did you mean
 * maxEntries?">'`.
 *
 * **Details**
 *
 * It is an object type, not a string literal, on purpose: the options are
 * inferred with their literal types (`maxEntry: 5`), and `5 & "a message"`
 * is `never`, which would turn the whole options type into `never`, the
 * error into `Type '"a"' is not assignable to type 'never'` on another
 * option, and `cacheIf`'s parameter into `unknown`. `5 & Mistake<...>` stays
 * an error on the bad option only.
 *
 * @category models
 * @since 0.1.0
 */
export interface Mistake<Message extends string> {
  readonly "~@recall/core/Mistake": Message
}

/**
 * The known option names closest to `K`, as the run-time check suggests
 * them: equal but for case, one the start of the other, or within the edit
 * distance the run time allows (2, or 3 for names of 9 letters and more).
 * `never` when no name is close.
 *
 * @category models
 * @since 0.1.0
 */
export type NearestName<K extends string, Names extends string> = {
  [N in Names]: true extends WithinEdits<Lowercase<K>, Lowercase<N>, EditBudget<N>>
    ? N
    : Lowercase<N> extends `${Lowercase<K>}${string}`
      ? // A prefix of at least 3 letters: `max` suggests maxEntries and maxBytes, `m` nothing.
        K extends `${string}${string}${string}${string}`
        ? N
        : never
      : Lowercase<K> extends `${Lowercase<N>}${string}`
        ? N
        : never
}[Names]

/** Whether `A` becomes `B` in at most `Budget["length"]` one-letter edits (a union of booleans: `true` in it if so). */
type WithinEdits<A extends string, B extends string, Budget extends ReadonlyArray<unknown>> = A extends B
  ? true
  : Budget extends readonly [unknown, ...infer Rest]
    ? A extends `${infer a}${infer restA}`
      ? B extends `${infer b}${infer restB}`
        ? a extends b
          ? WithinEdits<restA, restB, Budget>
          : WithinEdits<restA, restB, Rest> | WithinEdits<restA, B, Rest> | WithinEdits<A, restB, Rest>
        : WithinEdits<restA, B, Rest>
      : B extends `${string}${infer restB}`
        ? WithinEdits<A, restB, Rest>
        : false
    : false

type Letters<S extends string, Acc extends ReadonlyArray<unknown> = []> = S extends `${string}${infer Rest}`
  ? Letters<Rest, [...Acc, unknown]>
  : Acc

type EditBudget<N extends string> =
  Letters<N> extends readonly [unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown, ...Array<unknown>]
    ? readonly [unknown, unknown, unknown]
    : readonly [unknown, unknown]

/**
 * The mistake of an option name `K` that `fn` (of `Kind`) does not take,
 * with the nearest known names when some are close.
 *
 * @category models
 * @since 0.1.0
 */
export type UnknownOption<K, Kind extends string, Names extends string> = [NearestName<K & string, Names>] extends [never]
  ? Mistake<`${K & string} is not a ${Kind}.fn option; the options are ${Kind}.Options' fields`>
  : Mistake<`${K & string} is not a ${Kind}.fn option; did you mean ${NearestName<K & string, Names>}?`>

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
  /** Calls served from the store (`DataCache.layerStore`) after a front-tier miss; 0 without a store. */
  readonly storeHits: number
  /** Values written to the store. */
  readonly storeWrites: number
  /** Store operations that failed or timed out (the calls still returned their values). */
  readonly storeErrors: number
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
    // The body is no option: its mistakes read as such.
    return this.option === "body"
      ? `Invalid body of cached function ${this.functionName}: ${this.reason}`
      : // A layer's options name the layer (`DataCache.layerStore`), not a cached function.
        `Invalid option \`${this.option}\` for ${/^[A-Z]\w*\.(layer|make)/.test(this.functionName) ? "" : "cached function "}${this.functionName}: ${this.reason}`
  }
}

/**
 * Raised (as a defect) when a cached function's computation calls the same
 * function with the same arguments, directly or through cached functions
 * that wait for each other: that call would wait for its own result forever.
 * Compute the inner value without the cache, or with other arguments.
 * (Across processes, the same cycle waits for the store's lock until
 * `lockWait`, then fails with this error too.)
 *
 * @category errors
 * @since 0.1.0
 */
export class CycleError extends Schema.TaggedError<CycleError>()("CycleError", {
  functionName: Schema.String
}) {
  override get message(): string {
    return (
      `${this.functionName} called itself with the same arguments while computing them ` +
      "(directly, or through cached functions that wait for each other); " +
      "that call would wait for its own result forever. Compute the inner value without the cache, or with other arguments."
    )
  }
}

/**
 * Raised (as a defect) when a cached function is called through a layer
 * whose scope has closed: a bound function kept after its session ended,
 * or a context that escaped its `Effect.provide`. A closed cache holds
 * nothing and runs nothing: provide a live layer.
 *
 * @category errors
 * @since 0.1.0
 */
export class CacheClosedError extends Schema.TaggedError<CacheClosedError>()("CacheClosedError", {
  functionName: Schema.String,
  cache: Schema.Literals(["DataCache", "ResourceCache"])
}) {
  override get message(): string {
    return (
      `The ${this.cache} layer of this call of ${this.functionName} has closed (its scope ended): the call was made through ` +
      "it after it closed, or was waiting for a computation when it closed, so there is no cache to serve or keep its value. " +
      `Call it with a live ${this.cache} layer provided; a function bound with ${this.cache}.bind belongs to the layer it ` +
      "was bound in, and ends with it."
    )
  }
}
