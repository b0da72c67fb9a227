import { coded } from '../errors.js'
import cluster, { type Worker } from 'node:cluster'
import pidusage from 'pidusage'
import { checkNumber, type Range } from '../config.js'
import { type MergedSnapshot, mergeSnapshots } from '../merge.js'
import { type Monitor, type MonitorInternals, monitorInternals } from '../monitor.js'
import type { ProcessSection, ProcessWatchOff } from '../process-section.js'
import type { Snapshot, SnapshotOptions } from '../snapshot.js'
import { checkOptionKeys } from '../option-keys.js'

/** Options of {@link shareCluster}. */
export interface ShareClusterOptions {
  /** How often each worker sends its snapshot to the primary and gets the merged one back, in ms. Default 5000. */
  readonly intervalMs?: number
  /** How long `refresh()` waits for the primary before settling for the latest merge, in ms. Default 2000. */
  readonly timeoutMs?: number
}

/** The `cluster` section of a cluster-wide snapshot. */
export interface ClusterInfo {
  /** Pid of the primary that merged. */
  readonly primaryPid: number
  /** Workers whose latest snapshot is in the merge. */
  readonly workers: number
  /** Workers that exited after reporting: their numbers left the merge. */
  readonly workersLost: number
  /** Worker messages that could not be merged (malformed), counted and dropped. */
  readonly rejected: number
  /** Workers that have reported but not for {@link UNRESPONSIVE_INTERVALS} intervals (see {@link WorkerHealth}). */
  readonly unresponsive: number
  /** When the primary merged (ms since the epoch). */
  readonly mergedAt: number
}

/** How many intervals without a report make a worker `unresponsive`. */
export const UNRESPONSIVE_INTERVALS = 3

/**
 * A worker as the primary sees it from outside, under `processes[pid].worker` of a cluster snapshot.
 * CPU and memory are read by the primary (`pidusage`) every interval, so they stay visible while the
 * worker's own event loop is blocked and it cannot report.
 */
export interface WorkerHealth {
  /** The `node:cluster` worker id. */
  readonly id: number
  /**
   * `healthy` while it reports; `unresponsive` once it has not reported for {@link UNRESPONSIVE_INTERVALS}
   * intervals (a blocked event loop cannot answer IPC), back to `healthy` when reports resume; `gone`
   * once it exited.
   */
  readonly state: 'healthy' | 'unresponsive' | 'gone'
  /** When its latest snapshot arrived (ms since the epoch). */
  readonly lastReportAt: number
  /** How long ago that was when the primary merged, in ms. */
  readonly lastReportAgeMs: number
  /** While `unresponsive`: the last moment it was heard from (its latest report). */
  readonly unresponsiveSince?: number
  /**
   * CPU share over the last interval (the first reading: since the worker started), in percent of one
   * core (a busy loop shows about 100). Absent once gone.
   */
  readonly cpuPercent?: number
  /** Resident set size, in bytes. */
  readonly rssBytes?: number
  /** How long the process has run, in ms. */
  readonly elapsedMs?: number
  /** When CPU and memory were read (absent until the first reading). */
  readonly sampledAt?: number
  /** When a `gone` worker exited. */
  readonly exitedAt?: number
  /** Its exit code, or `null` when a signal ended it. */
  readonly exitCode?: number | null
  /** The signal that ended it, or `null`. */
  readonly signal?: string | null
}

/** A snapshot merged across the cluster: the primary and every live worker, with process health per pid. */
/**
 * One pid under a cluster view's `processes`: the process's own section (as it reported it; empty
 * for a worker watched before its first report) plus, for a worker, how the primary sees it.
 */
/** A worker watched from outside whose own process section the primary has not got. */
const NOT_REPORTED: ProcessWatchOff = {
  watching: false,
  reason: 'no process section from this worker yet (it has not reported, or runs no watchProcess)',
}

export type ClusterProcess = (ProcessSection | ProcessWatchOff) & { worker?: WorkerHealth }

/** A cluster-wide view: the merge of every process's snapshot, workers' health per pid. */
export interface ClusterSnapshot extends MergedSnapshot {
  processes: Record<string, ClusterProcess>
  cluster: ClusterInfo
}

/** What {@link shareCluster} returns. */
export interface ClusterShare {
  /** `primary` in the cluster's primary (or a process that is not a worker), `worker` in a worker. */
  readonly role: 'primary' | 'worker'
  /**
   * The latest cluster-wide snapshot. In the primary it is merged on the spot from its own monitor and
   * each worker's latest snapshot; in a worker it is the last merge the primary sent (`undefined` until
   * the first arrives, shortly after start).
   */
  snapshot(): ClusterSnapshot | undefined
  /**
   * In a worker: sends a fresh snapshot and resolves with the merge the primary sends back, or, after
   * `timeoutMs` without an answer, with the latest merge (or one of this worker alone). Never rejects.
   * In the primary: the same as `snapshot()`.
   */
  refresh(): Promise<ClusterSnapshot>
  /**
   * The same monitor, except that `snapshot()` returns the cluster-wide snapshot (this process alone
   * until the first merge). Hand it to the dashboard and the `/metrics` handler; record on the real one.
   */
  readonly monitor: Monitor
  /** Workers that exited and left the merge (in a worker: as of the last merge). */
  readonly workersLost: number
  /** Stops sending and listening. Idempotent. */
  stop(): void
}

interface Message {
  readonly type: typeof MESSAGE_TYPE
  readonly kind: 'snapshot' | 'merged'
  readonly id?: number
  readonly snapshot: Snapshot
}

const MESSAGE_TYPE = '@perf/cluster'
const INTERVAL: Range = { min: 100, max: 3_600_000, integer: true }
const TIMEOUT: Range = { min: 1, max: 600_000, integer: true }

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && (m as Message).type === MESSAGE_TYPE
}

/**
 * Shares a monitor's numbers across a `node:cluster` app. Call it in the primary and in every worker
 * with the same options: workers send `snapshot({ histograms: true })` to the primary every
 * `intervalMs`; the primary keeps each worker's latest, merges them exactly with its own
 * ({@link mergeSnapshots}) and sends the merge back, so the dashboard and `/metrics` served by any
 * worker (through `share.monitor`) show cluster-wide numbers with process health per pid. A worker
 * that exits leaves the merge and is counted in `workersLost`. Timers are unref'd; nothing waits on a
 * worker, so a dead or slow one never blocks the primary.
 */
export function shareCluster(monitor: Monitor, options: ShareClusterOptions = {}): ClusterShare {
  if (monitor === null || typeof monitor !== 'object' || typeof monitor.snapshot !== 'function') {
    throw coded(
      'PERF_INVALID_ARGUMENT',
      new TypeError('shareCluster(monitor, options): monitor must be a monitor from createMonitor()'),
    )
  }
  if (options === null || typeof options !== 'object') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError('shareCluster(monitor, options): options must be an object'),
    )
  }
  checkOptionKeys('shareCluster(monitor, options)', options, ['intervalMs', 'timeoutMs'])
  const intervalMs = checkNumber('shareCluster options.intervalMs', options.intervalMs ?? 5000, INTERVAL)
  const timeoutMs = checkNumber('shareCluster options.timeoutMs', options.timeoutMs ?? 2000, TIMEOUT)
  return cluster.isWorker
    ? new WorkerShare(monitorInternals(monitor), intervalMs, timeoutMs)
    : new PrimaryShare(monitorInternals(monitor), intervalMs)
}

/** Gone workers kept in the view (the most recent), so a crash loop cannot grow the snapshot without end. */
const GONE_KEPT = 16

interface Watch {
  id: number
  pid: number
  lastReportAt: number
  cpuPercent?: number
  rssBytes?: number
  elapsedMs?: number
  sampledAt?: number
  exitedAt?: number
  exitCode?: number | null
  signal?: string | null
  sampling: boolean
}

class PrimaryShare implements ClusterShare {
  readonly role = 'primary' as const
  readonly monitor: Monitor
  workersLost = 0
  private rejected = 0
  private readonly latest = new Map<number, Snapshot>()
  /** Every worker that has reported, by worker id, including the most recent gone ones. */
  private readonly watches = new Map<number, Watch>()
  private readonly timer: ReturnType<typeof setInterval>
  private stopped = false

  constructor(
    private readonly local: Monitor & MonitorInternals,
    private readonly intervalMs: number,
  ) {
    this.monitor = clusterView(local, () => this.snapshot())
    cluster.on('message', this.onMessage)
    cluster.on('exit', this.onExit)
    this.timer = setInterval(() => this.sample(), intervalMs)
    this.timer.unref()
  }

  private readonly onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage(message) || message.kind !== 'snapshot') return
    // An event handler of the primary: nothing may escape it and take the cluster down.
    try {
      this.heard(worker)
      const merged = this.merge(worker.id, message.snapshot)
      const reply: Message = { type: MESSAGE_TYPE, kind: 'merged', id: message.id, snapshot: merged }
      worker.send(reply, (err) => {
        if (err) this.local.reportInternalError('shareCluster send', err)
      })
    } catch (err) {
      // E.g. the worker disconnected between its message and our reply; its exit will drop it.
      this.local.reportInternalError('shareCluster', err)
    }
  }

  private readonly onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    this.latest.delete(worker.id)
    const watch = this.watches.get(worker.id)
    if (watch === undefined || watch.exitedAt !== undefined) return
    this.workersLost++
    watch.exitedAt = Date.now()
    watch.exitCode = code
    watch.signal = signal
    // Map order is insertion order: drop the oldest gone workers beyond the few kept.
    let gone = 0
    for (const w of this.watches.values()) if (w.exitedAt !== undefined) gone++
    for (const [id, w] of this.watches) {
      if (gone <= GONE_KEPT) break
      if (w.exitedAt !== undefined) {
        this.watches.delete(id)
        gone--
      }
    }
  }

  /** A report arrived from `worker`: it is alive and its event loop turns. */
  private heard(worker: Worker): void {
    const pid = worker.process.pid
    if (pid === undefined) return
    const watch = this.watches.get(worker.id)
    if (watch === undefined)
      this.watches.set(worker.id, { id: worker.id, pid, lastReportAt: Date.now(), sampling: false })
    else watch.lastReportAt = Date.now()
  }

  /**
   * Reads every live worker's CPU and memory from outside. One pid per call: a batch fails as a whole
   * when one of its processes has just exited. A reading still under way is not doubled.
   */
  private sample(): void {
    for (const watch of this.watches.values()) {
      if (watch.exitedAt !== undefined || watch.sampling) continue
      watch.sampling = true
      // pidusage keeps the previous reading per pid for `maxage` ms (default 60 s) to take the CPU
      // share since then; kept longer than the interval, each reading covers exactly the last one.
      pidusage(watch.pid, { maxage: Math.max(60_000, 3 * this.intervalMs) }, (err, stats) => {
        watch.sampling = false
        if (watch.exitedAt !== undefined) return
        if (err) {
          // Between its exit and the exit event the process is already unreadable: not a fault, and
          // the exit event marks it gone. Any other failure is counted.
          if (isAlive(watch.pid)) this.local.reportInternalError('shareCluster pidusage', err)
          return
        }
        watch.cpuPercent = stats.cpu
        watch.rssBytes = stats.memory
        watch.elapsedMs = stats.elapsed
        watch.sampledAt = stats.timestamp
      })
    }
  }

  private health(w: Watch, now: number): WorkerHealth {
    const age = Math.max(0, now - w.lastReportAt)
    const state =
      w.exitedAt !== undefined
        ? 'gone'
        : age > UNRESPONSIVE_INTERVALS * this.intervalMs
          ? 'unresponsive'
          : 'healthy'
    const h: { -readonly [K in keyof WorkerHealth]: WorkerHealth[K] } = {
      id: w.id,
      state,
      lastReportAt: w.lastReportAt,
      lastReportAgeMs: age,
    }
    if (state === 'unresponsive') h.unresponsiveSince = w.lastReportAt
    // A gone worker's last reading would pass for a live one's: left out.
    if (w.sampledAt !== undefined && state !== 'gone') {
      h.cpuPercent = w.cpuPercent
      h.rssBytes = w.rssBytes
      h.elapsedMs = w.elapsedMs
      h.sampledAt = w.sampledAt
    }
    if (w.exitedAt !== undefined) {
      h.exitedAt = w.exitedAt
      h.exitCode = w.exitCode
      h.signal = w.signal
    }
    return h
  }

  /** Merges with `incoming` as worker `id`'s latest; a snapshot that cannot be merged is dropped and counted. */
  private merge(id?: number, incoming?: Snapshot): ClusterSnapshot {
    if (id !== undefined && incoming !== undefined) {
      const previous = this.latest.get(id)
      this.latest.set(id, incoming)
      try {
        return this.mergeAll()
      } catch (err) {
        this.rejected++
        this.local.reportInternalError('shareCluster merge', err)
        if (previous === undefined) this.latest.delete(id)
        else this.latest.set(id, previous)
      }
    }
    return this.mergeAll()
  }

  private mergeAll(): ClusterSnapshot {
    const base = mergeSnapshots(this.local.snapshot({ histograms: true }), ...this.latest.values())
    const merged = base as MergedSnapshot & { processes: Record<string, ClusterProcess> }
    const now = Date.now()
    // Only the primary says how a worker is: a `worker` entry arriving inside a snapshot (a section
    // named `processes`, or a merge fed back) is removed, and so is an entry left with nothing else.
    for (const key of Object.keys(merged.processes)) {
      const section = merged.processes[key]
      if (typeof section !== 'object' || section === null || !Object.hasOwn(section, 'worker')) continue
      const { worker: _, ...rest } = section
      if (Object.keys(rest).length === 0) delete merged.processes[key]
      else merged.processes[key] = rest as ProcessSection | ProcessWatchOff
    }
    let unresponsive = 0
    for (const w of this.watches.values()) {
      const key = String(w.pid)
      const health = this.health(w, now)
      if (health.state === 'unresponsive') unresponsive++
      const own = merged.processes[key]
      // A new object: the worker's own section belongs to its latest snapshot, kept for the next merge.
      merged.processes[key] = {
        ...(typeof own === 'object' && own !== null ? own : NOT_REPORTED),
        worker: health,
      }
    }
    const info: ClusterInfo = {
      primaryPid: process.pid,
      workers: this.latest.size,
      workersLost: this.workersLost,
      rejected: this.rejected,
      unresponsive,
      mergedAt: now,
    }
    return Object.assign(merged, { cluster: info })
  }

  snapshot(): ClusterSnapshot {
    return this.merge()
  }

  refresh(): Promise<ClusterSnapshot> {
    return Promise.resolve(this.merge())
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    cluster.off('message', this.onMessage)
    cluster.off('exit', this.onExit)
  }
}

class WorkerShare implements ClusterShare {
  readonly role = 'worker' as const
  readonly monitor: Monitor
  private latest: ClusterSnapshot | undefined
  private readonly timer: ReturnType<typeof setInterval>
  private readonly waiting = new Map<number, (snap: ClusterSnapshot) => void>()
  private seq = 0
  private inFlight = false
  private stopped = false

  constructor(
    private readonly local: Monitor & MonitorInternals,
    intervalMs: number,
    private readonly timeoutMs: number,
  ) {
    this.monitor = clusterView(local, () => this.latest)
    process.on('message', this.onMessage)
    this.timer = setInterval(() => this.send(), intervalMs)
    this.timer.unref()
    this.send()
  }

  get workersLost(): number {
    return this.latest?.cluster.workersLost ?? 0
  }

  private readonly onMessage = (message: unknown): void => {
    if (!isMessage(message) || message.kind !== 'merged') return
    this.latest = message.snapshot as ClusterSnapshot
    if (message.id !== undefined) {
      const resolve = this.waiting.get(message.id)
      this.waiting.delete(message.id)
      resolve?.(this.latest)
    }
  }

  /** Sends a snapshot unless the previous one is still on its way (the next one supersedes it anyway). */
  private send(id?: number): boolean {
    if (this.stopped || (this.inFlight && id === undefined) || typeof process.send !== 'function')
      return false
    const message: Message = {
      type: MESSAGE_TYPE,
      kind: 'snapshot',
      id,
      snapshot: this.local.snapshot({ histograms: true }),
    }
    this.inFlight = true
    try {
      process.send(message, undefined, {}, (err) => {
        this.inFlight = false
        if (err) this.local.reportInternalError('shareCluster send', err)
      })
      return true
    } catch (err) {
      // The primary is gone (IPC closed): keep serving the last merge, count the failure.
      this.inFlight = false
      this.local.reportInternalError('shareCluster send', err)
      return false
    }
  }

  snapshot(): ClusterSnapshot | undefined {
    return this.latest
  }

  refresh(): Promise<ClusterSnapshot> {
    const id = ++this.seq
    return new Promise((resolve) => {
      const fallback = (): void => {
        this.waiting.delete(id)
        resolve(this.latest ?? this.alone())
      }
      if (!this.send(id)) return fallback()
      const timer = setTimeout(fallback, this.timeoutMs)
      timer.unref()
      this.waiting.set(id, (snap) => {
        clearTimeout(timer)
        resolve(snap)
      })
    })
  }

  /** This worker alone, in the cluster shape: what `refresh()` gives when the primary does not answer. */
  private alone(): ClusterSnapshot {
    const merged = mergeSnapshots(this.local.snapshot({ histograms: true }))
    return Object.assign(merged, {
      cluster: {
        primaryPid: process.ppid,
        workers: 1,
        workersLost: 0,
        rejected: 0,
        unresponsive: 0,
        mergedAt: Date.now(),
      },
    })
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    process.off('message', this.onMessage)
    for (const resolve of this.waiting.values()) resolve(this.latest ?? this.alone())
    this.waiting.clear()
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else (a recycled pid); still alive as far as reading goes.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * A view of `monitor` whose `snapshot()` returns the cluster-wide snapshot (or the local one before the
 * first merge). Histograms are left out unless asked for, as with a plain snapshot.
 */
function clusterView(monitor: Monitor, latest: () => ClusterSnapshot | undefined): Monitor {
  const snapshot = (opts?: SnapshotOptions): Snapshot => {
    const merged = latest()
    if (merged === undefined) return monitor.snapshot(opts)
    return opts?.histograms === true ? merged : withoutHistograms(merged)
  }
  return new Proxy(monitor, {
    get(target, prop) {
      if (prop === 'snapshot') return snapshot
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

function withoutHistograms<S extends Snapshot>(snap: S): S {
  // Null-prototype: type names come from other processes.
  const types: Snapshot['types'] = Object.create(null)
  for (const [type, t] of Object.entries(snap.types)) {
    types[type] = { ...t, ops: t.ops.map(({ histogram, totalHistogram, ...op }) => op) }
  }
  return { ...snap, types }
}
