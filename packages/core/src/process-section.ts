import type { ProcessSample } from './sink.js'

// Types only: the snapshot types the `process` section with these, and the main entry must stay free
// of Node modules (`watchProcess`, which fills the section, lives in `@perf/core/node`).

/** One process-health sample: what each tick measures. Memory in bytes, times in ms. */
export interface ProcessHealthSample extends ProcessSample {
  readonly timestamp: number
  readonly pid: number
  readonly rssBytes: number
  readonly heapUsedBytes: number
  readonly heapTotalBytes: number
  readonly externalBytes: number
  readonly arrayBuffersBytes: number
  /** CPU time used since the last sample over wall time, in % of one core (can exceed 100 with threads). */
  readonly cpuPercent: number
  /** CPU time in user mode since the process started. */
  readonly cpuUserMsTotal: number
  /** CPU time in kernel mode since the process started. */
  readonly cpuSystemMsTotal: number
  /** Event-loop delay since the last sample (beyond the sampling resolution). */
  readonly eventLoopDelayP50Ms: number
  readonly eventLoopDelayP99Ms: number
  readonly eventLoopDelayMaxMs: number
  readonly eventLoopDelayMeanMs: number
  /** Share (0..1) of time since the last sample the event loop spent busy. */
  readonly eventLoopUtilization: number
  /** Garbage collections since the last sample and their total pause. */
  readonly gcCount: number
  readonly gcPauseMs: number
  /** Garbage collections since the watcher started and their total pause. */
  readonly gcCountTotal: number
  readonly gcPauseMsTotal: number
  /** Resources keeping the event loop alive (`process.getActiveResourcesInfo().length`). */
  readonly activeHandles: number
}

/** Memory figures of the baseline and of the growth since it. */
export interface MemoryFigures {
  readonly rssBytes: number
  readonly heapUsedBytes: number
  readonly heapTotalBytes: number
  readonly externalBytes: number
  readonly arrayBuffersBytes: number
}

/** Highest values seen since the watcher started. */
export interface ProcessPeaks extends MemoryFigures {
  readonly cpuPercent: number
  readonly eventLoopDelayMaxMs: number
  readonly eventLoopUtilization: number
  readonly gcPauseMs: number
  readonly activeHandles: number
}

/** A field of the time series. */
export type SeriesField =
  | 'timestamp'
  | 'rssBytes'
  | 'heapUsedBytes'
  | 'heapTotalBytes'
  | 'externalBytes'
  | 'cpuPercent'
  | 'eventLoopDelayP99Ms'
  | 'eventLoopDelayMaxMs'
  | 'eventLoopUtilization'
  | 'gcPauseMs'
  | 'activeHandles'

/** The `process` section of a snapshot. */
export interface ProcessSection {
  readonly pid: number
  readonly intervalMs: number
  /** Samples taken so far. */
  readonly samples: number
  /** The latest sample, `null` before the first tick. */
  readonly current: ProcessHealthSample | null
  /** High-water marks, `null` before the first tick. */
  readonly peak: ProcessPeaks | null
  /** Memory at the baseline, `null` until `baselineDelayMs` has passed. */
  readonly baseline: (MemoryFigures & { readonly timestamp: number }) | null
  /** Latest memory minus the baseline, `null` without a baseline. */
  readonly growth: MemoryFigures | null
  /** Growth of heap used + external memory over the baseline, in MB (what the warning watches). */
  readonly growthMb: number
  readonly growthWarnMb: number
  /** Whether the growth has exceeded `growthWarnMb` for 3 samples in a row (stays set once raised). */
  readonly growthWarning: boolean
  /** When the warning was first raised (ms since the epoch), or `null`. */
  readonly growthWarnedAt: number | null
  /**
   * Samples covering the monitor's window, one column per field, oldest first. `stride` > 1 means only
   * every stride-th sample is kept, so a long window at a short interval stays within `capacity` points.
   */
  readonly series: { readonly stride: number; readonly capacity: number } & Record<SeriesField, number[]>
  /** What the last tick cost, in ms (the watcher's own overhead). */
  readonly tickMs: number
}

/**
 * The `process` section of a watcher that does not sample: `watchProcess` under `NODE_ENV=test`
 * without `force`. It says why, so the dashboard shows the reason instead of "not watched".
 */
export interface ProcessWatchOff {
  readonly watching: false
  readonly reason: string
}
