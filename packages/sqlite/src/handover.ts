import type { PerfEvent } from '@perf/core'
import type { Item } from './store-engine.js'

// How a slice of the store's queue reaches its worker. A structured clone of the items costs the
// app's thread about 0.5–0.9 µs an event (V8 serialises every object with its property names);
// written into columns it costs less: the numbers into a Float64Array, the texts into one string,
// the arrays moved (transferred) rather than copied, and on the worker's side no object made per
// event, only its texts. See BENCHMARKS.md, bench:sqlite's hand-over row.

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
  readonly text: string
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
  let text = ''
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
    text += e.type
    lens[at] = e.type.length
    text += e.name
    lens[at + 1] = e.name.length
    if (e.error === null) lens[at + 2] = NONE
    else {
      text += e.error
      lens[at + 2] = e.error.length
    }
    if (e.requestId === null) lens[at + 3] = NONE
    else {
      text += e.requestId
      lens[at + 3] = e.requestId.length
    }
    if (json === null) lens[at + 4] = NONE
    else {
      text += json
      lens[at + 4] = json.length
    }
  }
  return {
    packed: { kind, num, lens, text, others },
    transfer: [kind.buffer as ArrayBuffer, num.buffer as ArrayBuffer, lens.buffer as ArrayBuffer],
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
  const { kind, num, lens, text, others } = p
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
