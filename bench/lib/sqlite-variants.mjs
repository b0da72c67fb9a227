// The per-statement variants of bench/sqlite.mjs, in one place for its two measurements: timed
// (lib/sqlite-timed.mjs) and counted under valgrind (lib/sqlite-instructions.mjs). Each runs in a
// process of its own with only the native call beside it, as in an app that runs one of them: run in
// one process, the variants share the monitor's code and its feedback (the floor's op.record is then
// compiled for @perf's options too), and a variant is measured as no app runs it.
//
// Every variant runs the same statement of one monitored connection (two connections differ by up
// to ±200 ns per point get on this VM, more than what is measured):
// - `native`: better-sqlite3's own method, from the prototype (what a bare app calls), called as a
//   method of the statement under a key of its own (NATIVE_GET), as a bare app calls `stmt.get(key)`
//   and as @perf/sqlite calls it; every variant makes the native call so, so that no variant's count
//   or time differs from another's by how V8 compiles the call (on Node 24 a `nativeGet.call(stmt, key)`
//   counted 200 instructions a get fewer than the method call alone, and 190 more with the clock
//   reads around it);
// - `clock`: that call between the two `process.hrtime()` reads @perf/sqlite makes;
// - `floor`: the same plus one `op.record(ms)` into an interned op (sampling 0.1), written inline;
// - `floor-context`: the floor plus what carrying db time to the request costs (an
//   `AsyncLocalStorage` read, and the time added to the request's store when there is one);
// - `floor-details`: @perf/sqlite's whole job by hand, written inline: the floor with the request
//   context, recording with the statement's details (its text, rows) and the request's id, which the
//   one execution in ten that is kept stores (what `floor-context` leaves out);
// - `floor-wrapper`: the same job as a drop-in wrapper must do it: a function standing in for the
//   statement's method, with `floor-details`'s body (so the two differ only by the call);
// - `perf`: the monitored method (`stmt.get(key)`, `stmt.run(...)`), its request context on as an app
//   with an HTTP adapter has it.
// Counted only (lib/sqlite-instructions.mjs), point gets through one call site that reaches four
// statements of the same SQL in turn, as an app's query helper does:
// - `native-helper`: better-sqlite3's own method, called as a method of the statement under a key of
//   its own, as `native` calls it;
// - `perf-helper`: the monitored method.
// No request is in progress in any of them (a point get outside a request, as @perf's variant is).
import { AsyncLocalStorage } from 'node:async_hooks'
import { createMonitor } from '@perf/core'
import { monitorDatabase } from '@perf/sqlite'
import Database from 'better-sqlite3'

export const VARIANTS = [
  'native',
  'clock',
  'floor',
  'floor-context',
  'floor-details',
  'floor-wrapper',
  'perf',
]
export const COUNTED_VARIANTS = [...VARIANTS, 'native-helper', 'perf-helper']

/**
 * What a per-variant process (lib/sqlite-timed.mjs, lib/sqlite-alloc.mjs) runs: the variants over a
 * connection to `file` (synchronous = NORMAL), on 4,096 random keys of the notes table; `runs` are the
 * point gets or the inserts of `what`, in blocks of `size` executions. Exits with the usage when the
 * arguments are not valid.
 * @param {string | undefined} file
 * @param {string | undefined} what
 * @param {string | undefined} variant
 * @param {string} usage
 */
export function variantProcess(file, what, variant, usage) {
  if (file === undefined || (what !== 'get' && what !== 'insert') || !VARIANTS.includes(variant)) {
    console.error(`usage: ${usage.replace('<variant>', VARIANTS.join('|'))}`)
    process.exit(2)
  }
  const ids = Int32Array.from({ length: 4096 }, () => 1 + Math.floor(Math.random() * 10_000))
  const db = new Database(file)
  db.pragma('synchronous = NORMAL')
  const v = statementVariants(db, ids, { insert: what === 'insert' })
  return { db, v, size: what === 'get' ? 400 : 200, runs: what === 'get' ? v.get : v.insert }
}

export const GET_SQL = 'SELECT * FROM notes WHERE id = ?'
const INSERT_SQL = 'INSERT INTO one_ins (user_id, title, body) VALUES (?, ?, ?)'
const BODY = 'a body of some length for the row'
const NATIVE_GET = Symbol('native get')
const NATIVE_RUN = Symbol('native run')
const WRAPPER_GET = Symbol('wrapper get')
const WRAPPER_RUN = Symbol('wrapper run')
const HELPER_GET = Symbol('helper get')

/**
 * The variants over `db` (a better-sqlite3 connection to a file with the `notes` table; `insert: true`
 * also makes the `one_ins` table, so the file must be writable). Returns `get[variant](k, off)`, which
 * runs `k` point gets on keys `ids[off..]`, `insert[variant](k)`, which runs `k` inserts in one
 * transaction and deletes them (the transaction and the DELETE are the same in every variant), the
 * number of executions each monitored statement recorded, and a sink that keeps the work observable.
 */
export function statementVariants(db, ids, { insert = false } = {}) {
  const monitor = createMonitor({ sampling: 0.1 })
  const monitored = monitorDatabase(db, monitor, { sql: 'redacted' })
  if (insert) {
    monitored.exec(
      'CREATE TABLE IF NOT EXISTS one_ins (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT, body TEXT)',
    )
  }
  const floorOp = createMonitor({ sampling: 0.1 }).op('db', 'floor')
  // The floor's request context: what @perf's holds per request (queries and their time), read as
  // @perf reads its own.
  const requests = new AsyncLocalStorage()
  const hr = process.hrtime
  // As @perf/sqlite reads its clock.
  const ms = () => {
    const c = hr()
    return c[0] * 1e3 + c[1] / 1e6
  }
  let sink = 0
  let clockSink = 0
  const get = monitored.prepare(GET_SQL)
  const { get: nativeGet, run: nativeRun } = Object.getPrototypeOf(get)
  // Four statements of their own, each given the same key, so that they share one hidden class, as an
  // app's statements do (`get` above gets another key too).
  const helper = [0, 1, 2, 3].map(() => monitored.prepare(GET_SQL))
  for (const h of helper) Object.defineProperty(h, HELPER_GET, { value: nativeGet })
  // Every variant calls the native method as a method of the statement under a key of its own, not
  // through a variable: in a wrapper V8 compiles a call of a native function it cannot see as a
  // generic call into C++, about 100 ns more wherever the wrapper is not inlined into its caller (the
  // cheapest way, which @perf/sqlite takes too); and the variants written where the statement runs
  // call it the same way, so that they differ from the wrappers only by what they do around it.
  Object.defineProperty(get, NATIVE_GET, { value: nativeGet })
  /** The floor-wrapper's job for one execution, as @perf/sqlite does it (see the top of this file). */
  const wrapperDetails = (sql) => {
    const details = { sql, rows: 0 }
    return { details, opts: { metadata: details, requestId: undefined } }
  }
  const getJob = wrapperDetails(GET_SQL)
  function wrapperGet(key) {
    const t0 = ms()
    const row = this[NATIVE_GET](key)
    const d = ms() - t0
    const request = requests.getStore()
    if (request !== undefined) {
      request.queries++
      request.ms += d
    }
    getJob.details.rows = row === undefined ? 0 : 1
    getJob.opts.requestId = request?.id
    floorOp.record(d, getJob.opts)
    return row
  }
  // Called as a method of the statement, as the app calls @perf's (`stmt.get(key)`).
  Object.defineProperty(get, WRAPPER_GET, { value: wrapperGet })
  // One function per variant, so that no call site sees more than one callee.
  const gets = {
    native(k, off = 0) {
      for (let i = 0; i < k; i++) sink += get[NATIVE_GET](ids[(off + i) & 4095]).user_id
    },
    clock(k, off = 0) {
      for (let i = 0; i < k; i++) {
        const t0 = ms()
        const row = get[NATIVE_GET](ids[(off + i) & 4095])
        clockSink += ms() - t0
        sink += row.user_id
      }
    },
    floor(k, off = 0) {
      for (let i = 0; i < k; i++) {
        const t0 = ms()
        const row = get[NATIVE_GET](ids[(off + i) & 4095])
        floorOp.record(ms() - t0)
        sink += row.user_id
      }
    },
    'floor-context'(k, off = 0) {
      for (let i = 0; i < k; i++) {
        const t0 = ms()
        const row = get[NATIVE_GET](ids[(off + i) & 4095])
        const d = ms() - t0
        floorOp.record(d)
        const request = requests.getStore()
        if (request !== undefined) {
          request.queries++
          request.ms += d
        }
        sink += row.user_id
      }
    },
    'floor-details'(k, off = 0) {
      for (let i = 0; i < k; i++) {
        const t0 = ms()
        const row = get[NATIVE_GET](ids[(off + i) & 4095])
        const d = ms() - t0
        const request = requests.getStore()
        if (request !== undefined) {
          request.queries++
          request.ms += d
        }
        getJob.details.rows = row === undefined ? 0 : 1
        getJob.opts.requestId = request?.id
        floorOp.record(d, getJob.opts)
        sink += row.user_id
      }
    },
    'floor-wrapper'(k, off = 0) {
      for (let i = 0; i < k; i++) sink += get[WRAPPER_GET](ids[(off + i) & 4095]).user_id
    },
    perf(k, off = 0) {
      for (let i = 0; i < k; i++) sink += get.get(ids[(off + i) & 4095]).user_id
    },
    'native-helper'(k, off = 0) {
      for (let i = 0; i < k; i++) sink += helper[i & 3][HELPER_GET](ids[(off + i) & 4095]).user_id
    },
    'perf-helper'(k, off = 0) {
      for (let i = 0; i < k; i++) sink += helper[i & 3].get(ids[(off + i) & 4095]).user_id
    },
  }
  const inserts = insert ? insertVariants() : undefined
  function insertVariants() {
    const ins = monitored.prepare(INSERT_SQL)
    const clear = monitored.prepare('DELETE FROM one_ins')
    Object.defineProperty(ins, NATIVE_RUN, { value: nativeRun })
    const insJob = wrapperDetails(INSERT_SQL)
    function wrapperRun(userId, title, body) {
      const t0 = ms()
      const info = this[NATIVE_RUN](userId, title, body)
      const d = ms() - t0
      const request = requests.getStore()
      if (request !== undefined) {
        request.queries++
        request.ms += d
      }
      insJob.details.rows = info.changes
      insJob.opts.requestId = request?.id
      floorOp.record(d, insJob.opts)
      return info
    }
    Object.defineProperty(ins, WRAPPER_RUN, { value: wrapperRun })
    // A transaction of `k` inserts, then the rows deleted (the same for every variant).
    const inTxn = (loop) => {
      const txn = monitored.transaction(loop)
      return (k) => {
        txn(k)
        nativeRun.call(clear)
      }
    }
    return {
      native: inTxn((k) => {
        for (let i = 0; i < k; i++) ins[NATIVE_RUN](i, 'a title', BODY)
      }),
      clock: inTxn((k) => {
        for (let i = 0; i < k; i++) {
          const t0 = ms()
          ins[NATIVE_RUN](i, 'a title', BODY)
          clockSink += ms() - t0
        }
      }),
      floor: inTxn((k) => {
        for (let i = 0; i < k; i++) {
          const t0 = ms()
          ins[NATIVE_RUN](i, 'a title', BODY)
          floorOp.record(ms() - t0)
        }
      }),
      'floor-context': inTxn((k) => {
        for (let i = 0; i < k; i++) {
          const t0 = ms()
          ins[NATIVE_RUN](i, 'a title', BODY)
          const d = ms() - t0
          floorOp.record(d)
          const request = requests.getStore()
          if (request !== undefined) {
            request.queries++
            request.ms += d
          }
        }
      }),
      'floor-details': inTxn((k) => {
        for (let i = 0; i < k; i++) {
          const t0 = ms()
          const info = ins[NATIVE_RUN](i, 'a title', BODY)
          const d = ms() - t0
          const request = requests.getStore()
          if (request !== undefined) {
            request.queries++
            request.ms += d
          }
          insJob.details.rows = info.changes
          insJob.opts.requestId = request?.id
          floorOp.record(d, insJob.opts)
        }
      }),
      'floor-wrapper': inTxn((k) => {
        for (let i = 0; i < k; i++) ins[WRAPPER_RUN](i, 'a title', BODY)
      }),
      perf: inTxn((k) => {
        for (let i = 0; i < k; i++) ins.run(i, 'a title', BODY)
      }),
    }
  }
  return {
    get: gets,
    insert: inserts,
    /** Executions each monitored statement recorded, by op name. */
    recorded: () =>
      Object.fromEntries((monitor.snapshot().types.db?.ops ?? []).map((o) => [o.name, o.count])),
    /** Whether the variants' results were used (rows read, clock differences summed). */
    ok: () => sink > 0 && clockSink >= 0,
  }
}
