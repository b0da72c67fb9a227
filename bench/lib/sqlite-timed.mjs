// Run by sqlite.mjs, one process per variant:
//   node sqlite-timed.mjs <db file> <get|insert> <variant> <blocks>
// Times one per-statement variant of lib/sqlite-variants.mjs beside the native call, in a process
// that runs only those two (see there why): blocks of 400 point gets or of a 200-insert transaction,
// the two in turn (which goes first alternating), CPU time per block; prints one JSON line with the
// per-block differences to the native call, in ns per execution.
import { variantProcess } from './sqlite-variants.mjs'

const [file, what, variant, blocksArg] = process.argv.slice(2)
const blocks = Number(blocksArg)
const usage = 'sqlite-timed.mjs <db file> get|insert <variant> <blocks>'
const { db, v, size, runs } = variantProcess(file, what, variant, usage)
if (!(blocks > 0)) {
  console.error(`usage: ${usage}: blocks must be a number > 0, got ${blocksArg}`)
  process.exit(2)
}
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
