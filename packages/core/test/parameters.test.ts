/**
 * Unit tests of `internal/parameters.ts`: reading which parameters a function's
 * own parameter list leaves out of the key, and projecting a call's arguments.
 */
import { assert, describe, it } from "@effect/vitest"
import { Hasher } from "@recall/core"
import { Effect } from "effect"
import * as Parameters from "../src/internal/parameters.ts"

/** What the plan of `f` leaves out at positions 0..n-1: "all", the fields, or "-" (nothing). */
const leftOut = (f: Function, n = 3): ReadonlyArray<string | ReadonlyArray<string>> => {
  const plan = Parameters.planOf(f)
  return Array.from({ length: n }, (_, i) => {
    const left = Parameters.leftOutAt(plan, i)
    return left === true ? "all" : left === undefined ? "-" : left
  })
}

const unused = (...values: ReadonlyArray<unknown>) => values.length

describe("Parameters.planOf", () => {
  describe("positional parameters", () => {
    it("arrows with and without parens, async arrows, function expressions and declarations", () => {
      assert.deepStrictEqual(
        leftOut((_db: unknown, n: number) => n),
        ["all", "-", "-"]
      )
      assert.deepStrictEqual(
        leftOut((_db: unknown) => 1),
        ["all", "-", "-"]
      )
      // Sources as Function.prototype.toString gives them, TypeScript's types already erased.
      assert.deepStrictEqual(leftOut(new Function("return _db => 1")()), ["all", "-", "-"])
      assert.deepStrictEqual(leftOut(new Function("return async _db => 1")()), ["all", "-", "-"])
      assert.deepStrictEqual(leftOut(new Function("return async (a, _log) => 1")()), ["-", "all", "-"])
      assert.deepStrictEqual(
        leftOut((a: number, _log: unknown) => a),
        ["-", "all", "-"]
      )
      function named(a: number, _log: unknown, c: number) {
        return a + c
      }
      assert.deepStrictEqual(leftOut(named), ["-", "all", "-"])
      assert.deepStrictEqual(
        leftOut(async (_conn: unknown, b: number) => b),
        ["all", "-", "-"]
      )
    })

    it("generator and async generator functions", () => {
      assert.deepStrictEqual(
        leftOut(function* (_db: unknown, n: number) {
          yield* Effect.void
          return n
        }),
        ["all", "-", "-"]
      )
      assert.deepStrictEqual(
        leftOut(async function* gen(a: number, _log: unknown) {
          yield a
        }),
        ["-", "all", "-"]
      )
    })

    it("object and class methods, getters, setters, static and private methods", () => {
      const object = {
        load(a: number, _log: unknown) {
          return a
        },
        *gen(_conn: unknown) {
          yield 1
        },
        async later(_conn: unknown, b: number) {
          return b
        },
        ["com" + "puted"](_conn: unknown) {
          return 1
        },
        set value(_input: unknown) {}
      }
      assert.deepStrictEqual(leftOut(object.load), ["-", "all", "-"])
      assert.deepStrictEqual(leftOut(object.gen), ["all", "-", "-"])
      assert.deepStrictEqual(leftOut(object.later), ["all", "-", "-"])
      assert.deepStrictEqual(leftOut((object as unknown as Record<string, Function>).computed!), ["all", "-", "-"])
      assert.deepStrictEqual(leftOut(Object.getOwnPropertyDescriptor(object, "value")!.set!), ["all", "-", "-"])
      class Repo {
        #secret = 1
        static find(_db: unknown, id: number) {
          return id
        }
        load(id: number, _db: unknown) {
          return id + this.#secret + this.#own(1)
        }
        #own(_conn: unknown) {
          return this.#secret
        }
        static own(repo: Repo): Function {
          return repo.#own
        }
      }
      assert.deepStrictEqual(leftOut(Repo.find), ["all", "-", "-"])
      assert.deepStrictEqual(leftOut(Repo.prototype.load), ["-", "all", "-"])
      assert.deepStrictEqual(leftOut(Repo.own(new Repo())), ["all", "-", "-"])
    })

    it("defaults and rest parameters", () => {
      assert.deepStrictEqual(
        leftOut((a: number, _retries = 1) => a + _retries),
        ["-", "all", "-"]
      )
      assert.deepStrictEqual(
        leftOut((..._rest: Array<unknown>) => _rest),
        ["all", "all", "all"]
      )
      assert.deepStrictEqual(
        leftOut((a: number, ..._rest: Array<unknown>) => a + _rest.length),
        ["-", "all", "all"]
      )
      assert.deepStrictEqual(
        leftOut((...rest: Array<unknown>) => rest),
        ["-", "-", "-"]
      )
    })

    it("a single underscore: `_db` is left out; `_tag` and `__x` are data", () => {
      assert.deepStrictEqual(
        leftOut((_db: unknown, _tag: string, __ctx: unknown) => unused(_db, _tag, __ctx)),
        ["all", "-", "-"]
      )
    })

    it("names compilers and minifiers make up (`_`, `_a`, `_x2`, `_ref`, `_this`, `_temp`) are data: a rename never shortens a key", () => {
      for (const name of ["_", "_a", "_b", "_x", "_x2", "_$", "_ref", "_ref2", "_this", "_arguments", "_args", "_temp3"]) {
        assert.deepStrictEqual(leftOut(new Function(`return (${name}, n) => n`)()), ["-", "-", "-"], name)
      }
      // What esbuild (target es2017) makes of `({ url, ...rest }) => ...`, and Babel's and tsc's lowered destructuring.
      assert.deepStrictEqual(leftOut(new Function("return (_a) => { var _b = _a, { url } = _b; return url }")()), ["-", "-", "-"])
      assert.deepStrictEqual(leftOut(new Function("return function (_ref) { var url = _ref.url; return url }")()), ["-", "-", "-"])
      // Names people choose stay left out, Streamlit's `_self` among them.
      for (const name of ["_db", "_conn", "_self", "_http", "_db_connection"]) {
        assert.deepStrictEqual(leftOut(new Function(`return (${name}, n) => n`)()), ["all", "-", "-"], name)
      }
    })

    it("a `_` parameter that a kept parameter's default reads is data", () => {
      assert.deepStrictEqual(leftOut(new Function("return (_conn, region = _conn.region) => region")()), ["-", "-", "-"])
      assert.deepStrictEqual(leftOut(new Function("return ({ _client, url = _client.base }) => url")(), 1), ["-"])
      // A key in a default object, or a property read, is no variable.
      assert.deepStrictEqual(leftOut(new Function("return (_db, opts = { _db: 1, x: y._db }) => opts")(), 1), ["all"])
    })

    it("comments and odd spacing in the parameter list", () => {
      assert.deepStrictEqual(leftOut(new Function("return function (a /* _not */, // c\n _log) { return a } // end")()), ["-", "all", "-"])
      // `new Function` sources are readable: "function anonymous(a,_log\n) {...}".
      assert.deepStrictEqual(leftOut(new Function("a", "_log", "return a")), ["-", "all", "-"])
    })
  })

  describe("destructured object parameters", () => {
    it("the `_` property keys of the pattern, by the field name the caller passes", () => {
      assert.deepStrictEqual(
        leftOut(({ url, _http }: { url: string; _http: unknown }) => unused(url, _http), 1),
        [["_http"]]
      )
      assert.deepStrictEqual(
        leftOut(({ _http: http }: { _http: unknown }) => http, 1),
        [["_http"]]
      )
      assert.deepStrictEqual(
        leftOut(({ url: _u }: { url: string }) => _u, 1),
        ["-"]
      )
      assert.deepStrictEqual(
        leftOut(({ _quoted: q }: { _quoted: unknown }) => q, 1),
        [["_quoted"]]
      )
      assert.deepStrictEqual(
        leftOut(({ _a = 1, _b: b = 2, c }: { _a?: number; _b?: number; c: number }) => _a + b + c, 1),
        [["_a", "_b"]]
      )
      assert.deepStrictEqual(
        leftOut(({ url, _http }: { url: string; _http: unknown } = { url: "", _http: 0 }) => unused(url, _http), 1),
        [["_http"]]
      )
      assert.deepStrictEqual(
        leftOut((n: number, { _log, id }: { _log: unknown; id: number }) => unused(n, _log, id), 2),
        ["-", ["_log"]]
      )
    })

    it("data: `_tag`, `__typename`, computed keys, nested patterns, array patterns, an object rest", () => {
      assert.deepStrictEqual(
        leftOut(({ _tag, __typename, _id }: { _tag: string; __typename: string; _id: string }) => unused(_tag, __typename, _id), 1),
        [["_id"]]
      )
      const key = "_computed"
      assert.deepStrictEqual(
        leftOut(({ [key]: c }: { _computed: unknown }) => c, 1),
        ["-"]
      )
      assert.deepStrictEqual(
        leftOut(({ _a: { b } }: { _a: { b: number } }) => b, 1),
        ["-"]
      )
      assert.deepStrictEqual(
        leftOut(([_a, b]: [unknown, number]) => unused(_a, b), 1),
        ["-"]
      )
      assert.deepStrictEqual(
        leftOut(({ url, ...rest }: { url: string; [k: string]: unknown }) => unused(url, rest), 1),
        ["-"]
      )
      assert.deepStrictEqual(
        leftOut(({ url, ..._rest }: { url: string; [k: string]: unknown }) => unused(url, _rest), 1),
        ["-"]
      )
    })
  })

  describe("sources that cannot be read", () => {
    it("native and bound functions, Effect.fn wrappers and classes: nothing is left out, and the plan says so", () => {
      const load = (_db: unknown, n: number) => n
      for (const f of [Math.max, load.bind(null), new Proxy(load, {}), class {}]) {
        const plan = Parameters.planOf(f)
        assert.isTrue(plan.unreadable, String(f))
        assert.isUndefined(Parameters.leftOutAt(plan, 0))
      }
      assert.isTrue(Parameters.planOf(load, true).unreadable)
      assert.isFalse(Parameters.planOf(load).unreadable)
    })

    it("an own toString does not stand in for the source", () => {
      const f = Object.assign((a: number) => a, { toString: () => "(_a) => 1" })
      assert.deepStrictEqual(leftOut(f), ["-", "-", "-"])
    })
  })
})

describe("Parameters.project", () => {
  it("costs nothing without `_` parameters: the arguments array itself, the key function itself", () => {
    const plan = Parameters.planOf((a: number, b: { _x: number }) => a + b._x)
    const args = [1, { _x: 2 }]
    assert.strictEqual(Parameters.project(plan, args), args)
    const key = (xs: ReadonlyArray<unknown>) => String(xs.length)
    assert.strictEqual(Parameters.keyed(plan, key), key)
  })

  it("drops left-out positions and left-out fields of plain objects, reading each other field once", () => {
    const plan = Parameters.planOf(({ url, _http }: { url: string; _http: unknown }, _db: unknown, n: number) => unused(url, _http, _db, n))
    let urlReads = 0
    let httpReads = 0
    const arg = {
      get url() {
        urlReads++
        return "u"
      },
      get _http() {
        httpReads++
        throw new Error("never read")
      },
      extra: 1
    }
    const projected = Parameters.project(plan, [arg, { db: 1 }, 3, 4])
    assert.deepStrictEqual(projected, [{ url: "u", extra: 1 }, 3, 4])
    assert.strictEqual(urlReads, 1)
    assert.strictEqual(httpReads, 0)
  })

  it("keeps what is not a plain object as it is, the prototype of a null-prototype object, symbol and __proto__ keys", () => {
    const plan = Parameters.planOf(({ _a, b }: { _a: unknown; b: unknown }) => unused(_a, b))
    class Box {
      _a = 1
      b = 2
    }
    const box = new Box()
    assert.strictEqual(Parameters.project(plan, [box])[0], box)
    const bare = Object.assign(Object.create(null), { _a: 1, b: 2 })
    const copy = Parameters.project(plan, [bare])[0] as object
    assert.isNull(Object.getPrototypeOf(copy))
    assert.deepStrictEqual(Object.keys(copy), ["b"])
    const tenant = Symbol.for("tenant")
    const withKeys = JSON.parse('{"__proto__": {"x": 1}, "_a": 1}') as Record<PropertyKey, unknown>
    withKeys[tenant] = "acme"
    const projected = Parameters.project(plan, [withKeys])[0] as Record<PropertyKey, unknown>
    assert.strictEqual(Object.getPrototypeOf(projected), Object.prototype)
    assert.deepStrictEqual(Object.keys(projected), ["__proto__"])
    assert.strictEqual(projected[tenant], "acme")
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    assert.strictEqual(Parameters.project(plan, [proxy])[0], proxy)
  })

  it("a kept field whose getter throws is Unhashable at the call's position", () => {
    const plan = Parameters.planOf((_db: unknown, { id, _log }: { id: number; _log: unknown }) => unused(_db, id, _log))
    const arg = {
      get id(): number {
        throw new Error("sealed")
      }
    }
    try {
      Parameters.project(plan, [1, arg])
      assert.fail("expected Unhashable")
    } catch (e) {
      assert.instanceOf(e, Hasher.Unhashable)
      assert.deepStrictEqual(e.path, [1, "id"])
      assert.strictEqual(e.reason, "threw")
      assert.include(e.issue, "sealed")
    }
  })

  it("errors of the key function name the argument by its position in the call", () => {
    const plan = Parameters.planOf((_db: unknown, a: number, _cache: unknown, d: unknown) => unused(_db, a, _cache, d))
    const key = Parameters.keyed(plan, (args) => {
      throw new Hasher.Unhashable(args[1], [1, "socket"], undefined, "instance")
    })
    try {
      key([0, 1, 2, { socket: 3 }])
      assert.fail("expected Unhashable")
    } catch (e) {
      assert.instanceOf(e, Hasher.Unhashable)
      assert.deepStrictEqual(e.path, [3, "socket"])
      assert.isFalse(e.parametersUnreadable)
    }
    const unreadable = Parameters.keyed(Parameters.planOf(Math.max), () => {
      throw new Hasher.Unhashable(0, [0], undefined, "instance")
    })
    try {
      unreadable([0])
      assert.fail("expected Unhashable")
    } catch (e) {
      assert.instanceOf(e, Hasher.Unhashable)
      assert.deepStrictEqual(e.path, [0])
      assert.isTrue(e.parametersUnreadable)
    }
  })
})
