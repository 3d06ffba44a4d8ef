/**
 * A fast-check `Arbitrary` for the values of an Effect 4.1 Schema.
 *
 * Effect 4.1 generates from Schemas with its own engine (`effect/Arbitrary`)
 * and no longer ships a fast-check bridge, so this module walks `schema.ast`
 * and builds the matching fast-check arbitrary out of fast-check's own
 * combinators. Every value is built by `fc.tuple`, `fc.array`, `fc.oneof`,
 * ... and `map`, so fast-check shrinks it the usual way: fewer array items,
 * missing optional fields, earlier union members, smaller numbers.
 *
 * **What it generates** (the Type side of the schema; encodings are ignored
 * except where a declaration is built from one):
 *
 * - `String`, `Number` (every double: NaN, -0 and the infinities included,
 *   unless checks say integer or finite), `Boolean`, `BigInt`, `Literal`,
 *   `Enum`, `Null`, `Undefined`, `Void`, `UniqueSymbol`.
 * - `Objects`: property signatures (optional ones may be missing) and index
 *   signatures (records). Keys are set with `Object.defineProperty`, so a
 *   `"__proto__"` key is an own property, never a prototype change.
 * - `Arrays`: tuples (optional elements are a contiguous tail), rest
 *   elements, and both.
 * - `Union` (members in schema order: shrinking prefers the first), and
 *   `Suspend` (recursive schemas, kept finite by a shared depth identifier).
 * - `Declaration`, in this order: an {@link annotation} on the schema (a
 *   function from type-parameter arbitraries to an arbitrary), the built-in
 *   Date, Uint8Array, ReadonlyMap and ReadonlySet, a declaration reached by
 *   `decodeTo` from a structural schema (`Schema.Class`, a typed array built
 *   from an array of numbers: the encoded side is generated, then decoded), and
 *   finally the declaration's `toCodecArbitrary`, `toCodec` or `toCodecJson`
 *   link (Effect's `Option`, `Chunk`, `Duration`, ...).
 * - Checks (`Schema.Int`, `isBetween`, `isMinLength`, ...): their
 *   `arbitraryConstraint` annotation narrows the generator, and every check
 *   also filters, so generated values always satisfy the schema.
 *
 * Anything else (`Unknown`, `Any`, `Never`, `ObjectKeyword`, `Symbol`,
 * `TemplateLiteral`, an unknown declaration) throws an error naming the node
 * and its path, rather than generating something the schema does not mean.
 */

import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import fc from "fast-check"

/**
 * The annotation key a declaration can carry to say how to generate it:
 * `Schema.declare(isFoo, { [annotation]: () => fc.constant(new Foo()) })`.
 * The function receives the arbitraries of the declaration's type parameters.
 */
export const annotation = "~@recall/property-tests/arbitrary"

/** The value of an {@link annotation}. */
export type Generate = (typeParameters: ReadonlyArray<fc.Arbitrary<unknown>>) => fc.Arbitrary<unknown>

export interface Options {
  /** Most items in a generated array, record or Map (default 6). */
  readonly maxLength?: number | undefined
  /**
   * Nesting of unions, optional values and collections past which only their
   * smallest form is generated (first union member, missing, empty), so
   * recursive schemas stay finite (default 4).
   */
  readonly maxDepth?: number | undefined
}

/**
 * An arbitrary for the values of `schema`.
 *
 * @throws Error when the schema holds a node it cannot generate.
 */
export const fromSchema = <S extends Schema.Top>(schema: S, options?: Options): fc.Arbitrary<S["Type"]> =>
  new Compiler(options?.maxLength ?? 6, options?.maxDepth ?? 4).compile(schema.ast, [])

/** Marks an optional property or element that was not generated. */
const missing: unique symbol = Symbol("missing")

/** The subset of Effect's generation constraints this bridge reads from checks. */
interface Constraint {
  readonly number?: "integer" | "finite" | undefined
  readonly minimum?: unknown
  readonly maximum?: unknown
  readonly exclusiveMinimum?: true | undefined
  readonly exclusiveMaximum?: true | undefined
  readonly minLength?: number | undefined
  readonly maxLength?: number | undefined
}

class Compiler {
  readonly maxLength: number
  /** Shared by every union, option and collection: their nesting is the depth. */
  readonly depth: { readonly depthIdentifier: fc.DepthIdentifier; readonly maxDepth: number }
  /** Suspends being compiled, tied to themselves while their body compiles. */
  readonly suspended = new Map<SchemaAST.Suspend, fc.Arbitrary<unknown>>()

  constructor(maxLength: number, maxDepth: number) {
    this.maxLength = maxLength
    this.depth = { depthIdentifier: fc.createDepthIdentifier(), maxDepth }
  }

  compile(ast: SchemaAST.AST, path: ReadonlyArray<PropertyKey>): fc.Arbitrary<any> {
    const filters = filtersOf(ast.checks)
    const constraint: Constraint = Object.assign({}, ...filters.map(constraintOf))
    const arbitrary = this.base(ast, constraint, path)
    if (filters.length === 0) return arbitrary
    return arbitrary.filter((value) => filters.every((check) => check.run(value, ast, {}) === undefined))
  }

  base(ast: SchemaAST.AST, constraint: Constraint, path: ReadonlyArray<PropertyKey>): fc.Arbitrary<unknown> {
    switch (ast._tag) {
      case "Null":
        return fc.constant(null)
      case "Undefined":
      case "Void":
        return fc.constant(undefined)
      case "Literal":
        return fc.constant(ast.literal)
      case "UniqueSymbol":
        return fc.constant(ast.symbol)
      case "Enum":
        return fc.constantFrom(...ast.enums.map(([, value]) => value))
      case "Boolean":
        return fc.boolean()
      case "String":
        return fc.string({ unit: "binary", minLength: constraint.minLength ?? 0, maxLength: constraint.maxLength ?? 12 })
      case "Number":
        return numbers(constraint)
      case "BigInt":
        return fc.bigInt({
          ...(typeof constraint.minimum === "bigint" ? { min: constraint.minimum + (constraint.exclusiveMinimum ? 1n : 0n) } : {}),
          ...(typeof constraint.maximum === "bigint" ? { max: constraint.maximum - (constraint.exclusiveMaximum ? 1n : 0n) } : {})
        })
      case "Union":
        if (ast.types.length === 0) throw unsupported(ast, path, "a union with no members")
        return fc.oneof(this.depth, ...ast.types.map((member) => this.compile(member, path)))
      case "Arrays":
        return this.arrays(ast, constraint, path)
      case "Objects":
        return this.objects(ast, path)
      case "Suspend":
        return this.suspend(ast, path)
      case "Declaration":
        return this.declaration(ast, path)
      default:
        throw unsupported(ast, path, "no generator for this node")
    }
  }

  arrays(ast: SchemaAST.Arrays, constraint: Constraint, path: ReadonlyArray<PropertyKey>): fc.Arbitrary<Array<unknown>> {
    const elements = ast.elements.map((element, i) => this.compile(element, [...path, i]))
    const required = ast.elements.findIndex(SchemaAST.isOptional)
    const head = required === -1 ? elements : elements.slice(0, required)
    const optional = required === -1 ? [] : elements.slice(required).map((element) => this.option(element))
    const [rest, ...tail] = ast.rest.map((element, i) => this.compile(element, [...path, ast.elements.length + i]))
    const fixed = head.length + tail.length
    const minLength = Math.max(0, (constraint.minLength ?? 0) - fixed)
    const maxLength = Math.max(minLength, Math.min(constraint.maxLength ?? Infinity, this.maxLength + fixed) - fixed)
    const items =
      rest === undefined
        ? fc.constant([])
        : this.collection((size) => fc.array(rest, { minLength, maxLength: Math.max(minLength, size(maxLength)) }))
    return fc.tuple(fc.tuple(...head), fc.tuple(...optional), items, fc.tuple(...tail)).map(([head, optional, items, tail]) => {
      // Optional elements are a prefix of the optional tail: stop at the first missing one.
      const present = optional.indexOf(missing)
      return [...head, ...(present === -1 ? optional : optional.slice(0, present)), ...items, ...tail]
    })
  }

  objects(ast: SchemaAST.Objects, path: ReadonlyArray<PropertyKey>): fc.Arbitrary<Record<PropertyKey, unknown>> {
    const names = new Set(ast.propertySignatures.map((property) => property.name))
    const properties = ast.propertySignatures.map((property) => {
      const value = this.compile(property.type, [...path, property.name])
      return SchemaAST.isOptional(property.type) ? this.option(value) : value
    })
    const indexes = ast.indexSignatures.map((index, i) =>
      fc.tuple(this.compile(index.parameter, [...path, `[key ${i}]`]), this.compile(index.type, [...path, `[value ${i}]`]))
    )
    const entries =
      indexes.length === 0
        ? fc.constant([])
        : this.collection((size) => fc.uniqueArray(fc.oneof(...indexes), { selector: ([key]) => key, maxLength: size(this.maxLength) }))
    return fc.tuple(fc.tuple(...properties), entries).map(([values, entries]) => {
      const out: Record<PropertyKey, unknown> = {}
      ast.propertySignatures.forEach((property, i) => {
        if (values[i] !== missing) define(out, property.name, values[i])
      })
      for (const [key, value] of entries) {
        const name = typeof key === "symbol" ? key : String(key)
        if (!names.has(name)) define(out, name, value)
      }
      return out
    })
  }

  suspend(ast: SchemaAST.Suspend, path: ReadonlyArray<PropertyKey>): fc.Arbitrary<unknown> {
    const tied = this.suspended.get(ast)
    if (tied !== undefined) return tied
    return fc.letrec<{ self: unknown }>((tie) => {
      this.suspended.set(ast, tie("self"))
      return { self: this.compile(ast.thunk(), path) }
    }).self
  }

  declaration(ast: SchemaAST.Declaration, path: ReadonlyArray<PropertyKey>): fc.Arbitrary<unknown> {
    const typeParameters = () => ast.typeParameters.map((parameter, i) => this.compile(parameter, [...path, `<${i}>`]))
    const own = ast.annotations?.[annotation]
    if (typeof own === "function") return (own as Generate)(typeParameters())
    const builtIn = this.builtIn(ast, typeParameters)
    if (builtIn !== undefined) return builtIn
    const link = linkOf(ast)
    if (link === undefined) {
      throw unsupported(ast, path, `give it an \`${annotation}\` annotation, or build it with Schema.decodeTo from a structural schema`)
    }
    // Generate the schema the declaration decodes from (its Type side), then decode that into the declaration.
    const decode = Schema.decodeUnknownSync(
      Schema.make<Schema.Codec<unknown, unknown>>(
        SchemaAST.decodeTo(SchemaAST.toType(link.to), SchemaAST.toType(ast), link.transformation as any)
      )
    )
    return this.compile(link.to, path).map((from) => decode(from))
  }

  builtIn(ast: SchemaAST.Declaration, typeParameters: () => ReadonlyArray<fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> | undefined {
    const representation = (ast.annotations as { readonly representation?: { readonly id?: string } } | undefined)?.representation
    const members = <A>(item: fc.Arbitrary<A>) =>
      this.collection((size) => fc.uniqueArray(item, { maxLength: size(this.maxLength), comparator: "SameValueZero" }))
    switch (representation?.id) {
      case "effect/schema/Date":
        return fc.date({ noInvalidDate: true })
      case "effect/schema/Uint8Array":
        return fc.uint8Array({ maxLength: this.maxLength })
      case "effect/schema/ReadonlyMap": {
        const [key, value] = typeParameters()
        return this.collection((size) =>
          fc.uniqueArray(fc.tuple(key!, value!), {
            selector: ([key]) => key,
            maxLength: size(this.maxLength),
            comparator: "SameValueZero"
          })
        ).map((pairs) => new Map(pairs))
      }
      case "effect/schema/ReadonlySet":
        return members(typeParameters()[0]!).map((members) => new Set(members))
      default:
        return undefined
    }
  }

  /** `arbitrary`, or {@link missing}; shrinks towards missing, and is missing past the depth limit. */
  option<A>(arbitrary: fc.Arbitrary<A>): fc.Arbitrary<A | typeof missing> {
    return fc.option(arbitrary, { nil: missing, ...this.depth })
  }

  /**
   * A collection, built by `make` from a size bound: its smallest form past
   * the depth limit, and one level deeper for the items it holds.
   */
  collection<A>(make: (size: (maxLength: number) => number) => fc.Arbitrary<A>): fc.Arbitrary<A> {
    return fc.oneof(this.depth, { arbitrary: make(() => 0), weight: 1 }, { arbitrary: make((maxLength) => maxLength), weight: 4 })
  }
}

/**
 * The link a declaration decodes from: a `decodeTo` encoding (Schema.Class,
 * typed arrays from arrays), else its `toCodecArbitrary`, `toCodec` or
 * `toCodecJson` annotation (Effect's own data types).
 */
const linkOf = (ast: SchemaAST.Declaration): SchemaAST.Link | undefined => {
  const typeParameters = ast.typeParameters.map((parameter) => Schema.make(parameter))
  const annotations = ast.annotations as
    | {
        readonly toCodecArbitrary?: (_: { readonly typeParameters: ReadonlyArray<Schema.Constraint> }) => SchemaAST.Link
        readonly toCodec?: (typeParameters: ReadonlyArray<Schema.Constraint>) => SchemaAST.Link
        readonly toCodecJson?: (typeParameters: ReadonlyArray<Schema.Constraint>) => SchemaAST.Link | undefined
      }
    | undefined
  return (
    ast.encoding?.[0] ??
    annotations?.toCodecArbitrary?.({ typeParameters }) ??
    annotations?.toCodec?.(typeParameters) ??
    annotations?.toCodecJson?.(typeParameters)
  )
}

const numbers = (constraint: Constraint): fc.Arbitrary<number> => {
  const min = typeof constraint.minimum === "number" ? constraint.minimum : undefined
  const max = typeof constraint.maximum === "number" ? constraint.maximum : undefined
  if (constraint.number === "integer") {
    const low =
      min === undefined ? Number.MIN_SAFE_INTEGER : Math.ceil(min) + (constraint.exclusiveMinimum && Number.isInteger(min) ? 1 : 0)
    const high =
      max === undefined ? Number.MAX_SAFE_INTEGER : Math.floor(max) - (constraint.exclusiveMaximum && Number.isInteger(max) ? 1 : 0)
    return fc.integer({ min: low, max: high })
  }
  return fc.double({
    ...(constraint.number === "finite" ? { noNaN: true, noDefaultInfinity: true } : {}),
    ...(min === undefined ? {} : { min, minExcluded: constraint.exclusiveMinimum === true, noNaN: true }),
    ...(max === undefined ? {} : { max, maxExcluded: constraint.exclusiveMaximum === true, noNaN: true })
  })
}

/** Every filter of a node's checks, groups flattened. */
const filtersOf = (checks: SchemaAST.Checks | undefined): Array<SchemaAST.Filter<unknown>> =>
  (checks ?? []).flatMap((check) => (check._tag === "Filter" ? [check] : filtersOf(check.checks)))

const constraintOf = (check: SchemaAST.Filter<unknown>): Constraint =>
  (check.annotations?.arbitraryConstraint as Constraint | undefined) ?? {}

/** An own, enumerable, writable property, even for the key `"__proto__"`. */
const define = (target: object, key: PropertyKey, value: unknown): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

const unsupported = (ast: SchemaAST.AST, path: ReadonlyArray<PropertyKey>, hint: string): Error => {
  const name =
    ast._tag === "Declaration" ? `Declaration ${String(ast.annotations?.identifier ?? ast.annotations?.expected ?? "(unnamed)")}` : ast._tag
  const at = path.length === 0 ? "the root" : path.map(String).join(".")
  return new Error(`fromSchema: cannot generate ${name} at ${at}: ${hint}`)
}
