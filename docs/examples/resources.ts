/**
 * A connection shared by every caller: opened once per DSN, checked on each
 * hit, held while a query runs, and closed exactly once when it leaves the
 * cache or the program ends.
 */
import { ResourceCache } from "@recall/core"
import { Console, Effect } from "effect"

interface Connection {
  readonly id: number
  readonly dsn: string
  alive: boolean
  readonly query: (sql: string) => Effect.Effect<ReadonlyArray<string>>
}

const events: Array<string> = []
let opened = 0

const open = (dsn: string): Effect.Effect<Connection> =>
  Effect.gen(function* () {
    yield* Effect.sleep("500 millis") // the handshake
    const conn: Connection = {
      id: ++opened,
      dsn,
      alive: true,
      query: (sql) => Effect.succeed([`${sql} on connection ${conn.id}`])
    }
    events.push(`open ${conn.id}`)
    return conn
  })

export const connect = ResourceCache.fn(
  { name: "connect", ttl: "10 minutes", maxEntries: 4, validate: (conn) => Effect.succeed(conn.alive) },
  (dsn: string) =>
    Effect.acquireRelease(open(dsn), (conn) =>
      Effect.sync(() => {
        conn.alive = false
        events.push(`close ${conn.id}`)
      })
    )
)

export const program = Effect.gen(function* () {
  // Two callers, one handshake, one instance.
  const [a, b] = yield* Effect.all([connect("postgres://db"), connect("postgres://db")], { concurrency: 2 })
  yield* Console.log(`same instance: ${a === b}`)
  // `use` holds the connection while the query runs: an invalidate meanwhile
  // closes it only once the query is done.
  const rows = yield* connect.use("postgres://db", (conn) =>
    Effect.gen(function* () {
      yield* connect.invalidate("postgres://db")
      return yield* conn.query("select 1")
    })
  )
  yield* Console.log(rows[0])
  // The next call opens a new connection; if the server drops it, validate
  // notices on the next hit, closes it and opens another.
  const fresh = yield* connect("postgres://db")
  fresh.alive = false
  const replaced = yield* connect("postgres://db")
  yield* Console.log(`after a drop: connection ${replaced.id}`)
  return { same: a === b, rows, replaced: replaced.id }
}).pipe(
  // Closing the layer (here, when the program ends) closes what is left.
  Effect.provide(ResourceCache.layer)
)

export { events }

if (import.meta.main) Effect.runPromise(program).then(() => console.log(events.join(", ")))
