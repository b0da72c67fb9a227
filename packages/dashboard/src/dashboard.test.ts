import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMetricsHandler, createMonitor, createSignInCode, type Monitor } from '@perf/core'
import { serveWebHandler } from '@perf/core/http'
import { SqliteStore } from '@perf/sqlite'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
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
    const local = (headers: Record<string, string> = {}) =>
      new Request('http://localhost:3000/admin/performance/api/snapshot', { headers })
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      const res = await dashboard(local(), { remoteAddress })
      expect(res.status, remoteAddress).toBe(200)
    }
    for (const info of [{ remoteAddress: '10.0.0.7' }, { remoteAddress: '::ffff:192.168.1.2' }, undefined]) {
      expect((await dashboard(local(), info)).status).toBe(403)
    }
    // A forwarded header is not the socket: it cannot make a remote request local.
    const forwarded = local({ 'x-forwarded-for': '127.0.0.1' })
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
    expect(() => createDashboard(monitor, { token: 'has space in the middle' })).toThrow(
      /createDashboard: options\.token must be visible ASCII characters without spaces/,
    )
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
    expect(pair).toMatch(/^perf_admin=[0-9a-z]+\.[\w-]{22}\.[\w-]{43}$/)

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

  it('serves every module the page script imports, following its imports from app.js', async () => {
    const { dashboard } = setup()
    const page = await (await dashboard(get('', bearer()))).text()
    expect(page).toContain('<script type="module" src="/admin/performance/assets/app.js"></script>')
    const seen = new Set<string>()
    const queue = ['app.js']
    while (queue.length > 0) {
      const name = queue.shift()!
      if (seen.has(name)) continue
      seen.add(name)
      const res = await dashboard(get(`assets/${name}`))
      expect(res.status, name).toBe(200)
      expect(res.headers.get('content-type'), name).toBe('text/javascript; charset=utf-8')
      expect(res.headers.get('cache-control'), name).toBe('public, max-age=300')
      const code = await res.text()
      for (const m of code.matchAll(/^import\s[^'"]*['"]\.\/([^'"]+)['"]/gm)) queue.push(m[1]!)
    }
    // The entry and the modules it is split into along its sections.
    expect([...seen].sort()).toEqual(
      [
        'app.js',
        'charts.js',
        'compare.js',
        'dom.js',
        'format.js',
        'state.js',
        'summary.js',
        'tables.js',
      ].sort(),
    )
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

  it('reads no more than the sign-in form allows of a body without Content-Length', async () => {
    const { dashboard } = setup()
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        if (pulled > 3200) controller.close()
        else controller.enqueue(new Uint8Array(64 * 1024).fill(0x61))
      },
    })
    const init: RequestInit & { duplex: 'half' } = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://app.test' },
      body,
      duplex: 'half',
    }
    const res = await dashboard(new Request('http://app.test/admin/performance/login', init))
    expect(res.status).toBe(401)
    // One 64 KiB chunk passes the 4 KiB form limit; the 200 MB behind it are never read.
    expect(pulled).toBeLessThanOrEqual(3)
  })

  it('never redirects off the site without a basePath, nor points its sign-in form there', async () => {
    const { dashboard } = setup()
    for (const path of ['//evil.example', '///evil.example', '/\\evil.example', '//evil.example/x/']) {
      const at = new Request(`http://app.test${path}`)
      const res = await dashboard(at)
      const location = res.headers.get('location')
      if (location !== null) expect(location, path).toMatch(/^\/(?![/\\])/)
      const root = location ?? new URL(at.url).pathname
      const page = await (await dashboard(new Request(new URL(root, 'http://app.test')))).text()
      expect(page, path).toMatch(/action="\/(?![/\\])[^"]*login"/)
      expect(page, path).not.toContain('"//')
    }
    const login = await dashboard(
      new Request('http://app.test//evil.example/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://app.test' },
        body: `token=${TOKEN}`,
      }),
    )
    expect(login.status).toBe(303)
    expect(login.headers.get('location')).toBe('/evil.example/')
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

describe('DNS rebinding (allowUnauthenticatedLocalhost)', () => {
  const local = { remoteAddress: '127.0.0.1' }
  const at = (host: string, path: string, init: RequestInit = {}) =>
    new Request(`http://${host}/admin/performance/${path}`, init)

  it('serves a loopback socket only when the Host is a loopback name, and never a forwarded request', async () => {
    const { dashboard, monitor } = setup({ allowUnauthenticatedLocalhost: true })
    monitor.record('http', 'GET /a', 5)
    for (const host of ['localhost:3000', '127.0.0.1:3000', '[::1]:3000']) {
      expect((await dashboard(at(host, 'api/snapshot'), local)).status, host).toBe(200)
    }
    // What a rebinding page in the developer's browser sends: its own name, from 127.0.0.1.
    const evil = 'evil.example:3000'
    const read = await dashboard(at(evil, 'api/snapshot'), local)
    expect(read.status).toBe(403)
    expect(await read.text()).not.toContain('GET /a')
    const clear = await dashboard(
      at(evil, 'api/clear', { method: 'POST', headers: { origin: `http://${evil}` } }),
      local,
    )
    expect(clear.status).toBe(403)
    expect(monitor.snapshot().totals.events).toBe(1)
    // A proxy on the same machine connects from loopback for everyone.
    const proxied = at('localhost:3000', 'api/snapshot', { headers: { 'x-forwarded-for': '203.0.113.9' } })
    expect((await dashboard(proxied, local)).status).toBe(403)
    // A state change from a loopback page still needs its Origin to match the (validated) host.
    const cross = at('localhost:3000', 'api/clear', {
      method: 'POST',
      headers: { origin: 'http://evil.example' },
    })
    expect((await dashboard(cross, local)).status).toBe(403)
    const same = at('localhost:3000', 'api/clear', {
      method: 'POST',
      headers: { origin: 'http://localhost:3000' },
    })
    expect((await dashboard(same, local)).status).toBe(200)
  })

  it('refuses a rebound Host over a real socket on 127.0.0.1', async () => {
    const monitor = createMonitor()
    monitors.push(monitor)
    monitor.record('http', 'GET /secret-route', 5)
    const dashboard = createDashboard(monitor, { allowUnauthenticatedLocalhost: true, env: {} })
    const server = createServer((req, res) => {
      void serveWebHandler(dashboard, req, res, req.url ?? '/', '')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const send = (host: string, path: string, method = 'GET') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path, method, headers: { host, origin: `http://${host}` } },
          (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (c: string) => {
              body += c
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          },
        )
        req.on('error', reject)
        req.end()
      })
    try {
      expect((await send(`localhost:${port}`, '/api/snapshot')).status).toBe(200)
      const rebound = await send(`evil.example:${port}`, '/api/snapshot')
      expect(rebound.status).toBe(403)
      expect(rebound.body).not.toContain('secret-route')
      expect((await send(`evil.example:${port}`, '/api/clear', 'POST')).status).toBe(403)
      expect(monitor.snapshot().totals.events).toBe(1)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('cannot be combined with trustProxy', () => {
    const monitor = createMonitor()
    monitors.push(monitor)
    expect(() =>
      createDashboard(monitor, { allowUnauthenticatedLocalhost: true, trustProxy: true, env: {} }),
    ).toThrow(/allowUnauthenticatedLocalhost and trustProxy cannot be combined/)
  })
})

describe('sessions', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://app.test' }
  const signIn = async (
    dashboard: ReturnType<typeof setup>['dashboard'],
    info?: { remoteAddress: string },
  ) => {
    const res = await dashboard(post('login', form, `token=${encodeURIComponent(TOKEN)}`), info)
    expect(res.status).toBe(303)
    const cookie = res.headers.get('set-cookie') ?? ''
    return { cookie, pair: cookie.split(';')[0]! }
  }

  afterEach(() => {
    vi.useRealTimers()
  })

  it('issues a new session at each sign-in, and sign-out ends it even for a copy of the cookie', async () => {
    const { dashboard } = setup()
    const a = await signIn(dashboard)
    const b = await signIn(dashboard)
    expect(a.pair).not.toBe(b.pair)
    const copy = a.pair
    expect((await dashboard(get('api/snapshot', { cookie: copy }))).status).toBe(200)
    const out = await dashboard(post('logout', { origin: 'http://app.test', cookie: a.pair }))
    expect(out.headers.get('set-cookie')).toMatch(/perf_admin=;.*Max-Age=0/)
    expect((await dashboard(get('api/snapshot', { cookie: copy }))).status).toBe(401)
    expect((await dashboard(get('', { cookie: copy }))).status).toBe(401)
    // Signing out one session leaves the others.
    expect((await dashboard(get('api/snapshot', { cookie: b.pair }))).status).toBe(200)
  })

  it('expires a session a working day after sign-in by default, sooner with sessionTtlMs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-01-05T09:00:00Z'))
    const { dashboard } = setup()
    const { cookie, pair } = await signIn(dashboard)
    expect(cookie).toMatch(/Max-Age=28800(;|$)/)
    vi.setSystemTime(new Date('2026-01-05T16:59:00Z'))
    expect((await dashboard(get('api/snapshot', { cookie: pair }))).status).toBe(200)
    vi.setSystemTime(new Date('2026-01-05T17:00:01Z'))
    expect((await dashboard(get('api/snapshot', { cookie: pair }))).status).toBe(401)

    const short = setup({ token: TOKEN, sessionTtlMs: 60_000 })
    const s = await signIn(short.dashboard)
    expect(s.cookie).toMatch(/Max-Age=60(;|$)/)
    vi.setSystemTime(new Date('2026-01-05T17:01:02Z'))
    expect((await short.dashboard(get('api/snapshot', { cookie: s.pair }))).status).toBe(401)
    expect(() => setup({ token: TOKEN, sessionTtlMs: 5 })).toThrow(/options\.sessionTtlMs must be an integer/)
  })

  it('ends every session when the token changes', async () => {
    const { dashboard, monitor } = setup()
    const { pair } = await signIn(dashboard)
    const other = createDashboard(monitor, { token: `${TOKEN}-rotated`, env: {} })
    expect((await other(get('api/snapshot', { cookie: pair }))).status).toBe(401)
  })
})

describe('sign-in throttle', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://app.test' }
  const attempt = (dashboard: ReturnType<typeof setup>['dashboard'], token: string, remoteAddress: string) =>
    dashboard(post('login', form, `token=${encodeURIComponent(token)}`), { remoteAddress })

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('blocks an address after repeated failures, even with the right token, and counts it', async () => {
    const { dashboard, monitor } = setup()
    for (let i = 0; i < 3000; i++) {
      const res = await attempt(dashboard, `wrong-${i}-0123456789abcdef`, '198.51.100.4')
      expect(res.status).toBe(i < 6 ? 401 : 429)
    }
    const right = await attempt(dashboard, TOKEN, '198.51.100.4')
    expect(right.status).toBe(429)
    expect(right.headers.get('set-cookie')).toBeNull()
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await right.text()).toContain('Too many failed sign-ins')
    // Bearer guesses from that address are refused the same way.
    const api = await dashboard(get('api/snapshot', bearer()), { remoteAddress: '198.51.100.4' })
    expect(api.status).toBe(429)
    // Another address signs in.
    expect((await attempt(dashboard, TOKEN, '198.51.100.5')).status).toBe(303)
    expect(monitor.snapshot().counters.admin_auth).toEqual({ failed: 6, throttled: 2996 })
    // Once the block has passed, the address may try again.
    vi.setSystemTime(Date.now() + 2000)
    expect((await attempt(dashboard, TOKEN, '198.51.100.4')).status).toBe(303)
  })

  it('requires tokens of at least 16 characters, naming PERF_ADMIN_TOKEN when it came from there', () => {
    const monitor = createMonitor()
    monitors.push(monitor)
    expect(() => createDashboard(monitor, { token: 'x', env: {} })).toThrow(
      /createDashboard: options\.token is 1 character long; a token must be 16 to 1024 characters/,
    )
    expect(() => createDashboard(monitor, { env: { PERF_ADMIN_TOKEN: 'short-token' } })).toThrow(
      /createDashboard: PERF_ADMIN_TOKEN is 11 characters long; a token must be 16/,
    )
    expect(() => createDashboard(monitor, { token: 'x'.repeat(16), env: {} })).not.toThrow()
  })
})

describe('behind a reverse proxy (trustProxy)', () => {
  // What nginx sends with the README's block: Host is the upstream, the browser's host is forwarded.
  const proxied = (path: string, headers: Record<string, string>, body?: string) =>
    new Request(`http://127.0.0.1:3000/admin/performance/${path}`, {
      method: 'POST',
      headers: {
        host: '127.0.0.1:3000',
        'x-forwarded-host': 'perf.example.com',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '203.0.113.50',
        origin: 'https://perf.example.com',
        ...headers,
      },
      body,
    })
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const proxy = { remoteAddress: '127.0.0.1' }

  it('signs in with a Secure cookie when the forwarded host and scheme match the Origin', async () => {
    const { dashboard } = setup({ token: TOKEN, trustProxy: true })
    const res = await dashboard(proxied('login', form, `token=${TOKEN}`), proxy)
    expect(res.status).toBe(303)
    const cookie = res.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/; Secure$/)
    const pair = cookie.split(';')[0]!
    const clear = await dashboard(proxied('api/clear', { cookie: pair }), proxy)
    expect(clear.status).toBe(200)
    // The scheme is compared too once it is known: an http page cannot post to the https site.
    const downgraded = await dashboard(
      proxied('api/clear', { cookie: pair, origin: 'http://perf.example.com' }),
      proxy,
    )
    expect(downgraded.status).toBe(403)
    const evil = await dashboard(
      proxied('api/clear', { cookie: pair, origin: 'https://evil.example' }),
      proxy,
    )
    expect(evil.status).toBe(403)
  })

  it('ignores forwarded headers by default', async () => {
    const { dashboard } = setup()
    const res = await dashboard(proxied('login', form, `token=${TOKEN}`), proxy)
    expect(res.status).toBe(403)
    const direct = await dashboard(
      new Request('https://perf.example.com/admin/performance/login', {
        method: 'POST',
        headers: { ...form, origin: 'https://perf.example.com', 'x-forwarded-proto': 'http' },
        body: `token=${TOKEN}`,
      }),
    )
    expect(direct.headers.get('set-cookie')).toMatch(/; Secure$/)
  })

  it('throttles the forwarded client, not the proxy', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const { dashboard } = setup({ token: TOKEN, trustProxy: true })
      for (let i = 0; i < 10; i++)
        await dashboard(proxied('login', form, 'token=wrong-token-0123456789'), proxy)
      const attacker = await dashboard(proxied('login', form, `token=${TOKEN}`), proxy)
      expect(attacker.status).toBe(429)
      const admin = await dashboard(
        proxied('login', { ...form, 'x-forwarded-for': '192.0.2.8' }, `token=${TOKEN}`),
        proxy,
      )
      expect(admin.status).toBe(303)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('one admin auth for the dashboard and /metrics', () => {
  it('applies the same token rule to the same PERF_ADMIN_TOKEN in both', async () => {
    const monitor = createMonitor()
    monitors.push(monitor)
    const values = [
      'a b',
      'x',
      'z'.repeat(2000),
      `${TOKEN} ${TOKEN}`,
      `${TOKEN}\n`,
      ` ${TOKEN}\r\n`,
      'q'.repeat(1024),
    ]
    for (const value of values) {
      const env = { PERF_ADMIN_TOKEN: value }
      const outcome = (make: () => (r: Request) => Promise<Response>) => {
        try {
          return make()
        } catch (err) {
          return (err as Error).message.replace(/^\w+: /, '')
        }
      }
      const dash = outcome(() => createDashboard(monitor, { env }))
      const metrics = outcome(() => createMetricsHandler(monitor, { env }))
      if (typeof dash === 'string' || typeof metrics === 'string') {
        expect(metrics, JSON.stringify(value)).toBe(dash)
        expect(dash).toMatch(/PERF_ADMIN_TOKEN/)
        continue
      }
      const token = value.trim()
      const auth = { authorization: `Bearer ${token}` }
      expect((await dash(get('api/snapshot', auth))).status, JSON.stringify(value)).toBe(200)
      expect((await metrics(new Request('http://app.test/metrics', { headers: auth }))).status).toBe(200)
    }
  })

  it('never lets the scrape token open the dashboard or clear stats', async () => {
    const scrapeToken = 'scrape-only-token-0123456789'
    const env = { PERF_ADMIN_TOKEN: TOKEN, PERF_SCRAPE_TOKEN: scrapeToken }
    const { dashboard, monitor } = setup({ env })
    monitor.record('http', 'GET /a', 5)
    const metrics = createMetricsHandler(monitor, { env })
    const scraper = { authorization: `Bearer ${scrapeToken}` }
    expect((await metrics(new Request('http://app.test/metrics', { headers: scraper }))).status).toBe(200)
    expect((await dashboard(get('api/snapshot', scraper))).status).toBe(401)
    expect((await dashboard(get('', scraper))).status).toBe(401)
    expect((await dashboard(post('api/clear', { ...scraper, origin: 'http://app.test' }))).status).toBe(401)
    expect(monitor.snapshot().totals.events).toBe(1)
  })

  it('leaves node:crypto out of the dashboard: it runs where WebCrypto does', async () => {
    const dir = new URL('.', import.meta.url)
    for (const file of ['auth.ts', 'dashboard.ts']) {
      const source = await readFile(new URL(file, dir), 'utf8')
      expect(source, file).not.toMatch(/from 'node:/)
    }
  })
})

describe('one-time sign-in links (createSignInCode)', () => {
  const link = (code: string) => get(`login?code=${encodeURIComponent(code)}`)
  const from = { remoteAddress: '198.51.100.20' }
  afterEach(() => {
    vi.useRealTimers()
  })

  it('signs in once with the normal session cookie and redirects to the page', async () => {
    const { dashboard, monitor } = setup()
    const code = await createSignInCode(monitor)
    const res = await dashboard(link(code), from)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/admin/performance/')
    const cookie = res.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/^perf_admin=[^;]+; Path=\/admin\/performance; HttpOnly; SameSite=Strict/)
    const page = await dashboard(get('', { cookie: cookie.split(';')[0]! }), from)
    expect(page.status).toBe(200)
    // Spent: the same link again is refused and counted like a wrong token.
    const again = await dashboard(link(code), from)
    expect(again.status).toBe(401)
    expect(again.headers.get('set-cookie')).toBeNull()
    expect(await again.text()).toContain('sign-in link is not valid')
    expect(monitor.snapshot().counters.admin_auth).toEqual({ failed: 1 })
  })

  it('expires after its lifetime (10 minutes by default)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const { dashboard, monitor } = setup()
    const code = await createSignInCode(monitor)
    const short = await createSignInCode(monitor, { ttlMs: 60_000 })
    vi.setSystemTime(Date.now() + 61_000)
    expect((await dashboard(link(short), from)).status).toBe(401)
    vi.setSystemTime(Date.now() + 9 * 60_000)
    expect((await dashboard(link(code), from)).status).toBe(401)
    const fresh = await createSignInCode(monitor)
    expect((await dashboard(link(fresh), from)).status).toBe(303)
  })

  it('throttles wrong codes like wrong tokens, and is refused while blocked even when right', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const { dashboard, monitor } = setup()
    for (let i = 0; i < 8; i++) {
      const res = await dashboard(link(`guess-${i}`.padEnd(43, 'x')), from)
      expect(res.status).toBe(i < 6 ? 401 : 429)
    }
    const right = await dashboard(link(await createSignInCode(monitor)), from)
    expect(right.status).toBe(429)
    expect(right.headers.get('set-cookie')).toBeNull()
  })

  it('is not accepted by a dashboard without a token, and rejects bad lifetimes', async () => {
    const { dashboard, monitor } = setup({ auth: () => false })
    expect((await dashboard(link(await createSignInCode(monitor)), from)).status).toBe(404)
    expect(() => createSignInCode(monitor, { ttlMs: 5 })).toThrow(
      /createSignInCode\(monitor, options\): options\.ttlMs must be an integer from 10000 \(10 s\) to 86400000 \(24 h\), got 5/,
    )
    expect(() => createSignInCode({} as Monitor)).toThrow(TypeError)
  })
})

describe('the page', () => {
  it('offers Sign out only when there is a token to sign in with', async () => {
    const withToken = setup()
    const page = await withToken.dashboard(get('', bearer()))
    expect(await page.text()).toContain('id="logout"')
    const local = setup({ allowUnauthenticatedLocalhost: true })
    const open = await local.dashboard(new Request('http://localhost/admin/performance/'), {
      remoteAddress: '127.0.0.1',
    })
    expect(open.status).toBe(200)
    expect(await open.text()).not.toContain('id="logout"')
  })

  it('links a favicon it serves itself', async () => {
    const { dashboard } = setup()
    const page = await (await dashboard(get('', bearer()))).text()
    expect(page).toContain('<link rel="icon" href="/admin/performance/assets/favicon.svg"')
    const icon = await dashboard(get('assets/favicon.svg'))
    expect(icon.status).toBe(200)
    expect(icon.headers.get('content-type')).toBe('image/svg+xml')
  })

  it('reports the slice in progress: its rate over the time elapsed and its own percentiles', async () => {
    const { dashboard, monitor } = setup({ token: TOKEN }, { sliceMs: 1000, windowMs: 60_000 })
    const read = async () =>
      ((await (await dashboard(get('api/snapshot', bearer()))).json()) as any).dashboard.timeline
    for (let i = 0; i < 30; i++) monitor.record('http', 'GET /a', 2)
    let tl = await read()
    expect(tl.current.count).toBe(30)
    // Under a second elapsed counts as one second: 30 requests, 1 800 per minute, not 30 × 60 / 0.01 s.
    expect(tl.current.perMinute).toBeCloseTo((30 * 60_000) / Math.max(1000, tl.current.elapsedMs), 6)
    expect(tl.current.p50Ms).toBeGreaterThan(1.8)
    expect(tl.current.p50Ms).toBeLessThan(2.2)
    // Once a slice has completed, the slice in progress is the window minus it: only the slow ones.
    await vi.waitFor(async () => expect((await read()).series.http.length).toBeGreaterThan(0), {
      timeout: 5000,
    })
    for (let i = 0; i < 5; i++) monitor.record('http', 'GET /a', 200)
    tl = await read()
    if (tl.series.http.length === 1) {
      expect(tl.current.count).toBe(5)
      expect(tl.current.p50Ms).toBeGreaterThan(180)
    }
    // Histograms were only used to work this out: the page's JSON carries none.
    const snap = (await (await dashboard(get('api/snapshot', bearer()))).json()) as any
    expect(snap.types.http.ops[0].histogram).toBeUndefined()
  })
})

describe('mounted on an exact route', () => {
  it('tells a page address below a root mount from a file a root-mounted dashboard does not have', async () => {
    const { dashboard } = setup()
    const at = (path: string) => dashboard(new Request(`http://app.test${path}`), { basePath: '' })
    const exact = await at('/admin/performance')
    expect(exact.status).toBe(404)
    expect(await exact.text()).toContain('Mount the dashboard with app.use')
    const file = await at('/robots.txt')
    expect(file.status).toBe(401)
    // Mounted at a real prefix, an unknown path is only that.
    const other = await dashboard(new Request('http://app.test/nope', { headers: bearer() }), {
      basePath: '/admin/performance',
    })
    expect(await other.text()).toContain('There is no such dashboard page.')
  })
})
