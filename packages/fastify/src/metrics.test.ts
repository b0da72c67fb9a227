import { createMonitor, type Monitor, PROMETHEUS_CONTENT_TYPE } from '@perf/core'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { type MetricsPluginOptions, metrics, perf } from './index.js'

let monitor: Monitor
let app: FastifyInstance
afterEach(async () => {
  await app.close()
  await monitor.close()
})

/** A listening server: the adapter times requests to the last byte on a real socket. */
async function start(options?: Partial<MetricsPluginOptions>): Promise<string> {
  monitor = createMonitor()
  app = Fastify()
  await app.register(perf, { monitor })
  await app.register(metrics, { monitor, env: {}, ...options })
  app.get('/hello', async () => 'hello')
  return app.listen({ port: 0, host: '127.0.0.1' })
}

describe('fastify metrics plugin', () => {
  it('serves the exposition at /metrics and never records its own requests', async () => {
    const base = await start()
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/hello`)).text()
    for (let i = 0; i < 2; i++) await (await fetch(`${base}/metrics`)).text()
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE)
    const body = await res.text()
    expect(body).toMatch(/^perf_events_total\{type="http",name="GET \/hello",status_class="2xx"\} 3$/m)
    // fastify's adapter names routes when they are registered, so the route may appear, never counted.
    for (const line of body.split('\n').filter((l) => l.includes('/metrics'))) expect(line).toMatch(/ 0$/)
    expect(monitor.snapshot().totals.events).toBe(3)
  })

  it('takes a path and asks for the bearer token when one is set', async () => {
    const base = await start({ path: '/internal/prom', token: 'scrape-me-0123456789' })
    expect((await fetch(`${base}/metrics`)).status).toBe(404)
    expect((await fetch(`${base}/internal/prom`)).status).toBe(401)
    const ok = await fetch(`${base}/internal/prom`, {
      headers: { authorization: 'Bearer scrape-me-0123456789' },
    })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toMatch(/^# TYPE perf_duration_seconds histogram$/m)
  })

  it('fails registration on a bad path', async () => {
    monitor = createMonitor()
    app = Fastify()
    await expect(app.register(metrics, { monitor, path: 'metrics' })).rejects.toThrow(
      /path = "metrics" is not valid/,
    )
  })
})
