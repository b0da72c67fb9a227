#!/usr/bin/env node
// HTTP, counted: instructions and first-level instruction-cache misses per request of the
// hello-world servers of http.mjs (http-server.mjs), bare, the floor (a hand-written hook doing the
// job) and @perf, each under valgrind (lib/instructions.mjs). Unlike CPU time per request, which
// wanders by microseconds between runs on a shared VM, these counts are the same on a busy or a
// quiet machine. Run: node http-count.mjs [--quick] [--frameworks fastify,hono,express]
// [--warmup 20000] [--requests 20000]. Needs valgrind (skipped, and says so, without it).
import { available, countServer, getInTurn } from './lib/instructions.mjs'
import { emit, flag, quick, wholeFlag } from './lib/result.mjs'

const FRAMEWORKS = (flag('frameworks', quick ? 'fastify' : 'fastify,hono') ?? '').split(',')
for (const fw of FRAMEWORKS) {
  if (!['express', 'fastify', 'hono'].includes(fw)) {
    throw new RangeError(`--frameworks: unknown framework ${fw}; expected some of express, fastify, hono`)
  }
}
// --quick must fit run-all's 5-minute limit on a slow host, where one server's start under valgrind
// takes most of a minute: a few hundred requests show that the counting runs.
const WARMUP = wholeFlag('warmup', quick ? '500' : '20000')
const REQUESTS = wholeFlag('requests', quick ? '500' : '20000')
const VARIANTS = quick ? ['bare', 'perf-0.1'] : ['bare', 'floor', 'perf-0.1']
const server = new URL('./http-server.mjs', import.meta.url).pathname
const cwd = new URL('.', import.meta.url).pathname

if (!available()) {
  console.log('http-count: skipped (valgrind is not installed; Debian: apt-get install valgrind)')
  process.exit(0)
}

let failed = false
/** Sends `n` GET / in turn; checks the X-Request-ID of the variants that send one. */
async function drive(port, n, wantsId) {
  const wrong = await getInTurn(
    port,
    n,
    () => '/',
    (res) =>
      res.statusCode !== 200 || (wantsId && typeof res.headers['x-request-id'] !== 'string')
        ? `status ${res.statusCode}, x-request-id ${res.headers['x-request-id']}`
        : undefined,
  )
  if (wrong > 0) failed = true
}

const rows = []
console.log(`http-count: ${FRAMEWORKS.join(', ')}; ${WARMUP} requests of warm-up, ${REQUESTS} counted`)
if (quick) {
  console.log(
    '  (--quick: counted while the optimiser is still at work; the figures only show the script runs)',
  )
}
for (const fw of FRAMEWORKS) {
  const per = {}
  for (const v of VARIANTS) {
    const wantsId = v.startsWith('perf') || v === 'floor'
    const run = (n) => countServer([server, fw, v], (port) => drive(port, n, wantsId), cwd)
    // Side by side, one per core: a count does not depend on what else runs.
    const [short, long] = await Promise.all([run(WARMUP), run(WARMUP + REQUESTS)])
    per[v] = {
      instructions: (long.instructions - short.instructions) / REQUESTS,
      i1Misses: (long.i1Misses - short.i1Misses) / REQUESTS,
    }
    console.log(
      `  ${fw} ${v}: ${Math.round(per[v].instructions)} instructions and ${Math.round(per[v].i1Misses)} I1 misses a request`,
    )
  }
  const over = (v) => per[v].instructions - per.bare.instructions
  rows.push({
    name: `${fw} bare: instructions per request`,
    value: Math.round(per.bare.instructions),
    unit: 'instructions',
    note: `${Math.round(per.bare.i1Misses)} first-level instruction-cache misses`,
  })
  for (const v of VARIANTS.filter((x) => x !== 'bare')) {
    rows.push({
      name: `${fw} ${v === 'floor' ? 'the floor (a hand-written hook doing the job)' : `@perf, sampling ${v.slice(5)}, id on`}: instructions per request over bare`,
      value: Math.round(over(v)),
      unit: 'instructions',
      note: `${Math.round(per[v].i1Misses - per.bare.i1Misses)} more instruction-cache misses`,
    })
  }
  if (per.floor !== undefined) {
    const d = per['perf-0.1'].instructions - per.floor.instructions
    rows.push({
      name: `${fw}: @perf (0.1, id on) over the floor, instructions per request`,
      value: Math.round(d),
      unit: 'instructions',
      note: `instruction-cache misses: ${Math.round(per['perf-0.1'].i1Misses - per.floor.i1Misses)} over the floor's`,
    })
  }
}

emit({
  title: 'HTTP hello world, counted: instructions per request under valgrind',
  command: `node bench/http-count.mjs --frameworks ${FRAMEWORKS.join(',')}`,
  rows,
  notes: [
    `Each server of http.mjs (http-server.mjs: bare, the floor, @perf) runs alone under valgrind (cachegrind, Node with --single-threaded --predictable) and answers GET / one request at a time over one keep-alive connection; a run of ${WARMUP + REQUESTS} requests minus a run of ${WARMUP}, over ${REQUESTS}. The first thousands of requests run while the optimiser is at work and move from run to run; past them, a request costs the same number of instructions in every run (two runs of bare fastify: 53,703 and 53,690). The counts are those of this build and this Node, not a time: they show what runs, not what a cache miss costs on a given CPU.`,
  ],
})
if (failed) process.exitCode = 1
