// The floor of a store off the event loop (bench/sqlite.mjs): the cheapest hand-written way to
// persist a monitor's kept events from a worker thread so they can be read back by time and by op,
// as the dashboard reads them. The app's thread posts each batch as it comes (one structured clone);
// this worker inserts it in one transaction with one prepared statement, into the same table and
// indexes as SqliteStore's events. No aggregates, retention, roll-ups, migrations or stats: only that.
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const db = new Database(workerData.path)
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.exec(`
  CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, type TEXT NOT NULL,
    name TEXT NOT NULL, duration_ms REAL NOT NULL, pid INTEGER NOT NULL, error TEXT, slow INTEGER NOT NULL,
    request_id TEXT, metadata TEXT);
  CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
  CREATE INDEX IF NOT EXISTS events_op_ts ON events (type, name, ts);
`)
const insert = db.prepare(
  'INSERT INTO events (ts, type, name, duration_ms, pid, error, slow, request_id, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
)
const write = db.transaction((events) => {
  for (const e of events) {
    insert.run(
      e.timestamp,
      e.type,
      e.name,
      e.durationMs,
      e.pid,
      e.error,
      e.slow ? 1 : 0,
      e.requestId,
      e.metadata === null ? null : JSON.stringify(e.metadata),
    )
  }
})
let written = 0
parentPort.on('message', (message) => {
  if (message === 'flush') {
    // Messages are handled in order: every batch posted before this one is written.
    parentPort.postMessage({ flushed: written })
    return
  }
  if (message === 'close') {
    db.close()
    parentPort.postMessage({ written })
    return
  }
  write(message)
  written += message.length
})
parentPort.postMessage({ ready: true })
