/** Value put in place of a redacted metadata value. */
export const REDACTED = '[REDACTED]'

const MAX_DEPTH = 6
const MAX_KEYS = 64
const MAX_STRING = 1024

/**
 * Makes a JSON-safe, redacted copy of event metadata, never throwing: circular references become
 * `"[Circular]"`, BigInt a string, functions and symbols a description, values under keys matching
 * `secretKey` `"[REDACTED]"` (nested too). A copy whose JSON exceeds `maxBytes` is replaced by
 * `{ "[truncated]": <original size>, preview: <first part of the JSON> }`.
 */
export function sanitizeMetadata(
  metadata: unknown,
  secretKey: RegExp,
  maxBytes: number,
): Readonly<Record<string, unknown>> | undefined {
  if (metadata === null || metadata === undefined) return undefined
  const budget = { left: maxBytes * 4 }
  let copy: unknown
  try {
    copy = copyValue(metadata, secretKey, 0, [], budget)
  } catch {
    return { '[unserialisable]': true }
  }
  const out = (
    copy !== null && typeof copy === 'object' && !Array.isArray(copy) ? copy : { value: copy }
  ) as Record<string, unknown>
  let json: string
  try {
    json = JSON.stringify(out)
  } catch {
    return { '[unserialisable]': true }
  }
  if (json.length <= maxBytes && budget.left > 0) return out
  return { '[truncated]': json.length, preview: json.slice(0, Math.max(0, maxBytes - 64)) }
}

function copyValue(
  v: unknown,
  secretKey: RegExp,
  depth: number,
  stack: object[],
  budget: { left: number },
): unknown {
  switch (typeof v) {
    case 'string':
      budget.left -= v.length
      return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v
    case 'number':
      budget.left -= 8
      return Number.isFinite(v) ? v : String(v)
    case 'boolean':
      return v
    case 'bigint':
      return `${v}n`
    case 'undefined':
      return null
    case 'function':
      return `[Function ${(v as { name?: string }).name || 'anonymous'}]`
    case 'symbol':
      return `[${String(v)}]`
  }
  if (v === null) return null
  const obj = v as object
  if (stack.includes(obj)) return '[Circular]'
  if (depth >= MAX_DEPTH || budget.left <= 0) return '[…]'
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString()
  if (obj instanceof Error) return { name: obj.name, message: obj.message }
  if (ArrayBuffer.isView(obj)) return `[${obj.constructor.name} ${obj.byteLength} bytes]`
  stack.push(obj)
  try {
    if (Array.isArray(obj)) {
      const n = Math.min(obj.length, MAX_KEYS)
      const arr: unknown[] = new Array(n)
      for (let i = 0; i < n; i++) arr[i] = copyValue(obj[i], secretKey, depth + 1, stack, budget)
      if (obj.length > n) arr.push(`[… ${obj.length - n} more]`)
      return arr
    }
    const out: Record<string, unknown> = {}
    let n = 0
    for (const key of Object.keys(obj)) {
      if (n++ >= MAX_KEYS) {
        out['[…]'] = 'more keys'
        break
      }
      budget.left -= key.length
      let value: unknown
      try {
        value = (obj as Record<string, unknown>)[key]
      } catch {
        value = '[Getter threw]'
      }
      out[key] = secretKey.test(key) ? REDACTED : copyValue(value, secretKey, depth + 1, stack, budget)
    }
    return out
  } finally {
    stack.pop()
  }
}
