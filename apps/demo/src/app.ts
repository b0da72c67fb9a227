import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configFromEnv, createMonitor, type Monitor, type MonitorOptions } from '@perf/core'
import { type ProcessWatcher, watchProcess } from '@perf/core/node'
import { SqliteStore } from '@perf/sqlite'
import { Notes } from './notes.js'
import {
  ADMIN_PATH,
  METRICS_PATH,
  type RunningServer,
  startExpress,
  startFastify,
  startHono,
} from './servers.js'
import { startTraffic, type Traffic } from './traffic.js'

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Ports of the three apps; 0 picks a free one. Default 3001, 3002, 3003. */
  ports?: { express?: number; fastify?: number; hono?: number }
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string
  /** Folder of the SQLite files (created if missing). Default `data/` in the demo package. */
  dataDir?: string
  /** Admin token. Default `PERF_ADMIN_TOKEN`, else a random one. */
  token?: string
  /** Run the built-in traffic generator. Default true. */
  load?: boolean
  /** Requests per second the generator sends. Default 20. */
  loadRate?: number
  /** Monitor options on top of the demo's defaults and `PERF_*` variables. */
  monitor?: MonitorOptions
  /** Process sampling interval in ms. Default 2000. */
  processIntervalMs?: number
  /** Auto-refresh of the admin page in ms. Default 5000. */
  refreshMs?: number
  /** Environment to read `PERF_*` from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>
}

/** A running demo. */
export interface Demo {
  readonly monitor: Monitor
  readonly store: SqliteStore
  /** The notes service (its `db` is the instrumented better-sqlite3 database). */
  readonly notes: Notes
  readonly token: string
  /** Whether the token came from `PERF_ADMIN_TOKEN` (or the `token` option) rather than being generated. */
  readonly tokenGiven: boolean
  readonly urls: { readonly express: string; readonly fastify: string; readonly hono: string }
  readonly adminUrls: { readonly express: string; readonly fastify: string; readonly hono: string }
  /** Each app's Prometheus endpoint (bearer: the admin token). */
  readonly metricsUrls: { readonly express: string; readonly fastify: string; readonly hono: string }
  readonly traffic: Traffic | undefined
  /** Stops the traffic and the servers, flushes the store and closes everything. Idempotent. */
  stop(): Promise<void>
}

/** Default data folder: `data/` beside `src/` and `dist/`. */
const DEFAULT_DATA_DIR = fileURLToPath(new URL('../data/', import.meta.url))

/**
 * Starts the notes service on express, fastify and hono at once, sharing one monitor, one
 * `SqliteStore` and the process watcher, with the admin page at `/admin/performance` on each.
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const env = options.env ?? process.env
  const host = options.host ?? '127.0.0.1'
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR
  mkdirSync(dataDir, { recursive: true })
  const given = options.token ?? env.PERF_ADMIN_TOKEN
  const token = given !== undefined && given !== '' ? given : randomBytes(18).toString('base64url')

  const store = new SqliteStore({ path: join(dataDir, 'perf.db') })
  const monitor = createMonitor({
    // Short slices so the charts fill in within seconds; the window stays 15 minutes.
    sliceMs: 10_000,
    windowMs: 900_000,
    slowMs: { default: 1000, http: 250, db: 100 },
    ...configFromEnv(env),
    ...options.monitor,
    sinks: [store, ...(options.monitor?.sinks ?? [])],
  })
  const watcher: ProcessWatcher = watchProcess(monitor, {
    intervalMs: options.processIntervalMs ?? 2000,
    force: true,
  })
  const notes = new Notes(join(dataDir, 'notes.db'), monitor)
  const deps = {
    monitor,
    notes,
    host,
    dashboard: { token, store, title: 'Notes demo · performance', refreshMs: options.refreshMs ?? 5000 },
  }
  const ports = { express: 3001, fastify: 3002, hono: 3003, ...options.ports }
  const servers: RunningServer[] = []
  let stopped: Promise<void> | undefined
  let traffic: Traffic | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await traffic?.stop()
      await Promise.allSettled(servers.map((s) => s.close()))
      watcher.stop()
      // Closing the monitor flushes queued events to the store and closes it.
      await monitor.close()
      notes.close()
    })()
    return stopped
  }
  try {
    servers.push(await startExpress(deps, ports.express))
    servers.push(await startFastify(deps, ports.fastify))
    servers.push(await startHono(deps, ports.hono))
  } catch (err) {
    await stop()
    throw err
  }
  const [ex, fa, ho] = servers as [RunningServer, RunningServer, RunningServer]
  const urls = { express: ex.url, fastify: fa.url, hono: ho.url }
  if (options.load !== false) traffic = startTraffic(Object.values(urls), options.loadRate ?? 20)
  const admin = (u: string) => `${u}${ADMIN_PATH}/`
  return {
    monitor,
    store,
    notes,
    token,
    tokenGiven: given !== undefined && given !== '',
    urls,
    adminUrls: { express: admin(ex.url), fastify: admin(fa.url), hono: admin(ho.url) },
    metricsUrls: {
      express: `${ex.url}${METRICS_PATH}`,
      fastify: `${fa.url}${METRICS_PATH}`,
      hono: `${ho.url}${METRICS_PATH}`,
    },
    traffic,
    stop,
  }
}
