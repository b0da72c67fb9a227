import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { threadId, type Worker } from 'node:worker_threads'
import { join } from 'node:path'
import {
  Aggregate,
  addHistograms,
  bucketIndex,
  bucketValue,
  createMonitor,
  type OpAggregate,
  type PerfEvent,
  type SparseHistogram,
} from '@perf/core'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { PackedItems } from './handover.js'
import { monitorDatabase } from './monitor-database.js'
import { SqliteStore } from './sqlite-store.js'
import { MIGRATIONS, SCHEMA_VERSION } from './store-schema.js'

let dir: string
let file: string
const stores: SqliteStore[] = []

function open(opts: Partial<ConstructorParameters<typeof SqliteStore>[0]> = {}): SqliteStore {
  const store = new SqliteStore({ path: file, flushIntervalMs: 3_600_000, ...opts })
  stores.push(store)
  return store
}

/** A message a `thread: true` store posts to its worker. */
type WorkerMessage = { op?: string; packed?: PackedItems; items?: unknown }

/** The worker of a `thread: true` store. */
function workerOf(store: SqliteStore): Worker {
  return (store as unknown as { backend: { worker: Worker } }).backend.worker
}

/**
 * Routes each message `store` posts to its worker through `spy`, with a function that posts it (and
 * its transfer list): `spy` decides when, and whether, to call it. Returns the worker.
 */
function spyOnPosts(store: SqliteStore, spy: (msg: WorkerMessage, post: () => void) => void): Worker {
  const worker = workerOf(store)
  const post = worker.postMessage.bind(worker)
  worker.postMessage = (msg: WorkerMessage, transfer?: Parameters<Worker['postMessage']>[1]) =>
    spy(msg, () => post(msg, transfer))
  return worker
}

/** Events in the file at `path`, read by a connection of its own. */
function rows(path: string): number {
  const r = new Database(path, { readonly: true })
  try {
    return r.prepare('SELECT count(*) FROM perf_events').pluck().get() as number
  } finally {
    r.close()
  }
}

/** Resolves once `cond()` holds; fails the test if it still does not after `ms`. */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms: ${cond.toString()}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** The connection of a `thread: false` store. */
function connection(store: SqliteStore): Database.Database {
  return (store as unknown as { backend: { file: { connection: Database.Database } } }).backend.file
    .connection
}

function event(i: number, over: Partial<PerfEvent> = {}): PerfEvent {
  return {
    type: 'http',
    name: 'GET /notes',
    timestamp: Date.now() - 1000 + i,
    durationMs: i / 10,
    pid: 1,
    error: null,
    slow: false,
    requestId: `r${i}`,
    metadata: { i },
    ...over,
  }
}

function aggregate(start: number, values: number[], over: Partial<OpAggregate> = {}): OpAggregate {
  // Build the sparse histogram the monitor would: one bucket per distinct value is enough here.
  const offset = 100
  const counts = [0, 0, 0]
  for (const v of values) counts[v]!++
  return {
    type: 'db',
    name: 'SELECT notes',
    start,
    end: start + 10_000,
    count: values.length,
    errors: 0,
    slow: 0,
    sumMs: values.reduce((a, b) => a + b, 0),
    minMs: Math.min(...values),
    maxMs: Math.max(...values),
    histogram: { offset, counts },
    ...over,
  }
}

const MINUTE = 60_000
const HOUR = 3_600_000

/** Slice aggregates of real monitor histograms: `n` events of `ms` on each op, at `start`. */
function measured(start: number, ops: Record<string, number>, n: number, type = 'http'): OpAggregate[] {
  const monitor = createMonitor()
  for (const [name, ms] of Object.entries(ops)) for (let i = 0; i < n; i++) monitor.record(type, name, ms)
  const out = monitor.snapshot({ histograms: true }).types[type]!.ops.map(
    (o): OpAggregate => ({
      type,
      name: o.name,
      start,
      end: start + MINUTE,
      count: o.count,
      errors: o.errors,
      slow: o.slow,
      sumMs: o.avgMs * o.count,
      minMs: o.minMs,
      maxMs: o.maxMs,
      histogram: o.histogram!,
    }),
  )
  void monitor.close()
  return out
}

/** Sums minute (or hour) rows per op the slow, obvious way, for comparing with the store. */
function sumRows(rows: { name: string; count: number; sum_ms: number; histogram: string }[]) {
  const out = new Map<string, { count: number; sum: number; h: SparseHistogram }>()
  for (const r of rows) {
    const prev = out.get(r.name) ?? { count: 0, sum: 0, h: { offset: 0, counts: [] } }
    const h = addHistograms(prev.h, JSON.parse(r.histogram) as SparseHistogram)
    out.set(r.name, { count: prev.count + r.count, sum: prev.sum + r.sum_ms, h })
  }
  return out
}

function raw(): Database.Database {
  return new Database(file, { readonly: true })
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perf-store-'))
  file = join(dir, 'perf.db')
})

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('SqliteStore', () => {
  it('creates a WAL file with synchronous=NORMAL and a versioned schema', () => {
    const store = open({ thread: false })
    const inner = connection(store)
    expect(inner.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(inner.pragma('synchronous', { simple: true })).toBe(1)
    const r = raw()
    expect(r.prepare("SELECT value FROM perf_meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    )
    r.close()
  })

  it('persists kept events in batches and gives them back through history()', async () => {
    const store = open({ batchSize: 100 })
    const batch = Array.from({ length: 250 }, (_, i) => event(i))
    store.write(batch)
    const failed = event(1000, {
      error: 'boom',
      slow: true,
      name: 'POST /notes',
      requestId: null,
      metadata: null,
    })
    store.write([failed])
    expect(store.stats()).toMatchObject({ recorded: 251, queued: 251, persisted: 0 })
    await store.flush()
    expect(store.stats()).toMatchObject({ recorded: 251, persisted: 251, queued: 0, dropped: 0, batches: 3 })
    expect(store.stats().lastFlushAt).toBeGreaterThan(0)
    const h = await store.history({ type: 'http', since: Date.now() - 60_000, limit: 1000 })
    expect(h.events).toHaveLength(251)
    expect(h.events[0]).toEqual(failed)
    expect(h.events[1]).toEqual(batch[249])
    expect((await store.history({ type: 'http', name: 'POST /notes' })).events).toHaveLength(1)
    expect((await store.history({ type: 'db' })).events).toHaveLength(0)
    expect((await store.history({ limit: 10 })).events).toHaveLength(10)
  })

  it('merges aggregates per minute and per op, exactly, and answers with percentiles per bucket', async () => {
    const store = open()
    const t = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000
    store.writeAggregates([aggregate(t, [0, 0, 1]), aggregate(t + 20_000, [2], { errors: 1 })])
    store.writeAggregates([aggregate(t + 60_000, [1, 1]), aggregate(t, [2], { name: 'INSERT notes' })])
    await store.flush()
    const r = raw()
    expect(r.prepare('SELECT count(*) FROM perf_aggregates').pluck().get()).toBe(3)
    r.close()
    const h = await store.history({ type: 'db', name: 'SELECT notes', since: t, until: t + 3_600_000 })
    expect(h.points.map((p) => [p.start, p.count, p.errors, p.minMs, p.maxMs])).toEqual([
      [t, 4, 1, 0, 2],
      [t + 60_000, 2, 0, 1, 1],
    ])
    expect(h.points[0]?.avgMs).toBe(3 / 4)
    const fiveMin = await store.history({ type: 'db', since: t, until: t + 3_600_000, bucketMs: 300_000 })
    expect(fiveMin.points.map((p) => [p.name, p.count])).toEqual([
      ['INSERT notes', 1],
      ['SELECT notes', 6],
    ])
    expect(fiveMin.points[0]?.p50Ms).toBeGreaterThan(0)
  })

  it('three ops at 1, 10 and 100 ms: the type p50 is 10 ms from merged histograms, each op exact', async () => {
    const store = open()
    const t = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR
    const ops = { 'GET /fast': 1, 'GET /mid': 10, 'GET /slow': 100 }
    for (let m = 0; m < 5; m++) store.writeAggregates(measured(t + m * MINUTE, ops, 20))
    await store.flush()
    for (const bucketMs of [5 * MINUTE, HOUR]) {
      const h = await store.history({ type: 'http', since: t, until: t + HOUR - 1, bucketMs })
      expect(h.types).toHaveLength(1)
      const [all] = h.types
      expect(all).toMatchObject({ type: 'http', start: t, count: 300, minMs: 1, maxMs: 100, sumMs: 11_100 })
      // Truth: the 150th of 300 values is 10 ms; the slowest op's p50 would be 100 ms.
      expect(Math.abs(all!.p50Ms - 10) / 10).toBeLessThanOrEqual(1 / 32)
      expect(all!.p50Ms).toBe(bucketValue(bucketIndex(10)))
      expect(Math.abs(all!.p99Ms - 100) / 100).toBeLessThanOrEqual(1 / 32)
      expect(h.points.map((p) => [p.name, p.count, p.sumMs, p.p50Ms, p.p99Ms, p.minMs, p.maxMs])).toEqual([
        ['GET /fast', 100, 100, 1, 1, 1, 1],
        ['GET /mid', 100, 1000, 10, 10, 10, 10],
        ['GET /slow', 100, 10_000, 100, 100, 100, 100],
      ])
      for (const p of h.points) expect(p.histogram).toEqual({ offset: bucketIndex(p.minMs), counts: [100] })
      expect(all!.histogram.counts.reduce((a, b) => a + b, 0)).toBe(300)
    }
  })

  it('keeps hourly roll-ups equal to the sum of their minutes, and answers the same from either', async () => {
    const store = open()
    const t = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR
    for (let m = 0; m < 180; m += 7) {
      store.writeAggregates(
        measured(t + m * MINUTE, { 'GET /a': 0.2 + m / 10, 'GET /b': 30 + m }, 1 + (m % 4)),
      )
      // A second slice of the same minute (a second process, or slices shorter than a minute).
      if (m % 3 === 0) store.writeAggregates(measured(t + m * MINUTE + 30_000, { 'GET /a': 5 }, 2))
    }
    await store.flush()
    const r = raw()
    const q = 'SELECT name, count, sum_ms, min_ms, max_ms, histogram FROM'
    for (let hour = t; hour < t + 3 * HOUR; hour += HOUR) {
      const minutes = sumRows(
        r.prepare(`${q} perf_aggregates WHERE minute >= ? AND minute < ?`).all(hour, hour + HOUR) as never,
      )
      const hours = sumRows(r.prepare(`${q} perf_hours WHERE hour = ?`).all(hour) as never)
      expect(hours.size).toBe(2)
      expect(hours).toEqual(minutes)
    }
    r.close()
    const byMinute = await store.history({ since: t, until: t + 3 * HOUR - 1, bucketMs: MINUTE })
    const byHour = await store.history({ since: t, until: t + 3 * HOUR - 1, bucketMs: HOUR })
    expect(byHour.types).toHaveLength(3)
    for (const p of byHour.types) {
      const a = new Aggregate()
      for (const m of byMinute.types) if (m.start >= p.start && m.start < p.start + HOUR) a.add(m)
      const { histogram, ...stats } = p
      expect({ type: 'http', start: p.start, ...a.stats(), histogram: a.histogramJSON() }).toEqual({
        ...stats,
        sumMs: expect.closeTo(stats.sumMs, 9),
        avgMs: expect.closeTo(stats.avgMs, 9),
        histogram,
      })
    }
  })

  it('reads a long range in pages, yielding the event loop between them, and misses no row', async () => {
    const store = open()
    const t = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR
    const ops: Record<string, number> = {}
    for (let i = 0; i < 25; i++) ops[`GET /r${i}`] = 1 + i
    for (let m = 0; m < 100; m++) store.writeAggregates(measured(t + m * MINUTE, ops, 1))
    await store.flush()
    let yielded = false
    setImmediate(() => {
      yielded = true
    })
    const h = await store.history({ since: t, until: t + 5 * HOUR, bucketMs: 10 * MINUTE, ops: false })
    expect(yielded).toBe(true)
    expect(h.points).toEqual([])
    expect(h.types.reduce((n, p) => n + p.count, 0)).toBe(2500)
    expect(h.types.map((p) => p.start)).toEqual(Array.from({ length: 10 }, (_, k) => t + k * 10 * MINUTE))
  })

  it('opens a version-1 file: its minutes are kept and rolled up into hours, exactly', async () => {
    const v1 = new Database(file)
    v1.exec('CREATE TABLE perf_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
    v1.exec(MIGRATIONS[0] as string)
    v1.exec("INSERT INTO perf_meta VALUES ('schema_version', '1')")
    const t = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR
    const insert = v1.prepare('INSERT INTO perf_aggregates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    for (let m = 0; m < 120; m += 5) {
      for (const a of measured(t + m * MINUTE, { 'GET /a': 1, 'GET /b': 10 + m }, 3)) {
        insert.run(
          a.type,
          a.name,
          a.start,
          a.count,
          0,
          0,
          a.sumMs,
          a.minMs,
          a.maxMs,
          JSON.stringify(a.histogram),
        )
      }
    }
    v1.prepare(
      'INSERT INTO perf_events (ts, type, name, duration_ms, pid, error, slow) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(t, 'http', 'GET /a', 1, 1, null, 0)
    v1.close()

    const store = open()
    // The worker rolls the minutes up as soon as it has opened the file.
    await until(() => !store.stats().rollingUp)
    const r = raw()
    expect(r.prepare("SELECT value FROM perf_meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    )
    expect(r.prepare('SELECT count(*) FROM perf_aggregates').pluck().get()).toBe(48)
    const q = 'SELECT name, count, sum_ms, histogram FROM'
    for (const hour of [t, t + HOUR]) {
      const minutes = sumRows(
        r.prepare(`${q} perf_aggregates WHERE minute >= ? AND minute < ?`).all(hour, hour + HOUR) as never,
      )
      expect(sumRows(r.prepare(`${q} perf_hours WHERE hour = ?`).all(hour) as never)).toEqual(minutes)
    }
    r.close()
    const h = await store.history({ type: 'http', since: t, until: t + 2 * HOUR - 1, bucketMs: HOUR })
    expect(h.types.map((p) => p.count)).toEqual([72, 72])
    expect(h.events).toHaveLength(1)
    // New aggregates land on top of the migrated hour.
    store.writeAggregates(measured(t + 3 * MINUTE, { 'GET /a': 1 }, 4))
    await store.flush()
    const after = await store.history({
      type: 'http',
      name: 'GET /a',
      since: t,
      until: t + HOUR - 1,
      bucketMs: HOUR,
    })
    expect(after.points.map((p) => [p.count, p.p50Ms])).toEqual([[40, 1]])
  })

  it('rolls up a large version-1 file in the background, exactly, while new slices land on old minutes', async () => {
    const v1 = new Database(file)
    v1.exec('CREATE TABLE perf_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
    v1.exec(MIGRATIONS[0] as string)
    v1.exec("INSERT INTO perf_meta VALUES ('schema_version', '1')")
    const t = Math.floor(Date.now() / HOUR) * HOUR - 10 * HOUR
    const insert = v1.prepare('INSERT INTO perf_aggregates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    v1.transaction(() => {
      for (let m = 0; m < 600; m++) {
        for (const a of measured(t + m * MINUTE, { 'GET /a': 2, 'GET /b': 20 }, 1 + (m % 3))) {
          insert.run(
            a.type,
            a.name,
            a.start,
            a.count,
            m % 2,
            0,
            a.sumMs,
            a.minMs,
            a.maxMs,
            JSON.stringify(a.histogram),
          )
        }
      }
    })()
    v1.close()

    const store = open()
    // The first chunk is rolled up at once, the rest in later turns of the event loop.
    expect(store.stats().rollingUp).toBe(true)
    // Late slices: one on a minute already rolled up, one on a minute not yet rolled up.
    store.writeAggregates([
      ...measured(t + 10 * MINUTE, { 'GET /a': 3 }, 5),
      ...measured(t + 500 * MINUTE, { 'GET /b': 30 }, 7),
    ])
    await store.flush()
    // Until the roll-up is done, whole-hour buckets are read from the minutes: already exact.
    const during = await store.history({ type: 'http', since: t, until: t + 10 * HOUR - 1, bucketMs: HOUR })
    while (store.stats().rollingUp) await new Promise((r) => setTimeout(r, 5))
    const after = await store.history({ type: 'http', since: t, until: t + 10 * HOUR - 1, bucketMs: HOUR })
    expect(after.types).toEqual(during.types)
    expect(after.types.reduce((n, p) => n + p.count, 0)).toBe(2 * 1200 + 12)
    const r = raw()
    expect(r.prepare("SELECT count(*) FROM perf_meta WHERE key LIKE 'hours_backfill%'").pluck().get()).toBe(0)
    const q = 'SELECT name, count, sum_ms, histogram FROM'
    for (let hour = t; hour < t + 10 * HOUR; hour += HOUR) {
      const minutes = sumRows(
        r.prepare(`${q} perf_aggregates WHERE minute >= ? AND minute < ?`).all(hour, hour + HOUR) as never,
      )
      expect(sumRows(r.prepare(`${q} perf_hours WHERE hour = ?`).all(hour) as never)).toEqual(minutes)
    }
    r.close()
  })

  it('persists process samples and thins them to the limit', async () => {
    const store = open()
    const now = Date.now()
    store.writeSamples(
      Array.from({ length: 100 }, (_, i) => ({ timestamp: now - 100_000 + i * 1000, pid: 9, rss: i })),
    )
    await store.flush()
    const all = await store.history({ since: now - 200_000 })
    expect(all.samples).toHaveLength(100)
    expect(all.samples[3]).toEqual({ timestamp: now - 97_000, pid: 9, rss: 3 })
    const thin = await store.history({ since: now - 200_000, limit: 10 })
    expect(thin.samples).toHaveLength(10)
    expect(thin.samples.map((s) => s.rss)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
  })

  it('drops past maxQueue and counts it', async () => {
    const store = open({ maxQueue: 10 })
    store.write(Array.from({ length: 15 }, (_, i) => event(i)))
    expect(store.stats()).toMatchObject({ recorded: 15, queued: 10, dropped: 5 })
    await store.flush()
    expect(store.stats()).toMatchObject({ persisted: 10, queued: 0, dropped: 5 })
  })

  it('writes a full batch on its own, without waiting for the interval', async () => {
    const store = open({ batchSize: 50 })
    store.write(Array.from({ length: 50 }, (_, i) => event(i)))
    // The interval is an hour: only the full batch can have caused this write.
    await until(() => store.stats().persisted === 50)
    expect(store.stats()).toMatchObject({ persisted: 50, batches: 1 })
  })

  it('writes on the flush interval', async () => {
    const store = open({ flushIntervalMs: 20 })
    store.write([event(1)])
    await until(() => store.stats().persisted === 1)
    expect(store.stats()).toMatchObject({ persisted: 1, batches: 1 })
  })

  it('close() flushes everything, is idempotent, and later writes are dropped and counted', async () => {
    const store = open()
    store.write(Array.from({ length: 30 }, (_, i) => event(i)))
    const a = store.close()
    expect(store.close()).toBe(a)
    await a
    await store.close()
    expect(store.stats()).toMatchObject({ persisted: 30, closed: true, dropped: 0 })
    store.write([event(1)])
    expect(store.stats().dropped).toBe(1)
    await store.flush()
    expect(() => store.history()).toThrow(/closed/)
    const r = raw()
    expect(r.prepare('SELECT count(*) FROM perf_events').pluck().get()).toBe(30)
    r.close()
  })

  it('survives a restart: reopening keeps the data and the schema', async () => {
    const first = open()
    first.write([event(1)])
    await first.close()
    const second = open()
    expect((await second.history({ since: 0 })).events).toHaveLength(1)
  })

  it('SQLITE_BUSY: a failed write is retried and counted, never thrown, and lands once the lock is gone', async () => {
    const store = open()
    const other = new Database(file)
    other.exec('BEGIN EXCLUSIVE')
    store.write(Array.from({ length: 20 }, (_, i) => event(i)))
    await expect(store.flush()).resolves.toBeUndefined()
    const s = store.stats()
    expect(s.writeErrors).toBeGreaterThanOrEqual(1)
    expect(s.lastError).toMatch(/SQLITE_BUSY|locked/)
    expect(s.queued).toBe(20)
    expect(s.persisted).toBe(0)
    other.exec('COMMIT')
    other.close()
    await store.flush()
    expect(store.stats()).toMatchObject({ persisted: 20, queued: 0, dropped: 0 })
  })

  it('disk full (SQLITE_FULL): counted and retried, never thrown; written once there is room', async () => {
    // In-thread, to reach the store's own connection: it may not grow the file, so SQLite reports
    // "database or disk is full".
    const store = open({ thread: false })
    const inner = connection(store)
    const pages = inner.pragma('page_count', { simple: true }) as number
    inner.pragma(`max_page_count = ${pages}`)
    const big = Array.from({ length: 200 }, (_, i) => event(i, { metadata: { pad: 'x'.repeat(1000) } }))
    store.write(big)
    await expect(store.flush()).resolves.toBeUndefined()
    expect(store.stats()).toMatchObject({ persisted: 0, queued: 200, dropped: 0 })
    expect(store.stats().writeErrors).toBeGreaterThanOrEqual(1)
    expect(store.stats().lastError).toMatch(/SQLITE_FULL/)
    inner.pragma('max_page_count = 1073741823')
    await store.flush()
    expect(store.stats()).toMatchObject({ persisted: 200, queued: 0, dropped: 0 })
  })

  it('is a monitor sink: kept events and slice aggregates arrive, and its own writes are never recorded', async () => {
    const store = open()
    const monitor = createMonitor({
      sampling: 1,
      sliceMs: 20,
      windowMs: 200,
      sinks: [store],
      sinkIntervalMs: 10,
    })
    const db = monitorDatabase(new Database(':memory:'), monitor)
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)')
    for (let i = 0; i < 20; i++) db.prepare('INSERT INTO notes DEFAULT VALUES').run()
    monitor.record('http', 'GET /x', 3)
    await new Promise((r) => setTimeout(r, 100))
    await monitor.flush()
    await store.flush()
    const names = monitor.snapshot().types.db?.ops.map((o) => o.name)
    expect(names).toEqual(['CREATE TABLE notes', 'INSERT notes'])
    await monitor.close()
    db.close()
    const r = raw()
    expect(r.prepare("SELECT count(*) FROM perf_events WHERE name = 'INSERT notes'").pluck().get()).toBe(20)
    expect(
      r.prepare("SELECT sum(count) FROM perf_aggregates WHERE name = 'INSERT notes'").pluck().get(),
    ).toBe(20)
    expect(r.prepare("SELECT count(*) FROM perf_events WHERE name LIKE '%perf_%'").pluck().get()).toBe(0)
    r.close()
  })

  it('deletes rows past the retention', async () => {
    const first = open()
    const old = Date.now() - 3 * 86_400_000
    first.write([event(1, { timestamp: old }), event(2)])
    first.writeSamples([{ timestamp: old, pid: 1, rss: 1 }])
    first.writeAggregates([aggregate(old, [1])])
    await first.close()
    await open({ retentionDays: 1 }).close()
    const r = raw()
    expect(r.prepare('SELECT count(*) FROM perf_events').pluck().get()).toBe(1)
    expect(r.prepare('SELECT count(*) FROM perf_samples').pluck().get()).toBe(0)
    expect(r.prepare('SELECT count(*) FROM perf_aggregates').pluck().get()).toBe(0)
    expect(r.prepare('SELECT count(*) FROM perf_hours').pluck().get()).toBe(0)
    r.close()
  })

  it('prunes a large backlog in chunks, yielding the event loop between them (in-thread)', async () => {
    await open().close()
    const w = new Database(file)
    const insert = w.prepare(
      "INSERT INTO perf_events (ts, type, name, duration_ms, pid, error, slow) VALUES (?, 'http', 'GET /', 1, 1, NULL, 0)",
    )
    const old = Date.now() - 3 * 86_400_000
    w.transaction(() => {
      for (let i = 0; i < 9000; i++) insert.run(old + i)
    })()
    w.close()
    const store = open({ retentionDays: 1, thread: false })
    // The constructor deleted one chunk; the rest waits for later turns of the event loop.
    const r = raw()
    const left = () => r.prepare('SELECT count(*) FROM perf_events').pluck().get() as number
    expect(left()).toBeGreaterThan(0)
    expect(left()).toBeLessThan(9000)
    while (left() > 0) await new Promise((done) => setImmediate(done))
    r.close()
    expect(store.stats().writeErrors).toBe(0)
  })

  it('an unusable path or file is a clear error at construction', () => {
    expect(() => open({ path: join(dir, 'missing', 'perf.db') })).toThrow(
      /cannot open .*missing.*writable file path in an existing directory/,
    )
    mkdirSync(join(dir, 'adir'))
    expect(() => open({ path: join(dir, 'adir') })).toThrow(/SqliteStore: /)
    const corrupt = join(dir, 'corrupt.db')
    writeFileSync(corrupt, Buffer.alloc(8192, 0x5a))
    expect(() => open({ path: corrupt })).toThrow(
      /corrupt\.db" is not a usable SQLite store: .*not a database/,
    )
    const newer = join(dir, 'newer.db')
    const n = new Database(newer)
    n.exec(
      "CREATE TABLE perf_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO perf_meta VALUES ('schema_version', '99')",
    )
    n.close()
    expect(() => open({ path: newer })).toThrow(/schema version 99, newer than/)
  })

  it('rejects bad options and history queries with errors naming them', async () => {
    expect(() => new SqliteStore(undefined as never)).toThrow(/options must be an object/)
    expect(() => open({ path: '' })).toThrow(/options.path = "" is not valid/)
    expect(() => open({ batchSize: 0 })).toThrow(/batchSize = 0 is not valid: expected an integer from 1/)
    expect(() => open({ maxQueue: 1.5 })).toThrow(/maxQueue/)
    expect(() => open({ flushOnExit: 'yes' as never })).toThrow(/flushOnExit/)
    const store = open()
    expect(() => store.history({ since: 10, until: 5 })).toThrow(/since .* is after until/)
    expect(() => store.history({ bucketMs: 90_000 })).toThrow(/whole number of minutes/)
    expect(() => store.history({ since: Number.NaN })).toThrow(/since/)
    expect((await store.history({ since: new Date(0), until: new Date() })).events).toEqual([])
  })
})

describe('SqliteStore: the file deleted or replaced while open', () => {
  it.each([
    ['the database file', ['']],
    ['the database file and its -wal and -shm', ['', '-wal', '-shm']],
  ])('deleting %s: the next flush counts it and writes into a new file at the path', async (_, suffixes) => {
    const store = open()
    store.write(Array.from({ length: 10 }, (_, i) => event(i)))
    await store.flush()
    expect(rows(file)).toBe(10)
    for (const s of suffixes) rmSync(file + s, { force: true })
    expect(existsSync(file)).toBe(false)

    store.write(Array.from({ length: 7 }, (_, i) => event(100 + i)))
    await store.flush()
    expect(existsSync(file)).toBe(true)
    expect(rows(file)).toBe(7)
    expect(store.stats()).toMatchObject({ reopened: 1, persisted: 17, queued: 0, dropped: 0, writeErrors: 0 })
    expect(store.stats().lastError).toMatch(/was deleted while open/)
    expect((await store.history({ limit: 100 })).events).toHaveLength(7)

    // Once reopened, nothing more is counted.
    store.write([event(200)])
    await store.flush()
    expect(rows(file)).toBe(8)
    expect(store.stats().reopened).toBe(1)
  })

  it('replaced by another file (moved aside, a new one created): writes go to the file now at the path', async () => {
    const store = open()
    store.write([event(1)])
    await store.flush()
    const aside = join(dir, 'aside.db')
    for (const s of ['', '-wal', '-shm']) renameSync(file + s, aside + s)
    new Database(file).close()

    store.write([event(2), event(3)])
    await store.flush()
    expect(rows(file)).toBe(2)
    expect(store.stats()).toMatchObject({ reopened: 1, writeErrors: 0 })
    expect(store.stats().lastError).toMatch(/was replaced while open/)
    await store.close()
    expect(rows(aside)).toBe(1)
  })

  it('a path that cannot be reopened yet: the batch stays queued, errors are counted, written once it can', async () => {
    const nested = join(dir, 'sub')
    mkdirSync(nested)
    file = join(nested, 'perf.db')
    const store = open()
    store.write([event(1)])
    await store.flush()
    rmSync(nested, { recursive: true, force: true })

    store.write([event(2)])
    await store.flush()
    expect(store.stats()).toMatchObject({ reopened: 1, persisted: 1, queued: 1, dropped: 0 })
    expect(store.stats().writeErrors).toBeGreaterThanOrEqual(1)
    expect(store.stats().lastError).toMatch(/cannot open/)

    mkdirSync(nested)
    await store.flush()
    expect(store.stats()).toMatchObject({ reopened: 1, persisted: 2, queued: 0, dropped: 0 })
    expect(rows(file)).toBe(1)
  })
})

describe('SqliteStore: writes and reads in a worker thread', () => {
  it('writes from its own worker thread by default, and from the app thread with thread: false', async () => {
    const store = open()
    store.write([event(1), event(2)])
    await store.flush()
    const s = store.stats()
    expect(s).toMatchObject({ persisted: 2, writeErrors: 0 })
    expect(s.threadId).toBeGreaterThan(0)
    expect(s.threadId).not.toBe(threadId)
    expect(rows(file)).toBe(2)

    const local = open({ path: join(dir, 'local.db'), thread: false })
    local.write([event(3)])
    await local.flush()
    expect(local.stats()).toMatchObject({ persisted: 1, threadId })
  })

  it('a worker that dies is replaced: the batch stays queued, is counted, and lands from a new worker', async () => {
    const store = open()
    store.write([event(1)])
    await store.flush()
    const first = store.stats().threadId
    const worker = workerOf(store)
    await worker.terminate()
    store.write([event(2)])
    await store.flush()
    const s = store.stats()
    expect(s).toMatchObject({ persisted: 2, queued: 0, dropped: 0 })
    expect(s.threadId).not.toBe(first)
    expect(s.threadId).not.toBe(threadId)
    expect(rows(file)).toBe(2)
  })

  it('hands a batch to its worker in slices, giving the event loop back between them', async () => {
    const store = open()
    const sizes: number[] = []
    spyOnPosts(store, (msg, post) => {
      if (msg.packed !== undefined) sizes.push(msg.packed.kind.length)
      post()
    })
    let turns = 0
    let spinning = true
    const spin = () => {
      turns++
      if (spinning) setImmediate(spin)
    }
    setImmediate(spin)
    store.write(Array.from({ length: 1000 }, (_, i) => event(i)))
    const before = turns
    await store.flush()
    spinning = false
    // One structured clone of 1,000 events held the app's thread in one piece.
    expect(sizes).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    expect(turns - before).toBeGreaterThanOrEqual(9)
    expect(store.stats()).toMatchObject({ persisted: 1000, queued: 0, batches: 1 })
    expect(rows(file)).toBe(1000)
  })

  it("hands the monitor's events over in columns: no object per event in the message, its arrays moved", async () => {
    const store = open()
    const sent: PackedItems[] = []
    /** Per message: events in columns, events as objects (read before the arrays move). */
    const counts: number[][] = []
    spyOnPosts(store, (msg, post) => {
      expect(msg.items).toBeUndefined()
      const p = msg.packed
      if (p !== undefined) {
        sent.push(p)
        counts.push([p.kind.filter((k) => k !== 0).length, p.others.filter((o) => o.k === 0).length])
      }
      post()
    })
    const monitor = createMonitor({ sampling: 1, sinks: [store], sinkIntervalMs: 10, slowMs: { http: 5 } })
    monitor.record('http', 'GET /a', 1)
    monitor.record('http', 'GET /a', 9, { metadata: { route: '/a', note: 'é ✓ 𝄞' }, requestId: 'req-1' })
    monitor.record('http', 'POST /b', 2, { error: new Error('boom') })
    await monitor.flush()
    await store.flush()
    await monitor.close()
    // Every kind of event the monitor keeps (plain, slow with details and an id, failed) went in columns.
    expect(counts.reduce((a, c) => [a[0]! + c[0]!, a[1]! + c[1]!], [0, 0])).toEqual([3, 0])
    // Transferred: the app's thread no longer holds the arrays' bytes (a copy would leave them).
    for (const p of sent) {
      expect([p.kind.byteLength, p.num.byteLength, p.lens.byteLength, p.text.byteLength]).toEqual([
        0, 0, 0, 0,
      ])
    }
    await store.flush()
    expect(store.stats()).toMatchObject({ writeErrors: 0, queued: 0 })
    expect(rows(file)).toBe(3)
  })

  it('writes from its worker exactly the rows an in-thread store writes, whatever the items', async () => {
    const t = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE
    const odd = { ...event(7), type: 5 } as unknown as PerfEvent
    // Made once, so both stores get the same timestamps.
    const first = [
      event(0),
      event(1, { error: 'SQLITE_BUSY: database is locked', slow: true, requestId: null }),
      event(2, { metadata: null, durationMs: -0, name: 'GET /é ✓ 𝄞 \ud800' }),
      event(3, { metadata: { nested: { list: [1, 'two', null] }, at: new Date(0) } as never }),
    ]
    const second = [event(4, { pid: 4_000_000, timestamp: t + 0.5 }), odd]
    // Past one slice of the hand-over, so the worker joins staged slices with the last one.
    const third = Array.from({ length: 150 }, (_, i) => event(10 + i, { name: `GET /${i % 3}` }))
    const items = (store: SqliteStore) => {
      store.write(first)
      store.writeAggregates([aggregate(t, [0, 1])])
      store.write(second)
      store.writeSamples([{ timestamp: t, pid: 9, rss: 1 }])
      store.write(third)
    }
    const inWorker = open()
    const inThread = open({ path: join(dir, 'in-thread.db'), thread: false })
    for (const store of [inWorker, inThread]) {
      items(store)
      await store.flush()
      expect(store.stats()).toMatchObject({ persisted: 158, writeErrors: 0, queued: 0 })
    }
    const dump = (path: string) => {
      const r = new Database(path, { readonly: true })
      try {
        return ['perf_events ORDER BY id', 'perf_aggregates ORDER BY minute, name', 'perf_samples'].map((q) =>
          r.prepare(`SELECT * FROM ${q}`).raw().all(),
        )
      } finally {
        r.close()
      }
    }
    const fromWorker = dump(file)
    expect(fromWorker[0]).toHaveLength(156)
    expect(fromWorker).toEqual(dump(join(dir, 'in-thread.db')))
  })

  it('a worker that dies while a batch is handed over: the batch lands whole, once, from a new worker', async () => {
    const store = open()
    let slices = 0
    const worker = spyOnPosts(store, (msg, post) => {
      post()
      // Killed after its third slice: those slices die with it.
      if (msg.op === 'stage' && ++slices === 3) void worker.terminate()
    })
    store.write(Array.from({ length: 1000 }, (_, i) => event(i)))
    await store.flush()
    await until(() => store.stats().persisted === 1000)
    expect(store.stats()).toMatchObject({ persisted: 1000, queued: 0, dropped: 0 })
    expect(rows(file)).toBe(1000)
  })

  it('a hand-over that fails part-way leaves nothing behind: the batch lands once, whole', async () => {
    const store = open()
    let slices = 0
    spyOnPosts(store, (msg, post) => {
      // The first hand-over's third slice cannot be posted; its first two are already in the worker.
      if (msg.op === 'stage' && ++slices === 3) throw new Error('could not post')
      post()
    })
    store.write(Array.from({ length: 1000 }, (_, i) => event(i)))
    await store.flush()
    expect(store.stats()).toMatchObject({ persisted: 1000, queued: 0, writeErrors: 1 })
    expect(rows(file)).toBe(1000)
  })

  it('prunes a large backlog past the retention in the worker', async () => {
    await open().close()
    const w = new Database(file)
    const insert = w.prepare(
      "INSERT INTO perf_events (ts, type, name, duration_ms, pid, error, slow) VALUES (?, 'http', 'GET /', 1, 1, NULL, 0)",
    )
    const old = Date.now() - 3 * 86_400_000
    w.transaction(() => {
      for (let i = 0; i < 9000; i++) insert.run(old + i)
    })()
    w.close()
    const store = open({ retentionDays: 1 })
    await until(() => rows(file) === 0)
    expect(store.stats().writeErrors).toBe(0)
  })

  it('close() ends the worker after writing everything', async () => {
    const store = open()
    const worker = workerOf(store)
    const exited = new Promise((r) => worker.once('exit', r))
    store.write(Array.from({ length: 30 }, (_, i) => event(i)))
    await store.close()
    await exited
    expect(store.stats()).toMatchObject({ persisted: 30, closed: true, dropped: 0 })
    expect(rows(file)).toBe(30)
  })

  it('rejects a bad thread option', () => {
    expect(() => open({ thread: 'yes' as never })).toThrow(/SqliteStore options.thread = yes is not valid/)
  })
})
