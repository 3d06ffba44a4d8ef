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

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

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

/**
 * Runs measured in alternating rounds, so drift falls on all alike: the median
 * ms of each, and the median over rounds of each run's time over the first's
 * (a ratio per round is steadier than a ratio of medians on a busy machine).
 */
const interleaved = (
  rounds: number,
  runs: ReadonlyArray<() => unknown>
): { readonly ms: Array<number>; readonly ratios: Array<number> } => {
  const samples = runs.map((): Array<number> => [])
  for (const run of runs) run()
  for (let r = 0; r < rounds; r++) {
    runs.forEach((run, i) => {
      gc()
      const start = process.hrtime.bigint()
      run()
      samples[i]!.push(Number(process.hrtime.bigint() - start) / 1e6)
    })
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return { ms: samples.map(median), ratios: samples.map((xs) => median(xs.map((x, r) => x / samples[0]![r]!))) }
}

interface Figure {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly baseline?: string | undefined
}

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
  const { ms, ratios } = interleaved(15, [copy, hit, decodeEach, codecHit])
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
