// Counts what a Node script executes, instruction by instruction, under valgrind's cachegrind: the
// instructions, and the misses of a simulated first-level instruction and data cache. Unlike CPU
// time, the counts are the same on a busy or a quiet machine, so a difference of a few hundred
// instructions per operation shows through where timings on a shared VM wander by microseconds.
// Node runs with --single-threaded (no background compiler or GC threads) and --predictable, so
// two runs of the same script differ by about a million instructions in a few billion; a script
// measures a difference between two runs that share all their set-up and differ only in the
// number of operations. The counts are those of one build: a change anywhere on the measured path
// can move the optimiser's inlining, and with it a few hundred instructions an operation.
//
//   available()                    → whether valgrind is on PATH
//   count(args, env)               → { instructions, i1Misses, d1Misses } of `node ...args`
import { spawnSync } from 'node:child_process'

/** Whether valgrind can be run here (Debian: `apt-get install valgrind`). */
export function available() {
  const r = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
  return r.status === 0
}

/**
 * Runs `node ...args` under cachegrind and returns its counts.
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 */
export function count(args, env = {}) {
  const r = spawnSync(
    'valgrind',
    [
      '--tool=cachegrind',
      '--cache-sim=yes',
      '--cachegrind-out-file=/dev/null',
      process.execPath,
      '--predictable',
      '--single-threaded',
      ...args,
    ],
    { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
  )
  const out = r.stderr ?? ''
  const field = (label) => {
    const m = new RegExp(`${label}:\\s+([\\d,]+)`).exec(out)
    return m === null ? Number.NaN : Number(m[1].replaceAll(',', ''))
  }
  const counts = {
    instructions: field('I\\s+refs'),
    i1Misses: field('I1\\s+misses'),
    d1Misses: field('D1\\s+misses'),
  }
  if (r.status !== 0 || !Number.isFinite(counts.instructions)) {
    throw new Error(`valgrind ${args.join(' ')} failed (status ${r.status}):\n${out.slice(-2000)}`)
  }
  return counts
}
