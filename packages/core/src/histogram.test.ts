import { describe, expect, it } from 'vitest'
import {
  BUCKETS,
  bucketIndex,
  bucketLower,
  bucketOrOutside,
  bucketUpper,
  bucketValue,
  WideHistogram,
} from './histogram.js'

describe('bucketIndex', () => {
  it('puts every value inside its bucket edges across 1 µs .. 1 h', () => {
    for (let e = -3; e <= 6.5; e += 0.001) {
      const v = 10 ** e
      const i = bucketIndex(v)
      expect(bucketLower(i)).toBeLessThanOrEqual(v)
      expect(bucketUpper(i)).toBeGreaterThan(v)
      expect(Math.abs(bucketValue(i) - v) / v).toBeLessThan(0.0155)
    }
  })
  it("maps each bucket's lower edge (from the named constants) to that bucket, over the whole range", () => {
    // bucketIndex writes its constants as literals; bucketLower computes from MIN_EXP and SUB_BITS.
    for (let i = 1; i < BUCKETS; i++) {
      expect(bucketIndex(bucketLower(i))).toBe(i)
      expect(bucketIndex(bucketLower(i) * (1 - 2 ** -40))).toBe(i - 1)
    }
    expect(bucketIndex(bucketUpper(BUCKETS - 1))).toBe(BUCKETS - 1)
  })
  it('clamps zero, sub-nanosecond and huge values to the end buckets', () => {
    expect(bucketIndex(0)).toBe(0)
    expect(bucketIndex(1e-12)).toBe(0)
    expect(bucketIndex(1e12)).toBe(BUCKETS - 1)
  })
  it('puts -0 (which passes `ms >= 0`) in bucket 0, not past the top by its sign bit', () => {
    expect(bucketIndex(-0)).toBe(0)
  })
})

describe('bucketOrOutside', () => {
  it('is bucketIndex inside the range, over every bucket', () => {
    expect(bucketOrOutside(bucketLower(0))).toBe(0)
    for (let i = 1; i < BUCKETS; i++) {
      expect(bucketOrOutside(bucketLower(i))).toBe(i)
      expect(bucketOrOutside(bucketLower(i) * (1 - 2 ** -40))).toBe(i - 1)
    }
  })
  it.each([
    0,
    -0,
    1e-12,
    2 ** -21,
    2 ** 22,
    1e12,
    Number.MAX_VALUE,
    -1,
    -1e-9,
    -(2 ** -30),
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ])('is outside [0, BUCKETS) for %s: below the range, past it, negative, infinite or NaN', (v) => {
    const i = bucketOrOutside(v)
    expect(i < 0 || i >= BUCKETS).toBe(true)
  })
})

describe('WideHistogram', () => {
  it('switches to float counters instead of wrapping past 2^32 - 1', () => {
    const h = new WideHistogram()
    h.addCount(100, 0xffffffff)
    h.addCount(100, 5)
    h.addAll({ offset: 99, counts: [1, 2, 3] })
    expect(h.toJSON()).toEqual({ offset: 99, counts: [1, 0xffffffff + 7, 3] })
  })
})
