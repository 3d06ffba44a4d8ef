/**
 * Hashers turn the arguments of a cached function into the key of its entry.
 *
 * **Contract**
 *
 * - Values are hashed by value, never by reference: equal values hash equal,
 *   in every process and on every run (the same hash names an entry on disk
 *   and in Redis).
 * - Distinct types never collide on purpose: `1`, `"1"`, `1n`, `true` and `[1]`
 *   have different canonical forms. Plain-object keys are sorted, Map and Set
 *   contents are order-independent, every NaN is one value, and `0` and `-0`
 *   are two (`1 / -0` is `-Infinity`: a body can tell them apart).
 * - The hash is XXH3-128 (32 hex digits) of the canonical form, from
 *   hash-wasm's WebAssembly build, checked in the tests against the native
 *   implementation: a published hash with reference vectors and a clean
 *   SMHasher record. It names cache entries; it does not authenticate them.
 *   On Node, `@recall/node`'s `NodeHasher.layer` hashes inputs of 4 KiB and
 *   more with the C xxHash library instead (SIMD, about memory bandwidth):
 *   the same digests, so the same keys and names.
 * - In memory, a cached function's key is exact when the arguments are small
 *   (their JSON, or their canonical form up to 256 UTF-16 code units), so
 *   small arguments can never share a key by accident; only larger ones are
 *   reduced to their hash.
 * - Large binary data (typed arrays, ArrayBuffer) is hashed in place, as whole
 *   buffers, at several GB/s; never element by element, never through JSON.
 * - Equal values hash equal whatever they share (`{ l: o, r: o }` and
 *   `{ l: o, r: structuredClone(o) }`), and hashing is linear in a value's
 *   distinct objects, not in its paths: a part over 512 code units is replaced
 *   by its digest, and remembered within one hash.
 * - Cycles are handled; deep nesting (Maps and Sets included) does not
 *   overflow the stack, and locating an unhashable value stays linear. A cyclic
 *   graph with exponentially many paths is hashed by numbering its objects,
 *   which is linear; its hash then depends on what it shares.
 * - Arrays count by their elements (other own fields, `toJSON` included, are
 *   left out; `toJSON` is never called), objects by their own enumerable
 *   fields. Each field is read once where its object appears, and the hash
 *   holds what was read.
 *
 * **Gotchas**
 *
 * Hashing is synchronous, but the WebAssembly hasher loads asynchronously,
 * once per process, when a key first needs a digest (small exact keys never
 * do). To call {@link Hasher.hashUnsafe} outside a cached function, run
 * {@link load} first ({@link hash} does that itself). Where WebAssembly cannot
 * be compiled (a Content-Security-Policy without `'wasm-unsafe-eval'`, Node's
 * `--jitless`), loading fails with {@link WebAssemblyUnavailableError}.
 *
 * Two kinds of hasher:
 *
 * - {@link structural}: the default. Primitives, arrays, plain objects, Date,
 *   Map, Set, RegExp, typed arrays, ArrayBuffer, bigint, Effect's data types
 *   (Option, Result, Chunk, HashMap, HashSet, DateTime, Duration, Redacted: by
 *   what their equality compares), Data and Schema.Class instances, plus any
 *   class you give a per-type hasher for. A `Redacted` is keyed by its value,
 *   which a hash holds only as a keyed HMAC-SHA-256; a class that implements
 *   `Equal` with an equality of its own is refused.
 * - {@link fromSchema}: encodes the value with a Schema's JSON codec first,
 *   then hashes the canonical form. Use it when arguments are class instances
 *   or carry fields that should not count.
 *
 * Anything else fails with {@link UnhashableParamError}.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Canonical from "./internal/canonical.ts"
import * as SecretDigest from "./internal/secretDigest.ts"
import * as V from "./internal/valueKinds.ts"
import * as Xxh3 from "./internal/xxh3.ts"

const TypeId = "~@recall/core/Hasher" as const

/**
 * Turns values of type `A` into a 32-hex-digit hash.
 *
 * @category models
 * @since 0.1.0
 */
export interface Hasher<in A> {
  readonly [TypeId]: typeof TypeId
  /**
   * Hashes a value to 32 hex digits (XXH3-128 of its canonical form); throws
   * {@link Unhashable} when part of it has no canonical form. Needs the
   * hasher loaded ({@link load}); use {@link hash} for the typed Effect
   * version, which loads it.
   */
  readonly hashUnsafe: (value: A) => string
  /** The same hash as four 32-bit lanes, before any formatting. */
  readonly digestUnsafe: (value: A) => Digest
  /**
   * An in-memory key for the value: its canonical form itself when small,
   * else its hash. Equal values give equal keys within one version of recall.
   *
   * @internal
   */
  readonly keyUnsafe: (value: A) => string
  /**
   * What `finish` makes of the value's canonical form (a keyed digest: a
   * store name under a secret); the bytes are valid only during the call.
   *
   * @internal
   */
  readonly spellUnsafe: (value: A, finish: (form: Uint8Array) => string) => string
}

/**
 * A 128-bit hash as four signed 32-bit lanes, most significant first (the
 * canonical big-endian order of XXH3-128). {@link toHex} formats it.
 *
 * @category models
 * @since 0.1.0
 */
export type Digest = readonly [number, number, number, number]

/**
 * Formats a digest as 32 lowercase hex digits.
 *
 * @category utils
 * @since 0.1.0
 */
export const toHex = (digest: Digest): string => hex8(digest[0]) + hex8(digest[1]) + hex8(digest[2]) + hex8(digest[3])

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, "0")

const toDigest = (bytes: Uint8Array): Digest => {
  const lane = (i: number) => (bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!
  return [lane(0), lane(4), lane(8), lane(12)]
}

/**
 * Loads the hasher (XXH3-128, WebAssembly) once per process; later runs
 * return at once.
 *
 * **When to use**
 *
 * Before calling {@link Hasher.hashUnsafe}, {@link Hasher.digestUnsafe} or
 * {@link fingerprint} outside a cached function: cached functions load it
 * when a key first needs a digest, and {@link hash} loads it itself. Hashing
 * before the load throws a defect that says so. In tests:
 * `beforeAll(() => Effect.runPromise(Hasher.load))`.
 *
 * **Gotchas**
 *
 * Fails with {@link WebAssemblyUnavailableError} where WebAssembly cannot be
 * compiled (a page whose Content-Security-Policy lacks `'wasm-unsafe-eval'`,
 * Node's `--jitless`); the next run tries again.
 *
 * @example
 * ```ts
 * import { Hasher } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   yield* Hasher.load
 *   return Hasher.structural().hashUnsafe({ a: 1 })
 * })
 * ```
 *
 * @category hashing
 * @since 0.1.0
 */
export const load: Effect.Effect<void, WebAssemblyUnavailableError> = Effect.andThen(Xxh3.load, SecretDigest.load)

/**
 * Raised where recall's hasher cannot load because WebAssembly cannot be
 * compiled: a browser page whose Content-Security-Policy does not allow it,
 * or Node run with `--jitless`. Its message names WebAssembly and the fix;
 * `reason` is what the runtime said, `cause` what it threw.
 *
 * **Details**
 *
 * The hasher (hash-wasm's XXH3-128) is WebAssembly, and only keys that need a
 * digest need it: a cached function whose arguments are small keys them
 * exactly and never loads it, so it works where WebAssembly is refused. A
 * call whose key needs a digest fails with this error instead of building its
 * value. With `@recall/node`'s `NodeHasher.layer`, Node hashes natively and
 * needs no WebAssembly.
 *
 * **Fix**
 *
 * - In a browser, allow WebAssembly in the page's policy:
 *   `Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'` (keep
 *   the page's other sources).
 * - In Node, drop `--jitless`, or provide `NodeHasher.layer`.
 *
 * @example
 * ```ts
 * import { Hasher } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const id = Hasher.hash(Hasher.structural(), { rows: new Float64Array(100_000) }).pipe(
 *   Effect.catchTag("WebAssemblyUnavailableError", (e) => Effect.die(e.message))
 * )
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const WebAssemblyUnavailableError: typeof Xxh3.WebAssemblyUnavailableError = Xxh3.WebAssemblyUnavailableError

/**
 * @category errors
 * @since 0.1.0
 */
export type WebAssemblyUnavailableError = Xxh3.WebAssemblyUnavailableError

/**
 * A native XXH3-128 for large inputs: see {@link setLargeDigester}.
 *
 * @internal
 */
export type LargeDigester = Xxh3.LargeDigester

/**
 * Installs, for the whole process, a native XXH3-128 for inputs of 4 KiB and
 * more (and for every input where WebAssembly cannot be compiled). For
 * `@recall/node`'s `NodeHasher.layer`; not for applications.
 *
 * **Details**
 *
 * The digester is first checked against reference digests and refused (this
 * throws) when it disagrees. Digests are then the same bytes whichever
 * implementation computed them, so installing it changes speed, never a key
 * or a persisted name: that is why it may be process-wide. Installing the one
 * installed (same `name`) does nothing. It is only ever given typed arrays
 * over a plain `ArrayBuffer` (never shared memory, never another object).
 *
 * @throws Error when the digester is not XXH3-128.
 * @internal
 */
export const setLargeDigester: (digester: LargeDigester) => void = Xxh3.setLargeDigester

/**
 * The `name` of the installed large-input digester, or `undefined` while
 * hashing is on hash-wasm alone.
 *
 * @internal
 */
export const largeDigester: () => string | undefined = Xxh3.largeDigester

/**
 * A per-type hasher: `[Class, (instance) => hashable value]`. Instances of the
 * class are hashed through the function's result. This is the typed form of
 * Streamlit's `hash_funcs`; build one with {@link by} to have the instance
 * type checked.
 *
 * @category models
 * @since 0.1.0
 */
export type TypeHasher = Canonical.TypeHasher

const isClass = (value: unknown): value is abstract new (...args: ReadonlyArray<any>) => unknown =>
  typeof value === "function" && typeof value.prototype === "object" && value.prototype !== null

/**
 * Builds a {@link TypeHasher} with the instance type inferred from the class.
 *
 * **Details**
 *
 * The function's result is itself hashed structurally, so it may return any
 * hashable value (a string id, a tuple of fields, a typed array). If it
 * throws, the call fails with {@link UnhashableParamError} naming the
 * argument. A first argument that is not a class (an arrow function, a
 * value), or a second that is not a function, throws a `TypeError` here.
 *
 * @example
 * ```ts
 * import { DataCache, Hasher } from "@recall/core"
 * import { Effect } from "effect"
 *
 * class Model {
 *   readonly id: string
 *   readonly weights: Float64Array
 *   constructor(id: string, weights: Float64Array) {
 *     this.id = id
 *     this.weights = weights
 *   }
 * }
 *
 * const score = DataCache.fn(
 *   { name: "score", hashers: [Hasher.by(Model, (m) => m.id)] },
 *   (model: Model, x: number) => Effect.succeed(model.weights[0]! * x)
 * )
 * ```
 *
 * @throws TypeError
 * @category constructors
 * @since 0.1.0
 */
export const by = <T>(Class: abstract new (...args: ReadonlyArray<any>) => T, hash: (instance: T) => unknown): TypeHasher => {
  if (!isClass(Class)) {
    throw new TypeError(
      `Hasher.by: the first argument must be a class (a constructor whose instances are hashed), got ${describeType(Class)}.`
    )
  }
  if (typeof hash !== "function") {
    throw new TypeError(
      `Hasher.by(${Class.name}, ...): the second argument must be a function from an instance to a hashable value, got ${describeType(hash)}.`
    )
  }
  if ((Class as unknown) === Object || (Class as unknown) === Array) {
    // Every plain object (or array) is an instance: the hasher would key them all by what it picks.
    throw new TypeError(
      `Hasher.by(${Class.name}, ...): every ${Class.name === "Object" ? "plain object" : "array"} is an instance of ${Class.name}, ` +
        "so this hasher would key all of them by what it returns, and different arguments would share entries. " +
        'Give the hasher a class of your own, or leave the argument out of the key with a "_" parameter name.'
    )
  }
  return [Class, hash]
}

const checkHashers = (hashers: ReadonlyArray<TypeHasher>): ReadonlyArray<TypeHasher> => {
  hashers.forEach((pair: unknown, i) => {
    if (!Array.isArray(pair) || pair.length !== 2 || !isClass(pair[0]) || typeof pair[1] !== "function") {
      throw new TypeError(
        `Hasher.structural: hashers[${i}] must be [Class, (instance) => value], got ${describeType(pair)}; build it with Hasher.by(Class, f).`
      )
    }
  })
  return hashers
}

/**
 * Why a value could not be hashed: `"instance"`, an instance of a class
 * without a per-type hasher; `"value"`, a value with no value form (a
 * function, a symbol that is not registered); `"threw"`, a getter, a Proxy or
 * a per-type hasher threw while it was read; `"schema"`, the value does not
 * match the schema it is hashed with.
 *
 * @category models
 * @since 0.1.0
 */
export type UnhashableReason = "instance" | "value" | "threw" | "schema"

/**
 * Thrown by {@link Hasher.hashUnsafe} when part of a value has no canonical
 * form; `path` says where, from the hashed value's root.
 *
 * @category errors
 * @since 0.1.0
 */
export class Unhashable extends Error {
  readonly value: unknown
  readonly path: ReadonlyArray<PropertyKey>
  readonly issue: string | undefined
  readonly reason: UnhashableReason
  /** The cached function's parameter names could not be read, so no `_` parameter was left out. */
  readonly parametersUnreadable: boolean
  constructor(value: unknown, path: ReadonlyArray<PropertyKey>, issue?: string, reason?: UnhashableReason, parametersUnreadable = false) {
    super(issue ?? `a ${describeType(value)} has no canonical form`)
    this.value = value
    this.path = path
    this.issue = issue
    this.reason = reason ?? (issue === undefined ? "instance" : "schema")
    this.parametersUnreadable = parametersUnreadable
  }
}

/**
 * The type of a value as a person would name it: the class name for objects,
 * `typeof` for the rest. Never throws (a revoked Proxy is an "object").
 *
 * @category utils
 * @since 0.1.0
 */
export const describeType = (value: unknown): string => {
  if (value === null) return "null"
  try {
    if (typeof value === "function") return value.name ? `function ${value.name}` : "function"
    if (typeof value !== "object") return typeof value
    const effect = V.effectTypeName(value)
    if (effect !== undefined) return `Effect ${effect}`
    const name = value.constructor?.name
    return typeof name === "string" && name !== "" ? name : "object"
  } catch {
    return typeof value
  }
}

const Proto = {
  [TypeId]: TypeId
}

const make = <A>(form: (value: A) => unknown, hashers: ReadonlyArray<TypeHasher>): Hasher<A> => {
  const run =
    <B>(f: (value: unknown, hashers: ReadonlyArray<TypeHasher>) => B) =>
    (value: A): B => {
      const input = form(value)
      try {
        return f(input, hashers)
      } catch (e) {
        if (e instanceof Canonical.UnhashableValue) throw new Unhashable(e.value, e.path ?? [], e.issue, e.reason)
        throw e
      }
    }
  const self = Object.create(Proto)
  self.hashUnsafe = run(Canonical.hex)
  self.digestUnsafe = run((value, hashers) => toDigest(Canonical.digest(value, hashers)))
  self.keyUnsafe = run(Canonical.key)
  self.spellUnsafe = (value: A, finish: (form: Uint8Array) => string) =>
    run((input, hashers) => Canonical.spell(input, hashers, finish))(value)
  return self
}

/**
 * The default hasher: hashes any value built from primitives, arrays, plain
 * objects, Date, Map, Set, RegExp, typed arrays, ArrayBuffer, bigint,
 * Effect's data types (Option, Result, Chunk, HashMap, HashSet, DateTime,
 * Duration, Redacted), Data and Schema.Class instances, and the classes named
 * in `hashers`. Equal values of Effect's data types hash equal (a Duration by
 * its length, a zoned DateTime by its instant and zone); a Redacted is keyed
 * by its value, which a hash holds only as a keyed HMAC-SHA-256; a class that
 * implements `Equal` with an equality of its own (`#private` state) is refused.
 *
 * **Details**
 *
 * Per-type hashers match with `instanceof` (the hasher of the nearest class
 * in the value's prototype chain wins; a subclass instance hashed by its
 * base's hasher is keyed by its own class too), before the built-in
 * rules, so they can also override how a built-in type is hashed. A hasher's
 * result is itself hashed structurally, so it may return any hashable value.
 *
 * Objects count by their own enumerable fields, as for `Object.keys`, spread,
 * JSON and structuredClone: non-enumerable fields are not data and are left
 * out. Fields keyed by registered symbols (`Symbol.for("tenant")`) count, by
 * their registry key and apart from string keys; a field keyed by any other
 * symbol (a local `Symbol("tenant")`, or a well-known one such as
 * `Symbol.iterator`) cannot be named the same way in another process, so it
 * fails instead of being left out.
 *
 * Typed arrays are keyed by their bytes (and their type): two Float64Arrays
 * that differ only in a NaN's payload bits or in the sign of a zero are two
 * keys. Everywhere else every NaN is one value; `0` and `-0` are two
 * everywhere.
 *
 * @example
 * ```ts
 * import { Hasher } from "@recall/core"
 * import { Effect } from "effect"
 *
 * const hasher = Hasher.structural()
 * const same = Effect.gen(function* () {
 *   yield* Hasher.load
 *   return hasher.hashUnsafe({ a: 1, b: 2 }) === hasher.hashUnsafe({ b: 2, a: 1 }) // true
 * })
 * ```
 *
 * @throws TypeError when an entry of `hashers` is not `[Class, function]`.
 * @category constructors
 * @since 0.1.0
 */
export const structural = (options?: { readonly hashers?: ReadonlyArray<TypeHasher> | undefined }): Hasher<unknown> =>
  make((value) => value, checkHashers(options?.hashers ?? []))

/**
 * A hasher derived from a Schema: the value is encoded with the schema's JSON
 * codec (`Schema.toCodecJson`), and the canonical form of the encoded value is
 * hashed, record keys sorted.
 *
 * **When to use**
 *
 * When arguments are class instances the structural hasher cannot see into,
 * or when the key should be a projection of the arguments: fields the schema
 * does not declare are dropped by encoding, so they never reach the key.
 *
 * **Gotchas**
 *
 * A value that does not match the schema throws {@link Unhashable} with the
 * schema's issue (reason `"schema"`). Encoding must not need services.
 *
 * @example
 * ```ts
 * import { Hasher } from "@recall/core"
 * import { Effect, Schema } from "effect"
 *
 * const hasher = Hasher.fromSchema(Schema.Struct({ id: Schema.Number, at: Schema.Date }))
 * const hash = Hasher.hash(hasher, { id: 1, at: new Date(0) }) // Effect<string, UnhashableParamError>
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromSchema = <S extends Schema.Top & { readonly EncodingServices: never }>(schema: S): Hasher<S["Type"]> => {
  // The schema's own encoding, not its JSON codec: JSON spells 1n and "1", a
  // Date and its ISO string, NaN and "NaN" alike, and the key must not.
  const encode = Schema.encodeUnknownExit(schema as unknown as Schema.Codec<unknown, unknown>)
  return make((value) => {
    let encoded: ReturnType<typeof encode>
    try {
      encoded = encode(value)
    } catch (e) {
      throw threw(value, e)
    }
    if (encoded._tag === "Success") return encoded.value
    const issue = Cause.findErrorOption(encoded.cause)
    if (issue._tag === "Some") throw new Unhashable(value, [], (issue.value as { readonly message: string }).message, "schema")
    // A getter or a Proxy that threw while the schema read the value: name what it threw.
    const defect = Cause.findDefect(encoded.cause)
    throw threw(value, defect._tag === "Success" ? defect.success : Cause.squash(encoded.cause))
  }, [])
}

const threw = (value: unknown, e: unknown): Unhashable =>
  new Unhashable(value, [], `reading it threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, "threw")

/**
 * A stable fingerprint of a schema's shape (the hash of its JSON Schema).
 * Changing a field, its type or a class identifier changes the fingerprint.
 * Needs the hasher loaded ({@link load}).
 *
 * @category utils
 * @since 0.1.0
 */
export const fingerprint = (schema: Schema.Top): string => Canonical.hex(Schema.toJsonSchemaDocument(schema), [])

/**
 * Raised when an argument of a cached function cannot be hashed into the
 * cache key. It names the function, the argument (position, then field path)
 * and the value's type, and says the ways out that fit the case.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnhashableParamError extends Schema.TaggedError<UnhashableParamError>()("UnhashableParamError", {
  functionName: Schema.String,
  argument: Schema.String,
  typeName: Schema.String,
  issue: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.Literals(["instance", "value", "threw", "schema"])),
  /** recall could not read the function's parameter names (a bound function, native code), so no `_` parameter was left out. */
  parametersUnreadable: Schema.optional(Schema.Boolean)
}) {
  override get message(): string {
    const subject = `Cannot hash ${this.argument} of ${this.functionName}`
    const keySchema = `describe the arguments with a \`key\` schema: DataCache.fn({ name: "${this.functionName}", key: Schema.Tuple([...]) }, ...)`
    const underscore =
      `leave it out of the key: give its parameter a name that starts with "_" and two letters or more (e.g. (_db: Db, n: number) => ...; ` +
      `"_", "_a", "_v", "_x2", "_ref", "_this", "_temp" and "_args" are names compilers make up, which stay in the key: ` +
      `call it "_myRef" rather than "_ref"), ` +
      `or pass it in an object parameter that is destructured with a "_" name (e.g. ({ url, _http }) => ..., which minifiers keep)`
    const unreadable = this.parametersUnreadable === true
    const ways = (...lines: ReadonlyArray<string>) => [
      ...(unreadable
        ? [
            `recall could not read the parameter names of ${this.functionName} (a bound function, native code or an Effect.fn ` +
              `wrapper), so no parameter is left out of the key and a "_" name does not help: give a \`key\` schema, or pass a ` +
              `function whose source recall can read (a plain function, or the generator itself).`
          ]
        : []),
      `recall hashes arguments by value to build the cache key. Ways out:`,
      ...lines
        .filter((line) => !unreadable || line !== underscore)
        .map((line, i, kept) => `  ${i + 1}. ${line}${i === kept.length - 1 ? "." : ";"}`)
    ]
    const reason = this.reason ?? (this.issue === undefined ? "instance" : "schema")
    if (reason === "schema") {
      return [
        `${subject}: it does not match the \`key\` schema: ${this.issue ?? "(no issue given)"}.`,
        `The key schema decides what the cache key holds, so every call must match it: pass arguments it accepts, or change it ` +
          `(a Schema.Tuple([...]) describes all the arguments; any other schema describes a function of one argument).`
      ].join("\n")
    }
    if (reason === "threw") return [`${subject}: ${this.issue ?? "reading it threw"}.`, ...ways(keySchema, underscore)].join("\n")
    if (reason === "value") {
      return [
        `${subject}: ${this.issue ?? `${V.article(this.typeName)} ${this.typeName} has no value form to hash`}.`,
        ...ways(underscore, keySchema)
      ].join("\n")
    }
    // An Effect structure, or an object whose prototype is no class's: state to leave out, no class to give a hasher.
    if (this.typeName.startsWith("Effect ") || this.typeName === "Object" || this.typeName === "object") {
      const what = this.typeName.startsWith("Effect ") ? `an ${this.typeName}` : "an object made from a prototype that is no class's"
      return [
        `${subject}: ${this.issue ?? `${what} holds state its fields do not show, so it cannot be part of a key`}.`,
        ...ways(underscore, `pass what identifies it instead (an id, a name)`)
      ].join("\n")
    }
    return [
      `${subject}: ${this.issue ?? `${V.article(this.typeName)} ${this.typeName} is a class instance the structural hasher cannot see into`}.`,
      ...ways(`give ${this.typeName} a hasher: hashers: [Hasher.by(${this.typeName}, (value) => value.id)]`, keySchema, underscore)
    ].join("\n")
  }
}

/**
 * Hashes a value, failing with {@link UnhashableParamError} (function name
 * `"Hasher.hash"`) instead of throwing. Loads the hasher when the hash needs
 * it, failing with {@link WebAssemblyUnavailableError} where it cannot load.
 *
 * @category hashing
 * @since 0.1.0
 */
export const hash = <A>(self: Hasher<A>, value: A): Effect.Effect<string, UnhashableParamError | WebAssemblyUnavailableError> => {
  // Hashed before any load; a digest that needs WebAssembly not loaded yet
  // names its load, which runs before the next try (the same one twice is a bug).
  const attempt = (previous?: Xxh3.NotLoaded["load"]): Effect.Effect<string, UnhashableParamError | WebAssemblyUnavailableError> =>
    Effect.suspend(() => {
      try {
        return Effect.succeed(self.hashUnsafe(value))
      } catch (e) {
        if (e instanceof Unhashable) return Effect.fail(toParamError(e, "Hasher.hash", []))
        if (e instanceof Xxh3.NotLoaded && e.load !== previous) return Effect.andThen(e.load, attempt(e.load))
        return Effect.die(e)
      }
    })
  return attempt()
}

// Paths longer than this are shown with their middle left out.
const MAX_PATH_STEPS = 10

const formatStep = (key: PropertyKey): string => {
  if (typeof key === "number") return `[${key}]`
  if (typeof key === "symbol") return `field [${String(key)}]`
  if (
    key === "(map key)" ||
    key === "(set member)" ||
    key === "(hasher result)" ||
    key === "(redacted value)" ||
    key.startsWith("(map value")
  )
    return key
  return `field ${JSON.stringify(key)}`
}

/**
 * Describes where an unhashable value sits: `argument 0`, `argument 1 → field
 * "conn"`. A long path keeps its first and last steps.
 *
 * @internal
 */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string => {
  if (path.length === 0) return "the arguments"
  const [head, ...rest] = path
  const steps = [typeof head === "number" ? `argument ${head}` : formatStep(head!)]
  if (rest.length <= MAX_PATH_STEPS) {
    steps.push(...rest.map(formatStep))
  } else {
    const keep = MAX_PATH_STEPS / 2
    steps.push(...rest.slice(0, keep).map(formatStep), `… ${rest.length - 2 * keep} more …`, ...rest.slice(-keep).map(formatStep))
  }
  return steps.join(" → ")
}

/**
 * Turns an {@link Unhashable} into the typed error of a call:
 * `argument 0`, `argument 1 → field "conn"`.
 *
 * @internal
 */
export const toParamError = (unhashable: Unhashable, functionName: string, prefix: ReadonlyArray<PropertyKey>): UnhashableParamError =>
  new UnhashableParamError({
    functionName,
    argument: formatPath([...prefix, ...unhashable.path]),
    typeName: describeType(unhashable.value),
    reason: unhashable.reason,
    ...(unhashable.issue === undefined ? {} : { issue: unhashable.issue }),
    ...(unhashable.parametersUnreadable ? { parametersUnreadable: true } : {})
  })
