import { Buffer } from 'node:buffer'
import type { PerfEvent } from '@perf/core'
import type { Item } from './store-engine.js'

// How a slice of the store's queue reaches its worker. A structured clone of the items costs the
// app's thread about 0.5–0.9 µs an event (V8 serialises every object with its property names);
// written into columns it costs less: the numbers into a Float64Array, the UTF-16 code units of the
// texts and of the details' JSON (written here for flat details, no string made) into one
// Uint16Array, the arrays moved (transferred) rather than copied. The app's thread makes no string
// or object per event (about 12 bytes allocated an event, against 41 for the clone). See
// BENCHMARKS.md, bench:sqlite's hand-over row.

/** A text column's null in {@link PackedItems.lens}. */
const NONE = 0xffffffff
/** Texts per event, in this order: type, name, error, requestId, metadata as JSON. */
const TEXTS = 5
/** Numbers per event, in this order: timestamp, durationMs, pid. */
const NUMBERS = 3

/** A slice of the queue in columns (see the top of this file). */
export interface PackedItems {
  /** Per item: 0 the next of `others`, 1 an event, 2 a slow event. */
  readonly kind: Uint8Array
  /** Per item, {@link NUMBERS} of them (events only). */
  readonly num: Float64Array
  /** Per item, the lengths in `text` of its {@link TEXTS} texts, {@link NONE} for a null (events only). */
  readonly lens: Uint32Array
  /** The events' texts one after another, as UTF-16 code units. */
  readonly text: Uint16Array
  /**
   * Aggregates, samples, and any event not made the way the monitor makes them (a text that is not a
   * string, details with no JSON form), as they are: the worker writes them as it always did.
   */
  readonly others: Item[]
}

/** Items `from .. to` of `items` in columns, and the buffers to transfer with them. */
export function packItems(
  items: readonly Item[],
  from: number,
  to: number,
): { packed: PackedItems; transfer: ArrayBuffer[] } {
  const n = to - from
  const kind = new Uint8Array(n)
  const num = new Float64Array(n * NUMBERS)
  const lens = new Uint32Array(n * TEXTS)
  const others: Item[] = []
  const text = new CodeUnits(n * 48)
  for (let i = 0; i < n; i++) {
    const item = items[from + i]!
    if (item.k !== 0 || !packable(item.e)) {
      others.push(item)
      continue
    }
    const e = item.e
    const start = text.pos
    const at = i * TEXTS
    lens[at] = text.write(e.type)
    lens[at + 1] = text.write(e.name)
    lens[at + 2] = e.error === null ? NONE : text.write(e.error)
    lens[at + 3] = e.requestId === null ? NONE : text.write(e.requestId)
    const details = e.metadata === null ? NONE : text.details(e.metadata)
    if (details < 0) {
      // Details with no JSON form: the event goes as it is (and fails in the worker as it always has).
      text.pos = start
      others.push(item)
      continue
    }
    lens[at + 4] = details
    kind[i] = e.slow ? 2 : 1
    num[i * NUMBERS] = e.timestamp
    num[i * NUMBERS + 1] = e.durationMs
    num[i * NUMBERS + 2] = e.pid
  }
  const units = text.buf
  return {
    packed: { kind, num, lens, text: units.subarray(0, text.pos), others },
    transfer: [kind.buffer, num.buffer, lens.buffer, units.buffer] as ArrayBuffer[],
  }
}

/** Whether `e`'s fields are of the types the monitor makes them (its details are checked apart). */
function packable(e: PerfEvent): boolean {
  return (
    typeof e.type === 'string' &&
    typeof e.name === 'string' &&
    typeof e.timestamp === 'number' &&
    typeof e.durationMs === 'number' &&
    typeof e.pid === 'number' &&
    typeof e.slow === 'boolean' &&
    (e.error === null || typeof e.error === 'string') &&
    (e.requestId === null || typeof e.requestId === 'string')
  )
}

const HEX = '0123456789abcdef'

/** Strings' UTF-16 code units, one after another in one array that doubles when full. */
class CodeUnits {
  buf: Uint16Array
  pos = 0

  constructor(capacity: number) {
    this.buf = new Uint16Array(Math.max(64, capacity))
  }

  /** Makes room for `n` more code units. */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint16Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  /** Appends `s`; returns its length. */
  write(s: string): number {
    const n = s.length
    this.ensure(n)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i)
    this.pos = pos
    return n
  }

  /**
   * Appends `JSON.stringify(details)` and returns its length, or −1 (nothing appended) if it has
   * none or throws. Flat details (the monitor's own, and most apps': strings, numbers, booleans and
   * nulls under plain keys) are written here, with no string made for them; any other goes through
   * `JSON.stringify`.
   */
  details(details: object): number {
    const start = this.pos
    try {
      if (this.flat(details as Record<string, unknown>)) return this.pos - start
      this.pos = start
      const json = JSON.stringify(details) as string | undefined
      return json === undefined ? -1 : this.write(json)
    } catch {
      this.pos = start
      return -1
    }
  }

  /** Writes `o` as JSON.stringify would if it is flat; returns false (part written) if it is not. */
  private flat(o: Record<string, unknown>): boolean {
    const proto = Object.getPrototypeOf(o)
    if ((proto !== Object.prototype && proto !== null) || typeof o.toJSON === 'function') return false
    this.unit(123)
    let first = true
    for (const key in o) {
      if (!Object.hasOwn(o, key)) return false
      const v = o[key]
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue
      if (!first) this.unit(44)
      first = false
      this.quote(key)
      this.unit(58)
      if (typeof v === 'string') this.quote(v)
      else if (typeof v === 'number') this.write(Number.isFinite(v) ? (v === 0 ? '0' : String(v)) : 'null')
      else if (typeof v === 'boolean') this.write(v ? 'true' : 'false')
      else if (v === null) this.write('null')
      else return false
    }
    this.unit(125)
    return true
  }

  private unit(c: number): void {
    this.ensure(1)
    this.buf[this.pos++] = c
  }

  /** Appends `s` as a JSON string, escaped as JSON.stringify escapes it (lone surrogates too). */
  private quote(s: string): void {
    const n = s.length
    this.ensure(n * 6 + 2)
    const buf = this.buf
    let pos = this.pos
    buf[pos++] = 34
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x20 && c !== 34 && c !== 92 && (c < 0xd800 || c > 0xdfff)) {
        buf[pos++] = c
        continue
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1)
        if (d >= 0xdc00 && d <= 0xdfff) {
          buf[pos++] = c
          buf[pos++] = d
          i++
          continue
        }
      }
      buf[pos++] = 92
      if (c === 34 || c === 92) buf[pos++] = c
      else if (c === 8) buf[pos++] = 98
      else if (c === 9) buf[pos++] = 116
      else if (c === 10) buf[pos++] = 110
      else if (c === 12) buf[pos++] = 102
      else if (c === 13) buf[pos++] = 114
      else {
        buf[pos++] = 117
        buf[pos++] = HEX.charCodeAt(c >> 12)
        buf[pos++] = HEX.charCodeAt((c >> 8) & 15)
        buf[pos++] = HEX.charCodeAt((c >> 4) & 15)
        buf[pos++] = HEX.charCodeAt(c & 15)
      }
    }
    buf[pos++] = 34
    this.pos = pos
  }
}

/** One event's columns, as the store's insert takes them. */
export type WriteEvent = (
  ts: number,
  type: string,
  name: string,
  durationMs: number,
  pid: number,
  error: string | null,
  slow: 0 | 1,
  requestId: string | null,
  metadata: string | null,
) => void

/** Calls `event` with each packed event's columns and `other` with each other item, in order. */
export function unpackItems(p: PackedItems, event: WriteEvent, other: (item: Item) => void): void {
  const { kind, num, lens, others } = p
  // One string of all the texts; each is a slice of it. Buffer's utf16le keeps every code unit as it
  // is (TextDecoder would turn a lone surrogate into U+FFFD, and the file would differ).
  const units = p.text
  const text = Buffer.from(units.buffer, units.byteOffset, units.byteLength).toString('utf16le')
  let pos = 0
  let next = 0
  const take = (len: number): string | null => {
    if (len === NONE) return null
    const s = text.slice(pos, pos + len)
    pos += len
    return s
  }
  for (let i = 0; i < kind.length; i++) {
    const k = kind[i]
    if (k === 0) {
      other(others[next++]!)
      continue
    }
    const at = i * TEXTS
    const type = take(lens[at]!)!
    const name = take(lens[at + 1]!)!
    const error = take(lens[at + 2]!)
    const requestId = take(lens[at + 3]!)
    const metadata = take(lens[at + 4]!)
    const n = i * NUMBERS
    event(num[n]!, type, name, num[n + 1]!, num[n + 2]!, error, k === 2 ? 1 : 0, requestId, metadata)
  }
}
