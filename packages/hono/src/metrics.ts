import { createMetricsHandler, type MetricsHandlerOptions, type Monitor } from '@perf/core'
import { markUnrecorded } from '@perf/core/http'
import type { Context } from 'hono'

interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } }
}

/**
 * The monitor's numbers for Prometheus, as a hono handler: `app.get('/metrics', metrics(monitor))`.
 * Its requests are never recorded. With a token (`token` option or `PERF_ADMIN_TOKEN`) or an `auth`
 * hook, scrapers must authenticate (`Authorization: Bearer <token>`); options are those of
 * `createMetricsHandler` from `@perf/core`. Web-standard: runs wherever hono does.
 */
export function metrics(
  monitor: Monitor,
  options?: MetricsHandlerOptions,
): (c: Context) => Promise<Response> {
  const handler = createMetricsHandler(monitor, options)
  return (c) => {
    markUnrecorded(c.req.raw)
    // The socket's address (on @hono/node-server) keys the throttle on wrong tokens per client.
    const remoteAddress = (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress
    return handler(c.req.raw, remoteAddress === undefined ? undefined : { remoteAddress })
  }
}
