import { describe, expect, it } from 'vitest'
import { bucketIndex, bucketLower } from './histogram.js'
import { Aggregate, COUNT, ERRORS, FIELDS, MAX, MIN, SLOW, STATUS, SUM } from './aggregate.js'
import { OpStats } from './op-stats.js'

/** A seeded log-normal sample, as `bench/memory.mjs` draws it (median 5 ms, sigma 0.8). */
function latencies(n: number, seed: number): number[] {
  let s = seed >>> 0
  const random = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
    return Math.exp(Math.log(5) + 0.8 * z)
  })
}

/** One event in slice `slice`, as the monitor records it: the live slice moved there, then `add`. */
function addAt(op: OpStats, slice: number, ms: number, slow: boolean): void {
  op.moveTo(slice)
  op.add(ms, slow)
}

/** Every bucket's count in slice `slice`, as a map from bucket index. */
function bucketsOf(op: OpStats, slice: number): Map<number, number> {
  const row = op.row(slice)
  const out = new Map<number, number>()
  for (let j = 0; j < row.counts.length; j++) if (row.counts[j]! > 0) out.set(row.offset + j, row.counts[j]!)
  return out
}

describe('OpStats.add', () => {
  it("writes each slice's row at the offsets aggregate.ts names (add spells them as literals)", () => {
    const op = new OpStats(0, 'http', 'GET /x', 4)
    for (const [slice, values] of [
      [1, [3, 1, 7]],
      [3, [0.5, 9]],
    ] as const) {
      for (const v of values) addAt(op, slice, v, v > 5)
      const b = slice * FIELDS
      expect(op.scalars[b + COUNT]).toBe(values.length)
      expect(op.scalars[b + SUM]).toBe(values.reduce((a: number, v) => a + v, 0))
      expect(op.scalars[b + MIN]).toBe(Math.min(...values))
      expect(op.scalars[b + MAX]).toBe(Math.max(...values))
      expect(op.scalars[b + SLOW]).toBe(values.filter((v) => v > 5).length)
    }
    expect(op.scalars[0 * FIELDS + COUNT]).toBe(0)
    expect(op.scalars[2 * FIELDS + COUNT]).toBe(0)
  })

  it('writes each record into its own slice when records alternate between slices', () => {
    // add and addOutcome keep a view of the slice they last wrote: a record for another slice must
    // move it, and a cleared or reset row must still be the one they write.
    const op = new OpStats(0, 'http', 'GET /x', 4)
    for (let k = 0; k < 6; k++) {
      const slice = k % 2 === 0 ? 1 : 3
      addAt(op, slice, slice + k, false)
      op.addOutcome(slice === 3, 200)
    }
    expect([1, 3].map((k) => op.scalars[k * FIELDS + COUNT])).toEqual([3, 3])
    expect([1, 3].map((k) => op.scalars[k * FIELDS + SUM])).toEqual([1 + 3 + 5, 4 + 6 + 8])
    expect([1, 3].map((k) => op.scalars[k * FIELDS + ERRORS])).toEqual([0, 3])
    expect([1, 3].map((k) => op.scalars[k * FIELDS + STATUS + 1])).toEqual([3, 3])
    op.retire(3)
    op.clearSlice(3)
    addAt(op, 3, 2, false)
    expect(op.scalars[3 * FIELDS + COUNT]).toBe(1)
    expect(op.scalars[3 * FIELDS + MIN]).toBe(2)
    op.reset()
    addAt(op, 3, 7, false)
    expect(op.scalars[3 * FIELDS + SUM]).toBe(7)
    expect(op.allTimeCount(3)).toBe(1)
  })

  it('counts outcomes at the offsets aggregate.ts names (addOutcome spells them as literals)', () => {
    const op = new OpStats(0, 'http', 'GET /x', 3)
    for (const [error, status] of [
      [false, 200],
      [true, 503],
      [true, 0],
      [false, 404],
      [false, 599],
    ] as const) {
      addAt(op, 2, 1, false)
      op.addOutcome(error, status)
    }
    const b = 2 * FIELDS
    expect(op.scalars[b + ERRORS]).toBe(2)
    expect([0, 1, 2, 3, 4].map((k) => op.scalars[b + STATUS + k])).toEqual([0, 1, 0, 1, 2])
  })
})

describe('OpStats histogram buffer', () => {
  it('holds a full 15-slice window of a typical op in at most one byte per bucket of its range', () => {
    const op = new OpStats(0, 'http', 'GET /x', 15)
    const data = latencies(15 * 200, 1)
    for (let slice = 0; slice < 15; slice++)
      for (let k = 0; k < 200; k++) addAt(op, slice, data[slice * 200 + k]!, false)
    // The memory of an op is mostly this buffer: 8-bit counters until one would overflow.
    expect(op.counts.BYTES_PER_ELEMENT).toBe(1)
    expect(op.counts.byteLength).toBe(15 * op.width)
    for (let slice = 0; slice < 15; slice++) {
      const expected = new Map<number, number>()
      for (let k = 0; k < 200; k++) {
        const i = bucketIndex(data[slice * 200 + k]!)
        expected.set(i, (expected.get(i) ?? 0) + 1)
      }
      expect(bucketsOf(op, slice)).toEqual(expected)
      expect(op.scalars[slice * FIELDS + COUNT]).toBe(200)
    }
  })

  it('carries a counter past 255 into a 16-bit high part, then a 32-bit one, keeping every count exact', () => {
    const op = new OpStats(0, 'http', 'GET /x', 3)
    addAt(op, 0, 1, false)
    addAt(op, 2, 1000, false)
    for (let k = 0; k < 300; k++) addAt(op, 1, 5, false)
    // The low parts stay one kind of array (the record path reads nothing else); the carry is apart.
    expect(op.counts).toBeInstanceOf(Uint8Array)
    expect(op.carry).toBeInstanceOf(Uint16Array)
    expect(bucketsOf(op, 1)).toEqual(new Map([[bucketIndex(5), 300]]))
    for (let k = 0; k < 70_000; k++) addAt(op, 1, 5, false)
    expect(bucketsOf(op, 1)).toEqual(new Map([[bucketIndex(5), 70_300]]))
    // A bucket outside the range widens every row, the carry with it.
    addAt(op, 1, 60_000, false)
    expect(bucketsOf(op, 1)).toEqual(
      new Map([
        [bucketIndex(5), 70_300],
        [bucketIndex(60_000), 1],
      ]),
    )
    expect(bucketsOf(op, 0)).toEqual(new Map([[bucketIndex(1), 1]]))
    expect(bucketsOf(op, 2)).toEqual(new Map([[bucketIndex(1000), 1]]))
    // A 16-bit high part that is full widens to 32 bits on its next carry.
    const k = 1 * op.width + bucketIndex(5) - op.lo
    op.carry![k] = 0xffff
    op.counts[k] = 255
    addAt(op, 1, 5, false)
    expect(op.carry).toBeInstanceOf(Uint32Array)
    expect(bucketsOf(op, 1).get(bucketIndex(5))).toBe(256 * 0x10000)
    // Retiring folds the exact counts into the all-time histogram, and the window adds them up.
    const window = new Aggregate()
    op.addWindow(window)
    expect(window.histogramJSON().counts).toContain(256 * 0x10000)
    op.retire(1)
    expect(op.total.histogramJSON().counts).toContain(256 * 0x10000)
    // A cleared row starts again from 0, carry and all.
    op.clearSlice(1)
    addAt(op, 1, 5, false)
    expect(bucketsOf(op, 1)).toEqual(new Map([[bucketIndex(5), 1]]))
  })
})

describe('OpStats answers window and all-time itself', () => {
  it('all-time is the retired slices plus the current one, the window every slice', () => {
    const op = new OpStats(0, 'http', 'GET /x', 3)
    addAt(op, 0, 2, false)
    op.addOutcome(true, 500)
    addAt(op, 0, 4, true)
    op.retire(0)
    op.clearSlice(1)
    addAt(op, 1, 8, false)
    op.addOutcome(false, 200)
    expect(op.allTimeCount(1)).toBe(3)
    expect(op.allTimeErrors(1)).toBe(1)
    expect(op.allTimeSum(1)).toBe(14)
    expect(op.allTimeStatus(1)).toEqual([0, 1, 0, 0, 1])
    const h = op.allTimeHistogram(1)
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(3)
    const window = new Aggregate()
    op.addWindow(window)
    // Slice 0 was retired but is still in the window (it has not rotated out).
    expect(window.stats()).toMatchObject({ count: 3, errors: 1, slow: 1, sumMs: 14 })
    expect(op.sliceAggregate(1, 10, 20, 'v1')).toMatchObject({
      count: 1,
      sumMs: 8,
      start: 10,
      end: 20,
      release: 'v1',
    })
    expect(op.sliceAggregate(2, 20, 30, undefined)).toBeUndefined()
  })

  it('has no all-time status classes until an event carries a status', () => {
    const op = new OpStats(0, 'db', 'SELECT x', 2)
    addAt(op, 0, 1, false)
    expect(op.allTimeStatus(0)).toBeUndefined()
  })
})

describe('OpStats.tryAdd', () => {
  /** What a record can change: every scalar and every bucket of every slice. */
  const state = (op: OpStats) => ({
    scalars: [...op.scalars],
    buckets: [0, 1, 2].map((k) => [...bucketsOf(op, k)]),
  })

  it('counts a common record as add does, carries past 255 and new buckets included', () => {
    const fast = new OpStats(0, 'db', 'q', 3, 1)
    const full = new OpStats(1, 'db', 'q', 3, 1)
    const values = [...latencies(3000, 7), ...Array.from({ length: 600 }, () => 4.2)]
    for (const v of values) {
      expect(fast.tryAdd(v)).toBe(true)
      full.add(v, false)
    }
    expect(state(fast)).toEqual(state(full))
    expect(bucketsOf(fast, 1).get(bucketIndex(4.2))).toBeGreaterThan(600)
  })

  it("leaves a record that may be slow to the monitor: its bucket is slowMs's or above", () => {
    const op = new OpStats(0, 'db', 'q', 3, 0, 150)
    op.tryAdd(5)
    const before = state(op)
    const edge = bucketLower(bucketIndex(150))
    expect(edge).toBeLessThan(150)
    for (const v of [150, 200, 1e6, edge, 149.999]) expect(op.tryAdd(v)).toBe(false)
    expect(state(op)).toEqual(before)
    expect(op.tryAdd(edge * (1 - 2 ** -40))).toBe(true)
  })

  it.each([Number.NaN, -1, -0, Number.POSITIVE_INFINITY, 0, 1e-9, 2 ** 22])(
    'leaves %s to the monitor (bad, below or past the buckets) and touches nothing',
    (v) => {
      const op = new OpStats(0, 'db', 'q', 3)
      op.tryAdd(5)
      const before = state(op)
      expect(op.tryAdd(v)).toBe(false)
      expect(state(op)).toEqual(before)
    },
  )

  it('leaves every record of an op marked rare to the monitor', () => {
    const op = new OpStats(0, 'db', 'q', 3)
    op.tryAdd(5)
    op.markRare()
    const before = state(op)
    expect(op.tryAdd(5)).toBe(false)
    expect(op.tryAdd(7000)).toBe(false)
    expect(state(op)).toEqual(before)
    op.add(5, false)
    expect(op.scalars[COUNT]).toBe(2)
  })
})
