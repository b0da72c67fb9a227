// Soak test: the demo app (express, fastify and hono in one process, one monitor, SqliteStore) under
// mixed traffic — CRUD, feed, search, a slow report, a failing endpoint, the admin API and random 404
// paths — for a long while. Prints RSS growth after warm-up, event-loop p99 per minute against the
// first minute, failed requests and store drops, and exits non-zero when one fails.
//
//   node soak.mjs [--duration 10m] [--rate 200] [--concurrency 16] [--monitor on|off] [--quick (= --duration 30s)]
//
// Failed requests and dropped events fail any run. RSS growth and event-loop p99 are judged only on
// runs of 5 minutes or more: on a 30-second CI run they are printed, never failed on (timing).
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { checkFlags, emit, flag, headComment, median, parseDuration, quick, round } from './lib/result.mjs'
checkFlags(headComment(import.meta.url), ['concurrency', 'duration', 'monitor', 'rate'], ['quick'])

const DURATION = parseDuration(flag('duration', quick ? '30s' : '10m'))
const RATE = Number(flag('rate', '200'))
const CONCURRENCY = Number(flag('concurrency', '16'))
// `--monitor off`: the control run, the same app and traffic with the monitor disabled.
const MONITOR = flag('monitor', 'on')
if (MONITOR !== 'on' && MONITOR !== 'off') throw new RangeError(`--monitor ${MONITOR}: expected on or off`)
if (DURATION < 10_000 || DURATION > 24 * 3_600_000) throw new RangeError('--duration: expected 10s to 24h')
if (!(RATE > 0 && RATE <= 20_000)) throw new RangeError(`--rate ${RATE}: expected 1 to 20000 requests/s`)
if (!(Number.isInteger(CONCURRENCY) && CONCURRENCY >= 1 && CONCURRENCY <= 256)) {
  throw new RangeError(`--concurrency ${CONCURRENCY}: expected an integer from 1 to 256`)
}
// Windows of one minute on a long run; ten windows on a short one.
const WINDOW = Math.min(60_000, Math.max(2_000, Math.floor(DURATION / 10)))
const WARMUP = Math.min(60_000, Math.floor(DURATION / 5))
const JUDGED = DURATION >= 5 * 60_000
const RSS_LIMIT_MB = 10

const counts = { total: 0, failed: 0, byKind: new Map() }
const failures = []
const created = []
let nextSeed = 1
const server = await startServer()
const [first] = server.ready.urls
console.log(
  `soak: ${Math.round(DURATION / 1000)} s against ${server.ready.urls.join(', ')} at ~${RATE} req/s ` +
    `(${CONCURRENCY} clients); warm-up ${WARMUP / 1000} s; windows of ${WINDOW / 1000} s`,
)
if (first === undefined) throw new Error('the demo reported no URL')

/** @type {{ at: number, p50: number, p99: number, max: number, rss: number, heapUsed: number }[]} */
const windows = []
const t0 = Date.now()
server.onWindow((w) => {
  const at = Date.now() - t0
  // Only windows that lie inside the traffic (the demo's timer started a moment before t0).
  if (at > DURATION) return
  windows.push({ at, ...w })
  const failedSoFar = counts.failed
  console.log(
    `  ${String(Math.round((Date.now() - t0) / 1000)).padStart(5)} s: RSS ${(w.rss / 2 ** 20).toFixed(1)} MB, ` +
      `heap ${(w.heapUsed / 2 ** 20).toFixed(1)} MB, event-loop p99 ${w.p99.toFixed(2)} ms (max ${w.max.toFixed(1)}), ` +
      `${counts.total} requests, ${failedSoFar} failed`,
  )
})

const deadline = t0 + DURATION
await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => client(i)))

const stopped = await server.stop()
report(stopped)

/** One client: picks a request, sends it, checks the answer, keeps to its share of the rate. */
async function client(i) {
  const interval = (1000 * CONCURRENCY) / RATE
  let due = Date.now() + (interval * i) / CONCURRENCY
  while (Date.now() < deadline) {
    const wait = due - Date.now()
    if (wait > 0) await sleep(wait)
    due += interval
    const base = server.ready.urls[(counts.total + i) % server.ready.urls.length]
    const req = pick(base)
    counts.total++
    counts.byKind.set(req.kind, (counts.byKind.get(req.kind) ?? 0) + 1)
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: AbortSignal.timeout(30_000),
      })
      const text = await res.text()
      if (!req.expect.includes(res.status)) {
        fail(
          `${req.method} ${req.url} → ${res.status} (expected ${req.expect.join('/')}): ${text.slice(0, 120)}`,
        )
      } else if (req.kind === 'create') {
        created.push(JSON.parse(text).id)
      }
    } catch (err) {
      fail(`${req.method} ${req.url} → ${err instanceof Error ? err.message : err}`)
    }
  }
}

function fail(message) {
  counts.failed++
  if (failures.length < 20) failures.push(message)
}

/** The traffic mix. Creates and deletes balance, so the table (and the slow report's scan) stays the same size. */
function pick(base) {
  const r = Math.random() * 100
  const id = () => 1 + Math.floor(Math.random() * 200)
  const json = { 'content-type': 'application/json' }
  const word = ['latency', 'sqlite', 'cache', 'queue', 'nothing-matches'][Math.floor(Math.random() * 5)]
  if (r < 20) return { kind: 'list', method: 'GET', url: `${base}/notes?limit=20`, expect: [200] }
  if (r < 40) return { kind: 'get', method: 'GET', url: `${base}/notes/${id()}`, expect: [200, 404] }
  if (r < 48) {
    const body = JSON.stringify({ title: `soak ${nextSeed++}`, body: `written by the soak test ${word}` })
    return { kind: 'create', method: 'POST', url: `${base}/notes`, headers: json, body, expect: [201] }
  }
  if (r < 56) {
    const victim = created.shift()
    if (victim !== undefined)
      return { kind: 'delete', method: 'DELETE', url: `${base}/notes/${victim}`, expect: [200] }
  }
  if (r < 60) {
    const body = JSON.stringify({ title: `edited ${nextSeed++}`, body: 'edited by the soak test' })
    return {
      kind: 'update',
      method: 'PUT',
      url: `${base}/notes/${id()}`,
      headers: json,
      body,
      expect: [200, 404],
    }
  }
  if (r < 70) return { kind: 'feed', method: 'GET', url: `${base}/feed`, expect: [200] }
  if (r < 78) return { kind: 'search', method: 'GET', url: `${base}/search?q=${word}`, expect: [200] }
  // The slow report blocks the event loop for a long moment on purpose: rare, so the p99 still shows
  // what the rest of the traffic sees (its max shows the report).
  if (r < 78.1) return { kind: 'slow', method: 'GET', url: `${base}/reports/slow`, expect: [200] }
  if (r < 81) return { kind: 'broken', method: 'GET', url: `${base}/reports/broken`, expect: [500] }
  if (r < 83) return { kind: 'bad id', method: 'GET', url: `${base}/notes/not-a-number`, expect: [400] }
  if (r < 84) {
    const url = `${base}${server.ready.adminPath}/api/snapshot`
    return {
      kind: 'admin api',
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${server.ready.token}` },
      expect: [200],
    }
  }
  // Random paths: one `<unmatched>` op per method however many distinct paths arrive.
  const junk = Math.random().toString(36).slice(2)
  return {
    kind: '404',
    method: 'GET',
    url: `${base}/${junk}/${Math.floor(Math.random() * 1e9)}`,
    expect: [404],
  }
}

function report(stopped) {
  // Medians of up to three windows at each end, so one window's noise decides nothing.
  const afterWarmup = windows.filter((w) => w.at > WARMUP)
  const n = Math.max(1, Math.min(3, Math.floor(afterWarmup.length / 3)))
  const early = afterWarmup.slice(0, n)
  const late = afterWarmup.slice(-n)
  const rssStart = median(early.map((w) => w.rss))
  const rssEnd = median(late.map((w) => w.rss))
  const growthMb = (rssEnd - rssStart) / 2 ** 20
  const heapGrowthMb = (median(late.map((w) => w.heapUsed)) - median(early.map((w) => w.heapUsed))) / 2 ** 20
  const p99First = windows[0]?.p99 ?? Number.NaN
  const p99Last = median(late.map((w) => w.p99))
  // "Unchanged": within 20% or 2 ms of the first minute, whichever is larger (the timer has ~1 ms noise).
  const p99Allowed = Math.max(p99First * 1.2, p99First + 2)
  const storeDropped = stopped.store?.dropped ?? Number.NaN
  const sinkDropped = stopped.totals.sinkDropped
  const kinds = [...counts.byKind].map(([k, n]) => `${k} ${n}`).join(', ')
  console.log(`\nrequests: ${counts.total} (${kinds}); failed: ${counts.failed}`)
  for (const f of failures) console.log(`  failed: ${f}`)
  console.log(
    `RSS after warm-up ${(rssStart / 2 ** 20).toFixed(1)} MB → end ${(rssEnd / 2 ** 20).toFixed(1)} MB: ` +
      `${growthMb.toFixed(1)} MB (heap after GC ${heapGrowthMb >= 0 ? '+' : ''}${heapGrowthMb.toFixed(1)} MB)`,
  )
  console.log(
    `event-loop p99: first window ${p99First.toFixed(2)} ms, last ${n} ${p99Last.toFixed(2)} ms (allowed ${p99Allowed.toFixed(2)})`,
  )
  console.log(
    `store: ${JSON.stringify(stopped.store)}; monitor sink drops ${sinkDropped}; internal errors ${stopped.totals.internalErrors}`,
  )

  const rssOk = growthMb <= RSS_LIMIT_MB
  const p99Ok = p99Last <= p99Allowed
  const judged = JUDGED ? '' : ` (not judged: runs under 5 minutes only report it)`
  const rows = [
    { name: 'requests sent', value: counts.total, unit: 'requests', note: kinds },
    {
      name: 'failed requests',
      value: counts.failed,
      unit: 'requests',
      target: '0',
      pass: counts.failed === 0,
    },
    {
      name: 'RSS growth after warm-up',
      value: round(growthMb, 3),
      unit: 'MB',
      target: `≤ ${RSS_LIMIT_MB} MB`,
      ...(JUDGED ? { pass: rssOk } : {}),
      note:
        `median of ${n} window(s) after ${WARMUP / 1000} s of warm-up ${(rssStart / 2 ** 20).toFixed(1)} MB → last ${n} ` +
        `${(rssEnd / 2 ** 20).toFixed(1)} MB (sampled after a full GC); JS heap after GC ` +
        `${heapGrowthMb >= 0 ? '+' : ''}${heapGrowthMb.toFixed(1)} MB; RSS per window: ` +
        `${windows.map((w) => (w.rss / 2 ** 20).toFixed(0)).join(', ')}${judged}`,
    },
    {
      name: 'event-loop delay p99, last windows vs the first',
      value: round(p99Last, 3),
      unit: 'ms',
      target: `≤ ${round(p99Allowed, 3)} ms (first ${round(p99First, 3)} ms + max(20%, 2 ms))`,
      ...(JUDGED ? { pass: p99Ok } : {}),
      note: `median of the last ${n} window(s); p99 per ${WINDOW / 1000} s window: ${windows.map((w) => w.p99.toFixed(1)).join(', ')}${judged}`,
    },
    {
      name: 'SqliteStore dropped events',
      value: storeDropped,
      unit: 'events',
      target: '0',
      pass: storeDropped === 0,
      note: stopped.store
        ? `persisted ${stopped.store.persisted ?? '?'}, batches ${stopped.store.batches ?? '?'}`
        : 'no store',
    },
    {
      name: 'monitor sink queue drops',
      value: sinkDropped,
      unit: 'events',
      target: '0',
      pass: sinkDropped === 0,
    },
  ]
  const failed =
    counts.failed > 0 || storeDropped !== 0 || sinkDropped !== 0 || (JUDGED && (!rssOk || !p99Ok))
  emit({
    title: `Soak: the demo app for ${round(DURATION / 60_000, 3)} minutes${MONITOR === 'off' ? ' (control: monitor disabled)' : ''}`,
    command: `pnpm soak --duration ${Math.round(DURATION / 1000)}s${MONITOR === 'off' ? ' --monitor off' : ''}`,
    rows,
    notes: [
      `The demo (express, fastify and hono on three ports in one process, one monitor, SqliteStore at default ` +
        `settings, no built-in traffic) in its own process; ~${RATE} req/s from ${CONCURRENCY} clients spread over the ` +
        'three frameworks: list, get, create, update, delete, feed, search, the slow report, the failing endpoint ' +
        '(500 expected), bad ids (400 expected), the admin JSON API and random 404 paths.',
      'A request fails when it errors, times out (30 s) or answers another status than expected. RSS is sampled ' +
        'in the demo process at the end of each window; event-loop delay is a perf_hooks histogram (10 ms timer, delay = lateness past 10 ms) reset every window.',
    ],
  })
  process.exitCode = failed ? 1 : 0
}

async function startServer() {
  const child = spawn(process.execPath, ['--expose-gc', 'soak-server.mjs', String(WINDOW), MONITOR], {
    cwd: new URL('.', import.meta.url),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const listeners = []
  let onStopped
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the demo did not start within 60 s')), 60_000)
    child.once('exit', (code) =>
      reject(new Error(`the demo process exited with ${code} before it was ready`)),
    )
    child.on('message', (msg) => {
      if (msg.error) {
        clearTimeout(timer)
        reject(new Error(`the demo did not start: ${msg.error}`))
      } else if (msg.ready) {
        clearTimeout(timer)
        resolve(msg.ready)
      } else if (msg.window) {
        for (const l of listeners) l(msg.window)
      } else if (msg.stopped) {
        onStopped?.(msg.stopped)
      }
    })
  })
  child.removeAllListeners('exit')
  child.on('exit', (code) => {
    if (onStopped !== undefined) return
    console.error(`the demo process exited with ${code} during the soak`)
    process.exit(1)
  })
  return {
    ready,
    onWindow: (l) => listeners.push(l),
    stop: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error('the demo did not stop within 30 s'))
        }, 30_000)
        onStopped = (s) => {
          clearTimeout(timer)
          resolve(s)
        }
        child.send({ cmd: 'stop' })
      }),
  }
}
