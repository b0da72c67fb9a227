#!/usr/bin/env node
// The realistic route, counted: instructions per request of realistic.mjs's servers
// (realistic-server.mjs: the demo's GET /notes/:id, one SQLite query through monitorDatabase, JSON
// out, SqliteStore on, the process watcher on), @perf on, off, without one feature, and the floors
// written by hand, each under valgrind (lib/instructions.mjs). realistic.mjs's CPU time per request
// wanders by several µs from round to round on a shared VM, more than the differences it looks for;
// these counts do not move with the machine's load. Run: node realistic-count.mjs [--quick]
// [--frameworks fastify,hono,express] [--variants off,on,…] [--warmup 20000] [--requests 10000]
// [--idle-seconds 20]. Needs valgrind (skipped, and says so, without it).
import { available, countServer, getInTurn, idlePerSecond } from './lib/instructions.mjs'
import { checkFlags, emit, flag, headComment, quick, wholeFlag } from './lib/result.mjs'
checkFlags(
  headComment(import.meta.url),
  ['frameworks', 'idle-seconds', 'requests', 'variants', 'warmup'],
  ['quick'],
)

const FRAMEWORKS = (flag('frameworks', 'fastify') ?? '').split(',')
for (const fw of FRAMEWORKS) {
  if (!['express', 'fastify', 'hono'].includes(fw)) {
    throw new RangeError(`--frameworks: unknown framework ${fw}; expected some of express, fastify, hono`)
  }
}
/** The variants counted here (realistic-server.mjs has more; these answer where @perf's cost goes). */
const KNOWN = ['off', 'on', 'no-context', 'no-store', 'no-process', 'no-id', 'floor-db', 'floor-store']
const VARIANTS = (
  flag('variants', quick ? 'off,on' : 'off,on,no-context,no-store,floor-db,floor-store') ?? ''
).split(',')
for (const v of VARIANTS) {
  if (!KNOWN.includes(v)) throw new RangeError(`--variants: unknown ${v}; expected some of ${KNOWN}`)
}
if (!VARIANTS.includes('off')) throw new RangeError('--variants must include off (every figure is over it)')
// The optimiser is still at work over the first ten thousand requests of this route; --quick counts
// a few hundred, which only shows that the counting runs (run-all gives each script 5 minutes).
const WARMUP = wholeFlag('warmup', quick ? '500' : '20000')
const REQUESTS = wholeFlag('requests', quick ? '500' : '10000')
// Each variant is also counted idle, 5 s and 5 s + this: its timers' instructions a second (the process
// watcher's samples, slice ends) are taken off its requests' count, as http-count.mjs does.
const IDLE_SECONDS = quick ? 0 : wholeFlag('idle-seconds', '20', { unit: 'seconds', min: 0 })
const server = new URL('./realistic-server.mjs', import.meta.url).pathname
const cwd = new URL('.', import.meta.url).pathname

if (!available()) {
  console.log('realistic-count: skipped (valgrind is not installed; Debian: apt-get install valgrind)')
  process.exit(0)
}

let failed = false
/** GET /notes/1 … /notes/200 in turn, `n` of them; every answer must be a note, with an id where sent. */
async function drive(port, n, wantsId) {
  const wrong = await getInTurn(
    port,
    n,
    (i) => `/notes/${1 + (i % 200)}`,
    (res) =>
      res.statusCode !== 200 || (wantsId && typeof res.headers['x-request-id'] !== 'string')
        ? `status ${res.statusCode}, x-request-id ${res.headers['x-request-id']}`
        : undefined,
  )
  if (wrong > 0) failed = true
}

const WHAT = {
  off: 'monitor disabled (PERF_ENABLED=false)',
  on: '@perf on (context, store, process watcher, id, sampling 0.1)',
  'no-context': 'on, without the request context',
  'no-store': 'on, without SqliteStore',
  'no-process': 'on, without the process watcher',
  'no-id': 'on, without X-Request-ID',
  'floor-db':
    'the floor of the whole job (hand-written hook, each query timed into an op, its time carried by an AsyncLocalStorage)',
  'floor-store': 'floor-db with its kept events persisted by a hand-written worker sink',
}
const round = (x) => Math.round(x)
const rows = []
/** Requests a second each counted run answered under valgrind. */
const rates = []
/** How far off's two counts moved, per framework. */
const offMoved = []
console.log(
  `realistic-count: ${FRAMEWORKS.join(', ')}; ${VARIANTS.join(', ')}; ${WARMUP} requests of warm-up, ${REQUESTS} counted`,
)
if (quick) {
  console.log(
    '  (--quick: counted while the optimiser is still at work; the figures only show the script runs)',
  )
}
for (const fw of FRAMEWORKS) {
  const per = {}
  /** Counts variant `v`: a run of WARMUP + REQUESTS requests minus a run of WARMUP, per request. */
  const count = async (v) => {
    const wantsId = !['off', 'no-id'].includes(v)
    const run = async (n) => {
      let seconds = 0
      const counts = await countServer(
        [server, fw, v],
        async (port) => {
          const t0 = performance.now()
          await drive(port, n, wantsId)
          seconds = (performance.now() - t0) / 1000
        },
        cwd,
      )
      return { ...counts, seconds }
    }
    // Side by side, one per core: a count does not depend on what else runs.
    const [short, long] = await Promise.all([run(WARMUP), run(WARMUP + REQUESTS)])
    const extraSeconds = long.seconds - short.seconds
    const rate = REQUESTS / extraSeconds
    rates.push(rate)
    const raw = (long.instructions - short.instructions) / REQUESTS
    const perSecond = IDLE_SECONDS > 0 ? await idlePerSecond([server, fw, v], IDLE_SECONDS, cwd) : 0
    const c = {
      instructions: raw - (perSecond * extraSeconds) / REQUESTS,
      raw,
      perSecond,
      rate,
      d1Misses: (long.d1Misses - short.d1Misses) / REQUESTS,
    }
    console.log(
      `  ${fw} ${v}: ${round(raw)} instructions and ${round(c.d1Misses)} D1 misses a request at ${round(rate)} requests/s under valgrind` +
        (IDLE_SECONDS > 0
          ? `; idle ${round(perSecond)} instructions/s, so ${round(c.instructions)} a request less timer work`
          : ''),
    )
    return c
  }
  for (const v of VARIANTS) per[v] = await count(v)
  // off again, last: how far two counts of the same server can lie apart (something costly that runs
  // once, such as a collection of the old generation, falls inside one window and not the other).
  if (!quick) {
    const offAgain = await count('off')
    offMoved.push(Math.abs(offAgain.instructions - per.off.instructions))
    const mean = (k) => (per.off[k] + offAgain[k]) / 2
    per.off = {
      instructions: mean('instructions'),
      raw: mean('raw'),
      perSecond: mean('perSecond'),
      rate: mean('rate'),
      d1Misses: mean('d1Misses'),
    }
  }
  const over = (v, base = 'off') => per[v].instructions - per[base].instructions
  /** What a row's note says of timer work, when it was measured. */
  const timerNote = (c) =>
    IDLE_SECONDS > 0
      ? `; ${round(c.raw)} counted, less ${round(c.raw - c.instructions)} of timer work (idle: ${round(c.perSecond)} instructions/s, at ${round(c.rate)} requests/s under valgrind)`
      : ''
  for (const v of VARIANTS) {
    const pct = (100 * over(v)) / per.off.instructions
    rows.push({
      name: `${fw}: ${WHAT[v]}, instructions per request`,
      value: round(per[v].instructions),
      unit: 'instructions',
      note: `${v !== 'off' ? `${over(v) >= 0 ? '+' : ''}${round(over(v))} (${pct.toFixed(1)} %) over off; ` : offMoved.length > 0 ? `the mean of two counts, first and last, ${round(offMoved.at(-1))} apart; ` : ''}${round(per[v].d1Misses)} simulated D1 misses a request${timerNote(per[v])}`,
    })
  }
  const has = (...vs) => vs.every((v) => per[v] !== undefined)
  if (has('on', 'floor-store')) {
    rows.push({
      name: `${fw}: @perf on over the floor of the whole job with a store (floor-store), instructions per request`,
      value: round(over('on', 'floor-store')),
      unit: 'instructions',
      note: has('floor-db') ? `over floor-db (no store): ${round(over('on', 'floor-db'))}` : '',
    })
  }
  if (has('on', 'no-store', 'floor-db', 'floor-store')) {
    rows.push({
      name: `${fw}: what SqliteStore costs (on − no-store), instructions per request`,
      value: round(over('on', 'no-store')),
      unit: 'instructions',
      note: `the floor's store (floor-store − floor-db): ${round(over('floor-store', 'floor-db'))}; without either, @perf (no-store) over floor-db: ${round(over('no-store', 'floor-db'))}`,
    })
  }
  if (has('on', 'no-context')) {
    rows.push({
      name: `${fw}: what the request context costs (on − no-context), instructions per request`,
      value: round(over('on', 'no-context')),
      unit: 'instructions',
      note: 'an AsyncLocalStorage entered per request, and each query adding its time to it',
    })
  }
}

emit({
  title: 'Realistic route, counted: instructions per request under valgrind',
  command: `node bench/realistic-count.mjs --frameworks ${FRAMEWORKS.join(',')} --variants ${VARIANTS.join(',')}`,
  rows,
  notes: [
    `Each server of realistic.mjs (realistic-server.mjs) runs alone under valgrind (cachegrind, Node with --single-threaded --predictable; the store's worker thread is counted with the rest of the process) and answers GET /notes/:id one request at a time over one keep-alive connection; a run of ${WARMUP + REQUESTS} requests minus a run of ${WARMUP}, over ${REQUESTS}. The counts do not move with the machine's load; they are those of this build and this Node, not a time. They do move between two runs of the same server by whatever ran once in one window and not in the other (a collection of the old generation costs millions of instructions; so does a function the optimiser compiles again): off, which runs none of the monitor's timers, is counted first and again last (${offMoved.length > 0 ? `${offMoved.map(round).join(' and ')} instructions a request apart` : 'not with --quick'}); a variant with a monitor also runs its timers (below) and moves more, by several thousand instructions a request from one run of this script to the next, so a difference smaller than ten thousand between two such variants is within the spread.`,
    `Work that runs on a timer rather than per request (the process watcher samples every 2 s, a window slice closes every 10 s; the store and the sink queue write a batch every few seconds) is paid per second, and under valgrind a second holds far fewer requests (${Math.round(Math.min(...rates))}–${Math.round(Math.max(...rates))} a second here, against tens of thousands at full speed), so counted as it is it would weigh on each request some 100× more than in realistic.mjs. ${IDLE_SECONDS > 0 ? `So each variant is also counted idle (${IDLE_SECONDS} s more of idling, no requests), and its instructions a second idle, times the counted run's extra seconds, are taken off its requests' count; the notes give the count before that. What a batch of kept events costs the store (or the floor's sink) is work per event, and stays in: it is done whether the events come slowly or fast, though a batch of fewer events pays its transaction's fixed cost over fewer of them.` : 'Not taken off here (--quick counts no idle run): compare variants with each other.'} The per-request work (the adapters, the context, monitorDatabase) is counted as it runs.`,
  ],
})
if (failed) process.exitCode = 1
