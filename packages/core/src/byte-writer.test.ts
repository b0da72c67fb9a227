import { describe, expect, it } from 'vitest'
import { ByteWriter } from './byte-writer.js'

const decode = (w: ByteWriter) => new TextDecoder().decode(w.view())

describe('ByteWriter', () => {
  it('writes numbers as Prometheus reads them', () => {
    const w = new ByteWriter(1)
    for (const n of [
      0,
      7,
      10,
      99,
      100,
      1_000_000_007,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 53,
      1.5,
      1e-7,
      -3,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    ]) {
      w.number(n)
      w.byte(0x20)
    }
    expect(decode(w)).toBe(
      '0 7 10 99 100 1000000007 2147483647 2147483648 9007199254740992 1.5 1e-7 -3 +Inf -Inf NaN ',
    )
  })

  it('encodes non-ASCII text as UTF-8 and grows past its first capacity', () => {
    const w = new ByteWriter(1)
    const s = 'ascii then ünï © 😀 and on'
    for (let i = 0; i < 100; i++) w.text(s)
    expect(decode(w)).toBe(s.repeat(100))
    expect(w.buf.length).toBeGreaterThanOrEqual(w.pos)
  })

  it('repeats earlier output, short and long pieces alike', () => {
    const w = new ByteWriter(8)
    w.text('abc')
    w.repeat(0, 3)
    const long = 'x'.repeat(1000)
    const at = w.pos
    w.text(long)
    w.repeat(at, at + 1000)
    expect(decode(w)).toBe(`abcabc${long}${long}`)
  })
})
