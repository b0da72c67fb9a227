// Run by sqlite.mjs in a process of its own:
//   node sqlite-loaded.mjs <directory> <rounds> <milliseconds per run>
// A loaded app: every millisecond a timer records RATE/1000 requests into a monitor at sampling 1,
// so every one is a kept event for the store (RATE events/s, a full 1,000-event batch every
// 1000/RATE*1000 ms). Event-loop delay (monitorEventLoopDelay, 1 ms resolution) with the store off,
// with the floor (a hand-written sink posting each batch to a hand-written worker that inserts it:
// lib/floor-store-worker.mjs), in its worker (the default), and in-thread; interleaved rounds, the
// order rotating. Prints one JSON line: per variant, each round's p99 and max in ms and the events
// persisted.
//
// In a process of its own, not in sqlite.mjs's: there the measurement ran after the rest of that
// bench had filled the heap, and each collection of the main thread (every variant's, the same)
// lengthened the delays the rows compare: off, the floor and the worker measured 1.51, 2.49 and 2.96
// ms there (Node 20, e1df55c), against 1.2–1.4, 1.6–1.7 and 1.5–1.7 here (Node 20 and 24, ab91ce3
// and 966571a), and the worker minus the floor moved by half a millisecond between two runs of the
// same code there, by 0.05 here (two runs on Node 20).
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createMonitor } from '@perf/core'
import { SqliteStore } from '@perf/sqlite'
import { floorSink } from './floor-store.mjs'

export const RATE = 10_000
export const LOAD_VARIANTS = ['off', 'floor', 'worker', 'in-thread']

/**
 * A monitor at sampling 1 feeding `variant`'s sink (none for `off`; `floor`: lib/floor-store.mjs;
 * `worker` / `in-thread`: SqliteStore) at `path`, with a first batch written: a deployed app's store
 * is opened once, at boot, and a store's flush with nothing queued does not wait for its worker.
 */
export async function loadedMonitor(variant, path) {
  const sink =
    variant === 'off'
      ? undefined
      : variant === 'floor'
        ? await floorSink(path)
        : new SqliteStore({ path, thread: variant !== 'in-thread', flushIntervalMs: 1000 })
  const m = createMonitor({ sampling: 1, sinks: sink === undefined ? [] : [sink], sinkIntervalMs: 100 })
  for (let i = 0; i < 1000; i++) m.record('http', 'warm-up', 1)
  await m.flush()
  if (sink !== undefined) await sink.flush()
  return { m, sink }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [dir, roundsArg, msArg] = process.argv.slice(2)
  const rounds = Number(roundsArg)
  const loadMs = Number(msArg)
  if (dir === undefined || !(rounds >= 1) || !(loadMs > 0)) {
    console.error(
      `usage: sqlite-loaded.mjs <directory> <rounds ≥ 1> <milliseconds > 0>, got ${process.argv.slice(2).join(' ')}`,
    )
    process.exit(2)
  }
  const loaded = Object.fromEntries(LOAD_VARIANTS.map((v) => [v, { p99: [], max: [], persisted: 0 }]))
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < LOAD_VARIANTS.length; k++) {
      const variant = LOAD_VARIANTS[(r + k) % LOAD_VARIANTS.length]
      const { m, sink } = await loadedMonitor(variant, join(dir, `load-${variant}-${r}.db`))
      const h = monitorEventLoopDelay({ resolution: 1 })
      const perTick = RATE / 1000
      let n = 0
      await new Promise((done) => {
        const end = performance.now() + loadMs
        const tick = setInterval(() => {
          for (let i = 0; i < perTick; i++) m.record('http', `GET /notes/${n++ % 50}`, 0.5 + (n % 13) * 0.1)
          if (performance.now() >= end) {
            clearInterval(tick)
            done()
          }
        }, 1)
        h.enable()
      })
      h.disable()
      loaded[variant].p99.push(h.percentile(99) / 1e6)
      loaded[variant].max.push(h.max / 1e6)
      await m.close()
      if (sink !== undefined) {
        await sink.close()
        loaded[variant].persisted += sink.stats().persisted
      }
    }
  }
  console.log(JSON.stringify(loaded))
}
