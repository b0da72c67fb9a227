import { coded } from './errors.js'
import { randomWords, processEnv } from './runtime.js'
import type { WebHandlerInfo } from './http.js'
import type { Monitor } from './monitor.js'

/** Shortest admin or scrape token accepted: 16 characters, so guessing is hopeless even unthrottled. */
export const MIN_TOKEN_LENGTH = 16
/** Longest admin or scrape token accepted. */
export const MAX_TOKEN_LENGTH = 1024
/** Default lifetime of a dashboard session: a working day (8 hours), from sign-in, not sliding. */
export const DEFAULT_SESSION_TTL_MS: number = 8 * 3_600_000
/** Type under which {@link AdminAuth} counts in `monitor.count`: `failed`, `throttled`, `throttleEvicted`. */
export const ADMIN_AUTH_COUNTER_TYPE = 'admin_auth'

/** Failed sign-ins an address may make before each further failure blocks it for a while. */
const FREE_FAILURES = 5
const FIRST_BLOCK_MS = 1000
const MAX_BLOCK_MS = 15 * 60_000
/** An address with no failure for this long starts afresh. */
const FORGET_MS = 60 * 60_000
/** Addresses the throttle remembers; past this the least recently failing one is forgotten (counted). */
const MAX_THROTTLE_ENTRIES = 10_000
/** Signed-out sessions remembered; past this every session issued so far is ended instead. */
const MAX_REVOKED = 10_000
const SESSION_RANGE = { min: 60_000, max: 30 * 86_400_000 }
const TOKEN_CHARS = /^[\x21-\x7e]+$/
const SESSION_VALUE = /^([0-9a-z]{1,11})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/

type Env = Readonly<Record<string, string | undefined>>

const encoder = new TextEncoder()

/**
 * The token an option or, when the option is `undefined`, an environment variable gives: `false`, an
 * unset or blank variable give none. Surrounding whitespace is removed (the trailing newline of a
 * secret file); what is left must be {@link MIN_TOKEN_LENGTH} to {@link MAX_TOKEN_LENGTH} visible
 * ASCII characters, the same rule wherever a token is used, so one value works for the dashboard,
 * `/metrics` and a bearer header. Throws a `TypeError`/`RangeError` naming the call and the option
 * or variable (never the value: it is a secret).
 */
export function resolveToken(
  call: string,
  optionName: string,
  option: unknown,
  env: Env,
  envName: string,
): string | undefined {
  if (option === false) return undefined
  let label: string
  let value: unknown
  if (option !== undefined) {
    label = `options.${optionName}`
    value = option
    if (typeof value !== 'string') {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(
          `${call}: ${label} must be a string (the token) or false (none), got ${value === null ? 'null' : typeof value}`,
        ),
      )
    }
  } else {
    label = envName
    value = env[envName]
    if (value === undefined || (value as string).trim() === '') return undefined
  }
  const token = (value as string).trim()
  if (token === '') {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `${call}: ${label} is empty; pass false for no token, or leave it undefined to read ${envName}`,
      ),
    )
  }
  if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH) {
    const n = token.length
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `${call}: ${label} is ${n} character${n === 1 ? '' : 's'} long; a token must be ${MIN_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters (make one with: openssl rand -base64 24)`,
      ),
    )
  }
  if (!TOKEN_CHARS.test(token)) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${call}: ${label} must be visible ASCII characters without spaces or control characters (it is sent in an Authorization header)`,
      ),
    )
  }
  return token
}

/** The bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}

/**
 * Whether a `Host` names the loopback interface: `localhost`, an IPv4 address in 127/8 or `[::1]`,
 * with or without a port. A DNS-rebinding page reaches a local server under its own name, so this,
 * not the socket address alone, tells a local browser tab from a rebound one.
 */
export function isLoopbackHost(host: string | null | undefined): boolean {
  if (host === null || host === undefined) return false
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(host.trim())
  if (m === null) return false
  const name = m[1]!.toLowerCase()
  if (name === 'localhost' || name === '[::1]' || name === '[0:0:0:0:0:0:0:1]') return true
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
}

/** Whether an address is the loopback interface (IPv4 127/8, IPv6 ::1, or IPv4-mapped loopback). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false
  const a = address.toLowerCase()
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

/** A request's scheme and host as the browser saw them. */
export interface RequestOrigin {
  /** `http:` or `https:`. */
  readonly protocol: string
  /** Host and port, lower case; empty when unknown. */
  readonly host: string
  /** Whether the protocol came from `X-Forwarded-Proto` (so an Origin's scheme can be compared too). */
  readonly forwarded: boolean
}

/** Options of {@link createAdminAuth}. */
export interface AdminAuthOptions {
  /** Name of the call, for error messages (`createDashboard`). */
  readonly call: string
  /** Where failures are counted (`monitor.count('admin_auth', …)`) and whose throttle is shared. */
  readonly monitor: Monitor
  /** The admin token; `undefined` reads `PERF_ADMIN_TOKEN`, `false` means none. */
  readonly token?: string | false | undefined
  /** A token that may only read metrics; `undefined` reads `PERF_SCRAPE_TOKEN`, `false` means none. */
  readonly scrapeToken?: string | false | undefined
  /** Where the variables are read from. Default `process.env` where it exists. */
  readonly env?: Env | undefined
  /**
   * Believe `X-Forwarded-Host`, `X-Forwarded-Proto` and `X-Forwarded-For` (their last value, the one
   * the proxy in front of this server wrote). Only when every request comes through that proxy.
   */
  readonly trustProxy?: boolean | undefined
  /** Lifetime of a session from sign-in, in ms. Default {@link DEFAULT_SESSION_TTL_MS}. */
  readonly sessionTtlMs?: number | undefined
}

/** What a request's credentials are worth. */
export type Credential =
  /** The admin token, or a live session. */
  | 'admin'
  /** The scrape token: metrics only. */
  | 'scrape'
  /** A token was sent and is wrong (counted as a failed sign-in). */
  | 'wrong'
  /** A token was sent from an address blocked after failed sign-ins; it was not even compared. */
  | 'throttled'
  /** No credentials. */
  | 'none'

/** What to look at in {@link AdminAuth.check}. */
export interface CheckOptions {
  /** A session value (from a cookie), if the caller has one. */
  readonly session?: string | undefined
}

/** The result of {@link AdminAuth.signIn}. */
export type SignInResult =
  | { readonly ok: true; readonly session: string; readonly maxAgeSeconds: number }
  | { readonly ok: false; readonly retryAfterSeconds?: number }

/**
 * Admin authentication shared by the dashboard and `/metrics`: one token rule, constant-time
 * comparison (WebCrypto HMAC with a per-process key, so any length compares in the same time),
 * sessions with an issue time and an expiry that sign-out ends, and a per-address throttle on failed
 * sign-ins whose table is bounded. Web-standard: runs wherever `crypto.subtle` exists.
 */
export interface AdminAuth {
  /** Whether an admin token is configured. */
  readonly hasToken: boolean
  /** Whether a scrape token is configured. */
  readonly hasScrapeToken: boolean
  /** Whether forwarded headers are believed. */
  readonly trustProxy: boolean
  /** Session lifetime in ms. */
  readonly sessionTtlMs: number
  /** Checks a bearer header, then `options.session`. */
  check(request: Request, info: WebHandlerInfo | undefined, options?: CheckOptions): Promise<Credential>
  /** Checks a token typed into a sign-in form and, when right, issues a session. */
  signIn(given: string, request: Request, info: WebHandlerInfo | undefined): Promise<SignInResult>
  /**
   * Redeems a one-time sign-in code from {@link createSignInCode} and, when it is live, issues a
   * session (the code is spent). A wrong code counts and throttles like a wrong token.
   */
  redeemCode(given: string, request: Request, info: WebHandlerInfo | undefined): Promise<SignInResult>
  /** Ends a session (when its value is genuine); later checks of it fail in this process. */
  signOut(session: string | undefined): Promise<void>
  /** Seconds until a blocked client may try a token again, or 0. */
  retryAfterSeconds(request: Request, info: WebHandlerInfo | undefined): number
  /**
   * Like {@link AdminAuth.retryAfterSeconds}, for a caller about to refuse the attempt without
   * reading it (a sign-in form's body): a non-zero answer is counted as a throttled attempt.
   */
  refuseIfBlocked(request: Request, info: WebHandlerInfo | undefined): number
  /** The scheme and host the browser used (forwarded ones only with `trustProxy`). */
  origin(request: Request): RequestOrigin
  /** Whether the request's `Origin` header names the host it was sent to (see {@link AdminAuth.origin}). */
  sameOrigin(request: Request): boolean
  /** The client's address (the socket's, or the proxy's `X-Forwarded-For` with `trustProxy`). */
  clientAddress(request: Request, info: WebHandlerInfo | undefined): string | undefined
}

/**
 * Creates the {@link AdminAuth} of a dashboard or a metrics handler. Throws on an invalid token
 * (see {@link resolveToken}), a scrape token equal to the admin token, or a session lifetime out of
 * range (1 minute to 30 days).
 */
export function createAdminAuth(options: AdminAuthOptions): AdminAuth {
  const { call, monitor } = options
  const env = options.env ?? processEnv()
  const token = resolveToken(call, 'token', options.token, env, 'PERF_ADMIN_TOKEN')
  const scrape = resolveToken(call, 'scrapeToken', options.scrapeToken, env, 'PERF_SCRAPE_TOKEN')
  if (token !== undefined && scrape !== undefined && token === scrape) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${call}: the scrape token (scrapeToken / PERF_SCRAPE_TOKEN) must differ from the admin token, or a scraper could sign in to the dashboard`,
      ),
    )
  }
  const trustProxy = options.trustProxy ?? false
  if (typeof trustProxy !== 'boolean') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`${call}: options.trustProxy must be true or false, got ${String(trustProxy)}`),
    )
  }
  const ttl = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS
  if (
    typeof ttl !== 'number' ||
    !Number.isInteger(ttl) ||
    ttl < SESSION_RANGE.min ||
    ttl > SESSION_RANGE.max
  ) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `${call}: options.sessionTtlMs must be an integer from ${SESSION_RANGE.min} (1 minute) to ${SESSION_RANGE.max} (30 days), got ${String(ttl)}`,
      ),
    )
  }
  const throttle = throttleFor(monitor)
  const tokenMac = token === undefined ? undefined : compareMac(token)
  const scrapeMac = scrape === undefined ? undefined : compareMac(scrape)
  const sessionKey = token === undefined ? undefined : importSessionKey(token)

  const count = (name: string): void => {
    try {
      monitor.count(ADMIN_AUTH_COUNTER_TYPE, name)
    } catch {
      // A closed or odd monitor must not turn a refusal into a 500.
    }
  }
  const clientKey = (request: Request, info: WebHandlerInfo | undefined): string =>
    throttleKey(clientAddress(request, info))
  const clientAddress = (request: Request, info: WebHandlerInfo | undefined): string | undefined => {
    if (trustProxy) {
      const forwarded = lastValue(request.headers.get('x-forwarded-for'))
      if (forwarded !== undefined) return forwarded
    }
    return info?.remoteAddress
  }

  /** Compares a sent token with the admin and scrape tokens; counts and throttles a wrong one. */
  const compare = async (
    sent: string,
    key: string,
    acceptScrape: boolean,
  ): Promise<'admin' | 'scrape' | 'wrong' | 'throttled'> => {
    const now = Date.now()
    if (throttle.blockedFor(key, now) > 0) {
      count('throttled')
      return 'throttled'
    }
    const mac = await compareMac(sent)
    if (tokenMac !== undefined && constantTimeEqual(mac, await tokenMac)) {
      throttle.succeed(key)
      return 'admin'
    }
    if (acceptScrape && scrapeMac !== undefined && constantTimeEqual(mac, await scrapeMac)) {
      throttle.succeed(key)
      return 'scrape'
    }
    count('failed')
    if (throttle.fail(key, now)) count('throttleEvicted')
    return 'wrong'
  }

  const verifySession = async (value: string): Promise<{ iat: number; sid: string } | undefined> => {
    if (sessionKey === undefined) return undefined
    const m = SESSION_VALUE.exec(value)
    if (m === null) return undefined
    const iat = Number.parseInt(m[1]!, 36)
    const sid = m[2]!
    const mac = await hmac(await sessionKey, sessionPayload(iat, sid))
    if (!constantTimeEqual(base64url(mac), m[3]!)) return undefined
    return { iat, sid }
  }

  const issueSession = async (): Promise<SignInResult> => {
    if (sessionKey === undefined) return { ok: false }
    const iat = Date.now()
    const sid = base64url(new Uint8Array(randomWords(4, true).buffer))
    const mac = base64url(await hmac(await sessionKey, sessionPayload(iat, sid)))
    return { ok: true, session: `${iat.toString(36)}.${sid}.${mac}`, maxAgeSeconds: Math.floor(ttl / 1000) }
  }

  return {
    hasToken: token !== undefined,
    hasScrapeToken: scrape !== undefined,
    trustProxy,
    sessionTtlMs: ttl,
    async check(request, info, checkOptions = {}) {
      const sent = bearerToken(request.headers.get('authorization'))
      if (sent !== undefined && (tokenMac !== undefined || scrapeMac !== undefined)) {
        const verdict = await compare(sent, clientKey(request, info), scrapeMac !== undefined)
        // A wrong bearer is not rescued by a cookie: the client said who it is.
        return verdict
      }
      const session = checkOptions.session
      if (session !== undefined && session !== '') {
        const s = await verifySession(session)
        if (s !== undefined && revocations.live(s.sid, s.iat, ttl, Date.now())) return 'admin'
      }
      return 'none'
    },
    async signIn(given, request, info) {
      const key = clientKey(request, info)
      if (token === undefined || sessionKey === undefined) return { ok: false }
      const verdict = await compare(given, key, false)
      if (verdict === 'throttled') return { ok: false, retryAfterSeconds: retryAfter(key) }
      if (verdict !== 'admin') return { ok: false }
      return issueSession()
    },
    async redeemCode(given, request, info) {
      const key = clientKey(request, info)
      if (sessionKey === undefined) return { ok: false }
      const now = Date.now()
      if (throttle.blockedFor(key, now) > 0) {
        count('throttled')
        return { ok: false, retryAfterSeconds: retryAfter(key) }
      }
      if (await signInCodesFor(monitor).redeem(given, now)) {
        throttle.succeed(key)
        return issueSession()
      }
      count('failed')
      if (throttle.fail(key, now)) count('throttleEvicted')
      return { ok: false }
    },
    async signOut(session) {
      if (session === undefined) return
      const s = await verifySession(session)
      if (s !== undefined) revocations.revoke(s.sid, s.iat + ttl, Date.now())
    },
    retryAfterSeconds(request, info) {
      return retryAfter(clientKey(request, info))
    },
    refuseIfBlocked(request, info) {
      const wait = retryAfter(clientKey(request, info))
      if (wait > 0) count('throttled')
      return wait
    },
    origin(request) {
      return requestOrigin(request, trustProxy)
    },
    sameOrigin(request) {
      const origin = request.headers.get('origin')
      if (origin === null || origin === 'null') return false
      let parsed: URL
      try {
        parsed = new URL(origin)
      } catch {
        return false
      }
      const expected = requestOrigin(request, trustProxy)
      if (expected.host === '' || parsed.host.toLowerCase() !== expected.host) return false
      return !expected.forwarded || parsed.protocol === expected.protocol
    },
    clientAddress,
  }

  function retryAfter(key: string): number {
    return Math.ceil(throttle.blockedFor(key, Date.now()) / 1000)
  }
}

function requestOrigin(request: Request, trustProxy: boolean): RequestOrigin {
  const url = new URL(request.url)
  let host = request.headers.get('host') ?? url.host
  let protocol = url.protocol
  let forwarded = false
  if (trustProxy) {
    const fHost = lastValue(request.headers.get('x-forwarded-host'))
    if (fHost !== undefined) host = fHost
    const fProto = lastValue(request.headers.get('x-forwarded-proto'))?.toLowerCase()
    if (fProto === 'https' || fProto === 'http') {
      protocol = `${fProto}:`
      forwarded = true
    }
  }
  return { protocol, host: host.trim().toLowerCase(), forwarded }
}

/** The last entry of a comma-separated forwarded header: the one the nearest proxy wrote. */
function lastValue(header: string | null): string | undefined {
  if (header === null) return undefined
  const comma = header.lastIndexOf(',')
  const value = (comma < 0 ? header : header.slice(comma + 1)).trim()
  return value === '' ? undefined : value
}

/** IPv4 as is; IPv6 by its /64, since one client holds a whole /64. */
function throttleKey(address: string | undefined): string {
  if (address === undefined) return 'unknown'
  const a = address.toLowerCase()
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7)
  if (!a.includes(':')) return a
  const [head = '', tail = ''] = a.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = a.includes('::')
    ? [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

interface ThrottleEntry {
  failures: number
  blockedUntil: number
  lastFailure: number
}

/**
 * Failed sign-ins per client: the first few are free, then each failure blocks the address for twice
 * as long as the last (1 s up to 15 min). A success forgets the address. The table is a `Map` bounded
 * at {@link MAX_THROTTLE_ENTRIES}, oldest failure evicted first (an attacker with that many addresses
 * gets their free attempts anyway).
 */
class SignInThrottle {
  readonly entries: Map<string, ThrottleEntry> = new Map()

  blockedFor(key: string, now: number): number {
    const e = this.entries.get(key)
    if (e === undefined) return 0
    if (now - e.lastFailure > FORGET_MS) {
      this.entries.delete(key)
      return 0
    }
    return Math.max(0, e.blockedUntil - now)
  }

  /** Records a failure; returns whether another address had to be forgotten to make room. */
  fail(key: string, now: number): boolean {
    let e = this.entries.get(key)
    let evicted = false
    if (e === undefined) {
      if (this.entries.size >= MAX_THROTTLE_ENTRIES) {
        const oldest = this.entries.keys().next().value
        if (oldest !== undefined) this.entries.delete(oldest)
        evicted = true
      }
      e = { failures: 0, blockedUntil: 0, lastFailure: now }
    } else {
      // Re-inserting keeps the Map ordered by last failure, so eviction takes the stalest.
      this.entries.delete(key)
    }
    e.failures++
    e.lastFailure = now
    if (e.failures > FREE_FAILURES) {
      const doublings = Math.min(e.failures - FREE_FAILURES - 1, 20)
      e.blockedUntil = now + Math.min(FIRST_BLOCK_MS * 2 ** doublings, MAX_BLOCK_MS)
    }
    this.entries.set(key, e)
    return evicted
  }

  succeed(key: string): void {
    this.entries.delete(key)
  }
}

const throttles = new WeakMap<object, SignInThrottle>()

/** One throttle per monitor, so the dashboard and `/metrics` of one app count failures together. */
function throttleFor(monitor: object): SignInThrottle {
  let t = throttles.get(monitor)
  if (t === undefined) {
    t = new SignInThrottle()
    throttles.set(monitor, t)
  }
  return t
}

/**
 * Sessions ended by sign-out, per process. A session is otherwise stateless (signed with a key
 * derived from the token), so it works on every worker of a cluster and across restarts; what only
 * this process knows is which were signed out. Bounded: entries leave when the session would have
 * expired anyway, and if the set is still full, every session issued so far is ended instead.
 */
class Revocations {
  readonly ended: Map<string, number> = new Map()
  notBefore = 0

  live(sid: string, iat: number, ttl: number, now: number): boolean {
    if (iat < this.notBefore || now >= iat + ttl || iat > now + 60_000) return false
    return !this.ended.has(sid)
  }

  revoke(sid: string, expires: number, now: number): void {
    if (this.ended.size >= MAX_REVOKED) {
      for (const [id, until] of this.ended) if (until <= now) this.ended.delete(id)
    }
    if (this.ended.size >= MAX_REVOKED) {
      this.ended.clear()
      this.notBefore = now + 1
      return
    }
    this.ended.set(sid, expires)
  }
}

const revocations = new Revocations()

/** Live one-time codes a registry holds at most; minting past it forgets the oldest. */
const MAX_SIGN_IN_CODES = 64
/** Lifetime of a sign-in code: default, and the accepted range. */
export const DEFAULT_SIGN_IN_CODE_TTL_MS: number = 10 * 60_000
const CODE_TTL_RANGE = { min: 10_000, max: 24 * 3_600_000 }
const CODE_CHARS = /^[A-Za-z0-9_-]{43}$/

/**
 * One-time sign-in codes of one monitor. Only their keyed MACs are kept, and a given code is compared
 * with each in constant time, so neither the table nor the timing gives a code away.
 */
class SignInCodes {
  private codes: { mac: Uint8Array; expires: number }[] = []

  async mint(ttlMs: number): Promise<string> {
    const code = base64url(new Uint8Array(randomWords(8, true).buffer))
    const now = Date.now()
    this.codes = this.codes.filter((c) => c.expires > now)
    if (this.codes.length >= MAX_SIGN_IN_CODES) this.codes.shift()
    this.codes.push({ mac: await compareMac(code), expires: now + ttlMs })
    return code
  }

  /** Whether `given` is a live code; a live one is spent. */
  async redeem(given: string, now: number): Promise<boolean> {
    this.codes = this.codes.filter((c) => c.expires > now)
    if (!CODE_CHARS.test(given)) return false
    const mac = await compareMac(given)
    let found = -1
    for (let i = 0; i < this.codes.length; i++) if (constantTimeEqual(mac, this.codes[i]!.mac)) found = i
    if (found < 0) return false
    this.codes.splice(found, 1)
    return true
  }
}

const signInCodes = new WeakMap<object, SignInCodes>()

function signInCodesFor(monitor: object): SignInCodes {
  let c = signInCodes.get(monitor)
  if (c === undefined) {
    c = new SignInCodes()
    signInCodes.set(monitor, c)
  }
  return c
}

/**
 * Mints a one-time sign-in code for the dashboards of `monitor`: `GET <dashboard>/login?code=<code>`
 * signs the browser in (the normal session cookie) and redirects to the page, once, within `ttlMs`
 * (default 10 minutes). For a script or a screenshot tool that has no session, and for a link a
 * service prints at start. Only dashboards with an admin token accept codes; a wrong code counts and
 * throttles like a wrong token. Codes live in this process's memory. Bad arguments throw at once
 * (not as a rejected promise).
 *
 * @example
 * const code = await createSignInCode(monitor)
 * console.log(`http://localhost:3000/admin/performance/login?code=${code}`)
 */
export function createSignInCode(
  monitor: Monitor,
  options: { readonly ttlMs?: number | undefined } = {},
): Promise<string> {
  if (monitor === null || typeof monitor !== 'object' || typeof monitor.snapshot !== 'function') {
    throw coded(
      'PERF_INVALID_ARGUMENT',
      new TypeError('createSignInCode(monitor, options): monitor must be a monitor from createMonitor()'),
    )
  }
  const ttl = options?.ttlMs ?? DEFAULT_SIGN_IN_CODE_TTL_MS
  if (
    typeof ttl !== 'number' ||
    !Number.isInteger(ttl) ||
    ttl < CODE_TTL_RANGE.min ||
    ttl > CODE_TTL_RANGE.max
  ) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `createSignInCode(monitor, options): options.ttlMs must be an integer from ${CODE_TTL_RANGE.min} (10 s) to ${CODE_TTL_RANGE.max} (24 h), got ${typeof ttl === 'string' ? JSON.stringify(ttl) : String(ttl)}`,
      ),
    )
  }
  return signInCodesFor(monitor).mint(ttl)
}

function sessionPayload(iat: number, sid: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`perf-session-v2.${iat}.${sid}`)
}

function importSessionKey(token: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    'raw',
    encoder.encode(`perf-session-key-v2.${token}`),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
}

let compareKey: Promise<CryptoKey> | undefined

/**
 * An HMAC of a secret under a random per-process key: comparing two of these compares the secrets in
 * the same time whatever their lengths, and says nothing an attacker could use offline.
 */
async function compareMac(secret: string): Promise<Uint8Array> {
  compareKey ??= crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return hmac(await compareKey, encoder.encode(secret))
}

async function hmac(key: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, data))
}

/**
 * Compares two byte arrays or two strings without an early exit (every position is visited, and a
 * length difference only sets a bit).
 */
export function constantTimeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const x = typeof a === 'string' ? encoder.encode(a) : a
  const y = typeof b === 'string' ? encoder.encode(b) : b
  let diff = x.length ^ y.length
  const n = Math.max(x.length, y.length)
  for (let k = 0; k < n; k++) diff |= (x[k] ?? 0) ^ (y[k] ?? 0)
  return diff === 0
}

function base64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
