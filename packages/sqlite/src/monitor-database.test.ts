import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createMonitor, type Monitor, type PerfEvent } from '@perf/core'
import { monitorInternals, type RequestContext } from '@perf/core/http'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { monitorDatabase } from './monitor-database.js'
import { SqliteStore } from './sqlite-store.js'

let dir: string
let monitor: Monitor
let db: Database.Database
let bare: Database.Database

const SCHEMA = `
  CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, body TEXT NOT NULL UNIQUE, big INTEGER);
  CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
`

function events(name?: string): PerfEvent[] {
  return monitor.byType('db').filter((e) => name === undefined || e.name === name)
}

function opCount(name: string): number {
  return monitor.snapshot().types.db?.ops.find((o) => o.name === name)?.count ?? 0
}

function errorCount(name: string): number {
  return monitor.snapshot().types.db?.ops.find((o) => o.name === name)?.errors ?? 0
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perf-sqlite-'))
  monitor = createMonitor({ sampling: 1 })
  const file = join(dir, 'app.db')
  db = monitorDatabase(new Database(file), monitor)
  db.exec(SCHEMA)
  bare = new Database(file)
})

afterEach(async () => {
  bare.close()
  if (db.open) db.close()
  await monitor.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The error `f` throws (it must throw). */
function errorOf(f: () => unknown): Error {
  try {
    f()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a throw')
}

describe('monitorDatabase: the same Database', () => {
  it('returns the same object, still instanceof Database, with the same enumerable shape', () => {
    const raw = new Database(':memory:')
    const keys = Object.keys(raw)
    expect(monitorDatabase(raw, createMonitor())).toBe(raw)
    expect(raw).toBeInstanceOf(Database)
    expect(Object.keys(raw)).toEqual(keys)
    raw.close()
  })

  it('statements stay better-sqlite3 Statements with the same enumerable shape', () => {
    const Statement = Object.getPrototypeOf(bare.prepare('SELECT 1')).constructor
    const stmt = db.prepare('SELECT * FROM notes')
    expect(stmt).toBeInstanceOf(Statement)
    expect(Object.keys(stmt)).toEqual(Object.keys(bare.prepare('SELECT * FROM notes')))
    expect(stmt.source).toBe('SELECT * FROM notes')
    expect(stmt.reader).toBe(true)
    expect(stmt.readonly).toBe(true)
    expect(stmt.database).toBe(db)
  })

  it('run/get/all/iterate return exactly what a bare connection returns', () => {
    const insert = db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)')
    const info = insert.run(1, 'a')
    expect(info).toEqual({ changes: 1, lastInsertRowid: 1 })
    insert.run(2, 'b')
    const q = 'SELECT * FROM notes ORDER BY id'
    expect(db.prepare(q).all()).toEqual(bare.prepare(q).all())
    expect(db.prepare('SELECT * FROM notes WHERE id = ?').get(2)).toEqual(
      bare.prepare('SELECT * FROM notes WHERE id = ?').get(2),
    )
    expect(db.prepare('SELECT * FROM notes WHERE id = ?').get(99)).toBeUndefined()
    expect([...db.prepare(q).iterate()]).toEqual(bare.prepare(q).all())
    expect(db.prepare('SELECT * FROM notes WHERE id = @id').get({ id: 1 })).toMatchObject({ body: 'a' })
  })

  it('run/get/all pass exactly the bound values given, 0 to 5 of them, and refuse a wrong count as bare does', () => {
    // Up to three values take a path of their own (no arguments object): none may be added or lost.
    for (let n = 0; n <= 5; n++) {
      const values = Array.from({ length: n }, (_, i) => i + 1)
      const sql = n === 0 ? 'SELECT 0 AS v' : `SELECT ${values.map((i) => `? AS v${i}`).join(', ')}`
      expect(db.prepare(sql).get(...values)).toEqual(bare.prepare(sql).get(...values))
      expect(db.prepare(sql).all(...values)).toEqual(bare.prepare(sql).all(...values))
      const where = n === 0 ? '' : ` WHERE ${values.map(() => '? > 0').join(' AND ')}`
      const insert = `INSERT INTO notes (user_id, body) SELECT ${n}, 'n${n}'${where}`
      expect(db.prepare(insert).run(...values).changes).toBe(1)
      // One value too many, and one too few: the very errors better-sqlite3 throws bare.
      const tooMany = [...values, n + 1]
      expect(() => db.prepare(sql).get(...tooMany)).toThrow(
        errorOf(() => bare.prepare(sql).get(...tooMany)).message,
      )
      if (n > 0) {
        const tooFew = values.slice(1)
        expect(() => db.prepare(sql).all(...tooFew)).toThrow(
          errorOf(() => bare.prepare(sql).all(...tooFew)).message,
        )
      }
    }
    // An explicit undefined is a value given, as bare.
    expect(() => db.prepare('SELECT 1').get(undefined)).toThrow(
      errorOf(() => bare.prepare('SELECT 1').get(undefined)).message,
    )
    const ops = monitor.snapshot().types.db?.ops ?? []
    expect(ops.filter((o) => o.name.startsWith('INSERT notes')).reduce((sum, o) => sum + o.count, 0)).toBe(6)
  })

  it('pluck/expand/raw/columns/bind/safeIntegers chain on the same statement and stay timed', () => {
    db.prepare('INSERT INTO notes (user_id, body, big) VALUES (?, ?, ?)').run(1, 'x', 2n ** 60n)
    db.prepare('INSERT INTO users (id, name) VALUES (1, ?)').run('ann')
    const s = db.prepare('SELECT id FROM notes')
    expect(s.pluck()).toBe(s)
    expect(s.all()).toEqual([1])
    expect(s.pluck(false).all()).toEqual([{ id: 1 }])
    const j = db.prepare('SELECT n.id, u.name FROM notes n JOIN users u ON u.id = n.user_id')
    expect(j.expand().get()).toEqual({ notes: { id: 1 }, users: { name: 'ann' } })
    expect(j.raw().get()).toEqual([1, 'ann'])
    expect(j.columns().map((c) => c.name)).toEqual(['id', 'name'])
    const bound = db.prepare('SELECT body FROM notes WHERE id = ?').pluck().bind(1)
    expect(bound.get()).toBe('x')
    expect(() => bound.get(1)).toThrow(TypeError)
    const big = db.prepare('SELECT big FROM notes').pluck()
    expect(big.safeIntegers().get()).toBe(2n ** 60n)
    // 6 results and the rejected bound.get(1), which counts as a failed execution
    expect(opCount('SELECT notes')).toBe(7)
    expect(errorCount('SELECT notes')).toBe(1)
  })

  it('exec, pragma, function, aggregate, table, serialize, backup, defaultSafeIntegers, unsafeMode and close work unchanged', async () => {
    expect(db.exec('INSERT INTO users (name) VALUES (1)')).toBe(db)
    expect(db.pragma('user_version', { simple: true })).toBe(0)
    expect(db.pragma('table_info(users)')).toEqual(bare.pragma('table_info(users)'))
    expect(opCount('PRAGMA user_version')).toBe(1)
    expect(opCount('INSERT users')).toBe(1)

    expect(db.function('twice', (x: number) => x * 2)).toBe(db)
    expect(db.prepare('SELECT twice(21) AS v').pluck().get()).toBe(42)
    db.aggregate('total', { start: 0, step: (t: number, v: number) => t + v })
    db.exec('INSERT INTO users (name) VALUES (2), (3)')
    expect(db.prepare('SELECT total(id) FROM users').pluck().get()).toBe(6)
    db.table('seq', {
      columns: ['v'],
      *rows() {
        for (let i = 0; i < 3; i++) yield { v: i }
      },
    })
    expect(db.prepare('SELECT v FROM seq').pluck().all()).toEqual([0, 1, 2])
    expect(opCount('SELECT seq')).toBe(1)

    const buf = db.serialize()
    expect(Buffer.isBuffer(buf)).toBe(true)
    const copy = new Database(buf)
    expect(copy.prepare('SELECT count(*) FROM users').pluck().get()).toBe(3)
    copy.close()
    const target = join(dir, 'backup.db')
    const meta = await db.backup(target)
    expect(meta.remainingPages).toBe(0)
    expect(statSync(target).size).toBeGreaterThan(0)

    expect(db.defaultSafeIntegers(false)).toBe(db)
    expect(db.unsafeMode(false)).toBe(db)
    expect(db.name).toBe(join(dir, 'app.db'))
    expect(db.memory).toBe(false)
    expect(db.readonly).toBe(false)
    expect(db.close()).toBe(db)
    expect(db.open).toBe(false)
    expect(() => db.prepare('SELECT 1')).toThrow(TypeError)
  })
})

describe('monitorDatabase: recording', () => {
  it('names ops VERB table and interns each statement once, at prepare', () => {
    const spy = vi.spyOn(monitor, 'op')
    const insert = db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)')
    for (let i = 0; i < 10; i++) insert.run(i, `n${i}`)
    db.prepare('UPDATE notes SET body = ? WHERE id = ?').run('z', 1)
    db.prepare('DELETE FROM notes WHERE id = ?').run(2)
    const get = db.prepare('SELECT * FROM notes WHERE id = ?')
    for (let i = 0; i < 5; i++) get.get(i)
    expect(spy.mock.calls.map((c) => c.join(' '))).toEqual([
      'db INSERT notes',
      'db UPDATE notes',
      'db DELETE notes',
      'db SELECT notes',
    ])
    expect(opCount('INSERT notes')).toBe(10)
    expect(opCount('UPDATE notes')).toBe(1)
    expect(opCount('DELETE notes')).toBe(1)
    expect(opCount('SELECT notes')).toBe(5)
  })

  it("a database's statements share one wrapper per method, each recording into its own statement's op", () => {
    const byId = db.prepare('SELECT * FROM notes WHERE id = ?')
    const byUser = db.prepare('SELECT * FROM users WHERE id = ?')
    const insNote = db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)')
    const insUser = db.prepare('INSERT INTO users (name) VALUES (?)')
    // One function per method at every call site, whichever statement it reaches (an app's query
    // helper): a closure per statement made such a site polymorphic (ARCHITECTURE.md, SQLite).
    for (const m of ['run', 'get', 'all', 'iterate'] as const) {
      expect(byUser[m]).toBe(byId[m])
      expect(insUser[m]).toBe(insNote[m])
    }
    const other = monitorDatabase(new Database(join(dir, 'other.db')), monitor)
    try {
      expect(other.prepare('SELECT 1').get).not.toBe(byId.get)
    } finally {
      other.close()
    }
    const helper = (s: Database.Statement, ...args: unknown[]): unknown => s.run(...args)
    for (let i = 0; i < 6; i++)
      helper(i % 2 === 0 ? insNote : insUser, ...(i % 2 === 0 ? [i, `b${i}`] : [`u${i}`]))
    const read = (s: Database.Statement, id: number): unknown => s.get(id)
    expect(read(byId, 1)).toEqual(bare.prepare('SELECT * FROM notes WHERE id = 1').get())
    expect(read(byUser, 1)).toEqual({ id: 1, name: 'u1' })
    expect(read(byUser, 99)).toBeUndefined()
    expect(opCount('INSERT notes')).toBe(3)
    expect(opCount('INSERT users')).toBe(3)
    expect(opCount('SELECT notes')).toBe(1)
    expect(opCount('SELECT users')).toBe(2)
    // Newest first: the miss, then the hit.
    expect(events('SELECT users').map((e) => e.metadata?.rows)).toEqual([0, 1])
  })

  it("a wrapper called on what is not one of this database's statements throws the app's TypeError and records nothing", () => {
    const get = db.prepare('SELECT * FROM notes WHERE id = ?').get
    const run = db.prepare('INSERT INTO users (name) VALUES (?)').run
    const iterate = db.prepare('SELECT * FROM notes').iterate
    const calls: [string, () => unknown][] = [
      ['unbound get', () => get(1)],
      ['unbound run', () => run('x')],
      ["another connection's statement", () => get.call(bare.prepare('SELECT * FROM notes WHERE id = ?'), 1)],
      ['a plain object', () => get.call({}, 1)],
      ['unbound iterate', () => iterate()],
      ["iterate on another connection's statement", () => iterate.call(bare.prepare('SELECT * FROM notes'))],
    ]
    for (const [what, call] of calls) {
      const err = errorOf(call)
      expect(err, what).toBeInstanceOf(TypeError)
      // The call's own error, not one thrown while recording it.
      expect(err.message, what).not.toContain('statement state')
    }
    expect(monitor.snapshot().totals.internalErrors).toBe(0)
    expect(opCount('SELECT notes')).toBe(0)
    expect(opCount('INSERT users')).toBe(0)
  })

  it('keeps redacted SQL and row counts, never bound values or literals', () => {
    db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)').run(7, 'secret-bound-value')
    db.prepare("SELECT * FROM notes WHERE body != 'secret-literal' AND user_id IN (7, 8, 9)").all()
    const json = JSON.stringify(monitor.recent(100))
    expect(json).not.toContain('secret-bound-value')
    expect(json).not.toContain('secret-literal')
    const [sel] = events('SELECT notes')
    expect(sel?.metadata).toEqual({ sql: 'SELECT * FROM notes WHERE body != ? AND user_id IN (?)', rows: 1 })
    const [ins] = events('INSERT notes')
    expect(ins?.metadata).toEqual({ sql: 'INSERT INTO notes (user_id, body) VALUES (?, ?)', rows: 1 })
  })

  it("sql: 'none' keeps no text, 'raw' keeps it as written", async () => {
    for (const [mode, expected] of [
      ['none', undefined],
      ['raw', "SELECT 'lit' AS v"],
    ] as const) {
      const m = createMonitor({ sampling: 1 })
      const d = monitorDatabase(new Database(':memory:'), m, { sql: mode })
      d.prepare("SELECT 'lit' AS v").get()
      expect(m.recent(1)[0]?.metadata?.sql).toBe(expected)
      expect(m.recent(1)[0]?.metadata?.rows).toBe(1)
      d.close()
      await m.close()
    }
  })

  it('a failing statement is recorded as an error and the very same error object is rethrown', () => {
    const boom = new Error('boom from a user function')
    db.function('explode', () => {
      throw boom
    })
    const stmt = db.prepare('SELECT explode() FROM users')
    db.exec("INSERT INTO users (name) VALUES ('a')")
    let caught: unknown
    try {
      stmt.get()
    } catch (err) {
      caught = err
    }
    expect(caught).toBe(boom)
    expect(errorCount('SELECT users')).toBe(1)
    expect(events('SELECT users')[0]?.error).toContain('boom from a user function')

    const insert = db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)')
    insert.run(1, 'dup')
    let unique: unknown
    try {
      insert.run(1, 'dup')
    } catch (err) {
      unique = err
    }
    expect(unique).toBeInstanceOf(Database.SqliteError)
    expect((unique as { code: string }).code).toBe('SQLITE_CONSTRAINT_UNIQUE')
    expect(errorCount('INSERT notes')).toBe(1)

    // A statement that does not compile counts as a failed query of its op.
    expect(() => db.prepare('SELECT * FROM missing_table')).toThrow(Database.SqliteError)
    expect(errorCount('SELECT missing_table')).toBe(1)
    // Bad arguments too.
    expect(() => db.prepare('SELECT * FROM notes WHERE id = ?').get()).toThrow(RangeError)
    expect(() => db.exec('NOT SQL')).toThrow(Database.SqliteError)
    expect(errorCount('NOT')).toBe(1)
  })

  it('iterate() is recorded once, when exhausted or closed, with the rows it yielded', () => {
    const insert = db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)')
    for (let i = 0; i < 10; i++) insert.run(i, `n${i}`)
    const stmt = db.prepare('SELECT * FROM notes')
    const it = stmt.iterate()
    expect(it.next().done).toBe(false)
    expect(opCount('SELECT notes')).toBe(0)
    let n = 1
    for (const _ of it) n++
    expect(n).toBe(10)
    expect(opCount('SELECT notes')).toBe(1)
    expect(events('SELECT notes')[0]?.metadata?.rows).toBe(10)
    expect(it.next()).toEqual({ value: undefined, done: true })
    expect(opCount('SELECT notes')).toBe(1)

    // break → return() closes the iterator and the database is free again
    let seen = 0
    for (const _ of stmt.iterate()) {
      if (++seen === 3) break
    }
    expect(opCount('SELECT notes')).toBe(2)
    expect(events('SELECT notes')[0]?.metadata?.rows).toBe(3)
    expect(db.prepare('SELECT count(*) FROM notes').pluck().get()).toBe(10)

    // explicit return()
    const it2 = stmt.iterate()
    it2.next()
    expect(it2.return?.()).toEqual({ value: undefined, done: true })
    // 2 iterations, the count(*) above, this one
    expect(opCount('SELECT notes')).toBe(4)

    // an error in the middle is recorded once, and rethrown as is
    const err = new Error('row 4')
    db.function('check_id', (id: number) => {
      if (id === 4) throw err
      return id
    })
    const failing = db.prepare('SELECT check_id(id) FROM notes ORDER BY id')
    expect(() => [...failing.iterate()]).toThrow(err)
    expect(errorCount('SELECT notes')).toBe(1)
    expect(events('SELECT notes')[0]?.metadata?.rows).toBe(3)
  })

  it('transactions (and their deferred/immediate/exclusive forms, nested) work unchanged and are timed', () => {
    const insert = db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)')
    const inner = db.transaction((body: string) => {
      insert.run(2, body)
      if (body === 'bad') throw new Error('inner failed')
    })
    const outer = db.transaction((bodies: string[]) => {
      expect(db.inTransaction).toBe(true)
      for (const b of bodies) {
        try {
          inner(b)
        } catch (err) {
          if ((err as Error).message !== 'inner failed') throw err
        }
      }
      return bodies.length
    })
    // better-sqlite3's own shape (partly untyped): every variant carries all variants and `database`.
    const shape = outer as unknown as Record<string, Record<string, unknown>>
    expect(shape.database).toBe(db)
    expect(shape.default).toBe(outer)
    expect(shape.deferred?.immediate).toBe(outer.immediate)
    expect(shape.exclusive?.default).toBe(outer)
    expect(Object.keys(outer)).toEqual(['database'])
    expect(outer(['a', 'bad', 'b'])).toBe(3)
    expect(db.inTransaction).toBe(false)
    expect(db.prepare('SELECT body FROM notes ORDER BY id').pluck().all()).toEqual(['a', 'b'])
    expect(outer.immediate(['c'])).toBe(1)
    expect(outer.exclusive(['d'])).toBe(1)
    expect(outer.deferred(['e'])).toBe(1)
    expect(db.prepare('SELECT count(*) FROM notes').pluck().get()).toBe(5)

    const fail = new Error('whole transaction fails')
    const bad = db.transaction(() => {
      insert.run(3, 'rolled back')
      throw fail
    })
    expect(() => bad()).toThrow(fail)
    expect(db.prepare('SELECT count(*) FROM notes WHERE body = ?').pluck().get('rolled back')).toBe(0)
    expect(() => db.transaction(async () => {})()).toThrow(/cannot return a promise/)
    expect(() => db.transaction('nope' as never)).toThrow(TypeError)
    // outer: 4 calls; inner: 6 calls, one failed; bad: 1 failed; async: 1 failed
    expect(opCount('TRANSACTION')).toBe(12)
    expect(errorCount('TRANSACTION')).toBe(3)
  })

  it('inside a request: counts queries and time on the context and tags events with its id', async () => {
    const ctx: RequestContext = { requestId: 'req-42', dbQueries: 0, dbMs: 0 }
    await monitorInternals(monitor).runInRequest(ctx, async () => {
      db.prepare('INSERT INTO notes (user_id, body) VALUES (?, ?)').run(1, 'x')
      await new Promise((r) => setTimeout(r, 1))
      db.prepare('SELECT * FROM notes').all()
      db.pragma('user_version')
    })
    expect(ctx.dbQueries).toBe(3)
    expect(ctx.dbMs).toBeGreaterThan(0)
    expect(events('SELECT notes')[0]?.requestId).toBe('req-42')
    db.prepare('SELECT * FROM users').all()
    expect(events('SELECT users')[0]?.requestId).toBeNull()
    expect(ctx.dbQueries).toBe(3)
  })

  it('a failed execution records its error and request id, and leaves nothing on the next execution of the statement', async () => {
    // finish() records a plain execution with the statement's own options object and a failed or
    // slow one with an object of its own: the failure's error and `force` must not stay behind.
    const m = createMonitor({ sampling: 0 })
    const d = monitorDatabase(new Database(':memory:'), m)
    d.exec('CREATE TABLE k (id INTEGER PRIMARY KEY)')
    const insert = d.prepare('INSERT INTO k (id) VALUES (?)')
    const ctx: RequestContext = { requestId: 'req-7', dbQueries: 0, dbMs: 0 }
    monitorInternals(m).runInRequest(ctx, () => {
      insert.run(1)
      expect(() => insert.run(1)).toThrow(/UNIQUE constraint failed/)
      insert.run(2)
      insert.run(3)
    })
    expect(ctx.dbQueries).toBe(4)
    // Sampling 0 keeps only the failure; had its error or `force` stayed on the statement's options,
    // the two executions after it would be kept as failures too.
    const kept = m.byType('db')
    expect(kept).toHaveLength(1)
    expect(kept[0]).toMatchObject({
      name: 'INSERT k',
      requestId: 'req-7',
      error: expect.stringMatching(/UNIQUE/),
    })
    const op = m.snapshot().types.db?.ops.find((o) => o.name === 'INSERT k')
    expect(op).toMatchObject({ count: 4, errors: 1 })
    // At sampling 1 the executions after the failure are kept without an error, with the request's id.
    const all = createMonitor({ sampling: 1 })
    const e = monitorDatabase(new Database(':memory:'), all)
    e.exec('CREATE TABLE k (id INTEGER PRIMARY KEY)')
    const ins = e.prepare('INSERT INTO k (id) VALUES (?)')
    monitorInternals(all).runInRequest(ctx, () => {
      ins.run(1)
      expect(() => ins.run(1)).toThrow(/UNIQUE/)
      ins.run(2)
    })
    ins.run(3)
    const events = all.byType('db').filter((x) => x.name === 'INSERT k')
    expect(events.map((x) => [x.error ?? null, x.requestId ?? null, x.metadata?.rows])).toEqual([
      [null, null, 1],
      [null, 'req-7', 1],
      [expect.stringMatching(/UNIQUE/), 'req-7', 0],
      [null, 'req-7', 1],
    ])
    d.close()
    e.close()
    await m.close()
    await all.close()
  })

  it('slowMs forces slow queries to be kept even at sampling 0; explainSlow attaches the plan once per op per window', async () => {
    const m = createMonitor({ sampling: 0 })
    const d = monitorDatabase(new Database(':memory:'), m, { slowMs: 0, explainSlow: true })
    d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')
    const q = d.prepare('SELECT * FROM t WHERE id = ?')
    q.get(1)
    q.get(2)
    d.prepare('SELECT * FROM t WHERE v = ?').all('x')
    const kept = m.byType('db').filter((e) => e.name === 'SELECT t')
    expect(kept).toHaveLength(3)
    const plans = kept.map((e) => e.metadata?.plan)
    expect(plans.filter((p) => p !== undefined)).toHaveLength(1)
    expect(plans[2]).toMatch(/SEARCH t USING INTEGER PRIMARY KEY/)
    expect(JSON.stringify(kept)).not.toContain('"x"')
    // A leading comment or a CTE does not hide a SELECT.
    d.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)')
    d.prepare('/* report */ WITH x AS (SELECT * FROM u) SELECT * FROM x').all()
    expect(m.byType('db', 1)[0]).toMatchObject({
      name: 'SELECT u',
      metadata: { plan: expect.stringMatching(/SCAN u/) },
    })
    d.close()
    await m.close()
  })

  it('a disabled monitor installs nothing', () => {
    const raw = new Database(':memory:')
    const out = monitorDatabase(raw, createMonitor({ enabled: false }))
    expect(out).toBe(raw)
    expect(Object.getOwnPropertyNames(raw)).toEqual(Object.getOwnPropertyNames(new Database(':memory:')))
    expect(raw.prepare).toBe(Database.prototype.prepare)
    raw.close()
  })

  it('rejects bad input with errors that say what is accepted', () => {
    const m = createMonitor()
    expect(() => monitorDatabase({} as never, m)).toThrow(/db must be a better-sqlite3 Database/)
    expect(() => monitorDatabase(new Database(':memory:'), {} as never)).toThrow(/monitor must be a monitor/)
    expect(() => monitorDatabase(new Database(':memory:'), m, { sql: 'full' as never })).toThrow(
      /'none', 'redacted' or 'raw'/,
    )
    expect(() => monitorDatabase(new Database(':memory:'), m, { slowMs: -1 })).toThrow(
      /slowMs = -1.*0 to 3600000/,
    )
    expect(() => monitorDatabase(db, m)).toThrow(/already monitored/)
  })
})

describe('monitorDatabase: literals in SQLite error messages', () => {
  const failing = [
    "SELECT * FROM notes WHERE body = 'hunter2",
    "INSERT INTO notes (user_id, body) VALUES (1, 'a' 'hunter2')",
    "SELECT * FROM notes WHERE body = x'5ec2e7 hunter2'",
  ]

  it('are redacted in the snapshot and in a real store file, as in SQL text', async () => {
    const path = join(dir, 'perf.db')
    const store = new SqliteStore({ path })
    const m = createMonitor({ sampling: 1, sinks: [store] })
    const app = monitorDatabase(new Database(join(dir, 'app.db')), m)
    let thrown = 0
    for (const sql of failing) {
      try {
        app.prepare(sql)
      } catch (err) {
        thrown++
        // The app still gets SQLite's own error, unchanged.
        expect((err as Error).message).toMatch(/hunter2/)
      }
    }
    expect(() => app.exec("SELECT 1; SELECT 'hunter2")).toThrow(/hunter2/)
    expect(() => app.transaction(() => app.exec("SELECT 'a' 'b' 'hunter2'"))()).toThrow(/hunter2/)
    expect(thrown).toBe(failing.length)

    const errors = m.byType('db').map((e) => e.error)
    expect(errors).toContain('SqliteError: unrecognized token: "?"')
    expect(errors).toContain('SqliteError: near "?": syntax error')
    const snapshot = JSON.stringify(m.snapshot({ recent: 1000 }))
    expect(snapshot).toContain('syntax error')
    expect(snapshot).not.toMatch(/hunter2/)

    await m.close()
    app.close()
    const bytes = readFileSync(path)
    expect(bytes.includes('syntax error')).toBe(true)
    expect(bytes.includes('hunter2')).toBe(false)
    expect(bytes.includes('5ec2e7')).toBe(false)
  })

  it("are kept as SQLite wrote them with sql: 'raw'", async () => {
    const m = createMonitor({ sampling: 1 })
    const app = monitorDatabase(new Database(':memory:'), m, { sql: 'raw' })
    expect(() => app.prepare(failing[0]!)).toThrow()
    expect(m.byType('db')[0]?.error).toBe('SqliteError: unrecognized token: "\'hunter2"')
    await m.close()
  })
})

describe('monitorDatabase: memory', () => {
  /** A full garbage collection, without starting the test runner with --expose-gc. */
  function collect(): void {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    gc()
    gc()
  }

  /** Heap growth, after GC, across `work`. */
  function retainedBy(work: () => void): number {
    collect()
    const before = getHeapStatistics().used_heap_size
    work()
    collect()
    return getHeapStatistics().used_heap_size - before
  }

  /** A distinct statement each call, carrying a 256 KB literal (dynamic SQL, no bound parameters). */
  const bigStatement = (i: number): string => `SELECT length('${String(i).padEnd(256 * 1024, 'x')}') AS n`
  const MB = 1024 * 1024

  it.each(['redacted', 'raw'] as const)(
    'exec() of 600 large dynamic statements retains no more than a few MB (sql: %s)',
    async (sql) => {
      const m = createMonitor({ sampling: 1 })
      const app = monitorDatabase(new Database(':memory:'), m, { sql })
      const retained = retainedBy(() => {
        for (let i = 0; i < 600; i++) app.exec(bigStatement(i))
      })
      expect(m.snapshot().types.db?.ops.find((o) => o.name === 'SELECT')?.count).toBe(600)
      expect(retained).toBeLessThan(20 * MB)
      app.close()
      await m.close()
    },
    60_000,
  )
})
