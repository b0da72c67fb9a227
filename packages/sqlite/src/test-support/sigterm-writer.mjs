// Child of the flushOnExit test: buffers 500 events (nothing written yet), then waits for a signal.
import { SqliteStore } from '../index.ts'

const store = new SqliteStore({ path: process.argv[2], flushOnExit: true, flushIntervalMs: 3_600_000 })
const events = []
for (let i = 0; i < 500; i++) {
  events.push({
    type: 'http',
    name: 'GET /buffered',
    timestamp: Date.now(),
    durationMs: i,
    pid: process.pid,
    error: null,
    slow: false,
    requestId: `r${i}`,
    metadata: { i },
  })
}
store.write(events)
const { queued, persisted } = store.stats()
process.stdout.write(`ready ${queued} ${persisted}\n`)
setInterval(() => {}, 1000)
