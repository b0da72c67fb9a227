// Run by core.mjs under cachegrind (lib/instructions.mjs):
//   node core-instructions.mjs <variant> <calls>
// Warms every variant alike (each loop called several times, so the measured call runs code already
// optimised as a whole function, not an on-stack replacement), then makes `calls` calls of one:
// `handle` (an interned op.record), `name` (record by type and name), `observe` (prom-client's
// Histogram.observe with one label) or `floor` (the same job written by hand: window counters and a
// histogram bucket in typed arrays, the sampling draw, and a kept event's timestamp and fields in a
// ring). 100 ops in turn, sampling 0.1. core.mjs takes the difference of two runs of different lengths.
// `handle-unkept` and `floor-unkept` are the same at sampling 0: the path of a record that keeps no
// event (every duration, 2.5–10 ms, is under the default slowMs of 1 s), so what a kept event costs
// is the difference.
import { createMonitor } from '@perf/core'
import client from 'prom-client'

const [variant, calls] = process.argv.slice(2)
const n = Number(calls)
const VARIANTS = ['handle', 'name', 'observe', 'floor', 'handle-unkept', 'floor-unkept']
if (!VARIANTS.includes(variant) || !(n >= 0)) {
  console.error(`usage: core-instructions.mjs ${VARIANTS.join('|')} <calls>`)
  process.exit(2)
}
const unkept = variant.endsWith('-unkept')
/** Keep when a uniform 32-bit draw is below this: sampling 0.1, or 0 for the -unkept variants. */
const THRESHOLD = unkept ? 0 : 429496730

// The same names and durations in every run (a fixed generator, not Math.random).
const names = Array.from({ length: 100 }, (_, i) => `GET /route/${i}`)
let x = 12345
const durations = Float64Array.from({ length: 4096 }, () => {
  x = (x * 1103515245 + 12345) & 0x7fffffff
  return Math.exp(Math.log(5) + 0.7 * ((x / 0x7fffffff) * 2 - 1))
})

const monitor = createMonitor({ sampling: unkept ? 0 : 0.1 })
const handles = names.map((name) => monitor.op('http', name))
const histogram = new client.Histogram({
  name: 'http_request_duration_ms',
  help: 'duration',
  labelNames: ['route'],
  buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
  registers: [new client.Registry()],
})

// The floor: what op.record does, by hand, with nothing to check or share.
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
    if (rng >>> 0 < THRESHOLD) {
      ring.seq[head] = ++seq
      ring.at[head] = Date.now()
      ring.ms[head] = ms
      ring.op[head] = this.id
      head = head + 1 === RING ? 0 : head + 1
    }
  }
}
const floorOps = names.map((_, i) => new FloorOp(i))

let sink = 0
const runs = {
  handle(k) {
    for (let i = 0; i < k; i++) handles[i % 100].record(durations[i & 4095])
  },
  name(k) {
    for (let i = 0; i < k; i++) monitor.record('http', names[i % 100], durations[i & 4095])
  },
  observe(k) {
    for (let i = 0; i < k; i++) histogram.observe({ route: names[i % 100] }, durations[i & 4095])
  },
  floor(k) {
    for (let i = 0; i < k; i++) floorOps[i % 100].record(durations[i & 4095])
    sink += seq
  },
}
for (let r = 0; r < 10; r++) for (const run of Object.values(runs)) run(50_000)
runs[variant.replace('-unkept', '')](n)
if (!(sink >= 0)) process.exit(1)
