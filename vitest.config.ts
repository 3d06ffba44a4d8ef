import { defineConfig } from "vitest/config"

// The workspace runs on the packages' TypeScript sources: `@recall/*` resolve
// through the `@recall/source` export condition (then Vite's defaults for
// Node), so tests need no build. Users get `dist` (see packages/*/package.json).
const conditions = ["@recall/source", "module", "node", "development|production"]

export default defineConfig({
  ssr: { resolve: { conditions } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "property-tests/test/**/*.test.ts", "docs/test/**/*.test.ts"],
    testTimeout: 60_000,
    // Node processes that tests start (`node script.ts`) resolve `@recall/*` to src too.
    env: { NODE_OPTIONS: [process.env.NODE_OPTIONS, "--conditions=@recall/source"].filter(Boolean).join(" ") }
  }
})
