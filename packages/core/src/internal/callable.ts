/**
 * The callable cached function, for both faces: a call, `invalidate`, `has`,
 * `clear` and `stats`, each finding its slot in the cache of the fiber's
 * context; and `bind`, which provides one cache to all of them.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Cache from "./cache.ts"
import * as Calls from "./calls.ts"
import type { Definition } from "./definition.ts"
import type { Hold } from "./face.ts"
import * as Operations from "./operations.ts"
import { type Slot, slotsOf } from "./slot.ts"
import * as Xxh3 from "./xxh3.ts"

/** The parts of a cached function both faces build on. @internal */
export interface Parts<A, S> {
  readonly definition: Definition<A, S>
  /** The function's slot in the cache of the fiber's context. */
  readonly slotOf: (fiber: Fiber.Fiber<unknown, unknown>) => Slot<A, S>
  /** A call with these arguments; `hold` borrows what it gets. */
  readonly call: (args: ReadonlyArray<unknown>, hold: Hold | undefined) => Effect.Effect<A, unknown, unknown>
}

/**
 * The callable cached function, with `invalidate`, `has`, `clear` and
 * `stats`; `extend` adds a face's own methods.
 *
 * @internal
 */
export const build = <A, S>(
  definition: Definition<A, S>,
  cacheOf: (fiber: Fiber.Fiber<unknown, unknown>) => Cache.Cache,
  extend: (parts: Parts<A, S>) => object = () => ({})
): unknown => {
  const slotOf = (fiber: Fiber.Fiber<unknown, unknown>) => slotIn(cacheOf(fiber))
  // The hit path: one closure for withFiber, nothing else allocated before the table is read.
  const attempt = (args: ReadonlyArray<unknown>, hold: Hold | undefined, retried: boolean): Effect.Effect<A, unknown, unknown> =>
    Effect.withFiber((fiber) => {
      const slot = slotOf(fiber)
      const key = Calls.hashArgs(definition.name, definition.hashKey, args)
      if (typeof key === "string") return Calls.call(slot, args, key, hold, fiber, cached)
      return key instanceof Xxh3.NotLoaded ? Calls.loadThen(key, retried, () => attempt(args, hold, true)) : Effect.fail(key)
    })
  const call = (args: ReadonlyArray<unknown>, hold: Hold | undefined): Effect.Effect<A, unknown, unknown> => attempt(args, hold, false)
  const cached = (...args: ReadonlyArray<unknown>) => call(args, undefined)
  const slotIn = slotsOf(definition, cached)
  // Removing entries may release resources: the operation waits for them.
  const byKey = <X>(
    args: ReadonlyArray<unknown>,
    operation: (slot: Slot<A, S>, key: string, fiber: Fiber.Fiber<unknown, unknown>, args: ReadonlyArray<unknown>) => Effect.Effect<X>,
    retried = false
  ): Effect.Effect<X, unknown, unknown> =>
    Effect.withFiber((fiber) => {
      const slot = slotOf(fiber)
      const key = Calls.hashArgs(definition.name, definition.hashKey, args)
      if (typeof key === "string") return Effect.uninterruptible(operation(slot, key, fiber, args))
      return key instanceof Xxh3.NotLoaded ? Calls.loadThen(key, retried, () => byKey(args, operation, true)) : Effect.fail(key)
    })
  const whole = <X>(operation: (slot: Slot<A, S>, fiber: Fiber.Fiber<unknown, unknown>) => Effect.Effect<X>) =>
    Effect.withFiber((fiber) => Effect.uninterruptible(operation(slotOf(fiber), fiber)))
  // A function's own `name` is read-only to assignment, not to definition.
  Object.defineProperty(cached, "name", { value: definition.name })
  Object.defineProperty(cached, "id", { get: () => identityOf(definition), enumerable: true })
  return Object.assign(
    cached,
    {
      invalidate: (...args: ReadonlyArray<unknown>) => byKey(args, Operations.invalidate),
      has: (...args: ReadonlyArray<unknown>) => byKey(args, Operations.has),
      clear: whole(Operations.clear),
      stats: whole(Operations.stats)
    },
    extend({ definition, slotOf, call })
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

/**
 * A function's `id`, whose hash needs the WebAssembly hasher: read before it
 * loaded, it throws an error that says when it can be read.
 */
const identityOf = (definition: Definition<any, any>): string => {
  try {
    return definition.publicId()
  } catch (e) {
    if (!(e instanceof Xxh3.NotLoaded)) throw e
    throw new Xxh3.NotLoaded(
      `${definition.name}.id needs recall's hasher (XXH3-128, WebAssembly), which`,
      e.load,
      "It loads with the first call of a cached function or the first DataCache layer built; " +
        "read `id` after one, or run `yield* Hasher.load` first."
    )
  }
}
