import { Aggregate, checkNumber, checkOptionKeys, checkRelease } from '@perf/core'
import Database from 'better-sqlite3'
import { type AggregateRow, rowInput } from './aggregate-row.js'

/**
 * One side of a comparison: a release (all of it, or the part of it inside `since`..`until`), or a
 * time range over every process whatever its release.
 */
export interface CompareSide {
  /** A release as the monitor named it (`release` option / `PERF_RELEASE`). */
  release?: string
  /** Start, ms since the epoch or a Date. Required without `release`. */
  since?: number | Date
  /** End (exclusive), ms since the epoch or a Date. Default: now. */
  until?: number | Date
}

/** A query of {@link compareStore} / `SqliteStore.compare`. */
export interface CompareQuery {
  base: CompareSide
  head: CompareSide
  /** Only ops of this type (`http`, `db`, …). */
  type?: string
  /** Events each side needs before any verdict but `too little data`. Default 50. */
  minCount?: number
  /** Two-sided significance level of both tests. Default 0.01. */
  alpha?: number
  /**
   * Smallest latency effect judged: how far P(head > base) (ties half) must be from 0.5. Default
   * 0.06, i.e. 0.56, the "small" effect of Vargha and Delaney.
   */
  minEffect?: number
  /** Smallest error-rate increase judged, as a fraction (0.001 = 0.1 percentage point). Default 0.001. */
  minErrorIncrease?: number
}

/** What a comparison found for one op. */
export type Verdict = 'slower' | 'faster' | 'more errors' | 'same' | 'too little data'

/** The figures of one op on one side, from its merged histogram. */
export interface SideFigures {
  readonly count: number
  readonly errors: number
  /** errors / count, 0..1. */
  readonly errorRate: number
  readonly avgMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

/** One op compared. */
export interface OpComparison {
  readonly type: string
  readonly name: string
  readonly base: SideFigures
  readonly head: SideFigures
  /** head / base - 1 for latency (`null` when a side has no events); head - base for the error rate. */
  readonly change: {
    readonly p50: number | null
    readonly p95: number | null
    readonly p99: number | null
    readonly avg: number | null
    readonly errorRate: number
  }
  readonly verdict: Verdict
  /** Mann-Whitney U on the two histograms: P(head > base) with ties half, z and two-sided p. */
  readonly latencyTest: { readonly effect: number; readonly z: number; readonly p: number }
  /** Two-proportion z test of the error rates (pooled), two-sided p. */
  readonly errorTest: { readonly z: number; readonly p: number }
}

/** A side as it was read. */
export interface ResolvedSide {
  readonly release: string | null
  readonly since: number | null
  readonly until: number | null
}

/** The answer to {@link compareStore}: ops sorted with what got worse first. */
export interface Comparison {
  readonly base: ResolvedSide
  readonly head: ResolvedSide
  readonly ops: OpComparison[]
}

/** A release seen in the store. */
export interface ReleaseInfo {
  readonly release: string
  /** First and last time its processes handed over aggregates, ms since the epoch. */
  readonly firstSeen: number
  readonly lastSeen: number
  /** Process starts (pid and start time) that ran it. */
  readonly processes: number
}

/** A query of {@link summarizeStore}. */
export interface SummaryQuery {
  since?: number | Date
  until?: number | Date
  type?: string
  release?: string
}

/** One op over a range, for reports. */
export interface OpSummary extends SideFigures {
  readonly type: string
  readonly name: string
  readonly slow: number
  readonly sumMs: number
}

const MINUTE = 60_000
/** Rows read per statement: no statement stays open across a page, so the writer is never blocked. */
const PAGE_ROWS = 2_000

/** Options of a read of {@link compareStore}, {@link compareStoreAsync} and {@link summarizeStore}. */
export interface ReadOptions {
  /**
   * Called after each page of rows with the rows read so far and the rows to read in all (counted
   * before reading; rows written meanwhile may make `read` end a little past or short of `total`).
   */
  onProgress?: ((read: number, total: number) => void) | undefined
  /** Rows per page, 1 to 100 000. Default 2 000. */
  pageRows?: number | undefined
}

/** Bucket counts from bucket `lo` on (the shape of `Aggregate.histogram`). */
interface Buckets {
  readonly lo: number
  readonly counts: ArrayLike<number>
}

/**
 * Opens a store file read-only (safe while an app writes it: WAL readers never block the writer),
 * for {@link compareStore}, {@link summarizeStore} and {@link listReleases}. Throws an `Error` that
 * says what is wrong when the file is missing or not a @perf store.
 */
export function openStoreReadOnly(path: string): Database.Database {
  let db: Database.Database
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 2000 })
  } catch (err) {
    throw new Error(
      `cannot open ${JSON.stringify(path)}: ${(err as Error).message}; expected a @perf SqliteStore file`,
    )
  }
  try {
    const v = db.prepare("SELECT value FROM perf_meta WHERE key = 'schema_version'").pluck().get()
    if (v === undefined) throw new Error('it has no schema version')
  } catch (err) {
    db.close()
    throw new Error(
      `${JSON.stringify(path)} is not a @perf SqliteStore file (${(err as Error).message}); expected the path given to new SqliteStore({ path })`,
    )
  }
  return db
}

/** Releases recorded in the store, oldest first. */
export function listReleases(db: Database.Database): ReleaseInfo[] {
  if (!hasReleases(db)) return []
  return (
    db
      .prepare(
        'SELECT release, min(first_seen) AS f, max(last_seen) AS l, count(*) AS n FROM perf_processes GROUP BY release ORDER BY f, release',
      )
      .all() as { release: string; f: number; l: number; n: number }[]
  ).map((r) => ({ release: r.release, firstSeen: r.f, lastSeen: r.l, processes: r.n }))
}

/** Every op of a range (and release) added up exactly, with percentiles from the merged histogram. */
export function summarizeStore(
  db: Database.Database,
  query: SummaryQuery = {},
  options: ReadOptions = {},
): OpSummary[] {
  const label = 'summarize()'
  if (query === null || typeof query !== 'object') throw new TypeError(`${label}: query must be an object`)
  checkOptionKeys(`${label} query`, query, ['since', 'until', 'type', 'release'])
  const type = checkType(label, query.type)
  const side = resolveSide(db, `${label} query`, query, true)
  const reader = readSides(db, [side], type, readOptions(label, options))
  let step = reader.next()
  while (step.done !== true) step = reader.next()
  const out: OpSummary[] = []
  for (const { type: t, name, agg } of step.value[0]!.values()) {
    const s = agg.stats()
    out.push({ type: t, name, ...figures(agg), slow: s.slow, sumMs: s.sumMs })
  }
  return out.sort((a, b) => cmp(a.type, b.type) || b.sumMs - a.sumMs || cmp(a.name, b.name))
}

/**
 * Compares two sides (releases or time ranges) op by op: count, error rate and p50/p95/p99 of each
 * side from the merged histograms, the change, and a verdict that fires only beyond noise. Latency:
 * a Mann-Whitney U test computed from the two histograms (each bucket a group of tied values), judged
 * when p < `alpha` and P(head > base) is at least `minEffect` from 0.5. Errors: a two-proportion z
 * test, judged when p < `alpha` and the rate rose by at least `minErrorIncrease`. A side with fewer
 * than `minCount` events gives `too little data`. Throws a `TypeError`/`RangeError` naming a bad
 * field, or an unknown release (listing the known ones).
 */
export function compareStore(
  db: Database.Database,
  query: CompareQuery,
  options: ReadOptions = {},
): Comparison {
  const plan = planCompare(db, query, options)
  let step = plan.reader.next()
  while (step.done !== true) step = plan.reader.next()
  return finishCompare(plan, step.value)
}

/**
 * {@link compareStore}, reading in pages and yielding the thread (`setImmediate`) between them, so a
 * large file does not hold the app's event loop for the whole read. A bad query throws at once,
 * before the returned promise (as `compareStore` does); `db` must stay open until it settles.
 */
export function compareStoreAsync(
  db: Database.Database,
  query: CompareQuery,
  options: ReadOptions = {},
): Promise<Comparison> {
  const plan = planCompare(db, query, options)
  return (async () => {
    let step = plan.reader.next()
    while (step.done !== true) {
      await new Promise<void>((resolve) => setImmediate(resolve))
      step = plan.reader.next()
    }
    return finishCompare(plan, step.value)
  })()
}

interface ComparePlan {
  readonly base: ResolvedSide
  readonly head: ResolvedSide
  readonly opts: { minCount: number; alpha: number; minEffect: number; minErrorIncrease: number }
  readonly reader: Generator<void, Map<string, OpAgg>[]>
}

/** Checks a query and resolves its sides (throwing at once), and sets up the paged read. */
function planCompare(db: Database.Database, query: CompareQuery, options: ReadOptions): ComparePlan {
  const label = 'compare()'
  if (query === null || typeof query !== 'object') {
    throw new TypeError(`${label}: query must be an object { base, head }`)
  }
  checkOptionKeys(`${label} query`, query, [
    'base',
    'head',
    'type',
    'minCount',
    'alpha',
    'minEffect',
    'minErrorIncrease',
  ])
  const type = checkType(label, query.type)
  const opts = {
    minCount: checkNumber(`${label} minCount`, query.minCount ?? 50, { min: 1, max: 1e9, integer: true }),
    alpha: checkNumber(`${label} alpha`, query.alpha ?? 0.01, { min: 1e-12, max: 0.5 }),
    minEffect: checkNumber(`${label} minEffect`, query.minEffect ?? 0.06, { min: 0, max: 0.5 }),
    minErrorIncrease: checkNumber(`${label} minErrorIncrease`, query.minErrorIncrease ?? 0.001, {
      min: 0,
      max: 1,
    }),
  }
  const base = resolveSide(db, `${label} base`, query.base, false)
  const head = resolveSide(db, `${label} head`, query.head, false)
  return { base, head, opts, reader: readSides(db, [base, head], type, readOptions(label, options)) }
}

function finishCompare(plan: ComparePlan, sides: Map<string, OpAgg>[]): Comparison {
  const { base, head, opts } = plan
  const a = sides[0]!
  const b = sides[1]!
  const ops: OpComparison[] = []
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const op = (a.get(key) ?? b.get(key))!
    ops.push(
      compareOp(
        op.type,
        op.name,
        a.get(key)?.agg ?? new Aggregate(),
        b.get(key)?.agg ?? new Aggregate(),
        opts,
      ),
    )
  }
  ops.sort(
    (x, y) =>
      RANK[x.verdict] - RANK[y.verdict] ||
      (y.change.p95 ?? 0) - (x.change.p95 ?? 0) ||
      cmp(x.type, y.type) ||
      cmp(x.name, y.name),
  )
  return { base, head, ops }
}

const RANK: Record<Verdict, number> = {
  'more errors': 0,
  slower: 1,
  'too little data': 2,
  same: 3,
  faster: 4,
}

function compareOp(
  type: string,
  name: string,
  base: Aggregate,
  head: Aggregate,
  o: { minCount: number; alpha: number; minEffect: number; minErrorIncrease: number },
): OpComparison {
  const fb = figures(base)
  const fh = figures(head)
  const lat = mannWhitney(base.histogram, head.histogram)
  const err = twoProportions(base.errors, base.count, head.errors, head.count)
  let verdict: Verdict
  if (base.count < o.minCount || head.count < o.minCount) verdict = 'too little data'
  else if (err.p < o.alpha && fh.errorRate - fb.errorRate >= o.minErrorIncrease && err.z > 0) {
    verdict = 'more errors'
  } else if (lat.p < o.alpha && Math.abs(lat.effect - 0.5) >= o.minEffect) {
    verdict = lat.effect > 0.5 ? 'slower' : 'faster'
  } else verdict = 'same'
  const rel = (h: number, b: number) => (fb.count === 0 || fh.count === 0 || b === 0 ? null : h / b - 1)
  return {
    type,
    name,
    base: fb,
    head: fh,
    change: {
      p50: rel(fh.p50Ms, fb.p50Ms),
      p95: rel(fh.p95Ms, fb.p95Ms),
      p99: rel(fh.p99Ms, fb.p99Ms),
      avg: rel(fh.avgMs, fb.avgMs),
      errorRate: fh.errorRate - fb.errorRate,
    },
    verdict,
    latencyTest: lat,
    errorTest: err,
  }
}

function figures(a: Aggregate): SideFigures {
  const s = a.stats()
  return {
    count: s.count,
    errors: s.errors,
    errorRate: s.count === 0 ? 0 : s.errors / s.count,
    avgMs: s.avgMs,
    p50Ms: s.p50Ms,
    p95Ms: s.p95Ms,
    p99Ms: s.p99Ms,
    maxMs: s.maxMs,
  }
}

/**
 * Mann-Whitney U of `head` against `base`, from bucket counts: the values of one bucket are tied
 * (each pair within a bucket counts one half), and the variance carries the usual tie correction.
 * `effect` is U / (n1 n2), the probability that a head event is slower than a base event.
 */
export function mannWhitney(base: Buckets, head: Buckets): { effect: number; z: number; p: number } {
  const lo = Math.min(base.lo, head.lo)
  const hi = Math.max(base.lo + base.counts.length, head.lo + head.counts.length)
  let n1 = 0
  let n2 = 0
  let u = 0
  let ties = 0
  for (let i = lo; i < hi; i++) {
    const x = at(base, i)
    const y = at(head, i)
    if (x === 0 && y === 0) continue
    u += y * (n1 + x / 2)
    n1 += x
    n2 += y
    const t = x + y
    ties += t * t * t - t
  }
  if (n1 === 0 || n2 === 0) return { effect: 0.5, z: 0, p: 1 }
  const n = n1 + n2
  const mean = (n1 * n2) / 2
  const variance = ((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1)))
  if (!(variance > 0)) return { effect: u / (n1 * n2), z: 0, p: 1 }
  // Continuity correction: U moves in steps of one half.
  const d = u - mean
  const z = (Math.sign(d) * Math.max(0, Math.abs(d) - 0.5)) / Math.sqrt(variance)
  return { effect: u / (n1 * n2), z, p: twoSided(z) }
}

function at(h: Buckets, i: number): number {
  const j = i - h.lo
  return j >= 0 && j < h.counts.length ? h.counts[j]! : 0
}

/** Pooled two-proportion z test of x2/n2 against x1/n1; z > 0 when the second rate is higher. */
export function twoProportions(x1: number, n1: number, x2: number, n2: number): { z: number; p: number } {
  if (n1 === 0 || n2 === 0) return { z: 0, p: 1 }
  const pooled = (x1 + x2) / (n1 + n2)
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
  if (!(se > 0)) return { z: 0, p: 1 }
  const z = (x2 / n2 - x1 / n1) / se
  return { z, p: twoSided(z) }
}

/** Two-sided p of a standard normal z: erfc(|z| / √2) (Abramowitz & Stegun 7.1.26, error < 1.5e-7). */
function twoSided(z: number): number {
  const x = Math.abs(z) / Math.SQRT2
  const t = 1 / (1 + 0.3275911 * x)
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
  return Math.min(1, poly * Math.exp(-x * x))
}

interface OpAgg {
  type: string
  name: string
  agg: Aggregate
}

/** How one side is read: keyset paging on a key of three columns, in the order of an index. */
interface SideQuery {
  readonly table: string
  /** The key, in `ORDER BY` order. */
  readonly key: readonly [string, string, string]
  readonly where: string
  readonly args: readonly unknown[]
}

function sideQuery(side: ResolvedSide, type: string | undefined): SideQuery {
  const where: string[] = []
  const args: unknown[] = []
  let table: string
  let key: [string, string, string]
  if (side.release !== null && side.since === null && side.until === null) {
    // A whole release: its hourly roll-ups hold the same sums as its minutes, with 60 times fewer rows.
    table = 'perf_release_hours'
    key = ['type', 'name', 'hour']
    where.push('release = ?')
    args.push(side.release)
  } else {
    table = side.release === null ? 'perf_aggregates' : 'perf_release_minutes'
    // A release's range pages along its primary key (release, type, name, minute); every release's
    // range along the minute index, as history() does.
    key = side.release === null ? ['minute', 'type', 'name'] : ['type', 'name', 'minute']
    where.push('minute >= ?', 'minute < ?')
    args.push(Math.floor((side.since ?? 0) / MINUTE) * MINUTE, side.until ?? Number.MAX_SAFE_INTEGER)
    if (side.release !== null) {
      where.push('release = ?')
      args.push(side.release)
    }
  }
  if (type !== undefined) {
    where.push('type = ?')
    args.push(type)
  }
  return { table, key, where: where.join(' AND '), args }
}

/** Read options, checked. */
interface CheckedRead {
  readonly onProgress: ((read: number, total: number) => void) | undefined
  readonly pageRows: number
}

function readOptions(label: string, options: ReadOptions): CheckedRead {
  if (options === null || typeof options !== 'object')
    throw new TypeError(`${label}: options must be an object`)
  checkOptionKeys(`${label} options`, options, ['onProgress', 'pageRows'])
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new TypeError(`${label} options.onProgress must be a function (read, total) => void`)
  }
  return {
    onProgress: options.onProgress,
    pageRows: checkNumber(`${label} options.pageRows`, options.pageRows ?? PAGE_ROWS, {
      min: 1,
      max: 100_000,
      integer: true,
    }),
  }
}

/**
 * Reads sides op by op into merged aggregates, a page of rows per step: the generator yields between
 * pages (where an async caller gives the thread back), and reports progress after each.
 */
function* readSides(
  db: Database.Database,
  sides: readonly ResolvedSide[],
  type: string | undefined,
  options: CheckedRead,
): Generator<void, Map<string, OpAgg>[]> {
  const queries = sides.map((side) => sideQuery(side, type))
  let total = 0
  // Counted only for a progress report: it is a second pass over the range's index.
  for (const q of options.onProgress === undefined ? [] : queries) {
    total += db
      .prepare(`SELECT count(*) FROM ${q.table} WHERE ${q.where}`)
      .pluck()
      .get(...q.args) as number
  }
  let read = 0
  const out: Map<string, OpAgg>[] = []
  for (const [i, q] of queries.entries()) {
    // Between sides too: a small file is then still read in more than one go.
    if (i > 0) yield
    const cols = 'type, name, count, errors, slow, sum_ms, min_ms, max_ms, histogram'
    const [k1, k2, k3] = q.key
    const order = `ORDER BY ${k1}, ${k2}, ${k3} LIMIT ${options.pageRows}`
    const first = db.prepare(
      `SELECT ${cols}, ${k1} AS k1, ${k2} AS k2, ${k3} AS k3 FROM ${q.table} WHERE ${q.where} ${order}`,
    )
    const next = db.prepare(
      `SELECT ${cols}, ${k1} AS k1, ${k2} AS k2, ${k3} AS k3 FROM ${q.table} WHERE ${q.where} AND (${k1}, ${k2}, ${k3}) > (?, ?, ?) ${order}`,
    )
    const ops = new Map<string, OpAgg>()
    let page = first.all(...q.args) as SideRow[]
    for (;;) {
      for (const r of page) {
        const key = `${r.type}\u0000${r.name}`
        let op = ops.get(key)
        if (op === undefined) ops.set(key, (op = { type: r.type, name: r.name, agg: new Aggregate() }))
        op.agg.add(rowInput(r))
      }
      read += page.length
      options.onProgress?.(read, Math.max(read, total))
      if (page.length < options.pageRows) break
      const last = page[page.length - 1]!
      yield
      page = next.all(...q.args, last.k1, last.k2, last.k3) as SideRow[]
    }
    out.push(ops)
  }
  return out
}

type SideRow = { type: string; name: string; k1: unknown; k2: unknown; k3: unknown } & AggregateRow

function resolveSide(
  db: Database.Database,
  label: string,
  side: CompareSide | undefined,
  optional: boolean,
): ResolvedSide {
  if (side === null || typeof side !== 'object') {
    throw new TypeError(`${label} must be an object { release } or { since, until }, got ${String(side)}`)
  }
  if (!optional) checkOptionKeys(label, side, ['release', 'since', 'until'])
  const release = side.release === undefined ? null : checkRelease(`${label}.release`, side.release)
  const since = side.since === undefined ? null : time(`${label}.since`, side.since)
  const until = side.until === undefined ? null : time(`${label}.until`, side.until)
  if (release === null && since === null && !optional) {
    throw new TypeError(
      `${label} needs a release or a since: expected { release: "1.4.2" } or { since, until }`,
    )
  }
  if (since !== null && until !== null && since >= until) {
    throw new RangeError(`${label}.since (${since}) is not before until (${until})`)
  }
  if (release !== null) {
    const known = listReleases(db)
    if (!known.some((k) => k.release === release)) {
      throw new RangeError(
        `${label}.release ${JSON.stringify(release)} is not in the store; known releases: ${
          known.length === 0
            ? 'none (no monitor writing to it had a release option)'
            : known.map((k) => k.release).join(', ')
        }`,
      )
    }
  }
  return { release, since, until: until ?? (since !== null ? Date.now() : null) }
}

function hasReleases(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'perf_processes'").get() !== undefined
}

function checkType(label: string, type: unknown): string | undefined {
  if (type !== undefined && typeof type !== 'string') {
    throw new TypeError(
      `${label} type = ${String(type)} is not valid: expected a type such as "http" or "db"`,
    )
  }
  return type
}

function time(label: string, value: number | Date): number {
  const ms = value instanceof Date ? value.getTime() : value
  return checkNumber(label, ms, { min: 0, max: 8.64e15 })
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
