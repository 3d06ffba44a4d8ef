/**
 * The `recall` command on directories written by the real disk store: in
 * this process through `RecallCommand.run` (output captured from `Console`),
 * and as a real process, the built binary (`dist/bin/recall.js`, built once
 * by `scripts/build.ts`) against a directory a real program wrote
 * (`fixtures/recall-writer.ts`).
 */
import { spawn, spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeServices } from "@effect/platform-node"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { CacheStore, NodeCacheStore } from "@recall/node"
import * as RecallCommand from "@recall/node/RecallCommand"
import { Console, Effect, Exit } from "effect"
import * as TestClock from "effect/testing/TestClock"
import { tempDirectories } from "./fixtures/tempDirectories.ts"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const bin = join(root, "packages/node/dist/bin/recall.js")
const writer = fileURLToPath(new URL("fixtures/recall-writer.ts", import.meta.url))

const fresh = tempDirectories("recall-cli-")

const A = "a".repeat(32)
const B = "b".repeat(32)
const C = "c".repeat(32)
const D = "d".repeat(32)

/** Files of entries under a store's directory (not locks, not temporary files). */
const entryFiles = (directory: string): number =>
  readdirSync(directory, { recursive: true, encoding: "utf8" }).filter((p) => /^[0-9a-f]{32}\/[0-9a-f]{32}$/.test(p)).length

// ---------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------

describe("RecallCommand helpers", () => {
  it("parseNamespace takes the hash after the last ':'", () => {
    assert.deepStrictEqual(RecallCommand.parseNamespace(`report:${A}`), { name: "report", hash: A })
    assert.deepStrictEqual(RecallCommand.parseNamespace(`app:load:${A}`), { name: "app:load", hash: A })
    assert.deepStrictEqual(RecallCommand.parseNamespace("plain:name"), { name: "plain:name", hash: "" })
    assert.deepStrictEqual(RecallCommand.parseNamespace("plain"), { name: "plain", hash: "" })
  })

  it("groupByName puts each name's newest version first", () => {
    const info = (namespace: string, newestWrite: number) => ({
      namespace,
      entries: 1,
      bytes: 1,
      oldestWrite: 0,
      newestWrite,
      nextExpiry: Infinity
    })
    const grouped = RecallCommand.groupByName([info(`r:${A}`, 10), info(`r:${B}`, 20), info(`q:${C}`, 5)])
    assert.deepStrictEqual(
      grouped.map((f) => [f.name, f.versions.map((v) => [v.hash[0], v.newest])]),
      [
        ["q", [["c", true]]],
        [
          "r",
          [
            ["b", true],
            ["a", false]
          ]
        ]
      ]
    )
  })

  it("formats bytes and ages", () => {
    assert.strictEqual(RecallCommand.formatBytes(512), "512 B")
    assert.strictEqual(RecallCommand.formatBytes(1536), "1.5 KiB")
    assert.strictEqual(RecallCommand.formatAge(0, 90_000), "1m")
    assert.strictEqual(RecallCommand.formatAge(0, 3 * 86_400_000), "3d")
  })
})

// ---------------------------------------------------------------------------
// In this process
// ---------------------------------------------------------------------------

/** Runs the command on `args`, returning what it logged, what it printed as errors, and its exit. */
const runCli = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const err: Array<string> = []
    const console: Console.Console = {
      ...globalThis.console,
      log: (...xs: ReadonlyArray<unknown>) => out.push(xs.join(" ")),
      error: (...xs: ReadonlyArray<unknown>) => err.push(xs.join(" "))
    }
    const exit = yield* RecallCommand.run(args).pipe(Effect.provideService(Console.Console, console), Effect.exit)
    return { out: out.join("\n"), err: err.join("\n"), exit }
  }).pipe(Effect.provide(NodeServices.layer))

/** Writes the fixture's entries with the disk store in this process, on TestClock (the expired one's time has passed). */
const writeEntries = (directory: string) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(1_000_000)
    const store = yield* CacheStore.CacheStore
    yield* store.set(`report:${A}`, "k1", new Uint8Array(100), Infinity)
    yield* store.set(`report:${A}`, "k2", new Uint8Array(100), Infinity)
    yield* TestClock.adjust("1 second")
    yield* store.set(`report:${B}`, "k1", new Uint8Array(200), Infinity)
    yield* store.set(`app:load:${C}`, "k1", new Uint8Array(10), 1_000_000 + 3_600_000)
    yield* store.set(`expired:${D}`, "k1", new Uint8Array(10), 1_000_000 + 5_000)
    yield* TestClock.adjust("1 minute")
  }).pipe(Effect.provide(NodeCacheStore.layerFileSystem({ directory })))

describe("recall, in this process", () => {
  it.effect("ls --json: functions by name, code versions newest first; the expired entry is swept", () =>
    Effect.gen(function* () {
      const directory = fresh()
      yield* writeEntries(directory)
      assert.strictEqual(entryFiles(directory), 5)
      const { out, exit } = yield* runCli(["ls", "--dir", directory, "--json"])
      assert.isTrue(Exit.isSuccess(exit))
      const doc = JSON.parse(out) as {
        directory: string
        functions: Array<{
          name: string
          entries: number
          versions: Array<{ hash: string; newest: boolean; entries: number; newestWrite: number }>
        }>
      }
      assert.strictEqual(doc.directory, directory)
      assert.deepStrictEqual(
        doc.functions.map((f) => [f.name, f.entries, f.versions.map((v) => [v.hash, v.newest, v.entries])]),
        [
          ["app:load", 1, [[C, true, 1]]],
          [
            "report",
            3,
            [
              [B, true, 1],
              [A, false, 2]
            ]
          ]
        ]
      )
      assert.strictEqual(doc.functions[1]!.versions[0]!.newestWrite, 1_001_000)
      assert.strictEqual(entryFiles(directory), 4, "the expired entry's file is deleted")
    })
  )

  it.effect("ls and stats print tables with ages on the clock", () =>
    Effect.gen(function* () {
      const directory = fresh()
      yield* writeEntries(directory)
      const ls = yield* runCli(["ls", "--dir", directory])
      assert.isTrue(Exit.isSuccess(ls.exit))
      assert.match(ls.out, /FUNCTION\s+VERSION\s+ENTRIES\s+BYTES\s+OLDEST\s+NEWEST\s+NEXT EXPIRY/)
      assert.match(ls.out, /report\s+bbbbbbbb\s+1\s+200 B\s+1m\s+1m\s+never/)
      assert.match(ls.out, /report\s+aaaaaaaa \(old\)\s+2\s+200 B\s+1m\s+1m\s+never/)
      assert.match(ls.out, /app:load\s+cccccccc\s+1\s+10 B\s+1m\s+1m\s+in 58m/)
      assert.notMatch(ls.out, /expired/)
      const stats = yield* runCli(["stats", "--dir", directory, "--json"])
      assert.deepStrictEqual(JSON.parse(stats.out), {
        directory,
        functions: 2,
        versions: 3,
        entries: 4,
        bytes: 410,
        oldVersions: 1,
        oldEntries: 2,
        oldestWrite: 1_000_000,
        newestWrite: 1_001_000,
        nextExpiry: 1_000_000 + 3_600_000
      })
      const table = yield* runCli(["stats", "--dir", directory])
      assert.match(table.out, /code versions\s+3 \(1 old/)
      assert.match(table.out, /next expiry\s+in 58m/)
    })
  )

  it.effect("prune removes old code versions; clear NAME removes a function; clear removes everything", () =>
    Effect.gen(function* () {
      const directory = fresh()
      yield* writeEntries(directory)
      const pruned = yield* runCli(["prune", "--dir", directory, "--json"])
      assert.deepStrictEqual(
        (JSON.parse(pruned.out) as { removed: Array<{ namespace: string }> }).removed.map((r) => r.namespace),
        [`report:${A}`]
      )
      const afterPrune = JSON.parse((yield* runCli(["ls", "--dir", directory, "--json"])).out) as {
        functions: Array<{ name: string; versions: Array<unknown> }>
      }
      assert.deepStrictEqual(
        afterPrune.functions.map((f) => [f.name, f.versions.length]),
        [
          ["app:load", 1],
          ["report", 1]
        ]
      )
      // A name that matches nothing (a typo): nothing cleared, and the names that are cached, said (an outside trial).
      const typo = yield* runCli(["clear", "Report", "--dir", directory])
      assert.isTrue(Exit.isSuccess(typo.exit))
      assert.include(typo.out, `Nothing cached for Report in ${directory}. The functions cached there: "app:load", "report".`)
      const cleared = yield* runCli(["clear", "report", "--dir", directory])
      assert.match(cleared.out, /Cleared report: 1 code version/)
      const afterClear = JSON.parse((yield* runCli(["ls", "--dir", directory, "--json"])).out) as { functions: Array<{ name: string }> }
      assert.deepStrictEqual(
        afterClear.functions.map((f) => f.name),
        ["app:load"]
      )
      const all = yield* runCli(["clear", "--dir", directory, "--json"])
      assert.deepStrictEqual(JSON.parse(all.out), { directory, cleared: [`app:load:${C}`], entries: 1 })
      assert.strictEqual(entryFiles(directory), 0)
      assert.match((yield* runCli(["ls", "--dir", directory])).out, /No cached functions/)
    })
  )

  it.effect("a directory that is not a cache: every command fails with a clear message and nothing in it changes", () =>
    Effect.gen(function* () {
      const directory = fresh()
      // Names the store would give (32 hex digits), but no tag: another program's files.
      mkdirSync(join(directory, A))
      writeFileSync(join(directory, A, B), "another program's data")
      writeFileSync(join(directory, A, "notes.txt"), "keep me")
      writeFileSync(join(directory, "readme.txt"), "keep me too")
      const before = readdirSync(directory, { recursive: true, encoding: "utf8" }).sort()
      for (const args of [["ls"], ["stats"], ["clear"], ["clear", "report"], ["prune"]]) {
        const result = yield* runCli([...args, "--dir", directory])
        assert.isTrue(Exit.isFailure(result.exit), args.join(" "))
        assert.include(result.err, `recall: ${directory} is not a recall cache directory`)
        assert.include(result.err, "nothing was read or changed")
      }
      assert.deepStrictEqual(readdirSync(directory, { recursive: true, encoding: "utf8" }).sort(), before)
      assert.strictEqual(readFileSync(join(directory, A, B), "utf8"), "another program's data")
      // An empty directory is an empty cache.
      const empty = fresh()
      assert.match((yield* runCli(["ls", "--dir", empty])).out, /No cached functions/)
    })
  )

  it.effect("a missing directory, or a file, fails with a clear message", () =>
    Effect.gen(function* () {
      const missing = join(fresh(), "nope")
      const result = yield* runCli(["ls", "--dir", missing])
      assert.isTrue(Exit.isFailure(result.exit))
      assert.include(result.err, `recall: no cache directory at ${missing}`)
      const file = join(fresh(), "file")
      writeFileSync(file, "x")
      const notDir = yield* runCli(["stats", "--dir", file])
      assert.isTrue(Exit.isFailure(notDir.exit))
      assert.include(notDir.err, `recall: ${file} is not a directory`)
    })
  )
})

// ---------------------------------------------------------------------------
// As a real process: the built binary
// ---------------------------------------------------------------------------

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `node <bin> ...args` (as `uid` when given), killed after 20 s. */
const recall = (args: ReadonlyArray<string>, options: { readonly uid?: number; readonly env?: NodeJS.ProcessEnv } = {}) =>
  Effect.promise(
    () =>
      new Promise<Ran>((resolve) => {
        const child = spawn(process.execPath, [bin, ...args], {
          stdio: ["ignore", "pipe", "pipe"],
          timeout: 20_000,
          env: options.env ?? process.env,
          ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid })
        })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (chunk) => (stdout += chunk))
        child.stderr.on("data", (chunk) => (stderr += chunk))
        child.on("close", (code) => resolve({ code, stdout, stderr }))
      })
  )

describe("recall, the built binary", () => {
  beforeAll(() => {
    const build = spawnSync(process.execPath, [join(root, "scripts/build.ts")], { encoding: "utf8", timeout: 120_000 })
    if (build.status !== 0) throw new Error(`build failed: ${build.stderr}${build.stdout}`)
  }, 130_000)

  /** A directory written by a real program (the fixture, its own process). */
  const written = () => {
    const directory = fresh()
    const run = spawnSync(process.execPath, ["--conditions=@recall/source", writer, directory], { encoding: "utf8", timeout: 20_000 })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.strictEqual(run.stdout, "written\n")
    return directory
  }

  it("is package.json's bin, and starts with a #! line", () => {
    const pkg = JSON.parse(readFileSync(join(root, "packages/node/package.json"), "utf8")) as { bin: Record<string, string> }
    assert.deepStrictEqual(pkg.bin, { recall: "./dist/bin/recall.js" })
    assert.isTrue(existsSync(bin))
    assert.isTrue(readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n"))
  })

  it.live(
    "ls, stats, prune, clear NAME and clear, with --json and without",
    () =>
      Effect.gen(function* () {
        const directory = written()
        const ls = yield* recall(["ls", "--dir", directory, "--json"])
        assert.strictEqual(ls.code, 0, ls.stderr)
        const doc = JSON.parse(ls.stdout) as {
          functions: Array<{ name: string; versions: Array<{ hash: string; newest: boolean; entries: number }> }>
        }
        assert.deepStrictEqual(
          doc.functions.map((f) => [f.name, f.versions.map((v) => [v.hash, v.newest, v.entries])]),
          [
            ["app:load", [[C, true, 1]]],
            [
              "report",
              [
                [B, true, 1],
                [A, false, 2]
              ]
            ]
          ]
        )
        const table = yield* recall(["ls", "--dir", directory])
        assert.strictEqual(table.code, 0, table.stderr)
        assert.match(table.stdout, /report\s+aaaaaaaa \(old\)\s+2\s+200 B/)

        const stats = yield* recall(["stats", "--dir", directory, "--json"])
        assert.strictEqual(stats.code, 0, stats.stderr)
        const totals = JSON.parse(stats.stdout) as Record<string, unknown>
        assert.deepInclude(totals, { functions: 2, versions: 3, entries: 4, bytes: 410, oldVersions: 1, oldEntries: 2 })

        const prune = yield* recall(["prune", "--dir", directory])
        assert.strictEqual(prune.code, 0, prune.stderr)
        assert.match(prune.stdout, /removed 1 old code version\(s\), 2 entries/)
        assert.strictEqual(entryFiles(directory), 2)

        const clear = yield* recall(["clear", "report", "--dir", directory, "--json"])
        assert.strictEqual(clear.code, 0, clear.stderr)
        assert.deepStrictEqual((JSON.parse(clear.stdout) as { cleared: Array<string> }).cleared, [`report:${B}`])
        assert.strictEqual(entryFiles(directory), 1)

        const all = yield* recall(["clear", "--dir", directory])
        assert.strictEqual(all.code, 0, all.stderr)
        assert.strictEqual(entryFiles(directory), 0)
      }),
    60_000
  )

  it.live(
    "a directory that is not a cache: exit code 1, a clear message, and its files untouched",
    () =>
      Effect.gen(function* () {
        const directory = fresh()
        mkdirSync(join(directory, A))
        writeFileSync(join(directory, A, "photo.jpg"), "jpeg")
        for (const sub of ["clear", "prune"]) {
          const run = yield* recall([sub, "--dir", directory])
          assert.strictEqual(run.code, 1, sub)
          assert.include(run.stderr, `recall: ${directory} is not a recall cache directory`)
        }
        assert.strictEqual(readFileSync(join(directory, A, "photo.jpg"), "utf8"), "jpeg")
      }),
    30_000
  )

  it.live(
    "--dir defaults to RECALL_CACHE_DIR",
    () =>
      Effect.gen(function* () {
        const directory = written()
        const ls = yield* recall(["stats", "--json"], { env: { ...process.env, RECALL_CACHE_DIR: directory } })
        assert.strictEqual(ls.code, 0, ls.stderr)
        assert.strictEqual((JSON.parse(ls.stdout) as { directory: string; entries: number }).entries, 4)
      }),
    30_000
  )

  it.live(
    "--help on every command",
    () =>
      Effect.gen(function* () {
        const top = yield* recall(["--help"])
        assert.strictEqual(top.code, 0, top.stderr)
        for (const sub of ["ls", "stats", "clear", "prune"]) assert.match(top.stdout, new RegExp(`^\\s+${sub}\\s`, "m"))
        for (const sub of ["ls", "stats", "clear", "prune"]) {
          const help = yield* recall([sub, "--help"])
          assert.strictEqual(help.code, 0, help.stderr)
          assert.include(help.stdout, `recall ${sub}`)
          assert.include(help.stdout, "--dir")
          assert.include(help.stdout, "--json")
        }
      }),
    60_000
  )

  it.live(
    "a missing directory: a clear message on stderr and exit code 1",
    () =>
      Effect.gen(function* () {
        const missing = join(fresh(), "nope")
        for (const sub of ["ls", "stats", "clear", "prune"]) {
          const run = yield* recall([sub, "--dir", missing])
          assert.strictEqual(run.code, 1, sub)
          assert.include(run.stderr, `recall: no cache directory at ${missing}`)
          assert.strictEqual(run.stdout, "")
        }
        assert.isFalse(existsSync(missing), "nothing is made")
      }),
    60_000
  )

  it.live(
    "an unreadable directory: a clear message and exit code 1 (as a user that is not root)",
    () =>
      Effect.gen(function* () {
        const directory = written()
        chmodSync(directory, 0o000)
        const asRoot = process.getuid?.() === 0
        const run = yield* recall(["ls", "--dir", directory], asRoot ? { uid: 65534 } : {})
        assert.strictEqual(run.code, 1, run.stderr)
        assert.include(run.stderr, `recall: cannot read the cache directory ${directory}: permission denied`)
      }),
    30_000
  )

  // Found by an outside trial: another user than the program's (an administrator looking at a service's cache) was
  // told the directory was "not a recall cache directory", as the tag, 0600, could not be read; with the tag
  // readable, a raw PermissionDenied of a namespace's directory followed.
  it.live(
    "a directory whose files this user cannot read: permission denied, naming what, and whose user to run as",
    () =>
      Effect.gen(function* () {
        const directory = written()
        // Only the files are the owner's: the directory lets anyone in (its parent is the system's temporary directory).
        chmodSync(directory, 0o755)
        const asRoot = process.getuid?.() === 0
        const other = asRoot ? { uid: 65534 } : {}
        if (!asRoot) chmodSync(join(directory, "CACHEDIR.TAG"), 0o000)
        const tagUnread = yield* recall(["ls", "--dir", directory], other)
        assert.strictEqual(tagUnread.code, 1, tagUnread.stderr)
        assert.include(tagUnread.stderr, `recall: cannot read the cache directory ${directory}: permission denied (its CACHEDIR.TAG)`)
        assert.include(tagUnread.stderr, "run recall as the user that the program runs as")
        assert.notInclude(tagUnread.stderr, "not a recall cache directory")
        // The tag readable, a namespace's directory (0700, the owner's) is not.
        chmodSync(join(directory, "CACHEDIR.TAG"), 0o644)
        if (!asRoot) for (const name of readdirSync(directory)) if (/^[0-9a-f]{32}$/.test(name)) chmodSync(join(directory, name), 0o000)
        const entriesUnread = yield* recall(["ls", "--dir", directory], other)
        assert.strictEqual(entriesUnread.code, 1, entriesUnread.stderr)
        assert.include(entriesUnread.stderr, `recall: cannot read the cache directory ${directory}: permission denied (`)
        assert.include(entriesUnread.stderr, "run recall as the user that the program runs as")
      }),
    30_000
  )
})
