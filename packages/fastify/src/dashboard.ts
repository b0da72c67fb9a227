import type { Monitor } from '@perf/core'
import { createDashboard, type DashboardOptions } from '@perf/dashboard'
import type { FastifyPluginCallback } from 'fastify'
import { webHandlerPlugin } from './web-handler.js'

/** Options of the {@link dashboard} plugin: the monitor, the mount `prefix`, and `createDashboard`'s options. */
export interface DashboardPluginOptions extends DashboardOptions {
  monitor: Monitor
  /** Mount path, e.g. `/admin/performance` (fastify's own `prefix` option of `register`). */
  prefix?: string
}

/**
 * The admin dashboard as a fastify plugin:
 * `await app.register(dashboard, { monitor, token, prefix: '/admin/performance' })`. Its requests are
 * never recorded. Options besides `monitor` and `prefix` are those of `createDashboard` from `@perf/dashboard`.
 */
export const dashboard: FastifyPluginCallback<DashboardPluginOptions> = (fastify, opts, done) => {
  // fastify's own register options (`logLevel`, …) may ride along with ours.
  const {
    monitor,
    prefix: _p,
    logLevel: _l,
    logSerializers: _s,
    ...options
  } = opts as DashboardPluginOptions & Record<'logLevel' | 'logSerializers', unknown>
  let handler: ReturnType<typeof createDashboard>
  try {
    handler = createDashboard(monitor, options)
  } catch (err) {
    return done(err as Error)
  }
  // The prefix is already this plugin's (register's own option): the mount inherits it.
  fastify.register(webHandlerPlugin, { handler, monitor })
  done()
}
