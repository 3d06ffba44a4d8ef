/**
 * The disk tier: `DataCache.layerStore()` over `NodeCacheStore`'s directory
 * keeps values across runs. The first run computes and writes the entry (in
 * the background, after the caller has its value; the layer's close waits
 * for it); the next run, a new process, reads it back from disk.
 */
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DataCache, NodeCacheStore } from "@recall/node"
import { Clock, Console, Effect, Layer } from "effect"

// A slow query: its value carries how long it took, so a later run that reads
// it from disk can say how much time it saved.
const yearlyReport = DataCache.fn("tour/yearlyReport", (year: number) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    yield* Effect.sleep("1500 millis")
    return { year, trips: 1_234_567, meanFare: 14.2, computedMillis: (yield* Clock.currentTimeMillis) - start }
  })
)

const seconds = (millis: number) => `${(millis / 1000).toFixed(2)} s`

/** One run of the example over the store in `directory`: whether the value came from disk, and the times. */
export const programIn = (directory: string) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const report = yield* yearlyReport(2024)
    const millis = (yield* Clock.currentTimeMillis) - start
    const { storeHits } = yield* yearlyReport.stats
    const fromDisk = storeHits > 0
    yield* Console.log(
      fromDisk
        ? `  yearlyReport(2024): served from disk in ${millis} ms (computing took ${seconds(report.computedMillis)}: ${seconds(report.computedMillis - millis)} saved)`
        : `  yearlyReport(2024): computed in ${seconds(millis)} and written to disk; run it again to have it served from there`
    )
    return { fromDisk, millis, computedMillis: report.computedMillis }
  }).pipe(Effect.provide(DataCache.layerStore().pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory })))))

// The tour keeps its entries under the OS temporary directory rather than in
// the user's cache directory (`NodeCacheStore.layerFileSystemConfig`:
// RECALL_CACHE_DIR, or ~/.cache/recall), which programs share and which
// outlives reboots: a demo should not leave entries among a program's own.
// A program would use `NodeCacheStore.layerFileSystemConfig()`.
export const tourDirectory = join(tmpdir(), "recall-tour")

export const program = programIn(tourDirectory)

if (import.meta.main) Effect.runPromise(program)
