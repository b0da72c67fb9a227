import * as v8 from 'node:v8'
import { describe, expect, it } from 'vitest'
import { createMonitor } from './index.js'
import { gc } from './test-support/gc.js'

/** Bytes V8 allocated while `fn` ran: heap growth plus what collections freed meanwhile. */
function allocatedDuring(fn: () => void): number {
  gc()
  const profiler = new v8.GCProfiler()
  const h0 = v8.getHeapStatistics().used_heap_size
  profiler.start()
  fn()
  const stats = profiler.stop()
  const h1 = v8.getHeapStatistics().used_heap_size
  let freed = 0
  for (const s of stats.statistics)
    freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize
  return h1 - h0 + freed
}

describe('kept events', () => {
  it('keep flat details without a copy: no object per kept event left in the ring to be promoted', () => {
    const monitor = createMonitor({ sampling: 1, bufferSize: 1000 })
    const op = monitor.op('http', 'GET /notes/:id')
    // The adapters' shape: a reused options object whose details are flat primitives.
    const details = {
      method: 'GET',
      path: '/notes/1',
      status: 200,
      responseBytes: 512,
      dbQueries: 1,
      dbMs: 0.25,
    }
    const plain = { status: 200 }
    const rich = { status: 200, metadata: details }
    const run = (opts: typeof plain | typeof rich, n: number) => {
      for (let i = 0; i < n; i++) op.record(1.5, opts)
    }
    run(plain, 50_000) // let the engine optimise both paths before counting
    run(rich, 50_000)
    const N = 200_000
    const base = allocatedDuring(() => run(plain, N)) / N
    const withDetails = allocatedDuring(() => run(rich, N)) / N
    expect(monitor.snapshot({ recent: 0, slow: 0 }).totals.kept).toBe(2 * N + 100_000)
    // A sanitized copy of six fields costs ~90 bytes a kept event; the columns cost nothing once
    // sized, bar the engine boxing a double read by key (16 bytes, young garbage).
    expect(withDetails - base).toBeLessThanOrEqual(24)
    expect(monitor.recent(1)[0]!.metadata).toEqual(details)
  })

  it('keep details whose strings merely look suspect (SQL with `=`, a query string) without a copy, redacted', () => {
    const monitor = createMonitor({ sampling: 1, bufferSize: 1000 })
    const op = monitor.op('db', 'SELECT notes')
    // What @perf/sqlite keeps: the statement's (already redacted) SQL, whose `=` passes the cheap
    // secret screen, so the full scan ran on every kept event and a sanitized copy was made.
    const details = { sql: 'SELECT id, title FROM notes WHERE id = ?', rows: 1 }
    const plain = { status: 0 }
    const rich = { status: 0, metadata: details }
    const run = (opts: typeof plain | typeof rich, n: number) => {
      for (let i = 0; i < n; i++) op.record(0.2, opts)
    }
    run(plain, 50_000)
    run(rich, 50_000)
    const N = 200_000
    const base = allocatedDuring(() => run(plain, N)) / N
    const withDetails = allocatedDuring(() => run(rich, N)) / N
    expect(withDetails - base).toBeLessThanOrEqual(24)
    expect(monitor.recent(1)[0]!.metadata).toEqual(details)
    // A secret in such a string is still redacted, on the flat path as on the copying one.
    op.record(0.2, { metadata: { url: '/login?token=abc123&next=/', rows: 1 } })
    expect(monitor.recent(1)[0]!.metadata).toEqual({ url: '/login?token=[REDACTED]&next=/', rows: 1 })
    monitor.close()
  })

  it('redact what they keep, and keep a copy: a later change to the caller’s object is not seen', () => {
    const monitor = createMonitor({ sampling: 1 })
    const details: Record<string, unknown> = {
      user: 'ann',
      password: 'hunter2',
      status: 200,
      ok: true,
      none: null,
    }
    monitor.record('http', 'GET /a', 1, { metadata: details })
    details.user = 'bob'
    details.status = 500
    monitor.record('http', 'GET /a', 1, { metadata: () => ({ note: 'Bearer abc.def', n: 1 }) })
    monitor.record('http', 'GET /a', 1, { metadata: JSON.parse('{"__proto__": {"x": 1}, "a": 1}') })
    const [third, second, first] = monitor.recent(3)
    expect(first!.metadata).toEqual({
      user: 'ann',
      password: '[REDACTED]',
      status: 200,
      ok: true,
      none: null,
    })
    // A string shaped like a secret takes the copying path, which redacts it.
    expect(second!.metadata).toEqual({ note: 'Bearer [REDACTED]', n: 1 })
    // `__proto__` stays data, never the output's prototype.
    expect(Object.getPrototypeOf(third!.metadata)).not.toEqual({ x: 1 })
    expect(Object.hasOwn(third!.metadata!, '__proto__')).toBe(true)
    // Every read builds a fresh object: one reader changing it does not change what others see.
    ;(first!.metadata as Record<string, unknown>).user = 'eve'
    expect(monitor.recent(3)[2]!.metadata).toEqual(first!.metadata && { ...first!.metadata, user: 'ann' })
  })

  it('hold nothing of the caller’s objects once recorded', async () => {
    const monitor = createMonitor({ sampling: 1 })
    let ref: WeakRef<object> | undefined
    ;(() => {
      const details = { path: '/x', status: 200 }
      ref = new WeakRef(details)
      monitor.record('http', 'GET /x', 1, { metadata: () => details })
    })()
    await new Promise((r) => setTimeout(r, 0))
    gc()
    expect(ref!.deref()).toBeUndefined()
    expect(monitor.recent(1)[0]!.metadata).toEqual({ path: '/x', status: 200 })
  })

  it('widen the columns for wider details and keep older events intact', () => {
    const monitor = createMonitor({ sampling: 1, bufferSize: 4 })
    monitor.record('db', 'q', 1, { metadata: { a: 1 } })
    monitor.record('db', 'q', 1, { metadata: { a: 'x', b: 2.5, c: false } })
    monitor.record('db', 'q', 1, { metadata: { a: 3 } })
    monitor.record('db', 'q', 1, { metadata: { nested: { deep: 1 } } })
    monitor.record('db', 'q', 1, { metadata: { z: 9 } })
    expect(monitor.recent(5).map((e) => e.metadata)).toEqual([
      { z: 9 },
      { nested: { deep: 1 } },
      { a: 3 },
      { a: 'x', b: 2.5, c: false },
    ])
  })
})
