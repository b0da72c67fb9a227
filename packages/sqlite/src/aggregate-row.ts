import { Aggregate, type AggregateInput, type OpAggregate, type SparseHistogram } from '@perf/core'

/** The figure columns every aggregate table shares (minutes, hours, and their per-release copies). */
export interface AggregateRow {
  count: number
  errors: number
  slow: number
  sum_ms: number
  min_ms: number
  max_ms: number
  histogram: string
}

/** A stored row of any aggregate table as the input of an {@link Aggregate}. */
export function rowInput(r: AggregateRow): AggregateInput {
  return {
    count: r.count,
    errors: r.errors,
    slow: r.slow,
    sumMs: r.sum_ms,
    minMs: r.min_ms,
    maxMs: r.max_ms,
    histogram: JSON.parse(r.histogram) as SparseHistogram,
  }
}

/**
 * The figure columns to upsert (count, errors, slow, sum, min, max, histogram JSON) for `a` added to
 * the row already stored at its key, if any: slices shorter than a minute, or two processes sharing
 * the file, merge exactly. With no row stored, `a`'s own figures are written as they are.
 */
export function addedColumns(
  a: Pick<OpAggregate, 'count' | 'errors' | 'slow' | 'sumMs' | 'minMs' | 'maxMs' | 'histogram'>,
  prev: AggregateRow | undefined,
): [number, number, number, number, number, number, string] {
  if (prev === undefined) {
    return [a.count, a.errors, a.slow, a.sumMs, a.minMs, a.maxMs, JSON.stringify(a.histogram)]
  }
  const m = new Aggregate().add(rowInput(prev)).add(a)
  return [m.count, m.errors, m.slow, m.sum, m.min, m.max, JSON.stringify(m.histogramJSON())]
}
