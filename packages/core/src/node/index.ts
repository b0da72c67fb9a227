/**
 * Node-only parts of @perf/core: process health (`watchProcess`), flush on shutdown signals, and
 * cluster-wide numbers. Import from `@perf/core/node`.
 */

export type {
  MemoryFigures,
  ProcessHealthSample,
  ProcessPeaks,
  ProcessSection,
  ProcessWatcher,
  ProcessWatchOptions,
  SeriesField,
} from './process.js'
export { PROCESS_DEFAULTS, processConfigFromEnv, SERIES_FIELDS, watchProcess } from './process.js'
