import { checkNumber, type Monitor, type Snapshot, type WebHandlerInfo } from '@perf/core'
import { loadAsset } from './assets.js'
import { hasToken, isLoopback, SESSION_COOKIE, safeEqual, sameOrigin, sessionValue } from './auth.js'
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
   * Default: the `PERF_ADMIN_TOKEN` environment variable.
   */
  token?: string | undefined
  /** Decides access instead of (or besides) the token: return `true` to let the request in. */
  auth?: ((request: Request) => boolean | Promise<boolean>) | undefined
  /**
   * With no token and no `auth` hook, serve requests from the loopback interface anyway (a development
   * machine). Default `false`: the dashboard answers 403 until it is configured.
   */
  allowUnauthenticatedLocalhost?: boolean | undefined
  /** A store with history (e.g. `SqliteStore` from `@perf/sqlite`): enables the 1 h / 24 h / 7 d range. */
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

const SUBROUTES = ['api/snapshot', 'api/history', 'api/clear', 'login', 'logout'] as const
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

function processEnv(): Readonly<Record<string, string | undefined>> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {}
}

/**
 * Creates the admin dashboard of a monitor: the page, its static assets and its JSON API
 * (`api/snapshot`, `api/history?range=1h|24h|7d`, `POST api/clear`), guarded by a token or an `auth`
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
  const env = options.env ?? processEnv()
  const token = checkToken(
    options.token !== undefined ? 'token' : 'PERF_ADMIN_TOKEN',
    options.token ?? env.PERF_ADMIN_TOKEN,
  )
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
  const session = token === undefined ? undefined : sessionValue(token)
  const timeline = monitor.enabled ? timelineFor(monitor) : undefined
  const settings = { title, refreshMs, errorRateThreshold, history: store !== undefined }
  const view = (): Snapshot & { dashboard: DashboardView } => {
    const snap = monitor.snapshot()
    return { ...snap, dashboard: buildView(snap, timeline?.read() ?? {}, settings) }
  }

  const allowed = async (request: Request, info: DashboardRequestInfo | undefined): Promise<boolean> => {
    if (token !== undefined && hasToken(request, token)) return true
    if (auth !== undefined) {
      try {
        return (await auth(request)) === true
      } catch (err) {
        monitor.reportInternalError('dashboard auth hook', err)
        return false
      }
    }
    return token === undefined && allowLocal && isLoopback(info?.remoteAddress)
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
    if (token === undefined && auth === undefined && !(allowLocal && isLoopback(info?.remoteAddress))) {
      return html(403, notConfiguredPage(title, route.root))
    }
    if (route.sub === 'login') {
      if (method !== 'POST') return html(token === undefined ? 404 : 401, loginPage(title, route.root, false))
      if (!sameOrigin(request)) return forbiddenOrigin(title, route.root)
      if (token === undefined || session === undefined)
        return html(
          404,
          messagePage(title, route.root, 'Not found', 'Sign-in uses a token, and none is configured.'),
        )
      const given = await formField(request, 'token')
      if (given === undefined || !safeEqual(given, token))
        return html(401, loginPage(title, route.root, true))
      return redirect(route.root, sessionCookie(session, route.root, url.protocol === 'https:', 43_200))
    }
    if (route.sub === 'logout') {
      if (method !== 'POST') return notAllowed('POST')
      if (!sameOrigin(request)) return forbiddenOrigin(title, route.root)
      return redirect(route.root, sessionCookie('', route.root, url.protocol === 'https:', 0))
    }
    if (!(await allowed(request, info))) {
      if (route.sub === '') {
        // Without a token there is nothing to sign in with: the auth hook said no.
        const page =
          token === undefined
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
        return html(200, dashboardPage(title, route.root))
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
          })
        } catch (err) {
          monitor.reportInternalError('dashboard history', err)
          return json(500, { error: 'the store could not read its history' })
        }
      }
      case 'api/clear':
        if (method !== 'POST') return notAllowed('POST')
        if (!sameOrigin(request))
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

function checkToken(label: string, token: unknown): string | undefined {
  if (token === undefined || token === '') return undefined
  if (typeof token !== 'string' || token.length > 1024 || /\s/.test(token)) {
    throw new TypeError(`${label} must be a string of 1 to 1024 characters without spaces`)
  }
  return token
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
    const base = basePath.replace(/\/+$/, '')
    return { root: `${base}/`, sub: pathname.replace(/^\/+/, ''), redirect: false }
  }
  for (const sub of SUBROUTES) {
    if (pathname.endsWith(`/${sub}`)) return { root: pathname.slice(0, -sub.length), sub, redirect: false }
  }
  const asset = /\/assets\/[^/]*$/.exec(pathname)
  if (asset !== null)
    return { root: pathname.slice(0, asset.index + 1), sub: asset[0].slice(1), redirect: false }
  if (pathname.endsWith('/')) return { root: pathname, sub: '', redirect: false }
  return { root: `${pathname}/`, sub: '', redirect: true }
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

function redirect(location: string, cookie?: string): Response {
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

function sessionCookie(value: string, root: string, secure: boolean, maxAge: number): string {
  // Without the trailing slash the cookie also goes with the root asked for without one.
  const path = root.length > 1 ? root.slice(0, -1) : '/'
  const cookiePath = /^[\x21-\x7e]+$/.test(path) && !path.includes(';') ? path : '/'
  return `${SESSION_COOKIE}=${value}; Path=${cookiePath}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`
}

async function formField(request: Request, name: string): Promise<string | undefined> {
  const type = request.headers.get('content-type') ?? ''
  if (!type.startsWith('application/x-www-form-urlencoded')) return undefined
  const length = Number(request.headers.get('content-length') ?? '0')
  if (length > MAX_FORM_BYTES) return undefined
  const text = await request.text()
  if (text.length > MAX_FORM_BYTES) return undefined
  const value = new URLSearchParams(text).get(name)
  return value === null ? undefined : value
}
