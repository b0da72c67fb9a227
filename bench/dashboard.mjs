// Times the dashboard's JSON API: `api/snapshot` of a monitor holding 2,000 ops (1,000 routes and
// 1,000 query shapes, each with recorded events), through the handler end to end (auth, snapshot,
// summary, JSON encoding, reading the body). Target: ≤ 50 ms.
//
//   node bench/dashboard.mjs            (build first: npx --yes pnpm@10 build)
import { createMonitor } from '../packages/core/dist/index.js'
import { createDashboard } from '../packages/dashboard/dist/index.js'
import { checkFlags, headComment } from './lib/result.mjs'
checkFlags(headComment(import.meta.url), [], ['quick'])

const OPS = 2000
const EVENTS_PER_OP = 50
const RUNS = Number(process.env.RUNS ?? 40)
const TOKEN = 'bench-token-0123456789'

const monitor = createMonitor()
for (let i = 0; i < OPS; i++) {
  const type = i % 2 === 0 ? 'http' : 'db'
  const name = type === 'http' ? `GET /route/${i}/:id` : `SELECT table_${i}`
  for (let j = 0; j < EVENTS_PER_OP; j++) {
    monitor.record(
      type,
      name,
      Math.random() * 100,
      type === 'http' ? { status: j % 20 === 0 ? 500 : 200 } : undefined,
    )
  }
}
const dashboard = createDashboard(monitor, { token: TOKEN, env: {} })
const request = () =>
  new Request('http://bench.local/admin/performance/api/snapshot', {
    headers: { authorization: `Bearer ${TOKEN}` },
  })

let bytes = 0
for (let i = 0; i < 5; i++) await (await dashboard(request())).arrayBuffer() // warm up
const times = []
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now()
  const res = await dashboard(request())
  const body = await res.arrayBuffer()
  times.push(performance.now() - t0)
  bytes = body.byteLength
  if (res.status !== 200) throw new Error(`api/snapshot answered ${res.status}`)
}
const ops = JSON.parse(
  new TextDecoder().decode(new Uint8Array(bytes ? await (await dashboard(request())).arrayBuffer() : [])),
)
const count = (ops.types.http?.ops.length ?? 0) + (ops.types.db?.ops.length ?? 0)
// The same runs of monitor.snapshot() alone: what the dashboard adds is the difference.
const alone = []
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now()
  monitor.snapshot()
  alone.push(performance.now() - t0)
}
times.sort((a, b) => a - b)
alone.sort((a, b) => a - b)
const q = (p, xs = times) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]
console.log(
  `api/snapshot with ${count} ops, ${OPS * EVENTS_PER_OP} events, ${(bytes / 1024).toFixed(0)} KiB of JSON, ${RUNS} runs`,
)
console.log(
  `  median ${q(0.5).toFixed(1)} ms · p90 ${q(0.9).toFixed(1)} ms · max ${times.at(-1).toFixed(1)} ms   (target ≤ 50 ms)`,
)
console.log(
  `  of which monitor.snapshot() alone: median ${q(0.5, alone).toFixed(1)} ms · p90 ${q(0.9, alone).toFixed(1)} ms`,
)
await monitor.close()
