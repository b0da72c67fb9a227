#!/usr/bin/env node
// Process-health benchmark: what one watchProcess tick costs (memory, CPU, event-loop delay and
// utilisation, GC, handles, peaks, series, sinks), with an allocating workload running between ticks.
// Target: median ≤ 1 ms on Linux. Run: node bench/process.mjs [--quick]
// Imports the built packages: run `pnpm build` first.
import { setTimeout as sleep } from 'node:timers/promises'
import { createMonitor } from '@perf/core'
import { watchProcess } from '@perf/core/node'
import { checkFlags, headComment } from './lib/result.mjs'
checkFlags(headComment(import.meta.url), [], ['quick'])

const quick = process.argv.includes('--quick')
const TICKS = quick ? 100 : 500
let samplesToSinks = 0
const monitor = createMonitor({ sinks: [{ writeSamples: (s) => void (samplesToSinks += s.length) }] })
// A long interval: the benchmark drives the ticks itself, so every measured tick is one it timed.
const watcher = watchProcess(monitor, { intervalMs: 3_600_000, baselineDelayMs: 0, force: true })

let keep = []
const costs = []
for (let i = 0; i < TICKS + 20; i++) {
  // Workload between ticks: garbage (so GC entries arrive) and a few live timers.
  for (let j = 0; j < 5_000; j++) keep.push({ j, s: `v${j}` })
  if (keep.length > 50_000) keep = []
  await sleep(2)
  const t0 = performance.now()
  watcher.sampleNow()
  const ms = performance.now() - t0
  if (i >= 20) costs.push(ms) // the first ticks warm up the JIT
}
const snap = monitor.snapshot()
watcher.stop()
await monitor.close()

costs.sort((a, b) => a - b)
const at = (q) => costs[Math.min(costs.length - 1, Math.floor(q * costs.length))]
const fmt = (ms) => `${(ms * 1000).toFixed(0)} µs`
console.log(
  `watchProcess tick cost over ${costs.length} ticks (Node ${process.version}, ${process.platform})`,
)
console.log(
  `  median ${fmt(at(0.5))}   p90 ${fmt(at(0.9))}   p99 ${fmt(at(0.99))}   max ${fmt(costs.at(-1))}`,
)
console.log(`  target: median ≤ 1000 µs → ${at(0.5) <= 1 ? 'met' : 'NOT met'}`)
console.log(`  samples to sinks: ${samplesToSinks}; gc entries seen: ${snap.process.current.gcCountTotal}`)
