import type { Monitor } from '@perf/core'
import { addonMismatchHint, monitorDatabase } from '@perf/sqlite'
import Database from 'better-sqlite3'

/** A note as the API returns it. */
export interface Note {
  id: number
  title: string
  body: string
  tags: string
  createdAt: number
  updatedAt: number
}

/** An error with the HTTP status the routes answer with. */
export class HttpError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

const WORDS = [
  'latency',
  'sqlite',
  'index',
  'cache',
  'queue',
  'deploy',
  'memory',
  'budget',
  'release',
  'review',
]

/**
 * The notes service behind all three frameworks: one better-sqlite3 database instrumented with
 * `@perf/sqlite`, so every query shows up as a `db` op. The routes only translate to these calls.
 */
export class Notes {
  readonly db: Database.Database
  private readonly stmts

  constructor(path: string, monitor: Monitor) {
    try {
      this.db = new Database(path)
    } catch (err) {
      const hint = addonMismatchHint(err)
      throw hint === undefined ? err : new Error(`demo: ${hint}`, { cause: err })
    }
    this.db.pragma('journal_mode = WAL')
    this.db.exec(`CREATE TABLE IF NOT EXISTS notes (
      id INTEGER PRIMARY KEY,
      title TEXT NOT NULL,
      body TEXT NOT NULL,
      tags TEXT NOT NULL DEFAULT '',
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`)
    // Instrument after the schema so startup DDL stays out of the numbers; everything prepared below is timed.
    monitorDatabase(this.db, monitor, { sql: 'redacted' })
    const cols = 'id, title, body, tags, created_at AS createdAt, updated_at AS updatedAt'
    this.stmts = {
      count: this.db.prepare('SELECT count(*) AS n FROM notes'),
      list: this.db.prepare(`SELECT ${cols} FROM notes ORDER BY id DESC LIMIT ? OFFSET ?`),
      get: this.db.prepare(`SELECT ${cols} FROM notes WHERE id = ?`),
      insert: this.db.prepare(
        'INSERT INTO notes (title, body, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      ),
      update: this.db.prepare('UPDATE notes SET title = ?, body = ?, tags = ?, updated_at = ? WHERE id = ?'),
      remove: this.db.prepare('DELETE FROM notes WHERE id = ?'),
      feed: this.db.prepare(`SELECT ${cols} FROM notes ORDER BY updated_at DESC LIMIT 20`),
      search: this.db.prepare(
        `SELECT ${cols} FROM notes WHERE title LIKE '%' || ? || '%' OR body LIKE '%' || ? || '%' ORDER BY id DESC LIMIT 50`,
      ),
      // Deliberately slow: a word-frequency "report" that scans every note once per generated row.
      slowReport: this.db.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        SELECT count(*) AS hits FROM n JOIN notes ON notes.body LIKE '%' || (n.i % 97) || '%'`),
      // Fails on purpose when run: title is NOT NULL.
      broken: this.db.prepare(
        'INSERT INTO notes (title, body, created_at, updated_at) VALUES (NULL, ?, ?, ?)',
      ),
    }
    if ((this.stmts.count.get() as { n: number }).n === 0) this.seed(200)
  }

  private seed(n: number): void {
    const now = Date.now()
    const insert = this.db.transaction(() => {
      for (let i = 1; i <= n; i++) {
        const w = (k: number) => WORDS[(i * 7 + k) % WORDS.length]!
        this.stmts.insert.run(
          `Note ${i}: ${w(0)} and ${w(1)}`,
          `About ${w(2)} ${i}, ${w(3)} ${i * 13}; see also ${w(4)}.`,
          w(5),
          now - (n - i) * 60_000,
          now - (n - i) * 60_000,
        )
      }
    })
    insert()
  }

  list(limit: number, offset: number): Note[] {
    return this.stmts.list.all(clampInt(limit, 1, 100, 20), clampInt(offset, 0, 1e9, 0)) as Note[]
  }

  get(id: number): Note {
    const note = this.stmts.get.get(id) as Note | undefined
    if (note === undefined) throw new HttpError(404, `note ${id} not found`)
    return note
  }

  create(input: unknown): Note {
    const { title, body, tags } = parseNote(input)
    const now = Date.now()
    const info = this.stmts.insert.run(title, body, tags, now, now)
    return this.get(Number(info.lastInsertRowid))
  }

  update(id: number, input: unknown): Note {
    const { title, body, tags } = parseNote(input)
    const info = this.stmts.update.run(title, body, tags, Date.now(), id)
    if (info.changes === 0) throw new HttpError(404, `note ${id} not found`)
    return this.get(id)
  }

  remove(id: number): { deleted: number } {
    const info = this.stmts.remove.run(id)
    if (info.changes === 0) throw new HttpError(404, `note ${id} not found`)
    return { deleted: id }
  }

  feed(): Note[] {
    return this.stmts.feed.all() as Note[]
  }

  search(q: string): Note[] {
    const term = q.slice(0, 100)
    return this.stmts.search.all(term, term) as Note[]
  }

  slowReport(): { hits: number } {
    return this.stmts.slowReport.get(3000) as { hits: number }
  }

  /** Always throws: the insert breaks the NOT NULL constraint on `title` (a failed `db` op and a 500). */
  broken(): never {
    const now = Date.now()
    this.stmts.broken.run('orphan', now, now)
    throw new HttpError(500, 'unreachable')
  }

  close(): void {
    this.db.close()
  }
}

function clampInt(v: number, min: number, max: number, fallback: number): number {
  if (!Number.isFinite(v)) return fallback
  return Math.min(max, Math.max(min, Math.floor(v)))
}

function parseNote(input: unknown): { title: string; body: string; tags: string } {
  const o = (input ?? {}) as Record<string, unknown>
  if (typeof o.title !== 'string' || o.title.trim() === '' || o.title.length > 200) {
    throw new HttpError(400, 'title must be a string of 1 to 200 characters')
  }
  if (o.body !== undefined && (typeof o.body !== 'string' || o.body.length > 10_000)) {
    throw new HttpError(400, 'body must be a string of at most 10 000 characters')
  }
  const tags = typeof o.tags === 'string' ? o.tags.slice(0, 200) : ''
  return { title: o.title.trim(), body: (o.body as string | undefined) ?? '', tags }
}
