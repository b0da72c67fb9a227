import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { threadId } from 'node:worker_threads'
import { Aggregate, type OpAggregate, type PerfEvent, type ProcessSample } from '@perf/core'
import Database from 'better-sqlite3'
import { type AggregateRow, addedColumns, rowInput } from './aggregate-row.js'
import { type PackedItems, unpackItems, type WriteEvent } from './handover.js'
import { addonMismatchHint } from './native-addon.js'
import { ReleaseRows } from './release-rows.js'
import type { History, HistoryPoint, HistoryTypePoint } from './sqlite-store.js'
import { HOUR, migrate } from './store-schema.js'

// The store's file and everything done on it: batches, retention, roll-up, history reads. It runs
// wherever its connection lives: in the store's worker thread by default (store-worker.ts), or on
// the app's thread with `thread: false`. The queue, its bounds and the counters stay in SqliteStore.

const MINUTE = 60_000
/** Rows deleted per statement by the retention prune; the thread is yielded between chunks. */
const PRUNE_CHUNK = 2_000
/** Aggregate rows read per statement by `history()`. */
const HISTORY_PAGE = 500
/** `history()` yields its thread once it has worked this long without a break, ms. */
const HISTORY_SLICE_MS = 8

/** One queued item: a kept event, a slice aggregate or a process sample. */
export type Item = { k: 0; e: PerfEvent } | { k: 1; a: OpAggregate } | { k: 2; s: ProcessSample }

/** A checked history query (see `SqliteStore.history`). */
export interface HistoryRequest {
  since: number
  until: number
  bucketMs: number
  limit: number
  type: string | undefined
  name: string | undefined
  ops: boolean
  withEvents: boolean
}

/** What the file's side knows that `stats()` reports. */
export interface FileStatus {
  /** Times the file was found deleted or replaced and reopened. */
  reopened: number
  /** Failures of retention or roll-up (batch failures are counted by the store). */
  errors: number
  lastError: string | null
  rollingUp: boolean
  /** The thread whose connection writes the file. */
  threadId: number
}

/** The outcome of one batch: committed (and how long it took, ms) or not. */
export type CommitResult = { ok: true; ms: number } | { ok: false }

/** The store's connection to its file, on the thread that writes it. */
export class StoreFile {
  private reopened = 0
  private errors = 0
  lastError: string | null = null
  private closed = false
  private pruning: Promise<void> | undefined
  /** An older file's minutes are still being rolled up into hours (see `rollUpChunks`). */
  private rollupPending = true
  private rollingUp: Promise<void> | undefined
  /** Called when background work (retention, roll-up) ends, so a worker can report its status. */
  onIdle: (() => void) | undefined
  // Replaced when the file is reopened (see `ensureFile`), hence not readonly.
  private db!: Database.Database
  private insertEvent!: Database.Statement
  private selectAggregate!: Database.Statement
  private upsertAggregate!: Database.Statement
  private selectHour!: Database.Statement
  private upsertHour!: Database.Statement
  private insertSample!: Database.Statement
  private releaseRows!: ReleaseRows
  private writeBatch!: (items: readonly Item[], packed: readonly PackedItems[]) => void
  /**
   * Which file is open (absolute path, device, inode), to notice it being deleted or replaced; none
   * for `:memory:`. The path is resolved once so a later `process.chdir()` changes nothing.
   */
  private file: { path: string; dev: number; ino: number } | undefined
  /** The file was found deleted or replaced and the old connection closed; `path` must be reopened. */
  private lost = false

  /** Opens (or creates) `path` and brings its schema up to date; throws a clear error if it cannot. */
  constructor(
    readonly path: string,
    private readonly retentionMs: number,
  ) {
    this.attach(openStore(path))
  }

  /** The raw connection, on the thread that owns it (in-thread stores: `compare()` reads through it; tests simulate a full disk). */
  get connection(): Database.Database {
    return this.db
  }

  status(): FileStatus {
    return {
      reopened: this.reopened,
      errors: this.errors,
      lastError: this.lastError,
      rollingUp: !this.closed && this.rollupState() !== undefined,
      threadId,
    }
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
    this.releaseRows = new ReleaseRows(db)
    const insertEvent = this.insertEvent
    const writeRow: WriteEvent = (ts, type, name, durationMs, pid, error, slow, requestId, metadata) => {
      insertEvent.run(ts, type, name, durationMs, pid, error, slow, requestId, metadata)
    }
    const writeItem = (item: Item): void => {
      if (item.k === 0) this.writeEvent(item.e)
      else if (item.k === 1) this.writeAggregate(item.a)
      else this.writeSample(item.s)
    }
    this.writeBatch = db.transaction((items: readonly Item[], packed: readonly PackedItems[]) => {
      for (const item of items) writeItem(item)
      for (const p of packed) unpackItems(p, writeRow, writeItem)
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
      this.reopened++
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

  /**
   * One transaction: `batch`, then `packed` (slices handed over by the app's thread, see
   * handover.ts). Returns whether it committed, and how long it took.
   */
  commit(batch: readonly Item[], packed: readonly PackedItems[] = []): CommitResult {
    const t0 = performance.now()
    try {
      this.ensureFile()
      this.writeBatch(batch, packed)
    } catch (err) {
      this.lastError = `${new Date().toISOString()} ${message(err)}`
      return { ok: false }
    }
    return { ok: true, ms: performance.now() - t0 }
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
    this.releaseRows.add(a)
  }

  private addRow(
    select: Database.Statement,
    upsert: Database.Statement,
    at: number,
    a: Omit<OpAggregate, 'start' | 'end'>,
  ): void {
    const prev = select.get(a.type, a.name, at) as AggregateRow | undefined
    upsert.run(a.type, a.name, at, ...addedColumns(a, prev))
  }

  private writeSample(s: ProcessSample): void {
    const { timestamp, pid, ...data } = s
    this.insertSample.run(timestamp, pid, JSON.stringify(data))
  }

  /** Starts the roll-up of an older file and deletes rows past the retention, unless already running. */
  maintain(): void {
    this.rollUp()
    if (this.retentionMs === 0 || this.pruning !== undefined) return
    this.pruning = this.pruneChunks().finally(() => {
      this.pruning = undefined
      this.onIdle?.()
    })
  }

  /**
   * Deletes a chunk at a time and yields the thread between chunks: days of expired rows are
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
      'DELETE FROM perf_release_minutes WHERE (release, type, name, minute) IN (SELECT release, type, name, minute FROM perf_release_minutes WHERE minute < ? LIMIT ?)',
      `DELETE FROM perf_release_hours WHERE (release, type, name, hour) IN (SELECT release, type, name, hour FROM perf_release_hours WHERE hour < ? - ${HOUR} LIMIT ?)`,
      'DELETE FROM perf_processes WHERE (pid, started_at, release) IN (SELECT pid, started_at, release FROM perf_processes WHERE last_seen < ? LIMIT ?)',
    ]
    try {
      for (const sql of sqls) {
        for (;;) {
          if (this.closed) return
          // Prepared per chunk: the connection may have been replaced (reopened) between chunks.
          if (this.db.prepare(sql).run(cutoff, PRUNE_CHUNK).changes < PRUNE_CHUNK) break
          await new Promise<void>((r) => setImmediate(r))
        }
      }
    } catch (err) {
      this.errors++
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
      this.onIdle?.()
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
        if (this.closed) return
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
      this.errors++
      this.lastError = `${new Date().toISOString()} roll-up: ${message(err)}`
    }
  }

  /** Reads a checked query (see `SqliteStore.history`), in pages, yielding its thread between them. */
  async history(q: HistoryRequest): Promise<History> {
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

  /** Stops background work at its next chunk and closes the connection. */
  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      this.db.close()
    } catch (err) {
      this.lastError = message(err)
    }
  }
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

/** Opens (or creates) the store file and brings its schema up to date; throws a clear error if it cannot. */
export function openStore(path: string): Database.Database {
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

export function message(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
