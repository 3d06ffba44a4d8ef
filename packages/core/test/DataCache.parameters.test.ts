/**
 * The `_` rule, as Streamlit has it (issue 11 §1): *parameters* whose names
 * start with a single `_` are left out of the key, read from the function's
 * own parameter list; fields of a parameter that is not destructured are data.
 */
import { assert, describe, it } from "@effect/vitest"
import { CacheReporter, DataCache, Hasher, ResourceCache } from "@recall/core"
import { Effect, Schema } from "effect"

const withCache = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>) => Effect.provide(effect, DataCache.layerMemory())

/** A database handle as programs have them: a class instance no hasher knows. */
class Db {
  readonly url: string
  queries = 0
  constructor(url: string) {
    this.url = url
  }
  rows(n: number): Effect.Effect<ReadonlyArray<number>> {
    return Effect.sync(() => {
      this.queries++
      return Array.from({ length: n }, (_, i) => i)
    })
  }
}

class Socket {
  readonly fd = 3
}

describe("DataCache: the `_` rule follows the function's parameters", () => {
  describe("positional parameters", () => {
    it.effect("the seed's fetch_data(_db_connection, num_rows): `_db` is not in the key, and needs no hasher", () =>
      withCache(
        Effect.gen(function* () {
          const fetchData = DataCache.fn("fetchData", (_db: Db, numRows: number) => _db.rows(numRows))
          const a = new Db("postgres://a")
          const b = new Db("postgres://b")
          assert.deepStrictEqual(yield* fetchData(a, 3), [0, 1, 2])
          assert.deepStrictEqual(yield* fetchData(b, 3), [0, 1, 2], "another Db shares the entry")
          assert.strictEqual(a.queries + b.queries, 1)
          assert.deepStrictEqual(yield* fetchData(b, 2), [0, 1])
          assert.strictEqual(b.queries, 1)
          // invalidate and has take the arguments; the `_` one is ignored.
          assert.isTrue(yield* fetchData.has(new Db("anything"), 3))
          yield* fetchData.invalidate(new Db("anything"), 3)
          assert.isFalse(yield* fetchData.has(a, 3))
          assert.isTrue(yield* fetchData.has(a, 2))
        })
      )
    )

    it.effect("a generator body: DataCache.fn(name, function* (_db, n) {...})", () =>
      withCache(
        Effect.gen(function* () {
          const fetchData = DataCache.fn("fetchDataGen", function* (_db: Db, numRows: number) {
            const rows = yield* _db.rows(numRows)
            return rows.length
          })
          const a = new Db("a")
          const b = new Db("b")
          assert.strictEqual(yield* fetchData(a, 4), 4)
          assert.strictEqual(yield* fetchData(b, 4), 4)
          assert.strictEqual(a.queries + b.queries, 1)
        })
      )
    )

    it.effect("object and class methods", () =>
      withCache(
        Effect.gen(function* () {
          const repo = {
            load(_db: Db, id: number) {
              return _db.rows(id)
            }
          }
          class Repository {
            readonly table = "rows"
            static find(id: number, _db: Db) {
              return _db.rows(id)
            }
          }
          const load = DataCache.fn("load", repo.load)
          const find = DataCache.fn("find", Repository.find)
          const a = new Db("a")
          yield* load(a, 1)
          yield* load(new Db("b"), 1)
          yield* find(1, a)
          yield* find(1, new Db("c"))
          assert.strictEqual(a.queries, 2, "one run each")
        })
      )
    )

    it.effect("a default (`_db = fallback`) and a rest (`..._loggers`) are left out; f(1) and f(1, db) are one call", () =>
      withCache(
        Effect.gen(function* () {
          const fallback = new Db("fallback")
          const withDefault = DataCache.fn("withDefault", (n: number, _db: Db = fallback) => _db.rows(n))
          yield* withDefault(2)
          yield* withDefault(2, new Db("other"))
          yield* withDefault(2, undefined)
          assert.strictEqual(fallback.queries, 1)
          let runs = 0
          const logged = DataCache.fn("logged", (n: number, ..._loggers: Array<{ log: (s: string) => void }>) =>
            Effect.sync(() => {
              runs++
              for (const logger of _loggers) logger.log(`n=${n}`)
              return n
            })
          )
          yield* logged(1)
          yield* logged(1, { log: () => {} }, { log: () => {} })
          assert.strictEqual(runs, 1)
          const summed = DataCache.fn("summed", (...ns: Array<number>) => Effect.sync(() => ns.reduce((a, b) => a + b, ++runs * 0)))
          assert.strictEqual(yield* summed(1, 2), 3)
          assert.strictEqual(yield* summed(1, 3), 4, "a rest without `_` is data")
        })
      )
    )

    it.effect("a positional `_` parameter is never touched, not even by a Proxy trap", () =>
      withCache(
        Effect.gen(function* () {
          const trap = () => {
            throw new Error("touched")
          }
          const sealed = new Proxy({}, { get: trap, ownKeys: trap, getPrototypeOf: trap, has: trap, getOwnPropertyDescriptor: trap })
          const f = DataCache.fn("sealed", (_handle: object, n: number) => Effect.succeed(n))
          assert.strictEqual(yield* f(sealed, 1), 1)
          assert.strictEqual(yield* f(sealed, 1), 1)
        })
      )
    )

    it.effect("errors name the argument by its position in the call, and say how to leave one out", () =>
      withCache(
        Effect.gen(function* () {
          const send = DataCache.fn("send", (_db: Db, socket: Socket) => Effect.succeed(socket.fd))
          const error = yield* Effect.flip(send(new Db("a"), new Socket()))
          assert.instanceOf(error, Hasher.UnhashableParamError)
          assert.strictEqual(error.argument, "argument 1")
          assert.include(error.message, "(_db: Db, n: number) =>")
          assert.include(error.message, "({ url, _http }) =>")
          assert.notInclude(error.message, "could not read")
        })
      )
    )
  })

  describe("object parameters", () => {
    it.effect("a document passed whole keeps its `_id` in the key: { _id: 'inv-2' } never gets inv-1's result", () =>
      withCache(
        Effect.gen(function* () {
          const renderInvoice = DataCache.fn("renderInvoice", (doc: { _id: string; total: number }) =>
            Effect.succeed(`${doc._id}: ${doc.total}`)
          )
          assert.strictEqual(yield* renderInvoice({ _id: "inv-1", total: 10 }), "inv-1: 10")
          assert.strictEqual(yield* renderInvoice({ _id: "inv-2", total: 10 }), "inv-2: 10")
          assert.strictEqual((yield* renderInvoice.stats).entries, 2)
        })
      )
    )

    it.effect("({ url, _http }) leaves `_http` out; invalidate({ url }) and has({ url }) find the entry", () =>
      withCache(
        Effect.gen(function* () {
          let downloads = 0
          const fetchCsv = DataCache.fn("fetchCsv", ({ url, _http }: { url: string; _http: { get: (u: string) => string } }) =>
            Effect.sync(() => {
              downloads++
              return _http.get(url)
            })
          )
          const a = { get: (u: string) => `a:${u}` }
          const b = { get: (u: string) => `b:${u}` }
          assert.strictEqual(yield* fetchCsv({ url: "trips.csv", _http: a }), "a:trips.csv")
          assert.strictEqual(yield* fetchCsv({ url: "trips.csv", _http: b }), "a:trips.csv")
          assert.strictEqual(downloads, 1)
          assert.isTrue(yield* fetchCsv.has({ url: "trips.csv" }))
          yield* fetchCsv.invalidate({ url: "trips.csv" })
          assert.isFalse(yield* fetchCsv.has({ url: "trips.csv" }))
          assert.strictEqual(yield* fetchCsv({ url: "trips.csv", _http: b }), "b:trips.csv")
        })
      )
    )

    it.effect("getters of left-out fields never run for the key", () =>
      withCache(
        Effect.gen(function* () {
          let reads = 0
          const f = DataCache.fn("lazy", ({ id, _conn }: { id: number; _conn: Socket }) => Effect.succeed(id + _conn.fd))
          const arg = (id: number) =>
            Object.defineProperty({ id }, "_conn", {
              get: () => {
                reads++
                return new Socket()
              },
              enumerable: true
            }) as { id: number; _conn: Socket }
          assert.strictEqual(yield* f(arg(1)), 4)
          assert.strictEqual(yield* f(arg(1)), 4)
          assert.strictEqual(reads, 1, "read by the body on its one run, never by the key")
        })
      )
    )

    it.effect("a destructured argument's hidden state: throwing getters, revoked Proxies, own __proto__ keys, no prototype", () =>
      withCache(
        Effect.gen(function* () {
          const f = DataCache.fn("hidden", (n: number, { id, _conn }: { id: unknown; _conn?: unknown }) =>
            Effect.succeed(`${n}:${String(id)}:${typeof _conn}`)
          )
          const sealed = {
            get id(): number {
              throw new Error("sealed")
            },
            _conn: 1
          }
          const threw = yield* Effect.flip(f(1, sealed))
          assert.instanceOf(threw, Hasher.UnhashableParamError)
          assert.strictEqual(threw.argument, 'argument 1 → field "id"')
          assert.strictEqual(threw.reason, "threw")
          const { proxy, revoke } = Proxy.revocable({ id: 1 }, {})
          revoke()
          const revoked = yield* Effect.flip(f(1, proxy))
          assert.instanceOf(revoked, Hasher.UnhashableParamError)
          assert.strictEqual(revoked.argument, "argument 1")
          const withProto = JSON.parse('{ "id": 1, "__proto__": { "admin": true }, "_conn": 2 }') as { id: number }
          assert.strictEqual(yield* f(1, { id: 1, _conn: 3 }), "1:1:number")
          assert.strictEqual(yield* f(1, withProto), "1:1:number")
          assert.strictEqual((yield* f.stats).entries, 2, "an own __proto__ key is data")
          const bare = Object.assign(Object.create(null) as { id: number; _conn?: unknown }, { id: 1, _conn: new Socket() })
          assert.strictEqual(yield* f(1, bare), "1:1:number", "a prototype-less object keys as its fields: a hit")
        })
      )
    )

    it.effect("({ url, ...rest }) keeps rest's fields, `_` ones included; a field the pattern does not name is data", () =>
      withCache(
        Effect.gen(function* () {
          const paged = DataCache.fn("paged", ({ url, ...rest }: { url: string; page?: number; _trace?: string }) =>
            Effect.succeed(`${url} ${JSON.stringify(rest)}`)
          )
          yield* paged({ url: "u", page: 1 })
          yield* paged({ url: "u", page: 2 })
          yield* paged({ url: "u", _trace: "a" })
          yield* paged({ url: "u", _trace: "b" })
          assert.strictEqual((yield* paged.stats).entries, 4)
          const only = DataCache.fn("only", ({ url }: { url: string; _extra?: number }) => Effect.succeed(url))
          yield* only({ url: "u", _extra: 1 })
          yield* only({ url: "u", _extra: 2 })
          assert.strictEqual((yield* only.stats).entries, 2, "`_extra` is not a name of the pattern")
        })
      )
    )

    it.effect("GraphQL's `__typename` and Effect's `_tag` stay in the key, destructured or not", () =>
      withCache(
        Effect.gen(function* () {
          const node = DataCache.fn("node", ({ __typename, _tag, id }: { __typename: string; _tag: string; id: number }) =>
            Effect.succeed(`${__typename}/${_tag}/${id}`)
          )
          assert.strictEqual(yield* node({ __typename: "User", _tag: "A", id: 1 }), "User/A/1")
          assert.strictEqual(yield* node({ __typename: "Team", _tag: "A", id: 1 }), "Team/A/1")
          assert.strictEqual(yield* node({ __typename: "Team", _tag: "B", id: 1 }), "Team/B/1")
          const positional = DataCache.fn("positional", (__typename: string, _tag: string) => Effect.succeed(`${__typename}/${_tag}`))
          assert.strictEqual(yield* positional("User", "A"), "User/A")
          assert.strictEqual(yield* positional("Team", "B"), "Team/B")
        })
      )
    )

    it.effect("a `key` schema describes the arguments with the `_` ones left out", () =>
      withCache(
        Effect.gen(function* () {
          const fetchCsv = DataCache.fn(
            { name: "keyedCsv", key: Schema.Struct({ url: Schema.String }) },
            ({ url, _http }: { url: string; _http: Socket }) => Effect.succeed(`${url}:${_http.fd}`)
          )
          assert.strictEqual(yield* fetchCsv({ url: "u", _http: new Socket() }), "u:3")
          assert.strictEqual(yield* fetchCsv({ url: "u", _http: new Socket() }), "u:3")
          assert.strictEqual((yield* fetchCsv.stats).misses, 1)
          // TypeScript cannot see parameter names: it checks the schema against the whole list.
          const options = { name: "keyedRows", key: Schema.Tuple([Schema.Number]) } as const
          const fetchRows = DataCache.fn(options as never, (_db: Db, n: number) => _db.rows(n))
          const a = new Db("a")
          yield* fetchRows(a, 2)
          yield* fetchRows(new Db("b"), 2)
          assert.strictEqual(a.queries, 1)
        })
      )
    )
  })

  // Found by an outside trial: `_ref` (the natural name for a Ref) is a name Babel makes up, so it stays in
  // the key, and the error's list of such names left it out.
  it.effect("a `_ref` parameter stays in the key, and the error says so and what to call it", () =>
    withCache(
      Effect.gen(function* () {
        const read = DataCache.fn("readRef", (_ref: Db, n: number) => Effect.succeed(n))
        const error = yield* Effect.flip(read(new Db("a"), 1))
        assert.instanceOf(error, Hasher.UnhashableParamError)
        assert.include(error.message, '"_ref"')
        assert.include(error.message, '"_myRef"')
      })
    )
  )

  describe("where the names cannot be read", () => {
    it.effect("a bound function (native source, so a `version`): nothing is left out, and the error says why", () =>
      withCache(
        Effect.gen(function* () {
          const load = (_db: Db, n: number) => _db.rows(n)
          const bound = DataCache.fn({ name: "bound", version: 1 }, load.bind(null))
          const error = yield* Effect.flip(bound(new Db("a"), 1))
          assert.instanceOf(error, Hasher.UnhashableParamError)
          assert.strictEqual(error.argument, "argument 0")
          assert.isTrue(error.parametersUnreadable)
          assert.include(error.message, "recall could not read the parameter names of bound")
          assert.include(error.message, "`key` schema")
          assert.notInclude(error.message, "(_db: Db, n: number) =>", "a `_` name does not help here")
          // A hashable `_` argument makes the key longer, never shorter: two handles, two entries.
          const plain = (_db: { url: string }, n: number) => Effect.succeed(n)
          const boundPlain = DataCache.fn({ name: "boundPlain", version: 1 }, plain.bind(null))
          yield* boundPlain({ url: "a" }, 1)
          yield* boundPlain({ url: "b" }, 1)
          assert.strictEqual((yield* boundPlain.stats).entries, 2)
        })
      )
    )

    it.effect("an Effect.fn wrapper (with a `version`) hides its generator's names: nothing is left out", () =>
      withCache(
        Effect.gen(function* () {
          const wrapped = DataCache.fn(
            { name: "wrapped", version: 1 },
            Effect.fn(function* (_db: Db, n: number) {
              return yield* _db.rows(n)
            })
          )
          const error = yield* Effect.flip(wrapped(new Db("a"), 1))
          assert.instanceOf(error, Hasher.UnhashableParamError)
          assert.include(error.message, "could not read the parameter names of wrapped")
        })
      )
    )
  })

  describe("reporters and ResourceCache", () => {
    it.effect("the reporter's summary leaves out what the key leaves out, and shows a document's `_id`", () => {
      const summaries: Array<string> = []
      const reporter = CacheReporter.layer({
        started: (c) => Effect.sync(() => summaries.push(c.arguments)),
        ended: () => Effect.void
      })
      return Effect.gen(function* () {
        yield* DataCache.fn("fetchData", (_db: Db, numRows: number) => _db.rows(numRows))(new Db("a"), 2)
        yield* DataCache.fn("render", (doc: { _id: string }) => Effect.succeed(doc._id))({ _id: "inv-1" })
        yield* DataCache.fn("csv", ({ url, _http }: { url: string; _http: number }) => Effect.succeed(url + _http))({ url: "u", _http: 1 })
        assert.deepStrictEqual(summaries, ["2", '{ _id: "inv-1" }', '{ url: "u" }'])
      }).pipe(Effect.provide([DataCache.layerMemory(), reporter]))
    })

    it.effect("ResourceCache: a `_` parameter does not split the shared instance", () =>
      Effect.gen(function* () {
        let opened = 0
        const connect = ResourceCache.fn("connect", (dsn: string, _pool: { size: number }) =>
          Effect.sync(() => ({ dsn, id: ++opened, size: _pool.size }))
        )
        const a = yield* connect("postgres://db", { size: 1 })
        const b = yield* connect("postgres://db", { size: 2 })
        assert.strictEqual(a, b)
        assert.strictEqual(yield* connect.use("postgres://db", { size: 3 }, (conn) => Effect.succeed(conn.id)), 1)
        yield* connect.invalidate("postgres://db", { size: 0 })
        assert.strictEqual((yield* connect("postgres://db", { size: 4 })).id, 2)
      }).pipe(Effect.provide(ResourceCache.layerMemory()))
    )
  })
})
