/**
 * Typed arrays as Schemas, for generating them (./arbitrary.ts) and for
 * `value` schemas: Effect 4.1 has `Schema.Uint8Array` only, so each is
 * declared from a JSON array of numbers.
 */
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

/** A Float64Array kept as a JSON array of numbers (NaN, -0 and the infinities included). */
export const Float64 = Schema.Array(Schema.Number).pipe(
  Schema.decodeTo(
    Schema.instanceOf(Float64Array),
    SchemaTransformation.transform<Float64Array<ArrayBuffer>, ReadonlyArray<number>>({
      decode: (numbers) => Float64Array.from(numbers),
      encode: (array) => Array.from(array)
    })
  )
)

/** An Int32Array kept as a JSON array of integers. */
export const Int32 = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: -(2 ** 31), maximum: 2 ** 31 - 1 }))).pipe(
  Schema.decodeTo(
    Schema.instanceOf(Int32Array),
    SchemaTransformation.transform<Int32Array<ArrayBuffer>, ReadonlyArray<number>>({
      decode: (numbers) => Int32Array.from(numbers),
      encode: (array) => Array.from(array)
    })
  )
)
