/**
 * Cached functions inside a service: the service's layer binds them to the
 * cache it is built with, so its methods need nothing (`R = never`), and the
 * program provides one `DataCache.layer` for every service.
 *
 * The lines from `const fetchForecast` to the end of `class Weather` are the
 * "Inside a service" snippet of docs/data-cache.md, as written there.
 */
import { DataCache } from "@recall/core"
import { Context, Effect, Layer } from "effect"

interface Forecast {
  readonly city: string
  readonly celsius: number
}

let fetches = 0

// A string argument and a plain-data value: no library error can happen, so
// the call's error type is the body's only (here `never`).
const fetchForecast = DataCache.fn({ name: "fetchForecast", ttl: "10 minutes" }, (city: string) =>
  Effect.sleep("300 millis").pipe(Effect.as<Forecast>({ city, celsius: ++fetches }))
)

class Weather extends Context.Service<
  Weather,
  {
    readonly forecast: (city: string) => Effect.Effect<Forecast>
    readonly refresh: (city: string) => Effect.Effect<void>
  }
>()("app/Weather") {
  static readonly layer = Layer.effect(
    Weather,
    Effect.gen(function* () {
      const forecast = yield* DataCache.bind(fetchForecast) // forecast.invalidate, .has, .stats too
      return Weather.of({ forecast, refresh: (city) => forecast.invalidate(city) })
    })
  )
}

const main = Effect.gen(function* () {
  const weather = yield* Weather
  yield* weather.forecast("Oslo")
  yield* weather.forecast("Oslo")
  yield* weather.refresh("Oslo")
  const fresh = yield* weather.forecast("Oslo")
  yield* Effect.log(`2 fetches for 3 calls; now ${fresh.celsius} °C`)
  return { fetches }
})

export const program = main.pipe(Effect.provide(Weather.layer.pipe(Layer.provide(DataCache.layer))))

if (import.meta.main) Effect.runPromise(program)
