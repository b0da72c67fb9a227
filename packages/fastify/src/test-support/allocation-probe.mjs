// Bytes allocated per request by @perf's own code (core and this adapter) on a real fastify server,
// measured in a plain Node process on the built packages: the test runner transforms sources and its
// engine state differs, and it hid a per-request allocation that the built code makes.
// `node allocation-probe.mjs [sampling]` (default 0) prints one JSON line
// { perRequest, recorded, expected, kept, byFunction }.
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
const byFunction = {}
const walk = (node) => {
  const url = node.callFrame.url
  if (/[\\/](core|fastify)[\\/]dist[\\/]/.test(url) && node.selfSize > 0) {
    bytes += node.selfSize
    const key = `${node.callFrame.functionName} ${url.split(/[\\/]/).slice(-3).join('/')}`
    byFunction[key] = Math.round(((byFunction[key] ?? 0) + node.selfSize / n) * 10) / 10
  }
  for (const c of node.children) walk(c)
}
walk(profile.head)
socket.destroy()
await app.close()
const snap = monitor.snapshot({ recent: 0, slow: 0 })
await monitor.close()
const recorded = snap.types.http?.ops[0]?.totalCount
const kept = snap.totals.kept
console.log(JSON.stringify({ perRequest: bytes / n, recorded, expected: 2000 + n, kept, byFunction }))
