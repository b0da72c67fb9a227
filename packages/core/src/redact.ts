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

/**
 * Sanitises metadata for one monitor, with a fast path for the common case — a flat object of short
 * primitives — that skips the deep copy and the JSON size check, and a cache of which keys are secret.
 */
export class Redactor {
  private readonly secretKey: RegExp
  private readonly maxBytes: number
  private readonly verdicts: Map<string, boolean> = new Map()

  constructor(secretKey: RegExp, maxBytes: number) {
    this.secretKey = secretKey
    this.maxBytes = maxBytes
  }

  /** Same result as {@link sanitizeMetadata}, faster for flat metadata. */
  sanitize(metadata: unknown): Readonly<Record<string, unknown>> | undefined {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
    }
    try {
      const proto = Object.getPrototypeOf(metadata)
      if (proto !== Object.prototype && proto !== null)
        return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
      // Spread first (the engine clones a plain object fast, reading each getter once), then check
      // and redact the copy in place.
      const out: Record<string, unknown> = { ...(metadata as Record<string, unknown>) }
      // Upper bound on the JSON size: every character may escape to at most 6 (\uXXXX).
      let size = 2
      let n = 0
      for (const key in out) {
        const v = out[key]
        if (typeof v === 'string') {
          if (v.length > MAX_STRING) return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
          size += v.length * 6 + 2
        } else if (typeof v === 'number') {
          if (!Number.isFinite(v)) return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
          size += 24
        } else if (typeof v === 'boolean' || v === null) {
          size += 5
        } else {
          return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
        }
        size += key.length * 6 + 3
        if (++n > MAX_KEYS || size > this.maxBytes)
          return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
        if (this.isSecret(key)) out[key] = REDACTED
      }
      return out
    } catch {
      return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
    }
  }

  private isSecret(key: string): boolean {
    let verdict = this.verdicts.get(key)
    if (verdict === undefined) {
      verdict = this.secretKey.test(key)
      if (this.verdicts.size < 4096) this.verdicts.set(key, verdict)
    }
    return verdict
  }
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
