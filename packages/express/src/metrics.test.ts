import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createMonitor, type Monitor, PROMETHEUS_CONTENT_TYPE } from '@perf/core'
import express from 'express'
import { afterEach, describe, expect, it } from 'vitest'
import { metrics, perf } from './index.js'

let monitor: Monitor
let server: Server | undefined
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)))
  server = undefined
  await monitor.close()
})

async function start(options?: Parameters<typeof metrics>[1]): Promise<string> {
  monitor = createMonitor()
  const app = express()
  app.use(perf(monitor))
  app.get('/metrics', metrics(monitor, { env: {}, ...options }))
  app.get('/hello', (_req, res) => {
    res.send('hello')
  })
  server = createServer(app)
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('express metrics()', () => {
  it('serves the exposition at the route and never records its own requests', async () => {
    const base = await start()
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/hello`)).text()
    for (let i = 0; i < 2; i++) await (await fetch(`${base}/metrics`)).text()
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE)
    const text = await res.text()
    expect(text).toMatch(/^perf_events_total\{type="http",name="GET \/hello",status_class="2xx"\} 3$/m)
    expect(text).not.toMatch(/name="GET \/metrics"/)
    expect(monitor.snapshot().totals.events).toBe(3)
  })

  it('asks for the bearer token when one is set', async () => {
    const base = await start({ token: 'scrape-me-0123456789' })
    expect((await fetch(`${base}/metrics`)).status).toBe(401)
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer scrape-me-0123456789' } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toMatch(/^# TYPE perf_duration_seconds histogram$/m)
    expect(monitor.snapshot().totals.events).toBe(0)
  })
})
