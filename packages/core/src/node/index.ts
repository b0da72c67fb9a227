/**
 * Node-only parts of @perf/core: process health (`watchProcess`), flush on shutdown signals, and
 * cluster-wide numbers. Import from `@perf/core/node`.
 */

export type { ClusterInfo, ClusterShare, ClusterSnapshot, ShareClusterOptions } from './cluster.js'
export type {
  MemoryFigures,
  ProcessHealthSample,
  ProcessPeaks,
  ProcessSection,
  ProcessWatcher,
  ProcessWatchOptions,
  SeriesField,
} from './process.js'
export { shareCluster } from './cluster.js'
export { PROCESS_DEFAULTS, processConfigFromEnv, SERIES_FIELDS, watchProcess } from './process.js'
export type { OnShutdownOptions, ShutdownHandler, ShutdownSignal } from './shutdown.js'
export { onShutdown } from './shutdown.js'
