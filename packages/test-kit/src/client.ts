import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'

/** A response as the suite's client saw it. */
export interface ClientResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One request with `node:http` (any method the parser knows, headers as given). */
export function send(
  base: string,
  path: string,
  init: {
    method?: string
    headers?: Record<string, string | string[]>
    body?: string | Buffer
    agent?: Agent
  } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      { method: init.method ?? 'GET', headers: init.headers, agent: init.agent ?? false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(init.body)
  })
}

/**
 * Streams a `bytes`-long body of one reused 64 KiB chunk (so the client holds no more than that),
 * chunked unless `headers` declare a `content-length`, and stops writing as soon as the response
 * starts. Errors after the response (the server closing a connection whose body it did not read)
 * are expected; one before it rejects. Keep-alive, as browsers and curl ask: a client that asks
 * for `Connection: close` has Node close the socket the moment the response is out, and a client
 * still writing then may see the reset before the answer.
 */
export function upload(
  base: string,
  path: string,
  bytes: number,
  headers: Record<string, string> = {},
): Promise<ClientResponse & { sent: number }> {
  const chunk = Buffer.alloc(64 * 1024, 'a')
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  return new Promise<ClientResponse & { sent: number }>((resolve, reject) => {
    let sent = 0
    let answered = false
    const req = httpRequest(`${base}${path}`, { method: 'POST', headers, agent }, (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      const done = (): void =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          sent,
        })
      res.on('end', done)
      res.on('error', done)
      res.on('aborted', done)
    })
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    const write = (): void => {
      while (!answered && sent < bytes) {
        const part = bytes - sent >= chunk.length ? chunk : chunk.subarray(0, bytes - sent)
        sent += part.length
        if (!req.write(part)) {
          req.once('drain', write)
          return
        }
      }
      if (!answered) req.end()
    }
    write()
  }).finally(() => agent.destroy())
}

/** Declares a 100 kB upload, sends 1 kB of it, and destroys the connection after `afterMs`. */
export function abortUpload(base: string, path: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(`${base}${path}`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'text/plain', 'content-length': '100000' },
    })
    req.on('error', () => resolve())
    req.on('close', () => resolve())
    req.write(Buffer.alloc(1000, 'a'))
    setTimeout(() => req.destroy(), afterMs)
  })
}

/** Starts a request and destroys it after `afterMs`, before the server answered. */
export function abortAfter(base: string, path: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(`${base}${path}`, { agent: false })
    req.on('error', () => resolve())
    req.on('close', () => resolve())
    req.end()
    setTimeout(() => req.destroy(), afterMs)
  })
}

/**
 * Writes raw bytes to the server and reads until the connection closes: for requests `node:http`
 * refuses to send (bare CR in a header, non-ASCII bytes, duplicate headers). Returns the status and
 * the `header` value of the response, if any.
 */
export function sendRaw(
  base: string,
  raw: Buffer,
  header: string,
): Promise<{ status: number; id: string | undefined }> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      const head = text.split('\r\n\r\n')[0] ?? ''
      const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${header.toLowerCase()}:`))
      resolve({ status, id: line?.slice(header.length + 1).trim() })
    })
    socket.end(raw)
  })
}

/** A keep-alive agent for bulk traffic. */
export function bulkAgent(maxSockets = 64): Agent {
  return new Agent({ keepAlive: true, maxSockets })
}

/** Runs `fn` for 0..n-1 with at most `limit` at a time. */
export async function inParallel(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await fn(next++)
  })
  await Promise.all(workers)
}

/**
 * Peak growth of the process's resident memory while `work` runs, sampled every 10 ms, in bytes over
 * the resident size when it started.
 */
export async function peakRssGrowth(work: () => Promise<unknown>): Promise<number> {
  const start = process.memoryUsage.rss()
  let peak = start
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 10)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  return Math.max(peak, process.memoryUsage.rss()) - start
}

/** Polls `check` until it returns true (events are recorded when the response closes, just after the client saw it). */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
