/**
 * From a call's arguments to the key of its entry.
 *
 * - Trailing `undefined` arguments are dropped, so `f(1)` and `f(1, undefined)`
 *   are one key: an omitted optional parameter and an explicit `undefined` mean
 *   the same call.
 * - Top-level fields whose names start with `_` are dropped from every
 *   plain-object argument, so `f({ url, _http })` and `f({ url })` are one key.
 */
import type * as Schema from "effect/Schema"
import * as Hasher from "../Hasher.ts"
import { isPlainObject } from "./canonical.ts"
import { toKey } from "./hash128.ts"

const isExcluded = (key: string): boolean => key.charCodeAt(0) === 95 /* _ */

const stripExcluded = (arg: object): object => {
  if (!isPlainObject(arg)) return arg
  let out: Record<string, unknown> | undefined
  for (const key in arg) {
    if (isExcluded(key)) {
      out ??= { ...arg }
      delete out[key]
    }
  }
  return out ?? arg
}

/**
 * The arguments that form the key.
 *
 * @internal
 */
export const keyArgs = (args: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
  let length = args.length
  while (length > 0 && args[length - 1] === undefined) length--
  let out: Array<unknown> | undefined = length === args.length ? undefined : []
  for (let i = 0; i < length; i++) {
    const arg = args[i]
    const stripped = typeof arg === "object" && arg !== null ? stripExcluded(arg) : arg
    if (out === undefined && stripped !== arg) out = args.slice(0, i)
    out?.push(stripped)
  }
  return out ?? args
}

// Strings longer than this go through the digest, so no Map key grows with
// the arguments.
const MAX_INLINE_STRING = 64

/**
 * An in-memory key spelled out from primitive arguments, without hashing:
 * numbers as `String(n)` (one spelling per value, -0 and 0 alike) ended by
 * `;`, strings length-prefixed. Keys start with "p"; digest keys start with
 * "h", so the two kinds never meet. `undefined` when an argument is not a
 * short primitive.
 */
const primitiveKey = (args: ReadonlyArray<unknown>): string | undefined => {
  let key = "p"
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    switch (typeof arg) {
      case "number":
        key += "n" + String(arg) + ";"
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

const digestKey = (digest: readonly [number, number, number, number]): string => "h" + toKey(digest)

/**
 * The key hasher of a cached function: a `key` schema when given (a tuple
 * schema describes all the arguments, any other schema the first one), else
 * the structural hasher with the function's per-type hashers.
 *
 * @internal
 */
export const makeKeyHasher = (
  key: Schema.Top | undefined,
  hashers: ReadonlyArray<Hasher.TypeHasher>
): ((args: ReadonlyArray<unknown>) => string) => {
  // The result is an in-memory Map key, not the hex hash that names entries in stores.
  if (key === undefined) {
    const hasher = Hasher.structural({ hashers })
    return (args) => primitiveKey(args) ?? digestKey(hasher.digestUnsafe(args))
  }
  const hasher = Hasher.fromSchema(key as Schema.Top & { readonly EncodingServices: never })
  if (key.ast._tag === "Arrays") return (args) => digestKey(hasher.digestUnsafe(args))
  return (args) => digestKey(hasher.digestUnsafe(args[0]))
}
