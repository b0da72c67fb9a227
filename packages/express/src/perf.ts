import { IncomingMessage } from 'node:http'
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

/** One express request from the middleware to its end (see `PendingRequest` in `@perf/core`). */
class Pending extends PendingRequest {
  private res: ExpressResponseLike | undefined = undefined

  constructor(
    recorder: HttpRecorder,
    readonly mounts: MountTemplates,
    readonly req: ExpressRequestLike,
    start: number,
    requestId: string | undefined,
    context: RequestContext | undefined,
  ) {
    super(recorder, start, requestId, context)
  }

  protected rawRequest(): object {
    return this.req
  }

  protected settle(res: TrackableResponse | undefined): string | undefined {
    const req = this.req
    this.res = res as unknown as ExpressResponseLike
    this.status = this.res.statusCode
    const route = req.route?.path
    if (typeof route !== 'string') return route === undefined ? undefined : String(route)
    const base = req.baseUrl ? this.mounts.resolve(req.app, req.baseUrl) : ''
    return base === '' ? route : route === '/' ? base : base + route
  }

  get method(): string {
    return this.req.method
  }

  get url(): string {
    return this.req.originalUrl ?? this.req.url
  }

  get requestBytes(): unknown {
    return this.req.headers['content-length']
  }
  get responseBytes(): unknown {
    return this.res?.getHeader('content-length')
  }
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
  /** The request prototype last seen to carry the `id` accessor (express's, shared by its apps). */
  let withId: object | null = null
  return (req, res, next) => {
    try {
      const ignored = recorder.ignores && recorder.isIgnored(pathOf(req.url), req.method)
      let id: string | undefined
      if (header !== undefined) {
        id = recorder.requestId(req.headers[header])
        res.setHeader(header, id)
        const proto = Object.getPrototypeOf(req) as object | null
        if (proto !== withId) withId = installId(proto, header)
        // A request whose prototype chain could not take the accessor: an own property, the slow path.
        if (withId === null) setOwnId(req, id)
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
        watchResponse(
          req as TrackableRequest,
          res as unknown as TrackableResponse,
          new Pending(recorder, mounts, req, performance.now(), id, ctx),
        )
      }
    } catch (err) {
      recorder.fail('request', err)
    }
    next()
  }
}

/**
 * `req.id` as an accessor on express's request prototype rather than a property written on every
 * request: adding a property to a request object costs every later access to it (several percent
 * of a hello-world request in `bench/http`). The accessor reads the id back from the response's
 * request-id header, where the middleware put it (so it stays readable after the response ended, for
 * loggers); assigning `req.id` (another middleware's own id) makes it an ordinary own property.
 * Returns the prototype that now reaches the accessor, or `null` when none could take it (another
 * `id` is already defined on the chain, or one for a different header).
 */
function installId(proto: object | null, header: string): object | null {
  if (proto === null) return null
  // Already reachable (an earlier app, or a sub-app sharing express's base request)?
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    const d = Object.getOwnPropertyDescriptor(p, 'id')
    if (d !== undefined) return ID_HEADER.get(d.get ?? NOT_OURS) === header ? proto : null
  }
  // Express's base request (shared by every app and sub-app): the last object before Node's
  // IncomingMessage.prototype; the request's own prototype when there is no such chain.
  let target = proto
  for (let p = Object.getPrototypeOf(proto) as object | null; p !== null; p = Object.getPrototypeOf(p)) {
    if (p === IncomingMessage.prototype) break
    target = p
  }
  const get = function id(this: { res?: { getHeader?(name: string): unknown } }): unknown {
    const value = this.res?.getHeader?.(header)
    return typeof value === 'string' ? value : undefined
  }
  ID_HEADER.set(get, header)
  try {
    Object.defineProperty(target, 'id', { get, set: writeId, configurable: true, enumerable: false })
    return proto
  } catch {
    return null
  }
}

/** Our `req.id` getters, with the header each reads. */
const ID_HEADER = new WeakMap<object, string>()
const NOT_OURS = {}

function writeId(this: object, value: unknown): void {
  setOwnId(this, value)
}

function setOwnId(req: object, value: unknown): void {
  Object.defineProperty(req, 'id', { value, writable: true, configurable: true, enumerable: true })
}
