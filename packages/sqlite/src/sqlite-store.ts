import {
  addHistograms,
  checkNumber,
  type OpAggregate,
  type PerfEvent,
  percentiles,
  type ProcessSample,
  type Sink,
  type SparseHistogram,
} from '@perf/core'
import { onShutdown } from '@perf/core/node'
import Database from 'better-sqlite3'
import { migrate } from './store-schema.js'

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** The SQLite file (created if missing; its directory must exist). `':memory:'` keeps nothing across restarts. */
  path: string
  /** How often queued items are written, in ms. Default 5000. */
  flushIntervalMs?: number
  /** Items written per transaction. Default 1000. */
  batchSize?: number
  /** Items waiting to be written before new ones are dropped (and counted). Default 10 000. */
  maxQueue?: number
  /** Rows older than this are deleted, in days; 0 keeps everything. Default 30. */
  retentionDays?: number
  /** Flush and close on SIGTERM/SIGINT, then let the process exit as it would have. Default false. */
  flushOnExit?: boolean
}

/** Counters of a {@link SqliteStore}. */
export interface SqliteStoreStats {
  readonly path: string
  /** Items (events, aggregates, samples) handed to the store. */
  readonly recorded: number
  /** Items written to the file. */
  readonly persisted: number
  /** Items waiting to be written. */
  readonly queued: number
  /** Items dropped: queue full, written after close, or still unwritable at close. */
  readonly dropped: number
  /** Transactions committed. */
  readonly batches: number
  /** Write attempts that failed (each is retried). */
  readonly writeErrors: number
  /** When the last batch was committed, ms since the epoch, or `null`. */
  readonly lastFlushAt: number | null
  /** How long the last batch blocked the event loop, ms. */
  readonly lastBatchMs: number
  /** The longest any batch blocked the event loop, ms. */
  readonly maxBatchMs: number
  readonly lastError: string | null
  readonly closed: boolean
}

/** A query of {@link SqliteStore.history}. */
export interface HistoryQuery {
  /** Only this op type (e.g. `http`, `db`). */
  type?: string
  /** Only this op name (with `type`). */
  name?: string
  /** Start, ms since the epoch (or a Date). Default: one hour before `until`. */
  since?: number | Date
  /** End, ms since the epoch (or a Date). Default: now. */
  until?: number | Date
  /** Width of each point, a whole number of minutes in ms. Default 60 000. */
  bucketMs?: number
  /** Most events and process samples returned. Default 500. */
  limit?: number
}

/** One op over one bucket of time. */
export interface HistoryPoint {
  readonly type: string
  readonly name: string
  /** Bucket start, ms since the epoch. */
  readonly start: number
  readonly count: number
  readonly errors: number
  readonly slow: number
  readonly errorRate: number
  readonly avgMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
}

/** The answer to {@link SqliteStore.history}. */
export interface History {
  readonly since: number
  readonly until: number
  readonly bucketMs: number
  /** Per op per bucket, oldest first. */
  readonly points: HistoryPoint[]
  /** Kept events, newest first. */
  readonly events: PerfEvent[]
  /** Process samples, oldest first (evenly thinned to `limit`). */
  readonly samples: ProcessSample[]
}

const MINUTE = 60_000
const DAY = 86_400_000
const PRUNE_EVERY_MS = 3_600_000
const PRUNE_CHUNK = 10_000

type Item = { k: 0; e: PerfEvent } | { k: 1; a: OpAggregate } | { k: 2; s: ProcessSample }

/**
 * A {@link Sink} that persists the monitor's kept events, per-minute per-op aggregates and process
 * samples to a SQLite file, so history survives restarts. Writes are queued and committed in
 * batches (one transaction each, WAL, `synchronous = NORMAL`) on a separate raw connection, so they
 * are never recorded by the monitor. A failed write (SQLITE_BUSY, disk full) is retried and counted,
 * never thrown into the app.
 *
 * @example
 * const store = new SqliteStore({ path: 'perf.db', flushOnExit: true })
 * const monitor = createMonitor({ sinks: [store] })
 */
export class SqliteStore implements Sink {
  readonly name: string = 'sqlite'
  readonly path: string
  /** Whether the store flushes on SIGTERM/SIGINT; monitors feeding it then flush their queues first. */
  readonly flushOnExit: boolean
  private readonly db: Database.Database
  private readonly flushIntervalMs: number
  private readonly batchSize: number
  private readonly maxQueue: number
  private readonly retentionMs: number
  private queue: Item[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private soon: ReturnType<typeof setImmediate> | undefined
  private flushing: Promise<void> | undefined
  private closing: Promise<void> | undefined
  private offShutdown: (() => void) | undefined
  private failures = 0
  private lastPrune = 0
  private counts = { recorded: 0, persisted: 0, dropped: 0, batches: 0, writeErrors: 0 }
  private lastFlushAt: number | null = null
  private lastBatchMs = 0
  private maxBatchMs = 0
  private lastError: string | null = null
  private closed = false
  private readonly insertEvent: Database.Statement
  private readonly selectAggregate: Database.Statement
  private readonly upsertAggregate: Database.Statement
  private readonly insertSample: Database.Statement
  private readonly writeBatch: (items: readonly Item[]) => void

  /** Opens (or creates) the file and brings its schema up to date; throws a clear error if it cannot. */
  constructor(options: SqliteStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('new SqliteStore(options): options must be an object with a path')
    }
    const { path } = options
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError(
        `SqliteStore options.path = ${JSON.stringify(path)} is not valid: expected a file path`,
      )
    }
    this.path = path
    this.flushIntervalMs = checkNumber(
      'SqliteStore options.flushIntervalMs',
      options.flushIntervalMs ?? 5000,
      {
        min: 10,
        max: 3_600_000,
        integer: true,
      },
    )
    this.batchSize = checkNumber('SqliteStore options.batchSize', options.batchSize ?? 1000, {
      min: 1,
      max: 100_000,
      integer: true,
    })
    this.maxQueue = checkNumber('SqliteStore options.maxQueue', options.maxQueue ?? 10_000, {
      min: 1,
      max: 10_000_000,
      integer: true,
    })
    this.retentionMs =
      checkNumber('SqliteStore options.retentionDays', options.retentionDays ?? 30, { min: 0, max: 36_500 }) *
      DAY
    const flushOnExit = options.flushOnExit ?? false
    if (typeof flushOnExit !== 'boolean') {
      throw new TypeError(
        `SqliteStore options.flushOnExit = ${String(flushOnExit)} is not valid: expected true or false`,
      )
    }

    let db: Database.Database
    try {
      // timeout 0: a locked file fails at once and is retried later, instead of blocking the event loop.
      db = new Database(path, { timeout: 0 })
    } catch (err) {
      throw new Error(
        `SqliteStore: cannot open ${JSON.stringify(path)}: ${message(err)}; expected a writable file path in an existing directory`,
        { cause: err },
      )
    }
    try {
      if (db.readonly) throw new Error('the file is read-only')
      if (path !== ':memory:') db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      migrate(db, path)
    } catch (err) {
      db.close()
      throw new Error(
        `SqliteStore: ${JSON.stringify(path)} is not a usable SQLite store: ${message(err)}; move the file aside or choose another path`,
        { cause: err },
      )
    }
    this.db = db
    this.insertEvent = db.prepare(
      'INSERT INTO perf_events (ts, type, name, duration_ms, pid, error, slow, request_id, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    this.selectAggregate = db.prepare(
      'SELECT count, errors, slow, sum_ms, min_ms, max_ms, histogram FROM perf_aggregates WHERE type = ? AND name = ? AND minute = ?',
    )
    this.upsertAggregate = db.prepare(
      'INSERT OR REPLACE INTO perf_aggregates (type, name, minute, count, errors, slow, sum_ms, min_ms, max_ms, histogram) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    this.insertSample = db.prepare('INSERT INTO perf_samples (ts, pid, data) VALUES (?, ?, ?)')
    this.writeBatch = db.transaction((items: readonly Item[]) => {
      for (const item of items) {
        if (item.k === 0) this.writeEvent(item.e)
        else if (item.k === 1) this.writeAggregate(item.a)
        else this.writeSample(item.s)
      }
    })
    this.prune()
    this.flushOnExit = flushOnExit
    if (flushOnExit) this.offShutdown = onShutdown(() => this.close())
  }

  /** Queues kept events (sink hook). Never throws. */
  write(events: readonly PerfEvent[]): void {
    for (const e of events) this.push({ k: 0, e })
  }

  /** Queues per-op slice aggregates (sink hook); they are merged per minute when written. */
  writeAggregates(aggregates: readonly OpAggregate[]): void {
    for (const a of aggregates) this.push({ k: 1, a })
  }

  /** Queues process-health samples (sink hook). */
  writeSamples(samples: readonly ProcessSample[]): void {
    for (const s of samples) this.push({ k: 2, s })
  }

  private push(item: Item): void {
    this.counts.recorded++
    if (this.closed || this.closing !== undefined || this.queue.length >= this.maxQueue) {
      this.counts.dropped++
      return
    }
    this.queue.push(item)
    if (this.queue.length >= this.batchSize) {
      // A full batch is written on the next turn rather than inside the caller's tick.
      if (this.soon === undefined && this.failures === 0) {
        this.soon = setImmediate(() => {
          this.soon = undefined
          void this.drain(false)
        })
        this.soon.unref()
      }
    } else if (this.timer === undefined) {
      this.schedule(this.flushIntervalMs)
    }
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.drain(false)
    }, ms)
    this.timer.unref()
  }

  /** Writes everything queued now (retrying a failed batch a few times). Never rejects. */
  flush(): Promise<void> {
    return this.drain(true)
  }

  private drain(explicit: boolean): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.flushing !== undefined) {
      // One writer at a time; an explicit flush waits for the running one, then writes what is left.
      return explicit ? this.flushing.then(() => this.drain(true)) : this.flushing
    }
    const run = this.drainLoop(explicit).finally(() => {
      this.flushing = undefined
    })
    this.flushing = run
    return run
  }

  private async drainLoop(explicit: boolean): Promise<void> {
    let attempts = 0
    while (this.queue.length > 0 && !this.closed) {
      const n = Math.min(this.batchSize, this.queue.length)
      const batch = this.queue.slice(0, n)
      if (this.commit(batch)) {
        this.queue.splice(0, n)
        attempts = 0
      } else if (explicit && ++attempts < 4) {
        await delay(25 * 4 ** attempts)
        continue
      } else {
        // Back off: 0.25 s, 0.5 s, … up to the flush interval, then the timer retries.
        const wait = Math.min(this.flushIntervalMs, 250 * 2 ** Math.min(this.failures - 1, 10))
        if (this.timer !== undefined) clearTimeout(this.timer)
        this.timer = undefined
        this.schedule(wait)
        return
      }
      // Yield between batches so a long queue never holds the event loop for more than one batch.
      if (this.queue.length > 0) await new Promise<void>((r) => setImmediate(r))
    }
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) this.prune()
  }

  /** One transaction. Returns whether it committed. */
  private commit(batch: readonly Item[]): boolean {
    const t0 = performance.now()
    try {
      this.writeBatch(batch)
    } catch (err) {
      this.failures++
      this.counts.writeErrors++
      this.lastError = `${new Date().toISOString()} ${message(err)}`
      return false
    }
    const ms = performance.now() - t0
    this.failures = 0
    this.counts.persisted += batch.length
    this.counts.batches++
    this.lastFlushAt = Date.now()
    this.lastBatchMs = ms
    if (ms > this.maxBatchMs) this.maxBatchMs = ms
    return true
  }

  private writeEvent(e: PerfEvent): void {
    this.insertEvent.run(
      e.timestamp,
      e.type,
      e.name,
      e.durationMs,
      e.pid,
      e.error,
      e.slow ? 1 : 0,
      e.requestId,
      e.metadata === null ? null : JSON.stringify(e.metadata),
    )
  }

  private writeAggregate(a: OpAggregate): void {
    const minute = Math.floor(a.start / MINUTE) * MINUTE
    const prev = this.selectAggregate.get(a.type, a.name, minute) as AggregateRow | undefined
    if (prev === undefined) {
      this.upsertAggregate.run(
        a.type,
        a.name,
        minute,
        a.count,
        a.errors,
        a.slow,
        a.sumMs,
        a.minMs,
        a.maxMs,
        JSON.stringify(a.histogram),
      )
      return
    }
    // Slices shorter than a minute, or two processes sharing the file, merge exactly.
    const merged = addHistograms(JSON.parse(prev.histogram) as SparseHistogram, a.histogram)
    this.upsertAggregate.run(
      a.type,
      a.name,
      minute,
      prev.count + a.count,
      prev.errors + a.errors,
      prev.slow + a.slow,
      prev.sum_ms + a.sumMs,
      Math.min(prev.min_ms, a.minMs),
      Math.max(prev.max_ms, a.maxMs),
      JSON.stringify(merged),
    )
  }

  private writeSample(s: ProcessSample): void {
    const { timestamp, pid, ...data } = s
    this.insertSample.run(timestamp, pid, JSON.stringify(data))
  }

  /** Deletes rows past the retention, a chunk at a time so no single statement blocks for long. */
  private prune(): void {
    this.lastPrune = Date.now()
    if (this.retentionMs === 0) return
    const cutoff = Date.now() - this.retentionMs
    try {
      const chunks = [
        'DELETE FROM perf_events WHERE id IN (SELECT id FROM perf_events WHERE ts < ? LIMIT ?)',
        'DELETE FROM perf_samples WHERE id IN (SELECT id FROM perf_samples WHERE ts < ? LIMIT ?)',
        'DELETE FROM perf_aggregates WHERE (type, name, minute) IN (SELECT type, name, minute FROM perf_aggregates WHERE minute < ? LIMIT ?)',
      ].map((sql) => this.db.prepare(sql))
      for (const stmt of chunks) {
        for (let k = 0; k < 100 && stmt.run(cutoff, PRUNE_CHUNK).changes === PRUNE_CHUNK; k++);
      }
    } catch (err) {
      this.counts.writeErrors++
      this.lastError = `${new Date().toISOString()} retention: ${message(err)}`
    }
  }

  /** Counters: recorded, persisted, queued, dropped, batches, write errors, last flush, last error. */
  stats(): SqliteStoreStats {
    return {
      path: this.path,
      ...this.counts,
      queued: this.queue.length,
      lastFlushAt: this.lastFlushAt,
      lastBatchMs: this.lastBatchMs,
      maxBatchMs: this.maxBatchMs,
      lastError: this.lastError,
      closed: this.closed,
    }
  }

  /**
   * Per-op per-bucket aggregates, kept events and process samples between `since` and `until`,
   * for the dashboard's history view. Throws a `TypeError`/`RangeError` naming a bad query field.
   */
  history(query: HistoryQuery = {}): History {
    if (this.closed) throw new Error('SqliteStore.history(): the store is closed')
    const until = time('until', query.until, Date.now())
    const since = time('since', query.since, until - 3_600_000)
    if (since > until) throw new RangeError(`history(): since (${since}) is after until (${until})`)
    const bucketMs = checkNumber('history() bucketMs', query.bucketMs ?? MINUTE, {
      min: MINUTE,
      max: 366 * DAY,
      integer: true,
    })
    if (bucketMs % MINUTE !== 0) {
      throw new RangeError(
        `history() bucketMs = ${bucketMs} is not valid: expected a whole number of minutes in ms`,
      )
    }
    const limit = checkNumber('history() limit', query.limit ?? 500, { min: 0, max: 100_000, integer: true })
    const { type, name } = query
    if (type !== undefined && typeof type !== 'string') throw new TypeError('history() type must be a string')
    if (name !== undefined && typeof name !== 'string') throw new TypeError('history() name must be a string')

    const where: string[] = []
    const args: unknown[] = []
    if (type !== undefined) {
      where.push('type = ?')
      args.push(type)
    }
    if (name !== undefined) {
      where.push('name = ?')
      args.push(name)
    }
    const filter = where.length > 0 ? ` AND ${where.join(' AND ')}` : ''

    const rows = this.db
      .prepare(
        `SELECT type, name, minute, count, errors, slow, sum_ms, min_ms, max_ms, histogram FROM perf_aggregates WHERE minute >= ? AND minute <= ?${filter} ORDER BY minute`,
      )
      .all(Math.floor(since / MINUTE) * MINUTE, until, ...args) as (AggregateRow & {
      type: string
      name: string
      minute: number
    })[]
    const buckets = new Map<string, Bucket>()
    for (const r of rows) {
      const start = Math.floor(r.minute / bucketMs) * bucketMs
      const key = `${start}\u0000${r.type}\u0000${r.name}`
      const h = JSON.parse(r.histogram) as SparseHistogram
      const b = buckets.get(key)
      if (b === undefined) {
        buckets.set(key, {
          type: r.type,
          name: r.name,
          start,
          count: r.count,
          errors: r.errors,
          slow: r.slow,
          sum: r.sum_ms,
          min: r.min_ms,
          max: r.max_ms,
          h,
        })
      } else {
        b.count += r.count
        b.errors += r.errors
        b.slow += r.slow
        b.sum += r.sum_ms
        b.min = Math.min(b.min, r.min_ms)
        b.max = Math.max(b.max, r.max_ms)
        b.h = addHistograms(b.h, h)
      }
    }
    const points: HistoryPoint[] = []
    for (const b of buckets.values()) {
      points.push({
        type: b.type,
        name: b.name,
        start: b.start,
        count: b.count,
        errors: b.errors,
        slow: b.slow,
        errorRate: b.count > 0 ? b.errors / b.count : 0,
        avgMs: b.count > 0 ? b.sum / b.count : 0,
        minMs: b.min,
        maxMs: b.max,
        ...percentiles(b.h, b.count, b.min, b.max),
      })
    }
    points.sort((a, b) => a.start - b.start || cmp(a.type, b.type) || cmp(a.name, b.name))

    const events = (
      this.db
        .prepare(
          `SELECT ts, type, name, duration_ms, pid, error, slow, request_id, metadata FROM perf_events WHERE ts >= ? AND ts <= ?${filter} ORDER BY ts DESC, id DESC LIMIT ?`,
        )
        .all(since, until, ...args, limit) as EventRow[]
    ).map(
      (r): PerfEvent => ({
        type: r.type,
        name: r.name,
        timestamp: r.ts,
        durationMs: r.duration_ms,
        pid: r.pid,
        error: r.error,
        slow: r.slow === 1,
        requestId: r.request_id,
        metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, unknown>),
      }),
    )

    const total = (
      this.db
        .prepare('SELECT count(*) AS n FROM perf_samples WHERE ts >= ? AND ts <= ?')
        .get(since, until) as {
        n: number
      }
    ).n
    const step = limit === 0 ? 1 : Math.max(1, Math.ceil(total / limit))
    const samples = (
      this.db
        .prepare(
          'SELECT ts, pid, data FROM (SELECT ts, pid, data, row_number() OVER (ORDER BY ts) AS k FROM perf_samples WHERE ts >= ? AND ts <= ?) WHERE (k - 1) % ? = 0 ORDER BY ts LIMIT ?',
        )
        .all(since, until, step, limit) as { ts: number; pid: number; data: string }[]
    ).map(
      (r): ProcessSample => ({
        ...(JSON.parse(r.data) as Record<string, number>),
        timestamp: r.ts,
        pid: r.pid,
      }),
    )

    return { since, until, bucketMs, points, events, samples }
  }

  /** Writes everything queued, then closes the file. Idempotent; later writes are dropped and counted. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing
    this.closing = (async () => {
      this.offShutdown?.()
      if (this.soon !== undefined) clearImmediate(this.soon)
      await this.drain(true)
      if (this.timer !== undefined) clearTimeout(this.timer)
      this.timer = undefined
      this.closed = true
      // What could not be written even after retries is lost; say so.
      this.counts.dropped += this.queue.length
      this.queue = []
      try {
        this.db.close()
      } catch (err) {
        this.lastError = message(err)
      }
    })()
    return this.closing
  }
}

interface AggregateRow {
  count: number
  errors: number
  slow: number
  sum_ms: number
  min_ms: number
  max_ms: number
  histogram: string
}

interface EventRow {
  ts: number
  type: string
  name: string
  duration_ms: number
  pid: number
  error: string | null
  slow: number
  request_id: string | null
  metadata: string | null
}

interface Bucket {
  type: string
  name: string
  start: number
  count: number
  errors: number
  slow: number
  sum: number
  min: number
  max: number
  h: SparseHistogram
}

function time(label: string, value: number | Date | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const ms = value instanceof Date ? value.getTime() : value
  return checkNumber(`history() ${label}`, ms, { min: 0, max: 8.64e15 })
}

function message(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
