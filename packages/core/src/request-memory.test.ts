import { afterEach, describe, expect, it, vi } from 'vitest'
import { createHttpRecorder, type HttpRecorder, PendingRequest } from './http.js'
import { mergeSnapshots } from './merge.js'
import { createMonitor, type Monitor } from './monitor.js'
import { MEASURE_GAP_MS, requestsInFlight } from './request-memory.js'
import { gc } from './test-support/gc.js'
import { smallestAdapter } from './test-support/smallest-adapter.js'

const TestRequest = smallestAdapter(PendingRequest)

/** What one request allocates and keeps (an array of 8-byte slots, in V8's heap). */
const BYTES = 4 * 1024 * 1024
/** Where the allocation is kept, so that only a collection could free it before the end. */
export let kept: unknown[] | undefined

/** Runs one request that allocates {@link BYTES}, calling `during` just before it ends; resolves once recorded. */
async function request(monitor: Monitor, recorder: HttpRecorder, during?: () => void): Promise<void> {
  const before = monitor.snapshot().totals.events
  // At most one measured start per MEASURE_GAP_MS.
  await new Promise((resolve) => setTimeout(resolve, MEASURE_GAP_MS + 1))
  const req = new TestRequest(recorder)
  await new Promise((resolve) => setTimeout(resolve, 1))
  kept = new Array(BYTES / 8).fill(0)
  await new Promise((resolve) => setTimeout(resolve, 1))
  // In the request's last tick: node reports this collection only from a later immediate.
  during?.()
  req.finish(undefined, false)
  while (monitor.snapshot().totals.events === before) await new Promise((resolve) => setTimeout(resolve, 1))
}

function deltas(monitor: Monitor): (number | undefined)[] {
  return monitor
    .byType('http')
    .reverse()
    .map((e) => e.metadata?.heapDeltaBytes as number | undefined)
}

describe('memory per request', () => {
  const monitors: Monitor[] = []
  afterEach(async () => {
    for (const m of monitors.splice(0)) await m.close()
    kept = undefined
  })

  function setup(): { monitor: Monitor; recorder: HttpRecorder } {
    const monitor = createMonitor({ sampling: 1 })
    monitors.push(monitor)
    return { monitor, recorder: createHttpRecorder(monitor, { memory: true }, 'test') }
  }

  it('measures a request that ran alone, and not one during which a collection ran', async () => {
    const { monitor, recorder } = setup()
    // The compiler's own allocations land in the same heap: warm the code up, then count.
    for (let i = 0; i < 5; i++) await request(monitor, recorder)
    monitor.clear()
    for (let i = 0; i < 10; i++) await request(monitor, recorder)
    await request(monitor, recorder, gc)
    await request(monitor, recorder, gc)
    const all = deltas(monitor)
    expect(all).toHaveLength(12)
    const [d, e] = all.slice(10)
    // Some of the plain ones ran without a collection of V8's own.
    const plain = all.slice(0, 10).filter((x): x is number => x !== undefined)
    expect(plain.length).toBeGreaterThan(0)
    for (const bytes of plain) {
      expect(bytes).toBeGreaterThan(BYTES * 0.9)
      expect(bytes).toBeLessThan(BYTES * 1.1)
    }
    expect(d).toBeUndefined()
    expect(e).toBeUndefined()
    const memory = monitor.snapshot().types.http?.ops.find((op) => op.name === 'GET /work')?.memory
    expect(memory?.measured).toBe(plain.length)
    expect(requestsInFlight()).toBe(0)
  })

  it('measures neither of two overlapping requests, and measures again once alone', async () => {
    const { monitor, recorder } = setup()
    const first = new TestRequest(recorder)
    const second = new TestRequest(recorder)
    second.finish(undefined, false)
    first.finish(undefined, false)
    await request(monitor, recorder)
    const [x, y] = deltas(monitor)
    expect(x).toBeUndefined()
    expect(y).toBeUndefined()
    expect(monitor.snapshot().types.http?.ops[0]?.totalCount).toBe(3)
    expect(requestsInFlight()).toBe(0)
  })

  it('measures at most one request per MEASURE_GAP_MS, however fast they come alone', async () => {
    const { monitor, recorder } = setup()
    await new Promise((resolve) => setTimeout(resolve, MEASURE_GAP_MS + 1))
    // One after another, each alone: one measured per MEASURE_GAP_MS that the loop took, not 50.
    const t0 = performance.now()
    for (let i = 0; i < 50; i++) new TestRequest(recorder).finish(undefined, false)
    const elapsed = performance.now() - t0
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(monitor.snapshot().types.http?.ops[0]?.totalCount).toBe(50)
    const measured = deltas(monitor).filter((d) => d !== undefined)
    expect(measured.length).toBeLessThanOrEqual(1 + Math.floor(elapsed / MEASURE_GAP_MS))
  })

  it('counts in flight only with memory on, and checks the option', () => {
    const monitor = createMonitor()
    monitors.push(monitor)
    const off = createHttpRecorder(monitor, undefined, 'test')
    const req = new TestRequest(off)
    expect(requestsInFlight()).toBe(0)
    req.finish(undefined, false)
    expect(() => createHttpRecorder(monitor, { memory: 1 as never }, '@perf/x')).toThrow(
      new TypeError('@perf/x: options.memory = 1 is not valid: expected true or false'),
    )
  })

  /**
   * Runs `body` on fresh copies of the http and monitor modules, loaded while
   * `process.getBuiltinModule` answers `replaced` for the builtins it names (an edge runtime, a
   * failing one), and puts it back after.
   */
  async function withBuiltins(
    replaced: Record<string, unknown>,
    body: (fresh: typeof import('./http.js'), monitor: Monitor) => void,
  ): Promise<void> {
    const proc = process as unknown as { getBuiltinModule: (id: string) => unknown }
    const real = proc.getBuiltinModule
    proc.getBuiltinModule = (id) => (id in replaced ? replaced[id] : real(id))
    vi.resetModules()
    try {
      const fresh = await import('./http.js')
      const { createMonitor: create } = await import('./monitor.js')
      const monitor = create()
      monitors.push(monitor)
      body(fresh, monitor)
    } finally {
      proc.getBuiltinModule = real
      vi.resetModules()
    }
  }

  it('throws PERF_MEMORY_UNAVAILABLE where the runtime has no gc entries or heap statistics (edge)', async () => {
    // An edge runtime with node compat but no perf_hooks gc feed.
    await withBuiltins({ 'node:perf_hooks': undefined }, (fresh, monitor) => {
      let thrown: unknown
      try {
        fresh.createHttpRecorder(monitor, { memory: true }, '@perf/hono')
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(Error)
      expect((thrown as Error).message).toMatch(/^@perf\/hono: options\.memory = true needs Node\.js/)
      expect((thrown as { code?: string }).code).toBe('PERF_MEMORY_UNAVAILABLE')
      // Off, it works there as anywhere.
      expect(fresh.createHttpRecorder(monitor, { memory: false }, '@perf/hono').memory).toBe(false)
    })
  })

  it('never throws from a request start when the heap statistics fail: the failure is counted', async () => {
    // The adapters make their PendingRequest outside their try block (V8 inlines a derived class's
    // super() call only there), so its constructor must not throw even when the runtime does.
    const failing = {
      getHeapStatistics: () => {
        throw new Error('heap statistics unavailable')
      },
    }
    await withBuiltins({ 'node:v8': failing }, (fresh, monitor) => {
      const recorder = fresh.createHttpRecorder(monitor, { memory: true }, '@perf/x')
      const Started = smallestAdapter(fresh.PendingRequest)
      let made: unknown
      expect(() => {
        made = new Started(recorder as HttpRecorder)
      }).not.toThrow()
      expect(made).toBeInstanceOf(Started)
      expect(monitor.snapshot().totals.internalErrors).toBe(1)
    })
  })

  it('adds the per-op figures of cluster workers up in mergeSnapshots', async () => {
    const snaps = []
    for (const bytes of [[1000, 3000], [500]]) {
      const { monitor, recorder } = setup()
      for (const b of bytes) {
        const op = recorder.op('GET', '/work')
        recorder.recordMeasured(op, 1, { method: 'GET', url: '/work', status: 200 }, b)
      }
      snaps.push(monitor.snapshot({ histograms: true }))
    }
    const merged = mergeSnapshots(...snaps)
    expect(merged.types.http?.ops[0]?.memory).toEqual({
      measured: 3,
      sumBytes: 4500,
      meanBytes: 1500,
      maxBytes: 3000,
    })
  })
})
