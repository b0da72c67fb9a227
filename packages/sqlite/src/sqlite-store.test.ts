import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMonitor, type OpAggregate, type PerfEvent } from '@perf/core'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { monitorDatabase } from './monitor-database.js'
import { SqliteStore } from './sqlite-store.js'
import { SCHEMA_VERSION } from './store-schema.js'

let dir: string
let file: string
const stores: SqliteStore[] = []

function open(opts: Partial<ConstructorParameters<typeof SqliteStore>[0]> = {}): SqliteStore {
  const store = new SqliteStore({ path: file, flushIntervalMs: 3_600_000, ...opts })
  stores.push(store)
  return store
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
    const store = open()
    const inner = (store as unknown as { db: Database.Database }).db
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
    const h = store.history({ type: 'http', since: Date.now() - 60_000, limit: 1000 })
    expect(h.events).toHaveLength(251)
    expect(h.events[0]).toEqual(failed)
    expect(h.events[1]).toEqual(batch[249])
    expect(store.history({ type: 'http', name: 'POST /notes' }).events).toHaveLength(1)
    expect(store.history({ type: 'db' }).events).toHaveLength(0)
    expect(store.history({ limit: 10 }).events).toHaveLength(10)
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
    const h = store.history({ type: 'db', name: 'SELECT notes', since: t, until: t + 3_600_000 })
    expect(h.points.map((p) => [p.start, p.count, p.errors, p.minMs, p.maxMs])).toEqual([
      [t, 4, 1, 0, 2],
      [t + 60_000, 2, 0, 1, 1],
    ])
    expect(h.points[0]?.avgMs).toBe(3 / 4)
    const fiveMin = store.history({ type: 'db', since: t, until: t + 3_600_000, bucketMs: 300_000 })
    expect(fiveMin.points.map((p) => [p.name, p.count])).toEqual([
      ['INSERT notes', 1],
      ['SELECT notes', 6],
    ])
    expect(fiveMin.points[0]?.p50Ms).toBeGreaterThan(0)
  })

  it('persists process samples and thins them to the limit', async () => {
    const store = open()
    const now = Date.now()
    store.writeSamples(
      Array.from({ length: 100 }, (_, i) => ({ timestamp: now - 100_000 + i * 1000, pid: 9, rss: i })),
    )
    await store.flush()
    const all = store.history({ since: now - 200_000 })
    expect(all.samples).toHaveLength(100)
    expect(all.samples[3]).toEqual({ timestamp: now - 97_000, pid: 9, rss: 3 })
    const thin = store.history({ since: now - 200_000, limit: 10 })
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
    await new Promise((r) => setTimeout(r, 50))
    expect(store.stats().persisted).toBe(50)
  })

  it('writes on the flush interval', async () => {
    const store = open({ flushIntervalMs: 20 })
    store.write([event(1)])
    await new Promise((r) => setTimeout(r, 200))
    expect(store.stats().persisted).toBe(1)
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
    expect(second.history({ since: 0 }).events).toHaveLength(1)
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
    const store = open()
    // The store's own connection may not grow the file: SQLite reports "database or disk is full".
    const inner = (store as unknown as { db: Database.Database }).db
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
    r.close()
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

  it('rejects bad options and history queries with errors naming them', () => {
    expect(() => new SqliteStore(undefined as never)).toThrow(/options must be an object/)
    expect(() => open({ path: '' })).toThrow(/options.path = "" is not valid/)
    expect(() => open({ batchSize: 0 })).toThrow(/batchSize = 0 is not valid: expected an integer from 1/)
    expect(() => open({ maxQueue: 1.5 })).toThrow(/maxQueue/)
    expect(() => open({ flushOnExit: 'yes' as never })).toThrow(/flushOnExit/)
    const store = open()
    expect(() => store.history({ since: 10, until: 5 })).toThrow(/since .* is after until/)
    expect(() => store.history({ bucketMs: 90_000 })).toThrow(/whole number of minutes/)
    expect(() => store.history({ since: Number.NaN })).toThrow(/since/)
    expect(store.history({ since: new Date(0), until: new Date() }).events).toEqual([])
  })
})

describe('SqliteStore: the file deleted or replaced while open', () => {
  function rows(path: string): number {
    const r = new Database(path, { readonly: true })
    try {
      return r.prepare('SELECT count(*) FROM perf_events').pluck().get() as number
    } finally {
      r.close()
    }
  }

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
    expect(store.history({ limit: 100 }).events).toHaveLength(7)

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
