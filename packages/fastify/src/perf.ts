import {
  createHttpRecorder,
  type HttpOptions,
  type HttpRecorder,
  type Monitor,
  pathOf,
  PendingRequest,
  type RequestContext,
  type TrackableRequest,
  type TrackableResponse,
  watchResponse,
} from '@perf/core'
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'

/** Options of {@link perf}: the monitor plus `HttpOptions` from `@perf/core`. */
export interface FastifyPerfOptions extends HttpOptions {
  monitor: Monitor
}

const ERROR = Symbol('perf.error')

/** Request decoration; declared once so every request has the same shape. */
interface PerfRequest {
  [ERROR]: unknown
}

/**
 * One fastify request from `onRequest` to its end (see `PendingRequest` in `@perf/core`): told by
 * `watchResponse`, without fastify's `onResponse`/`onRequestAbort` hook runs (the latter adds a
 * `close` listener and a closure to every request).
 */
class Pending extends PendingRequest {
  constructor(
    recorder: HttpRecorder,
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
    start: number,
    requestId: string | undefined,
    context: RequestContext | undefined,
  ) {
    super(recorder, start, requestId, context)
  }

  protected rawRequest(): object {
    return this.request.raw
  }

  protected settle(res: TrackableResponse | undefined): string | undefined {
    const request = this.request
    this.status = (res as unknown as { statusCode: number } | undefined)?.statusCode ?? this.reply.statusCode
    this.thrown = (request as unknown as PerfRequest)[ERROR] ?? undefined
    return request.is404 ? undefined : request.routeOptions.url
  }

  get method(): string {
    return this.request.method
  }

  get url(): string {
    return this.request.raw.url ?? this.request.url
  }

  get requestBytes(): unknown {
    return this.request.headers['content-length']
  }

  get responseBytes(): unknown {
    return this.reply.getHeader('content-length')
  }
}

/**
 * Fastify plugin that times every request as `http` `METHOD /route` (prefixes included,
 * `METHOD <unmatched>` for 404s), sends `X-Request-ID` and makes it `request.id`. It applies app-wide:
 * `await app.register(perf, { monitor, ...options })`. With a disabled monitor it adds nothing. It
 * sets the server's `genReqId`; leave fastify's own `requestIdHeader` option unset so hostile ids are
 * never echoed.
 */
export const perf: FastifyPluginCallback<FastifyPerfOptions> = (fastify, opts, done) => {
  let recorder: HttpRecorder
  try {
    const { monitor, ...options } = opts
    recorder = createHttpRecorder(monitor, options, '@perf/fastify')
  } catch (err) {
    return done(err as Error)
  }
  if (!recorder.monitor.enabled) return done()
  install(fastify, recorder)
  done()
}

function install(fastify: FastifyInstance, recorder: HttpRecorder): void {
  const { monitor, header } = recorder
  if (header !== undefined) fastify.setGenReqId((req) => recorder.requestId(req.headers[header]))
  fastify.decorateRequest(ERROR as unknown as string, null)

  fastify.addHook('onRequest', (request, reply, done) => {
    try {
      const start = performance.now()
      const id = header !== undefined ? request.id : undefined
      if (id !== undefined) reply.header(header!, id)
      let ctx: RequestContext | undefined
      if (recorder.contextEnabled) {
        ctx = recorder.newContext(request.id)
        // enterWith, not run: fastify parses the body and calls the handler from the request stream's
        // callbacks, which run in the connection's async context, so the context is set there (every
        // request enters its own, so none sees the one before it on a kept-alive connection).
        monitor.enterRequest(ctx)
      }
      const raw = request.raw
      if (!(recorder.ignores && recorder.isIgnored(pathOf(raw.url ?? request.url), request.method))) {
        watchResponse(
          raw as TrackableRequest,
          reply.raw as unknown as TrackableResponse,
          new Pending(recorder, request, reply, start, id, ctx),
        )
      }
    } catch (err) {
      recorder.fail('request', err)
    }
    done()
  })
  fastify.addHook('onError', (request, _reply, error, done) => {
    ;(request as unknown as PerfRequest)[ERROR] = error
    done()
  })
}

// App-wide: fastify does not encapsulate a plugin marked like this (what `fastify-plugin` does).
const meta = perf as unknown as Record<symbol, unknown>
meta[Symbol.for('skip-override')] = true
meta[Symbol.for('fastify.display-name')] = '@perf/fastify'
meta[Symbol.for('plugin-meta')] = { name: '@perf/fastify', fastify: '>=4.26' }
