/**
 * recall's core: cached functions for Effect programs.
 *
 * @since 0.1.0
 */

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
 * How cached values are kept and copied back to callers.
 *
 * @since 0.1.0
 */
export * as ValueCodec from "./ValueCodec.ts"
