import { describe, expect, it } from 'vitest'
import { Aggregate } from './aggregate.js'
import { bucketIndex, bucketValue, sparse } from './histogram.js'
import { createMonitor } from './monitor.js'

function slice(values: number[], errors = 0) {
  const counts = new Array(4096).fill(0)
  for (const v of values) counts[bucketIndex(v)]++
  return {
    count: values.length,
    errors,
    slow: 0,
    sumMs: values.reduce((a, b) => a + b, 0),
    minMs: Math.min(...values),
    maxMs: Math.max(...values),
    histogram: sparse(0, counts),
  }
}

describe('Aggregate', () => {
  it('adds histograms, not percentiles: three ops at 1, 10 and 100 ms have a p50 of 10 ms', () => {
    const a = new Aggregate()
    for (const v of [1, 10, 100]) a.add(slice(new Array(100).fill(v)))
    const s = a.stats()
    expect(s).toMatchObject({ count: 300, errors: 0, minMs: 1, maxMs: 100, sumMs: 11_100 })
    expect(s.avgMs).toBe(37)
    expect(s.p50Ms).toBe(bucketValue(bucketIndex(10)))
    expect(s.p99Ms).toBe(100)
  })

  it('agrees with the monitor: the same events, one op per value, give the same type stats', () => {
    const monitor = createMonitor()
    const values = [0.3, 1, 2.5, 10, 10, 42, 100, 250]
    const a = new Aggregate()
    values.forEach((v, i) => {
      monitor.record('http', `GET /${i % 3}`, v, { error: i === 2 })
    })
    const snap = monitor.snapshot({ histograms: true })
    for (const op of snap.types.http!.ops) a.add(op)
    const stats = a.stats()
    const { ops: _ops, sampling: _s, slowMs: _m, foldedEvents: _f, ...expected } = snap.types.http!
    expect(stats).toEqual(expected)
    expect(stats.sumMs).toBeCloseTo(
      values.reduce((x, y) => x + y, 0),
      9,
    )
    void monitor.close()
  })

  it('merges aggregates exactly and keeps status classes and missing histograms', () => {
    const x = new Aggregate().add({ ...slice([1, 2]), status: { '2xx': 2 } })
    const y = new Aggregate().add({ ...slice([3]), status: { '5xx': 1 }, errors: 1 })
    y.add({ count: 1, sumMs: 4, minMs: 4, maxMs: 4 })
    const both = new Aggregate()
      .add(slice([1, 2]))
      .add(slice([3]))
      .add(slice([4]))
    x.merge(y)
    expect(x.statusClasses()).toEqual({ '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 1 })
    expect(x.missingHistograms).toBe(1)
    expect(x.stats()).toMatchObject({ count: 4, errors: 1, sumMs: 10, minMs: 1, maxMs: 4 })
    expect(x.histogramJSON()).toEqual(
      new Aggregate()
        .add(slice([1, 2]))
        .add(slice([3]))
        .histogramJSON(),
    )
    expect(both.stats().count).toBe(4)
  })

  it('takes a mean when an input has no sum, and ignores empty inputs', () => {
    const a = new Aggregate().add({ count: 4, avgMs: 2.5 }).add({ count: 0, sumMs: 99, maxMs: 99 })
    expect(a.stats()).toMatchObject({ count: 4, sumMs: 10, avgMs: 2.5 })
    expect(new Aggregate().stats()).toMatchObject({ count: 0, minMs: 0, maxMs: 0, p50Ms: 0, sumMs: 0 })
  })
})
