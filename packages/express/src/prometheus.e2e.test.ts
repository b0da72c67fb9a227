/*
 * End to end: a real Prometheus server (Debian package `prometheus`) scrapes real express apps
 * (`perf` + `metrics`) every second; then its HTTP API must report the monitors' own numbers: one app
 * with bearer auth, and two instances of another whose histograms must add up with `sum by (le)`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addHistograms, createMonitor, DEFAULT_PROMETHEUS_BUCKETS, type Monitor, quantile } from '@perf/core'
import { type ProcessWatcher, watchProcess } from '@perf/core/node'
import express from 'express'
import { metrics, perf } from './index.js'

const TOKEN = 'e2e-scrape-token'
const ROUTE = 'GET /work/:id'
const hasPrometheus = spawnSync('prometheus', ['--version']).error === undefined

let monitor: Monitor
let app: Server
/** Two instances of one service (a monitor and a server each), for the aggregation test. */
const instances: { monitor: Monitor; server: Server }[] = []
/** The aggregation test's routes and how long each takes, in ms. */
const ROUTES = { '/one': 1, '/ten': 10, '/hundred': 100 } as const
let prom: ChildProcess | undefined
let promUrl = ''
let dir = ''
let watcher: ProcessWatcher | undefined

/** The monitored app: `perf` times every request, `metrics` serves the exposition (never recorded). */
function startApp(): Promise<Server> {
  const app = express()
  app.use(perf(monitor))
  app.get('/metrics', metrics(monitor, { token: TOKEN }))
  app.get('/work/:id', (req, res) => {
    const id = Number(req.params.id)
    const status = id % 20 === 0 ? 500 : id % 7 === 0 ? 404 : 200
    // Latency spread over a few ms to ~40 ms, so the p95 sits well inside the histogram.
    setTimeout(() => res.status(status).send('done'), (id * 37) % 40)
  })
  const server = createServer(app)
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

/** One instance of the three-route service. */
function startInstance(monitor: Monitor): Promise<Server> {
  const app = express()
  app.use(perf(monitor))
  app.get('/metrics', metrics(monitor, { token: false }))
  for (const [path, ms] of Object.entries(ROUTES)) {
    app.get(path, (_req, res) => {
      setTimeout(() => res.send('done'), ms)
    })
  }
  const server = createServer(app)
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const portOf = (server: Server): number => (server.address() as AddressInfo).port

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < end) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
}

interface PromSample {
  metric: Record<string, string>
  value: [number, string]
}

async function query(q: string): Promise<PromSample[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)
  const body = (await res.json()) as { status: string; data: { result: PromSample[] }; error?: string }
  if (body.status !== 'success') throw new Error(`query ${q}: ${body.error}`)
  return body.data.result
}

async function scalar(q: string): Promise<number | undefined> {
  const r = await query(q)
  return r.length === 1 ? Number(r[0]!.value[1]) : undefined
}

const SKIPPED = 'SKIPPED: the prometheus binary (Debian package "prometheus") is not installed'

describe.skipIf(!hasPrometheus)(
  `a real Prometheus scraping a monitored app${hasPrometheus ? '' : ` (${SKIPPED})`}`,
  () => {
    beforeAll(async () => {
      monitor = createMonitor({ sampling: 0 })
      watcher = watchProcess(monitor, { intervalMs: 200, force: true })
      app = await startApp()
      const appPort = (app.address() as AddressInfo).port
      for (let k = 0; k < 2; k++) {
        const m = createMonitor({ sampling: 0 })
        instances.push({ monitor: m, server: await startInstance(m) })
      }
      const promPort = await freePort()
      promUrl = `http://127.0.0.1:${promPort}`
      dir = mkdtempSync(join(tmpdir(), 'perf-prom-'))
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          'scrape_configs:',
          '  - job_name: perf',
          '    authorization:',
          `      credentials: ${TOKEN}`,
          '    static_configs:',
          `      - targets: ['127.0.0.1:${appPort}']`,
          '  - job_name: agg',
          '    static_configs:',
          `      - targets: [${instances.map((i) => `'127.0.0.1:${portOf(i.server)}'`).join(', ')}]`,
          '',
        ].join('\n'),
      )
      prom = spawn(
        'prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      )
      let log = ''
      prom.stderr!.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-4000)
      })
      prom.once('exit', (code) => {
        if (code !== null && code !== 0) log += `\nprometheus exited with ${code}`
      })
      await waitFor(`Prometheus to be ready (log: ${log})`, async () => {
        const r = await fetch(`${promUrl}/-/ready`)
        return r.ok ? true : undefined
      })
    }, 40_000)

    afterAll(async () => {
      watcher?.stop()
      if (prom && prom.exitCode === null && prom.signalCode === null) {
        const exited = new Promise((r) => prom!.once('exit', r))
        prom.kill('SIGTERM')
        const timer = setTimeout(() => prom?.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
      await new Promise((r) => app?.close(r))
      await monitor?.close()
      for (const { monitor, server } of instances.splice(0)) {
        await new Promise((r) => server.close(r))
        await monitor.close()
      }
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    it('reports the monitor’s counts exactly and its p95 within bucket resolution', async () => {
      // Traffic: 600 requests, 12 at a time.
      const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`
      let next = 0
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          while (next < 600) await (await fetch(`${base}/work/${next++}`)).arrayBuffer()
        }),
      )
      const snap = monitor.snapshot({ histograms: true })
      const op = snap.types.http!.ops.find((o) => o.name === ROUTE)!
      expect(op.totalCount).toBe(600)
      const sel = `type="http",name="${ROUTE}"`

      // Wait for a scrape that happened after the traffic ended.
      await waitFor('a scrape with all 600 requests', async () =>
        (await scalar(`perf_duration_seconds_count{${sel}}`)) === 600 ? true : undefined,
      )
      expect(await scalar('up{job="perf"}')).toBe(1)

      const byClass = Object.fromEntries(
        (await query(`perf_events_total{${sel}}`)).map((s) => [s.metric.status_class, Number(s.value[1])]),
      )
      expect(byClass).toEqual(Object.fromEntries(Object.entries(op.totalStatus!).filter(([, n]) => n > 0)))
      expect(await scalar(`sum(perf_events_total{${sel}})`)).toBe(op.totalCount)
      expect(await scalar(`perf_errors_total{${sel}}`)).toBe(op.totalErrors)
      expect(await scalar(`perf_duration_seconds_sum{${sel}}`)).toBeCloseTo(op.totalSumMs / 1000, 6)
      expect(await scalar('perf_monitor_events_total{job="perf"}')).toBe(snap.totals.events)

      const promP95 = (await scalar(`histogram_quantile(0.95, perf_duration_seconds_bucket{${sel}})`))!
      const monitorP95 = op.p95Ms / 1000
      const les = (await query(`perf_duration_seconds_bucket{${sel}}`))
        .map((s) => Number(s.metric.le))
        .filter(Number.isFinite)
        .sort((a, b) => a - b)
      const upper = les.find((le) => le >= monitorP95)!
      const lower = les.filter((le) => le < monitorP95).at(-1) ?? 0
      // Resolution: the exposed bucket holding the monitor's p95, plus the monitor's own bucket error.
      expect(Math.abs(promP95 - monitorP95)).toBeLessThanOrEqual(upper - lower + monitorP95 / 32)
      // The default edges: each bucket at most 1.5 times its lower edge.
      expect(upper / lower).toBeLessThanOrEqual(1.5 + 1e-9)

      // Process health arrived under the conventional names.
      expect(await scalar('nodejs_heap_size_used_bytes{job="perf"}')).toBeGreaterThan(0)
      expect(await scalar('process_resident_memory_bytes{job="perf"}')).toBeGreaterThan(0)
      expect(await scalar('process_cpu_seconds_total{job="perf"}')).toBeGreaterThan(0)
    }, 50_000)

    it('adds up across routes and instances: sum by (le) quantiles land within one bucket of the truth', async () => {
      const sel = 'job="agg",type="http"'
      const count = () => scalar(`sum(perf_duration_seconds_count{${sel}})`)
      const hit = async (server: Server, path: string) =>
        (await fetch(`http://127.0.0.1:${portOf(server)}${path}`)).arrayBuffer()
      // One request per route and instance first, and a scrape of them, so that every series exists
      // before the measured traffic (rate() needs a sample before the increase it measures).
      for (const { server } of instances) for (const path of Object.keys(ROUTES)) await hit(server, path)
      await waitFor('a scrape of the first requests', async () => ((await count()) === 6 ? true : undefined))

      // Then 60 requests per route and instance, 2 at a time each: few enough at once that the
      // routes' latencies stay apart (client and servers share this process's event loop).
      const PER = 60
      await Promise.all(
        instances.flatMap(({ server }) =>
          Object.keys(ROUTES).flatMap((path) =>
            Array.from({ length: 2 }, async () => {
              for (let i = 0; i < PER / 2; i++) await hit(server, path)
            }),
          ),
        ),
      )
      const total = 6 + 6 * PER
      await waitFor(`a scrape with all ${total} requests`, async () =>
        (await count()) === total ? true : undefined,
      )
      // Let one more scrape in, so rate()'s last sample is the final count on both targets.
      await new Promise((r) => setTimeout(r, 1500))

      // Every series of the family has the same le edges: each edge is on all 6 (3 routes × 2 instances).
      const perLe = await query(`count by (le) (perf_duration_seconds_bucket{${sel}})`)
      expect(perLe).toHaveLength(DEFAULT_PROMETHEUS_BUCKETS.length + 1)
      for (const s of perLe) expect(Number(s.value[1]), `le=${s.metric.le}`).toBe(6)

      // The truth: the monitors' own histograms, merged exactly (to their 1.5 % resolution).
      const snaps = instances.map(({ monitor }) => monitor.snapshot({ histograms: true }))
      const ops = (name?: string) =>
        snaps.flatMap((s) => s.types.http!.ops.filter((o) => name === undefined || o.name === name))
      const truth = (q: number, name?: string): number => {
        const list = ops(name)
        let h = { offset: 0, counts: [] as number[] }
        for (const op of list) h = addHistograms(h, op.totalHistogram!)
        const n = list.reduce((sum, op) => sum + op.totalCount, 0)
        expect(n).toBe(name === undefined ? total : total / 3)
        const min = Math.min(...list.map((o) => o.minMs))
        const max = Math.max(...list.map((o) => o.maxMs))
        return quantile(h, n, q, min, max) / 1000
      }
      const edges = [...DEFAULT_PROMETHEUS_BUCKETS]
      /** Prometheus' answer is within one bucket: no further from the truth than the bucket holding it is wide. */
      const expectWithinOneBucket = (got: number, want: number, what: string) => {
        const above = edges.find((le) => le > want)!
        const below = edges.filter((le) => le <= want).at(-1) ?? 0
        expect(Math.abs(got - want), `${what}: Prometheus ${got} s, monitors ${want} s`).toBeLessThanOrEqual(
          above - below,
        )
      }
      const rate = `rate(perf_duration_seconds_bucket{${sel}}[1m])`
      for (const q of [0.5, 0.95]) {
        const want = truth(q)
        expectWithinOneBucket(
          (await scalar(`histogram_quantile(${q}, sum by (le) (${rate}))`))!,
          want,
          `p${q * 100} over both instances and all routes`,
        )
        const perRoute = await query(`histogram_quantile(${q}, sum by (le, name) (${rate}))`)
        expect(perRoute.map((s) => s.metric.name).sort()).toEqual(['GET /hundred', 'GET /one', 'GET /ten'])
        for (const s of perRoute) {
          const name = s.metric.name!
          expectWithinOneBucket(Number(s.value[1]), truth(q, name), `p${q * 100} of ${name}`)
        }
      }
    }, 60_000)
  },
)
