import { percentilesOf } from './histogram.js'
import type { WindowStats } from './snapshot.js'

/** Running totals of events: what window stats are computed from. */
export interface EventTotals {
  readonly count: number
  readonly errors: number
  readonly slow: number
  readonly sum: number
  /** `Infinity` while empty. */
  readonly min: number
  readonly max: number
}

/**
 * Window stats from totals and bucket counts `counts[from..to)`, where `counts[k]` is bucket
 * `offset + k`. One definition for the monitor's snapshot and for merged snapshots, so the two agree.
 */
export function windowStats(
  t: EventTotals,
  counts: ArrayLike<number>,
  from: number,
  to: number,
  offset: number,
): WindowStats {
  const n = t.count
  const min = n > 0 ? t.min : 0
  return {
    count: n,
    errors: t.errors,
    slow: t.slow,
    errorRate: n > 0 ? t.errors / n : 0,
    avgMs: n > 0 ? t.sum / n : 0,
    sumMs: t.sum,
    minMs: min,
    maxMs: t.max,
    ...percentilesOf(counts, from, Math.max(from, to), offset, n, min, t.max),
  }
}
