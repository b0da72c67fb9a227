import type { Monitor } from '@perf/core'
import { monitorDatabase } from '@perf/sqlite'
import Database from 'better-sqlite3'

interface Notes {
  insert: Database.Statement<[string]>
  count: Database.Statement<[], { n: number }>
}

const databases: WeakMap<Monitor, Notes> = new WeakMap()

/**
 * Opens an in-memory better-sqlite3 database instrumented by `@perf/sqlite` for `monitor` (which turns
 * request context on). Call it before the app serves, as a real service would.
 */
export function openNotesDatabase(monitor: Monitor): void {
  const db = monitorDatabase(new Database(':memory:'), monitor)
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)')
  databases.set(monitor, {
    insert: db.prepare<[string]>('INSERT INTO notes (body) VALUES (?)'),
    count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM notes'),
  })
}

/** `POST /sql`: two real queries (an insert and a count) on the monitor's database; answers the count. */
export function sqlWork(monitor: Monitor, body: unknown): string {
  const notes = databases.get(monitor)
  if (notes === undefined) return 'no-database'
  notes.insert.run(String(body))
  return String(notes.count.get()?.n)
}
