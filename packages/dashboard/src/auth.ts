import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/** Name of the cookie the login form sets. */
export const SESSION_COOKIE = 'perf_admin'

/**
 * Compares two secrets in constant time. Both sides are hashed first, so secrets of different
 * lengths compare (unequal) in the same time and never throw.
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest()
  const hb = createHash('sha256').update(b, 'utf8').digest()
  return timingSafeEqual(ha, hb)
}

/**
 * The cookie value for a token: an HMAC of a fixed label keyed by the token, so the cookie never
 * holds the token itself and changing the token invalidates every session.
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('perf-dashboard-session-v1').digest('base64url')
}

/** The bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}

/** One cookie's value from a `Cookie` header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (header === null) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** Whether the request carries the token, as a bearer header or as the session cookie. */
export function hasToken(request: Request, token: string): boolean {
  const bearer = bearerToken(request.headers.get('authorization'))
  if (bearer !== undefined && safeEqual(bearer, token)) return true
  const cookie = readCookie(request.headers.get('cookie'), SESSION_COOKIE)
  return cookie !== undefined && safeEqual(cookie, sessionValue(token))
}

/** Whether an address is the loopback interface (IPv4 127/8, IPv6 ::1, or IPv4-mapped loopback). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false
  const a = address.toLowerCase()
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

/**
 * Whether a state-changing request comes from the page itself: its `Origin` must be present and name
 * the host the request was sent to. Blocks cross-site form posts (CSRF) even with the cookie.
 */
export function sameOrigin(request: Request): boolean {
  const origin = request.headers.get('origin')
  if (origin === null || origin === 'null') return false
  let originHost: string
  try {
    originHost = new URL(origin).host
  } catch {
    return false
  }
  const host = request.headers.get('host') ?? new URL(request.url).host
  return originHost.toLowerCase() === host.toLowerCase()
}
