import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { Session } from 'node:inspector/promises'
import { serve } from '@hono/node-server'
import { createMonitor } from '@perf/core'
import { Hono } from 'hono'
import { expect, it } from 'vitest'
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
