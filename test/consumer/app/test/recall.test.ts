import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Effect, Schema } from "effect"

let runs = 0
const square = DataCache.fn({ name: "square", key: Schema.Tuple([Schema.Number]) }, (n: number) =>
  Effect.sync(() => {
    runs++
    return n * n
  })
)

describe("recall in a consumer's own tests", () => {
  it.effect("a second call is a hit", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* square(12), 144)
      assert.strictEqual(yield* square(12), 144)
      assert.strictEqual(runs, 1)
      const stats = yield* square.stats
      assert.deepStrictEqual([stats.hits, stats.misses], [1, 1])
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
