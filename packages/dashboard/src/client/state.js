// @ts-check
// The page's shared state: one object the modules read and the refresh loop updates.

/** @typedef {import('./types.js').SnapshotView} SnapshotView */
/** @typedef {import('./types.js').HistoryView} HistoryView */
/** @typedef {import('./types.js').SortOrder} SortOrder */
/** @typedef {InstanceType<typeof import('uplot')>} UPlot */

/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))

// The dashboard's root path (ends in /), set by the server: the page works with or without the slash.
export const base = document.body.dataset.base || './'

export const state = {
  paused: false,
  range: 'live',
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  timer: undefined,
  refreshMs: 5000,
  refreshes: 0,
  /** @type {SnapshotView | undefined} */
  last: undefined,
  /** @type {HistoryView | undefined} */
  history: undefined,
  /** The comparison shown, once asked for (only once by itself: comparing reads a lot). */
  /** @type {import('./types.js').CompareView | undefined} */
  compare: undefined,
  compareAsked: false,
  historyAt: 0,
  /** @type {{ endpoints: SortOrder, db: SortOrder }} */
  sort: {
    endpoints: { key: 'count', dir: -1 },
    db: { key: 'count', dir: -1 },
  },
  filter: { endpoints: '', db: '' },
}

/** The chart instances, by the id of their host element. @type {Record<string, UPlot>} */
export const charts = {}
