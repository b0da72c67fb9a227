import { coded } from './errors.js'
import { createAdminAuth } from './admin-auth.js'
import { checkOptionKeys } from './option-keys.js'
import type { WebHandlerInfo } from './http.js'
import { type Monitor, monitorInternals } from './monitor.js'
import { PROMETHEUS_CONTENT_TYPE, type PrometheusOptions } from './prometheus.js'
import { createPrometheusRenderer } from './prometheus-live.js'

/** A web-standard handler (a `WebHandler`: mountable with every adapter's web-handler utility). */
export type MetricsHandler = (request: Request, info?: WebHandlerInfo) => Promise<Response>

/** Options of {@link createMetricsHandler}. */
export interface MetricsHandlerOptions {
  /**
   * The admin token, which a scraper may send (`Authorization: Bearer <token>`). Default: the
   * `PERF_ADMIN_TOKEN` environment variable. `false` means none even when that variable is set.
   * The same rule as the dashboard's: 16 to 1024 visible ASCII characters, surrounding whitespace removed.
   * With no token, no scrape token and no `auth`, the metrics are served to anyone who can reach the route.
   */
  readonly token?: string | false | undefined
  /**
   * A token that opens `/metrics` and nothing else (never the dashboard, so it cannot clear stats).
   * Default: the `PERF_SCRAPE_TOKEN` environment variable; `false` means none. Must differ from the admin token.
   */
  readonly scrapeToken?: string | false | undefined
  /**
   * Believe the last `X-Forwarded-For` value as the client's address, for the throttle on wrong tokens.
   * Only when every request comes through a proxy that sets it. Default `false`.
   */
  readonly trustProxy?: boolean | undefined
  /** Custom check; when given, a request passes if it has the token or this returns `true`. */
  readonly auth?: ((request: Request) => boolean | Promise<boolean>) | undefined
  /**
   * Rendering options, as `toPrometheus` takes them: the metric `prefix` and the histogram's
   * `buckets` (its `le` edges in seconds; give every process the same ones). Checked when the handler
   * is created.
   */
  readonly prometheus?: PrometheusOptions | undefined
  /** Where `PERF_ADMIN_TOKEN` and `PERF_SCRAPE_TOKEN` are read from. Default `process.env` where it exists. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

const METRICS_OPTION_KEYS: readonly (keyof MetricsHandlerOptions)[] = [
  'token',
  'scrapeToken',
  'trustProxy',
  'auth',
  'prometheus',
  'env',
]

/**
 * A web-standard handler serving `monitor`'s numbers in the Prometheus text format at whatever path
 * it is mounted (`GET` and `HEAD`; other methods get 405). When a token is set (the admin token,
 * option or `PERF_ADMIN_TOKEN`, or the scrape token, `scrapeToken` or `PERF_SCRAPE_TOKEN`) or an
 * `auth` hook is given, other requests get 401, and an address that keeps sending wrong tokens gets
 * 429 for a while (the dashboard's throttle, shared per monitor). Mount it with an adapter's
 * `metrics(...)` helper or web-handler utility, which keep these requests out of the monitor.
 *
 * @example
 * const handler = createMetricsHandler(monitor, { scrapeToken: process.env.PERF_SCRAPE_TOKEN })
 * const response = await handler(new Request('http://localhost/metrics'))
 */
export function createMetricsHandler(monitor: Monitor, options: MetricsHandlerOptions = {}): MetricsHandler {
  if (monitor === null || typeof monitor !== 'object' || typeof monitor.snapshot !== 'function') {
    throw coded(
      'PERF_INVALID_ARGUMENT',
      new TypeError('createMetricsHandler(monitor): expected a monitor from createMonitor()'),
    )
  }
  if (options === null || typeof options !== 'object') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`createMetricsHandler: options must be an object, got ${String(options)}`),
    )
  }
  checkOptionKeys('createMetricsHandler(monitor, options)', options, METRICS_OPTION_KEYS)
  const { auth } = options
  if (auth !== undefined && typeof auth !== 'function') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`createMetricsHandler: auth must be a function (request) => boolean, got ${typeof auth}`),
    )
  }
  const adminAuth = createAdminAuth({
    call: 'createMetricsHandler',
    monitor,
    token: options.token,
    scrapeToken: options.scrapeToken,
    env: options.env,
    trustProxy: options.trustProxy,
  })
  const tokens = adminAuth.hasToken || adminAuth.hasScrapeToken
  // Checks the rendering options now rather than on the first scrape. One process's own numbers are
  // rendered from the monitor's live state, without a snapshot; a cluster-wide view (whose
  // snapshot() is the merge) is read through its snapshot.
  const renderer = createPrometheusRenderer(monitor, options.prometheus ?? {})

  async function allowed(request: Request, info: WebHandlerInfo | undefined): Promise<boolean | 'throttled'> {
    if (tokens) {
      const credential = await adminAuth.check(request, info)
      if (credential === 'admin' || credential === 'scrape') return true
      if (credential === 'throttled' && auth === undefined) return 'throttled'
    }
    if (auth !== undefined) {
      try {
        return (await auth(request)) === true
      } catch (err) {
        monitorInternals(monitor).reportInternalError('metrics auth hook', err)
        return false
      }
    }
    return !tokens && auth === undefined
  }

  return async (request, info) => {
    const method = request.method.toUpperCase()
    if (method !== 'GET' && method !== 'HEAD') {
      return text(405, 'Method Not Allowed\n', { allow: 'GET, HEAD' })
    }
    const verdict = await allowed(request, info)
    if (verdict === 'throttled') {
      const retry = Math.max(1, adminAuth.retryAfterSeconds(request, info))
      return text(429, `Too Many Requests: too many wrong tokens from this address; retry in ${retry} s\n`, {
        'retry-after': String(retry),
      })
    }
    if (!verdict) {
      return text(401, 'Unauthorized: send Authorization: Bearer <token>\n', {
        'www-authenticate': 'Bearer realm="perf"',
      })
    }
    let bytes: Uint8Array
    try {
      // The renderer's bytes are a view of a buffer it reuses: nothing may await between rendering
      // and the Response below, which copies them (the Fetch standard's "extract a body").
      bytes = renderer.render()
    } catch (err) {
      monitorInternals(monitor).reportInternalError('metrics', err)
      return text(
        500,
        'Internal Server Error: the metrics could not be rendered (counted in perf_monitor_internal_errors_total)\n',
      )
    }
    return new Response(method === 'HEAD' ? null : (bytes as Uint8Array<ArrayBuffer>), {
      status: 200,
      headers: {
        'content-type': PROMETHEUS_CONTENT_TYPE,
        'cache-control': 'no-store',
        'content-length': String(bytes.byteLength),
      },
    })
  }
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}
