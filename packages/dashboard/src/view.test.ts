import { createMonitor } from '@perf/core'
import { watchProcess } from '@perf/core/node'
import { describe, expect, it } from 'vitest'
import { processView } from './view.js'

describe('process view', () => {
  it('reads the section watchProcess adds: current figures, peak, growth and the chart series', async () => {
    const monitor = createMonitor()
    const watcher = watchProcess(monitor, { intervalMs: 100, baselineDelayMs: 0, force: true })
    try {
      watcher.sampleNow()
      watcher.sampleNow()
      const view = processView(monitor.snapshot().process)
      expect(view).not.toBeNull()
      expect(view!.rssBytes).toBeGreaterThan(1_000_000)
      expect(view!.heapUsedBytes).toBeGreaterThan(100_000)
      expect(view!.rssHighWaterBytes).toBeGreaterThanOrEqual(view!.rssBytes!)
      expect(typeof view!.cpuPercent).toBe('number')
      expect(typeof view!.eventLoopDelayP99Ms).toBe('number')
      expect(view!.series.t.length).toBeGreaterThanOrEqual(1)
      expect(view!.series.rss.every((v) => v > 0)).toBe(true)
      expect(view!.series.eventLoopDelayMs).toHaveLength(view!.series.t.length)
    } finally {
      watcher.stop()
      await monitor.close()
    }
  })

  it('says why the watcher is off when watchProcess was called under NODE_ENV=test', async () => {
    expect(process.env.NODE_ENV).toBe('test')
    const monitor = createMonitor()
    const watcher = watchProcess(monitor)
    try {
      const view = processView(monitor.snapshot().process)
      expect(view?.off).toMatch(/NODE_ENV=test.*force: true/)
      expect(view?.rssBytes).toBeUndefined()
    } finally {
      watcher.stop()
      await monitor.close()
    }
  })

  it('shows nothing without a watcher and only the empty series before the first tick', async () => {
    const monitor = createMonitor()
    expect(processView(monitor.snapshot().process)).toBeNull()
    const watcher = watchProcess(monitor, { intervalMs: 60_000, force: true })
    try {
      expect(processView(monitor.snapshot().process)).toEqual({
        series: { t: [], rss: [], heapUsed: [], eventLoopDelayMs: [] },
      })
    } finally {
      watcher.stop()
      await monitor.close()
    }
  })
})
