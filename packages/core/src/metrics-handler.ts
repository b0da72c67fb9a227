import type { Monitor } from './monitor.js'
import { PROMETHEUS_CONTENT_TYPE, type PrometheusOptions } from './prometheus.js'
import { createPrometheusRenderer } from './prometheus-live.js'

/** A web-standard handler (a `WebHandler`: mountable with every adapter's web-handler utility). */
export type MetricsHandler = (request: Request) => Promise<Response>

/** Options of {@link createMetricsHandler}. */
export interface MetricsHandlerOptions {
  /**
   * Bearer token a scraper must send (`Authorization: Bearer <token>`). Default: the
   * `PERF_ADMIN_TOKEN` environment variable. `false` serves without a token even when that variable is set.
   * With neither a token nor `auth`, the metrics are served to anyone who can reach the route.
   */
  readonly token?: string | false | undefined
  /** Custom check; when given, a request passes if it has the token or this returns `true`. */
  readonly auth?: ((request: Request) => boolean | Promise<boolean>) | undefined
  /**
   * Rendering options, as `toPrometheus` takes them: the metric `prefix` and the histogram's
   * `buckets` (its `le` edges in seconds; give every process the same ones). Checked when the handler
   * is created.
   */
  readonly prometheus?: PrometheusOptions | undefined
  /** Where `PERF_ADMIN_TOKEN` is read from. Default `process.env` where it exists. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

const encoder = new TextEncoder()

/**
 * A web-standard handler serving `monitor`'s numbers in the Prometheus text format at whatever path
 * it is mounted (`GET` and `HEAD`; other methods get 405). When a token is set (option or
 * `PERF_ADMIN_TOKEN`) or an `auth` hook is given, other requests get 401. Mount it with an adapter's
 * `metrics(...)` helper or web-handler utility, which keep these requests out of the monitor.
 */
export function createMetricsHandler(monitor: Monitor, options: MetricsHandlerOptions = {}): MetricsHandler {
  if (monitor === null || typeof monitor !== 'object' || typeof monitor.snapshot !== 'function') {
    throw new TypeError('createMetricsHandler(monitor): expected a monitor from createMonitor()')
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`createMetricsHandler: options must be an object, got ${String(options)}`)
  }
  const { auth } = options
  if (auth !== undefined && typeof auth !== 'function') {
    throw new TypeError(
      `createMetricsHandler: auth must be a function (request) => boolean, got ${typeof auth}`,
    )
  }
  const token = resolveToken(options)
  // Checks the rendering options now rather than on the first scrape.
  const renderer = createPrometheusRenderer(monitor, options.prometheus ?? {})
  let tokenDigest: Promise<Uint8Array> | undefined

  async function allowed(request: Request): Promise<boolean> {
    if (token !== undefined) {
      tokenDigest ??= digest(token)
      const sent = bearerToken(request.headers.get('authorization'))
      if (sent !== undefined && constantTimeEqual(await digest(sent), await tokenDigest)) return true
    }
    if (auth !== undefined) {
      try {
        return (await auth(request)) === true
      } catch (err) {
        monitor.reportInternalError('metrics auth hook', err)
        return false
      }
    }
    return token === undefined && auth === undefined
  }

  return async (request) => {
    const method = request.method.toUpperCase()
    if (method !== 'GET' && method !== 'HEAD') {
      return text(405, 'Method Not Allowed\n', { allow: 'GET, HEAD' })
    }
    if (!(await allowed(request))) {
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
      monitor.reportInternalError('metrics', err)
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

function resolveToken(options: MetricsHandlerOptions): string | undefined {
  if (options.token === false) return undefined
  if (options.token !== undefined) {
    if (typeof options.token !== 'string' || options.token.length === 0) {
      throw new TypeError('createMetricsHandler: token must be a non-empty string or false')
    }
    return options.token
  }
  const env =
    options.env ?? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
  const fromEnv = env?.PERF_ADMIN_TOKEN
  return fromEnv === undefined || fromEnv.trim() === '' ? undefined : fromEnv
}

function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header)
  return m?.[1]
}

/** SHA-256 of a secret, so that comparing two takes the same time whatever their lengths. */
async function digest(secret: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(secret)))
}

/** Compares equal-length digests without an early exit. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length
  for (let k = 0; k < a.length && k < b.length; k++) diff |= a[k]! ^ b[k]!
  return diff === 0
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}
