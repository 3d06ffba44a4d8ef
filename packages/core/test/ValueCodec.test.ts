import { runInNewContext } from "node:vm"
import { assert, describe, it } from "@effect/vitest"
import { ValueCodec } from "@recall/core"
import {
  Chunk,
  Data,
  DateTime,
  Duration,
  Effect,
  Equal,
  Hash,
  HashMap,
  HashSet,
  Option,
  Result,
  Schema,
  SchemaGetter,
  SchemaTransformation
} from "effect"

const roundTrip = <A>(codec: ValueCodec.ValueCodec<NoInfer<A>>, value: A): A => codec.loadUnsafe(codec.storeUnsafe(value).stored)

/** The Unstorable that storing `value` throws. */
const unstorable = (codec: ValueCodec.ValueCodec<any>, value: unknown): ValueCodec.Unstorable => {
  try {
    codec.storeUnsafe(value)
  } catch (e) {
    if (e instanceof ValueCodec.Unstorable) return e
    throw e
  }
  throw new Error("expected Unstorable")
}

/** `{ next: { next: ... { leaf } } }`, `depth` levels, built without recursion. */
const nested = (depth: number, leaf: unknown): { next?: unknown; leaf?: unknown } => {
  let value: { next?: unknown; leaf?: unknown } = { leaf }
  for (let i = 0; i < depth; i++) value = { next: value }
  return value
}

const depthOf = (value: { next?: unknown }): number => {
  let depth = 0
  let at: { next?: unknown } | undefined = value
  while (at?.next !== undefined) {
    at = at.next as { next?: unknown }
    depth++
  }
  return depth
}

const revokedProxy = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

describe("ValueCodec", () => {
  describe("structuredCopy", () => {
    const codec = ValueCodec.structuredCopy<any>()

    it("returns primitives as they are and copies containers deeply", () => {
      for (const primitive of [1, "s", true, null, undefined, 1n]) assert.strictEqual(roundTrip(codec, primitive), primitive)
      const value = { list: [1, { deep: [2] }], when: new Date(5), re: /a+/g }
      const copy = roundTrip(codec, value)
      assert.deepStrictEqual(copy, value)
      assert.notStrictEqual(copy.list, value.list)
      assert.notStrictEqual(copy.list[1], value.list[1])
      assert.notStrictEqual(copy.when, value.when)
    })

    it("keeps shared references and cycles", () => {
      const shared = { n: 1 }
      const value: Record<string, unknown> = { a: shared, b: shared }
      value.self = value
      const copy = roundTrip(codec, value) as Record<string, unknown>
      assert.strictEqual(copy.a, copy.b)
      assert.notStrictEqual(copy.a, shared)
      assert.strictEqual(copy.self, copy)
    })

    it("keeps key order, Map and Set order, and null-prototype objects", () => {
      const bare = Object.assign(Object.create(null), { z: 1, a: { b: 2 } })
      const value = {
        z: { n: 1 },
        a: 1,
        m: new Map<unknown, unknown>([
          ["y", { n: 2 }],
          [{ k: 1 }, 3]
        ]),
        s: new Set([{ n: 4 }, 5]),
        bare
      }
      const copy = roundTrip(codec, value)
      assert.deepStrictEqual(Object.keys(copy), ["z", "a", "m", "s", "bare"])
      assert.deepStrictEqual([...copy.m.values()], [{ n: 2 }, 3])
      assert.deepStrictEqual([...copy.s], [{ n: 4 }, 5])
      assert.strictEqual(Object.getPrototypeOf(copy.bare), null)
      assert.deepStrictEqual(Object.keys(copy.bare), ["z", "a"])
    })

    it("copies a Node Buffer into a Buffer that does not alias it", () => {
      const buffer = Buffer.from("hello")
      const copy = roundTrip(codec, buffer) as Buffer
      assert.isTrue(Buffer.isBuffer(copy))
      copy[0] = 0
      assert.strictEqual(buffer.toString(), "hello")
    })

    it("refuses functions, symbols and class instances", () => {
      class Conn {}
      for (const value of [() => 1, Symbol("s"), new Conn(), { nested: [new Conn()] }, Promise.resolve(1), new Error("e")]) {
        assert.throws(() => codec.storeUnsafe(value), ValueCodec.Unstorable)
      }
    })

    it("estimates bytes from the data held", () => {
      const small = codec.storeUnsafe({ x: 1 }).bytes
      const large = codec.storeUnsafe({ x: new Float64Array(1000) }).bytes
      assert.isAbove(large, 8000)
      assert.isBelow(small, 100)
    })

    it("gives the computing caller the value it returned", () => {
      const value = { list: [1] }
      assert.strictEqual(codec.storeUnsafe(value).value, value)
    })

    describe("own keys", () => {
      const parsed = () => JSON.parse('{"__proto__": {"x": 1}, "a": 1}')

      const assertOwnProto = (copy: Record<string, unknown>) => {
        assert.strictEqual(Object.getPrototypeOf(copy), Object.prototype)
        assert.isTrue(Object.hasOwn(copy, "__proto__"))
        assert.deepStrictEqual(Object.getOwnPropertyDescriptor(copy, "__proto__")?.value, { x: 1 })
        assert.deepStrictEqual(Object.keys(copy), ["__proto__", "a"])
        assert.isUndefined((copy as { x?: unknown }).x)
      }

      it("an own __proto__ key stays an own data property, on store and on every load", () => {
        const value = parsed()
        const { stored } = codec.storeUnsafe(value)
        assertOwnProto(codec.loadUnsafe(stored))
        assertOwnProto(codec.loadUnsafe(stored))
      })

      it("an own __proto__ key survives the copy of a value with shared references", () => {
        const inner = parsed()
        const copy = roundTrip(codec, { a: inner, b: inner, list: [parsed()] })
        assert.strictEqual(copy.a, copy.b)
        assertOwnProto(copy.a)
        assertOwnProto(copy.list[0])
      })

      it("an own __proto__ key inside a Data class keeps the class's prototype", () => {
        class Box extends Data.Class<{ readonly inner: unknown }> {}
        const copy = roundTrip(codec, new Box({ inner: parsed() }))
        assert.instanceOf(copy, Box)
        assertOwnProto(copy.inner as Record<string, unknown>)
      })
    })

    describe("typed arrays sharing a buffer", () => {
      it("a partial view before the whole-buffer view: two views over one new buffer", () => {
        const buffer = new ArrayBuffer(16)
        const value = { part: new Uint8Array(buffer, 4, 4), all: new Uint8Array(buffer) }
        const copy = roundTrip(codec, value)
        assert.strictEqual(copy.part.buffer, copy.all.buffer)
        assert.notStrictEqual(copy.all.buffer, buffer)
        assert.strictEqual(copy.part.byteOffset, 4)
        copy.part[0] = 7
        assert.strictEqual(copy.all[4], 7)
        assert.strictEqual(value.all[4], 0)
      })

      it("two partial views without a whole-buffer view share one new buffer", () => {
        const buffer = new ArrayBuffer(64)
        const value = { a: new Uint8Array(buffer, 8, 8), b: new Uint8Array(buffer, 12, 8) }
        const copy = roundTrip(codec, value)
        assert.strictEqual(copy.a.buffer, copy.b.buffer)
        assert.notStrictEqual(copy.a.buffer, buffer)
        copy.a[4] = 9
        assert.strictEqual(copy.b[0], 9)
        assert.strictEqual(value.b[0], 0)
      })

      it("views of different types over one buffer share, aligned as before", () => {
        const buffer = new ArrayBuffer(32)
        const bytes = new Uint8Array(buffer, 3, 5)
        const floats = new Float64Array(buffer, 8, 2)
        for (const value of [
          { bytes, floats },
          { floats, bytes }
        ]) {
          const copy = roundTrip(codec, value)
          assert.strictEqual(copy.bytes.buffer, copy.floats.buffer)
          copy.floats[0] = 1.5
          const view = new Float64Array(copy.floats.buffer, copy.floats.byteOffset, 1)
          assert.strictEqual(view[0], 1.5)
          assert.strictEqual(floats[0], 0)
        }
      })

      it("an ArrayBuffer and a view of it stay a view of the copied ArrayBuffer, in either order", () => {
        const buffer = new ArrayBuffer(8)
        const view = new Uint16Array(buffer, 2, 2)
        for (const value of [
          { buffer, view },
          { view, buffer }
        ]) {
          const copy = roundTrip(codec, value)
          assert.strictEqual(copy.view.buffer, copy.buffer)
          assert.notStrictEqual(copy.buffer, buffer)
          assert.strictEqual(copy.buffer.byteLength, 8)
        }
      })

      it("a small view of a large buffer is copied alone", () => {
        const view = new Uint8Array(new ArrayBuffer(1 << 20), 1000, 4)
        const copy = roundTrip(codec, { view })
        assert.strictEqual(copy.view.byteLength, 4)
        assert.strictEqual(copy.view.buffer.byteLength, 4)
        assert.isBelow(codec.storeUnsafe({ view }).bytes, 1000)
      })

      it("two small views of a large buffer copy only the span between them", () => {
        const buffer = new ArrayBuffer(1 << 20)
        const [a, b] = roundTrip(codec, [new Uint8Array(buffer, 1000, 4), new Uint8Array(buffer, 1100, 4)] as const)
        assert.strictEqual(a.buffer, b.buffer)
        assert.isBelow(a.buffer.byteLength, 200)
        assert.strictEqual(b.byteOffset - a.byteOffset, 100)
      })

      it("Node Buffers from one pool stay Buffers", () => {
        const a = Buffer.from("alpha")
        const b = Buffer.from("beta")
        const copy = roundTrip(codec, { a, b, again: a })
        assert.isTrue(Buffer.isBuffer(copy.a) && Buffer.isBuffer(copy.b))
        assert.strictEqual(copy.again, copy.a)
        assert.strictEqual(copy.a.toString() + copy.b.toString(), "alphabeta")
        copy.a[0] = 0
        assert.strictEqual(a.toString(), "alpha")
      })

      it("a DataView over a shared buffer shares it too", () => {
        const buffer = new ArrayBuffer(16)
        const copy = roundTrip(codec, { data: new DataView(buffer, 4, 4), bytes: new Uint8Array(buffer, 0, 8) })
        assert.strictEqual(copy.data.buffer, copy.bytes.buffer)
        copy.data.setUint8(0, 5)
        assert.strictEqual(copy.bytes[4], 5)
      })
    })

    describe("deep values", () => {
      it("a value nested 100,000 deep is stored and loaded without overflowing the stack", () => {
        const value = nested(100_000, [1, 2])
        const { stored, bytes } = codec.storeUnsafe(value)
        assert.isAbove(bytes, 100_000 * 16)
        const copy = codec.loadUnsafe(stored)
        assert.strictEqual(depthOf(copy), 100_000)
      })

      it("deep arrays, Maps and values with shared references too", () => {
        let list: Array<unknown> = [1]
        let map = new Map<string, unknown>()
        for (let i = 0; i < 100_000; i++) {
          list = [list]
          map = new Map([["m", map]])
        }
        const shared = { n: 1 }
        const value = { list, map, deep: nested(100_000, shared), shared }
        const copy = roundTrip(codec, value)
        let at: { next?: unknown; leaf?: unknown } = copy.deep
        while (at.next !== undefined) at = at.next as typeof at
        assert.strictEqual(at.leaf, copy.shared)
        assert.notStrictEqual(copy.shared, shared)
      })

      it("an uncopyable part deep inside fails with Unstorable, not a RangeError", () => {
        const error = unstorable(
          codec,
          nested(100_000, () => 1)
        )
        assert.strictEqual(error.path.length, 100_001)
      })
    })

    describe("Effect data types", () => {
      class Person extends Data.Class<{ readonly name: string; readonly tags: Array<string> }> {
        get upper() {
          return this.name.toUpperCase()
        }
      }
      class Tagged extends Data.TaggedClass("Tagged")<{ readonly list: Array<number> }> {}
      class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number, stops: Schema.Array(Schema.String) }) {}

      /** Round-trips `value` and checks the copy is equal, fresh, and of the same type. */
      const check = <A extends object>(value: A, guard: (u: unknown) => boolean): A => {
        const copy = roundTrip(codec, value)
        assert.isTrue(guard(copy), "same type")
        assert.isTrue(Equal.equals(copy, value), "Equal.equals to the original")
        assert.isTrue(Equal.equals(roundTrip(codec, value), copy), "Equal.equals between loads")
        assert.strictEqual(Object.getPrototypeOf(copy), Object.getPrototypeOf(value))
        return copy
      }

      it("immutable values used in many places keep a value a tree (hits copy without a memo)", () => {
        const at = DateTime.makeUnsafe(0)
        const rows = Array.from({ length: 3 }, (_, id) => ({ id, note: Option.none(), at }))
        const { stored } = codec.storeUnsafe(rows)
        assert.isTrue((stored as { readonly tree: boolean }).tree)
        const copy = codec.loadUnsafe(stored)
        assert.isTrue(Equal.equals(copy, rows))
        assert.strictEqual(copy[0].note, Option.none())
      })

      it("Option and Result, with their contents deep-copied", () => {
        const inner = { list: [1] }
        const some = check(Option.some(inner), Option.isOption) as Option.Some<typeof inner>
        some.value.list.push(2)
        assert.deepStrictEqual(inner.list, [1])
        assert.strictEqual(roundTrip(codec, Option.none()), Option.none())
        const success = check(Result.succeed([new Float64Array(2)]), Result.isResult) as Result.Success<Array<Float64Array>, never>
        success.success[0]![0] = 1
        check(Result.fail({ code: 1 }), Result.isResult)
      })

      it("Chunk, HashSet and HashMap, with plain-object keys still found by value", () => {
        const chunk = check(Chunk.make({ n: 1 }, { n: 2 }), Chunk.isChunk)
        assert.deepStrictEqual(Chunk.toReadonlyArray(chunk), [{ n: 1 }, { n: 2 }])
        check(Chunk.empty(), Chunk.isChunk)
        const set = check(HashSet.make({ id: 1 }, { id: 2 }), HashSet.isHashSet)
        assert.isTrue(HashSet.has(set, { id: 2 }))
        const map = check(HashMap.make([{ id: 1 }, { rows: [1, 2] }], ["k", { rows: [3] }]), HashMap.isHashMap)
        assert.deepStrictEqual(HashMap.get(map, { id: 1 }), Option.some({ rows: [1, 2] }))
        const original = HashMap.make(["k", { rows: [3] }])
        const copy = roundTrip(codec, original)
        Option.getOrThrow(HashMap.get(copy, "k")).rows.push(4)
        assert.deepStrictEqual(Option.getOrThrow(HashMap.get(original, "k")).rows, [3])
      })

      it("DateTime keeps its zone, Duration its length", () => {
        const zoned = check(DateTime.makeZonedUnsafe(Date.UTC(2024, 0, 1), { timeZone: "Europe/Paris" }), DateTime.isDateTime)
        assert.isTrue(DateTime.isZoned(zoned))
        assert.strictEqual(DateTime.formatIsoZoned(zoned as DateTime.Zoned), "2024-01-01T01:00:00.000+01:00[Europe/Paris]")
        const offset = check(DateTime.makeZonedUnsafe(0, { timeZone: 3 * 60 * 60 * 1000 }), DateTime.isDateTime)
        assert.strictEqual(DateTime.formatIsoZoned(offset as DateTime.Zoned), "1970-01-01T03:00:00.000+03:00")
        check(DateTime.makeUnsafe(5), (u) => DateTime.isDateTime(u) && DateTime.isUtc(u))
        for (const duration of [Duration.seconds(2), Duration.nanos(5n), Duration.infinity, Duration.zero]) {
          const copy = check(duration, Duration.isDuration)
          assert.strictEqual(Duration.toMillis(copy), Duration.toMillis(duration))
        }
      })

      it("Data classes, tagged classes and Schema classes keep their class and copy their fields", () => {
        const person = new Person({ name: "ada", tags: ["x"] })
        const copy = check(person, (u) => u instanceof Person)
        assert.strictEqual(copy.upper, "ADA")
        copy.tags.push("y")
        assert.deepStrictEqual(person.tags, ["x"])
        assert.strictEqual(check(new Tagged({ list: [1] }), (u) => u instanceof Tagged)._tag, "Tagged")
        const trip = check(new Trip({ id: 1, stops: ["a"] }), (u) => u instanceof Trip)
        assert.deepStrictEqual(Schema.decodeUnknownSync(Trip)(trip), trip)
      })

      it("Effect types nest in plain data and in each other, with shared references kept", () => {
        const shared = [1]
        const value = { a: Option.some(Chunk.make(shared, HashMap.make(["k", Option.some(shared)]))), shared }
        const copy = roundTrip(codec, value)
        assert.isTrue(Equal.equals(copy, value))
        const [first] = Chunk.toReadonlyArray(Option.getOrThrow(copy.a)) as [Array<number>]
        assert.strictEqual(first, copy.shared)
        assert.notStrictEqual(copy.shared, shared)
      })

      it("a cycle back into a Chunk being built fails with a reason instead of looping", () => {
        const holder: { chunk?: unknown } = {}
        const chunk = Chunk.make(holder)
        holder.chunk = chunk
        const error = unstorable(codec, chunk)
        assert.include(error.reason ?? "", "cycle")
        // Entered from the object instead, the cycle closes on the object's copy, which exists already.
        const copy = roundTrip(codec, holder)
        assert.strictEqual(Chunk.toReadonlyArray(copy.chunk as Chunk.Chunk<unknown>)[0], copy)
      })

      it("a HashMap key that refers back to a value containing the map fails with a reason", () => {
        const root: { map?: unknown } = {}
        root.map = HashMap.make([{ root }, 1])
        assert.include(unstorable(codec, root).reason ?? "", "refers back")
      })

      it("a cycle through a Data class is kept", () => {
        class Node extends Data.Class<{ readonly links: Array<unknown> }> {}
        const node = new Node({ links: [] })
        node.links.push(node)
        const copy = roundTrip(codec, node)
        assert.strictEqual(copy.links[0], copy)
      })

      it("other classes, Effect errors and Effects are still refused", () => {
        class Failure extends Data.TaggedError("Failure")<{}> {}
        for (const value of [new Failure(), new (class Foo {})()]) assert.throws(() => codec.storeUnsafe(value), ValueCodec.Unstorable)
      })
    })

    describe("what plain data holds besides its elements and fields", () => {
      /** Stores `value` and loads it twice: the value itself, then copies of what the cache keeps. */
      const storedAndLoaded = <A>(value: A): { readonly tree: boolean; readonly loads: ReadonlyArray<A> } => {
        const { stored } = codec.storeUnsafe(value)
        return { tree: (stored as { readonly tree: boolean }).tree, loads: [codec.loadUnsafe(stored), codec.loadUnsafe(stored)] }
      }

      it("an array's own fields besides its indices are copied, deeply, on every load", () => {
        const meta = { pages: [1] }
        const value = Object.assign([1, { n: 2 }], { total: 2, meta })
        const { tree, loads } = storedAndLoaded(value)
        assert.isFalse(tree)
        for (const copy of loads) {
          assert.deepStrictEqual(Object.keys(copy), ["0", "1", "total", "meta"])
          assert.strictEqual(copy.total, 2)
          assert.deepStrictEqual(copy.meta, meta)
          assert.notStrictEqual(copy.meta, meta)
        }
        loads[0]!.meta.pages.push(2)
        assert.deepStrictEqual(loads[1]!.meta.pages, [1])
        assert.deepStrictEqual(meta.pages, [1])
      })

      it("a RegExp match keeps its index, input and groups", () => {
        const match = /(?<digit>\d)/.exec("ab1")!
        for (const copy of storedAndLoaded({ match }).loads) {
          assert.strictEqual(copy.match.index, 2)
          assert.strictEqual(copy.match.input, "ab1")
          assert.strictEqual(copy.match.groups?.digit, "1")
          assert.deepStrictEqual([...copy.match], ["1", "1"])
        }
      })

      it("holes in a sparse array stay holes", () => {
        // biome-ignore lint/suspicious/noSparseArray: the hole is the point
        const { tree, loads } = storedAndLoaded({ list: [1, , 3] })
        assert.isFalse(tree)
        for (const copy of loads) {
          assert.strictEqual(copy.list.length, 3)
          assert.isFalse(1 in copy.list)
          assert.deepStrictEqual(Object.keys(copy.list), ["0", "2"])
        }
        const long = new Array(5)
        long[3] = "x"
        for (const copy of storedAndLoaded(long).loads) assert.deepStrictEqual(Object.keys(copy), ["3"])
      })

      it("symbol-keyed fields of objects and arrays are copied, deeply; non-enumerable ones are not", () => {
        const tenant = Symbol.for("tenant")
        const local = Symbol("local")
        const hidden = Symbol("hidden")
        const value = { a: 1, [tenant]: { name: ["acme"] }, list: Object.assign([1], { [local]: 2 }) }
        Object.defineProperty(value, hidden, { value: 3, enumerable: false })
        const { tree, loads } = storedAndLoaded(value)
        assert.isFalse(tree)
        for (const copy of loads) {
          assert.deepStrictEqual(copy[tenant], { name: ["acme"] })
          assert.notStrictEqual(copy[tenant], value[tenant])
          assert.strictEqual((copy.list as unknown as Record<symbol, unknown>)[local], 2)
          assert.isFalse(hidden in copy)
        }
        loads[0]![tenant].name.push("x")
        assert.deepStrictEqual(loads[1]![tenant].name, ["acme"])
        assert.deepStrictEqual(value[tenant].name, ["acme"])
      })

      it("own fields of a Map, Set, Date and RegExp are copied, and a RegExp keeps its lastIndex", () => {
        const regex = /a/g
        regex.exec("aa")
        const value = {
          map: Object.assign(new Map([["k", 1]]), { unit: "kg" }),
          set: Object.assign(new Set([1]), { label: ["x"] }),
          when: Object.assign(new Date(0), { zone: "UTC" }),
          regex
        }
        for (const copy of storedAndLoaded(value).loads) {
          assert.strictEqual(copy.map.unit, "kg")
          assert.strictEqual(copy.map.get("k"), 1)
          assert.deepStrictEqual(copy.set.label, ["x"])
          assert.notStrictEqual(copy.set.label, value.set.label)
          assert.strictEqual(copy.when.zone, "UTC")
          assert.strictEqual(copy.regex.lastIndex, 1)
        }
      })

      it("plain data without any of these stays a tree, copied on hits without a memo", () => {
        const tenant = Symbol.for("tenant")
        assert.isTrue(storedAndLoaded({ a: 1, b: "x", c: [1, 2, 3], when: new Date(0), m: new Map([[1, [2]]]) }).tree)
        // A non-enumerable symbol is not copied, so it does not make the value a full copy either.
        const value = {}
        Object.defineProperty(value, tenant, { value: 1, enumerable: false })
        assert.isTrue(storedAndLoaded(value).tree)
      })

      it("an uncopyable part under a symbol key or an array field is found, with its path", () => {
        const send = () => 1
        assert.deepStrictEqual(unstorable(codec, { inner: { [Symbol("s")]: send } }).path, ['field "inner"', "field [Symbol(s)]"])
        assert.deepStrictEqual(unstorable(codec, Object.assign([1], { handler: send })).path, ['field "handler"'])
        assert.deepStrictEqual(unstorable(codec, Object.assign(new Map(), { handler: send })).path, ['field "handler"'])
      })
    })

    describe("subclasses of built-in classes", () => {
      class Weights extends Map<string, number> {
        readonly unit = "kg"
      }
      class Rows extends Array<number> {}
      class Tags extends Set<string> {}
      class When extends Date {}
      class Pattern extends RegExp {}
      class Bytes extends Uint8Array {
        readonly encoding = "utf8"
      }
      class Floats extends Float64Array {}
      class Raw extends ArrayBuffer {}
      class View extends DataView<ArrayBuffer> {}

      it("are refused, naming the class and the built-in it extends, rather than copied as the built-in", () => {
        const cases: Array<readonly [unknown, string]> = [
          [new Weights([["a", 1]]), "Map"],
          [Rows.from([1]), "Array"],
          [new Tags(["a"]), "Set"],
          [new When(0), "Date"],
          [new Pattern("a"), "RegExp"],
          [new Bytes(2), "Uint8Array"],
          [new Floats(2), "Float64Array"],
          [new Raw(8), "ArrayBuffer"],
          [new View(new ArrayBuffer(8)), "DataView"]
        ]
        for (const [value, base] of cases) {
          const error = unstorable(codec, { rows: [value] })
          assert.strictEqual(error.value, value)
          assert.deepStrictEqual(error.path, ['field "rows"', "[0]"])
          assert.include(error.reason ?? "", `it extends ${base}, and a copy would be a plain ${base}`)
          const message = ValueCodec.toValueError(error, "load").message
          assert.include(message, `an instance of ${(value as object).constructor.name} at value → field "rows" → [0]`)
          assert.include(message, "value` schema")
        }
      })

      it("a subclass of a subclass names the built-in", () => {
        class Heavier extends Weights {}
        assert.include(unstorable(codec, new Heavier()).reason ?? "", "it extends Map")
      })

      it("an array or a typed array from another realm is refused too, saying so", () => {
        for (const source of ["[1, 2]", "new Float64Array(2)"]) {
          const error = unstorable(codec, { list: runInNewContext(source) })
          assert.include(error.reason ?? "", "another realm")
        }
      })

      it("Node's Buffer is the exception: copied as a Buffer", () => {
        const copy = roundTrip(codec, { bytes: Buffer.from("hi") })
        assert.isTrue(Buffer.isBuffer(copy.bytes))
        assert.strictEqual(copy.bytes.toString(), "hi")
      })
    })

    describe("where an uncopyable part is", () => {
      it("Unstorable names the path of the offending part", () => {
        const send = () => 1
        const error = unstorable(codec, { handlers: [1, 2, send] })
        assert.strictEqual(error.value, send)
        assert.deepStrictEqual(error.path, ['field "handlers"', "[2]"])
      })

      it("paths go through Maps, Sets and Effect types", () => {
        const f = () => 1
        assert.deepStrictEqual(unstorable(codec, new Map([["k", { f }]])).path, ['value at key "k"', 'field "f"'])
        assert.deepStrictEqual(unstorable(codec, new Set([1, f])).path, ["element 1"])
        assert.deepStrictEqual(unstorable(codec, Option.some([f])).path, ['field "value"', "[0]"])
        assert.deepStrictEqual(unstorable(codec, HashMap.make(["k", f])).path, ['value at key "k"'])
      })

      it("a getter that throws and a revoked proxy fail with Unstorable and the reason, not a defect", () => {
        const throwing = unstorable(codec, {
          inner: {
            get bad(): number {
              throw new Error("boom")
            }
          }
        })
        assert.deepStrictEqual(throwing.path, ['field "inner"'])
        assert.include(throwing.reason ?? "", "boom")
        const revoked = unstorable(codec, { list: [revokedProxy()] })
        assert.deepStrictEqual(revoked.path, ['field "list"', "[0]"])
        assert.include(revoked.reason ?? "", "TypeError")
      })

      it("the root itself has an empty path", () => {
        assert.deepStrictEqual(unstorable(codec, Symbol("s")).path, [])
      })
    })
  })

  describe("toValueError", () => {
    const codec = ValueCodec.structuredCopy<any>()
    const errorFor = (value: unknown) => ValueCodec.toValueError(unstorable(codec, value), "load")

    it("names the function, the kind of value in plain English, and its path", () => {
      const error = errorFor({ handlers: [1, 2, function send() {}] })
      assert.strictEqual(error._tag, "UnserializableValueError")
      assert.strictEqual(error.functionName, "load")
      assert.strictEqual(error.path, 'value → field "handlers" → [2]')
      assert.include(error.message, "a function (send)")
      assert.include(error.message, 'value → field "handlers" → [2]')
      assert.include(error.message, "ResourceCache")
    })

    it("uses a correct article for every kind of value", () => {
      class Conn {}
      const cases: Array<readonly [unknown, string]> = [
        [new Conn(), "an instance of Conn"],
        [new Error("e"), "an instance of Error"],
        [() => 1, "a function"],
        [Symbol("s"), "a symbol"],
        [Object.create({}), "an object with a custom prototype"],
        [Effect.sync(() => 1), "an Effect"],
        [Effect.succeed(1), "an Exit"],
        [revokedProxy(), "an object that cannot be read"]
      ]
      for (const [value, phrase] of cases) {
        const message = errorFor(value).message
        assert.include(message, `load returned ${phrase}`)
        assert.notMatch(message, /\ba [AEIOU]/)
      }
    })

    it("keeps the message short for a part nested 100,000 deep", () => {
      const error = errorFor(nested(100_000, () => 1))
      assert.isBelow(error.message.length, 1500)
      assert.include(error.path ?? "", "more")
    })

    it("says why when the type alone does not", () => {
      const holder: { chunk?: unknown } = {}
      const chunk = Chunk.make(holder)
      holder.chunk = chunk
      assert.include(errorFor(chunk).message, "cycle")
    })

    it("reports a value that does not match its schema with the schema's issue", () => {
      const schemaCodec = ValueCodec.fromSchema(Schema.Number)
      const error = ValueCodec.toValueError(unstorable(schemaCodec, "nope"), "count")
      assert.include(error.message, "does not match its `value` schema")
    })

    it("rethrows anything that is not an Unstorable", () => {
      const bug = new TypeError("bug")
      assert.throws(() => ValueCodec.toValueError(bug, "load"), TypeError)
    })
  })

  describe("fromSchema", () => {
    class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number, at: Schema.Date }) {}

    it("keeps the JSON encoding and hands out a fresh value each time", () => {
      const codec = ValueCodec.fromSchema(Schema.Array(Trip))
      const { stored } = codec.storeUnsafe([new Trip({ id: 1, at: new Date(0) })])
      const json = (stored as { readonly json: string }).json
      assert.strictEqual(typeof json, "string")
      for (const kept of [stored, json]) {
        const a = codec.loadUnsafe(kept)
        const b = codec.loadUnsafe(kept)
        assert.instanceOf(a[0], Trip)
        assert.notStrictEqual(a[0], b[0])
        assert.notStrictEqual(a[0]!.at, b[0]!.at)
        assert.strictEqual(a[0]!.at.getTime(), 0)
      }
    })

    // Found by a stranger trial: JSON.stringify writes -0 as 0, so a value schema's value lost its sign, on the miss too.
    it("keeps -0: in the value the miss returns, in hits, and in the JSON a store keeps", () => {
      class Point extends Schema.Class<Point>("Point")({ x: Schema.Number, ys: Schema.Array(Schema.Number) }) {}
      const codec = ValueCodec.fromSchema(Point)
      const { stored, value } = codec.storeUnsafe(new Point({ x: -0, ys: [0, -0] }))
      const json = (stored as { readonly json: string }).json
      for (const point of [value, codec.loadUnsafe(stored), codec.loadUnsafe(json)]) {
        assert.isTrue(Object.is(point.x, -0))
        assert.isTrue(Object.is(point.ys[0], 0))
        assert.isTrue(Object.is(point.ys[1], -0))
      }
      assert.include(json, "-0")
    })

    it("serves hits by copying the decoded value, not by decoding, when the copier can copy it", () => {
      let decodes = 0
      const Counted = Schema.Number.pipe(
        Schema.decodeTo(Schema.Number, {
          decode: SchemaGetter.transform((n: number) => {
            decodes++
            return n
          }),
          encode: SchemaGetter.transform((n: number) => n)
        })
      )
      const Row = Schema.Struct({ n: Counted, at: Schema.Date, tags: Schema.Array(Schema.String) })
      const codec = ValueCodec.fromSchema(Schema.Array(Row))
      const { stored, value } = codec.storeUnsafe([{ n: 1, at: new Date(5), tags: ["a"] }])
      const afterStore = decodes
      const a = codec.loadUnsafe(stored)
      const b = codec.loadUnsafe(stored)
      assert.strictEqual(decodes, afterStore, "no decode on a hit")
      assert.deepStrictEqual(a, value)
      assert.notStrictEqual(a, b)
      assert.notStrictEqual(a[0]!.tags, b[0]!.tags)
      assert.notStrictEqual(a[0]!.tags, value[0]!.tags, "the computing caller's value is not the cache's")
      ;(a[0]!.tags as Array<string>).push("mutated")
      assert.deepStrictEqual(codec.loadUnsafe(stored)[0]!.tags, ["a"])
    })

    it("decodes on a hit when the copier cannot copy the decoded value", () => {
      class Opaque {
        readonly n: number
        constructor(n: number) {
          this.n = n
        }
      }
      const schema = Schema.Number.pipe(
        Schema.decodeTo(Schema.instanceOf(Opaque), {
          decode: SchemaGetter.transform((n: number) => new Opaque(n)),
          encode: SchemaGetter.transform((o: Opaque) => o.n)
        })
      )
      const codec = ValueCodec.fromSchema(schema)
      const { stored } = codec.storeUnsafe(new Opaque(3))
      const a = codec.loadUnsafe(stored)
      const b = codec.loadUnsafe(stored)
      assert.instanceOf(a, Opaque)
      assert.strictEqual(a.n, 3)
      assert.notStrictEqual(a, b)
    })

    it("gives the computing caller the decoded value, as a hit would", () => {
      const codec = ValueCodec.fromSchema(Schema.Struct({ trip: Trip, extra: Schema.optional(Schema.Number) }))
      const returned = { trip: new Trip({ id: 1, at: new Date(0) }), notInSchema: true } as any
      const { stored, value } = codec.storeUnsafe(returned)
      assert.notStrictEqual(value, returned)
      assert.deepStrictEqual(value, codec.loadUnsafe(stored))
      assert.instanceOf(value.trip, Trip)
      assert.isFalse("notInSchema" in value)
    })

    it("a value whose encoding does not decode back is Unstorable when stored, not on every hit", () => {
      // A transformation whose encode is not the inverse of its decode.
      const Flipped = Schema.String.pipe(
        Schema.decodeTo(Schema.Number.check(Schema.isGreaterThan(0)), {
          decode: SchemaGetter.transform((s: string) => Number(s)),
          encode: SchemaGetter.transform((n: number) => String(-n))
        })
      )
      const error = unstorable(ValueCodec.fromSchema(Flipped), 1)
      assert.include(error.issue ?? "", "does not decode back")
    })

    it("an encoding that JSON cannot hold (a cycle through Schema.Any) is Unstorable", () => {
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      assert.include(unstorable(ValueCodec.fromSchema(Schema.Any), cyclic).issue ?? "", "not JSON")
    })

    it("undefined and void values are kept", () => {
      assert.isUndefined(roundTrip(ValueCodec.fromSchema(Schema.Undefined), undefined))
      assert.isUndefined(roundTrip<void>(ValueCodec.fromSchema(Schema.Void), undefined))
    })

    describe("a value must come back from its encoding as it was", () => {
      /** A Float64Array kept as a JSON array of numbers (NaN included). */
      const Float64 = Schema.Array(Schema.Number).pipe(
        Schema.decodeTo(
          Schema.instanceOf(Float64Array),
          SchemaTransformation.transform<Float64Array<ArrayBuffer>, ReadonlyArray<number>>({
            decode: (numbers) => Float64Array.from(numbers),
            encode: (array) => Array.from(array)
          })
        )
      )

      it("a union whose members' encodings overlap: a value another member would decode is Unstorable, not another type", () => {
        const cases: Array<readonly [Schema.Codec<any, any>, unknown, string, string]> = [
          [Schema.Union([Schema.BigInt, Schema.String]), "1", 'a string ("1")', "a bigint (1n)"],
          [Schema.Union([Schema.String, Schema.BigInt]), "1", 'a string ("1")', "a bigint (1n)"],
          [Schema.Union([Schema.Date, Schema.String]), "1970-01-01T00:00:00.000Z", "a string", "a Date (1970-01-01T00:00:00.000Z)"],
          [
            Schema.Union([Schema.String, Schema.Date]),
            new Date(0),
            "a Date (1970-01-01T00:00:00.000Z)",
            'a string ("1970-01-01T00:00:00.000Z")'
          ],
          [Schema.Union([Schema.Number, Schema.String]), "NaN", 'a string ("NaN")', "a number (NaN)"]
        ]
        for (const [schema, value, returned, decoded] of cases) {
          const error = unstorable(ValueCodec.fromSchema(schema), value)
          assert.include(error.issue ?? "", `the body returned ${returned}`)
          assert.include(error.issue ?? "", `decoding its encoding gives ${decoded}`)
          assert.include(error.issue ?? "", "make the union discriminated")
          assert.include(ValueCodec.toValueError(error, "load").message, "load returned a value that does not match its `value` schema")
        }
      })

      it("names where the part sits: a class field, an array element, an Option, a record, a map, a recursive schema", () => {
        const Loose = Schema.Union([Schema.BigInt, Schema.String])
        class Row extends Schema.Class<Row>("Row")({ id: Schema.Number, code: Loose }) {}
        interface Tree {
          readonly code: string | bigint
          readonly kids: ReadonlyArray<Tree>
        }
        const Tree: Schema.Codec<Tree, unknown> = Schema.Struct({
          code: Loose,
          kids: Schema.Array(Schema.suspend((): Schema.Codec<Tree, unknown> => Tree))
        })
        const cases: Array<readonly [Schema.Codec<any, any>, unknown, ReadonlyArray<string>]> = [
          [Row, new Row({ id: 1, code: "7" }), ['field "code"']],
          [Schema.Array(Row), [new Row({ id: 1, code: 1n }), new Row({ id: 2, code: "2" })], ["[1]", 'field "code"']],
          [Schema.Option(Loose), Option.some("1"), ['field "value"']],
          [Schema.Record(Schema.String, Loose), { a: 1n, b: "2" }, ['field "b"']],
          [Schema.ReadonlyMap(Schema.String, Loose), new Map([["k", "3"]]), ["value of entry 0"]],
          [
            Tree,
            {
              code: 1n,
              kids: [
                { code: "x", kids: [] },
                { code: "4", kids: [] }
              ]
            },
            ['field "kids"', "[1]", 'field "code"']
          ]
        ]
        for (const [schema, value, path] of cases) {
          const error = unstorable(ValueCodec.fromSchema(schema), value)
          assert.deepStrictEqual(error.path, path)
          assert.include(error.issue ?? "", `at value → ${path.join(" → ")}`)
        }
      })

      it("values that do come back are kept: whatever their union member, NaN in a typed array, undeclared fields dropped", () => {
        const Loose = Schema.Union([Schema.BigInt, Schema.String])
        class Reading extends Schema.Class<Reading>("Reading")({
          at: Schema.Date,
          values: Float64,
          note: Schema.optional(Schema.String)
        }) {}
        const Value = Schema.Struct({
          codes: Schema.Array(Loose),
          reading: Reading,
          latest: Schema.Option(Reading),
          bytes: Schema.Uint8Array,
          byName: Schema.ReadonlyMap(Schema.String, Schema.Date),
          tags: Schema.ReadonlySet(Schema.String),
          scores: Schema.Record(Schema.String, Schema.Number),
          pair: Schema.Tuple([Schema.String, Schema.BigInt]),
          maybe: Schema.optional(Schema.Number),
          shape: Schema.Union([
            Schema.TaggedStruct("Circle", { radius: Schema.Number }),
            Schema.TaggedStruct("Square", { side: Schema.String })
          ])
        })
        const reading = new Reading({ at: new Date(0), values: new Float64Array([NaN, -1, Infinity]) })
        const value = {
          codes: [1n, "x", "1x"],
          reading,
          latest: Option.some(reading),
          bytes: new Uint8Array([1, 2]),
          byName: new Map([["a", new Date(5)]]),
          tags: new Set(["t"]),
          scores: { a: NaN, b: -0 },
          pair: ["p", 2n] as const,
          maybe: undefined,
          shape: { _tag: "Square" as const, side: "1" },
          notInSchema: new Date(0)
        }
        const { value: decoded } = ValueCodec.fromSchema(Value).storeUnsafe(value)
        assert.deepStrictEqual(decoded.codes, [1n, "x", "1x"])
        assert.isTrue(Number.isNaN(decoded.reading.values[0]))
        assert.deepStrictEqual(decoded.shape, { _tag: "Square", side: "1" })
        assert.isFalse("notInSchema" in decoded)
        // `Schema.Struct({})` and `Schema.Any` let every field through, and every field must come back.
        assert.deepStrictEqual(roundTrip<object>(ValueCodec.fromSchema(Schema.Struct({})), { a: [1, { b: "c" }] }), { a: [1, { b: "c" }] })
        assert.deepStrictEqual(roundTrip(ValueCodec.fromSchema(Schema.Any), { a: [1, null, "x"] }), { a: [1, null, "x"] })
      })

      it("a part JSON changes under Schema.Any is Unstorable, pointing to a schema that keeps it", () => {
        const error = unstorable(ValueCodec.fromSchema(Schema.Any), { rows: [{ at: new Date(0) }] })
        assert.deepStrictEqual(error.path, ['field "rows"', "[0]", 'field "at"'])
        assert.include(error.issue ?? "", 'returned a Date (1970-01-01T00:00:00.000Z), and decoding its encoding gives a string ("1970')
        assert.include(error.issue ?? "", "Schema.Date")
        const dropped = unstorable(ValueCodec.fromSchema(Schema.Any), { list: [1], gone: undefined })
        assert.deepStrictEqual(dropped.path, ['field "gone"'])
        assert.include(dropped.issue ?? "", "the body returned undefined, and decoding its encoding gives nothing")
      })

      it("a value nested too deeply to compare is Unstorable, not a RangeError", () => {
        // Where the stack runs out depends on the stack: JSON may hold a depth that comparing cannot.
        const codec = ValueCodec.fromSchema(Schema.Any)
        for (const depth of [1000, 2000, 3000, 5000, 10_000]) {
          try {
            codec.storeUnsafe(nested(depth, 1))
          } catch (e) {
            assert.instanceOf(e, ValueCodec.Unstorable)
          }
        }
      })

      it("the comparison leaves the body's value as it was: no hash of it is cached", () => {
        // `Equal.equals` caches the hash of every object it meets; a later mutation would make that hash stale.
        const bytes = new Uint8Array([1, 2])
        const row = { list: [1] }
        ValueCodec.fromSchema(Schema.Uint8Array).storeUnsafe(bytes)
        ValueCodec.fromSchema(Schema.Unknown).storeUnsafe(row)
        bytes[0] = 9
        row.list.push(2)
        assert.isTrue(Equal.equals(bytes, new Uint8Array([9, 2])))
        assert.isTrue(Equal.equals(row, { list: [1, 2] }))
      })
    })
  })

  describe("readonly", () => {
    it("shares one deep-frozen value", () => {
      const codec = ValueCodec.readonly<{ list: Array<number>; inner: { x: number } }>()
      const value = { list: [1], inner: { x: 1 } }
      const loaded = roundTrip(codec, value)
      assert.strictEqual(loaded, value)
      assert.isTrue(Object.isFrozen(value.list))
      assert.isTrue(Object.isFrozen(value.inner))
    })

    it("freezes plain data inside Effect types and under an own __proto__ key", () => {
      const codec = ValueCodec.readonly<any>()
      const inner = { list: [1] }
      const parsed = JSON.parse('{"__proto__": {"x": 1}}')
      roundTrip(codec, { option: Option.some(inner), chunk: Chunk.make({ n: 1 }), parsed })
      assert.isTrue(Object.isFrozen(inner.list))
      assert.isTrue(Object.isFrozen(Object.getOwnPropertyDescriptor(parsed, "__proto__")!.value))
    })

    it("freezes Data and Schema class instances, Options and Results themselves: a write through a cast throws", () => {
      class Point extends Schema.Class<Point>("Point")({ x: Schema.Number, tags: Schema.Array(Schema.String) }) {
        get double() {
          return this.x * 2
        }
      }
      class Pair extends Data.Class<{ readonly a: number }> {}
      const codec = ValueCodec.readonly<any>()
      const value = {
        point: new Point({ x: 1, tags: ["a"] }),
        pair: new Pair({ a: 1 }),
        some: Option.some({ k: 1 }),
        ok: Result.succeed([1])
      }
      const shared: any = roundTrip(codec, value)
      for (const part of [shared.point, shared.point.tags, shared.pair, shared.some, shared.some.value, shared.ok, shared.ok.success]) {
        assert.isTrue(Object.isFrozen(part))
      }
      assert.throws(() => {
        shared.point.x = 999
      }, TypeError)
      // Still themselves: equality, hashing (Effect keeps hashes beside them, not on them), getters, encoding.
      assert.isTrue(Equal.equals(shared.point, new Point({ x: 1, tags: ["a"] })))
      assert.strictEqual(Hash.hash(shared.pair), Hash.hash(new Pair({ a: 1 })))
      assert.strictEqual(shared.point.double, 2)
      assert.deepStrictEqual(Schema.encodeSync(Point)(shared.point), { x: 1, tags: ["a"] })
    })

    it("freezes plain data under symbol keys", () => {
      const codec = ValueCodec.readonly<any>()
      const inner = { list: [1] }
      roundTrip(codec, { [Symbol.for("tenant")]: inner })
      assert.isTrue(Object.isFrozen(inner))
      assert.isTrue(Object.isFrozen(inner.list))
    })

    it("freezes a value nested 100,000 deep", () => {
      const codec = ValueCodec.readonly<any>()
      const value = nested(100_000, { last: [1] })
      codec.storeUnsafe(value)
      let at: any = value
      while (at.next !== undefined) at = at.next
      assert.isTrue(Object.isFrozen(at.leaf.last))
    })
  })

  describe("DeepReadonly", () => {
    it("typed arrays, buffers, views, Dates, Maps and Sets lose their writes in the types", () => {
      type Frame = {
        readonly floats: Float64Array
        readonly big: BigInt64Array
        readonly bytes: Buffer
        readonly raw: ArrayBuffer
        readonly view: DataView
        readonly when: Date
        readonly byName: Map<string, Array<number>>
        readonly names: Set<string>
        readonly rows: Array<{ readonly x: Array<number> }>
      }
      const frame = (): ValueCodec.DeepReadonly<Frame> => ({
        floats: new Float64Array(2),
        big: new BigInt64Array(1),
        bytes: Buffer.from("x"),
        raw: new ArrayBuffer(8),
        view: new DataView(new ArrayBuffer(8)),
        when: new Date(0),
        byName: new Map([["a", [1]]]),
        names: new Set(["a"]),
        rows: [{ x: [1] }]
      })
      const f = frame()
      // Reads compile and work.
      const sum: number = f.floats[0]! + f.floats.reduce((a, b) => a + b, 0) + f.bytes[0]! + f.view.getUint8(0) + f.when.getTime()
      const big: bigint = f.big[0]!
      const copied: Float64Array = f.floats.slice()
      assert.strictEqual(sum + Number(big) + copied.length, 120 + 2)
      assert.strictEqual(f.floats.subarray(1)[0], 0)
      // Writes do not compile (the runtime cannot stop these: typed arrays and Dates cannot be frozen).
      const writes = [
        () => {
          // @ts-expect-error index assignment
          f.floats[0] = -1
        },
        () => {
          // @ts-expect-error fill
          f.floats.fill(0)
        },
        () => {
          // @ts-expect-error set
          f.floats.set([1])
        },
        () => {
          // @ts-expect-error a subarray is readonly too
          f.floats.subarray(0)[0] = 1
        },
        () => {
          // @ts-expect-error sort
          f.floats.sort()
        },
        () => {
          // @ts-expect-error bigint arrays too
          f.big[0] = 1n
        },
        () => {
          // @ts-expect-error Buffer writes
          f.bytes.write("y")
        },
        () => {
          // @ts-expect-error the underlying buffer cannot be wrapped in a writable view
          new Uint8Array(f.floats.buffer)[0] = 1
        },
        () => {
          // @ts-expect-error ArrayBuffer resize
          f.raw.resize(4)
        },
        () => {
          // @ts-expect-error DataView setters
          f.view.setUint8(0, 1)
        },
        () => {
          // @ts-expect-error Date setters
          f.when.setTime(0)
        },
        () => {
          // @ts-expect-error Map writes
          f.byName.set("b", [2])
        },
        () => {
          // @ts-expect-error Map values are deeply readonly
          f.byName.get("a")!.push(2)
        },
        () => {
          // @ts-expect-error Set writes
          f.names.add("b")
        },
        () => {
          // @ts-expect-error nested arrays
          f.rows[0]!.x.push(1)
        }
      ]
      assert.strictEqual(writes.length, 15)
    })

    it("Effect's types keep their type, with readonly contents", () => {
      class Person extends Data.Class<{ readonly tags: Array<string> }> {}
      type Value = {
        readonly option: Option.Option<{ list: Array<number> }>
        readonly chunk: Chunk.Chunk<Array<number>>
        readonly map: HashMap.HashMap<string, Array<number>>
        readonly person: Person
        readonly at: DateTime.Utc
      }
      const value: ValueCodec.DeepReadonly<Value> = {
        option: Option.some({ list: [1] }),
        chunk: Chunk.make([1]),
        map: HashMap.make(["a", [1]]),
        person: new Person({ tags: [] }),
        at: DateTime.makeUnsafe(0)
      }
      // Effect's functions take them as they are.
      const list = Option.getOrThrow(value.option).list
      const first = Chunk.headUnsafe(value.chunk)
      const ms: number = DateTime.toEpochMillis(value.at)
      assert.deepStrictEqual([list[0], first[0], ms, HashMap.size(value.map)], [1, 1, 0, 1])
      const writes = [
        () => {
          // @ts-expect-error contents of an Option
          list.push(2)
        },
        () => {
          // @ts-expect-error elements of a Chunk
          first.push(2)
        },
        () => {
          // @ts-expect-error fields of a Data class
          value.person.tags.push("x")
        }
      ]
      assert.strictEqual(writes.length, 3)
    })
  })
})
