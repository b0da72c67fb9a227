import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createMonitor } from '../index.js'
import type { ProcessSample } from '../sink.js'
import { compileCore } from '../test-support/compile-core.js'
import { gc } from '../test-support/gc.js'
import { type ProcessSection, type ProcessWatcher, processConfigFromEnv, watchProcess } from './process.js'

const watchers: ProcessWatcher[] = []
function watch(...args: Parameters<typeof watchProcess>): ProcessWatcher {
  const w = watchProcess(...args)
  watchers.push(w)
  return w
}
afterEach(() => {
  for (const w of watchers.splice(0)) w.stop()
})

function section(monitor: ReturnType<typeof createMonitor>): ProcessSection {
  return monitor.snapshot().process as ProcessSection
}

describe('watchProcess', () => {
  it('raises the growth flag (and warns once) when a real ~20 MB heap allocation outlives the baseline', () => {
    const monitor = createMonitor()
    const warnings: string[] = []
    const w = watch(monitor, {
      intervalMs: 100,
      baselineDelayMs: 0,
      growthWarnMb: 10,
      force: true,
      logger: { warn: (m) => warnings.push(m) },
    })
    // Collect first: garbage left by earlier tests, freed between the baseline and the later samples,
    // would hide part of the growth this test makes.
    gc()
    w.sampleNow() // baseline
    w.sampleNow()
    expect(section(monitor).baseline).not.toBeNull()
    expect(section(monitor).growthWarning).toBe(false)
    // 200,000 distinct 100-character strings live on the V8 heap: ~24 MB that stays reachable. (A
    // plain array of 2.6 M doubles, 21 MB on Node 20, was sometimes counted as 11 MB on Node 24.)
    const retained: string[] = []
    for (let i = 0; i < 200_000; i++) retained.push(`${i}`.padStart(100, 'x'))
    gc()
    for (let i = 0; i < 5; i++) w.sampleNow()
    const s = section(monitor)
    expect(s.growthMb).toBeGreaterThan(15)
    expect(s.growth!.heapUsedBytes).toBeGreaterThan(15 * 1024 * 1024)
    expect(s.growthWarning).toBe(true)
    expect(s.growthWarnedAt).toBeTypeOf('number')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/memory grew .* MB .*10 MB warning threshold/)
    expect(retained[retained.length - 1]!.endsWith('199999')).toBe(true)
  })

  it('shows an artificial 100 ms block in the event-loop delay max and p99', async () => {
    const monitor = createMonitor()
    const w = watch(monitor, { intervalMs: 60_000, force: true })
    await sleep(30)
    w.sampleNow() // resets the delay histogram
    await sleep(30)
    const t0 = performance.now()
    while (performance.now() - t0 < 100) {
      // busy-wait: the event loop cannot turn
    }
    await sleep(30) // lets the delay timer record the late turn
    const sample = w.sampleNow()!
    expect(sample.eventLoopDelayMaxMs).toBeGreaterThanOrEqual(90)
    expect(sample.eventLoopDelayP99Ms).toBeGreaterThanOrEqual(90)
    expect(sample.eventLoopUtilization).toBeGreaterThan(0)
    expect(section(monitor).peak!.eventLoopDelayMaxMs).toBeGreaterThanOrEqual(90)
  })

  it('samples memory, CPU, GC and handles, and hands every sample to the sinks', async () => {
    const got: ProcessSample[] = []
    const monitor = createMonitor({ sinks: [{ writeSamples: (s) => void got.push(...s) }] })
    const w = watch(monitor, { intervalMs: 60_000, force: true })
    w.sampleNow()
    let garbage: unknown[] = []
    for (let i = 0; i < 300_000; i++) garbage.push({ i, s: `x${i}` })
    garbage = []
    // At least one collection for the sample to count, whatever the young generation's size.
    gc()
    const t0 = performance.now()
    while (performance.now() - t0 < 20) {
      // burn CPU so the next sample sees some
    }
    await sleep(50) // GC entries reach the observer asynchronously
    const s = w.sampleNow()!
    expect(got).toHaveLength(2)
    expect(got[1]).toBe(s)
    expect(s.pid).toBe(process.pid)
    expect(s.rssBytes).toBeGreaterThan(s.heapUsedBytes)
    expect(s.heapTotalBytes).toBeGreaterThanOrEqual(s.heapUsedBytes)
    expect(s.cpuPercent).toBeGreaterThan(0)
    expect(s.cpuUserMsTotal).toBeGreaterThan(0)
    expect(s.gcCountTotal).toBeGreaterThan(0)
    expect(s.gcPauseMsTotal).toBeGreaterThan(0)
    expect(s.activeHandles).toBeGreaterThanOrEqual(0)
    for (const [k, v] of Object.entries(s)) expect(Number.isFinite(v), k).toBe(true)
    expect(garbage).toHaveLength(0)
  })

  it('keeps high-water marks and a bounded time series covering the window', () => {
    // A 1 s window at 100 ms: 10 points.
    const monitor = createMonitor({ windowMs: 1000, sliceMs: 100 })
    const w = watch(monitor, { intervalMs: 100, force: true })
    for (let i = 0; i < 25; i++) w.sampleNow()
    const s = section(monitor)
    expect(s.samples).toBe(25)
    expect(s.series.capacity).toBe(10)
    expect(s.series.stride).toBe(1)
    expect(s.series.timestamp).toHaveLength(10)
    expect(s.series.rssBytes).toHaveLength(10)
    expect(s.series.timestamp.at(-1)).toBe(s.current!.timestamp)
    for (let i = 1; i < 10; i++)
      expect(s.series.timestamp[i]!).toBeGreaterThanOrEqual(s.series.timestamp[i - 1]!)
    expect(s.peak!.rssBytes).toBeGreaterThanOrEqual(Math.max(...s.series.rssBytes))
    expect(JSON.parse(JSON.stringify(s))).toEqual(s)

    // A 1-day window at 100 ms would be 864 000 points: the series keeps every 1200th, at most 720.
    const long = createMonitor({ windowMs: 86_400_000, sliceMs: 3_600_000 })
    watch(long, { intervalMs: 100, force: true })
    expect(section(long).series.capacity).toBeLessThanOrEqual(720)
    expect(section(long).series.stride).toBe(1200)
  })

  it('rejects invalid options and env values with errors naming them', () => {
    const monitor = createMonitor()
    expect(() => watchProcess(monitor, { intervalMs: 99 })).toThrow(/intervalMs = 99 .*from 100/)
    expect(() => watchProcess(monitor, { growthWarnMb: -1 })).toThrow(/growthWarnMb = -1/)
    expect(() => watchProcess(monitor, { baselineDelayMs: -5 })).toThrow(/baselineDelayMs = -5/)
    expect(() => watchProcess(monitor, { logger: {} as never })).toThrow(/logger/)
    expect(() => processConfigFromEnv({ PERF_MEMORY_INTERVAL_MS: '50' })).toThrow(
      /PERF_MEMORY_INTERVAL_MS="50" .*from 100/,
    )
    expect(() => processConfigFromEnv({ PERF_MEMORY_INTERVAL_MS: 'soon' })).toThrow(
      /PERF_MEMORY_INTERVAL_MS="soon"/,
    )
    expect(() => processConfigFromEnv({ PERF_MEMORY_GROWTH_WARN_MB: '-3' })).toThrow(
      /PERF_MEMORY_GROWTH_WARN_MB/,
    )
    expect(
      processConfigFromEnv({ PERF_MEMORY_INTERVAL_MS: '2000', PERF_MEMORY_GROWTH_WARN_MB: '12.5' }),
    ).toEqual({
      intervalMs: 2000,
      growthWarnMb: 12.5,
    })
    expect(processConfigFromEnv({})).toEqual({})
  })

  it('stays off under NODE_ENV=test unless forced, and when the monitor is disabled', () => {
    expect(process.env.NODE_ENV).toBe('test')
    const monitor = createMonitor()
    const idle = watch(monitor)
    expect(idle.running).toBe(false)
    expect(idle.sampleNow()).toBeUndefined()
    // It says so in the snapshot, with the reason and the way out, instead of looking uncalled.
    expect(monitor.snapshot().process).toEqual({
      watching: false,
      reason: expect.stringMatching(/off under NODE_ENV=test.*force: true/),
    })
    idle.stop()
    expect('process' in monitor.snapshot()).toBe(false)
    const off = watch(createMonitor({ enabled: false }), { force: true })
    expect(off.running).toBe(false)
  })

  it('a forced watcher started later replaces the test-run marker, which then leaves it alone', () => {
    const monitor = createMonitor()
    const idle = watch(monitor)
    const real = watch(monitor, { force: true })
    real.sampleNow()
    idle.stop()
    const section = monitor.snapshot().process as ProcessSection
    expect(section.current?.rssBytes).toBeGreaterThan(0)
    real.stop()
  })

  it('stop() removes the section and stops sampling', () => {
    const got: ProcessSample[] = []
    const monitor = createMonitor({ sinks: [{ writeSamples: (s) => void got.push(...s) }] })
    const w = watch(monitor, { force: true })
    w.sampleNow()
    w.stop()
    w.stop() // idempotent
    expect(w.running).toBe(false)
    expect(w.sampleNow()).toBeUndefined()
    expect('process' in monitor.snapshot()).toBe(false)
    expect(got).toHaveLength(1)
  })
})

describe('watchProcess in a child process', () => {
  let compiled: ReturnType<typeof compileCore>
  beforeAll(() => {
    compiled = compileCore()
  })
  afterAll(() => compiled.cleanup())

  function run(mode: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      // No timeout of our own: a child kept alive by a leaked handle fails the test by the test timeout.
      execFile(
        process.execPath,
        [join(compiled.dir, 'test-support/process-child.js'), mode],
        { env: { ...process.env, NODE_ENV: 'production' } },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message}\n${stderr}`))
          else resolve(JSON.parse(stdout) as Record<string, unknown>)
        },
      )
    })
  }

  it('stop() leaves no timer or handle behind and the process exits on its own', async () => {
    const r = await run('stop')
    expect(r.samples).toBeGreaterThanOrEqual(1)
    expect(r.running).toBe(false)
    expect(r.liveIntervals).toBe(0)
    expect(r.after).toEqual(r.before)
    expect(r.sectionAfter).toBe(false)
  })

  it('a watcher never stopped does not keep the process alive (its timer is unref’d)', async () => {
    const r = await run('leave')
    expect(r.running).toBe(true)
    expect(r.liveIntervals).toBe(1) // the tick timer exists, yet the process exits
  })
})

describe('watchProcess bad input', () => {
  it('names a missing monitor and a misspelt option', () => {
    expect(() => watchProcess(undefined as never)).toThrow(
      'watchProcess(monitor, options): monitor must be a monitor from createMonitor(), got undefined',
    )
    const monitor = createMonitor()
    expect(() => watchProcess(monitor, { interval: 100 } as never)).toThrow(
      /watchProcess\(monitor, options\): unknown option "interval"; did you mean "intervalMs"\?/,
    )
    void monitor.close()
  })
})
