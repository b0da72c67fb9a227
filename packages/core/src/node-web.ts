import type { WebHandler } from './http.js'
import { type MountOptions, serveMounted } from './web-mount.js'

/** The parts of Node's `IncomingMessage` a mounted web handler needs (duck-typed: no `node:` import). */
export interface NodeRequestLike extends AsyncIterable<unknown> {
  readonly method?: string | undefined
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly socket?: {
    readonly remoteAddress?: string | undefined
    readonly encrypted?: boolean
    destroy?(): unknown
  } | null
  /** Whether the whole message, body included, has arrived (then keeping the connection costs nothing). */
  readonly complete?: boolean
}

/** The parts of Node's `ServerResponse` a mounted web handler writes to. */
export interface NodeResponseLike {
  readonly headersSent: boolean
  readonly destroyed?: boolean
  readonly writableFinished?: boolean
  writeHead(status: number, headers: string[]): unknown
  write(chunk: Uint8Array): boolean
  end(chunk?: Uint8Array): unknown
  once(event: 'close' | 'drain' | 'finish', listener: () => void): unknown
  off?(event: 'close' | 'drain', listener: () => void): unknown
}

/**
 * How much of a body left unread is read and dropped while the response goes out, and for how long,
 * before the connection is closed instead: a client still sending when its connection closes gets a
 * reset, and may never read the `401`/`413` already sent.
 */
const LINGER_BYTES = 16 * 1024 * 1024
const LINGER_MS = 1000

/**
 * Serves one Node request with a web-standard handler through {@link serveMounted}: `405` for methods
 * a `Request` cannot carry, `413` from `Content-Length` or once the streamed body passes
 * the limit, the body read only as the handler reads it. The `Request`'s URL is
 * `path` (relative to `basePath`), `info` holds the socket's address; the `Response` is written back,
 * its body streamed (a client that goes away cancels it). What the handler left of the body is read
 * and dropped while the response goes out, up to 16 MiB or a second; past that the connection is
 * closed once the response was sent.
 * A client that went away during its upload is counted on `options.monitor`, not thrown. Rejects only
 * when the handler throws before anything was written, so the caller can hand the error to its
 * framework.
 */
export async function serveWebHandler(
  handler: WebHandler,
  req: NodeRequestLike,
  res: NodeResponseLike,
  path: string,
  basePath: string,
  options?: MountOptions,
): Promise<void> {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(':')) continue
    try {
      if (Array.isArray(value)) for (const v of value) headers.append(name, v)
      else headers.set(name, value)
    } catch {
      // A header value the web Headers class refuses; the handler does without it.
    }
  }
  const remoteAddress = req.socket?.remoteAddress
  const result = await serveMounted(
    handler,
    {
      method: req.method ?? 'GET',
      url: originOf(req) + (path.startsWith('/') ? path : `/${path}`),
      headers,
      body: () => req,
    },
    remoteAddress === undefined ? { basePath } : { remoteAddress, basePath },
    options,
  )
  const { response } = result
  if (result.aborted) {
    // Usually the socket is gone already; if not, the body failed midway and the connection is unusable.
    if (res.destroyed !== true && !res.headersSent) {
      res.writeHead(400, ['connection', 'close'])
      res.end()
    }
    return
  }
  const out: string[] = []
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && name !== 'connection') out.push(name, value)
  })
  for (const cookie of response.headers.getSetCookie()) out.push('set-cookie', cookie)
  // Started before the response, so Node sees the body consumed and does not read all of it itself.
  const drained =
    result.bodyLeft && req.complete !== true ? result.discard(LINGER_BYTES, LINGER_MS) : undefined
  res.writeHead(response.status, out)
  if (response.body === null || (req.method ?? 'GET').toUpperCase() === 'HEAD') {
    if (response.body !== null) await response.body.cancel().catch(() => {})
    res.end()
  } else await pipe(response.body, res)
  if (drained !== undefined && !(await drained)) closeWhenSent(req, res)
}

/** Closes the connection of a request whose body was not read to its end, once its response is out. */
function closeWhenSent(req: NodeRequestLike, res: NodeResponseLike): void {
  const close = (): void => {
    req.socket?.destroy?.()
  }
  if (res.writableFinished === true || res.destroyed === true) close()
  else {
    res.once('finish', close)
    res.once('close', close)
  }
}

async function pipe(body: ReadableStream<Uint8Array>, res: NodeResponseLike): Promise<void> {
  const reader = body.getReader()
  let closed = false
  const onClose = (): void => {
    closed = true
    reader.cancel().catch(() => {})
  }
  res.once('close', onClose)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || closed) break
      if (!res.write(value))
        await new Promise<void>((resolve) => {
          const resume = (): void => {
            res.off?.('close', resume)
            resolve()
          }
          res.once('drain', resume)
          res.once('close', resume)
        })
    }
  } catch {
    // The handler's stream failed after the status was sent; all that is left is to end the response.
  } finally {
    res.off?.('close', onClose)
    if (!closed) res.end()
  }
}

function originOf(req: NodeRequestLike): string {
  const scheme = req.socket?.encrypted === true ? 'https' : 'http'
  const host = req.headers.host
  if (typeof host === 'string' && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host)) return `${scheme}://${host}`
  return `${scheme}://localhost`
}
