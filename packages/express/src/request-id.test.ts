import { createServer, IncomingMessage, type Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createMonitor } from '@perf/core'
import express, { type Express, type Request } from 'express'
import express4 from 'express4'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { perf } from './index.js'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

async function listen(app: Express): Promise<string> {
  const server = createServer(app)
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const idOf = (req: Request): unknown => (req as Request & { id?: unknown }).id

describe('req.id (an accessor on express’s request prototype, not a property per request)', () => {
  it('is the response’s id in handlers, in sub-apps, for ignored paths, and after the response ended', async () => {
    const monitor = createMonitor()
    const app = express()
    app.use(perf(monitor, { ignore: ['/health'] }))
    const afterEnd: unknown[] = []
    app.get('/plain', (req, res) => {
      res.on('finish', () => afterEnd.push(idOf(req)))
      res.send(String(idOf(req)))
    })
    app.get('/health', (req, res) => {
      res.send(String(idOf(req)))
    })
    const sub = express()
    sub.get('/inner', (req, res) => {
      res.send(String(idOf(req)))
    })
    app.use('/sub', sub)
    const base = await listen(app)
    for (const path of ['/plain', '/health', '/sub/inner']) {
      const res = await fetch(base + path)
      const id = res.headers.get('x-request-id')
      expect(id, path).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
      expect(await res.text(), path).toBe(id)
    }
    const echoed = await fetch(`${base}/plain`, { headers: { 'x-request-id': 'abc-123' } })
    expect(await echoed.text()).toBe('abc-123')
    expect(afterEnd).toHaveLength(2)
    expect(afterEnd[1]).toBe('abc-123')
    expect(afterEnd[0]).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
    // Own properties stay off the request: the id is not written on every request object.
    const own: boolean[] = []
    app.get('/own', (req, res) => {
      own.push(Object.hasOwn(req, 'id'))
      res.end()
    })
    await fetch(`${base}/own`)
    expect(own).toEqual([false])
  })

  it('yields to a middleware that assigns req.id itself, and reads the configured header', async () => {
    const app = express()
    app.use(perf(createMonitor(), { requestIdHeader: 'X-Trace-Id' }))
    app.use((req, _res, next) => {
      if (req.path === '/mine') (req as Request & { id?: string }).id = 'mine'
      next()
    })
    app.get(['/mine', '/theirs'], (req, res) => {
      res.send(String(idOf(req)))
    })
    const base = await listen(app)
    expect(await (await fetch(`${base}/mine`)).text()).toBe('mine')
    const theirs = await fetch(`${base}/theirs`)
    expect(await theirs.text()).toBe(theirs.headers.get('x-trace-id'))
  })

  it('is undefined in an app without perf() in the same process', async () => {
    const withPerf = express()
    withPerf.use(perf(createMonitor()))
    withPerf.get('/', (req, res) => {
      res.send(String(idOf(req)))
    })
    const plain = express()
    plain.get('/', (req, res) => {
      res.send(String(idOf(req)))
    })
    const a = await listen(withPerf)
    const b = await listen(plain)
    expect(await (await fetch(a)).text()).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
    expect(await (await fetch(b)).text()).toBe('undefined')
  })
})

describe('the X-Request-ID header (written into Node’s header table, as setHeader would)', () => {
  it.each([
    ['5', express],
    ['4', express4],
  ] as const)(
    'express %s: reaches the wire once, reads back through the response’s header API, and yields to the app’s own',
    async (_major, make) => {
      const app = make()
      const viaSetHeader: string[] = []
      // Before perf(): every setHeader call of the request is seen.
      app.use((_req, res, next) => {
        const set = res.setHeader
        res.setHeader = function (
          this: typeof res,
          name: string,
          value: number | string | readonly string[],
        ) {
          viaSetHeader.push(name.toLowerCase())
          return set.call(this, name, value)
        } as typeof res.setHeader
        next()
      })
      app.use(perf(createMonitor()))
      app.get('/read', (req, res) => {
        res.json({
          get: res.getHeader('x-request-id'),
          has: res.hasHeader('X-Request-ID'),
          names: res.getHeaderNames().filter((n) => n === 'x-request-id').length,
          id: idOf(req),
        })
      })
      app.get('/mine', (_req, res) => {
        res.setHeader('X-Request-ID', 'the-app-s-own')
        res.send('ok')
      })
      app.get('/removed', (_req, res) => {
        res.removeHeader('x-request-id')
        res.send('ok')
      })
      const base = await listen(app)
      const raw = async (path: string, headers: Record<string, string> = {}) => {
        const res = await fetch(base + path, { headers })
        const body = await res.text()
        // fetch joins repeated headers with ", ": one value means one header line.
        return { id: res.headers.get('x-request-id'), body }
      }
      const read = await raw('/read')
      expect(read.id).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
      expect(JSON.parse(read.body)).toEqual({ get: read.id, has: true, names: 1, id: read.id })
      const echoed = await raw('/read', { 'x-request-id': 'abc-123' })
      expect(echoed.id).toBe('abc-123')
      expect(JSON.parse(echoed.body).get).toBe('abc-123')
      expect((await raw('/mine')).id).toBe('the-app-s-own')
      expect((await raw('/removed')).id).toBeNull()
      // The id itself never went through setHeader (only the app's own did).
      expect(viaSetHeader.filter((n) => n === 'x-request-id')).toEqual(['x-request-id'])
    },
  )

  it('decides on a response whose headers went out early by the next one, not that one', async () => {
    const monitor = createMonitor()
    const app = express()
    const viaSetHeader: string[] = []
    let first = true
    app.use((_req, res, next) => {
      const set = res.setHeader
      res.setHeader = function (this: typeof res, name: string, value: number | string | readonly string[]) {
        viaSetHeader.push(name.toLowerCase())
        return set.call(this, name, value)
      } as typeof res.setHeader
      // The first response's headers go out before perf() sees it.
      if (first) res.flushHeaders()
      first = false
      next()
    })
    app.use(perf(monitor))
    app.get('/', (_req, res) => {
      res.end('ok')
    })
    const base = await listen(app)
    await (await fetch(base)).text()
    // setHeader after the headers went out throws, as it did: counted, the request goes on.
    expect(monitor.snapshot().totals.internalErrors).toBe(1)
    viaSetHeader.length = 0
    const second = await fetch(base)
    await second.text()
    expect(second.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
    expect(viaSetHeader.filter((n) => n === 'x-request-id')).toEqual([])
  })

  it('finds the headers gone out early on a later response too, where no prototype is read', async () => {
    const monitor = createMonitor()
    const app = express()
    let n = 0
    app.use((_req, res, next) => {
      // The second response's headers go out before perf() sees it; the first was the app's first.
      if (++n === 2) res.flushHeaders()
      next()
    })
    app.use(perf(monitor))
    app.get('/', (_req, res) => {
      res.end('ok')
    })
    const base = await listen(app)
    const first = await fetch(base)
    await first.text()
    expect(first.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
    const second = await fetch(base)
    await second.text()
    // Too late for the id: setHeader throws, as it did, counted; the request goes on.
    expect(second.headers.get('x-request-id')).toBeNull()
    expect(monitor.snapshot().totals.internalErrors).toBe(1)
    const third = await fetch(base)
    await third.text()
    expect(third.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
    expect(monitor.snapshot().totals.internalErrors).toBe(1)
  })

  it('checks the prototypes of an app’s responses once, and again for each app it is shared with', async () => {
    const middleware = perf(createMonitor())
    const apps = [express(), express4(), express()]
    const bases: string[] = []
    for (const app of apps) {
      app.use(middleware)
      app.get('/', (req, res) => {
        res.send(String(idOf(req)))
      })
      bases.push(await listen(app))
    }
    const asked: unknown[] = []
    const requestsAsked: unknown[] = []
    const getPrototypeOf = Object.getPrototypeOf
    const spy = vi.spyOn(Object, 'getPrototypeOf').mockImplementation((o: unknown) => {
      if (o instanceof ServerResponse) asked.push(o)
      // A request's prototype stands for its app (`app.request`), read in place of `req.app`.
      if (o instanceof IncomingMessage) requestsAsked.push(o)
      return getPrototypeOf(o)
    })
    try {
      const counts: number[] = []
      const requestCounts: number[] = []
      // Two requests to each app in turn, then two more to the first: every request answers with its
      // id, and only an app's first request after another app's is asked for its response's
      // prototype; its later ones have their request's asked once, in place of reading `req.app`.
      for (const base of [...bases, bases[0]!]) {
        for (let i = 0; i < 2; i++) {
          const before = asked.length
          const requestsBefore = requestsAsked.length
          const res = await fetch(base)
          expect(await res.text()).toBe(res.headers.get('x-request-id'))
          expect(res.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
          counts.push(asked.length - before)
          requestCounts.push(requestsAsked.length - requestsBefore)
        }
      }
      expect(counts.map((n) => n > 0)).toEqual([true, false, true, false, true, false, true, false])
      expect(requestCounts.filter((_, i) => i % 2 === 1)).toEqual([1, 1, 1, 1])
    } finally {
      spy.mockRestore()
    }
  })

  it('goes through setHeader on a response that is not Node’s', () => {
    const set: [string, string][] = []
    const res = {
      statusCode: 200,
      writableFinished: false,
      headersSent: false,
      setHeader(name: string, value: string) {
        set.push([name, value])
      },
      getHeader: () => undefined,
      on: () => undefined,
    }
    const req = { method: 'GET', url: '/', headers: {} }
    let nexted = 0
    perf(createMonitor())(req, res, () => {
      nexted++
    })
    expect(nexted).toBe(1)
    expect(set).toHaveLength(1)
    expect(set[0]![0]).toBe('x-request-id')
    expect(set[0]![1]).toMatch(/^[A-Za-z0-9]{16}-[0-9a-z]+$/)
  })
})
