import type { HttpOptions, Monitor } from '@perf/core'
import {
  createHttpRecorder,
  type HttpRecorder,
  now as nowImport,
  pathOf as pathOfImport,
  rawHeader as rawHeaderImport,
  PendingRequest,
  type RequestContext,
  type TrackableRequest,
  type TrackableResponse,
  warnDuplicateInstall,
  watchResponse as watchResponseImport,
} from '@perf/core/http'
import type { Context, MiddlewareHandler } from 'hono'

/** Options of {@link perf}: see `HttpOptions` in `@perf/core`. */
export interface HonoPerfOptions extends HttpOptions {}

/** Context variables {@link perf} sets: `c.get('requestId')`. */
export type PerfVariables = { requestId: string }

/** The parts of Node's `IncomingMessage` read when the app runs on `@hono/node-server`. */
interface Incoming {
  readonly url?: string
  readonly rawHeaders?: readonly string[]
}

/** The parts of Node's `ServerResponse` read when the app runs on `@hono/node-server`. */
interface Outgoing {
  readonly statusCode: number
  /** Node's `OutgoingMessage` field: the body length it sends as `Content-Length` when no header has it. */
  readonly _contentLength?: unknown
  readonly writableFinished: boolean
  readonly headersSent: boolean
  setHeader(name: string, value: string): unknown
  getHeader(name: string): unknown
  hasHeader(name: string): boolean
  writeHead(statusCode: number, ...rest: unknown[]): unknown
  on(event: 'close', listener: (this: Outgoing) => void): unknown
  /** The id {@link idAtWriteHead}'s `writeHead` sends. */
  [REQUEST_ID]?: string
}

/** Where a node-server response keeps the id its `writeHead` adds (see {@link idAtWriteHead}). */
const REQUEST_ID = Symbol('@perf/hono request id')

interface MatchedRoute {
  readonly path: string
  readonly method: string
  readonly handler: { readonly length: number }
}

// The imported functions a request calls, and `Pending` below, are module consts, which optimised
// code folds in; an import or a class declaration it checks at every call (ARCHITECTURE, Adapters).
const now = nowImport
const pathOf = pathOfImport
const rawHeader = rawHeaderImport
const watchResponse = watchResponseImport

/**
 * One hono request from the middleware to its end (see `PendingRequest` in `@perf/core`). On
 * node-server `watchResponse` tells it when the Node response ended; elsewhere the middleware calls
 * `finish` when the handler returned its `Response`.
 */
const Pending = class Pending extends PendingRequest {
  /** The Node response on node-server, set when the request ended. */
  private outgoing: Outgoing | undefined = undefined

  constructor(
    recorder: HttpRecorder,
    readonly c: Context,
    readonly incoming: Incoming | undefined,
    start: number,
    requestId: string | undefined,
    context: RequestContext | undefined,
    readonly ignored: boolean,
  ) {
    // An ignored request runs (for its context) but is never finished.
    super(recorder, start, requestId, context, !ignored)
  }

  protected rawRequest(): object {
    return this.c.req.raw
  }

  protected settle(res: TrackableResponse | undefined): string | undefined {
    const c = this.c
    this.outgoing = res as unknown as Outgoing | undefined
    this.status = this.outgoing !== undefined ? this.outgoing.statusCode : c.res.status
    this.thrown = c.error
    return routeOf(c, this.status)
  }

  get method(): string {
    return this.c.req.method
  }

  get url(): string {
    return rawTarget(this.c, this.incoming)
  }

  get requestBytes(): unknown {
    return this.incoming !== undefined
      ? rawHeader(this.incoming.rawHeaders, 'content-length')
      : this.c.req.raw.headers.get('content-length')
  }

  get responseBytes(): unknown {
    // On node-server 1 a header set before the rest makes the length readable as a header; node-server 2
    // gives Node the length of a known body as `_contentLength` (Node's own field) instead.
    return this.outgoing !== undefined
      ? (this.outgoing.getHeader('content-length') ?? this.outgoing._contentLength)
      : this.c.res.headers.get('content-length')
  }
}

type Pending = InstanceType<typeof Pending>

/**
 * Hono middleware that times every request as `http` `METHOD /route` (`app.route`/`basePath` prefixes
 * included, `METHOD <unmatched>` for 404s), sends `X-Request-ID` and sets `c.get('requestId')`.
 * Install it first: `app.use(perf(monitor))`. On `@hono/node-server` the duration runs until the
 * response's last byte is written; elsewhere it ends when the handler returns its `Response`.
 * With a disabled monitor it does nothing. Throws a `TypeError` for bad options. A second `perf` with
 * the same monitor on the same requests does nothing but emit a `PERF_DUPLICATE_INSTALL` warning.
 */
export function perf(
  monitor: Monitor,
  options?: HonoPerfOptions,
): MiddlewareHandler<{ Variables: PerfVariables }> {
  const recorder = createHttpRecorder(monitor, options, '@perf/hono')
  if (!monitor.enabled) return (_c, next) => next()
  const header = recorder.header
  const idAtWriteHead = header === undefined ? undefined : new IdAtWriteHead(header)
  // Decided on this middleware's first request, from the handlers hono matched for it (no per-request
  // cost after that): another `perf(monitor)` that runs before it makes it a no-op. A `const`
  // object's fields, not `let`s, which optimised code tests at every read (ARCHITECTURE, Adapters).
  const install = { decided: false, duplicate: false }
  // Not an async function: on node-server nothing follows the handler here (the Node response's end
  // is watched), so `next()`'s promise is returned as it is, without the promise and the awaits an
  // async middleware adds to every request.
  const middleware: MiddlewareHandler<{ Variables: PerfVariables }> = (c, next) => {
    if (!install.decided) {
      install.decided = true
      install.duplicate = installedBefore(c, middleware, monitor)
      if (install.duplicate) warnDuplicateInstall('@perf/hono')
    }
    if (install.duplicate) return next()
    let pending: Pending | undefined
    // On node-server, read and write the Node objects: touching `c.req.raw.headers` or `c.res` after
    // the handler would turn node-server's lightweight Request/Response into full web objects.
    const node = nodeBindings(c)
    let made = false
    let ignored = false
    let id: string | undefined
    let ctx: RequestContext | undefined
    try {
      ignored = recorder.ignores && recorder.isIgnored(pathOf(rawTarget(c, node?.incoming)), c.req.method)
      if (header !== undefined) {
        id = recorder.requestId(
          node !== undefined ? rawHeader(node.incoming.rawHeaders, header) : c.req.raw.headers.get(header),
        )
        c.set('requestId', id)
        if (node === undefined) c.header(header, id)
        else if (idAtWriteHead === undefined || !idAtWriteHead.add(node.outgoing, id)) {
          node.outgoing.setHeader(header, id)
        }
      }
      ctx = recorder.contextEnabled ? recorder.newContext(id ?? recorder.requestId(undefined)) : undefined
      made = true
    } catch (err) {
      recorder.fail('request', err)
    }
    if (made) {
      // Made outside the try block (its constructor never throws): see @perf/express's middleware.
      pending = new Pending(recorder, c, node?.incoming, now(), id, ctx, ignored)
      if (node !== undefined && !ignored) {
        try {
          watchResponse(
            node.incoming as TrackableRequest,
            node.outgoing as unknown as TrackableResponse,
            pending,
          )
        } catch (err) {
          recorder.fail('request', err)
        }
      }
    }
    const done =
      pending?.context !== undefined ? recorder.monitor.runInRequest(pending.context, next) : next()
    if (pending === undefined || pending.ignored || node !== undefined) return done
    return finishAfter(done, c, pending, header)
  }
  INSTALLED.set(middleware, monitor)
  return middleware
}

type WriteHead = (this: Outgoing, statusCode: number, ...rest: unknown[]) => unknown

/**
 * Sends the request id among the headers a node-server response's `writeHead` is given, by giving
 * the response a `writeHead` of ours around its own. `outgoing.setHeader` before the handler would be
 * simpler, but it makes Node take `writeHead`'s slow path on every response: node-server passes its
 * headers to `writeHead`, and with a header already set Node merges them one `setHeader` (validation,
 * lower-casing) at a time (about 1.6 µs a request; BENCHMARKS.md, HTTP). Here the id joins a copy of
 * those headers (node-server's object, or the app's own, is not changed), so Node writes them in one
 * pass. An id the app set itself, with `setHeader` or among the headers, is kept. With no headers
 * given (Node's implicit `writeHead`), it is set as before.
 */
class IdAtWriteHead {
  /** The `writeHead` last found on a response's prototype chain (Node's own, nearly always). */
  private found: WriteHead | undefined = undefined
  /** Ours around {@link found}: made when another is found, so a response asks nothing of its prototype. */
  private ours: WriteHead | undefined = undefined

  constructor(private readonly header: string) {}

  /**
   * Makes `outgoing` send `id` with the headers its `writeHead` gets, or returns `false` when the
   * response has a `writeHead` of its own already (someone else's, or another monitor's): the caller
   * sets the header instead. The own-property test runs only when the `writeHead` found is not the
   * one found last (it is a call per response otherwise: about 100 instructions on Node 20).
   */
  add(outgoing: Outgoing, id: string): boolean {
    const current = outgoing.writeHead as WriteHead
    if (current !== this.found) {
      if (typeof current !== 'function' || Object.hasOwn(outgoing, 'writeHead')) return false
      this.found = current
      this.ours = sendingId(this.header, current)
    }
    outgoing[REQUEST_ID] = id
    outgoing.writeHead = this.ours!
    return true
  }
}

/**
 * A `writeHead` that calls `own` (the response's prototype's, found when it was made: no prototype is
 * looked up per response) with the request id added to the headers it is given.
 */
function sendingId(header: string, own: WriteHead): WriteHead {
  return function writeHead(this: Outgoing, statusCode: number, reason?: unknown, obj?: unknown): unknown {
    const id = this[REQUEST_ID]
    if (id !== undefined && !this.headersSent && !this.hasHeader(header)) {
      const given = typeof reason === 'string' ? obj : (obj ?? reason)
      const headers = given === undefined || given === null ? undefined : withHeader(given, header, id)
      if (headers !== undefined) {
        return typeof reason === 'string'
          ? own.call(this, statusCode, reason, headers)
          : own.call(this, statusCode, headers)
      }
      if (given === undefined || given === null) this.setHeader(header, id)
    }
    // biome-ignore lint/complexity/noArguments: passed on exactly as given
    return own.apply(this, arguments as unknown as [number, ...unknown[]])
  }
}

/**
 * `headers` (a `writeHead` argument: an object, a flat `[name, value, …]` array or an array of pairs)
 * copied with `name: id` added, or `undefined` when they carry `name` already (in any case) or are
 * none of those.
 */
const withHeader = (headers: unknown, name: string, id: string): object | undefined => {
  if (typeof headers !== 'object' || headers === null) return undefined
  if (Array.isArray(headers)) {
    const pairs = headers.length > 0 && Array.isArray(headers[0])
    for (let i = 0; i < headers.length; i += pairs ? 1 : 2) {
      if (isName(pairs ? (headers[i] as unknown[])[0] : headers[i], name)) return undefined
    }
    return pairs ? [...headers, [name, id]] : [...headers, name, id]
  }
  const copy: Record<string, unknown> = {}
  const from = headers as Record<string, unknown>
  for (const key in from) {
    // The form the engine folds inside a for-in over the same object (a map check, where
    // `Object.hasOwn` is a call per key on Node 20).
    // biome-ignore lint/suspicious/noPrototypeBuiltins: the form the engine folds (above)
    if (!Object.prototype.hasOwnProperty.call(from, key)) continue
    if (isName(key, name)) return undefined
    copy[key] = from[key]
  }
  copy[name] = id
  return copy
}

/** Whether header name `key` is `lowerName` in any case (without a closure per response). */
const isName = (key: unknown, lowerName: string): boolean => {
  return typeof key === 'string' && key.length === lowerName.length && key.toLowerCase() === lowerName
}

/** Each `perf` middleware, with its monitor. */
const INSTALLED = new WeakMap<object, Monitor>()

/**
 * Whether a `perf` middleware of the same monitor runs before `middleware` on this request (the app
 * installed it twice, or once on the app and again on a sub-app): that one records the request.
 */
function installedBefore(c: Context, middleware: object, monitor: Monitor): boolean {
  try {
    const routes = (c.req as unknown as { matchedRoutes?: readonly MatchedRoute[] }).matchedRoutes ?? []
    for (const route of routes) {
      if (route.handler === middleware) return false
      if (INSTALLED.get(route.handler) === monitor) return true
    }
  } catch {
    // No matched routes to read (an older hono): record, as before.
  }
  return false
}

/** Off node-server: the request ends when the handler's `Response` is there. */
async function finishAfter(
  done: Promise<void>,
  c: Context,
  pending: Pending,
  header: string | undefined,
): Promise<void> {
  await done
  try {
    // A handler that returned its own Response bypassed the header set before it.
    const id = pending.requestId
    if (id !== undefined && !c.res.headers.has(header!)) c.header(header!, id)
  } catch (err) {
    pending.recorder.fail('response', err)
  }
  pending.finish(undefined, false)
}

/**
 * The request target as the client sent it (percent-encoding kept), like the express and fastify
 * adapters report it; `c.req.path` would be decoded.
 */
const rawTarget = (c: Context, incoming: Incoming | undefined): string => {
  if (typeof incoming?.url === 'string') return incoming.url
  const url = c.req.url
  const slash = url.indexOf('/', url.indexOf('//') + 2)
  return slash < 0 ? '/' : url.slice(slash)
}

/** The Node request and response when running on `@hono/node-server` (its `c.env`, no copy). */
const nodeBindings = (c: Context): { incoming: Incoming; outgoing: Outgoing } | undefined => {
  const env = c.env as { incoming?: Incoming; outgoing?: Outgoing } | undefined
  return env?.incoming !== undefined && typeof env.outgoing?.on === 'function'
    ? (env as { incoming: Incoming; outgoing: Outgoing })
    : undefined
}

/**
 * The template of the route that answered, or `undefined` when none did. Hono leaves `routeIndex` at
 * the last handler it ran; when that is a middleware (`app.use`: method ALL, takes `next`) that passed
 * the request on and the answer is 404, the not-found handler answered.
 */
const routeOf = (c: Context, status: number): string | undefined => {
  const route = matchedRoute(c.req, c.req.routeIndex)
  if (route === undefined) return undefined
  if (status === 404 && route.method === 'ALL' && route.handler.length >= 2) return undefined
  return route.path
}

/**
 * Hono's key (a symbol, `GET_MATCH_RESULT` inside hono) of a request's match result, whose first item
 * lists `[[handler, route], params]` per matched handler: found on the first request and checked
 * against `matchedRoutes` there; `null` where there is none (an older hono, or not that shape).
 * `matchedRoutes` maps the match result to a new array, with a new callback, on every read. A `const`
 * object's field, not a `let`, which optimised code tests at every read (ARCHITECTURE, Adapters).
 */
const found: { matchKey: symbol | null | undefined } = { matchKey: undefined }

type MatchEntry = readonly [readonly [unknown, MatchedRoute], unknown]

/** The route hono's request `req` matched at `index` (`matchedRoutes[index]`), without a copy. */
const matchedRoute = (req: object, index: number): MatchedRoute | undefined => {
  let matchKey = found.matchKey
  if (matchKey === undefined) matchKey = found.matchKey = findMatchKey(req)
  if (matchKey !== null && matchKey !== undefined) {
    const result = (req as Record<symbol, unknown>)[matchKey] as readonly unknown[] | undefined
    const entries = result?.[0]
    // Another copy of hono (its own key) reads as undefined here: the documented way below.
    if (Array.isArray(entries)) return (entries[index] as MatchEntry | undefined)?.[0][1]
  }
  return (req as { matchedRoutes?: readonly MatchedRoute[] }).matchedRoutes?.[index]
}

/**
 * The symbol of `found.matchKey` on `req`'s prototype: the one whose entries give `matchedRoutes`;
 * `undefined` (ask again) when the request matched nothing to compare with.
 */
function findMatchKey(req: object): symbol | null | undefined {
  try {
    const routes = (req as { matchedRoutes?: readonly MatchedRoute[] }).matchedRoutes
    if (!Array.isArray(routes)) return null
    if (routes.length === 0) return undefined
    const proto = Object.getPrototypeOf(req) as object | null
    if (proto === null) return null
    for (const key of Object.getOwnPropertySymbols(proto)) {
      if (typeof Object.getOwnPropertyDescriptor(proto, key)?.get !== 'function') continue
      const entries = ((req as Record<symbol, unknown>)[key] as unknown[] | undefined)?.[0]
      if (!Array.isArray(entries) || entries.length !== routes.length) continue
      const same = entries.every((e, i) => Array.isArray(e) && Array.isArray(e[0]) && e[0][1] === routes[i])
      if (same) return key
    }
  } catch {
    // Nothing readable: the documented way.
  }
  return null
}
