import { describe, expect, it } from 'vitest'
import { BUCKETS, bucketIndex, bucketLower, bucketUpper, bucketValue, WideHistogram } from './histogram.js'

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
