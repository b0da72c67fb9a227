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
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** Options of {@link perf}: the monitor plus `HttpOptions` from `@perf/core`. */
export interface FastifyPerfOptions extends HttpOptions {
  monitor: Monitor
}

const ERROR = Symbol('perf.error')
/** Instance decoration: the monitors `perf` is installed with (inherited by encapsulated children). */
const INSTALLED = Symbol('perf.installed')
/** What fastify's default generator makes: `req-` and a base-36 counter. */
const FASTIFY_DEFAULT_ID = /^req-[0-9a-z]{1,7}$/
/** A request id an app's generator made that can go in a response header as it is. */
const HEADER_SAFE = /^[\x21-\x7e][\x20-\x7e]{0,1023}$/

/** Request decoration; declared once so every request has the same shape. */
interface PerfRequest {
  [ERROR]: unknown
}

// The imported functions a request calls, and `Pending` below, are module consts, which optimised
// code folds in; an import or a class declaration it checks at every call (ARCHITECTURE, Adapters).
const now = nowImport
const pathOf = pathOfImport
const watchResponse = watchResponseImport

/**
 * One fastify request from `onRequest` to its end (see `PendingRequest` in `@perf/core`): told by
 * `watchResponse`, without fastify's `onResponse`/`onRequestAbort` hook runs (the latter adds a
 * `close` listener and a closure to every request).
 */
const Pending = class Pending extends PendingRequest {
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
    return routeUrl(request)
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
 * fastify's own symbol for a request's route context, once found on a request; `null` if it is not
 * there. A `const` object's field, not a `let`, which optimised code tests at every read (ARCHITECTURE,
 * Adapters).
 */
const found: { routeContext: symbol | null | undefined } = { routeContext: undefined }

/**
 * The template of the route that answered, or `undefined` for a 404: what `request.is404` and
 * `request.routeOptions.url` say, read from the route context both read, because the `routeOptions`
 * getter builds a twelve-field object (and asks the server about version constraints) on every call.
 * The context is found by its symbol's description (`fastify.context`, the same in fastify 4 and 5);
 * a fastify without it is read through the public getters.
 */
const routeUrl = (request: FastifyRequest): string | undefined => {
  let routeContext = found.routeContext
  if (routeContext === undefined) {
    routeContext = found.routeContext =
      Object.getOwnPropertySymbols(request).find((s) => s.description === 'fastify.context') ?? null
  }
  if (routeContext !== null) {
    const context = (request as unknown as Record<symbol, { config?: { url?: unknown } } | undefined>)[
      routeContext
    ]
    if (context !== undefined && context !== null) {
      const url = context.config?.url
      return typeof url === 'string' ? url : undefined
    }
  }
  return request.is404 ? undefined : request.routeOptions.url
}

/** What {@link perf} runs at registration. */
const plugin: FastifyPluginCallback<FastifyPerfOptions> = (fastify, opts, done) => {
  let recorder: HttpRecorder
  try {
    // fastify's own register options (`prefix`, `logLevel`, …) may ride along with ours.
    const {
      monitor,
      prefix: _p,
      logLevel: _l,
      logSerializers: _s,
      ...options
    } = opts as FastifyPerfOptions & Record<'prefix' | 'logLevel' | 'logSerializers', unknown>
    recorder = createHttpRecorder(monitor, options, '@perf/fastify')
  } catch (err) {
    return done(err as Error)
  }
  if (!recorder.monitor.enabled) return done()
  install(fastify, recorder)
  done()
}

/**
 * Fastify plugin that times every request as `http` `METHOD /route` (prefixes included,
 * `METHOD <unmatched>` for 404s), sends `X-Request-ID` and makes it `request.id`. It applies app-wide:
 * `await app.register(perf, { monitor, ...options })`. With a disabled monitor it adds nothing. The
 * app's own `genReqId`/`setGenReqId` is kept; only fastify's default ids are replaced by ours (see the
 * README); leave fastify's own `requestIdHeader` option unset so hostile ids are never echoed. A second
 * registration with the same monitor does nothing but emit a `PERF_DUPLICATE_INSTALL` warning.
 * Wrapped by `fastify-plugin`, so fastify does not encapsulate it and checks its version.
 */
export const perf: FastifyPluginCallback<FastifyPerfOptions> = fp(plugin, {
  fastify: '4.x || 5.x',
  name: '@perf/fastify',
})

function install(fastify: FastifyInstance, recorder: HttpRecorder): void {
  const { monitor, header } = recorder
  // A second install with the same monitor would count every request twice (and decorating twice
  // throws outside the `register` promise): it does nothing instead.
  const installed = fastify.hasDecorator(INSTALLED)
    ? ((fastify as unknown as Record<symbol, Set<Monitor>>)[INSTALLED] as Set<Monitor>)
    : undefined
  if (installed?.has(monitor)) {
    warnDuplicateInstall('@perf/fastify')
    return
  }
  if (installed !== undefined) installed.add(monitor)
  else fastify.decorate(INSTALLED as unknown as string, new Set([monitor]))
  if (header !== undefined) keepAppGenReqId(fastify, recorder, header)
  if (!fastify.hasRequestDecorator(ERROR as unknown as string)) {
    fastify.decorateRequest(ERROR as unknown as string, null)
  }

  fastify.addHook('onRequest', (request, reply, done) => {
    const start = now()
    let watched = false
    let id: string | undefined
    let ctx: RequestContext | undefined
    try {
      const made: unknown = header !== undefined ? request.id : undefined
      // The id fastify made (ours, or the app's generator's); an app's id that cannot be a header
      // value is kept on the request and the event, not sent.
      id = made === undefined ? undefined : String(made)
      // Ours (the id the recorder just made or echoed) is plain by construction: only an app's own
      // generator's id is checked.
      if (id !== undefined && (id === recorder.lastId || HEADER_SAFE.test(id))) reply.header(header!, id)
      if (recorder.contextEnabled) {
        ctx = recorder.newContext(id ?? String(request.id))
        // enterWith, not run: fastify parses the body and calls the handler from the request stream's
        // callbacks, which run in the connection's async context, so the context is set there (every
        // request enters its own, so none sees the one before it on a kept-alive connection).
        monitor.enterRequest(ctx)
      }
      const raw = request.raw
      watched = !(recorder.ignores && recorder.isIgnored(pathOf(raw.url ?? request.url), request.method))
    } catch (err) {
      // `watched` is still false: it is the try block's last assignment.
      recorder.fail('request', err)
    }
    if (watched) {
      // Made outside the try block (its constructor never throws): see @perf/express's middleware.
      const pending = new Pending(recorder, request, reply, start, id, ctx)
      try {
        watchResponse(request.raw as TrackableRequest, reply.raw as unknown as TrackableResponse, pending)
      } catch (err) {
        recorder.fail('request', err)
      }
    }
    done()
  })
  fastify.addHook('onError', (request, _reply, error, done) => {
    ;(request as unknown as PerfRequest)[ERROR] = error
    done()
  })
}

/**
 * Makes fastify's request ids ours only where the app has no generator of its own: the generator in
 * place (`Fastify({ genReqId })`, an earlier `setGenReqId`, or fastify's default) still runs, and its
 * id is kept unless it has the shape of fastify's default counter (`req-1`, `req-2`…), which is then
 * replaced by the echoed plain request-id header or a fresh id (`recorder.requestId`: the default prefix and counter, or `generateRequestId`). A `setGenReqId` after this one
 * (app-wide or in an encapsulated plugin) replaces it, as in any fastify app. The id is fastify's
 * `request.id`, so its logger, `frameworkErrors` and the response header all see the same one.
 */
function keepAppGenReqId(fastify: FastifyInstance, recorder: HttpRecorder, header: string): void {
  type Gen = (req: FastifyRequest['raw']) => string
  const inPlace = (fastify as unknown as { genReqId?: Gen }).genReqId
  // fastify's own default (`req-1`, `req-2`…, fastify 4 and 5) is not called: its ids are replaced
  // anyway, and making one, then matching it, cost each request about 0.1 µs.
  const appGen = isFastifyDefault(inPlace) ? undefined : inPlace
  fastify.setGenReqId((req) => {
    const id: unknown = typeof appGen === 'function' ? appGen(req) : undefined
    if (id === undefined || id === null || id === '') return recorder.requestId(req.headers[header])
    if (typeof id === 'string' && id.startsWith('req-') && FASTIFY_DEFAULT_ID.test(id)) {
      return recorder.requestId(req.headers[header])
    }
    return id as string
  })
}

/** Whether `gen` is fastify's default id generator (its counter ids are ours to replace). */
function isFastifyDefault(gen: unknown): boolean {
  if (typeof gen !== 'function' || gen.name !== 'defaultGenReqId') return false
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: fastify's source text, matched as written
    return Function.prototype.toString.call(gen).includes('`req-${nextReqId.toString(36)}`')
  } catch {
    return false
  }
}
