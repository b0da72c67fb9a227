import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
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
