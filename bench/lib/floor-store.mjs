// The floor of persisting a monitor's kept events: a hand-written sink that posts each batch as it
// comes to a hand-written worker (floor-store-worker.mjs), which inserts it into the same table and
// indexes as SqliteStore's events. Used by bench/sqlite.mjs and bench/realistic-server.mjs.
import { Worker } from 'node:worker_threads'

/** The floor's sink over a new worker writing `path`; resolves once the worker is ready. */
export async function floorSink(path) {
  const worker = new Worker(new URL('./floor-store-worker.mjs', import.meta.url), {
    workerData: { path },
  })
  await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  let persisted = 0
  let closing
  return {
    name: 'floor',
    write(events) {
      worker.postMessage(events)
    },
    /** Resolves when the worker has written every batch posted so far. */
    flush() {
      const done = new Promise((resolve) => worker.once('message', resolve))
      worker.postMessage('flush')
      return done
    },
    /** Called by the monitor's close(), and again by its owner after it: the second call waits for the first. */
    close() {
      closing ??= (async () => {
        const done = new Promise((resolve) => worker.once('message', resolve))
        worker.postMessage('close')
        persisted = (await done).written
        await worker.terminate()
      })()
      return closing
    },
    stats: () => ({ persisted }),
  }
}
