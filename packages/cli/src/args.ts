import { checkRelease } from '@perf/core'
import type { CompareSide, OpComparison } from '@perf/sqlite'

/** A command-line value that is not what the command accepts; the CLI exits 2 with its message. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
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

/**
 * A point in time from the command line: a duration before `now` (`30m`, `1h`, `7d`), an ISO date
 * or ms since the epoch. Throws a {@link UsageError} naming `flag` and what is accepted.
 */
export function parseTime(flag: string, value: string, now: number): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value)
  if (d !== null) return now - Number(d[1]) * UNITS[d[2]!]!
  if (/^\d{10,}$/.test(value)) return Number(value)
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = Date.parse(value)
    if (Number.isFinite(ms)) return ms
  }
  throw new UsageError(`${flag} ${JSON.stringify(value)} is not a time: expected ${TIME_HELP}`)
}

/**
 * One side of `perf compare`: `<from>..<to>` is a time range (each end as {@link parseTime}; `to` may
 * be empty for now), `release:NAME` or a plain `NAME` is a release.
 */
export function parseSide(flag: string, value: string, now: number): CompareSide {
  const named = value.startsWith('release:') ? value.slice('release:'.length) : undefined
  if (named === undefined && value.includes('..')) {
    const [from, to, ...rest] = value.split('..')
    if (rest.length > 0 || from === undefined || from === '') {
      throw new UsageError(
        `${flag} ${JSON.stringify(value)} is not a range: expected <from>..<to>, e.g. 2h..1h`,
      )
    }
    const since = parseTime(`${flag} (range start)`, from, now)
    const until = to === undefined || to === '' ? now : parseTime(`${flag} (range end)`, to, now)
    if (since >= until) {
      throw new UsageError(`${flag} ${JSON.stringify(value)} is empty: its start is not before its end`)
    }
    return { since, until }
  }
  try {
    return { release: checkRelease(flag, named ?? value) }
  } catch {
    throw new UsageError(
      `${flag} ${JSON.stringify(value)} is neither a release nor a range: expected a release (1-128 of [A-Za-z0-9._+-], or release:NAME) or a range <from>..<to> (${TIME_HELP})`,
    )
  }
}

/** A figure a budget limits. */
export type BudgetMetric = 'p50' | 'p95' | 'p99' | 'avg' | 'errorRate'

/** A parsed `--budget`: the figure may grow by at most `limit` (`%` of base, `ms`, or percentage points). */
export interface Budget {
  readonly text: string
  readonly metric: BudgetMetric
  readonly limit: number
  readonly unit: '%' | 'ms' | 'pt'
}

const BUDGET_HELP =
  'expected <figure><=+<limit> with figure p50, p95, p99 or avg and a limit in % or ms (p95<=+10%, p99<=+5ms), or errorRate with a limit in pt (errorRate<=+0.5pt)'

/** Parses a `--budget` value; throws a {@link UsageError} saying what is accepted. */
export function parseBudget(value: string): Budget {
  const m = /^\s*(p50|p95|p99|avg|errorRate)\s*<=\s*\+?(\d+(?:\.\d+)?)\s*(%|ms|pt)\s*$/.exec(value)
  if (m === null) throw new UsageError(`--budget ${JSON.stringify(value)} is not valid: ${BUDGET_HELP}`)
  const metric = m[1] as BudgetMetric
  const unit = m[3] as Budget['unit']
  if ((metric === 'errorRate') !== (unit === 'pt')) {
    throw new UsageError(
      `--budget ${JSON.stringify(value)} is not valid: ${metric === 'errorRate' ? 'errorRate takes a limit in pt (percentage points)' : `${metric} takes a limit in % or ms`}; ${BUDGET_HELP}`,
    )
  }
  return { text: value.replace(/\s+/g, ''), metric, limit: Number(m[2]), unit }
}

/** A budget an op broke, with the figure that broke it. */
export interface BrokenBudget {
  readonly budget: string
  readonly type: string
  readonly name: string
  /** e.g. `p95 12.1 ms → 14.6 ms (+20.7 %)`. */
  readonly figure: string
}

/**
 * The budgets `op` breaks. A budget is broken only when the change is past its limit **and** beyond
 * noise (the op's latency test, or its error test, is significant at `alpha` in the worse direction):
 * the limit is the effect size a team cares about, the test keeps a noisy run from failing a build.
 * Ops with fewer than the minimum count on a side (`too little data`) are not judged.
 */
export function brokenBudgets(op: OpComparison, budgets: readonly Budget[], alpha: number): BrokenBudget[] {
  if (op.verdict === 'too little data') return []
  const out: BrokenBudget[] = []
  for (const b of budgets) {
    if (b.metric === 'errorRate') {
      const pt = op.change.errorRate * 100
      if (pt > b.limit && op.errorTest.z > 0 && op.errorTest.p < alpha) {
        out.push({
          budget: b.text,
          type: op.type,
          name: op.name,
          figure: `errorRate ${pct(op.base.errorRate)} → ${pct(op.head.errorRate)} (+${pt.toFixed(2)} pt)`,
        })
      }
      continue
    }
    const key = `${b.metric}Ms` as const
    const before = op.base[key]
    const after = op.head[key]
    const grew = b.unit === 'ms' ? after - before : before > 0 ? ((after - before) / before) * 100 : 0
    if (grew > b.limit && op.latencyTest.effect > 0.5 && op.latencyTest.p < alpha) {
      const rel = before > 0 ? ` (${signed(((after - before) / before) * 100)} %)` : ''
      out.push({
        budget: b.text,
        type: op.type,
        name: op.name,
        figure: `${b.metric} ${ms(before)} → ${ms(after)}${rel}`,
      })
    }
  }
  return out
}

/** Milliseconds with three significant digits. */
export function ms(v: number): string {
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ms`
}

/** A 0..1 rate as a percentage. */
export function pct(rate: number): string {
  return `${(rate * 100).toFixed(2)} %`
}

/** A number with its sign and one decimal. */
export function signed(v: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(1)}`
}
