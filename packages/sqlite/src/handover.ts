import { Buffer } from 'node:buffer'
import type { PerfEvent } from '@perf/core'
import type { Item } from './store-engine.js'

// How a slice of the store's queue reaches its worker. A structured clone of the items costs the
// app's thread about 0.5–0.9 µs an event (V8 serialises every object with its property names);
// written into columns it costs less: the numbers into a Float64Array, the texts' UTF-16 code units
// into one Uint16Array, the arrays moved (transferred) rather than copied. No string or object is
// made per event on the app's thread but the JSON of its details, if it has any (the file stores that
// JSON; it used to be made in the worker). See BENCHMARKS.md, bench:sqlite's hand-over row.

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
    const json = item.k === 0 ? packable(item.e) : undefined
    if (json === undefined) {
      others.push(item)
      continue
    }
    const e = (item as { e: PerfEvent }).e
    kind[i] = e.slow ? 2 : 1
    num[i * NUMBERS] = e.timestamp
    num[i * NUMBERS + 1] = e.durationMs
    num[i * NUMBERS + 2] = e.pid
    const at = i * TEXTS
    lens[at] = text.write(e.type)
    lens[at + 1] = text.write(e.name)
    lens[at + 2] = e.error === null ? NONE : text.write(e.error)
    lens[at + 3] = e.requestId === null ? NONE : text.write(e.requestId)
    lens[at + 4] = json === null ? NONE : text.write(json)
  }
  const units = text.buf
  return {
    packed: { kind, num, lens, text: units.subarray(0, text.pos), others },
    transfer: [kind.buffer, num.buffer, lens.buffer, units.buffer] as ArrayBuffer[],
  }
}

/** Strings' UTF-16 code units, one after another in one array that doubles when full. */
class CodeUnits {
  buf: Uint16Array
  pos = 0

  constructor(capacity: number) {
    this.buf = new Uint16Array(Math.max(64, capacity))
  }

  /** Appends `s`; returns its length. */
  write(s: string): number {
    const n = s.length
    if (this.pos + n > this.buf.length) {
      let size = this.buf.length * 2
      while (size < this.pos + n) size *= 2
      const next = new Uint16Array(size)
      next.set(this.buf.subarray(0, this.pos))
      this.buf = next
    }
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i)
    this.pos = pos
    return n
  }
}

/**
 * The JSON of `e`'s details (`null` for none) if `e` is an event as the monitor makes them, else
 * `undefined`: such an event goes to the worker as it is and fails there as it always has.
 */
function packable(e: PerfEvent): string | null | undefined {
  if (
    typeof e.type !== 'string' ||
    typeof e.name !== 'string' ||
    typeof e.timestamp !== 'number' ||
    typeof e.durationMs !== 'number' ||
    typeof e.pid !== 'number' ||
    typeof e.slow !== 'boolean' ||
    (e.error !== null && typeof e.error !== 'string') ||
    (e.requestId !== null && typeof e.requestId !== 'string')
  ) {
    return undefined
  }
  if (e.metadata === null) return null
  try {
    const json = JSON.stringify(e.metadata)
    return typeof json === 'string' ? json : undefined
  } catch {
    return undefined
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
