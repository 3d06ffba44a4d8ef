/**
 * A removal's notice as the stores send it (CacheStore.Notices): JSON of
 * the notice and its sender's origin, a token per store instance, so that an
 * instance does not hear its own. The disk store writes it into a file of
 * `.notices/`, the Redis store publishes it on `<prefix>:notices`.
 *
 * @internal
 */
import type * as CacheStore from "@recall/core/CacheStore"

/** The text of `notice`, sent by the instance `origin`. @internal */
export const encode = (origin: string, notice: CacheStore.Notice): string => JSON.stringify({ origin, ...notice })

/**
 * The notice in `text`, unless it is the instance `origin`'s own, or not a
 * notice at all (garbled, another program's): then `undefined`. Nothing in
 * it is trusted beyond its shape.
 *
 * @internal
 */
export const decode = (text: string, origin: string): CacheStore.Notice | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null) return undefined
  const { origin: from, _tag, namespace, key } = parsed as Record<string, unknown>
  if (from === origin || typeof from !== "string") return undefined
  if (_tag === "Cleared") return { _tag }
  if (typeof namespace !== "string") return undefined
  if (_tag === "NamespaceCleared") return { _tag, namespace }
  if (_tag === "Deleted" && typeof key === "string") return { _tag, namespace, key }
  return undefined
}
