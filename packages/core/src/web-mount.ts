import type { WebHandler, WebHandlerInfo } from './http.js'

/** Largest request body handed to a mounted web handler; larger ones get `413`. */
export const MAX_WEB_BODY_BYTES = 1_048_576

/**
 * Methods a mount hands to its handler. Any other (`TRACE`, `TRACK` and `CONNECT` are refused by
 * `new Request()`; WebDAV and the like mean nothing to a dashboard) gets `405` with `Allow`.
 */
export const MOUNT_METHODS: readonly string[] = Object.freeze([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
])

/** Name of the `http` counter of requests whose client went away while their body was read. */
export const MOUNT_ABORTED = 'mountAborted'

const ALLOW = MOUNT_METHODS.join(', ')

/** What a mount knows of a request before any byte of its body is read. */
export interface MountedRequest {
  /** The method as received. */
  readonly method: string
  /** Absolute URL whose path is relative to the mount path. */
  readonly url: string
  readonly headers: Headers
  /**
   * Where the body comes from, asked for only when the handler first reads the body, so nothing is
   * read before the handler has checked credentials.
   */
  readonly body: () => ReadableStream<Uint8Array> | AsyncIterable<unknown> | null | undefined
}

/** Options every adapter's mount accepts. */
export interface MountOptions {
  /** Counts requests whose client went away during the upload (`counters.http.mountAborted`). */
  readonly monitor?: { count(type: string, name: string, n?: number): void } | undefined
}

/** The outcome of {@link serveMounted}. */
export interface MountedResult {
  /** What to send (a `405`, `413` or the handler's own response). */
  readonly response: Response
  /**
   * Part of the body was never read: a server that owns the connection should `discard` it while the
   * response goes out, and close the connection if that does not reach the end.
   */
  readonly bodyLeft: boolean
  /** The body failed while it was read (the client went away): there is nobody to answer. */
  readonly aborted: boolean
  /**
   * Reads and drops what is left of the body, up to `maxBytes` or `ms`: `true` when the body ended
   * (the connection can serve another request), `false` when it did not (close it). A server reads on
   * while its refusal goes out, because closing a connection whose client is still sending resets
   * it, and the client may never see the answer.
   */
  discard(maxBytes: number, ms: number): Promise<boolean>
}

interface BodyState {
  size: number
  ended: boolean
  tooLarge: boolean
  failed: boolean
  /** The source's reader, once the body was first read. */
  next: (() => Promise<IteratorResult<unknown>>) | undefined
  readonly source: MountedRequest['body']
}

/**
 * Runs a web handler on a request received by a mount, the same way in every adapter: methods
 * outside {@link MOUNT_METHODS} get `405` and a declared `Content-Length` over
 * {@link MAX_WEB_BODY_BYTES} gets `413`, both without calling the handler; otherwise the handler gets
 * a `Request` whose body is read from the connection only as the handler reads it, counted as it
 * streams, and failed at the limit (then the answer is `413`). A body that fails because its client
 * went away is counted on `options.monitor`, never thrown. Rejects only when the handler throws for a
 * reason of its own.
 */
export async function serveMounted(
  handler: WebHandler,
  req: MountedRequest,
  info: WebHandlerInfo,
  options: MountOptions = {},
): Promise<MountedResult> {
  const method = req.method.toUpperCase()
  const length = req.headers.get('content-length')
  const declared = length === null ? undefined : Number(length)
  const sendsBody = req.headers.has('transfer-encoding') || (declared !== undefined && declared !== 0)
  const state: BodyState = {
    size: 0,
    ended: !sendsBody,
    tooLarge: false,
    failed: false,
    next: undefined,
    source: req.body,
  }
  const result = (response: Response, aborted = false): MountedResult => ({
    response,
    bodyLeft: !state.ended,
    aborted,
    discard: (maxBytes, ms) => discard(state, maxBytes, ms),
  })
  if (!MOUNT_METHODS.includes(method)) return result(plain(405, 'Method Not Allowed', { allow: ALLOW }))
  const takesBody = method !== 'GET' && method !== 'HEAD'
  if (takesBody && declared !== undefined && !(declared <= MAX_WEB_BODY_BYTES)) return result(tooLarge())
  const init: RequestInit & { duplex?: 'half' } = { method, headers: req.headers }
  // Passed even without a length or chunked encoding: HTTP/2 may send a body with neither.
  if (takesBody) {
    init.body = cappedBody(state)
    init.duplex = 'half'
  }
  let response: Response
  try {
    response = await handler(new Request(req.url, init), info)
  } catch (err) {
    if (state.failed) return result(aborted(options), true)
    if (state.tooLarge) return result(tooLarge())
    throw err
  }
  // A handler that caught the body's failure still answered a request that is over the limit or gone.
  if (state.failed || state.tooLarge) {
    await response.body?.cancel().catch(() => {})
    return state.failed ? result(aborted(options), true) : result(tooLarge())
  }
  return result(response)
}

function aborted(options: MountOptions): Response {
  try {
    options.monitor?.count('http', MOUNT_ABORTED)
  } catch {
    // Counting must not turn a client that went away into an error of the server.
  }
  return plain(400, 'Bad Request')
}

async function discard(state: BodyState, maxBytes: number, ms: number): Promise<boolean> {
  if (state.ended) return true
  if (state.failed) return false
  let timer: ReturnType<typeof setTimeout> | undefined
  const gaveUp = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const drained = (async (): Promise<boolean> => {
    let dropped = 0
    try {
      state.next ??= reader(state.source())
      for (;;) {
        const chunk = await state.next()
        if (chunk.done === true) {
          state.ended = true
          return true
        }
        dropped += toBytes(chunk.value).byteLength
        if (dropped > maxBytes) return false
      }
    } catch {
      state.failed = true
      return false
    }
  })()
  try {
    return await Promise.race([drained, gaveUp])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The body as a stream that pulls one chunk from the source per read of the handler (high-water mark
 * 0: nothing is buffered ahead), and errors once more than {@link MAX_WEB_BODY_BYTES} arrived. The
 * source is never cancelled: on Node that would destroy the socket before the `413` is written; the
 * server drains or closes the connection around the response instead (`discard`).
 */
function cappedBody(state: BodyState): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: IteratorResult<unknown>
        try {
          state.next ??= reader(state.source())
          chunk = await state.next()
        } catch (err) {
          state.failed = true
          controller.error(err)
          return
        }
        if (chunk.done === true) {
          state.ended = true
          controller.close()
          return
        }
        const bytes = toBytes(chunk.value)
        state.size += bytes.byteLength
        if (state.size > MAX_WEB_BODY_BYTES) {
          state.tooLarge = true
          controller.error(
            new RangeError(
              `request body is larger than the ${MAX_WEB_BODY_BYTES} bytes a mounted handler accepts`,
            ),
          )
          return
        }
        controller.enqueue(bytes)
      },
    },
    { highWaterMark: 0 },
  )
}

function reader(
  source: ReadableStream<Uint8Array> | AsyncIterable<unknown> | null | undefined,
): () => Promise<IteratorResult<unknown>> {
  if (source === null || source === undefined) return async () => ({ done: true, value: undefined })
  if (typeof (source as ReadableStream).getReader === 'function') {
    const r = (source as ReadableStream<Uint8Array>).getReader()
    return () => r.read() as Promise<IteratorResult<unknown>>
  }
  const it = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
  return () => it.next()
}

const encoder = new TextEncoder()

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (typeof value === 'string') return encoder.encode(value)
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  throw new TypeError(`request body chunk must be bytes or a string, got ${typeof value}`)
}

function tooLarge(): Response {
  return plain(413, 'Payload Too Large')
}

function plain(status: number, text: string, extra?: Record<string, string>): Response {
  return new Response(text, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra },
  })
}

/**
 * How many path segments a mount template spans, for adapters whose framework hands over the
 * template rather than the matched path (fastify's `prefix`, hono's `routePath`). Literal segments
 * and plain `:params` span one each; a template with a wildcard, an optional or a pattern parameter
 * spans a number that depends on the request, so it is refused with a `TypeError` naming `call`.
 */
export function mountSegments(call: string, template: string): number {
  const segments = template.split('/').filter((s) => s !== '')
  for (const s of segments) {
    if (/[*(){}]/.test(s) || s.endsWith('?')) {
      throw new TypeError(
        `${call}: mount path ${JSON.stringify(template)} has a segment (${JSON.stringify(s)}) that can match a varying number of path segments (wildcard, optional or pattern parameter); mount at literal segments and plain :params, e.g. "/t/:tenant/perf"`,
      )
    }
  }
  return segments.length
}

/**
 * Splits a request URL's path and query after its first `segments` path segments (runs of slashes
 * count as one, as routers that ignore duplicate slashes see them): the mount path, with slashes
 * collapsed so it is safe to build links from, and the rest, starting with `/`.
 */
export function splitMountPath(url: string, segments: number): { basePath: string; rest: string } {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  let at = 0
  for (let i = 0; i < segments; i++) {
    while (path[at] === '/') at++
    if (at >= path.length) break
    const slash = path.indexOf('/', at)
    at = slash < 0 ? path.length : slash
  }
  const rest = url.slice(at)
  return {
    basePath: path.slice(0, at).replace(/\/{2,}/g, '/'),
    rest: rest === '' || rest.startsWith('?') ? `/${rest}` : rest,
  }
}
