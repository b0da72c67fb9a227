import { existsSync } from 'node:fs'
import { createMonitor, type Monitor, type Snapshot } from '@perf/core'
import { createHttpRecorder } from '@perf/core/http'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDashboard } from './dashboard.js'
import { serve } from './test-support/serve.js'

const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
const MB = 1024 * 1024

/**
 * Memory per request and the heap-after-GC trend in a real Chromium. The endpoints' figures come from
 * a real recorder with `memory: true` (measurements handed to it as the adapters do once a lone
 * request is settled); the process section is 10 minutes of samples, a heap after GC rising 2 MB a
 * minute, that `watchProcess` would take 10 minutes to make.
 */
describe.skipIf(!hasChromium)('dashboard memory per request and leak line (Chromium)', () => {
  let monitor: Monitor
  let plain: Monitor
  let browser: Browser
  let server: Awaited<ReturnType<typeof serve>>
  let off: Awaited<ReturnType<typeof serve>>

  beforeAll(async () => {
    monitor = createMonitor({ sampling: 1 })
    const recorder = createHttpRecorder(monitor, { memory: true }, 'test')
    const outcome = { method: 'GET', url: '/a', status: 200 }
    recorder.recordMeasured(recorder.op('GET', '/a'), 2, outcome, 512 * 1024)
    recorder.recordMeasured(recorder.op('GET', '/a'), 2, outcome, 1.5 * MB)
    // Only ever run alongside others: counted, never measured.
    recorder.record(recorder.op('GET', '/b'), 2, { method: 'GET', url: '/b', status: 200 })
    const t0 = Date.now() - 10 * 60_000
    const n = 120
    const t = Array.from({ length: n }, (_, i) => t0 + i * 5000)
    const heap = t.map((_, i) => 40 * MB + ((i * 5) / 60) * 2 * MB)
    const zeros = t.map(() => 0)
    const series = {
      stride: 1,
      capacity: 500,
      timestamp: t,
      rssBytes: heap,
      heapUsedBytes: heap,
      heapTotalBytes: heap,
      externalBytes: zeros,
      cpuPercent: zeros,
      eventLoopDelayP99Ms: zeros,
      eventLoopDelayMaxMs: zeros,
      eventLoopUtilization: zeros,
      gcPauseMs: t.map(() => 1),
      activeHandles: zeros,
    }
    const process = {
      pid: 1,
      intervalMs: 5000,
      samples: n,
      current: null,
      peak: null,
      baseline: null,
      growth: null,
      growthMb: 0,
      growthWarnMb: 50,
      growthWarning: false,
      growthWarnedAt: null,
      series,
      tickMs: 0,
    }
    const view = new Proxy(monitor, {
      get(target, prop) {
        if (prop === 'snapshot') return (opts?: object) => ({ ...target.snapshot(opts), process }) as Snapshot
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    server = await serve(createDashboard(view, { allowUnauthenticatedLocalhost: true, env: {} }))
    plain = createMonitor({ sampling: 1 })
    plain.record('http', 'GET /c', 3, { status: 200 })
    off = await serve(createDashboard(plain, { allowUnauthenticatedLocalhost: true, env: {} }))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  })

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await off?.close()
    await monitor?.close()
    await plain?.close()
  })

  async function endpoints(url: string): Promise<{ head: string[]; rows: Record<string, string[]> }> {
    const page = await browser.newPage()
    await page.goto(`${url}/`)
    await page.locator('#endpoints tbody tr td.name').first().waitFor()
    const head = await page.locator('#endpoints thead th').allTextContents()
    const cells = await page
      .locator('#endpoints tbody tr')
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')))
    await page.close()
    return { head, rows: Object.fromEntries(cells.map((c) => [c[0], c])) }
  }

  it('shows allocation per request where measured, and says why where none could be', async () => {
    const { head, rows } = await endpoints(server.url)
    const mean = head.findIndex((h) => h.startsWith('Alloc/req'))
    const max = head.findIndex((h) => h.startsWith('Alloc max'))
    expect(mean).toBeGreaterThan(0)
    expect(rows['GET /a']![mean]).toBe('1.0 MB')
    expect(rows['GET /a']![max]).toBe('1.5 MB')
    expect(rows['GET /b']![mean]).toBe('not measurable under concurrency')
    expect(rows['GET /b']![max]).toBe('–')
  })

  it('has no memory column when no endpoint is measured', async () => {
    const { head, rows } = await endpoints(off.url)
    expect(rows['GET /c']).toBeDefined()
    expect(head.some((h) => h.startsWith('Alloc/req'))).toBe(false)
  })

  it('flags a heap after GC that grows steadily as a possible leak, with its slope', async () => {
    const page = await browser.newPage()
    await page.goto(`${server.url}/`)
    await page.locator('#cards .card').first().waitFor()
    const warning = page.locator('#warning')
    await warning.waitFor()
    expect(await warning.textContent()).toMatch(/possible leak: heap after GC grows \+2\.0 MB\/min/)
    await page.close()
  })
})
