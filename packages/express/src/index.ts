export { dashboard } from './dashboard.js'
export { metrics } from './metrics.js'
export { perf } from './perf.js'
export { mountWebHandler } from './web-handler.js'

export type {
  ExpressMiddleware,
  ExpressPerfOptions,
  ExpressRequestLike,
  ExpressResponseLike,
} from './perf.js'
export type { MountedRequestLike, WebHandlerMiddleware } from './web-handler.js'
