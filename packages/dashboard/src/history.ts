import { Aggregate } from '@perf/core'
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
  /** Whether per-op `points` are wanted; the dashboard asks for per-type `types` only. */
  readonly ops?: boolean
  /** Whether kept events are wanted; the dashboard does not show them. */
  readonly events?: boolean
}

/**
 * A persisted aggregate, as `SqliteStore.history()` returns it (extra fields are ignored). Rows are
 * added up, never their percentiles: a row without a histogram leaves its bucket's percentiles
 * unknown (`null`).
 */
export interface HistoryRow {
  readonly type?: string
  readonly name?: string
  readonly start: number
  readonly end?: number
  readonly count: number
  readonly errors?: number
  readonly slow?: number
  readonly sumMs?: number
  /** Used only when `sumMs` is absent. */
  readonly avgMs?: number
  readonly minMs?: number
  readonly maxMs?: number
  readonly histogram?: { readonly offset: number; readonly counts: ArrayLike<number> } | null
}

/**
 * A store's answer: rows as an array, or an object with per-op `points` and/or per-type `types`
 * (already merged per type, as `SqliteStore` answers) and process `samples`.
 */
export type HistoryResult =
  | readonly HistoryRow[]
  | {
      readonly points?: readonly HistoryRow[]
      readonly types?: readonly HistoryRow[]
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
  // Whole minutes per bucket: the store's rows are per slice (a minute by default). Past a day, whole
  // hours: the store then reads its hourly roll-ups, one row per op per hour instead of sixty.
  const step = ms > DAY ? HOUR : MINUTE
  const bucketMs = Math.max(step, Math.ceil(ms / points / step) * step)
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

/** One history point of a type: what the chart draws. Percentiles are `null` when unknown. */
export interface HistoryChartPoint extends Omit<TimelinePoint, 'p50Ms' | 'p95Ms' | 'p99Ms'> {
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
}

/**
 * Groups stored rows from `since` to `until` into buckets of `bucketMs`: counts, sums and histograms
 * add up, and each bucket's percentiles come from its merged histogram, so they are exact to the
 * histogram's resolution.
 */
export function bucketRows(
  rows: readonly HistoryRow[],
  since: number,
  bucketMs: number,
  until: number,
): HistoryChartPoint[] {
  // Buckets sit on multiples of bucketMs since the epoch, so points line up from one request to the next.
  const first = Math.floor(since / bucketMs)
  const n = Math.floor(until / bucketMs) - first + 1
  const acc: Aggregate[] = []
  for (const row of rows) {
    if (typeof row?.start !== 'number' || typeof row.count !== 'number' || row.count <= 0) continue
    // The first bucket starts at or before `since` (a store's bucket, or an hour, may start earlier).
    const k = Math.floor(row.start / bucketMs) - first
    if (k < 0 || k >= n) continue
    ;(acc[k] ??= new Aggregate()).add(row)
  }
  const out: HistoryChartPoint[] = []
  acc.forEach((a, k) => {
    const s = a.stats()
    const known = a.missingHistograms === 0
    const start = (first + k) * bucketMs
    out.push({
      start,
      end: start + bucketMs,
      count: s.count,
      errors: s.errors,
      avgMs: s.avgMs,
      p50Ms: known ? s.p50Ms : null,
      p95Ms: known ? s.p95Ms : null,
      p99Ms: known ? s.p99Ms : null,
      maxMs: s.maxMs,
    })
  })
  return out
}
