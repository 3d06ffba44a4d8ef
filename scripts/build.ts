/**
 * `npm run build` (and `prepack` of each package): every package's `src` to
 * `dist` from clean: ES modules, `.d.ts`, declaration and source maps. Core
 * first, since @recall/node's declarations import @recall/core's. The
 * user's docs (`docs/*.md`) go into each package's `docs/` too, with the
 * files they link (`docs/examples/*.ts`, `docs/test/testing-guide.test.ts`)
 * at the same relative paths, so that the READMEs' and the docs' links work
 * in `node_modules`.
 */
import { execFileSync } from "node:child_process"
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc")

for (const pkg of ["core", "node"]) {
  const dir = join(root, "packages", pkg)
  rmSync(join(dir, "dist"), { recursive: true, force: true })
  execFileSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.build.json")], { stdio: "inherit" })
  rmSync(join(dir, "docs"), { recursive: true, force: true })
  mkdirSync(join(dir, "docs"))
  for (const doc of readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md"))) {
    cpSync(join(root, "docs", doc), join(dir, "docs", doc))
  }
  mkdirSync(join(dir, "docs", "examples"))
  for (const example of readdirSync(join(root, "docs", "examples")).filter((name) => name.endsWith(".ts"))) {
    cpSync(join(root, "docs", "examples", example), join(dir, "docs", "examples", example))
  }
  mkdirSync(join(dir, "docs", "test"))
  cpSync(join(root, "docs", "test", "testing-guide.test.ts"), join(dir, "docs", "test", "testing-guide.test.ts"))
}
