// A plain JavaScript consumer: no TypeScript, no build step, no loader.
import { DataCache } from "@recall/core"
import { Effect } from "effect"

const double = DataCache.fn("double", (n) => Effect.succeed(n * 2))

const internal = await import("@recall/core/internal/key").then(
  () => "importable",
  (error) => error.code
)

const value = await Effect.runPromise(
  Effect.gen(function* () {
    yield* double(21)
    return yield* double(21)
  }).pipe(Effect.provide(DataCache.layerMemory()))
)
console.log(JSON.stringify({ value, internal }))
