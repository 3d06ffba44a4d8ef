/**
 * The CacheStore contract, run against every store in core: the memory
 * store, and the KeyValueStore adapter over Effect's memory and file-system
 * key-value stores (a real temporary directory).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { CacheStore } from "@recall/core"
import { Effect, Layer, Option } from "effect"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import * as TestClock from "effect/testing/TestClock"
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

// Found by a stranger trial: over a key-value store the application shares, `list` and `stats` deleted the
// application's own keys (any key with a "/", any value under 16 bytes), and `clearAll` cleared the whole store.
describe("CacheStore.layerKeyValueStore in a key-value store the application shares", () => {
  const foreign: ReadonlyArray<readonly [string, string | Uint8Array]> = [
    ["user/42", "a user record of the application"],
    ["session:123", "short"],
    ["a/b/c", new Uint8Array(40).fill(0x7f)],
    ["recall", "a key named like the prefix"],
    ["recallx/ns/k", new Uint8Array(64).fill(1)],
    [`${encodeURIComponent("report")}/k1`, new Uint8Array(30)]
  ]

  for (const [name, kvs] of [
    ["KeyValueStore.layerMemory", () => KeyValueStore.layerMemory],
    [
      "KeyValueStore.layerFileSystem",
      () => {
        const directory = mkdtempSync(join(tmpdir(), "recall-kvs-shared-"))
        directories.push(directory)
        return KeyValueStore.layerFileSystem(directory).pipe(Layer.provide(NodeServices.layer), Layer.orDie)
      }
    ]
  ] as const) {
    it.effect(`over ${name}: list, stats, expiry, clearNamespace and clearAll touch recall's keys only`, () =>
      Effect.gen(function* () {
        const kv = yield* KeyValueStore.KeyValueStore
        const store = yield* CacheStore.CacheStore
        for (const [key, value] of foreign) yield* kv.set(key, value)
        yield* TestClock.setTime(1_000)
        yield* store.set("report", "k1", new Uint8Array([1, 2, 3]), 5_000)
        yield* store.set("report", "k2", new Uint8Array([4]), Infinity)
        yield* store.set("other", "k1", new Uint8Array([5]), Infinity)
        const listed = yield* store.list
        assert.deepStrictEqual(
          listed.map((info) => [info.namespace, info.entries]).sort(([a], [b]) => String(b).localeCompare(String(a))),
          [
            ["report", 2],
            ["other", 1]
          ]
        )
        assert.strictEqual((yield* store.stats).entries, 3)
        yield* TestClock.setTime(6_000)
        assert.strictEqual((yield* store.stats).entries, 2, "the expired entry is gone")
        assert.isTrue(Option.isNone(yield* store.get("user", "42")), "the application's key is not read as an entry")
        // Under recall's prefix but without its magic (a stranger trial): not an entry, not removed by list, stats or get.
        yield* kv.set("recall/a/b", "the application's, under recall's prefix")
        yield* kv.set(`recall/${encodeURIComponent("report")}/zz`, new Uint8Array(40).fill(3))
        assert.strictEqual((yield* store.stats).entries, 2)
        assert.isTrue(Option.isNone(yield* store.get("a", "b")))
        assert.isTrue(Option.isNone(yield* store.get("report", "zz")))
        assert.strictEqual(yield* kv.get("recall/a/b"), "the application's, under recall's prefix")
        assert.deepStrictEqual(yield* kv.getUint8Array(`recall/${encodeURIComponent("report")}/zz`), new Uint8Array(40).fill(3))
        yield* store.clearNamespace("report")
        assert.deepStrictEqual(
          (yield* store.list).map((info) => info.namespace),
          ["other"]
        )
        yield* store.clearAll
        assert.deepStrictEqual(yield* store.list, [])
        for (const [key, value] of foreign) {
          const kept = typeof value === "string" ? yield* kv.get(key) : yield* kv.getUint8Array(key)
          assert.deepStrictEqual(kept, value, `the application's ${key} is kept as it was`)
        }
      }).pipe(Effect.provide(CacheStore.layerKeyValueStore.pipe(Layer.provideMerge(kvs()))))
    )
  }
})
