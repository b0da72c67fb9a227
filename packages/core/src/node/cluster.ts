import cluster, { type Worker } from 'node:cluster'
import { checkNumber, type Range } from '../config.js'
import { type MergedSnapshot, mergeSnapshots } from '../merge.js'
import type { Monitor } from '../monitor.js'
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
  /** When the primary merged (ms since the epoch). */
  readonly mergedAt: number
}

/** A snapshot merged across the cluster: the primary and every live worker, with process health per pid. */
export interface ClusterSnapshot extends MergedSnapshot {
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
    throw new TypeError('shareCluster(monitor, options): monitor must be a monitor from createMonitor()')
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError('shareCluster(monitor, options): options must be an object')
  }
  checkOptionKeys('shareCluster(monitor, options)', options, ['intervalMs', 'timeoutMs'])
  const intervalMs = checkNumber('shareCluster options.intervalMs', options.intervalMs ?? 5000, INTERVAL)
  const timeoutMs = checkNumber('shareCluster options.timeoutMs', options.timeoutMs ?? 2000, TIMEOUT)
  return cluster.isWorker ? new WorkerShare(monitor, intervalMs, timeoutMs) : new PrimaryShare(monitor)
}

class PrimaryShare implements ClusterShare {
  readonly role = 'primary' as const
  readonly monitor: Monitor
  workersLost = 0
  private rejected = 0
  private readonly latest = new Map<number, Snapshot>()
  private stopped = false

  constructor(private readonly local: Monitor) {
    this.monitor = clusterView(local, () => this.snapshot())
    cluster.on('message', this.onMessage)
    cluster.on('exit', this.onExit)
  }

  private readonly onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage(message) || message.kind !== 'snapshot') return
    // An event handler of the primary: nothing may escape it and take the cluster down.
    try {
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

  private readonly onExit = (worker: Worker): void => {
    if (this.latest.delete(worker.id)) this.workersLost++
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
    const merged = mergeSnapshots(this.local.snapshot({ histograms: true }), ...this.latest.values())
    const info: ClusterInfo = {
      primaryPid: process.pid,
      workers: this.latest.size,
      workersLost: this.workersLost,
      rejected: this.rejected,
      mergedAt: Date.now(),
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
    private readonly local: Monitor,
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
      cluster: { primaryPid: process.ppid, workers: 1, workersLost: 0, rejected: 0, mergedAt: Date.now() },
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
