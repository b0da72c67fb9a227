import { createMonitor } from '@perf/core'
import { watchProcess } from '@perf/core/node'
import { describe, expect, it } from 'vitest'
import { processView, workersView } from './view.js'

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

describe('workers view', () => {
  it('reads the workers a cluster primary adds under processes, by pid, with each one’s own loop p99', () => {
    const processes = {
      '300': {
        current: { eventLoopDelayP99Ms: 1.5 },
        worker: { id: 2, state: 'healthy', cpuPercent: 4, rssBytes: 7e7, lastReportAgeMs: 40 },
      },
      '200': {
        current: { eventLoopDelayP99Ms: 2 },
        worker: {
          id: 1,
          state: 'unresponsive',
          cpuPercent: 99,
          rssBytes: 8e7,
          lastReportAgeMs: 2500,
          unresponsiveSince: 1000,
        },
      },
      '400': { worker: { id: 3, state: 'gone', lastReportAgeMs: 9000, exitedAt: 5000, exitCode: null } },
      '100': { current: { eventLoopDelayP99Ms: 3 } }, // the primary: no worker entry
    }
    expect(workersView(processes)).toEqual([
      {
        pid: 200,
        state: 'unresponsive',
        cpuPercent: 99,
        rssBytes: 8e7,
        eventLoopDelayP99Ms: 2,
        lastReportAgeMs: 2500,
        unresponsiveSince: 1000,
      },
      {
        pid: 300,
        state: 'healthy',
        cpuPercent: 4,
        rssBytes: 7e7,
        eventLoopDelayP99Ms: 1.5,
        lastReportAgeMs: 40,
      },
      { pid: 400, state: 'gone', lastReportAgeMs: 9000, exitedAt: 5000 },
    ])
  })

  it('is null without workers, and skips entries of another shape', () => {
    expect(workersView(undefined)).toBeNull()
    expect(workersView({ '100': { current: {} } })).toBeNull()
    expect(
      workersView({
        '1': { worker: { state: 'sleeping' } },
        x: { worker: { state: 'healthy' } },
        '2': { worker: { state: 'healthy', cpuPercent: 'lots' } },
      }),
    ).toEqual([{ pid: 2, state: 'healthy' }])
  })
})
