// Small keys without WebAssembly, and recall's typed error for a key that needs a digest: see program.mjs.
import { lazyWasm, main } from "./program.mjs"

await main(lazyWasm)
