// @ts-check
// The four time charts (uPlot, loaded before the modules as a classic script): live from the snapshot's
// timeline, or a stored range from api/history.
import { el } from './dom.js'
import { fmtDuration, fmtInt } from './format.js'
import { $, charts, state } from './state.js'

/** @typedef {typeof import('uplot')} UPlotClass */
/** @typedef {InstanceType<UPlotClass>} UPlot */
/** @typedef {import('uplot').Series & { partial?: boolean }} ChartSeries */
/** @typedef {import('uplot').Axis.Values} AxisValues */

/** The chart library, a global of its classic script (uplot.js), which runs before the modules. */
function uPlotClass() {
  return /** @type {UPlotClass} */ (/** @type {any} */ (window).uPlot)
}

const COLORS = {
  p50: '#2563eb',
  p95: '#d97706',
  p99: '#dc2626',
  rpm: '#0d9488',
  rss: '#7c3aed',
  heap: '#0891b2',
  eld: '#db2777',
}

// The legend sits under the canvas, inside the same box.
/** @param {HTMLElement} host */
function chartSize(host) {
  return { width: Math.max(200, host.clientWidth), height: 150 }
}

// One short 24-hour label per tick, and ticks at least 84 px apart: uPlot's default two-line
// labels ("2:37am") ran into each other on a narrow chart.
/** @param {number} n */
const pad = (n) => String(n).padStart(2, '0')
/**
 * @param {UPlot} _u
 * @param {number[]} ticks
 * @param {number} _axis
 * @param {number} _space
 * @param {number} incr
 */
function timeLabels(_u, ticks, _axis, _space, incr) {
  return ticks.map((t) => {
    const d = new Date(t * 1000)
    if (incr >= 86400) return `${d.getMonth() + 1}/${d.getDate()}`
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`
    return incr < 60 ? `${hm}:${pad(d.getSeconds())}` : hm
  })
}

/**
 * The release changes of the history range shown (none live): drawn on every time chart as a dashed
 * line with the release's name, as elements over the plot so they stay text (and testable).
 * @type {import('./types.js').HistoryView['releases']}
 */
let markers = []

/** @param {UPlot} u */
function drawMarkers(u) {
  for (const old of u.over.querySelectorAll('.release-marker')) old.remove()
  const { min, max } = u.scales.x ?? {}
  if (min === undefined || max === undefined) return
  let shown = 0
  for (const m of markers) {
    const x = m.at / 1000
    if (x < min || x > max) continue
    const line = el('div', 'release-marker')
    // Releases close together would write their names over each other: each label a line lower.
    line.style.setProperty('--label-row', String(shown++ % 4))
    line.style.left = `${u.valToPos(x, 'x')}px`
    line.title = `release ${m.release} first seen ${new Date(m.at).toLocaleString()}`
    line.append(el('span', '', m.release))
    u.over.append(line)
  }
}

/**
 * @param {string} id
 * @param {ChartSeries[]} series
 * @param {{ values?: AxisValues }} [opts]
 */
function makeChart(id, series, opts = {}) {
  const host = $(id)
  const size = chartSize(host)
  const axis = {
    stroke: '#6b7280',
    grid: { stroke: '#eef0f3', width: 1 },
    ticks: { stroke: '#e5e7eb', width: 1 },
    font: '11px system-ui, sans-serif',
  }
  const UPlot = uPlotClass()
  const u = new UPlot(
    {
      ...size,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { ...axis, space: 84, values: timeLabels },
        { ...axis, size: 48, ...(opts.values ? { values: opts.values } : {}) },
      ],
      series: [{}, ...series],
      hooks: { draw: [drawMarkers] },
    },
    [[], ...series.map(() => [])],
    host,
  )
  charts[id] = u
  // Partial companions share their line's legend entry: the caption explains them.
  series.forEach((s, i) => {
    if (s.partial) u.root.querySelectorAll('.u-legend .u-series')[i]?.classList.add('partial-legend')
  })
  return u
}

/**
 * @param {string} label
 * @param {string} color
 * @param {ChartSeries} [extra]
 * @returns {ChartSeries}
 */
function line(label, color, extra = {}) {
  return { label, stroke: color, width: 1.6, points: { show: true, size: 4 }, spanGaps: false, ...extra }
}

// The slice in progress: a dashed segment from the last completed point to a hollow one.
/**
 * @param {string} label
 * @param {string} color
 * @returns {ChartSeries}
 */
function partialLine(label, color) {
  return {
    label: `${label} (so far)`,
    partial: true,
    stroke: color,
    width: 1.6,
    dash: [4, 4],
    points: { show: true, size: 7, width: 1.6, fill: '#ffffff', stroke: color },
    spanGaps: true,
  }
}

/** Creates the charts (empty) and keeps them sized to their boxes. */
export function initCharts() {
  const UPlot = uPlotClass()
  const bars = UPlot.paths?.bars ? UPlot.paths.bars({ size: [0.7, 40] }) : undefined
  makeChart(
    'chart-latency',
    [
      line('p50', COLORS.p50),
      line('p95', COLORS.p95),
      line('p99', COLORS.p99),
      partialLine('p50', COLORS.p50),
      partialLine('p95', COLORS.p95),
      partialLine('p99', COLORS.p99),
    ],
    {
      values: (_u, ticks) =>
        ticks.map((v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${+v.toFixed(v < 1 ? 2 : 1)}`)),
    },
  )
  makeChart('chart-rpm', [
    line('req/min', COLORS.rpm, {
      fill: 'rgba(13,148,136,0.25)',
      ...(bars ? { paths: bars } : {}),
      points: { show: false },
    }),
    {
      label: 'req/min (so far)',
      partial: true,
      stroke: COLORS.rpm,
      width: 1.6,
      dash: [4, 3],
      fill: 'rgba(13,148,136,0.07)',
      ...(bars ? { paths: bars } : {}),
      points: { show: false },
    },
  ])
  makeChart('chart-memory', [line('RSS', COLORS.rss), line('heap used', COLORS.heap)])
  makeChart('chart-eld', [line('p99 delay', COLORS.eld, { fill: 'rgba(219,39,119,0.08)' })])
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pending
  window.addEventListener('resize', () => {
    clearTimeout(pending)
    pending = setTimeout(() => {
      for (const [id, u] of Object.entries(charts)) {
        const host = $(id)
        u.setSize(chartSize(host))
      }
    }, 100)
  })
}

/**
 * @param {string} id
 * @param {string} message
 */
function setEmpty(id, message) {
  const host = /** @type {HTMLElement} */ ($(id).parentElement)
  let note = host.querySelector('.empty')
  if (!message) {
    note?.remove()
    return
  }
  if (!note) {
    note = el('div', 'empty')
    host.append(note)
  }
  note.textContent = message
}

// Every time chart spans the same range, so a lone point sits in place instead of the axis
// stretching to years around it.
/**
 * @param {string} id
 * @param {import('uplot').AlignedData} data
 * @param {[number, number]} range
 */
function setTimeData(id, data, range) {
  const u = /** @type {UPlot} */ (charts[id])
  u.setData(data)
  u.setScale('x', { min: range[0], max: range[1] })
}

/** @param {import('./types.js').SnapshotView} data */
export function renderCharts(data) {
  const tl = data.dashboard.timeline
  const history = state.range === 'live' ? undefined : state.history
  /** @type {{ end: number, count: number, p50Ms: number | null, p95Ms: number | null, p99Ms: number | null }[]} */
  const points = (history ? history.series.http : tl.series.http) ?? []
  const minutes = (history ? history.bucketMs : tl.sliceMs) / 60000
  // Half a slice of room on either side, so neither the first point nor the bar of the slice in
  // progress (drawn where it will end) sits on the edge.
  /** @type {[number, number]} */
  const range = history
    ? [history.since / 1000, (history.until + history.bucketMs) / 1000]
    : [(data.window.fromMs - tl.sliceMs / 2) / 1000, (data.timestamp + 1.5 * tl.sliceMs) / 1000]
  markers = history?.releases ?? []
  const t = points.map((p) => Math.round(p.end / 1000))
  /** @param {unknown[]} xs @returns {(number | null)[]} */
  const cols = (xs) => xs.map(() => null)
  /** @type {(number | null)[][]} */
  const lat = [points.map((p) => p.p50Ms), points.map((p) => p.p95Ms), points.map((p) => p.p99Ms)]
  const latPartial = [cols(t), cols(t), cols(t)]
  const rpmT = t.slice()
  /** @type {(number | null)[]} */
  const rpm = points.map((p) => p.count / minutes)
  const rpmPartial = cols(t)
  const cur = tl.current
  const partial = !history && cur.count > 0
  if (partial) {
    // The slice in progress: its percentiles so far, drawn at "now" and joined to the last completed
    // point by a dashed segment; its rate over the seconds elapsed, a dashed bar where the slice will
    // end (bars keep an even width).
    t.push(Math.round(data.timestamp / 1000))
    rpmT.push(Math.round((cur.start + tl.sliceMs) / 1000))
    const last = points.length - 1
    for (const [k, key] of /** @type {const} */ (['p50Ms', 'p95Ms', 'p99Ms']).entries()) {
      const column = /** @type {(number | null)[]} */ (latPartial[k])
      const done = /** @type {(number | null)[]} */ (lat[k])
      done.push(null)
      if (last >= 0) column[last] = /** @type {(typeof points)[number]} */ (points[last])[key]
      column.push(cur[key])
    }
    rpm.push(null)
    rpmPartial.push(cur.perMinute)
  }
  setTimeData('chart-latency', [t, ...lat, ...latPartial], range)
  setTimeData('chart-rpm', [rpmT, rpm, rpmPartial], range)
  const sliceText = minutes >= 1 ? `${minutes} min` : `${Math.round(minutes * 60)} s`
  const elapsed =
    cur.elapsedMs < 10_000 ? `${(cur.elapsedMs / 1000).toFixed(1)} s` : fmtDuration(cur.elapsedMs)
  const soFar = partial ? `┄ so far: ${fmtInt(cur.count)} req, ${elapsed}` : ''
  for (const id of ['latency-partial', 'rpm-partial']) {
    $(id).textContent = soFar
    $(id).title = partial
      ? `The last point is the ${sliceText} slice still in progress: ${fmtInt(cur.count)} requests in its first ${elapsed}, its rate per minute over that time (at least 1 s), its percentiles so far.`
      : ''
  }
  const none = history ? 'Nothing stored in this range' : 'No requests yet'
  setEmpty('chart-latency', points.length === 0 && !partial ? none : '')
  setEmpty('chart-rpm', points.length === 0 && !partial ? none : '')
  const p = data.dashboard.process
  const s = history ? history.process : p?.series
  if (s && s.t.length > 0) {
    const pt = s.t.map((x) => Math.round(x / 1000))
    /** @param {(number | null)[]} xs */
    const mb = (xs) => xs.map((b) => (b === null ? null : b / 1048576))
    setTimeData('chart-memory', [pt, mb(s.rss), mb(s.heapUsed)], range)
    setTimeData('chart-eld', [pt, s.eventLoopDelayMs], range)
    setEmpty('chart-memory', '')
    setEmpty('chart-eld', '')
  } else {
    setTimeData('chart-memory', [[], [], []], range)
    setTimeData('chart-eld', [[], []], range)
    const why = history
      ? 'No process samples stored in this range'
      : p?.off
        ? `Process watcher off: ${p.off}`
        : p
          ? 'Collecting samples…'
          : 'Process watcher not running: call watchProcess(monitor)'
    setEmpty('chart-memory', why)
    setEmpty('chart-eld', why)
  }
}
