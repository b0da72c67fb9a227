import type { HistogramData, ProcessSection, ProcessWatchOff, Snapshot } from '@perf/core'
import type { ReleaseMarker } from './compare.js'
import { type HeapTrend, heapTrend } from './heap-trend.js'
import type { HistoryChartPoint, SampleSeries } from './history.js'
import { type PartialSlice, partialSlice, type TimelinePoint, type TimelineSeries } from './timeline.js'

/** The figures at the top of the page, computed from a snapshot. */
export interface Summary {
  uptimeMs: number
  /** All-time HTTP requests. */
  totalRequests: number
  /** HTTP requests per second over the window. */
  requestsPerSec: number
  /** HTTP requests in the window. */
  windowRequests: number
  avgMs: number
  p95Ms: number
  /** Share (0..1) of HTTP requests in the window that failed. */
  errorRate: number
  /** Whether `errorRate` is over the dashboard's threshold. */
  errorRateHigh: boolean
  dbQueries: number
  dbAvgMs: number
}

/** Process health as the page shows it; fields absent when the process watcher does not report them. */
export interface ProcessView {
  rssBytes?: number
  heapUsedBytes?: number
  heapTotalBytes?: number
  rssHighWaterBytes?: number
  heapHighWaterBytes?: number
  rssGrowthBytes?: number
  heapGrowthBytes?: number
  cpuPercent?: number
  /** Mean event-loop delay since the last sample. */
  eventLoopDelayMs?: number
  eventLoopDelayP99Ms?: number
  warning?: string | null
  /** Trend of the heap after GC over the window, with the possible-leak flag (see `heap-trend.ts`). */
  heapAfterGc?: HeapTrend
  /**
   * Set when `watchProcess` was called but does not sample, with its reason (under `NODE_ENV=test`
   * it stays off unless `force: true`): the page says so instead of "call watchProcess".
   */
  off?: string
  /** Time series for the charts (timestamps in ms, sizes in bytes, event-loop delay p99 in ms). */
  series: { t: number[]; rss: number[]; heapUsed: number[]; eventLoopDelayMs: number[] }
}

/**
 * One worker of a `node:cluster` app, as the page's workers table shows it: what the primary reads
 * from outside (`shareCluster` in `@perf/core/node`, under `processes[pid].worker`) next to the
 * event-loop p99 of the worker's own latest report.
 */
export interface WorkerRow {
  pid: number
  state: 'healthy' | 'unresponsive' | 'gone'
  /** CPU share over the primary's last interval, percent of one core. */
  cpuPercent?: number
  rssBytes?: number
  /** From the worker's own latest report (absent without `watchProcess` in the worker). */
  eventLoopDelayP99Ms?: number
  lastReportAgeMs?: number
  /** While unresponsive: its last report (ms since the epoch). */
  unresponsiveSince?: number
  /** When a gone worker exited. */
  exitedAt?: number
}

/** The charts' data: completed slices plus the slice in progress. */
export interface TimelineView {
  sliceMs: number
  series: TimelineSeries
  /**
   * The HTTP slice in progress, so far: the charts draw it as their last point, marked as partial,
   * with its rate over the time elapsed (not scaled up to a whole slice).
   */
  current: PartialSlice
}

/** The dashboard's part of `api/snapshot`. */
export interface DashboardView {
  title: string
  refreshMs: number
  errorRateThreshold: number
  history: boolean
  /** Whether the store can compare releases (the compare view and `api/compare`). */
  compare?: boolean
  /** The monitor's release (`release` option / `PERF_RELEASE`), `null` without one. */
  release?: string | null
  summary: Summary
  timeline: TimelineView
  process: ProcessView | null
  /** The cluster's workers, by pid; `null` when the snapshot is not a cluster primary's merge. */
  workers: WorkerRow[] | null
}

/** The answer of `api/snapshot`: the monitor's snapshot with the dashboard's view of it. */
export type SnapshotView = Snapshot & { dashboard: DashboardView }

/** The answer of `api/history`: per-type chart points and process samples of a range. */
export interface HistoryView {
  /** The range after clamping, e.g. `24h`. */
  range: string
  /** Range start and end, ms since the epoch. */
  since: number
  until: number
  /** Width of one point, ms. */
  bucketMs: number
  series: { http: HistoryChartPoint[]; db: HistoryChartPoint[] }
  process: SampleSeries
  /** Release changes inside the range (each release first seen there), oldest first. */
  releases: ReleaseMarker[]
}

export type { CompareOp, CompareView, ReleaseMarker, ReleaseSeen } from './compare.js'

/** Computes the summary, timeline and process view of a snapshot. */
export function buildView(
  snap: Snapshot,
  series: TimelineSeries,
  settings: {
    title: string
    refreshMs: number
    errorRateThreshold: number
    history: boolean
    compare?: boolean
    release?: string | null
  },
  histogramOf: (point: TimelinePoint) => HistogramData | undefined = () => undefined,
): DashboardView {
  const http = snap.types.http
  const db = snap.types.db
  let totalRequests = 0
  if (http) for (const op of http.ops) totalRequests += op.totalCount
  const spanMs = Math.max(1000, snap.timestamp - snap.window.fromMs)
  const errorRate = http?.errorRate ?? 0
  const points: TimelinePoint[] = series.http ?? []
  return {
    ...settings,
    summary: {
      uptimeMs: snap.uptimeMs,
      totalRequests,
      requestsPerSec: (http?.count ?? 0) / (spanMs / 1000),
      windowRequests: http?.count ?? 0,
      avgMs: http?.avgMs ?? 0,
      p95Ms: http?.p95Ms ?? 0,
      errorRate,
      errorRateHigh: errorRate > settings.errorRateThreshold,
      dbQueries: db?.count ?? 0,
      dbAvgMs: db?.avgMs ?? 0,
    },
    timeline: {
      sliceMs: snap.window.sliceMs,
      series,
      current: partialSlice(snap, 'http', points, histogramOf),
    },
    process: processView(snap.process),
    workers: workersView((snap as { processes?: unknown }).processes),
  }
}

/**
 * Reads the `process` section that `watchProcess` (from `@perf/core/node`) adds to snapshots: `null`
 * without a watcher; why it is off (under `NODE_ENV=test`); before its first tick only the (empty)
 * series. The section is typed by core, so
 * only what it declares as optional or nullable is checked.
 */
export function processView(section: ProcessSection | ProcessWatchOff | undefined): ProcessView | null {
  if (section === undefined) return null
  const view: ProcessView = { series: { t: [], rss: [], heapUsed: [], eventLoopDelayMs: [] } }
  if ('watching' in section) {
    view.off = section.reason
    return view
  }
  const cur = section.current
  if (cur !== null) {
    view.rssBytes = cur.rssBytes
    view.heapUsedBytes = cur.heapUsedBytes
    view.heapTotalBytes = cur.heapTotalBytes
    view.cpuPercent = cur.cpuPercent
    view.eventLoopDelayMs = cur.eventLoopDelayMeanMs
    view.eventLoopDelayP99Ms = cur.eventLoopDelayP99Ms
  }
  if (section.peak !== null) {
    view.rssHighWaterBytes = section.peak.rssBytes
    view.heapHighWaterBytes = section.peak.heapUsedBytes
  }
  if (section.growth !== null) {
    view.rssGrowthBytes = section.growth.rssBytes
    view.heapGrowthBytes = section.growth.heapUsedBytes
  }
  if (section.growthWarning) {
    view.warning = `heap + external memory grew ${section.growthMb.toFixed(0)} MB over its baseline (warning at ${section.growthWarnMb} MB)`
  }
  const { timestamp, rssBytes, heapUsedBytes, eventLoopDelayP99Ms } = section.series
  view.series = {
    t: [...timestamp],
    rss: [...rssBytes],
    heapUsed: [...heapUsedBytes],
    eventLoopDelayMs: [...eventLoopDelayP99Ms],
  }
  const trend = heapTrend(timestamp, heapUsedBytes, section.series.gcPauseMs)
  if (trend !== undefined) view.heapAfterGc = trend
  return view
}

const STATES: ReadonlySet<string> = new Set(['healthy', 'unresponsive', 'gone'])

// The workers' figures are read defensively: `processes` of a merge carries what other processes sent.
type Obj = Record<string, unknown>

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/**
 * Reads the workers of a merged cluster snapshot's `processes` section (those with a `worker` entry
 * from the primary). Figures of another shape are left out; `null` when there is no such worker.
 */
export function workersView(processes: unknown): WorkerRow[] | null {
  const procs = obj(processes)
  if (procs === undefined) return null
  const rows: WorkerRow[] = []
  for (const key of Object.keys(procs)) {
    const section = obj(procs[key])
    const w = obj(section?.worker)
    const pid = Number(key)
    if (w === undefined || typeof w.state !== 'string' || !STATES.has(w.state) || !Number.isSafeInteger(pid))
      continue
    const row: WorkerRow = { pid, state: w.state as WorkerRow['state'] }
    const set = <K extends keyof WorkerRow>(k: K, v: WorkerRow[K] | undefined) => {
      if (v !== undefined) row[k] = v
    }
    set('cpuPercent', num(w.cpuPercent))
    set('rssBytes', num(w.rssBytes))
    set('eventLoopDelayP99Ms', num(obj(section?.current)?.eventLoopDelayP99Ms))
    set('lastReportAgeMs', num(w.lastReportAgeMs))
    set('unresponsiveSince', num(w.unresponsiveSince))
    set('exitedAt', num(w.exitedAt))
    rows.push(row)
  }
  return rows.length === 0 ? null : rows.sort((a, b) => a.pid - b.pid)
}
