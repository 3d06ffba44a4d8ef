/**
 * The runtime check (`npm run test:runtimes`, part of `npm test`): the packed
 * @recall/core on every runtime the core claims. Packs the core, installs the
 * tarball with `effect` into a fresh project outside the repository (offline,
 * from a lockfile cut from the workspace's, as the consumer test does), and
 * runs one program, test/runtimes/app/main.mjs, on:
 *
 * - Node.js 24 (the workspace's) and the machine's own Node.js (20) when it is another major;
 * - Bun and Deno, from the workspace's devDependencies `bun` and `deno`;
 * - headless Chromium: Debian's `chromium` (installed with apt-get when missing and
 *   running as root), the program bundled by esbuild, served from a loopback HTTP
 *   server under a Content Security Policy, driven by playwright-core.
 *
 * Each prints one JSON line; every runtime must print the same result as
 * Node.js 24, fingerprint included. Also runs test/runtimes/app/lazy-wasm.mjs
 * on Node.js 24 (small keys, and a key that needs a digest).
 *
 * It also runs the cases where WebAssembly cannot be compiled: a Chromium
 * page whose CSP lacks 'wasm-unsafe-eval', and `node --jitless`. There small
 * keys must still work and a call whose key needs a digest must die with
 * recall's tagged `WebAssemblyUnavailableError` (`RECALL_RUNTIMES_WASM_ERROR_TAG`
 * names another tag; `RECALL_RUNTIMES_LAZY_WASM=0` leaves the cases out).
 *
 * `RECALL_RUNTIMES=node,bun,deno,chromium` picks runtimes (default: all);
 * `RECALL_CHROMIUM` names the browser binary (default /usr/bin/chromium);
 * `KEEP=1` keeps the project (its path is printed).
 */
import { type ExecFileSyncOptions, execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync
} from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const app = fileURLToPath(new URL("app", import.meta.url))
const bin = (name: string) => join(root, "node_modules", ".bin", name)

const selected = new Set((process.env.RECALL_RUNTIMES ?? "node,bun,deno,chromium").split(",").map((name) => name.trim()))
const lazyWasm = process.env.RECALL_RUNTIMES_LAZY_WASM !== "0"
const wasmErrorTag = process.env.RECALL_RUNTIMES_WASM_ERROR_TAG ?? "WebAssemblyUnavailableError"
const chromiumPath = process.env.RECALL_CHROMIUM ?? "/usr/bin/chromium"

// Every step has its own limit; the whole check has one too.
const seconds = 1000
const watchdog = setTimeout(
  () => {
    process.stderr.write("runtimes: FAILED: the check took more than 20 minutes\n")
    process.exit(1)
  },
  20 * 60 * seconds
)
watchdog.unref()

// --- steps, processes -----------------------------------------------------------

const timings: Array<[string, number]> = []
const step = async <A>(name: string, run: () => A | Promise<A>): Promise<A> => {
  const start = performance.now()
  process.stdout.write(`runtimes: ${name}\n`)
  const result = await run()
  timings.push([name, performance.now() - start])
  return result
}

const fail = (message: string): never => {
  throw new Error(`runtime check: ${message}`)
}

/** A runtime's step: its failure is reported with the others', after every runtime ran. */
const failures: Array<string> = []
const attempt = async (name: string, run: () => unknown): Promise<void> => {
  try {
    await step(name, run)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    process.stdout.write(`  FAILED: ${message.split("\n")[0]}\n`)
    failures.push(`${name}:\n  ${message.replaceAll("\n", "\n  ")}`)
  }
}

const withTimeout = <A>(what: string, ms: number, promise: Promise<A>): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`runtime check: ${what} took more than ${ms / seconds} s`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

// Children keep npm's configuration (cache, registry) but not the workspace's
// package, workspace selection or source condition.
const workspaceOnly = /^(NODE_OPTIONS|npm_(package_.*|lifecycle_.*|command|config_(local_prefix|call|workspaces?|include_workspace_root)))$/
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !workspaceOnly.test(name))) as NodeJS.ProcessEnv

const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: ExecFileSyncOptions & { readonly cwd: string; readonly timeout: number }
): string => {
  try {
    return execFileSync(file, args, {
      env: cleanEnv,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 << 20,
      ...options
    }).toString()
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string; signal?: string }
    const timedOut = e.signal === "SIGTERM" ? ` (killed after ${options.timeout / seconds} s)` : ""
    return fail(`${[file, ...args].join(" ")} failed in ${options.cwd}${timedOut}\n${e.stdout ?? ""}${e.stderr ?? e.message}`)
  }
}
const npm = (args: ReadonlyArray<string>, cwd: string, timeout: number) =>
  run(process.platform === "win32" ? "npm.cmd" : "npm", args, { cwd, timeout, shell: process.platform === "win32" })

// --- what a runtime prints, what it must print -----------------------------------

interface Line {
  readonly runtime: string
  readonly exit: {
    readonly kind: "success" | "failure" | "defect"
    readonly value?: unknown
    readonly tag?: string
    readonly message?: string
  }
}

const parseLine = (where: string, output: string): Line => {
  const line = output
    .trim()
    .split("\n")
    .findLast((text) => text.startsWith('{"runtime"'))
  if (line === undefined) return fail(`${where} printed no result line:\n${output}`)
  return JSON.parse(line) as Line
}

interface CheckResult {
  readonly fingerprint: string
  readonly hashes: ReadonlyArray<string>
  readonly [field: string]: unknown
}

/** What main.mjs must return everywhere, but for the hashes (which must only agree across runtimes). */
const expectedBehaviour = {
  miss: { run: 1, tags: ["a", "b"] },
  hit: { run: 1, tags: ["a", "b"], deep: [1, 2], sameObject: false },
  bigKey: { miss: 2, hit: 2 },
  singleFlight: { results: [42, 42], runs: 1 },
  ttl: { liveAt59s: true, liveAt60s: false, runAfterExpiry: 3 },
  stats: { hits: 2, misses: 3 },
  runs: 3
}

const json = (value: unknown) => JSON.stringify(value)

interface Outcome {
  readonly name: string
  readonly runtime: string
  readonly fingerprint: string
}
const outcomes: Array<Outcome> = []
let reference: CheckResult | undefined

const checkMain = (name: string, line: Line) => {
  if (line.exit.kind !== "success")
    fail(`${name} (${line.runtime}): the program ended with a ${line.exit.kind}: ${line.exit.tag ?? ""} ${line.exit.message}`)
  const result = line.exit.value as CheckResult
  const { fingerprint, hashes, ...behaviour } = result
  if (json(behaviour) !== json(expectedBehaviour)) {
    fail(`${name} (${line.runtime}): expected ${json(expectedBehaviour)}\n  got ${json(behaviour)}`)
  }
  if (!/^[0-9a-f]{32}$/.test(fingerprint)) fail(`${name} (${line.runtime}): the fingerprint ${json(fingerprint)} is not 32 hex digits`)
  if (reference === undefined) reference = result
  else if (json(result) !== json(reference)) {
    const differ = reference.hashes.flatMap((hash, i) => (hashes[i] === hash ? [] : [i]))
    fail(
      `${name} (${line.runtime}) hashes differently from ${outcomes[0]?.runtime}: fingerprint ${fingerprint}, expected ${reference.fingerprint}` +
        `; the values at ${differ.join(", ")} of app/program.mjs's values() differ`
    )
  }
  outcomes.push({ name, runtime: line.runtime, fingerprint })
  process.stdout.write(`  ${line.runtime}: fingerprint ${fingerprint}\n`)
}

/**
 * lazy-wasm.mjs: small keys work everywhere; the big key succeeds where
 * WebAssembly compiles, else fails with recall's typed error naming
 * WebAssembly (and, in a browser, the CSP source that allows it).
 */
const checkLazy = (name: string, line: Line, wasm: "available" | "blocked", browser: boolean) => {
  const at = `${name} (${line.runtime})`
  if (line.exit.kind !== "success") {
    fail(`${at}: the program ended with a ${line.exit.kind} before its first call: ${line.exit.tag ?? ""} ${line.exit.message}`)
  }
  const { small, hits, misses, big } = line.exit.value as {
    small: unknown
    hits: number
    misses: number
    big: Line["exit"]
  }
  if (json({ small, hits, misses }) !== json({ small: [1, 1, 3], hits: 1, misses: 2 })) {
    fail(`${at}: small keys: expected [1, 1, 3] with 1 hit and 2 misses, got ${json({ small, hits, misses })}`)
  }
  if (wasm === "available") {
    if (json(big) !== json({ kind: "success", value: 2048 })) fail(`${at}: the 2 KB key: expected 2048, got ${json(big)}`)
    process.stdout.write(`  ${line.runtime}: small keys and a 2 KB key work\n`)
    return
  }
  // An environment without WebAssembly is no error of the call's input: the call dies with the tagged error.
  if (big.kind !== "defect" || big.tag !== wasmErrorTag) {
    fail(
      `${at}: the 2 KB key: expected a defect tagged ${wasmErrorTag}, got a ${big.kind}${big.tag ? ` tagged ${big.tag}` : ""}: ${big.message}`
    )
  }
  const needs = browser ? [/WebAssembly/, /wasm-unsafe-eval/] : [/WebAssembly/]
  for (const pattern of needs)
    if (!pattern.test(big.message ?? "")) fail(`${at}: the ${wasmErrorTag} message does not say ${pattern.source}: ${big.message}`)
  process.stdout.write(`  ${line.runtime}: small keys work; the 2 KB key fails with ${wasmErrorTag}\n`)
}

// --- pack, the project ------------------------------------------------------------------

interface LockEntry {
  readonly name?: string
  readonly version?: string
  readonly resolved?: string
  readonly link?: boolean
  readonly dev?: boolean
  readonly devOptional?: boolean
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly [field: string]: unknown
}

const project = realpathSync(mkdtempSync(join(tmpdir(), "recall-runtimes-")))
let browserToClose: { close(): Promise<void> } | undefined
let serverToClose: Server | undefined
process.once("exit", (code) => {
  if (code !== 0) process.stderr.write(`runtimes: FAILED; the project is kept at ${project}\n`)
})

const main = async () => {
  const pack = await step("npm pack @recall/core (prepack builds dist)", () => {
    const output = npm(["pack", "--json", "--pack-destination", project, "-w", "@recall/core"], root, 300 * seconds)
    const [result] = JSON.parse(output.slice(output.indexOf("["))) as ReadonlyArray<{ filename: string; size: number }>
    return result ?? fail("npm pack printed no tarball")
  })
  process.stdout.write(`  ${pack.filename}: ${pack.size} bytes\n`)

  await step("write the project; npm ci --offline", () => {
    const workspaceLock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> }
    const effect = workspaceLock.packages["node_modules/effect"]?.version ?? fail("effect is not in package-lock.json")
    const manifest = JSON.parse(
      run("tar", ["-xOzf", pack.filename, "package/package.json"], { cwd: project, timeout: 30 * seconds })
    ) as LockEntry
    const integrity = `sha512-${createHash("sha512")
      .update(readFileSync(join(project, pack.filename)))
      .digest("base64")}`
    const dependencies = { "@recall/core": `file:${pack.filename}`, effect }
    // The registry the workspace's packages came from: the npm cache knows their tarballs by these addresses.
    const registry = npm(["config", "get", "registry"], root, 30 * seconds)
      .trim()
      .replace(/\/?$/, "/")
    const packages: Record<string, LockEntry> = { "": { name: "recall-runtimes", dependencies } }
    const resolve = (from: string, name: string): string | undefined => {
      for (let base = from; ; base = base.slice(0, Math.max(0, base.lastIndexOf("/node_modules/")))) {
        const path = `${base === "" ? "" : `${base}/`}node_modules/${name}`
        if (workspaceLock.packages[path] !== undefined) return path
        if (base === "") return undefined
      }
    }
    // Every package the workspace's lockfile resolves for these dependencies, as it is there.
    const visit = (from: string, name: string, required: boolean) => {
      const path = resolve(from, name)
      if (path === undefined) return required ? fail(`${name} (needed by ${from || "the project"}) is not in package-lock.json`) : undefined
      if (packages[path] !== undefined) return
      const { dev: _dev, devOptional, ...entry } = workspaceLock.packages[path]!
      if (entry.link) fail(`${path} is a workspace link`)
      const bare = entry.name ?? path.slice(path.lastIndexOf("node_modules/") + 13)
      const resolved = entry.resolved ?? `${registry}${bare}/-/${bare.replace(/^@[^/]+\//, "")}-${entry.version}.tgz`
      packages[path] = { ...entry, resolved, ...(devOptional ? { optional: true } : {}) }
      for (const dep of Object.keys(entry.dependencies ?? {})) visit(path, dep, true)
      for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(path, dep, false)
      for (const dep of Object.keys(entry.peerDependencies ?? {})) visit(path, dep, entry.peerDependenciesMeta?.[dep]?.optional !== true)
    }
    const { name: _name, scripts: _scripts, exports: _exports, files: _files, type: _type, ...fields } = manifest
    packages["node_modules/@recall/core"] = { ...fields, resolved: `file:${pack.filename}`, integrity }
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit("", dep, true)
    visit("", "effect", true)
    writeFileSync(join(project, "package.json"), `${json({ name: "recall-runtimes", private: true, type: "module", dependencies })}\n`)
    writeFileSync(
      join(project, "package-lock.json"),
      `${json({ name: "recall-runtimes", lockfileVersion: 3, requires: true, packages })}\n`
    )
    for (const file of readdirSync(app)) copyFileSync(join(app, file), join(project, file))
    npm(["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], project, 300 * seconds)
  })

  // --- Node, Bun, Deno -------------------------------------------------------------------

  const runFile = (runtime: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
    run(runtime, args, { cwd: project, timeout: 60 * seconds, env: { ...cleanEnv, NO_COLOR: "1", ...env } })

  if (selected.has("node")) {
    await attempt(`Node ${process.version}: main.mjs, lazy-wasm.mjs`, () => {
      checkMain("node", parseLine("node main.mjs", runFile(process.execPath, ["main.mjs"])))
      checkLazy("node", parseLine("node lazy-wasm.mjs", runFile(process.execPath, ["lazy-wasm.mjs"])), "available", false)
    })
    const others = systemNodes()
    if (others.length === 0) {
      const message = `no Node other than ${process.version} on PATH outside node_modules`
      if (process.env.CI === "true") fail(`${message}; CI machines have the system Node 20`)
      process.stdout.write(`runtimes: SKIPPED the older Node: ${message}\n`)
    }
    for (const [node, version] of others) {
      await attempt(`the system Node ${version} (${node}): main.mjs`, () =>
        checkMain(`node ${version}`, parseLine(`${node} main.mjs`, runFile(node, ["main.mjs"])))
      )
    }
    if (lazyWasm) {
      await attempt(`Node ${process.version} --jitless: lazy-wasm.mjs (no WebAssembly)`, () =>
        checkLazy(
          "node --jitless",
          parseLine("node --jitless lazy-wasm.mjs", runFile(process.execPath, ["--jitless", "lazy-wasm.mjs"])),
          "blocked",
          false
        )
      )
    }
  }

  if (selected.has("bun")) {
    const bun = existsSync(bin("bun")) ? bin("bun") : fail(`no ${bin("bun")}: run npm ci at the repository's root (devDependency bun)`)
    await attempt("Bun: main.mjs", () =>
      checkMain(
        "bun",
        parseLine("bun main.mjs", runFile(bun, ["--no-install", "main.mjs"], { BUN_INSTALL_CACHE_DIR: join(project, ".bun") }))
      )
    )
  }

  if (selected.has("deno")) {
    const deno = existsSync(bin("deno")) ? bin("deno") : fail(`no ${bin("deno")}: run npm ci at the repository's root (devDependency deno)`)
    // No permissions at all: @recall/core and effect read no file, env or network.
    await attempt("Deno: main.mjs (no permissions)", () =>
      checkMain(
        "deno",
        parseLine(
          "deno run main.mjs",
          runFile(deno, ["run", "--no-prompt", "--no-lock", "--no-remote", "main.mjs"], {
            DENO_DIR: join(project, ".deno"),
            DENO_NO_UPDATE_CHECK: "1"
          })
        )
      )
    )
  }

  if (selected.has("chromium")) {
    await chromium().catch((error: Error) => {
      process.stdout.write(`  FAILED: ${error.message.split("\n")[0]}\n`)
      failures.push(`Chromium:\n  ${error.message.replaceAll("\n", "\n  ")}`)
    })
  }

  // --- report ------------------------------------------------------------------------------

  if (failures.length > 0) fail(`${failures.length} failed:\n\n${failures.join("\n\n")}`)
  const fingerprints = new Set(outcomes.map((outcome) => outcome.fingerprint))
  if (outcomes.length === 0) fail(`no runtime ran (RECALL_RUNTIMES=${process.env.RECALL_RUNTIMES})`)
  if (fingerprints.size !== 1) fail(`the runtimes disagree: ${json(outcomes)}`)
  const total = timings.reduce((sum, [, ms]) => sum + ms, 0)
  process.stdout.write(
    `runtimes: passed in ${(total / 1000).toFixed(1)} s: one fingerprint, ${[...fingerprints][0]}, on ${outcomes.map((o) => o.runtime).join(", ")}\n` +
      `${timings.map(([name, ms]) => `  ${(ms / 1000).toFixed(1).padStart(5)} s  ${name}`).join("\n")}\n`
  )
  if (!lazyWasm)
    process.stdout.write(
      "runtimes: not run (RECALL_RUNTIMES_LAZY_WASM=0): the cases without WebAssembly (node --jitless, a CSP without 'wasm-unsafe-eval')\n"
    )
}

/** The machine's own Node (not the workspace's pinned one), if it is another major. */
const systemNodes = () => {
  const current = realpathSync(process.execPath)
  const found = new Map<string, string>()
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "" || dir.includes("node_modules")) continue
    const file = join(dir, process.platform === "win32" ? "node.exe" : "node")
    if (!existsSync(file)) continue
    const real = realpathSync(file)
    if (real === current || found.has(real)) continue
    found.set(real, run(real, ["--version"], { cwd: project, timeout: 30 * seconds }).trim())
  }
  return [...found].filter(([, v]) => v.split(".")[0] !== process.version.split(".")[0])
}

// --- Chromium --------------------------------------------------------------------------------

/** Debian's chromium, installed with apt-get when missing and running as root. */
const ensureChromium = () => {
  if (existsSync(chromiumPath)) return
  const how = `install Debian's chromium (apt-get install chromium), set RECALL_CHROMIUM to a Chromium binary, or leave chromium out of RECALL_RUNTIMES`
  if (process.env.RECALL_CHROMIUM !== undefined) fail(`RECALL_CHROMIUM=${chromiumPath} does not exist`)
  if (process.platform !== "linux" || process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    fail(`no Chromium at ${chromiumPath}, and not root on a Debian-like system to install it: ${how}`)
  }
  const env = { ...cleanEnv, DEBIAN_FRONTEND: "noninteractive" }
  run("apt-get", ["update", "-q"], { cwd: project, timeout: 300 * seconds, env })
  run("apt-get", ["install", "-y", "-q", "--no-install-recommends", "chromium"], { cwd: project, timeout: 600 * seconds, env })
  if (!existsSync(chromiumPath)) fail(`apt-get install chromium left no ${chromiumPath}: ${how}`)
}

/**
 * The pages: `/` runs main.js under a CSP that allows WebAssembly and nothing
 * else from outside the page's origin; `/no-wasm` runs lazy-wasm.js under a
 * CSP without 'wasm-unsafe-eval', where WebAssembly cannot be compiled.
 */
const pages: Record<string, { readonly script: string; readonly csp: string }> = {
  "/": { script: "/main.js", csp: "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'" },
  "/no-wasm": { script: "/lazy-wasm.js", csp: "default-src 'self'; script-src 'self'" }
}

const serve = (dir: string) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer((request, response) => {
      const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname
      const page = pages[path]
      if (page !== undefined) {
        response.writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": page.csp,
          "cache-control": "no-store"
        })
        response.end(
          `<!doctype html><meta charset="utf-8"><title>recall runtimes</title><script type="module" src="${page.script}"></script>\n`
        )
        return
      }
      const file = join(dir, path.slice(1))
      if (/^\/[\w-]+\.js$/.test(path) && existsSync(file)) {
        response.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" })
        response.end(readFileSync(file))
        return
      }
      response.writeHead(404).end()
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

const chromium = async () => {
  await step(`Chromium: ${existsSync(chromiumPath) ? chromiumPath : `install Debian's chromium (${chromiumPath})`}`, ensureChromium)
  const www = join(project, "www")
  await step("esbuild: bundle main.mjs, lazy-wasm.mjs for the browser", async () => {
    const esbuild = await import("esbuild")
    const result = await withTimeout(
      "esbuild",
      120 * seconds,
      esbuild.build({
        absWorkingDir: project,
        entryPoints: ["main.mjs", "lazy-wasm.mjs"],
        outdir: www,
        bundle: true,
        format: "esm",
        platform: "browser",
        target: "es2022",
        logLevel: "silent",
        metafile: true
      })
    )
    const builtins = Object.keys(result.metafile.inputs).filter((input) => /^node:|^\(disabled\)/.test(input))
    if (builtins.length > 0) fail(`the browser bundle needs ${builtins.join(", ")}`)
    for (const file of readdirSync(www)) process.stdout.write(`  www/${file}: ${statSync(join(www, file)).size} bytes\n`)
  })

  const server = await serve(www)
  serverToClose = server
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const { chromium: playwright } = await import("playwright-core")
  const profile = join(project, "chromium-profile")
  mkdirSync(profile)
  const context = await step(`launch headless Chromium (${chromiumPath})`, () =>
    withTimeout(
      "launching Chromium",
      90 * seconds,
      playwright.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        headless: true,
        timeout: 60 * seconds,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync"
        ]
      })
    )
  )
  browserToClose = context
  // Loopback only: the page and its scripts; anything else is refused.
  await context.route(
    (url) => url.origin !== origin,
    (route) => route.abort("blockedbyclient")
  )

  const open = async (path: string) => {
    const page = await context.newPage()
    const seen: Array<string> = []
    const line = new Promise<string>((resolve) => {
      page.on("console", (message) => {
        seen.push(`console.${message.type()}: ${message.text()}`)
        if (message.text().startsWith('{"runtime"')) resolve(message.text())
      })
    })
    page.on("pageerror", (error) => seen.push(`page error: ${error.message}`))
    const response = await withTimeout(`loading ${origin}${path}`, 30 * seconds, page.goto(`${origin}${path}`))
    if (response?.status() !== 200) fail(`${origin}${path} answered ${response?.status()}`)
    const text = await withTimeout(`the result line of ${origin}${path}`, 60 * seconds, line).catch((error: Error) =>
      fail(`${error.message}; the page said:\n${seen.join("\n")}`)
    )
    await page.close()
    return parseLine(`Chromium ${path}`, text)
  }

  await attempt(`Chromium: ${origin}/ (CSP script-src 'self' 'wasm-unsafe-eval'): main.js`, async () =>
    checkMain("chromium", await open("/"))
  )
  if (lazyWasm) {
    await attempt(`Chromium: ${origin}/no-wasm (CSP script-src 'self'): lazy-wasm.js`, async () =>
      checkLazy("chromium, no 'wasm-unsafe-eval'", await open("/no-wasm"), "blocked", true)
    )
  }
  await context.close()
  browserToClose = undefined
  server.close()
  serverToClose = undefined
}

try {
  await main()
  if (process.env.KEEP === "1") process.stdout.write(`runtimes: kept ${project}\n`)
  else rmSync(project, { recursive: true, force: true })
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
} finally {
  await browserToClose?.close().catch(() => undefined)
  serverToClose?.close()
}
