/**
 * `@recall/node`: the Node.js side of recall.
 *
 * The disk store (`NodeCacheStore.layerFileSystem`) and the Redis store
 * (`NodeCacheStore.layerRedis`, over node-redis, loaded only when a store
 * makes its own client) are here, and the `recall` command over either
 * (the package's `bin`; its commands are the module
 * `@recall/node/RecallCommand`, not re-exported here so that programs do not
 * load `effect/cli`). It re-exports the core, so programs can depend on
 * `@recall/node` alone.
 *
 * @since 0.1.0
 */
export * from "@recall/core"

/**
 * The disk store: a `CacheStore` in a directory that the processes of one
 * machine share (atomic writes, TTL and size bounds on disk, locks); and
 * the Redis store, shared by the processes of many machines (`layerRedis`).
 *
 * @since 0.1.0
 */
export * as NodeCacheStore from "./NodeCacheStore.ts"

/**
 * Native XXH3-128 for large arguments: hashes a 320 MB typed array at about
 * memory bandwidth (optional dependency `xxhash-addon`, loaded lazily).
 *
 * @since 0.1.0
 */
export * as NodeHasher from "./NodeHasher.ts"

/**
 * A terminal spinner on stderr for cached computations that take a while.
 *
 * @since 0.1.0
 */
export * as NodeSpinner from "./NodeSpinner.ts"
