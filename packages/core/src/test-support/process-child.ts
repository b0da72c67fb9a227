// Run as a child process by process.test.ts (after compileCore): starts a watcher, optionally stops
// it, prints what is still alive as JSON, then must exit on its own.
import { createHook } from 'node:async_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { createMonitor } from '../index.js'
import { watchProcess } from '../node/index.js'

const mode = process.argv[2]
// Created before the hook: only the watcher's own timers are tracked.
const monitor = createMonitor({ sliceMs: 60_000 })
const intervals = new Map<number, { _repeat?: number | null }>()
const hook = createHook({
  init(id, type, _trigger, resource) {
    if (type === 'Timeout') intervals.set(id, resource as { _repeat?: number | null })
  },
  destroy(id) {
    intervals.delete(id)
  },
})
hook.enable()
// Let startup requests settle and open stdout first, so `before` and `after` differ only by the watcher.
void process.stdout
await sleep(20)
const before = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout')
const watcher = watchProcess(monitor, { intervalMs: 100, baselineDelayMs: 0, force: true })
await sleep(350)
const section = monitor.snapshot().process as { samples: number } | undefined
if (mode === 'stop') watcher.stop()
await sleep(10)
// Interval timers (the watcher's tick) that were created and never cleared.
const liveIntervals = [...intervals.values()].filter((t) => typeof t._repeat === 'number').length
hook.disable()
await monitor.close()
process.stdout.write(
  JSON.stringify({
    samples: section?.samples ?? 0,
    running: watcher.running,
    liveIntervals,
    before,
    after: process.getActiveResourcesInfo().filter((r) => r !== 'Timeout'),
    sectionAfter: 'process' in monitor.snapshot(),
  }),
)
