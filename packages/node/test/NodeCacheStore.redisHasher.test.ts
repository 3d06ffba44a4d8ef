/**
 * The Redis store checks every entry's payload with XXH3-128: building it
 * installs the native digester (NodeHasher), as NodeHasher.layer would.
 * Its own file, so that nothing else in the process installed it first.
 */
import { assert, it } from "@effect/vitest"
import { NodeCacheStore, NodeHasher } from "@recall/node"
import { Effect, Layer } from "effect"

it.effect("building NodeCacheStore.layerRedis installs the native XXH3-128 (no Redis needed to build it)", () =>
  Effect.gen(function* () {
    assert.isUndefined(NodeHasher.native(), "nothing installed it before")
    // Building never waits for Redis: port 1 refuses connections, and the layer is built all the same.
    yield* Layer.build(NodeCacheStore.layerRedis({ url: "redis://127.0.0.1:1" }))
    assert.strictEqual(NodeHasher.native(), "xxhash-addon")
  })
)
