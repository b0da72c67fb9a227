import { Aggregate, type OpAggregate, type Sink } from '@perf/core'

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

/** Merges one slice of several ops into one point (histograms added, then percentiles). */
export function mergeSlice(list: readonly OpAggregate[]): TimelinePoint {
  const a = new Aggregate()
  let start = Number.POSITIVE_INFINITY
  let end = 0
  for (const op of list) {
    a.add(op)
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
