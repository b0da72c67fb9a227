import { coded } from './errors.js'

/**
 * Unknown option names are bad input: a misspelt option (`sampleRate` for `sampling`) would otherwise
 * be ignored silently and the default used, which is the bug a user never finds. Every options object
 * of every @perf package is checked here, with the nearest valid name suggested.
 */

/** Edit distance (Damerau: a swap of two neighbours counts once), for "did you mean". */
function distance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array(rows * cols).fill(0)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1)
      }
      d[i * cols + j] = v
    }
  }
  return d[rows * cols - 1]!
}

/**
 * The known name closest to `name`, if it is close enough to be a likely misspelling: case and
 * separators are ignored (`slow_ms` → `slowMs`), one name starting with the other counts (`ignored` →
 * `ignore`), else an edit distance of at most a third of the length, else a long shared start.
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '')
  const target = fold(name)
  let best: string | undefined
  let bestScore = Number.POSITIVE_INFINITY
  for (const k of known) {
    const f = fold(k)
    let score = distance(target, f)
    if (f.length >= 3 && target.length >= 3 && (target.startsWith(f) || f.startsWith(target))) {
      score = Math.min(score, 1)
    }
    if (score < bestScore) {
      bestScore = score
      best = k
    }
  }
  const limit = Math.max(2, Math.ceil(target.length / 3))
  if (bestScore <= limit) return best
  // `slowThreshold` → `slowMs`, `PERF_WINDOW_MS` → `PERF_WINDOW_MINUTES`: a long shared start.
  let bestPrefix = 0
  best = undefined
  for (const k of known) {
    const f = fold(k)
    let n = 0
    while (n < f.length && n < target.length && f[n] === target[n]) n++
    if (n > bestPrefix && n >= 4 && n >= 0.6 * Math.min(f.length, target.length)) {
      bestPrefix = n
      best = k
    }
  }
  return best
}

/**
 * Throws a `TypeError` when `options` has a key that is not in `known`, naming the call, the key, the
 * nearest valid name and every accepted one. Keys whose value is `undefined` are checked too: a
 * misspelt key is wrong whatever its value.
 */
export function checkOptionKeys(call: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    const near = nearestName(key, known)
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${call}: unknown option ${JSON.stringify(key)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''} ` +
          `Accepted options: ${known.join(', ')}`,
      ),
    )
  }
}
