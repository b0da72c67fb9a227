import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { DashboardHandler } from '../dashboard.js'

/** Serves a web-standard handler on 127.0.0.1 at a free port, for tests that need a real browser. */
export async function serve(handler: DashboardHandler): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    try {
      const response = await handler(toRequest(req), { remoteAddress: req.socket.remoteAddress })
      res.statusCode = response.status
      response.headers.forEach((value, key) => {
        res.appendHeader(key, value)
      })
      res.end(Buffer.from(await response.arrayBuffer()))
    } catch (err) {
      res.statusCode = 500
      res.end(String(err))
    }
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((ok) => server.close(() => ok())),
  }
}

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers()
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers.set(k, v)
    else if (Array.isArray(v)) for (const x of v) headers.append(k, x)
  }
  const method = req.method ?? 'GET'
  const init: RequestInit & { duplex?: 'half' } = { method, headers }
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = req as unknown as ReadableStream
    init.duplex = 'half'
  }
  return new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, init)
}
