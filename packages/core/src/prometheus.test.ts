import { spawnSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { BUCKETS, bucketIndex, bucketLower } from './histogram.js'
import { mergeSnapshots } from './merge.js'
import { createMetricsHandler } from './metrics-handler.js'
import { createMonitor, monitorInternals } from './monitor.js'
import type { Monitor } from './monitor.js'
import {
  DEFAULT_PROMETHEUS_BUCKETS,
  escapeLabelValue,
  PROMETHEUS_CONTENT_TYPE,
  sanitizeMetricName,
  toPrometheus,
} from './prometheus.js'
import { NO_PROMTOOL, promtoolCheck } from './test-support/promtool.js'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** A strict parser of the text format: unescapes label values the way Prometheus does. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  expect(text.endsWith('\n')).toBe(true)
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ')
      expect(types.has(name!), `family ${name} declared twice`).toBe(false)
      types.set(name!, type!)
      continue
    }
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line)
    expect(m, line).not.toBeNull()
    const labels: Record<string, string> = {}
    const body = m![2] ?? ''
    let k = 1
    while (k < body.length - 1) {
      const eq = body.indexOf('="', k)
      const key = body.slice(k, eq)
      let v = ''
      let j = eq + 2
      for (; body[j] !== '"'; j++) {
        if (body[j] === '\\') {
          j++
          v += body[j] === 'n' ? '\n' : body[j]
        } else v += body[j]
      }
      labels[key] = v
      k = j + 2 // past `",`
    }
    const raw = m![3]!
    samples.push({ name: m![1]!, labels, value: raw === '+Inf' ? Number.POSITIVE_INFINITY : Number(raw) })
  }
  return { samples, types }
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

/** `histogram_quantile` as Prometheus computes it (linear inside the bucket; first bucket from 0). */
function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number {
  const total = buckets[buckets.length - 1]!.count
  const rank = q * total
  let k = 0
  while (buckets[k]!.count < rank) k++
  if (k === buckets.length - 1) return buckets[k - 1]!.le
  const lo = k === 0 ? 0 : buckets[k - 1]!.le
  const below = k === 0 ? 0 : buckets[k - 1]!.count
  return lo + ((buckets[k]!.le - lo) * (rank - below)) / (buckets[k]!.count - below)
}

function bucketsOf(samples: Sample[], type: string, name: string): { le: number; count: number }[] {
  return find(samples, 'perf_duration_seconds_bucket', { type, name })
    .map((s) => ({
      le: s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le),
      count: s.value,
    }))
    .sort((a, b) => a.le - b.le)
}

/** `sum by (le)` over every series of `perf_duration_seconds_bucket` that has `labels`, as Prometheus adds them. */
function sumByLe(samples: Sample[], labels: Record<string, string>): { le: number; count: number }[] {
  const byLe = new Map<number, number>()
  for (const s of find(samples, 'perf_duration_seconds_bucket', labels)) {
    const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le)
    byLe.set(le, (byLe.get(le) ?? 0) + s.value)
  }
  return [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le)
}

/** Bounds of the exposed bucket holding `v` (seconds): the edge at or below it and the one above. */
function bucketAround(les: number[], v: number): [number, number] {
  const above = les.find((le) => le > v)!
  const below = les.filter((le) => le <= v).at(-1) ?? 0
  return [below, above]
}

const HOSTILE = [
  'GET /a"b',
  'back\\slash\\',
  'new\nline',
  '\\n literal',
  'ünï © 😀',
  '"}\n# TYPE x counter\nx 1',
]

let monitor: Monitor
afterEach(async () => {
  await monitor?.close()
})

/** A monitor with http (several statuses), db, a custom type, hostile names, counters and a process section. */
function populated(): Monitor {
  const m = createMonitor({ sampling: 0 })
  let seed = 7
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x80000000
  }
  for (let i = 0; i < 2000; i++) {
    const status = i % 50 === 0 ? 503 : i % 10 === 0 ? 404 : 200
    m.record('http', 'GET /notes/:id', 2 * Math.exp(1.2 * (rand() - 0.5) * 3), {
      status,
      error: status >= 500,
    })
  }
  for (let i = 0; i < 300; i++) m.record('db', 'SELECT notes', 0.05 + rand() * 0.5)
  m.record('render', 'home', 12)
  for (const name of HOSTILE) m.record('http', name, 3, { status: 200 })
  m.record('we"ird\ntype', 'x', 1)
  m.count('cache', 'hits', 5)
  m.count('cache', 'mi"ss', 2)
  monitorInternals(m).setSection('process', () => ({
    pid: 1,
    current: {
      rssBytes: 123_000_000,
      heapUsedBytes: 40_000_000,
      heapTotalBytes: 60_000_000,
      externalBytes: 1_000_000,
      cpuUserMsTotal: 1500,
      cpuSystemMsTotal: 500,
      eventLoopDelayP50Ms: 10.5,
      eventLoopDelayP99Ms: 25,
      eventLoopDelayMaxMs: 40,
      eventLoopDelayMeanMs: 11,
      eventLoopUtilization: 0.25,
      gcCountTotal: 12,
      gcPauseMsTotal: 30,
      activeHandles: 4,
    },
  }))
  return m
}

describe('toPrometheus', () => {
  it('passes promtool check metrics on real output (hostile names, all families, process section)', (ctx) => {
    monitor = populated()
    const text = toPrometheus(monitor.snapshot({ histograms: true }))
    const r = promtoolCheck(text)
    if (r === undefined) {
      ctx.skip(NO_PROMTOOL)
      return
    }
    expect(r.output).toBe('')
    expect(r.status).toBe(0)
    // promtool does fail on a bad exposition: the check above can fail.
    expect(promtoolCheck(`${text}perf_events_total{name="x} 1\n`)?.status).not.toBe(0)
  })

  it('round-trips hostile op, type and counter names exactly through escaping', () => {
    monitor = populated()
    const { samples } = parse(toPrometheus(monitor.snapshot({ histograms: true })))
    for (const name of HOSTILE) {
      expect(find(samples, 'perf_events_total', { type: 'http', name, status_class: '2xx' })[0]?.value).toBe(
        1,
      )
      expect(find(samples, 'perf_duration_seconds_count', { type: 'http', name })[0]?.value).toBe(1)
    }
    expect(find(samples, 'perf_events_total', { type: 'we"ird\ntype', name: 'x' })[0]?.value).toBe(1)
    expect(find(samples, 'perf_count_value', { type: 'cache', name: 'mi"ss' })[0]?.value).toBe(2)
    // The injection attempt stayed inside its label: no family called x appeared.
    expect(samples.some((s) => s.name === 'x')).toBe(false)
  })

  it('counts equal the monitor’s all-time numbers, http split by status class', () => {
    monitor = populated()
    const snap = monitor.snapshot({ histograms: true })
    const { samples, types } = parse(toPrometheus(snap))
    const http = snap.types.http!.ops.find((o) => o.name === 'GET /notes/:id')!
    const labels = { type: 'http', name: 'GET /notes/:id' }
    const byClass = Object.fromEntries(
      find(samples, 'perf_events_total', labels).map((s) => [s.labels.status_class, s.value]),
    )
    expect(byClass).toEqual({ '2xx': 1800, '4xx': 160, '5xx': 40 })
    expect(find(samples, 'perf_errors_total', labels)[0]!.value).toBe(40)
    expect(find(samples, 'perf_duration_seconds_count', labels)[0]!.value).toBe(2000)
    expect(find(samples, 'perf_duration_seconds_sum', labels)[0]!.value).toBeCloseTo(
      http.totalSumMs / 1000,
      9,
    )
    // Non-http ops carry no status_class.
    const db = find(samples, 'perf_events_total', { type: 'db', name: 'SELECT notes' })
    expect(db).toHaveLength(1)
    expect(db[0]!.labels.status_class).toBeUndefined()
    expect(db[0]!.value).toBe(300)
    expect(types.get('perf_events_total')).toBe('counter')
    expect(types.get('perf_duration_seconds')).toBe('histogram')
    // @perf's own totals.
    expect(find(samples, 'perf_monitor_events_total', {})[0]!.value).toBe(snap.totals.events)
    expect(find(samples, 'perf_monitor_sampled_out_total', {})[0]!.value).toBe(snap.totals.sampledOut)
    expect(find(samples, 'perf_monitor_kept_total', {})[0]!.value).toBe(snap.totals.kept)
    expect(find(samples, 'perf_monitor_folded_total', {})[0]!.value).toBe(0)
    expect(find(samples, 'perf_monitor_dropped_total', { reason: 'sink_queue_full' })[0]!.value).toBe(0)
  })

  it('maps the process section to the conventional names and units', () => {
    monitor = populated()
    const { samples, types } = parse(toPrometheus(monitor.snapshot({ histograms: true })))
    const value = (name: string) => find(samples, name, {})[0]?.value
    expect(value('process_resident_memory_bytes')).toBe(123_000_000)
    expect(value('process_cpu_seconds_total')).toBe(2)
    expect(types.get('process_cpu_seconds_total')).toBe('counter')
    expect(value('nodejs_heap_size_used_bytes')).toBe(40_000_000)
    expect(value('nodejs_heap_size_total_bytes')).toBe(60_000_000)
    expect(value('nodejs_eventloop_lag_p99_seconds')).toBe(0.025)
    expect(value('nodejs_gc_runs_total')).toBe(12)
    expect(value('nodejs_gc_pause_seconds_total')).toBe(0.03)
  })

  it('leaves process metrics out when the section is missing or not sampled yet', () => {
    monitor = createMonitor()
    monitor.record('db', 'q', 1)
    expect(toPrometheus(monitor.snapshot({ histograms: true }))).not.toMatch(/process_|nodejs_/)
    monitorInternals(monitor).setSection('process', () => ({ pid: 1, current: null }))
    expect(toPrometheus(monitor.snapshot({ histograms: true }))).not.toMatch(/process_|nodejs_/)
  })

  it('renders a merged cluster snapshot: summed counts, process health per pid (valid for promtool)', async () => {
    monitor = populated()
    const other = createMonitor()
    for (let i = 0; i < 10; i++) other.record('http', 'GET /notes/:id', 5, { status: 200 })
    monitorInternals(other).setSection('process', () => ({
      pid: 2,
      current: { rssBytes: 50_000_000, cpuUserMsTotal: 100, cpuSystemMsTotal: 0 },
    }))
    const a = monitor.snapshot({ histograms: true })
    const b = { ...other.snapshot({ histograms: true }), pid: a.pid + 1 }
    const text = toPrometheus(mergeSnapshots(a, b))
    await other.close()
    const { samples } = parse(text)
    const labels = { type: 'http', name: 'GET /notes/:id' }
    expect(find(samples, 'perf_duration_seconds_count', labels)[0]!.value).toBe(2010)
    expect(find(samples, 'perf_events_total', { ...labels, status_class: '2xx' })[0]!.value).toBe(1810)
    const rss = find(samples, 'process_resident_memory_bytes', {})
    expect(Object.fromEntries(rss.map((s) => [s.labels.pid, s.value]))).toEqual({
      [String(a.pid)]: 123_000_000,
      [String(b.pid)]: 50_000_000,
    })
    expect(find(samples, 'nodejs_heap_size_used_bytes', {}).map((s) => s.labels.pid)).toEqual([String(a.pid)])
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    if (!r.error) expect(`${r.stdout}${r.stderr}`).toBe('')
  })

  it('renders per-worker gauges from a cluster primary’s processes[pid].worker (valid for promtool)', () => {
    monitor = populated()
    // As a cluster primary leaves them: worker health beside (or instead of) a process section.
    const merged = mergeSnapshots(monitor.snapshot({ histograms: true }))
    const processes = merged.processes as Record<string, unknown>
    processes['101'] = {
      worker: { state: 'unresponsive', cpuPercent: 99.5, rssBytes: 80_000_000, lastReportAgeMs: 2500 },
    }
    processes['102'] = {
      worker: { state: 'healthy', cpuPercent: 3, rssBytes: 60_000_000, lastReportAgeMs: 40 },
    }
    processes['103'] = { worker: { state: 'gone', lastReportAgeMs: 9000 } }
    processes['104'] = { worker: 'not a worker section' } // ignored, not thrown on
    const text = toPrometheus(merged)
    const { samples } = parse(text)
    const byPid = (name: string) =>
      Object.fromEntries(find(samples, name, {}).map((s) => [s.labels.pid, s.value]))
    expect(byPid('perf_cluster_worker_up')).toEqual({ '101': 0, '102': 1, '103': 0 })
    expect(byPid('perf_cluster_worker_cpu_ratio')).toEqual({ '101': 0.995, '102': 0.03 })
    expect(byPid('perf_cluster_worker_resident_memory_bytes')).toEqual({
      '101': 80_000_000,
      '102': 60_000_000,
    })
    expect(byPid('perf_cluster_worker_last_report_age_seconds')).toEqual({
      '101': 2.5,
      '102': 0.04,
      '103': 9,
    })
    expect(toPrometheus(merged, { prefix: 'app_' })).toContain('app_cluster_worker_up{pid="101"} 0\n')
    const r = promtoolCheck(text)
    if (r !== undefined) expect(r.output).toBe('')
  })

  it('gives cumulative buckets whose histogram_quantile is within one bucket of the monitor’s p95', () => {
    monitor = populated()
    const snap = monitor.snapshot({ histograms: true })
    const { samples } = parse(toPrometheus(snap))
    for (const [type, name] of [
      ['http', 'GET /notes/:id'],
      ['db', 'SELECT notes'],
    ] as const) {
      const op = snap.types[type]!.ops.find((o) => o.name === name)!
      const buckets = bucketsOf(samples, type, name)
      for (let k = 1; k < buckets.length; k++)
        expect(buckets[k]!.count).toBeGreaterThanOrEqual(buckets[k - 1]!.count)
      expect(buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: op.totalCount })
      const promP95 = histogramQuantile(0.95, buckets)
      const monitorP95 = op.p95Ms / 1000
      const [below, above] = bucketAround(
        buckets.map((b) => b.le),
        monitorP95,
      )
      expect(Math.abs(promP95 - monitorP95)).toBeLessThanOrEqual(above - below + monitorP95 / 32)
      // The default edges: each bucket at most 1.5 times its lower edge.
      expect(above / below).toBeLessThanOrEqual(1.5 + 1e-9)
    }
  })

  it('gives every series the same documented le edges, whatever its latencies and whenever scraped', () => {
    monitor = createMonitor()
    monitor.op('http', 'GET /never') // no event yet: still every edge, all zero
    monitor.record('http', 'GET /fast', 0.2, { status: 200 })
    monitor.record('db', 'q', 40)
    monitor.record('render', 'page', 9000)
    const edges = (text: string) => {
      const byOp = new Map<string, string[]>()
      for (const s of find(parse(text).samples, 'perf_duration_seconds_bucket', {})) {
        const key = `${s.labels.type} ${s.labels.name}`
        byOp.set(key, [...(byOp.get(key) ?? []), s.labels.le!])
      }
      return byOp
    }
    const expected = [...DEFAULT_PROMETHEUS_BUCKETS.map(String), '+Inf']
    const first = edges(toPrometheus(monitor.snapshot({ histograms: true })))
    expect([...first.keys()].sort()).toEqual(['db q', 'http GET /fast', 'http GET /never', 'render page'])
    for (const les of first.values()) expect(les).toEqual(expected)
    // New latencies anywhere in the range add no edge and move none.
    for (const ms of [0.001, 0.05, 3, 77, 1500, 2e6]) monitor.record('db', 'q', ms)
    const second = edges(toPrometheus(monitor.snapshot({ histograms: true })))
    for (const les of second.values()) expect(les).toEqual(expected)
    // The documented default: powers of two of ms and 1.5 times them, 31.25 µs to 131.072 s, each an
    // exact edge of the monitor's buckets.
    expect(DEFAULT_PROMETHEUS_BUCKETS).toHaveLength(45)
    expect(DEFAULT_PROMETHEUS_BUCKETS[0]).toBe(0.00003125)
    expect(DEFAULT_PROMETHEUS_BUCKETS.at(-1)).toBe(131.072)
    expect(DEFAULT_PROMETHEUS_BUCKETS).toContain(0.001)
    for (const s of DEFAULT_PROMETHEUS_BUCKETS) expect(bucketLower(bucketIndex(s * 1000))).toBe(s * 1000)
  })

  it('adds up across ops with sum by (le): routes at 1, 10 and 100 ms give a p50 near 10 ms', () => {
    monitor = createMonitor()
    for (let i = 0; i < 300; i++) {
      // Spread a little around each route's latency, as a real route's would be.
      const jitter = 1 + (i % 10) / 50
      monitor.record('http', 'GET /one', 1 * jitter, { status: 200 })
      monitor.record('http', 'GET /ten', 10 * jitter, { status: 200 })
      monitor.record('http', 'GET /hundred', 100 * jitter, { status: 200 })
    }
    const snap = monitor.snapshot({ histograms: true })
    const summed = sumByLe(parse(toPrometheus(snap)).samples, { type: 'http' })
    const les = summed.map((b) => b.le)
    for (const [q, truth] of [
      [0.5, 0.01 * 1.09],
      [0.95, 0.1 * 1.17],
    ] as const) {
      const got = histogramQuantile(q, summed)
      const [below, above] = bucketAround(les, truth)
      expect(got, `q=${q}`).toBeGreaterThanOrEqual(below)
      expect(got, `q=${q}`).toBeLessThanOrEqual(above)
    }
    // Per route, too (sum by (le, name) over one route is that route's own series).
    const one = bucketsOf(parse(toPrometheus(snap)).samples, 'http', 'GET /ten')
    const [below, above] = bucketAround(les, 0.0109)
    expect(histogramQuantile(0.5, one)).toBeGreaterThanOrEqual(below)
    expect(histogramQuantile(0.5, one)).toBeLessThanOrEqual(above)
  })

  it('counts durations past the last edge in +Inf only (a 1e308 ms event, an hour)', () => {
    monitor = createMonitor()
    monitor.record('db', 'q', 1e308)
    monitor.record('db', 'q', 3_600_000)
    monitor.record('db', 'q', 131_072) // exactly the last edge: above it, as buckets are [lower, upper)
    monitor.record('db', 'q', 131_000)
    const buckets = bucketsOf(parse(toPrometheus(monitor.snapshot({ histograms: true }))).samples, 'db', 'q')
    const finite = buckets.filter((b) => Number.isFinite(b.le))
    expect(finite.at(-1)).toEqual({ le: 131.072, count: 1 })
    expect(buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 4 })
  })

  it('takes buckets: exact edges of the monitor’s histogram, in seconds, each count exact', () => {
    monitor = createMonitor()
    for (const ms of [0.5, 1, 1.01, 9.99, 10, 20, 5000]) monitor.record('db', 'q', ms)
    const buckets = bucketsOf(
      parse(toPrometheus(monitor.snapshot({ histograms: true }), { buckets: [0.001, 0.01, 0.025, 1.6] }))
        .samples,
      'db',
      'q',
    )
    // Buckets are [lower, upper): an event of exactly an edge's duration counts above it.
    expect(buckets).toEqual([
      { le: 0.001, count: 1 },
      { le: 0.01, count: 4 },
      { le: 0.025, count: 6 },
      { le: 1.6, count: 6 },
      { le: Number.POSITIVE_INFINITY, count: 7 },
    ])
    // The full resolution is there to use: two neighbouring edges of the monitor's own buckets.
    const fine = bucketsOf(
      parse(
        toPrometheus(monitor.snapshot({ histograms: true }), {
          buckets: [bucketLower(640) / 1000, bucketLower(641) / 1000],
        }),
      ).samples,
      'db',
      'q',
    )
    expect(fine.map((b) => b.count)).toEqual([1, 3, 7])
  })

  it('keeps counters monotonic: numbers are all-time, not the window', async () => {
    monitor = createMonitor({ windowMs: 2000, sliceMs: 1000 })
    monitor.record('db', 'q', 1)
    const before = find(
      parse(toPrometheus(monitor.snapshot({ histograms: true }))).samples,
      'perf_events_total',
      {},
    )
    await new Promise((r) => setTimeout(r, 2600))
    const snap = monitor.snapshot({ histograms: true })
    expect(snap.types.db!.ops[0]!.count).toBe(0) // out of the window…
    const after = find(parse(toPrometheus(snap)).samples, 'perf_events_total', {})
    expect(after[0]!.value).toBe(before[0]!.value) // …still counted
    expect(after[0]!.value).toBe(1)
  })

  it('rejects bad options and snapshots without histograms with clear errors', () => {
    monitor = createMonitor()
    monitor.record('db', 'q', 1)
    expect(() => toPrometheus(monitor.snapshot())).toThrow(/histograms: true/)
    const snap = monitor.snapshot({ histograms: true })
    expect(() => toPrometheus(snap, { prefix: 5 as never })).toThrow(/prefix must be a string/)
    const bad = (buckets: unknown) => () => toPrometheus(snap, { buckets: buckets as never })
    expect(bad(0.1)).toThrow(TypeError)
    expect(bad(0.1)).toThrow(/toPrometheus: buckets must be an array of bucket edges in seconds, got number/)
    expect(bad([])).toThrow(RangeError)
    expect(bad([])).toThrow(/buckets is empty/)
    for (const v of [0, -0.001, Number.NaN, Number.POSITIVE_INFINITY, '0.001']) {
      expect(bad([0.001, v])).toThrow(
        /toPrometheus: buckets\[1\] = .* expected a positive finite number of seconds/,
      )
    }
    expect(bad([0.002, 0.001])).toThrow(/buckets\[1\] = 0.001 is not above buckets\[0\] = 0.002: .*ascending/)
    expect(bad([0.001, 0.001])).toThrow(/strictly ascending/)
    // Not an edge of the monitor's buckets: the message names the nearest ones.
    expect(bad([0.25])).toThrow(RangeError)
    expect(bad([0.25])).toThrow(/buckets\[0\] = 0.25 is not an edge .* nearest edges are 0.248 and 0.252/)
    expect(bad([1])).toThrow(/nearest edges are 0.992 and 1.008/)
    expect(bad([1e-12])).toThrow(/outside the monitor's range/)
    expect(bad([5000])).toThrow(/outside the monitor's range/)
    expect(bad([bucketLower(BUCKETS) / 1000])).toThrow(/outside the monitor's range/)
    // The option it replaced is named, not ignored.
    expect(() => toPrometheus(snap, { bucketsPerOctave: 8 } as never)).toThrow(
      /toPrometheus: bucketsPerOctave is gone.*buckets/,
    )
  })

  it('sanitises metric names and escapes label values', () => {
    expect(sanitizeMetricName('my app-metrics.')).toBe('my_app_metrics_')
    expect(sanitizeMetricName('9lives')).toBe('_9lives')
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd')
    monitor = createMonitor()
    monitor.record('db', 'q', 1)
    const text = toPrometheus(monitor.snapshot({ histograms: true }), { prefix: 'my-app.' })
    expect(text).toMatch(/^my_app_events_total\{/m)
    expect(text).not.toMatch(/^perf_/m)
  })
})

describe('createMetricsHandler', () => {
  it('serves the exposition with its content type, to GET and HEAD only', async () => {
    monitor = createMonitor()
    monitor.record('db', 'q', 1)
    const handler = createMetricsHandler(monitor, { env: {} })
    const res = await handler(new Request('http://x/metrics'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE)
    expect(await res.text()).toMatch(/^perf_events_total\{type="db",name="q"\} 1$/m)
    const head = await handler(new Request('http://x/metrics', { method: 'HEAD' }))
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    const post = await handler(new Request('http://x/metrics', { method: 'POST' }))
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })

  it('requires the bearer token when one is set (option or PERF_ADMIN_TOKEN)', async () => {
    monitor = createMonitor()
    for (const handler of [
      createMetricsHandler(monitor, { token: 's3cret-0123456789abcdef', env: {} }),
      createMetricsHandler(monitor, { env: { PERF_ADMIN_TOKEN: 's3cret-0123456789abcdef' } }),
    ]) {
      const get = (auth?: string) =>
        handler(new Request('http://x/metrics', auth ? { headers: { authorization: auth } } : {}))
      const none = await get()
      expect(none.status).toBe(401)
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect((await get('Bearer wrong')).status).toBe(401)
      expect((await get('Bearer s3cre')).status).toBe(401)
      expect((await get('Basic s3cret-0123456789abcdef')).status).toBe(401)
      expect((await get('Bearer s3cret-0123456789abcdef')).status).toBe(200)
    }
    // token: false opts out even with the variable set.
    const open = createMetricsHandler(monitor, {
      token: false,
      env: { PERF_ADMIN_TOKEN: 's3cret-0123456789abcdef' },
    })
    expect((await open(new Request('http://x/metrics'))).status).toBe(200)
  })

  it('accepts a custom auth hook, and counts a hook that throws as a refusal', async () => {
    monitor = createMonitor()
    const handler = createMetricsHandler(monitor, {
      env: {},
      auth: (req) => {
        if (req.headers.get('x-boom')) throw new Error('boom')
        return req.headers.get('x-scraper') === 'prom'
      },
    })
    expect((await handler(new Request('http://x/m'))).status).toBe(401)
    expect((await handler(new Request('http://x/m', { headers: { 'x-scraper': 'prom' } }))).status).toBe(200)
    expect((await handler(new Request('http://x/m', { headers: { 'x-boom': '1' } }))).status).toBe(401)
    expect(monitor.snapshot().totals.internalErrors).toBe(1)
  })

  it('rejects bad options when created', () => {
    monitor = createMonitor()
    expect(() => createMetricsHandler({} as never)).toThrow(/expected a monitor/)
    expect(() => createMetricsHandler(monitor, { token: '' })).toThrow(
      /createMetricsHandler: options\.token is empty; pass false for no token/,
    )
    expect(() => createMetricsHandler(monitor, { auth: 'yes' as never })).toThrow(/auth must be a function/)
    expect(() => createMetricsHandler(monitor, { prometheus: { buckets: [0.003, 0.25] } })).toThrow(
      /^createMetricsHandler: prometheus.buckets\[1\] = 0.25 is not an edge/,
    )
    expect(() => createMetricsHandler(monitor, { prometheus: 5 as never })).toThrow(
      /^createMetricsHandler: prometheus must be an object, got 5/,
    )
  })
})
