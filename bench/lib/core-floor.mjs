// The floor of a record: the job op.record does, written by hand with nothing to check or share —
// counters and a histogram bucket in typed arrays, the sampling draw, and a kept event's sequence
// number, timestamp, duration and op id in a ring. bench/core.mjs times it beside @perf and
// prom-client; lib/core-instructions.mjs counts it. It keeps all-time counters only: @perf's window
// (a row per slice) is part of the job it leaves out, so the floor is a lower bound.

/**
 * `count` ops that keep an event when a uniform 32-bit draw is below `threshold` (429496730 for
 * sampling 0.1, 0 to keep none), and `kept()`, the number of events kept so far.
 */
export function floorOps(count, threshold) {
  const f64 = new Float64Array(1)
  const u32 = new Uint32Array(f64.buffer)
  const RING = 1000
  const ring = {
    seq: new Float64Array(RING),
    at: new Float64Array(RING),
    ms: new Float64Array(RING),
    op: new Int32Array(RING),
  }
  let head = 0
  let seq = 0
  let rng = 0x9e3779b9
  class FloorOp {
    constructor(id) {
      this.id = id
      this.scalars = new Float64Array(4).fill(0)
      this.scalars[2] = Number.POSITIVE_INFINITY
      this.counts = new Uint32Array(1344)
    }
    record(ms) {
      const s = this.scalars
      s[0]++
      s[1] += ms
      if (ms < s[2]) s[2] = ms
      if (ms > s[3]) s[3] = ms
      f64[0] = ms
      const hi = u32[1]
      const octave = (hi >>> 20) - 1003
      const i = octave < 0 ? 0 : Math.min((octave << 5) | ((hi >>> 15) & 31), 1343)
      this.counts[i]++
      rng ^= rng << 13
      rng ^= rng >>> 17
      rng ^= rng << 5
      if (rng >>> 0 < threshold) {
        ring.seq[head] = ++seq
        ring.at[head] = Date.now()
        ring.ms[head] = ms
        ring.op[head] = this.id
        head = head + 1 === RING ? 0 : head + 1
      }
    }
  }
  return { ops: Array.from({ length: count }, (_, i) => new FloorOp(i)), kept: () => seq }
}

/**
 * The floor of a record by name: `floorOps`' ops looked up by type and name, as a hand-written
 * monitor keyed by strings would (a dictionary of ops per type, the type last looked up remembered),
 * then recorded. Nothing checked, nothing made for a name not seen: every name is one of `ops`'.
 */
export function floorByName(type, names, ops) {
  const byType = Object.create(null)
  byType[type] = Object.create(null)
  for (let i = 0; i < names.length; i++) byType[type][names[i]] = ops[i]
  let lastType = ''
  let lastOps
  return (t, name, ms) => {
    if (t !== lastType) {
      lastType = t
      lastOps = byType[t]
    }
    lastOps[name].record(ms)
  }
}
