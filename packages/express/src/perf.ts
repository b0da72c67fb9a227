import { IncomingMessage } from 'node:http'
import type { HttpOptions, Monitor } from '@perf/core'
import {
  createHttpRecorder,
  type HttpRecorder,
  now as nowImport,
  pathOf as pathOfImport,
  PendingRequest,
  type RequestContext,
  type TrackableRequest,
  type TrackableResponse,
  warnDuplicateInstall,
  watchResponse as watchResponseImport,
} from '@perf/core/http'
import { type LayerLike, MountTemplates, routerStack } from './mount-template.js'

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
  readonly headersSent: boolean
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

// The imported functions a request calls, and `Pending` below, are module consts, which optimised
// code folds in; an import or a class declaration it checks at every call (ARCHITECTURE, Adapters).
const now = nowImport
const pathOf = pathOfImport
const watchResponse = watchResponseImport

/** One express request from the middleware to its end (see `PendingRequest` in `@perf/core`). */
const Pending = class Pending extends PendingRequest {
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
    if (this.status >= 500) this.thrown = THROWN.get(req)
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
 * A thrown error is the event's error (an error middleware appended to the app notes it). A second
 * install on the same app with the same monitor does nothing but emit a `PERF_DUPLICATE_INSTALL` warning.
 */
export function perf(monitor: Monitor, options?: ExpressPerfOptions): ExpressMiddleware {
  const recorder = createHttpRecorder(monitor, options, '@perf/express')
  if (!monitor.enabled) return (_req, _res, next) => next()
  const header = recorder.header
  const mounts = new MountTemplates()
  /** Where `setHeader` writes on the responses of the app last seen (see {@link setIdHeader}). */
  const table: HeaderTable = { proto: undefined, key: null }
  /**
   * What the middleware knows of the apps it serves. Fields of one `const` object, not `let`s of this
   * closure: optimised code tests a closure's `let` for initialisation at every read (sixteen tests in
   * this middleware's optimised code, Node 20), where the object's fields are plain loads.
   */
  const seen: Seen = {
    app: NO_APP,
    checked: false,
    request: null,
    duplicate: false,
    stack: undefined,
    withId: null,
    warned: false,
  }
  return function perfMiddleware(req, res, next) {
    try {
      // Express gives each request its app's own prototype (`app.request`, which holds `app`): once
      // that was checked, the prototype says the app is the one seen last without reading `req.app`.
      // Express's requests each have a hidden class of their own, and on Node 20 and 22 a property
      // name read on one that nothing else reads is a miss of V8's inline caches, a lookup in its
      // runtime of some hundreds of ns (BENCHMARKS.md, http-ic); `Object.getPrototypeOf` reads none.
      const app = seen.checked && Object.getPrototypeOf(req) === seen.request ? seen.app : req.app
      if (app !== seen.app) {
        seen.app = app
        seen.checked = false
        seen.duplicate = !ownsApp(app, monitor, perfMiddleware)
        seen.stack = seen.duplicate ? undefined : routerStack(app)
        if (seen.duplicate && !seen.warned) {
          seen.warned = true
          warnDuplicateInstall('@perf/express')
        }
      }
      const stack = seen.stack
      if (!seen.duplicate && stack !== undefined && stack[stack.length - 1]?.handle !== keepThrown) {
        seen.stack = appendKeepThrown(app, stack)
      }
    } catch (err) {
      seen.stack = undefined
      recorder.fail('request', err)
    }
    if (seen.duplicate) return next()
    let ignored = true
    let id: string | undefined
    let ctx: RequestContext | undefined
    try {
      ignored = recorder.ignores && recorder.isIgnored(pathOf(req.url), req.method)
      if (header !== undefined) {
        id = recorder.requestId(req.headers[header])
        const resProto = setIdHeader(res, header, id, table, seen.checked)
        if (!seen.checked) {
          const proto = Object.getPrototypeOf(req) as object | null
          if (proto !== seen.withId) seen.withId = installId(proto, header)
          seen.checked = resProto !== undefined && isAppsOwn(seen.app, proto, resProto)
          seen.request = proto
        }
        // A request whose prototype chain could not take the accessor: an own property, the slow path.
        if (seen.withId === null) setOwnId(req, id)
      }
      if (recorder.contextEnabled) {
        ctx = recorder.newContext(id ?? recorder.requestId(undefined))
        // enterWith, not run: express calls `next()` from stream callbacks (a body parser's 'end'),
        // which run in the connection's async context, so the context is set there. Ignored requests
        // enter one too, so a request never sees the one before it on a kept-alive connection.
        recorder.monitor.enterRequest(ctx)
      }
    } catch (err) {
      ignored = true
      recorder.fail('request', err)
    }
    if (!ignored) {
      // Made outside the try block (its constructor never throws): where `new` is inside a try block,
      // V8 does not inline the derived class's `super()` call, and the generic construct it takes cost
      // about 17 ns a request (a scratch loop, Node 20 and 24: 35 ns inside a try, 17.5 outside; 280
      // instructions on an express hello world under cachegrind, Node 24).
      const pending = new Pending(recorder, mounts, req, now(), id, ctx)
      try {
        watchResponse(req as TrackableRequest, res as unknown as TrackableResponse, pending)
      } catch (err) {
        recorder.fail('request', err)
      }
    }
    next()
  }
}

/** What {@link perf}'s middleware knows of the apps it serves (one object per middleware). */
interface Seen {
  /**
   * The app of the last request, and what was decided for it below: apps change rarely (sub-apps,
   * one middleware shared by two apps), so a request pays one comparison.
   */
  app: unknown
  /**
   * Whether the request and response prototypes of `app` were checked: express gives every request
   * and response of an app the app's own two (`app.request`, `app.response`), so once the first
   * request of an app had them, later responses are not asked. `Object.getPrototypeOf` on express's
   * requests and responses is a call into the engine's runtime (about 120 instructions each, Node 24);
   * the request's is still asked once per request, in place of `req.app`.
   */
  checked: boolean
  /** `app`'s request prototype (`app.request`), valid while {@link checked}. */
  request: object | null
  /** Whether another `perf(monitor)` on `app` runs first, making this one a no-op. */
  duplicate: boolean
  /** `app`'s router stack, watched for the error middleware appended at its end. */
  stack: readonly LayerLike[] | undefined
  /** The request prototype last seen to carry the `id` accessor (express's, shared by its apps). */
  withId: object | null
  /** Whether the duplicate install was warned of. */
  warned: boolean
}

const NO_APP = {}

/** Per app, per monitor: the middleware that records the app's requests (the first to see one). */
const OWNERS = new WeakMap<object, Map<Monitor, object>>()

/**
 * Whether `middleware` records `app`'s requests for `monitor`: a second `perf(monitor)` on the same
 * app would count every request twice, so it stands aside (two monitors on one app each record).
 */
function ownsApp(app: unknown, monitor: Monitor, middleware: object): boolean {
  if (app === null || (typeof app !== 'function' && typeof app !== 'object')) return true
  let owners = OWNERS.get(app)
  if (owners === undefined) OWNERS.set(app, (owners = new Map()))
  const owner = owners.get(monitor)
  if (owner === undefined) owners.set(monitor, middleware)
  return owner === undefined || owner === middleware
}

/** The error each failed request carried to the end of its app's stack (set only on that path). */
const THROWN = new WeakMap<object, unknown>()

/**
 * The last layer of the app's stack, so that the error express's final handler would answer with is
 * the event's error, as fastify's `onError` and hono's `c.error` give it. An error handler (four
 * parameters), so express skips it for every request that did not fail. An error the app's own error
 * middleware answers without passing it on never gets here: that request records its status.
 */
function keepThrown(err: unknown, req: object, _res: unknown, next: (err?: unknown) => void): void {
  THROWN.set(req, err)
  next(err)
}

/**
 * Appends {@link keepThrown} to the app (again when routes were added after it): appending never
 * moves a layer under a request in flight. Returns the stack to watch, or `undefined` when the app
 * cannot take it (not an express app).
 */
function appendKeepThrown(app: unknown, stack: readonly LayerLike[]): readonly LayerLike[] | undefined {
  ;(app as { use?: (fn: unknown) => unknown }).use?.(keepThrown)
  return stack[stack.length - 1]?.handle === keepThrown ? stack : undefined
}

/**
 * `req.id` as an accessor on express's request prototype rather than a property written on every
 * request: adding a property to a request object costs every later access to it (measured on a
 * hello-world request: BENCHMARKS.md, HTTP). The accessor reads the id back from the response's
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

/**
 * What {@link setIdHeader} learnt of an app's responses: the prototype of the last one it saw
 * (express's `app.response`, one per app), and Node's own key of its table of the headers set so far
 * (`kOutHeaders`), or `null` where there is none to use: not Node's `ServerResponse`, or a Node whose
 * table does not read back as `setHeader` writes it. Then `setHeader` is called.
 */
interface HeaderTable {
  proto: object | null | undefined
  key: symbol | null
}

/**
 * Whether `app` is an express app whose own prototypes these are: express sets them on each of its
 * requests and responses (`app.handle` in express 5, `expressInit` in express 4), so its next
 * requests will have them too.
 */
function isAppsOwn(app: unknown, reqProto: object | null, resProto: object | null): boolean {
  if (typeof app !== 'function') return false
  const own = app as unknown as { request?: unknown; response?: unknown }
  return reqProto !== null && reqProto === own.request && resProto === own.response
}

/**
 * Sets the request-id header as `res.setHeader(header, id)` would, into Node's table directly.
 * `setHeader` checks the name and the value against HTTP's grammar and lower-cases the name on every
 * call (two regular-expression runs: about 1,700 instructions a request on Node 24, an express hello
 * world counted under valgrind either way, and 2,100 on Node 20 counting the header alone); here the
 * name was checked and lower-cased once (`requestIdHeader`) and the id is plain by construction (a
 * generated one, or an incoming one of `[A-Za-z0-9._-]` only). Express sends that table as it is (its
 * `res.send` sets its headers one by one and lets Node's implicit `writeHead` write them), so the
 * bytes on the wire are the same. After the headers went out, or without the table, it is
 * `setHeader`, which throws as it did. With `known`, the response's prototype is `table.proto` (the
 * app's own, checked on its first request) and is not read. Returns the response's prototype, or
 * `undefined` when the headers had gone out (such a response says nothing about its prototype's table).
 */
const setIdHeader = (
  res: ExpressResponseLike,
  header: string,
  id: string,
  table: HeaderTable,
  known: boolean,
): object | null | undefined => {
  if (known && table.key !== null) {
    // Node's response (its table was probed): `_header` is the field `headersSent` reads, a name Node
    // reads on every response anyway (see `perfMiddleware` on what another name costs on Node 20).
    if ((res as unknown as NodeFields)._header == null && writeIntoTable(res, table.key, header, id)) {
      return table.proto
    }
    res.setHeader(header, id)
    return table.proto
  }
  if (res.headersSent) {
    res.setHeader(header, id)
    return undefined
  }
  if (!known) {
    const proto = Object.getPrototypeOf(res) as object | null
    if (proto !== table.proto) {
      table.key = outHeadersKey(res, header, id)
      table.proto = proto
    }
  }
  if (table.key === null || !writeIntoTable(res, table.key, header, id)) res.setHeader(header, id)
  return table.proto
}

/** Writes `header: id` into `res[key]` as `setHeader` does; `false` when that is not a table. */
const writeIntoTable = (res: ExpressResponseLike, key: symbol, header: string, id: string): boolean => {
  const raw = res as unknown as Record<symbol, unknown>
  let table = raw[key]
  // Made as Node makes it: a literal, so the table is a fast object like Node's own.
  if (table === null) raw[key] = table = { __proto__: null }
  else if (typeof table !== 'object') return false
  ;(table as Record<string, [string, string]>)[header] = [header, id]
  return true
}

/**
 * `kOutHeaders` of `res` if writing into it is what `setHeader` does on this Node: tried on the first
 * response of each prototype (the header written, then read back through `getHeader`, `hasHeader`
 * and `getHeaderNames`), else `null`, and then whatever was written is taken back.
 */
function outHeadersKey(res: ExpressResponseLike, header: string, id: string): symbol | null {
  try {
    const key = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders')
    const probe = res as unknown as { hasHeader?(n: string): boolean; getHeaderNames?(): string[] }
    if (key === undefined) return null
    // Node's field for the header block sent (null until then), which later responses are asked.
    if ((res as unknown as NodeFields)._header !== null) return null
    if (typeof probe.hasHeader !== 'function' || typeof probe.getHeaderNames !== 'function') return null
    const raw = res as unknown as Record<symbol, unknown>
    const before = raw[key]
    const had = probe.hasHeader(header)
    if (!writeIntoTable(res, key, header, id)) return null
    const reads =
      res.getHeader(header) === id &&
      probe.hasHeader(header) &&
      probe.getHeaderNames().filter((n) => n === header).length === 1
    if (reads) return key
    // Not Node's table after all: undo, so that setHeader is the only writer.
    if (before === null) raw[key] = null
    else if (!had) delete (before as Record<string, unknown>)[header]
    return null
  } catch {
    return null
  }
}

/** Node's `OutgoingMessage` field behind `headersSent`: the header block once written, else `null`. */
interface NodeFields {
  readonly _header?: unknown
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
