// Run by sqlite.mjs under cachegrind (lib/instructions.mjs):
//   node --expose-gc sqlite-instructions.mjs <db file> <variant> <executions> [<warm-up executions>]
// Opens the file sqlite.mjs made for it (its notes table), warms the native call and one variant of
// a point get, then runs `executions` gets of that variant: `native` (better-sqlite3's own method),
// `clock` (that call between the two process.hrtime() reads @perf/sqlite makes), `floor` (the same
// plus one op.record, hand-written), `floor-context` (the floor plus what carrying db time to the
// request costs: an AsyncLocalStorage read, and the time added to the request's store when there is
// one) or `perf` (the monitored statement, sampling 0.1, its request context on as an app with an
// HTTP adapter has it). A run of the same variant with 0 executions is its baseline. Each variant is
// warmed alone, as in an app that runs only one of them (warmed together, the floor's op.record and
// @perf's share their feedback), and long enough that nothing compiles while it is counted.
import { AsyncLocalStorage } from 'node:async_hooks'
import { createRequire } from 'node:module'
import { createMonitor } from '@perf/core'
import { monitorDatabase } from '@perf/sqlite'

const require = createRequire(import.meta.url)
const Database = require('better-sqlite3')
const VARIANTS = ['native', 'clock', 'floor', 'floor-context', 'perf']
const [file, variant, executions, warmUp = '200000'] = process.argv.slice(2)
const n = Number(executions)
const warm = Number(warmUp)
if (file === undefined || !VARIANTS.includes(variant) || !(n >= 0) || !(warm >= 0)) {
  console.error(`usage: sqlite-instructions.mjs <db file> ${VARIANTS.join('|')} <executions> [<warm-up>]`)
  process.exit(2)
}

// The same keys in every run (a fixed generator, not Math.random).
let x = 12345
const ids = Int32Array.from({ length: 4096 }, () => {
  x = (x * 1103515245 + 12345) & 0x7fffffff
  return 1 + (x % 10000)
})
const SQL = 'SELECT * FROM notes WHERE id = ?'
const db = new Database(file, { readonly: true })
const bare = db.prepare(SQL)
const monitored = monitorDatabase(db, createMonitor({ sampling: 0.1 }), { sql: 'redacted' }).prepare(SQL)
const nativeGet = Object.getPrototypeOf(bare).get
const floorOp = createMonitor({ sampling: 0.1 }).op('db', 'floor')
// The floor's request context: what @perf's holds per request (queries and their time), read as
// @perf reads its own; no request is in progress here, as in @perf's variant.
const requests = new AsyncLocalStorage()
const hr = process.hrtime
const ms = () => {
  const c = hr()
  return c[0] * 1e3 + c[1] / 1e6
}
let sink = 0
let clockSink = 0
const runs = {
  native(k) {
    for (let i = 0; i < k; i++) sink += nativeGet.call(bare, ids[i & 4095]).user_id
  },
  clock(k) {
    for (let i = 0; i < k; i++) {
      const t0 = ms()
      const row = nativeGet.call(bare, ids[i & 4095])
      clockSink += ms() - t0
      sink += row.user_id
    }
  },
  floor(k) {
    for (let i = 0; i < k; i++) {
      const t0 = ms()
      const row = nativeGet.call(bare, ids[i & 4095])
      floorOp.record(ms() - t0)
      sink += row.user_id
    }
  },
  'floor-context'(k) {
    for (let i = 0; i < k; i++) {
      const t0 = ms()
      const row = nativeGet.call(bare, ids[i & 4095])
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
  perf(k) {
    for (let i = 0; i < k; i++) sink += monitored.get(ids[i & 4095]).user_id
  },
}
// A full collection before and after the counted gets (the script runs with --expose-gc): each run
// then starts counting from the same heap, and ends having collected what its gets left, however far
// the incremental collector had gone when the gets ended. Without them a variant's count moved by
// hundreds of instructions a get with where the collector's phases fell.
runs.native(warm)
runs[variant](warm)
globalThis.gc?.()
runs[variant](n)
globalThis.gc?.()
if (!(sink > 0) || !(clockSink >= 0)) process.exit(1)
