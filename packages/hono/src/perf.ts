import {
  createHttpRecorder,
  type HttpOptions,
  type HttpRecorder,
  isUnrecorded,
  pathOf,
  type Monitor,
  type RequestContext,
} from '@perf/core'
import type { Context, MiddlewareHandler } from 'hono'

/** Options of {@link perf}: see `HttpOptions` in `@perf/core`. */
export interface HonoPerfOptions extends HttpOptions {}

/** Context variables {@link perf} sets: `c.get('requestId')`. */
export type PerfVariables = { requestId: string }

/** The parts of Node's `IncomingMessage` read when the app runs on `@hono/node-server`. */
interface Incoming {
  readonly url?: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/** The parts of Node's `ServerResponse` read when the app runs on `@hono/node-server`. */
interface Outgoing {
  readonly statusCode: number
  readonly writableFinished: boolean
  setHeader(name: string, value: string): unknown
  getHeader(name: string): unknown
  on(event: 'close', listener: (this: Outgoing) => void): unknown
}

interface MatchedRoute {
  readonly path: string
  readonly method: string
  readonly handler: { readonly length: number }
}

const STATE = Symbol('perf')

/** What a request carries from its start to its end: one object, no closure. */
class Pending {
  constructor(
    readonly recorder: HttpRecorder,
    readonly c: Context,
    readonly start: number,
    readonly requestId: string | undefined,
    readonly context: RequestContext | undefined,
    /** Ignored requests get an id and a context, but are not recorded. */
    readonly ignored: boolean,
  ) {}
}

/**
 * Hono middleware that times every request as `http` `METHOD /route` (`app.route`/`basePath` prefixes
 * included, `METHOD <unmatched>` for 404s), sends `X-Request-ID` and sets `c.get('requestId')`.
 * Install it first: `app.use(perf(monitor))`. On `@hono/node-server` the duration runs until the
 * response's last byte is written; elsewhere it ends when the handler returns its `Response`.
 * With a disabled monitor it does nothing. Throws a `TypeError` for bad options.
 */
export function perf(
  monitor: Monitor,
  options?: HonoPerfOptions,
): MiddlewareHandler<{ Variables: PerfVariables }> {
  const recorder = createHttpRecorder(monitor, options, '@perf/hono')
  if (!monitor.enabled) return (_c, next) => next()
  const header = recorder.header
  return async (c, next) => {
    let pending: Pending | undefined
    // On node-server, read and write the Node objects: touching `c.req.raw.headers` or `c.res` after
    // the handler would turn node-server's lightweight Request/Response into full web objects.
    const node = nodeBindings(c)
    try {
      const ignored =
        recorder.ignores && recorder.isIgnored(pathOf(rawTarget(c, node?.incoming)), c.req.method)
      let id: string | undefined
      if (header !== undefined) {
        id = recorder.requestId(
          node !== undefined ? node.incoming.headers[header] : c.req.raw.headers.get(header),
        )
        c.set('requestId', id)
        if (node !== undefined) node.outgoing.setHeader(header, id)
        else c.header(header, id)
      }
      const ctx = recorder.contextEnabled
        ? recorder.newContext(id ?? recorder.requestId(undefined))
        : undefined
      pending = new Pending(recorder, c, performance.now(), id, ctx, ignored)
      if (node !== undefined && !ignored) {
        ;(node.outgoing as unknown as Record<symbol, Pending>)[STATE] = pending
        node.outgoing.on('close', onClose)
      }
    } catch (err) {
      recorder.fail('request', err)
    }
    if (pending?.context !== undefined) await monitor.runInRequest(pending.context, next)
    else await next()
    if (pending === undefined || pending.ignored || node !== undefined) return
    try {
      // A handler that returned its own Response bypassed the header set before it.
      const id = pending.requestId
      if (id !== undefined && !c.res.headers.has(header!)) c.header(header!, id)
    } catch (err) {
      recorder.fail('response', err)
    }
    finish(pending, undefined, undefined)
  }
}

/**
 * The request target as the client sent it (percent-encoding kept), like the express and fastify
 * adapters report it; `c.req.path` would be decoded.
 */
function rawTarget(c: Context, incoming: Incoming | undefined): string {
  if (typeof incoming?.url === 'string') return incoming.url
  const url = c.req.url
  const slash = url.indexOf('/', url.indexOf('//') + 2)
  return slash < 0 ? '/' : url.slice(slash)
}

/** The Node request and response when running on `@hono/node-server` (its `c.env`, no copy). */
function nodeBindings(c: Context): { incoming: Incoming; outgoing: Outgoing } | undefined {
  const env = c.env as { incoming?: Incoming; outgoing?: Outgoing } | undefined
  return env?.incoming !== undefined && typeof env.outgoing?.on === 'function'
    ? (env as { incoming: Incoming; outgoing: Outgoing })
    : undefined
}

/** Shared `close` listener of the Node response: the last byte went out or the client went away. */
function onClose(this: Outgoing): void {
  const pending = (this as unknown as Record<symbol, Pending | undefined>)[STATE]
  if (pending === undefined) return
  ;(this as unknown as Record<symbol, Pending | undefined>)[STATE] = undefined
  const incoming = (pending.c.env as { incoming: Incoming }).incoming
  finish(pending, this, incoming)
}

function finish(pending: Pending, outgoing: Outgoing | undefined, incoming: Incoming | undefined): void {
  const { recorder, c } = pending
  try {
    const raw = c.req.raw
    if (isUnrecorded(raw)) return
    const ms = performance.now() - pending.start
    let status: number
    let responseBytes: unknown
    let aborted = false
    if (outgoing !== undefined) {
      aborted = !outgoing.writableFinished
      status = outgoing.statusCode
      // Readable because a header was set on the response before node-server wrote the rest.
      responseBytes = outgoing.getHeader('content-length')
    } else {
      status = c.res.status
      responseBytes = c.res.headers.get('content-length')
    }
    recorder.record(recorder.op(raw.method, routeOf(c, status)), ms, {
      method: raw.method,
      url: rawTarget(c, incoming),
      status,
      requestBytes:
        incoming !== undefined ? incoming.headers['content-length'] : raw.headers.get('content-length'),
      responseBytes,
      requestId: pending.requestId,
      context: pending.context,
      aborted,
      thrown: c.error,
    })
  } catch (err) {
    recorder.fail('response', err)
  }
}

/**
 * The template of the route that answered, or `undefined` when none did. Hono leaves `routeIndex` at
 * the last handler it ran; when that is a middleware (`app.use`: method ALL, takes `next`) that passed
 * the request on and the answer is 404, the not-found handler answered.
 */
function routeOf(c: Context, status: number): string | undefined {
  const routes = (c.req as unknown as { matchedRoutes?: readonly MatchedRoute[] }).matchedRoutes
  const route = routes?.[c.req.routeIndex]
  if (route === undefined) return undefined
  if (status === 404 && route.method === 'ALL' && route.handler.length >= 2) return undefined
  return route.path
}
