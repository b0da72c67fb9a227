import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMonitor, type Monitor } from '@perf/core'
import { SqliteStore } from '@perf/sqlite'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDashboard } from './dashboard.js'
import { serve } from './test-support/serve.js'
import { PROFILES, writeRelease } from './test-support/releases.js'

const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
// An op name that would run script if the page ever parsed recorded text as HTML.
const HOSTILE = 'GET /<img src=x onerror="window.__pwned=1">'

/**
 * The compare view and the release markers in a real Chromium, over a real SqliteStore file written by
 * real monitors under two releases with known distributions (see test-support/releases.ts).
 */
describe.skipIf(!hasChromium)('dashboard compare view and release markers (Chromium)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perf-dash-compare-browser-'))
  let store: SqliteStore
  let monitor: Monitor
  let browser: Browser
  let server: Awaited<ReturnType<typeof serve>>
  let page: Page

  beforeAll(async () => {
    const path = join(dir, 'releases.db')
    // A few events of a hostile name on each side: too little data to judge, and never HTML.
    const few = { [HOSTILE]: { median: 5, errorRate: 0, count: 10 } }
    await writeRelease(path, '1.0.0', { ...PROFILES['1.0.0'], ...few }, 21, 3000)
    await writeRelease(path, '1.1.0', { ...PROFILES['1.1.0'], ...few }, 23, 3000)
    store = new SqliteStore({ path })
    monitor = createMonitor({ release: '1.1.0' })
    server = await serve(createDashboard(monitor, { allowUnauthenticatedLocalhost: true, env: {}, store }))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    page = await browser.newPage({ viewport: { width: 1280, height: 1400 } })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await monitor?.close()
    await store?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const rows = () =>
    page
      .locator('#compare tbody tr')
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent ?? '')))

  it('lists this release against the previous one, what got worse first', async () => {
    await page.goto(`${server.url}/`)
    await page.locator('#compare tbody td.verdict').nth(3).waitFor()
    expect(await page.locator('#compare-panel').isVisible()).toBe(true)
    const shown = await rows()
    expect(shown.map((r) => [r[1], r[2]])).toEqual([
      ['GET /slow', 'slower'],
      ['GET /errors', 'more errors'],
      [HOSTILE, 'too little data'],
      ['GET /same', 'same'],
    ])
    // Both sides of each figure, and the change.
    expect(shown[0]![3]).toBe('3,000 → 3,000')
    expect(shown[0]![8]).toMatch(/^p95 \+\d+\.\d%/)
    expect(shown[1]![4]).toMatch(/% → \d\.\d+%$/)
    expect(shown[1]![8]).toMatch(/errors \+\d\.\d\d pt/)
    expect(await page.locator('#compare-note').textContent()).toBe(
      '1.1.0 against 1.0.0 (this release against the previous one)',
    )
    expect(await page.locator('#compare-head').inputValue()).toBe('1.1.0')
    expect(await page.locator('#compare-base').inputValue()).toBe('1.0.0')
    // The hostile name is text: no element was made of it, no script ran.
    expect(await page.locator('#compare img').count()).toBe(0)
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined()
  })

  it('compares the two releases picked, and a time range typed in', async () => {
    await page.selectOption('#compare-base', '1.1.0')
    await page.selectOption('#compare-head', '1.0.0')
    await page.click('#compare-form button[type=submit]')
    await page.waitForFunction(
      () => document.querySelector('#compare-note')?.textContent === '1.0.0 against 1.1.0',
    )
    const swapped = await rows()
    expect(Object.fromEntries(swapped.map((r) => [r[1], r[2]]))).toMatchObject({
      'GET /slow': 'faster',
      'GET /same': 'same',
    })
    expect(await page.locator('#compare-base-range').isVisible()).toBe(false)
    await page.selectOption('#compare-base', 'range')
    expect(await page.locator('#compare-base-range').isVisible()).toBe(true)
    await page.fill('#compare-base-range', 'soon..')
    await page.click('#compare-form button[type=submit]')
    await page.waitForFunction(() => document.querySelector('#compare-note')?.classList.contains('bad'))
    expect(await page.locator('#compare-note').textContent()).toMatch(/^Compare failed: .*is not a time/)
    await page.fill('#compare-base-range', '1h..')
    await page.selectOption('#compare-head', '1.1.0')
    await page.click('#compare-form button[type=submit]')
    await page.waitForFunction(() =>
      /^1\.1\.0 against .+ – .+$/.test(document.querySelector('#compare-note')?.textContent ?? ''),
    )
    // Every process of the last hour (both releases) against 1.1.0.
    const ranged = await rows()
    expect(ranged.find((r) => r[1] === 'GET /same')![3]).toBe('6,000 → 3,000')
  })

  it('marks the release changes on the history charts and takes a screenshot', async () => {
    await page.selectOption('#range', '1h')
    await page.waitForFunction(() => (window as any).__perfDashboard.state.history?.range === '1h')
    const marker = page.locator('#chart-latency .release-marker')
    await marker.first().waitFor()
    expect(await marker.allTextContents()).toEqual(['1.0.0', '1.1.0'])
    // Drawn inside the plot, where the time axis puts the release's first sighting.
    const inside = await page.evaluate(() => {
      const over = document.querySelector('#chart-latency .u-over')!.getBoundingClientRect()
      const line = document.querySelector('#chart-latency .release-marker')!.getBoundingClientRect()
      return line.left >= over.left && line.left <= over.right
    })
    expect(inside).toBe(true)
    expect(await page.locator('#chart-rpm .release-marker').count()).toBe(2)
    await page.locator('#compare-panel').scrollIntoViewIfNeeded()
    const shot = join(tmpdir(), `perf-dashboard-compare-${process.pid}.png`)
    await page.screenshot({ path: shot, fullPage: true })
    const png = readFileSync(shot)
    expect(png.length).toBeGreaterThan(1000)
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    console.log(`compare view screenshot: ${shot}`)
    // Back to live: no markers (live has no stored releases to mark).
    await page.selectOption('#range', 'live')
    await page.waitForFunction(() => (window as any).__perfDashboard.state.history === undefined)
    await page.waitForFunction(() => document.querySelectorAll('#chart-latency .release-marker').length === 0)
  })
})
