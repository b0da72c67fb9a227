const PLAIN_ID = /^[A-Za-z0-9._-]{1,128}$/

/**
 * The request id to use for an incoming request: the client's `X-Request-ID` when it is 1–128
 * characters of `[A-Za-z0-9._-]` (and sent once), otherwise a fresh `crypto.randomUUID()`.
 */
export function requestIdFrom(incoming: unknown): string {
  if (typeof incoming === 'string' && incoming.length <= 128 && PLAIN_ID.test(incoming)) return incoming
  return newRequestId()
}

let counter = 0

/** A fresh request id (`crypto.randomUUID()` where the runtime has it). */
export function newRequestId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (typeof c?.randomUUID === 'function') return c.randomUUID()
  counter = (counter + 1) % 0x7fffffff
  return `${Date.now().toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 10)}`
}
