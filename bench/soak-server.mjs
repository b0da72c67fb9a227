// The process under soak: the demo app (apps/demo), started without its own traffic generator, in
// a process of its own so its memory is measured alone. Started by soak.mjs with an IPC channel:
//   → { ready: { urls, adminUrl?, token? } }   once listening
//   → { window: { p50, p99, max, rss, heapUsed, external } }   every `windowMs`: event-loop delay of that
//     window, memory after a full collection (run it with --expose-gc)
//   ← { cmd: 'stats' } → { stats: { store, totals } }
//   ← { cmd: 'stop' }  → { stopped: { store, totals } } after the demo closed (store flushed), then exits
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const windowMs = Number(process.argv[2] ?? 60_000)
const monitorMode = process.argv[3] ?? 'on'
if (typeof process.send !== 'function') {
  console.error('soak-server.mjs is started by soak.mjs (it needs an IPC channel)')
  process.exit(2)
}

const dataDir = mkdtempSync(join(tmpdir(), 'perf-soak-'))
const token = `soak-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
let demo
let ADMIN_PATH
try {
  const { startDemo, ADMIN_PATH: adminPath } = await import('@perf/demo')
  ADMIN_PATH = adminPath
  demo = await startDemo({
    dataDir,
    ports: { express: 0, fastify: 0, hono: 0 },
    host: '127.0.0.1',
    load: false,
    token,
    // Default settings: no PERF_* variable of this shell changes what is soaked. `off` is the control
    // run: the same app and traffic with the monitor disabled (adapters install nothing).
    env: monitorMode === 'off' ? { PERF_ENABLED: 'false' } : {},
  })
} catch (err) {
  process.send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  cleanup()
  process.exit(1)
}

// Our own event-loop delay histogram, independent of the demo's process watcher. It records the time
// between ticks of a RESOLUTION ms timer, so the delay is what exceeds RESOLUTION.
const RESOLUTION = 10
const delay = monitorEventLoopDelay({ resolution: RESOLUTION })
delay.enable()
const windowTimer = setInterval(() => {
  const loop = {
    p50: Math.max(0, delay.percentile(50) / 1e6 - RESOLUTION),
    p99: Math.max(0, delay.percentile(99) / 1e6 - RESOLUTION),
    max: Math.max(0, delay.max / 1e6 - RESOLUTION),
  }
  // Memory after a full collection, so a window's figure is what is retained rather than where the
  // garbage collector happened to be (one pause a window: one sample of the next window's histogram).
  globalThis.gc?.()
  const m = process.memoryUsage()
  delay.reset()
  process.send({ window: { ...loop, rss: m.rss, heapUsed: m.heapUsed, external: m.external } })
}, windowMs)

process.send({ ready: { urls: Object.values(demo.urls), adminPath: ADMIN_PATH, token } })

process.on('message', async (msg) => {
  if (msg?.cmd === 'stats') process.send({ stats: stats() })
  if (msg?.cmd === 'stop') {
    clearInterval(windowTimer)
    delay.disable()
    await demo.stop()
    process.send({ stopped: stats() })
    cleanup()
    process.exit(0)
  }
})
process.on('disconnect', () => {
  cleanup()
  process.exit(0)
})

function stats() {
  const snap = demo.monitor.snapshot({ recent: 0, slow: 0 })
  return { store: demo.store.stats(), totals: snap.totals }
}

function cleanup() {
  try {
    rmSync(dataDir, { recursive: true, force: true })
  } catch {
    // a temp folder left behind is harmless
  }
}
