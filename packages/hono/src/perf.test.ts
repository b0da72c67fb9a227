import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { Session } from 'node:inspector/promises'
import { serve } from '@hono/node-server'
import { createMonitor } from '@perf/core'
import { Hono } from 'hono'
import { expect, it, vi } from 'vitest'
import { perf } from './index.js'

interface HeapNode {
  callFrame: { url: string }
  selfSize: number
  children: HeapNode[]
}

/** Bytes allocated by this package's middleware while `run` runs (V8's sampling heap profiler, garbage included). */
async function allocatedByMiddleware(run: () => Promise<void>): Promise<number> {
  const session = new Session()
  session.connect()
  await session.post('HeapProfiler.enable')
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 64,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  })
  await run()
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } }
  session.disconnect()
  let bytes = 0
  const walk = (n: HeapNode): void => {
    if (n.callFrame.url.endsWith('/hono/src/perf.ts')) bytes += n.selfSize
    for (const c of n.children) walk(c)
  }
  walk(profile.head)
  return bytes
}

it('on node-server, the middleware adds no async function’s promises to a request', async () => {
  const monitor = createMonitor({ sampling: 0 })
  const app = new Hono()
  app.use(perf(monitor))
  app.get('/', (c) => c.text('ok'))
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server))
  })
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
  await new Promise((r) => socket.once('connect', r))
  let received = 0
  let target = 0
  let wake: () => void = () => {}
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1').split('HTTP/1.1 200').length - 1
    if (received >= target) wake()
  })
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      target = received + 1
      wake = resolve
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    })
  for (let i = 0; i < 300; i++) await one()
  const n = 2000
  const bytes = await allocatedByMiddleware(async () => {
    for (let i = 0; i < n; i++) await one()
  })
  socket.destroy()
  await new Promise((r) => server.close(r))
  await monitor.close()
  // The request's own state (its Pending, id, hono's variable map) is a few hundred bytes; an async
  // middleware awaiting next() added as much again in promises and its suspended frame.
  expect(bytes / n).toBeLessThan(700)
})

/** Raw HTTP/1.1 exchanges on one kept-alive connection; each answer's head. */
async function heads(port: number, paths: readonly string[]): Promise<string[]> {
  const socket = connect(port, '127.0.0.1')
  await new Promise((r) => socket.once('connect', r))
  let text = ''
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1')
  })
  const out: string[] = []
  for (const path of paths) {
    text = ''
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
    while (!/\r\n\r\n/.test(text)) await new Promise((r) => setTimeout(r, 2))
    await new Promise((r) => setTimeout(r, 10))
    out.push(text.slice(0, text.indexOf('\r\n\r\n')))
  }
  socket.destroy()
  return out
}

for (const [major, load] of [
  ['2', () => import('@hono/node-server')],
  ['1', () => import('@hono/node-server-1')],
] as const) {
  it(`on node-server ${major}, the id goes out with node-server's headers in one pass: no setHeader, the app's own id kept`, async () => {
    const { serve: serveOn } = await load()
    const { ServerResponse } = await import('node:http')
    const monitor = createMonitor({ sampling: 1 })
    const app = new Hono()
    app.use(perf(monitor))
    app.get('/plain', (c) => c.text('ok'))
    app.get('/own', (c) => {
      c.header('X-Request-ID', 'app-own')
      return c.text('own')
    })
    app.get('/raw', (c) => {
      ;(c.env as { outgoing: { setHeader(n: string, v: string): void } }).outgoing.setHeader(
        'x-request-id',
        'raw-own',
      )
      return c.text('raw')
    })
    const shared = { 'content-type': 'text/plain', 'x-extra': '1' }
    app.get('/shared', () => new Response('shared', { headers: shared }))
    app.get('/pairs', () => new Response('pairs', { headers: [['x-pair', 'p']] }))
    const server = await new Promise<Server>((resolve) => {
      const s = serveOn({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server))
    })
    const setHeader = ServerResponse.prototype.setHeader
    const names: string[] = []
    ServerResponse.prototype.setHeader = function (this: InstanceType<typeof ServerResponse>, name, value) {
      names.push(String(name))
      return setHeader.call(this, name, value)
    }
    let got: string[]
    try {
      got = await heads((server.address() as AddressInfo).port, ['/plain', '/plain', '/shared', '/pairs'])
    } finally {
      ServerResponse.prototype.setHeader = setHeader
    }
    // With the id set ahead by setHeader, Node merged node-server's headers one setHeader each.
    expect(names).toEqual([])
    const ids = got.map((h) => /\r\nx-request-id: ([^\r]+)/i.exec(h)?.[1])
    for (const [i, id] of ids.entries()) expect(id, got[i]).toMatch(/^[A-Za-z0-9]+-[a-z0-9]+$/)
    expect(new Set(ids).size).toBe(4)
    expect(got[0]).toMatch(/\r\ncontent-length: 2(\r|$)/i)
    expect(got[2]).toMatch(/\r\nx-extra: 1(\r|$)/i)
    expect(got[3]).toMatch(/\r\nx-pair: p(\r|$)/i)
    // The headers object given to writeHead (here the app's own) is copied: the id is not added to it.
    expect(Object.keys(shared).map((k) => k.toLowerCase())).not.toContain('x-request-id')
    // An id the app set itself goes out once, as the app set it.
    const [own, raw] = await heads((server.address() as AddressInfo).port, ['/own', '/raw'])
    expect(own!.match(/\r\nx-request-id: /gi)).toHaveLength(1)
    expect(own).toMatch(/\r\nx-request-id: app-own(\r|$)/i)
    expect(raw!.match(/\r\nx-request-id: /gi)).toHaveLength(1)
    expect(raw).toMatch(/\r\nx-request-id: raw-own(\r|$)/i)
    // The kept events still carry the id sent and the response's length.
    const events = monitor.snapshot({ recent: 100 }).recent.filter((e) => e.name === 'GET /plain')
    expect(events.map((e) => e.requestId).sort()).toEqual([ids[0], ids[1]].sort())
    expect(events[0]!.metadata).toMatchObject({ responseBytes: 2 })
    await new Promise((r) => server.close(r))
    await monitor.close()
  })
}

it('on node-server, asks a response nothing of its prototype: only a writeHead not seen before is checked', async () => {
  const { ServerResponse } = await import('node:http')
  const monitor = createMonitor()
  const app = new Hono()
  app.use(perf(monitor))
  app.get('/', (c) => c.text('ok'))
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server))
  })
  const port = (server.address() as AddressInfo).port
  const asked: string[] = []
  const { getPrototypeOf, hasOwn } = Object
  const spies = [
    vi.spyOn(Object, 'getPrototypeOf').mockImplementation((o: unknown) => {
      if (o instanceof ServerResponse) asked.push('getPrototypeOf')
      return getPrototypeOf(o)
    }),
    vi.spyOn(Object, 'hasOwn').mockImplementation((o: object, k: PropertyKey) => {
      if (o instanceof ServerResponse) asked.push(`hasOwn ${String(k)}`)
      return hasOwn(o, k)
    }),
  ]
  const writeHead = ServerResponse.prototype.writeHead
  const patched: number[] = []
  try {
    const first = await heads(port, ['/', '/', '/'])
    expect(asked).toEqual(['hasOwn writeHead'])
    // A writeHead put on the prototype later (another tool's) is found, checked once, and called.
    ServerResponse.prototype.writeHead = function (this: InstanceType<typeof ServerResponse>, ...args) {
      patched.push(this.statusCode)
      return writeHead.apply(this, args as Parameters<typeof writeHead>)
    } as typeof writeHead
    const later = await heads(port, ['/', '/'])
    expect(asked).toEqual(['hasOwn writeHead', 'hasOwn writeHead'])
    expect(patched).toEqual([200, 200])
    const ids = [...first, ...later].map((h) => /\r\nx-request-id: ([^\r]+)/i.exec(h)?.[1])
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]+-[a-z0-9]+$/)
    expect(new Set(ids).size).toBe(5)
  } finally {
    ServerResponse.prototype.writeHead = writeHead
    for (const spy of spies) spy.mockRestore()
    await new Promise((r) => server.close(r))
    await monitor.close()
  }
})

it('names routes from hono’s match result, not from a copy made by `matchedRoutes` on every request', async () => {
  const monitor = createMonitor({ sampling: 1 })
  const app = new Hono()
  app.use(perf(monitor))
  app.get('/a/:id', (c) => c.text('a'))
  const sub = new Hono()
  sub.get('/b', (c) => c.text('b'))
  app.route('/sub', sub)
  // The prototype of hono's requests (HonoRequest), where `matchedRoutes` is a getter.
  let proto: object | undefined
  app.get('/probe', (c) => {
    proto = Object.getPrototypeOf(c.req) as object
    return c.text('probe')
  })
  await app.request('/probe')
  const getter = vi.spyOn(proto as { matchedRoutes: unknown }, 'matchedRoutes', 'get')
  try {
    for (let i = 0; i < 20; i++) {
      expect((await app.request(`/a/${i}`)).status).toBe(200)
      expect((await app.request('/sub/b')).status).toBe(200)
      expect((await app.request('/none')).status).toBe(404)
    }
    // Read on the middleware's first request only (whether another perf runs before it), not per request.
    expect(getter.mock.calls.length).toBeLessThanOrEqual(1)
  } finally {
    getter.mockRestore()
  }
  const ops = (monitor.snapshot().types.http?.ops ?? []).map((o) => `${o.name} ${o.totalCount}`)
  expect(ops).toEqual(expect.arrayContaining(['GET /a/:id 20', 'GET /sub/b 20', 'GET <unmatched> 20']))
  await monitor.close()
})
