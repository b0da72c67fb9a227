import { Aggregate, type HistogramData, type OpAggregate, type Sink, type Snapshot } from '@perf/core'

/** One completed slice of one type (e.g. all `http` ops over one minute). */
export interface TimelinePoint {
  /** Slice start and end, ms since the epoch. */
  start: number
  end: number
  count: number
  errors: number
  avgMs: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
}

/** Completed-slice points of the types the dashboard charts, oldest first. */
export type TimelineSeries = Record<string, TimelinePoint[]>

/**
 * Keeps, per type, one point per completed slice of the monitor's window, built from the slice
 * aggregates the monitor hands its sinks. Merging the ops' slice histograms is element-wise addition,
 * so each point's percentiles are exact to the histogram's resolution, not averages of percentiles.
 */
export class Timeline implements Sink {
  readonly name = 'dashboard-timeline'
  private readonly series = new Map<string, TimelinePoint[]>()
  /** Each point's merged histogram: taken off the window's to get the slice in progress. */
  private readonly histograms = new WeakMap<TimelinePoint, HistogramData>()
  private readonly types: ReadonlySet<string>
  private readonly keepMs: number

  constructor(types: readonly string[], keepMs: number) {
    this.types = new Set(types)
    this.keepMs = keepMs
  }

  writeAggregates(aggregates: readonly OpAggregate[]): void {
    const byType = new Map<string, OpAggregate[]>()
    for (const a of aggregates) {
      if (!this.types.has(a.type)) continue
      const list = byType.get(a.type)
      if (list) list.push(a)
      else byType.set(a.type, [a])
    }
    for (const [type, list] of byType) {
      const a = mergeAggregate(list)
      const point = pointOf(a, list)
      this.histograms.set(point, a.histogramJSON())
      this.add(type, point)
    }
  }

  /** The histogram a point was built from, if this timeline built it. */
  histogramOf(point: TimelinePoint): HistogramData | undefined {
    return this.histograms.get(point)
  }

  private add(type: string, point: TimelinePoint): void {
    let points = this.series.get(type)
    if (points === undefined) this.series.set(type, (points = []))
    points.push(point)
    const oldest = point.end - this.keepMs
    let drop = 0
    while (drop < points.length && points[drop]!.end <= oldest) drop++
    if (drop > 0) points.splice(0, drop)
  }

  /** The points of every charted type, oldest first (copies). */
  read(): TimelineSeries {
    const out: TimelineSeries = {}
    for (const type of this.types) out[type] = (this.series.get(type) ?? []).slice()
    return out
  }

  /** Forgets every point (with `monitor.clear()`). */
  clear(): void {
    this.series.clear()
  }
}

/** Merges one slice of several ops into one point (histograms added, then percentiles). */
export function mergeSlice(list: readonly OpAggregate[]): TimelinePoint {
  return pointOf(mergeAggregate(list), list)
}

function mergeAggregate(list: readonly OpAggregate[]): Aggregate {
  const a = new Aggregate()
  for (const op of list) a.add(op)
  return a
}

function pointOf(a: Aggregate, list: readonly OpAggregate[]): TimelinePoint {
  let start = Number.POSITIVE_INFINITY
  let end = 0
  for (const op of list) {
    if (op.start < start) start = op.start
    if (op.end > end) end = op.end
  }
  const s = a.stats()
  return {
    start,
    end,
    count: s.count,
    errors: s.errors,
    avgMs: s.avgMs,
    p50Ms: s.p50Ms,
    p95Ms: s.p95Ms,
    p99Ms: s.p99Ms,
    maxMs: s.maxMs,
  }
}

/** The slice still being recorded, as far as it has got: what the charts draw as their last, partial point. */
export interface PartialSlice {
  /** When the slice began (ms since the epoch), and how long it has run so far. */
  start: number
  elapsedMs: number
  count: number
  errors: number
  /**
   * Requests per minute over the time elapsed, not scaled to a full slice's worth of requests; with
   * under a second elapsed, over one second, so a burst in the first instant does not read as a flood.
   */
  perMinute: number
  /** Percentiles of this slice alone; `null` when they cannot be known (no histograms in the snapshot). */
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
}

/**
 * The slice in progress of one type, from a snapshot taken with `histograms: true` and the completed
 * points: the window's counts and histogram minus those of the completed slices still in it. While no
 * slice has completed, the window is the slice, and its own percentiles are used as they are.
 */
export function partialSlice(
  snap: Snapshot,
  type: string,
  points: readonly TimelinePoint[],
  histogramOf: (point: TimelinePoint) => HistogramData | undefined,
): PartialSlice {
  const now = snap.timestamp
  const t = snap.types[type]
  const sliceMs = snap.window.sliceMs
  // Slices rotate on a timer from the monitor's start; a completed slice's end is the exact start of
  // the next one, so the later of the two is this slice's start (an empty slice leaves no point).
  let start =
    sliceMs > 0 ? snap.startedAt + Math.floor(Math.max(0, now - snap.startedAt) / sliceMs) * sliceMs : now
  const inWindow: TimelinePoint[] = []
  for (const p of points) {
    if (p.end > start && p.end <= now) start = p.end
    if (p.start >= snap.window.fromMs - 1) inWindow.push(p)
  }
  let count = t?.count ?? 0
  let errors = t?.errors ?? 0
  for (const p of inWindow) {
    count -= p.count
    errors -= p.errors
  }
  count = Math.max(0, count)
  errors = Math.max(0, errors)
  const elapsedMs = Math.max(0, now - start)
  const perMinute = (count * 60_000) / Math.max(1000, elapsedMs)
  let pct: { p50Ms: number | null; p95Ms: number | null; p99Ms: number | null } = {
    p50Ms: null,
    p95Ms: null,
    p99Ms: null,
  }
  if (count > 0 && t !== undefined) {
    if (inWindow.length === 0) pct = { p50Ms: t.p50Ms, p95Ms: t.p95Ms, p99Ms: t.p99Ms }
    else pct = remainderPercentiles(t.ops, inWindow, histogramOf) ?? pct
  }
  return { start, elapsedMs, count, errors, perMinute, ...pct }
}

/** Percentiles of the ops' window histograms minus the completed points' histograms. */
function remainderPercentiles(
  ops: readonly { histogram?: HistogramData | undefined }[],
  points: readonly TimelinePoint[],
  histogramOf: (point: TimelinePoint) => HistogramData | undefined,
): { p50Ms: number; p95Ms: number; p99Ms: number } | undefined {
  const diff = new Map<number, number>()
  const addAll = (h: HistogramData, sign: number) => {
    for (let k = 0; k < h.counts.length; k++) {
      const c = h.counts[k]!
      if (c !== 0) diff.set(h.offset + k, (diff.get(h.offset + k) ?? 0) + sign * c)
    }
  }
  for (const op of ops) {
    if (op.histogram === undefined) return undefined
    addAll(op.histogram, 1)
  }
  for (const p of points) {
    const h = histogramOf(p)
    if (h === undefined) return undefined
    addAll(h, -1)
  }
  let lo = Number.POSITIVE_INFINITY
  let hi = -1
  let total = 0
  for (const [i, c] of diff) {
    if (c <= 0) continue
    if (i < lo) lo = i
    if (i > hi) hi = i
    total += c
  }
  if (total === 0) return undefined
  const counts = new Array<number>(hi - lo + 1).fill(0)
  for (const [i, c] of diff) if (c > 0) counts[i - lo] = c
  const s = new Aggregate().add({ count: total, histogram: { offset: lo, counts } }).stats()
  return { p50Ms: s.p50Ms, p95Ms: s.p95Ms, p99Ms: s.p99Ms }
}
