import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createMonitor } from '@perf/core'
import express, { type Express, type Request } from 'express'
import { afterEach, describe, expect, it } from 'vitest'
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
