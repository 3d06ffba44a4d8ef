/**
 * `npm run build` (and `prepack` of each package): every package's `src` to
 * `dist` from clean: ES modules, `.d.ts`, declaration and source maps. Core
 * first, since @recall/node's declarations import @recall/core's.
 */
import { execFileSync } from "node:child_process"
import { rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc")

for (const pkg of ["core", "node"]) {
  const dir = join(root, "packages", pkg)
  rmSync(join(dir, "dist"), { recursive: true, force: true })
  execFileSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.build.json")], { stdio: "inherit" })
}
