import {
  checkOptionKeys,
  Aggregate,
  type AggregateInput,
  type AggregateStats,
  checkNumber,
  type OpAggregate,
  type PerfEvent,
  type ProcessSample,
  type Sink,
  type SparseHistogram,
} from '@perf/core'
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { onShutdown } from '@perf/core/node'
import Database from 'better-sqlite3'
import { addonMismatchHint } from './native-addon.js'
import { HOUR, migrate } from './store-schema.js'

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
  /**
   * Times the file at `path` was found deleted or replaced while the store had it open. Each time,
   * the store closes the old file and opens `path` afresh (creating the schema) before writing, so
   * rows never go to a file nobody can see.
   */
  readonly reopened: number
  /** When the last batch was committed, ms since the epoch, or `null`. */
  readonly lastFlushAt: number | null
  /** How long the last batch blocked the event loop, ms. */
  readonly lastBatchMs: number
  /** The longest any batch blocked the event loop, ms. */
  readonly maxBatchMs: number
  readonly lastError: string | null
  readonly closed: boolean
  /**
   * The minutes of a file written by an older version are still being rolled up into hours, in the
   * background; until then, buckets of whole hours are read from the minutes (exact, but slower).
   */
  readonly rollingUp: boolean
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
  /**
   * Width of each point, a whole number of minutes in ms. Default 60 000. A whole number of hours
   * reads the hourly roll-ups (one row per op per hour), so ranges of days stay cheap.
   */
  bucketMs?: number
  /** Most events and process samples returned. Default 500. */
  limit?: number
  /** Return `points` per op. Default true; `false` returns only the per-type `types`. */
  ops?: boolean
  /** Return kept `events`. Default true. */
  events?: boolean
}

/**
 * Every op of one type over one bucket of time: the ops' minutes (or hours) added up exactly,
 * histograms included, and the percentiles computed from the merged histogram.
 */
export interface HistoryTypePoint extends Readonly<AggregateStats> {
  readonly type: string
  /** Bucket start, ms since the epoch. */
  readonly start: number
  /** The merged latency histogram (bucket layout of `@perf/core`), so points can be added again. */
  readonly histogram: SparseHistogram
}

/** One op over one bucket of time. */
export interface HistoryPoint extends HistoryTypePoint {
  readonly name: string
}

/** The answer to {@link SqliteStore.history}. */
export interface History {
  readonly since: number
  readonly until: number
  readonly bucketMs: number
  /** Per op per bucket, oldest first (empty with `ops: false`). */
  readonly points: HistoryPoint[]
  /** Per type per bucket, oldest first. */
  readonly types: HistoryTypePoint[]
  /** Kept events, newest first. */
  readonly events: PerfEvent[]
  /** Process samples, oldest first (evenly thinned to `limit`). */
  readonly samples: ProcessSample[]
}

const MINUTE = 60_000
const DAY = 86_400_000
const PRUNE_EVERY_MS = 3_600_000
/** Rows deleted per statement by the retention prune; the event loop is yielded between chunks. */
const PRUNE_CHUNK = 2_000
/** Aggregate rows read per statement by `history()`. */
const HISTORY_PAGE = 500
/** `history()` yields the event loop once it has worked this long without a break, ms. */
const HISTORY_SLICE_MS = 8

type Item = { k: 0; e: PerfEvent } | { k: 1; a: OpAggregate } | { k: 2; s: ProcessSample }

const STORE_OPTION_KEYS: readonly (keyof SqliteStoreOptions)[] = [
  'path',
  'flushIntervalMs',
  'batchSize',
  'maxQueue',
  'retentionDays',
  'flushOnExit',
]

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
  private pruning: Promise<void> | undefined
  /** An older file's minutes are still being rolled up into hours (see `rollUpChunks`). */
  private rollupPending = true
  private rollingUp: Promise<void> | undefined
  private counts = { recorded: 0, persisted: 0, dropped: 0, batches: 0, writeErrors: 0, reopened: 0 }
  private lastFlushAt: number | null = null
  private lastBatchMs = 0
  private maxBatchMs = 0
  private lastError: string | null = null
  private closed = false
  // Replaced when the file is reopened (see `ensureFile`), hence not readonly.
  private db!: Database.Database
  private insertEvent!: Database.Statement
  private selectAggregate!: Database.Statement
  private upsertAggregate!: Database.Statement
  private selectHour!: Database.Statement
  private upsertHour!: Database.Statement
  private insertSample!: Database.Statement
  private writeBatch!: (items: readonly Item[]) => void
  /**
   * Which file is open (absolute path, device, inode), to notice it being deleted or replaced; none
   * for `:memory:`. The path is resolved once so a later `process.chdir()` changes nothing.
   */
  private file: { path: string; dev: number; ino: number } | undefined
  /** The file was found deleted or replaced and the old connection closed; `path` must be reopened. */
  private lost = false

  /** Opens (or creates) the file and brings its schema up to date; throws a clear error if it cannot. */
  constructor(options: SqliteStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('new SqliteStore(options): options must be an object with a path')
    }
    checkOptionKeys('new SqliteStore(options)', options, STORE_OPTION_KEYS)
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

    this.attach(openStore(path))
    this.prune()
    this.flushOnExit = flushOnExit
    if (flushOnExit) this.offShutdown = onShutdown(() => this.close())
  }

  /** Takes `db` as the store's connection: prepares the writes and notes which file it is. */
  private attach(db: Database.Database): void {
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
    this.selectHour = db.prepare(
      'SELECT count, errors, slow, sum_ms, min_ms, max_ms, histogram FROM perf_hours WHERE type = ? AND name = ? AND hour = ?',
    )
    this.upsertHour = db.prepare(
      'INSERT OR REPLACE INTO perf_hours (type, name, hour, count, errors, slow, sum_ms, min_ms, max_ms, histogram) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    this.insertSample = db.prepare('INSERT INTO perf_samples (ts, pid, data) VALUES (?, ?, ?)')
    this.writeBatch = db.transaction((items: readonly Item[]) => {
      for (const item of items) {
        if (item.k === 0) this.writeEvent(item.e)
        else if (item.k === 1) this.writeAggregate(item.a)
        else this.writeSample(item.s)
      }
    })
    if (this.path === ':memory:') return
    const path = this.file?.path ?? resolve(this.path)
    const st = statSync(path)
    this.file = { path, dev: st.dev, ino: st.ino }
  }

  /**
   * Before each batch: if the file at `path` is no longer the one open (deleted, or replaced by
   * another), writes would silently go to an unlinked file. Count it, close the old connection and
   * open `path` afresh. Throws (and the batch is retried) if it cannot be reopened yet.
   */
  private ensureFile(): void {
    const file = this.file
    if (file === undefined) return
    if (!this.lost) {
      const st = statSync(file.path, { throwIfNoEntry: false })
      if (st !== undefined && st.dev === file.dev && st.ino === file.ino) return
      this.lost = true
      this.counts.reopened++
      this.lastError = `${new Date().toISOString()} ${JSON.stringify(this.path)} was ${st === undefined ? 'deleted' : 'replaced'} while open; reopening it`
      // Closed first: closing checkpoints the old WAL and removes it, so the new file cannot pick it up.
      try {
        this.db.close()
      } catch {
        // The old file is gone either way.
      }
    }
    const db = openStore(file.path)
    try {
      this.attach(db)
    } catch (err) {
      db.close()
      throw err
    }
    this.lost = false
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
      this.ensureFile()
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
    this.addRow(this.selectAggregate, this.upsertAggregate, minute, a)
    // The hour's roll-up is kept in the same transaction, so it always equals the sum of its minutes.
    // A minute of an older file not yet rolled up is left to the roll-up, which will add all of it.
    if (!this.awaitingRollup(minute, a.type, a.name)) {
      this.addRow(this.selectHour, this.upsertHour, Math.floor(a.start / HOUR) * HOUR, a)
    }
  }

  private addRow(
    select: Database.Statement,
    upsert: Database.Statement,
    at: number,
    a: Omit<OpAggregate, 'start' | 'end'>,
  ): void {
    const prev = select.get(a.type, a.name, at) as AggregateRow | undefined
    if (prev === undefined) {
      upsert.run(
        a.type,
        a.name,
        at,
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
    const m = new Aggregate().add(rowInput(prev)).add(a)
    upsert.run(
      a.type,
      a.name,
      at,
      m.count,
      m.errors,
      m.slow,
      m.sum,
      m.min,
      m.max,
      JSON.stringify(m.histogramJSON()),
    )
  }

  private writeSample(s: ProcessSample): void {
    const { timestamp, pid, ...data } = s
    this.insertSample.run(timestamp, pid, JSON.stringify(data))
  }

  /** Starts deleting rows past the retention, unless a prune is already running. */
  private prune(): void {
    this.lastPrune = Date.now()
    this.rollUp()
    if (this.retentionMs === 0 || this.pruning !== undefined) return
    this.pruning = this.pruneChunks().finally(() => {
      this.pruning = undefined
    })
  }

  /**
   * Deletes a chunk at a time and yields the event loop between chunks: days of expired rows are
   * hundreds of thousands, and one statement deleting them all would hold the app for seconds.
   */
  private async pruneChunks(): Promise<void> {
    const cutoff = Date.now() - this.retentionMs
    const sqls = [
      'DELETE FROM perf_events WHERE id IN (SELECT id FROM perf_events WHERE ts < ? LIMIT ?)',
      'DELETE FROM perf_samples WHERE id IN (SELECT id FROM perf_samples WHERE ts < ? LIMIT ?)',
      'DELETE FROM perf_aggregates WHERE (type, name, minute) IN (SELECT type, name, minute FROM perf_aggregates WHERE minute < ? LIMIT ?)',
      // An hour is kept while any of its minutes is: it is deleted once it ended before the cutoff.
      `DELETE FROM perf_hours WHERE (type, name, hour) IN (SELECT type, name, hour FROM perf_hours WHERE hour < ? - ${HOUR} LIMIT ?)`,
    ]
    try {
      for (const sql of sqls) {
        for (;;) {
          if (this.closed || this.closing !== undefined) return
          // Prepared per chunk: the connection may have been replaced (reopened) between chunks.
          if (this.db.prepare(sql).run(cutoff, PRUNE_CHUNK).changes < PRUNE_CHUNK) break
          await new Promise<void>((r) => setImmediate(r))
        }
      }
    } catch (err) {
      this.counts.writeErrors++
      this.lastError = `${new Date().toISOString()} retention: ${message(err)}`
    }
  }

  /** Where the roll-up of an older file's minutes stands, or `undefined` when there is none. */
  private rollupState(): RollupState | undefined {
    if (!this.rollupPending) return undefined
    const rows = this.db
      .prepare(
        "SELECT key, value FROM perf_meta WHERE key IN ('hours_backfill_before', 'hours_backfill_cursor')",
      )
      .all() as { key: string; value: string }[]
    const before = rows.find((r) => r.key === 'hours_backfill_before')
    if (before === undefined) {
      this.rollupPending = false
      return undefined
    }
    const cursor = rows.find((r) => r.key === 'hours_backfill_cursor')
    return {
      before: Number(before.value),
      cursor: cursor === undefined ? ['', '', -1] : (JSON.parse(cursor.value) as [string, string, number]),
    }
  }

  /** Whether the minute row `(type, name, minute)` predates this schema and is not rolled up yet. */
  private awaitingRollup(minute: number, type: string, name: string): boolean {
    // Read from the file, not memory: another process sharing it may be rolling up too.
    const st = this.rollupState()
    if (st === undefined || minute >= st.before) return false
    // Compared by SQLite, whose text order (UTF-8 bytes) is the one the cursor walks in.
    return (
      this.db
        .prepare('SELECT (?, ?, ?) > (?, ?, ?)')
        .pluck()
        .get(type, name, minute, ...st.cursor) === 1
    )
  }

  /** Starts rolling up the minutes of an older file into hours, unless done or already running. */
  private rollUp(): void {
    if (!this.rollupPending || this.rollingUp !== undefined) return
    this.rollingUp = this.rollUpChunks().finally(() => {
      this.rollingUp = undefined
    })
  }

  /**
   * Adds the minutes of an older file into their hours, `HISTORY_PAGE` rows per transaction (which
   * also moves the cursor in `perf_meta`, so each minute is added exactly once, across restarts and
   * processes), yielding the event loop between chunks.
   */
  private async rollUpChunks(): Promise<void> {
    try {
      for (;;) {
        if (this.closed || this.closing !== undefined) return
        const done = this.db
          .transaction(() => {
            const st = this.rollupState()
            if (st === undefined) return true
            // Primary-key order: a chunk is a run of one op's minutes, so few hours are touched.
            const rows = this.db
              .prepare(
                `SELECT type, name, minute AS at, count, errors, slow, sum_ms, min_ms, max_ms, histogram FROM perf_aggregates WHERE (type, name, minute) > (?, ?, ?) AND minute < ? ORDER BY type, name, minute LIMIT ${HISTORY_PAGE}`,
              )
              .all(...st.cursor, st.before) as PagedRow[]
            const hours = new Map<string, { type: string; name: string; hour: number; a: Aggregate }>()
            for (const r of rows) {
              const hour = Math.floor(r.at / HOUR) * HOUR
              const key = `${hour}\u0000${r.type}\u0000${r.name}`
              let h = hours.get(key)
              if (h === undefined)
                hours.set(key, (h = { type: r.type, name: r.name, hour, a: new Aggregate() }))
              h.a.add(rowInput(r))
            }
            for (const { type, name, hour, a } of hours.values()) {
              this.addRow(this.selectHour, this.upsertHour, hour, {
                type,
                name,
                count: a.count,
                errors: a.errors,
                slow: a.slow,
                sumMs: a.sum,
                minMs: a.min,
                maxMs: a.max,
                histogram: a.histogramJSON(),
              })
            }
            if (rows.length < HISTORY_PAGE) {
              this.db.exec(
                "DELETE FROM perf_meta WHERE key IN ('hours_backfill_before', 'hours_backfill_cursor')",
              )
              this.rollupPending = false
              return true
            }
            const last = rows[rows.length - 1]!
            this.db
              .prepare(
                "INSERT INTO perf_meta (key, value) VALUES ('hours_backfill_cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
              )
              .run(JSON.stringify([last.type, last.name, last.at]))
            return false
          })
          .immediate()
        if (done) return
        await new Promise<void>((r) => setImmediate(r))
      }
    } catch (err) {
      // Left for the next hourly maintenance (or the next open) to resume from the cursor.
      this.counts.writeErrors++
      this.lastError = `${new Date().toISOString()} roll-up: ${message(err)}`
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
      rollingUp: !this.closed && this.rollupState() !== undefined,
    }
  }

  /**
   * Per-op and per-type aggregates per bucket, kept events and process samples between `since` and
   * `until`, for the dashboard's history view. Buckets sit on multiples of `bucketMs` since the epoch
   * and are whole: the first starts at or before `since`. Each point adds the stored minutes (or, for buckets of
   * whole hours, the hourly roll-ups) exactly, histograms included, and computes its percentiles
   * from the merged histogram. Rows are read in pages with the event loop yielded between them, so
   * a range of days never holds the app for long.
   *
   * Throws a `TypeError`/`RangeError` naming a bad query field at once (not as a rejection); the
   * promise rejects if the store is closed while reading.
   */
  history(query: HistoryQuery = {}): Promise<History> {
    if (this.closed) throw new Error('SqliteStore.history(): the store is closed')
    if (query === null || typeof query !== 'object') {
      throw new TypeError('SqliteStore.history(query): query must be an object or undefined')
    }
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
    const ops = flag('ops', query.ops)
    const withEvents = flag('events', query.events)
    return this.readHistory({ since, until, bucketMs, limit, type, name, ops, withEvents })
  }

  private async readHistory(q: {
    since: number
    until: number
    bucketMs: number
    limit: number
    type: string | undefined
    name: string | undefined
    ops: boolean
    withEvents: boolean
  }): Promise<History> {
    const { since, until, bucketMs, limit, type, name } = q
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

    // Buckets of whole hours read the hourly roll-ups: 60 times fewer rows, the same sums.
    const hourly = bucketMs % HOUR === 0 && this.rollupState() === undefined
    const table = hourly ? 'perf_hours' : 'perf_aggregates'
    const at = hourly ? 'hour' : 'minute'
    // One op: its primary key is already in time order. Otherwise the time index, with the filter
    // kept off any other index (`+type`): a sort of every row of a type on each page costs more.
    const onePk = type !== undefined && name !== undefined
    const aggFilter = onePk ? filter : filter.replace(/\b(type|name) = \?/g, '+$1 = ?')
    const cols = `type, name, ${at} AS at, count, errors, slow, sum_ms, min_ms, max_ms, histogram`
    const first = `SELECT ${cols} FROM ${table} WHERE ${at} >= ? AND ${at} <= ?${aggFilter} ORDER BY ${at}, type, name LIMIT ${HISTORY_PAGE}`
    const next = `SELECT ${cols} FROM ${table} WHERE (${at}, type, name) > (?, ?, ?) AND ${at} <= ?${aggFilter} ORDER BY ${at}, type, name LIMIT ${HISTORY_PAGE}`
    const opBuckets = new Map<string, OpBuckets>()
    const typeBuckets = new Map<string, Map<number, Aggregate>>()
    const pause = this.pauser()
    // Whole buckets: the first starts at or before `since`, on a multiple of bucketMs since the epoch.
    let page = this.db
      .prepare(first)
      .all(Math.floor(since / bucketMs) * bucketMs, until, ...args) as PagedRow[]
    for (;;) {
      for (const r of page) {
        const start = Math.floor(r.at / bucketMs) * bucketMs
        const row = rowInput(r)
        let perType = typeBuckets.get(r.type)
        if (perType === undefined) typeBuckets.set(r.type, (perType = new Map()))
        bucketAt(perType, start).add(row)
        if (q.ops) {
          const key = `${r.type}\u0000${r.name}`
          let op = opBuckets.get(key)
          if (op === undefined) opBuckets.set(key, (op = { type: r.type, name: r.name, buckets: new Map() }))
          bucketAt(op.buckets, start).add(row)
        }
      }
      if (page.length < HISTORY_PAGE) break
      const last = page[page.length - 1]!
      // Keyset paging: no statement stays open across a yield, so the writer is never blocked.
      await pause(true)
      page = this.db.prepare(next).all(last.at, last.type, last.name, until, ...args) as PagedRow[]
    }

    const points: HistoryPoint[] = []
    for (const op of opBuckets.values()) {
      for (const [start, a] of op.buckets) {
        points.push({ type: op.type, name: op.name, start, ...a.stats(), histogram: a.histogramJSON() })
        await pause()
      }
    }
    points.sort((a, b) => a.start - b.start || cmp(a.type, b.type) || cmp(a.name, b.name))
    const types: HistoryTypePoint[] = []
    for (const [t, buckets] of typeBuckets) {
      for (const [start, a] of buckets) {
        types.push({ type: t, start, ...a.stats(), histogram: a.histogramJSON() })
        await pause()
      }
    }
    types.sort((a, b) => a.start - b.start || cmp(a.type, b.type))

    const events = !q.withEvents
      ? []
      : (
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

    const samples = await this.readSamples(since, until, limit, pause)
    return { since, until, bucketMs, points, types, events, samples }
  }

  /**
   * Process samples from `since` to `until`, at most `limit`: all of them if they fit, else the
   * first of each of `limit` equal slices of time between the first and the last sample, found by
   * one index seek per slice instead of reading every sample of the range.
   */
  private async readSamples(
    since: number,
    until: number,
    limit: number,
    pause: () => Promise<void>,
  ): Promise<ProcessSample[]> {
    if (limit === 0) return []
    const db = this.db
    const total = db
      .prepare('SELECT count(*) FROM perf_samples WHERE ts >= ? AND ts <= ?')
      .pluck()
      .get(since, until) as number
    let rows: SampleRow[]
    if (total <= limit) {
      rows = db
        .prepare('SELECT ts, pid, data FROM perf_samples WHERE ts >= ? AND ts <= ? ORDER BY ts, id')
        .all(since, until) as SampleRow[]
    } else {
      const first = db
        .prepare('SELECT min(ts) FROM perf_samples WHERE ts >= ? AND ts <= ?')
        .pluck()
        .get(since, until) as number
      const last = db
        .prepare('SELECT max(ts) FROM perf_samples WHERE ts >= ? AND ts <= ?')
        .pluck()
        .get(since, until) as number
      const seek = db.prepare(
        'SELECT ts, pid, data FROM perf_samples WHERE ts >= ? AND ts < ? ORDER BY ts, id LIMIT 1',
      )
      const slice = (last - first + 1) / limit
      rows = []
      for (let k = 0; k < limit; k++) {
        const row = seek.get(
          first + Math.ceil(k * slice),
          Math.min(until + 1, first + Math.ceil((k + 1) * slice)),
        ) as SampleRow | undefined
        if (row !== undefined) rows.push(row)
        await pause()
      }
    }
    const out: ProcessSample[] = []
    for (const r of rows) {
      out.push({ ...(JSON.parse(r.data) as Record<string, number>), timestamp: r.ts, pid: r.pid })
      await pause()
    }
    return out
  }

  /**
   * A function to await between units of work: it yields the event loop (and checks the store is
   * still open) once the work since the last yield has run for `HISTORY_SLICE_MS`, or when asked to
   * (between pages of rows), else resolves at once.
   */
  private pauser(): (always?: boolean) => Promise<void> {
    let since = performance.now()
    const resolved = Promise.resolve()
    return (always) => {
      if (always !== true && performance.now() - since < HISTORY_SLICE_MS) return resolved
      return new Promise<void>((r) => setImmediate(r)).then(() => {
        if (this.closed) throw new Error('SqliteStore.history(): the store was closed while reading')
        since = performance.now()
      })
    }
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

interface SampleRow {
  ts: number
  pid: number
  data: string
}

/** A stored minute or hour as the input of an {@link Aggregate}. */
function rowInput(r: AggregateRow): AggregateInput {
  return {
    count: r.count,
    errors: r.errors,
    slow: r.slow,
    sumMs: r.sum_ms,
    minMs: r.min_ms,
    maxMs: r.max_ms,
    histogram: JSON.parse(r.histogram) as SparseHistogram,
  }
}

interface RollupState {
  /** Minutes before this predate the hourly roll-ups. */
  readonly before: number
  /** The last `(type, name, minute)` rolled up (primary-key order). */
  readonly cursor: [string, string, number]
}

interface PagedRow extends AggregateRow {
  type: string
  name: string
  at: number
}

interface OpBuckets {
  readonly type: string
  readonly name: string
  readonly buckets: Map<number, Aggregate>
}

function bucketAt(buckets: Map<number, Aggregate>, start: number): Aggregate {
  let a = buckets.get(start)
  if (a === undefined) buckets.set(start, (a = new Aggregate()))
  return a
}

function flag(label: string, value: unknown): boolean {
  if (value === undefined) return true
  if (typeof value !== 'boolean') {
    throw new TypeError(`history() ${label} = ${String(value)} is not valid: expected true or false`)
  }
  return value
}

/** Opens (or creates) the store file and brings its schema up to date; throws a clear error if it cannot. */
function openStore(path: string): Database.Database {
  let db: Database.Database
  try {
    // timeout 0: a locked file fails at once and is retried later, instead of blocking the event loop.
    db = new Database(path, { timeout: 0 })
  } catch (err) {
    const hint = addonMismatchHint(err)
    if (hint !== undefined) throw new Error(`SqliteStore: ${hint}`, { cause: err })
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
  return db
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
