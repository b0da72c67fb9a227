import { afterEach, describe, expect, it, vi } from 'vitest'
import type { PerfEvent } from './event.js'
import { createMonitor, type Monitor, monitorInternals, monitorState, OVERFLOW_NAME } from './monitor.js'
import type { OpAggregate, Sink } from './sink.js'
import { gc } from './test-support/gc.js'

afterEach(() => {
  vi.useRealTimers()
})

/** Deterministic PRNG so data sets are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!
}

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
}

const datasets: Record<string, (r: () => number) => number> = {
  // 1 µs .. 60 s, uniform on a log scale and on a linear scale
  'log-uniform 1µs..60s': (r) => 0.001 * 60_000_000 ** r(),
  'uniform 0..60s': (r) => 0.001 + r() * 60_000,
  'log-normal': (r) => Math.min(60_000, Math.max(0.001, Math.exp(Math.log(20) + 1.5 * normal(r)))),
  bimodal: (r) => (r() < 0.8 ? 0.05 + r() * 0.1 : 800 + r() * 400),
}

describe('percentiles', () => {
  for (const [label, gen] of Object.entries(datasets)) {
    it(`are within 2% of the exact value on ${label} data`, () => {
      const m = createMonitor({ sampling: 0 })
      const r = rng(42)
      const values: number[] = []
      for (let i = 0; i < 50_000; i++) {
        const v = gen(r)
        values.push(v)
        m.record('db', 'SELECT t', v)
      }
      values.sort((a, b) => a - b)
      const op = m.snapshot().types.db!.ops[0]!
      expect(op.count).toBe(50_000)
      for (const [q, key] of [
        [0.5, 'p50Ms'],
        [0.9, 'p90Ms'],
        [0.95, 'p95Ms'],
        [0.99, 'p99Ms'],
      ] as const) {
        const want = exact(values, q)
        expect(Math.abs(op[key] - want) / want, `${key}: got ${op[key]}, exact ${want}`).toBeLessThanOrEqual(
          0.02,
        )
      }
      expect(op.minMs).toBe(values[0])
      expect(op.maxMs).toBe(values[values.length - 1])
      expect(op.avgMs).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6)
      void m.close()
    })
  }
})

describe('durations at the edges of the buckets', () => {
  it('counts -0 as 0: in the lowest bucket, not the highest', () => {
    const m = createMonitor({ sampling: 0 })
    const h = m.op('db', 'by handle')
    for (let i = 0; i < 10; i++) {
      m.record('db', 'by name', -0)
      h.record(-0)
    }
    m.record('db', 'by name', 2)
    h.record(2)
    for (const op of m.snapshot().types.db!.ops) {
      expect(op.count).toBe(11)
      expect(op.p50Ms).toBeLessThan(0.001)
      expect(op.p90Ms).toBeLessThan(0.001)
    }
    void m.close()
  })

  it('counts zero, sub-nanosecond and past-the-range durations, by name and by handle', () => {
    const m = createMonitor({ sampling: 0 })
    const h = m.op('db', 'by handle')
    for (const v of [0, 1e-9, 3, 2 ** 22, 1e9]) {
      m.record('db', 'by name', v)
      h.record(v)
    }
    for (const op of m.snapshot().types.db!.ops) {
      expect(op).toMatchObject({ count: 5, minMs: 0, maxMs: 1e9, slow: 2 })
      expect(op.p50Ms).toBeCloseTo(3, 0)
    }
    void m.close()
  })

  it.each([
    [150, 'inside a bucket'],
    [100, "on a bucket's lower edge"],
  ])('marks slow a record of exactly slowMs %s (%s) and none just under it', (slowMs) => {
    const m = createMonitor({ sampling: 0, slowMs: { db: slowMs } })
    const h = m.op('db', 'by handle')
    const under = slowMs * (1 - 2 ** -40)
    for (const v of [5, under, slowMs, under, slowMs - 0.01]) {
      m.record('db', 'by name', v)
      h.record(v)
    }
    for (const op of m.snapshot().types.db!.ops) expect(op).toMatchObject({ count: 5, slow: 1 })
    expect(m.slowEvents().map((e) => [e.name, e.durationMs])).toEqual([
      ['by handle', slowMs],
      ['by name', slowMs],
    ])
    void m.close()
  })
})

describe('histogram storage', () => {
  it('counts past 255 and past 65,535 in one bucket without losing counts', () => {
    const m = createMonitor({ sampling: 0 })
    const h = m.op('http', 'GET /hot')
    for (let i = 0; i < 70_000; i++) h.record(2)
    h.record(4)
    const op = m.snapshot({ histograms: true }).types.http!.ops[0]!
    expect(op.count).toBe(70_001)
    expect(Math.abs(op.p50Ms - 2) / 2).toBeLessThan(0.016)
    expect(op.histogram!.counts.reduce((a, b) => a + b, 0)).toBe(70_001)
    void m.close()
  })

  it('keeps earlier slices intact when a later value widens the bucket range', () => {
    vi.useFakeTimers()
    const m = createMonitor({ windowMs: 3 * 60_000, sampling: 0 })
    for (let i = 0; i < 100; i++) m.record('db', 'q', 1)
    vi.advanceTimersByTime(60_000)
    m.record('db', 'q', 0.001)
    m.record('db', 'q', 50_000)
    const op = m.snapshot({ histograms: true }).types.db!.ops[0]!
    expect(op.count).toBe(102)
    expect(Math.abs(op.p50Ms - 1)).toBeLessThan(0.016)
    expect(op.minMs).toBe(0.001)
    expect(op.maxMs).toBe(50_000)
    expect(op.histogram!.counts.reduce((a, b) => a + b, 0)).toBe(102)
    void m.close()
  })
})

describe("a name's first record", () => {
  it('is counted and kept as a record of a name interned before', () => {
    // record() takes a path of its own for a name it has not seen; every kind of record through it
    // must come out as the same record of an op interned by op() first.
    const cases: [string, number, Parameters<Monitor['record']>[3]][] = [
      ['plain', 5, undefined],
      ['slow', 150, undefined],
      ['failed', 5, { error: new Error('boom'), status: 503 }],
      ['forced', 5, { force: true, metadata: { path: '/x', password: 'hunter2' } }],
      ['status', 5, { status: 404 }],
      ['outside the buckets', 0, undefined],
    ]
    const run = (intern: boolean) => {
      const m = createMonitor({ sampling: { http: 0 }, slowMs: { http: 100 } })
      if (intern) for (const [name] of cases) m.op('http', name)
      const kept = cases.map(([name, ms, opts]) => m.record('http', name, ms, opts))
      const s = m.snapshot({ histograms: true })
      void m.close()
      const ops = s.types.http!.ops.map(({ p50Ms, p90Ms, p95Ms, p99Ms, ...op }) => op)
      const events = s.slow.concat(s.recent).map(({ timestamp, ...e }) => e)
      return { kept, ops, events, totals: s.totals }
    }
    const first = run(false)
    expect(first.kept).toEqual([false, true, true, true, false, false])
    expect(first.events.length).toBeGreaterThan(0)
    expect(first).toEqual(run(true))
  })
})

describe('counts are never sampled', () => {
  it('counts every event at sampling 0 and keeps only slow and failed details', () => {
    const m = createMonitor({ sampling: { http: 0 }, slowMs: { http: 100 } })
    for (let i = 0; i < 1000; i++) m.record('http', 'GET /a', 5)
    expect(m.record('http', 'GET /a', 150)).toBe(true)
    expect(m.record('http', 'GET /a', 1, { error: new Error('boom') })).toBe(true)
    const s = m.snapshot()
    const op = s.types.http!.ops[0]!
    expect(op.count).toBe(1002)
    expect(op.errors).toBe(1)
    expect(op.slow).toBe(1)
    expect(s.totals).toMatchObject({ events: 1002, kept: 2, sampledOut: 1000 })
    expect(s.recent.map((e) => e.durationMs)).toEqual([1, 150])
    expect(s.slow[0]).toMatchObject({ error: 'Error: boom', slow: false })
    expect(s.slow[1]).toMatchObject({ error: null, slow: true, durationMs: 150 })
    void m.close()
  })

  it('keeps about the sampled share at sampling 0.1, all at 1.0', () => {
    const m = createMonitor({ sampling: { db: 0.1, http: 1 }, bufferSize: 10 })
    let kept = 0
    for (let i = 0; i < 20_000; i++) if (m.record('db', 'q', 1)) kept++
    expect(kept).toBeGreaterThan(1600)
    expect(kept).toBeLessThan(2400)
    for (let i = 0; i < 100; i++) expect(m.record('http', 'GET /', 1)).toBe(true)
    expect(m.snapshot().types.db!.count).toBe(20_000)
    void m.close()
  })

  it('honours force and setSampling, and rejects a bad rate', () => {
    const m = createMonitor({ sampling: 0 })
    expect(m.record('render', 'home', 1)).toBe(false)
    expect(m.record('render', 'home', 1, { force: true })).toBe(true)
    m.setSampling('render', 1)
    expect(m.record('render', 'home', 1)).toBe(true)
    expect(m.snapshot().types.render!.sampling).toBe(1)
    expect(() => m.setSampling('render', 1.5)).toThrow(
      /rate = 1.5 is not valid: expected a number from 0 to 1/,
    )
    void m.close()
  })
})

describe('lazy metadata', () => {
  it('calls a metadata function only for kept events, and survives one that throws', () => {
    const m = createMonitor({ sampling: 0, slowMs: 100 })
    let calls = 0
    const meta = () => {
      calls++
      return { path: '/x', password: 'p' }
    }
    for (let i = 0; i < 100; i++) m.record('http', 'GET /x', 1, { metadata: meta })
    expect(calls).toBe(0)
    m.record('http', 'GET /x', 500, { metadata: meta })
    expect(calls).toBe(1)
    expect(m.recent(1)[0]!.metadata).toEqual({ path: '/x', password: '[REDACTED]' })
    m.record('http', 'GET /x', 1, {
      force: true,
      metadata: () => {
        throw new Error('bad provider')
      },
    })
    expect(m.recent(1)[0]!.metadata).toEqual({ '[metadata error]': 'Error: bad provider' })
    expect(m.snapshot().totals.internalErrors).toBe(1)
    void m.close()
  })
})

describe('ring buffer and slow log', () => {
  it('keeps the newest bufferSize events, newest first, and slow ones survive in the slow log', () => {
    const m = createMonitor({ sampling: 1, bufferSize: 10, slowMs: 100 })
    m.record('db', 'slow one', 500, { requestId: 'r-1' })
    for (let i = 0; i < 25; i++) m.record('db', 'fast', i)
    const recent = m.recent(100)
    expect(recent).toHaveLength(10)
    expect(recent.map((e) => e.durationMs)).toEqual([24, 23, 22, 21, 20, 19, 18, 17, 16, 15])
    const slow = m.slowEvents()
    expect(slow).toHaveLength(1)
    expect(slow[0]).toMatchObject({ name: 'slow one', durationMs: 500, requestId: 'r-1', slow: true })
    expect(m.slowEvents({ thresholdMs: 20 }).map((e) => e.durationMs)).toEqual([24, 23, 22, 21, 20, 500])
    expect(m.byType('db', 3).map((e) => e.durationMs)).toEqual([24, 23, 22])
    expect(m.byType('http')).toEqual([])
    expect(() => m.slowEvents({ thresholdMs: -1 })).toThrow(TypeError)
    void m.close()
  })

  it('an event without request id, error or copied details shows none of the event it overwrote', () => {
    const m = createMonitor({ sampling: 1, bufferSize: 3 })
    m.record('db', 'a', 1, { requestId: 'r-1' })
    m.record('db', 'b', 2, { error: new Error('boom') })
    m.record('db', 'c', 3, { metadata: { nested: { deep: 1 } } })
    expect(m.recent(3).map((e) => [e.requestId, e.error !== null, e.metadata])).toEqual([
      [null, false, { nested: { deep: 1 } }],
      [null, true, null],
      ['r-1', false, null],
    ])
    for (let i = 0; i < 3; i++) m.record('db', 'plain', 4)
    expect(m.recent(3).map((e) => [e.name, e.requestId, e.error, e.metadata])).toEqual([
      ['plain', null, null, null],
      ['plain', null, null, null],
      ['plain', null, null, null],
    ])
    m.record('db', 'a', 1, { requestId: 'r-2' })
    m.clear()
    m.record('db', 'plain', 4)
    expect(m.recent(3).map((e) => [e.name, e.requestId])).toEqual([['plain', null]])
    void m.close()
  })

  it('gives events the documented shape', () => {
    const m = createMonitor({ sampling: 1 })
    m.record('http', 'GET /x', 12.5, { requestId: 'abc', metadata: { status: 200 } })
    const e: PerfEvent = m.recent(1)[0]!
    expect(Object.keys(e).sort()).toEqual(
      ['durationMs', 'error', 'metadata', 'name', 'pid', 'requestId', 'slow', 'timestamp', 'type'].sort(),
    )
    expect(e).toMatchObject({
      type: 'http',
      name: 'GET /x',
      durationMs: 12.5,
      pid: process.pid,
      requestId: 'abc',
    })
    expect(Math.abs(e.timestamp - Date.now())).toBeLessThan(5000)
    void m.close()
  })
})

describe('window', () => {
  it('drops slices older than the window from window stats but keeps all-time totals', () => {
    vi.useFakeTimers()
    const m = createMonitor({ windowMs: 3 * 60_000, sampling: 0 })
    m.record('http', 'GET /', 10)
    vi.advanceTimersByTime(60_000)
    m.record('http', 'GET /', 20)
    m.record('http', 'GET /', 30)
    let op = m.snapshot().types.http!.ops[0]!
    expect(op).toMatchObject({ count: 3, totalCount: 3, minMs: 10, maxMs: 30 })
    vi.advanceTimersByTime(2 * 60_000)
    op = m.snapshot().types.http!.ops[0]!
    expect(op).toMatchObject({ count: 2, totalCount: 3, minMs: 20, maxMs: 30 })
    vi.advanceTimersByTime(60_000)
    op = m.snapshot().types.http!.ops[0]!
    expect(op).toMatchObject({ count: 0, totalCount: 3, p99Ms: 0 })
    m.record('http', 'GET /', 5, { status: 404 })
    op = m.snapshot({ histograms: true }).types.http!.ops[0]!
    expect(op.totalCount).toBe(4)
    expect(op.totalStatus).toMatchObject({ '4xx': 1 })
    expect(op.totalHistogram!.counts.reduce((a, b) => a + b, 0)).toBe(4)
    expect(op.histogram!.counts.reduce((a, b) => a + b, 0)).toBe(1)
    void m.close()
  })

  it('counts totals.events all-time: past the window, into a folded op, by handle, and from 0 after clear()', () => {
    vi.useFakeTimers()
    const m = createMonitor({ windowMs: 3 * 60_000, sampling: 0, maxOps: 2 })
    const handle = m.op('http', 'GET /h')
    for (let minute = 0; minute < 7; minute++) {
      m.record('http', 'GET /a', 1)
      m.record('http', `GET /new/${minute}`, 1) // past maxOps: folded into the overflow op
      handle.record(2)
      vi.advanceTimersByTime(60_000)
    }
    m.record('db', 'select', 3)
    const s = m.snapshot()
    expect(s.totals).toMatchObject({ events: 22, kept: 0, sampledOut: 22 })
    expect(monitorState(m)!.totals.events).toBe(22)
    m.clear()
    expect(m.snapshot().totals.events).toBe(0)
    handle.record(1)
    expect(m.snapshot().totals).toMatchObject({ events: 1, sampledOut: 1 })
    void m.close()
  })

  it('rejects a window that is not a whole number of slices', () => {
    expect(() => createMonitor({ windowMs: 90_000 })).toThrow(/options.windowMs = 90000 is not valid/)
  })
})

describe('cardinality cap', () => {
  it('folds names past maxOps into one overflow op and counts them', () => {
    const m = createMonitor({ maxOps: 5, sampling: 0 })
    for (let i = 0; i < 50; i++) m.record('db', `q${i % 10}`, 1)
    const handle = m.op('db', 'q-new')
    expect(handle.name).toBe(OVERFLOW_NAME)
    handle.record(1)
    const t = m.snapshot().types.db!
    expect(t.ops.map((o) => o.name)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', OVERFLOW_NAME])
    expect(t.ops.find((o) => o.name === OVERFLOW_NAME)!.count).toBe(26)
    expect(t.foldedEvents).toBe(26)
    expect(t.count).toBe(51)
    expect(m.snapshot().totals.folded).toBe(26)
    void m.close()
  })
})

describe('bad input', () => {
  it.each([
    [Number.NaN, /durationMs must be a finite number ≥ 0, got NaN/],
    [Number.POSITIVE_INFINITY, /got Infinity/],
    [Number.NEGATIVE_INFINITY, /got -Infinity/],
    [-1, /got -1/],
    ['5', /got "5"/],
  ])('rejects duration %s with a TypeError naming it', (ms, msg) => {
    const m = createMonitor()
    expect(() => m.record('http', 'GET /', ms as number)).toThrow(TypeError)
    expect(() => m.record('http', 'GET /', ms as number)).toThrow(msg)
    expect(m.snapshot().totals.rejected).toBe(2)
    void m.close()
  })

  it('rejects a non-string or empty type or name, naming the argument', () => {
    const m = createMonitor()
    expect(() => m.record('', 'x', 1)).toThrow(/type must be a non-empty string, got an empty string/)
    expect(() => m.record(42 as unknown as string, 'x', 1)).toThrow(/type must be a non-empty string, got 42/)
    expect(() => m.record('http', '', 1)).toThrow(/name must be a non-empty string/)
    expect(() => m.record('http', null as unknown as string, 1)).toThrow(
      /name must be a non-empty string, got null/,
    )
    expect(m.snapshot().totals.rejected).toBe(4)
    expect(m.snapshot().totals.events).toBe(0)
    void m.close()
  })

  it('truncates names over 200 characters instead of rejecting them', () => {
    const m = createMonitor()
    const long = 'x'.repeat(5000)
    m.record('http', long, 1)
    m.record('http', long, 1)
    const ops = m.snapshot().types.http!.ops
    expect(ops).toHaveLength(1)
    expect(ops[0]!.name).toHaveLength(200)
    expect(ops[0]!.count).toBe(2)
    void m.close()
  })

  it('stores hostile metadata safely and snapshot() never throws', () => {
    const m = createMonitor({ sampling: 1 })
    const circular: Record<string, unknown> = { a: 1 }
    circular.self = circular
    m.record('x', 'circular', 1, { metadata: circular })
    m.record('x', 'odd', 1, {
      metadata: {
        big: 10n,
        fn: () => 1,
        sym: Symbol('s'),
        when: new Date(0),
        err: new Error('e'),
        nan: Number.NaN,
      },
    })
    m.record('x', 'huge', 1, { metadata: { blob: 'y'.repeat(1_000_000), list: new Array(100_000).fill(7) } })
    const getter = Object.defineProperty({}, 'bad', {
      enumerable: true,
      get() {
        throw new Error('no')
      },
    })
    m.record('x', 'getter', 1, { metadata: getter })
    const snap = m.snapshot()
    const json = JSON.stringify(snap)
    expect(json.length).toBeLessThan(50_000)
    const by = Object.fromEntries(m.recent(10).map((e) => [e.name, e.metadata]))
    expect(by.circular).toEqual({ a: 1, self: '[Circular]' })
    expect(by.odd).toEqual({
      big: '10n',
      fn: '[Function fn]',
      sym: '[Symbol(s)]',
      when: '1970-01-01T00:00:00.000Z',
      err: { name: 'Error', message: 'e' },
      nan: 'NaN',
    })
    expect(by.huge).toHaveProperty('[truncated]')
    expect(JSON.stringify(by.huge).length).toBeLessThanOrEqual(2048)
    expect(by.getter).toEqual({ bad: '[Getter threw]' })
    void m.close()
  })

  it('redacts secret and PII keys, nested and case-insensitive, with a configurable list', () => {
    const m = createMonitor({ sampling: 1 })
    m.record('x', 'a', 1, {
      metadata: {
        Password: 'p',
        user: { email: 'a@b.c', name: 'Ann', nested: [{ API_KEY: 'k' }] },
        headers: { Authorization: 'Bearer t', cookie: 'c', 'x-session-id': 's' },
        refresh_token: 'r',
        status: 200,
      },
    })
    expect(m.recent(1)[0]!.metadata).toEqual({
      Password: '[REDACTED]',
      user: { email: '[REDACTED]', name: '[REDACTED]', nested: [{ API_KEY: '[REDACTED]' }] },
      headers: { Authorization: '[REDACTED]', cookie: '[REDACTED]', 'x-session-id': '[REDACTED]' },
      refresh_token: '[REDACTED]',
      status: 200,
    })
    const custom = createMonitor({ sampling: 1, redactKeys: ['ssn', /^card_/] })
    custom.record('x', 'a', 1, { metadata: { password: 'visible', SSN: '1', card_no: '2', cardinality: 3 } })
    expect(custom.recent(1)[0]!.metadata).toEqual({
      password: 'visible',
      SSN: '[REDACTED]',
      card_no: '[REDACTED]',
      cardinality: 3,
    })
    void m.close()
    void custom.close()
  })
})

describe('start, time and count', () => {
  it('start() measures and records once', async () => {
    const m = createMonitor({ sampling: 1 })
    const end = m.start('render', 'page')
    await new Promise((r) => setTimeout(r, 20))
    const ms = end({ metadata: { a: 1 } })
    expect(ms).toBeGreaterThanOrEqual(15)
    end()
    const op = m.snapshot().types.render!.ops[0]!
    expect(op.count).toBe(1)
    expect(op.maxMs).toBe(ms)
    void m.close()
  })

  it('time() records sync and async results and rethrows failures unchanged', async () => {
    const m = createMonitor({ sampling: 1 })
    expect(m.time('job', 'sync', () => 7)).toBe(7)
    await expect(m.time('job', 'async', async () => 8)).resolves.toBe(8)
    const err = new RangeError('nope')
    expect(() =>
      m.time('job', 'sync-fail', () => {
        throw err
      }),
    ).toThrow(err)
    await expect(m.time('job', 'async-fail', () => Promise.reject(err))).rejects.toBe(err)
    const ops = Object.fromEntries(m.snapshot().types.job!.ops.map((o) => [o.name, o]))
    expect(ops.sync!.count).toBe(1)
    expect(ops.async!.count).toBe(1)
    expect(ops['sync-fail']!.errors).toBe(1)
    expect(ops['async-fail']!.errors).toBe(1)
    expect(m.slowEvents().map((e) => e.error)).toEqual(['RangeError: nope', 'RangeError: nope'])
    void m.close()
  })

  it('count() keeps plain counters', () => {
    const m = createMonitor()
    m.count('cache', 'hit')
    m.count('cache', 'hit', 4)
    m.count('notes', 'created', 2)
    expect(m.snapshot().counters).toEqual({ cache: { hit: 5 }, notes: { created: 2 } })
    expect(() => m.count('cache', 'hit', Number.NaN)).toThrow(TypeError)
    expect(() => m.count('cache', 'hit', '2' as never)).toThrow(
      'count(type, name, n): n must be a finite number, got "2"',
    )
    void m.close()
  })
})

describe('lifecycle', () => {
  it('disabled: every call is a no-op', () => {
    const m = createMonitor({ enabled: false })
    expect(m.enabled).toBe(false)
    expect(m.record('http', 'GET /', 1)).toBe(false)
    expect(m.op('http', 'GET /').record(1)).toBe(false)
    expect(m.time('x', 'y', () => 3)).toBe(3)
    m.count('a', 'b')
    const s = m.snapshot()
    expect(s.enabled).toBe(false)
    expect(s.types).toEqual({})
    expect(s.totals.events).toBe(0)
  })

  it('clear() forgets data but interned handles keep working', () => {
    const m = createMonitor({ sampling: 1 })
    const h = m.op('db', 'q')
    h.record(1)
    m.count('c', 'n')
    m.clear()
    let s = m.snapshot()
    expect(s.types.db!.ops[0]!.count).toBe(0)
    expect(s.recent).toEqual([])
    expect(s.counters).toEqual({})
    expect(s.totals).toMatchObject({ events: 0, kept: 0, sampledOut: 0 })
    h.record(2)
    h.record(3)
    s = m.snapshot()
    expect(s.types.db!.ops[0]!.count).toBe(2)
    expect(s.totals).toMatchObject({ events: 2, kept: 2, sampledOut: 0 })
    void m.close()
  })

  it('handle.record() checks its duration, and a handle past maxOps counts as folded', () => {
    const m = createMonitor({ sampling: 0, maxOps: 1 })
    const h = m.op('db', 'q')
    for (const [ms, shown] of [
      [-1, '-1'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      ['5', '"5"'],
    ] as const) {
      expect(() => h.record(ms as never)).toThrow(
        new TypeError(`handle.record: durationMs must be a finite number ≥ 0, got ${shown} (for "db" "q")`),
      )
    }
    const past = m.op('db', 'r')
    expect(past.record(2)).toBe(false)
    expect(past.record(3)).toBe(false)
    const s = m.snapshot()
    expect(s.totals).toMatchObject({ events: 2, rejected: 4, folded: 2 })
    expect(s.types.db!.ops.map((o) => [o.name, o.count])).toEqual([
      ['q', 0],
      [OVERFLOW_NAME, 2],
    ])
    void m.close()
  })

  it('close() makes later records no-ops that are counted, and is idempotent', async () => {
    const m = createMonitor()
    const h = m.op('db', 'q')
    await m.close()
    await m.close()
    expect(m.closed).toBe(true)
    expect(m.record('db', 'q', 1)).toBe(false)
    expect(h.record(1)).toBe(false)
    expect(m.snapshot().totals.droppedAfterClose).toBe(2)
    expect(m.snapshot().totals.events).toBe(0)
    // An op first named after the close, by handle and by name, is a no-op too.
    expect(m.op('db', 'later').record(1)).toBe(false)
    expect(m.record('db', 'later', 1)).toBe(false)
    expect(m.snapshot().totals).toMatchObject({ events: 0, droppedAfterClose: 4 })
  })

  it('an op first recorded in a later slice leaves the window when its slice does, not before', () => {
    vi.useFakeTimers()
    const m = createMonitor({ windowMs: 3 * 60_000, sampling: 0 })
    m.record('http', 'GET /early', 1)
    vi.advanceTimersByTime(2 * 60_000) // the third slice of three
    const late = m.op('http', 'GET /late')
    late.record(4)
    m.record('http', 'GET /late-by-name', 6)
    const count = (name: string) => m.snapshot().types.http!.ops.find((o) => o.name === name)!
    for (let minute = 0; minute < 2; minute++) {
      vi.advanceTimersByTime(60_000)
      expect(count('GET /late')).toMatchObject({ count: 1, totalCount: 1, maxMs: 4 })
      expect(count('GET /late-by-name')).toMatchObject({ count: 1, totalCount: 1, maxMs: 6 })
    }
    vi.advanceTimersByTime(60_000)
    expect(count('GET /late')).toMatchObject({ count: 0, totalCount: 1 })
    expect(count('GET /late-by-name')).toMatchObject({ count: 0, totalCount: 1 })
    // A record now goes to the slice in progress, and stays its window's for three minutes again.
    late.record(8)
    vi.advanceTimersByTime(2 * 60_000)
    expect(count('GET /late')).toMatchObject({ count: 1, totalCount: 2, maxMs: 8 })
    vi.advanceTimersByTime(60_000)
    expect(count('GET /late')).toMatchObject({ count: 0, totalCount: 2 })
    void m.close()
  })
})

describe('sinks', () => {
  it('receive kept events in batches outside record(), and slice aggregates on rotation', async () => {
    vi.useFakeTimers()
    const batches: PerfEvent[][] = []
    const aggregates: unknown[] = []
    const sink: Sink = {
      name: 'mem',
      write: (events) => {
        batches.push([...events])
      },
      writeAggregates: (aggs) => {
        aggregates.push(...aggs)
      },
    }
    const m = createMonitor({ sampling: 1, sinks: [sink], sinkIntervalMs: 100 })
    for (let i = 0; i < 5; i++) m.record('db', 'q', i)
    expect(batches).toHaveLength(0)
    expect(m.snapshot().totals.sinkQueued).toBe(5)
    vi.advanceTimersByTime(100)
    await vi.runOnlyPendingTimersAsync()
    expect(batches).toHaveLength(1)
    expect(batches[0]!.map((e) => e.durationMs)).toEqual([0, 1, 2, 3, 4])
    vi.advanceTimersByTime(60_000)
    expect(aggregates).toHaveLength(1)
    expect(aggregates[0]).toMatchObject({ type: 'db', name: 'q', count: 5, sumMs: 10, minMs: 0, maxMs: 4 })
    await m.close()
  })

  it('queue nothing for sinks that take no events', async () => {
    const m = createMonitor({ sampling: 1, sinks: [{ writeAggregates: () => {} }] })
    m.record('db', 'q', 1)
    expect(m.snapshot().totals.sinkQueued).toBe(0)
    await m.close()
  })

  it('count a failing sink and a full queue instead of throwing into the app', async () => {
    const m = createMonitor({
      sampling: 1,
      sinkMaxQueue: 3,
      sinks: [
        {
          write: () => {
            throw new Error('disk full')
          },
        },
      ],
    })
    for (let i = 0; i < 5; i++) expect(m.record('db', 'q', 1)).toBe(true)
    await m.flush()
    const s = m.snapshot()
    expect(s.totals).toMatchObject({ sinkDropped: 2, sinkErrors: 1, sinkQueued: 0 })
    expect(s.lastInternalError).toMatch(/disk full/)
    await m.close()
  })
})

describe('request context', () => {
  it('is off by default and carries the request through async work once enabled', async () => {
    const m = monitorInternals(createMonitor())
    expect(m.requestContextEnabled).toBe(false)
    const ctx = { requestId: 'r1', dbQueries: 0, dbMs: 0 }
    expect(m.runInRequest(ctx, () => m.currentRequest())).toBeUndefined()
    expect(m.enableRequestContext()).toBe(true)
    const seen = await m.runInRequest(ctx, async () => {
      await new Promise((r) => setTimeout(r, 1))
      return m.currentRequest()
    })
    expect(seen).toBe(ctx)
    expect(m.currentRequest()).toBeUndefined()
    void m.close()
  })
})

describe('long type names', () => {
  it('lists a type longer than 64 characters under its first 64, with its events', () => {
    const monitor = createMonitor()
    const long = 't'.repeat(70)
    monitor.record(long, 'n', 1)
    monitor.record(long, 'n', 2)
    const snap = monitor.snapshot()
    expect(Object.keys(snap.types)).toEqual(['t'.repeat(64)])
    expect(snap.types['t'.repeat(64)]!.ops[0]).toMatchObject({ name: 'n', count: 2 })
    expect(snap.totals.events).toBe(2)
  })
})

describe('pii', () => {
  it("pii: 'reject' throws naming the path before anything is counted", () => {
    const m = createMonitor({ sampling: 0, pii: 'reject' })
    expect(() => m.record('http', 'GET /a', 1, { metadata: { user: { email: 'a@b.c' } } })).toThrow(
      /record: metadata\.user\.email looks like a secret or personal datum \(for http GET \/a\)/,
    )
    expect(() => m.op('db', 'SELECT x').record(1, { metadata: () => ({ dsn: 'x' }) })).toThrow(TypeError)
    m.record('http', 'GET /a', 1, { metadata: { hostname: 'h', bytes: 3 } })
    // Clean details pass the check (on the rare path under 'reject') and are recorded, by handle too.
    m.op('db', 'SELECT x').record(2, { metadata: { rows: 1 }, status: 500 })
    const snap = m.snapshot()
    expect(snap.totals.events).toBe(2)
    expect(snap.totals.rejected).toBe(2)
    expect(snap.types.http!.ops[0]!.count).toBe(1)
    expect(snap.types.db!.ops[0]).toMatchObject({ count: 1, maxMs: 2 })
    void m.close()
  })

  it("pii: 'redact' (the default) keeps the event and hides the value; error messages are redacted too", () => {
    const m = createMonitor({ sampling: 1 })
    m.record('http', 'GET /a', 1, { metadata: { user: { email: 'a@b.c' } } })
    m.record('db', 'SELECT x', 1, { error: new Error('connect postgres://app:hunter2@db failed') })
    const snap = m.snapshot()
    expect(JSON.stringify(snap)).not.toContain('a@b.c')
    expect(JSON.stringify(snap)).not.toContain('hunter2')
    expect(snap.slow[0]!.error).toBe('Error: connect postgres://app:[REDACTED]@db failed')
    expect(() => createMonitor({ pii: 'strict' as never })).toThrow(
      /options\.pii = "strict" is not valid: expected 'redact' or 'reject'/,
    )
    void m.close()
  })
})

describe('inputs are checked before anything is counted', () => {
  it('record() with opts that are not an object throws a TypeError and counts nothing but rejected', () => {
    const m = createMonitor({ sampling: 1 })
    for (const [opts, shown] of [
      [null, 'null'],
      [5, '5'],
      ['x', '"x"'],
    ] as const) {
      expect(() => m.record('http', 'GET /', 5, opts as never)).toThrow(
        new TypeError(`record: opts must be an object or undefined, got ${shown}`),
      )
      expect(() => m.op('http', 'GET /h').record(5, opts as never)).toThrow(
        /handle.record: opts must be an object/,
      )
    }
    expect(() => m.record('http', 'GET /', Number.NaN)).toThrow(
      /record: durationMs must be a finite number ≥ 0, got NaN \(for "http" "GET \/"\)/,
    )
    const s = m.snapshot()
    expect(s.totals.events).toBe(0)
    expect(s.totals.rejected).toBe(7)
    expect(s.types.http!.count).toBe(0)
    expect(s.recent).toEqual([])
  })

  it('a rejected duration makes no type and no op, and counts nothing in a known op', () => {
    const m = createMonitor({ sampling: 1 })
    m.record('db', 'known', 1)
    for (const [type, name] of [
      ['new type', 'q'],
      ['db', 'new name'],
      ['db', 'known'],
    ]) {
      for (const ms of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
        expect(() => m.record(type!, name!, ms)).toThrow(/record: durationMs must be a finite number ≥ 0/)
      }
    }
    const h = m.op('db', 'known')
    expect(() => h.record(-1)).toThrow(/handle.record: durationMs must be a finite number ≥ 0, got -1/)
    const s = m.snapshot()
    expect(Object.keys(s.types)).toEqual(['db'])
    expect(s.types.db!.ops.map((o) => [o.name, o.count, o.maxMs])).toEqual([['known', 1, 1]])
    expect(s.totals).toMatchObject({ events: 1, rejected: 10 })
    expect(m.recent(10)).toHaveLength(1)
    void m.close()
  })

  it('a rejected record of a new name past maxOps folds nothing', () => {
    const m = createMonitor({ maxOps: 1 })
    m.record('db', 'a', 1)
    expect(() => m.record('db', 'b', -1)).toThrow(TypeError)
    expect(m.snapshot().totals.folded).toBe(0)
  })

  it.each([
    [
      'snapshot({ recent: NaN })',
      (m: Monitor) => m.snapshot({ recent: Number.NaN }),
      RangeError,
      /snapshot\(opts\): opts.recent = NaN is not valid: expected an integer ≥ 0 or Infinity/,
    ],
    [
      'snapshot({ slow: -1 })',
      (m: Monitor) => m.snapshot({ slow: -1 }),
      RangeError,
      /opts.slow = -1 is not valid/,
    ],
    [
      'snapshot({ recent: "5" })',
      (m: Monitor) => m.snapshot({ recent: '5' as never }),
      TypeError,
      /opts.recent = "5" is not valid/,
    ],
    [
      'snapshot({ histograms: 1 })',
      (m: Monitor) => m.snapshot({ histograms: 1 as never }),
      TypeError,
      /opts.histograms = 1 is not valid: expected true or false/,
    ],
    [
      'snapshot(null)',
      (m: Monitor) => m.snapshot(null as never),
      TypeError,
      /snapshot\(opts\): opts must be an object/,
    ],
    [
      'recent(NaN)',
      (m: Monitor) => m.recent(Number.NaN),
      RangeError,
      /recent\(n\): n = NaN is not valid: expected an integer ≥ 0 or Infinity/,
    ],
    ['recent(1.5)', (m: Monitor) => m.recent(1.5), RangeError, /recent\(n\): n = 1.5/],
    ['byType("x", -2)', (m: Monitor) => m.byType('x', -2), RangeError, /byType\(type, n\): n = -2/],
    [
      'slowEvents({ limit: -1 })',
      (m: Monitor) => m.slowEvents({ limit: -1 }),
      RangeError,
      /slowEvents\(query\): query.limit = -1 is not valid: expected an integer ≥ 0 or Infinity/,
    ],
    [
      'slowEvents({ limit: NaN })',
      (m: Monitor) => m.slowEvents({ limit: Number.NaN }),
      RangeError,
      /query.limit = NaN/,
    ],
    [
      'slowEvents({ type: 5 })',
      (m: Monitor) => m.slowEvents({ type: 5 as never }),
      TypeError,
      /query.type = 5 is not valid: expected a string/,
    ],
  ])('%s throws a clear error, not "Invalid array length"', (_, call, kind, msg) => {
    const m = createMonitor({ sampling: 1 })
    m.record('x', 'slow', 5000)
    expect(() => call(m)).toThrow(kind)
    expect(() => call(m)).toThrow(msg)
  })

  it('recent, snapshot and slowEvents still take 0 and Infinity', () => {
    const m = createMonitor({ sampling: 1 })
    m.record('x', 'slow', 5000)
    expect(m.recent(0)).toEqual([])
    expect(m.recent(Number.POSITIVE_INFINITY)).toHaveLength(1)
    expect(m.snapshot({ recent: 0, slow: Number.POSITIVE_INFINITY }).slow).toHaveLength(1)
    expect(m.slowEvents({ limit: 0 })).toEqual([])
  })

  it('a counter never leaves the finite numbers: a sum past ±1.8e308 is refused, so JSON never carries null', () => {
    const m = createMonitor({ maxOps: 1 })
    m.count('bytes', 'in', 1e308)
    expect(() => m.count('bytes', 'in', 1e308)).toThrow(
      new RangeError(
        `count("bytes", "in", n): adding 1e+308 to 1e+308 would leave the finite numbers (±${Number.MAX_VALUE}); the counter keeps 1e+308`,
      ),
    )
    m.count('bytes', 'in', -1e308)
    // The overflow counter is guarded the same way.
    m.count('bytes', 'other', -1e308)
    expect(() => m.count('bytes', 'more', -1e308)).toThrow(RangeError)
    const s = m.snapshot()
    expect(s.counters.bytes).toEqual({ in: 0, [OVERFLOW_NAME]: -1e308 })
    expect(s.totals.rejected).toBe(2)
    expect(JSON.stringify(s)).not.toContain('null')
  })
})

describe('op names', () => {
  it('keeps names an object would read from its prototype, or as an index, as ops of their own', () => {
    const m = createMonitor({ sampling: 0 })
    const names = [
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      '0',
      '01',
      '-0',
      '1e3',
      '4294967295',
    ]
    for (const [i, name] of names.entries()) {
      for (let k = 0; k <= i; k++) m.record('t', name, 1)
      m.op('u', name).record(2)
    }
    m.record('t', '__proto__', 1)
    const s = m.snapshot()
    const counts = Object.fromEntries(s.types.t!.ops.map((o) => [o.name, o.count]))
    expect(counts).toEqual(Object.fromEntries(names.map((n, i) => [n, n === '__proto__' ? 2 : i + 1])))
    expect(s.types.u!.ops.map((o) => o.name).sort()).toEqual([...names].sort())
    void m.close()
  })
})

describe('type cap', () => {
  it('folds types past maxTypes into one <overflow> type and counts what it folded', () => {
    const m = createMonitor({ maxTypes: 3, sampling: 0 })
    for (let i = 0; i < 1000; i++) m.record(`t${i}`, 'q', 1)
    m.count('t999', 'n', 2)
    m.op('t500', 'h').record(1)
    const s = m.snapshot()
    expect(Object.keys(s.types)).toEqual(['t0', 't1', 't2', OVERFLOW_NAME])
    expect(s.types[OVERFLOW_NAME]!.count).toBe(998)
    expect(s.types[OVERFLOW_NAME]!.ops.map((o) => o.name)).toEqual(['q', 'h'])
    expect(s.counters[OVERFLOW_NAME]).toEqual({ n: 2 })
    expect(s.totals.foldedTypes).toBe(997 + 1 + 1)
    expect(s.totals.events).toBe(1001)
    // Memory stays that of maxTypes + 1 types however many distinct types arrive.
    expect(JSON.stringify(s).length).toBeLessThan(20_000)
  })

  it('counts every record of a folded type, the same type in a row and an own type of the overflow name too', () => {
    // record() skips the type lookup when the type is the one it looked up last: a type that folds
    // others must not be kept as that, or records after the first in a row would not be counted.
    const m = createMonitor({ maxTypes: 2, sampling: 0 })
    m.record(OVERFLOW_NAME, 'own', 1)
    m.record('t1', 'q', 1)
    m.record(OVERFLOW_NAME, 'own', 1)
    for (let i = 0; i < 5; i++) m.record('t2', 'q', 1)
    // The app's own type of that name now folds others: its records count as folded from here on.
    for (let i = 0; i < 3; i++) m.record(OVERFLOW_NAME, 'own', 1)
    for (let i = 0; i < 4; i++) m.record('t3', 'q', 1)
    const s = m.snapshot()
    expect(Object.keys(s.types)).toEqual([OVERFLOW_NAME, 't1'])
    expect(s.totals.foldedTypes).toBe(5 + 3 + 4)
    expect(s.types[OVERFLOW_NAME]!.count).toBe(2 + 5 + 3 + 4)
    expect(s.totals.events).toBe(15)
    void m.close()
  })

  it('counts as folded what handles record into a type once it folds others, made before or after', () => {
    const m = createMonitor({ maxTypes: 2, sampling: 0 })
    const before = m.op(OVERFLOW_NAME, 'own')
    before.record(1)
    m.record('t1', 'q', 1)
    expect(m.snapshot().totals.foldedTypes).toBe(0)
    m.record('t2', 'q', 1) // past maxTypes: the app's own type of that name folds others from here on
    expect(m.snapshot().totals.foldedTypes).toBe(1)
    before.record(1)
    m.op(OVERFLOW_NAME, 'own').record(1)
    m.op('t3', 'q').record(1)
    const s = m.snapshot()
    expect(s.totals.foldedTypes).toBe(1 + 3)
    expect(s.totals.events).toBe(6)
    expect(s.types[OVERFLOW_NAME]!.ops.map((o) => [o.name, o.count])).toEqual([
      ['own', 3],
      ['q', 2],
    ])
    void m.close()
  })

  it('is an option with a sensible default, validated', () => {
    expect(createMonitor().config.maxTypes).toBe(100)
    expect(() => createMonitor({ maxTypes: 0 })).toThrow(
      new RangeError('options.maxTypes = 0 is not valid: expected an integer from 1 to 10000'),
    )
    expect(() => createMonitor({ maxTypes: '5' as never })).toThrow(TypeError)
  })

  it('distinct long types sharing a prefix do not grow the monitor', () => {
    const m = createMonitor({ maxTypes: 2 })
    const prefix = 'p'.repeat(64)
    for (let i = 0; i < 500; i++) m.record(`${prefix}${i}`, 'n', 1)
    const state = monitorState(m)!
    expect(state.types.size).toBe(1)
    expect(m.snapshot().types[prefix]!.count).toBe(500)
  })
})

describe('sink backpressure', () => {
  /**
   * A sink whose write never settles, counting its calls and how many overlap. Like a real write in
   * progress (a socket, a file), each unsettled call holds on to its batch.
   */
  function stuckSink() {
    const seen = { calls: 0, concurrent: 0, maxConcurrent: 0, events: 0 }
    const held: (readonly PerfEvent[])[] = []
    const sink: Sink = {
      name: 'stuck',
      write(events) {
        held.push(events)
        seen.calls++
        seen.events += events.length
        seen.maxConcurrent = Math.max(seen.maxConcurrent, ++seen.concurrent)
        return new Promise<void>(() => {})
      },
    }
    return { sink, seen }
  }

  it('keeps one write in flight per sink, bounds what waits by sinkMaxQueue and counts the rest as dropped', async () => {
    vi.useFakeTimers()
    const { sink, seen } = stuckSink()
    const m = createMonitor({ sampling: 1, sinks: [sink], sinkIntervalMs: 10, sinkMaxQueue: 100 })
    for (let round = 0; round < 150; round++) {
      for (let i = 0; i < 50; i++) m.record('db', 'q', 1)
      await vi.advanceTimersByTimeAsync(10)
    }
    expect(seen.calls).toBe(1)
    expect(seen.maxConcurrent).toBe(1)
    const t = m.snapshot().totals
    expect(t.sinkInFlight).toBe(50)
    expect(t.sinkQueued).toBe(100)
    expect(t.sinkDropped).toBe(150 * 50 - 50 - 100)
    expect(t.kept).toBe(150 * 50)
  })

  it('close() waits for a write in flight up to sinkCloseTimeoutMs, then resolves and counts what it abandoned', async () => {
    vi.useFakeTimers()
    const { sink, seen } = stuckSink()
    let closedHook = false
    sink.close = () => {
      closedHook = true
    }
    const m = createMonitor({
      sampling: 1,
      sinks: [sink],
      sinkIntervalMs: 10,
      sinkMaxQueue: 100,
      sinkCloseTimeoutMs: 2000,
    })
    for (let i = 0; i < 30; i++) m.record('db', 'q', 1)
    await vi.advanceTimersByTimeAsync(10)
    for (let i = 0; i < 20; i++) m.record('db', 'q', 1)
    let resolved = false
    const closing = m.close().then(() => {
      resolved = true
    })
    await vi.advanceTimersByTimeAsync(1999)
    expect(resolved).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await closing
    expect(resolved).toBe(true)
    expect(closedHook).toBe(true)
    expect(seen.calls).toBe(1)
    const s = m.snapshot()
    expect(s.totals.sinkAbandoned).toBe(50)
    expect(s.totals.sinkQueued).toBe(0)
    expect(s.lastInternalError).toMatch(
      /sink stuck: close\(\) abandoned 50 items still in flight or waiting after 2000 ms/,
    )
  })

  it('a slow sink that settles gets every event, in bigger batches, one call at a time; close() abandons nothing', async () => {
    vi.useFakeTimers()
    const batches: number[] = []
    let concurrent = 0
    let maxConcurrent = 0
    const sink: Sink = {
      async write(events) {
        batches.push(events.length)
        maxConcurrent = Math.max(maxConcurrent, ++concurrent)
        await new Promise((r) => setTimeout(r, 35))
        concurrent--
      },
    }
    const m = createMonitor({ sampling: 1, sinks: [sink], sinkIntervalMs: 10 })
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) m.record('db', 'q', 1)
      await vi.advanceTimersByTimeAsync(10)
    }
    const closing = m.close()
    await vi.advanceTimersByTimeAsync(200)
    await closing
    expect(maxConcurrent).toBe(1)
    expect(batches.reduce((a, b) => a + b, 0)).toBe(200)
    expect(batches.length).toBeLessThan(20)
    expect(m.snapshot().totals).toMatchObject({
      sinkDropped: 0,
      sinkAbandoned: 0,
      sinkInFlight: 0,
      sinkQueued: 0,
    })
  })

  it('aggregates and samples get the same rule: one call in flight per hook', async () => {
    vi.useFakeTimers()
    let aggregateCalls = 0
    let sampleCalls = 0
    const m = monitorInternals(
      createMonitor({
        sliceMs: 1000,
        windowMs: 10_000,
        sinkMaxQueue: 5,
        sinks: [
          {
            writeAggregates: () => {
              aggregateCalls++
              return new Promise<void>(() => {})
            },
            writeSamples: () => {
              sampleCalls++
              return new Promise<void>(() => {})
            },
          },
        ],
      }),
    )
    for (let s = 0; s < 10; s++) {
      m.record('db', 'q', 1)
      m.writeSamples([{ timestamp: s, pid: 1, rss: 1 }])
      await vi.advanceTimersByTimeAsync(1000)
    }
    expect(aggregateCalls).toBe(1)
    expect(sampleCalls).toBe(1)
    const t = m.snapshot().totals
    expect(t.sinkInFlight).toBe(2)
    expect(t.sinkQueued).toBe(10)
    expect(t.sinkDropped).toBe(8)
  })

  it('holds memory flat under a never-settling sink (heap after GC)', async () => {
    vi.useFakeTimers()
    const { sink } = stuckSink()
    const m = createMonitor({ sampling: 1, sinks: [sink], sinkIntervalMs: 10, sinkMaxQueue: 1000 })
    gc()
    const before = process.memoryUsage().heapUsed
    // 100 k kept events with ~500 bytes of metadata each: about 70 MB if every batch were held.
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < 1000; i++) {
        m.record('db', 'q', 1, { metadata: { pad: `${round}-${i}-`.padEnd(500, 'x') } })
      }
      await vi.advanceTimersByTimeAsync(10)
    }
    gc()
    const grown = process.memoryUsage().heapUsed - before
    expect(m.snapshot().totals.sinkQueued).toBeLessThanOrEqual(1000)
    expect(grown).toBeLessThan(30 * 1024 * 1024)
  })

  it('validates sinkCloseTimeoutMs', () => {
    expect(createMonitor().config.sinkCloseTimeoutMs).toBe(5000)
    expect(() => createMonitor({ sinkCloseTimeoutMs: -1 })).toThrow(
      new RangeError('options.sinkCloseTimeoutMs = -1 is not valid: expected an integer from 0 to 600000'),
    )
  })
})

describe('close hands the slice in progress to sinks', () => {
  it('a sink receives the aggregates of a slice that had not ended when the monitor closed', async () => {
    const got: OpAggregate[] = []
    const m = createMonitor({
      sliceMs: 60_000,
      windowMs: 60_000,
      sinks: [{ writeAggregates: (a) => void got.push(...a) }],
    })
    for (let i = 0; i < 10; i++) m.record('http', 'GET /a', 2 + i)
    m.record('db', 'SELECT x', 1, { error: true })
    await m.close()
    const byName = Object.fromEntries(got.map((a) => [a.name, a]))
    expect(byName['GET /a']).toMatchObject({
      type: 'http',
      count: 10,
      errors: 0,
      sumMs: 65,
      minMs: 2,
      maxMs: 11,
    })
    expect(byName['SELECT x']).toMatchObject({ count: 1, errors: 1 })
    // Nothing counted twice: the all-time totals hold each event once.
    expect(got.reduce((n, a) => n + a.count, 0)).toBe(11)
  })
})
