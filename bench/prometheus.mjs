// Prometheus exposition: time and allocation of one /metrics scrape of a monitor with 2,000 ops.
// Usage (from bench/, after building @perf/core): node prometheus.mjs [--quick] [--ops 2000] [--events 500]
//
// The scrape path is the one every adapter's metrics() route runs: createMetricsHandler(monitor),
// a Request in, the Response's body read to the end the way serveWebHandler pipes it to the socket.
// For comparison, the path it replaced: monitor.snapshot({ histograms: true }) then toPrometheusBytes.
import { Session } from 'node:inspector/promises'
import { loadavg } from 'node:os'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createMetricsHandler, createMonitor, toPrometheusBytes } from '@perf/core'
import { checkFlags, emit, flag, headComment, quick, round } from './lib/result.mjs'
checkFlags(headComment(import.meta.url), ['events', 'ops'], ['quick'])

const OPS = Number(flag('ops', '2000'))
const PER_OP = Number(flag('events', quick ? '50' : '500'))
const RUNS = quick ? 10 : 30
const ALLOC_RUNS = quick ? 3 : 8

// A full collection before each allocation measurement, so that what the scrape allocates outside the
// JS heap (array buffers) shows as the growth of process.memoryUsage().arrayBuffers.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')

// Deterministic PRNG so runs are comparable.
let seed = 42
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return (seed + 0.5) / 0x80000000
}
const normal = () => Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand())

const monitor = createMonitor({ maxOps: OPS, sampling: 0 })
const handles = []
for (let k = 0; k < OPS; k++) {
  const http = k % 4 !== 0
  const type = http ? 'http' : 'db'
  const name = http ? `GET /api/v1/resource${k}/:id` : `SELECT table${k} WHERE id = ?`
  // Latency: log-normal around a per-op median from 0.2 ms to 200 ms, with a 1 % slow tail.
  const median = 0.2 * 1000 ** rand()
  const op = monitor.op(type, name)
  handles.push({ op, http, median })
  for (let i = 0; i < PER_OP; i++) {
    const ms = median * Math.exp(0.6 * normal()) * (rand() < 0.01 ? 20 : 1)
    op.record(ms, http ? { status: rand() < 0.02 ? 500 : 200 } : undefined)
  }
}
/** One more event in every op: a live service between two scrapes, every `_sum` changed. */
const touchAll = () => {
  for (const { op, http, median } of handles) op.record(median, http ? { status: 200 } : undefined)
}

const handler = createMetricsHandler(monitor, { token: false })
const url = 'http://127.0.0.1/metrics'

/** One scrape as the adapters serve it: the handler, then the body read chunk by chunk. */
const scrape = () => serve(handler)

// The same exchange with a handler that renders nothing: the Request, Response and body stream that
// any web handler costs, so that what rendering itself allocates can be told apart.
const tiny = new TextEncoder().encode('x 1\n')
const plumbing = () =>
  serve(async () => new Response(tiny, { status: 200, headers: { 'content-type': 'text/plain' } }))

async function serve(handle) {
  const response = await handle(new Request(url))
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`)
  const reader = response.body.getReader()
  let bytes = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bytes += value.byteLength
  }
  return bytes
}

const SNAP = { histograms: true, recent: 0, slow: 0 }
const snapshotPath = () => toPrometheusBytes(monitor.snapshot(SNAP)).byteLength
const snap = monitor.snapshot(SNAP)
const renderOnly = () => toPrometheusBytes(snap).byteLength

// Both paths give the same bytes (the tests check it byte for byte; here a size check suffices).
const bytes = await scrape()
if (bytes !== snapshotPath()) {
  console.error(`scrape served ${bytes} bytes, the snapshot path renders ${snapshotPath()}`)
  process.exit(1)
}

/** Median, p90 and min time of `fn` over RUNS runs, after a warm-up. */
async function time(fn) {
  for (let i = 0; i < 5; i++) await fn()
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    await fn()
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  return { median: times[RUNS >> 1], p90: times[Math.floor(RUNS * 0.9)], min: times[0], max: times.at(-1) }
}

// What one call allocates: JS heap objects from V8's sampling heap profiler (counting objects the GC
// already collected), plus what outside the JS heap grew during the call (array buffer backing stores:
// the output bytes live there). Measured one call at a time, each after a full collection; the median
// over ALLOC_RUNS calls (`before` runs first and is not counted, e.g. touching every op).
const session = new Session()
session.connect()
async function allocated(fn, before = () => {}) {
  for (let i = 0; i < 10; i++) await fn() // warm: what a path keeps between calls is not per call
  const heap = []
  const external = []
  for (let i = 0; i < ALLOC_RUNS; i++) {
    before()
    gc()
    const ab0 = process.memoryUsage().arrayBuffers
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    })
    await fn()
    const ab1 = process.memoryUsage().arrayBuffers
    const { profile } = await session.post('HeapProfiler.stopSampling')
    let sum = 0
    const walk = (node) => {
      sum += node.selfSize
      for (const child of node.children) walk(child)
    }
    walk(profile.head)
    heap.push(sum)
    external.push(Math.max(0, ab1 - ab0))
  }
  const mid = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1]
  const h = mid(heap)
  const x = mid(external)
  return { heap: h, external: x, total: h + x, ratio: (h + x) / bytes }
}

const aPlumbing = await allocated(plumbing)
const tScrape = await time(scrape)
const tSnapshotPath = await time(snapshotPath)
const tRender = await time(renderOnly)
const aScrape = await allocated(scrape)
const aScrapeLive = await allocated(scrape, touchAll)
const aSnapshotPath = await allocated(snapshotPath)
const aRender = await allocated(renderOnly)
session.disconnect()
await monitor.close()

const text = new TextDecoder().decode(toPrometheusBytes(monitor.snapshot(SNAP)))
const lines = text.split('\n').length - 1
const buckets = text.split('_bucket{').length - 1
const ms = (t) => `median ${t.median.toFixed(1)} ms, p90 ${t.p90.toFixed(1)} ms, min ${t.min.toFixed(1)} ms`
const kb = (n) => `${(n / 1024).toFixed(1)} KB`
const overOutput = (a) => a.total - aPlumbing.total - bytes
const beyond = (a) => (overOutput(a) <= 0 ? 'none measurable' : kb(overOutput(a)))
const alloc = (a) =>
  `${(a.total / 1e6).toFixed(3)} MB = ${a.ratio.toFixed(3)} × the output (JS heap ${kb(a.heap)}, array buffers ${(a.external / 1e6).toFixed(3)} MB)`
console.log(`/metrics: ${OPS} ops, ${PER_OP} events each → ${lines} lines, ${(bytes / 1e6).toFixed(2)} MB`)
console.log(`  ${(buckets / OPS).toFixed(1)} bucket lines per op (default le edges, every op alike)`)
console.log(`  scrape (live state → Response → body read): ${ms(tScrape)} (target ≤ 50 ms)`)
console.log(`    allocated, monitor idle since the last scrape: ${alloc(aScrape)}`)
console.log(`    allocated, every op changed since the last scrape: ${alloc(aScrapeLive)}`)
console.log(
  `    of which Request, Response and body stream (any handler): ${kb(aPlumbing.total)} (heap ${kb(aPlumbing.heap)}, buffers ${kb(aPlumbing.external)}); rendering beyond the output: ${beyond(aScrape)} idle, ${beyond(aScrapeLive)} every op changed`,
)
console.log(`  before: snapshot({ histograms: true }) + toPrometheusBytes: ${ms(tSnapshotPath)}`)
console.log(`    allocated: ${alloc(aSnapshotPath)}`)
console.log(`  toPrometheusBytes(snapshot) alone: ${ms(tRender)}; allocated ${alloc(aRender)}`)
console.log(`  load average at the end: ${loadavg()[0].toFixed(1)} (shared machine: times inflate with load)`)

const r3 = (x) => Math.round(x * 1000) / 1000
emit({
  title: 'Prometheus: one /metrics scrape of 2,000 ops',
  command: 'pnpm bench:prometheus',
  rows: [
    {
      name: `scrape time: createMetricsHandler, Response, body read (${OPS} ops, ${(bytes / 1e6).toFixed(1)} MB)`,
      value: round(tScrape.median),
      unit: 'ms',
      min: round(tScrape.min),
      max: round(tScrape.max),
      target: '≤ 50 ms',
      pass: tScrape.median <= 50,
      note: `p90 ${round(tScrape.p90)} ms`,
    },
    {
      name: 'allocated per scrape / output size (monitor idle between scrapes)',
      value: r3(aScrape.ratio),
      unit: '×',
      target: '≤ 1.0× + the Request/Response any handler costs',
      pass: overOutput(aScrape) <= 0,
      note: `output ${(bytes / 1e6).toFixed(3)} MB; allocated ${(aScrape.total / 1e6).toFixed(3)} MB: array buffers ${(aScrape.external / 1e6).toFixed(3)} MB (the Response's copy), JS heap ${kb(aScrape.heap)}, all of it the exchange itself: the same exchange with a handler that renders nothing allocates ${kb(aPlumbing.total)} (Request, Response, body stream, and the profiler's own noise)`,
    },
    {
      name: 'allocated per scrape / output size (every op changed between scrapes)',
      value: r3(aScrapeLive.ratio),
      unit: '×',
      target: '≤ 1.0× + the Request/Response any handler costs',
      pass: overOutput(aScrapeLive) <= 0,
      note: `JS heap ${kb(aScrapeLive.heap)}: every _sum a new float, formatted into the bytes without String()`,
    },
    {
      name: 'before: snapshot({ histograms: true }) + toPrometheusBytes, time',
      value: round(tSnapshotPath.median),
      unit: 'ms',
      min: round(tSnapshotPath.min),
      max: round(tSnapshotPath.max),
    },
    {
      name: 'before: snapshot + toPrometheusBytes, allocated / output size',
      value: r3(aSnapshotPath.ratio),
      unit: '×',
      note: `toPrometheusBytes(snapshot) alone: ${r3(aRender.ratio)}×, ${round(tRender.median)} ms`,
    },
  ],
  notes: [
    `A monitor with ${OPS} ops (3/4 http with 2 % 5xx, 1/4 db), ${PER_OP} log-normal events each, rendered at the default 8 buckets per octave. A scrape is what every adapter's metrics() route runs: the handler renders the monitor's live state (no snapshot) into a buffer it keeps between scrapes, the Response copies it (the Fetch standard's "extract a body"), and the body is read chunk by chunk as serveWebHandler pipes it.`,
    `Allocation is measured one call at a time after a full collection: JS heap from V8's sampling heap profiler (256-byte interval, counting objects already collected) plus the growth of process.memoryUsage().arrayBuffers (the output bytes live outside the JS heap); the median of ${ALLOC_RUNS} calls. The live path keeps between scrapes its buffer (under twice the largest output), two label positions per op and one scratch histogram, so none of them is per-scrape. The target is met when a scrape allocates no more than the output plus what the same exchange costs with a handler that renders nothing (${kb(aPlumbing.total)} here: Request, Response, body stream, and the profiler's own share).`,
    'Times are medians of consecutive runs on a shared 2-core machine; the load average is printed with the run.',
  ],
})
