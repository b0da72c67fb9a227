import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createMonitor, type Monitor } from '@perf/core'
import { watchProcess } from '@perf/core/node'
import { createSignInCode } from '@perf/dashboard'
import { dashboard, perf } from '@perf/express'
import express from 'express'
import { type BrowserContext, chromium, type Dialog, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, startDemo } from './app.js'
import { startTraffic } from './traffic.js'

/*
 * The admin page in a real Chromium (Debian's, driven by playwright-core): it signs in, shows the
 * demo's endpoints and queries, draws every chart, refreshes by itself, and renders hostile paths and
 * SQL as text. A screenshot lands in apps/demo/screenshots/ (gitignored) for a human to look at.
 */

const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
const NO_CHROMIUM = `Chromium is not installed at ${CHROMIUM} (Debian package "chromium")`
const TOKEN = 'browser-test-token-0123456789'
// Sent byte for byte (a request line cannot hold spaces, so `/` separates the attribute).
const XSS_PATH = '/"><svg/onload=alert(1)>'
// Sent with fetch, which percent-encodes it: the page shows the path as the server received it.
const XSS_IMG = '/"><img src=x onerror=alert(1)>'
const XSS_SQL_ALIAS = '<script>alert(2)</script>'
const CHARTS = ['chart-latency', 'chart-rpm', 'chart-memory', 'chart-eld'] as const
const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url))

let demo: Demo
let dataDir: string
let profileDir: string
let context: BrowserContext
let page: Page
const dialogs: string[] = []
const cspViolations: string[] = []

/** Sends a request line byte for byte, so the path reaches the server unencoded. */
function sendRaw(base: string, path: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1').split('\r\n')[0] ?? ''))
    socket.end(
      Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`, 'latin1'),
    )
  })
}

async function snapshot(): Promise<Record<string, any>> {
  const res = await fetch(`${demo.urls.express}/admin/performance/api/snapshot`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  })
  return (await res.json()) as Record<string, any>
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Pairs of neighbouring x-axis labels, on every chart, whose text would touch or overlap. */
async function overlappingTimeLabels(on: Page): Promise<string[]> {
  const bad: string[] = []
  for (const id of CHARTS) {
    const found = await on.evaluate((chartId) => {
      const u = (window as any).__perfDashboard.charts[chartId]
      const axis = u.axes[0]
      const ctx = document.createElement('canvas').getContext('2d')!
      ctx.font = axis.font[0] ?? '11px system-ui'
      const labels: { x: number; w: number; text: string }[] = []
      ;(axis._splits ?? []).forEach((v: number, i: number) => {
        const text = String(axis._values?.[i] ?? '')
        // A label may hold two lines (uPlot's default format): its widest line counts.
        const w = Math.max(...text.split('\n').map((l) => ctx.measureText(l).width))
        if (text !== '') labels.push({ x: u.valToPos(v, 'x'), w, text })
      })
      const out: string[] = []
      for (let i = 1; i < labels.length; i++) {
        const a = labels[i - 1]!
        const b = labels[i]!
        if (b.x - a.x < (a.w + b.w) / 2 + 4) out.push(`${chartId}: ${a.text}|${b.text}`)
      }
      return out
    }, id)
    bad.push(...found)
  }
  return bad
}

beforeAll(async () => {
  if (!hasChromium) return
  dataDir = mkdtempSync(join(tmpdir(), 'perf-demo-browser-'))
  profileDir = mkdtempSync(join(tmpdir(), 'perf-chromium-'))
  demo = await startDemo({
    ports: { express: 0, fastify: 0, hono: 0 },
    dataDir,
    token: TOKEN,
    load: false,
    env: {},
    refreshMs: 1000,
    processIntervalMs: 250,
    // One-second slices so the time charts get points quickly; every request kept so the
    // hostile path is certainly in the recent-requests table.
    monitor: { sliceMs: 1000, windowMs: 120_000, sampling: { default: 1 } },
  })
  // Every kind of route on every framework: fast, writes, slow, failing, unknown.
  for (const url of Object.values(demo.urls)) {
    for (const path of ['/notes', '/notes/1', '/notes/2', '/feed', '/search?q=cache', '/reports/slow']) {
      await (await fetch(url + path)).arrayBuffer()
    }
    await (await fetch(`${url}/reports/broken`)).arrayBuffer()
    await (await fetch(`${url}/missing/page`)).arrayBuffer()
    await (
      await fetch(`${url}/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'from the browser test' }),
      })
    ).arrayBuffer()
  }
  // A slow query whose SQL text holds a script tag (a quoted identifier survives SQL redaction).
  demo.notes.db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) AS "${XSS_SQL_ALIAS}" FROM n`,
    )
    .get()
  // Last, so they are among the newest requests on the page.
  expect((await fetch(demo.urls.hono + XSS_IMG)).status).toBe(404)
  expect(await sendRaw(demo.urls.express, XSS_PATH)).toMatch(/^HTTP\/1\.1 404/)
  // Charts need a completed slice and a few process samples.
  await until(async () => {
    const s = await snapshot()
    return s.dashboard.timeline.series.http.length > 0 && s.dashboard.process?.series.t.length >= 2
  }, 'a completed slice and process samples')

  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    viewport: { width: 1366, height: 768 },
  })
  page = context.pages()[0] ?? (await context.newPage())
  page.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) cspViolations.push(m.text())
  })
  page.on('dialog', (d: Dialog) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
}, 60_000)

afterAll(async () => {
  await context?.close()
  await demo?.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  if (profileDir) rmSync(profileDir, { recursive: true, force: true })
})

describe.skipIf(!hasChromium)(
  `admin page in Chromium${hasChromium ? '' : ` (skipped: ${NO_CHROMIUM})`}`,
  () => {
    it('answers 401 without the token', async () => {
      const res = await page.goto(demo.adminUrls.express)
      expect(res?.status()).toBe(401)
      await expect(page.locator('input[name=token]').count()).resolves.toBe(1)
      const api = await page.request.get(`${demo.urls.express}/admin/performance/api/snapshot`)
      expect(api.status()).toBe(401)
    })

    it('signs in with the token and shows the endpoints and queries of the demo', async () => {
      await page.fill('input[name=token]', TOKEN)
      await Promise.all([page.waitForURL(demo.adminUrls.express), page.click('button[type=submit]')])
      await page.waitForSelector('#endpoints tbody tr td.name')
      const endpoints = await page.locator('#endpoints tbody td.name').allTextContents()
      for (const name of [
        'GET /notes',
        'GET /notes/:id',
        'POST /notes',
        'GET /feed',
        'GET /search',
        'GET /reports/slow',
        'GET /reports/broken',
        'GET <unmatched>',
      ]) {
        expect(endpoints).toContain(name)
      }
      const queries = await page.locator('#db tbody td.name').allTextContents()
      expect(queries).toEqual(expect.arrayContaining(['SELECT notes', 'INSERT notes']))
      const errors = await page.locator('#errors tbody').textContent()
      expect(errors).toContain('NOT NULL constraint failed')
      const cards = await page.locator('#cards').textContent()
      for (const label of ['Uptime', 'Requests', 'Error rate', 'Memory', 'CPU', 'Loop delay'])
        expect(cards).toContain(label)
    })

    it('filters and sorts the endpoint table', async () => {
      await page.fill('#endpoints-filter', 'reports')
      await page.waitForFunction(() =>
        [...document.querySelectorAll('#endpoints tbody td.name')].every((td) =>
          td.textContent?.includes('reports'),
        ),
      )
      const filtered = await page.locator('#endpoints tbody td.name').allTextContents()
      expect(filtered.sort()).toEqual(['GET /reports/broken', 'GET /reports/slow'])
      await page.fill('#endpoints-filter', '')
      // Sort by p95, slowest first: the deliberately slow report leads.
      await page.click('#endpoints th button:text-is("p95")')
      await expect(page.locator('#endpoints th[aria-sort]').textContent()).resolves.toContain('p95')
      await expect(
        page.locator('#endpoints tbody tr').first().locator('td.name').textContent(),
      ).resolves.toBe('GET /reports/slow')
      await page.click('#endpoints th button:text-is("Calls")')
    })

    it('draws every chart', async () => {
      await page.waitForFunction(
        (ids) =>
          ids.every((id) => {
            const u = (window as any).__perfDashboard?.charts?.[id]
            return (
              u !== undefined && u.data[0].length > 0 && u.data[1].some((v: unknown) => typeof v === 'number')
            )
          }),
        [...CHARTS],
        { timeout: 20_000 },
      )
      for (const id of CHARTS) {
        const drawn = await page.evaluate((chartId) => {
          const canvas = document.querySelector(`#${chartId} canvas`) as HTMLCanvasElement | null
          if (canvas === null) return { width: 0, height: 0, inked: 0 }
          const ctx = canvas.getContext('2d')!
          const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data
          let inked = 0
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) inked++
          return { width: canvas.width, height: canvas.height, inked }
        }, id)
        expect(drawn.width, id).toBeGreaterThan(100)
        expect(drawn.height, id).toBeGreaterThan(50)
        expect(drawn.inked, id).toBeGreaterThan(200)
      }
    })

    it('renders hostile paths and SQL as text and runs nothing', async () => {
      await page.waitForFunction(
        (text) => document.querySelector('#recent')?.textContent?.includes(text) === true,
        XSS_PATH,
        { timeout: 20_000 },
      )
      const recent = await page.locator('#recent tbody').textContent()
      expect(recent).toContain(`GET ${XSS_PATH}`)
      // Shown as received: hono's adapter reports the decoded path, the others the raw one.
      const encoded = new URL(XSS_IMG, 'http://x').pathname
      expect(recent?.includes(`GET ${XSS_IMG}`) || recent?.includes(`GET ${encoded}`), recent ?? '').toBe(
        true,
      )
      const slow = await page.locator('#slow tbody').textContent()
      expect(slow).toContain(XSS_SQL_ALIAS)
      const injected = await page.evaluate(() => ({
        images: document.querySelectorAll('img, svg, iframe, object, embed').length,
        scripts: [...document.querySelectorAll('script')].map((s) => s.getAttribute('src')),
      }))
      expect(injected.images).toBe(0)
      expect(injected.scripts).toEqual([
        '/admin/performance/assets/uplot.js',
        '/admin/performance/assets/app.js',
      ])
      expect(dialogs).toEqual([])
      // The page itself (uPlot included) runs under the strict policy without tripping it.
      expect(cspViolations).toEqual([])
    })

    it('refreshes by itself: the request count rises with new traffic, and stops when paused', async () => {
      const readCount = async () =>
        Number(
          ((await page.locator('#cards .card').nth(1).locator('.card-value').textContent()) ?? '').replace(
            /,/g,
            '',
          ),
        )
      const before = await readCount()
      expect(before).toBeGreaterThan(0)
      const traffic = startTraffic(Object.values(demo.urls), 40)
      try {
        await page.waitForFunction(
          (n) => {
            const text = document.querySelectorAll('#cards .card .card-value')[1]?.textContent ?? '0'
            return Number(text.replace(/,/g, '')) > n
          },
          before,
          { timeout: 20_000 },
        )
        expect(await readCount()).toBeGreaterThan(before)
        await page.click('#pause')
        await expect(page.locator('#status').textContent()).resolves.toContain('Paused')
        // Paused: no snapshot is asked for over a few refresh intervals (1 s each here).
        const asked: string[] = []
        const onRequest = (r: { url(): string }) => {
          if (r.url().includes('/api/snapshot')) asked.push(r.url())
        }
        page.on('request', onRequest)
        await page.waitForTimeout(3000)
        page.off('request', onRequest)
        expect(asked).toEqual([])
        await page.click('#pause')
        await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Live'))
      } finally {
        await traffic.stop()
      }
    })

    it('loads history for the 1 h range from the store', async () => {
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url().includes('/api/history?range=1h')),
        page.selectOption('#range', '1h'),
      ])
      expect(res.status()).toBe(200)
      const history = (await res.json()) as { range: string; bucketMs: number; series: { http: unknown[] } }
      expect(history).toMatchObject({ range: '1h', bucketMs: 60_000 })
      await page.waitForFunction(() => (window as any).__perfDashboard.state.history?.range === '1h')
      expect(await overlappingTimeLabels(page)).toEqual([])
      await demo.store.flush()
      mkdirSync(SCREENSHOTS, { recursive: true })
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-history.png') })
      await page.selectOption('#range', 'live')
    })

    it('serves the same page on the fastify and hono apps', async () => {
      for (const url of [demo.adminUrls.fastify, demo.adminUrls.hono]) {
        const other = await context.newPage()
        // The session cookie is per host, not per port: already signed in.
        const res = await other.goto(url)
        expect(res?.status()).toBe(200)
        await other.waitForSelector('#endpoints tbody tr td.name')
        await other.close()
      }
    })

    it('links its own favicon, so a visit adds no GET <unmatched> to the app it watches', async () => {
      const unmatched = async () =>
        (await snapshot()).types.http.ops.find((o: { name: string }) => o.name === 'GET <unmatched>')
          ?.totalCount ?? 0
      const before = await unmatched()
      const fresh = await context.newPage()
      const asked: string[] = []
      fresh.on('request', (r) => asked.push(new URL(r.url()).pathname))
      await fresh.goto(demo.adminUrls.express)
      await fresh.waitForFunction(() => (window as any).__perfDashboard?.state.refreshes > 0)
      await fresh.waitForLoadState('networkidle')
      // Headless Chromium asks no /favicon.ico by itself (a desktop browser does, which is what the
      // link prevents), and may take the linked icon from its cache: neither is waited for.
      expect(asked).not.toContain('/favicon.ico')
      expect(await unmatched()).toBe(before)
      const icon = await fresh.locator('link[rel=icon]').getAttribute('href', { timeout: 1000 })
      expect(icon).toBe('/admin/performance/assets/favicon.svg')
      const res = await fresh.request.get(demo.urls.express + icon)
      expect(res.status()).toBe(200)
      expect(res.headers()['content-type']).toContain('image/svg+xml')
      await fresh.close()
    })

    it('writes time-axis labels that do not run into each other', async () => {
      expect(await overlappingTimeLabels(page)).toEqual([])
    })

    it('keeps the request id of recent errors in view and writes short durations in µs', async () => {
      const clipped = await page.evaluate(() => {
        const wrap = document.querySelector('#errors')!.closest('.table-wrap')!.getBoundingClientRect()
        return [...document.querySelectorAll('#errors tbody tr')].map((tr) => {
          const cell = tr.lastElementChild!.getBoundingClientRect()
          return cell.right - wrap.right
        })
      })
      expect(clipped.length).toBeGreaterThan(0)
      for (const over of clipped) expect(over).toBeLessThanOrEqual(0)
      const cells = await page.locator('#db tbody td.num').allTextContents()
      expect(cells).not.toContain('0.00 ms')
      expect(
        cells.some((c) => /^\d+(\.\d)? µs$/.test(c)),
        cells.join(' '),
      ).toBe(true)
    })

    it('saves a screenshot of the top of the page at 1366×768', async () => {
      await page.reload()
      await page.waitForFunction(() => (window as any).__perfDashboard?.state.refreshes > 0)
      mkdirSync(SCREENSHOTS, { recursive: true })
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard.png') })
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-full.png'), fullPage: true })
      // The summary and the four charts fit above the fold of a laptop screen.
      const chartsBottom = await page.evaluate(
        () => document.querySelector('.charts')!.getBoundingClientRect().bottom,
      )
      expect(chartsBottom).toBeLessThanOrEqual(768)
    })
  },
)

/*
 * The page's first slice and its fifth. The demo runs with 5-second slices (sliceMs: 5000), so five
 * slices take 25 s of real time instead of five minutes; nothing else differs from one-minute slices.
 * Screenshots: dashboard-first-slice.png and dashboard-five-slices.png.
 */
describe.skipIf(!hasChromium)('the page in its first slice and after five', () => {
  const SLICE_MS = 5000
  let live: Demo
  let liveDir: string

  beforeAll(async () => {
    liveDir = mkdtempSync(join(tmpdir(), 'perf-demo-slices-'))
    live = await startDemo({
      ports: { express: 0, fastify: 0, hono: 0 },
      dataDir: liveDir,
      token: TOKEN,
      load: false,
      env: {},
      refreshMs: 1000,
      processIntervalMs: 250,
      monitor: { sliceMs: SLICE_MS, windowMs: 120_000 },
    })
  }, 30_000)

  afterAll(async () => {
    await live?.stop()
    if (liveDir) rmSync(liveDir, { recursive: true, force: true })
  })

  it('opens from a one-time sign-in link, which works once', async () => {
    // The first slice has 30 requests in its first instants.
    for (let i = 0; i < 30; i++)
      await (await fetch(`${live.urls.express}/notes/${1 + (i % 3)}`)).arrayBuffer()
    await context.clearCookies()
    const link = `${live.adminUrls.express}login?code=${await createSignInCode(live.monitor)}`
    const res = await page.goto(link)
    expect(res?.status()).toBe(200)
    expect(page.url()).toBe(live.adminUrls.express)
    await page.waitForFunction(() => (window as any).__perfDashboard?.state.refreshes > 0)
    const again = await context.newPage()
    const spent = await again.goto(link)
    expect(spent?.status()).toBe(401)
    await expect(again.locator('.error').textContent()).resolves.toContain('not valid')
    await again.close()
  })

  it('shows the slice in progress in its first slice: percentiles and an honest rate, marked partial', async () => {
    const first = await page.evaluate(() => {
      const { charts, state } = (window as any).__perfDashboard
      const tl = state.last.dashboard.timeline
      return {
        completed: tl.series.http.length,
        current: tl.current,
        latency: charts['chart-latency'].data
          .slice(1)
          .flat()
          .filter((v: unknown) => typeof v === 'number'),
        rpmPartial: charts['chart-rpm'].data[2].filter((v: unknown) => typeof v === 'number'),
        // The request charts: the process charts may still wait for their first samples.
        empty: ['chart-latency', 'chart-rpm'].map(
          (id) => document.getElementById(id)?.parentElement?.querySelector('.empty')?.textContent ?? '',
        ),
        note: document.getElementById('rpm-partial')?.textContent,
      }
    })
    mkdirSync(SCREENSHOTS, { recursive: true })
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-first-slice.png') })
    expect(await overlappingTimeLabels(page)).toEqual([])
    expect(first.current.count).toBeGreaterThanOrEqual(30)
    // Requests over the seconds elapsed (at least one), never scaled up to a whole slice.
    expect(first.current.perMinute).toBeCloseTo(
      (first.current.count * 60_000) / Math.max(1000, first.current.elapsedMs),
      6,
    )
    expect(first.rpmPartial).toEqual([first.current.perMinute])
    expect(first.latency.length).toBeGreaterThan(0)
    expect(first.empty).toEqual(['', ''])
    expect(first.note).toMatch(/so far/)
  })

  it('after five slices draws five points and the partial one', async () => {
    const traffic = startTraffic(Object.values(live.urls), 15)
    try {
      await page.waitForFunction(
        () => (window as any).__perfDashboard.state.last.dashboard.timeline.series.http.length >= 5,
        undefined,
        { timeout: 60_000, polling: 500 },
      )
    } finally {
      await traffic.stop()
    }
    await page.waitForFunction(
      () => (window as any).__perfDashboard.state.last.dashboard.timeline.current.count > 0,
    )
    await page.reload()
    await page.waitForFunction(() => (window as any).__perfDashboard?.state.refreshes > 0)
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-five-slices.png') })
    expect(await overlappingTimeLabels(page)).toEqual([])
    const drawn = await page.evaluate(() => {
      const { charts } = (window as any).__perfDashboard
      const n = (xs: unknown[]) => xs.filter((v) => typeof v === 'number').length
      return {
        bars: n(charts['chart-rpm'].data[1]),
        partial: n(charts['chart-rpm'].data[2]),
        p95: n(charts['chart-latency'].data[2]),
        p95SoFar: n(charts['chart-latency'].data[5]),
      }
    })
    expect(drawn.bars).toBeGreaterThanOrEqual(5)
    expect(drawn.p95).toBeGreaterThanOrEqual(5)
    // The dashed segment: from the last completed point to the hollow partial one.
    expect(drawn.partial).toBe(1)
    expect(drawn.p95SoFar).toBe(2)
  }, 90_000)
})

/*
 * A bare express app: no token (localhost only), the process watcher called but off under
 * NODE_ENV=test, which vitest sets.
 */
describe.skipIf(!hasChromium)('a dashboard without a token, under NODE_ENV=test', () => {
  let monitor: Monitor
  let server: ReturnType<ReturnType<typeof express>['listen']>
  let url: string

  beforeAll(async () => {
    expect(process.env.NODE_ENV).toBe('test')
    monitor = createMonitor()
    watchProcess(monitor)
    const app = express()
    app.use(perf(monitor))
    app.use('/admin/performance', dashboard(monitor, { token: false, allowUnauthenticatedLocalhost: true }))
    app.get('/hello', (_req, res) => {
      res.send('hi')
    })
    server = app.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    await (await fetch(`${url}/hello`)).arrayBuffer()
  })

  afterAll(async () => {
    // The browser keeps its connections alive: close them, or close() waits for them to time out.
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
    await monitor?.close()
  })

  it('shows no Sign out button, and says why the process is not watched', async () => {
    const p = await context.newPage()
    const res = await p.goto(`${url}/admin/performance/`)
    expect(res?.status()).toBe(200)
    await p.waitForFunction(() => (window as any).__perfDashboard?.state.refreshes > 0)
    expect(await p.locator('#logout').count()).toBe(0)
    const cards = await p.locator('#cards').textContent()
    expect(cards).not.toContain('not watched')
    expect(cards).toContain('watcher off')
    expect(cards).toContain('NODE_ENV=test')
    expect(cards).toContain('force: true')
    const empty = await p.locator('#chart-memory').locator('..').locator('.empty').textContent()
    expect(empty).toContain('NODE_ENV=test')
    await p.close()
  })
})
