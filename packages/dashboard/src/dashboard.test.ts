import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMonitor, type Monitor } from '@perf/core'
import { SqliteStore } from '@perf/sqlite'
import { afterEach, describe, expect, it } from 'vitest'
import { safeEqual, sessionValue } from './auth.js'
import { createDashboard, type DashboardOptions } from './dashboard.js'
import type { HistoryQuery, HistoryRow } from './history.js'

const BASE = 'http://app.test/admin/performance/'
const TOKEN = 'a-long-admin-token-123'
const monitors: Monitor[] = []

function setup(options: DashboardOptions = { token: TOKEN }, monitorOptions = {}) {
  const monitor = createMonitor(monitorOptions)
  monitors.push(monitor)
  return { monitor, dashboard: createDashboard(monitor, { env: {}, ...options }) }
}

function get(path: string, headers: Record<string, string> = {}): Request {
  return new Request(new URL(path, BASE), { headers })
}

function post(path: string, headers: Record<string, string> = {}, body?: string): Request {
  return new Request(new URL(path, BASE), { method: 'POST', headers, body })
}

const bearer = (token = TOKEN) => ({ authorization: `Bearer ${token}` })

afterEach(async () => {
  for (const m of monitors.splice(0)) await m.close()
})

describe('access without configuration', () => {
  it('answers 403 with a page explaining PERF_ADMIN_TOKEN when there is no token and no auth hook', async () => {
    const { dashboard } = setup({})
    for (const path of ['', 'api/snapshot', 'api/history?range=1h']) {
      const res = await dashboard(get(path), { remoteAddress: '127.0.0.1' })
      expect(res.status).toBe(403)
      expect(await res.text()).toContain('PERF_ADMIN_TOKEN')
    }
  })

  it('serves loopback requests without a token only with allowUnauthenticatedLocalhost', async () => {
    const { dashboard } = setup({ allowUnauthenticatedLocalhost: true })
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      const res = await dashboard(get('api/snapshot'), { remoteAddress })
      expect(res.status, remoteAddress).toBe(200)
    }
    for (const info of [{ remoteAddress: '10.0.0.7' }, { remoteAddress: '::ffff:192.168.1.2' }, undefined]) {
      expect((await dashboard(get('api/snapshot'), info)).status).toBe(403)
    }
    // A forwarded header is not the socket: it cannot make a remote request local.
    const forwarded = get('api/snapshot', { 'x-forwarded-for': '127.0.0.1' })
    expect((await dashboard(forwarded, { remoteAddress: '203.0.113.9' })).status).toBe(403)
  })

  it('takes the token from PERF_ADMIN_TOKEN', async () => {
    const { dashboard } = setup({ env: { PERF_ADMIN_TOKEN: TOKEN } })
    expect((await dashboard(get('api/snapshot'))).status).toBe(401)
    expect((await dashboard(get('api/snapshot', bearer()))).status).toBe(200)
  })

  it('rejects invalid options with errors that name them', () => {
    const monitor = createMonitor()
    monitors.push(monitor)
    expect(() => createDashboard(monitor, { token: 'has space' })).toThrow(/token must be a string/)
    expect(() => createDashboard(monitor, { refreshMs: 10 })).toThrow(/refreshMs/)
    expect(() => createDashboard(monitor, { errorRateThreshold: 2 })).toThrow(/errorRateThreshold/)
    expect(() => createDashboard(monitor, { store: {} as never })).toThrow(/history\(query\)/)
    expect(() => createDashboard({} as never)).toThrow(/monitor must be/)
  })
})

describe('token', () => {
  it('answers 401 without a token: a sign-in page for the page, JSON for the API', async () => {
    const { dashboard } = setup()
    const page = await dashboard(get(''))
    expect(page.status).toBe(401)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('<form method="post" action="/admin/performance/login"')
    const api = await dashboard(get('api/snapshot'))
    expect(api.status).toBe(401)
    expect(api.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await api.json()).toEqual({ error: expect.stringContaining('Bearer') })
  })

  it('accepts the bearer token and refuses wrong ones, including tokens of another length', async () => {
    const { dashboard } = setup()
    expect((await dashboard(get('api/snapshot', bearer()))).status).toBe(200)
    for (const wrong of [`${TOKEN}x`, TOKEN.slice(0, -1), 'x', 'A'.repeat(5000), TOKEN.toUpperCase()]) {
      expect((await dashboard(get('api/snapshot', bearer(wrong)))).status).toBe(401)
    }
    expect((await dashboard(get('api/snapshot', { authorization: `Basic ${TOKEN}` }))).status).toBe(401)
  })

  it('compares in constant time without throwing on a length mismatch', () => {
    expect(safeEqual('abc', 'abc')).toBe(true)
    expect(safeEqual('abc', 'abcd')).toBe(false)
    expect(safeEqual('', 'abcd')).toBe(false)
    expect(safeEqual('é', 'e')).toBe(false)
  })

  it('signs in with the form: an HttpOnly SameSite=Strict cookie that is not the token itself', async () => {
    const { dashboard } = setup()
    const form = { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://app.test' }
    const bad = await dashboard(post('login', form, 'token=nope'))
    expect(bad.status).toBe(401)
    expect(bad.headers.get('set-cookie')).toBeNull()
    expect(await bad.text()).toContain('not valid')

    const res = await dashboard(post('login', form, `token=${encodeURIComponent(TOKEN)}`))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/admin/performance/')
    const cookie = res.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    expect(cookie).toMatch(/Path=\/admin\/performance;/)
    expect(cookie).not.toContain(TOKEN)
    const pair = cookie.split(';')[0]!
    expect(pair).toBe(`perf_admin=${sessionValue(TOKEN)}`)

    const page = await dashboard(get('', { cookie: `other=1; ${pair}` }))
    expect(page.status).toBe(200)
    expect((await dashboard(get('api/snapshot', { cookie: 'perf_admin=forged' }))).status).toBe(401)

    const out = await dashboard(post('logout', { origin: 'http://app.test', cookie: pair }))
    expect(out.headers.get('set-cookie')).toMatch(/perf_admin=;.*Max-Age=0/)
  })

  it('refuses a sign-in form posted from another origin or without Origin', async () => {
    const { dashboard } = setup()
    const body = `token=${TOKEN}`
    const type = { 'content-type': 'application/x-www-form-urlencoded' }
    for (const headers of [type, { ...type, origin: 'http://evil.test' }, { ...type, origin: 'null' }]) {
      const res = await dashboard(post('login', headers, body))
      expect(res.status).toBe(403)
      expect(res.headers.get('set-cookie')).toBeNull()
    }
  })

  it('lets an auth hook decide, and counts a hook that throws as a refusal', async () => {
    const { dashboard, monitor } = setup({
      auth: (req) => {
        if (req.headers.get('x-user') === 'boom') throw new Error('hook failed')
        return req.headers.get('x-user') === 'admin'
      },
    })
    expect((await dashboard(get('api/snapshot', { 'x-user': 'admin' }))).status).toBe(200)
    expect((await dashboard(get('api/snapshot', { 'x-user': 'guest' }))).status).toBe(401)
    expect((await dashboard(get('api/snapshot', { 'x-user': 'boom' }))).status).toBe(401)
    const page = await dashboard(get('', { 'x-user': 'guest' }))
    expect(page.status).toBe(401)
    expect(await page.text()).not.toContain('<form')
    expect(monitor.snapshot().totals.internalErrors).toBe(1)
  })
})

describe('headers and content', () => {
  it('sends a strict CSP without inline script, nosniff and no framing on pages, API and errors', async () => {
    const { dashboard } = setup()
    for (const res of [
      await dashboard(get('', bearer())),
      await dashboard(get('api/snapshot', bearer())),
      await dashboard(get('api/snapshot')),
      await dashboard(get('assets/app.js')),
    ]) {
      const csp = res.headers.get('content-security-policy') ?? ''
      expect(csp).toContain("default-src 'none'")
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).not.toContain('unsafe-inline')
      expect(csp).not.toContain('unsafe-eval')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    }
  })

  it('serves the page with no inline script and the title escaped', async () => {
    const { dashboard } = setup({ token: TOKEN, title: 'Ops <script>alert(1)</script>' })
    const html = await (await dashboard(get('', bearer()))).text()
    expect(html).not.toMatch(/<script>/)
    expect(html).toContain('Ops &#60;script&#62;')
    for (const m of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(m[1]).toMatch(/src="\/admin\/performance\/assets\//)
      expect(m[2]).toBe('')
    }
  })

  it('returns the snapshot as JSON with the dashboard summary', async () => {
    const { dashboard, monitor } = setup()
    monitor.record('http', 'GET /notes', 10, { status: 200 })
    monitor.record('http', 'GET /fail', 30, { status: 500, error: 'boom' })
    monitor.record('db', 'SELECT notes', 2)
    const res = await dashboard(get('api/snapshot', bearer()))
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = await res.json()
    expect(body.types.http.ops.map((o: { name: string }) => o.name).sort()).toEqual([
      'GET /fail',
      'GET /notes',
    ])
    expect(body.dashboard.summary).toMatchObject({
      totalRequests: 2,
      errorRate: 0.5,
      errorRateHigh: true,
      dbQueries: 1,
    })
    expect(body.dashboard.timeline.current.count).toBe(2)
    expect(body.dashboard.process).toBeNull()
  })

  it('answers api/snapshot for 2,000 ops with every op and exact totals (speed: bench/dashboard.mjs)', async () => {
    const { dashboard, monitor } = setup()
    for (let i = 0; i < 2000; i++) {
      const type = i % 2 === 0 ? 'http' : 'db'
      for (let j = 0; j < 3; j++)
        monitor.record(type, `op ${i}`, j + 1, type === 'http' ? { status: 200 } : undefined)
    }
    const res = await dashboard(get('api/snapshot', bearer()))
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.types.http.ops).toHaveLength(1000)
    expect(body.types.db.ops).toHaveLength(1000)
    expect(body.totals.events).toBe(6000)
    expect(body.dashboard.summary).toMatchObject({
      totalRequests: 3000,
      windowRequests: 3000,
      dbQueries: 3000,
    })
    expect(body.dashboard.summary.avgMs).toBeCloseTo(2)
  })

  it('serves the page assets, uPlot included, without a token and with their types', async () => {
    const { dashboard } = setup()
    const expected = {
      'assets/app.js': 'text/javascript',
      'assets/app.css': 'text/css',
      'assets/uplot.js': 'text/javascript',
      'assets/uplot.css': 'text/css',
    }
    for (const [path, type] of Object.entries(expected)) {
      const res = await dashboard(get(path))
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toContain(type)
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000)
    }
    expect(await (await dashboard(get('assets/uplot.js'))).text()).toContain('uPlot')
    expect((await dashboard(get('assets/secret.json'))).status).toBe(404)
    expect((await dashboard(get('assets/..%2Fdashboard.ts'))).status).toBe(404)
  })

  it('shows a "monitoring disabled" page when the monitor is off', async () => {
    const { dashboard } = setup({ token: TOKEN }, { enabled: false })
    const res = await dashboard(get('', bearer()))
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('Monitoring is disabled')
  })

  it('redirects the root without a trailing slash so relative links resolve', async () => {
    const { dashboard } = setup()
    const res = await dashboard(new Request('http://app.test/admin/performance?x=1'))
    expect(res.status).toBe(308)
    expect(res.headers.get('location')).toBe('/admin/performance/?x=1')
  })

  it('takes URLs relative to info.basePath when mounted, and links from it', async () => {
    const { dashboard } = setup()
    const info = { basePath: '/admin/performance', remoteAddress: '10.0.0.1' }
    const at = (path: string, headers: Record<string, string> = bearer()) =>
      new Request(`http://app.test${path}`, { headers })
    expect((await dashboard(at('/api/snapshot'), info)).status).toBe(200)
    expect((await dashboard(at('/nope'), info)).status).toBe(404)
    // An adapter hands the root as `/` whether or not the browser added the slash: links are absolute.
    const html = await (await dashboard(at('/'), info)).text()
    expect(html).toContain('src="/admin/performance/assets/app.js"')
    expect(html).toContain('data-base="/admin/performance/"')
    const login = await (await dashboard(at('/', {}), info)).text()
    expect(login).toContain('action="/admin/performance/login"')
    const form = { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://app.test' }
    const res = await dashboard(
      new Request('http://app.test/login', { method: 'POST', headers: form, body: `token=${TOKEN}` }),
      info,
    )
    expect(res.headers.get('location')).toBe('/admin/performance/')
    expect(res.headers.get('set-cookie')).toMatch(/Path=\/admin\/performance;/)
  })
})

describe('state changes', () => {
  it('clears only on a same-origin POST', async () => {
    const { dashboard, monitor } = setup()
    monitor.record('http', 'GET /a', 5)
    expect((await dashboard(get('api/clear', bearer()))).status).toBe(405)
    expect((await dashboard(post('api/clear', bearer()))).status).toBe(403)
    expect((await dashboard(post('api/clear', { ...bearer(), origin: 'http://evil.test' }))).status).toBe(403)
    expect((await dashboard(post('api/clear', { origin: 'http://app.test' }))).status).toBe(401)
    expect(monitor.snapshot().totals.events).toBe(1)
    const res = await dashboard(post('api/clear', { ...bearer(), origin: 'http://app.test' }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ cleared: true })
    expect(monitor.snapshot().totals.events).toBe(0)
  })
})

describe('history', () => {
  function store(rows: HistoryRow[]) {
    const queries: HistoryQuery[] = []
    return {
      queries,
      history(q: HistoryQuery) {
        queries.push(q)
        return rows.filter((r) => r.start >= q.since! && r.start < q.until!)
      },
    }
  }

  it('answers 404 when no store is configured', async () => {
    const { dashboard } = setup()
    const res = await dashboard(get('api/history?range=1h', bearer()))
    expect(res.status).toBe(404)
    expect((await res.json()).error).toMatch(/store/)
  })

  it('clamps the range and the number of points, and refuses what does not parse', async () => {
    const s = store([])
    const { dashboard } = setup({ token: TOKEN, store: s })
    const ask = async (q: string) => dashboard(get(`api/history?${q}`, bearer()))
    const day = await (await ask('range=24h')).json()
    expect(day).toMatchObject({ range: '24h', bucketMs: 12 * 60_000 })
    expect(day.until - day.since).toBe(86_400_000)
    expect((await (await ask('range=30d')).json()).range).toBe('7d')
    expect((await (await ask('range=1m')).json()).range).toBe('5m')
    // Past a day, whole hours (the store's hourly roll-ups).
    expect((await (await ask('range=7d&points=100000')).json()).bucketMs).toBe(60 * 60_000)
    expect((await (await ask('range=7d')).json()).bucketMs).toBe(2 * 60 * 60_000)
    expect((await (await ask('range=1h&points=1')).json()).bucketMs).toBe(6 * 60_000)
    expect((await (await ask('')).json()).range).toBe('1h')
    for (const bad of ['range=abc', 'range=-1h', 'range=1y', 'range=1h&points=many']) {
      const res = await ask(bad)
      expect(res.status, bad).toBe(400)
      expect((await res.json()).error).toMatch(/expected/)
    }
    // One read per range, every type at once, no per-op points or events.
    const asked = s.queries.length
    await ask('range=24h')
    expect(s.queries.length).toBe(asked + 1)
    expect(s.queries.at(-1)).toMatchObject({ ops: false, events: false, bucketMs: 12 * 60_000 })
    expect(s.queries.at(-1)?.type).toBeUndefined()
  })

  it('groups stored rows into buckets with exact percentiles from merged histograms', async () => {
    const now = Date.now()
    const start = Math.floor((now - 30 * 60_000) / 60_000) * 60_000
    const rows: HistoryRow[] = [
      {
        type: 'http',
        name: 'GET /a',
        start,
        end: start + 60_000,
        count: 2,
        errors: 1,
        sumMs: 20,
        maxMs: 15,
        histogram: { offset: 300, counts: [1, 1] },
      },
      {
        type: 'http',
        name: 'GET /b',
        start: start + 1000,
        end: start + 60_000,
        count: 1,
        errors: 0,
        sumMs: 40,
        maxMs: 40,
        histogram: { offset: 310, counts: [1] },
      },
    ]
    const { dashboard } = setup({ token: TOKEN, store: store(rows) })
    const body = await (await dashboard(get('api/history?range=1h&points=60', bearer()))).json()
    expect(body.series.http).toHaveLength(1)
    const [p] = body.series.http
    expect(p).toMatchObject({ count: 3, errors: 1, maxMs: 40 })
    expect(p.avgMs).toBeCloseTo(20)
    expect(p.p99Ms).toBeLessThanOrEqual(40)
    expect(p.p50Ms).toBeLessThan(p.p99Ms)
    expect(body.series.db).toEqual([])
  })

  it('a real SqliteStore: routes at 1, 10 and 100 ms give the exact merge, p50 10 ms not the slowest route', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perf-dash-history-'))
    const store = new SqliteStore({ path: join(dir, 'perf.db'), flushIntervalMs: 3_600_000 })
    try {
      const { monitor, dashboard } = setup(
        { token: TOKEN, store },
        { sinks: [store], sliceMs: 50, windowMs: 1000, sinkIntervalMs: 10 },
      )
      for (let i = 0; i < 100; i++) {
        monitor.record('http', 'GET /fast', 1)
        monitor.record('http', 'GET /mid', 10)
        monitor.record('http', 'GET /slow', 100, { error: i < 3 })
      }
      const live = monitor.snapshot().types.http!
      await new Promise((r) => setTimeout(r, 120))
      await monitor.flush()
      await store.flush()
      const body = await (await dashboard(get('api/history?range=1h', bearer()))).json()
      expect(body.series.http).toHaveLength(1)
      const [p] = body.series.http
      // The same events, merged by the store from its minute rows: the live window's figures.
      expect(p).toMatchObject({ count: 300, errors: 3, maxMs: 100, p50Ms: live.p50Ms, p95Ms: live.p95Ms })
      expect(p.p99Ms).toBe(live.p99Ms)
      expect(p.avgMs).toBeCloseTo(37, 9)
      expect(Math.abs(p.p50Ms - 10) / 10).toBeLessThanOrEqual(1 / 32)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('answers 500 and counts it when the store fails', async () => {
    const { dashboard, monitor } = setup({
      token: TOKEN,
      store: {
        history() {
          throw new Error('disk gone')
        },
      },
    })
    expect((await dashboard(get('api/history?range=1h', bearer()))).status).toBe(500)
    expect(monitor.snapshot().totals.internalErrors).toBe(1)
  })
})
