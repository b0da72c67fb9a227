#!/usr/bin/env node
// SQLite benchmark: monitored vs bare better-sqlite3 (point get by primary key, 1,000 inserts in a
// transaction), the SQL normaliser on 128 KB of adversarial SQL, and how long a SqliteStore flush
// of 1,000 events blocks the event loop, a 7-day history range over 120 ops and a retention prune
// of 500,000 rows (bench/lib/store-history.mjs). Run: pnpm bench:sqlite [--quick] [--rounds N]
// Imports the built packages: run `pnpm build` first (pnpm bench does).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMonitor } from '@perf/core'
import { monitorDatabase, redactSql, SqliteStore } from '@perf/sqlite'
// Not exported: the store's own hand-over, measured beside the structured clone it replaced.
import { packItems } from '../packages/sqlite/dist/handover.js'
import Database from 'better-sqlite3'
import { checkFlags, emit, flag, headComment, median, quick, round, summary } from './lib/result.mjs'
import { COUNTED_VARIANTS, VARIANTS } from './lib/sqlite-variants.mjs'
import * as instructions from './lib/instructions.mjs'
import { LOAD_VARIANTS, loadedMonitor, RATE } from './lib/sqlite-loaded.mjs'
import { benchHistory } from './lib/store-history.mjs'
checkFlags(headComment(import.meta.url), ['rounds'], ['quick'])

const ROUNDS = Number(flag('rounds', quick ? '4' : '31'))
const GETS = quick ? 20_000 : 50_000
const ROWS = 10_000
const dir = mkdtempSync(join(tmpdir(), 'perf-bench-sqlite-'))
const file = join(dir, 'bench.db')

let failed = false
const check = (ok, what) => {
  if (!ok) {
    failed = true
    console.error(`correctness failure: ${what}`)
  }
}

/** Creates the `notes` table of `ROWS` rows in `db` (the same rows in every file). */
function writeNotes(db) {
  db.exec(
    'CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)',
  )
  const fill = db.prepare('INSERT INTO notes (user_id, title, body) VALUES (?, ?, ?)')
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) fill.run(i % 97, `title ${i}`, `body of note ${i} `.repeat(4))
  })()
}

// One file, two connections to it: one bare, one monitored.
const setup = new Database(file)
setup.pragma('journal_mode = WAL')
writeNotes(setup)
setup.exec(`
  CREATE TABLE bare_ins (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT, body TEXT);
  CREATE TABLE mon_ins (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT, body TEXT);
`)
setup.close()

const monitor = createMonitor({ sampling: 0.1 })
const bare = new Database(file)
const mon = monitorDatabase(new Database(file), monitor, { sql: 'redacted' })
for (const db of [bare, mon]) db.pragma('synchronous = NORMAL')

const ids = Int32Array.from({ length: 4096 }, () => 1 + Math.floor(Math.random() * ROWS))
const getBare = bare.prepare('SELECT * FROM notes WHERE id = ?')
const getMon = mon.prepare('SELECT * FROM notes WHERE id = ?')
let sink = 0
function gets(stmt, n) {
  for (let i = 0; i < n; i++) sink += stmt.get(ids[i & 4095]).user_id
}

function inserter(db, table) {
  const ins = db.prepare(`INSERT INTO ${table} (user_id, title, body) VALUES (?, ?, ?)`)
  const clear = db.prepare(`DELETE FROM ${table}`)
  const txn = db.transaction(() => {
    for (let i = 0; i < 1000; i++) ins.run(i, 'a title', 'a body of some length for the row')
  })
  return { txn, clear }
}
const insBare = inserter(bare, 'bare_ins')
const insMon = inserter(mon, 'mon_ins')

/**
 * Interleaved rounds; the order alternates per round so neither side always runs warm. Each round is
 * timed by the process's CPU time (user + system), which other processes on a busy machine disturb
 * far less than wall time; the ratio is taken per round (neighbouring runs) and its median reported.
 */
function race(a, b, run) {
  const ta = []
  const tb = []
  run(a)
  run(b)
  for (let r = 0; r < ROUNDS; r++) {
    const order =
      r % 2 === 0
        ? [
            [a, ta],
            [b, tb],
          ]
        : [
            [b, tb],
            [a, ta],
          ]
    for (const [side, times] of order) {
      const c0 = process.cpuUsage()
      run(side)
      const c = process.cpuUsage(c0)
      times.push((c.user + c.system) * 1000)
    }
  }
  const ratios = ta.map((t, i) => tb[i] / t)
  return { bare: summary(ta), monitored: summary(tb), ratio: summary(ratios) }
}

/**
 * What @perf adds to one execution, beside the job's floors measured in the same place: each variant
 * of lib/sqlite-variants.mjs (the native call, the two clock reads, the floors, @perf) timed in a
 * process of its own beside the native call (lib/sqlite-timed.mjs), in blocks of 400 gets or of a
 * 200-insert transaction, the two in turn, CPU time per block. Two processes per variant, their
 * per-block differences to the native call pooled and their median taken (drift between blocks
 * cancels; a process's own luck, where its heap and code landed, is halved). The clock costs more
 * here than in a loop of clock reads alone: between two SQLite calls neither the clock's code nor the
 * monitor's is in the CPU's caches, which is what an app pays.
 */
function perStatement() {
  const timedFile = join(dir, 'timed.db')
  const seed = new Database(timedFile)
  seed.pragma('journal_mode = WAL')
  writeNotes(seed)
  seed.close()
  const script = new URL('./lib/sqlite-timed.mjs', import.meta.url).pathname
  const blocks = quick ? 150 : 1200
  const PROCESSES = 2
  const measured = VARIANTS.filter((v) => v !== 'native')
  const over = { get: {}, insert: {} }
  for (const what of ['get', 'insert']) {
    const diffs = Object.fromEntries(measured.map((v) => [v, []]))
    for (let p = 0; p < PROCESSES; p++) {
      for (const v of measured) {
        const r = spawnSync(process.execPath, [script, timedFile, what, v, String(blocks / PROCESSES)], {
          encoding: 'utf8',
        })
        if (r.status !== 0) {
          check(false, `${what} ${v}: ${r.stderr.trim() || `exit status ${r.status}`}`)
          continue
        }
        diffs[v].push(...JSON.parse(r.stdout).diffs)
      }
    }
    for (const v of measured) over[what][v] = diffs[v].length > 0 ? median(diffs[v]) : Number.NaN
  }
  // Bytes allocated per execution beyond the native call: each variant in processes of its own, as
  // timed; the median over processes (what V8 inlines, and so what is left allocated, can differ
  // with the order it compiles things in, which differs between processes).
  const allocScript = new URL('./lib/sqlite-alloc.mjs', import.meta.url).pathname
  const ALLOC_VARIANTS = ['floor', 'floor-wrapper', 'perf']
  const ALLOC_PROCESSES = quick ? 1 : 3
  const bytes = { get: {}, insert: {} }
  for (const what of ['get', 'insert']) {
    for (const v of ALLOC_VARIANTS) {
      const per = []
      for (let p = 0; p < ALLOC_PROCESSES; p++) {
        const r = spawnSync(process.execPath, [allocScript, timedFile, what, v], { encoding: 'utf8' })
        if (r.status !== 0) {
          check(false, `${what} ${v} allocations: ${r.stderr.trim() || `exit status ${r.status}`}`)
          continue
        }
        const { native, variant } = JSON.parse(r.stdout)
        per.push(variant - native)
      }
      bytes[what][v] = { median: per.length > 0 ? median(per) : Number.NaN, all: per }
    }
  }
  const shaped = (o) => ({
    clock: o.clock,
    floor: o.floor,
    floorContext: o['floor-context'],
    floorDetails: o['floor-details'],
    floorWrapper: o['floor-wrapper'],
    perf: o.perf,
  })
  const getOver = { ...shaped(over.get), bytes: bytes.get }
  const insOver = { ...shaped(over.insert), bytes: bytes.insert }
  for (const [what, o] of [
    ['point get', getOver],
    ['insert', insOver],
  ]) {
    console.log(
      `${what}, one statement: @perf adds ${round(o.perf)} ns over the native call; its two clock reads there ${round(o.clock)} ns (target ≤ ${round(o.clock + 40)} ns); the floor written inline (reads + op.record) ${round(o.floor)} ns, with the request context ${round(o.floorContext)} ns, recording the statement's details too (@perf's whole job, inline) ${round(o.floorDetails)} ns; that job as a drop-in wrapper ${round(o.floorWrapper)} ns, @perf ${round(o.perf - o.floorWrapper)} ns over it`,
    )
  }
  return { get: getOver, insert: insOver, blocks, processes: PROCESSES, allocProcesses: ALLOC_PROCESSES }
}

/** How far apart the native call's two counts may be (instructions a get) for the counts to be shown. */
const MAX_COUNT_SPREAD = 100

/**
 * The same variants as {@link perStatement}, counted instead of timed: instructions and simulated
 * first-level cache misses per point get, under valgrind (lib/instructions.mjs,
 * lib/sqlite-instructions.mjs). Each variant's run minus a run that executes none, over the number
 * of executions; then minus the native call's. `undefined` when valgrind is not installed.
 */
async function countPerStatement() {
  if (!instructions.available()) {
    console.log(
      'instructions per statement: skipped (valgrind is not installed; Debian: apt-get install valgrind)',
    )
    return undefined
  }
  // --quick counts a short, barely warm run: its figures show only that the counting runs (CI's
  // quick round must fit its time limit on a slow host), not what a get costs.
  const n = quick ? 5_000 : 100_000
  // Long enough that nothing is compiled while a variant is counted (--trace-opt, Node 20 and 24):
  // after 20,000 gets Node 24 was still optimising the kept-event path (one get in ten), and each
  // compile counted as a few hundred instructions a get.
  const warm = quick ? 2_000 : 200_000
  const script = new URL('./lib/sqlite-instructions.mjs', import.meta.url).pathname
  // A file of its own in rollback-journal mode: the bench's WAL file changes as it is written, and
  // reading through a longer WAL costs each run a different number of instructions.
  const countFile = join(dir, 'count.db')
  const seed = new Database(countFile)
  writeNotes(seed)
  seed.close()
  const run = (v, k) =>
    instructions.countAsync(['--expose-gc', script, countFile, v, String(k), String(warm)])
  // Each variant over its own run of 0 executions (it warms the same code), per get. Two runs at a
  // time, one per core (counts do not depend on what else runs).
  const perGet = async (v) => {
    const [base, c] = await Promise.all([run(v, 0), run(v, n)])
    return {
      instructions: (c.instructions - base.instructions) / n,
      i1Misses: (c.i1Misses - base.i1Misses) / n,
    }
  }
  const per = {}
  for (const v of COUNTED_VARIANTS) per[v] = await perGet(v)
  // The native variant again: how far one count of the same work moves (the figures' precision).
  const again = await perGet('native')
  const spread = Math.abs(again.instructions - per.native.instructions)
  per.native = {
    instructions: (per.native.instructions + again.instructions) / 2,
    i1Misses: (per.native.i1Misses + again.i1Misses) / 2,
  }
  const over = (v) => ({
    instructions: per[v].instructions - per.native.instructions,
    i1Misses: per[v].i1Misses - per.native.i1Misses,
  })
  const out = {
    n,
    spread,
    native: per.native,
    clock: over('clock'),
    floor: over('floor'),
    floorContext: over('floor-context'),
    floorDetails: over('floor-details'),
    floorWrapper: over('floor-wrapper'),
    perf: over('perf'),
    // Through one call site reaching four statements, over the native call through the same site.
    nativeHelper: per['native-helper'],
    helper: {
      instructions: per['perf-helper'].instructions - per['native-helper'].instructions,
      i1Misses: per['perf-helper'].i1Misses - per['native-helper'].i1Misses,
    },
  }
  // Every variant makes the native call, and the floors and @perf the two clock reads as well: a count
  // below those is no cost but a run whose collector or compiler did other work than its baseline's
  // (seen on Node 20, where a variant counted hundreds of instructions a get below the native call).
  // Every variant calls the native method the same way (lib/sqlite-variants.mjs), so none is exempt.
  // The helper case is over the native call through its own call site. And the native call counted
  // twice must agree to within a tenth of what is measured (MAX_COUNT_SPREAD): on Node 20 it
  // moved by 871 in one run, wide enough for every test above to pass while @perf's count through
  // the helper came out 246 instructions below the native call.
  const ins = (k) => out[k].instructions
  out.consistent =
    spread <= MAX_COUNT_SPREAD &&
    ins('clock') >= -spread &&
    ['floor', 'floorContext', 'floorDetails', 'floorWrapper', 'perf'].every(
      (k) => ins(k) >= ins('clock') - spread,
    ) &&
    ins('helper') >= -spread
  const pair = (o) => `+${Math.round(o.instructions)} / +${Math.round(o.i1Misses)}`
  console.log(
    `point get, counted (valgrind, ${n} gets${quick ? ' after a short warm-up, --quick: these show only that the counting runs' : ''}): native ${Math.round(per.native.instructions)} instructions and ${Math.round(per.native.i1Misses)} I1 misses a get; over it (instructions / I1 misses), @perf ${pair(out.perf)}, the floor ${pair(out.floor)}, with the request context ${pair(out.floorContext)}, @perf's whole job inline ${pair(out.floorDetails)}, as a drop-in wrapper ${pair(out.floorWrapper)}, the two clock reads ${pair(out.clock)}; through one call site reaching four statements (a query helper), @perf ${pair(out.helper)} over the native call through that site; the native run repeated moved by ${Math.round(spread)} instructions a get`,
  )
  return out
}

console.log(`sqlite bench: ${ROUNDS} rounds, ${GETS} gets per round, monitor sampling 0.1`)
const g = race(getBare, getMon, (stmt) => gets(stmt, GETS))
const getNs = (s) => s.median / GETS
console.log(
  `point get: bare ${round(getNs(g.bare))} ns, monitored ${round(getNs(g.monitored))} ns, ratio ${round(g.ratio.median, 4)} (min ${round(g.ratio.min, 4)}, max ${round(g.ratio.max, 4)})`,
)
const per = perStatement()
let counted
try {
  counted = await countPerStatement()
  if (counted !== undefined && !counted.consistent && !quick) {
    console.log(
      `instructions per statement: left out, the counts are not consistent (the native call counted twice ${Math.round(counted.spread)} instructions a get apart, more than ${MAX_COUNT_SPREAD}; or a variant below the native call, or the floors or @perf below the two clock reads they make)`,
    )
    counted = undefined
  }
} catch (err) {
  // valgrind is a measuring tool: its failure is reported, and is not one of @perf's.
  console.log(`instructions per statement: not counted, valgrind failed: ${err.message}`)
}

const INS_REPEAT = quick ? 3 : 10
const t = race(insBare, insMon, (side) => {
  for (let k = 0; k < INS_REPEAT; k++) {
    side.txn()
    side.clear.run()
  }
})
// The DELETE is inside the timed loop on both sides, so it dilutes the ratio equally; it is small
// next to 1,000 inserts and keeps the table (and so the B-tree) the same size every round.
console.log(
  `1,000 inserts in a transaction: bare ${round(t.bare.median / INS_REPEAT / 1e6)} ms, monitored ${round(t.monitored.median / INS_REPEAT / 1e6)} ms, ratio ${round(t.ratio.median, 4)} (min ${round(t.ratio.min, 4)}, max ${round(t.ratio.max, 4)})`,
)

const otel = await raceOtel()

check(sink > 0, 'point gets returned no rows')
const snap = monitor.snapshot()
const ops = Object.fromEntries((snap.types.db?.ops ?? []).map((o) => [o.name, o.count]))
check(ops['SELECT notes'] === GETS * (ROUNDS + 1), `SELECT notes counted ${ops['SELECT notes']}`)
check(
  ops['INSERT mon_ins'] === 1000 * INS_REPEAT * (ROUNDS + 1),
  `INSERT mon_ins counted ${ops['INSERT mon_ins']}`,
)

/**
 * OpenTelemetry has no better-sqlite3 instrumentation of its own; the community one,
 * opentelemetry-plugin-better-sqlite3, is measured the same way against the same bare connection,
 * exporting to an in-memory exporter through a BatchSpanProcessor. It patches better-sqlite3's
 * Database.prototype when the module is required after it is enabled and wraps each statement its
 * patched prepare() returns; the bare statements were prepared before, so they stay unpatched while it
 * is enabled for this race, and it is disabled afterwards.
 */
async function raceOtel() {
  let mod
  try {
    mod = await import('opentelemetry-plugin-better-sqlite3')
  } catch (err) {
    console.log(`OpenTelemetry better-sqlite3 instrumentation not installed: ${err.message}`)
    return undefined
  }
  const { trace } = await import('@opentelemetry/api')
  const { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } = await import(
    '@opentelemetry/sdk-trace-base'
  )
  const { createRequire } = await import('node:module')
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] })
  trace.setGlobalTracerProvider(provider)
  const instrumentation = new mod.BetterSqlite3Instrumentation()
  instrumentation.setTracerProvider(provider)
  instrumentation.enable()
  const Patched = createRequire(import.meta.url)('better-sqlite3')
  const db = new Patched(file)
  db.pragma('synchronous = NORMAL')
  const getOtel = db.prepare('SELECT * FROM notes WHERE id = ?')
  db.exec(
    'CREATE TABLE IF NOT EXISTS otel_ins (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT, body TEXT)',
  )
  const insOtel = inserter(db, 'otel_ins')
  let spans = 0
  const drain = async () => {
    await provider.forceFlush()
    spans += exporter.getFinishedSpans().length
    exporter.reset()
  }
  const og = race(getBare, getOtel, (stmt) => gets(stmt, GETS))
  await drain()
  const ot = race(insBare, insOtel, (side) => {
    for (let k = 0; k < INS_REPEAT; k++) {
      side.txn()
      side.clear.run()
    }
  })
  await drain()
  instrumentation.disable()
  // The batch processor drops spans past its queue (2,048), so far fewer than executed are exported.
  check(spans > 1000, `OpenTelemetry exported ${spans} spans: its statements were not traced`)
  db.close()
  await provider.shutdown()
  console.log(
    `OpenTelemetry (opentelemetry-plugin-better-sqlite3): point get ratio ${round(og.ratio.median, 4)}, 1,000 inserts ratio ${round(ot.ratio.median, 4)}; ${spans} spans exported (the batch processor drops past its queue by design)`,
  )
  return { get: og, insert: ot, spans }
}

// Normaliser: 128 KB of inputs built to break naive scanners (long quote runs, unterminated
// comments, endless IN lists, number/identifier soup).
const size = 128 * 1024
const adversarial = {
  quotes: "'".repeat(size),
  'escaped quotes': "''".repeat(size / 2),
  'comment openers': '/*'.repeat(size / 2),
  'IN lists': 'IN (1,'.repeat(size / 6),
  'IN lists closed': 'IN (1) '.repeat(size / 7),
  'blob openers': "X'".repeat(size / 2),
  numbers: '1e'.repeat(size / 2),
  brackets: '['.repeat(size),
  'realistic long': `SELECT * FROM t WHERE a = 'x' AND b IN (${'123, '.repeat(size / 5)}) -- c`.slice(
    0,
    size,
  ),
}
const normRows = []
for (const [name, sql] of Object.entries(adversarial)) {
  const times = []
  for (let r = 0; r < (quick ? 3 : 9); r++) {
    const t0 = process.hrtime.bigint()
    const out = redactSql(sql)
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    check(out.length <= 2000, `normaliser output length ${out.length}`)
  }
  normRows.push([name, summary(times)])
}
const worst = normRows.reduce((m, [, s]) => Math.max(m, s.median), 0)
for (const [name, s] of normRows)
  console.log(`normaliser, 128 KB ${name}: ${round(s.median)} ms (max ${round(s.max)})`)

// Store flush: 1,000 realistic events in one batch; the batch's synchronous time is what blocks.
const storeFile = join(dir, 'perf.db')
// In-thread (thread: false): the batch's time is then the event loop's; with the default worker it
// is the worker's, and the app thread's share is the loaded-app comparison below.
const store = new SqliteStore({
  path: storeFile,
  flushIntervalMs: 3_600_000,
  batchSize: 1000,
  maxQueue: 100_000,
  thread: false,
})
const events = Array.from({ length: 1000 }, (_, i) => ({
  type: 'db',
  name: 'SELECT notes',
  timestamp: Date.now(),
  durationMs: 0.05 + (i % 7),
  pid: process.pid,
  error: i % 50 === 0 ? 'SQLITE_BUSY: database is locked' : null,
  slow: false,
  requestId: `req-${i}`,
  metadata: { sql: 'SELECT * FROM notes WHERE id = ? AND user_id IN (?)', rows: 1 },
}))
const blocks = []
for (let r = 0; r < (quick ? 3 : 15); r++) {
  store.write(events)
  await store.flush()
  blocks.push(store.stats().lastBatchMs)
}
const flushStats = summary(blocks)
check(store.stats().persisted === blocks.length * 1000, `store persisted ${store.stats().persisted}`)
await store.close()
console.log(
  `SqliteStore flush of 1,000 events in-thread (thread: false) blocks the event loop: ${round(flushStats.median)} ms (max ${round(flushStats.max)})`,
)

// The hand-over to the worker, on the app's thread: what the store does (each slice of 100 written
// into columns by @perf/sqlite's src/handover.ts, and posted with its arrays transferred), beside
// the structured clone of the same items (V8's serialiser: what the floor does, and the store did
// before) in the same slices, as one message, and as one JSON string. On a MessageChannel.
const channel = new MessageChannel()
channel.port2.on('message', () => {})
channel.port2.unref()
const batchItems = events.map((e) => ({ k: 0, e }))
const handover = { packedSlice: [], packedTotal: [], cloneSlice: [], cloneTotal: [], clone: [], json: [] }
for (let r = 0; r < 100; r++) {
  let t0 = performance.now()
  channel.port1.postMessage(batchItems)
  handover.clone.push(performance.now() - t0)
  for (const [way, post] of [
    [
      'packed',
      (i) => {
        const { packed, transfer } = packItems(batchItems, i, i + 100)
        channel.port1.postMessage({ op: 'stage', packed }, transfer)
      },
    ],
    ['clone', (i) => channel.port1.postMessage({ op: 'stage', items: batchItems.slice(i, i + 100) })],
  ]) {
    // Slices of 100, the event loop given back between them: the longest block is one slice's.
    let longest = 0
    let total = 0
    for (let i = 0; i < batchItems.length; i += 100) {
      t0 = performance.now()
      post(i)
      const ms = performance.now() - t0
      longest = Math.max(longest, ms)
      total += ms
    }
    handover[`${way}Slice`].push(longest)
    handover[`${way}Total`].push(total)
  }
  t0 = performance.now()
  channel.port1.postMessage(JSON.stringify(batchItems))
  handover.json.push(performance.now() - t0)
}
channel.port1.close()
const handoverStats = Object.fromEntries(Object.entries(handover).map(([k, v]) => [k, summary(v)]))
console.log(
  `hand-over of 1,000 events to the worker in slices of 100: in columns, longest block ${round(handoverStats.packedSlice.median)} ms, whole batch ${round(handoverStats.packedTotal.median)} ms; structured clone, longest ${round(handoverStats.cloneSlice.median)} ms, whole batch ${round(handoverStats.cloneTotal.median)} ms; as one structured clone: ${round(handoverStats.clone.median)} ms; as one JSON string: ${round(handoverStats.json.median)} ms`,
)

// A loaded app (lib/sqlite-loaded.mjs, in a process of its own; see there why): event-loop delay with
// the store off, beside the floor (a hand-written worker sink), in its worker and in-thread;
// interleaved rounds, order rotating. Each variant's median of rounds, and each difference as the
// median of its per-round differences (neighbouring runs: drift between rounds cancels).
const LOAD_MS = quick ? 1500 : 3000
const LOAD_ROUNDS = quick ? 2 : 7
const loadRun = spawnSync(
  process.execPath,
  [new URL('./lib/sqlite-loaded.mjs', import.meta.url).pathname, dir, String(LOAD_ROUNDS), String(LOAD_MS)],
  { encoding: 'utf8' },
)
check(loadRun.status === 0, `loaded app: ${loadRun.stderr.trim() || `exit status ${loadRun.status}`}`)
const loaded =
  loadRun.status === 0
    ? JSON.parse(loadRun.stdout)
    : Object.fromEntries(
        LOAD_VARIANTS.map((v) => [v, { p99: [Number.NaN], max: [Number.NaN], persisted: 0 }]),
      )
const loadRows = LOAD_VARIANTS.map((v) => ({
  variant: v,
  p99: summary(loaded[v].p99).median,
  max: summary(loaded[v].max).median,
  persisted: loaded[v].persisted,
}))
check(
  loadRows.slice(1).every((row) => row.persisted > 0),
  'a loaded store persisted nothing',
)
/** `a` minus `b` in `field` (p99 or max): the median of the per-round differences. */
const pairedDiff = (a, b, field) => median(loaded[a][field].map((x, i) => x - loaded[b][field][i]))
const delay = {
  workerOff: pairedDiff('worker', 'off', 'p99'),
  floorOff: pairedDiff('floor', 'off', 'p99'),
  workerFloor: pairedDiff('worker', 'floor', 'p99'),
  inThreadOff: pairedDiff('in-thread', 'off', 'p99'),
  workerOffMax: pairedDiff('worker', 'off', 'max'),
  workerFloorMax: pairedDiff('worker', 'floor', 'max'),
  inThreadOffMax: pairedDiff('in-thread', 'off', 'max'),
}
console.log(
  `loaded app, ${RATE} kept events/s into the store, event-loop delay (median of ${LOAD_ROUNDS} rounds):`,
)
console.log('  store       p99 ms   max ms   events persisted   p99 per round')
for (const row of loadRows) {
  console.log(
    `  ${row.variant.padEnd(10)}  ${String(round(row.p99)).padStart(6)}   ${String(round(row.max)).padStart(6)}   ${String(row.persisted).padEnd(16)}   ${loaded[row.variant].p99.map((x) => round(x)).join(', ')}`,
  )
}
const [off, floor, onWorker, inThread] = loadRows
console.log(
  `  per-round differences, median: worker - off: p99 ${round(delay.workerOff)} ms, max ${round(delay.workerOffMax)} ms; floor - off: p99 ${round(delay.floorOff)} ms; worker - floor: p99 ${round(delay.workerFloor)} ms, max ${round(delay.workerFloorMax)} ms; in-thread - off: p99 ${round(delay.inThreadOff)} ms, max ${round(delay.inThreadOffMax)} ms`,
)

// What persisting one kept event costs in CPU (every thread of the process: the store's worker
// included), beside the floor's hand-written worker sink: 20,000 events recorded in chunks of 1,000
// (the event loop given back between them), from the first record until the sink has written the last,
// minus the same run with no sink. Interleaved rounds, order alternating, median of rounds.
const CPU_EVENTS = quick ? 5_000 : 20_000
const CPU_ROUNDS = quick ? 2 : 7
const cpuRuns = { off: [], floor: [], worker: [] }
// Round -1 warms every variant and is not counted: the first run in this process compiles the
// monitor's record path, and with 2 rounds (--quick) that run's cost put the store 31 µs an event
// below no sink.
for (let r = -1; r < CPU_ROUNDS; r++) {
  const order = r % 2 === 0 ? ['off', 'floor', 'worker'] : ['worker', 'floor', 'off']
  for (const variant of order) {
    const { m, sink } = await loadedMonitor(variant, join(dir, `cpu-${variant}-${r}.db`))
    const c0 = process.cpuUsage()
    // 1,000 events every 20 ms: under the monitor's sink queue limit (10,000 per interval) and the store's.
    for (let n = 0; n < CPU_EVENTS; ) {
      for (const end = n + 1000; n < end; n++) m.record('http', `GET /notes/${n % 50}`, 0.5 + (n % 13) * 0.1)
      await new Promise((r) => setTimeout(r, 20))
    }
    await m.close()
    if (sink !== undefined) await sink.close()
    const c = process.cpuUsage(c0)
    check(
      sink === undefined || sink.stats().persisted >= CPU_EVENTS + 1000,
      `${variant} wrote ${sink?.stats().persisted} of ${CPU_EVENTS + 1000}`,
    )
    if (r >= 0) cpuRuns[variant][r] = (c.user + c.system) / CPU_EVENTS
  }
}
const cpuOver = (v) => summary(cpuRuns[v].map((us, r) => us - cpuRuns.off[r])).median
const storeCpu = cpuOver('worker')
const floorCpu = cpuOver('floor')
console.log(
  `CPU per kept event written (all threads, over no sink): SqliteStore ${round(storeCpu)} µs, the floor (hand-written worker sink) ${round(floorCpu)} µs`,
)

const HISTORY_DAYS = quick ? 1 : 7
const PRUNE_ROWS = quick ? 50_000 : 500_000
const hist = await benchHistory({ dir, days: HISTORY_DAYS, ops: 120, prune: PRUNE_ROWS })
check(hist.count === hist.expected, `history counted ${hist.count} events of ${hist.expected}`)
check(hist.remaining === 0, `the prune left ${hist.remaining} expired rows`)
const ms = (w) =>
  `${round(w.ms)} ms (CPU ${round(w.cpuMs)} ms), longest block ${round(w.longestMs)} ms (CPU ${round(w.longestCpuMs)} ms), heap +${round(w.heapMB)} MB`
console.log(
  `history, ${HISTORY_DAYS}-day range over 120 ops (${hist.rows} minute rows), types only: ${ms(hist.range)}`,
)
console.log(`history, the same with per-op points: ${ms(hist.perOp)}`)
console.log(
  `roll-up of a version-1 file of ${hist.rows} minute rows, in the background: open ${round(hist.rollup.result)} ms, ${ms(hist.rollup)}`,
)
console.log(`retention prune of ${PRUNE_ROWS} expired events: ${ms(hist.prune)}`)

bare.close()
mon.close()
await monitor.close()
rmSync(dir, { recursive: true, force: true })

const r4 = (x) => round(x, 4)
emit({
  title: 'SQLite: monitored vs bare better-sqlite3',
  command: 'pnpm bench:sqlite',
  rows: [
    ...[
      ['point get()', per.get],
      ['insert in a transaction', per.insert],
    ].flatMap(([what, o]) => [
      {
        name: `${what}: ns @perf adds per statement over the native call (one statement, sampling 0.1)`,
        value: round(o.perf),
        unit: 'ns',
        target: `≤ 2 clock reads + 40 ns = ${round(o.clock + 40)} ns`,
        pass: o.perf <= o.clock + 40,
        note: `the two process.hrtime() reads cost ${round(o.clock)} ns in the same place, measured in the same run`,
      },
      {
        name: `${what}: the floor, two clock reads and one op.record written by hand where the statement runs, over the native call`,
        value: round(o.floor),
        unit: 'ns',
        note: `with the request context (an AsyncLocalStorage read) ${round(o.floorContext)} ns; @perf over this floor: ${round(o.perf - o.floor)} ns`,
      },
      {
        name: `${what}: @perf/sqlite's whole job by hand, written where the statement runs (the two reads, the request context, one op.record with the statement's details and the request's id), over the native call`,
        value: round(o.floorDetails),
        unit: 'ns',
        note: `over the floor with the request context (the details, which the one execution in ten that is kept stores): ${round(o.floorDetails - o.floorContext)} ns; @perf over this: ${round(o.perf - o.floorDetails)} ns`,
      },
      {
        name: `${what}: the floor as a drop-in wrapper, @perf/sqlite's whole job by hand (a function standing in for the statement's method: the two reads, the request context, one op.record with the statement's details), over the native call`,
        value: round(o.floorWrapper),
        unit: 'ns',
        note: `@perf over this floor: ${round(o.perf - o.floorWrapper)} ns; the wrapper over the same job written where the statement runs (the call alone): ${round(o.floorWrapper - o.floorDetails)} ns`,
      },
      {
        name: `${what}: bytes @perf allocates per statement beyond the native call (sampling 0.1)`,
        value: round(o.bytes.perf.median),
        unit: 'B',
        note: `the floor written where the statement runs ${round(o.bytes.floor.median)} B, as a drop-in wrapper ${round(o.bytes['floor-wrapper'].median)} B; median of ${o.bytes.perf.all.length} processes each (@perf: ${o.bytes.perf.all.map((b) => round(b)).join(', ')})`,
      },
    ]),
    ...(counted === undefined
      ? []
      : [
          {
            name: 'point get(): instructions @perf adds per statement over the native call, counted (valgrind)',
            value: Math.round(counted.perf.instructions),
            unit: 'instructions',
            note: `the hand-written floor adds ${Math.round(counted.floor.instructions)}, with the request context ${Math.round(counted.floorContext.instructions)}, @perf's whole job written inline ${Math.round(counted.floorDetails.instructions)}, as a drop-in wrapper ${Math.round(counted.floorWrapper.instructions)}, the two clock reads ${Math.round(counted.clock.instructions)}; the native get itself ${Math.round(counted.native.instructions)}, and its run repeated moved by ${Math.round(counted.spread)} a get`,
          },
          {
            name: 'point get() through one call site reaching four statements (a query helper): instructions @perf adds over the native call, counted (valgrind)',
            value: Math.round(counted.helper.instructions),
            unit: 'instructions',
            note: `one statement at its own call site: ${Math.round(counted.perf.instructions)} (the row above); the native get through that site itself ${Math.round(counted.nativeHelper.instructions)}`,
          },
          {
            name: 'point get(): first-level instruction-cache misses @perf adds per statement, counted (valgrind)',
            value: Math.round(counted.perf.i1Misses),
            unit: 'misses',
            note: `the floor adds ${Math.round(counted.floor.i1Misses)}, with the request context ${Math.round(counted.floorContext.i1Misses)}, the whole job inline ${Math.round(counted.floorDetails.i1Misses)}, as a drop-in wrapper ${Math.round(counted.floorWrapper.i1Misses)}, the two clock reads ${Math.round(counted.clock.i1Misses)}; the native get itself misses ${Math.round(counted.native.i1Misses)} times: between two SQLite calls little of anyone's code stays in a 32 KB cache`,
          },
        ]),
    {
      name: 'point get() by primary key, 10,000-row table (monitored / bare)',
      value: r4(g.ratio.median),
      unit: '×',
      min: r4(g.ratio.min),
      max: r4(g.ratio.max),
      target: '≤ 1.10',
      pass: g.ratio.median <= 1.1,
      note: `bare ${round(getNs(g.bare))} ns/op, monitored ${round(getNs(g.monitored))} ns/op, sampling 0.1`,
    },
    {
      name: '1,000 inserts in a transaction (monitored / bare)',
      value: r4(t.ratio.median),
      unit: '×',
      min: r4(t.ratio.min),
      max: r4(t.ratio.max),
      target: '≤ 1.05',
      pass: t.ratio.median <= 1.05,
      note: `bare ${round(t.bare.median / INS_REPEAT / 1e6)} ms, monitored ${round(t.monitored.median / INS_REPEAT / 1e6)} ms per transaction`,
    },
    ...(otel === undefined
      ? []
      : [
          {
            name: 'point get(): OpenTelemetry + opentelemetry-plugin-better-sqlite3 / bare',
            value: r4(otel.get.ratio.median),
            unit: '×',
            min: r4(otel.get.ratio.min),
            max: r4(otel.get.ratio.max),
            target: '> @perf',
            pass: otel.get.ratio.median > g.ratio.median,
            note: `@perf / bare in the same run: ${r4(g.ratio.median)} ×`,
          },
          {
            name: '1,000 inserts: OpenTelemetry + opentelemetry-plugin-better-sqlite3 / bare',
            value: r4(otel.insert.ratio.median),
            unit: '×',
            min: r4(otel.insert.ratio.min),
            max: r4(otel.insert.ratio.max),
            target: '> @perf',
            pass: otel.insert.ratio.median > t.ratio.median,
            note: `@perf / bare in the same run: ${r4(t.ratio.median)} ×; ${otel.spans} spans exported`,
          },
        ]),
    {
      name: 'SQL normaliser, 128 KB adversarial input (worst case of 9 inputs)',
      value: round(worst),
      unit: 'ms',
      target: '≤ 50 ms',
      pass: worst <= 50,
    },
    {
      name: `loaded app (${RATE} kept events/s): event-loop delay p99, store in its worker minus store off`,
      value: round(delay.workerOff, 3),
      unit: 'ms',
      target: '≤ 0.1 ms',
      pass: delay.workerOff <= 0.1,
      note: `off ${round(off.p99)} ms, floor ${round(floor.p99)} ms, worker ${round(onWorker.p99)} ms, in-thread ${round(inThread.p99)} ms`,
    },
    {
      name: 'loaded app: event-loop delay p99, the floor (a hand-written worker sink) minus store off',
      value: round(delay.floorOff, 3),
      unit: 'ms',
      note: 'what persisting the same events from a worker costs at the least on this machine: lib/floor-store-worker.mjs',
    },
    {
      name: 'loaded app: event-loop delay p99, store in its worker minus the floor',
      value: round(delay.workerFloor, 3),
      unit: 'ms',
      target: '≤ 0.1 ms',
      pass: delay.workerFloor <= 0.1,
      note: `max: worker ${round(onWorker.max)} ms, floor ${round(floor.max)} ms (per-round difference ${round(delay.workerFloorMax)} ms)`,
    },
    {
      name: 'SqliteStore: CPU per kept event written, every thread of the process, over no sink',
      value: round(storeCpu),
      unit: 'µs',
      note: `the floor (a hand-written worker sink, lib/floor-store-worker.mjs) ${round(floorCpu)} µs, so the store costs ${round(Math.abs(storeCpu - floorCpu))} µs ${storeCpu >= floorCpu ? 'more' : 'less'} (same table and indexes; the store also writes the slice aggregates with their hour roll-ups, hands batches over in slices and answers each with its status); ${CPU_EVENTS} events, median of ${CPU_ROUNDS} rounds`,
    },
    {
      name: 'loaded app: event-loop delay max, store in its worker minus store off',
      value: round(delay.workerOffMax, 3),
      unit: 'ms',
      target: '≤ 0.1 ms',
      pass: delay.workerOffMax <= 0.1,
      note: `off ${round(off.max)} ms, floor ${round(floor.max)} ms, worker ${round(onWorker.max)} ms, in-thread ${round(inThread.max)} ms`,
    },
    {
      name: "SqliteStore: hand-over of 1,000 events to the worker, longest block on the app's thread",
      value: round(handoverStats.packedSlice.median),
      unit: 'ms',
      min: round(handoverStats.packedSlice.min),
      max: round(handoverStats.packedSlice.max),
      note: `slices of 100 written into columns, arrays transferred, the event loop given back between them; the whole batch ${round(handoverStats.packedTotal.median)} ms of the app's thread. Structured clones of the same slices (the store's earlier way): longest ${round(handoverStats.cloneSlice.median)} ms, whole batch ${round(handoverStats.cloneTotal.median)} ms; the batch as one structured clone (the floor's way): ${round(handoverStats.clone.median)} ms, as one JSON string: ${round(handoverStats.json.median)} ms`,
    },
    {
      name: 'SqliteStore in-thread (thread: false): flush of 1,000 events blocks the event loop',
      value: round(flushStats.median),
      unit: 'ms',
      min: round(flushStats.min),
      max: round(flushStats.max),
      target: '≤ 10 ms',
      pass: flushStats.median <= 10,
    },
    {
      name: `SqliteStore.history(): ${HISTORY_DAYS}-day range, 120 ops, as the dashboard asks (total)`,
      value: round(hist.range.ms),
      unit: 'ms',
      target: '≤ 300 ms',
      pass: hist.range.ms <= 300,
      note: `CPU ${round(hist.range.cpuMs)} ms; ${hist.rows} minute rows, read from the hourly roll-ups, 2-hour buckets`,
    },
    {
      name: 'SqliteStore.history(): longest single event-loop block during that range',
      value: round(hist.range.longestMs),
      unit: 'ms',
      target: '≤ 50 ms',
      pass: hist.range.longestMs <= 50,
      note: `CPU in that block ${round(hist.range.longestCpuMs)} ms`,
    },
    {
      name: 'SqliteStore.history(): heap added by that range',
      value: round(hist.range.heapMB),
      unit: 'MB',
      target: '≤ 50 MB',
      pass: hist.range.heapMB <= 50,
      note: `with per-op points too: ${round(hist.perOp.ms)} ms (CPU ${round(hist.perOp.cpuMs)} ms), longest block ${round(hist.perOp.longestMs)} ms, heap +${round(hist.perOp.heapMB)} MB`,
    },
    {
      name: `SqliteStore retention prune of ${PRUNE_ROWS} expired events: longest event-loop block`,
      value: round(hist.prune.longestMs),
      unit: 'ms',
      target: '≤ 50 ms',
      pass: hist.prune.longestMs <= 50,
      note: `total ${round(hist.prune.ms)} ms (CPU ${round(hist.prune.cpuMs)} ms), in chunks of 2,000 rows`,
    },
    {
      name: `SqliteStore: roll-up of a version-1 file (${hist.rows} minute rows) into hours: longest event-loop block`,
      value: round(hist.rollup.longestMs),
      unit: 'ms',
      target: '≤ 50 ms',
      pass: hist.rollup.longestMs <= 50,
      note: `open ${round(hist.rollup.result)} ms; in the background, total ${round(hist.rollup.ms)} ms (CPU ${round(hist.rollup.cpuMs)} ms)`,
    },
  ],
  notes: [
    `Two connections to one WAL file (synchronous = NORMAL), one bare and one through monitorDatabase with a monitor at sampling 0.1; ${ROUNDS} interleaved rounds (order alternating), each side timed by the process's CPU time (user + system, less disturbed by other processes than wall time), the ratio taken per round and its median reported. Point gets: ${GETS} get() calls per round on random primary keys. Inserts: ${INS_REPEAT} transactions of 1,000 inserts per round, each followed by a DELETE of the rows on both sides.`,
    `Per statement (lib/sqlite-variants.mjs): every variant runs the same statement of one monitored connection (two connections differ by up to ±200 ns per point get here, more than what is measured): better-sqlite3's own method from the prototype (every variant calling it as a method of the statement, as @perf/sqlite and an app call it), that call between the two process.hrtime() reads @perf/sqlite makes, the same plus one op.record written by hand where the statement runs (the floor; with the request context: plus an AsyncLocalStorage read and the time added to the request's store when there is one), @perf/sqlite's whole job by hand where the statement runs (the two reads, the request context, one op.record with the statement's details and the request's id), the same job as a drop-in wrapper must do it (a function standing in for the statement's method, with that body), and the monitored method. Each variant runs in a process of its own beside the native call (lib/sqlite-timed.mjs), as in an app that runs only that one: in one process the variants would share the monitor's code and its type feedback, and each be compiled for the others' calls too. Blocks of 400 gets or of a 200-insert transaction, the variant and the native call in turn, CPU time per block; ${per.processes} processes per variant of ${per.blocks / per.processes} blocks each, the median of their pooled per-block differences to the native call. Bytes (lib/sqlite-alloc.mjs): the floors and @perf, each warmed beside the native call in a process of its own, then each run alone under V8's sampling heap profiler with the objects already collected included (every byte allocated, garbage too); the variant's bytes per execution minus the native call's, the median of ${per.allocProcesses} processes: V8 decides anew in every process what it inlines, and what it leaves out shows here (a clock read not inlined returns a 64-byte array, a duration passed to a call that is not inlined is boxed in 16 bytes). The clock costs more between two SQLite calls than in a loop of clock reads, and so does a record: neither's code nor data is still in the CPU's caches, which is what an app pays. What @perf/sqlite does beyond the floor written where the statement runs is the rest of its job (the request context, and the statement's details and request id, which the one execution in ten that is kept stores), not the call: that job written inline costs what it costs as a wrapper to within the run's noise, and counts more instructions (V8 compiles the longer loop less tightly). Each execution reads the clock twice, so the absolute overhead per query is two clock reads plus one record: with a bare insert near 0.9 µs the reads alone are several % of it, and the 1.05 insert ratio cannot be met while every execution is timed.`,
    `Counted: the same point-get variants, each in its own process under valgrind (cachegrind, Node with --single-threaded --predictable; lib/instructions.mjs and lib/sqlite-instructions.mjs), the native call and one variant warmed (200,000 gets each, so that nothing compiles while the variant is counted), as in an app that runs only that one, then a full collection, that variant run, and a full collection again; its instructions and simulated first-level cache misses over a run of the same variant that executes none, per get, minus the native call's (run first and again last, averaged; how far the two moved is given). The variants are those timed (lib/sqlite-variants.mjs), and two more: gets through one call site that reaches four statements of the same SQL in turn (an app's query helper), native and monitored, @perf's over the native call through that site. Every variant calls the native method as a method of the statement under a key of its own, as @perf/sqlite does and as an app calls \`stmt.get(key)\` (a \`nativeGet.call(stmt, key)\` is compiled differently: on Node 24 it counted 200 instructions fewer than the method call alone, and 190 more with the clock reads around it). Counts where the native call counted twice differs by more than ${MAX_COUNT_SPREAD} instructions a get, a variant comes out below the native call, or the floors or @perf below the two clock reads they all make, are left out of the table (seen on Node 20). The file is a copy of the notes table in rollback-journal mode, so no run reads through a WAL another left. The counts do not move with the load of the machine; they are those of this build.`,
    'OpenTelemetry: the community instrumentation opentelemetry-plugin-better-sqlite3 (OpenTelemetry has none of its own), a BasicTracerProvider with a BatchSpanProcessor into an in-memory exporter; its connection is a third one to the same file, raced against the same bare connection.',
    'Normaliser: nine 128 KB inputs built to defeat naive scanners (quote and comment runs, endless IN lists, blob and number soup); median of the runs per input, the worst input reported.',
    `History: a store file of ${HISTORY_DAYS} days × 120 ops of per-minute rows (histograms of ~40 events over ~20 buckets) and a process sample every 10 s, written as schema version 1 and opened by SqliteStore, which rolls the minutes up into hours in the background; then history({ since, until, bucketMs, ops: false, events: false }) as the dashboard's 7 d view asks, after one warm-up call. "Longest block" is the largest gap between turns of a setImmediate loop running beside the work (wall time; the CPU time within that gap is given too, as wall time on a shared machine includes other processes' turns); heap is the peak heapUsed sampled at every turn minus a post-GC baseline.`,
    'Store flush: 1,000 realistic events (SQL text, request id, some errors) written as one transaction to a WAL file by an in-thread store (thread: false); the synchronous time of the batch (what holds the event loop) is measured by the store itself (stats().lastBatchMs). With the default worker the batch runs there; the app thread pays the hand-over of the batch by postMessage, in slices of 100 items written into columns with the event loop given back between them (the hand-over row).',
    `Loaded app: a 1 ms timer records ${RATE / 1000} requests per tick into a monitor at sampling 1 (sinkIntervalMs 100), so ${RATE} kept events/s reach the store (full 1,000-event batches); monitorEventLoopDelay at 1 ms resolution over ${LOAD_MS / 1000} s per run; variants store off / the floor (a hand-written worker sink) / in its worker / in-thread, ${LOAD_ROUNDS} interleaved rounds with the order rotating, in a process of their own (lib/sqlite-loaded.mjs: run after the rest of this bench, in its filled heap, each variant's delays were up to twice as long and their differences moved by half a millisecond between runs); each variant's median of rounds, each difference the median of its per-round differences. History reads, the prune and the roll-up also run in the worker by default; their rows above are measured in-thread by bench/lib/store-history.mjs unless it says otherwise.`,
  ],
})
if (failed) process.exitCode = 1
