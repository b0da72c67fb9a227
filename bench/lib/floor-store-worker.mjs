// The floor of a store off the event loop (bench/sqlite.mjs, loaded app): the cheapest hand-written
// way to persist a monitor's kept events from a worker thread. The app's thread posts each batch as
// it comes (one structured clone); this worker inserts it in one transaction with one prepared
// statement. No retention, roll-ups, migrations or stats: only the job.
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const db = new Database(workerData.path)
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.exec(`CREATE TABLE IF NOT EXISTS events (ts REAL, type TEXT, name TEXT, ms REAL, flags INTEGER,
  request_id TEXT, error TEXT, metadata TEXT)`)
const insert = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
const write = db.transaction((events) => {
  for (const e of events) {
    insert.run(
      e.timestamp,
      e.type,
      e.name,
      e.durationMs,
      (e.slow ? 1 : 0) | (e.error === undefined ? 0 : 2),
      e.requestId ?? null,
      e.error ?? null,
      e.metadata === undefined ? null : JSON.stringify(e.metadata),
    )
  }
})
let written = 0
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close()
    parentPort.postMessage({ written })
    return
  }
  write(message)
  written += message.length
})
parentPort.postMessage({ ready: true })
