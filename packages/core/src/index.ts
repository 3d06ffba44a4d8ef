/**
 * recall's core: cached functions for Effect programs.
 *
 * @since 0.1.0
 */

/**
 * What DataCache and ResourceCache functions share: options, key types,
 * stats and `InvalidOptionsError`.
 *
 * @since 0.1.0
 */
export * as CachedFunction from "./CachedFunction.ts"
/**
 * Told when cached functions start and end computing: logs, spinners.
 *
 * @since 0.1.0
 */
export * as CacheReporter from "./CacheReporter.ts"
/**
 * The storage boundary of the persistent tier: binary entries with an
 * absolute expiry, per namespace; an optional lock for many processes.
 *
 * @since 0.1.0
 */
export * as CacheStore from "./CacheStore.ts"
/**
 * `st.cache_data` for Effect: memoized functions with copy isolation, TTL,
 * LRU, byte budgets and single flight.
 *
 * @since 0.1.0
 */
export * as DataCache from "./DataCache.ts"

/**
 * Hashing arguments into cache keys: structural and Schema-derived.
 *
 * @since 0.1.0
 */
export * as Hasher from "./Hasher.ts"
/**
 * `st.cache_resource` for Effect: one shared instance per key, released
 * exactly once when it leaves the cache, borrowed with reference counting.
 *
 * @since 0.1.0
 */
export * as ResourceCache from "./ResourceCache.ts"
/**
 * How cached values are kept and copied back to callers.
 *
 * @since 0.1.0
 */
export * as ValueCodec from "./ValueCodec.ts"
