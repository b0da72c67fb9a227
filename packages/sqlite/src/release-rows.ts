import type { OpAggregate } from '@perf/core'
import type Database from 'better-sqlite3'
import { type AggregateRow, addedColumns } from './aggregate-row.js'
import { HOUR } from './store-schema.js'

const MINUTE = 60_000

/**
 * Writes the per-release copies of a slice aggregate (its minute and its hour, keyed by release)
 * and the process's first/last seen time under that release, inside the store's write transaction.
 * Kept apart from the store's own writes so that the release is one call in its write path.
 */
export class ReleaseRows {
  private readonly selMinute: Database.Statement
  private readonly putMinute: Database.Statement
  private readonly selHour: Database.Statement
  private readonly putHour: Database.Statement
  private readonly seen: Database.Statement
  /** This process's start, ms since the epoch: with the pid, it tells two runs of one pid apart. */
  private readonly startedAt = Math.round(performance.timeOrigin)

  constructor(db: Database.Database) {
    const cols = 'count, errors, slow, sum_ms, min_ms, max_ms, histogram'
    this.selMinute = db.prepare(
      `SELECT ${cols} FROM perf_release_minutes WHERE release = ? AND type = ? AND name = ? AND minute = ?`,
    )
    this.putMinute = db.prepare(
      `INSERT OR REPLACE INTO perf_release_minutes (release, type, name, minute, ${cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.selHour = db.prepare(
      `SELECT ${cols} FROM perf_release_hours WHERE release = ? AND type = ? AND name = ? AND hour = ?`,
    )
    this.putHour = db.prepare(
      `INSERT OR REPLACE INTO perf_release_hours (release, type, name, hour, ${cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.seen = db.prepare(
      `INSERT INTO perf_processes (pid, started_at, release, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (pid, started_at, release) DO UPDATE SET
         first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)`,
    )
  }

  /** Adds `a` to its release's minute and hour; does nothing for an aggregate without a release. */
  add(a: OpAggregate): void {
    const release = a.release
    if (release === undefined) return
    this.put(this.selMinute, this.putMinute, release, Math.floor(a.start / MINUTE) * MINUTE, a)
    this.put(this.selHour, this.putHour, release, Math.floor(a.start / HOUR) * HOUR, a)
    this.seen.run(process.pid, this.startedAt, release, a.start, a.end)
  }

  private put(
    select: Database.Statement,
    upsert: Database.Statement,
    release: string,
    at: number,
    a: OpAggregate,
  ): void {
    const prev = select.get(release, a.type, a.name, at) as AggregateRow | undefined
    upsert.run(release, a.type, a.name, at, ...addedColumns(a, prev))
  }
}
