/**
 * `@recall/node`: the Node.js side of recall.
 *
 * Planned here (see shared design, section 5): the disk store
 * (`NodeCacheStore.layerFileSystem`), the Redis store
 * (`NodeCacheStore.layerRedis`), the terminal spinner, and the `recall`
 * command. Until they land it re-exports the core, so programs can depend on
 * `@recall/node` alone.
 *
 * @since 0.1.0
 */
export * from "@recall/core"
