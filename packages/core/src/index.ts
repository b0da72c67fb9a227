export { Aggregate } from './aggregate.js'
export {
  ADMIN_AUTH_COUNTER_TYPE,
  bearerToken,
  constantTimeEqual,
  createAdminAuth,
  createSignInCode,
  DEFAULT_SESSION_TTL_MS,
  DEFAULT_SIGN_IN_CODE_TTL_MS,
  isLoopbackAddress,
  isLoopbackHost,
  MAX_TOKEN_LENGTH,
  MIN_TOKEN_LENGTH,
  resolveToken,
} from './admin-auth.js'
export {
  checkNumber,
  checkRelease,
  configFromEnv,
  DEFAULT_REDACT_KEYS,
  DEFAULTS,
  envBoolean,
  envNumber,
  KNOWN_ENV,
} from './config.js'
export { checkOptionKeys } from './option-keys.js'
export { createContextStorage } from './context.js'
export {
  addHistograms,
  bucketIndex,
  bucketLower,
  bucketUpper,
  bucketValue,
  BUCKETS,
  quantile,
  percentiles,
} from './histogram.js'
export { mergeSnapshots } from './merge.js'
export {
  ABORTED,
  contentLength,
  createHttpRecorder,
  DEFAULT_REQUEST_ID_HEADER,
  HTTP_METHODS,
  HTTP_TYPE,
  HttpRecorder,
  isUnrecorded,
  markUnrecorded,
  normalizeMethod,
  OTHER_METHOD,
  pathOf,
  PendingRequest,
  rawHeader,
  UNMATCHED,
} from './http.js'
export { DUPLICATE_INSTALL, warnDuplicateInstall } from './install-warning.js'
export { createMetricsHandler } from './metrics-handler.js'
export { createMonitor, MAX_NAME_LENGTH, OVERFLOW_NAME } from './monitor.js'
export { serveWebHandler } from './node-web.js'
export {
  MAX_WEB_BODY_BYTES,
  MOUNT_ABORTED,
  MOUNT_METHODS,
  mountSegments,
  serveMounted,
  splitMountPath,
} from './web-mount.js'
export {
  DEFAULT_PROMETHEUS_BUCKETS,
  escapeLabelValue,
  PROMETHEUS_CONTENT_TYPE,
  sanitizeMetricName,
  toPrometheus,
  toPrometheusBytes,
} from './prometheus.js'
export { REDACTED, sanitizeMetadata } from './redact.js'
export { emitPerfWarning } from './runtime.js'
export { watchResponse } from './response-tracker.js'
export { newRequestId, requestIdFrom } from './request-id.js'

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
export type { ContextStorage, RequestContext } from './context.js'
export type { PerfEvent, RecordOptions } from './event.js'
export type { HistogramData, Percentiles, SparseHistogram } from './histogram.js'
export type { HttpIgnore, HttpOptions, HttpOutcome, WebHandler, WebHandlerInfo } from './http.js'
export type { MergedSnapshot } from './merge.js'
export type { MetricsHandler, MetricsHandlerOptions } from './metrics-handler.js'
export type { Monitor, OpHandle, SlowEventsQuery } from './monitor.js'
export type { NodeRequestLike, NodeResponseLike } from './node-web.js'
export type { PrometheusOptions } from './prometheus.js'
export type {
  MemoryFigures,
  ProcessHealthSample,
  ProcessPeaks,
  ProcessSection,
  ProcessWatchOff,
  SeriesField,
} from './process-section.js'
export type { MountedRequest, MountedResult, MountOptions } from './web-mount.js'
export type { ResponseWatcher, TrackableRequest, TrackableResponse } from './response-tracker.js'
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
