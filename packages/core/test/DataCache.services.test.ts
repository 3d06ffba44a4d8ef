/**
 * What Effect users reach for around a cache: a ready layer value, a layer
 * that never stores (for tests of code that uses cached functions), cached
 * functions inside services whose methods need nothing, error types that
 * name only what a call can raise, and option objects shared between
 * functions.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { DataCache, type Hasher, type ValueCodec } from "@recall/core"
import { Context, Effect, Layer, Schema } from "effect"

/** True when X and Y are the same type; a `const` typed with it fails to compile otherwise. */
type Equals<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false

const counted = () => {
  let runs = 0
  return {
    runs: () => runs,
    fn: DataCache.fn("counted", (n: number) => Effect.sync(() => ++runs + n))
  }
}

describe("DataCache.layer", () => {
  it.effect("one value, one cache: providing it in two places shares the entries", () =>
    Effect.gen(function* () {
      const { runs, fn } = counted()
      yield* fn(1).pipe(Effect.provide(DataCache.layer))
      yield* fn(1).pipe(Effect.provide(DataCache.layer))
      assert.strictEqual(runs(), 1)
    }).pipe(Effect.provide(DataCache.layer))
  )
})

describe("DataCache.layerPassthrough", () => {
  it.effect("every call runs its body, concurrent ones too, and nothing is stored", () =>
    Effect.gen(function* () {
      const { runs, fn } = counted()
      yield* Effect.all([fn(1), fn(1), fn(1)], { concurrency: "unbounded" })
      yield* fn(1)
      assert.strictEqual(runs(), 4)
      assert.isFalse(yield* fn.has(1))
      const stats = yield* fn.stats
      assert.strictEqual(stats.misses, 4)
      assert.strictEqual(stats.entries, 0)
    }).pipe(Effect.provide(DataCache.layerPassthrough))
  )

  it.effect("arguments and values are checked and copied as with a real cache", () =>
    Effect.gen(function* () {
      const Row = Schema.Struct({ id: Schema.Number })
      const row = DataCache.fn({ name: "row", value: Row }, (id: number) => Effect.succeed({ id, extra: true }))
      assert.deepStrictEqual(yield* row(1), { id: 1 }, "a value schema's decoded value, as with a real cache")
      const withFunction = DataCache.fn("handler", (_: number) => Effect.succeed({ run: () => 1 }))
      assert.strictEqual((yield* Effect.flip(withFunction(1)))._tag, "UnserializableValueError")
      const byObject = DataCache.fn("byObject", (o: object) => Effect.succeed(Object.keys(o).length))
      assert.strictEqual((yield* Effect.flip(byObject({ f: () => 1 })))._tag, "UnhashableParamError")
    }).pipe(Effect.provide(DataCache.layerPassthrough))
  )
})

describe("DataCache.bind", () => {
  // `copy: "readonly"` and a number argument: no library error can happen, so none is in the types.
  const fetchUser = DataCache.fn({ name: "fetchUser", copy: "readonly" }, (id: number) => Effect.succeed({ id, name: `user ${id}` }))

  class Users extends Context.Service<
    Users,
    {
      readonly get: (id: number) => Effect.Effect<{ readonly id: number; readonly name: string }>
      readonly forget: (id: number) => Effect.Effect<void>
    }
  >()("test/Users") {
    static readonly layer = Layer.effect(
      Users,
      Effect.gen(function* () {
        const get = yield* DataCache.bind(fetchUser)
        return Users.of({ get, forget: (id) => get.invalidate(id) })
      })
    )
  }

  // The service's layer needs the cache; its methods need nothing.
  layer(Users.layer.pipe(Layer.provideMerge(DataCache.layerMemory())))("a service built with Layer.effect", (it) => {
    it.effect("calls its cached functions with R = never, on the layer's cache", () =>
      Effect.gen(function* () {
        const users = yield* Users
        const get: (id: number) => Effect.Effect<unknown, never, never> = users.get
        yield* get(1)
        assert.isTrue(yield* fetchUser.has(1), "the entry is in the cache the layer was built with")
        yield* users.forget(1)
        assert.isFalse(yield* fetchUser.has(1))
      })
    )
  })
})

describe("DataCache types", () => {
  it("a call's error type names only the library errors it can raise", () => {
    const byNumber = DataCache.fn("byNumber", (n: number) => Effect.succeed(n))
    const byObject = DataCache.fn("byObject", (o: { readonly id: number }) => Effect.succeed({ id: o.id }))
    const readonlyValue = DataCache.fn({ name: "frozen", copy: "readonly" }, (n: number) => Effect.succeed({ n }))
    const keyed = DataCache.fn({ name: "keyed", key: Schema.Tuple([Schema.Int]) }, (n: number) => Effect.succeed(n))
    const generator = DataCache.fn("gen", function* (_: number) {
      return yield* Effect.fail("no" as const)
    })
    const n1: Equals<Effect.Error<ReturnType<typeof byNumber>>, never> = true
    // A plain-data argument is always hashed, and a plain-data value always copied.
    const n2: Equals<Effect.Error<ReturnType<typeof byObject>>, never> = true
    const n3: Equals<Effect.Error<ReturnType<typeof readonlyValue>>, never> = true
    const n4: Equals<Effect.Error<ReturnType<typeof keyed>>, Hasher.UnhashableParamError> = true
    const n5: Equals<Effect.Error<ReturnType<typeof generator>>, "no"> = true
    // `any` could be anything: its errors stay (JSON.parse, res.json(), untyped libraries).
    const anyArg = DataCache.fn("anyArg", (x: any) => Effect.succeed(String(x)))
    const anyValue = DataCache.fn("anyValue", (n: number) => Effect.succeed(JSON.parse(`${n}`)))
    const n6: Equals<Effect.Error<ReturnType<typeof anyArg>>, Hasher.UnhashableParamError> = true
    const n7: Equals<Effect.Error<ReturnType<typeof anyValue>>, ValueCodec.UnserializableValueError> = true
    assert.isTrue(n1 && n2 && n3 && n4 && n5 && n6 && n7)
  })

  it("`_tag` and `__` names stay in the key types; `_` names leave them", () => {
    type Shape = { readonly _tag: "Circle"; readonly r: number; readonly __typename: "Shape"; readonly _log: boolean }
    const k1: Equals<DataCache.KeyOf<Shape>, { readonly _tag: "Circle"; readonly r: number; readonly __typename: "Shape" }> = true
    const k2: Equals<DataCache.ExcludedOf<Shape>, "_log"> = true
    assert.isTrue(k1 && k2)
  })

  it("a Schema.Array key describes one array argument; a Schema.Tuple describes the arguments", () => {
    const total = DataCache.fn({ name: "total", key: Schema.Array(Schema.Number) }, (ids: ReadonlyArray<number>) =>
      Effect.succeed(ids.length)
    )
    const pair = DataCache.fn({ name: "pair", key: Schema.Tuple([Schema.Number, Schema.Number]) }, (a: number, b: number) =>
      Effect.succeed(a + b)
    )
    const p1: Equals<DataCache.IsPositional<ReadonlyArray<number>>, false> = true
    const p2: Equals<DataCache.IsPositional<readonly [number, number]>, true> = true
    const p3: Equals<Parameters<typeof total.invalidate>, [ReadonlyArray<number>]> = true
    assert.isTrue(p1 && p2 && p3)
    assert.isFunction(pair)
  })

  it("option objects shared between functions type-check; a bad ttl literal does not", () => {
    const hourly = { ttl: "1 hour", maxEntries: 100 }
    DataCache.fn({ ...hourly, name: "a" }, (n: number) => Effect.succeed(n))
    DataCache.fn({ ...hourly, name: "b", maxBytes: 1024 }, (s: string) => Effect.succeed(s))
    // @ts-expect-error "1 hourz" is not a duration
    assert.throws(() => DataCache.fn({ name: "c", ttl: "1 hourz" }, (n: number) => Effect.succeed(n)), /cannot read "1 hourz"/)
    const shared = { ttl: "1 hourz" } // widened to string: only the definition can catch it
    assert.throws(() => DataCache.fn({ ...shared, name: "d" }, (n: number) => Effect.succeed(n)), /cannot read "1 hourz"/)
  })

  it.effect("with a key schema, invalidate and has take what the key schema takes", () =>
    Effect.gen(function* () {
      const City = Schema.Struct({ city: Schema.String })
      const weather = DataCache.fn({ name: "weather", key: City }, (q: { city: string; units: "C" | "F"; _log: boolean }) =>
        Effect.succeed(`${q.city} in ${q.units}`)
      )
      yield* weather({ city: "Oslo", units: "C", _log: false })
      assert.isTrue(yield* weather.has({ city: "Oslo" }), "the key schema's fields are enough")
      assert.isTrue(yield* weather.has({ city: "Oslo", units: "F" }), "other fields may be given; the key ignores them")
      // @ts-expect-error the key schema's own fields are required
      yield* Effect.exit(weather.has({ units: "C" }))
      yield* weather.invalidate({ city: "Oslo" })
      assert.isFalse(yield* weather.has({ city: "Oslo" }))
    }).pipe(Effect.provide(DataCache.layerMemory()))
  )
})
