import { coded } from '../errors.js'
import {
  type EventLoopUtilization,
  type IntervalHistogram,
  monitorEventLoopDelay,
  PerformanceObserver,
  performance,
} from 'node:perf_hooks'
import { checkNumber, envNumber, type Range } from '../config.js'
import { checkOptionKeys } from '../option-keys.js'
import { type Monitor, type MonitorInternals, monitorInternals, monitorState } from '../monitor.js'
import type {
  MemoryFigures,
  ProcessHealthSample,
  ProcessPeaks,
  ProcessSection,
  ProcessWatchOff,
  SeriesField,
} from '../process-section.js'

// The section's types live beside the snapshot (no Node import) so `Snapshot.process` can name them.
export type { MemoryFigures, ProcessHealthSample, ProcessPeaks, ProcessSection, ProcessWatchOff, SeriesField }

/** Options of {@link watchProcess}. Every field is optional. */
export interface ProcessWatchOptions {
  /** Time between samples in ms (100 to 3 600 000). Default 5000. */
  readonly intervalMs?: number
  /** The memory baseline is the first sample taken at least this long after start (ms). Default 5000. */
  readonly baselineDelayMs?: number
  /**
   * Growth of heap used + external memory over the baseline, in MB, that raises the growth warning when it
   * holds for 3 samples in a row. Default 50.
   */
  readonly growthWarnMb?: number
  /** Receives the growth warning once (e.g. `console` or a pino logger). */
  readonly logger?: { warn(message: string): void }
  /**
   * Start even when `NODE_ENV=test`. The watcher otherwise stays off under test runners, so suites that
   * create monitors do not sample in the background.
   */
  readonly force?: boolean
}

/** Fields kept in the time series (columns of equal length, oldest first, ready for a chart). */
export const SERIES_FIELDS: readonly SeriesField[] = [
  'timestamp',
  'rssBytes',
  'heapUsedBytes',
  'heapTotalBytes',
  'externalBytes',
  'cpuPercent',
  'eventLoopDelayP99Ms',
  'eventLoopDelayMaxMs',
  'eventLoopUtilization',
  'gcPauseMs',
  'activeHandles',
]

/** A running (or inert) process watcher. */
export interface ProcessWatcher {
  /** Whether it samples (false when the monitor is disabled, under `NODE_ENV=test` without `force`, or after `stop`). */
  readonly running: boolean
  /** Takes a sample now, as a tick does; `undefined` when not running. */
  sampleNow(): ProcessHealthSample | undefined
  /** Stops sampling and releases everything: timers, the delay histogram, the GC observer, the section. */
  stop(): void
}

/** Defaults of {@link ProcessWatchOptions}. */
export const PROCESS_DEFAULTS: {
  readonly intervalMs: 5000
  readonly baselineDelayMs: 5000
  readonly growthWarnMb: 50
} = { intervalMs: 5000, baselineDelayMs: 5000, growthWarnMb: 50 }

const INTERVAL: Range = { min: 100, max: 3_600_000, integer: true }
const DELAY: Range = { min: 0, max: 86_400_000, integer: true }
const GROWTH: Range = { min: 0, max: 1_048_576 }
/** Points kept in the time series at most; past that the series keeps every n-th sample. */
const MAX_POINTS = 720
/** Samples in a row the growth must exceed the threshold: one sample may be garbage not yet collected. */
const GROWTH_TICKS = 3
/** Event-loop delay histogram resolution. The histogram records whole timer intervals, so we subtract it. */
const RESOLUTION_MS = 10
const MB = 1024 * 1024

/**
 * Reads `PERF_MEMORY_INTERVAL_MS` (100 to 3 600 000) and `PERF_MEMORY_GROWTH_WARN_MB` (≥ 0) into
 * {@link ProcessWatchOptions}. An invalid value throws a `RangeError` naming the variable and the accepted range.
 */
export function processConfigFromEnv(env: Readonly<Record<string, string | undefined>>): ProcessWatchOptions {
  const out: { intervalMs?: number; growthWarnMb?: number } = {}
  const interval = envNumber(env, 'PERF_MEMORY_INTERVAL_MS', INTERVAL)
  if (interval !== undefined) out.intervalMs = interval
  const growth = envNumber(env, 'PERF_MEMORY_GROWTH_WARN_MB', GROWTH)
  if (growth !== undefined) out.growthWarnMb = growth
  return out
}

const INERT: ProcessWatcher = Object.freeze({
  running: false,
  sampleNow: () => undefined,
  stop: () => {},
})

/** Why the watcher is off under a test runner: shown by the dashboard instead of "not watched". */
const OFF_IN_TESTS_REASON =
  'watchProcess is off under NODE_ENV=test (so test runs stay free of timers and samples); pass force: true to watch anyway'

/**
 * The inert watcher of a test run. It leaves a `process` section saying so (`{ watching: false,
 * reason }`), because a page that says "call watchProcess" after the call sends people hunting for a
 * call that is already there. A real watcher started later replaces the section; `stop` removes it.
 */
function offInTests(monitor: Monitor): ProcessWatcher {
  const marker: ProcessWatchOff = Object.freeze({ watching: false, reason: OFF_IN_TESTS_REASON })
  const provider = () => marker
  monitorInternals(monitor).setSection('process', provider)
  return {
    running: false,
    sampleNow: () => undefined,
    stop: () => {
      // Only our own marker: a real watcher started since owns the section now.
      if (monitorState(monitor)?.sections.get('process') === provider)
        monitorInternals(monitor).setSection('process', undefined)
    },
  }
}

const WATCH_OPTION_KEYS: readonly (keyof ProcessWatchOptions)[] = [
  'intervalMs',
  'baselineDelayMs',
  'growthWarnMb',
  'logger',
  'force',
]

/**
 * Samples the process's memory, CPU, event loop, GC and handles every `intervalMs`, adds a `process`
 * section to the monitor's snapshots and hands each sample to its sinks. Timers are unref'd: the watcher
 * never keeps the process alive. Does nothing when the monitor is disabled, and under `NODE_ENV=test`
 * unless `force: true`. Options are validated (a bad one throws a `RangeError` naming it).
 */
export function watchProcess(monitor: Monitor, options: ProcessWatchOptions = {}): ProcessWatcher {
  if (
    typeof monitor !== 'object' ||
    monitor === null ||
    typeof monitorInternals(monitor).setSection !== 'function'
  ) {
    throw coded(
      'PERF_INVALID_ARGUMENT',
      new TypeError(
        `watchProcess(monitor, options): monitor must be a monitor from createMonitor(), got ${monitor === null ? 'null' : typeof monitor}`,
      ),
    )
  }
  if (typeof options !== 'object' || options === null) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError('watchProcess(monitor, options): options must be an object'),
    )
  }
  checkOptionKeys('watchProcess(monitor, options)', options, WATCH_OPTION_KEYS)
  const intervalMs = checkNumber(
    'watchProcess options.intervalMs',
    options.intervalMs ?? PROCESS_DEFAULTS.intervalMs,
    INTERVAL,
  )
  const baselineDelayMs = checkNumber(
    'watchProcess options.baselineDelayMs',
    options.baselineDelayMs ?? PROCESS_DEFAULTS.baselineDelayMs,
    DELAY,
  )
  const growthWarnMb = checkNumber(
    'watchProcess options.growthWarnMb',
    options.growthWarnMb ?? PROCESS_DEFAULTS.growthWarnMb,
    GROWTH,
  )
  const logger = options.logger
  if (logger !== undefined && (logger === null || typeof logger.warn !== 'function')) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError('watchProcess options.logger must have a warn(message) method'),
    )
  }
  if (!monitor.enabled) return INERT
  if (process.env.NODE_ENV === 'test' && options.force !== true) return offInTests(monitor)
  return new Watcher(monitorInternals(monitor), intervalMs, baselineDelayMs, growthWarnMb, logger).start()
}

class Watcher implements ProcessWatcher {
  running = false
  private readonly pid = process.pid
  private readonly startedAt = performance.now()
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  private readonly gc: PerformanceObserver
  private gcCount = 0
  private gcPauseMs = 0
  private gcCountTotal = 0
  private gcPauseMsTotal = 0
  private lastCpu: NodeJS.CpuUsage = process.cpuUsage()
  private lastWall = performance.now()
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization()
  private samples = 0
  private current: ProcessHealthSample | null = null
  private peak: Record<keyof ProcessPeaks, number> | null = null
  private baseline: (MemoryFigures & { timestamp: number }) | null = null
  private aboveTicks = 0
  private growthWarning = false
  private growthWarnedAt: number | null = null
  private tickMs = 0
  private readonly series: SeriesRing

  constructor(
    private readonly monitor: Monitor & MonitorInternals,
    private readonly intervalMs: number,
    private readonly baselineDelayMs: number,
    private readonly growthWarnMb: number,
    private readonly logger: { warn(message: string): void } | undefined,
  ) {
    this.gc = new PerformanceObserver((list) => {
      const entries = list.getEntries()
      for (let i = 0; i < entries.length; i++) {
        this.gcCount++
        this.gcPauseMs += entries[i]!.duration
      }
    })
    const points = Math.ceil(monitor.config.windowMs / intervalMs)
    const stride = Math.ceil(points / MAX_POINTS)
    this.series = new SeriesRing(Math.ceil(points / stride), stride)
  }

  start(): this {
    this.running = true
    this.delay.enable()
    this.gc.observe({ entryTypes: ['gc'] })
    this.timer = setInterval(() => this.tick(), this.intervalMs)
    this.timer.unref()
    this.monitor.setSection('process', () => this.section())
    return this
  }

  sampleNow(): ProcessHealthSample | undefined {
    if (!this.running) return undefined
    return this.tick()
  }

  stop(): void {
    if (!this.running) return
    this.running = false
    clearInterval(this.timer)
    this.timer = undefined
    this.delay.disable()
    this.gc.disconnect()
    this.monitor.setSection('process', undefined)
  }

  private tick(): ProcessHealthSample | undefined {
    const t0 = performance.now()
    try {
      const sample = this.measure(t0)
      this.update(sample)
      this.monitor.writeSamples([sample])
      return sample
    } catch (err) {
      // Sampling must never take the app down; a failure is counted like any instrumentation failure.
      this.monitor.reportInternalError('watchProcess', err)
      return undefined
    } finally {
      this.tickMs = performance.now() - t0
    }
  }

  private measure(now: number): ProcessHealthSample {
    const mem = process.memoryUsage()
    // process.cpuUsage() is getrusage(2): exact to the microsecond, no file read and no child process.
    // (pidusage on Linux reads /proc/<pid>/stat in 10 ms ticks and runs `getconf` in a child process the
    // first time it is called.)
    const cpu = process.cpuUsage()
    const wallMs = now - this.lastWall
    const cpuMs = (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1000
    this.lastCpu = cpu
    this.lastWall = now
    const elu = performance.eventLoopUtilization(this.lastElu)
    this.lastElu = performance.eventLoopUtilization()
    const h = this.delay
    const empty = h.count === 0
    const sample: ProcessHealthSample = {
      timestamp: Date.now(),
      pid: this.pid,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      heapTotalBytes: mem.heapTotal,
      externalBytes: mem.external,
      arrayBuffersBytes: mem.arrayBuffers,
      cpuPercent: wallMs > 0 ? (cpuMs / wallMs) * 100 : 0,
      cpuUserMsTotal: cpu.user / 1000,
      cpuSystemMsTotal: cpu.system / 1000,
      eventLoopDelayP50Ms: empty ? 0 : lag(h.percentile(50)),
      eventLoopDelayP99Ms: empty ? 0 : lag(h.percentile(99)),
      eventLoopDelayMaxMs: empty ? 0 : lag(h.max),
      eventLoopDelayMeanMs: empty ? 0 : lag(h.mean),
      eventLoopUtilization: elu.utilization,
      gcCount: this.gcCount,
      gcPauseMs: this.gcPauseMs,
      gcCountTotal: (this.gcCountTotal += this.gcCount),
      gcPauseMsTotal: (this.gcPauseMsTotal += this.gcPauseMs),
      activeHandles: process.getActiveResourcesInfo().length,
    }
    h.reset()
    this.gcCount = 0
    this.gcPauseMs = 0
    return sample
  }

  private update(s: ProcessHealthSample): void {
    this.samples++
    this.current = s
    const p = this.peak
    if (p === null) {
      this.peak = {
        rssBytes: s.rssBytes,
        heapUsedBytes: s.heapUsedBytes,
        heapTotalBytes: s.heapTotalBytes,
        externalBytes: s.externalBytes,
        arrayBuffersBytes: s.arrayBuffersBytes,
        cpuPercent: s.cpuPercent,
        eventLoopDelayMaxMs: s.eventLoopDelayMaxMs,
        eventLoopUtilization: s.eventLoopUtilization,
        gcPauseMs: s.gcPauseMs,
        activeHandles: s.activeHandles,
      }
    } else {
      for (const key of Object.keys(p) as (keyof ProcessPeaks)[]) if (s[key] > p[key]) p[key] = s[key]
    }
    this.series.push(s)
    if (this.baseline === null) {
      // 1 ms of slack: libuv timers run on a millisecond clock and can fire a fraction of one early.
      if (performance.now() - this.startedAt >= this.baselineDelayMs - 1)
        this.baseline = memory(s, s.timestamp)
      return
    }
    const growthMb = this.growthMb()
    this.aboveTicks = growthMb > this.growthWarnMb ? this.aboveTicks + 1 : 0
    if (this.aboveTicks >= GROWTH_TICKS && !this.growthWarning) {
      this.growthWarning = true
      this.growthWarnedAt = s.timestamp
      try {
        this.logger?.warn(
          `[perf] memory grew ${growthMb.toFixed(1)} MB (heap used + external) since the baseline, over the ${this.growthWarnMb} MB warning threshold (pid ${this.pid})`,
        )
      } catch (err) {
        this.monitor.reportInternalError('watchProcess logger', err)
      }
    }
  }

  private growthMb(): number {
    const b = this.baseline
    const c = this.current
    if (b === null || c === null) return 0
    return (c.heapUsedBytes + c.externalBytes - b.heapUsedBytes - b.externalBytes) / MB
  }

  private section(): ProcessSection {
    const b = this.baseline
    const c = this.current
    return {
      pid: this.pid,
      intervalMs: this.intervalMs,
      samples: this.samples,
      current: c,
      peak: this.peak === null ? null : { ...this.peak },
      baseline: b,
      growth:
        b === null || c === null
          ? null
          : {
              rssBytes: c.rssBytes - b.rssBytes,
              heapUsedBytes: c.heapUsedBytes - b.heapUsedBytes,
              heapTotalBytes: c.heapTotalBytes - b.heapTotalBytes,
              externalBytes: c.externalBytes - b.externalBytes,
              arrayBuffersBytes: c.arrayBuffersBytes - b.arrayBuffersBytes,
            },
      growthMb: this.growthMb(),
      growthWarnMb: this.growthWarnMb,
      growthWarning: this.growthWarning,
      growthWarnedAt: this.growthWarnedAt,
      series: this.series.toJSON(),
      tickMs: this.tickMs,
    }
  }
}

/** Converts a histogram value (ns, a whole timer interval) to the delay beyond the resolution, in ms. */
function lag(ns: number): number {
  const ms = ns / 1e6 - RESOLUTION_MS
  return Math.max(ms, 0)
}

function memory(s: ProcessHealthSample, timestamp: number): MemoryFigures & { timestamp: number } {
  return {
    timestamp,
    rssBytes: s.rssBytes,
    heapUsedBytes: s.heapUsedBytes,
    heapTotalBytes: s.heapTotalBytes,
    externalBytes: s.externalBytes,
    arrayBuffersBytes: s.arrayBuffersBytes,
  }
}

/** Fixed-capacity columns of samples: a bounded memory cost whatever the window and interval. */
class SeriesRing {
  private readonly columns: Float64Array[]
  private head = 0
  private size = 0
  private skipped = 0

  constructor(
    private readonly capacity: number,
    private readonly stride: number,
  ) {
    this.columns = SERIES_FIELDS.map(() => new Float64Array(capacity))
  }

  push(s: ProcessHealthSample): void {
    if (this.skipped++ % this.stride !== 0) return
    for (let f = 0; f < SERIES_FIELDS.length; f++) this.columns[f]![this.head] = s[SERIES_FIELDS[f]!]
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1
    if (this.size < this.capacity) this.size++
  }

  toJSON(): ProcessSection['series'] {
    const out: Record<string, unknown> = { stride: this.stride, capacity: this.capacity }
    const first = (this.head - this.size + this.capacity) % this.capacity
    for (let f = 0; f < SERIES_FIELDS.length; f++) {
      const col = this.columns[f]!
      const values: number[] = new Array(this.size)
      for (let i = 0; i < this.size; i++) values[i] = col[(first + i) % this.capacity]!
      out[SERIES_FIELDS[f]!] = values
    }
    return out as ProcessSection['series']
  }
}
