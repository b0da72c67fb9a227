import type { WebHandler } from '@perf/core'
import {
  markUnrecorded,
  type MountOptions,
  type NodeRequestLike,
  type NodeResponseLike,
  serveWebHandler,
} from '@perf/core/http'

/** The parts of express's `req` a mounted handler reads. */
export interface MountedRequestLike extends NodeRequestLike {
  url: string
  baseUrl?: string
}

/** An express middleware serving a web handler. */
export type WebHandlerMiddleware = (
  req: MountedRequestLike,
  res: NodeResponseLike,
  next: (err?: unknown) => void,
) => void

/**
 * Mounts a web-standard handler `(request, info) => Promise<Response>` in express:
 * `app.use('/admin/performance', mountWebHandler(handler))`. The handler sees URLs relative to the
 * mount path (`info.basePath` holds it) and the socket's address as `info.remoteAddress`. Requests it
 * serves are never recorded by `perf`. Methods other than GET, HEAD, POST, PUT, PATCH, DELETE and
 * OPTIONS get `405`; a body is read only as the handler reads it and gets `413` past 1 MiB (at once
 * when `Content-Length` says so). Mount paths with parameters (`/t/:tenant/perf`) work. A client that
 * goes away during its upload is counted on `options.monitor` (`counters.http.mountAborted`), not
 * thrown; a handler that throws before responding goes to express's error handling (`next(err)`).
 */
export function mountWebHandler(handler: WebHandler, options?: MountOptions): WebHandlerMiddleware {
  if (typeof handler !== 'function') {
    throw new TypeError(
      `mountWebHandler(handler): handler must be a function (request, info) => Promise<Response>, got ${typeof handler}`,
    )
  }
  return (req, res, next) => {
    markUnrecorded(req)
    serveWebHandler(handler, req, res, req.url, req.baseUrl ?? '', options).catch((err: unknown) => {
      if (res.headersSent) return
      next(err)
    })
  }
}
