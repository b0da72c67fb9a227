export { createSignInCode } from '@perf/core'
export { createDashboard } from './dashboard.js'
export { parseHistoryRange } from './history.js'

export type { DashboardHandler, DashboardOptions, DashboardRequestInfo } from './dashboard.js'
export type { HistoryQuery, HistoryRange, HistoryRow, HistoryStore } from './history.js'
export type { TimelinePoint, TimelineSeries } from './timeline.js'
export type { DashboardView, ProcessView, Summary, TimelineView } from './view.js'
