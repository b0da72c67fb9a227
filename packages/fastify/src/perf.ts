import {
  createHttpRecorder,
  type HttpOptions,
  type HttpRecorder,
  isUnrecorded,
  type Monitor,
  type OpHandle,
  pathOf,
  type RequestContext,
} from '@perf/core'
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  RouteOptions,
} from 'fastify'

/** Options of {@link perf}: the monitor plus `HttpOptions` from `@perf/core`. */
export interface FastifyPerfOptions extends HttpOptions {
  monitor: Monitor
}

const CTX = Symbol('perf.context')
const ERROR = Symbol('perf.error')
const DONE = Symbol('perf.done')
const START = Symbol('perf.start')

/** Request decorations; declared once so every request has the same shape. */
interface PerfRequest {
  [CTX]: RequestContext | null
  [ERROR]: unknown
  [DONE]: boolean
  [START]: number
}

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/**
 * Fastify plugin that times every request as `http` `METHOD /route` (prefixes included,
 * `METHOD <unmatched>` for 404s), sends `X-Request-ID` and makes it `request.id`. It applies app-wide:
 * `await app.register(perf, { monitor, ...options })`, before the routes it should time (ops are
 * interned as routes are added). With a disabled monitor it adds nothing. It sets the server's
 * `genReqId`; leave fastify's own `requestIdHeader` option unset so hostile ids are never echoed.
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
  fastify.decorateRequest(CTX as unknown as string, null)
  fastify.decorateRequest(ERROR as unknown as string, null)
  fastify.decorateRequest(DONE as unknown as string, false)
  fastify.decorateRequest(START as unknown as string, 0)

  fastify.addHook('onRequest', (request, reply, done) => {
    try {
      ;(request as unknown as PerfRequest)[START] = performance.now()
      if (header !== undefined) reply.header(header, request.id)
      if (recorder.contextEnabled) {
        const ctx = recorder.newContext(request.id)
        ;(request as unknown as PerfRequest)[CTX] = ctx
        // enterWith, not run: fastify parses the body and calls the handler from the request stream's
        // callbacks, which run in the connection's async context, so the context is set there (every
        // request enters its own, so none sees the one before it on a kept-alive connection). It
        // also spares a preValidation hook on every request when context is off.
        monitor.enterRequest(ctx)
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

  const unmatchedOp = (method: string): OpHandle => recorder.op(method, undefined)
  const unmatched = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (request.is404) finish(recorder, request, reply, unmatchedOp, false)
    done()
  }
  fastify.addHook('onResponse', unmatched)
  fastify.addHook('onRequestAbort', (request, done) => {
    if (request.is404) finish(recorder, request, undefined, unmatchedOp, true)
    done()
  })

  fastify.addHook('onRoute', (route) => {
    try {
      addRouteHooks(recorder, route)
    } catch (err) {
      recorder.fail('onRoute', err)
    }
  })
}

/**
 * Gives a route hooks that record on its op, interned on the route's first request (so routes never
 * hit add no empty ops) and kept in the hook's closure: requests build no names.
 */
function addRouteHooks(recorder: HttpRecorder, route: RouteOptions): void {
  const url = route.url
  const single = typeof route.method === 'string' ? route.method : undefined
  let op: OpHandle | undefined
  const opFor = (method: string): OpHandle => {
    if (method !== single) return recorder.op(method, url)
    if (op === undefined) op = recorder.op(method, url)
    return op
  }
  const onResponse: Hook = (request, reply, done) => {
    finish(recorder, request, reply, opFor, false)
    done()
  }
  const onRequestAbort = (request: FastifyRequest, done: HookHandlerDoneFunction): void => {
    finish(recorder, request, undefined, opFor, true)
    done()
  }
  route.onResponse = append(route.onResponse, onResponse)
  route.onRequestAbort = append(route.onRequestAbort, onRequestAbort)
}

function append<T>(existing: T | T[] | undefined, hook: T): T[] {
  if (existing === undefined) return [hook]
  return Array.isArray(existing) ? [...existing, hook] : [existing, hook]
}

function finish(
  recorder: HttpRecorder,
  request: FastifyRequest,
  reply: FastifyReply | undefined,
  opFor: (method: string) => OpHandle,
  aborted: boolean,
): void {
  try {
    const state = request as unknown as PerfRequest
    // An abort may be followed by onResponse when the handler finally answers; record once.
    if (state[DONE]) return
    state[DONE] = true
    const raw = request.raw
    if (isUnrecorded(raw)) return
    const url = raw.url ?? request.url
    if (recorder.ignores && recorder.isIgnored(pathOf(url), request.method)) return
    const res = reply?.raw
    // Resolved only now: an unrecorded or ignored request (the dashboard's own) must not intern an op.
    recorder.record(
      opFor(request.method),
      reply !== undefined ? reply.elapsedTime : performance.now() - state[START],
      {
        method: request.method,
        url,
        status: res?.statusCode ?? 0,
        requestBytes: request.headers['content-length'],
        responseBytes: reply?.getHeader('content-length'),
        requestId: recorder.header === undefined ? undefined : request.id,
        context: state[CTX] ?? undefined,
        // writableEnded, not writableFinished: under app.inject() the response never "finishes" a socket.
        aborted: aborted || (res !== undefined && !res.writableEnded),
        thrown: state[ERROR] ?? undefined,
      },
    )
  } catch (err) {
    recorder.fail('response', err)
  }
}

// App-wide: fastify does not encapsulate a plugin marked like this (what `fastify-plugin` does).
const meta = perf as unknown as Record<symbol, unknown>
meta[Symbol.for('skip-override')] = true
meta[Symbol.for('fastify.display-name')] = '@perf/fastify'
meta[Symbol.for('plugin-meta')] = { name: '@perf/fastify', fastify: '>=4.26' }
