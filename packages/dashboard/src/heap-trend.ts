/**
 * The trend of the heap after garbage collection, and whether it looks like a leak. The heap in use
 * right after a collection is what the program really holds; when it keeps rising, collection after
 * collection, something keeps what it no longer needs. A heap that only rises between collections is
 * normal allocation.
 */

/** What the page says about the heap after GC over the window. */
export interface HeapTrend {
  /** Samples taken after a collection, that the fit is over. */
  points: number
  /** Time those samples cover, ms. */
  spanMs: number
  /** Least-squares slope of the heap after GC, bytes per minute (negative when it shrinks). */
  slopeBytesPerMin: number
  /** How well a straight line fits (0..1): near 1, the heap grows steadily; low, it jumps around. */
  r2: number
  /** Growth of the fitted line across the span over its start value (0.1 = 10 %). */
  growthShare: number
  /** Whether the growth is steady enough and large enough to flag (see {@link LEAK_RULE}). */
  possibleLeak: boolean
}

/**
 * When the page flags a possible leak: at least `minPoints` post-GC samples over at least `minSpanMs`,
 * a straight line fitting them with R² ≥ `minR2` (steady growth, not one spike or a sawtooth), rising
 * by at least `minGrowthShare` of its start value across the span (so noise on a large heap does not
 * count). With `watchProcess`'s default 5 s interval and a 15 min window, a heap that keeps about 5 %
 * more after each GC over 5 minutes or more is flagged.
 */
export const LEAK_RULE: {
  readonly minPoints: number
  readonly minSpanMs: number
  readonly minR2: number
  readonly minGrowthShare: number
} = { minPoints: 8, minSpanMs: 5 * 60_000, minR2: 0.8, minGrowthShare: 0.05 }

/**
 * The trend of `heapUsed` over the samples during whose interval a collection ran (`gcPauseMs > 0`):
 * the heap the sampler read right after those intervals, the closest the samples come to "after GC".
 * `undefined` with fewer than 3 such samples.
 */
export function heapTrend(
  timestamps: readonly number[],
  heapUsed: readonly number[],
  gcPauseMs: readonly number[] | undefined,
): HeapTrend | undefined {
  if (gcPauseMs === undefined) return undefined
  const xs: number[] = []
  const ys: number[] = []
  const n = Math.min(timestamps.length, heapUsed.length, gcPauseMs.length)
  for (let i = 0; i < n; i++) {
    if (gcPauseMs[i]! > 0 && Number.isFinite(heapUsed[i]) && Number.isFinite(timestamps[i])) {
      xs.push(timestamps[i]!)
      ys.push(heapUsed[i]!)
    }
  }
  if (xs.length < 3) return undefined
  // Centred on the first point, so that epoch milliseconds squared do not lose precision.
  const x0 = xs[0]!
  let sx = 0
  let sy = 0
  for (let i = 0; i < xs.length; i++) {
    sx += xs[i]! - x0
    sy += ys[i]!
  }
  const mx = sx / xs.length
  const my = sy / xs.length
  let sxx = 0
  let sxy = 0
  let syy = 0
  for (let i = 0; i < xs.length; i++) {
    const dx = xs[i]! - x0 - mx
    const dy = ys[i]! - my
    sxx += dx * dx
    sxy += dx * dy
    syy += dy * dy
  }
  const spanMs = xs[xs.length - 1]! - x0
  if (sxx === 0) return undefined
  const slope = sxy / sxx // bytes per ms
  const r2 = syy === 0 ? 0 : (sxy * sxy) / (sxx * syy)
  const start = my - slope * mx
  const growthShare = start > 0 ? (slope * spanMs) / start : 0
  return {
    points: xs.length,
    spanMs,
    slopeBytesPerMin: slope * 60_000,
    r2,
    growthShare,
    possibleLeak:
      xs.length >= LEAK_RULE.minPoints &&
      spanMs >= LEAK_RULE.minSpanMs &&
      slope > 0 &&
      r2 >= LEAK_RULE.minR2 &&
      growthShare >= LEAK_RULE.minGrowthShare,
  }
}
