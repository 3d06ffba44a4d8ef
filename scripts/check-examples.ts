/**
 * `npm run check:examples` (part of `npm run check`): type-checks every
 * ```ts block of a JSDoc `@example` in packages/<name>/src, and every ```ts
 * block of the READMEs and docs/*.md that imports (a program a reader would
 * paste; a block without imports is an excerpt of its page's running
 * example), each as its own module,
 * with the workspace's compiler options (unused names allowed: examples
 * declare things to show them). `@recall/*` resolve to the sources through
 * the `@recall/source` condition. Errors point at the source lines.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
// Under node_modules: ignored by git and Biome, and `@recall/core` and `effect` resolve from here.
const out = join(root, "node_modules", ".cache", "recall-examples")

interface Example {
  readonly file: string
  readonly source: string
  /** The 1-based source line of the example's first line. */
  readonly line: number
  readonly text: string
}

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

const examplesOf = (source: string): Array<Example> => {
  const lines = readFileSync(source, "utf8").split("\n")
  const found: Array<Example> = []
  let inComment = false
  let block: { start: number; lines: Array<string> } | undefined
  lines.forEach((line, index) => {
    if (!inComment && /^\s*\/\*\*/.test(line)) inComment = true
    if (inComment) {
      const content = line.replace(/^\s*\/?\*+\/?\s?/, "")
      if (block === undefined && /^```(ts|typescript)\s*$/.test(content)) block = { start: index + 2, lines: [] }
      else if (block !== undefined && /^```\s*$/.test(content)) {
        const file = relative(root, source)
        const name = `${file
          .replace(/^packages\//, "")
          .replace(/\/src\//, ".")
          .replace(/[/\\]/g, ".")
          .replace(/\.ts$/, "")}.${block.start}.ts`
        found.push({ file: name, source: file, line: block.start, text: block.lines.join("\n") })
        block = undefined
      } else if (block !== undefined) block.lines.push(content)
    }
    if (inComment && line.includes("*/")) {
      inComment = false
      block = undefined
    }
  })
  return found
}

const examples = readdirSync(join(root, "packages")).flatMap((pkg) => {
  const src = join(root, "packages", pkg, "src")
  try {
    return sources(src).flatMap(examplesOf)
  } catch {
    return []
  }
})

/** The ```ts blocks of a Markdown page (the docs and the READMEs): each, as written, is a program of its own. */
const snippetsOf = (page: string): Array<Example> => {
  const lines = readFileSync(page, "utf8").split("\n")
  const found: Array<Example> = []
  let block: { start: number; lines: Array<string> } | undefined
  lines.forEach((line, index) => {
    if (block === undefined && /^```(ts|typescript)\s*$/.test(line)) block = { start: index + 2, lines: [] }
    else if (block !== undefined && /^```\s*$/.test(line)) {
      const file = relative(root, page)
      found.push({
        file: `${file.replace(/[/\\]/g, ".").replace(/\.md$/, "")}.${block.start}.ts`,
        source: file,
        line: block.start,
        text: block.lines.join("\n")
      })
      block = undefined
    } else if (block !== undefined) block.lines.push(line)
  })
  return found
}

const pages = [
  join(root, "README.md"),
  ...readdirSync(join(root, "packages")).map((pkg) => join(root, "packages", pkg, "README.md")),
  ...readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => join(root, "docs", name))
].filter((page) => {
  try {
    readFileSync(page)
    return true
  } catch {
    return false
  }
})
// A block that imports is a program, as a reader would paste it: it must compile as written. One that does not
// is an excerpt of the page's running example (its names come from the blocks before it).
examples.push(...pages.flatMap(snippetsOf).filter((snippet) => /^import /m.test(snippet.text)))

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
for (const example of examples) writeFileSync(join(out, example.file), `${example.text}\nexport {}\n`)
const tsconfig = {
  extends: join(root, "tsconfig.base.json"),
  compilerOptions: { noUnusedLocals: false, noUnusedParameters: false },
  files: examples.map((example) => example.file)
}
writeFileSync(join(out, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))

const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc")
try {
  execFileSync(process.execPath, [tsc, "-p", join(out, "tsconfig.json"), "--pretty", "false"], { encoding: "utf8", stdio: "pipe" })
  process.stdout.write(`check-examples: ${examples.length} @example blocks and docs programs type-check\n`)
} catch (error) {
  const output = String((error as { stdout?: string }).stdout ?? error)
  // node_modules/.cache/recall-examples/core.DataCache.400.ts(3,5) -> packages/core/src/DataCache.ts(402,8)
  const byFile = new Map(examples.map((example) => [example.file, example]))
  const mapped = output.replace(
    /(?:[^\s(]*[/\\])?([\w.-]+\.\d+\.ts)\((\d+),(\d+)\)/g,
    (match, file: string, line: string, column: string) => {
      const example = byFile.get(file)
      return example === undefined ? match : `${example.source}(${example.line + Number(line) - 1},${Number(column) + 3})`
    }
  )
  process.stderr.write(`check-examples: @example blocks and docs programs that do not type-check:\n${mapped}`)
  process.exitCode = 1
}
