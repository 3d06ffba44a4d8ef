/**
 * Schemas for values and keys: class instances and Dates survive the cache,
 * and a key schema decides which arguments count.
 */
import { DataCache } from "@recall/core"
import { Console, Effect, Schema } from "effect"

class Trip extends Schema.Class<Trip>("Trip")({ id: Schema.Number, start: Schema.Date, fare: Schema.Number }) {
  get hour() {
    return this.start.getUTCHours()
  }
}

const Query = Schema.Struct({ city: Schema.String, day: Schema.String })

let queries = 0
const loadTrips = DataCache.fn(
  { name: "loadTrips", value: Schema.Array(Trip), key: Query },
  (query: { city: string; day: string; requestId: string }) =>
    Effect.sync(() => {
      queries++
      return [new Trip({ id: 1, start: new Date(`${query.day}T08:00:00Z`), fare: 12.5 })]
    })
)

export const program = Effect.gen(function* () {
  yield* loadTrips({ city: "Oslo", day: "2024-05-01", requestId: "r1" })
  const trips = yield* loadTrips({ city: "Oslo", day: "2024-05-01", requestId: "r2" })
  const trip = trips[0]!
  yield* Console.log(
    `  a hit decodes a real Trip: ${trip instanceof Trip}, hour ${trip.hour}; ${queries} query (requestId is not in the key schema)`
  )
  return { queries, isTrip: trip instanceof Trip, hour: trip.hour }
}).pipe(Effect.provide(DataCache.layerMemory()))

if (import.meta.main) Effect.runPromise(program)
