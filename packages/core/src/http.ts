import { coded } from './errors.js'
import { describeValue } from './describe-value.js'
import type { RequestContext } from './context.js'
import {
  type Monitor,
  type MonitorInternals,
  monitorInternals,
  type OpHandle,
  recordHeapDelta,
  trackHeapDeltas,
} from './monitor.js'
import {
  isPlainRequestId as isPlainRequestIdImport,
  newRequestId as newRequestIdImport,
} from './request-id.js'
import type { ResponseWatcher, TrackableResponse } from './response-tracker.js'
import { checkOptionKeys } from './option-keys.js'
import { now as nowImport } from './runtime.js'
import {
  type HeapMeasurement,
  requestEnded,
  requestMemoryAvailable,
  requestStarted,
  settleMeasurement,
} from './request-memory.js'

// The imported functions a request calls, as module consts (ARCHITECTURE, Adapters): optimised code
// reads an import, or a function this module exports, through its module cell and checks the callee
// before every call; a const's callee is folded in.
const now = nowImport
const newRequestId = newRequestIdImport
const isPlainRequestId = isPlainRequestIdImport

/** Event type of HTTP requests. */
export const HTTP_TYPE = 'http'
/** Route part of the op name of requests that matched no route (`GET <unmatched>`). */
export const UNMATCHED = '<unmatched>'
/** Method part of the op name of requests with a method outside {@link HTTP_METHODS}. */
export const OTHER_METHOD = '_OTHER'
/** Error reason of requests whose client went away before the response finished. */
export const ABORTED = 'aborted'
/** Header carrying the request id, unless an adapter is told otherwise. */
export const DEFAULT_REQUEST_ID_HEADER = 'x-request-id'

/** Methods named as themselves in op names; any other is {@link OTHER_METHOD}, so names stay bounded. */
export const HTTP_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'CONNECT',
  'TRACE',
  'QUERY',
])

/** Which requests not to record: exact paths (`'/health'`), prefixes (`'/internal/*'`), or a predicate. */
export type HttpIgnore = readonly string[] | ((path: string, method: string) => boolean)

/** Options shared by `@perf/express`, `@perf/fastify` and `@perf/hono`. */
export interface HttpOptions {
  /**
   * Requests not to record. Strings match the path (without query string) exactly, or as a prefix
   * when they end in `/*` (`'/admin/*'` matches `/admin` and everything below). A predicate gets the
   * path and the upper-case method. Handlers mounted with the adapter's web-handler utility are never
   * recorded, whatever this says.
   */
  ignore?: HttpIgnore
  /**
   * Header that carries the request id in and out (default `x-request-id`), or `false` to neither
   * read nor send one (events then carry no request id).
   */
  requestIdHeader?: string | false
  /**
   * Makes the id of a request that brought no usable one (default: a random per-process prefix
   * plus a counter, e.g. `k3J9sQ0aZ7fW2mPq-1c`, unique across processes and hosts; pass
   * `() => crypto.randomUUID()` for UUIDs). Each id it returns must be 1–128 characters of
   * `[A-Za-z0-9._-]`, since it is sent as a header; one that is not, or a throw, is counted in
   * `totals.internalErrors` and the request gets a default id instead.
   */
  generateRequestId?: () => string
  /**
   * Measure the heap each request allocates (default `false`). Only a request that ran alone in the
   * process (no other recorded request in flight at any point between its start and its end) with no
   * garbage collection in between is measured: its kept event gets `metadata.heapDeltaBytes`, and its
   * op's `memory` (in the snapshot) counts it. Every other request gets no figure, because any figure
   * would mix in other requests' allocations or the collector's frees. Needs Node.js (V8's heap
   * statistics and `gc` performance entries, found at run time); elsewhere `true` throws.
   */
  memory?: boolean
}

/** Every key {@link HttpOptions} accepts; any other is a misspelling and throws. */
export const HTTP_OPTION_KEYS: readonly (keyof HttpOptions)[] = [
  'ignore',
  'requestIdHeader',
  'generateRequestId',
  'memory',
]

/** What an adapter passes to a mounted {@link WebHandler} besides the request. */
export interface WebHandlerInfo {
  /** Address of the peer that connected (the socket's, never a forwarded header). */
  remoteAddress?: string
  /**
   * Path the handler is mounted at (`'/admin/performance'`, `''` at the root). The request's URL is
   * relative to it, as with express sub-apps and `app.mount` in hono; use it to build absolute links.
   */
  basePath?: string
}

/** A web-standard request handler, mountable in every framework with the adapters' utilities. */
export type WebHandler = (req: Request, info?: WebHandlerInfo) => Promise<Response>

/** The outcome of one request, as an adapter saw it. */
export interface HttpOutcome {
  /** The request's method as received. */
  readonly method: string
  /** The request URL as received (path and query); the query string is never kept. */
  readonly url: string
  readonly status: number
  /**
   * The request's and response's `Content-Length` as the framework gives them (string, number, or
   * `undefined`): parsed only for the events the monitor keeps.
   */
  readonly requestBytes?: unknown
  readonly responseBytes?: unknown
  readonly requestId?: string | undefined
  /** The request context the request ran in, if context was on. */
  readonly context?: RequestContext | undefined
  /** `true` when the client went away before the response finished. */
  readonly aborted?: boolean
  /** The error a handler threw, if the adapter saw it (described in the event when status ≥ 500). */
  readonly thrown?: unknown
}

/**
 * Requests not to record, in one set shared by every copy of this module in the process (two
 * versions of @perf in one app agree). A set, not a symbol property on the request: looking a
 * missing symbol up on express's request (whose prototype express swaps per request) walks its
 * prototype chain on every request, where `has` on an object never added returns at once.
 */
const UNRECORDED: WeakSet<object> = ((globalThis as Record<symbol, WeakSet<object> | undefined>)[
  Symbol.for('@perf/unrecorded-requests')
] ??= new WeakSet())
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/
const CACHE_FACTOR = 2

/**
 * Marks a framework request object (express `req`, fastify `request.raw`, hono `c.req.raw`) so that
 * `perf` does not record it. The web-handler utilities do this for the handlers they mount.
 */
export function markUnrecorded(request: object): void {
  UNRECORDED.add(request)
}

/** Whether {@link markUnrecorded} marked this request. */
export function isUnrecorded(request: object): boolean {
  return UNRECORDED.has(request)
}

/** The method as it appears in op names: itself when standard, else {@link OTHER_METHOD}. */
export function normalizeMethod(method: unknown): string {
  if (typeof method !== 'string') return OTHER_METHOD
  if (HTTP_METHODS.has(method)) return method
  const upper = method.toUpperCase()
  return HTTP_METHODS.has(upper) ? upper : OTHER_METHOD
}

/** The path of a request URL without its query string (and without a fragment). */
export function pathOf(url: string): string {
  const q = url.indexOf('?')
  const h = url.indexOf('#')
  const end = q < 0 ? h : h < 0 ? q : Math.min(q, h)
  return end < 0 ? url : url.slice(0, end)
}

/** A numeric `Content-Length`, or `undefined` when absent or malformed. */
export function contentLength(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > 16) return undefined
  const n = Number(value)
  return Number.isInteger(n) && n >= 0 ? n : undefined
}

// This module's own calls of those it exports, and the record's reads of ABORTED, go through consts,
// as for the imports above.
const ABORTED_HERE = ABORTED
const isUnrecordedHere = isUnrecorded
const pathOfHere = pathOf
const contentLengthHere = contentLength

/**
 * A header from Node's `rawHeaders` (`[name, value, name, value, …]`) without touching `req.headers`,
 * which Node builds on first access (an object and a pass over every header, per request). Returns
 * the value, an array when the header came more than once, or `undefined`. `lowerName` is lower-case.
 */
export function rawHeader(
  rawHeaders: readonly string[] | undefined,
  lowerName: string,
): string | string[] | undefined {
  if (rawHeaders === undefined) return undefined
  let found: string | string[] | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length !== lowerName.length || name.toLowerCase() !== lowerName) continue
    const value = rawHeaders[i + 1]!
    if (found === undefined) found = value
    else if (typeof found === 'string') found = [found, value]
    else found.push(value)
  }
  return found
}

const NOOP_OP: OpHandle = { type: HTTP_TYPE, name: 'noop', record: () => false }

/**
 * The framework-independent half of an HTTP adapter: option checking, op naming and interning,
 * request ids, ignore rules and the recording itself. Adapters only translate their framework's
 * request into calls on this; none of its methods throws at request time.
 */
export class HttpRecorder {
  readonly monitor: Monitor & MonitorInternals
  /** Lower-case request id header, or `undefined` when request ids are off. */
  readonly header: string | undefined
  /** The user's id generator, or `undefined` for {@link newRequestId}. */
  private readonly generate: (() => string) | undefined
  private readonly source: string
  private readonly exact: ReadonlySet<string> | undefined
  private readonly prefixes: readonly string[]
  private readonly predicate: ((path: string, method: string) => boolean) | undefined
  /** Whether any ignore rule exists, so adapters skip the check (and the path) when none does. */
  readonly ignores: boolean
  /** method → route → interned op. Bounded: past the cap, lookups go to `monitor.op` uncached. */
  private readonly ops: Map<string, Map<string, OpHandle>> = new Map()
  private cached = 0
  private readonly maxCached: number
  /** `options.memory`: whether requests are counted in flight and measured when alone. */
  readonly memory: boolean

  /**
   * Checks `options` (a bad one throws a `TypeError` naming it and what is accepted).
   * `source` names the adapter in counted internal errors.
   */
  constructor(monitor: Monitor, options: HttpOptions | undefined, source: string) {
    if (monitor === null || typeof monitor !== 'object' || typeof monitor.op !== 'function') {
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new TypeError(`${source}: expected a monitor from createMonitor(), got ${describeValue(monitor)}`),
      )
    }
    const opts = options ?? {}
    if (typeof opts !== 'object')
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(`${source}: options must be an object, got ${describeValue(opts)}`),
      )
    checkOptionKeys(`${source} options`, opts, HTTP_OPTION_KEYS)
    this.monitor = monitorInternals(monitor)
    this.source = source
    this.header = checkHeader(source, opts.requestIdHeader)
    const generate = opts.generateRequestId
    if (generate !== undefined && typeof generate !== 'function') {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(
          `${source}: options.generateRequestId = ${describeValue(generate)} is not valid: expected a function returning 1-128 characters of [A-Za-z0-9._-]`,
        ),
      )
    }
    this.generate = generate
    const ignore = opts.ignore
    const exact = new Set<string>()
    const prefixes: string[] = []
    if (typeof ignore === 'function') this.predicate = ignore
    else if (ignore !== undefined) {
      if (!Array.isArray(ignore) || ignore.some((p) => typeof p !== 'string' || !p.startsWith('/'))) {
        throw coded(
          'PERF_INVALID_OPTION',
          new TypeError(
            `${source}: options.ignore = ${Array.isArray(ignore) ? 'an array with a non-path entry' : describeValue(ignore)} is not valid: expected an array of paths starting with "/" (a trailing "/*" matches a prefix) or a function (path, method) => boolean`,
          ),
        )
      }
      for (const p of ignore as readonly string[]) {
        if (p.endsWith('/*')) prefixes.push(p.slice(0, -2))
        else exact.add(p)
      }
    }
    this.exact = exact.size > 0 ? exact : undefined
    this.prefixes = prefixes
    this.ignores = this.predicate !== undefined || this.exact !== undefined || prefixes.length > 0
    this.maxCached = CACHE_FACTOR * (monitor.config?.maxOps ?? 2000) + 64
    this.memory = checkMemory(source, opts.memory)
  }

  /** Whether request context is on (then adapters run the request in {@link newContext}). */
  get contextEnabled(): boolean {
    return this.monitor.requestContextEnabled === true
  }

  /** Whether an ignore rule matches this path (without query string). Never throws. */
  isIgnored(path: string, method: string): boolean {
    if (this.exact?.has(path)) return true
    for (const prefix of this.prefixes) {
      if (
        path.startsWith(prefix) &&
        (path.length === prefix.length || path.charCodeAt(prefix.length) === 47)
      ) {
        return true
      }
    }
    if (this.predicate === undefined) return false
    try {
      return this.predicate(path, method) === true
    } catch (err) {
      this.fail('ignore predicate', err)
      return false
    }
  }

  /**
   * The id for a request given its incoming header value: echoed when it is one plain value
   * (1–128 of `[A-Za-z0-9._-]`), else fresh. Duplicate headers (an array, or values joined by `, `)
   * are never echoed.
   */
  requestId(incoming: unknown): string {
    const id =
      incoming !== undefined && incoming !== null && isPlainRequestId(incoming)
        ? incoming
        : this.generate === undefined
          ? newRequestId()
          : this.generated(this.generate)
    this.lastId = id
    return id
  }

  /**
   * The id {@link requestId} returned last: plain by construction, so an adapter that finds it on the
   * request it is about to answer can send it without checking it again.
   */
  lastId: string | undefined = undefined

  /** An id from the user's generator, checked because it goes into a response header. */
  private generated(generate: () => string): string {
    let id: unknown
    try {
      id = generate()
    } catch (err) {
      this.fail('generateRequestId', err)
      return newRequestId()
    }
    if (isPlainRequestId(id)) return id
    this.fail(
      'generateRequestId',
      new TypeError(
        `options.generateRequestId returned ${describeValue(id)}: expected 1-128 characters of [A-Za-z0-9._-]`,
      ),
    )
    return newRequestId()
  }

  /** A fresh request context for a request id. */
  newContext(requestId: string): RequestContext {
    return { requestId, dbQueries: 0, dbMs: 0 }
  }

  /**
   * The interned op of a route (`route` is the full template, e.g. `/api/notes/:id`), or of the
   * method's unmatched requests when `route` is `undefined`. Cached, so a request builds no name.
   */
  op(method: string, route: string | undefined): OpHandle {
    // A server answers the same route over and over: two string compares (the framework hands the
    // same method and route strings each time) instead of a method check and two map lookups.
    if (method === this.lastMethod && route === this.lastRoute && this.lastOp !== undefined) {
      return this.lastOp
    }
    const op = this.lookup(method, route)
    // A failed lookup is retried on the next request.
    if (op !== NOOP_OP) {
      this.lastMethod = method
      this.lastRoute = route
      this.lastOp = op
    }
    return op
  }

  private lastMethod: string | undefined
  private lastRoute: string | undefined
  private lastOp: OpHandle | undefined

  private lookup(method: string, route: string | undefined): OpHandle {
    const m = normalizeMethod(method)
    const r = route === undefined || route === '' ? UNMATCHED : route
    let byRoute = this.ops.get(m)
    if (byRoute === undefined) this.ops.set(m, (byRoute = new Map()))
    const hit = byRoute.get(r)
    if (hit !== undefined) return hit
    let op: OpHandle
    try {
      op = this.monitor.op(HTTP_TYPE, r === UNMATCHED ? `${m} ${UNMATCHED}` : `${m} ${r}`)
    } catch (err) {
      this.fail('op', err)
      return NOOP_OP
    }
    // Marks the op as measured, so that the page can say when none of its requests could be.
    if (this.memory) trackHeapDeltas(op)
    if (this.cached < this.maxCached) {
      this.cached++
      byRoute.set(r, op)
    }
    return op
  }

  /**
   * Records one finished request on its op: error when aborted or status ≥ 500, metadata on kept
   * events. Never throws: a failing or closed monitor is counted, the request is not affected.
   */
  record(op: OpHandle, durationMs: number, outcome: HttpOutcome): void {
    try {
      const status = outcome.status
      let error: unknown
      if (outcome.aborted === true) error = ABORTED_HERE
      else if (status >= 500) error = outcome.thrown ?? `HTTP ${status}`
      // One options object, reused: record() is synchronous and keeps nothing of it, and the details
      // are built by `details` only for the events the monitor keeps.
      const opts = this.opts
      // An aborted request has no real status: it is counted as an error, not in a status class.
      opts.status = status > 0 && error !== ABORTED_HERE ? status : undefined
      opts.requestId = outcome.requestId
      opts.error = error
      this.current = outcome
      op.record(Number.isFinite(durationMs) && durationMs > 0 ? durationMs : 0, opts)
    } catch (err) {
      this.fail('record', err)
    } finally {
      this.current = undefined
    }
  }

  /**
   * Records a request that ran alone (see {@link HttpOptions.memory}): `bytes` is its heap delta, or
   * `undefined` when a collection ran during it.
   */
  recordMeasured(op: OpHandle, durationMs: number, outcome: HttpOutcome, bytes: number | undefined): void {
    this.heapDelta = bytes
    this.record(op, durationMs, outcome)
    this.heapDelta = undefined
    if (bytes === undefined) return
    try {
      recordHeapDelta(op, bytes)
    } catch (err) {
      this.fail('memory', err)
    }
  }

  /** The heap delta of the request being recorded by {@link recordMeasured}. */
  private heapDelta: number | undefined = undefined
  private current: HttpOutcome | undefined
  private readonly opts: {
    status?: number
    requestId?: string
    error?: unknown
    metadata: () => Record<string, unknown>
  } = {
    metadata: () => this.details(),
  }

  /**
   * The kept event's details, from the request being recorded, in a reused object: the monitor copies
   * what it keeps (into its ring's columns, or as a sanitized copy) and holds nothing of it past the
   * record call, so a fresh object per kept event would only be garbage. One object per set of fields
   * present (unknown sizes, no request context leave theirs out rather than show null), each with its
   * keys always in the same order, so the monitor sees few shapes. The request id is not among them:
   * it is the event's own `requestId` (a second copy here cost every kept event a redaction screen).
   */
  private details(): Record<string, unknown> {
    const outcome = this.current!
    const requestBytes = contentLengthHere(outcome.requestBytes)
    // A HEAD response declares the GET body's length but sends none.
    const responseBytes = outcome.method === 'HEAD' ? 0 : contentLengthHere(outcome.responseBytes)
    const ctx = outcome.context
    const heapDelta = this.heapDelta
    const fields =
      (requestBytes !== undefined ? 1 : 0) |
      (responseBytes !== undefined ? 2 : 0) |
      (ctx !== undefined ? 4 : 0) |
      (heapDelta !== undefined ? 8 : 0)
    let metadata = this.scratch[fields]
    if (metadata === undefined) {
      metadata = { method: '', path: '', status: 0 }
      if (fields & 1) metadata.requestBytes = 0
      if (fields & 2) metadata.responseBytes = 0
      if (fields & 4) {
        metadata.dbQueries = 0
        metadata.dbMs = 0
      }
      if (fields & 8) metadata.heapDeltaBytes = 0
      this.scratch[fields] = metadata
    }
    metadata.method = outcome.method
    metadata.path = pathOfHere(outcome.url)
    metadata.status = outcome.status
    if (requestBytes !== undefined) metadata.requestBytes = requestBytes
    if (responseBytes !== undefined) metadata.responseBytes = responseBytes
    if (ctx !== undefined) {
      metadata.dbQueries = ctx.dbQueries
      metadata.dbMs = ctx.dbMs
    }
    if (heapDelta !== undefined) metadata.heapDeltaBytes = heapDelta
    return metadata
  }

  /** {@link details}' objects, by the bit set of fields present. */
  private readonly scratch: (Record<string, unknown> | undefined)[] = []

  /** Counts a failure inside the adapter on the monitor; never throws, even if the monitor does. */
  fail(where: string, err: unknown): void {
    try {
      this.monitor.reportInternalError(`${this.source} ${where}`, err)
    } catch {
      // The monitor itself is broken; the request must still go on.
    }
  }
}

/**
 * One request from its start to its end, shared by the adapters: it is the `ResponseWatcher` that
 * `watchResponse` tells and the `HttpOutcome` the recorder reads (one object per request, no
 * closure). An adapter says where its framework keeps the raw request, the status, the thrown error
 * and the route, and gives the kept event's details as getters, which run only for the events the
 * monitor keeps. Ending never throws: a failure is counted on the monitor.
 */
export abstract class PendingRequest implements ResponseWatcher, HttpOutcome {
  status = 0
  aborted = false
  thrown: unknown = undefined

  constructor(
    readonly recorder: HttpRecorder,
    readonly start: number,
    readonly requestId: string | undefined,
    readonly context: RequestContext | undefined,
    /**
     * `false` for a request the adapter runs but will never finish (hono's ignored requests): with
     * `memory: true` it is then not counted in flight, so that it cannot keep every later one from being measured.
     */
    finishes = true,
  ) {
    // Never throws, so that an adapter can make one outside its try block (see the adapters).
    if (recorder.memory && finishes) {
      try {
        requestStarted(this)
      } catch (err) {
        recorder.fail('request', err)
      }
    }
  }

  abstract get method(): string
  abstract get url(): string
  abstract get requestBytes(): unknown
  abstract get responseBytes(): unknown

  /** The framework's raw request, as `markUnrecorded` marks it. */
  protected abstract rawRequest(): object

  /**
   * Reads the outcome from the framework once the response ended (`res` is the Node response when
   * there is one): sets `status` (and `thrown` where the framework keeps it) and returns the route
   * template, or `undefined` when no route matched.
   */
  protected abstract settle(res: TrackableResponse | undefined): string | undefined

  ended(res: TrackableResponse, aborted: boolean): void {
    this.finish(res, aborted)
  }

  /** Records the request on its route's op. Called once, by `watchResponse` or by the adapter. */
  finish(res: TrackableResponse | undefined, aborted: boolean): void {
    const recorder = this.recorder
    try {
      if (recorder.memory && this.measuredEnd(res, aborted)) return
      if (isUnrecordedHere(this.rawRequest())) return
      const ms = now() - this.start
      this.aborted = aborted
      // Resolved only now: an unrecorded request (the dashboard's own) must not intern an op.
      const route = this.settle(res)
      recorder.record(recorder.op(this.method, route), ms, this)
    } catch (err) {
      recorder.fail('response', err)
    }
  }

  /**
   * Ends the request's flight (`memory: true`). When it ran alone, records it once the GC feed says
   * whether a collection ran during it, and returns `true`; else returns `false` and `finish` records.
   */
  private measuredEnd(res: TrackableResponse | undefined, aborted: boolean): boolean {
    const measured: HeapMeasurement | undefined = requestEnded(this)
    if (measured === undefined) return false
    const ms = now() - this.start
    settleMeasurement(measured, (bytes) => {
      const recorder = this.recorder
      try {
        if (isUnrecordedHere(this.rawRequest())) return
        this.aborted = aborted
        recorder.recordMeasured(recorder.op(this.method, this.settle(res)), ms, this, bytes)
      } catch (err) {
        recorder.fail('response', err)
      }
    })
    return true
  }
}

function checkMemory(source: string, value: unknown): boolean {
  if (value === undefined || value === false) return false
  if (value !== true) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${source}: options.memory = ${describeValue(value)} is not valid: expected true or false`,
      ),
    )
  }
  if (!requestMemoryAvailable()) {
    throw Object.assign(
      new Error(
        `${source}: options.memory = true needs Node.js (V8 heap statistics and "gc" performance entries, through process.getBuiltinModule); this runtime has not got them, so memory per request cannot be measured here`,
      ),
      { code: 'PERF_MEMORY_UNAVAILABLE' },
    )
  }
  return true
}

function checkHeader(source: string, value: unknown): string | undefined {
  if (value === undefined) return DEFAULT_REQUEST_ID_HEADER
  if (value === false) return undefined
  if (typeof value === 'string' && TOKEN.test(value)) return value.toLowerCase()
  throw coded(
    'PERF_INVALID_OPTION',
    new TypeError(
      `${source}: options.requestIdHeader = ${describeValue(value)} is not valid: expected a header name (1-64 token characters) or false`,
    ),
  )
}

/** Creates the shared recorder an HTTP adapter translates into. Throws on invalid options. */
export function createHttpRecorder(
  monitor: Monitor,
  options: HttpOptions | undefined,
  source: string,
): HttpRecorder {
  return new HttpRecorder(monitor, options, source)
}
