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

declare global {
  // Express's own extension point: both @types/express 4 and 5 make their `Request` extend
  // `Express.Request`, so one global augmentation types `req.id` for either major version.
  namespace Express {
    interface Request {
      /**
       * The request id `perf` sends as `X-Request-ID` (read back from the response header);
       * `undefined` when the header is off (`requestIdHeader: false`) or `perf` is not installed.
       */
      id?: string
    }
  }
}
