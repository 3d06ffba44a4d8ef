/**
 * From a call's arguments to the in-memory key of its entry.
 *
 * - Trailing `undefined` arguments are dropped, so `f(1)` and `f(1, undefined)`
 *   are one key: an omitted optional parameter and an explicit `undefined` mean
 *   the same call.
 * - The `_` parameters are left out before the arguments reach this module
 *   (`parameters.ts`): what it is given is keyed whole.
 *
 * Keys come from one of three spellings, chosen by the arguments' values
 * alone (so equal arguments always take the same one), each starting with its
 * own character so they never meet:
 *
 * - `p`: short primitives, spelled out (the cheapest);
 * - `[`: small JSON values (plain objects, arrays, strings, finite numbers,
 *   booleans, null): the `JSON.stringify` of a copy of them, with object keys
 *   sorted;
 * - `=` or `#`: anything else, through the canonical form
 *   (`Hasher.keyUnsafe`): the form itself when small, its XXH3-128 when large.
 *
 * The first two are exact: two calls share a key only when their arguments
 * are equal. The third is exact up to its size limit.
 *
 * Each spelling reads each field of the arguments once, and builds the key
 * from what it read: a getter or a Proxy that answers differently on each read
 * cannot make the key describe a value that was not checked. (An argument the
 * JSON spelling turns down is read again by the canonical walk, whose key is
 * built from its own reads alone.)
 */
import type * as Schema from "effect/Schema"
import * as Hasher from "../Hasher.ts"
import { sortKeys } from "./canonical.ts"
import * as V from "./valueKinds.ts"

/**
 * The arguments without trailing `undefined`s.
 *
 * @internal
 */
export const keyArgs = (args: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
  let length = args.length
  while (length > 0 && args[length - 1] === undefined) length--
  return length === args.length ? args : args.slice(0, length)
}

// Longer strings take another path, where they are keyed exactly up to its
// limit and by hash beyond it.
const MAX_INLINE_STRING = 64

/**
 * An in-memory key spelled out from primitive arguments: numbers as
 * `String(n)` (one spelling per value, every NaN alike; -0 as "-0", since
 * `String(-0)` is "0") ended
 * by `;`, strings length-prefixed. Keys start with "p". `undefined` when an
 * argument is not a short primitive.
 */
const primitiveKey = (args: ReadonlyArray<unknown>): string | undefined => {
  let key = "p"
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    switch (typeof arg) {
      case "number":
        key += "n" + (Object.is(arg, -0) ? "-0" : String(arg)) + ";"
        break
      case "string":
        if (arg.length > MAX_INLINE_STRING) return undefined
        key += "s" + arg.length + ":" + arg
        break
      case "boolean":
        key += arg ? "t" : "f"
        break
      case "undefined":
        key += "u"
        break
      default:
        return undefined
    }
  }
  return key
}

// Values whose JSON would be longer than about this many characters, or
// nested deeper, take the general path, which keys them exactly up to its own
// limit and by hash beyond it.
const MAX_JSON_LENGTH = 256
const MAX_JSON_DEPTH = 8

// What `jsonCopy` returns for a value JSON would not print exactly.
const NOT_JSON: unique symbol = Symbol("not JSON")

const objectPrototype = Object.prototype as { readonly toJSON?: unknown }
const arrayPrototype = Array.prototype as { readonly toJSON?: unknown }

let budget = 0
// Whether some object's keys are out of order: then the copy is printed from
// a sorted copy of it.
let unsorted = false

/** Sets `key` of a fresh object; a "__proto__" key stays a key. */
const put = (out: Record<string, unknown>, key: string, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  else out[key] = value
}

/**
 * A copy of `value` for `JSON.stringify` to print, made of fresh arrays and
 * plain objects (own data fields only), or {@link NOT_JSON}: `value` must be
 * made of finite numbers, strings, booleans, null, arrays without holes and
 * plain objects without symbol keys, the values whose JSON is exact (one
 * spelling per value, nothing dropped). Each field and element is read once,
 * and the copy holds what was read and checked: a getter or a Proxy trap
 * runs once, and the `toJSON` of the value and of its parts is never called
 * (their own non-index fields, non-enumerable fields included, are not copied,
 * as the canonical form leaves them out too).
 */
/** An array whose own keys are its `n` indices. */
const onlyIndices = (value: ReadonlyArray<unknown>, n: number): boolean =>
  Object.keys(value).length === n && Object.getOwnPropertySymbols(value).length === 0

const jsonCopy = (value: unknown, depth: number): unknown => {
  switch (typeof value) {
    case "string":
      budget -= value.length + 2
      return budget >= 0 ? value : NOT_JSON
    case "number":
      // NaN and the infinities would print as null, -0 as 0.
      return Number.isFinite(value) && !Object.is(value, -0) ? value : NOT_JSON
    case "boolean":
      return value
    case "object": {
      if (value === null) return value
      if (depth >= MAX_JSON_DEPTH) return NOT_JSON
      // Arrays and plain objects only, as the table of value kinds says: any
      // other kind (a subclass, a Date, Effect's data types) takes the canonical form.
      const kind = V.kindOf(value)
      if (kind === V.Kind.Array) {
        const array = value as ReadonlyArray<unknown>
        const n = array.length
        budget -= 8 * n
        if (budget < 0) return NOT_JSON
        // A subclass, or fields besides the indices (a RegExp match's `index`,
        // `input`): JSON would print the elements alone. The canonical form keys them.
        // (Depth 0 is the call's own arguments array, made by recall: nothing to look for.)
        if (depth > 0 && !onlyIndices(array, n)) return NOT_JSON
        const out = new Array<unknown>(n)
        for (let i = 0; i < n; i++) {
          // A hole reads as undefined, which would print as null.
          const item = jsonCopy(array[i], depth + 1)
          if (item === NOT_JSON) return NOT_JSON
          out[i] = item
        }
        return out
      }
      if (kind !== V.Kind.Plain) return NOT_JSON
      const copy: Record<string, unknown> = { ...value }
      const keys = Object.keys(copy)
      const n = keys.length
      budget -= 8 * n
      if (budget < 0) return NOT_JSON
      for (let i = 0; i < n; i++) {
        const key = keys[i]!
        if (i > 0 && keys[i - 1]! > key) unsorted = true
        budget -= key.length
        if (budget < 0) return NOT_JSON
        const field = copy[key]
        if (typeof field === "object" && field !== null) {
          const inner = jsonCopy(field, depth + 1)
          if (inner === NOT_JSON) return NOT_JSON
          copy[key] = inner
        } else if (jsonCopy(field, depth + 1) === NOT_JSON) {
          return NOT_JSON
        }
      }
      // Symbol-keyed fields count, and JSON would leave them out. (Checked
      // last: a field JSON cannot print turns the value down sooner.)
      if (Object.getOwnPropertySymbols(copy).length > 0) return NOT_JSON
      return copy
    }
    default:
      return NOT_JSON
  }
}

/** A copy of a `jsonCopy` whose objects have their keys inserted in sorted order. */
const sortedCopy = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) out[i] = sortedCopy(value[i])
    return out
  }
  const out: Record<string, unknown> = {}
  for (const key of sortKeys(Object.keys(value))) put(out, key, sortedCopy((value as Record<string, unknown>)[key]))
  return out
}

/**
 * An in-memory key from `JSON.stringify`, which builds a flat string in one
 * native pass (a key built by concatenation is a rope, which the Map lookup
 * flattens first, at a cost close to the whole JSON): the fast path for small
 * objects and arrays of JSON values. What is printed is a copy the check
 * made ({@link jsonCopy}), never the arguments themselves, so each field is
 * read once and no `toJSON` of theirs runs; the copy's objects print with
 * their keys in sorted order (JSON prints integer-like keys first, then the
 * rest in insertion order), so equal values print alike. Keys start with "[".
 * `undefined` for anything else (NaN, undefined, Dates, Maps, class
 * instances, symbol keys, large values), when reading the value throws, and
 * while `Object.prototype` or `Array.prototype` has a `toJSON` (which
 * `JSON.stringify` would call on the copy too): the general path handles
 * those, and reports errors with their path.
 */
const jsonKey = (args: ReadonlyArray<unknown>): string | undefined => {
  if (objectPrototype.toJSON !== undefined || arrayPrototype.toJSON !== undefined) return undefined
  budget = MAX_JSON_LENGTH
  unsorted = false
  try {
    const copy = jsonCopy(args, 0)
    if (copy === NOT_JSON) return undefined
    // No prefix: the JSON of the arguments array starts with "[" already, and a
    // concatenation would be a rope that the Map lookup flattens again.
    return JSON.stringify(unsorted ? sortedCopy(copy) : copy)
  } catch {
    return undefined
  }
}

const arity = (args: ReadonlyArray<unknown>, described: number): Hasher.Unhashable =>
  new Hasher.Unhashable(
    args,
    [],
    `the \`key\` schema describes ${described} argument${described === 1 ? "" : "s"}, but the call has ${args.length} ` +
      `(trailing undefined arguments and \`_\` parameters left out). Describe every argument: a Schema.Tuple([...]) with one schema per argument`,
    "schema"
  )

/**
 * The key hasher of a cached function: a `key` schema when given, else the
 * structural hasher with the function's per-type hashers. The result is an
 * in-memory Map key, not the hex hash that names entries in stores.
 *
 * A tuple schema (`Schema.Tuple`) describes all the arguments; any other
 * schema (`Schema.Array` included) describes a function of one argument. A call
 * with more arguments than the schema describes fails with `Unhashable`
 * rather than being keyed by the arguments the schema covers.
 *
 * @internal
 */
export const makeKeyHasher = (
  key: Schema.Top | undefined,
  hashers: ReadonlyArray<Hasher.TypeHasher>
): ((args: ReadonlyArray<unknown>) => string) => {
  if (key === undefined) {
    const hasher = Hasher.structural({ hashers })
    // A per-type hasher for Object or Array overrides how plain objects or
    // arrays are hashed, which the JSON path knows nothing of.
    const json = !hashers.some(([Class]) => Class === Object || Class === Array)
    return (args) => primitiveKey(args) ?? (json ? jsonKey(args) : undefined) ?? hasher.keyUnsafe(args)
  }
  return bySchema(key, (hasher, value) => hasher.keyUnsafe(value))
}

/**
 * A key from a `key` schema, which describes the arguments as the key sees
 * them (`_` parameters left out): only a tuple describes them one by one;
 * Schema.Array, like every other schema, describes argument 0. A call with
 * more arguments than the schema describes fails with `Unhashable`.
 */
const bySchema = (
  key: Schema.Top,
  spell: (hasher: Hasher.Hasher<unknown>, value: unknown) => string
): ((args: ReadonlyArray<unknown>) => string) => {
  const hasher = Hasher.fromSchema(key as Schema.Top & { readonly EncodingServices: never }) as Hasher.Hasher<unknown>
  const ast = key.ast
  if (ast._tag === "Arrays" && (ast.elements.length > 0 || ast.rest.length === 0)) {
    const described = ast.rest.length > 0 ? Infinity : ast.elements.length
    return (args) => {
      if (args.length > described) throw arity(args, described)
      return spell(hasher, args)
    }
  }
  return (args) => {
    if (args.length > 1) throw arity(args, 1)
    try {
      return spell(hasher, args[0])
    } catch (e) {
      // The schema describes argument 0; its issue says where inside it.
      if (e instanceof Hasher.Unhashable) throw new Hasher.Unhashable(e.value, [0, ...e.path], e.issue, e.reason)
      throw e
    }
  }
}

/**
 * The bounded name a store gives the entry of these arguments: the
 * XXH3-128 of their canonical form (with a `key` schema, of their encoding),
 * as 32 hex digits, the same in every process. Under a store secret, `mac`
 * names them instead: a keyed digest of the same canonical form, so that
 * nobody without the secret can craft arguments whose name collides with
 * another's. Needs the hasher loaded.
 *
 * @internal
 */
export const makeStoreNamer = (
  key: Schema.Top | undefined,
  hashers: ReadonlyArray<Hasher.TypeHasher>,
  mac?: ((form: Uint8Array) => string) | undefined
): ((args: ReadonlyArray<unknown>) => string) => {
  const spell =
    mac === undefined
      ? (hasher: Hasher.Hasher<unknown>, value: unknown) => hasher.hashUnsafe(value)
      : (hasher: Hasher.Hasher<unknown>, value: unknown) => hasher.spellUnsafe(value, mac)
  if (key === undefined) {
    const hasher = Hasher.structural({ hashers })
    return (args) => spell(hasher, args)
  }
  return bySchema(key, spell)
}
