import type { WebHandler } from '@perf/core'
import {
  markUnrecorded,
  type MountOptions,
  mountSegments,
  serveWebHandler,
  splitMountPath,
} from '@perf/core/http'
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'

/** Options of {@link webHandlerPlugin}. */
export interface WebHandlerPluginOptions extends MountOptions {
  /** The web-standard handler to serve. */
  handler: WebHandler
  /** Mount path, e.g. `/admin/performance` (fastify's own `prefix` option of `register`). */
  prefix?: string
}

/**
 * Mounts a web-standard handler `(request, info) => Promise<Response>` in fastify:
 * `await app.register(webHandlerPlugin, { prefix: '/admin/performance', handler })`. Every path below
 * the prefix goes to the handler, which sees URLs relative to it (`info.basePath` holds the mount path
 * as requested, so a prefix with parameters such as `/t/:tenant/perf` works), the raw body, and the
 * socket's address as `info.remoteAddress`. Requests it serves are never recorded by `perf`. Methods
 * other than GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS get `405`; a body is read only as the
 * handler reads it and gets `413` past 1 MiB (at once when `Content-Length` says so). A client that
 * goes away during its upload is counted on `monitor` (`counters.http.mountAborted`), not logged. A
 * prefix with a wildcard, an optional or a pattern parameter is refused with a `TypeError`.
 */
export const webHandlerPlugin: FastifyPluginCallback<WebHandlerPluginOptions> = (fastify, opts, done) => {
  const handler = opts.handler
  if (typeof handler !== 'function') {
    return done(
      new TypeError(
        `webHandlerPlugin: options.handler must be a function (request, info) => Promise<Response>, got ${typeof handler}`,
      ),
    )
  }
  let segments: number
  try {
    // fastify gives the prefix as registered, parameters unresolved: the request's own path is cut
    // after as many segments.
    segments = mountSegments('webHandlerPlugin', fastify.prefix)
  } catch (err) {
    return done(err as Error)
  }
  const options: MountOptions = { monitor: opts.monitor }
  // The handler reads the body itself, in whatever format it expects.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', (_request, _payload, parsed) => parsed(null))
  const serve = (req: FastifyRequest, rep: FastifyReply): void => {
    markUnrecorded(req.raw)
    rep.hijack()
    const { basePath, rest } = splitMountPath(req.raw.url ?? req.url, segments)
    serveWebHandler(handler, req.raw, rep.raw, rest, basePath, options).catch((err: unknown) => {
      req.log.error({ err }, 'web handler failed')
      if (!rep.raw.headersSent) rep.raw.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      rep.raw.end('Internal Server Error')
    })
  }
  fastify.all('/', serve)
  fastify.all('/*', serve)
  done()
}
