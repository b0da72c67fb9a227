/**
 * `@perf/core/http`: what an HTTP adapter (or any instrumentation) is built from, apart from what an
 * app uses (`@perf/core`). An adapter only translates its framework's request into these calls:
 *
 * - `createHttpRecorder(monitor, options, source)` checks the options and names, interns and records
 *   requests; `PendingRequest` is one request in flight (subclass it: say where the framework keeps
 *   the raw request, status, thrown error and route), told by `watchResponse` when a Node response ends.
 * - `serveWebHandler` (Node request/response) and `serveMounted` (web-standard) mount a web handler
 *   (the dashboard, `/metrics`) below a path, `mountSegments`/`splitMountPath` cut a mount template.
 * - `monitorInternals(monitor)` types a monitor's plumbing (`MonitorInternals`: request context,
 *   snapshot sections, process samples, internal-error reports).
 *
 * The express, fastify and hono adapters of this repository import only this and `@perf/core`.
 */

export {
  createHttpRecorder,
  DEFAULT_REQUEST_ID_HEADER,
  HTTP_TYPE,
  HttpRecorder,
  isUnrecorded,
  markUnrecorded,
  OTHER_METHOD,
  pathOf,
  PendingRequest,
  rawHeader,
  UNMATCHED,
} from './http.js'
export { DUPLICATE_INSTALL, warnDuplicateInstall } from './install-warning.js'
export { monitorInternals } from './monitor.js'
export { serveWebHandler } from './node-web.js'
export { watchResponse } from './response-tracker.js'
export { now } from './runtime.js'
export {
  MAX_WEB_BODY_BYTES,
  MOUNT_METHODS,
  mountSegments,
  serveMounted,
  splitMountPath,
} from './web-mount.js'

export type { RequestContext } from './context.js'
export type { HttpIgnore, HttpOptions, HttpOutcome, WebHandler, WebHandlerInfo } from './http.js'
export type { MonitorInternals } from './monitor.js'
export type { NodeRequestLike, NodeResponseLike } from './node-web.js'
export type { ResponseWatcher, TrackableRequest, TrackableResponse } from './response-tracker.js'
export type { MountedRequest, MountedResult, MountOptions } from './web-mount.js'
