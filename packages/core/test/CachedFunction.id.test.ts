/**
 * A cached function's `id` before and after recall's hasher loads: its hash
 * needs the WebAssembly hasher, so this file reads it first of all, in a
 * worker where nothing has loaded it yet.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, Hasher } from "@recall/core"
import { Effect } from "effect"

const report = DataCache.fn("report", (month: string) => Effect.succeed(month.length))

describe("a cached function's id", () => {
  it.effect(
    "read before the hasher loaded, it throws an error that names the function and says when to read it; after, it is name:hash",
    () =>
      Effect.gen(function* () {
        let thrown: unknown
        try {
          void report.id
        } catch (e) {
          thrown = e
        }
        assert.instanceOf(thrown, Error)
        assert.include((thrown as Error).message, "report.id needs recall's hasher")
        assert.include((thrown as Error).message, "yield* Hasher.load")
        yield* Hasher.load
        assert.match(report.id, /^report:[0-9a-f]{32}$/)
        assert.strictEqual((yield* DataCache.bind(report).pipe(Effect.provide(DataCache.layerMemory()))).id, report.id)
      })
  )
})
