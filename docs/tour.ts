/**
 * `npm start`: a tour of recall, running the examples under docs/examples
 * with real time, so the timings are what you would see in your program.
 */
import { NodeSpinner } from "@recall/node"
import { Console, Effect } from "effect"
import * as arguments_ from "./examples/arguments.ts"
import * as concurrency from "./examples/concurrency.ts"
import * as disk from "./examples/disk.ts"
import * as expensive from "./examples/expensive.ts"
import * as limits from "./examples/limits.ts"
import * as mutation from "./examples/mutation.ts"
import * as readonlyFrame from "./examples/readonly-frame.ts"
import * as replay from "./examples/replay.ts"
import * as resources from "./examples/resources.ts"
import * as schemas from "./examples/schemas.ts"
import * as services from "./examples/services.ts"
import * as stale from "./examples/stale.ts"

const stops: ReadonlyArray<readonly [string, string, Effect.Effect<unknown, unknown>]> = [
  ["Kept on disk: the next run reads it back", "docs/stores.md", disk.program],
  ["A slow function, cached", "docs/data-cache.md", expensive.program],
  ["Every caller gets its own copy", "docs/mutation-and-concurrency.md", mutation.program],
  ["What makes a key", "docs/hashing.md", arguments_.program],
  ["TTL, LRU and budgets", "docs/ttl-and-limits.md", limits.program],
  ["Concurrent callers, one computation", "docs/mutation-and-concurrency.md", concurrency.program],
  ["Schemas for values and keys", "docs/hashing.md", schemas.program],
  ["Large frames: copy or share", "docs/mutation-and-concurrency.md", readonlyFrame.program],
  ["Cached functions inside a service", "docs/data-cache.md", services.program],
  ["Output replayed on a hit", "docs/data-cache.md#replay-of-output", replay.program],
  ["Stale while revalidating", "docs/data-cache.md#stale-while-revalidate", stale.program],
  [
    "One shared connection, released once",
    "docs/resource-cache.md",
    Effect.tap(resources.program, () => Console.log(`connections: ${resources.events.join(", ")}`))
  ]
]

// The terminal spinner of @recall/node shows every computation that takes
// longer than 0.5 s, on stderr ("Running expensive(...)").
const tour = Effect.gen(function* () {
  yield* Console.log("recall: a tour (slow computations show a spinner on stderr)\n")
  for (const [title, doc, program] of stops) {
    yield* Console.log(`${title} (${doc})`)
    yield* program
    yield* Console.log("")
  }
}).pipe(Effect.provide(NodeSpinner.layer))

Effect.runPromise(tour).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
