import { afterEach, describe, expect, it, vi } from 'vitest'
import { BUCKETS, bucketIndex, percentilesOf } from './histogram.js'
import { mergeSnapshots } from './merge.js'
import { createMonitor, type Monitor, monitorInternals } from './monitor.js'
import type { Snapshot, Stats, WindowStats } from './snapshot.js'

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
  const { histogram, totalHistogram, avgMs, sumMs, totalSumMs, ...rest } = s
  return rest
}

/** What exact stats of `values` are: counts and percentiles from their own histogram, sum and min/max. */
function reference(values: number[]) {
  const counts = new Float64Array(BUCKETS)
  for (const v of values) counts[bucketIndex(v)]!++
  const min = Math.min(...values)
  const max = Math.max(...values)
  return {
    count: values.length,
    minMs: min,
    maxMs: max,
    sumMs: values.reduce((a, b) => a + b, 0),
    ...percentilesOf(counts, 0, BUCKETS, 0, values.length, min, max),
  }
}

function exactPart(
  s: Pick<WindowStats, 'count' | 'minMs' | 'maxMs' | 'p50Ms' | 'p90Ms' | 'p95Ms' | 'p99Ms'>,
) {
  const { count, minMs, maxMs, p50Ms, p90Ms, p95Ms, p99Ms } = s
  return { count, minMs, maxMs, p50Ms, p90Ms, p95Ms, p99Ms }
}

describe('exact aggregates', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('windowed and merged stats equal a reference computed from the raw durations', () => {
    vi.useFakeTimers()
    const all = durations(1200, 11)
    const parts = [0, 1, 2].map(() => createMonitor({ windowMs: 5 * 60_000, sampling: 0 }))
    const byOp = new Map<string, number[]>()
    // Spread over several slices, so the window is added up from slice rows.
    all.forEach((ms, i) => {
      if (i % 300 === 0 && i > 0) vi.advanceTimersByTime(60_000)
      const name = ROUTES[i % ROUTES.length]!
      parts[i % 3]!.record('http', name, ms)
      byOp.set(name, [...(byOp.get(name) ?? []), ms])
    })
    const snaps = parts.map((m) => m.snapshot({ histograms: true }))
    const merged = mergeSnapshots(...snaps)
    const want = reference(all)
    expect(exactPart(merged.types.http!)).toEqual(exactPart({ ...want }))
    expect(merged.types.http!.sumMs).toBeCloseTo(want.sumMs, 9)
    for (const [name, values] of byOp) {
      const ref = reference(values)
      const op = merged.types.http!.ops.find((o) => o.name === name)!
      expect(exactPart(op)).toEqual(exactPart(ref))
      expect(op.sumMs).toBeCloseTo(ref.sumMs, 9)
    }
    // One monitor's window: its type stats against the reference of what it saw.
    const own = all.filter((_, i) => i % 3 === 0)
    expect(exactPart(snaps[0]!.types.http!)).toEqual(exactPart(reference(own)))
    for (const m of parts) void m.close()
  })

  it('adds the exact sums of cluster workers, not mean × count (which rounds)', () => {
    const a = [3, 7.8, 12.5]
    const b = [0.7, 1.3, 1.9]
    const sum = (v: number[]) => v.reduce((x, y) => x + y, 0)
    // The values are chosen so that the sum rebuilt from the mean differs in the last bit.
    const rebuilt = (sum(a) / 3) * 3 + (sum(b) / 3) * 3
    expect(rebuilt / 6).not.toBe((sum(a) + sum(b)) / 6)
    const ms = [a, b].map((values) => {
      const m = createMonitor({ sampling: 0 })
      for (const v of values) m.record('db', 'q', v)
      return m
    })
    const merged = mergeSnapshots(...ms.map((m) => m.snapshot({ histograms: true })))
    const op = merged.types.db!.ops[0]!
    expect(op.sumMs).toBe(sum(a) + sum(b))
    expect(op.avgMs).toBe((sum(a) + sum(b)) / 6)
    expect(merged.types.db!.sumMs).toBe(sum(a) + sum(b))
    expect(merged.types.db!.avgMs).toBe((sum(a) + sum(b)) / 6)
    for (const m of ms) void m.close()
  })

  it('merges a snapshot without sumMs (an older worker) from its mean, and checks a given sumMs', () => {
    const m = createMonitor({ sampling: 0 })
    for (const v of [1, 2, 3]) m.record('db', 'q', v)
    const snap = m.snapshot({ histograms: true })
    const { sumMs: _sum, ...old } = snap.types.db!.ops[0]!
    const legacy = { ...snap, types: { db: { ...snap.types.db!, ops: [old as Stats] } } }
    expect(mergeSnapshots(legacy).types.db!.ops[0]!.sumMs).toBe(6)
    const bad = { ...snap, types: { db: { ...snap.types.db!, ops: [{ ...old, sumMs: -1 } as Stats] } } }
    expect(() => mergeSnapshots(bad)).toThrow(
      /op db "q" of pid \d+: sumMs must be a finite number ≥ 0, got -1/,
    )
    const text = { ...snap, types: { db: { ...snap.types.db!, ops: [{ ...old, sumMs: '6' } as never] } } }
    expect(() => mergeSnapshots(text)).toThrow(TypeError)
    void m.close()
  })
})

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
        expect(g.sumMs).toBeCloseTo(op.sumMs, 9)
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
    const a = monitorInternals(createMonitor({ sampling: 1 }))
    const b = monitorInternals(createMonitor({ sampling: 1 }))
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

/** Names that reach Object.prototype or Object when used as a property of a plain object. */
const HOSTILE = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty'] as const

/** What `Object.prototype` and `Object` look like now, to prove a merge changed neither. */
function globalsPicture() {
  const describeAll = (o: object) =>
    Object.getOwnPropertyNames(o)
      .map((k) => `${k}:${typeof (Object.getOwnPropertyDescriptor(o, k)!.value ?? 'accessor')}`)
      .sort()
  return { proto: describeAll(Object.prototype), object: describeAll(Object) }
}

describe('mergeSnapshots with hostile names', () => {
  // Snapshots travel as JSON (cluster IPC, any transport the README invites): JSON.parse makes
  // `"__proto__"` an own key, which a plain-object accumulator would turn into its prototype.
  function hostileSnapshot(pid: number): Snapshot {
    const m = monitorInternals(createMonitor({ sampling: 1 }))
    m.setSection('process', () => ({ rss: pid }))
    for (const [i, t] of ['T0', 'T1', 'T2', 'T3'].entries()) {
      for (const [j, n] of ['N0', 'N1', 'N2', 'N3'].entries()) {
        m.record(t, n, 1 + i + j, { status: 200 + 100 * j })
        m.count(t, n, 10 * (i + 1) + j)
      }
    }
    for (const [k, s] of ['S0', 'S1', 'S2', 'S3'].entries()) m.setSection(s, () => ({ k, pid }))
    const snap = { ...m.snapshot({ histograms: true }), pid } as Record<string, unknown>
    snap.processes = { P0: { rss: 1 }, P1: { rss: 2 }, P2: { rss: 3 }, P3: { rss: 4 } }
    let json = JSON.stringify(snap)
    // Every name slot: types, op names, counter types and names, section names, process pids, and
    // extra keys inside status classes and totals.
    for (const [k, name] of HOSTILE.entries()) {
      for (const slot of ['T', 'N', 'S', 'P']) json = json.replaceAll(`"${slot}${k}"`, JSON.stringify(name))
    }
    json = json
      .replaceAll('"2xx":', `"__proto__":{"isAdmin":true},"constructor":{"keys":"x"},"2xx":`)
      .replace('"events":', '"__proto__":1,"constructor":2,"events":')
    return JSON.parse(json) as Snapshot
  }

  it('keeps __proto__, constructor, prototype and hasOwnProperty as names in every slot, and leaves Object alone', () => {
    const before = globalsPicture()
    const a = hostileSnapshot(101)
    const b = hostileSnapshot(202)
    const merged = mergeSnapshots(a, b)
    // Merging again, through JSON, as the cluster primary's reply does.
    const again = mergeSnapshots(JSON.parse(JSON.stringify(merged)) as Snapshot, hostileSnapshot(303))

    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(typeof Object.keys).toBe('function')
    expect(globalsPicture()).toEqual(before)

    for (const out of [merged, again]) {
      const n = out === merged ? 2 : 3
      expect(Object.keys(out.types).sort()).toEqual([...HOSTILE].sort())
      expect(Object.keys(out.counters).sort()).toEqual([...HOSTILE].sort())
      for (const [i, type] of HOSTILE.entries()) {
        const t = out.types[type]!
        expect(Object.hasOwn(out.types, type)).toBe(true)
        expect(t.count).toBe(4 * n)
        expect(t.ops.map((o) => o.name).sort()).toEqual([...HOSTILE].sort())
        for (const [j, name] of HOSTILE.entries()) {
          const op = t.ops.find((o) => o.name === name)!
          expect(op.type).toBe(type)
          expect(op.count).toBe(n)
          expect(op.minMs).toBe(1 + i + j)
          expect(op.status).toEqual({
            '1xx': 0,
            '2xx': j === 0 ? n : 0,
            '3xx': j === 1 ? n : 0,
            '4xx': j === 2 ? n : 0,
            '5xx': j === 3 ? n : 0,
          })
          expect(Object.hasOwn(out.counters[type]!, name)).toBe(true)
          expect(out.counters[type]![name]).toBe(n * (10 * (i + 1) + j))
        }
      }
      for (const pid of HOSTILE) expect(Object.hasOwn(out.processes, pid)).toBe(true)
      expect(out.processes.prototype).toEqual({ rss: 3 })
      for (const [k, section] of HOSTILE.entries()) {
        expect(Object.hasOwn(out, section)).toBe(true)
        expect(Object.getOwnPropertyDescriptor(out, section)!.value).toEqual({ k, pid: 101 })
      }
      expect(out.totals.events).toBe(16 * n)
      // The JSON form carries every name as a key, so the merge can be merged again downstream.
      expect(JSON.parse(JSON.stringify(out.types))[HOSTILE[0]].count).toBe(4 * n)
      expect(Object.getOwnPropertyDescriptor(out.totals, HOSTILE[0])!.value).toBe(n)
      expect(Object.getOwnPropertyDescriptor(out.totals, 'constructor')!.value).toBe(2 * n)
    }
    expect(globalsPicture()).toEqual(before)
  })

  it('a counter type `constructor` from a monitor survives the merge without touching Object.keys', () => {
    const m = createMonitor()
    m.count('constructor', 'keys', 1)
    m.count('__proto__', 'isAdmin', 1)
    m.record('constructor', 'keys', 5)
    const s = m.snapshot({ histograms: true })
    expect(Object.hasOwn(s.types, 'constructor')).toBe(true)
    // Per-type settings are read as own keys: `constructor` gets the defaults, not Object.
    expect(s.types[HOSTILE[1]]!.sampling).toBe(0.1)
    expect(s.types[HOSTILE[1]]!.slowMs).toBe(1000)
    const merged = mergeSnapshots(s, JSON.parse(JSON.stringify(s)) as Snapshot)
    expect(typeof Object.keys).toBe('function')
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(merged.counters[HOSTILE[1]]!.keys).toBe(2)
    expect(merged.counters[HOSTILE[0]]!.isAdmin).toBe(2)
    expect(merged.types[HOSTILE[1]]!.count).toBe(2)
  })

  it('refuses malformed numbers and histograms that do not fit the bucket layout, naming them', () => {
    const m = createMonitor()
    m.record('db', 'SELECT x', 3)
    m.count('jobs', 'done')
    const good = () => JSON.parse(JSON.stringify(m.snapshot({ histograms: true }))) as Snapshot
    const huge = good()
    huge.types.db!.ops[0]!.histogram = { offset: 1e9, counts: [1] }
    expect(() => mergeSnapshots(good(), huge)).toThrow(/histogram does not fit the bucket layout/)
    const text = good()
    ;(text.types.db!.ops[0] as { count: unknown }).count = '5'
    expect(() => mergeSnapshots(good(), text)).toThrow(
      /op db "SELECT x" of pid \d+: count must be a finite number ≥ 0, got "5"/,
    )
    const counter = good()
    ;(counter.counters.jobs as Record<string, unknown>).done = 'x'
    expect(() => mergeSnapshots(good(), counter)).toThrow(
      /counter jobs "done" must be a finite number, got "x"/,
    )
  })
})

describe('mergeSnapshots of huge counters', () => {
  it('saturates a merged counter at the largest finite number instead of writing null', () => {
    const a = createMonitor()
    const b = createMonitor()
    a.count('bytes', 'in', 1e308)
    b.count('bytes', 'in', 1e308)
    a.count('bytes', 'out', -1e308)
    b.count('bytes', 'out', -1e308)
    const merged = mergeSnapshots(a.snapshot(), b.snapshot())
    expect(merged.counters.bytes).toEqual({ in: Number.MAX_VALUE, out: -Number.MAX_VALUE })
    expect(JSON.stringify(merged.counters)).not.toContain('null')
  })
})
