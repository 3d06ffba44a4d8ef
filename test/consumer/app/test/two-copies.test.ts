/**
 * Two copies of Effect in one application: the app's own (`effect-copy`
 * here, an alias of the same version) and the one recall imports. The app's
 * schemas and Data classes are then foreign to recall: a `Struct({ id:
 * Number })` key rejects `{ id: 1 }` and Data class arguments cannot be
 * hashed, with no word about the cause. recall names it: when a cached
 * function is defined with the other copy's schema, and when the other
 * copy's runtime builds a DataCache layer.
 */
import { DataCache } from "@recall/core"
import * as App from "effect-copy"
import { assert, describe, it } from "vitest"

const secondCopy = /two copies of effect|second copy of effect/i

class Point extends App.Data.Class<{ readonly x: number; readonly y: number }> {}

describe("a second copy of effect", () => {
  it("is named when a cached function is defined with its key schema", () => {
    // `as never`: TypeScript already rejects the other copy's schema type, a JavaScript caller does not.
    const key = App.Schema.Struct({ id: App.Schema.Number }) as never
    assert.throws(() => DataCache.fn({ name: "byId", key }, (query: { id: number }) => App.Effect.succeed(query.id)), secondCopy)
  })

  it("is named when its runtime builds a DataCache layer", async () => {
    const norm = DataCache.fn("norm", (p: Point) => App.Effect.succeed(Math.hypot(p.x, p.y)))
    const program = norm(new Point({ x: 3, y: 4 })).pipe(App.Effect.provide(DataCache.layerMemory()))
    const error = await App.Effect.runPromise(program).then(
      () => "no error",
      (error: unknown) => String(error)
    )
    assert.match(error, secondCopy)
  })
})
