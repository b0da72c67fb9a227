import { bucketIndex, SliceHistogram, WideHistogram } from './histogram.js'

/** Offsets of the per-slice scalar fields. */
export const COUNT = 0
export const ERRORS = 1
export const SLOW = 2
export const SUM = 3
export const MIN = 4
export const MAX = 5
/** Status classes 1xx..5xx live at STATUS + 0..4. */
export const STATUS = 6
export const FIELDS = 11

/**
 * Windowed statistics of one op: a ring of slices (one histogram and a row of scalars each) plus
 * all-time totals that completed slices fold into. `record` touches only the current slice.
 */
export class OpStats {
  readonly id: number
  readonly type: string
  readonly name: string
  readonly slices: SliceHistogram[]
  /** `FIELDS` scalars per slice. */
  readonly scalars: Float64Array
  /** All-time histogram of every completed slice. */
  readonly total: WideHistogram = new WideHistogram()
  /** All-time scalars of every completed slice. */
  readonly totalScalars: Float64Array = emptyRow()

  constructor(id: number, type: string, name: string, slices: number) {
    this.id = id
    this.type = type
    this.name = name
    this.slices = new Array(slices)
    for (let i = 0; i < slices; i++) this.slices[i] = new SliceHistogram()
    this.scalars = new Float64Array(slices * FIELDS)
    for (let i = 0; i < slices; i++) resetRow(this.scalars, i * FIELDS)
  }

  /** Counts one event in slice `slice`: the hot path, kept small so the engine inlines it. */
  add(slice: number, ms: number, slow: boolean): void {
    const s = this.scalars
    const b = slice * FIELDS
    s[b + COUNT]!++
    s[b + SUM]! += ms
    if (ms < s[b + MIN]!) s[b + MIN] = ms
    if (ms > s[b + MAX]!) s[b + MAX] = ms
    if (slow) s[b + SLOW]!++
    const h = this.slices[slice]!
    const i = bucketIndex(ms)
    const c = h.counts
    const j = i - h.lo
    // Inlined SliceHistogram.add: the common case is one bounds check and one increment.
    if (j >= 0 && j < c.length && c[j]! < 0xffff) c[j]!++
    else h.add(i)
  }

  /** Counts the outcome of an event already added to slice `slice`. */
  addOutcome(slice: number, error: boolean, status: number): void {
    const b = slice * FIELDS
    if (error) this.scalars[b + ERRORS]!++
    if (status >= 100 && status < 600) this.scalars[b + STATUS + ((status / 100) | 0) - 1]!++
  }

  /** Folds slice `slice` into the all-time totals and empties it. Returns its event count. */
  retire(slice: number): number {
    const s = this.scalars
    const b = slice * FIELDS
    const count = s[b + COUNT]!
    if (count === 0) return 0
    const t = this.totalScalars
    t[COUNT]! += count
    t[ERRORS]! += s[b + ERRORS]!
    t[SLOW]! += s[b + SLOW]!
    t[SUM]! += s[b + SUM]!
    if (s[b + MIN]! < t[MIN]!) t[MIN] = s[b + MIN]!
    if (s[b + MAX]! > t[MAX]!) t[MAX] = s[b + MAX]!
    for (let k = 0; k < 5; k++) t[STATUS + k]! += s[b + STATUS + k]!
    const h = this.slices[slice]!
    this.total.addAll({ offset: h.lo, counts: h.counts })
    return count
  }

  /** Empties slice `slice` (after `retire`). */
  clearSlice(slice: number): void {
    resetRow(this.scalars, slice * FIELDS)
    this.slices[slice]!.reset()
  }

  /** Forgets everything, keeping the op's identity (interned handles stay valid). */
  reset(): void {
    for (let i = 0; i < this.slices.length; i++) this.clearSlice(i)
    resetRow(this.totalScalars, 0)
    this.total.reset()
  }
}

function emptyRow(): Float64Array {
  const row = new Float64Array(FIELDS)
  resetRow(row, 0)
  return row
}

function resetRow(s: Float64Array, b: number): void {
  s.fill(0, b, b + FIELDS)
  s[b + MIN] = Number.POSITIVE_INFINITY
  s[b + MAX] = 0
}
