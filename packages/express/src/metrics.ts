import { createMetricsHandler, type MetricsHandlerOptions, type Monitor } from '@perf/core'
import { mountWebHandler, type WebHandlerMiddleware } from './web-handler.js'

/**
 * The monitor's numbers for Prometheus, as express middleware: `app.get('/metrics', metrics(monitor))`.
 * Its requests are never recorded. With a token (`token` option or `PERF_ADMIN_TOKEN`) or an `auth`
 * hook, scrapers must authenticate (`Authorization: Bearer <token>`); options are those of
 * `createMetricsHandler` from `@perf/core`.
 */
export function metrics(monitor: Monitor, options?: MetricsHandlerOptions): WebHandlerMiddleware {
  return mountWebHandler(createMetricsHandler(monitor, options), { monitor })
}
