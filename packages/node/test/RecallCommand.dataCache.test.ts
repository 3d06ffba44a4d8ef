/**
 * The `recall` command on what a real DataCache program left on disk:
 * `DataCache.layerStore` over `NodeCacheStore.layerFileSystem` writes, the
 * program ends, and `recall ls` names its functions and code versions,
 * `recall prune` drops the old version's entries, `recall clear` one
 * function's; a restarted cache then recomputes exactly what was removed.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DataCache } from "@recall/core"
import { NodeCacheStore } from "@recall/node"
import * as RecallCommand from "@recall/node/RecallCommand"
import { Console, Effect, Layer } from "effect"
import * as TestClock from "effect/testing/TestClock"
import { tempDirectories } from "./fixtures/tempDirectories.ts"

const fresh = tempDirectories("recall-cli-data-")

const runCli = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const console: Console.Console = { ...globalThis.console, log: (...xs: ReadonlyArray<unknown>) => out.push(xs.join(" ")) }
    yield* RecallCommand.run(args).pipe(Effect.provideService(Console.Console, console))
    return out.join("\n")
  }).pipe(Effect.provide(NodeServices.layer))

interface Listing {
  readonly functions: ReadonlyArray<{
    readonly name: string
    readonly entries: number
    readonly versions: ReadonlyArray<{ readonly hash: string; readonly newest: boolean; readonly entries: number }>
  }>
}

describe("recall on a DataCache program's directory", () => {
  it.effect("ls names the functions and versions a program cached; prune and clear remove what a restart then recomputes", () =>
    Effect.gen(function* () {
      const directory = fresh()
      const runs = { v1: 0, v2: 0, users: 0 }
      const counted = <A>(field: keyof typeof runs, value: A) =>
        Effect.sync(() => {
          runs[field]++
          return value
        })
      const reportV1 = DataCache.fn({ name: "report", version: "1" }, (month: number) => counted("v1", month))
      const reportV2 = DataCache.fn({ name: "report", version: "2" }, (month: number) => counted("v2", month * 10))
      const users = DataCache.fn("app:users", (id: string) => counted("users", { id }))
      const cache = () => DataCache.layerStore().pipe(Layer.provide(NodeCacheStore.layerFileSystem({ directory })))
      // The old version runs first (an older deploy), then the new one.
      yield* Effect.provide(Effect.all([reportV1(1), reportV1(2)]), cache())
      yield* TestClock.adjust("20 millis")
      yield* Effect.provide(Effect.all([reportV2(1), users("ada")]), cache())

      const listed = JSON.parse(yield* runCli(["ls", "--dir", directory, "--json"])) as Listing
      const byName = Object.fromEntries(listed.functions.map((f) => [f.name, f]))
      assert.deepStrictEqual(Object.keys(byName).sort(), ["app:users", "report"])
      assert.deepStrictEqual(
        byName.report!.versions.map((v) => [v.hash, v.newest, v.entries]),
        [
          [reportV2.id.slice("report:".length), true, 1],
          [reportV1.id.slice("report:".length), false, 2]
        ]
      )

      yield* runCli(["prune", "--dir", directory, "--json"])
      yield* runCli(["clear", "app:users", "--dir", directory, "--json"])
      // A restart: what was pruned or cleared is computed again, the rest is read from disk.
      yield* Effect.provide(Effect.all([reportV1(1), reportV2(1), users("ada")]), cache())
      assert.deepStrictEqual(runs, { v1: 3, v2: 1, users: 2 })
    })
  )
})
