import {
  checkOptionKeys,
  checkNumber,
  createAdminAuth,
  emitPerfWarning,
  isLoopbackAddress,
  isLoopbackHost,
  type Monitor,
  type Snapshot,
  type WebHandlerInfo,
} from '@perf/core'
import { monitorInternals } from '@perf/core/http'
import { loadAsset } from './assets.js'
import { isForwarded, readCookie, SESSION_COOKIE, sessionCookie } from './auth.js'
import { canCompare, compareView, releaseMarkers } from './compare.js'
import {
  bucketRows,
  type HistoryResult,
  type HistoryRow,
  type HistoryStore,
  MAX_POINTS,
  parseHistoryRange,
  sampleSeries,
} from './history.js'
import { dashboardPage, disabledPage, loginPage, messagePage, notConfiguredPage } from './pages.js'
import { Timeline } from './timeline.js'
import { buildView, type DashboardView } from './view.js'

/**
 * What the server tells the dashboard besides the request: the socket's address (never a forwarded
 * header) and the path it is mounted at, when the request URL is relative to it (as the adapters'
 * `mountWebHandler` does). Without `basePath` the URL is taken as the full path.
 */
export type DashboardRequestInfo = WebHandlerInfo

/**
 * The dashboard: a web-standard request handler (a core `WebHandler`), mounted by `@perf/express`,
 * `@perf/fastify`, `@perf/hono` or any server that speaks `Request`/`Response`.
 */
export type DashboardHandler = (request: Request, info?: DashboardRequestInfo) => Promise<Response>

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /**
   * The admin token: sent as `Authorization: Bearer <token>` or typed into the sign-in form.
   * Default: the `PERF_ADMIN_TOKEN` environment variable; `false` means none. 16 to 1024 visible
   * ASCII characters (surrounding whitespace is removed), the same rule as `/metrics`.
   */
  token?: string | false | undefined
  /** Decides access instead of (or besides) the token: return `true` to let the request in. */
  auth?: ((request: Request) => boolean | Promise<boolean>) | undefined
  /**
   * With no token and no `auth` hook, serve requests from the loopback interface anyway (a development
   * machine), when they also name a loopback host (`localhost`, `127.x.x.x`, `[::1]`: a DNS-rebinding
   * page names its own) and carry no forwarding header. Default `false`: the dashboard answers 403
   * until it is configured. Cannot be combined with `trustProxy`.
   */
  allowUnauthenticatedLocalhost?: boolean | undefined
  /**
   * Behind a reverse proxy: take the host and scheme the browser used from `X-Forwarded-Host` and
   * `X-Forwarded-Proto` (for the same-origin check and the cookie's `Secure`), and the client's
   * address for the sign-in throttle from `X-Forwarded-For` (the last value of each: the one the proxy
   * wrote). Only when every request comes through that proxy. Default `false`.
   */
  trustProxy?: boolean | undefined
  /** How long a sign-in lasts, in ms (1 minute to 30 days). Default 8 hours. */
  sessionTtlMs?: number | undefined
  /**
   * A store with history (e.g. `SqliteStore` from `@perf/sqlite`): enables the 1 h / 24 h / 7 d range.
   * A store that also has `compare()` and `releases()` (as `SqliteStore` does) enables the compare
   * view (`api/compare`) and the release markers on the history charts.
   */
  store?: HistoryStore | undefined
  /** Page title. Default `Performance`. */
  title?: string | undefined
  /** Auto-refresh interval of the page in ms (1 000…600 000). Default 5 000. */
  refreshMs?: number | undefined
  /** HTTP error rate (0..1) above which the page flags it. Default 0.1. */
  errorRateThreshold?: number | undefined
  /** Where `PERF_ADMIN_TOKEN` is read from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>> | undefined
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

/** Headers on every response: no inline script, no sniffing, no framing, no referrer leaks. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
}

const SUBROUTES = ['api/snapshot', 'api/history', 'api/compare', 'api/clear', 'login', 'logout'] as const
const ASSET = /^assets\/([a-z0-9.]+)$/
const MAX_FORM_BYTES = 4096

const timelines = new WeakMap<Monitor, Timeline>()

/** One timeline per monitor, shared by every dashboard mounted on it. */
function timelineFor(monitor: Monitor): Timeline {
  let t = timelines.get(monitor)
  if (t === undefined) {
    t = new Timeline(['http', 'db'], monitor.config.windowMs)
    timelines.set(monitor, t)
    monitor.addSink(t)
  }
  return t
}

const DASHBOARD_OPTION_KEYS: readonly (keyof DashboardOptions)[] = [
  'token',
  'auth',
  'allowUnauthenticatedLocalhost',
  'trustProxy',
  'sessionTtlMs',
  'store',
  'title',
  'refreshMs',
  'errorRateThreshold',
  'env',
]

/**
 * Creates the admin dashboard of a monitor: the page, its static assets and its JSON API
 * (`api/snapshot`, `api/history?range=1h|24h|7d`, `api/compare?base=…&head=…`, `POST api/clear`), guarded by a token or an `auth`
 * hook. Without either it answers 403 with a page explaining how to set `PERF_ADMIN_TOKEN`.
 *
 * @example
 * const dashboard = createDashboard(monitor, { token: process.env.PERF_ADMIN_TOKEN })
 * const response = await dashboard(new Request('http://localhost/admin/performance/'))
 */
export function createDashboard(monitor: Monitor, options: DashboardOptions = {}): DashboardHandler {
  if (monitor === null || typeof monitor !== 'object' || typeof monitor.snapshot !== 'function') {
    throw new TypeError('createDashboard(monitor, options): monitor must be a monitor from createMonitor()')
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError('createDashboard(monitor, options): options must be an object')
  }
  checkOptionKeys('createDashboard(monitor, options)', options, DASHBOARD_OPTION_KEYS)
  // Only the admin token: a scrape token must never open the dashboard.
  const adminAuth = createAdminAuth({
    call: 'createDashboard',
    monitor,
    token: options.token,
    scrapeToken: false,
    env: options.env,
    trustProxy: options.trustProxy,
    sessionTtlMs: options.sessionTtlMs,
  })
  const hasToken = adminAuth.hasToken
  if (options.auth !== undefined && typeof options.auth !== 'function') {
    throw new TypeError(
      `createDashboard: auth must be a function (request) => boolean, got ${typeof options.auth}`,
    )
  }
  if (options.store !== undefined && typeof options.store?.history !== 'function') {
    throw new TypeError('createDashboard: store must have a history(query) method (e.g. a SqliteStore)')
  }
  const title = options.title ?? 'Performance'
  if (typeof title !== 'string' || title.length === 0 || title.length > 200) {
    throw new TypeError('createDashboard: title must be a string of 1 to 200 characters')
  }
  const refreshMs = checkNumber('refreshMs', options.refreshMs ?? 5000, {
    min: 1000,
    max: 600_000,
    integer: true,
  })
  const errorRateThreshold = checkNumber('errorRateThreshold', options.errorRateThreshold ?? 0.1, {
    min: 0,
    max: 1,
  })
  const { auth, store } = options
  const allowLocal = options.allowUnauthenticatedLocalhost === true
  if (allowLocal && adminAuth.trustProxy) {
    throw new TypeError(
      'createDashboard: allowUnauthenticatedLocalhost and trustProxy cannot be combined: behind a proxy every request comes from a loopback socket',
    )
  }
  const timeline = monitor.enabled ? timelineFor(monitor) : undefined
  const settings = {
    title,
    refreshMs,
    errorRateThreshold,
    history: store !== undefined,
    compare: canCompare(store),
    release: monitor.config.release ?? null,
  }
  const view = (): Snapshot & { dashboard: DashboardView } => {
    // Histograms only to work out the slice in progress; the page does not need them.
    const snap = monitor.snapshot({ histograms: true })
    const dashboard = buildView(snap, timeline?.read() ?? {}, settings, (p) => timeline?.histogramOf(p))
    for (const type of Object.values(snap.types)) {
      for (const op of type.ops) {
        delete op.histogram
        delete op.totalHistogram
      }
    }
    return { ...snap, dashboard }
  }

  // The socket alone is not enough: a DNS-rebinding page reaches 127.0.0.1 under its own Host, and a
  // proxy on this machine connects from loopback on behalf of everyone.
  const local = (request: Request, info: DashboardRequestInfo | undefined): boolean =>
    allowLocal &&
    isLoopbackAddress(info?.remoteAddress) &&
    isLoopbackHost(request.headers.get('host') ?? new URL(request.url).host) &&
    !isForwarded(request)

  const allowed = async (
    request: Request,
    info: DashboardRequestInfo | undefined,
  ): Promise<boolean | 'throttled'> => {
    if (hasToken) {
      const session = readCookie(request.headers.get('cookie'), SESSION_COOKIE)
      const credential = await adminAuth.check(request, info, { session })
      if (credential === 'admin') return true
      if (credential === 'throttled' && auth === undefined) return 'throttled'
    }
    if (auth !== undefined) {
      try {
        return (await auth(request)) === true
      } catch (err) {
        monitorInternals(monitor).reportInternalError('dashboard auth hook', err)
        return false
      }
    }
    return !hasToken && local(request, info)
  }

  /** A one-time link from `createSignInCode`: the same session as the form, then the page. */
  const signInWithCode = async (
    code: string,
    request: Request,
    info: DashboardRequestInfo | undefined,
    root: string,
    secure: boolean,
  ): Promise<Response> => {
    if (!hasToken)
      return html(
        404,
        messagePage(title, root, 'Not found', 'Sign-in links need an admin token, and none is configured.'),
      )
    const result = await adminAuth.redeemCode(code, request, info)
    if (result.ok) return redirect(root, sessionCookie(result.session, root, secure, result.maxAgeSeconds))
    if (result.retryAfterSeconds !== undefined) return throttled(title, root, result.retryAfterSeconds, true)
    return html(
      401,
      loginPage(
        title,
        root,
        false,
        'That sign-in link is not valid: it was used, has expired, or was cut short.',
      ),
    )
  }

  let warnedExactRoute = false
  /**
   * Mounted on one exact route (`app.get('/admin/performance', …)`) the dashboard gets its page's
   * address as a path of its own, below a root base, and never sees its assets or API: say how to
   * mount it, on the page and once in the process's warnings.
   */
  const exactRoute = (route: Route, info: DashboardRequestInfo | undefined): Response | undefined => {
    const base = info?.basePath
    if (base === undefined || base.replace(/\/+$/, '') !== '' || route.sub === '') return undefined
    const path = `/${route.sub.replace(/\/+$/, '').slice(0, 200)}`
    // A file name (`/robots.txt`) asked of a dashboard really mounted at a root is just not found.
    if (/\.[^/]*$/.test(path)) return undefined
    const message = `The dashboard answered ${path} as a path below its own root "/": it looks mounted on that one exact route (app.get('${path}', dashboard(…))), so its assets and API under ${path}/ never reach it. Mount it with app.use('${path}', dashboard(monitor, options)) (fastify: prefix '${path}'; hono: app.route or app.all('${path}/*')).`
    if (!warnedExactRoute) {
      warnedExactRoute = true
      emitPerfWarning(message, 'PERF_DASHBOARD_EXACT_ROUTE')
    }
    return html(404, messagePage(title, '/', 'Mount the dashboard with app.use', message))
  }

  return async (request: Request, info?: DashboardRequestInfo): Promise<Response> => {
    const url = new URL(request.url)
    const route = resolve(url.pathname, info?.basePath)
    if (route.redirect) return redirect(`${route.root}${url.search}`)
    const method = request.method.toUpperCase()
    const asset = route.sub.startsWith('assets/') ? ASSET.exec(route.sub) : null
    if (route.sub.startsWith('assets/')) {
      // Static code and styles reveal no data; the sign-in page needs them before there is a session.
      if (method !== 'GET' && method !== 'HEAD') return notAllowed('GET')
      const file = asset === null ? undefined : await loadAsset(asset[1]!).catch(() => undefined)
      if (file === undefined)
        return html(404, messagePage(title, route.root, 'Not found', 'There is no such asset.'))
      return new Response(method === 'HEAD' ? null : (file.body as Uint8Array<ArrayBuffer>), {
        headers: { ...SECURITY_HEADERS, 'content-type': file.type, 'cache-control': 'public, max-age=300' },
      })
    }
    // Before any credential check: a browser mounted this way could never reach the sign-in form, and
    // the answer tells nothing but the path that was asked for.
    const misMounted = ownPath(route.sub) ? undefined : exactRoute(route, info)
    if (misMounted !== undefined) return misMounted
    if (!hasToken && auth === undefined && !local(request, info)) {
      return html(403, notConfiguredPage(title, route.root))
    }
    const secure = adminAuth.origin(request).protocol === 'https:'
    if (route.sub === 'login') {
      const code = url.searchParams.get('code')
      if ((method === 'GET' || method === 'HEAD') && code !== null) {
        return signInWithCode(code, request, info, route.root, secure)
      }
      if (method !== 'POST') return html(hasToken ? 401 : 404, loginPage(title, route.root, false))
      if (!adminAuth.sameOrigin(request)) return forbiddenOrigin(title, route.root)
      if (!hasToken)
        return html(
          404,
          messagePage(title, route.root, 'Not found', 'Sign-in uses a token, and none is configured.'),
        )
      // A blocked address is answered before its form is even read.
      const wait = adminAuth.refuseIfBlocked(request, info)
      if (wait > 0) return throttled(title, route.root, wait, true)
      const given = await formField(request, 'token')
      if (given === undefined) return html(401, loginPage(title, route.root, true))
      const result = await adminAuth.signIn(given, request, info)
      if (!result.ok) {
        if (result.retryAfterSeconds !== undefined)
          return throttled(title, route.root, result.retryAfterSeconds, true)
        return html(401, loginPage(title, route.root, true))
      }
      return redirect(route.root, sessionCookie(result.session, route.root, secure, result.maxAgeSeconds))
    }
    if (route.sub === 'logout') {
      if (method !== 'POST') return notAllowed('POST')
      if (!adminAuth.sameOrigin(request)) return forbiddenOrigin(title, route.root)
      await adminAuth.signOut(readCookie(request.headers.get('cookie'), SESSION_COOKIE))
      return redirect(route.root, sessionCookie('', route.root, secure, 0))
    }
    const verdict = await allowed(request, info)
    if (verdict === 'throttled') {
      return throttled(title, route.root, adminAuth.retryAfterSeconds(request, info), route.sub === '')
    }
    if (!verdict) {
      if (route.sub === '') {
        // Without a token there is nothing to sign in with: the auth hook said no.
        const page = !hasToken
          ? messagePage(title, route.root, 'Not authorised', 'Access to this dashboard was refused.')
          : loginPage(title, route.root, false)
        return html(401, page, { 'www-authenticate': 'Bearer realm="perf"' })
      }
      return json(
        401,
        { error: 'unauthorized: send Authorization: Bearer <token> or sign in' },
        { 'www-authenticate': 'Bearer realm="perf"' },
      )
    }
    switch (route.sub) {
      case '':
        if (method !== 'GET' && method !== 'HEAD') return notAllowed('GET')
        if (!monitor.enabled) return html(200, disabledPage(title, route.root))
        return html(200, dashboardPage(title, route.root, { signOut: hasToken }))
      case 'api/snapshot':
        if (method !== 'GET') return notAllowed('GET')
        return json(200, view())
      case 'api/history': {
        if (method !== 'GET') return notAllowed('GET')
        if (store === undefined)
          return json(404, {
            error: 'no history: pass a store (e.g. a SqliteStore) in the dashboard options',
          })
        let range: ReturnType<typeof parseHistoryRange>
        try {
          range = parseHistoryRange(url.searchParams)
        } catch (err) {
          return json(400, { error: (err as Error).message })
        }
        const until = Date.now()
        const since = until - range.ms
        try {
          const { bucketMs } = range
          // One read per range: the store merges every type's ops itself (SqliteStore's `types`).
          const result = await store.history({
            since,
            until,
            bucketMs,
            limit: MAX_POINTS,
            ops: false,
            events: false,
          })
          return json(200, {
            range: range.label,
            since,
            until,
            bucketMs,
            series: {
              http: bucketRows(rowsOf(result, 'http'), since, bucketMs, until),
              db: bucketRows(rowsOf(result, 'db'), since, bucketMs, until),
            },
            process: sampleSeries(Array.isArray(result) ? undefined : (result as { samples?: [] }).samples),
            // Where the charts mark a release change: each release first seen inside the range.
            releases: canCompare(store) ? releaseMarkers(await store.releases(), since, until) : [],
          })
        } catch (err) {
          monitorInternals(monitor).reportInternalError('dashboard history', err)
          return json(500, { error: 'the store could not read its history' })
        }
      }
      case 'api/compare': {
        if (method !== 'GET') return notAllowed('GET')
        if (!canCompare(store))
          return json(404, {
            error:
              'no comparison: pass a store with compare() and releases() (e.g. a SqliteStore) in the dashboard options',
          })
        try {
          return json(200, await compareView(store, url.searchParams, settings.release, Date.now()))
        } catch (err) {
          // Bad parameters, and a release the store does not know (its message lists the known ones).
          if (err instanceof RangeError || err instanceof TypeError) return json(400, { error: err.message })
          monitorInternals(monitor).reportInternalError('dashboard compare', err)
          return json(500, { error: 'the store could not compare' })
        }
      }
      case 'api/clear':
        if (method !== 'POST') return notAllowed('POST')
        if (!adminAuth.sameOrigin(request))
          return json(403, { error: 'cross-origin request refused: Origin must match the host' })
        monitor.clear()
        timeline?.clear()
        return json(200, { cleared: true })
      default:
        return html(404, messagePage(title, route.root, 'Not found', 'There is no such dashboard page.'))
    }
  }
}

/** The rows of one type: a store's per-type `types` when it gives them, else its per-op rows. */
function rowsOf(result: HistoryResult, type: string): readonly HistoryRow[] {
  const r = result as { types?: unknown; points?: unknown }
  const rows = Array.isArray(result) ? result : Array.isArray(r.types) ? r.types : r.points
  return Array.isArray(rows) ? (rows as HistoryRow[]).filter((row) => row?.type === type) : []
}

interface Route {
  /** Path of the dashboard's root, ending in `/`. */
  root: string
  /** Path below the root, e.g. `api/snapshot` (empty for the page). */
  sub: string
  /** The root was asked for without its trailing slash (only when the full path is known). */
  redirect: boolean
}

function resolve(pathname: string, basePath: string | undefined): Route {
  if (basePath !== undefined) {
    // The adapter stripped the mount path: the URL is relative to it.
    const base = sameSitePath(basePath).replace(/\/+$/, '')
    return { root: `${base}/`, sub: pathname.replace(/^\/+/, ''), redirect: false }
  }
  // The root becomes the redirect's location and every link of the page, the sign-in form's action
  // included: `//evil.example` must stay a path of this site, never name another host.
  pathname = sameSitePath(pathname)
  for (const sub of SUBROUTES) {
    if (pathname.endsWith(`/${sub}`)) return { root: pathname.slice(0, -sub.length), sub, redirect: false }
  }
  const asset = /\/assets\/[^/]*$/.exec(pathname)
  if (asset !== null)
    return { root: pathname.slice(0, asset.index + 1), sub: asset[0].slice(1), redirect: false }
  if (pathname.endsWith('/')) return { root: pathname, sub: '', redirect: false }
  return { root: `${pathname}/`, sub: '', redirect: true }
}

/** A path with its leading slashes collapsed to one: `//host/x` would be a protocol-relative URL. */
function sameSitePath(path: string): string {
  return path.replace(/^[/\\]+/, '/')
}

function html(status: number, body: string, extra?: Record<string, string>): Response {
  return new Response(body, {
    status,
    headers: {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      ...extra,
    },
  })
}

function json(status: number, body: unknown, extra?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...SECURITY_HEADERS,
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...extra,
    },
  })
}

function redirect(to: string, cookie?: string): Response {
  // Only ever a path on this site: never absolute, never protocol-relative.
  const location = to.startsWith('/') ? sameSitePath(to) : '/'
  const headers: Record<string, string> = { ...SECURITY_HEADERS, location, 'cache-control': 'no-store' }
  if (cookie !== undefined) headers['set-cookie'] = cookie
  return new Response(null, { status: cookie !== undefined ? 303 : 308, headers })
}

function notAllowed(allow: string): Response {
  return new Response(JSON.stringify({ error: `method not allowed: use ${allow}` }), {
    status: 405,
    headers: { ...SECURITY_HEADERS, allow, 'content-type': 'application/json; charset=utf-8' },
  })
}

function throttled(title: string, root: string, seconds: number, page: boolean): Response {
  const wait = Math.max(1, seconds)
  const message = `Too many failed sign-ins from this address: try again in ${wait} s.`
  const headers = { 'retry-after': String(wait) }
  return page
    ? html(429, messagePage(title, root, 'Too many attempts', message), headers)
    : json(429, { error: message }, headers)
}

function forbiddenOrigin(title: string, root: string): Response {
  return html(
    403,
    messagePage(
      title,
      root,
      'Refused',
      'Cross-origin request refused: the Origin header must match this host.',
    ),
  )
}

async function formField(request: Request, name: string): Promise<string | undefined> {
  const type = request.headers.get('content-type') ?? ''
  if (!type.startsWith('application/x-www-form-urlencoded')) return undefined
  const length = Number(request.headers.get('content-length') ?? '0')
  if (length > MAX_FORM_BYTES) return undefined
  const text = await readCapped(request, MAX_FORM_BYTES)
  if (text === undefined) return undefined
  const value = new URLSearchParams(text).get(name)
  return value === null ? undefined : value
}

/**
 * The body as text, or `undefined` once it passes `max` bytes: read chunk by chunk, because a body
 * without `Content-Length` (chunked, or a server that hands the dashboard the raw request) could
 * otherwise be any size before it is refused.
 */
async function readCapped(request: Request, max: number): Promise<string | undefined> {
  if (request.body === null) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      return undefined
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    bytes.set(c, at)
    at += c.byteLength
  }
  return new TextDecoder().decode(bytes)
}

/** Whether `sub` is a path the dashboard serves (its page, API, sign-in or an asset). */
function ownPath(sub: string): boolean {
  return sub === '' || (SUBROUTES as readonly string[]).includes(sub) || sub.startsWith('assets/')
}
