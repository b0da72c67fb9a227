import {
  createHttpRecorder,
  type HttpOptions,
  type HttpRecorder,
  isUnrecorded,
  type Monitor,
  pathOf,
  type RequestContext,
} from '@perf/core'
import { MountTemplates } from './mount-template.js'

/** Options of {@link perf}: see `HttpOptions` in `@perf/core`. */
export interface ExpressPerfOptions extends HttpOptions {}

/** The parts of express's `req` the middleware reads (duck-typed, so express stays a peer). */
export interface ExpressRequestLike {
  method: string
  url: string
  originalUrl?: string
  baseUrl?: string
  headers: Record<string, string | string[] | undefined>
  route?: { path?: unknown } | undefined
  /** The express app (its router resolves mount patterns). */
  app?: unknown
  /** The request id, set by {@link perf}. */
  id?: string
}

/** The parts of express's `res` the middleware uses. */
export interface ExpressResponseLike {
  statusCode: number
  readonly writableFinished: boolean
  setHeader(name: string, value: string): unknown
  getHeader(name: string): unknown
  on(event: 'close', listener: (this: ExpressResponseLike) => void): unknown
}

/** An express middleware. */
export type ExpressMiddleware = (
  req: ExpressRequestLike,
  res: ExpressResponseLike,
  next: (err?: unknown) => void,
) => void

/**
 * Per-response state lives in a WeakMap rather than on `res`: adding a property to Node's response
 * objects measurably slows the rest of their life (≈ 5 % of a hello-world request in `bench/http`).
 */
const STATE = new WeakMap<object, Pending>()

/** What a request carries from its start to its `close` event: one object, no closure. */
class Pending {
  constructor(
    readonly recorder: HttpRecorder,
    readonly mounts: MountTemplates,
    readonly req: ExpressRequestLike,
    readonly start: number,
    readonly requestId: string | undefined,
    readonly context: RequestContext | undefined,
  ) {}
}

/**
 * Express middleware that times every request as `http` `METHOD /route` (router prefixes included,
 * `METHOD <unmatched>` for 404s), sends `X-Request-ID` and exposes it as `req.id`. Install it first:
 * `app.use(perf(monitor))`. With a disabled monitor it does nothing. Throws a `TypeError` for bad options.
 */
export function perf(monitor: Monitor, options?: ExpressPerfOptions): ExpressMiddleware {
  const recorder = createHttpRecorder(monitor, options, '@perf/express')
  if (!monitor.enabled) return (_req, _res, next) => next()
  const header = recorder.header
  const mounts = new MountTemplates()
  return (req, res, next) => {
    try {
      const ignored = recorder.ignores && recorder.isIgnored(pathOf(req.url), req.method)
      let id: string | undefined
      if (header !== undefined) {
        id = recorder.requestId(req.headers[header])
        req.id = id
        res.setHeader(header, id)
      }
      let ctx: RequestContext | undefined
      if (recorder.contextEnabled) {
        ctx = recorder.newContext(id ?? recorder.requestId(undefined))
        // enterWith, not run: express calls `next()` from stream callbacks (a body parser's 'end'),
        // which run in the connection's async context, so the context is set there. Ignored requests
        // enter one too, so a request never sees the one before it on a kept-alive connection.
        monitor.enterRequest(ctx)
      }
      if (!ignored) {
        STATE.set(res, new Pending(recorder, mounts, req, performance.now(), id, ctx))
        res.on('close', onClose)
      }
    } catch (err) {
      recorder.fail('request', err)
    }
    next()
  }
}

/** Shared `close` listener: the response finished or the client went away. */
function onClose(this: ExpressResponseLike): void {
  const pending = STATE.get(this)
  if (pending === undefined) return
  STATE.delete(this)
  const { recorder, req } = pending
  try {
    if (isUnrecorded(req)) return
    const ms = performance.now() - pending.start
    const route = req.route?.path
    let template: string | undefined
    if (typeof route === 'string') {
      const base = req.baseUrl ? pending.mounts.resolve(req.app, req.baseUrl) : ''
      template = base === '' ? route : route === '/' ? base : base + route
    } else if (route !== undefined) template = String(route)
    recorder.record(recorder.op(req.method, template), ms, {
      method: req.method,
      url: req.originalUrl ?? req.url,
      status: this.statusCode,
      requestBytes: req.headers['content-length'],
      responseBytes: this.getHeader('content-length'),
      requestId: pending.requestId,
      context: pending.context,
      aborted: !this.writableFinished,
    })
  } catch (err) {
    recorder.fail('response', err)
  }
}
