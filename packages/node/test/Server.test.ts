/**
 * Client timeouts must not starve the cache (issue 11 §2), over real HTTP.
 *
 * An Effect HTTP server (`NodeHttpServer`) on a loopback port, one DataCache
 * layer provided once for the server, and a route whose handler calls a
 * cached function with a slow body. Node's `fetch` clients give up with
 * `AbortSignal.timeout`; the server sees the connection close and interrupts
 * the handler's fiber, which is the caller of the cached function. Design
 * section 2: interrupting any caller never interrupts or restarts the
 * computation; it runs to its end in the layer's scope and its value is
 * stored, so requests that time out still fill the cache.
 *
 * Real time (`it.live`): the bodies' sleeps are the workload. The tests wait
 * for the body's end on a Deferred that the body completes, with a bound.
 */
import * as Http from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { Deferred, Effect, Fiber, Option } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"

/** What the body did, and a Deferred completed when it ends with a value. */
const tracker = () =>
  Effect.map(Deferred.make<void>(), (ended) => ({
    starts: 0,
    ends: 0,
    endedAt: [] as Array<number>,
    ended
  }))

type Tracker = Effect.Success<ReturnType<typeof tracker>>

/** A cached function whose body takes `millis` of real time, counted. */
const slowFunction = (track: Tracker, millis: number) =>
  DataCache.fn("slow", (key: string) =>
    Effect.sync(() => track.starts++).pipe(
      Effect.andThen(Effect.sleep(millis)),
      Effect.andThen(
        Effect.sync(() => {
          track.ends++
          track.endedAt.push(performance.now())
        })
      ),
      Effect.andThen(Deferred.succeed(track.ended, undefined)),
      Effect.as(`value of ${key}`)
    )
  )

/**
 * Serves `GET /value?key=...` on 127.0.0.1 (a free port) with `slow`, over
 * one DataCache layer, and runs `use` with the route's URL prefix. The server
 * and the cache close when `use` ends.
 */
const withServer = <A, E>(slow: ReturnType<typeof slowFunction>, use: (base: string) => Effect.Effect<A, E, DataCache.DataCache>) => {
  const server = Http.createServer()
  return Effect.gen(function* () {
    const app = yield* HttpRouter.toHttpEffect(
      HttpRouter.add(
        "GET",
        "/value",
        Effect.gen(function* () {
          const { key } = yield* HttpServerRequest.ParsedSearchParams
          if (typeof key !== "string") return HttpServerResponse.text("missing key", { status: 400 })
          return HttpServerResponse.text(yield* slow(key))
        })
      )
    )
    yield* HttpServer.serveEffect(app)
    // Runs before the server's graceful close: the clients' idle keep-alive
    // connections would hold it open for seconds.
    yield* Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections()))
    const { address } = yield* HttpServer.HttpServer
    if (address._tag !== "InetAddressV4") return yield* Effect.die(`not a loopback IPv4 address: ${address._tag}`)
    const base = `http://127.0.0.1:${address.port}/value`
    // Warms the server and the route up (no key: a 400, the cache is not called),
    // so that the first wave's requests reach the handler well within their 200 ms.
    const warmUp = yield* request(base, 5_000)
    if (warmUp._tag !== "Ok" || warmUp.status !== 400) return yield* Effect.die(`the warm-up request got ${JSON.stringify(warmUp)}`)
    return yield* use(base)
  }).pipe(
    Effect.scoped,
    Effect.provide(NodeHttpServer.layer(() => server, { host: "127.0.0.1", port: 0 })),
    Effect.provide(DataCache.layerMemory())
  )
}

type Reply =
  | { readonly _tag: "Ok"; readonly status: number; readonly body: string; readonly sentAt: number }
  | { readonly _tag: "Failed"; readonly error: string; readonly sentAt: number }

/** One request with Node's fetch, given up after `timeoutMillis` (the body's reading included). */
const request = (url: string, timeoutMillis: number): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const sentAt = performance.now()
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMillis) })
      return { _tag: "Ok", status: response.status, body: await response.text(), sentAt }
    } catch (error) {
      return { _tag: "Failed", error: error instanceof Error ? error.name : String(error), sentAt }
    }
  })

const isValue = (reply: Reply, key: string) => reply._tag === "Ok" && reply.status === 200 && reply.body === `value of ${key}`

/** Waits for the body's end, for at most `millis` of real time. */
const bodyEnded = (track: Tracker, millis: number) => Effect.map(Effect.timeoutOption(Deferred.await(track.ended), millis), Option.isSome)

describe("an HTTP server whose clients time out", () => {
  it.live(
    "200 clients that give up after 200 ms on a 500 ms body still fill the cache: it runs once, and the next 200 hit",
    () =>
      Effect.gen(function* () {
        const track = yield* tracker()
        const slow = slowFunction(track, 500)
        const observed = yield* withServer(slow, (base) =>
          Effect.gen(function* () {
            const url = `${base}?key=report`
            const wave1 = yield* Effect.all(
              Array.from({ length: 200 }, () => request(url, 200)),
              { concurrency: "unbounded" }
            )
            const wave1TimedOut = wave1.filter((reply) => reply._tag === "Failed" && reply.error === "TimeoutError").length
            const startsAfterWave1 = track.starts
            // The body started at the first request ends about 300 ms after wave 1 gave up.
            const endedAfterWave1 = yield* bodyEnded(track, 2_000)
            const wave2 = yield* Effect.all(
              Array.from({ length: 200 }, () => request(url, 5_000)),
              { concurrency: "unbounded" }
            )
            const stats = yield* slow.stats
            return {
              wave1TimedOut,
              startsAfterWave1,
              endedAfterWave1,
              wave2Values: wave2.filter((reply) => isValue(reply, "report")).length,
              starts: track.starts,
              ends: track.ends,
              misses: stats.misses,
              entries: stats.entries
            }
          })
        )
        assert.deepStrictEqual(observed, {
          wave1TimedOut: 200,
          startsAfterWave1: 1,
          endedAfterWave1: true,
          wave2Values: 200,
          starts: 1,
          ends: 1,
          misses: 1,
          entries: 1
        })
      }),
    15_000
  )

  it.live(
    "a 1.5 s body behind clients that give up after 500 ms, one every 100 ms: the body runs once and later requests succeed",
    () =>
      Effect.gen(function* () {
        const track = yield* tracker()
        const slow = slowFunction(track, 1_500)
        const observed = yield* withServer(slow, (base) =>
          Effect.gen(function* () {
            const url = `${base}?key=trips`
            const replies: Array<Fiber.Fiber<Reply>> = []
            for (let i = 0; i < 20; i++) {
              replies.push(yield* Effect.forkChild(request(url, 500)))
              if (i < 19) yield* Effect.sleep("100 millis") // the arrival rate, not a synchronisation
            }
            const all = yield* Effect.forEach(replies, (fiber) => Fiber.join(fiber))
            const endedInTime = yield* bodyEnded(track, 2_000)
            const endedAt = track.endedAt[0] ?? Infinity
            const sentAfterEnd = all.filter((reply) => reply.sentAt > endedAt)
            return {
              starts: track.starts,
              ends: track.ends,
              endedInTime,
              // Their 500 ms ran out long before a 1.5 s body could end (sent at 0-400 ms).
              firstFiveTimedOut: all.slice(0, 5).every((reply) => reply._tag === "Failed" && reply.error === "TimeoutError"),
              // Requests 16-19 are sent 1.6-1.9 s after the first: after the body's end.
              atLeastThreeSentAfterEnd: sentAfterEnd.length >= 3,
              allSentAfterEndSucceeded: sentAfterEnd.every((reply) => isValue(reply, "trips")),
              counts: `${all.filter((reply) => isValue(reply, "trips")).length} of 20 succeeded, ${sentAfterEnd.length} sent after the end`
            }
          })
        )
        const { counts, ...checked } = observed
        assert.deepStrictEqual(
          checked,
          {
            starts: 1,
            ends: 1,
            endedInTime: true,
            firstFiveTimedOut: true,
            atLeastThreeSentAfterEnd: true,
            allSentAfterEndSucceeded: true
          },
          counts
        )
      }),
    15_000
  )
})
