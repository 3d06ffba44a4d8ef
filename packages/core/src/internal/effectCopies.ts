/**
 * Detects a second copy of `effect` in one program. recall declares `effect`
 * as a peer dependency so that an application has exactly one; when a
 * package manager still installs two (a version mismatch, a `file:` link),
 * schemas and `Data` classes from one copy do not work with the other, and
 * the symptoms (a schema that rejects valid input, an argument that stops
 * hashing) point nowhere near the cause. These checks name it.
 *
 * - {@link isForeignSchema}: a schema made by another copy. `Schema.isSchema`
 *   accepts it (its brand is a string), but its AST nodes are instances of
 *   the other copy's classes.
 * - {@link checkRuntime}: the fiber running a DataCache layer's build belongs
 *   to another copy's runtime (the application's), not recall's.
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"

/** @internal */
export const isForeignSchema = (schema: Schema.Top): boolean => {
  const ast = schema.ast as { readonly _tag: string; readonly constructor: unknown }
  return ast.constructor !== (SchemaAST as unknown as Record<string, unknown>)[ast._tag]
}

/** @internal */
export const advice =
  "Your program loads two copies of effect: recall's and your application's. Install one: " +
  "`npm ls effect` should list a single version; @recall/core takes `effect` as a peer dependency, " +
  "so remove any `effect` nested under node_modules/@recall/* (for example by aligning versions and reinstalling)."

/**
 * Raised when a DataCache layer is built by another copy of Effect's runtime.
 *
 * @internal
 */
export class SecondEffectCopy extends Error {
  constructor() {
    super(`A DataCache layer was built by another copy of Effect's runtime. ${advice}`)
    this.name = "SecondEffectCopy"
  }
}

let ownFiber: Function | undefined

/**
 * Dies with {@link SecondEffectCopy} when the fiber running it is not a fiber
 * of the `effect` copy recall imports.
 *
 * @internal
 */
export const checkRuntime: Effect.Effect<void> = Effect.withFiber((fiber) => {
  ownFiber ??= Effect.runSync(Effect.withFiber((own) => Effect.succeed(own.constructor)))
  return fiber instanceof ownFiber ? Effect.void : Effect.die(new SecondEffectCopy())
})
