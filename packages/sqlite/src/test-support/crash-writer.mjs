// Child of the kill -9 test: writes whole batches of `size` events, one transaction each, forever.
import { SqliteStore } from '../index.ts'

const [path, run, size] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
const store = new SqliteStore({ path, batchSize: size, flushIntervalMs: 3_600_000 })
for (let b = 0; ; b++) {
  const now = Date.now()
  const events = []
  for (let i = 0; i < size; i++) {
    events.push({
      type: 'db',
      name: 'INSERT crash',
      timestamp: now,
      durationMs: i,
      pid: process.pid,
      error: null,
      slow: false,
      requestId: null,
      metadata: { run, b, i, pad: 'x'.repeat(200) },
    })
  }
  store.write(events)
  await store.flush()
  // Ready once batches are landing (the store's worker has opened the file), so each kill falls
  // among batches being written.
  if (b === 0) process.stdout.write('ready\n')
}
