import { MAX_WEB_BODY_BYTES, markUnrecorded, type WebHandler, type WebHandlerInfo } from '@perf/core'
import { Hono } from 'hono'

interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } }
}

/**
 * Mounts a web-standard handler `(request, info) => Promise<Response>` in hono as a sub-app:
 * `app.route('/admin/performance', webHandlerApp(handler))`. Every method and path below the mount
 * path goes to the handler, which sees URLs relative to it (`info.basePath` holds it) and, on
 * `@hono/node-server`, the socket's address as `info.remoteAddress`. Requests it serves are never
 * recorded by `perf`. Bodies over 1 MiB get `413`.
 */
export function webHandlerApp(handler: WebHandler): Hono {
  if (typeof handler !== 'function') {
    throw new TypeError(
      `webHandlerApp(handler): handler must be a function (request, info) => Promise<Response>, got ${typeof handler}`,
    )
  }
  const app = new Hono()
  app.all('/*', async (c) => {
    const raw = c.req.raw
    markUnrecorded(raw)
    // The matched template is `<mount path>/*`: what precedes `/*` is the mount path.
    const template = c.req.routePath
    const basePath = template.endsWith('/*') ? template.slice(0, -2) : template.replace(/\/$/, '')
    const url = new URL(raw.url)
    const rest = url.pathname.slice(basePath.length)
    url.pathname = rest.startsWith('/') ? rest : `/${rest}`
    let body: ArrayBuffer | undefined
    if (raw.method !== 'GET' && raw.method !== 'HEAD') {
      body = await raw.arrayBuffer()
      if (body.byteLength > MAX_WEB_BODY_BYTES) return c.text('Payload Too Large', 413)
    }
    const remoteAddress = (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress
    const info: WebHandlerInfo = remoteAddress === undefined ? { basePath } : { remoteAddress, basePath }
    return handler(new Request(url, { method: raw.method, headers: raw.headers, body }), info)
  })
  return app
}
