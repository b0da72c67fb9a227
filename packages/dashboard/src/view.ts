import type { HistogramData, ProcessSection, ProcessWatchOff, Snapshot } from '@perf/core'
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
  /**
   * Set when `watchProcess` was called but does not sample, with its reason (under `NODE_ENV=test`
   * it stays off unless `force: true`): the page says so instead of "call watchProcess".
   */
  off?: string
  /** Time series for the charts (timestamps in ms, sizes in bytes, event-loop delay p99 in ms). */
  series: { t: number[]; rss: number[]; heapUsed: number[]; eventLoopDelayMs: number[] }
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
  summary: Summary
  timeline: TimelineView
  process: ProcessView | null
}

/** Computes the summary, timeline and process view of a snapshot. */
export function buildView(
  snap: Snapshot,
  series: TimelineSeries,
  settings: { title: string; refreshMs: number; errorRateThreshold: number; history: boolean },
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
  return view
}
