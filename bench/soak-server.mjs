// The process under soak: the demo app (apps/demo), started without its own traffic generator, in
// a process of its own so its memory is measured alone. Started by soak.mjs with an IPC channel:
//   → { ready: { urls, adminUrl?, token? } }   once listening
//   → { window: { p50, p99, max, rss, heapUsed } }   every `windowMs` (event-loop delay of that window)
//   ← { cmd: 'stats' } → { stats: { store, totals } }
//   ← { cmd: 'stop' }  → { stopped: { store, totals } } after the demo closed (store flushed), then exits
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const windowMs = Number(process.argv[2] ?? 60_000)
if (typeof process.send !== 'function') {
  console.error('soak-server.mjs is started by soak.mjs (it needs an IPC channel)')
  process.exit(2)
}

const dataDir = mkdtempSync(join(tmpdir(), 'perf-soak-'))
const token = `soak-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
let demo
try {
  const { startDemo } = await import('@perf/demo')
  demo = await startDemo({
    dataDir,
    port: 0,
    host: '127.0.0.1',
    load: false,
    adminToken: token,
    log: () => {},
  })
} catch (err) {
  process.send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  cleanup()
  process.exit(1)
}

// Our own event-loop delay histogram, independent of the demo's process watcher.
const delay = monitorEventLoopDelay({ resolution: 10 })
delay.enable()
const windowTimer = setInterval(() => {
  const m = process.memoryUsage()
  process.send({
    window: {
      p50: delay.percentile(50) / 1e6,
      p99: delay.percentile(99) / 1e6,
      max: delay.max / 1e6,
      rss: m.rss,
      heapUsed: m.heapUsed,
    },
  })
  delay.reset()
}, windowMs)

process.send({ ready: { urls: urlsOf(demo), adminPath: demo.adminPath ?? '/admin/performance', token } })

process.on('message', async (msg) => {
  if (msg?.cmd === 'stats') process.send({ stats: stats() })
  if (msg?.cmd === 'stop') {
    clearInterval(windowTimer)
    delay.disable()
    await demo.close()
    process.send({ stopped: stats() })
    cleanup()
    process.exit(0)
  }
})
process.on('disconnect', () => {
  cleanup()
  process.exit(0)
})

/** The demo's three base URLs, whatever shape `startDemo` returns them in. */
function urlsOf(d) {
  if (Array.isArray(d.urls)) return d.urls
  if (d.urls && typeof d.urls === 'object') return Object.values(d.urls)
  if (Array.isArray(d.servers)) return d.servers.map((s) => s.url)
  throw new Error('startDemo() returned no urls')
}

function stats() {
  const snap = demo.monitor.snapshot({ recent: 0, slow: 0 })
  return { store: demo.store?.stats?.() ?? null, totals: snap.totals }
}

function cleanup() {
  try {
    rmSync(dataDir, { recursive: true, force: true })
  } catch {
    // a temp folder left behind is harmless
  }
}
