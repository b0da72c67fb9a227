import { describe, expect, it } from 'vitest'
import { ByteWriter } from './byte-writer.js'
import { escapeLabelValue } from './prometheus.js'

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

  it('writes label values escaped and UTF-8 encoded, byte for byte as escape-then-encode does', () => {
    const values = [
      'plain',
      'a"b\\c\nd',
      'ünï © 😀',
      'lone \ud800 high, lone \udc00 low, end \ud83d',
      '\\n literal',
      '',
      '"}\n# TYPE x counter',
    ]
    for (const v of values) {
      const w = new ByteWriter(1)
      w.labelValue(v)
      expect(Array.from(w.view()), JSON.stringify(v)).toEqual(
        Array.from(new TextEncoder().encode(escapeLabelValue(v))),
      )
    }
  })

  it('writes integers up to 2^53 - 1 as digits, and starts over after reset() keeping its buffer', () => {
    const w = new ByteWriter(1)
    for (const n of [2 ** 31, 4_294_967_296, 123_456_789_012_345, Number.MAX_SAFE_INTEGER]) {
      w.reset()
      const buf = w.buf
      w.number(n)
      expect(decode(w)).toBe(String(n))
      if (buf.length >= 16) expect(w.buf).toBe(buf)
    }
  })
})
