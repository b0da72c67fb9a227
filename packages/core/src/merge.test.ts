import { describe, expect, it } from 'vitest'
import { mergeSnapshots } from './merge.js'
import { createMonitor, type Monitor } from './monitor.js'
import type { Snapshot, Stats } from './snapshot.js'

/** Deterministic log-normal-ish durations (no Math.random: a failure must reproduce). */
function durations(n: number, seed: number): number[] {
  let x = seed
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    out.push(0.05 + Math.exp((x / 2147483648) * 8) / 10)
  }
  return out
}

const ROUTES = ['GET /a', 'GET /b', 'POST /c']

/** Records part `k` of `parts` of a fixed workload into `m` (or all of it when `k` is undefined). */
function load(m: Monitor, parts = 1, k?: number): void {
  const all = durations(3000, 7)
  all.forEach((ms, i) => {
    if (k !== undefined && i % parts !== k) return
    const name = ROUTES[i % ROUTES.length]!
    m.record('http', name, ms, { status: i % 17 === 0 ? 500 : 200, error: i % 17 === 0 ? 'boom' : undefined })
    if (i % 5 === 0) m.record('db', `SELECT t${i % 4}`, ms / 10)
    m.count('jobs', 'done')
  })
}

function pick(s: Stats) {
  // Sums are floats added in another order: compared to 9 digits apart from the rest.
  const { histogram, totalHistogram, avgMs, totalSumMs, ...rest } = s
  return rest
}

describe('mergeSnapshots', () => {
  it('merges three monitors into exactly what one monitor seeing every event reports', () => {
    const parts = [0, 1, 2].map(() => createMonitor({ sampling: 0 }))
    for (const [k, m] of parts.entries()) load(m, 3, k)
    const whole = createMonitor({ sampling: 0 })
    load(whole)
    const merged = mergeSnapshots(...parts.map((m) => m.snapshot({ histograms: true })))
    const expected = whole.snapshot({ histograms: true })

    expect(Object.keys(merged.types).sort()).toEqual(Object.keys(expected.types).sort())
    for (const type of Object.keys(expected.types)) {
      const got = merged.types[type]!
      const want = expected.types[type]!
      const byName = (ops: Stats[]) => Object.fromEntries(ops.map((o) => [o.name, o]))
      const gotOps = byName(got.ops)
      for (const op of want.ops) {
        const g = gotOps[op.name]!
        expect(pick(g)).toEqual(pick(op))
        expect(g.avgMs).toBeCloseTo(op.avgMs, 9)
        expect(g.totalSumMs).toBeCloseTo(op.totalSumMs, 9)
        expect(g.histogram).toEqual(op.histogram)
        expect(g.totalHistogram).toEqual(op.totalHistogram)
      }
      for (const key of [
        'count',
        'errors',
        'slow',
        'minMs',
        'maxMs',
        'p50Ms',
        'p90Ms',
        'p95Ms',
        'p99Ms',
      ] as const) {
        expect(got[key], `${type}.${key}`).toBe(want[key])
      }
    }
    expect(merged.types.http!.count).toBe(3000)
    expect(merged.types.http!.ops.find((o) => o.name === 'GET /a')!.status!['5xx']).toBeGreaterThan(0)
    expect(merged.counters).toEqual({ jobs: { done: 3000 } })
    expect(merged.totals.events).toBe(expected.totals.events)
  })

  it('is associative: merging merged snapshots gives the same numbers', () => {
    const parts = [0, 1, 2, 3].map(() => createMonitor())
    for (const [k, m] of parts.entries()) load(m, 4, k)
    const snaps = parts.map((m, k) => ({ ...m.snapshot({ histograms: true }), pid: 1000 + k }))
    const flat = mergeSnapshots(...snaps)
    const nested = mergeSnapshots(mergeSnapshots(snaps[0]!, snaps[1]!), mergeSnapshots(snaps[2]!, snaps[3]!))
    expect(nested.types).toEqual(flat.types)
    expect(nested.counters).toEqual(flat.counters)
    expect(nested.totals).toEqual(flat.totals)
    expect(nested.pids.sort()).toEqual([1000, 1001, 1002, 1003])
  })

  it('keeps process sections per pid and merges events newest first, capped', () => {
    const a = createMonitor({ sampling: 1 })
    const b = createMonitor({ sampling: 1 })
    a.setSection('process', () => ({ rss: 1 }))
    b.setSection('process', () => ({ rss: 2 }))
    for (let i = 0; i < 30; i++) {
      a.record('http', 'GET /a', 1)
      b.record('http', 'GET /b', 2000) // slow: also in the slow log
    }
    const sa = { ...a.snapshot({ histograms: true, recent: 10 }), pid: 11 }
    const sb = { ...b.snapshot({ histograms: true, recent: 10 }), pid: 22 }
    const merged = mergeSnapshots(sa, sb)
    expect(merged.processes).toEqual({ '11': { rss: 1 }, '22': { rss: 2 } })
    expect(merged.process).toBeUndefined()
    expect(merged.recent).toHaveLength(10)
    for (let i = 1; i < merged.recent.length; i++) {
      expect(merged.recent[i - 1]!.timestamp).toBeGreaterThanOrEqual(merged.recent[i]!.timestamp)
    }
    expect(merged.slow.every((e) => e.name === 'GET /b')).toBe(true)
    expect(merged.types.http!.slow).toBe(30)
    expect(merged.totals.kept).toBe(60)
  })

  it('refuses snapshots without histograms, naming the op', () => {
    const m = createMonitor()
    m.record('db', 'SELECT x', 3)
    expect(() => mergeSnapshots(m.snapshot(), m.snapshot())).toThrow(/op db "SELECT x" .*histograms: true/)
    expect(() => mergeSnapshots()).toThrow(/at least one snapshot/)
    expect(() => mergeSnapshots({} as Snapshot)).toThrow(/must be a snapshot/)
  })

  it('a single snapshot merges to itself', () => {
    const m = createMonitor()
    load(m, 1)
    const s = m.snapshot({ histograms: true })
    const merged = mergeSnapshots(s)
    expect(merged.types).toEqual(
      Object.fromEntries(
        Object.entries(s.types).map(([k, t]) => [
          k,
          {
            ...t,
            avgMs: expect.closeTo(t.avgMs, 9),
            ops: t.ops.map((o) => ({ ...o, avgMs: expect.closeTo(o.avgMs, 9) })),
          },
        ]),
      ),
    )
  })
})
