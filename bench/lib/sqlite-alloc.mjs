// Run by sqlite.mjs, one process per variant:
//   node sqlite-alloc.mjs <db file> <get|insert> <variant>
// Bytes allocated per execution by one per-statement variant of lib/sqlite-variants.mjs beyond the
// native call, in a process that runs only those two (as lib/sqlite-timed.mjs does, and for the same
// reason): both warmed, then each run alone under V8's sampling heap profiler with the objects
// already collected included, so the sum is every byte allocated (garbage too). Prints one JSON line:
// { native, variant } in bytes per execution. Allocation does not move with the machine's load.
import { Session } from 'node:inspector/promises'
import { heapBreakdown } from './profile.mjs'
import { variantProcess } from './sqlite-variants.mjs'

const [file, what, variant] = process.argv.slice(2)
const { runs, size } = variantProcess(file, what, variant, 'sqlite-alloc.mjs <db file> get|insert <variant>')
// As lib/sqlite-timed.mjs warms: the variant and the native call in turn, so both are optimised.
for (let b = 0; b < 500; b++) {
  runs.native(size, b * size)
  runs[variant](size, b * size)
}
const session = new Session()
session.connect()
await session.post('HeapProfiler.enable')
/** Bytes allocated per execution by `blocks` blocks of `run`. */
async function bytesPer(run, blocks) {
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 64,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  })
  for (let b = 0; b < blocks; b++) run(size, b * size)
  const { profile } = await session.post('HeapProfiler.stopSampling')
  const total = Object.values(heapBreakdown(profile).categories).reduce((a, b) => a + b, 0)
  return total / (blocks * size)
}
const blocks = what === 'get' ? 500 : 100
const native = await bytesPer(runs.native, blocks)
const bytes = await bytesPer(runs[variant], blocks)
session.disconnect()
console.log(JSON.stringify({ native, variant: bytes }))
