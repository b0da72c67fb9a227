import {
  markUnrecorded,
  type NodeRequestLike,
  type NodeResponseLike,
  serveWebHandler,
  type WebHandler,
} from '@perf/core'

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
 * serves are never recorded by `perf`. A handler that throws before responding goes to express's error
 * handling (`next(err)`).
 */
export function mountWebHandler(handler: WebHandler): WebHandlerMiddleware {
  if (typeof handler !== 'function') {
    throw new TypeError(
      `mountWebHandler(handler): handler must be a function (request, info) => Promise<Response>, got ${typeof handler}`,
    )
  }
  return (req, res, next) => {
    markUnrecorded(req)
    serveWebHandler(handler, req, res, req.url, req.baseUrl ?? '').catch((err: unknown) => {
      if (res.headersSent) return
      next(err)
    })
  }
}
