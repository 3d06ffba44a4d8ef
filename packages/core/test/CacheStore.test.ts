/**
 * The CacheStore contract, run against every store in core: the memory
 * store, and the KeyValueStore adapter over Effect's memory and file-system
 * key-value stores (a real temporary directory).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { afterAll } from "@effect/vitest"
import { CacheStore } from "@recall/core"
import { Layer } from "effect"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import { storeConformance } from "./fixtures/storeConformance.ts"

const directories: Array<string> = []
afterAll(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true })
})

storeConformance("CacheStore.layerMemory", () => CacheStore.layerMemory(), { locks: true, generations: true })

storeConformance(
  "CacheStore.layerKeyValueStore over KeyValueStore.layerMemory",
  () => CacheStore.layerKeyValueStore.pipe(Layer.provide(KeyValueStore.layerMemory)),
  { locks: false }
)

storeConformance(
  "CacheStore.layerKeyValueStore over KeyValueStore.layerFileSystem",
  () => {
    const directory = mkdtempSync(join(tmpdir(), "recall-kvs-"))
    directories.push(directory)
    return CacheStore.layerKeyValueStore.pipe(
      Layer.provide(KeyValueStore.layerFileSystem(directory)),
      Layer.provide(NodeServices.layer),
      Layer.orDie
    )
  },
  { locks: false }
)
