import { afterEach, describe, expect, it, vi } from 'vitest'
import { mergeSnapshots } from './merge.js'
import { createMetricsHandler } from './metrics-handler.js'
import type { MonitorOptions } from './config.js'
import { createMonitor, type Monitor, monitorInternals } from './monitor.js'
import { type PrometheusOptions, toPrometheus } from './prometheus.js'
import { createPrometheusRenderer } from './prometheus-live.js'
import { NO_PROMTOOL, promtoolCheck } from './test-support/promtool.js'

const decoder = new TextDecoder()
const SNAPSHOT = { histograms: true, recent: 0, slow: 0 } as const

const monitors: Monitor[] = []
afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  for (const m of monitors.splice(0)) await m.close()
})

function monitorOf(options: MonitorOptions = {}): Monitor {
  const m = createMonitor(options)
  monitors.push(m)
  return m
}

/** The live render and the snapshot render of `monitor`, as text. */
function both(monitor: Monitor, options: PrometheusOptions = {}): { live: string; snapshot: string } {
  const bytes = createPrometheusRenderer(monitor, options).render()
  expect(bytes, 'the live renderer declined a plain monitor').toBeDefined()
  const live = decoder.decode(bytes)
  return { live, snapshot: toPrometheus(monitor.snapshot(SNAPSHOT), options) }
}

const HOSTILE = ['GET /a"b', 'back\\slash\\', 'new\nline', 'ünï © 😀', 'lone \ud800 surrogate', '"}\n# x']

/**
 * A monitor with everything a scrape shows: http ops with every status class and none, db errors,
 * slow events, latencies from microseconds to minutes (many buckets), hostile names, types and
 * counter keys that are array indices (an object lists those first), an op folded by the cardinality
 * cap, plain counters, a process section, and events spread over rotated slices (fake timers).
 */
function varied(): Monitor {
  vi.useFakeTimers()
  const m = monitorOf({ sampling: 0, maxOps: 40, sliceMs: 1000, windowMs: 5000 })
  let seed = 11
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x80000000
  }
  for (let slice = 0; slice < 7; slice++) {
    for (let i = 0; i < 300; i++) {
      const status = [101, 200, 204, 301, 404, 503][i % 6]!
      m.record('http', `GET /r${i % 5}/:id`, 0.001 * 10 ** (rand() * 8), { status, error: status >= 500 })
      m.record('db', `SELECT t${i % 3}`, 0.05 + rand() * 3, { error: i % 17 === 0 })
    }
    m.record('http', 'GET /no-status', 4.5) // an http event without a status: class "unknown"
    for (const name of HOSTILE) m.record('http', name, 1 + slice, { status: 200 })
    vi.advanceTimersByTime(1000)
  }
  m.op('http', 'GET /never') // interned, no event: no events_total line, zero errors and histogram
  m.record('we"ird\ntype', 'x', 2)
  m.record('42', 'numeric type', 1)
  m.record('7', 'another', 1)
  m.record('slow', 'report', 250_000)
  for (let i = 0; i < 50; i++) m.record('cap', `name ${i}`, 1) // past maxOps: folded into <overflow>
  m.count('cache', 'hits', 5)
  m.count('cache', '10', 1)
  m.count('cache', '2', 1)
  m.count('cache', 'mi"ss\n', -2)
  m.count('jobs', 'done', 3)
  monitorInternals(m).setSection('process', () => ({
    pid: 1,
    current: { rssBytes: 123_000_000, cpuUserMsTotal: 1500, cpuSystemMsTotal: 500, eventLoopDelayP99Ms: 2.5 },
  }))
  return m
}

describe('createPrometheusRenderer', () => {
  it('renders exactly what toPrometheus renders from a snapshot (varied ops, hostile names, cap, counters)', () => {
    const m = varied()
    const { live, snapshot } = both(m)
    // The fixture does exercise what it claims to.
    expect(live).toContain('status_class="unknown"')
    expect(live).toContain('name="<overflow>"')
    expect(live).toContain('name="back\\\\slash\\\\"')
    expect(live).toContain('process_resident_memory_bytes 123000000')
    expect(live.indexOf('type="42"')).toBeLessThan(live.indexOf('type="http"'))
    expect(
      live.split('\n').filter((l) => l.includes('_bucket{type="http",name="GET /r0/:id"')).length,
    ).toBeGreaterThan(30)
    expect(live).toBe(snapshot)
  })

  it('stays equal across scrapes while events arrive, slices rotate and after clear()', () => {
    const m = varied()
    const renderer = createPrometheusRenderer(m)
    const check = () => expect(decoder.decode(renderer.render())).toBe(toPrometheus(m.snapshot(SNAPSHOT)))
    check()
    for (let i = 0; i < 100; i++) m.record('http', 'GET /r1/:id', 3.3 + i, { status: 200 })
    m.record('db', 'SELECT new', 0.7)
    check()
    vi.advanceTimersByTime(1000)
    m.record('http', 'GET /r1/:id', 9.9, { status: 500 })
    check()
    m.clear() // every window and total empty: zero counts, +Inf-only histograms
    check()
    m.record('db', 'SELECT t1', 1.25)
    check()
  })

  it('renders equal with other bucket edges and other prefixes', () => {
    const m = varied()
    for (const buckets of [[0.001], [0.0005, 0.001, 0.01, 0.1, 0.2, 1.6, 102.4], [0.00003125, 4128.768]]) {
      const { live, snapshot } = both(m, { buckets })
      expect(live).toBe(snapshot)
      expect(
        live.split('\n').filter((l) => l.includes('_bucket{type="http",name="GET /r0/:id"')),
      ).toHaveLength(buckets.length + 1)
    }
    for (const prefix of ['', 'my app.', '9lives_']) {
      const { live, snapshot } = both(m, { prefix })
      expect(live).toBe(snapshot)
    }
  })

  it('renders a disabled monitor and one with no events like the snapshot path', () => {
    expect(both(monitorOf({ enabled: false })).live).toBe(both(monitorOf({ enabled: false })).snapshot)
    const empty = monitorOf()
    const { live, snapshot } = both(empty)
    expect(live).toBe(snapshot)
  })

  it('passes promtool check metrics', (ctx) => {
    const m = varied()
    const bytes = createPrometheusRenderer(m).render()!
    const r = promtoolCheck(decoder.decode(bytes))
    if (r === undefined) {
      ctx.skip(NO_PROMTOOL)
      return
    }
    expect(r.output).toBe('')
    expect(r.status).toBe(0)
  })

  it('renders a view whose snapshot() is not the monitor’s own from that snapshot', () => {
    const m = varied()
    const snapshot = vi.fn((opts?: object) => {
      const snap = m.snapshot(opts)
      snap.totals.events += 1000 // a view of its own: its numbers differ from the monitor's live state
      return snap
    })
    const view = new Proxy(m, {
      get: (target, prop) => (prop === 'snapshot' ? snapshot : Reflect.get(target, prop)),
    })
    const body = decoder.decode(createPrometheusRenderer(view).render())
    expect(snapshot).toHaveBeenCalledTimes(1)
    expect(body).toBe(toPrometheus(view.snapshot(SNAPSHOT)))
    expect(body).not.toBe(both(m).live)
  })
})

describe('createMetricsHandler scrape path', () => {
  it('serves a single monitor from its live state, without taking a snapshot', async () => {
    const m = varied()
    const expected = toPrometheus(m.snapshot(SNAPSHOT))
    const snapshot = vi.spyOn(Object.getPrototypeOf(m) as Monitor, 'snapshot')
    const handler = createMetricsHandler(m, { token: false })
    const body = await (await handler(new Request('http://localhost/metrics'))).text()
    expect(snapshot).not.toHaveBeenCalled()
    expect(body).toBe(expected)
    // The body is a copy: a second scrape reuses the renderer's buffer without changing the first.
    const first = await handler(new Request('http://localhost/metrics'))
    m.record('db', 'SELECT after', 1)
    const second = await (await handler(new Request('http://localhost/metrics'))).text()
    expect(await first.text()).toBe(expected)
    expect(second).toContain('name="SELECT after"')
  })

  it('serves a cluster-style view (snapshot() replaced by a merge) from that snapshot', async () => {
    const m = varied()
    const other = monitorOf()
    other.record('http', 'GET /r0/:id', 5, { status: 200 })
    const merged = () =>
      mergeSnapshots(m.snapshot(SNAPSHOT), { ...other.snapshot(SNAPSHOT), pid: m.snapshot().pid + 1 })
    const view = new Proxy(m, {
      get: (target, prop) => (prop === 'snapshot' ? merged : Reflect.get(target, prop)),
    })
    const body = await (
      await createMetricsHandler(view, { token: false })(new Request('http://localhost/metrics'))
    ).text()
    expect(body).toBe(toPrometheus(merged()))
    expect(body).not.toBe(toPrometheus(m.snapshot(SNAPSHOT)))
  })
})
