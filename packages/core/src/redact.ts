import type { KeyShapes } from './ring-buffer.js'

/** Value put in place of a redacted metadata value. */
export const REDACTED = '[REDACTED]'

/**
 * Secrets recognised by their shape, whatever key holds them: an HTTP credential (`Bearer …`,
 * `Basic …`), the password of a URL (`postgres://user:secret@host`), a JWT, and `password=…`-style
 * pairs in free text such as an error message.
 */
const VALUE_SHAPES: readonly [RegExp, string][] = [
  [/\b(Bearer|Basic|Digest|Token|ApiKey)\s+[A-Za-z0-9._~+/=:-]+/gi, `$1 ${'[REDACTED]'}`],
  [/([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):([^\s/@]+)@/gi, `$1:${'[REDACTED]'}@`],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[REDACTED]'],
  // `password=…` (query strings, env dumps) and `"password": "…"` (JSON); a bare `token: x` is left
  // alone, since messages such as SQLite's `unrecognized token: "…"` use that shape for other things.
  [
    /\b((?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|auth|signature|sig)=)[^\s&;,"']+/gi,
    `$1${'[REDACTED]'}`,
  ],
  [
    /("(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|auth|signature)"\s*:\s*")[^"]*/gi,
    `$1${'[REDACTED]'}`,
  ],
]
// Cheap screen: a string with none of these cannot hold any of the shapes above.
const SUSPECT = /bearer|basic|digest|token|apikey|:\/\/|eyJ|[:=]/i

/**
 * Replaces secrets recognised by their shape in free text (`Bearer …`, a URL's password, a JWT,
 * `password=…`) with `[REDACTED]`. Used on metadata strings and on error messages of kept events.
 */
export function redactText(text: string): string {
  if (!SUSPECT.test(text)) return text
  let out = text
  for (const [re, replacement] of VALUE_SHAPES) out = out.replace(re, replacement)
  return out
}

/** True when `text` holds a secret recognised by its shape. */
function hasSecretShape(text: string): boolean {
  return SUSPECT.test(text) && redactText(text) !== text
}

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
  /**
   * Redacted form of strings that passed the cheap screen (an SQL text with `=`, a URL with a query):
   * the same string comes back on every kept event of its op, and the full scan is the dearest part of
   * keeping one. Strings are hashed once by the engine, so a hit is one lookup.
   */
  private readonly texts: Map<string, string> = new Map()

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
      const pairName = pairNameOf(out)
      const secretPair = pairName !== undefined && this.isSecret(pairName)
      for (const key in out) {
        const v = out[key]
        if (typeof v === 'string') {
          if (v.length > MAX_STRING) return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
          const text = SUSPECT.test(v) ? this.text(v) : v
          if (text !== v) out[key] = text
          size += text.length * 6 + 2
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
        if (this.isSecret(key) || (secretPair && key === 'value')) out[key] = REDACTED
      }
      return out
    } catch {
      return sanitizeMetadata(metadata, this.secretKey, this.maxBytes)
    }
  }

  /**
   * The flat case of {@link sanitize} without the copy: writes the redacted fields of a flat object
   * of short primitives into `values` (a scratch array the caller reuses; a number goes to `nums`,
   * unboxed, with `undefined` in `values`) and returns the id of its key shape in `shapes`, or -1 for
   * anything else (more than `max` fields, a nested value, a `__proto__` key, a string with a
   * secret's shape, a full shape table…), which the caller sanitizes instead. Same verdicts as
   * `sanitize`; the shapes carry each key's secret verdict, so a seen shape costs no lookup per key.
   */
  flatten(metadata: unknown, shapes: KeyShapes, values: unknown[], nums: Float64Array, max: number): number {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return -1
    try {
      const proto = Object.getPrototypeOf(metadata)
      if (proto !== Object.prototype && proto !== null) return -1
      const obj = metadata as Record<string, unknown>
      const secretPair = 'value' in obj && this.isSecretPair(obj)
      let size = 2
      let n = 0
      let shape = 0
      for (const key in obj) {
        // An inherited enumerable key (a polluted prototype) or `__proto__` take the copying path.
        // `hasOwnProperty` as the engine folds it inside a for-in over the same object (a map check);
        // `Object.hasOwn` is a call per key on Node 20 (about 130 instructions a kept event's key).
        // biome-ignore lint/suspicious/noPrototypeBuiltins: the form the engine folds (above)
        if (n === max || key === '__proto__' || !Object.prototype.hasOwnProperty.call(obj, key)) return -1
        shape = shapes.child(shape, key)
        if (shape < 0) return -1
        let v = obj[key]
        if (typeof v === 'string') {
          // The last string that passed at this field (a method, a route's path) is not tested again.
          if (v !== shapes.safe[shape]) {
            if (v.length > MAX_STRING) return -1
            if (SUSPECT.test(v)) {
              const text = this.text(v)
              if (text === v) shapes.safe[shape] = v
              v = text
            } else shapes.safe[shape] = v
          }
          size += (v as string).length * 6 + 2
        } else if (typeof v === 'number') {
          if (!Number.isFinite(v)) return -1
          size += 24
        } else if (typeof v === 'boolean' || v === null) {
          size += 5
        } else {
          return -1
        }
        size += key.length * 6 + 3
        if (size > this.maxBytes) return -1
        if (shapes.secret[shape] === 1 || (secretPair && key === 'value')) values[n] = REDACTED
        else if (typeof v === 'number') {
          nums[n] = v
          values[n] = undefined
        } else values[n] = v
        n++
      }
      return shape
    } catch {
      return -1
    }
  }

  /** {@link redactText}, remembered for the strings kept events repeat (bounded: cleared when full). */
  private text(v: string): string {
    let out = this.texts.get(v)
    if (out === undefined) {
      out = redactText(v)
      if (this.texts.size >= 1024) this.texts.clear()
      this.texts.set(v, out)
    }
    return out
  }

  private isSecretPair(obj: object): boolean {
    const name = pairNameOf(obj)
    return name !== undefined && this.isSecret(name)
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
      return redactText(v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v)
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
  if (obj instanceof Error) return { name: obj.name, message: redactText(obj.message) }
  if (ArrayBuffer.isView(obj)) return `[${obj.constructor.name} ${obj.byteLength} bytes]`
  stack.push(obj)
  try {
    if (Array.isArray(obj)) {
      const n = Math.min(obj.length, MAX_KEYS)
      const arr: unknown[] = new Array(n)
      for (let i = 0; i < n; i++) {
        // A header list (`['Authorization', 'Bearer s']`, Node's rawHeaders): the value after a
        // secret name is secret.
        const prev = i > 0 ? obj[i - 1] : undefined
        arr[i] =
          typeof prev === 'string' && prev.length <= 64 && secretKey.test(prev) && typeof obj[i] !== 'object'
            ? REDACTED
            : copyValue(obj[i], secretKey, depth + 1, stack, budget)
      }
      if (obj.length > n) arr.push(`[… ${obj.length - n} more]`)
      return arr
    }
    // Null prototype: a `__proto__` key (an own key after JSON.parse) stays data, not the copy's prototype.
    const out: Record<string, unknown> = Object.create(null)
    // A name/value pair (`{ name: 'Authorization', value: 'Bearer s' }`): the value of a secret name is secret.
    const pairName = pairNameOf(obj)
    const secretPair = pairName !== undefined && secretKey.test(pairName)
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
      out[key] =
        secretKey.test(key) || (secretPair && key === 'value')
          ? REDACTED
          : copyValue(value, secretKey, depth + 1, stack, budget)
    }
    return out
  } finally {
    stack.pop()
  }
}

function pairNameOf(obj: object): string | undefined {
  if (!('value' in obj)) return undefined
  const o = obj as { name?: unknown; key?: unknown; header?: unknown }
  try {
    for (const candidate of [o.name, o.key, o.header]) {
      if (typeof candidate === 'string' && candidate.length <= 64) return candidate
    }
  } catch {
    // A throwing getter: not a pair we can read.
  }
  return undefined
}

/**
 * Where metadata holds a secret or personal datum, as a path (`metadata.user.email`,
 * `metadata.headers[1]`), or `undefined` when it holds none: what `pii: 'reject'` throws about. Walks
 * the same keys, pairs and value shapes that {@link sanitizeMetadata} redacts.
 */
export function findSecret(metadata: unknown, secretKey: RegExp): string | undefined {
  const stack: object[] = []
  const walk = (v: unknown, path: string, depth: number): string | undefined => {
    if (typeof v === 'string') return hasSecretShape(v) ? path : undefined
    if (typeof v !== 'object' || v === null || depth >= MAX_DEPTH || stack.includes(v)) return undefined
    if (v instanceof Error) return hasSecretShape(v.message) ? `${path}.message` : undefined
    stack.push(v)
    try {
      if (Array.isArray(v)) {
        for (let i = 0; i < Math.min(v.length, MAX_KEYS); i++) {
          const prev = i > 0 ? v[i - 1] : undefined
          if (
            typeof prev === 'string' &&
            prev.length <= 64 &&
            secretKey.test(prev) &&
            typeof v[i] !== 'object'
          ) {
            return `${path}[${i}]`
          }
          const found = walk(v[i], `${path}[${i}]`, depth + 1)
          if (found !== undefined) return found
        }
        return undefined
      }
      const pairName = pairNameOf(v)
      if (pairName !== undefined && secretKey.test(pairName)) return `${path}.value`
      for (const key of Object.keys(v).slice(0, MAX_KEYS)) {
        if (secretKey.test(key)) return `${path}.${key}`
        let value: unknown
        try {
          value = (v as Record<string, unknown>)[key]
        } catch {
          continue
        }
        const found = walk(value, `${path}.${key}`, depth + 1)
        if (found !== undefined) return found
      }
      return undefined
    } finally {
      stack.pop()
    }
  }
  return walk(metadata, 'metadata', 0)
}
