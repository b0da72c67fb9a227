// One server of realistic.mjs: the demo's `GET /notes/:id` (one SQLite query through `monitorDatabase`,
// JSON out, `SqliteStore` on, the process watcher on, default sampling, the admin page mounted), as the
// demo (apps/demo/src/servers.ts) builds it, with one feature of @perf switched off per variant:
//
//   node realistic-server.mjs <express|fastify|hono> <variant>
//
// Variants: off (PERF_ENABLED=false: the adapters and monitorDatabase install nothing), on (everything),
// no-context (the request context that carries db time to the request), no-store (no SqliteStore
// sink), no-process (no process watcher), no-id (requestIdHeader: false), no-db (the database not
// monitored, hence no context either), no-http (no HTTP adapter, the database monitored), and
// sampling-1 (on, sampling 1.0); floor (a hand-written HTTP hook, db not monitored) and floor-db (the
// whole job by hand: the HTTP hook, each query timed into an interned op, and its time carried to the
// request through an AsyncLocalStorage entered per request, as @perf's request context does);
// floor-store (floor-db, and its kept events persisted by the floor of a store: a hand-written sink
// posting each batch to a hand-written worker that inserts it, lib/floor-store.mjs).
//
// Started by realistic.mjs with an IPC channel: sends { ready: port }; answers { cmd: 'check' } with
// how many requests and queries its monitor recorded and { cmd: 'profile', ms } with where its CPU
// and allocations went over `ms` (bench/lib/profile.mjs); exits when the parent goes away.
// realistic.mjs --in-memory drives it over an in-memory connection instead ({ cmd: 'drive', n }).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { floorSink } from './lib/floor-store.mjs'
import { answerDrive, inMemoryConnection } from './lib/in-memory.mjs'
import { profileWindow } from './lib/profile.mjs'

const [framework, variant] = process.argv.slice(2)
const VARIANTS = [
  'off',
  'on',
  'no-context',
  'no-store',
  'no-process',
  'no-id',
  'no-db',
  'no-http',
  'sampling-1',
  'floor',
  'floor-db',
  'floor-store',
]
const ADMIN_PATH = '/admin/performance'

if (typeof process.send !== 'function') {
  console.error('realistic-server.mjs is started by realistic.mjs (it needs an IPC channel)')
  process.exit(2)
}
if (!VARIANTS.includes(variant)) {
  process.send({ error: `unknown variant ${variant}: expected one of ${VARIANTS.join(', ')}` })
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'perf-realistic-'))
const cleanup = () => rmSync(dir, { recursive: true, force: true })
process.on('disconnect', () => {
  cleanup()
  process.exit(0)
})

const { createMonitor } = await import('@perf/core')
const { watchProcess } = await import('@perf/core/node')
const { monitorDatabase, SqliteStore } = await import('@perf/sqlite')

/** A floor variant: the job written by hand (floor-db and floor-store also time the queries). */
const floorDb = variant === 'floor-db' || variant === 'floor-store'
const floor = variant === 'floor' || floorDb
const on = variant !== 'off' && !floor
const store = on && variant !== 'no-store' ? new SqliteStore({ path: join(dir, 'perf.db') }) : undefined
// The demo's monitor: short slices, its slow thresholds, default sampling.
const monitor = createMonitor({
  enabled: on,
  sliceMs: 10_000,
  windowMs: 900_000,
  slowMs: { default: 1000, http: 250, db: 100 },
  ...(variant === 'sampling-1' ? { sampling: 1 } : {}),
  sinks: store ? [store] : [],
})
if (on && variant !== 'no-process') watchProcess(monitor, { intervalMs: 2000, force: true })
if (variant === 'no-context') monitor.enableRequestContext = () => false

const db = new Database(join(dir, 'notes.db'))
db.pragma('journal_mode = WAL')
db.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`)
const insert = db.prepare(
  'INSERT INTO notes (title, body, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
)
for (let i = 0; i < 200; i++) {
  insert.run(`note ${i}`, `body of note ${i} `.repeat(8), 'latency sqlite', Date.now(), Date.now())
}
if (variant !== 'no-db') monitorDatabase(db, monitor, { sql: 'redacted' })
const cols = 'id, title, body, tags, created_at AS createdAt, updated_at AS updatedAt'
const getNote = db.prepare(`SELECT ${cols} FROM notes WHERE id = ?`)

class HttpError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}
const notes = {
  get(id) {
    const note = getNote.get(id)
    if (note === undefined) throw new HttpError(404, `note ${id} not found`)
    return note
  },
}
function toId(raw) {
  const id = Number(raw)
  if (!Number.isInteger(id) || id < 1) throw new HttpError(400, 'id must be a positive integer')
  return id
}

const http = on && variant !== 'no-http'
const perfOptions = variant === 'no-id' ? { requestIdHeader: false } : {}
const dashboardOptions = { token: 'bench-token-0123456789', title: 'bench' }

/** The floor: the job itself, written by hand the framework's documented way (see http-server.mjs). */
let floorOp
let idCounter = 0
const idPrefix = `${process.pid.toString(36)}-`
/** floor-db: the request's db time, carried by hand. */
let floorContext
if (floor) {
  const sinks = variant === 'floor-store' ? [await floorSink(join(dir, 'floor.db'))] : []
  const m = createMonitor({ sampling: 0.1, sinks })
  floorOp = m.op('http', 'GET /notes/:id')
  monitor.snapshot = m.snapshot.bind(m)
  if (floorDb) {
    const { AsyncLocalStorage } = await import('node:async_hooks')
    floorContext = new AsyncLocalStorage()
    const dbOp = m.op('db', 'SELECT notes')
    const rawGet = getNote.get
    const hr = process.hrtime
    getNote.get = function get(id) {
      const t = hr()
      const out = rawGet.call(this, id)
      const d = hr(t)
      const ms = d[0] * 1e3 + d[1] / 1e6
      dbOp.record(ms)
      const ctx = floorContext.getStore()
      if (ctx !== undefined) {
        ctx.dbQueries++
        ctx.dbMs += ms
      }
      return out
    }
  }
}

let port
/** The Node HTTP server, for counting requests while profiling. */
let nodeServer
/** realistic.mjs --in-memory's connection, opened by its first `{ cmd: 'drive' }`. */
let memory
try {
  if (framework === 'express') port = await startExpress()
  else if (framework === 'fastify') port = await startFastify()
  else if (framework === 'hono') port = await startHono()
  else throw new Error(`unknown framework ${framework}`)
  process.send({ ready: port })
} catch (err) {
  process.send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  process.exit(1)
}

process.on('message', (msg) => {
  if (msg?.cmd === 'check') {
    const snap = monitor.snapshot({ recent: 0, slow: 0 })
    const count = (type) => (snap.types[type]?.ops ?? []).reduce((n, op) => n + op.totalCount, 0)
    process.send({ check: { http: count('http'), db: count('db'), kept: snap.totals.kept } })
  } else if (msg?.cmd === 'drive') {
    // Every answer carries an id where the floor or the adapter sends one.
    const sendsId = floor || (http && variant !== 'no-id')
    const open = () => (memory ??= inMemoryConnection(nodeServer, `127.0.0.1:${port}`, '/notes/7'))
    answerDrive(open, msg, sendsId, `${framework} ${variant}`).then((r) => process.send({ drive: r }))
  } else if (msg?.cmd === 'profile') {
    profileWindow({ ...msg, server: nodeServer }).then(
      (r) => process.send({ profile: r }),
      (err) => process.send({ profile: { error: String(err?.stack ?? err) } }),
    )
  }
})

async function startExpress() {
  const { default: express } = await import('express')
  const { perf, dashboard } = await import('@perf/express')
  const app = express()
  app.disable('x-powered-by')
  if (floor) {
    app.use((_req, res, next) => {
      const t0 = performance.now()
      res.setHeader('x-request-id', idPrefix + ++idCounter)
      res.on('finish', () => floorOp.record(performance.now() - t0))
      floorContext?.enterWith({ dbQueries: 0, dbMs: 0 })
      next()
    })
  }
  if (http) app.use(perf(monitor, perfOptions))
  app.use(ADMIN_PATH, dashboard(monitor, dashboardOptions))
  app.use(express.json({ limit: '64kb' }))
  app.get('/notes/:id', (req, res) => {
    res.json(notes.get(toId(req.params.id)))
  })
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' })
  })
  app.use((err, _req, res, _next) => {
    res.status(err instanceof HttpError ? err.status : 500).json({ error: String(err.message) })
  })
  return new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err) => (err ? reject(err) : resolve(s.address().port)))
    nodeServer = s
  })
}

async function startFastify() {
  const { default: Fastify } = await import('fastify')
  const { perf, dashboard } = await import('@perf/fastify')
  const app = Fastify({ logger: false, forceCloseConnections: true })
  if (floor) {
    app.decorateRequest('t0', 0)
    app.addHook('onRequest', (request, reply, done) => {
      request.t0 = performance.now()
      reply.header('x-request-id', idPrefix + ++idCounter)
      floorContext?.enterWith({ dbQueries: 0, dbMs: 0 })
      done()
    })
    app.addHook('onResponse', (request, _reply, done) => {
      floorOp.record(performance.now() - request.t0)
      done()
    })
  }
  if (http) await app.register(perf, { monitor, ...perfOptions })
  await app.register(dashboard, { monitor, ...dashboardOptions, prefix: ADMIN_PATH })
  app.setErrorHandler((err, _req, reply) => {
    void reply.status(err instanceof HttpError ? err.status : 500).send({ error: String(err.message) })
  })
  app.setNotFoundHandler((_req, reply) => {
    void reply.status(404).send({ error: 'not found' })
  })
  app.get('/notes/:id', async (req) => notes.get(toId(req.params.id)))
  await app.listen({ port: 0, host: '127.0.0.1' })
  nodeServer = app.server
  return app.server.address().port
}

async function startHono() {
  const { Hono } = await import('hono')
  const { serve } = await import('@hono/node-server')
  const { perf, dashboard } = await import('@perf/hono')
  const app = new Hono()
  if (variant === 'floor') {
    app.use('*', async (c, next) => {
      const t0 = performance.now()
      c.header('x-request-id', idPrefix + ++idCounter)
      await next()
      floorOp.record(performance.now() - t0)
    })
  } else if (floorDb) {
    app.use('*', async (c, next) => {
      const t0 = performance.now()
      c.header('x-request-id', idPrefix + ++idCounter)
      await floorContext.run({ dbQueries: 0, dbMs: 0 }, next)
      floorOp.record(performance.now() - t0)
    })
  }
  if (http) app.use('*', perf(monitor, perfOptions))
  app.route(ADMIN_PATH, dashboard(monitor, dashboardOptions))
  app.get('/notes/:id', (c) => c.json(notes.get(toId(c.req.param('id')))))
  app.notFound((c) => c.json({ error: 'not found' }, 404))
  app.onError((err, c) => c.json({ error: String(err.message) }, err instanceof HttpError ? err.status : 500))
  return new Promise((resolve) => {
    nodeServer = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port))
  })
}
