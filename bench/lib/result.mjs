// Helpers every bench script may use: command-line flags, summary statistics and the BENCH_JSON
// line that run-all.mjs reads (the contract is in bench/README.md).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** True when `--quick` was passed (CI: one short round, never fail on timing). */
export const quick = process.argv.includes('--quick')

/**
 * Value of `--name value` or `--name=value`, else `fallback`.
 * @param {string} name
 * @param {string | undefined} [fallback]
 * @returns {string | undefined}
 */
export function flag(name, fallback) {
  const argv = process.argv
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]
    if (a === `--${name}`) return argv[i + 1] ?? fallback
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3)
  }
  return fallback
}

/**
 * The head comment of the script at `url` (its `import.meta.url`, a `#!` line skipped), up to its
 * first line of code or its contract: what `--help` prints.
 * @param {string} url
 */
export function headComment(url) {
  const lines = readFileSync(fileURLToPath(url), 'utf8')
    .split('\n')
    .filter((line, i) => i > 0 || !line.startsWith('#!'))
  const end = lines.findIndex((line) => !line.startsWith('//') || line.startsWith('// THE CONTRACT'))
  return lines
    .slice(0, end)
    .map((line) => line.replace(/^\/\/ ?/, ''))
    .join('\n')
    .trim()
}

/**
 * Checks the command line against the flags a script takes: `withValue` (`--name value` or
 * `--name=value`) and `bare` (`--name`). `--help` prints `usage` and exits; anything else that is not
 * one of them is a clear error naming it and what is accepted, before the script does any work.
 * @param {string} usage
 * @param {readonly string[]} withValue
 * @param {readonly string[]} bare
 */
export function checkFlags(usage, withValue, bare) {
  const argv = process.argv
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--help' || a === '-h') {
      console.log(usage)
      process.exit(0)
    }
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] : undefined
    if (name !== undefined && withValue.includes(name)) {
      if (!a.includes('=')) {
        if (i + 1 >= argv.length) throw new RangeError(`--${name} needs a value`)
        i++
      }
      continue
    }
    if (name !== undefined && bare.includes(name) && !a.includes('=')) continue
    const accepted = [...withValue.map((f) => `--${f} <value>`), ...bare.map((f) => `--${f}`), '--help']
    throw new RangeError(
      `${JSON.stringify(a)} is not an option of this script; it takes ${accepted.join(', ')}`,
    )
  }
}

/**
 * A whole number of `unit` from `--name` (`min` to 10 million), else `fallback`; anything else is a
 * clear error naming the flag and what it accepts.
 * @param {string} name
 * @param {string} fallback
 * @param {{ unit?: string, min?: number }} [accepts]
 */
export function wholeFlag(name, fallback, { unit = 'requests', min = 1 } = {}) {
  const text = flag(name, fallback)
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > 10_000_000) {
    throw new RangeError(
      `--${name} ${JSON.stringify(text)} is not valid: expected a whole number of ${unit} from ${min} to 10000000`,
    )
  }
  return n
}

/**
 * Parses a duration such as `30s`, `10m`, `1500ms`, `2h` or a bare number of seconds into ms.
 * @param {string} text
 * @returns {number}
 */
export function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text).trim())
  if (m === null) {
    throw new RangeError(`duration ${JSON.stringify(text)} is not valid: expected e.g. 500ms, 30s, 10m, 1h`)
  }
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000)
}

/**
 * Median of a list of numbers (the mean of the middle two for an even count).
 * @param {readonly number[]} values
 */
export function median(values) {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * Median, min and max of a list of numbers.
 * @param {readonly number[]} values
 * @returns {{ median: number, min: number, max: number, n: number }}
 */
export function summary(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length }
}

/**
 * Rounds to `digits` significant figures for printing (keeps integers above that as integers).
 * @param {number} x
 * @param {number} [digits]
 */
export function round(x, digits = 3) {
  if (!Number.isFinite(x) || x === 0) return x
  const p = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(x))))
  return p >= 1 ? Math.round(x * p) / p : Math.round(x)
}

/**
 * @typedef {object} BenchRow
 * @property {string} name      what was measured
 * @property {number} value     the figure (a median where there are rounds)
 * @property {string} unit      e.g. 'ns/op', 'req/s', '%', 'MB'
 * @property {number} [min]     smallest of the rounds
 * @property {number} [max]     largest of the rounds
 * @property {string} [target]  the goal, as text (e.g. '≤ 1%')
 * @property {boolean} [pass]   whether `value` meets `target`
 * @property {string} [note]    anything the reader needs for this row
 */

/**
 * @typedef {object} BenchResult
 * @property {string} title     section heading in BENCHMARKS.md
 * @property {string} command   the command that reproduces it
 * @property {BenchRow[]} rows
 * @property {string | string[]} [notes]  method and caveats, one paragraph per string
 */

/**
 * Prints the machine-readable result line. Call it last (after the human-readable lines); a script
 * with several tables calls it once per table.
 * @param {BenchResult} result
 */
export function emit(result) {
  for (const row of result.rows) {
    if (typeof row.name !== 'string' || typeof row.unit !== 'string' || typeof row.value !== 'number') {
      throw new TypeError(
        `BENCH_JSON row ${JSON.stringify(row)} needs name (string), value (number), unit (string)`,
      )
    }
  }
  process.stdout.write(`BENCH_JSON ${JSON.stringify(result)}\n`)
}
