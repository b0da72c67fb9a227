// @ts-check
// The endpoint and query tables (sortable, filterable), the event tables and the workers table.
import { el } from './dom.js'
import { finite, fmtAlloc, fmtBytes, fmtDuration, fmtInt, fmtMs, fmtPct, fmtTime } from './format.js'
import { $, state } from './state.js'

/** @typedef {import('./types.js').OpRow} OpRow */
/** @typedef {import('./types.js').PerfEvent} PerfEvent */
/** @typedef {import('./types.js').SnapshotView} SnapshotView */
/** @typedef {import('./types.js').TableName} TableName */
/**
 * A column of an op table: where its value comes from, how it is shown and flagged.
 * @typedef {{
 *   key: string,
 *   label: string,
 *   num?: boolean,
 *   cls?: string,
 *   fmt?: (v: any) => string,
 *   get?: (r: OpRow) => unknown,
 *   flag?: (r: OpRow) => string,
 * }} Column
 */
/** @typedef {{ label: string, num?: boolean, cls?: string }} Header */

/**
 * @param {OpRow} row
 * @param {'2xx' | '3xx' | '4xx' | '5xx'} k
 */
function statusOf(row, k) {
  return row.status ? row.status[k] : 0
}

/** @type {Column[]} */
const OP_COLUMNS = [
  { key: 'count', label: 'Calls', num: true, fmt: fmtInt },
  { key: 'avgMs', label: 'Avg', num: true, fmt: fmtMs },
  { key: 'p50Ms', label: 'p50', num: true, fmt: fmtMs },
  { key: 'p95Ms', label: 'p95', num: true, fmt: fmtMs },
  { key: 'p99Ms', label: 'p99', num: true, fmt: fmtMs },
  { key: 'maxMs', label: 'Max', num: true, fmt: fmtMs },
  { key: 'errors', label: 'Errors', num: true, fmt: fmtInt, flag: (r) => (r.errors > 0 ? 'bad' : '') },
]
/** @type {Column[]} */
const ENDPOINT_COLUMNS = [
  { key: 'name', label: 'Endpoint', cls: 'name' },
  ...OP_COLUMNS,
  { key: 'errorRate', label: 'Err %', num: true, fmt: fmtPct },
  .../** @type {const} */ (['2xx', '3xx', '4xx', '5xx']).map((k) => ({
    key: k,
    label: k,
    num: true,
    fmt: fmtInt,
    /** @param {OpRow} r */
    get: (r) => statusOf(r, k),
    cls: 'st',
    /** @param {OpRow} r */
    flag: (r) => (statusOf(r, k) > 0 && k >= '4' ? `st${k[0]}` : ''),
  })),
]
/**
 * Heap per request, on endpoints recorded with `memory: true` (an op's `memory`): the mean (-1 when
 * requests ran but none alone, so none could be measured) and the largest.
 * @type {Column[]}
 */
const MEMORY_COLUMNS = [
  {
    key: 'allocMean',
    label: 'Alloc/req',
    num: true,
    get: (r) => (r.memory === undefined ? undefined : r.memory.measured > 0 ? r.memory.meanBytes : -1),
    fmt: (v) => (v === -1 ? 'not measurable under concurrency' : fmtAlloc(v)),
  },
  {
    key: 'allocMax',
    label: 'Alloc max',
    num: true,
    get: (r) => (r.memory !== undefined && r.memory.measured > 0 ? r.memory.maxBytes : undefined),
    fmt: fmtAlloc,
  },
]
/** @type {Column[]} */
const DB_COLUMNS = [{ key: 'name', label: 'Query', cls: 'name' }, ...OP_COLUMNS]

/**
 * @param {string} tableId
 * @param {OpRow[]} rows
 * @param {Column[]} columns
 * @param {TableName} which
 */
function renderOpTable(tableId, rows, columns, which) {
  const table = $(tableId)
  const sort = state.sort[which]
  const filter = state.filter[which].toLowerCase()
  /** @param {Column} col @param {OpRow} r @returns {any} */
  const value = (col, r) =>
    col.get ? col.get(r) : /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (r))[col.key]
  const shown = rows.filter((r) => filter === '' || r.name.toLowerCase().includes(filter))
  const col = /** @type {Column} */ (columns.find((c) => c.key === sort.key) ?? columns[1])
  shown.sort((a, b) => {
    const va = value(col, a)
    const vb = value(col, b)
    const c = typeof va === 'string' ? va.localeCompare(vb) : (va ?? 0) - (vb ?? 0)
    return c * sort.dir || a.name.localeCompare(b.name)
  })
  const thead = el('thead')
  const hr = el('tr')
  for (const c of columns) {
    const th = el('th', c.num ? 'num' : '')
    const b = el('button', 'sort', c.label)
    b.type = 'button'
    if (c.key === sort.key) {
      th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending')
      b.append(el('span', 'arrow', sort.dir > 0 ? ' ▲' : ' ▼'))
    }
    b.addEventListener('click', () => {
      state.sort[which] = { key: c.key, dir: c.key === sort.key ? -sort.dir : c.num ? -1 : 1 }
      if (state.last) renderTables(state.last)
    })
    th.append(b)
    hr.append(th)
  }
  thead.append(hr)
  const tbody = el('tbody')
  for (const r of shown) {
    const tr = el('tr')
    for (const c of columns) {
      const v = value(c, r)
      const td = el(
        'td',
        [c.num ? 'num' : '', c.cls ?? '', c.flag ? c.flag(r) : ''].filter(Boolean).join(' '),
        c.fmt ? c.fmt(v) : v,
      )
      if (c.key === 'name') td.title = r.name
      tr.append(td)
    }
    tbody.append(tr)
  }
  if (shown.length === 0) {
    const tr = el('tr')
    const td = el('td', 'none', rows.length === 0 ? 'Nothing recorded yet' : 'No match')
    td.colSpan = columns.length
    tr.append(td)
    tbody.append(tr)
  }
  table.replaceChildren(thead, tbody)
}

/**
 * A table of plain cells (text only).
 * @param {string} tableId
 * @param {Header[]} headers
 * @param {unknown[][]} rows
 * @param {string} emptyText
 */
export function renderEventTable(tableId, headers, rows, emptyText) {
  const table = $(tableId)
  const thead = el('thead')
  const hr = el('tr')
  for (const h of headers) hr.append(el('th', h.num ? 'num' : '', h.label))
  thead.append(hr)
  const tbody = el('tbody')
  for (const cells of rows) {
    const tr = el('tr')
    cells.forEach((v, i) => {
      const h = /** @type {Header} */ (headers[i])
      const td = el('td', h.cls ?? (h.num ? 'num' : ''), v)
      if (h.cls?.includes('name')) td.title = String(v)
      tr.append(td)
    })
    tbody.append(tr)
  }
  if (rows.length === 0) {
    const tr = el('tr')
    const td = el('td', 'none', emptyText)
    td.colSpan = headers.length
    tr.append(td)
    tbody.append(tr)
  }
  table.replaceChildren(thead, tbody)
}

/** @param {PerfEvent} event */
function sqlOf(event) {
  const m = event.metadata
  const sql = m && (m.sql ?? m.query ?? m.statement)
  return typeof sql === 'string' ? sql : event.name
}

// Ops interned at route registration but never called yet carry no information.
/** @param {OpRow[] | undefined} ops */
const used = (ops) => (ops ?? []).filter((o) => o.count > 0 || o.totalCount > 0)

/** @param {SnapshotView} data */
export function renderTables(data) {
  const endpoints = used(data.types.http?.ops)
  const memory = endpoints.some((op) => op.memory !== undefined)
  renderOpTable(
    'endpoints',
    endpoints,
    memory ? [...ENDPOINT_COLUMNS, ...MEMORY_COLUMNS] : ENDPOINT_COLUMNS,
    'endpoints',
  )
  renderOpTable('db', used(data.types.db?.ops), DB_COLUMNS, 'db')
  const slow = data.slow.filter((e) => e.type === 'db' && e.slow).slice(0, 25)
  renderEventTable(
    'slow',
    [
      { label: 'When' },
      { label: 'Duration', num: true },
      { label: 'SQL', cls: 'name sql' },
      { label: 'Request id', cls: 'mono' },
    ],
    slow.map((e) => [fmtTime(e.timestamp), fmtMs(e.durationMs), sqlOf(e), e.requestId ?? '–']),
    'No slow queries',
  )
  const errors = data.slow.filter((e) => e.error !== null).slice(0, 25)
  renderEventTable(
    'errors',
    [
      { label: 'When' },
      { label: 'Op', cls: 'name op' },
      { label: 'Error', cls: 'name err' },
      { label: 'Request id', cls: 'mono' },
    ],
    errors.map((e) => [fmtTime(e.timestamp), `${e.type} ${e.name}`, e.error, e.requestId ?? '–']),
    'No errors',
  )
  const recent = data.recent.filter((e) => e.type === 'http').slice(0, 30)
  renderEventTable(
    'recent',
    [
      { label: 'When' },
      { label: 'Status', num: true },
      { label: 'Request', cls: 'name' },
      { label: 'Route', cls: 'name muted' },
      { label: 'Duration', num: true },
      { label: 'DB queries', num: true },
      { label: 'Request id', cls: 'mono' },
    ],
    recent.map((e) => {
      const m = e.metadata ?? {}
      const method = typeof m.method === 'string' ? m.method : e.name.split(' ')[0]
      const path = typeof m.path === 'string' ? m.path : ''
      return [
        fmtTime(e.timestamp),
        m.status ?? (e.error ? 'error' : '–'),
        `${method} ${path}`,
        e.name,
        fmtMs(e.durationMs),
        finite(m.dbQueries) ? fmtInt(m.dbQueries) : '–',
        e.requestId ?? '–',
      ]
    }),
    'No requests sampled yet',
  )
}

/** @param {SnapshotView} data */
export function renderWorkers(data) {
  const workers = data.dashboard.workers
  $('workers-panel').hidden = !workers
  if (!workers) return
  /** @param {number | undefined} v @param {(v: number) => string} f */
  const num = (v, f) => (finite(v) ? f(v) : '–')
  renderEventTable(
    'workers',
    [
      { label: 'Pid', num: true },
      { label: 'State', cls: 'name' },
      { label: 'CPU', num: true },
      { label: 'RSS', num: true },
      { label: 'Loop p99', num: true },
      { label: 'Last report', num: true },
    ],
    workers.map((w) => [
      w.pid,
      w.state === 'unresponsive' && finite(w.unresponsiveSince)
        ? `unresponsive since ${fmtTime(w.unresponsiveSince)}`
        : w.state === 'gone' && finite(w.exitedAt)
          ? `gone at ${fmtTime(w.exitedAt)}`
          : w.state,
      num(w.cpuPercent, (c) => `${c.toFixed(1)}%`),
      num(w.rssBytes, fmtBytes),
      num(w.eventLoopDelayP99Ms, fmtMs),
      num(w.lastReportAgeMs, (a) =>
        a < 60_000 ? `${(a / 1000).toFixed(1)} s ago` : `${fmtDuration(a)} ago`,
      ),
    ]),
    'No workers',
  )
}

/** @param {SnapshotView} data */
export function renderFooter(data) {
  const t = data.totals
  const parts = [
    `pid ${data.pid}`,
    `window ${Math.round(data.window.ms / 60000)} min`,
    `${fmtInt(t.events)} events`,
    `${fmtInt(t.kept)} kept`,
    `${fmtInt(t.sampledOut)} sampled out`,
    `${fmtInt(t.folded)} folded`,
    `${fmtInt(t.sinkDropped)} sink drops`,
    `${fmtInt(t.sinkErrors)} sink errors`,
    `${fmtInt(t.internalErrors)} internal errors`,
  ]
  $('footer').textContent = parts.join(' · ')
  if (data.lastInternalError) {
    const last = el('div', 'last-error', `Last internal error: ${data.lastInternalError}`)
    $('footer').append(last)
  }
}
