/*
 * A double's shortest round-trip decimal, spelled as `String(x)` spells it, written straight into
 * bytes. Every op's Prometheus `_sum` is a float; `String(x)` would allocate a string (and often a
 * heap number) per op per scrape.
 *
 * Method: for s = 0, 1, 2, … fractional digits, the integers N next to x·10^s are the candidates, and
 * N·10^-s reads back as x exactly when it lies inside x's rounding interval (half the gap to each
 * neighbour). x·10^s is computed exactly, as the sum of two doubles (Dekker's product), so the test
 * is exact but for a tiny margin around the interval's edges, where this declines and the caller falls
 * back to `String(x)`. The first s with a candidate gives the fewest digits; of two, the nearer one is
 * taken, as ECMAScript's Number::toString requires.
 */

/** Veltkamp's splitter for doubles: 2^27 + 1. */
const SPLITTER = 134_217_729
/** Powers of ten that doubles hold exactly (5^22 < 2^53), each split into high and low halves. */
const MAX_S = 22
const P10 = new Float64Array(MAX_S + 1)
const P10_HI = new Float64Array(MAX_S + 1)
const P10_LO = new Float64Array(MAX_S + 1)
for (let s = 0, p = 1; s <= MAX_S; s++, p *= 10) {
  const c = SPLITTER * p
  P10[s] = p
  P10_HI[s] = c - (c - p)
  P10_LO[s] = p - P10_HI[s]!
}

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0
const digits = new Uint8Array(20)
/** The integer part handed to writeDecimal: past 2^31 a float argument would be a heap number. */
const baseSlot = new Float64Array(1)

/**
 * Writes `src[i]` at `buf[pos..]` as `String(src[i])` would (at most 24 bytes) and returns the position
 * after it; or returns -1, writing nothing, when it cannot be sure (values below 1e-6 or from 1e16, which
 * `String` may write with an exponent, and candidates too near a rounding edge). The value is read from
 * a typed array so that a float does not have to be boxed to cross the call.
 */
export function writeShortest(src: Float64Array, i: number, buf: Uint8Array, pos: number): number {
  const x = src[i]!
  if (!(x >= 1e-6 && x < 1e16)) return -1
  f64[0] = x
  const hi = u32[HI]!
  const lo = u32[1 - HI]!
  const exponent = hi >>> 20
  // The gap to the next double up, 2^(exponent - 1075); the gap down is half of it at a power of two.
  u32[HI] = (exponent - 52) << 20
  u32[1 - HI] = 0
  const gap = f64[0]!
  const powerOfTwo = (hi & 0xfffff) === 0 && lo === 0
  const c = SPLITTER * x
  const xh = c - (c - x)
  const xl = x - xh
  for (let s = 0; s <= MAX_S; s++) {
    const p = P10[s]!
    const prod = x * p
    if (prod >= 1e17) return -1
    const ph = P10_HI[s]!
    const pl = P10_LO[s]!
    // x·p = prod + err exactly.
    const err = xh * ph - prod + xh * pl + xl * ph + xl * pl
    const up = (gap * p) / 2
    const down = powerOfTwo ? up / 2 : up
    const margin = up * 1e-6
    const base = Math.round(prod)
    // N - x·p for N = base (base - prod is exact: the two are within a factor of two, or base is 0).
    const r = base - prod - err
    // Past 2^53, prod is off x·p by up to 8: the nearest integer is base + round(-r), and the nearest
    // candidate within the rounding interval, if any, is one of it and its two neighbours.
    const near = Math.round(-r)
    let found = 0
    let best = 0
    let bestDistance = 2
    for (let k = near - 1; k <= near + 1; k++) {
      const d = k + r
      if (d > margin - down && d < up - margin) {
        const a = Math.abs(d)
        if (found > 0 && Math.abs(a - bestDistance) <= margin) {
          // Two candidates equally near x (past 2^53, x·p can end in .5 exactly): the spec takes the
          // even one. A near tie that is not exact is left to String().
          if (a !== bestDistance) return -1
          // base + k may be past 2^53, where the sum itself would round: take the parity apart.
          if ((((base % 2) + k) & 1) === 0) best = k
          found++
          continue
        }
        found++
        if (a < bestDistance) {
          bestDistance = a
          best = k
        }
      } else if (d > -down - margin && d < up + margin) return -1
    }
    if (found > 0) {
      baseSlot[0] = base
      return writeDecimal(best, s, buf, pos)
    }
  }
  return -1
}

/** Writes the integer `baseSlot[0] + k` (below 10^17, |k| ≤ 10) with a decimal point `s` digits from its right. */
function writeDecimal(k: number, s: number, buf: Uint8Array, pos: number): number {
  const base = baseSlot[0]!
  // Two parts below 10^8 and 10^9, so each is exact and the carry of `k` is plain.
  let low = base % 1e8
  let high = (base - low) / 1e8
  low += k
  if (low < 0) {
    low += 1e8
    high -= 1
  } else if (low >= 1e8) {
    low -= 1e8
    high += 1
  }
  let n = 0
  let at = digits.length
  for (let j = 0; j < 8; j++) {
    const d = low % 10
    digits[--at] = 48 + d
    low = (low - d) / 10
    n++
  }
  while (high > 0) {
    const d = high % 10
    digits[--at] = 48 + d
    high = (high - d) / 10
    n++
  }
  while (n > 1 && digits[at] === 48) {
    at++
    n--
  }
  if (s === 0) {
    for (let j = 0; j < n; j++) buf[pos++] = digits[at + j]!
    return pos
  }
  if (n > s) {
    for (let j = 0; j < n - s; j++) buf[pos++] = digits[at + j]!
    buf[pos++] = 0x2e
    for (let j = n - s; j < n; j++) buf[pos++] = digits[at + j]!
    return pos
  }
  buf[pos++] = 48
  buf[pos++] = 0x2e
  for (let j = n; j < s; j++) buf[pos++] = 48
  for (let j = 0; j < n; j++) buf[pos++] = digits[at + j]!
  return pos
}
