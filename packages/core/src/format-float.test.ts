import { describe, expect, it } from 'vitest'
import { writeShortest } from './format-float.js'

const buf = new Uint8Array(32)
const slot = new Float64Array(1)
const decoder = new TextDecoder()

/** What writeShortest writes for `x`, or undefined when it declines. */
function shortest(x: number): string | undefined {
  slot[0] = x
  const end = writeShortest(slot, 0, buf, 0)
  return end < 0 ? undefined : decoder.decode(buf.subarray(0, end))
}

describe('writeShortest', () => {
  it('spells edge values exactly as String() does', () => {
    const values = [
      1e-6,
      0.1,
      0.2,
      0.3,
      0.1 + 0.2,
      1,
      1.5,
      2,
      10,
      0.5,
      0.25,
      0.125,
      1 / 3,
      2 / 3,
      123.456,
      0.000123,
      0.0009765625,
      2 ** -10,
      2 ** 40,
      2 ** 52 + 0.5,
      2 ** 53,
      2 ** 53 - 1,
      2 ** 53 + 2,
      1e15,
      1e15 + 0.5,
      9999999999999998,
      0.9999999999999999,
      0.09999999999999999,
      17976931348.623158,
      4.35,
      0.07,
      1234567.891,
      5e-6,
    ]
    for (const x of values) {
      const got = shortest(x)
      if (got !== undefined) expect(got, String(x)).toBe(String(x))
    }
    // Plain values are not declined.
    for (const x of [0.1, 0.3, 123.456, 1 / 3, 2 ** 52 + 0.5]) expect(shortest(x)).toBe(String(x))
  })

  it('declines what String() writes with an exponent, and non-finite values', () => {
    for (const x of [0, 9.99e-7, 1e-7, 5e-324, 1e16, 1e21, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(shortest(x)).toBeUndefined()
    }
  })

  it('agrees with String() on a million random doubles of every magnitude and on sums of latencies', () => {
    let seed = 1
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed / 0x80000000
    }
    const bits = new Float64Array(1)
    const words = new Uint32Array(bits.buffer)
    let declined = 0
    let checked = 0
    for (let i = 0; i < 1_000_000; i++) {
      let x: number
      if (i % 3 === 0) {
        // Random bits, exponent limited to the range written without an exponent.
        words[0] = (rand() * 0x100000000) >>> 0
        words[1] = (((1003 + rand() * 50) | 0) << 20) | ((rand() * 0x100000) >>> 0)
        x = bits[0]!
      } else if (i % 3 === 1) {
        x = 10 ** (rand() * 21 - 6) * rand()
      } else {
        let sum = 0
        const n = 1 + ((rand() * 200) | 0)
        for (let j = 0; j < n; j++) sum += 0.05 + rand() * 80 * Math.exp(rand() * 3)
        x = sum / 1000
      }
      const got = shortest(x)
      if (got === undefined) {
        if (x >= 1e-6 && x < 1e16) declined++
        continue
      }
      checked++
      if (got !== String(x)) expect(got, `bits of ${String(x)}`).toBe(String(x))
    }
    expect(checked).toBeGreaterThan(900_000)
    // Declining is only for values next to a rounding edge: vanishingly rare.
    expect(declined).toBeLessThan(100)
  })
})
