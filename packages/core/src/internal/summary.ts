/**
 * A short, printable summary of a call's key arguments, for reporters and
 * spinners: `"Oslo", 2024` or `{ city: "Oslo", year: 2024 }`. It never
 * throws and never runs a getter, since arguments can be anything; what the
 * key leaves out (the `_` parameters, by the function's {@link Parameters.Plan})
 * is left out here too.
 */
import * as Parameters from "./parameters.ts"
import * as V from "./valueKinds.ts"

const maxLength = 60

/** @internal */
export const summarize = (args: ReadonlyArray<unknown>, plan?: Parameters.Plan): string => {
  let text: string
  try {
    const parts: Array<string> = []
    for (let i = 0; i < args.length; i++) {
      const left = plan === undefined ? undefined : Parameters.leftOutAt(plan, i)
      if (left !== true) parts.push(part(args[i], 0, left))
    }
    text = parts.join(", ")
  } catch {
    // A revoked Proxy, or a Proxy whose traps throw.
    return "…"
  }
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`
}

const part = (value: unknown, depth: number, left?: ReadonlyArray<string>): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > maxLength ? `${value.slice(0, maxLength)}…` : value)
    case "number":
    case "boolean":
    case "undefined":
      return String(value)
    case "bigint":
      return `${value}n`
    case "symbol":
      return value.toString()
    case "function":
      return "ƒ"
  }
  if (value === null) return "null"
  if (Array.isArray(value)) {
    if (depth > 0 || value.length > 8) return `[…${value.length}]`
    return `[${Array.from(value, (item) => part(item, depth + 1)).join(", ")}]`
  }
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) {
    // A secret is never shown, not even its label; Effect's data types by their kind's name.
    const kind = V.kindOf(value as object)
    if (kind === V.Kind.Redacted) return "<redacted>"
    if ((kind >= V.Kind.Option && kind <= V.Kind.Duration) || kind === V.Kind.BigDecimal) return V.kinds[kind].name
    return prototype?.constructor?.name ?? "object"
  }
  if (depth > 0) return "{…}"
  const fields: Array<string> = []
  for (const key of Object.keys(value as object)) {
    if (left?.includes(key)) continue
    // Enough for a summary of about 60 characters.
    if (fields.length === 8) {
      fields.push("…")
      break
    }
    const descriptor = Object.getOwnPropertyDescriptor(value, key)
    fields.push(`${key}: ${descriptor !== undefined && "value" in descriptor ? part(descriptor.value, depth + 1) : "…"}`)
  }
  return fields.length === 0 ? "{}" : `{ ${fields.join(", ")} }`
}
