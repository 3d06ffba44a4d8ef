/**
 * Defining a cached function, for both faces: options checked once, the
 * function identity, the key, and the callable object with `invalidate`,
 * `has`, `clear` and `stats`. Also the cache-wide `clear` and `stats`.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Schema from "effect/Schema"
import type { CommonOptions, FunctionStats, Stats } from "../CachedFunction.ts"
import { InvalidOptionsError } from "../CachedFunction.ts"
import * as Hasher from "../Hasher.ts"
import * as Engine from "./engine.ts"
import * as Key from "./key.ts"
import * as Parameters from "./parameters.ts"
import type * as Table from "./table.ts"
import * as Validate from "./validate.ts"

/**
 * Runs option checks, turning a problem they find into the public
 * {@link InvalidOptionsError}. A function declaration, so that layers can use
 * it while their module loads.
 *
 * @internal
 */
export function invalidOptions<X>(check: () => X): X {
  try {
    return check()
  } catch (e) {
    if (e instanceof Validate.OptionProblem) throw new InvalidOptionsError(e)
    throw e
  }
}

/** What a face adds to a definition, from its checked options. @internal */
export interface FaceOf<A, S, O> {
  readonly face: Engine.Face<A, S>
  /** Parts of the identity only this face has (a value schema, a copy mode); read on first use, once the hasher is loaded. */
  readonly identity: () => ReadonlyArray<unknown>
  readonly cacheIf?: ((value: A) => boolean) | undefined
  readonly options?: O
}

/**
 * Checks a cached function's options and builds its definition.
 *
 * @throws InvalidOptionsError
 * @internal
 */
export const define = <A, S, O extends CommonOptions>(
  kind: Engine.Kind,
  given: O,
  f: Function,
  optionNames: ReadonlySet<string>,
  faceOf: (options: O, name: string) => FaceOf<A, S, O>
): Engine.Definition<A, S> => {
  // Each option is read once, by the checks: what was checked is what is used.
  const checked = invalidOptions(() => Validate.functionOptions(kind, given, f, optionNames))
  const { name, limits } = checked
  const options = checked.options as O
  const { face, identity: faceIdentity, cacheIf } = invalidOptions(() => faceOf(options, name))
  let id: string | undefined
  const identity = () =>
    (id ??= `${name}:${Hasher.structural().hashUnsafe([
      // Function.prototype's own toString: an own `toString` cannot stand in for the source.
      Function.prototype.toString.call(f),
      options.version ?? null,
      ...faceIdentity(),
      // Per-type hashers decide what a key is: other hashers, other entries.
      (options.hashers ?? []).map(([Class, hash]) => [Class.name, Function.prototype.toString.call(hash)]),
      options.key === undefined ? null : Hasher.fingerprint(options.key as Schema.Top)
    ])}`)
  const argumentsKey = Key.makeKeyHasher(options.key, options.hashers ?? [])
  const parameters = Parameters.planOf(f, Validate.isEffectFnWrapper(f))
  return {
    id: identity,
    name,
    limits,
    hashKey: Parameters.keyed(parameters, (args) => argumentsKey(Key.keyArgs(args))),
    parameters,
    cacheIf,
    replay: options.replay !== false,
    spinner: options.spinner === false ? undefined : typeof options.spinner === "string" ? options.spinner : `Running ${name}(...)`,
    showTime: options.showTime === true,
    face,
    compute: computeOf(name, f) as (...args: ReadonlyArray<unknown>) => Effect.Effect<A, unknown, unknown>
  }
}

/** The body a cached function runs: a generator body runs as `Effect.fn(name)` would. @internal */
export const computeOf = (name: string, f: Function): ((...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown>) =>
  (Validate.isGeneratorFunction(f) ? Effect.fn(name)(f as (...args: Array<unknown>) => Generator<any, unknown, never>) : f) as (
    ...args: ReadonlyArray<unknown>
  ) => Effect.Effect<unknown, unknown, unknown>

/** Rejects a second argument that is not a function. @internal */
export const requireFunction = (kind: Engine.Kind, nameOrOptions: unknown, f: unknown): void => {
  if (typeof f !== "function") {
    throw new InvalidOptionsError({
      functionName:
        typeof nameOrOptions === "string"
          ? nameOrOptions
          : String((nameOrOptions as { name?: unknown } | undefined)?.name ?? "(anonymous)"),
      option: "body",
      reason: `the body (the second argument of ${kind}.fn) must be a function returning an Effect, or a generator function as Effect.fn takes.`
    })
  }
}

/** The parts of a cached function both faces build on. @internal */
export interface Parts<A, S> {
  readonly definition: Engine.Definition<A, S>
  /** The cache in the fiber's context. */
  readonly cacheOf: (fiber: Fiber.Fiber<unknown, unknown>) => Engine.Cache
  /** The function's table in a cache. */
  readonly tableIn: (cache: Engine.Cache) => Table.Table
  /** A call with these arguments; `hold` borrows what it gets. */
  readonly call: (args: ReadonlyArray<unknown>, hold: Engine.Hold | undefined) => Effect.Effect<A, unknown, unknown>
}

/**
 * The callable cached function, with `invalidate`, `has`, `clear` and
 * `stats`; `extend` adds a face's own methods.
 *
 * @internal
 */
export const build = <A, S>(
  definition: Engine.Definition<A, S>,
  cacheOf: (fiber: Fiber.Fiber<unknown, unknown>) => Engine.Cache,
  extend: (parts: Parts<A, S>) => object = () => ({})
): unknown => {
  const withTable = <X, EX>(
    body: (cache: Engine.Cache, table: Table.Table, fiber: Fiber.Fiber<unknown, unknown>) => Effect.Effect<X, EX, unknown>
  ) =>
    Effect.withFiber((fiber) => {
      const cache = cacheOf(fiber)
      return body(cache, tableIn(cache), fiber)
    })
  // The hit path: one closure for withFiber, nothing else allocated before the table is read.
  const call = (args: ReadonlyArray<unknown>, hold: Engine.Hold | undefined) =>
    Effect.withFiber((fiber) => {
      const cache = cacheOf(fiber)
      const key = Engine.hashArgs(definition, args)
      if (typeof key !== "string") return Effect.fail(key)
      return Engine.call(definition, cache, tableIn(cache), args, key, hold, fiber)
    })
  const cached = (...args: ReadonlyArray<unknown>) => call(args, undefined)
  // Removing entries may release resources: the releases run before the operation returns.
  const byKey = <X>(args: ReadonlyArray<unknown>, body: (table: Table.Table, key: string, now: number) => X) =>
    withTable((cache, table, fiber) => {
      const key = Engine.hashArgs(definition, args)
      if (typeof key !== "string") return Effect.fail(key)
      return Effect.uninterruptible(
        Effect.flatMap(
          Effect.sync(() => body(table, key, Engine.nowOf(fiber))),
          (x) => Effect.as(Engine.drain(cache), x)
        )
      )
    })
  const tableIn = Engine.tablesOfFunction(definition, cached)
  // A function's own `name` is read-only to assignment, not to definition.
  Object.defineProperty(cached, "name", { value: definition.name })
  Object.defineProperty(cached, "id", { get: definition.id, enumerable: true })
  return Object.assign(
    cached,
    {
      invalidate: (...args: ReadonlyArray<unknown>) => byKey(args, (table, key, now) => table.invalidate(key, now)),
      has: (...args: ReadonlyArray<unknown>) => byKey(args, (table, key, now) => table.has(key, now)),
      clear: withTable((cache, table, fiber) =>
        Effect.uninterruptible(
          Effect.andThen(
            Effect.sync(() => table.clear(Engine.nowOf(fiber))),
            Engine.drain(cache)
          )
        )
      ),
      stats: withTable((cache, table, fiber) =>
        Effect.uninterruptible(
          Effect.flatMap(
            Effect.sync(() => table.purgeExpired(Engine.nowOf(fiber))),
            () => Effect.as(Engine.drain(cache), functionStats(table))
          )
        )
      )
    },
    extend({ definition, cacheOf, tableIn, call })
  )
}

/**
 * A cached function whose every call and operation has its cache provided:
 * `calls` are methods, `values` are Effects.
 *
 * @internal
 */
export const bindFunction = (
  f: Function & { readonly id: string } & Record<string, unknown>,
  provide: <X, EX, RX>(effect: Effect.Effect<X, EX, RX>) => Effect.Effect<X, EX, unknown>,
  calls: ReadonlyArray<string>,
  values: ReadonlyArray<string>
): unknown => {
  const bound = ((...args: ReadonlyArray<unknown>) => provide(f(...args))) as unknown as Record<string, unknown> & Function
  Object.defineProperty(bound, "name", { value: f.name })
  Object.defineProperty(bound, "id", { get: () => f.id, enumerable: true })
  for (const name of calls) {
    const method = f[name] as (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown>
    bound[name] = (...args: ReadonlyArray<unknown>) => provide(method(...args))
  }
  for (const name of values) bound[name] = provide(f[name] as Effect.Effect<unknown, unknown, unknown>)
  return bound
}

/** @internal */
export const functionStats = (table: Table.Table): FunctionStats => ({
  name: table.name,
  id: table.id,
  ...table.counters,
  entries: table.entries.size,
  bytes: table.bytes
})

/**
 * Removes every entry of every function of a cache; runs their releases.
 *
 * @internal
 */
export const clearAll = (cache: Engine.Cache): Effect.Effect<void> =>
  Effect.clockWith((clock) =>
    Effect.uninterruptible(
      Effect.andThen(
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          for (const table of cache.registry.tables.values()) table.clear(now)
        }),
        Engine.drain(cache)
      )
    )
  )

/**
 * Counters of every function of a cache, and their totals; expired entries
 * are purged first.
 *
 * @internal
 */
export const statsOf = (cache: Engine.Cache): Effect.Effect<Stats> =>
  Effect.clockWith((clock) =>
    Effect.uninterruptible(
      Effect.flatMap(
        Effect.sync(() => cache.registry.purgeExpired(clock.currentTimeMillisUnsafe())),
        () =>
          Effect.andThen(
            Engine.drain(cache),
            Effect.sync(() => {
              const functions = Array.from(cache.registry.tables.values(), functionStats)
              const totals = { hits: 0, misses: 0, evictions: 0, expirations: 0, invalidations: 0, entries: 0, bytes: 0 }
              for (const stats of functions) {
                for (const field of Object.keys(totals) as Array<keyof typeof totals>) totals[field] += stats[field]
              }
              return { functions, ...totals }
            })
          )
      )
    )
  )
