/**
 * Cached functions inside a service: the service's layer binds them to the
 * cache it is built with, so its methods need nothing (`R = never`), and the
 * program provides one `DataCache.layer` for every service.
 */
import { DataCache } from "@recall/core"
import { Context, Effect, Layer } from "effect"

interface Forecast {
  readonly city: string
  readonly celsius: number
}

let fetches = 0

// A readonly value and a string argument: no library error can happen, so the
// call's error type is the body's only.
const fetchForecast = DataCache.fn({ name: "fetchForecast", ttl: "10 minutes", copy: "readonly" }, (city: string) =>
  Effect.sleep("300 millis").pipe(Effect.as<Forecast>({ city, celsius: ++fetches }))
)

export class Weather extends Context.Service<
  Weather,
  {
    readonly forecast: (city: string) => Effect.Effect<Forecast>
    readonly refresh: (city: string) => Effect.Effect<void>
  }
>()("docs/Weather") {
  static readonly layer = Layer.effect(
    Weather,
    Effect.gen(function* () {
      const forecast = yield* DataCache.bind(fetchForecast)
      return Weather.of({ forecast, refresh: (city) => forecast.invalidate(city) })
    })
  )
}

export const program = Effect.gen(function* () {
  const weather = yield* Weather
  yield* weather.forecast("Oslo")
  yield* weather.forecast("Oslo")
  yield* weather.refresh("Oslo")
  const fresh = yield* weather.forecast("Oslo")
  yield* Effect.log(`2 fetches for 3 calls; now ${fresh.celsius} °C`)
  return { fetches }
}).pipe(Effect.provide(Weather.layer.pipe(Layer.provide(DataCache.layer))))

if (import.meta.main) Effect.runPromise(program)
