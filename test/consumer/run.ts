/**
 * The consumer test (`npm run test:consumer`, part of `npm test`): recall as a
 * new user gets it. Packs @recall/core and @recall/node, installs the
 * tarballs into a fresh project outside the repository that has its own
 * `effect`, type-checks it (strict, exactOptionalPropertyTypes, emitting
 * JavaScript, library checks on), runs the emitted program on this Node and on
 * the machine's own older Node, runs a plain `.mjs` consumer and a small
 * @effect/vitest test there.
 *
 * Offline: the project gets a lockfile cut from the workspace's, so
 * `npm ci --offline` takes every package from the npm cache that `npm ci` of
 * the workspace filled. `KEEP=1` keeps the project (its path is printed).
 */
import { type ExecFileSyncOptions, execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, isAbsolute, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const fixture = fileURLToPath(new URL("app", import.meta.url))

interface LockEntry {
  readonly name?: string
  readonly version?: string
  readonly resolved?: string
  readonly integrity?: string
  readonly link?: boolean
  readonly dev?: boolean
  readonly optional?: boolean
  readonly devOptional?: boolean
  readonly peer?: boolean
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly [field: string]: unknown
}

interface PackResult {
  readonly name: string
  readonly filename: string
  readonly size: number
  readonly unpackedSize: number
  readonly files: ReadonlyArray<{ readonly path: string; readonly size: number }>
}

const timings: Array<[string, number]> = []
const step = <A>(name: string, run: () => A): A => {
  const start = performance.now()
  process.stdout.write(`consumer: ${name}\n`)
  const result = run()
  timings.push([name, performance.now() - start])
  return result
}

const fail = (message: string): never => {
  throw new Error(`consumer test: ${message}`)
}

// Children keep npm's configuration (cache, registry) but not the workspace's
// package, workspace selection or source condition.
const workspaceOnly = /^(NODE_OPTIONS|npm_(package_.*|lifecycle_.*|command|config_(local_prefix|call|workspaces?|include_workspace_root)))$/
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !workspaceOnly.test(name)))

const run = (file: string, args: ReadonlyArray<string>, options: ExecFileSyncOptions & { readonly cwd: string }): string => {
  try {
    return execFileSync(file, args, { env: cleanEnv, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options }).toString()
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string }
    return fail(`${[file, ...args].join(" ")} failed in ${options.cwd}\n${e.stdout ?? ""}${e.stderr ?? e.message}`)
  }
}
const npm = (args: ReadonlyArray<string>, cwd: string) =>
  run(process.platform === "win32" ? "npm.cmd" : "npm", args, { cwd, shell: process.platform === "win32" })

const lastJsonLine = (output: string): Record<string, unknown> => {
  const line = output.trim().split("\n").at(-1) ?? ""
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return fail(`expected a JSON line, got:\n${output}`)
  }
}

const expectEqual = (what: string, actual: unknown, expected: unknown) => {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

// --- pack -------------------------------------------------------------------

const project = realpathSync(mkdtempSync(join(tmpdir(), "recall-consumer-")))
process.once("exit", (code) => {
  if (code !== 0) process.stderr.write(`consumer: FAILED; the project is kept at ${project}\n`)
})
const packs = step("npm pack @recall/core @recall/node (prepack builds dist)", () => {
  const output = npm(["pack", "--json", "--pack-destination", project, "-w", "@recall/core", "-w", "@recall/node"], root)
  return JSON.parse(output.slice(output.indexOf("["))) as ReadonlyArray<PackResult>
})

for (const pack of packs) {
  const paths = pack.files.map((file) => file.path)
  for (const required of [
    "package.json",
    "README.md",
    "LICENSE",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/index.js.map",
    "dist/index.d.ts.map",
    // The guides the READMEs link to.
    "docs/persistence.md",
    "docs/using-recall.md",
    // The files the docs link to.
    "docs/examples/expensive.ts",
    "docs/test/testing-guide.test.ts"
  ]) {
    if (!paths.includes(required)) fail(`${pack.name}'s tarball lacks ${required}`)
  }
  const stray = paths.filter(
    (path) =>
      !/^(package\.json|README\.md|LICENSE|docs\/[a-z-]+\.md|docs\/examples\/[a-z-]+\.ts|docs\/test\/testing-guide\.test\.ts|src\/.+\.ts|dist\/.+\.(js|js\.map|d\.ts|d\.ts\.map))$/.test(
        path
      )
  )
  if (stray.length > 0) fail(`${pack.name}'s tarball holds ${stray.join(", ")}`)
  // The one test file shipped is the testing guide's, which docs/testing.md walks through.
  if (paths.some((path) => path !== "docs/test/testing-guide.test.ts" && /(^|\/)test\/|\.test\.ts$|tsconfig/.test(path))) {
    fail(`${pack.name}'s tarball holds tests or a tsconfig`)
  }
  process.stdout.write(`  ${pack.filename}: ${pack.files.length} files, ${pack.size} bytes packed, ${pack.unpackedSize} unpacked\n`)
}

// --- the project ------------------------------------------------------------

const workspaceLock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  readonly packages: Record<string, LockEntry>
}
const version = (name: string) => workspaceLock.packages[`node_modules/${name}`]?.version ?? fail(`${name} is not in package-lock.json`)

const tarball = (name: string) => packs.find((pack) => pack.name === name) ?? fail(`no tarball for ${name}`)
const tarballs = ["@recall/core", "@recall/node"].map((name) => {
  const pack = tarball(name)
  const bytes = readFileSync(join(project, pack.filename))
  const manifest = JSON.parse(run("tar", ["-xOzf", pack.filename, "package/package.json"], { cwd: project })) as LockEntry
  return { name, pack, manifest, integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}` }
})

const dependencies: Record<string, string> = {
  "@effect/platform-node": version("@effect/platform-node"),
  effect: version("effect"),
  ...Object.fromEntries(tarballs.map(({ name, pack }) => [name, `file:${pack.filename}`]))
}
const devDependencies: Record<string, string> = {
  ...Object.fromEntries(["@effect/vitest", "@types/node", "typescript", "vitest"].map((name) => [name, version(name)])),
  // A second copy of Effect, for test/two-copies.test.ts.
  "effect-copy": `npm:effect@${version("effect")}`
}
const aliases: Record<string, string> = { "effect-copy": "effect" }

// The registry the workspace's packages came from: the npm cache knows their tarballs by these addresses.
const registry = npm(["config", "get", "registry"], root).trim().replace(/\/?$/, "/")
const tarballUrl = (name: string, version: string) => `${registry}${name}/-/${name.replace(/^@[^/]+\//, "")}-${version}.tgz`

/**
 * The lockfile of the project: the recall tarballs, and every package the
 * workspace's lockfile resolves for the project's other dependencies (their
 * dependencies, optional dependencies and required peers), as they are there.
 */
const projectLock = () => {
  const packages: Record<string, LockEntry> = {
    "": { name: "recall-consumer", dependencies, devDependencies }
  }
  const resolve = (from: string, name: string): string | undefined => {
    for (let base = from; ; base = base.slice(0, Math.max(0, base.lastIndexOf("/node_modules/")))) {
      const path = `${base === "" ? "" : `${base}/`}node_modules/${name}`
      if (workspaceLock.packages[path] !== undefined) return path
      if (base === "") return undefined
    }
  }
  const visit = (from: string, name: string, required: boolean) => {
    const alias = from === "" ? aliases[name] : undefined
    if (alias !== undefined) {
      const { dev: _dev, ...entry } = workspaceLock.packages[`node_modules/${alias}`] ?? fail(`${alias} is not in package-lock.json`)
      packages[`node_modules/${name}`] = { ...entry, name: alias, resolved: tarballUrl(alias, entry.version!) }
      return
    }
    const path = resolve(from, name)
    if (path === undefined) {
      if (required) fail(`${name} (needed by ${from || "the project"}) is not in package-lock.json`)
      return
    }
    if (packages[path] !== undefined) return
    const entry = workspaceLock.packages[path]!
    if (entry.link) fail(`${path} is a workspace link`)
    const { dev: _dev, devOptional, ...rest } = entry
    // With its tarball's address, npm needs no package document from the registry.
    const resolved = entry.resolved ?? tarballUrl(entry.name ?? path.slice(path.lastIndexOf("node_modules/") + 13), entry.version!)
    packages[path] = { ...rest, resolved, ...(devOptional ? { optional: true } : {}) }
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(path, dep, true)
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(path, dep, false)
    for (const dep of Object.keys(entry.peerDependencies ?? {})) {
      visit(path, dep, entry.peerDependenciesMeta?.[dep]?.optional !== true)
    }
  }
  for (const { name, pack, manifest, integrity } of tarballs) {
    const { name: _name, scripts: _scripts, exports: _exports, files: _files, type: _type, ...fields } = manifest
    packages[`node_modules/${name}`] = { ...fields, resolved: `file:${pack.filename}`, integrity }
    for (const dep of Object.keys(manifest.dependencies ?? {})) if (!dep.startsWith("@recall/")) visit("", dep, true)
    // Optional ones too (@recall/node's native digester): npm ci wants them in the lockfile.
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) visit("", dep, false)
  }
  for (const name of [...Object.keys(dependencies), ...Object.keys(devDependencies)]) {
    if (!name.startsWith("@recall/")) visit("", name, true)
  }
  return { name: "recall-consumer", lockfileVersion: 3, requires: true, packages }
}

step("write the project", () => {
  cpSync(fixture, project, { recursive: true })
  const manifest = { name: "recall-consumer", private: true, type: "module", dependencies, devDependencies }
  writeFileSync(join(project, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`)
  writeFileSync(join(project, "package-lock.json"), `${JSON.stringify(projectLock(), null, 2)}\n`)
})

step("npm ci --offline", () => npm(["ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], project))

// --- type-check, emit, run ----------------------------------------------------

const nodeModule = (path: string) => join(project, "node_modules", path)

// A stranger reads the READMEs in node_modules: every relative link there must reach a file of the package.
// Every relative link of the installed README.md and docs/*.md, relative to the file that holds
// it, must reach a file of the same package (not merely one of the repository): http(s) and
// mailto links, and pure #anchors, are left out.
step("the installed READMEs' and docs' relative links reach files of their packages", () => {
  for (const name of ["@recall/core", "@recall/node"]) {
    const pkg = realpathSync(nodeModule(name))
    const docs = readdirSync(join(pkg, "docs")).filter((file) => file.endsWith(".md"))
    if (docs.length === 0) fail(`${name} ships no docs/*.md`)
    let links = 0
    for (const file of ["README.md", ...docs.map((doc) => `docs/${doc}`)]) {
      const text = readFileSync(join(pkg, file), "utf8")
      for (const [, target] of text.matchAll(/\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)) {
        if (/^(https?|mailto):/i.test(target!) || target!.startsWith("#")) continue
        const path = decodeURIComponent(target!.replace(/#.*$/, ""))
        const resolved = resolve(dirname(join(pkg, file)), path)
        links++
        if (relative(pkg, resolved).startsWith("..") || isAbsolute(relative(pkg, resolved)) || !existsSync(resolved)) {
          fail(`${name}'s ${file} links ${target}, which its package does not hold`)
        }
      }
    }
    if (links === 0) fail(`${name}: no relative links found in its README.md and docs/*.md`)
  }
})
step("tsc -p . (strict, exactOptionalPropertyTypes, emit JS)", () =>
  run(process.execPath, [nodeModule("typescript/bin/tsc"), "-p", "."], { cwd: project })
)

// The `recall` binary as npm installed it (`node_modules/.bin/recall`, run through its
// `#!/usr/bin/env node` line, with this Node first on PATH), on an empty cache directory.
step("recall stats --json and recall --help (the installed bin)", () => {
  const directory = join(project, "empty-cache")
  mkdirSync(directory)
  const env = { ...cleanEnv, PATH: `${dirname(process.execPath)}${delimiter}${cleanEnv.PATH ?? ""}`, NO_COLOR: "1" }
  const bin = nodeModule(".bin/recall")
  const stats = JSON.parse(run(bin, ["stats", "--dir", directory, "--json"], { cwd: project, env })) as Record<string, unknown>
  expectEqual("recall stats --json", [stats.directory, stats.entries], [directory, 0])
  const help = run(bin, ["--help"], { cwd: project, env })
  for (const sub of ["ls", "stats", "clear", "prune"]) {
    if (!new RegExp(`^\\s+${sub}\\s`, "m").test(help)) fail(`recall --help does not list ${sub}:\n${help}`)
  }
})

const expected = {
  sameInstance: true,
  released: 1,
  userLoads: 1,
  isUser: true,
  greeting: "Hello, user 1",
  joined: "1970-01-01T00:00:00.000Z",
  searches: 2,
  distance: 5,
  distances: 1,
  hits: 3,
  misses: 4
}
const runProgram = (node: string) => {
  const output = run(node, ["dist/src/main.js"], { cwd: project })
  process.stdout.write(`  ${output.trim().split("\n").at(-1)}\n`)
  const { node: nodeVersion, ...result } = lastJsonLine(output)
  expectEqual(`dist/src/main.js on Node ${nodeVersion}`, result, expected)
  const plain = lastJsonLine(run(node, ["src/plain.mjs"], { cwd: project }))
  expectEqual(`src/plain.mjs on Node ${nodeVersion}`, plain, { value: 42, internal: "ERR_PACKAGE_PATH_NOT_EXPORTED" })
}

step(`run the program and a plain .mjs on Node ${process.version}`, () => runProgram(process.execPath))

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
    found.set(real, run(real, ["--version"], { cwd: project }).trim())
  }
  return [...found].filter(([, v]) => v.split(".")[0] !== process.version.split(".")[0])
}
const others = systemNodes()
if (others.length === 0) {
  const message = `no Node other than ${process.version} on PATH outside node_modules`
  if (process.env.CI === "true") fail(`${message}; CI machines have the system Node 20`)
  process.stdout.write(`consumer: SKIPPED the older-Node run: ${message}\n`)
}
for (const [node, nodeVersion] of others) {
  step(`run the program and a plain .mjs on the system Node ${nodeVersion} (${node})`, () => runProgram(node))
}

step("vitest run (@effect/vitest)", () => {
  const output = run(process.execPath, [nodeModule("vitest/vitest.mjs"), "run", "--dir", "test"], {
    cwd: project,
    env: { ...cleanEnv, NO_COLOR: "1" }
  })
  const tests = /Tests\s+(.+)/.exec(output)?.[1] ?? fail(`no summary from vitest:\n${output}`)
  process.stdout.write(`  tests: ${tests.trim()}\n`)
})

// --- report -------------------------------------------------------------------

const total = timings.reduce((sum, [, ms]) => sum + ms, 0)
process.stdout.write(
  `consumer: passed in ${(total / 1000).toFixed(1)} s\n${timings.map(([name, ms]) => `  ${(ms / 1000).toFixed(1).padStart(5)} s  ${name}`).join("\n")}\n`
)
if (process.env.KEEP === "1") process.stdout.write(`consumer: kept ${project}\n`)
else rmSync(project, { recursive: true, force: true })
