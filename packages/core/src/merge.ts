import type { PerfEvent } from './event.js'
import { type SparseHistogram, WideHistogram } from './histogram.js'
import type { Snapshot, Stats, StatusClasses, Totals, TypeSnapshot, WindowStats } from './snapshot.js'
import { windowStats } from './window-stats.js'

/**
 * A snapshot merged from several processes: a {@link Snapshot} plus who is in it. Its `pid` and
 * `config` are the first input's; `startedAt` is the earliest and `timestamp` the latest.
 */
export interface MergedSnapshot extends Snapshot {
  /** Pids of every process merged in. */
  pids: number[]
  /** Each process's `process` section (see `watchProcess`), by pid. */
  processes: Record<string, unknown>
}

const STATUS_KEYS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/**
 * Merges snapshots of several monitors (e.g. cluster workers) into one, exactly: counts, errors,
 * sums, status classes, totals and counters add; min/max combine; histograms add bucket by bucket and
 * percentiles are recomputed from the merged histogram, so they are as exact as a single monitor's.
 * Recent and slow events are merged newest first, capped at the longest input list. Each input's
 * `process` section is kept per pid under `processes`. Other sections come from the first snapshot
 * that has them. A merged snapshot can itself be merged again.
 *
 * Every op that has events must carry its histogram: take snapshots with
 * `monitor.snapshot({ histograms: true })`; otherwise a `TypeError` says which op lacks one.
 */
export function mergeSnapshots(...snapshots: Snapshot[]): MergedSnapshot {
  if (snapshots.length === 0)
    throw new TypeError('mergeSnapshots(...snapshots): expected at least one snapshot')
  for (const s of snapshots) {
    if (s === null || typeof s !== 'object' || typeof s.types !== 'object' || typeof s.totals !== 'object') {
      throw new TypeError(
        'mergeSnapshots(...snapshots): every argument must be a snapshot from monitor.snapshot()',
      )
    }
  }
  const first = snapshots[0]!
  const pids: number[] = []
  const processes: Record<string, unknown> = {}
  const sections: Record<string, unknown> = {}
  for (const s of snapshots) {
    const nested = (s as Partial<MergedSnapshot>).pids
    for (const pid of Array.isArray(nested) ? nested : [s.pid]) if (!pids.includes(pid)) pids.push(pid)
    const procs = (s as Partial<MergedSnapshot>).processes
    if (procs !== null && typeof procs === 'object') Object.assign(processes, procs)
    if (s.process !== undefined) processes[String(s.pid)] = s.process
    for (const key of Object.keys(s)) {
      if (!KNOWN.has(key) && !(key in sections)) sections[key] = s[key]
    }
  }
  const merged: MergedSnapshot = {
    ...sections,
    enabled: snapshots.some((s) => s.enabled),
    pid: first.pid,
    startedAt: Math.min(...snapshots.map((s) => s.startedAt)),
    timestamp: Math.max(...snapshots.map((s) => s.timestamp)),
    uptimeMs: 0,
    config: first.config,
    window: {
      ms: Math.max(...snapshots.map((s) => s.window.ms)),
      sliceMs: first.window.sliceMs,
      fromMs: Math.min(...snapshots.map((s) => s.window.fromMs)),
    },
    totals: mergeTotals(snapshots.map((s) => s.totals)),
    types: mergeTypes(snapshots),
    counters: mergeCounters(snapshots.map((s) => s.counters)),
    recent: mergeEvents(snapshots.map((s) => s.recent)),
    slow: mergeEvents(snapshots.map((s) => s.slow)),
    pids,
    processes,
  }
  merged.uptimeMs = merged.timestamp - merged.startedAt
  const errors = snapshots.filter((s) => s.lastInternalError !== undefined)
  if (errors.length > 0) merged.lastInternalError = `pid ${errors[0]!.pid}: ${errors[0]!.lastInternalError}`
  return merged
}

/** Keys merged field by field; any other key is a section. */
const KNOWN = new Set([
  'enabled',
  'pid',
  'startedAt',
  'timestamp',
  'uptimeMs',
  'config',
  'window',
  'totals',
  'types',
  'counters',
  'recent',
  'slow',
  'lastInternalError',
  'process',
  'processes',
  'pids',
])

function mergeTotals(all: Totals[]): Totals {
  const out = { ...all[0]! }
  for (let i = 1; i < all.length; i++) {
    for (const key of Object.keys(out) as (keyof Totals)[]) out[key] += all[i]![key] ?? 0
  }
  return out
}

function mergeCounters(
  all: Record<string, Record<string, number>>[],
): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  for (const counters of all) {
    for (const [type, names] of Object.entries(counters)) {
      const into = (out[type] ??= {})
      for (const [name, n] of Object.entries(names)) into[name] = (into[name] ?? 0) + n
    }
  }
  return out
}

function mergeEvents(all: PerfEvent[][]): PerfEvent[] {
  const cap = Math.max(...all.map((events) => events.length))
  // Stable on equal timestamps: the earlier snapshot's order is kept.
  return all
    .flat()
    .sort((a, b) => b.timestamp - a.timestamp)
    .slice(0, cap)
}

/** Running merge of one op (or one type) across snapshots. */
class OpMerge {
  count = 0
  errors = 0
  slow = 0
  sum = 0
  min = Number.POSITIVE_INFINITY
  max = 0
  status: number[] | undefined
  readonly histogram: WideHistogram = new WideHistogram()

  add(s: WindowStats, status: StatusClasses | undefined, histogram: SparseHistogram | undefined): void {
    this.count += s.count
    this.errors += s.errors
    this.slow += s.slow
    // Snapshots carry the mean, not the sum; mean × count gives the sum back to float precision.
    this.sum += s.avgMs * s.count
    if (s.count > 0) {
      if (s.minMs < this.min) this.min = s.minMs
      if (s.maxMs > this.max) this.max = s.maxMs
    }
    if (status !== undefined) this.status = addStatus(this.status, status)
    if (histogram !== undefined) this.histogram.addAll(histogram)
  }

  stats(): WindowStats {
    const h = this.histogram
    return windowStats(this, h.counts, 0, h.counts.length, h.lo)
  }
}

function addStatus(into: number[] | undefined, s: StatusClasses): number[] {
  const out = into ?? [0, 0, 0, 0, 0]
  for (let k = 0; k < 5; k++) out[k]! += s[STATUS_KEYS[k]!] ?? 0
  return out
}

function statusClasses(s: number[]): StatusClasses {
  return { '1xx': s[0]!, '2xx': s[1]!, '3xx': s[2]!, '4xx': s[3]!, '5xx': s[4]! }
}

interface OpAcc {
  readonly type: string
  readonly name: string
  readonly window: OpMerge
  totalCount: number
  totalErrors: number
  totalSumMs: number
  totalStatus: number[] | undefined
  totalHistogram: WideHistogram | undefined
  hasHistogram: boolean
}

function mergeTypes(snapshots: Snapshot[]): Record<string, TypeSnapshot> {
  const out: Record<string, TypeSnapshot> = {}
  const order: string[] = []
  const byType = new Map<string, { first: TypeSnapshot; folded: number; ops: Map<string, OpAcc> }>()
  for (const snap of snapshots) {
    for (const [type, t] of Object.entries(snap.types)) {
      let entry = byType.get(type)
      if (entry === undefined) {
        entry = { first: t, folded: 0, ops: new Map() }
        byType.set(type, entry)
        order.push(type)
      }
      entry.folded += t.foldedEvents
      for (const op of t.ops) addOp(entry.ops, op, snap.pid)
    }
  }
  for (const type of order) {
    const entry = byType.get(type)!
    const typeMerge = new OpMerge()
    const ops: Stats[] = []
    for (const acc of entry.ops.values()) {
      const stats = acc.window.stats()
      const op: Stats = {
        ...stats,
        type: acc.type,
        name: acc.name,
        totalCount: acc.totalCount,
        totalErrors: acc.totalErrors,
        totalSumMs: acc.totalSumMs,
      }
      if (acc.window.status !== undefined || acc.totalStatus !== undefined) {
        op.status = statusClasses(acc.window.status ?? [0, 0, 0, 0, 0])
        op.totalStatus = statusClasses(acc.totalStatus ?? [0, 0, 0, 0, 0])
      }
      if (acc.hasHistogram) {
        op.histogram = acc.window.histogram.toJSON()
        op.totalHistogram = acc.totalHistogram?.toJSON() ?? { offset: 0, counts: [] }
      }
      typeMerge.add(stats, undefined, acc.window.histogram.toJSON())
      ops.push(op)
    }
    const { ops: _ops, foldedEvents: _folded, ...rest } = entry.first
    out[type] = { ...rest, ...typeMerge.stats(), foldedEvents: entry.folded, ops }
  }
  return out
}

function addOp(ops: Map<string, OpAcc>, op: Stats, pid: number): void {
  if (op.count > 0 && op.histogram === undefined) {
    throw new TypeError(
      `mergeSnapshots: op ${op.type} ${JSON.stringify(op.name)} of pid ${pid} has no histogram; take snapshots with monitor.snapshot({ histograms: true })`,
    )
  }
  let acc = ops.get(op.name)
  if (acc === undefined) {
    acc = {
      type: op.type,
      name: op.name,
      window: new OpMerge(),
      totalCount: 0,
      totalErrors: 0,
      totalSumMs: 0,
      totalStatus: undefined,
      totalHistogram: undefined,
      hasHistogram: false,
    }
    ops.set(op.name, acc)
  }
  acc.window.add(op, op.status, op.histogram)
  acc.totalCount += op.totalCount
  acc.totalErrors += op.totalErrors
  acc.totalSumMs += op.totalSumMs
  if (op.totalStatus !== undefined) acc.totalStatus = addStatus(acc.totalStatus, op.totalStatus)
  if (op.histogram !== undefined) acc.hasHistogram = true
  if (op.totalHistogram !== undefined) {
    acc.totalHistogram ??= new WideHistogram()
    acc.totalHistogram.addAll(op.totalHistogram)
  }
}
