import { type OpAggregate, percentiles, type Sink } from '@perf/core'

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
    for (const [type, list] of byType) this.add(type, mergeSlice(list))
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

/** Merges one slice of several ops into one point. */
export function mergeSlice(list: readonly OpAggregate[]): TimelinePoint {
  let lo = Number.POSITIVE_INFINITY
  let hi = 0
  let count = 0
  let errors = 0
  let sum = 0
  let min = Number.POSITIVE_INFINITY
  let max = 0
  let start = Number.POSITIVE_INFINITY
  let end = 0
  for (const a of list) {
    count += a.count
    errors += a.errors
    sum += a.sumMs
    if (a.minMs < min) min = a.minMs
    if (a.maxMs > max) max = a.maxMs
    if (a.start < start) start = a.start
    if (a.end > end) end = a.end
    if (a.histogram.counts.length > 0) {
      if (a.histogram.offset < lo) lo = a.histogram.offset
      if (a.histogram.offset + a.histogram.counts.length > hi)
        hi = a.histogram.offset + a.histogram.counts.length
    }
  }
  const counts = new Float64Array(hi > lo ? hi - lo : 0)
  for (const a of list) {
    const c = a.histogram.counts
    for (let j = 0; j < c.length; j++) counts[a.histogram.offset - lo + j]! += c[j]!
  }
  const p = percentiles({ offset: lo, counts }, count, count > 0 ? min : 0, max)
  return {
    start,
    end,
    count,
    errors,
    avgMs: count > 0 ? sum / count : 0,
    p50Ms: p.p50Ms,
    p95Ms: p.p95Ms,
    p99Ms: p.p99Ms,
    maxMs: max,
  }
}
