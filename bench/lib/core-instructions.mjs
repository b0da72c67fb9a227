// Run by core.mjs under cachegrind (lib/instructions.mjs):
//   node core-instructions.mjs <variant> <calls>
// Warms every variant alike (each loop called several times, so the measured call runs code already
// optimised as a whole function, not an on-stack replacement), then makes `calls` calls of one:
// `handle` (an interned op.record), `name` (record by type and name), `observe` (prom-client's
// Histogram.observe with one label) or `floor` (the same job written by hand: window counters and a
// histogram bucket in typed arrays, the sampling draw, and a kept event's timestamp and fields in a
// ring), or `floor-name` (the floor looked up by type and name, as `name` is). 100 ops in turn,
// sampling 0.1. core.mjs takes the difference of two runs of different lengths.
// `handle-unkept` and `floor-unkept` are the same at sampling 0: the path of a record that keeps no
// event (every duration, 2.5–10 ms, is under the default slowMs of 1 s), so what a kept event costs
// is the difference.
import { createMonitor } from '@perf/core'
import client from 'prom-client'
import { floorByName, floorOps } from './core-floor.mjs'

const [variant, calls] = process.argv.slice(2)
const n = Number(calls)
const VARIANTS = ['handle', 'name', 'observe', 'floor', 'floor-name', 'handle-unkept', 'floor-unkept']
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

// The floor: what op.record does, by hand, with nothing to check or share (lib/core-floor.mjs).
const floor = floorOps(100, THRESHOLD)
const fops = floor.ops
const floorNamed = floorOps(100, THRESHOLD)
const floorRecord = floorByName('http', names, floorNamed.ops)

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
    for (let i = 0; i < k; i++) fops[i % 100].record(durations[i & 4095])
    sink += floor.kept()
  },
  'floor-name'(k) {
    for (let i = 0; i < k; i++) floorRecord('http', names[i % 100], durations[i & 4095])
    sink += floorNamed.kept()
  },
}
for (let r = 0; r < 10; r++) for (const run of Object.values(runs)) run(50_000)
runs[variant.replace('-unkept', '')](n)
if (!(sink >= 0)) process.exit(1)
