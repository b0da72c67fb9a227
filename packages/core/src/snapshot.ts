import type { MonitorConfig } from './config.js'
import type { PerfEvent } from './event.js'
import type { SparseHistogram } from './histogram.js'
import type { ProcessSection, ProcessWatchOff } from './process-section.js'

/** A monitor snapshot's own fields: a section (`setSection`) must not take one of these names. */
export const SNAPSHOT_FIELDS: ReadonlySet<string> = new Set([
  'enabled',
  'pid',
  'startedAt',
  'timestamp',
  'uptimeMs',
  'config',
  'window',
  'totals',
  'types',
  'counters',
  'recent',
  'slow',
  'lastInternalError',
])

/** Options of `monitor.snapshot()`. */
export interface SnapshotOptions {
  /** How many recent kept events to include (default 50). */
  readonly recent?: number
  /** How many slow/failed events to include (default 50). */
  readonly slow?: number
  /** Include each op's window and all-time histograms (for merging and Prometheus). */
  readonly histograms?: boolean
}

/** Counters of everything the monitor took in or dropped. Nothing is dropped without a count here. */
export interface Totals {
  /** Events recorded (every one counts toward stats). */
  events: number
  /** Events whose details were kept. */
  kept: number
  /** Events whose details sampling left out (their counts and timings are still in the stats). */
  sampledOut: number
  /** Events and counter updates folded into a type's `<overflow>` op by the cardinality cap (`maxOps`). */
  folded: number
  /** Events and counter updates of types past `maxTypes`, recorded under the `<overflow>` type. */
  foldedTypes: number
  /** Calls rejected with a TypeError (bad duration, type or name). */
  rejected: number
  /** Calls made after `close()`. */
  droppedAfterClose: number
  /** Items (kept events, slice aggregates, process samples) waiting for sinks, summed over sinks. */
  sinkQueued: number
  /** Items in sink calls that have not settled yet (at most one call per sink and hook). */
  sinkInFlight: number
  /** Items not handed to a sink because what waited for it had reached `sinkMaxQueue`. */
  sinkDropped: number
  /** Items `close()` gave up on: still in flight or waiting when `sinkCloseTimeoutMs` ran out. */
  sinkAbandoned: number
  /** Sink hooks that threw or rejected. */
  sinkErrors: number
  /** Failures inside instrumentation (adapters count their own failures here). */
  internalErrors: number
}

/**
 * The {@link Totals} a monitor counts as they happen. The rest are derived when a snapshot reads them:
 * `events` from the ops' counts, `kept` from the kept events' sequence numbers, `sampledOut` as the
 * two's difference, and the sink queue's two from the queue itself.
 */
export type CountedTotals = Omit<Totals, 'events' | 'kept' | 'sampledOut' | 'sinkQueued' | 'sinkInFlight'>

/** Latency and outcome statistics over the window. */
export interface WindowStats {
  count: number
  errors: number
  slow: number
  errorRate: number
  avgMs: number
  /**
   * Sum of the durations, ms: exact, so stats from several places (cluster workers, slices) add up
   * without rebuilding it from `avgMs × count`, which rounds.
   */
  sumMs: number
  minMs: number
  maxMs: number
  p50Ms: number
  p90Ms: number
  p95Ms: number
  p99Ms: number
}

/** Count of events per HTTP status class. */
export type StatusClasses = Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number>

/** One op in a snapshot: window stats plus all-time totals. */
export interface Stats extends WindowStats {
  type: string
  name: string
  /** All-time event count (since start or `clear()`). */
  totalCount: number
  totalErrors: number
  totalSumMs: number
  /** Window events per status class (present once a status was recorded). */
  status?: StatusClasses
  /** All-time events per status class. */
  totalStatus?: StatusClasses
  /**
   * Heap allocated per request, for ops recorded by an HTTP adapter with `memory: true` (all-time):
   * only requests that ran alone in the process with no garbage collection in between are measured,
   * so `measured` may stay 0 under concurrency.
   */
  memory?: RequestMemoryStats
  /** Window histogram (with `histograms: true`). */
  histogram?: SparseHistogram
  /** All-time histogram (with `histograms: true`). */
  totalHistogram?: SparseHistogram
}

/** Heap allocated by an op's requests that could be measured (see `HttpOptions.memory`). */
export interface RequestMemoryStats {
  /** Requests measured (ran alone, no collection during them). */
  measured: number
  /** Sum of their heap deltas, bytes: exact, so cluster workers add up. */
  sumBytes: number
  /** Mean heap delta, bytes (0 when none was measured). */
  meanBytes: number
  /** Largest heap delta, bytes (0 when none was measured). */
  maxBytes: number
}

/** One type in a snapshot: its ops and their combined stats. */
export interface TypeSnapshot extends WindowStats {
  sampling: number
  slowMs: number
  /** Events recorded past the cardinality cap, into the `<overflow>` op. */
  foldedEvents: number
  ops: Stats[]
}

/** A JSON-serialisable picture of the monitor. */
export interface Snapshot {
  enabled: boolean
  pid: number
  startedAt: number
  timestamp: number
  uptimeMs: number
  config: MonitorConfig
  window: { ms: number; sliceMs: number; fromMs: number }
  totals: Totals
  types: Record<string, TypeSnapshot>
  counters: Record<string, Record<string, number>>
  /** Kept events, newest first. */
  recent: PerfEvent[]
  /** Slow and failed events, newest first. */
  slow: PerfEvent[]
  /** The last failure inside instrumentation or a sink, if any. */
  lastInternalError?: string
  /**
   * Process health, once `watchProcess` (from `@perf/core/node`) watches this monitor; under
   * `NODE_ENV=test` without `force`, why it does not.
   */
  process?: ProcessSection | ProcessWatchOff
  /** Other sections added with `monitor.setSection`. */
  [section: string]: unknown
}
