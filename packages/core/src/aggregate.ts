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

/**
 * What {@link Aggregate.stats} returns: {@link WindowStats}, which carries the exact `sumMs`, so an
 * aggregate's stats can be added up again.
 */
export type AggregateStats = WindowStats

const STATUS_KEYS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/**
 * Layout of a row of scalars, as `OpStats` keeps one per slice and {@link Aggregate.addRow} reads it:
 * offsets of count, errors, slow, sum, min, max, then the status classes 1xx..5xx at `STATUS + 0..4`.
 */
export const COUNT = 0
/** See {@link COUNT}. */
export const ERRORS = 1
/** See {@link COUNT}. */
export const SLOW = 2
/** See {@link COUNT}. */
export const SUM = 3
/** See {@link COUNT}. */
export const MIN = 4
/** See {@link COUNT}. */
export const MAX = 5
/** See {@link COUNT}. */
export const STATUS = 6
/** Scalars per row. */
export const FIELDS = 11

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

  /**
   * Adds one row of scalars laid out as {@link COUNT}..{@link STATUS} at `s[b..b + FIELDS)` (a slice of
   * `OpStats`) and its histogram `counts[from..to)`, where `counts[k]` is bucket `offset + k`: the
   * monitor's own slices, added without building an input object or a view.
   */
  addRow(
    s: ArrayLike<number>,
    b: number,
    counts: ArrayLike<number>,
    from: number,
    to: number,
    offset: number,
  ): this {
    const n = s[b + COUNT]!
    if (!(n > 0)) return this
    this.count += n
    this.errors += s[b + ERRORS]!
    this.slow += s[b + SLOW]!
    this.sum += s[b + SUM]!
    if (s[b + MIN]! < this.min) this.min = s[b + MIN]!
    if (s[b + MAX]! > this.max) this.max = s[b + MAX]!
    // Status classes exist only once an event carried a status: an op that never did has none.
    if (
      s[b + STATUS]! + s[b + STATUS + 1]! + s[b + STATUS + 2]! + s[b + STATUS + 3]! + s[b + STATUS + 4]! >
      0
    ) {
      const st = (this.status ??= [0, 0, 0, 0, 0])
      for (let k = 0; k < 5; k++) st[k]! += s[b + STATUS + k]!
    }
    this.histogram.addRange(counts, from, to, offset)
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
  stats(): WindowStats {
    const h = this.histogram
    return windowStats(this, h.counts, 0, h.counts.length, h.lo)
  }

  /** Forgets everything (keeps the histogram's storage for reuse). */
  reset(): void {
    this.count = 0
    this.errors = 0
    this.slow = 0
    this.sum = 0
    this.min = Number.POSITIVE_INFINITY
    this.max = 0
    this.status = undefined
    this.missingHistograms = 0
    this.histogram.reset()
  }

  /** Events per status class, or `undefined` if no input carried them. */
  statusClasses(): StatusClasses | undefined {
    const s = this.status
    if (s === undefined) return undefined
    return { '1xx': s[0]!, '2xx': s[1]!, '3xx': s[2]!, '4xx': s[3]!, '5xx': s[4]! }
  }

  /** Events per status class 1xx..5xx as numbers (zeros if no input carried them). */
  statusAt(k: number): number {
    return this.status === undefined ? 0 : this.status[k]!
  }

  /** The merged histogram in its JSON form (trimmed of empty ends). */
  histogramJSON(): SparseHistogram {
    return this.histogram.toJSON()
  }
}
