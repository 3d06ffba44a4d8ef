/**
 * A cached function's slot in one cache: the one record that carries its
 * definition, the cache, and its table there (and, with the store tier, its
 * tier). A function looks its slot up once per cache, then through a
 * WeakMap keyed by the cache.
 *
 * **Lifecycles.** A slot counts as a user of its table while the function
 * object lives: when the object is garbage collected a finalizer gives the
 * table up, so tables of functions nobody can call leave their caches once
 * empty. The finalizer is registered per slot and unregistered when the
 * cache closes, so a module-level function used with a layer per session
 * leaves nothing behind per finished session.
 *
 * **Shared identities.** Two live function objects with one identity (the
 * same name and source, from a factory: `orders` and `users` made by one
 * `make(table)`) share entries. That is by design for a function defined
 * twice, and a bug for a factory whose closures differ; the first call
 * through the second one warns, once per table, naming the fix.
 */
import * as Effect from "effect/Effect"
import * as Cache from "./cache.ts"
import { type Definition, shownId } from "./definition.ts"
import * as Replay from "./replay.ts"
import * as StoreTier from "./storeTier.ts"
import * as Table from "./table.ts"

/** @internal */
export interface Slot<A, S> {
  readonly definition: Definition<A, S>
  readonly cache: Cache.Cache
  table: Table.Table
  /** Its place in the cache's store tier; `undefined` without a store, with `persist: false`, or for a ResourceCache. */
  place: StoreTier.Place<A, S> | undefined
  /** A warning to log with the next call (a second live function object claimed this identity). */
  warning: string | undefined
}

interface Claim {
  readonly slot: Slot<any, any>
  readonly close: () => void
}

/** Gives a collected function's tables up; the held value is the slot's claim. */
const finalizers = new FinalizationRegistry<Claim>((claim) => {
  claim.slot.cache.onClose.delete(claim.close)
  claim.slot.table.release()
  if (claim.slot.place !== undefined) StoreTier.leave(claim.slot.place)
})

/**
 * The slots of one cached function (`owner`, the callable object), one per
 * cache it is called with.
 *
 * @internal
 */
export const slotsOf = <A, S>(definition: Definition<A, S>, owner: object): ((cache: Cache.Cache) => Slot<A, S>) => {
  const slots = new WeakMap<Cache.Cache, Slot<A, S>>()
  return (cache) => {
    let slot = slots.get(cache)
    if (slot === undefined) {
      slot = { definition, cache, table: undefined!, place: undefined, warning: undefined }
      attach(slot)
      slot.place = placeOf(slot)
      if (slot.place !== undefined) StoreTier.join(slot.place)
      slots.set(cache, slot)
      claim(owner, slot)
    } else if (slot.table.dropped) {
      attach(slot)
    }
    // A redefinition (same identity, new limits) takes over the table.
    if (slot.table.limits !== definition.limits) slot.table.limits = definition.limits
    return slot
  }
}

/**
 * Registers the slot's finalizer, unregistered when its cache closes. Made
 * here, outside the closure that holds the function object: a closure made
 * beside it would share its context, and the registry (which holds the
 * claim strongly) would keep the function alive forever.
 */
const claim = (owner: object, slot: Slot<any, any>): void => {
  const made: Claim = { slot, close: () => finalizers.unregister(made) }
  finalizers.register(owner, made, made)
  slot.cache.onClose.add(made.close)
}

/** Finds or makes the slot's table in its cache, and counts the slot as one of its users. */
const attach = (slot: Slot<any, any>): void => {
  const { cache, definition } = slot
  const id = definition.memoryId
  let table = cache.registry.tables.get(id)
  if (table === undefined) {
    table = new Table.Table(cache.registry, id, definition.name, definition.limits, definition.publicId)
    const leave = definition.face.lifecycle?.leave
    if (leave !== undefined) table.onLeave = (entry) => Cache.queueRelease(cache, leave(entry.stored))
    cache.registry.tables.set(id, table)
    Cache.registerMetrics(cache, table, shownId(definition.publicId))
  } else if (table.users > 0 && !table.shared) {
    table.shared = true
    slot.warning =
      `recall: a second live ${definition.face.kind} function claims the identity of ${definition.name} ` +
      "(the same name and the same source text, e.g. two functions made by one factory), so the two share entries: " +
      "one may return what the other computed. Give each its own name " +
      `(${definition.face.kind}.fn({ name: "${definition.name}:orders" }, ...)): a \`version\` would separate them too, ` +
      "but a store's `recall prune` keeps only the newest version of each name. " +
      "If it is one definition made again (in a handler, a loop, per request: what a Streamlit script does on every rerun), " +
      "define it once, at module level: the entries are shared either way, but a definition made again that captures " +
      "per-request values (a tenant, a connection) returns one request's value to another."
  }
  table.users++
  slot.table = table
}

/** The slot's place in its cache's store tier, if it persists. */
const placeOf = <A, S>(slot: Slot<A, S>): StoreTier.Place<A, S> | undefined => {
  const { cache, definition } = slot
  const tier = cache.tier
  const persistence = definition.face.persistence
  if (tier === undefined || persistence === undefined) return undefined
  let namespace: string
  try {
    namespace = definition.publicId()
  } catch {
    // No hasher (a page without WebAssembly): no names for the store, so the function stays in memory.
    return undefined
  }
  return {
    tier,
    namespace,
    name: definition.name,
    persistence,
    entryName: definition.storeNamer(tier.mac),
    table: () => slot.table,
    replay: definition.replay ?? cache.replay,
    writing: new Map(),
    removals: StoreTier.makeRemovals(),
    warnedUnencodable: false
  }
}

/**
 * The warning the slot has for its next call, logged once.
 *
 * @internal
 */
export const warnOnce = (slot: Slot<any, any>): Effect.Effect<void> => {
  const warning = slot.warning
  slot.warning = undefined
  // Outside any recording: the call may come from another cached function's body, whose output is replayed.
  return warning === undefined ? Effect.void : Replay.outside(Effect.logWarning(warning))
}
