/**
 * Effect Metrics for each function table: counters and gauges that read the
 * table's own counters when they are exported, so hits pay nothing for them
 * and Metrics agree with `stats` at every moment. DataCache's series are
 * `recall_data_cache_*`, ResourceCache's `recall_resource_cache_*`.
 *
 * Each series belongs to one cache and one function identity: its attributes
 * are `function` (the name), `id` (the function identity: two versions of one
 * name are two series) and `cache` (a label unique to each live layer: two
 * session layers are two series). A table's series are removed when it
 * leaves its cache, and all of a cache's when its layer closes; removing
 * touches only the series it registered.
 */
import type * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import type * as Table from "./table.ts"

/** @internal */
export interface Registrations {
  readonly remove: () => void
}

/** A cache's series; the store's only where a store can be (a ResourceCache is never persisted). */
const metricsOf = (prefix: string, stored: boolean) => ({
  counters: {
    hits: Metric.counter(`${prefix}_hits`, { description: "Calls served without running the body" }),
    misses: Metric.counter(`${prefix}_misses`, { description: "Calls that ran the body" }),
    evictions: Metric.counter(`${prefix}_evictions`, { description: "Entries evicted for maxEntries or a byte budget" }),
    expirations: Metric.counter(`${prefix}_expirations`, { description: "Entries removed because their ttl passed" }),
    invalidations: Metric.counter(`${prefix}_invalidations`, { description: "Entries removed by invalidate or clear" }),
    ...(stored
      ? {
          storeHits: Metric.counter(`${prefix}_store_hits`, { description: "Calls served from the store after a front-tier miss" }),
          storeWrites: Metric.counter(`${prefix}_store_writes`, { description: "Values written to the store" }),
          storeErrors: Metric.counter(`${prefix}_store_errors`, { description: "Store operations that failed or timed out" })
        }
      : {})
  },
  entries: Metric.gauge(`${prefix}_entries`, { description: "Entries held" }),
  bytes: Metric.gauge(`${prefix}_bytes`, { description: "Estimated bytes of the values held" })
})

const byKind = {
  DataCache: metricsOf("recall_data_cache", true),
  ResourceCache: metricsOf("recall_resource_cache", false)
}

/**
 * Registers a table's series in the layer's context; `remove` takes them
 * out when the table leaves or the layer closes.
 *
 * @internal
 */
export const register = (
  kind: keyof typeof byKind,
  table: Table.Table,
  context: Context.Context<never>,
  labels: { readonly cache: string; readonly id: string }
): Registrations => {
  const metrics = byKind[kind]
  const attributes = { function: table.name, id: labels.id, cache: labels.cache }
  const ignore = () => {}
  const registrations = [
    ...Object.entries(metrics.counters).map(([field, metric]) =>
      Metric.registerUnsafe(Metric.withAttributes(metric, attributes), context, {
        get: () => ({ count: table.counters[field as keyof Table.Counters], incremental: false }),
        update: ignore,
        modify: ignore
      })
    ),
    Metric.registerUnsafe(Metric.withAttributes(metrics.entries, attributes), context, {
      get: () => ({ value: table.entries.size }),
      update: ignore,
      modify: ignore
    }),
    Metric.registerUnsafe(Metric.withAttributes(metrics.bytes, attributes), context, {
      get: () => ({ value: table.bytes }),
      update: ignore,
      modify: ignore
    })
  ]
  return {
    remove: () => {
      for (const registration of registrations) registration.remove()
    }
  }
}
