// Bytes allocated per request by @perf (core and this adapter, and the built-ins they call) on a real fastify server,
// measured in a plain Node process on the built packages: the test runner transforms sources and its
// engine state differs, and it hid a per-request allocation that the built code makes.
// `node allocation-probe.mjs [sampling]` (default 0) prints one JSON line
// { perRequest, tracker, recorded, expected, kept, byFunction }.
// Bytes are charged to the frame the profiler sees: what an inlined function allocates is charged to
// the function it was inlined into, so `tracker` and `byFunction` are exact only with inlining off
// (`node --no-turbo-inlining --no-maglev-inlining allocation-probe.mjs`); `perRequest` is exact either way.
import { Session } from 'node:inspector/promises'
import { connect } from 'node:net'
import { createMonitor } from '@perf/core'
import { perf } from '@perf/fastify'
import Fastify from 'fastify'

const monitor = createMonitor({ sampling: Number(process.argv[2] ?? 0) })
const app = Fastify()
await app.register(perf, { monitor })
app.get('/', async () => 'ok')
await app.listen({ port: 0, host: '127.0.0.1' })
// One kept-alive connection, one request at a time: the tracker's list of open responses on the
// connection fills and empties on every request.
const socket = connect(app.server.address().port, '127.0.0.1')
await new Promise((r) => socket.once('connect', r))
let received = 0
let target = 0
let wake = () => {}
socket.on('data', (d) => {
  received += d.toString('latin1').split('HTTP/1.1 200').length - 1
  if (received >= target) wake()
})
const one = () =>
  new Promise((resolve) => {
    target = received + 1
    wake = resolve
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  })
// Warm up until the engine's optimised code is in place: code still running unoptimised boxes numbers
// that optimised code keeps unboxed, and on a busy machine the background compiler lands late.
for (let i = 0; i < 4000; i++) await one()
await new Promise((r) => setTimeout(r, 500))
for (let i = 0; i < 2000; i++) await one()
const session = new Session()
session.connect()
await session.post('HeapProfiler.enable')
await session.post('HeapProfiler.startSampling', {
  samplingInterval: 32,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
})
const n = 5000
for (let i = 0; i < n; i++) await one()
const { profile } = await session.post('HeapProfiler.stopSampling')
session.disconnect()
let bytes = 0
/** Of which in the response tracker's own frames. */
let tracker = 0
const byFunction = {}
// @perf's own frames, and the engine's built-ins they call directly (a string's toLowerCase, a typed
// array's subarray). Not the whole subtree: fastify goes on with the request from inside the hook's
// done(), so everything below a hook frame would charge the framework's work to @perf.
const PERF = /[\\/](core|fastify)[\\/]dist[\\/]/
const walk = (node, parentIsPerf) => {
  const url = node.callFrame.url
  const mine = PERF.test(url)
  if ((mine || (parentIsPerf && url === '')) && node.selfSize > 0) {
    bytes += node.selfSize
    if (url.endsWith('response-tracker.js')) tracker += node.selfSize
    const key = `${node.callFrame.functionName} ${url.split(/[\\/]/).slice(-3).join('/')}`
    byFunction[key] = Math.round(((byFunction[key] ?? 0) + node.selfSize / n) * 10) / 10
  }
  for (const c of node.children) walk(c, mine)
}
walk(profile.head, false)
socket.destroy()
await app.close()
const snap = monitor.snapshot({ recent: 0, slow: 0 })
await monitor.close()
const recorded = snap.types.http?.ops[0]?.totalCount
const kept = snap.totals.kept
console.log(
  JSON.stringify({
    perRequest: bytes / n,
    tracker: tracker / n,
    recorded,
    expected: 6000 + n,
    kept,
    byFunction,
  }),
)
