export { Aggregate } from './aggregate.js'
export { createAdminAuth, createSignInCode, isLoopbackAddress, isLoopbackHost } from './admin-auth.js'
export { checkNumber, checkRelease, configFromEnv, DEFAULT_REDACT_KEYS, envNumber } from './config.js'
export { checkOptionKeys } from './option-keys.js'
export { addHistograms, bucketIndex, bucketValue, quantile, percentiles } from './histogram.js'
export { mergeSnapshots } from './merge.js'
export { createMetricsHandler } from './metrics-handler.js'
export { createMonitor } from './monitor.js'
export {
  DEFAULT_PROMETHEUS_BUCKETS,
  PROMETHEUS_CONTENT_TYPE,
  toPrometheus,
  toPrometheusBytes,
} from './prometheus.js'
export { emitPerfWarning } from './runtime.js'

export type { AggregateInput, AggregateStats } from './aggregate.js'
export type {
  AdminAuth,
  AdminAuthOptions,
  CheckOptions,
  Credential,
  RequestOrigin,
  SignInResult,
} from './admin-auth.js'
export type { PerfErrorCode } from './errors.js'
export type { MonitorConfig, MonitorOptions, PerType, Range } from './config.js'
export type { PerfEvent, RecordOptions } from './event.js'
export type { HistogramData, Percentiles, SparseHistogram } from './histogram.js'
export type { HttpIgnore, HttpOptions, WebHandler, WebHandlerInfo } from './http.js'
export type { MergedSnapshot } from './merge.js'
export type { MetricsHandler, MetricsHandlerOptions } from './metrics-handler.js'
export type { Monitor, OpHandle, SlowEventsQuery } from './monitor.js'
export type { PrometheusOptions } from './prometheus.js'
export type {
  MemoryFigures,
  ProcessHealthSample,
  ProcessPeaks,
  ProcessSection,
  ProcessWatchOff,
  SeriesField,
} from './process-section.js'
export type { OpAggregate, ProcessSample, Sink } from './sink.js'
export type {
  Snapshot,
  SnapshotOptions,
  Stats,
  StatusClasses,
  Totals,
  TypeSnapshot,
  WindowStats,
} from './snapshot.js'
