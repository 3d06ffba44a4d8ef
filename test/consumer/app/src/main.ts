/**
 * A small application of recall, as a user writes one: a schema key, a
 * schema value, an excluded `_` field and `Data.Class` arguments. Prints what
 * it saw as one JSON line.
 */
import { DataCache, ResourceCache } from "@recall/core"
import { Data, Effect, Schema } from "effect"

class Point extends Data.Class<{ readonly x: number; readonly y: number }> {}

class User extends Schema.Class<User>("User")({ id: Schema.Number, name: Schema.String, joined: Schema.Date }) {
  get greeting(): string {
    return `Hello, ${this.name}`
  }
}

let userLoads = 0
const loadUser = DataCache.fn(
  { name: "loadUser", key: Schema.Struct({ id: Schema.Number }), value: User },
  (query: { id: number; requestId: string }) =>
    Effect.sync(() => {
      userLoads++
      return new User({ id: query.id, name: `user ${query.id}`, joined: new Date(0) })
    })
)

interface Logger {
  readonly log: (line: string) => void
}

let searches = 0
const search = DataCache.fn("search", ({ text, _logger }: { text: string; _logger: Logger }) =>
  Effect.sync(() => {
    searches++
    _logger.log(`searching ${text}`)
    return [text.toUpperCase()]
  })
)

let distances = 0
const distance = DataCache.fn("distance", (a: Point, b: Point) =>
  Effect.sync(() => {
    distances++
    return Math.hypot(a.x - b.x, a.y - b.y)
  })
)

const quiet: Logger = { log: () => {} }

// A shared connection: one instance, released once when invalidated.
let released = 0
const connect = ResourceCache.fn({ name: "connect", validate: (conn) => Effect.succeed(conn.open) }, (dsn: string) =>
  Effect.acquireRelease(
    Effect.sync(() => ({ dsn, open: true })),
    () => Effect.sync(() => released++)
  )
)

const program = Effect.gen(function* () {
  yield* loadUser({ id: 1, requestId: "a" })
  const user = yield* loadUser({ id: 1, requestId: "b" })
  yield* search({ text: "oslo", _logger: quiet })
  yield* search({ text: "oslo", _logger: { log: (line) => console.log(line) } })
  yield* search.invalidate({ text: "oslo" })
  yield* search({ text: "oslo", _logger: quiet })
  const d = yield* distance(new Point({ x: 0, y: 0 }), new Point({ x: 3, y: 4 }))
  yield* distance(new Point({ x: 0, y: 0 }), new Point({ x: 3, y: 4 }))
  const stats = yield* DataCache.stats
  const conn = yield* connect("postgres://db")
  const sameInstance = (yield* connect.use("postgres://db", (c) => Effect.succeed(c))) === conn
  yield* connect.invalidate("postgres://db")
  return {
    sameInstance,
    released,
    node: process.version,
    userLoads,
    isUser: user instanceof User,
    greeting: user.greeting,
    joined: user.joined.toISOString(),
    searches,
    distance: d,
    distances,
    hits: stats.hits,
    misses: stats.misses
  }
}).pipe(Effect.provide([DataCache.layerMemory(), ResourceCache.layerMemory()]))

Effect.runPromise(program).then(
  (result) => console.log(JSON.stringify(result)),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
