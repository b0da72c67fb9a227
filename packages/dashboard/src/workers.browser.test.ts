import { existsSync } from 'node:fs'
import { createMonitor, type Monitor, type Snapshot } from '@perf/core'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDashboard } from './dashboard.js'
import { serve } from './test-support/serve.js'

const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)

/**
 * The workers table in a real Chromium: a monitor whose snapshot is shaped as a cluster primary's
 * merge (what `shareCluster` gives: `processes[pid].worker`, a worker's own `current` next to it).
 * The primary's side is tested with real workers in core's cluster.test.ts.
 */
describe.skipIf(!hasChromium)('dashboard workers table (Chromium)', () => {
  let monitor: Monitor
  let browser: Browser
  let server: Awaited<ReturnType<typeof serve>>

  beforeAll(async () => {
    monitor = createMonitor()
    const now = Date.now()
    const processes = {
      '4100': {
        current: { eventLoopDelayP99Ms: 2.5 },
        worker: {
          id: 1,
          state: 'unresponsive',
          cpuPercent: 99.4,
          rssBytes: 83_886_080,
          lastReportAgeMs: 2500,
          unresponsiveSince: now - 2500,
        },
      },
      '4200': {
        current: { eventLoopDelayP99Ms: 1.25 },
        worker: { id: 2, state: 'healthy', cpuPercent: 3.2, rssBytes: 62_914_560, lastReportAgeMs: 40 },
      },
      '4300': { worker: { id: 3, state: 'gone', lastReportAgeMs: 9000, exitedAt: now - 9000, exitCode: 1 } },
    }
    const view = new Proxy(monitor, {
      get(target, prop) {
        if (prop === 'snapshot')
          return (opts?: object) => ({ ...target.snapshot(opts), pids: [4100, 4200], processes }) as Snapshot
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    server = await serve(createDashboard(view, { allowUnauthenticatedLocalhost: true, env: {} }))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  })

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await monitor?.close()
  })

  it('lists each worker by pid with CPU, RSS, its own loop p99, report age and state', async () => {
    const page = await browser.newPage()
    await page.goto(`${server.url}/`)
    await page.locator('#workers tbody tr').nth(2).waitFor()
    expect(await page.locator('#workers-panel').isVisible()).toBe(true)
    const rows = await page
      .locator('#workers tbody tr')
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent)))
    expect(rows.map((r) => r[0])).toEqual(['4100', '4200', '4300'])
    expect(rows[0]![1]).toMatch(/^unresponsive since \d\d:\d\d:\d\d$/)
    expect(rows[0]![2]).toBe('99.4%')
    expect(rows[0]![3]).toMatch(/^80(\.0)? MB$/)
    expect(rows[0]![4]).toContain('2.5')
    expect(rows[0]![5]).toBe('2.5 s ago')
    expect(rows[1]!.slice(1, 3)).toEqual(['healthy', '3.2%'])
    expect(rows[2]![1]).toMatch(/^gone at /)
    expect(rows[2]![2]).toBe('–')
    await page.close()
  })

  it('hides the table for a single process', async () => {
    const plain = createMonitor()
    const single = await serve(createDashboard(plain, { allowUnauthenticatedLocalhost: true, env: {} }))
    try {
      const page = await browser.newPage()
      await page.goto(`${single.url}/`)
      await page.locator('#cards .card').first().waitFor()
      expect(await page.locator('#workers-panel').isHidden()).toBe(true)
      await page.close()
    } finally {
      await single.close()
      await plain.close()
    }
  })
})
