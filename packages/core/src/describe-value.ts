/**
 * A bad value as an error message quotes it: a string quoted and cut at 40 characters, a number,
 * boolean, `null` or `undefined` as written, anything else by its kind only, because an object's
 * contents can be large or secret and a message must stay one short line.
 */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v)
  if (typeof v === 'bigint') return `${v}n`
  if (Array.isArray(v)) return 'an array'
  return typeof v
}
