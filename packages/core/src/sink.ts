import type { PerfEvent } from './event.js'
import type { SparseHistogram } from './histogram.js'

/** Aggregate of one op over one completed slice of the window (e.g. one minute). */
export interface OpAggregate {
  readonly type: string
  readonly name: string
  /** Slice start and end, ms since the epoch. */
  readonly start: number
  readonly end: number
  readonly count: number
  readonly errors: number
  readonly slow: number
  readonly sumMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly histogram: SparseHistogram
}

/** One process-health sample (see `watchProcess` in `@perf/core/node`). */
export interface ProcessSample {
  readonly timestamp: number
  readonly pid: number
  readonly [metric: string]: number
}

/**
 * Receives what the monitor keeps. Every hook is optional and is called outside `record()`, in
 * batches; a hook that throws or rejects is counted (`totals.sinkErrors`) and never reaches the app.
 */
export interface Sink {
  /** A short name for stats and errors. */
  readonly name?: string
  /**
   * `true` when the sink persists what it gets on SIGTERM/SIGINT (e.g. `SqliteStore` with
   * `flushOnExit`): every monitor feeding it then hands over its queue when the signal arrives, before
   * any `onShutdown` handler runs, so one switch on the sink is enough to lose nothing.
   */
  readonly flushOnExit?: boolean
  /** Kept events (sampled, slow or failed), oldest first. */
  write?(events: readonly PerfEvent[]): void | Promise<void>
  /** Per-op aggregates of a slice that just completed. */
  writeAggregates?(aggregates: readonly OpAggregate[]): void | Promise<void>
  /** Process-health samples. */
  writeSamples?(samples: readonly ProcessSample[]): void | Promise<void>
  /** Persists whatever the sink has queued. */
  flush?(): void | Promise<void>
  /** Flushes and releases resources; called by `monitor.close()`. */
  close?(): void | Promise<void>
}
