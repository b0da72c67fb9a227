// @ts-check
// Types the page's modules share: the API's answers are typed by the server's own view.ts, so a field
// renamed there fails the type check here.
/** @typedef {import('../view.js').SnapshotView} SnapshotView */
/** @typedef {import('../view.js').HistoryView} HistoryView */
/** @typedef {import('../view.js').DashboardView} DashboardView */
/** @typedef {import('../view.js').CompareView} CompareView */
/** @typedef {import('../view.js').CompareOp} CompareOp */
/** @typedef {import('@perf/core').Stats} OpRow */
/** @typedef {import('@perf/core').PerfEvent} PerfEvent */
/** @typedef {'endpoints' | 'db'} TableName */
/** @typedef {{ key: string, dir: number }} SortOrder */

export {}
