import type { WebHandler } from '@perf/core'
import {
  markUnrecorded,
  type MountOptions,
  mountSegments,
  serveMounted,
  splitMountPath,
} from '@perf/core/http'
import { Hono } from 'hono'

interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } }
}

/**
 * Mounts a web-standard handler `(request, info) => Promise<Response>` in hono as a sub-app:
 * `app.route('/admin/performance', webHandlerApp(handler))`. Every method and path below the mount
 * path goes to the handler, which sees URLs relative to it (`info.basePath` holds the mount path as
 * requested, so a mount path with parameters such as `/t/:tenant/perf` works) and, on
 * `@hono/node-server`, the socket's address as `info.remoteAddress`. Requests it serves are never
 * recorded by `perf`. Methods other than GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS get `405`; a
 * body is read only as the handler reads it and gets `413` past 1 MiB (at once when `Content-Length`
 * says so). A client that goes away during its upload is counted on `options.monitor`
 * (`counters.http.mountAborted`), not logged. A mount path with a wildcard, an optional or a pattern
 * parameter is refused: its requests answer 500 with a `TypeError` naming it.
 */
export function webHandlerApp(handler: WebHandler, options?: MountOptions): Hono {
  if (typeof handler !== 'function') {
    throw new TypeError(
      `webHandlerApp(handler): handler must be a function (request, info) => Promise<Response>, got ${typeof handler}`,
    )
  }
  // hono tells the sub-app its mount path only per request, as the matched template.
  const segmentsOf = new Map<string, number>()
  const app = new Hono()
  app.all('/*', async (c) => {
    const raw = c.req.raw
    markUnrecorded(raw)
    const template = c.req.routePath
    let segments = segmentsOf.get(template)
    if (segments === undefined) {
      segments = mountSegments('webHandlerApp', template.endsWith('/*') ? template.slice(0, -2) : template)
      segmentsOf.set(template, segments)
    }
    const url = new URL(raw.url)
    const { basePath, rest } = splitMountPath(url.pathname + url.search, segments)
    const remoteAddress = (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress
    const result = await serveMounted(
      handler,
      { method: raw.method, url: url.origin + rest, headers: raw.headers, body: () => raw.body },
      remoteAddress === undefined ? { basePath } : { remoteAddress, basePath },
      options,
    )
    return result.response
  })
  return app
}
