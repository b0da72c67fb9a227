import cluster, { type Worker } from 'node:cluster'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMonitor } from '../monitor.js'
import { toPrometheus } from '../prometheus.js'
import { promtoolCheck } from '../test-support/promtool.js'
import { compileCore } from '../test-support/compile-core.js'
import { EVENTS_PER_WORKER, workerDurations } from '../test-support/cluster-load.js'
import { type ClusterShare, type ClusterSnapshot, shareCluster, type WorkerHealth } from './cluster.js'

const WORKERS = 4

/** Exact nearest-rank p99 over every duration of the given workers. */
function exactP99(indexes: number[]): number {
  const all = Float64Array.from(indexes.flatMap((i) => Array.from(workerDurations(i)))).sort()
  return all[Math.ceil(0.99 * all.length) - 1]!
}

/** Polls `check` until it holds; a generous deadline only turns a hang into a clear failure. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

interface View {
  index: number
  count: number
  p99Ms: number
  pids: number[]
  processPids: string[]
  workersLost: number
  viewCount: number
  viewHasHistograms: boolean
  hostileCounters: unknown[]
}

describe('shareCluster with 4 real node:cluster workers', () => {
  let compiled: ReturnType<typeof compileCore>
  let share: ClusterShare
  const workers: Worker[] = []
  const recorded = new Set<number>()
  const views: View[] = []
  const unblocked = new Set<number>()

  beforeAll(() => {
    compiled = compileCore()
    cluster.setupPrimary({ exec: join(compiled.dir, 'test-support/cluster-worker.js') })
    share = shareCluster(createMonitor(), { intervalMs: 100 })
    for (let i = 0; i < WORKERS; i++) {
      const w = cluster.fork({ PERF_TEST_WORKER: String(i), NODE_ENV: 'production' })
      w.on('message', (m: { test?: string; index: number }) => {
        if (m.test === 'recorded') recorded.add(m.index)
        if (m.test === 'view') views.push(m as unknown as View)
        if (m.test === 'unblocked') unblocked.add(m.index)
      })
      workers.push(w)
    }
  })

  afterAll(async () => {
    share?.stop()
    for (const w of workers) if (!w.isDead()) w.kill()
    await until('workers to exit', () => workers.every((w) => w.isDead()))
    compiled?.cleanup()
  })

  async function view(worker: Worker): Promise<View> {
    const before = views.length
    worker.send({ test: 'view' })
    await until('a worker view', () => views.length > before)
    return views.at(-1)!
  }

  it('merges exactly: the count is the sum, p99 within 2 % of the exact p99 over all events', async () => {
    expect(share.role).toBe('primary')
    await until('all workers to record', () => recorded.size === WORKERS)
    const total = WORKERS * EVENTS_PER_WORKER
    await until('the merge to hold every event', () => share.snapshot()?.types.http?.count === total)
    const merged = share.snapshot()!
    expect(merged.types.http!.count).toBe(total)
    expect(merged.types.http!.ops.reduce((n, op) => n + op.count, 0)).toBe(total)
    expect(merged.cluster.workers).toBe(WORKERS)
    expect(merged.pids).toHaveLength(WORKERS + 1) // the workers and the primary
    expect(Object.keys(merged.processes).sort()).toEqual(workers.map((w) => String(w.process.pid)).sort())
    expect(merged.processes['1']).toBeUndefined() // worker 1 claimed pid 1's health: not its to say
    const exact = exactP99([0, 1, 2, 3])
    expect(Math.abs(merged.types.http!.p99Ms - exact) / exact).toBeLessThan(0.02)

    // Any worker sees the same cluster-wide numbers, through refresh() and through share.monitor.
    const v = await view(workers[1]!)
    expect(v.count).toBe(total)
    expect(v.viewCount).toBe(total)
    expect(v.viewHasHistograms).toBe(false)
    expect(v.p99Ms).toBe(merged.types.http!.p99Ms)
    expect(v.processPids).toHaveLength(WORKERS)

    // Worker 0 counted under `constructor` and `__proto__`: plain names on both sides of the IPC.
    expect(typeof Object.keys).toBe('function')
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(merged.cluster.rejected).toBe(0)
    expect(Object.hasOwn(merged.counters, 'constructor')).toBe(true)
    expect(Object.getOwnPropertyDescriptor(merged.counters, 'constructor')!.value).toEqual({ keys: 1 })
    expect(Object.getOwnPropertyDescriptor(merged.counters, '__proto__')!.value).toEqual({ isAdmin: 1 })
    expect(v.hostileCounters).toEqual([1, 1])
  })

  /** What the primary's merge says of `worker`, seen from outside. */
  function health(worker: Worker): WorkerHealth | undefined {
    const section = share.snapshot()?.processes[String(worker.process.pid)] as { worker?: WorkerHealth }
    return section?.worker
  }

  it('watches workers from outside: a blocked one is unresponsive at high CPU, then healthy again', async () => {
    const blocked = workers[2]!
    await until('every worker to be sampled', () => workers.every((w) => health(w)?.sampledAt !== undefined))
    for (const w of workers) expect(health(w)!.state).toBe('healthy')
    expect(share.snapshot()!.cluster.unresponsive).toBe(0)

    blocked.send({ test: 'block', ms: 6000 })
    // Its own reports stop, yet the primary still reads its CPU and memory. Everything below reads
    // one merge taken during the loop. A busy loop shows about 100 % of a core; the bar is lower
    // because the test machine is shared, and an idle worker shows a few percent at most.
    const pid = String(blocked.process.pid)
    let snap: ClusterSnapshot | undefined
    await until('the blocked worker to show unresponsive at high CPU', () => {
      snap = share.snapshot()
      const h = (snap?.processes[pid] as { worker?: WorkerHealth } | undefined)?.worker
      return h?.state === 'unresponsive' && (h.cpuPercent ?? 0) > 25 && !unblocked.has(2)
    })
    const during = (snap!.processes[pid] as { worker: WorkerHealth }).worker
    expect(during.unresponsiveSince).toBe(during.lastReportAt)
    expect(during.rssBytes).toBeGreaterThan(10 * 1024 * 1024)
    expect(during.elapsedMs).toBeGreaterThan(0)
    // Its last own report is still in the merge: event-loop figures from before the block.
    expect(snap!.processes[pid]).toHaveProperty('current')
    expect(snap!.cluster.unresponsive).toBe(1)
    const first = snap!.processes[String(workers[0]!.process.pid)] as { worker: WorkerHealth }
    expect(first.worker.state).toBe('healthy')
    // /metrics says the same, per pid.
    const text = toPrometheus(snap!)
    const label = `pid="${pid}"`
    expect(text).toContain(`perf_cluster_worker_up{${label}} 0\n`)
    expect(text).toContain(`perf_cluster_worker_up{pid="${workers[0]!.process.pid}"} 1\n`)
    const gauge = (name: string): number =>
      Number(text.match(new RegExp(`perf_cluster_worker_${name}\\{${label}\\} (\\S+)\n`))?.[1])
    expect(gauge('cpu_ratio')).toBeCloseTo(during.cpuPercent! / 100, 9)
    expect(gauge('resident_memory_bytes')).toBe(during.rssBytes)
    expect(gauge('last_report_age_seconds')).toBeGreaterThan(0.3) // three intervals of 100 ms
    const check = promtoolCheck(text)
    if (check !== undefined) expect(check.output).toBe('')

    await until('the worker to finish its loop', () => unblocked.has(2))
    await until('the worker to recover', () => health(blocked)?.state === 'healthy')
    const after = health(blocked)!
    expect(after.unresponsiveSince).toBeUndefined()
    expect(after.lastReportAt).toBeGreaterThan(during.lastReportAt)
    expect(share.snapshot()!.cluster.unresponsive).toBe(0)
  })

  it('drops a killed worker from the merge, counts it, and keeps serving the others', async () => {
    const victim = workers[3]!
    victim.process.kill('SIGKILL')
    await until('the killed worker to exit', () => victim.isDead())
    await until('the loss to be counted', () => share.workersLost === 1)
    const merged = share.snapshot()!
    expect(merged.cluster.workersLost).toBe(1)
    expect(merged.cluster.workers).toBe(WORKERS - 1)
    expect(merged.types.http!.count).toBe((WORKERS - 1) * EVENTS_PER_WORKER)
    // Its numbers left the merge; it stays in the view as gone.
    const gone = merged.processes[String(victim.process.pid)] as unknown as Record<string, unknown>
    expect(gone).not.toHaveProperty('current')
    expect(gone.worker).toMatchObject({ state: 'gone', signal: 'SIGKILL', exitCode: null })
    expect(gone.worker).not.toHaveProperty('cpuPercent')
    expect(toPrometheus(merged)).toContain(`perf_cluster_worker_up{pid="${victim.process.pid}"} 0\n`)
    const exact = exactP99([0, 1, 2])
    expect(Math.abs(merged.types.http!.p99Ms - exact) / exact).toBeLessThan(0.02)

    const v = await view(workers[0]!)
    expect(v.count).toBe((WORKERS - 1) * EVENTS_PER_WORKER)
    expect(v.workersLost).toBe(1)
  })
})

describe('shareCluster outside a cluster', () => {
  it('acts as a primary of one: the merge is the local monitor', async () => {
    const monitor = createMonitor()
    monitor.record('db', 'SELECT 1', 2)
    const share = shareCluster(monitor)
    const merged = await share.refresh()
    expect(merged.types.db!.count).toBe(1)
    expect(merged.cluster.workers).toBe(0)
    expect(share.monitor.snapshot().types.db!.ops[0]!.histogram).toBeUndefined()
    expect(share.monitor.snapshot({ histograms: true }).types.db!.ops[0]!.histogram).toBeDefined()
    share.monitor.record('db', 'SELECT 1', 3) // everything else goes to the real monitor
    expect(monitor.snapshot().types.db!.count).toBe(2)
    share.stop()
  })

  it('rejects invalid options', () => {
    expect(() => shareCluster(createMonitor(), { intervalMs: 10 })).toThrow(/intervalMs = 10 .*from 100/)
    expect(() => shareCluster({} as never)).toThrow(/monitor must be a monitor/)
  })
})
