/*
 * End to end: a real Prometheus server (Debian package `prometheus`) scrapes a real express app
 * (`perf` + `metrics`) every second, with bearer auth; then its HTTP API must report the monitor's own
 * numbers.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMonitor, type Monitor } from '@perf/core'
import { type ProcessWatcher, watchProcess } from '@perf/core/node'
import express from 'express'
import { metrics, perf } from './index.js'

const TOKEN = 'e2e-scrape-token'
const ROUTE = 'GET /work/:id'
const hasPrometheus = spawnSync('prometheus', ['--version']).error === undefined

let monitor: Monitor
let app: Server
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
      expect(await scalar(`up{job="perf"}`)).toBe(1)

      const byClass = Object.fromEntries(
        (await query(`perf_events_total{${sel}}`)).map((s) => [s.metric.status_class, Number(s.value[1])]),
      )
      expect(byClass).toEqual(Object.fromEntries(Object.entries(op.totalStatus!).filter(([, n]) => n > 0)))
      expect(await scalar(`sum(perf_events_total{${sel}})`)).toBe(op.totalCount)
      expect(await scalar(`perf_errors_total{${sel}}`)).toBe(op.totalErrors)
      expect(await scalar(`perf_duration_seconds_sum{${sel}}`)).toBeCloseTo(op.totalSumMs / 1000, 6)
      expect(await scalar('perf_monitor_events_total')).toBe(snap.totals.events)

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
      expect((upper - lower) / lower).toBeLessThanOrEqual(1 / 8 + 1e-9)

      // Process health arrived under the conventional names.
      expect(await scalar('nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
      expect(await scalar('process_resident_memory_bytes')).toBeGreaterThan(0)
      expect(await scalar('process_cpu_seconds_total')).toBeGreaterThan(0)
    }, 50_000)
  },
)
