import { parseArgs } from 'node:util'
import {
  type Comparison,
  compareStore,
  listReleases,
  type OpComparison,
  type OpSummary,
  openStoreReadOnly,
  summarizeStore,
} from '@perf/sqlite'
import {
  type BrokenBudget,
  brokenBudgets,
  parseBudget,
  parseSide,
  parseTime,
  UsageError,
  ms,
  pct,
  signed,
} from './args.js'
import { type ProgressStream, progressLine } from './progress.js'
import { type Cell, renderTable } from './table.js'

/** Where the CLI writes, and whether it may colour its output. */
export interface CliIO {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  /** Colour the tables (a TTY without `NO_COLOR`). */
  readonly color: boolean
  /** The time `1h` and `..` ranges count from. Default `Date.now()`. */
  readonly now?: number
  /**
   * Where long reads show their progress (`process.stderr` for the binary): only when it is a
   * terminal (`isTTY`), never in a pipe or a CI log.
   */
  readonly progress?: ProgressStream | undefined
}

/** Exit codes of `perf`. */
export const EXIT = { ok: 0, budgetBroken: 1, usage: 2 } as const

const MAIN_HELP = `perf: reports and release comparisons from a @perf SqliteStore file (opened read-only).

Usage:
  perf report <file> [--since 1h] [--until <time>] [--type http] [--release R] [--json]
  perf compare <file> --base <release|range> --head <release|range> [--budget "p95<=+10%"]... [--type http] [--json]
  perf releases <file> [--json]
  perf <command> --help

Exit codes: 0 ok, 1 a budget is broken, 2 bad arguments or an unreadable file.`

const REPORT_HELP = `perf report <file> [options]

The endpoint (http) and query (db) tables of the admin page for a range of time: per op, count,
error rate, mean and p50/p95/p99/max from the stored histograms added up exactly.

Options:
  --since <time>    start: a duration ago (30m, 1h, 7d), an ISO date or ms since the epoch (default 1h)
  --until <time>    end, same forms (default now)
  --type <type>     only this op type (http, db, …)
  --release <R>     only what processes of release R recorded
  --json            print JSON instead of tables
  -h, --help        this help`

const COMPARE_HELP = `perf compare <file> --base <side> --head <side> [options]

Compares two releases or time ranges op by op. A side is a release (as set by the monitor's
release option or PERF_RELEASE; release:NAME for a name containing "..") or a range <from>..<to>
(each end a duration ago, an ISO date or ms since the epoch; an empty end is now: 2h..1h, 30m..).

Verdict per op: "more errors", "slower", "faster", "same" or "too little data", only beyond noise
(Mann-Whitney U on the histograms, two-proportion test on errors; see @perf/sqlite's README).

Options:
  --base <side>       the side compared against (required)
  --head <side>       the side under test (required)
  --budget <budget>   repeatable; p50|p95|p99|avg<=+N% or +Nms, errorRate<=+Npt. Exit 1 when an op
                      breaks one beyond noise, naming the op and the figure
  --type <type>       only this op type (http, db, …)
  --min-count <n>     events per side before an op is judged (default 50)
  --json              print JSON instead of a table
  -h, --help          this help`

const RELEASES_HELP = `perf releases <file> [--json]

The releases recorded in the file, oldest first, with when they were first and last seen.`

/**
 * Runs the `perf` command line with `argv` (without `node` and the script) and returns the exit
 * code: 0, 1 when a budget is broken, 2 for bad arguments or an unreadable file. Never throws for
 * bad input: it writes what was wrong and what is accepted to `io.err`.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2), {
 *   out: (s) => process.stdout.write(`${s}\n`),
 *   err: (s) => process.stderr.write(`${s}\n`),
 *   color: process.stdout.isTTY === true && !('NO_COLOR' in process.env),
 * })
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help': {
        const topic = rest[0]
        io.out(topic === 'report' ? REPORT_HELP : topic === 'compare' ? COMPARE_HELP : MAIN_HELP)
        return command === undefined ? EXIT.usage : EXIT.ok
      }
      case 'report':
        return report(rest, io)
      case 'compare':
        return compare(rest, io)
      case 'releases':
        return releases(rest, io)
      default:
        throw new UsageError(
          `unknown command ${JSON.stringify(command)}: expected report, compare, releases or help`,
        )
    }
  } catch (err) {
    io.err(`perf: ${usageMessage(err)}`)
    return EXIT.usage
  }
}

/** parseArgs' own errors (unknown option, missing value) are usage errors too; keep their text. */
function usageMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return `${err.message}; see --help`
    return err.message
  }
  return String(err)
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options']
type Values = { readonly [flag: string]: string | boolean | string[] | undefined }

/** `node:util` parseArgs, strict, with `-h/--help` on every command. */
function parse(args: readonly string[], options: Options): { values: Values; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { ...options, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  })
  return { values: values as Values, positionals }
}

function fileOf(positionals: readonly string[], command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      `perf ${command} takes one file, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}: expected the path of a SqliteStore file`,
    )
  }
  return positionals[0]!
}

function report(args: readonly string[], io: CliIO): number {
  const { values, positionals } = parse(args, {
    since: { type: 'string' },
    until: { type: 'string' },
    type: { type: 'string' },
    release: { type: 'string' },
    json: { type: 'boolean' },
  })
  if (values.help === true) {
    io.out(REPORT_HELP)
    return EXIT.ok
  }
  const now = io.now ?? Date.now()
  const file = fileOf(positionals, 'report')
  const since = parseTime('--since', (values.since as string | undefined) ?? '1h', now)
  const until = values.until === undefined ? now : parseTime('--until', values.until as string, now)
  if (since >= until) throw new UsageError(`--since is not before --until: expected a start before the end`)
  const db = openStoreReadOnly(file)
  const progress = progressLine(io.progress, `reading ${file}`)
  let ops: OpSummary[]
  try {
    ops = summarizeStore(
      db,
      {
        since,
        until,
        ...(values.type === undefined ? {} : { type: values.type as string }),
        ...(values.release === undefined ? {} : { release: values.release as string }),
      },
      { onProgress: progress.update },
    )
  } finally {
    progress.done()
    db.close()
  }
  if (values.json === true) {
    io.out(JSON.stringify({ since, until, ops }, null, 2))
    return EXIT.ok
  }
  io.out(`${file}: ${new Date(since).toISOString()} .. ${new Date(until).toISOString()}`)
  if (ops.length === 0) {
    io.out('no events in this range')
    return EXIT.ok
  }
  for (const type of [...new Set(ops.map((o) => o.type))]) {
    const title = type === 'http' ? 'Endpoints' : type === 'db' ? 'Queries' : `Type ${type}`
    io.out(`\n${title}`)
    const rows = ops
      .filter((o) => o.type === type)
      .map((o): Cell[] => [
        { text: o.name },
        { text: String(o.count) },
        { text: pct(o.errorRate), ...(o.errors > 0 ? { color: 'red' as const } : {}) },
        { text: ms(o.avgMs) },
        { text: ms(o.p50Ms) },
        { text: ms(o.p95Ms) },
        { text: ms(o.p99Ms) },
        { text: ms(o.maxMs) },
      ])
    io.out(renderTable(['op', 'count', 'errors', 'avg', 'p50', 'p95', 'p99', 'max'], rows, io.color))
  }
  return EXIT.ok
}

function compare(args: readonly string[], io: CliIO): number {
  const { values, positionals } = parse(args, {
    base: { type: 'string' },
    head: { type: 'string' },
    budget: { type: 'string', multiple: true },
    type: { type: 'string' },
    'min-count': { type: 'string' },
    json: { type: 'boolean' },
  })
  if (values.help === true) {
    io.out(COMPARE_HELP)
    return EXIT.ok
  }
  const now = io.now ?? Date.now()
  const file = fileOf(positionals, 'compare')
  for (const flag of ['base', 'head'] as const) {
    if (values[flag] === undefined) {
      throw new UsageError(
        `perf compare needs --${flag}: expected a release (e.g. 1.4.2) or a range (e.g. 2h..1h)`,
      )
    }
  }
  const base = parseSide('--base', values.base as string, now)
  const head = parseSide('--head', values.head as string, now)
  const budgets = ((values.budget as string[] | undefined) ?? []).map(parseBudget)
  let minCount = 50
  if (values['min-count'] !== undefined) {
    const v = values['min-count'] as string
    if (!/^\d+$/.test(v) || Number(v) < 1) {
      throw new UsageError(
        `--min-count ${JSON.stringify(v)} is not valid: expected a whole number of events, at least 1`,
      )
    }
    minCount = Number(v)
  }
  const alpha = 0.01
  const db = openStoreReadOnly(file)
  const progress = progressLine(io.progress, `reading ${file}`)
  let result: Comparison
  try {
    result = compareStore(
      db,
      {
        base,
        head,
        minCount,
        alpha,
        ...(values.type === undefined ? {} : { type: values.type as string }),
      },
      { onProgress: progress.update },
    )
  } catch (err) {
    // An unknown release or a bad side is a bad argument: same exit code, the store's message.
    throw new UsageError((err as Error).message.replace(/^compare\(\) /, ''))
  } finally {
    progress.done()
    db.close()
  }
  const broken: BrokenBudget[] = result.ops.flatMap((op) => brokenBudgets(op, budgets, alpha))
  if (values.json === true) {
    io.out(JSON.stringify({ ...result, budgets: budgets.map((b) => b.text), broken }, null, 2))
  } else {
    io.out(`base ${describe(result.base)}\nhead ${describe(result.head)}\n`)
    io.out(
      result.ops.length === 0
        ? 'no ops on either side'
        : renderTable(
            ['type', 'op', 'count', 'errors', 'p50', 'p95', 'p99', 'verdict'],
            result.ops.map(row),
            io.color,
          ),
    )
    for (const b of broken) {
      io.err(`budget broken: ${b.type} ${b.name}: ${b.figure}, over ${b.budget}`)
    }
    if (budgets.length > 0 && broken.length === 0)
      io.out(`\nall budgets kept: ${budgets.map((b) => b.text).join(', ')}`)
  }
  return broken.length > 0 ? EXIT.budgetBroken : EXIT.ok
}

function row(op: OpComparison): Cell[] {
  const lat = (key: 'p50' | 'p95' | 'p99'): Cell => {
    const c = op.change[key]
    const text = `${ms(op.base[`${key}Ms`])} → ${ms(op.head[`${key}Ms`])}${c === null ? '' : ` (${signed(c * 100)} %)`}`
    return {
      text,
      ...(op.verdict === 'slower'
        ? { color: 'red' as const }
        : op.verdict === 'faster'
          ? { color: 'green' as const }
          : {}),
    }
  }
  const color =
    op.verdict === 'more errors' || op.verdict === 'slower'
      ? 'red'
      : op.verdict === 'faster'
        ? 'green'
        : op.verdict === 'too little data'
          ? 'yellow'
          : 'dim'
  return [
    { text: op.type },
    { text: op.name },
    { text: `${op.base.count} → ${op.head.count}` },
    {
      text: `${pct(op.base.errorRate)} → ${pct(op.head.errorRate)}`,
      ...(op.verdict === 'more errors' ? { color: 'red' as const } : {}),
    },
    lat('p50'),
    lat('p95'),
    lat('p99'),
    { text: op.verdict, color },
  ]
}

function describe(side: Comparison['base']): string {
  const range =
    side.since === null
      ? ''
      : `${new Date(side.since).toISOString()} .. ${new Date(side.until ?? Date.now()).toISOString()}`
  return side.release === null ? range : `release ${side.release}${range === '' ? '' : ` within ${range}`}`
}

function releases(args: readonly string[], io: CliIO): number {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } })
  if (values.help === true) {
    io.out(RELEASES_HELP)
    return EXIT.ok
  }
  const db = openStoreReadOnly(fileOf(positionals, 'releases'))
  try {
    const list = listReleases(db)
    if (values.json === true) io.out(JSON.stringify(list, null, 2))
    else if (list.length === 0)
      io.out('no releases recorded (set the monitor option release or PERF_RELEASE)')
    else
      io.out(
        renderTable(
          ['release', 'first seen', 'last seen', 'processes'],
          list.map((r) => [
            r.release,
            new Date(r.firstSeen).toISOString(),
            new Date(r.lastSeen).toISOString(),
            String(r.processes),
          ]),
          io.color,
        ),
      )
  } finally {
    db.close()
  }
  return EXIT.ok
}
