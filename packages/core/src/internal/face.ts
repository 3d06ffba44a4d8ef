/**
 * A cache's face: what the table keeps for a computed value, and what each
 * caller gets from it. The engine never looks inside what the table keeps.
 *
 * Every face keeps and loads. The other parts are capabilities a face has or
 * not:
 *
 * - `lifecycle` (ResourceCache): a kept value has a scope to close when it
 *   leaves, borrows that hold it (reference counting), and a `validate`
 *   check on hits. Without it, each computation's scope closes when the
 *   computation ends.
 * - `persistence` (DataCache over a store): what the table keeps, as plain
 *   data an entry payload can hold, and back. Without it (ResourceCache) a
 *   cache never reaches a store.
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as EntryFormat from "./entryFormat.ts"

/** Which cache: names spans, metrics and reports. @internal */
export type Kind = "DataCache" | "ResourceCache"

/**
 * A borrow (ResourceCache's `use`, `borrow`, `validate`'s probe): a caller
 * that passes one keeps what it got from being released until the borrow
 * ends.
 *
 * @internal
 */
export type Hold = object

/**
 * What {@link Face.load} returns for a kept value that can no longer be
 * used: a released resource, a stored value that no longer decodes.
 *
 * @internal
 */
export const unusable: unique symbol = Symbol.for("@recall/core/internal/unusable")

/** @internal */
export type Unusable = typeof unusable

/** What the table keeps for a value, its size, and what the computing caller gets. @internal */
export interface Kept<A, S> {
  readonly _tag: "Kept"
  readonly stored: S
  readonly bytes: number
  readonly value: A
}

/** A value the face cannot keep, and why. @internal */
export interface Rejected {
  readonly _tag: "Rejected"
  readonly error: unknown
}

/** @internal */
export interface Face<A, S> {
  readonly kind: Kind
  /**
   * What the table keeps for a computed value (with the scope it was
   * computed in), or the error that it cannot be kept; `hold` is the
   * starting caller's borrow, held from the moment the value is kept.
   */
  readonly keep: (value: A, scope: Scope.Closeable, hold: Hold | undefined) => Kept<A, S> | Rejected
  /** A caller's value from what the table keeps (attaching `hold` to it); {@link unusable} when it can no longer be used. */
  readonly load: (stored: S, hold: Hold | undefined) => A | Unusable
  readonly lifecycle: Lifecycle<A, S> | undefined
  readonly persistence: Persistence<A, S> | undefined
}

/**
 * The store capability: kept values as plain data for an entry's payload,
 * and back.
 *
 * @internal
 */
export interface Persistence<A, S> {
  /** The entry header's codec id and value-schema fingerprint: an entry with others is a miss. */
  readonly codec: EntryFormat.Codec
  readonly fingerprint: Uint8Array
  /** What the payload holds for what the table keeps. */
  readonly toPersisted: (stored: S) => unknown
  /** The reader's value from what a payload held; throws when it does not load. */
  readonly readUnsafe: (persisted: unknown) => A
  /** What the table keeps of a value read (its own copy), with the reader's value. */
  readonly keepUnsafe: (value: A, persisted: unknown) => Kept<A, S>
  /** The fix to give for a value the store cannot hold, where the usual one (a `value` schema) does not apply. */
  readonly unstorableFix?: string | undefined
}

/**
 * The resource capability: kept values own their computation's scope, are
 * held by borrows, and may be checked on hits.
 *
 * @internal
 */
export interface Lifecycle<A, S> {
  /** What the table kept has left it (or was never stored): the release to run now, if nothing holds it. */
  readonly leave: (stored: S) => Effect.Effect<void> | undefined
  /** Checked on each hit from the table (`validate`); false or a failure recomputes. */
  readonly check: ((value: A) => Effect.Effect<boolean, unknown>) | undefined
  /** A new borrow, not holding anything yet; {@link Lifecycle.unhold} ends it. */
  readonly hold: () => Hold
  /** Ends a borrow: the release it made due, if it was the last one on a value that left. */
  readonly unhold: (hold: Hold) => Effect.Effect<void> | undefined
}
