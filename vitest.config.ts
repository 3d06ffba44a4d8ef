import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "property-tests/test/**/*.test.ts", "docs/test/**/*.test.ts"],
    testTimeout: 60_000
  }
})
