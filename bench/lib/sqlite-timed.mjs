// Run by sqlite.mjs, one process per variant:
//   node sqlite-timed.mjs <db file> <get|insert> <variant> <blocks>
// Times one per-statement variant of lib/sqlite-variants.mjs beside the native call, in a process
// that runs only those two (see there why): blocks of 400 point gets or of a 200-insert transaction,
// the two in turn (which goes first alternating), CPU time per block; prints one JSON line with the
// per-block differences to the native call, in ns per execution.
import Database from 'better-sqlite3'
import { statementVariants, VARIANTS } from './sqlite-variants.mjs'

const [file, what, variant, blocksArg] = process.argv.slice(2)
const blocks = Number(blocksArg)
if (
  file === undefined ||
  (what !== 'get' && what !== 'insert') ||
  !VARIANTS.includes(variant) ||
  !(blocks > 0)
) {
  console.error(`usage: sqlite-timed.mjs <db file> get|insert ${VARIANTS.join('|')} <blocks>`)
  process.exit(2)
}

const ids = Int32Array.from({ length: 4096 }, () => 1 + Math.floor(Math.random() * 10_000))
const db = new Database(file)
db.pragma('synchronous = NORMAL')
const v = statementVariants(db, ids, { insert: what === 'insert' })
const size = what === 'get' ? 400 : 200
const runs = what === 'get' ? v.get : v.insert
const native = (b) => runs.native(size, b * size)
const other = (b) => runs[variant](size, b * size)
const WARM = 50
for (let b = 0; b < WARM; b++) {
  native(b)
  other(b)
}
const cpu = (f, b) => {
  const c0 = process.cpuUsage()
  f(b)
  const c = process.cpuUsage(c0)
  return c.user + c.system
}
const diffs = []
for (let b = 0; b < blocks; b++) {
  let tn
  let tv
  if (b % 2 === 0) {
    tn = cpu(native, b)
    tv = cpu(other, b)
  } else {
    tv = cpu(other, b)
    tn = cpu(native, b)
  }
  diffs.push(((tv - tn) * 1000) / size)
}
// The monitored variant recorded every execution, and only those.
const recorded = v.recorded()
const name = what === 'get' ? 'SELECT notes' : 'INSERT one_ins'
const expected = variant === 'perf' ? (WARM + blocks) * size : undefined
if ((expected !== undefined && recorded[name] !== expected) || (what === 'get' && !v.ok())) {
  console.error(`${what} ${variant}: ${name} recorded ${recorded[name]}, expected ${expected}`)
  process.exit(1)
}
db.close()
console.log(JSON.stringify({ diffs }))
