import { percentiles } from '@perf/core'
import type { TimelinePoint } from './timeline.js'

/** Query of {@link HistoryStore.history} (what `SqliteStore.history()` accepts). */
export interface HistoryQuery {
  readonly type?: string
  readonly name?: string
  /** Range start and end, ms since the epoch. */
  readonly since?: number
  readonly until?: number
  /** Width of each point, a whole number of minutes in ms. */
  readonly bucketMs?: number
  /** Most events and process samples returned. */
  readonly limit?: number
}

/** A persisted slice aggregate, as `SqliteStore.history()` returns it (extra fields are ignored). */
export interface HistoryRow {
  readonly type?: string
  readonly name?: string
  readonly start: number
  readonly end?: number
  readonly count: number
  readonly errors?: number
  readonly sumMs?: number
  readonly avgMs?: number
  readonly maxMs?: number
  readonly p50Ms?: number
  readonly p95Ms?: number
  readonly p99Ms?: number
  readonly histogram?: { readonly offset: number; readonly counts: ArrayLike<number> } | null
}

/** A store's answer: per-op rows (as an array, or as `points` with process `samples` beside them). */
export type HistoryResult =
  | readonly HistoryRow[]
  | {
      readonly points: readonly HistoryRow[]
      readonly samples?: readonly Readonly<Record<string, unknown>>[]
    }

/** What the dashboard needs of a store (e.g. `SqliteStore` from `@perf/sqlite`) to show history. */
export interface HistoryStore {
  history(query: HistoryQuery): HistoryResult | Promise<HistoryResult>
}

/** A resolved history request: the range and the width of one chart point. */
export interface HistoryRange {
  /** The range as asked for after clamping, e.g. `24h`. */
  readonly label: string
  readonly ms: number
  readonly bucketMs: number
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
/** Shortest and longest history the API serves. */
export const MIN_RANGE_MS: number = 5 * MINUTE
export const MAX_RANGE_MS: number = 7 * DAY
/** Most points a history series holds; wider ranges get wider buckets. */
export const MAX_POINTS = 500
const DEFAULT_POINTS = 120

/**
 * Parses `range` (`<n>m`, `<n>h` or `<n>d`, default `1h`) and `points` from a query string. Values out
 * of bounds are clamped (range to 5 min…7 d, points to 10…500); text that does not parse is an error
 * naming the accepted forms.
 */
export function parseHistoryRange(params: URLSearchParams): HistoryRange {
  const raw = params.get('range') ?? '1h'
  const m = /^(\d{1,6})(m|h|d)$/.exec(raw.trim())
  if (m === null) {
    throw new RangeError(
      `range=${JSON.stringify(raw.slice(0, 40))} is not valid: expected e.g. 1h, 24h, 7d (<n>m, <n>h or <n>d)`,
    )
  }
  const unit = m[2] === 'm' ? MINUTE : m[2] === 'h' ? HOUR : DAY
  const ms = Math.min(MAX_RANGE_MS, Math.max(MIN_RANGE_MS, Number(m[1]) * unit))
  const rawPoints = params.get('points')
  let points = DEFAULT_POINTS
  if (rawPoints !== null) {
    const n = Number(rawPoints)
    if (!Number.isFinite(n)) {
      throw new RangeError(
        `points=${JSON.stringify(rawPoints.slice(0, 40))} is not valid: expected a number from 10 to ${MAX_POINTS}`,
      )
    }
    points = Math.min(MAX_POINTS, Math.max(10, Math.floor(n)))
  }
  // Whole minutes per bucket: the store's rows are per slice (a minute by default).
  const bucketMs = Math.max(MINUTE, Math.ceil(ms / points / MINUTE) * MINUTE)
  return { label: formatRange(ms), ms, bucketMs }
}

function formatRange(ms: number): string {
  if (ms > DAY && ms % DAY === 0) return `${ms / DAY}d`
  if (ms % HOUR === 0) return `${ms / HOUR}h`
  return `${Math.round(ms / MINUTE)}m`
}

/** Process samples of a history, as chart columns (memory in bytes, event-loop delay p99 in ms). */
export interface SampleSeries {
  t: number[]
  rss: number[]
  heapUsed: number[]
  eventLoopDelayMs: number[]
}

/** Turns stored process samples into chart columns; fields a sample lacks become gaps. */
export function sampleSeries(
  samples: readonly Readonly<Record<string, unknown>>[] | undefined,
): SampleSeries {
  const out: SampleSeries = { t: [], rss: [], heapUsed: [], eventLoopDelayMs: [] }
  for (const s of samples ?? []) {
    if (typeof s?.timestamp !== 'number') continue
    const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : Number.NaN)
    out.t.push(s.timestamp)
    out.rss.push(n(s.rssBytes))
    out.heapUsed.push(n(s.heapUsedBytes))
    out.eventLoopDelayMs.push(n(s.eventLoopDelayP99Ms))
  }
  return out
}

/**
 * Groups stored rows from `since` to `until` into buckets of `bucketMs`: counts add up, and percentiles come from
 * merged histograms when rows carry them (exact), else from the worst row in the bucket (an upper bound).
 */
export function bucketRows(
  rows: readonly HistoryRow[],
  since: number,
  bucketMs: number,
  until: number,
): TimelinePoint[] {
  // Buckets sit on multiples of bucketMs since the epoch, so points line up from one request to the next.
  const first = Math.floor(since / bucketMs)
  const n = Math.floor(until / bucketMs) - first + 1
  const acc: Acc[] = []
  for (const row of rows) {
    if (typeof row?.start !== 'number' || typeof row.count !== 'number' || row.count <= 0) continue
    if (row.start < since || row.start > until) continue
    const k = Math.floor(row.start / bucketMs) - first
    if (k < 0 || k >= n) continue
    let a = acc[k]
    if (a === undefined) acc[k] = a = newAcc((first + k) * bucketMs, bucketMs)
    addRow(a, row)
  }
  const out: TimelinePoint[] = []
  for (const a of acc) if (a !== undefined) out.push(finish(a))
  return out
}

interface Acc {
  start: number
  end: number
  count: number
  errors: number
  sum: number
  max: number
  p50: number
  p95: number
  p99: number
  hist: Map<number, number> | undefined
  exact: boolean
}

function newAcc(start: number, bucketMs: number): Acc {
  return {
    start,
    end: start + bucketMs,
    count: 0,
    errors: 0,
    sum: 0,
    max: 0,
    p50: 0,
    p95: 0,
    p99: 0,
    hist: undefined,
    exact: true,
  }
}

function addRow(a: Acc, row: HistoryRow): void {
  a.count += row.count
  a.errors += row.errors ?? 0
  a.sum += row.sumMs ?? (row.avgMs ?? 0) * row.count
  a.max = Math.max(a.max, row.maxMs ?? 0)
  a.p50 = Math.max(a.p50, row.p50Ms ?? 0)
  a.p95 = Math.max(a.p95, row.p95Ms ?? 0)
  a.p99 = Math.max(a.p99, row.p99Ms ?? 0)
  const h = row.histogram
  if (h && typeof h.offset === 'number' && h.counts) {
    a.hist ??= new Map()
    for (let j = 0; j < h.counts.length; j++) {
      const v = h.counts[j]!
      if (v !== 0) a.hist.set(h.offset + j, (a.hist.get(h.offset + j) ?? 0) + v)
    }
  } else {
    a.exact = false
  }
}

function finish(a: Acc): TimelinePoint {
  let p50 = a.p50
  let p95 = a.p95
  let p99 = a.p99
  if (a.exact && a.hist !== undefined && a.hist.size > 0) {
    const keys = [...a.hist.keys()].sort((x, y) => x - y)
    const lo = keys[0]!
    const counts = new Float64Array(keys[keys.length - 1]! - lo + 1)
    for (const k of keys) counts[k - lo] = a.hist.get(k)!
    const p = percentiles({ offset: lo, counts }, a.count, 0, a.max > 0 ? a.max : Number.POSITIVE_INFINITY)
    p50 = p.p50Ms
    p95 = p.p95Ms
    p99 = p.p99Ms
  }
  return {
    start: a.start,
    end: a.end,
    count: a.count,
    errors: a.errors,
    avgMs: a.count > 0 ? a.sum / a.count : 0,
    p50Ms: p50,
    p95Ms: p95,
    p99Ms: p99,
    maxMs: a.max,
  }
}
