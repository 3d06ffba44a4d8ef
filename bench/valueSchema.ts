/**
 * `npm run bench -- valueSchema`: a hit of a cached function with a `value`
 * schema (20k rows of `Schema.Array(Trip)`, Trip a Struct of numbers,
 * strings and a Date) against a structured copy of the decoded value (the
 * structuredCopy codec's hit of the same rows), and against decoding the
 * JSON on every hit (what the schema codec did before). Target: a
 * value-schema hit <= 1.5x the structured copy.
 */
import { DataCache, ValueCodec } from "@recall/core"
import { Effect, Schema } from "effect"
import { alternating, type Figure } from "./measure.ts"

const Trip = Schema.Struct({
  id: Schema.Number,
  vendor: Schema.String,
  fare: Schema.Number,
  distance: Schema.Number,
  pickup: Schema.Date,
  zone: Schema.String
})
const Trips = Schema.Array(Trip)
const ROWS = 20_000
const makeTrips = (): ReadonlyArray<typeof Trip.Type> =>
  Array.from({ length: ROWS }, (_, i) => ({
    id: i,
    vendor: i % 2 === 0 ? "CMT" : "VTS",
    fare: 5 + (i % 40) / 4,
    distance: (i % 100) / 10,
    pickup: new Date(Date.UTC(2024, 0, 1) + i * 60_000),
    zone: `zone ${i % 263}`
  }))

/** The section: its figures, for `npm run bench` to print. */
export const valueSchema: Effect.Effect<ReadonlyArray<Figure>, never, DataCache.DataCache> = Effect.gen(function* () {
  const loadTrips = DataCache.fn({ name: "bench/loadTrips", value: Trips }, (n: number) => Effect.succeed(makeTrips().slice(0, n)))
  const decoded = yield* Effect.orDie(loadTrips(ROWS)) // the miss: stores the JSON and the decoded rows
  const context = yield* Effect.context<DataCache.DataCache>()
  const hit = () => Effect.runSync(loadTrips(ROWS).pipe(Effect.orDie, Effect.provide(context)))
  // The structured copy of the decoded value: what the default codec's hit costs for these rows.
  const structured = ValueCodec.structuredCopy<ReadonlyArray<typeof Trip.Type>>()
  const kept = structured.storeUnsafe(decoded).stored
  const copy = () => structured.loadUnsafe(kept)
  // Decoding the JSON on every hit, as the schema codec did before.
  const json = JSON.stringify(Schema.encodeSync(Schema.toCodecJson(Trips))(decoded))
  const decode = Schema.decodeUnknownSync(Schema.toCodecJson(Trips))
  const decodeEach = () => decode(JSON.parse(json))
  // The schema codec's own hit, without the cache around it.
  const schemaCodec = ValueCodec.fromSchema(Trips)
  const schemaKept = schemaCodec.storeUnsafe(decoded).stored
  const codecHit = () => schemaCodec.loadUnsafe(schemaKept)
  const { ms, ratios } = alternating(15, [copy, hit, decodeEach, codecHit])
  const [copyMs, hitMs, decodeMs] = ms
  yield* loadTrips.clear
  const figures: ReadonlyArray<Figure> = [
    { name: "value schema, 20k Trip rows: recall hit", value: hitMs!, unit: "ms" },
    { name: "value schema, 20k Trip rows: structured copy", value: copyMs!, unit: "ms" },
    { name: "value schema, 20k Trip rows: JSON.parse + decode", value: decodeMs!, unit: "ms" },
    { name: "value schema hit / structured copy", value: ratios[1]!, unit: "x", baseline: "structured copy" },
    { name: "value schema: the codec's hit alone / structured copy", value: ratios[3]!, unit: "x", baseline: "structured copy" },
    { name: "value schema: decode per hit (before) / structured copy", value: ratios[2]!, unit: "x", baseline: "structured copy" }
  ]
  return figures
})
