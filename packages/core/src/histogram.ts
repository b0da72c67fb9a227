/*
 * Log-linear buckets indexed from the bits of the float (HDR-style): each power of two from
 * 2^MIN_EXP ms (~1 ns) to 2^MAX_EXP ms (~70 min) is split into SUB linear buckets. A bucket is at
 * most 1/SUB wide relative to its lower bound, so reporting the value that minimises the relative
 * error to both edges is off by at most 1/(2*SUB+1) ≈ 1.54 % — inside the 2 % the docs promise.
 */

/** Linear sub-buckets per power of two. */
export const SUB_BITS = 5
const SUB = 1 << SUB_BITS
/** Exponent (base 2, in ms) of the lowest bucket's lower edge. */
export const MIN_EXP = -20
/** Exponent (base 2, in ms) of the highest bucket's upper edge. */
export const MAX_EXP = 22
/** Number of buckets in the full range. */
export const BUCKETS: number = (MAX_EXP - MIN_EXP) * SUB

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0

/**
 * The bucket of `ms` for 2^MIN_EXP ≤ `ms` < 2^MAX_EXP, and a number outside [0, BUCKETS) for anything
 * else: below the range (0 included), past it, negative (-0 too), infinite or NaN. The record path's
 * own index: one range test then checks the duration and finds its counter at once.
 */
export function bucketOrOutside(ms: number): number {
  f64[0] = ms
  const hi = u32[HI]!
  // Literals for 1023 + MIN_EXP (1003), SUB_BITS (5), 20 - SUB_BITS (15) and SUB - 1 (31), held to
  // the named constants by a test: a module constant is a cell load in the bytecode, and this function
  // is inlined into every record (18 instructions a record fewer, counted, when bucketIndex was).
  // A negative octave stays negative past the shift; the sign bit (negative durations) and the
  // all-ones exponent (Infinity, NaN) give octaves of 1044 and more.
  return (((hi >>> 20) - 1003) << 5) | ((hi >>> 15) & 31)
}

/** Index of the bucket holding `ms` (ms ≥ 0; values past the range clamp to the end buckets). */
export function bucketIndex(ms: number): number {
  // `+ 0` makes -0 (which passes `ms >= 0`) 0: its sign bit would read as a huge exponent.
  const i = bucketOrOutside(ms + 0)
  // BUCKETS - 1 (1343) as a literal, as above.
  return i < 0 ? 0 : i < 1344 ? i : 1343
}

/** Lower edge of bucket `i`, in ms. */
export function bucketLower(i: number): number {
  const octave = i >>> SUB_BITS
  return 2 ** (octave + MIN_EXP) * (1 + (i & (SUB - 1)) / SUB)
}

/** Upper edge of bucket `i`, in ms. */
export function bucketUpper(i: number): number {
  return bucketLower(i + 1)
}

/** The value reported for bucket `i`: equal relative distance to both edges. */
export function bucketValue(i: number): number {
  const lo = bucketLower(i)
  const hi = bucketLower(i + 1)
  return (2 * lo * hi) / (lo + hi)
}

/** Counts of a contiguous run of buckets (sparse over the full range). */
export interface HistogramData {
  /** Index of the first bucket in `counts`. */
  readonly offset: number
  /** Counts for buckets `offset`, `offset + 1`, … */
  readonly counts: ArrayLike<number>
}

/** A growable histogram with float counters (never overflow), for all-time totals and merges. */
export class WideHistogram {
  lo = 0
  /**
   * 32-bit counters, switched to float counters (exact to 2^53) the first time a sum would pass
   * 2^32 - 1: all-time totals of every op stay half the size for as long as they can.
   */
  counts: Uint32Array | Float64Array = new Uint32Array(0)

  /** Adds `n` to bucket `i`. */
  addCount(i: number, n: number): void {
    if (n === 0) return
    let j = i - this.lo
    if (j < 0 || j >= this.counts.length) {
      this.ensure(i, i + 1)
      j = i - this.lo
    }
    this.add(j, n)
  }

  /** Adds every count of `h` into this histogram. */
  addAll(h: HistogramData): void {
    this.addRange(h.counts, 0, h.counts.length, h.offset)
  }

  /** Adds `counts[from..to)`, where `counts[k]` is bucket `offset + k` (a row of a shared buffer, no view made). */
  addRange(counts: ArrayLike<number>, from: number, to: number, offset: number): void {
    if (to <= from) return
    this.ensure(offset + from, offset + to)
    const base = offset - this.lo
    for (let k = from; k < to; k++) if (counts[k] !== 0) this.add(base + k, counts[k]!)
  }

  private add(j: number, n: number): void {
    const sum = this.counts[j]! + n
    if (sum > 0xffffffff && this.counts instanceof Uint32Array) this.counts = Float64Array.from(this.counts)
    this.counts[j] = sum
  }

  private ensure(from: number, to: number): void {
    const c = this.counts
    if (c.length === 0) {
      this.lo = from
      this.counts = c instanceof Float64Array ? new Float64Array(to - from) : new Uint32Array(to - from)
      return
    }
    const lo = Math.min(this.lo, from)
    const hi = Math.max(this.lo + c.length, to)
    if (lo === this.lo && hi === this.lo + c.length) return
    const next = c instanceof Float64Array ? new Float64Array(hi - lo) : new Uint32Array(hi - lo)
    next.set(c, this.lo - lo)
    this.lo = lo
    this.counts = next
  }

  /** Zeroes the counts. */
  reset(): void {
    this.counts.fill(0)
  }

  /** The data as a plain JSON-friendly object, trimmed of empty ends. */
  toJSON(): SparseHistogram {
    return sparse(this.lo, this.counts)
  }
}

/** JSON form of a histogram: `offset` of the first bucket and counts from there. */
export interface SparseHistogram {
  readonly offset: number
  readonly counts: number[]
}

/** Trims zero runs at both ends of a count array. */
export function sparse(lo: number, counts: ArrayLike<number>): SparseHistogram {
  return sparseOf(counts, 0, counts.length, lo)
}

/** Like {@link sparse} over `counts[from..to)`, where `counts[k]` is bucket `offset + k`. */
export function sparseOf(
  counts: ArrayLike<number>,
  from: number,
  to: number,
  offset: number,
): SparseHistogram {
  let a = from
  let b = to
  while (a < b && counts[a] === 0) a++
  while (b > a && counts[b - 1] === 0) b--
  const out: number[] = new Array(b - a)
  for (let k = a; k < b; k++) out[k - a] = counts[k]!
  return { offset: a === b ? 0 : offset + a, counts: out }
}

/** Bucket-by-bucket sum of two histograms (exact: every histogram shares one bucket layout). */
export function addHistograms(a: HistogramData, b: HistogramData): SparseHistogram {
  if (a.counts.length === 0) return sparse(b.offset, b.counts)
  if (b.counts.length === 0) return sparse(a.offset, a.counts)
  const lo = Math.min(a.offset, b.offset)
  const hi = Math.max(a.offset + a.counts.length, b.offset + b.counts.length)
  const sum = new Float64Array(hi - lo)
  for (let j = 0; j < a.counts.length; j++) sum[a.offset - lo + j]! += a.counts[j]!
  for (let j = 0; j < b.counts.length; j++) sum[b.offset - lo + j]! += b.counts[j]!
  return sparse(lo, sum)
}

/** Percentiles reported for every op. */
export interface Percentiles {
  p50Ms: number
  p90Ms: number
  p95Ms: number
  p99Ms: number
}

const QS = [0.5, 0.9, 0.95, 0.99] as const

/**
 * Nearest-rank quantile `q` (0..1) from bucket counts, clamped to the exact `min`/`max` seen.
 * Returns 0 for an empty histogram.
 */
export function quantile(h: HistogramData, total: number, q: number, min: number, max: number): number {
  if (total <= 0) return 0
  const rank = Math.max(1, Math.ceil(q * total))
  const c = h.counts
  let seen = 0
  for (let k = 0; k < c.length; k++) {
    seen += c[k]!
    if (seen >= rank) return clamp(bucketValue(h.offset + k), min, max)
  }
  return max
}

/** p50/p90/p95/p99 in one pass. */
export function percentiles(h: HistogramData, total: number, min: number, max: number): Percentiles {
  return percentilesOf(h.counts, 0, h.counts.length, h.offset, total, min, max)
}

/** p50/p90/p95/p99 over `counts[from..to)`, where `counts[k]` is bucket `offset + k`. */
export function percentilesOf(
  counts: ArrayLike<number>,
  from: number,
  to: number,
  offset: number,
  total: number,
  min: number,
  max: number,
): Percentiles {
  const out: Percentiles = { p50Ms: 0, p90Ms: 0, p95Ms: 0, p99Ms: 0 }
  if (total <= 0) return out
  const keys = ['p50Ms', 'p90Ms', 'p95Ms', 'p99Ms'] as const
  let q = 0
  let rank = Math.max(1, Math.ceil(QS[0] * total))
  let seen = 0
  for (let k = from; k < to && q < QS.length; k++) {
    seen += counts[k]!
    while (q < QS.length && seen >= rank) {
      out[keys[q]!] = clamp(bucketValue(offset + k), min, max)
      q++
      if (q < QS.length) rank = Math.max(1, Math.ceil(QS[q]! * total))
    }
  }
  for (; q < QS.length; q++) out[keys[q]!] = max
  return out
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(Math.max(v, min), max)
}
