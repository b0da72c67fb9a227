import { checkRelease } from '@perf/core'

/** One side of a comparison as a store takes it: a release, a time range, or both. */
export interface CompareSideQuery {
  readonly release?: string
  readonly since?: number
  readonly until?: number
}

/** A side as the store resolved it. */
export interface ResolvedCompareSide {
  readonly release: string | null
  readonly since: number | null
  readonly until: number | null
}

/** One side's figures of an op, from its merged histogram (what `SqliteStore.compare()` gives). */
export interface CompareFigures {
  readonly count: number
  readonly errors: number
  readonly errorRate: number
  readonly avgMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly maxMs: number
}

/** What a comparison found for one op. */
export type CompareVerdict = 'slower' | 'faster' | 'more errors' | 'same' | 'too little data'

/** One op compared (the shape of `OpComparison` from `@perf/sqlite`; extra fields are passed on). */
export interface CompareOp {
  readonly type: string
  readonly name: string
  readonly base: CompareFigures
  readonly head: CompareFigures
  /** Latency: head / base − 1 (`null` when a side has no events); error rate: head − base. */
  readonly change: {
    readonly p50: number | null
    readonly p95: number | null
    readonly p99: number | null
    readonly avg?: number | null
    readonly errorRate: number
  }
  readonly verdict: CompareVerdict
}

/** A release a store has seen (the shape of `ReleaseInfo` from `@perf/sqlite`). */
export interface ReleaseSeen {
  readonly release: string
  /** First and last time its processes handed over aggregates, ms since the epoch. */
  readonly firstSeen: number
  readonly lastSeen: number
  readonly processes?: number
}

/** What the dashboard needs of a store (e.g. `SqliteStore`) for the compare view and release markers. */
export interface CompareStore {
  compare(query: {
    base: CompareSideQuery
    head: CompareSideQuery
    type?: string
  }): Promise<{ base: ResolvedCompareSide; head: ResolvedCompareSide; ops: readonly CompareOp[] }>
  releases(): readonly ReleaseSeen[] | Promise<readonly ReleaseSeen[]>
}

/** The answer of `api/compare`. */
export interface CompareView {
  /** The sides compared; `null` when there was nothing to compare by default (see `reason`). */
  base: ResolvedCompareSide | null
  head: ResolvedCompareSide | null
  /** Whether the sides are the defaults (this release against the one before it). */
  defaulted: boolean
  /** The monitor's own release (`release` option / `PERF_RELEASE`), `null` without one. */
  current: string | null
  /** Every release of the store, oldest first: what the page's pickers offer. */
  releases: ReleaseSeen[]
  /** Ops with what got worse first (see {@link sortForPage}). */
  ops: CompareOp[]
  /** Why there is no default comparison (fewer than two releases, or none before the current one). */
  reason?: string
}

/** A release change inside a history range: where the charts draw a marker. */
export interface ReleaseMarker {
  readonly release: string
  /** When the release was first seen, ms since the epoch. */
  readonly at: number
}

/** Whether `store` can compare (a `SqliteStore` can; a custom history store may not). */
export function canCompare(store: unknown): store is CompareStore {
  const s = store as Partial<CompareStore> | null | undefined
  return typeof s?.compare === 'function' && typeof s.releases === 'function'
}

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}
const TIME_HELP = 'a duration ago (90s, 30m, 1h, 7d), an ISO date (2026-12-01T10:00Z) or ms since the epoch'
const SIDE_HELP = `a release (1-128 of [A-Za-z0-9._+-], or release:NAME) or a range <from>..<to> (${TIME_HELP}; an empty <to> is now)`

function parseTime(label: string, value: string, now: number): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value)
  if (d !== null) return now - Number(d[1]) * UNITS[d[2]!]!
  if (/^\d{10,15}$/.test(value)) return Number(value)
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = Date.parse(value)
    if (Number.isFinite(ms)) return ms
  }
  throw new RangeError(`${label} ${JSON.stringify(value)} is not a time: expected ${TIME_HELP}`)
}

/**
 * Parses one side of `api/compare` — the same forms as `perf compare --base/--head`: a release
 * (`1.4.2`, or `release:1.4.2`), or a range `<from>..<to>` whose ends are a duration ago (`2h..1h`),
 * an ISO date or ms since the epoch. Throws a `RangeError` naming the parameter and what is accepted.
 */
export function parseCompareSide(param: string, value: string, now: number): CompareSideQuery {
  const label = `api/compare ${param}=`
  if (value.length === 0 || value.length > 300) {
    throw new RangeError(`${label} must be 1 to 300 characters: expected ${SIDE_HELP}`)
  }
  const named = value.startsWith('release:') ? value.slice('release:'.length) : undefined
  if (named === undefined && value.includes('..')) {
    const [from, to, ...rest] = value.split('..')
    if (rest.length > 0 || from === undefined || from === '') {
      throw new RangeError(
        `${label}${JSON.stringify(value)} is not a range: expected <from>..<to>, e.g. 2h..1h`,
      )
    }
    const since = parseTime(`${label} (range start)`, from, now)
    const until = to === undefined || to === '' ? now : parseTime(`${label} (range end)`, to, now)
    if (since >= until) {
      throw new RangeError(`${label}${JSON.stringify(value)} is empty: its start is not before its end`)
    }
    return { since, until }
  }
  try {
    return { release: checkRelease(param, named ?? value) }
  } catch {
    throw new RangeError(
      `${label}${JSON.stringify(value.slice(0, 60))} is neither a release nor a range: expected ${SIDE_HELP}`,
    )
  }
}

const WORSE: ReadonlySet<CompareVerdict> = new Set(['slower', 'more errors'])
const RANK: Readonly<Record<CompareVerdict, number>> = {
  slower: 0,
  'more errors': 0,
  'too little data': 1,
  same: 2,
  faster: 3,
}

/**
 * The page's order: what got worse first (`slower` and `more errors` together), then `too little
 * data`, `same`, `faster`; within each, the largest p95 increase first, then the largest error-rate
 * increase. An op that got slower and failed more often is judged `more errors` by the store but sits
 * among the slowdowns by its p95 change, so one list answers "what got worse, and by how much".
 */
export function sortForPage(ops: readonly CompareOp[]): CompareOp[] {
  const p95 = (op: CompareOp) => op.change.p95 ?? 0
  return [...ops].sort(
    (a, b) =>
      RANK[a.verdict] - RANK[b.verdict] ||
      (WORSE.has(a.verdict) ? p95(b) - p95(a) : 0) ||
      b.change.errorRate - a.change.errorRate ||
      p95(b) - p95(a) ||
      (a.type < b.type ? -1 : a.type > b.type ? 1 : 0) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  )
}

/**
 * The default comparison: the monitor's own release against the release first seen before it; without
 * a release of its own (or one the store has not seen yet), the newest release against the one before.
 * Returns a reason instead when the store has fewer than two releases to choose from.
 */
export function defaultSides(
  releases: readonly ReleaseSeen[],
  current: string | null,
): { base: string; head: string } | { reason: string } {
  const ordered = [...releases].sort((a, b) => a.firstSeen - b.firstSeen)
  let i = current === null ? -1 : ordered.findIndex((r) => r.release === current)
  if (i < 0) i = ordered.length - 1
  const head = ordered[i]
  const base = ordered[i - 1]
  if (head === undefined || base === undefined) {
    const known = ordered.map((r) => r.release)
    return {
      reason:
        known.length === 0
          ? 'The store has no releases: give the monitor a release (the release option or PERF_RELEASE), or compare two time ranges.'
          : `The store has no release before ${head?.release ?? known.at(-1)} to compare it with (known: ${known.join(', ')}); pick two releases or time ranges.`,
    }
  }
  return { base: base.release, head: head.release }
}

/** The release changes from `since` to `until`: each release first seen in that range, in time order. */
export function releaseMarkers(
  releases: readonly ReleaseSeen[],
  since: number,
  until: number,
): ReleaseMarker[] {
  return releases
    .filter((r) => Number.isFinite(r.firstSeen) && r.firstSeen >= since && r.firstSeen <= until)
    .map((r) => ({ release: r.release, at: r.firstSeen }))
    .sort((a, b) => a.at - b.at)
}

const TYPE = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * Answers `api/compare`: validates `base`, `head` (both or neither) and `type`, picks the default
 * sides when none are given, and compares. A bad parameter, or a release the store does not know,
 * throws a `RangeError`/`TypeError` whose message is the 400 answer.
 */
export async function compareView(
  store: CompareStore,
  params: URLSearchParams,
  current: string | null,
  now: number,
): Promise<CompareView> {
  const rawBase = params.get('base')
  const rawHead = params.get('head')
  const rawType = params.get('type')
  if ((rawBase === null) !== (rawHead === null)) {
    throw new RangeError(
      `api/compare needs both base and head, or neither (this release against the previous one); got only ${rawBase === null ? 'head' : 'base'}`,
    )
  }
  if (rawType !== null && !TYPE.test(rawType)) {
    throw new RangeError(
      `api/compare type=${JSON.stringify(rawType.slice(0, 60))} is not valid: expected an op type such as http or db`,
    )
  }
  const releases = [...(await store.releases())]
  const type = rawType === null ? {} : { type: rawType }
  let base: CompareSideQuery
  let head: CompareSideQuery
  let defaulted = false
  if (rawBase === null || rawHead === null) {
    const sides = defaultSides(releases, current)
    if ('reason' in sides) {
      return { base: null, head: null, defaulted: true, current, releases, ops: [], reason: sides.reason }
    }
    base = { release: sides.base }
    head = { release: sides.head }
    defaulted = true
  } else {
    base = parseCompareSide('base', rawBase, now)
    head = parseCompareSide('head', rawHead, now)
  }
  const result = await store.compare({ base, head, ...type })
  return {
    base: result.base,
    head: result.head,
    defaulted,
    current,
    releases,
    ops: sortForPage(result.ops),
  }
}
