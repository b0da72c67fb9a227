import { bucketIndex, createMonitor, type OpAggregate } from '@perf/core'
import { describe, expect, it, vi } from 'vitest'
import { createDashboard } from './dashboard.js'
import { mergeSlice } from './timeline.js'

function agg(name: string, values: number[], errors = 0): OpAggregate {
  const idx = values.map(bucketIndex)
  const lo = Math.min(...idx)
  const counts = new Array(Math.max(...idx) - lo + 1).fill(0)
  for (const i of idx) counts[i - lo]++
  return {
    type: 'http',
    name,
    start: 1000,
    end: 61_000,
    count: values.length,
    errors,
    slow: 0,
    sumMs: values.reduce((a, b) => a + b, 0),
    minMs: Math.min(...values),
    maxMs: Math.max(...values),
    histogram: { offset: lo, counts },
  }
}

describe('timeline', () => {
  it('merges the ops of a slice by adding histograms, not by averaging percentiles', () => {
    // 90 fast requests on one route and 10 slow ones on another: the merged p95 is slow.
    const p = mergeSlice([
      agg('GET /fast', new Array(90).fill(1)),
      agg('GET /slow', new Array(10).fill(200), 2),
    ])
    expect(p).toMatchObject({ count: 100, errors: 2, maxMs: 200, start: 1000, end: 61_000 })
    expect(p.avgMs).toBeCloseTo(20.9)
    expect(p.p50Ms).toBeCloseTo(1, 1)
    expect(p.p95Ms).toBeGreaterThan(195)
    expect(p.p99Ms).toBeLessThanOrEqual(200)
  })

  it('adds one point per completed slice to api/snapshot, shared by dashboards of one monitor', async () => {
    const monitor = createMonitor({ sliceMs: 25, windowMs: 2500 })
    const a = createDashboard(monitor, { token: 'token-1-0123456789abcdef', env: {} })
    const b = createDashboard(monitor, { token: 'token-2-0123456789abcdef', env: {} })
    for (let i = 0; i < 10; i++) monitor.record('http', 'GET /x', 5 + i, { status: 200 })
    const read = async (d: typeof a, token: string) =>
      (
        await (
          await d(new Request('http://h/api/snapshot', { headers: { authorization: `Bearer ${token}` } }))
        ).json()
      ).dashboard.timeline
    await vi.waitFor(
      async () => expect((await read(a, 'token-1-0123456789abcdef')).series.http.length).toBeGreaterThan(0),
      {
        timeout: 10_000,
        interval: 30,
      },
    )
    const tl = await read(b, 'token-2-0123456789abcdef')
    const total = tl.series.http.reduce((n: number, p: { count: number }) => n + p.count, 0)
    expect(total).toBe(10)
    expect(tl.series.http[0].p99Ms).toBeGreaterThan(13)
    await monitor.close()
  })
})
