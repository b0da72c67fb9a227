/** Name of the cookie the login form sets. */
export const SESSION_COOKIE = 'perf_admin'

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

/**
 * The `Set-Cookie` value of a session (or, with an empty value and `maxAge` 0, of its removal):
 * HttpOnly, SameSite=Strict, scoped to the dashboard's path, `Secure` when the browser used https.
 */
export function sessionCookie(value: string, root: string, secure: boolean, maxAge: number): string {
  // Without the trailing slash the cookie also goes with the root asked for without one.
  const path = root.length > 1 ? root.slice(0, -1) : '/'
  const cookiePath = /^[\x21-\x7e]+$/.test(path) && !path.includes(';') ? path : '/'
  return `${SESSION_COOKIE}=${value}; Path=${cookiePath}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`
}

/**
 * Whether a request carries a forwarding header: then the loopback socket is a proxy's, and the
 * client may be anywhere.
 */
export function isForwarded(request: Request): boolean {
  const h = request.headers
  return h.has('forwarded') || h.has('x-forwarded-for') || h.has('x-forwarded-host') || h.has('x-real-ip')
}
