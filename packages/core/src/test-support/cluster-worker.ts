// A node:cluster worker for cluster.test.ts (run after compileCore): records a known set of durations
// in chunks, as a loaded server would, shares its numbers, and answers the test's questions over IPC.
import { createMonitor } from '../index.js'
import { monitorInternals } from '../monitor.js'
import { shareCluster } from '../node/cluster.js'
import { watchProcess } from '../node/process.js'
import { workerDurations } from './cluster-load.js'

const index = Number(process.env.PERF_TEST_WORKER)
const monitor = createMonitor({ sampling: 0.01 })
const watcher = watchProcess(monitor, { intervalMs: 100, baselineDelayMs: 0, force: true })
const share = shareCluster(monitor, { intervalMs: 100, timeoutMs: 5000 })

// Names that reach Object.prototype or Object when used as properties of a plain object: the primary
// must merge them as names (a counter type `constructor` once turned the primary's Object.keys into a string).
if (index === 0) {
  monitor.count('constructor', 'keys', 1)
  monitor.count('__proto__', 'isAdmin', 1)
}

// A worker claiming how another process is: only the primary may say (it strips this).
if (index === 1)
  monitorInternals(monitor).setSection('processes', () => ({
    '1': { worker: { state: 'healthy', cpuPercent: 0 } },
  }))

const durations = workerDurations(index)
let i = 0
function chunk(): void {
  const end = Math.min(durations.length, i + 1000)
  for (; i < end; i++) monitor.record('http', `GET /r${i % 3}`, durations[i]!, { status: 200 })
  if (i < durations.length) setImmediate(chunk)
  else process.send!({ test: 'recorded', index })
}
chunk()

process.on('message', async (m: { test?: string; ms?: number }) => {
  if (m?.test === 'block') {
    // A handler stuck in synchronous work: the event loop cannot turn, so nothing reaches the primary.
    const end = Date.now() + (m.ms ?? 0)
    while (Date.now() < end) {}
    process.send!({ test: 'unblocked', index })
    return
  }
  if (m?.test !== 'view') return
  const merged = await share.refresh()
  const viaMonitor = share.monitor.snapshot()
  process.send!({
    test: 'view',
    index,
    count: merged.types.http?.count ?? 0,
    p99Ms: merged.types.http?.p99Ms ?? 0,
    pids: merged.pids,
    processPids: Object.keys(merged.processes),
    workersLost: share.workersLost,
    viewCount: viaMonitor.types.http?.count ?? 0,
    viewHasHistograms: viaMonitor.types.http?.ops.some((o) => o.histogram !== undefined) ?? false,
    hostileCounters: ['constructor', '__proto__'].map((type) => {
      const names = Object.getOwnPropertyDescriptor(merged.counters, type)?.value as Record<string, number>
      return names?.keys ?? names?.isAdmin
    }),
  })
})
process.on('disconnect', () => {
  share.stop()
  watcher.stop()
})
