import { Aggregate, COUNT, ERRORS, FIELDS, MAX, MIN, SLOW, STATUS, SUM } from './aggregate.js'
import {
  addHistograms,
  bucketIndex,
  bucketOrOutside,
  type HistogramData,
  type SparseHistogram,
  sparseOf,
} from './histogram.js'
import type { OpAggregate } from './sink.js'

// The row layout is the aggregate's, so a slice retires into the all-time totals as one `addRow`;
// it stays inside this file: readers ask for the window or the all-time figures below.

/** Takes a run of bucket counts: `counts[from .. to)` are the buckets `first`, `first + 1`, … */
export interface BucketAdder {
  add(counts: ArrayLike<number>, from: number, to: number, first: number): void
}

/** Rows widen in steps of half a power of two (16 buckets). */
const GRAIN = 16

/**
 * `bucketIndex` as this module's own constant: an imported binding is a cell that optimised code
 * loads and checks (not yet initialised? the same function?) on every record, where a module-local
 * `const` is folded into the code.
 */
const bucketOf = bucketIndex
const bucketOrOut = bucketOrOutside

/** The high part of an op's counters, once one has passed 255: 16 bits, then 32. */
type Carry = Uint16Array | Uint32Array

/**
 * Windowed statistics of one op: a ring of slices, each a row of scalars and a row of histogram
 * counts, plus all-time totals that completed slices fold into. `record` touches only the current
 * slice. All slices share one bucket range and one buffer (`slices × width` counters): real ops touch
 * a few powers of two, and one buffer per op instead of one per slice keeps 6,000 ops × 15 slices
 * affordable. Counters are 8 bits, and carry into a buffer of high parts made the first time one
 * would overflow: most ops see fewer than 256 events per bucket in a slice, and the buffer is the
 * bulk of an op's memory, so this halves a monitor's footprint while a busy op pays for a carry once
 * every 256 events of a bucket.
 */
export class OpStats {
  // The fields `tryAdd` reads come first: V8 lays an object's fields out in the order they are
  // assigned, and with these beside the object's header a record mostly touches one cache line of it.
  // Each has an initialiser: fields are compiled as assignments, those with initialisers first, so
  // one set only in the constructor would land after all of them.
  /**
   * The first bucket past those {@link tryAdd} counts in place: `min(lo + width, fastLimit)`, or 0
   * once the op is {@link markRare}.
   */
  private fastHi = 0
  /**
   * The row of slice `liveSlice` (the one records go to) in `scalars`, as a view of it: a record writes
   * the row at constant offsets, where indexing `scalars` at `slice * FIELDS + k` cost an overflow
   * check and a bounds check a field (a loop of records over 100 ops, alone in its process: 15.3 →
   * 13.9 ns a record on Node 20, 16.1 → 14.0 on Node 24). Moved by {@link moveTo}, which the monitor
   * calls for every op as a slice turns: a record then neither compares slices nor calls out to move
   * the row (with the check, the optimised record kept more values across that call).
   */
  private live: Float64Array = NO_ROW
  /**
   * Where bucket `i` of the live slice is in {@link counts}: `at + i`, for `lo <= i < lo + width`. Kept by
   * the two places that move them (a new live slice, a wider range), so that `tryAdd` finds the counter
   * with one addition, where `slice * width + i - lo` cost a multiplication and three overflow checks.
   */
  private at = 0
  /** First bucket index held by every row. */
  lo = 0
  /**
   * The low 8 bits of every counter: row `k` (slice `k`) holds buckets `lo .. lo + width` at
   * `k * width`. Always a `Uint8Array`, so the record path reads and writes one kind of array: with
   * the counters widened to 16 and 32 bits in place, as they were first, the access dispatched on
   * three kinds (`bench/core.mjs`, Node 20: 19.6–20.0 → 18.6–18.7 ns a record; Node 24: 19
   * instructions fewer, counted).
   */
  counts: Uint8Array = EMPTY
  /** The slice {@link live} is the row of. */
  private liveSlice = 0
  /**
   * The counters' high part, `undefined` until one passes 255: a counter is `counts[k] + 256 ×
   * carry[k]` (the readers below sum them). Made 16 bits wide, widened once to 32; a 32-bit high part
   * is never widened (2^40 events in one bucket of one slice is out of reach).
   */
  carry: Carry | undefined = undefined
  /** Buckets per row. */
  width = 0
  /**
   * The bucket of the type's `slowMs`, or 0 once the op is {@link markRare}: a record in a lower
   * bucket is faster than `slowMs` (buckets are monotonic), so {@link tryAdd} counts it without
   * comparing; one in this bucket or above may be slow, and the monitor's full path compares it.
   * Every record of a rare op is left to the monitor, which knows what it is past (see markRare).
   */
  private fastLimit: number
  /** `FIELDS` scalars per slice. */
  readonly scalars: Float64Array
  readonly id: number
  readonly type: string
  readonly name: string
  private readonly rows: number
  /** All-time totals and histogram of every completed slice. */
  readonly total: Aggregate = new Aggregate()
  /**
   * All-time heap deltas of the requests measured alone (`memory: true` on an HTTP adapter), or
   * `undefined` for an op nobody measures.
   */
  memory: HeapDeltas | undefined = undefined

  /** An op of `slices` slices, recording into slice `live`. */
  constructor(
    id: number,
    type: string,
    name: string,
    slices: number,
    live = 0,
    slowMs: number = Number.POSITIVE_INFINITY,
  ) {
    this.fastLimit = bucketIndex(slowMs)
    this.id = id
    this.type = type
    this.name = name
    this.rows = slices
    this.scalars = new Float64Array(slices * FIELDS)
    for (let i = 0; i < slices; i++) resetRow(this.scalars, i * FIELDS)
    this.moveTo(live)
  }

  /** Records go to slice `slice` from now on. */
  moveTo(slice: number): void {
    this.liveSlice = slice
    this.at = slice * this.width - this.lo
    this.live = this.scalars.subarray(slice * FIELDS, (slice + 1) * FIELDS)
  }

  /**
   * Counts one event in the live slice if it is a common one, and says whether it did: the hot path,
   * kept small so the engine inlines it. Common is a bucket below `fastLimit` and inside the range
   * (`bucketOrOutside` puts every bad duration outside it): a good duration, finite and at least
   * 2^MIN_EXP ms, faster than the type's `slowMs`, of an op neither past a cap nor closed. So one
   * range test stands for the monitor's duration check, its slow test and its past-cap flag (counted,
   * Node 24: 223 → 201 instructions a record through a handle, 332 → 303 by name). Anything else
   * returns false having touched nothing, and the monitor's rare path takes it: a bad duration is
   * thrown, the rest counted by {@link add}.
   */
  tryAdd(ms: number): boolean {
    const i = bucketOrOut(ms)
    const inRow = i >= this.lo && i < this.fastHi
    // Outside the row, only a record that is not common goes back to the monitor. A common one the
    // rows cannot count in place (a bucket past the rows' range, or below, a carry) is counted here,
    // by addSlow below: were it left to the monitor's rare path, that path would run often enough in
    // an op's first records for V8 to inline it into every caller.
    if (!inRow && !(i >= 0 && i < this.fastLimit)) return false
    // One call site of addScalars, not one per branch: V8 inlines a function once per call site, and
    // its 72 bytes of bytecode counted twice in every inlining budget tryAdd is part of. With both,
    // `record` compiled on its own (an app recording by name with options and without) had inlined
    // 592 bytes, and a caller compiled after that no longer inlined `record` (1.2 × (216 + 592) is
    // past V8's 920): record by name then paid a call, 32.7 instead of 21-24 ns on Node 24.
    this.addScalars(ms)
    if (inRow) {
      // `| 0`: `at + i` is a counter's index, a small integer; without it V8 checks the sum for overflow.
      const k = (this.at + i) | 0
      const c = this.counts
      // Read once: `c[k]++` after the test would read it again.
      const n = c[k]!
      if (n < 255) {
        c[k] = n + 1
        return true
      }
    }
    // Last, and the one call: what is read after a call is checked again. No duration passed: with
    // it, V8 boxed the duration on every record. Carrying in place once the op has a (32-bit) high
    // part, with only the widening and the first carry called, counted fewer instructions (Node 20:
    // 184 a record through a handle, 288 by name; Node 24: 195, 291) but was no faster timed on Node
    // 20 and about 0.5 ns slower through a handle on Node 24, so the carry stays a call. Variants of
    // it tripped V8 too: a second `return false` boxed the duration on Node 20, and at 156 bytes of
    // bytecode Node 24 stopped inlining tryAdd into record by name in some runs, those where tryAdd
    // had optimised code of its own first (23 or 30 ns a record).
    this.addSlow(i)
    return true
  }

  /**
   * The live row's count, sum, min and max, for one event {@link tryAdd} or {@link add} counts. The
   * row's offsets are written as literals (`COUNT` = 0, `SUM` = 3, `MIN` = 4, `MAX` = 5, and `SLOW` = 2
   * in `add`; a test holds them to aggregate.ts's names): each read of an imported constant is a
   * module-cell load with a hole check in the bytecode, and with six of them the record path grew
   * past V8's inlining budget, so every record paid a call (counted: 410 → 261 instructions a record).
   */
  private addScalars(ms: number): void {
    const s = this.live
    s[0]!++
    s[3]! += ms
    if (ms < s[4]!) s[4] = ms
    if (ms > s[5]!) s[5] = ms
  }

  /** Every record of this op takes the monitor's rare path from now on: the op is past a cap, or the monitor closed. */
  markRare(): void {
    this.fastLimit = 0
    this.fastHi = 0
  }

  /** Counts one event that {@link tryAdd} left to the monitor's rare path: any good duration, slow or not. */
  add(ms: number, slow: boolean): void {
    this.addScalars(ms)
    if (slow) this.live[2]!++
    this.addSlow(bucketOf(ms))
  }

  /**
   * What `add` does not do in place, for bucket `i` of the live slice: it is outside the rows' range
   * (they widen to take it, carry and all) or its low 8 bits are full (they carry into
   * {@link carry}, made on the first carry as 16 bits and widened to 32 when one of those fills).
   * One function on purpose, over V8's 460-byte limit for inlining: split into three, the widening
   * was inlined into every optimised caller of `add` (a new op widens several times in its first
   * records, so the profile says it runs often), and the caller's code grew past what its own
   * callers inline, so on Node 24 every `op.record` paid a call and a boxed duration (403
   * instructions a record against 316, counted).
   */
  private addSlow(i: number): void {
    const slice = this.liveSlice
    if (i < this.lo || i >= this.lo + this.width) {
      const step = (i / GRAIN) | 0
      const lo = this.width === 0 ? step * GRAIN : Math.min(this.lo, step * GRAIN)
      const hi = this.width === 0 ? lo + GRAIN : Math.max(this.lo + this.width, (step + 1) * GRAIN)
      const width = hi - lo
      const size = this.rows * width
      const counts = new Uint8Array(size)
      const carry = this.carry
      const wider =
        carry === undefined
          ? undefined
          : carry instanceof Uint16Array
            ? new Uint16Array(size)
            : new Uint32Array(size)
      if (this.width > 0) {
        for (let r = 0; r < this.rows; r++) {
          const from = r * this.width
          const at = r * width + this.lo - lo
          counts.set(this.counts.subarray(from, from + this.width), at)
          if (carry !== undefined) wider!.set(carry.subarray(from, from + this.width), at)
        }
      }
      this.lo = lo
      this.width = width
      this.fastHi = Math.min(hi, this.fastLimit)
      this.at = slice * width - lo
      this.counts = counts
      this.carry = wider
    }
    const k = this.at + i
    const c = this.counts
    if (c[k]! < 255) {
      c[k]!++
      return
    }
    // 256 events in: the low part goes back to 0 and one goes into the high part.
    c[k] = 0
    let carry = this.carry
    if (carry === undefined) carry = this.carry = new Uint16Array(c.length)
    else if (carry[k] === 0xffff && carry instanceof Uint16Array) carry = this.carry = Uint32Array.from(carry)
    carry[k]!++
  }

  /**
   * Slice `slice`'s counters once one has carried (low and high parts summed), bucket `lo + j` at `j`:
   * a `Uint32Array`, or a `Float64Array` once the carry is 32 bits (its counters can pass 2^32).
   */
  private carried(slice: number): ArrayLike<number> {
    const carry = this.carry!
    const from = slice * this.width
    const w = this.width
    const out = carry instanceof Uint16Array ? new Uint32Array(w) : new Float64Array(w)
    for (let j = 0; j < w; j++) out[j] = this.counts[from + j]! + 256 * carry[from + j]!
    return out
  }

  /** Adds slice `k`'s row (scalars and counters) into `into`. */
  private addRowTo(into: Aggregate, k: number): void {
    const w = this.width
    if (this.carry === undefined)
      into.addRow(this.scalars, k * FIELDS, this.counts, k * w, (k + 1) * w, this.lo - k * w)
    else into.addRow(this.scalars, k * FIELDS, this.carried(k), 0, w, this.lo)
  }

  /**
   * Counts the outcome of the event {@link add} has just counted, in the same slice (on the record
   * path too, so its offsets are literals as in `add`: `ERRORS` = 1, `STATUS` = 6).
   */
  addOutcome(error: boolean, status: number): void {
    const s = this.live
    if (error) s[1]!++
    if (status >= 100 && status < 600) s[5 + ((status / 100) | 0)]!++
  }

  /** Slice `slice`'s counts as histogram data (a view or a copy; valid until the next record). */
  row(slice: number): HistogramData {
    const counts =
      this.carry === undefined
        ? this.counts.subarray(slice * this.width, (slice + 1) * this.width)
        : this.carried(slice)
    return { offset: this.lo, counts }
  }

  /** Adds the window (every slice) into `into`: counts, sums, extremes, status classes, histogram. */
  addWindow(into: Aggregate): void {
    for (let k = 0; k < this.rows; k++) this.addRowTo(into, k)
  }

  // All-time figures are the retired totals plus the slice being recorded into (`current`, not yet
  // retired): the one place that sum is made.

  /** All-time event count. */
  allTimeCount(current: number): number {
    return this.total.count + this.scalars[current * FIELDS + COUNT]!
  }

  /** All-time failed events. */
  allTimeErrors(current: number): number {
    return this.total.errors + this.scalars[current * FIELDS + ERRORS]!
  }

  /** All-time sum of durations, ms. */
  allTimeSum(current: number): number {
    return this.total.sum + this.scalars[current * FIELDS + SUM]!
  }

  /** All-time events of status class `k` (0 = 1xx … 4 = 5xx). */
  allTimeStatusAt(current: number, k: number): number {
    return this.total.statusAt(k) + this.scalars[current * FIELDS + STATUS + k]!
  }

  /** All-time status classes (1xx … 5xx), or `undefined` when no event ever carried a status. */
  allTimeStatus(current: number): number[] | undefined {
    const out = [0, 0, 0, 0, 0]
    let any = this.total.status !== undefined
    for (let k = 0; k < 5; k++) {
      out[k] = this.allTimeStatusAt(current, k)
      if (out[k] !== 0) any = true
    }
    return any ? out : undefined
  }

  /** The all-time histogram as sparse data. */
  allTimeHistogram(current: number): SparseHistogram {
    const total = this.total.histogram
    return addHistograms({ offset: total.lo, counts: total.counts }, this.row(current))
  }

  /** Adds the all-time histogram into `into`, without building one. */
  addAllTimeHistogram(current: number, into: BucketAdder): void {
    const total = this.total.histogram
    into.add(total.counts, 0, total.counts.length, total.lo)
    const width = this.width
    if (width === 0) return
    if (this.carry === undefined) into.add(this.counts, current * width, (current + 1) * width, this.lo)
    else into.add(this.carried(current), 0, width, this.lo)
  }

  /** Slice `slice` as a sink's aggregate, or `undefined` when it counted no event. */
  sliceAggregate(
    slice: number,
    start: number,
    end: number,
    release: string | undefined,
  ): OpAggregate | undefined {
    const s = this.scalars
    const b = slice * FIELDS
    if (!(s[b + COUNT]! > 0)) return undefined
    return {
      type: this.type,
      name: this.name,
      start,
      end,
      count: s[b + COUNT]!,
      errors: s[b + ERRORS]!,
      slow: s[b + SLOW]!,
      sumMs: s[b + SUM]!,
      minMs: s[b + MIN]!,
      maxMs: s[b + MAX]!,
      histogram:
        this.carry === undefined
          ? sparseOf(this.counts, slice * this.width, (slice + 1) * this.width, this.lo - slice * this.width)
          : sparseOf(this.carried(slice), 0, this.width, this.lo),
      ...(release === undefined ? {} : { release }),
    }
  }

  /** Folds slice `slice` into the all-time totals. Returns its event count. */
  retire(slice: number): number {
    const count = this.scalars[slice * FIELDS + COUNT]!
    if (count === 0) return 0
    this.addRowTo(this.total, slice)
    return count
  }

  /** Empties slice `slice` (after `retire`). */
  clearSlice(slice: number): void {
    resetRow(this.scalars, slice * FIELDS)
    this.counts.fill(0, slice * this.width, (slice + 1) * this.width)
    this.carry?.fill(0, slice * this.width, (slice + 1) * this.width)
  }

  /** Forgets everything, keeping the op's identity (interned handles stay valid). */
  reset(): void {
    for (let i = 0; i < this.rows; i++) resetRow(this.scalars, i * FIELDS)
    this.counts.fill(0)
    this.carry = undefined
    this.total.reset()
    // Still measured after a clear: only the figures go.
    if (this.memory !== undefined) this.memory = newHeapDeltas()
  }
}

/** Heap deltas of an op's measured requests, added up. */
export interface HeapDeltas {
  measured: number
  sumBytes: number
  /** `-Infinity` while none was measured. */
  maxBytes: number
}

/** An empty {@link HeapDeltas}. */
export function newHeapDeltas(): HeapDeltas {
  return { measured: 0, sumBytes: 0, maxBytes: Number.NEGATIVE_INFINITY }
}

const EMPTY = new Uint8Array(0)
/** `live` until the constructor makes the first row's view. */
const NO_ROW = new Float64Array(0)

function resetRow(s: Float64Array, b: number): void {
  s.fill(0, b, b + FIELDS)
  s[b + MIN] = Number.POSITIVE_INFINITY
  s[b + MAX] = 0
}
