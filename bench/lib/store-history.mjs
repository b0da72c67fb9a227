// SqliteStore history and retention at scale, for bench/sqlite.mjs: a 7-day range over 120 ops
// (one per-minute row per op per minute, ≈ 1.2 M rows) read as the dashboard reads it, and a
// retention prune of 500,000 expired events. Each is timed in full, with the longest single
// event-loop block (the largest gap between turns of a setImmediate loop running beside it) and the
// heap it adds.
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { bucketIndex } from '@perf/core'
import { SqliteStore } from '@perf/sqlite'
import Database from 'better-sqlite3'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')

const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000

function cpuMs() {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

/**
 * Runs `work()` while a setImmediate loop measures how long the event loop is held at a time, and
 * samples the heap at every turn.
 * @template T
 * @param {() => Promise<T>} work
 */
async function watched(work) {
  gc()
  gc()
  const heap0 = process.memoryUsage().heapUsed
  let peak = heap0
  let longest = 0
  let longestCpu = 0
  let last = performance.now()
  let lastCpu = cpuMs()
  let running = true
  const tick = () => {
    const now = performance.now()
    const cpu = cpuMs()
    if (now - last > longest) longest = now - last
    if (cpu - lastCpu > longestCpu) longestCpu = cpu - lastCpu
    last = now
    lastCpu = cpu
    const h = process.memoryUsage().heapUsed
    if (h > peak) peak = h
    if (running) setImmediate(tick)
  }
  setImmediate(tick)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  last = t0
  lastCpu = cpuMs()
  const result = await work()
  const ms = performance.now() - t0
  const c = process.cpuUsage(c0)
  tick()
  running = false
  return {
    result,
    ms,
    cpuMs: (c.user + c.system) / 1000,
    longestMs: longest,
    longestCpuMs: longestCpu,
    heapMB: (peak - heap0) / 1048576,
  }
}

/** A histogram as the monitor would store it: `n` events spread around `ms`. */
function histogramJson(ms, n) {
  const lo = bucketIndex(ms * 0.6)
  const hi = bucketIndex(ms * 2.5)
  const counts = new Array(hi - lo + 1).fill(0)
  for (let i = 0; i < n; i++) counts[Math.floor((((i * 7919) % 1000) / 1000) * counts.length)]++
  return { json: JSON.stringify({ offset: lo, counts }), n }
}

/**
 * Builds a store file of `days` of per-minute rows for `ops` ops, written as version 1 of the schema
 * (minutes only), and opens it with the current SqliteStore, which migrates it and rolls its minutes
 * up into hours in the background; then reads the range as the dashboard does.
 * @param {{ dir: string, days: number, ops: number, prune: number }} o
 */
export async function benchHistory(o) {
  const file = join(o.dir, 'history.db')
  const now = Math.floor(Date.now() / MINUTE) * MINUTE
  const since = now - o.days * DAY
  const setup = new Database(file)
  setup.pragma('journal_mode = WAL')
  setup.exec(`
    CREATE TABLE perf_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO perf_meta VALUES ('schema_version', '1');
    CREATE TABLE perf_events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL,
      duration_ms REAL NOT NULL, pid INTEGER NOT NULL, error TEXT, slow INTEGER NOT NULL, request_id TEXT, metadata TEXT);
    CREATE INDEX perf_events_ts ON perf_events (ts);
    CREATE INDEX perf_events_op_ts ON perf_events (type, name, ts);
    CREATE TABLE perf_aggregates (type TEXT NOT NULL, name TEXT NOT NULL, minute INTEGER NOT NULL, count INTEGER NOT NULL,
      errors INTEGER NOT NULL, slow INTEGER NOT NULL, sum_ms REAL NOT NULL, min_ms REAL NOT NULL, max_ms REAL NOT NULL,
      histogram TEXT NOT NULL, PRIMARY KEY (type, name, minute)) WITHOUT ROWID;
    CREATE INDEX perf_aggregates_minute ON perf_aggregates (minute);
    CREATE TABLE perf_samples (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, pid INTEGER NOT NULL, data TEXT NOT NULL);
    CREATE INDEX perf_samples_ts ON perf_samples (ts);
  `)
  const ops = Array.from({ length: o.ops }, (_, i) => ({
    type: i % 3 === 2 ? 'db' : 'http',
    name: i % 3 === 2 ? `SELECT t${i}` : `GET /route/${i}`,
    hist: histogramJson(0.2 * 1.05 ** i, 40),
  }))
  const ins = setup.prepare('INSERT INTO perf_aggregates VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?, ?)')
  let rows = 0
  const t0 = performance.now()
  for (let m = since; m < now; m += HOUR) {
    setup.transaction(() => {
      for (let k = m; k < Math.min(now, m + HOUR); k += MINUTE) {
        for (const op of ops) {
          ins.run(op.type, op.name, k, op.hist.n, op.hist.n, 0.1, 10, op.hist.json)
          rows++
        }
      }
    })()
  }
  const sample = setup.prepare('INSERT INTO perf_samples (ts, pid, data) VALUES (?, 1, ?)')
  setup.transaction(() => {
    for (let t = since; t < now; t += 10_000)
      sample.run(t, '{"rssBytes":1,"heapUsedBytes":1,"eventLoopDelayP99Ms":1}')
  })()
  const buildS = (performance.now() - t0) / 1000
  setup.close()

  // Opening migrates the file (schema 2); its minutes are then rolled up into hours in the background.
  let store
  const rollup = await watched(async () => {
    const open0 = performance.now()
    store = new SqliteStore({ path: file, flushIntervalMs: 3_600_000, retentionDays: 0 })
    const openMs = performance.now() - open0
    while (store.stats().rollingUp) await new Promise((r) => setImmediate(r))
    return openMs
  })

  // What the dashboard asks for its 7-day view: whole-hour buckets, types only, process samples.
  const bucketMs = Math.ceil((o.days * DAY) / 120 / HOUR) * HOUR
  const query = { since, until: now, bucketMs, limit: 500, ops: false, events: false }
  await store.history(query)
  const range = await watched(() => store.history(query))
  const count = range.result.types.reduce((n, p) => n + p.count, 0)
  const perOp = await watched(() => store.history({ ...query, ops: true }))
  await store.close()

  // Retention: `prune` expired events, deleted in chunks when a store opens.
  const pfile = join(o.dir, 'prune.db')
  const pstore = new SqliteStore({ path: pfile, retentionDays: 0 })
  await pstore.close()
  const p = new Database(pfile)
  const pins = p.prepare(
    "INSERT INTO perf_events (ts, type, name, duration_ms, pid, error, slow, request_id, metadata) VALUES (?, 'http', 'GET /notes', 1.5, 1, NULL, 0, 'req', '{\"rows\":1}')",
  )
  const old = Date.now() - 40 * DAY
  p.transaction(() => {
    for (let i = 0; i < o.prune; i++) pins.run(old + i)
  })()
  p.close()
  const prune = await watched(async () => {
    const s = new SqliteStore({ path: pfile, flushIntervalMs: 3_600_000, retentionDays: 30 })
    // The prune runs in the background (in the store's worker) from the constructor; wait for the
    // last expired row to go, asking through the ts index every few ms.
    const r = new Database(pfile, { readonly: true })
    const expired = r.prepare('SELECT EXISTS (SELECT 1 FROM perf_events WHERE ts < ?)').pluck()
    const cutoff = Date.now() - 30 * DAY
    while (expired.get(cutoff) === 1) await new Promise((done) => setTimeout(done, 5))
    r.close()
    await s.close()
  })
  const left = new Database(pfile, { readonly: true })
  const remaining = left.prepare('SELECT count(*) FROM perf_events').pluck().get()
  left.close()

  return { rows, buildS, rollup, bucketMs, count, expected: rows * 40, range, perOp, prune, remaining }
}
