import type { Monitor } from '@perf/core'
import { createDashboard, type DashboardOptions } from '@perf/dashboard'
import type { Hono } from 'hono'
import { webHandlerApp } from './web-handler.js'

/**
 * The admin dashboard as a hono sub-app:
 * `app.route('/admin/performance', dashboard(monitor, { token }))`. Its requests are never recorded.
 * Options are those of `createDashboard` from `@perf/dashboard` (token or `PERF_ADMIN_TOKEN`, `auth`,
 * `store`, `title`, `refreshMs`, …).
 */
export function dashboard(monitor: Monitor, options?: DashboardOptions): Hono {
  return webHandlerApp(createDashboard(monitor, options), { monitor })
}
