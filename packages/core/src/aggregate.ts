import { type HistogramData, type SparseHistogram, WideHistogram } from './histogram.js'
import type { StatusClasses, WindowStats } from './snapshot.js'
import { windowStats } from './window-stats.js'

/**
 * What {@link Aggregate.add} takes: the totals of some events and, for percentiles, their histogram.
 * `OpAggregate` (a sink's slice), a store's history point and a snapshot's `Stats` all fit.
 */
export interface AggregateInput {
  readonly count: number
  readonly errors?: number
  readonly slow?: number
  /** Sum of the durations, ms. */
  readonly sumMs?: number
  /** Used only when `sumMs` is absent (inputs that carry a mean, not a sum). */
  readonly avgMs?: number
  readonly minMs?: number
  readonly maxMs?: number
  readonly status?: Partial<StatusClasses> | undefined
  readonly histogram?: HistogramData | null | undefined
}

/** {@link WindowStats} plus the exact sum, so an aggregate's stats can be added up again. */
export interface AggregateStats extends WindowStats {
  /** Sum of the durations, ms. */
  sumMs: number
}

const STATUS_KEYS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/**
 * The one fold of "events added up": counts, errors, slow, sum, min/max, status classes and the
 * latency histogram are added (histograms element-wise, so the result is exact to the bucket
 * resolution); averages, error rates and percentiles are derived only at the end, by {@link stats}.
 * Adding percentiles is never done: it is what makes merged latency wrong.
 *
 * @example
 * const a = new Aggregate()
 * for (const slice of slices) a.add(slice) // OpAggregate, history points, snapshot stats…
 * const { count, p50Ms, p99Ms, sumMs } = a.stats()
 */
export class Aggregate {
  count = 0
  errors = 0
  slow = 0
  sum = 0
  /** `Infinity` while empty. */
  min: number = Number.POSITIVE_INFINITY
  max = 0
  /** Events per status class 1xx..5xx, once any input carried status classes. */
  status: number[] | undefined
  /** Inputs that carried events but no histogram: their percentiles cannot be known. */
  missingHistograms = 0
  readonly histogram: WideHistogram = new WideHistogram()

  /** Adds one input (a slice, a stored row, an op's stats). Returns `this`. */
  add(row: AggregateInput): this {
    const n = row.count
    if (!(n > 0)) return this
    this.count += n
    this.errors += row.errors ?? 0
    this.slow += row.slow ?? 0
    this.sum += row.sumMs ?? (row.avgMs ?? 0) * n
    // An input without min/max bounds nothing: 0 and Infinity keep the percentiles unclamped.
    const min = row.minMs ?? 0
    const max = row.maxMs ?? Number.POSITIVE_INFINITY
    if (min < this.min) this.min = min
    if (max > this.max) this.max = max
    if (row.status !== undefined) {
      const s = (this.status ??= [0, 0, 0, 0, 0])
      for (let k = 0; k < 5; k++) s[k]! += row.status[STATUS_KEYS[k]!] ?? 0
    }
    const h = row.histogram
    if (h === undefined || h === null) this.missingHistograms++
    else this.histogram.addAll(h)
    return this
  }

  /** Adds everything another aggregate holds. Returns `this`. */
  merge(other: Aggregate): this {
    if (other.count === 0) return this
    this.count += other.count
    this.errors += other.errors
    this.slow += other.slow
    this.sum += other.sum
    if (other.min < this.min) this.min = other.min
    if (other.max > this.max) this.max = other.max
    if (other.status !== undefined) {
      const s = (this.status ??= [0, 0, 0, 0, 0])
      for (let k = 0; k < 5; k++) s[k]! += other.status[k]!
    }
    this.missingHistograms += other.missingHistograms
    this.histogram.addAll({ offset: other.histogram.lo, counts: other.histogram.counts })
    return this
  }

  /**
   * Count, errors, slow, error rate, mean, min/max, the exact sum and p50/p90/p95/p99 from the
   * merged histogram (clamped to the exact min and max).
   */
  stats(): AggregateStats {
    const h = this.histogram
    return { ...windowStats(this, h.counts, 0, h.counts.length, h.lo), sumMs: this.sum }
  }

  /** Events per status class, or `undefined` if no input carried them. */
  statusClasses(): StatusClasses | undefined {
    const s = this.status
    if (s === undefined) return undefined
    return { '1xx': s[0]!, '2xx': s[1]!, '3xx': s[2]!, '4xx': s[3]!, '5xx': s[4]! }
  }

  /** The merged histogram in its JSON form (trimmed of empty ends). */
  histogramJSON(): SparseHistogram {
    return this.histogram.toJSON()
  }
}
