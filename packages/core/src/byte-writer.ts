/*
 * Writes UTF-8 text straight into one growing byte array, so rendering a large text (the Prometheus
 * exposition) allocates about the output and nothing per line: no intermediate strings, no rope of
 * concatenations, and repeated pieces copied from earlier in the same buffer.
 */

import { writeShortest } from './format-float.js'

const encoder = new TextEncoder()
/** Where {@link ByteWriter.number} puts a float for {@link ByteWriter.float}. */
const slot = new Float64Array(1)
const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1]

/** Append-only UTF-8 output in a `Uint8Array` that doubles when full. */
export class ByteWriter {
  /** The buffer; bytes `0 .. pos` are the output so far. */
  buf: Uint8Array
  pos = 0

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, Math.ceil(capacity)))
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  /** Writes a string as UTF-8 (byte by byte while it is ASCII, the common case). */
  text(s: string): void {
    const n = s.length
    this.ensure(n)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) {
        this.pos = pos
        this.utf8(s.slice(i))
        return
      }
      buf[pos++] = c
    }
    this.pos = pos
  }

  private utf8(s: string): void {
    this.ensure(s.length * 3)
    this.pos += encoder.encodeInto(s, this.buf.subarray(this.pos)).written
  }

  /** Writes one ASCII byte. */
  byte(c: number): void {
    this.ensure(1)
    this.buf[this.pos++] = c
  }

  /** Writes bytes prepared earlier (e.g. a cached label). */
  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Writes again the output bytes `start .. end` (a piece already written). */
  repeat(start: number, end: number): void {
    const n = end - start
    this.ensure(n)
    const buf = this.buf
    // copyWithin is a native memmove, several times faster than a loop but for a few bytes.
    if (n < 16) {
      let pos = this.pos
      for (let i = start; i < end; i++) buf[pos++] = buf[i]!
      this.pos = pos
    } else {
      buf.copyWithin(this.pos, start, end)
      this.pos += n
    }
  }

  /**
   * Writes a label value escaped as the text format requires (backslash, double quote, line feed),
   * straight from the string: no escaped copy, no encoded copy.
   */
  labelValue(s: string): void {
    const n = s.length
    // Worst case: every code unit escaped (2 bytes) or a 3-byte UTF-8 sequence.
    this.ensure(3 * n)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c < 0x80) {
        if (c === 0x5c || c === 0x22) {
          buf[pos++] = 0x5c
          buf[pos++] = c
        } else if (c === 0x0a) {
          buf[pos++] = 0x5c
          buf[pos++] = 0x6e
        } else buf[pos++] = c
      } else if (c < 0x800) {
        buf[pos++] = 0xc0 | (c >> 6)
        buf[pos++] = 0x80 | (c & 0x3f)
      } else {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0
        if (c >= 0xd800 && c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
          // A surrogate pair: one 4-byte sequence (the two code units had 6 bytes of room).
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
          buf[pos++] = 0xf0 | (cp >> 18)
          buf[pos++] = 0x80 | ((cp >> 12) & 0x3f)
          buf[pos++] = 0x80 | ((cp >> 6) & 0x3f)
          buf[pos++] = 0x80 | (cp & 0x3f)
          i++
        } else {
          // A lone surrogate becomes U+FFFD, as TextEncoder does.
          const u = c >= 0xd800 && c < 0xe000 ? 0xfffd : c
          buf[pos++] = 0xe0 | (u >> 12)
          buf[pos++] = 0x80 | ((u >> 6) & 0x3f)
          buf[pos++] = 0x80 | (u & 0x3f)
        }
      }
    }
    this.pos = pos
  }

  /** Writes a number the way Prometheus reads it: digits for integers, else `String(n)`, `+Inf`, `NaN`. */
  number(n: number): void {
    if (n >= 0 && n <= 0x7fffffff && (n | 0) === n) {
      this.ensure(10)
      const buf = this.buf
      let pos = this.pos
      // Subtracting powers of ten keeps to small-integer arithmetic: no float division, so no
      // heap-allocated intermediate numbers even before the optimiser has seen this code.
      let k = 0
      while (k < 9 && POW10[k]! > n) k++
      for (; k < 10; k++) {
        const p = POW10[k]!
        let d = 48
        while (n >= p) {
          n -= p
          d++
        }
        buf[pos++] = d
      }
      this.pos = pos
      return
    }
    if (n > 0x7fffffff && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n) {
      this.bigInteger(n)
      return
    }
    slot[0] = n
    this.float(slot, 0)
  }

  /**
   * Writes `src[i]` as {@link number} does, without making a string: a float written to a scrape
   * every time (each op's `_sum`) is read from a typed array, so it is never boxed to be passed here.
   */
  float(src: Float64Array, i: number): void {
    const x = src[i]!
    if (x >= 0 && x <= 0x7fffffff && Math.floor(x) === x) {
      this.number(x)
      return
    }
    this.ensure(24)
    const end = writeShortest(src, i, this.buf, this.pos)
    if (end >= 0) this.pos = end
    else this.text(formatNumber(x))
  }

  /** An integer past 2^31 (exact below 2^53): digits from the right, then reversed in place. */
  private bigInteger(n: number): void {
    this.ensure(16)
    const buf = this.buf
    const start = this.pos
    let pos = start
    while (n > 0) {
      const d = n % 10
      buf[pos++] = 48 + d
      n = (n - d) / 10
    }
    for (let a = start, b = pos - 1; a < b; a++, b--) {
      const t = buf[a]!
      buf[a] = buf[b]!
      buf[b] = t
    }
    this.pos = pos
  }

  /** Starts over at the beginning of the buffer, keeping its capacity (a writer reused across renders). */
  reset(): void {
    this.pos = 0
  }

  /** The output so far (a view of the buffer, not a copy). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos)
  }
}

/** A number in the text format's spelling (`+Inf`, `-Inf`, `NaN` for the non-finite ones). */
export function formatNumber(n: number): string {
  if (Number.isFinite(n)) return String(n)
  return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN'
}
