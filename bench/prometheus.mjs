// Prometheus rendering: time and allocation of toPrometheus() on a monitor with 2,000 ops.
// Usage (from the repo root, after building @perf/core): node bench/prometheus.mjs [ops] [events-per-op]
import { Session } from 'node:inspector/promises'
import { loadavg } from 'node:os'
import { createMonitor, toPrometheus, toPrometheusBytes } from '@perf/core'

// Positional arguments (ops, events per op) are optional; flags such as --quick are not numbers.
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const quick = process.argv.includes('--quick')
const OPS = Number(positional[0] ?? 2000)
const PER_OP = Number(positional[1] ?? (quick ? 50 : 500))
const RUNS = 30

// Deterministic PRNG so runs are comparable.
let seed = 42
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return (seed + 0.5) / 0x80000000
}
const normal = () => Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand())

const monitor = createMonitor({ maxOps: OPS })
for (let k = 0; k < OPS; k++) {
  const http = k % 4 !== 0
  const type = http ? 'http' : 'db'
  const name = http ? `GET /api/v1/resource${k}/:id` : `SELECT table${k} WHERE id = ?`
  // Latency: log-normal around a per-op median from 0.2 ms to 200 ms, with a 1 % slow tail.
  const median = 0.2 * 1000 ** rand()
  const op = monitor.op(type, name)
  for (let i = 0; i < PER_OP; i++) {
    const ms = median * Math.exp(0.6 * normal()) * (rand() < 0.01 ? 20 : 1)
    op.record(ms, http ? { status: rand() < 0.02 ? 500 : 200 } : undefined)
  }
}

const snapOpts = { histograms: true, recent: 0, slow: 0 }
const snap = monitor.snapshot(snapOpts)

/** Median and min time of `fn(snap)` over RUNS runs, after a warm-up. */
function time(fn) {
  for (let i = 0; i < 5; i++) fn(snap)
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    fn(snap)
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  return { median: times[RUNS >> 1], p90: times[Math.floor(RUNS * 0.9)], min: times[0] }
}

// A render's allocation: JS heap objects from V8's sampling heap profiler (counting objects the GC
// already collected), plus the output buffer, which lives outside the JS heap (its capacity is known).
const session = new Session()
session.connect()
async function allocated(fn) {
  const n = 5
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  })
  for (let i = 0; i < n; i++) fn(snap)
  const { profile } = await session.post('HeapProfiler.stopSampling')
  let heap = 0
  const walk = (node) => {
    heap += node.selfSize
    for (const child of node.children) walk(child)
  }
  walk(profile.head)
  return heap / n + toPrometheusBytes(snap).buffer.byteLength
}

const text = toPrometheus(snap)
const bytes = Buffer.byteLength(text)
const tString = time(toPrometheus)
const tBytes = time(toPrometheusBytes)
const aString = await allocated(toPrometheus)
const aBytes = await allocated(toPrometheusBytes)
session.disconnect()

const snapTimes = []
for (let i = 0; i < 5; i++) {
  const t0 = performance.now()
  monitor.snapshot(snapOpts)
  snapTimes.push(performance.now() - t0)
}
snapTimes.sort((a, b) => a - b)

const lines = text.split('\n').length - 1
const buckets = text.split('_bucket{').length - 1
const ms = (t) => `median ${t.median.toFixed(1)} ms, p90 ${t.p90.toFixed(1)} ms, min ${t.min.toFixed(1)} ms`
const mb = (n) => `${(n / 1e6).toFixed(2)} MB = ${(n / bytes).toFixed(2)} × the output`
console.log(
  `toPrometheus: ${OPS} ops, ${PER_OP} events each → ${lines} lines, ${(bytes / 1e6).toFixed(2)} MB`,
)
console.log(`  ${(buckets / OPS).toFixed(1)} bucket lines per op (8 buckets per octave, sparse)`)
console.log(`  toPrometheusBytes (what /metrics serves): ${ms(tBytes)} (target ≤ 50 ms)`)
console.log(`  toPrometheus (string):                    ${ms(tString)}`)
console.log(`  allocated per render: bytes ${mb(aBytes)}; string ${mb(aString)}`)
console.log(`  (monitor.snapshot({ histograms: true }) before it: median ${snapTimes[2].toFixed(1)} ms)`)
console.log(`  load average at the end: ${loadavg()[0].toFixed(1)} (shared machine: times inflate with load)`)
await monitor.close()
