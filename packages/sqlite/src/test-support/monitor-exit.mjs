// Child of the graceful-shutdown tests: 500 events recorded through monitors into a SqliteStore with
// flushOnExit, none written yet (long intervals), then it waits for a signal.
// argv: path, wiring (store-first | store-after | add-sink | several).
import { createMonitor } from '@perf/core'
import { SqliteStore } from '../index.ts'

const [path, wiring] = [process.argv[2], process.argv[3]]
const quiet = { sampling: 1, sinkIntervalMs: 3_600_000 }
const newStore = () => new SqliteStore({ path, flushOnExit: true, flushIntervalMs: 3_600_000 })
let monitors
if (wiring === 'store-first') {
  const store = newStore()
  monitors = [createMonitor({ ...quiet, sinks: [store] })]
} else if (wiring === 'store-after') {
  const monitor = createMonitor(quiet)
  monitor.addSink(newStore())
  monitors = [monitor]
} else if (wiring === 'add-sink') {
  const store = newStore()
  const monitor = createMonitor(quiet)
  monitor.addSink(store)
  monitors = [monitor]
} else if (wiring === 'several') {
  const first = createMonitor(quiet)
  const store = newStore()
  first.addSink(store)
  monitors = [first, createMonitor({ ...quiet, sinks: [store] })]
} else {
  throw new Error(`unknown wiring ${wiring}`)
}
for (let i = 0; i < 500; i++) monitors[i % monitors.length].record('http', 'GET /buffered', i % 7)
const queued = monitors.reduce((n, m) => n + m.snapshot().totals.sinkQueued, 0)
process.stdout.write(`ready ${queued}\n`)
setInterval(() => {}, 1000)
