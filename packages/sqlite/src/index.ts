export {
  compareStore,
  compareStoreAsync,
  listReleases,
  mannWhitney,
  openStoreReadOnly,
  summarizeStore,
  twoProportions,
} from './compare.js'
export { monitorDatabase } from './monitor-database.js'
export { addonMismatchHint } from './native-addon.js'
export { MAX_SQL_LENGTH, redactSql, redactSqlError } from './redact-sql.js'
export { SqliteStore } from './sqlite-store.js'
export { statementName } from './statement-name.js'
export { SCHEMA_VERSION } from './store-schema.js'

export type {
  CompareQuery,
  CompareSide,
  Comparison,
  OpComparison,
  OpSummary,
  ReadOptions,
  ReleaseInfo,
  ResolvedSide,
  SideFigures,
  SummaryQuery,
  Verdict,
} from './compare.js'
export type { MonitorDatabaseOptions, SqlTextMode } from './monitor-database.js'
export type {
  History,
  HistoryPoint,
  HistoryQuery,
  HistoryTypePoint,
  SqliteStoreOptions,
  SqliteStoreStats,
} from './sqlite-store.js'
