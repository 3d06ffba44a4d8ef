/**
 * A short, printable summary of a call's key arguments, for reporters and
 * spinners: `"Oslo", 2024` or `{ city: "Oslo", year: 2024 }`. It never
 * throws and never runs a getter, since arguments can be anything; `_`
 * fields are left out, as they are left out of the key.
 */
import { isExcludedField } from "./canonical.ts"

const maxLength = 60

/** @internal */
export const summarize = (args: ReadonlyArray<unknown>): string => {
  let text: string
  try {
    text = args.map((arg) => part(arg, 0)).join(", ")
  } catch {
    // A revoked Proxy, or a Proxy whose traps throw.
    return "…"
  }
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`
}

const part = (value: unknown, depth: number): string => {
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
  if (prototype !== Object.prototype && prototype !== null) return prototype?.constructor?.name ?? "object"
  if (depth > 0) return "{…}"
  const fields: Array<string> = []
  for (const key of Object.keys(value as object)) {
    if (isExcludedField(key)) continue
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
