import type { Monitor } from '@perf/core'
import { createDashboard, type DashboardOptions } from '@perf/dashboard'
import { mountWebHandler, type WebHandlerMiddleware } from './web-handler.js'

/**
 * The admin dashboard as express middleware:
 * `app.use('/admin/performance', dashboard(monitor, { token }))`. Its requests are never recorded.
 * Options are those of `createDashboard` from `@perf/dashboard` (token or `PERF_ADMIN_TOKEN`, `auth`,
 * `store`, `title`, `refreshMs`, …).
 */
export function dashboard(monitor: Monitor, options?: DashboardOptions): WebHandlerMiddleware {
  return mountWebHandler(createDashboard(monitor, options), { monitor })
}
