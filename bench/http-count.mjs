#!/usr/bin/env node
// HTTP, counted: instructions and first-level instruction-cache misses per request of the
// hello-world servers of http.mjs (http-server.mjs), bare, the floor (a hand-written hook doing the
// job) and @perf, each under valgrind (lib/instructions.mjs). Unlike CPU time per request, which
// wanders by microseconds between runs on a shared VM, these counts are the same on a busy or a
// quiet machine. Run: node http-count.mjs [--quick] [--frameworks fastify,hono,express]
// [--variants bare,floor,perf-0.1,express-status-monitor…|peers] [--warmup 20000] [--requests 20000]
// [--idle-seconds 40] [--in-memory]; `peers` counts every peer of each framework. --in-memory drives
// each server over http-cpu.mjs's in-memory connection (batches of 50 pipelined requests, no socket)
// instead of one request at a time over a loopback connection.
// Needs valgrind (skipped, and says so, without it).
import { checkVariant, isPeer, label, PEERS, sendsId } from './lib/http-variants.mjs'
import { available, countServer, getInTurn, idlePerSecond } from './lib/instructions.mjs'
import { checkFlags, emit, flag, headComment, quick, wholeFlag } from './lib/result.mjs'
checkFlags(
  headComment(import.meta.url),
  ['frameworks', 'idle-seconds', 'requests', 'variants', 'warmup'],
  ['in-memory', 'quick'],
)

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
// Work a server does on its timers (a peer's once-a-second metrics, @perf's slice rotation) is paid
// per second, not per request; under valgrind a server answers ~100× fewer requests a second, so
// that work would weigh ~100× more on each request than at full speed. Each variant is also counted
// idle for this long, and its timers' instructions a second are taken off the requests' count.
const IDLE_SECONDS = quick ? 0 : wholeFlag('idle-seconds', '40', { unit: 'seconds', min: 0 })
// Any variant of http-server.mjs, a peer too, or `peers`: every peer of each framework (bare is always
// counted: every row is over it).
const VARIANTS = (flag('variants', quick ? 'bare,perf-0.1' : 'bare,floor,perf-0.1') ?? '').split(',')
if (!VARIANTS.includes('bare')) VARIANTS.unshift('bare')
/** The variants counted for one framework: `peers` stands for its peers. */
const variantsOf = (fw) => VARIANTS.flatMap((v) => (v === 'peers' ? PEERS[fw] : [v]))
for (const fw of FRAMEWORKS) for (const v of variantsOf(fw)) checkVariant(fw, v)
const server = new URL('./http-server.mjs', import.meta.url).pathname
const cwd = new URL('.', import.meta.url).pathname

const fmt = (x) => Math.round(x).toLocaleString('en-US')
const IN_MEMORY = process.argv.includes('--in-memory')

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

/**
 * Sends `n` GET / over the server's in-memory connection (lib/in-memory.mjs, as http-cpu.mjs drives
 * it), its answers to the first batch checked (status, X-Request-ID).
 * @param {import('node:child_process').ChildProcess} child
 */
function driveInMemory(child, n, label) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m?.drive === undefined) return
      child.off('message', onMessage)
      if (m.drive.error !== undefined) {
        console.error(`  ${label}: ${m.drive.error}`)
        failed = true
      }
      resolve()
    }
    child.on('message', onMessage)
    child.once('exit', () => reject(new Error(`${label}: the server exited while driven`)))
    child.send({ cmd: 'drive', n, verify: true })
  })
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
  const variants = variantsOf(fw)
  for (const v of variants) {
    const wantsId = sendsId(v)
    const run = async (n) => {
      let seconds = 0
      const counts = await countServer(
        [server, fw, v],
        async (port, child) => {
          const t0 = performance.now()
          if (IN_MEMORY) await driveInMemory(child, n, `${fw} ${v}`)
          else await drive(port, n, wantsId)
          seconds = (performance.now() - t0) / 1000
        },
        cwd,
      )
      return { ...counts, seconds }
    }
    // Side by side, one per core: a count does not depend on what else runs.
    const [short, long] = await Promise.all([run(WARMUP), run(WARMUP + REQUESTS)])
    const raw = (long.instructions - short.instructions) / REQUESTS
    const perSecond = IDLE_SECONDS > 0 ? await idlePerSecond([server, fw, v], IDLE_SECONDS, cwd) : 0
    const timers = (perSecond * (long.seconds - short.seconds)) / REQUESTS
    per[v] = {
      instructions: raw - timers,
      raw,
      perSecond,
      rate: REQUESTS / (long.seconds - short.seconds),
      i1Misses: (long.i1Misses - short.i1Misses) / REQUESTS,
    }
    console.log(
      `  ${fw} ${v}: ${Math.round(raw)} instructions and ${Math.round(per[v].i1Misses)} I1 misses a request at ${Math.round(per[v].rate)} requests/s under valgrind` +
        (IDLE_SECONDS > 0
          ? `; idle ${Math.round(perSecond)} instructions/s, so ${Math.round(per[v].instructions)} a request less timer work`
          : ''),
    )
  }
  /** What the row's note says of timer work, when it was measured. */
  const timerNote = (v) =>
    IDLE_SECONDS > 0
      ? `; ${fmt(per[v].raw)} counted, less ${fmt(per[v].raw - per[v].instructions)} of timer work (idle: ${fmt(per[v].perSecond)} instructions/s, at ${fmt(per[v].rate)} requests/s under valgrind)`
      : ''
  const over = (v) => per[v].instructions - per.bare.instructions
  rows.push({
    name: `${fw} bare: instructions per request`,
    value: Math.round(per.bare.instructions),
    unit: 'instructions',
    note: `${Math.round(per.bare.i1Misses)} first-level instruction-cache misses${timerNote('bare')}`,
  })
  for (const v of variants.filter((x) => x !== 'bare')) {
    rows.push({
      name: `${fw} + ${label(v)}: instructions per request over bare`,
      value: Math.round(over(v)),
      unit: 'instructions',
      note: `${Math.round(per[v].i1Misses - per.bare.i1Misses)} more instruction-cache misses${timerNote(v)}`,
    })
  }
  // @perf (0.1, id on) against the floor and each peer counted, per request.
  for (const other of variants.filter((x) => x === 'floor' || isPeer(x))) {
    if (per['perf-0.1'] === undefined) continue
    rows.push({
      name: `${fw}: @perf (0.1, id on) over ${other === 'floor' ? 'the floor' : other}, instructions per request`,
      value: Math.round(per['perf-0.1'].instructions - per[other].instructions),
      unit: 'instructions',
      note: `instruction-cache misses: ${Math.round(per['perf-0.1'].i1Misses - per[other].i1Misses)} over ${other === 'floor' ? "the floor's" : `${other}'s`}`,
    })
  }
}

emit({
  title: `HTTP hello world, counted: instructions per request under valgrind${IN_MEMORY ? ', over an in-memory connection' : ''}`,
  command: `node bench/http-count.mjs --frameworks ${FRAMEWORKS.join(',')} --variants ${VARIANTS.join(',')} --warmup ${WARMUP} --requests ${REQUESTS}${IN_MEMORY ? ' --in-memory' : ''}`,
  rows,
  notes: [
    `Each server of http.mjs (http-server.mjs: bare, the floor, @perf, a peer when asked for) runs alone under valgrind (cachegrind, Node with --single-threaded --predictable) and answers GET / ${IN_MEMORY ? 'over an in-memory connection (lib/in-memory.mjs: batches of 50 pipelined requests, as http-cpu.mjs drives them; no socket)' : 'one request at a time over one keep-alive connection'}; a run of ${WARMUP + REQUESTS} requests minus a run of ${WARMUP}, over ${REQUESTS}. The first thousands of requests run while the optimiser is at work and move from run to run; past them, a request costs the same number of instructions in every run (two runs of bare fastify: 53,703 and 53,690). The counts are those of this build and this Node, not a time: they show what runs, not what a cache miss costs on a given CPU.`,
    ...(IDLE_SECONDS > 0
      ? [
          `Work a server does on its timers (a peer's once-a-second metrics, @perf's slice rotation) is paid per second, not per request, and under valgrind a server answers a few hundred requests a second instead of thousands: counted as it is, that work would weigh on each request some 100× more than at full speed. So each variant is also counted idle (${IDLE_SECONDS} s more of idling, no requests), and its instructions a second idle, times the counted run's extra seconds, are taken off its requests' count; the notes give the count before that. A loaded server's timers may do a little more than an idle one's.`,
        ]
      : []),
  ],
})
if (failed) process.exitCode = 1
