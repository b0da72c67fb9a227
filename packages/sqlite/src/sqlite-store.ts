import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import {
  type AggregateStats,
  checkNumber,
  checkOptionKeys,
  type OpAggregate,
  type PerfEvent,
  type ProcessSample,
  type Sink,
  type SparseHistogram,
} from '@perf/core'
import { onShutdown } from '@perf/core/node'
import {
  type CommitResult,
  type FileStatus,
  type HistoryRequest,
  type Item,
  message,
  StoreFile,
} from './store-engine.js'
import { packItems } from './handover.js'
import type { WorkerData, WorkerReply, WorkerRequest } from './store-worker.js'
import type Database from 'better-sqlite3'
import {
  type CompareQuery,
  type Comparison,
  compareStoreAsync,
  listReleases,
  openStoreReadOnly,
  type ReleaseInfo,
} from './compare.js'

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
  /**
   * Where the file is written and read. Default `true`: a `worker_threads` worker with its own
   * connection runs every batch, the retention prune, the roll-up and `history()`, so none of them
   * holds the app's event loop; the app's thread only queues items and hands each batch over.
   * `false` does all of it on the app's thread, for runtimes without workers or bundles that cannot
   * ship the worker's file (`dist/store-worker.js`).
   */
  thread?: boolean
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
  /** How long the last batch took to write, ms (on the writing thread: see `threadId`). */
  readonly lastBatchMs: number
  /** The longest any batch took to write, ms. */
  readonly maxBatchMs: number
  readonly lastError: string | null
  readonly closed: boolean
  /**
   * The minutes of a file written by an older version are still being rolled up into hours, in the
   * background; until then, buckets of whole hours are read from the minutes (exact, but slower).
   */
  readonly rollingUp: boolean
  /**
   * The `threadId` of the thread whose connection writes (and reads) the file: the store's worker
   * by default, the app's own thread with `thread: false`.
   */
  readonly threadId: number
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
const STORE_OPTION_KEYS: readonly (keyof SqliteStoreOptions)[] = [
  'path',
  'flushIntervalMs',
  'batchSize',
  'maxQueue',
  'retentionDays',
  'flushOnExit',
  'thread',
]

/**
 * A {@link Sink} that persists the monitor's kept events, per-minute per-op aggregates and process
 * samples to a SQLite file, so history survives restarts. Writes are queued and committed in
 * batches (one transaction each, WAL, `synchronous = NORMAL`) on a separate raw connection, so they
 * are never recorded by the monitor. By default that connection lives in a worker thread, so
 * batches, retention and `history()` reads never hold the app's event loop (see `thread`). A failed write (SQLITE_BUSY, disk full) is retried and counted,
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
  private readonly backend: Backend
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
  private closed = false

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

    const thread = options.thread ?? true
    if (typeof thread !== 'boolean') {
      throw new TypeError(
        `SqliteStore options.thread = ${String(thread)} is not valid: expected true (a worker thread) or false (the app's thread)`,
      )
    }

    this.lastPrune = Date.now()
    if (thread) {
      this.backend = new WorkerBackend(path, this.retentionMs)
    } else {
      const file = new StoreFile(path, this.retentionMs)
      file.maintain()
      this.backend = new LocalBackend(file)
    }
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
      if (await this.commit(batch)) {
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
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS && !this.closed) {
      this.lastPrune = Date.now()
      this.backend.maintain()
    }
  }

  /** One transaction, on the writing thread. Resolves with whether it committed. */
  private async commit(batch: Item[]): Promise<boolean> {
    const r = this.backend.commit(batch)
    const result = r instanceof Promise ? await r : r
    if (!result.ok) {
      this.failures++
      this.counts.writeErrors++
      return false
    }
    this.failures = 0
    this.counts.persisted += batch.length
    this.counts.batches++
    this.lastFlushAt = Date.now()
    this.lastBatchMs = result.ms
    if (result.ms > this.maxBatchMs) this.maxBatchMs = result.ms
    return true
  }

  /** Counters: recorded, persisted, queued, dropped, batches, write errors, last flush, last error. */
  stats(): SqliteStoreStats {
    const st = this.backend.status()
    return {
      path: this.path,
      ...this.counts,
      writeErrors: this.counts.writeErrors + st.errors,
      reopened: st.reopened,
      queued: this.queue.length,
      lastFlushAt: this.lastFlushAt,
      lastBatchMs: this.lastBatchMs,
      maxBatchMs: this.maxBatchMs,
      lastError: st.lastError,
      closed: this.closed,
      rollingUp: !this.closed && st.rollingUp,
      threadId: st.threadId,
    }
  }

  /**
   * Per-op and per-type aggregates per bucket, kept events and process samples between `since` and
   * `until`, for the dashboard's history view. Buckets sit on multiples of `bucketMs` since the epoch
   * and are whole: the first starts at or before `since`. Each point adds the stored minutes (or, for buckets of
   * whole hours, the hourly roll-ups) exactly, histograms included, and computes its percentiles
   * from the merged histogram. Rows are read on the writing thread (the worker by default), in pages
   * with that thread yielded between them, so a range of days never holds the app for long.
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
    return this.backend.history({ since, until, bucketMs, limit, type, name, ops, withEvents })
  }

  /**
   * Compares two releases or time ranges op by op, with a verdict per op that fires only beyond
   * noise (see `compareStore` and the README's "Comparing releases"). Reads what is written: call
   * `flush()` first to include what is queued. Throws a `TypeError`/`RangeError` naming a bad field.
   */
  compare(query: CompareQuery): Promise<Comparison> {
    if (this.closed) throw new Error('SqliteStore.compare(): the store is closed')
    // In pages, giving the thread back between them: a whole release of a big file is a long read.
    return this.backend.readAsync((db) => compareStoreAsync(db, query))
  }

  /** The releases recorded in the file, oldest first, with first/last seen and process starts. */
  releases(): ReleaseInfo[] {
    if (this.closed) throw new Error('SqliteStore.releases(): the store is closed')
    return this.backend.read((db) => listReleases(db))
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
      await this.backend.close()
    })()
    return this.closing
  }
}

/** Where the file is written and read: the app's thread, or the store's worker. */
// `read` runs a synchronous read on a connection of this thread: the store's own in-thread one, or
// (with the worker) a read-only connection opened for the call, since WAL lets it read beside the writer.
interface Backend {
  commit(items: Item[]): CommitResult | Promise<CommitResult>
  history(query: HistoryRequest): Promise<History>
  /** Starts the retention prune and the roll-up in the background. */
  maintain(): void
  /** The file's side of `stats()`, as last known. */
  status(): FileStatus
  read<T>(fn: (db: Database.Database) => T): T
  /** `read` for a read in pages: the connection stays open until the promise settles. */
  readAsync<T>(fn: (db: Database.Database) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** Items per message when a batch is handed to the worker. */
const HANDOVER_SLICE = 100

/** `thread: false`: the connection is on the app's thread. */
class LocalBackend implements Backend {
  constructor(private readonly file: StoreFile) {}
  commit(items: Item[]): CommitResult {
    return this.file.commit(items)
  }
  history(query: HistoryRequest): Promise<History> {
    return this.file.history(query)
  }
  maintain(): void {
    this.file.maintain()
  }
  status(): FileStatus {
    return this.file.status()
  }
  read<T>(fn: (db: Database.Database) => T): T {
    return fn(this.file.connection)
  }
  readAsync<T>(fn: (db: Database.Database) => Promise<T>): Promise<T> {
    return fn(this.file.connection)
  }
  async close(): Promise<void> {
    this.file.close()
  }
}

/**
 * `thread: true`: the connection is in a worker. Each batch is handed over in slices of
 * {@link HANDOVER_SLICE} items (written into columns, handover.ts); the answers carry the file's status, so `stats()` stays synchronous.
 * The worker is unreferenced while nothing is asked of it, so it never keeps the process alive by
 * itself, and referenced while an answer is awaited, so a flush at exit is not cut short.
 */
class WorkerBackend implements Backend {
  private worker: Worker | undefined
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  private nextId = 1
  /** Hand-overs begun (see `commit`). */
  private batches = 0
  private last: FileStatus

  constructor(
    private readonly path: string,
    private readonly retentionMs: number,
  ) {
    // Opened here once, synchronously, so a bad path or file throws from the constructor as it
    // always has; then closed: from now on only the worker's connection touches the file.
    const check = new StoreFile(path, retentionMs)
    this.last = check.status()
    check.close()
    this.last = { ...this.last, lastError: null }
    this.start()
  }

  private start(): Worker {
    const data: WorkerData = { path: this.path, retentionMs: this.retentionMs }
    // No inherited execArgv: the app's loaders and resolution conditions (a TypeScript loader, a
    // source condition) are for the app's modules; the worker is plain built JavaScript.
    const worker = new Worker(workerFile(), { workerData: data, execArgv: [] })
    worker.unref()
    this.last = { ...this.last, threadId: worker.threadId }
    worker.on('message', (reply: WorkerReply) => {
      this.last = reply.status
      const p = this.pending.get(reply.id)
      if (p === undefined) return
      this.pending.delete(reply.id)
      if (this.pending.size === 0) worker.unref()
      if (reply.error !== undefined) p.reject(new Error(reply.error))
      else p.resolve(reply.result)
    })
    const lost = (why: string) => {
      if (this.worker !== worker) return
      this.worker = undefined
      this.last = { ...this.last, lastError: `${new Date().toISOString()} ${why}` }
      // Whatever was asked of it is answered as failed: batches stay queued and are retried by a new worker.
      for (const p of this.pending.values()) p.reject(new Error(why))
      this.pending.clear()
    }
    worker.on('error', (err) => lost(`SqliteStore worker failed: ${message(err)}`))
    worker.on('exit', (code) => lost(`SqliteStore worker exited with code ${code}`))
    this.worker = worker
    return worker
  }

  private ask(req: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const worker = this.worker ?? this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      if (this.pending.size === 1) worker.ref()
      worker.postMessage({ ...req, id }, transfer)
    })
  }

  /**
   * Hands the batch over in slices written into columns (handover.ts), with the event loop given back
   * between them, so no slice holds the app's thread for long (see BENCHMARKS.md, bench:sqlite's
   * hand-over row); the worker writes the slices in one transaction on the last one.
   */
  async commit(items: Item[]): Promise<CommitResult> {
    // Numbers this hand-over's slices, so the worker never writes them with another's.
    const batch = ++this.batches
    try {
      const worker = this.worker ?? this.start()
      let i = 0
      for (; items.length - i > HANDOVER_SLICE; i += HANDOVER_SLICE) {
        const { packed, transfer } = packItems(items, i, i + HANDOVER_SLICE)
        worker.postMessage({ id: 0, op: 'stage', batch, packed }, transfer)
        await new Promise<void>((r) => setImmediate(r))
        // The worker died meanwhile: its slices went with it, so the batch is not committed now (it
        // stays queued and is handed whole to the next worker).
        if (this.worker !== worker) return { ok: false }
      }
      const { packed, transfer } = packItems(items, i, items.length)
      return (await this.ask({ op: 'commit', batch, packed }, transfer)) as CommitResult
    } catch {
      return { ok: false }
    }
  }

  history(query: HistoryRequest): Promise<History> {
    return this.ask({ op: 'history', query }) as Promise<History>
  }

  maintain(): void {
    this.ask({ op: 'maintain' }).catch(() => {})
  }

  status(): FileStatus {
    return this.last
  }
  read<T>(fn: (db: Database.Database) => T): T {
    const db = openStoreReadOnly(this.path)
    try {
      return fn(db)
    } finally {
      db.close()
    }
  }
  readAsync<T>(fn: (db: Database.Database) => Promise<T>): Promise<T> {
    const db = openStoreReadOnly(this.path)
    let reading: Promise<T>
    try {
      // A bad query throws here, at once, as `read` does.
      reading = fn(db)
    } catch (err) {
      db.close()
      throw err
    }
    return reading.finally(() => db.close())
  }

  async close(): Promise<void> {
    const worker = this.worker
    if (worker === undefined) return
    try {
      await this.ask({ op: 'close' })
    } catch {
      // The worker is gone; its connection went with it.
    }
    this.worker = undefined
    await worker.terminate()
  }
}

/**
 * The worker's script: next to this module once built; from the TypeScript source (tests, a TS
 * loader) the built one, since a worker does not inherit the loader that compiles the source.
 */
function workerFile(): URL {
  const url = import.meta.url.endsWith('.ts')
    ? new URL('../dist/store-worker.js', import.meta.url)
    : new URL('./store-worker.js', import.meta.url)
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(
      `SqliteStore: its worker script ${fileURLToPath(url)} is missing; build @perf/sqlite, or pass thread: false to write on the app's thread`,
    )
  }
  return url
}

function flag(label: string, value: unknown): boolean {
  if (value === undefined) return true
  if (typeof value !== 'boolean') {
    throw new TypeError(`history() ${label} = ${String(value)} is not valid: expected true or false`)
  }
  return value
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

function time(label: string, value: number | Date | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const ms = value instanceof Date ? value.getTime() : value
  return checkNumber(`history() ${label}`, ms, { min: 0, max: 8.64e15 })
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
