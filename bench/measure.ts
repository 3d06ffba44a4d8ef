/**
 * How `npm run bench` measures: medians of rounds in one process, runs that
 * are compared measured in alternating rounds so that machine noise and heap
 * growth fall on all of them alike.
 */

/** One printed figure. */
export interface Figure {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly baseline?: string | undefined
}

/** A full collection, when Node runs with `--expose-gc` (as `npm run bench` does). */
export const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Median over rounds of `run(ops)` in ns per op. */
export const nsPerOp = (ops: number, rounds: number, run: (ops: number) => void): number => {
  run(Math.min(ops, 20_000))
  const samples: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    run(ops)
    samples.push(Number(process.hrtime.bigint() - start) / ops)
  }
  return median(samples)
}

/** Median over rounds of one run, in ms. */
export const millis = (rounds: number, run: () => void): number => nsPerOp(1, rounds, run) / 1e6

/**
 * Runs measured in alternating rounds (each after a collection): the median
 * ms of each, and the median over rounds of each run's time over the first's
 * (a ratio per round is steadier than a ratio of medians on a busy machine).
 */
export const alternating = (
  rounds: number,
  runs: ReadonlyArray<() => unknown>
): { readonly ms: ReadonlyArray<number>; readonly ratios: ReadonlyArray<number> } => {
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
  return { ms: samples.map(median), ratios: samples.map((xs) => median(xs.map((x, r) => x / samples[0]![r]!))) }
}

/** Medians in ms of two runs measured in alternating rounds. */
export const interleaved = (rounds: number, a: () => void, b: () => void): readonly [number, number] => {
  const { ms } = alternating(rounds, [a, b])
  return [ms[0]!, ms[1]!]
}

/**
 * Asynchronous runs measured in alternating rounds (each after a
 * collection); each run times itself and returns its ms, so that set-up it
 * needs (a fresh layer, a deleted file) stays out of the figure. The median
 * ms of each, and the median over rounds of each run's time over the
 * first's.
 */
export const alternatingAsync = async (
  rounds: number,
  runs: ReadonlyArray<() => Promise<number>>
): Promise<{ readonly ms: ReadonlyArray<number>; readonly ratios: ReadonlyArray<number> }> => {
  const samples = runs.map((): Array<number> => [])
  for (const run of runs) await run()
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < runs.length; i++) {
      gc()
      samples[i]!.push(await runs[i]!())
    }
  }
  return { ms: samples.map(median), ratios: samples.map((xs) => median(xs.map((x, r) => x / samples[0]![r]!))) }
}

/** Milliseconds since `start` (a `process.hrtime.bigint()`). */
export const since = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6
