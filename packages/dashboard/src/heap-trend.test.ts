import type { ProcessSection } from '@perf/core'
import { describe, expect, it } from 'vitest'
import { heapTrend, LEAK_RULE } from './heap-trend.js'
import { processView } from './view.js'

const MB = 1024 * 1024
const T0 = Date.UTC(2026, 0, 1)

/** `minutes` of 5 s samples: heap after each interval from `heapAt(min)`, a GC in every `gcEvery`th. */
function samples(minutes: number, heapAt: (min: number) => number, gcEvery = 1) {
  const t: number[] = []
  const heap: number[] = []
  const gc: number[] = []
  for (let i = 0; i < (minutes * 60) / 5; i++) {
    t.push(T0 + i * 5000)
    heap.push(heapAt((i * 5) / 60))
    gc.push(i % gcEvery === 0 ? 1.5 : 0)
  }
  return { t, heap, gc }
}

describe('heap after GC trend', () => {
  it('fits the slope by least squares over the post-GC samples only, and flags steady growth', () => {
    // 50 MB, +1 MB a minute after GC; samples without a GC carry +20 MB of garbage and must not count.
    const { t, heap, gc } = samples(15, (min) => 50 * MB + min * MB, 3)
    for (let i = 0; i < heap.length; i++) if (gc[i] === 0) heap[i]! += 20 * MB
    const trend = heapTrend(t, heap, gc)!
    expect(trend.points).toBe(60)
    expect(trend.slopeBytesPerMin).toBeCloseTo(MB, 0)
    expect(trend.r2).toBeCloseTo(1, 6)
    expect(trend.possibleLeak).toBe(true)
  })

  it('does not flag a flat heap, a sawtooth, one jump, or too short a span', () => {
    const flat = samples(15, () => 50 * MB)
    expect(heapTrend(flat.t, flat.heap, flat.gc)?.possibleLeak).toBe(false)
    // Up 10 MB and back every 2 minutes: no steady line.
    const saw = samples(15, (min) => 50 * MB + (min % 2 < 1 ? 10 * MB : 0))
    expect(heapTrend(saw.t, saw.heap, saw.gc)?.possibleLeak).toBe(false)
    // Growth too small for the heap's size (under minGrowthShare across the span).
    const slight = samples(15, (min) => 500 * MB + min * 0.1 * MB)
    const s = heapTrend(slight.t, slight.heap, slight.gc)!
    expect(s.slopeBytesPerMin).toBeGreaterThan(0)
    expect(s.growthShare).toBeLessThan(LEAK_RULE.minGrowthShare)
    expect(s.possibleLeak).toBe(false)
    // Steep, but over 2 minutes only.
    const short = samples(2, (min) => 50 * MB + min * 10 * MB)
    expect(heapTrend(short.t, short.heap, short.gc)?.possibleLeak).toBe(false)
    // Fewer than 3 post-GC samples: no trend at all.
    expect(heapTrend([T0, T0 + 5000], [MB, 2 * MB], [1, 1])).toBeUndefined()
    expect(heapTrend([T0], [MB], undefined)).toBeUndefined()
  })

  it('is on the process view the page reads', () => {
    const { t, heap, gc } = samples(10, (min) => 40 * MB + min * 2 * MB)
    const zeros = t.map(() => 0)
    const section = {
      pid: 1,
      intervalMs: 5000,
      samples: t.length,
      current: null,
      peak: null,
      baseline: null,
      growth: null,
      growthMb: 0,
      growthWarnMb: 50,
      growthWarning: false,
      growthWarnedAt: null,
      series: {
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
        gcPauseMs: gc,
        activeHandles: zeros,
      },
      tickMs: 0,
    } satisfies ProcessSection
    const view = processView(section)!
    expect(view.heapAfterGc?.possibleLeak).toBe(true)
    expect(view.heapAfterGc?.slopeBytesPerMin).toBeCloseTo(2 * MB, 0)
  })
})
