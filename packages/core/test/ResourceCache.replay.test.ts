/**
 * Replay under ResourceCache: what a resource's body writes is about
 * acquiring it ("opened connection #1"), so it is not replayed unless asked
 * for. Each layer takes the default for the functions that do not set
 * `replay` themselves.
 */
import { assert, describe, it } from "@effect/vitest"
import { DataCache, ResourceCache } from "@recall/core"
import { Console, Effect, Logger } from "effect"

/** A Console and a logger that write every line into one list, in order. */
const capture = () => {
  const lines: Array<string> = []
  const write =
    (method: string) =>
    (...args: ReadonlyArray<unknown>) =>
      lines.push([method, ...args].join(" "))
  const console: Console.Console = Object.assign(Object.create(globalThis.console), {
    log: write("log"),
    group: write("group"),
    groupCollapsed: write("groupCollapsed"),
    groupEnd: write("groupEnd")
  })
  const logger = Logger.make(({ logLevel, message }) => lines.push(`${logLevel} ${(message as ReadonlyArray<unknown>).join(" ")}`))
  const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(Effect.provideService(Console.Console, console), Effect.provideService(Logger.CurrentLoggers, new Set([logger])))
  /** The lines written since the last call. */
  const take = () => lines.splice(0)
  return { provide, take }
}

/** A connection whose body says that it opened it, and logs it. */
const connections = (name: string, options: { readonly replay?: boolean } = {}) => {
  let next = 0
  return ResourceCache.fn({ name, ...options }, (dsn: string) =>
    Effect.gen(function* () {
      const id = ++next
      yield* Console.log(`opened connection #${id}`)
      yield* Effect.logInfo("pool size", id)
      return { dsn, id }
    })
  )
}

const InvalidOptionsError = ResourceCache.InvalidOptionsError

/** The InvalidOptionsError `define` throws. */
const rejection = (define: () => unknown): InstanceType<typeof InvalidOptionsError> => {
  try {
    define()
  } catch (e) {
    assert.instanceOf(e, InvalidOptionsError)
    return e
  }
  return assert.fail("expected an InvalidOptionsError")
}

describe("ResourceCache replay", () => {
  it.effect("is off by default: a hit writes nothing of what the body wrote when it acquired the instance", () => {
    const out = capture()
    return Effect.gen(function* () {
      const connect = connections("connect")
      const first = yield* connect("pg")
      assert.deepStrictEqual(out.take(), ["log opened connection #1", "Info pool size 1"], "the computing caller sees it live")
      assert.strictEqual(yield* connect("pg"), first)
      assert.deepStrictEqual(out.take(), [])
    }).pipe(out.provide, Effect.provide(ResourceCache.layerMemory()))
  })

  it.effect("replay: true on the function turns it on", () => {
    const out = capture()
    return Effect.gen(function* () {
      const connect = connections("connect", { replay: true })
      yield* connect("pg")
      const live = out.take()
      yield* connect("pg")
      assert.deepStrictEqual(out.take(), live)
    }).pipe(out.provide, Effect.provide(ResourceCache.layerMemory()))
  })

  it.effect(
    "ResourceCache.layerMemory({ replay: true }) turns it on for functions that do not say; a function's replay: false wins",
    () => {
      const out = capture()
      return Effect.gen(function* () {
        const connect = connections("connect")
        const silent = connections("silent", { replay: false })
        yield* connect("pg")
        yield* silent("pg")
        out.take()
        yield* connect("pg")
        assert.deepStrictEqual(out.take(), ["log opened connection #1", "Info pool size 1"])
        yield* silent("pg")
        assert.deepStrictEqual(out.take(), [])
      }).pipe(out.provide, Effect.provide(ResourceCache.layerMemory({ replay: true })))
    }
  )

  it.effect("DataCache.layerMemory({ replay: false }) turns it off for functions that do not say; a function's replay: true wins", () => {
    const out = capture()
    return Effect.gen(function* () {
      const load = DataCache.fn("load", (n: number) => Effect.as(Console.log("loading", n), n))
      const chatty = DataCache.fn({ name: "chatty", replay: true }, (n: number) => Effect.as(Console.log("chatty", n), n))
      yield* load(1)
      yield* chatty(1)
      assert.deepStrictEqual(out.take(), ["log loading 1", "log chatty 1"])
      yield* load(1)
      yield* chatty(1)
      assert.deepStrictEqual(out.take(), ["log chatty 1"])
    }).pipe(out.provide, Effect.provide(DataCache.layerMemory({ replay: false })))
  })

  it("a layer's replay that is not true or false is an InvalidOptionsError", () => {
    for (const bad of ["yes", 0, null] as const) {
      const resource = rejection(() => ResourceCache.layerMemory({ replay: bad as never }))
      assert.strictEqual(resource.option, "replay")
      assert.include(resource.message, "true or false")
      assert.strictEqual(rejection(() => DataCache.layerMemory({ replay: bad as never })).option, "replay")
    }
  })

  it.effect("a group the body opens with its scope, ended only when the instance is released, is closed on replay", () => {
    const out = capture()
    return Effect.gen(function* () {
      const connect = ResourceCache.fn({ name: "connect", replay: true }, (dsn: string) =>
        Effect.gen(function* () {
          yield* Console.group({ label: `connection ${dsn}` })
          yield* Console.log("handshake")
          return { dsn }
        })
      )
      yield* connect("pg")
      assert.deepStrictEqual(out.take(), ["group connection pg", "log handshake"], "the group stays open while the instance lives")
      yield* connect("pg")
      assert.deepStrictEqual(out.take(), ["group connection pg", "log handshake", "groupEnd"])
      yield* connect.invalidate("pg")
      assert.deepStrictEqual(out.take(), ["groupEnd"], "the release ends the live group")
    }).pipe(out.provide, Effect.provide(ResourceCache.layerMemory()))
  })
})
