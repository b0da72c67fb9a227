import { createMetricsHandler, type MetricsHandlerOptions, type Monitor } from '@perf/core'
import type { FastifyPluginCallback } from 'fastify'
import { webHandlerPlugin } from './web-handler.js'

/** Options of the {@link metrics} plugin: the monitor, the route's `path`, and `createMetricsHandler`'s options. */
export interface MetricsPluginOptions extends MetricsHandlerOptions {
  monitor: Monitor
  /** Path of the metrics route (default `/metrics`), relative to any `prefix` given to `register`. */
  path?: string
}

/**
 * The monitor's numbers for Prometheus, as a fastify plugin:
 * `await app.register(metrics, { monitor })` serves `GET /metrics`. Its requests are never recorded.
 * With a token (`token` option or `PERF_ADMIN_TOKEN`) or an `auth` hook, scrapers must authenticate
 * (`Authorization: Bearer <token>`).
 */
export const metrics: FastifyPluginCallback<MetricsPluginOptions> = (fastify, opts, done) => {
  // fastify's own register options (`prefix`, `logLevel`, …) may ride along with ours.
  const {
    monitor,
    path = '/metrics',
    prefix: _p,
    logLevel: _l,
    logSerializers: _s,
    ...options
  } = opts as MetricsPluginOptions & Record<'prefix' | 'logLevel' | 'logSerializers', unknown>
  if (typeof path !== 'string' || !path.startsWith('/') || path.length < 2) {
    return done(
      new TypeError(
        `metrics plugin: path = ${JSON.stringify(path)} is not valid: expected a path like "/metrics"`,
      ),
    )
  }
  let handler: ReturnType<typeof createMetricsHandler>
  try {
    handler = createMetricsHandler(monitor, options)
  } catch (err) {
    return done(err as Error)
  }
  fastify.register(webHandlerPlugin, { handler, monitor, prefix: path.replace(/\/+$/, '') })
  done()
}
