import { markUnrecorded, serveWebHandler, type WebHandler } from '@perf/core'
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'

/** Options of {@link webHandlerPlugin}. */
export interface WebHandlerPluginOptions {
  /** The web-standard handler to serve. */
  handler: WebHandler
  /** Mount path, e.g. `/admin/performance` (fastify's own `prefix` option of `register`). */
  prefix?: string
}

/**
 * Mounts a web-standard handler `(request, info) => Promise<Response>` in fastify:
 * `await app.register(webHandlerPlugin, { prefix: '/admin/performance', handler })`. Every method and
 * every path below the prefix goes to the handler, which sees URLs relative to the prefix
 * (`info.basePath` holds it), the raw body, and the socket's address as `info.remoteAddress`. Requests
 * it serves are never recorded by `perf`.
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
  const prefix = fastify.prefix
  // The handler reads the body itself, in whatever format it expects.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', (_request, _payload, parsed) => parsed(null))
  const serve = (req: FastifyRequest, rep: FastifyReply): void => {
    markUnrecorded(req.raw)
    rep.hijack()
    const url = req.raw.url ?? req.url
    const path = url.slice(prefix.length)
    serveWebHandler(
      handler,
      req.raw,
      rep.raw,
      path === '' || path.startsWith('?') ? `/${path}` : path,
      prefix,
    ).catch((err: unknown) => {
      req.log.error({ err }, 'web handler failed')
      if (!rep.raw.headersSent) rep.raw.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      rep.raw.end('Internal Server Error')
    })
  }
  fastify.all('/', serve)
  fastify.all('/*', serve)
  done()
}
