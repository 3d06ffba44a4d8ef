/**
 * The `_` rule, as Streamlit has it: *parameters* whose names start with a
 * single `_` are left out of the key.
 *
 * The names come from the function's own parameter list, read once per
 * definition from its source (`Function.prototype.toString`) with a real
 * JavaScript parser (acorn), never with regular expressions:
 *
 * - a positional parameter named `_x` (with or without a default, `_x = 1`,
 *   or a rest `..._xs`) leaves out its argument (all of them, for a rest);
 * - in a destructured object parameter (`({ url, _http }) =>`), the property
 *   keys of the pattern that start with `_` (the field names the caller
 *   passes: `{ _http: http }` leaves out `_http`, `{ url: _u }` does not) are
 *   left out of that argument when it is a plain object;
 * - everything else is data: fields of a parameter that is not destructured
 *   (a document's `_id`), array patterns, computed keys, nested patterns,
 *   an object rest (`...rest` keeps every field it collects), and arguments
 *   beyond the parameter list.
 *
 * The rule for a name is {@link isExcludedField}'s: `_tag` and `__typename`
 * are data.
 *
 * Where the source cannot be read (native code, a bound function, an
 * `Effect.fn` wrapper, something the parser rejects), nothing is left out and
 * the plan says so (`unreadable`), so that an `UnhashableParamError` can tell
 * the user that a `_` name does not help there. Minified code that renames
 * parameters (`_db` to `a`) can only make a key longer (an argument that was
 * to be left out is hashed, and fails loudly if it cannot be), never shorter.
 */
import * as Acorn from "acorn"
import * as Hasher from "../Hasher.ts"
import { isExcludedField, isPlainObject } from "./canonical.ts"

/**
 * What a parameter contributes to the key: `undefined` (its argument as it
 * is), {@link DROP} (nothing), or the field names left out of a destructured
 * plain-object argument.
 */
type Parameter = undefined | typeof DROP | ReadonlyArray<string>

const DROP: unique symbol = Symbol("drop")

/**
 * Which arguments of a function's calls are left out of its key.
 *
 * @internal
 */
export interface Plan {
  /** Nothing is left out: the arguments are keyed as they are (and cost nothing more). */
  readonly none: boolean
  /** The parameter names could not be read: nothing is left out. */
  readonly unreadable: boolean
  readonly parameters: ReadonlyArray<Parameter>
  /** The position of a `..._rest` parameter: every argument from there on is left out. */
  readonly dropFrom: number
}

const none: Plan = { none: true, unreadable: false, parameters: [], dropFrom: Infinity }
const unreadable: Plan = { none: true, unreadable: true, parameters: [], dropFrom: Infinity }

const options: Acorn.Options = {
  ecmaVersion: "latest",
  sourceType: "script",
  allowSuperOutsideMethod: true,
  allowReturnOutsideFunction: true,
  checkPrivateFields: false
}

// The source as an expression (a function, an arrow), as an object method
// (`foo(a) {}`, `get x() {}`, `async *gen() {}`) and as a class method
// (`#foo(a) {}`). The newline ends a line comment the source may end with.
const wrappers: ReadonlyArray<readonly [string, string]> = [
  ["(", "\n)"],
  ["({", "\n})"],
  ["(class{", "\n})"]
]

/** The parameters of the one function a source holds, or `undefined`. */
const parametersOf = (source: string): ReadonlyArray<Acorn.Pattern> | undefined => {
  for (const [open, close] of wrappers) {
    let program: Acorn.Program
    try {
      program = Acorn.parse(open + source + close, options)
    } catch {
      continue
    }
    if (program.body.length !== 1) return undefined
    const statement = program.body[0]!
    if (statement.type !== "ExpressionStatement") return undefined
    const expression = statement.expression
    switch (expression.type) {
      case "FunctionExpression":
      case "ArrowFunctionExpression":
        return expression.params
      case "ObjectExpression": {
        const member = expression.properties.length === 1 ? expression.properties[0]! : undefined
        // A method, getter or setter: the only members whose source is their own text.
        return member?.type === "Property" && (member.method || member.kind !== "init") && member.value.type === "FunctionExpression"
          ? member.value.params
          : undefined
      }
      case "ClassExpression": {
        const member = expression.body.body.length === 1 ? expression.body.body[0]! : undefined
        // `(class X {})` is a class source, not a method's: it has no parameters of its own to read.
        return open !== "(" && member?.type === "MethodDefinition" ? member.value.params : undefined
      }
      default:
        return undefined
    }
  }
  return undefined
}

/** The field name a property of an object pattern reads, when it is spelled out. */
const propertyName = (property: Acorn.AssignmentProperty): string | undefined => {
  if (property.computed) return undefined
  const key = property.key
  if (key.type === "Identifier") return key.name
  if (key.type === "Literal" && typeof key.value === "string") return key.value
  return undefined
}

/**
 * Names that compilers and minifiers make up for parameters (`_`, `_a`,
 * `_x2` from TypeScript, esbuild and Babel's lowering of destructuring and
 * async functions; Babel's `_ref`, `_this`, `_temp`): such a parameter holds
 * the caller's data under a name nobody chose, so it is never left out (a
 * rename can make a key longer, never shorter). Names people choose (`_db`,
 * `_conn`, `_self`) are left out as Streamlit leaves them out.
 */
const MADE_UP = /^_(?:[A-Za-z$]?\d*|ref\d*|this|arguments|args\d*|temp\d*)$/

/** Whether a parameter of this name (a positional one, or a rest) is left out of the key. */
const leftOut = (name: string): boolean => isExcludedField(name) && !MADE_UP.test(name)

/**
 * Every variable an acorn subtree refers to: identifiers, less the keys of
 * object literals and the property names of member expressions (`{ _http: 0 }`
 * and `x._http` read no variable `_http`).
 */
const namesIn = (node: unknown, names: Set<string> = new Set()): Set<string> => {
  if (typeof node !== "object" || node === null) return names
  if (Array.isArray(node)) {
    for (const child of node) namesIn(child, names)
    return names
  }
  const record = node as { readonly type?: unknown; readonly name?: unknown; readonly computed?: unknown }
  if (record.type === "Identifier" && typeof record.name === "string") names.add(record.name)
  const skip =
    record.computed === true ? undefined : record.type === "Property" ? "key" : record.type === "MemberExpression" ? "property" : undefined
  for (const key of Object.keys(node)) if (key !== "type" && key !== skip) namesIn((node as Record<string, unknown>)[key], names)
  return names
}

/** The default-value expressions inside a parameter's pattern (what its value may be computed from). */
const defaultsIn = (pattern: unknown, found: Array<unknown> = []): Array<unknown> => {
  if (typeof pattern !== "object" || pattern === null) return found
  if (Array.isArray(pattern)) {
    for (const child of pattern) defaultsIn(child, found)
    return found
  }
  const node = pattern as { readonly type?: unknown; readonly right?: unknown }
  if (node.type === "AssignmentPattern") found.push(node.right)
  for (const key of Object.keys(pattern)) if (key !== "right") defaultsIn((pattern as Record<string, unknown>)[key], found)
  return found
}

/**
 * What a parameter leaves out of the key. `read`: the names the parameters'
 * default values read; a `_` name one of them reads is data (the value the
 * key keeps is computed from it).
 */
const parameterOf = (pattern: Acorn.Pattern, read: ReadonlySet<string>): Parameter => {
  const target = pattern.type === "AssignmentPattern" ? pattern.left : pattern
  if (target.type === "Identifier") return leftOut(target.name) && !read.has(target.name) ? DROP : undefined
  if (target.type !== "ObjectPattern") return undefined
  const left: Array<string> = []
  // A field read by a nested pattern too (`{ _a, _a: { b } }`) is data.
  const kept = new Set<string>()
  for (const property of target.properties) {
    if (property.type !== "Property") continue
    const name = propertyName(property)
    if (name === undefined) continue
    // A nested pattern (`{ _a: { b } }`) reads inside the field: data.
    const value = property.value.type === "AssignmentPattern" ? property.value.left : property.value
    const local = value.type === "Identifier" ? value.name : undefined
    // Property keys are the caller's field names, which no compiler renames: the plain rule.
    if (isExcludedField(name) && local !== undefined && !read.has(local)) left.push(name)
    else kept.add(name)
  }
  const out = left.filter((name) => !kept.has(name))
  return out.length === 0 ? undefined : out
}

/**
 * The plan of a function, from its parameter list. `unreadableSource` marks a
 * function whose source is not its own (an `Effect.fn` wrapper).
 *
 * @internal
 */
export const planOf = (f: Function, unreadableSource = false): Plan => {
  if (unreadableSource) return unreadable
  let source: string
  try {
    source = Function.prototype.toString.call(f)
  } catch {
    return unreadable
  }
  const patterns = parametersOf(source)
  if (patterns === undefined) return unreadable
  const parameters: Array<Parameter> = []
  let dropFrom = Infinity
  let any = false
  // What default values read, across the whole list: `(_conn, region = _conn)` keeps `_conn`.
  const read = namesIn(defaultsIn(patterns))
  for (let i = 0; i < patterns.length; i++) {
    const pattern = patterns[i]!
    if (pattern.type === "RestElement") {
      if (pattern.argument.type === "Identifier" && leftOut(pattern.argument.name) && !read.has(pattern.argument.name)) {
        dropFrom = i
        any = true
      }
      break
    }
    const parameter = parameterOf(pattern, read)
    if (parameter !== undefined) any = true
    parameters.push(parameter)
  }
  return any ? { none: false, unreadable: false, parameters, dropFrom } : none
}

const describeError = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))

/** Sets `key` of a fresh object; a "__proto__" key stays a key. */
const put = (out: Record<PropertyKey, unknown>, key: PropertyKey, value: unknown): void => {
  if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  else out[key] = value
}

/**
 * A plain object without the `left` fields, which are never read: each other
 * own enumerable field (symbol-keyed ones too, which the hasher then judges)
 * is read once. Anything else is returned as it is.
 */
const without = (value: unknown, left: ReadonlyArray<string>, position: number): unknown => {
  if (typeof value !== "object" || value === null) return value
  let keys: Array<string>
  let symbols: Array<symbol>
  let prototype: object | null
  try {
    if (!isPlainObject(value)) return value
    prototype = Object.getPrototypeOf(value)
    keys = Object.keys(value)
    symbols = Object.getOwnPropertySymbols(value).filter((symbol) => Object.prototype.propertyIsEnumerable.call(value, symbol))
  } catch {
    // A revoked Proxy, or one whose traps throw: the hasher reports it, with its path.
    return value
  }
  const out: Record<PropertyKey, unknown> = prototype === null ? Object.create(null) : {}
  const source = value as Record<PropertyKey, unknown>
  let key: PropertyKey = ""
  try {
    for (key of keys) if (!left.includes(key)) put(out, key, source[key])
    for (key of symbols) out[key] = source[key]
  } catch (e) {
    throw new Hasher.Unhashable(value, [position, key], `reading it threw ${describeError(e)}`, "threw")
  }
  return out
}

/**
 * The arguments as the key sees them: without the left-out ones, and the
 * destructured plain objects without their left-out fields. The arguments
 * array itself when nothing is left out.
 *
 * @internal
 */
export const project = (plan: Plan, args: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
  if (plan.none) return args
  const { parameters, dropFrom } = plan
  const out: Array<unknown> = []
  const n = Math.min(args.length, dropFrom)
  for (let i = 0; i < n; i++) {
    const parameter = i < parameters.length ? parameters[i] : undefined
    if (parameter === undefined) out.push(args[i])
    else if (parameter !== DROP) out.push(without(args[i], parameter, i))
  }
  return out
}

/**
 * What the plan leaves out of the argument at `position`: all of it (`true`),
 * the fields it names when it is a plain object, or nothing (`undefined`).
 *
 * @internal
 */
export const leftOutAt = (plan: Plan, position: number): true | ReadonlyArray<string> | undefined => {
  if (plan.none) return undefined
  if (position >= plan.dropFrom) return true
  const parameter = plan.parameters[position]
  return parameter === DROP ? true : parameter
}

/** The position in the call of the `index`th projected argument. */
const positionOf = (plan: Plan, index: number): number => {
  for (let i = 0, kept = 0; ; i++) {
    if (plan.parameters[i] !== DROP) {
      if (kept === index) return i
      kept++
    }
  }
}

/**
 * A key function over the call's arguments, from one over the projected
 * arguments: the same function when nothing is left out and the names were
 * read. Errors name the argument by its position in the call, and say so when
 * the names could not be read.
 *
 * @internal
 */
export const keyed = (plan: Plan, key: (args: ReadonlyArray<unknown>) => string): ((args: ReadonlyArray<unknown>) => string) => {
  if (plan.none && !plan.unreadable) return key
  if (plan.unreadable) {
    return (args) => {
      try {
        return key(args)
      } catch (e) {
        if (e instanceof Hasher.Unhashable) throw new Hasher.Unhashable(e.value, e.path, e.issue, e.reason, true)
        throw e
      }
    }
  }
  return (args) => {
    // The projection's own errors name the call's positions already.
    const projected = project(plan, args)
    try {
      return key(projected)
    } catch (e) {
      if (!(e instanceof Hasher.Unhashable)) throw e
      const [head, ...rest] = e.path
      if (typeof head !== "number") throw e
      throw new Hasher.Unhashable(e.value, [positionOf(plan, head), ...rest], e.issue, e.reason)
    }
  }
}
