import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createMonitor, type Monitor } from '@perf/core'
import express from 'express'
import { afterEach, describe, expect, it } from 'vitest'
import { dashboard, perf } from './index.js'

const TOKEN = 'mount-test-token-0123456789'
let monitor: Monitor
let server: Server | undefined
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)))
  server = undefined
  await monitor.close()
})

async function start(mount: (app: express.Express) => void): Promise<string> {
  monitor = createMonitor()
  const app = express()
  app.use(perf(monitor))
  mount(app)
  server = createServer(app)
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function warnings(): { list: { message: string; code?: string }[]; stop(): void } {
  const list: { message: string; code?: string }[] = []
  const on = (w: Error & { code?: string }) => list.push({ message: w.message, code: w.code })
  process.on('warning', on)
  return { list, stop: () => process.off('warning', on) }
}

describe('express dashboard() mounted on an exact route', () => {
  it('says "mount it with app.use" on the page and once as a process warning', async () => {
    const base = await start((app) => {
      app.get('/admin/performance', dashboard(monitor, { token: TOKEN, env: {} }))
    })
    const seen = warnings()
    try {
      const auth = { authorization: `Bearer ${TOKEN}` }
      // Said before any sign-in: a browser could never reach the form from here.
      const res = await fetch(`${base}/admin/performance`)
      expect(res.status).toBe(404)
      const page = await res.text()
      expect(page).toContain('Mount the dashboard with app.use')
      expect(page).toContain('app.use(&#39;/admin/performance&#39;')
      expect(page).not.toContain('There is no such dashboard page.')
      // Its assets never reach it: that is why the page must say so.
      expect((await fetch(`${base}/admin/performance/assets/app.js`)).status).toBe(404)
      await (await fetch(`${base}/admin/performance/`, { headers: auth })).text()
      await new Promise((r) => setImmediate(r))
      const exact = seen.list.filter((w) => w.code === 'PERF_DASHBOARD_EXACT_ROUTE')
      expect(exact).toHaveLength(1)
      expect(exact[0]!.message).toContain("app.use('/admin/performance'")
    } finally {
      seen.stop()
    }
  })

  it('says nothing of the kind when mounted with app.use', async () => {
    const base = await start((app) => {
      app.use('/admin/performance', dashboard(monitor, { token: TOKEN, env: {} }))
    })
    const seen = warnings()
    try {
      const auth = { authorization: `Bearer ${TOKEN}` }
      expect((await fetch(`${base}/admin/performance/`, { headers: auth })).status).toBe(200)
      expect((await fetch(`${base}/admin/performance/assets/app.js`)).status).toBe(200)
      const missing = await fetch(`${base}/admin/performance/nope`, { headers: auth })
      expect(missing.status).toBe(404)
      expect(await missing.text()).toContain('There is no such dashboard page.')
      await new Promise((r) => setImmediate(r))
      expect(seen.list.filter((w) => w.code === 'PERF_DASHBOARD_EXACT_ROUTE')).toEqual([])
    } finally {
      seen.stop()
    }
  })
})
