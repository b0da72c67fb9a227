// Run by sqlite.mjs under cachegrind (lib/instructions.mjs):
//   node --expose-gc sqlite-instructions.mjs <db file> <variant> <executions> [<warm-up executions>]
// Opens the file sqlite.mjs made for it (its notes table), warms the native call and one variant of
// a point get (lib/sqlite-variants.mjs: native, clock, floor, floor-context, floor-details,
// floor-wrapper, perf, native-helper, perf-helper), then runs `executions` gets of that variant. A run of the same variant
// with 0 executions is its baseline. Each variant is warmed alone, as in an app that runs only one of
// them (warmed together, the floor's op.record and @perf's share their feedback), and long enough
// that nothing compiles while it is counted.
import { createRequire } from 'node:module'
import { COUNTED_VARIANTS, statementVariants } from './sqlite-variants.mjs'

const require = createRequire(import.meta.url)
const Database = require('better-sqlite3')
const [file, variant, executions, warmUp = '200000'] = process.argv.slice(2)
const n = Number(executions)
const warm = Number(warmUp)
if (file === undefined || !COUNTED_VARIANTS.includes(variant) || !(n >= 0) || !(warm >= 0)) {
  console.error(
    `usage: sqlite-instructions.mjs <db file> ${COUNTED_VARIANTS.join('|')} <executions> [<warm-up>]`,
  )
  process.exit(2)
}

// The same keys in every run (a fixed generator, not Math.random).
let x = 12345
const ids = Int32Array.from({ length: 4096 }, () => {
  x = (x * 1103515245 + 12345) & 0x7fffffff
  return 1 + (x % 10000)
})
const v = statementVariants(new Database(file, { readonly: true }), ids)
const runs = v.get
// A full collection before and after the counted gets (the script runs with --expose-gc): each run
// then starts counting from the same heap, and ends having collected what its gets left, however far
// the incremental collector had gone when the gets ended. Without them a variant's count moved by
// hundreds of instructions a get with where the collector's phases fell.
runs.native(warm)
runs[variant](warm)
globalThis.gc?.()
runs[variant](n)
globalThis.gc?.()
if (n > 0 && !v.ok()) process.exit(1)
