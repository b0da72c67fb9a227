// Run by sqlite.mjs under cachegrind (lib/instructions.mjs):
//   node sqlite-instructions.mjs <db file> <variant> <executions> [<warm-up executions>]
// Opens the file sqlite.mjs made for it (its notes table), warms every variant of a point get
// alike, then runs `executions` gets of one variant: `native` (better-sqlite3's own method),
// `clock` (that call between the two process.hrtime() reads @perf/sqlite makes), `floor` (the same
// plus one op.record, hand-written) or `perf` (the monitored statement, sampling 0.1). A run with 0
// executions is the common baseline.
import { createRequire } from 'node:module'
import { createMonitor } from '@perf/core'
import { monitorDatabase } from '@perf/sqlite'

const require = createRequire(import.meta.url)
const Database = require('better-sqlite3')
const [file, variant, executions, warmUp = '20000'] = process.argv.slice(2)
const n = Number(executions)
const warm = Number(warmUp)
if (
  file === undefined ||
  !['native', 'clock', 'floor', 'perf'].includes(variant) ||
  !(n >= 0) ||
  !(warm >= 0)
) {
  console.error('usage: sqlite-instructions.mjs <db file> native|clock|floor|perf <executions> [<warm-up>]')
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
  perf(k) {
    for (let i = 0; i < k; i++) sink += monitored.get(ids[i & 4095]).user_id
  },
}
for (const run of Object.values(runs)) run(warm)
runs[variant](n)
if (!(sink > 0) || !(clockSink >= 0)) process.exit(1)
