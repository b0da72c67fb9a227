import type { WebHandler } from './http.js'

/** The parts of Node's `IncomingMessage` a mounted web handler needs (duck-typed: no `node:` import). */
export interface NodeRequestLike extends AsyncIterable<unknown> {
  readonly method?: string | undefined
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly socket?: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean } | null
}

/** The parts of Node's `ServerResponse` a mounted web handler writes to. */
export interface NodeResponseLike {
  readonly headersSent: boolean
  readonly destroyed?: boolean
  writeHead(status: number, headers: string[]): unknown
  write(chunk: Uint8Array): boolean
  end(chunk?: Uint8Array): unknown
  once(event: 'close' | 'drain', listener: () => void): unknown
  off?(event: 'close' | 'drain', listener: () => void): unknown
}

/** Largest request body handed to a mounted web handler; larger ones get `413`. */
export const MAX_WEB_BODY_BYTES = 1_048_576

/**
 * Serves one Node request with a web-standard handler: builds a `Request` whose URL is `path`
 * (relative to `basePath`), passes the socket's address, writes the `Response` back, streaming its body
 * (a client that goes away cancels it). Rejects only when the handler throws before anything was
 * written, so the caller can hand the error to its framework.
 */
export async function serveWebHandler(
  handler: WebHandler,
  req: NodeRequestLike,
  res: NodeResponseLike,
  path: string,
  basePath: string,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase()
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
  let body: Uint8Array | undefined
  if (method !== 'GET' && method !== 'HEAD') {
    const chunks: Uint8Array[] = []
    let size = 0
    for await (const chunk of req) {
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : (chunk as Uint8Array)
      size += bytes.byteLength
      if (size > MAX_WEB_BODY_BYTES) {
        res.writeHead(413, ['content-type', 'text/plain; charset=utf-8'])
        res.end(new TextEncoder().encode('Payload Too Large'))
        return
      }
      chunks.push(bytes)
    }
    body = concat(chunks, size)
  }
  const request = new Request(originOf(req) + (path.startsWith('/') ? path : `/${path}`), {
    method,
    headers,
    body: body as BodyInit | undefined,
  })
  const remoteAddress = req.socket?.remoteAddress
  const response = await handler(
    request,
    remoteAddress === undefined ? { basePath } : { remoteAddress, basePath },
  )
  const out: string[] = []
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') out.push(name, value)
  })
  for (const cookie of response.headers.getSetCookie()) out.push('set-cookie', cookie)
  res.writeHead(response.status, out)
  if (response.body === null || method === 'HEAD') {
    if (response.body !== null) await response.body.cancel().catch(() => {})
    res.end()
    return
  }
  await pipe(response.body, res)
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

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}
