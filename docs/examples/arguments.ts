/**
 * What makes a key: argument values (never references), the function's
 * source, and not the `_` parameters (here `_http`, a `_` name of a
 * destructured parameter).
 */
import { DataCache } from "@recall/core"
import { Console, Effect } from "effect"

interface HttpClient {
  readonly get: (url: string) => Effect.Effect<string>
}

let downloads = 0
const fetchCsv = DataCache.fn("fetchCsv", ({ url, _http }: { url: string; _http: HttpClient }) =>
  Effect.sync(() => downloads++).pipe(Effect.andThen(_http.get(url)))
)

const httpA: HttpClient = { get: (url) => Effect.succeed(`csv of ${url} (client A)`) }
const httpB: HttpClient = { get: (url) => Effect.succeed(`csv of ${url} (client B)`) }

// Two definitions with one name: editing the body makes a new cache.
const v1 = DataCache.fn("greet", (name: string) => Effect.succeed(`Hello, ${name}`))
const v2 = DataCache.fn("greet", (name: string) => Effect.succeed(`Hi, ${name}!`))

export const program = Effect.gen(function* () {
  yield* fetchCsv({ url: "trips.csv", _http: httpA })
  const again = yield* fetchCsv({ url: "trips.csv", _http: httpB })
  yield* Console.log(`  two calls, other _http clients, ${downloads} download: ${again}`)
  yield* fetchCsv.invalidate({ url: "trips.csv" })
  yield* fetchCsv({ url: "trips.csv", _http: httpB })
  yield* Console.log(`  after invalidate({ url }): ${downloads} downloads`)
  const greetings = [yield* v1("Ada"), yield* v2("Ada")]
  yield* Console.log(`  edited body, new cache: ${greetings.join(" / ")}`)
  return { downloads, greetings }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
