/**
 * Model-based test of `DataCache.layerStore` over `CacheStore.layerMemory`,
 * on Effect's `TestClock`.
 *
 * fast-check draws a ttl (or none) and a sequence of commands over a few
 * keys: calls, clock moves, `has`, `invalidate`, `fn.clear`, `DataCache.clear`,
 * corruptions of stored entries (garbage, a flipped byte, a truncation,
 * written straight into the store under the entry's name), and restarts (the
 * front tier closes, waiting for its writes, and a new one is built over the
 * same store). The body returns `{ key, version }`, where `version` is a
 * per-key counter that the model bumps whenever the key's entry is removed
 * (invalidate, clear, ttl expiry): a value served after its entry should be
 * gone carries an old version, and is caught.
 *
 * The model keeps both tiers: `front` (this process's memory, emptied by a
 * restart) and `store` (emptied only by invalidate, clear, expiry and
 * corruption), each key → { version, storedAt }. A front copy read from the
 * store keeps its times. After every command the body's runs per key agree;
 * before a corruption the store holds an entry exactly when the model says
 * so (the memory store's write lands before the call returns, and closing a
 * front waits for its writes).
 *
 * 200 runs of up to 60 commands over two keys (about 3 s), with a fixed seed (42;
 * `FC_SEED=n` to explore another). The mix is tuned so that a front copy that
 * took new times instead of the store's is caught within the runs on every seed tried.
 */
import { assert, describe, it } from "@effect/vitest"
import { CacheStore, DataCache } from "@recall/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import fc from "fast-check"

const seed = Number(process.env.FC_SEED ?? 42)

const keys = ["a", "b"] as const
type Key = (typeof keys)[number]

type Command =
  | { readonly _tag: "call"; readonly key: Key }
  | { readonly _tag: "has"; readonly key: Key }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "invalidate"; readonly key: Key }
  | { readonly _tag: "clear" }
  | { readonly _tag: "clearAll" }
  | { readonly _tag: "corrupt"; readonly key: Key; readonly how: "garbage" | "flip" | "truncate"; readonly at: number }
  | { readonly _tag: "restart" }

interface Stored {
  readonly version: number
  readonly storedAt: number
}

class Model {
  now = 0
  readonly front = new Map<Key, Stored>()
  readonly store = new Map<Key, Stored>()
  readonly versions: Record<string, number> = { a: 0, b: 0 }
  readonly runs: Record<string, number> = {}
  /** Keys whose store entry was overwritten with bad bytes (that never expire): gone once a read meets them. */
  readonly garbage = new Set<Key>()
  readonly ttl: number | undefined
  constructor(ttl: number | undefined) {
    this.ttl = ttl
  }

  private drop(key: Key): void {
    this.front.delete(key)
    this.store.delete(key)
    this.garbage.delete(key)
    this.versions[key]!++
  }

  advance(millis: number): void {
    this.now += millis
    if (this.ttl === undefined) return
    for (const key of keys) {
      const expired = (tier: Map<Key, Stored>) => {
        const entry = tier.get(key)
        return entry !== undefined && this.now >= entry.storedAt + this.ttl!
      }
      const front = expired(this.front)
      const store = expired(this.store)
      if (front) this.front.delete(key)
      if (store) this.store.delete(key)
      if (front || store) this.versions[key]!++
    }
  }

  call(key: Key): number {
    const front = this.front.get(key)
    if (front !== undefined) return front.version
    const stored = this.store.get(key)
    if (stored !== undefined) {
      this.front.set(key, stored)
      return stored.version
    }
    // The read met the bad bytes, if any: deleted, then the computed value is written.
    this.garbage.delete(key)
    this.runs[key] = (this.runs[key] ?? 0) + 1
    const entry = { version: this.versions[key]!, storedAt: this.now }
    this.front.set(key, entry)
    this.store.set(key, entry)
    return entry.version
  }

  has(key: Key): boolean {
    return this.front.has(key) || this.store.has(key)
  }

  invalidate(key: Key): void {
    this.drop(key)
  }

  clear(): void {
    for (const key of keys) this.drop(key)
  }
}

const key = fc.constantFrom(...keys)
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: key.map((key) => ({ _tag: "call", key }) as const), weight: 8 },
  { arbitrary: key.map((key) => ({ _tag: "has", key }) as const), weight: 1 },
  {
    arbitrary: fc
      .oneof(fc.constantFrom(0, 1, 499, 500, 999, 1000), fc.integer({ min: 0, max: 2500 }))
      .map((millis) => ({ _tag: "advance", millis }) as const),
    weight: 3
  },
  { arbitrary: key.map((key) => ({ _tag: "invalidate", key }) as const), weight: 1 },
  { arbitrary: fc.constantFrom({ _tag: "clear" } as const, { _tag: "clearAll" } as const), weight: 1 },
  {
    arbitrary: fc
      .tuple(key, fc.constantFrom("garbage", "flip", "truncate"), fc.nat())
      .map(([key, how, at]) => ({ _tag: "corrupt", key, how, at }) as const),
    weight: 2
  },
  { arbitrary: fc.constant({ _tag: "restart" } as const), weight: 3 }
)

const corrupted = (bytes: Uint8Array, how: "garbage" | "flip" | "truncate", at: number): Uint8Array => {
  switch (how) {
    case "garbage":
      return Uint8Array.from({ length: 1 + (at % 300) }, (_, i) => (i * 131 + at) & 0xff)
    case "flip": {
      const out = bytes.slice()
      out[at % out.length]! ^= 1 << (at % 8)
      return out
    }
    case "truncate":
      return bytes.slice(0, at % bytes.length)
  }
}

/** One run: the real cache and the model, command by command. */
const runCommands = (ttl: number | undefined, commands: ReadonlyArray<Command>) =>
  Effect.gen(function* () {
    const model = new Model(ttl)
    const runs: Record<string, number> = {}
    const fn = DataCache.fn({ name: "storeModel", ...(ttl === undefined ? {} : { ttl }) }, (key: Key) =>
      Effect.sync(() => {
        runs[key] = (runs[key] ?? 0) + 1
        return { key, version: model.versions[key]! }
      })
    )
    // The store outlives the fronts; a recording wrapper learns the store name of each key.
    const inner = Context.get(yield* Layer.build(CacheStore.layerMemory()), CacheStore.CacheStore)
    let lastSet: string | undefined
    const store = CacheStore.make({
      ...inner,
      set: (namespace, name, bytes, expiresAt) => {
        lastSet = name
        return inner.set(namespace, name, bytes, expiresAt)
      },
      // The tier writes through setIf where the store has generations (the memory store has).
      generations: {
        current: inner.generations!.current,
        setIf: (namespace, name, bytes, expiresAt, generation) => {
          lastSet = name
          return inner.generations!.setIf(namespace, name, bytes, expiresAt, generation)
        }
      }
    })
    const names = new Map<Key, string>()
    const layer = DataCache.layerStore().pipe(Layer.provide(Layer.succeed(CacheStore.CacheStore, store)))
    let scope = yield* Scope.make()
    let front = yield* Layer.buildWithScope(layer, scope)
    const inFront = <A, E>(effect: Effect.Effect<A, E, DataCache.DataCache>) => Effect.provide(effect, front)
    for (const [i, command] of commands.entries()) {
      const at = `command ${i} (${JSON.stringify(command)})`
      switch (command._tag) {
        case "call": {
          lastSet = undefined
          const expected = model.call(command.key)
          const value = yield* inFront(fn(command.key))
          assert.deepStrictEqual(value, { key: command.key, version: expected }, `the value of ${at}`)
          if (lastSet !== undefined) names.set(command.key, lastSet)
          break
        }
        case "has":
          assert.strictEqual(yield* inFront(fn.has(command.key)), model.has(command.key), `the answer of ${at}`)
          break
        case "advance":
          model.advance(command.millis)
          yield* TestClock.adjust(command.millis)
          break
        case "invalidate":
          model.invalidate(command.key)
          yield* inFront(fn.invalidate(command.key))
          break
        case "clear":
          model.clear()
          yield* inFront(fn.clear)
          break
        case "clearAll":
          model.clear()
          yield* inFront(DataCache.clear)
          break
        case "corrupt": {
          const name = names.get(command.key)
          const found = name === undefined ? Option.none() : yield* inner.get(fn.id, name)
          const holds = model.store.has(command.key) || model.garbage.has(command.key)
          assert.strictEqual(Option.isSome(found), holds, `the store holds bytes for the key before ${at}`)
          if (Option.isSome(found) && name !== undefined) {
            yield* inner.set(fn.id, name, corrupted(found.value.bytes, command.how, command.at), Infinity)
            model.store.delete(command.key)
            model.garbage.add(command.key)
          }
          break
        }
        case "restart":
          yield* Scope.close(scope, Exit.void)
          model.front.clear()
          scope = yield* Scope.make()
          front = yield* Layer.buildWithScope(layer, scope)
          break
      }
      assert.deepStrictEqual(runs, model.runs, `body runs per key after ${at}`)
    }
    yield* Scope.close(scope, Exit.void)
  }).pipe(
    Effect.scoped,
    // The corruptions' warnings are expected; keep the output quiet.
    Effect.provide(Logger.layer([])),
    Effect.provide(TestClock.layer())
  )

describe("DataCache.layerStore against a two-tier model", () => {
  it("calls, clock moves, has, invalidate, clears, corruptions and restarts return the right values", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1000, undefined), fc.array(command, { minLength: 5, maxLength: 60, size: "max" }), (ttl, commands) =>
        Effect.runPromise(runCommands(ttl, commands))
      ),
      { seed, numRuns: 200 }
    )
  })
})
