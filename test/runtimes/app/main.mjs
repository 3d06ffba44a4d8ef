// The full runtime check: see program.mjs.
import { check, main } from "./program.mjs"

await main(check)
