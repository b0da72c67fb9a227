import { checkNumber, type Monitor, type OpHandle } from '@perf/core'
import { monitorInternals } from '@perf/core/http'
import { checkOptionKeys } from '@perf/core'
import type BetterSqlite3 from 'better-sqlite3'
import { redactSql, redactSqlError } from './redact-sql.js'
import { statementName } from './statement-name.js'

/** How much SQL text kept events carry. */
export type SqlTextMode = 'none' | 'redacted' | 'raw'

/** Options of {@link monitorDatabase}. */
export interface MonitorDatabaseOptions {
  /**
   * Queries at least this slow are always kept (and explained with `explainSlow`). Default: the
   * monitor's `slowMs` for type `db`. The monitor's own slow flag and counts follow its config.
   */
  slowMs?: number
  /**
   * SQL text on kept events: `'redacted'` (default) replaces every literal by `?`; `'raw'` keeps
   * the statement as written (only when you know it holds no personal data); `'none'` keeps none.
   * Bound parameter values are never kept.
   */
  sql?: SqlTextMode
  /** Attach `EXPLAIN QUERY PLAN` to a slow SELECT, once per op per monitor window. Default false. */
  explainSlow?: boolean
}

const MONITORED: unique symbol = Symbol.for('@perf/sqlite.monitored')
const PLAN_MAX = 1000
/** exec/pragma texts cached at most, longest cached text and total cached characters. */
const ADHOC_MAX_ENTRIES = 500
const ADHOC_MAX_LENGTH = 4096
const ADHOC_MAX_CHARS = 262_144

type Fn = (...args: unknown[]) => unknown
type Db = BetterSqlite3.Database
type Stmt = BetterSqlite3.Statement

/** Mutable metadata reused across a statement's executions (the monitor copies what it keeps). */
interface Meta {
  [key: string]: unknown
  sql?: string
  rows?: number
  plan?: string
}

/** Per-statement state, built once at `prepare`. */
interface StatementState {
  readonly op: OpHandle
  readonly source: string
  readonly select: boolean
  readonly meta: Meta
  readonly opts: { metadata: Meta; requestId: string | undefined; error: unknown; force: boolean | undefined }
}

/**
 * Instruments a better-sqlite3 `Database` in place and returns it: every statement execution
 * (`run`, `get`, `all`, `iterate`), `exec`, `pragma` and transaction is timed and recorded as type
 * `db`, named `VERB table` from its SQL (computed once, at `prepare`). The object stays the same
 * `Database` (same identity, same `instanceof`); statements stay better-sqlite3 `Statement`s;
 * return values and thrown errors are untouched. Statements prepared before this call are not timed.
 *
 * Inside a request tracked by an HTTP adapter, each query adds to the request's `dbQueries` and
 * `dbMs` and its kept event carries the request id.
 *
 * @example
 * const db = monitorDatabase(new Database('app.db'), monitor, { slowMs: 100, sql: 'redacted' })
 */
export function monitorDatabase<D extends Db>(
  db: D,
  monitor: Monitor,
  options: MonitorDatabaseOptions = {},
): D {
  if (db === null || typeof db !== 'object' || typeof (db as { prepare?: unknown }).prepare !== 'function') {
    throw new TypeError(
      `monitorDatabase(db): db must be a better-sqlite3 Database, got ${db === null ? 'null' : typeof db}`,
    )
  }
  if (monitor === null || typeof monitor !== 'object' || typeof monitor.op !== 'function') {
    throw new TypeError('monitorDatabase(db, monitor): monitor must be a monitor from createMonitor()')
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError('monitorDatabase(db, monitor, options): options must be an object')
  }
  checkOptionKeys('monitorDatabase(db, monitor, options)', options, ['slowMs', 'sql', 'explainSlow'])
  const config = monitor.config
  const slowMs = checkNumber(
    'monitorDatabase options.slowMs',
    options.slowMs ?? config.slowMs.db ?? config.slowMs.default,
    {
      min: 0,
      max: 3_600_000,
    },
  )
  const mode = options.sql ?? 'redacted'
  if (mode !== 'none' && mode !== 'redacted' && mode !== 'raw') {
    throw new TypeError(
      `monitorDatabase options.sql = ${JSON.stringify(mode)} is not valid: expected 'none', 'redacted' or 'raw'`,
    )
  }
  const explainSlow = options.explainSlow ?? false
  if (typeof explainSlow !== 'boolean') {
    throw new TypeError(
      `monitorDatabase options.explainSlow = ${String(explainSlow)} is not valid: expected true or false`,
    )
  }
  if (!monitor.enabled) return db
  const record = db as unknown as Record<PropertyKey, unknown>
  if (record[MONITORED] !== undefined) {
    throw new Error('monitorDatabase(db): this database is already monitored; monitor it once')
  }
  define(db, MONITORED, true)
  // The plumbing (request context, internal-error reports) of the app's monitor.
  const plumbing = monitorInternals(monitor)
  const contextOn = plumbing.enableRequestContext()
  const rawPrepare = db.prepare as unknown as (this: Db, sql: string) => Stmt
  const rawExec = db.exec as unknown as Fn
  const rawPragma = db.pragma as unknown as Fn
  const rawTransaction = db.transaction as unknown as (this: Db, fn: Fn) => Fn & Record<string, Fn>
  /** When each op was last explained (explainSlow). */
  const explained = new Map<string, number>()

  const sqlText = (source: string): string | undefined =>
    mode === 'redacted' ? redactSql(source) : mode === 'raw' ? source.slice(0, 2000) : undefined

  /**
   * What is recorded of a failure. SQLite copies pieces of the statement into its messages
   * (`near "'secret'": syntax error`), so unless SQL is kept raw the message is redacted like the SQL
   * text. Only the record changes: the app still gets the very error object SQLite threw.
   */
  const failure = (err: unknown): unknown => {
    if (err === undefined || mode === 'raw') return err
    if (err instanceof Error) {
      const text = redactSqlError(err.message)
      return text === '' ? err.name : `${err.name}: ${text}`
    }
    if (typeof err === 'string') return redactSqlError(err)
    if (typeof err !== 'object' || err === null) return err
    try {
      return redactSqlError(String(err))
    } catch {
      return 'error'
    }
  }

  const newState = (source: string, name: string): StatementState => {
    const meta: Meta = {}
    const text = sqlText(source)
    if (text !== undefined) meta.sql = text
    return {
      op: monitor.op('db', name),
      source,
      // From the name, so leading comments or a CTE do not hide a SELECT.
      select: name === 'SELECT' || name.startsWith('SELECT '),
      meta,
      opts: { metadata: meta, requestId: undefined, error: undefined, force: undefined },
    }
  }

  /**
   * Records one execution. Never throws: a failure here is counted by the monitor. An execution that
   * neither failed nor was slow (nearly all of them) records with the statement's own options object,
   * only its request id written; the rest go to {@link finishRarely}. Writing every field on every
   * execution (the error, `force`, the metadata twice) cost about 270 instructions a point get on
   * Node 20 and 40 on Node 24 (counted: bench/lib/sqlite-instructions.mjs).
   */
  const finish = (
    st: StatementState,
    ms: number,
    rows: number,
    error: unknown,
    owner: Db | Stmt,
    args: unknown[],
  ): void => {
    try {
      let requestId: string | undefined
      if (contextOn) {
        const ctx = plumbing.currentRequest()
        if (ctx !== undefined) {
          ctx.dbQueries++
          ctx.dbMs += ms
          requestId = ctx.requestId
        }
      }
      st.meta.rows = rows
      if (error === undefined && ms < slowMs) {
        const opts = st.opts
        opts.requestId = requestId
        st.op.record(ms, opts)
      } else finishRarely(st, ms, error, owner, args, requestId)
    } catch (err) {
      plumbing.reportInternalError('@perf/sqlite', err)
    }
  }

  /** {@link finish} for a failed or slow execution: its error, `force`, and a slow SELECT's plan. */
  const finishRarely = (
    st: StatementState,
    ms: number,
    error: unknown,
    owner: Db | Stmt,
    args: unknown[],
    requestId: string | undefined,
  ): void => {
    const slow = ms >= slowMs
    let metadata = st.meta
    if (slow && explainSlow && st.select && error === undefined) {
      const plan = explain(st, owner, args)
      if (plan !== undefined) metadata = { ...metadata, plan }
    }
    // The same fields in the same order as the statement's own options, so op.record sees one shape.
    st.op.record(ms, {
      metadata,
      requestId,
      error: error === undefined ? undefined : failure(error),
      force: slow ? true : undefined,
    })
  }

  const explain = (st: StatementState, owner: Db | Stmt, args: unknown[]): string | undefined => {
    // The statement's database is looked up only here: its getter is a native call, too dear per execution.
    const db = 'prepare' in owner ? owner : owner.database
    const now = Date.now()
    const last = explained.get(st.op.name)
    if (last !== undefined && now - last < config.windowMs) return undefined
    explained.set(st.op.name, now)
    try {
      const rows = rawPrepare.call(db, `EXPLAIN QUERY PLAN ${st.source}`).all(...args) as {
        id: number
        parent: number
        detail: string
      }[]
      const depth = new Map<number, number>()
      const lines = rows.map((r) => {
        const d = (depth.get(r.parent) ?? -1) + 1
        depth.set(r.id, d)
        return `${'  '.repeat(d)}${r.detail}`
      })
      const plan = lines.join('\n')
      return plan.length > PLAN_MAX ? `${plan.slice(0, PLAN_MAX - 1)}…` : plan
    } catch (err) {
      return `unavailable: ${String(failure(err))}`.slice(0, 200)
    }
  }

  /**
   * A run, get or all that threw, recorded as a failed query of its statement. Called on something
   * that is not a monitored statement (an unbound method, another connection's statement), it threw
   * the app's TypeError before SQLite ran: nothing to record, and that error is the one rethrown.
   */
  const threw = (s: Instrumented | null | undefined, ms: number, err: unknown): void => {
    const st = s == null ? undefined : s[STATE]
    if (st !== undefined) finish(st, ms, 0, err, s as Stmt, NO_ARGS)
  }

  // run, get, all and iterate: one function each per database, the statement's state read from the
  // statement (STATE), not one closure per statement. With a closure per statement, a call site that
  // reaches several statements (an app's query helper) saw several functions: V8 compiled the wrapper
  // on its own there, walking its contexts for the statement's state, the native method and this
  // database's settings, testing each for initialisation, and checking `now` and `finish` as callees
  // at every call. One function per database is one target at every call site, inlined with its
  // context known. run, get and all are separate function literals, not closures of one shared
  // literal: V8 keeps one feedback vector and one optimised code per literal, so with a shared one
  // every statement's run, get and all met at the same call sites, and the native call there was
  // compiled for three targets (a generic call into C++, see NATIVE_RUN). The native call is written
  // here, not called through a helper: what V8 inlines into a function is bounded (920 bytes of
  // bytecode on Node 20), Node 20's process.hrtime is 244 of them, and with the helper the second
  // clock read was left out (a call and a 64-byte array per execution: bench/lib/sqlite-alloc.mjs). Up
  // to three bound values (most statements) go to the native method as plain arguments, not through
  // apply() and the arguments object; a rest parameter would build an array per call.
  const run = function run(this: Stmt): unknown {
    const t0 = now()
    const s = this as Instrumented
    let out: unknown
    try {
      // biome-ignore lint/complexity/noArguments: see above
      const a = arguments
      const n = a.length
      out =
        n === 1
          ? s[NATIVE_RUN](a[0])
          : n === 0
            ? s[NATIVE_RUN]()
            : n === 2
              ? s[NATIVE_RUN](a[0], a[1])
              : n === 3
                ? s[NATIVE_RUN](a[0], a[1], a[2])
                : s[NATIVE_RUN].apply(this, a as unknown as unknown[])
    } catch (err) {
      threw(s, now() - t0, err)
      throw err
    }
    const ms = now() - t0
    const rows = (out as BetterSqlite3.RunResult).changes
    // biome-ignore lint/complexity/noArguments: see above
    finish(s[STATE], ms, rows, undefined, this, explainSlow && ms >= slowMs ? copy(arguments) : NO_ARGS)
    return out
  }
  const get = function get(this: Stmt): unknown {
    const t0 = now()
    const s = this as Instrumented
    let out: unknown
    try {
      // biome-ignore lint/complexity/noArguments: see run
      const a = arguments
      const n = a.length
      out =
        n === 1
          ? s[NATIVE_GET](a[0])
          : n === 0
            ? s[NATIVE_GET]()
            : n === 2
              ? s[NATIVE_GET](a[0], a[1])
              : n === 3
                ? s[NATIVE_GET](a[0], a[1], a[2])
                : s[NATIVE_GET].apply(this, a as unknown as unknown[])
    } catch (err) {
      threw(s, now() - t0, err)
      throw err
    }
    const ms = now() - t0
    const rows = out === undefined ? 0 : 1
    // biome-ignore lint/complexity/noArguments: see run
    finish(s[STATE], ms, rows, undefined, this, explainSlow && ms >= slowMs ? copy(arguments) : NO_ARGS)
    return out
  }
  const all = function all(this: Stmt): unknown {
    const t0 = now()
    const s = this as Instrumented
    let out: unknown
    try {
      // biome-ignore lint/complexity/noArguments: see run
      const a = arguments
      const n = a.length
      out =
        n === 1
          ? s[NATIVE_ALL](a[0])
          : n === 0
            ? s[NATIVE_ALL]()
            : n === 2
              ? s[NATIVE_ALL](a[0], a[1])
              : n === 3
                ? s[NATIVE_ALL](a[0], a[1], a[2])
                : s[NATIVE_ALL].apply(this, a as unknown as unknown[])
    } catch (err) {
      threw(s, now() - t0, err)
      throw err
    }
    const ms = now() - t0
    const rows = (out as unknown[]).length
    // biome-ignore lint/complexity/noArguments: see run
    finish(s[STATE], ms, rows, undefined, this, explainSlow && ms >= slowMs ? copy(arguments) : NO_ARGS)
    return out
  }
  const iterate = function iterate(this: Stmt, ...args: unknown[]) {
    const t0 = now()
    const database = this.database
    const s = this as Instrumented
    // Undefined when called on what is not a monitored statement: see threw.
    const st = s[STATE]
    let it: IterableIterator<unknown>
    try {
      it = s[NATIVE_ITERATE].apply(this, args) as IterableIterator<unknown>
    } catch (err) {
      if (st !== undefined) finish(st, now() - t0, 0, err, database, args)
      throw err
    }
    // Time spent inside SQLite: the iterate() call and every next()/return() until the end.
    let spent = now() - t0
    let rows = 0
    let open = true
    const nativeNext = it.next as unknown as Fn
    const nativeReturn = it.return as unknown as Fn
    const close = (error: unknown): void => {
      if (!open) return
      open = false
      finish(st, spent, rows, error, database, args)
    }
    define(it, 'next', function next(this: unknown, ...a: unknown[]) {
      const t = now()
      let r: IteratorResult<unknown>
      try {
        r = nativeNext.apply(this, a) as IteratorResult<unknown>
      } catch (err) {
        spent += now() - t
        close(err)
        throw err
      }
      spent += now() - t
      if (r.done === true) close(undefined)
      else if (open) rows++
      return r
    })
    define(it, 'return', function return_(this: unknown, ...a: unknown[]) {
      const t = now()
      let r: unknown
      try {
        r = nativeReturn.apply(this, a)
      } catch (err) {
        spent += now() - t
        close(err)
        throw err
      }
      spent += now() - t
      close(undefined)
      return r
    })
    return it
  }

  /** The statement's own methods under the symbols, its state under STATE, and the wrappers above. */
  const instrument = (stmt: Stmt, st: StatementState): void => {
    const proto = stmt as unknown as Record<string, Fn>
    define(stmt, NATIVE_RUN, proto.run)
    define(stmt, NATIVE_GET, proto.get)
    define(stmt, NATIVE_ALL, proto.all)
    define(stmt, NATIVE_ITERATE, proto.iterate)
    define(stmt, STATE, st)
    define(stmt, 'run', run)
    define(stmt, 'get', get)
    define(stmt, 'all', all)
    define(stmt, 'iterate', iterate)
  }

  define(db, 'prepare', function prepare(this: Db, sql: string) {
    if (typeof sql !== 'string') return rawPrepare.call(this, sql)
    let st: StatementState | undefined
    try {
      st = newState(sql, statementName(sql))
    } catch (err) {
      plumbing.reportInternalError('@perf/sqlite prepare', err)
    }
    const t0 = now()
    let stmt: Stmt
    try {
      stmt = rawPrepare.call(this, sql)
    } catch (err) {
      // A statement that does not compile is a failed query of its op.
      if (st !== undefined) finish(st, now() - t0, 0, err, this, [])
      throw err
    }
    if (st !== undefined) instrument(stmt, st)
    return stmt
  })

  /**
   * States of SQL run through exec/pragma, by text, so a program's fixed strings are named once.
   * Bounded in entries and in characters, and long texts are never kept: dynamic SQL (a statement
   * built around a large literal) is named afresh on each call instead of being held for good.
   */
  const adhoc = new Map<string, StatementState>()
  let adhocChars = 0
  const adhocState = (sql: string, name: () => string): StatementState | undefined => {
    let st = adhoc.get(sql)
    if (st === undefined) {
      try {
        st = newState(sql, name())
      } catch (err) {
        plumbing.reportInternalError('@perf/sqlite', err)
        return undefined
      }
      if (
        sql.length <= ADHOC_MAX_LENGTH &&
        adhoc.size < ADHOC_MAX_ENTRIES &&
        adhocChars + sql.length <= ADHOC_MAX_CHARS
      ) {
        adhoc.set(sql, st)
        adhocChars += sql.length
      }
    }
    return st
  }

  define(db, 'exec', function exec(this: Db, sql: string) {
    const st = typeof sql === 'string' ? adhocState(sql, () => statementName(sql)) : undefined
    const t0 = now()
    try {
      rawExec.call(this, sql)
    } catch (err) {
      if (st !== undefined) finish(st, now() - t0, 0, err, this, [])
      throw err
    }
    if (st !== undefined) finish(st, now() - t0, 0, undefined, this, [])
    return this
  })

  define(db, 'pragma', function pragma(this: Db, source: string, opts?: unknown) {
    const st =
      typeof source === 'string'
        ? adhocState(`PRAGMA ${source}`, () => statementName(`PRAGMA ${source}`))
        : undefined
    const t0 = now()
    let out: unknown
    try {
      out = rawPragma.call(this, source, opts)
    } catch (err) {
      if (st !== undefined) finish(st, now() - t0, 0, err, this, [])
      throw err
    }
    if (st !== undefined) finish(st, now() - t0, Array.isArray(out) ? out.length : 1, undefined, this, [])
    return out
  })

  /** Interned on the first transaction(), so a database that never uses one shows no such op. */
  let txState: StatementState | undefined
  define(db, 'transaction', function transaction(this: Db, fn: Fn) {
    const original = rawTransaction.call(this, fn)
    if (txState === undefined) {
      txState = newState('', 'TRANSACTION')
      delete txState.meta.sql
    }
    const st = txState
    const variants = ['default', 'deferred', 'immediate', 'exclusive'] as const
    const wrapped: Record<string, Fn> = {}
    for (const v of variants) {
      const inner = original[v]!
      wrapped[v] = function sqliteTransaction(this: unknown, ...args: unknown[]) {
        const t0 = now()
        let out: unknown
        try {
          out = inner.apply(this, args)
        } catch (err) {
          recordTx(st, now() - t0, err)
          throw err
        }
        recordTx(st, now() - t0, undefined)
        return out
      }
    }
    // Same shape as better-sqlite3's: every variant carries all variants and `database`.
    const props: PropertyDescriptorMap = { database: { value: this, enumerable: true } }
    for (const v of variants) props[v] = { value: wrapped[v] }
    for (const v of variants) Object.defineProperties(wrapped[v]!, props)
    return wrapped.default!
  })

  /** A transaction's own time; its statements are already counted in the request. */
  const recordTx = (txState: StatementState, ms: number, error: unknown): void => {
    try {
      const ctx = contextOn ? plumbing.currentRequest() : undefined
      const opts = txState.opts
      opts.requestId = ctx?.requestId
      opts.error = error === undefined ? undefined : failure(error)
      opts.force = ms >= slowMs ? true : undefined
      txState.op.record(ms, opts)
    } catch (err) {
      plumbing.reportInternalError('@perf/sqlite', err)
    }
  }

  return db
}

const NO_ARGS: unknown[] = []

const hrtime = process.hrtime
/**
 * A monotonic clock in ms. `process.hrtime()` is cheaper than `performance.now()` on Node 20 (which
 * wraps it; BENCHMARKS.md, SQLite), and every execution reads the clock twice. A `const`, not a
 * function declaration: a module's function declaration is a binding the module may assign, so
 * optimised code that inlines it first loads it and checks it is still the same function (five
 * instructions and 33 bytes of machine code per call site, twice per execution); a `const` binding
 * is folded: 11 instructions fewer a point get on Node 24 (counted, bench/lib/sqlite-instructions.mjs).
 */
const now = (): number => {
  const t = hrtime()
  return t[0] * 1e3 + t[1] / 1e6
}

/** The bound values, only for `EXPLAIN QUERY PLAN` of a slow statement; never stored. */
function copy(args: IArguments): unknown[] {
  return Array.prototype.slice.call(args)
}

function define(target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false })
}

/**
 * Where an instrumented statement keeps better-sqlite3's own `run`, `get` and `all`. Each wrapper calls
 * its method as a method of the statement under a constant key, so that its call sites only ever see
 * that one native method and V8 compiles them as direct calls into it. Calling `native` itself (a
 * variable of the wrapper's closure) was compiled as a generic call into C++ wherever V8 did not inline
 * the wrapper into the app's function that called it, which it decides anew in every process: on Node
 * 20 a point get cost 335–360 ns over the native call in those processes against 160–175 ns in the
 * others (bench/lib/sqlite-timed.mjs, eight processes). Four bound values or more still go through the
 * native method's `apply`, which on Node 20 showed that slow mode in some processes (measured when the
 * method was the closure's variable; a get with five values: 145–200 ns over the native call in most,
 * 330–383 ns in 2–3 of 10); the call spelled out for up to six values removed it but cost 215–273 ns in
 * every process, so it stays.
 */
const NATIVE_RUN = Symbol('@perf/sqlite native run')
const NATIVE_GET = Symbol('@perf/sqlite native get')
const NATIVE_ALL = Symbol('@perf/sqlite native all')
const NATIVE_ITERATE = Symbol('@perf/sqlite native iterate')
/** Where an instrumented statement keeps its {@link StatementState}. */
const STATE = Symbol('@perf/sqlite statement state')

/** An instrumented statement, with better-sqlite3's own methods and its state under the symbols above. */
type Instrumented = Stmt & {
  [NATIVE_RUN]: Fn
  [NATIVE_GET]: Fn
  [NATIVE_ALL]: Fn
  [NATIVE_ITERATE]: Fn
  [STATE]: StatementState
}
