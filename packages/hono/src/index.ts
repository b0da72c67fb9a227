export { dashboard } from './dashboard.js'
export { metrics } from './metrics.js'
export { perf } from './perf.js'
export { webHandlerApp } from './web-handler.js'

export type { HonoPerfOptions, PerfVariables } from './perf.js'
