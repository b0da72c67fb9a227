import { createMonitor, type Monitor, PROMETHEUS_CONTENT_TYPE } from '@perf/core'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { metrics, perf } from './index.js'

let monitor: Monitor
afterEach(async () => {
  await monitor.close()
})

function makeApp(options?: Parameters<typeof metrics>[1]): Hono {
  monitor = createMonitor()
  const app = new Hono()
  app.use(perf(monitor))
  app.get('/metrics', metrics(monitor, { env: {}, ...options }))
  app.get('/hello', (c) => c.text('hello'))
  return app
}

describe('hono metrics()', () => {
  it('serves the exposition at the route and never records its own requests', async () => {
    const app = makeApp()
    for (let i = 0; i < 3; i++) await (await app.request('/hello')).text()
    for (let i = 0; i < 2; i++) await (await app.request('/metrics')).text()
    const res = await app.request('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE)
    const text = await res.text()
    expect(text).toMatch(/^perf_events_total\{type="http",name="GET \/hello",status_class="2xx"\} 3$/m)
    expect(text).not.toMatch(/name="GET \/metrics"/)
    expect(monitor.snapshot().totals.events).toBe(3)
  })

  it('asks for the bearer token when one is set', async () => {
    const app = makeApp({ token: 'scrape-me-0123456789' })
    expect((await app.request('/metrics')).status).toBe(401)
    const ok = await app.request('/metrics', { headers: { authorization: 'Bearer scrape-me-0123456789' } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toMatch(/^# TYPE perf_duration_seconds histogram$/m)
  })
})
