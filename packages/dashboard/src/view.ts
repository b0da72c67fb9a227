import type { Snapshot } from '@perf/core'
import type { TimelinePoint, TimelineSeries } from './timeline.js'

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
  eventLoopDelayMs?: number
  eventLoopDelayP99Ms?: number
  warning?: string | null
  /** Time series for the charts (timestamps in ms, sizes in bytes). */
  series: { t: number[]; rss: number[]; heapUsed: number[]; eventLoopDelayMs: number[] }
}

/** The charts' data: completed slices plus the slice in progress. */
export interface TimelineView {
  sliceMs: number
  series: TimelineSeries
  /** Requests so far in the current slice (its percentiles come when the slice completes). */
  current: { start: number; count: number; errors: number }
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
): DashboardView {
  const http = snap.types.http
  const db = snap.types.db
  let totalRequests = 0
  if (http) for (const op of http.ops) totalRequests += op.totalCount
  const spanMs = Math.max(1000, snap.timestamp - snap.window.fromMs)
  const errorRate = http?.errorRate ?? 0
  const points: TimelinePoint[] = series.http ?? []
  let retiredInWindow = 0
  let retiredErrors = 0
  let lastEnd = snap.window.fromMs
  for (const p of points) {
    if (p.start >= snap.window.fromMs - 1) {
      retiredInWindow += p.count
      retiredErrors += p.errors
    }
    if (p.end > lastEnd) lastEnd = p.end
  }
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
      current: {
        start: lastEnd,
        count: Math.max(0, (http?.count ?? 0) - retiredInWindow),
        errors: Math.max(0, (http?.errors ?? 0) - retiredErrors),
      },
    },
    process: processView(snap.process),
  }
}

type Obj = Record<string, unknown>

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** The first finite number found at any of the dotted paths. */
function pick(from: Obj | undefined, ...paths: string[]): number | undefined {
  if (from === undefined) return undefined
  for (const path of paths) {
    let cur: unknown = from
    for (const key of path.split('.')) cur = obj(cur)?.[key]
    const n = num(cur)
    if (n !== undefined) return n
  }
  return undefined
}

/**
 * Reads the `process` section that `watchProcess` adds to snapshots. The dashboard does not depend on
 * its exact shape: it looks for the usual names and leaves out what it cannot find, so the page works
 * with or without the watcher.
 */
export function processView(section: unknown): ProcessView | null {
  const p = obj(section)
  if (p === undefined) return null
  const cur = obj(p.current) ?? obj(p.now) ?? obj(p.latest) ?? p
  const view: ProcessView = { series: { t: [], rss: [], heapUsed: [], eventLoopDelayMs: [] } }
  const set = <K extends keyof ProcessView>(key: K, value: ProcessView[K] | undefined) => {
    if (value !== undefined) view[key] = value
  }
  set('rssBytes', pick(cur, 'rss', 'rssBytes', 'memory.rss'))
  set('heapUsedBytes', pick(cur, 'heapUsed', 'heapUsedBytes', 'memory.heapUsed'))
  set('heapTotalBytes', pick(cur, 'heapTotal', 'heapTotalBytes', 'memory.heapTotal'))
  set('cpuPercent', pick(cur, 'cpu', 'cpuPercent', 'cpu.percent'))
  set(
    'eventLoopDelayMs',
    pick(
      cur,
      'eventLoopDelayMs',
      'eventLoopDelay',
      'eld',
      'eventLoopDelay.meanMs',
      'eventLoopDelay.mean',
      'elDelayMs',
      'loopDelayMs',
    ),
  )
  set(
    'eventLoopDelayP99Ms',
    pick(cur, 'eventLoopDelayP99Ms', 'eventLoopDelay.p99Ms', 'eventLoopDelay.p99', 'elDelayP99Ms'),
  )
  const high = obj(p.highWater) ?? obj(p.max) ?? obj(p.peak)
  set(
    'rssHighWaterBytes',
    pick(high, 'rss', 'rssBytes') ?? pick(p, 'highWater.rss', 'rssHighWater', 'maxRss'),
  )
  set('heapHighWaterBytes', pick(high, 'heapUsed', 'heapUsedBytes') ?? pick(p, 'heapHighWater'))
  const growth = obj(p.growth)
  const base = obj(p.baseline)
  const rssGrowth =
    pick(growth, 'rss', 'rssBytes') ??
    (view.rssBytes !== undefined && pick(base, 'rss', 'rssBytes') !== undefined
      ? view.rssBytes - pick(base, 'rss', 'rssBytes')!
      : undefined)
  set('rssGrowthBytes', rssGrowth)
  const heapGrowth =
    pick(growth, 'heapUsed', 'heapUsedBytes') ??
    (view.heapUsedBytes !== undefined && pick(base, 'heapUsed', 'heapUsedBytes') !== undefined
      ? view.heapUsedBytes - pick(base, 'heapUsed', 'heapUsedBytes')!
      : undefined)
  set('heapGrowthBytes', heapGrowth)
  const warning = p.warning ?? p.warnings
  if (typeof warning === 'string') view.warning = warning
  else if (warning === true) view.warning = 'memory keeps growing'
  else if (Array.isArray(warning) && warning.length > 0) view.warning = warning.map(String).join('; ')
  const samples = p.series ?? p.samples ?? p.history ?? p.timeSeries
  if (Array.isArray(samples)) {
    for (const s of samples) {
      const o = obj(s)
      const t = pick(o, 'timestamp', 't', 'time')
      if (t === undefined) continue
      view.series.t.push(t)
      view.series.rss.push(pick(o, 'rss', 'rssBytes', 'memory.rss') ?? Number.NaN)
      view.series.heapUsed.push(pick(o, 'heapUsed', 'heapUsedBytes', 'memory.heapUsed') ?? Number.NaN)
      view.series.eventLoopDelayMs.push(
        pick(
          o,
          'eventLoopDelayMs',
          'eventLoopDelay',
          'eld',
          'eventLoopDelay.meanMs',
          'elDelayMs',
          'loopDelayMs',
          'eventLoopDelayP99Ms',
        ) ?? Number.NaN,
      )
    }
  } else {
    // Column-oriented series: { t|timestamp: [], rss: [], ... }
    const cols = obj(samples)
    const t = cols?.t ?? cols?.timestamp
    if (cols && Array.isArray(t)) {
      const col = (...names: string[]) => {
        for (const n of names) if (Array.isArray(cols[n])) return cols[n] as unknown[]
        return []
      }
      const rss = col('rss', 'rssBytes')
      const heap = col('heapUsed', 'heapUsedBytes')
      const eld = col('eventLoopDelayMs', 'eventLoopDelay', 'eld')
      for (let i = 0; i < t.length; i++) {
        const ts = num(t[i])
        if (ts === undefined) continue
        view.series.t.push(ts)
        view.series.rss.push(num(rss[i]) ?? Number.NaN)
        view.series.heapUsed.push(num(heap[i]) ?? Number.NaN)
        view.series.eventLoopDelayMs.push(num(eld[i]) ?? Number.NaN)
      }
    }
  }
  return view
}
