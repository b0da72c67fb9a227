// The realistic route: the demo's `GET /notes/:id` (one SQLite query through monitorDatabase, JSON out,
// SqliteStore on, default sampling) with @perf off, on, and on without each of its features in turn,
// every variant's server running at the same time (CPU per request side by side), then where the
// difference goes: CPU self time and bytes allocated per request by category of code, from the
// inspector inside the server (bench/lib/profile.mjs). Servers: realistic-server.mjs.
// With --in-memory, the servers are driven in turn over an in-memory connection instead of by wrk
// (bench/lib/in-memory.mjs, as http-cpu.mjs drives the hello-world ones): no kernel, no load
// generator, each server alone, --requests a round, each variant in --replicas processes (their mean
// a round's figure); no profile.
//
//   node realistic.mjs [--quick] [--frameworks express,fastify,hono] [--variants off,on,...]
//                      [--rounds 6] [--duration 4] [--connections 20] [--pipelining 1]
//                      [--together] [--no-profile] [--profile-seconds 3]
//                      [--in-memory] [--requests 20000] (express a quarter) [--replicas 3]
//                      (--rounds 21 by default)
import { checkFlags, emit, flag, headComment, quick, round, summary, wholeFlag } from './lib/result.mjs'
import { driveInTurn } from './lib/in-memory.mjs'
import { CPU_CLOCK, cpuMicros, hasWrk, pinning, runWrk, startServer } from './lib/load.mjs'
import { execFileSync } from 'node:child_process'
checkFlags(
  headComment(import.meta.url),
  [
    'connections',
    'duration',
    'frameworks',
    'pipelining',
    'profile-seconds',
    'replicas',
    'requests',
    'rounds',
    'variants',
    'warmup',
  ],
  ['quick', 'no-profile', 'together', 'in-memory'],
)

const IN_MEMORY = process.argv.includes('--in-memory')
const ROUNDS = Number(flag('rounds', quick ? (IN_MEMORY ? '3' : '2') : IN_MEMORY ? '21' : '6'))
// express's request costs several times fastify's and hono's: it gets a quarter, for rounds of a like length.
const REQUESTS = wholeFlag('requests', quick ? '500' : '20000')
const requestsFor = (fw) => (fw === 'express' ? Math.ceil(REQUESTS / 4) : REQUESTS)
const REPLICAS = wholeFlag('replicas', quick ? '1' : '3', { unit: 'processes', min: 1 })
const DURATION = Number(flag('duration', quick ? '1' : '4'))
const WARMUP = Number(flag('warmup', quick ? '2' : '6'))
const CONNECTIONS = Number(flag('connections', '20'))
const PIPELINING = Number(flag('pipelining', '1'))
const PROFILE_SECONDS = Number(flag('profile-seconds', quick ? '1' : '3'))
const PROFILE = !process.argv.includes('--no-profile') && !IN_MEMORY
const TOGETHER = process.argv.includes('--together')
const PATH = '/notes/7'
const frameworks = flag('frameworks', 'fastify,hono,express').split(',')
const variants = flag(
  'variants',
  'off,on,no-context,no-store,no-process,no-id,no-db,no-http,floor,floor-db,floor-store',
).split(',')
if (!variants.includes('off')) variants.unshift('off')
const LABELS = {
  off: 'monitor disabled (PERF_ENABLED=false)',
  on: '@perf on (context, store, process watcher, id, sampling 0.1)',
  'no-context': 'on, without the request context (db time not carried to the request)',
  'no-store': 'on, without SqliteStore',
  'no-process': 'on, without the process watcher',
  'no-id': 'on, without X-Request-ID',
  'no-db': 'on, database not monitored (so no request context either)',
  'no-http': 'on, no HTTP adapter (database monitored)',
  'sampling-1': 'on, sampling 1.0',
  floor: 'the floor: a hand-written hook (two clock reads, one op.record, an id header), db not monitored',
  'floor-db':
    'the floor of the whole job: that hook, each query timed into an op, its time carried to the request by a hand-written AsyncLocalStorage',
  'floor-store':
    'the floor of the whole job with a store: floor-db, its kept events persisted by a hand-written worker sink into the same indexed table as SqliteStore',
}
for (const [name, value] of [
  ['rounds', ROUNDS],
  ['duration', DURATION],
  ['connections', CONNECTIONS],
  ['pipelining', PIPELINING],
]) {
  if (!Number.isFinite(value) || value <= 0 || value > 1000) {
    throw new RangeError(`--${name} ${value} is not valid: expected a positive number`)
  }
}
if (!IN_MEMORY && !hasWrk()) {
  console.error('realistic.mjs needs wrk (apt-get install wrk)')
  process.exit(1)
}
if (pinning) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })

let failed = false
const tables = []
const groups = TOGETHER ? [frameworks] : frameworks.map((f) => [f])
for (const group of groups) tables.push(...(await benchGroup(group)))
for (const t of tables) emit(t)
process.exit(failed ? 1 : 0)

async function benchGroup(fws) {
  console.log(`\n== ${fws.join(' + ')}: ${variants.join(', ')} side by side`)
  /** @type {Map<string, any>} key `${fw} ${variant}` */
  const servers = new Map()
  /** Every process of each variant: --in-memory runs --replicas of each, wrk one. */
  const replicas = new Map()
  try {
    for (const fw of fws) {
      for (const v of variants) {
        replicas.set(`${fw} ${v}`, [])
        for (let i = 0; i < (IN_MEMORY ? REPLICAS : 1); i++) {
          const s = await startServer(new URL('./realistic-server.mjs', import.meta.url).pathname, [fw, v])
          replicas.get(`${fw} ${v}`).push(s)
          const res = await fetch(`http://127.0.0.1:${s.port}${PATH}`)
          const body = await res.json()
          if (res.status !== 200 || body.id !== 7)
            throw new Error(`${fw} ${v}: GET ${PATH} answered ${res.status}`)
          if (v !== 'off' && v !== 'no-id' && v !== 'no-http' && !res.headers.get('x-request-id')) {
            throw new Error(`${fw} ${v}: no X-Request-ID`)
          }
          if (i === 0) servers.set(`${fw} ${v}`, s)
        }
      }
    }
    const all = [...servers]
    const url = (s) => `http://127.0.0.1:${s.port}${PATH}`
    const cpu = new Map(all.map(([k]) => [k, []]))
    if (IN_MEMORY) {
      const { perRequest, processMedians, driven } = await driveInTurn(Object.fromEntries(replicas), {
        rounds: ROUNDS,
        requests: Math.min(...fws.map(requestsFor)),
      })
      for (const [k, list] of replicas) {
        cpu.set(k, perRequest[k])
        list.forEach((s, i) => {
          s.answered += driven[k][i]
        })
        console.log(
          `  ${k}: its processes' medians ${processMedians[k].map((x) => round(x, 3)).join(', ')} µs`,
        )
      }
    } else await Promise.all(all.map(([, s]) => runWrk(url(s), WARMUP, CONNECTIONS, PIPELINING)))
    for (let r = 0; r < (IN_MEMORY ? 0 : ROUNDS); r++) {
      const before = all.map(([, s]) => cpuMicros(s.pid))
      const results = await Promise.all(all.map(([, s]) => runWrk(url(s), DURATION, CONNECTIONS, PIPELINING)))
      all.forEach(([k, s], i) => {
        s.answered += results[i].total
        s.errors += results[i].errors
        cpu.get(k).push((cpuMicros(s.pid) - before[i]) / Math.max(1, results[i].total))
      })
      console.log(
        `  round ${r + 1}/${ROUNDS}: ${all.map(([k], _i) => `${k} ${round(cpu.get(k)[r], 3)}`).join('; ')}`,
      )
    }
    for (const [k, s] of [...replicas].flatMap(([key, list]) => list.map((x) => [key, x]))) {
      if (s.errors > 0) {
        console.log(`  ${k}: ${s.errors} failed or non-2xx responses`)
        failed = true
      }
      const v = k.split(' ')[1]
      if (v === 'off' || v.startsWith('floor')) continue
      const c = await s.ask('check')
      const http = v === 'no-http' ? s.answered : c.http
      if (http < s.answered || c.db < (v === 'no-db' ? 0 : s.answered)) {
        console.log(
          `  ${k}: recorded ${c.http} requests, ${c.db} queries of ${s.answered} answered  << MISMATCH`,
        )
        failed = true
      }
    }

    const out = []
    for (const fw of fws) {
      const off = cpu.get(`${fw} off`)
      const on = cpu.get(`${fw} on`)
      const rows = [
        {
          name: `${fw}: ${LABELS.off}`,
          value: round(summary(off).median, 3),
          unit: 'µs CPU/request',
          min: round(summary(off).min, 3),
          max: round(summary(off).max, 3),
        },
      ]
      for (const v of variants) {
        if (v === 'off') continue
        const d = cpu.get(`${fw} ${v}`)
        const overUs = summary(d.map((x, i) => x - off[i]))
        const overPct = summary(d.map((x, i) => (x / off[i] - 1) * 100))
        const row = {
          name: `${fw}: ${LABELS[v] ?? v}`,
          value: round(summary(d).median, 3),
          unit: 'µs CPU/request',
          min: round(summary(d).min, 3),
          max: round(summary(d).max, 3),
          note: `${overUs.median >= 0 ? '+' : ''}${round(overUs.median, 3)} µs (${round(overPct.median, 3)} %) over off, min–max ${round(overUs.min, 3)} – ${round(overUs.max, 3)} µs`,
        }
        if (v === 'on') {
          // A --quick run is not a measurement (see its note): nothing is judged on it.
          if (!quick) {
            row.target = '≤ 1 % over off'
            row.pass = overPct.median <= 1
          }
          const floorDb = cpu.get(`${fw} floor-db`)
          if (floorDb !== undefined) {
            const over = summary(d.map((x, i) => x - floorDb[i]))
            row.note += `; over the floor of the whole job (floor-db) ${round(over.median, 3)} µs, min–max ${round(over.min, 3)} – ${round(over.max, 3)}`
          }
          const floorStore = cpu.get(`${fw} floor-store`)
          if (floorStore !== undefined) {
            const over = summary(d.map((x, i) => x - floorStore[i]))
            row.note += `; over that floor with a store (floor-store) ${round(over.median, 3)} µs, min–max ${round(over.min, 3)} – ${round(over.max, 3)}`
          }
        } else if (on !== undefined && v.startsWith('no-')) {
          const cost = summary(on.map((x, i) => x - d[i]))
          row.note += `; the feature costs ${round(cost.median, 3)} µs (on − this, min–max ${round(cost.min, 3)} – ${round(cost.max, 3)})`
        }
        rows.push(row)
        console.log(`  ${row.name}: ${row.value} µs; ${row.note}`)
      }
      out.push({
        title: `Realistic route: ${fw} GET /notes/:id — CPU per request, @perf on / off / without each feature, ${IN_MEMORY ? 'over an in-memory connection' : 'side by side'}`,
        command: `pnpm bench:realistic -- --frameworks ${fw}${IN_MEMORY ? ` --in-memory --rounds ${ROUNDS} --requests ${REQUESTS} --replicas ${REPLICAS}` : ''}`,
        rows,
        notes: [
          IN_MEMORY
            ? `The demo's GET /notes/:id rebuilt in bench/realistic-server.mjs (one SQLite query through monitorDatabase, JSON out, SqliteStore on, the process watcher on, the admin page mounted, default sampling). Each variant runs in ${REPLICAS} process${REPLICAS > 1 ? 'es' : ''} of its own ${pinning ? 'pinned to CPU 0' : '(no pinning available)'}, each driven over an in-memory connection (bench/lib/in-memory.mjs: batches of 50 pipelined GET ${PATH} pushed into a handle-less net.Socket the server takes as a connection, so a monitor takes the path it takes on a real connection; Node's HTTP path, the framework, the query and the monitor run, the kernel and a load generator do not). In each of ${ROUNDS} rounds every process answers ${requestsFor(fw)} requests alone, in an order that rotates from round to round. A process's figure is its CPU time (process.cpuUsage: its worker threads and the collector's too) over its requests, a variant's the mean of its processes' (two processes of one build differ for as long as they live), median over rounds; "over off" is the median of the rounds' differences. A feature's cost is "on" minus "on without it" in the same round.`
            : `The demo's GET /notes/:id rebuilt in bench/realistic-server.mjs (one SQLite query through monitorDatabase, JSON out, SqliteStore on, the process watcher on, the admin page mounted, default sampling). Every variant's server runs at the same time (${fws.length * variants.length} servers), each in its own process ${pinning ? 'pinned to CPU 0' : '(no pinning available)'}, each driven by its own wrk (${CONNECTIONS} connections, pipelining ${PIPELINING}) ${pinning ? 'on CPU 1' : ''}; ${ROUNDS} rounds of ${DURATION} s after ${WARMUP} s of warm-up. A figure is the server's CPU time, read as ${CPU_CLOCK.source}, over the requests it answered, median over rounds; "over off" is the difference in the same round, so the machine's drift cancels. A feature's cost is "on" minus "on without it" in the same round.`,
          ...(quick && IN_MEMORY
            ? [
                `Not a measurement (--quick): ${ROUNDS} rounds of ${requestsFor(fw)} requests, one process a variant, are too few for the figures to settle; they only show that the script runs, and no row is judged against its target.`,
              ]
            : []),
          ...(quick && !IN_MEMORY
            ? [
                `Not a measurement (--quick): ${ROUNDS} rounds of ${DURATION} s after ${WARMUP} s of warm-up shared by ${fws.length * variants.length} servers are too short for them to settle (one such run put fastify off at 289–370 µs a request, some seven times what a full run measures); these figures only show that the script runs, and no row is judged against its target.`,
              ]
            : []),
        ],
      })
    }
    if (PROFILE) for (const fw of fws) out.push(await attribute(fw, servers))
    return out
  } finally {
    for (const list of replicas.values()) for (const s of list) s.stop()
  }
}

/**
 * CPU self time and bytes allocated per request by category, @perf on vs off, from the inspector
 * inside each server while wrk loads that server alone.
 */
async function attribute(fw, servers) {
  const picks = ['off', 'on', 'no-context', 'no-store', 'floor', 'floor-db'].filter((v) =>
    servers.has(`${fw} ${v}`),
  )
  const result = new Map()
  for (const v of picks) {
    const s = servers.get(`${fw} ${v}`)
    const url = `http://127.0.0.1:${s.port}${PATH}`
    const r = {}
    for (const kind of ['cpu', 'heap']) {
      const load = runWrk(url, PROFILE_SECONDS + 2, CONNECTIONS, PIPELINING)
      await sleep(1000)
      r[kind] = await s.ask('profile', { kind, ms: PROFILE_SECONDS * 1000 })
      await load
    }
    result.set(v, r)
  }
  const rows = []
  const per = (p, key) => (p.categories[key] ?? 0) / Math.max(1, p.requests)
  const keys = (kind) => [...new Set(picks.flatMap((v) => Object.keys(result.get(v)[kind].categories)))]
  for (const kind of ['cpu', 'heap']) {
    const unit = kind === 'cpu' ? 'µs self time/request' : 'bytes allocated/request'
    for (const key of keys(kind).filter((k) => k !== 'idle')) {
      const off = per(result.get('off')[kind], key)
      const on = per(result.get('on')[kind], key)
      const noCtx = result.has('no-context') ? per(result.get('no-context')[kind], key) : undefined
      const floor = result.has('floor') ? per(result.get('floor')[kind], key) : undefined
      const floorDb = result.has('floor-db') ? per(result.get('floor-db')[kind], key) : undefined
      rows.push({
        name: `${fw} ${kind === 'cpu' ? 'CPU' : 'allocations'}, ${key}: on − off`,
        value: round(on - off, 3),
        unit,
        note:
          `on ${round(on, 3)}, off ${round(off, 3)}` +
          (noCtx === undefined ? '' : `, on without context ${round(noCtx, 3)}`) +
          (floor === undefined ? '' : `, floor ${round(floor, 3)}`) +
          (floorDb === undefined ? '' : `, floor-db ${round(floorDb, 3)}`),
      })
    }
    const totalOf = (v) =>
      Object.entries(result.get(v)[kind].categories).reduce((n, [k, x]) => (k === 'idle' ? n : n + x), 0) /
      Math.max(1, result.get(v)[kind].requests)
    const row = {
      name: `${fw} ${kind === 'cpu' ? 'CPU' : 'allocations'}, total: on − off`,
      value: round(totalOf('on') - totalOf('off'), 3),
      unit,
      note:
        `on ${round(totalOf('on'), 3)}, off ${round(totalOf('off'), 3)}` +
        (result.has('no-context') ? `, on without context ${round(totalOf('no-context'), 3)}` : '') +
        (result.has('floor')
          ? `, floor (hand-written hook, db not monitored) ${round(totalOf('floor'), 3)}`
          : '') +
        (result.has('floor-db') ? `, floor-db (the whole job by hand) ${round(totalOf('floor-db'), 3)}` : ''),
    }
    if (kind === 'heap')
      row.note += '; includes the sampled events of the 10 % kept (their details and the store queue)'
    rows.push(row)
  }
  for (const v of picks) {
    for (const kind of ['cpu', 'heap']) {
      const p = result.get(v)[kind]
      const unit = kind === 'cpu' ? 'µs' : 'B'
      console.log(
        `  ${fw} ${v} ${kind} (${p.requests} requests): ` +
          Object.entries(p.categories)
            .map(([k, x]) => `${k} ${round(x / Math.max(1, p.requests), 3)} ${unit}`)
            .join(', '),
      )
      if (v !== 'off')
        for (const [fn, x] of p.top)
          console.log(`      ${round(x / Math.max(1, p.requests), 4)} ${unit}  ${fn}`)
    }
  }
  const topOn = result.get('on')
  return {
    title: `Realistic route: ${fw} GET /notes/:id — where @perf's cost goes (CPU self time and allocations per request by code, on − off)`,
    command: `pnpm bench:realistic -- --frameworks ${fw}`,
    rows,
    notes: [
      `Measured inside each server with the inspector while one wrk (${CONNECTIONS} connections) loads that server alone, ${PROFILE_SECONDS} s per profile: CPU from V8's sampling profiler (100 µs interval; the profiler's own cost is in every variant alike), allocations from V8's sampling heap profiler with collected objects included (every byte allocated, not only survivors; 128-byte mean interval). Categories by script URL: @perf = our packages; framework = node_modules other than better-sqlite3; node = Node's own modules; gc = the garbage collector; native = V8 builtins and C++ without a script.`,
      `Top @perf functions (on): CPU ${topOn.cpu.top
        .slice(0, 6)
        .map(([f, x]) => `${f} ${round(x / Math.max(1, topOn.cpu.requests), 3)} µs`)
        .join('; ')}. Allocations: ${topOn.heap.top
        .slice(0, 6)
        .map(([f, x]) => `${f} ${round(x / Math.max(1, topOn.heap.requests), 1)} B`)
        .join('; ')}.`,
    ],
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
