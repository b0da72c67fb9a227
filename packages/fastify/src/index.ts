export { dashboard } from './dashboard.js'
export { metrics } from './metrics.js'
export { perf } from './perf.js'
export { webHandlerPlugin } from './web-handler.js'

export type { DashboardPluginOptions } from './dashboard.js'
export type { MetricsPluginOptions } from './metrics.js'
export type { FastifyPerfOptions } from './perf.js'
export type { WebHandlerPluginOptions } from './web-handler.js'
