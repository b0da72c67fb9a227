// The dashboard page. Loaded as a static file under a CSP without inline script. Everything the
// monitor recorded (paths, SQL, error messages, request ids) is untrusted: it reaches the DOM only
// through textContent, never innerHTML.
;(() => {
  const $ = (id) => document.getElementById(id)
  // The dashboard's root path (ends in /), set by the server: the page works with or without the slash.
  const base = document.body.dataset.base || './'
  const state = {
    paused: false,
    range: 'live',
    timer: undefined,
    refreshMs: 5000,
    refreshes: 0,
    last: undefined,
    history: undefined,
    historyAt: 0,
    sort: {
      endpoints: { key: 'count', dir: -1 },
      db: { key: 'count', dir: -1 },
    },
    filter: { endpoints: '', db: '' },
  }
  const charts = {}
  // For tests and the curious: the chart instances and how many refreshes ran.
  window.__perfDashboard = { charts, state }

  // ---------- formatting ----------
  const nf = new Intl.NumberFormat('en-US')
  function fmtInt(n) {
    return Number.isFinite(n) ? nf.format(Math.round(n)) : '–'
  }
  function fmtMs(ms) {
    if (!Number.isFinite(ms)) return '–'
    if (ms === 0) return '0 ms'
    // Under a millisecond in µs: "0.00 ms" would hide a 4 µs query.
    if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 1 : 0)} µs`
    if (ms < 100) return `${ms.toFixed(1)} ms`
    if (ms < 1000) return `${Math.round(ms)} ms`
    return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  }
  function fmtBytes(b) {
    if (!Number.isFinite(b)) return '–'
    const mb = b / 1048576
    return mb >= 1024 ? `${(mb / 1024).toFixed(2)} GB` : `${mb.toFixed(mb < 10 ? 1 : 0)} MB`
  }
  function fmtSigned(b) {
    if (!Number.isFinite(b)) return '–'
    return `${b >= 0 ? '+' : '−'}${fmtBytes(Math.abs(b))}`
  }
  function fmtPct(r) {
    if (!Number.isFinite(r)) return '–'
    return `${(r * 100).toFixed(r > 0 && r < 0.001 ? 3 : r < 0.1 ? 2 : 1)}%`
  }
  function fmtDuration(ms) {
    const s = Math.floor(ms / 1000)
    const d = Math.floor(s / 86400)
    const h = Math.floor((s % 86400) / 3600)
    const m = Math.floor((s % 3600) / 60)
    if (d > 0) return `${d}d ${h}h`
    if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`
    if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`
    return `${s}s`
  }
  function fmtTime(ts) {
    const d = new Date(ts)
    return d.toLocaleTimeString([], { hour12: false })
  }

  // ---------- DOM helpers (text only) ----------
  function el(tag, className, text) {
    const node = document.createElement(tag)
    if (className) node.className = className
    if (text !== undefined && text !== null) node.textContent = String(text)
    return node
  }

  function card(label, value, sub, flag) {
    const c = el('div', flag ? `card ${flag}` : 'card')
    c.append(el('div', 'card-label', label), el('div', 'card-value', value))
    if (sub) c.append(el('div', 'card-sub', sub))
    return c
  }

  // ---------- summary ----------
  function renderCards(data) {
    const s = data.dashboard.summary
    const p = data.dashboard.process
    const started = new Date(data.startedAt)
    const sameDay = started.toDateString() === new Date(data.timestamp).toDateString()
    const cards = [
      card(
        'Uptime',
        fmtDuration(s.uptimeMs),
        `since ${sameDay ? fmtTime(data.startedAt) : started.toLocaleDateString()}`,
      ),
      card('Requests', fmtInt(s.totalRequests), `${fmtInt(s.windowRequests)} in window`),
      card('Requests/s', s.requestsPerSec.toFixed(s.requestsPerSec < 10 ? 2 : 1), 'window average'),
      card('Avg response', fmtMs(s.avgMs), 'window'),
      card('p95 response', fmtMs(s.p95Ms), 'window'),
      card(
        'Error rate',
        fmtPct(s.errorRate),
        `${s.errorRateHigh ? 'over' : 'limit'} ${fmtPct(data.dashboard.errorRateThreshold)}`,
        s.errorRateHigh ? 'bad' : '',
      ),
    ]
    if (p?.off) {
      cards.push(card('Process', 'watcher off', p.off, 'off'))
    } else if (p) {
      cards.push(
        card(
          'Memory',
          fmtBytes(p.rssBytes),
          `RSS · peak ${fmtBytes(p.rssHighWaterBytes)}`,
          p.warning ? 'warn' : '',
        ),
        card(
          'Growth',
          fmtSigned(p.rssGrowthBytes),
          `heap ${fmtBytes(p.heapUsedBytes)}`,
          p.warning ? 'warn' : '',
        ),
        card('CPU', Number.isFinite(p.cpuPercent) ? `${p.cpuPercent.toFixed(1)}%` : '–', 'of one core'),
        card(
          'Loop delay p99',
          fmtMs(p.eventLoopDelayP99Ms),
          Number.isFinite(p.eventLoopDelayMs) ? `mean ${fmtMs(p.eventLoopDelayMs)}` : 'event loop',
        ),
      )
    } else {
      cards.push(card('Process', 'not watched', 'call watchProcess(monitor)'))
    }
    $('cards').replaceChildren(...cards)
    const warning = $('warning')
    const messages = []
    if (p?.warning) messages.push(`Memory: ${p.warning}`)
    if (s.errorRateHigh)
      messages.push(`Error rate ${fmtPct(s.errorRate)} is over ${fmtPct(data.dashboard.errorRateThreshold)}`)
    warning.hidden = messages.length === 0
    warning.textContent = messages.join(' · ')
  }

  // ---------- charts ----------
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
  function chartSize(host) {
    return { width: Math.max(200, host.clientWidth), height: 150 }
  }

  // One short 24-hour label per tick, and ticks at least 84 px apart: uPlot's default two-line
  // labels ("2:37am") ran into each other on a narrow chart.
  const pad = (n) => String(n).padStart(2, '0')
  function timeLabels(_u, ticks, _axis, _space, incr) {
    return ticks.map((t) => {
      const d = new Date(t * 1000)
      if (incr >= 86400) return `${d.getMonth() + 1}/${d.getDate()}`
      const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`
      return incr < 60 ? `${hm}:${pad(d.getSeconds())}` : hm
    })
  }

  function makeChart(id, series, opts = {}) {
    const host = $(id)
    const size = chartSize(host)
    const axis = {
      stroke: '#6b7280',
      grid: { stroke: '#eef0f3', width: 1 },
      ticks: { stroke: '#e5e7eb', width: 1 },
      font: '11px system-ui, sans-serif',
    }
    const u = new uPlot(
      {
        ...size,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { ...axis, space: 84, values: timeLabels },
          { ...axis, size: 48, values: opts.values },
        ],
        series: [{}, ...series],
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

  function line(label, color, extra = {}) {
    return { label, stroke: color, width: 1.6, points: { show: true, size: 4 }, spanGaps: false, ...extra }
  }

  // The slice in progress: a dashed segment from the last completed point to a hollow one.
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

  function initCharts() {
    const bars = uPlot.paths?.bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined
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
      line('req/min', COLORS.rpm, { fill: 'rgba(13,148,136,0.25)', paths: bars, points: { show: false } }),
      {
        label: 'req/min (so far)',
        partial: true,
        stroke: COLORS.rpm,
        width: 1.6,
        dash: [4, 3],
        fill: 'rgba(13,148,136,0.07)',
        paths: bars,
        points: { show: false },
      },
    ])
    makeChart('chart-memory', [line('RSS', COLORS.rss), line('heap used', COLORS.heap)])
    makeChart('chart-eld', [line('p99 delay', COLORS.eld, { fill: 'rgba(219,39,119,0.08)' })])
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

  function setEmpty(id, message) {
    const host = $(id).parentElement
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
  function setTimeData(id, data, range) {
    const u = charts[id]
    u.setData(data)
    u.setScale('x', { min: range[0], max: range[1] })
  }

  function renderCharts(data) {
    const tl = data.dashboard.timeline
    const live = state.range === 'live' || !state.history
    const points = (live ? tl.series.http : state.history.series.http) ?? []
    const minutes = (live ? tl.sliceMs : state.history.bucketMs) / 60000
    // Half a slice of room on either side, so neither the first point nor the bar of the slice in
    // progress (drawn where it will end) sits on the edge.
    const range = live
      ? [(data.window.fromMs - tl.sliceMs / 2) / 1000, (data.timestamp + 1.5 * tl.sliceMs) / 1000]
      : [state.history.since / 1000, (state.history.until + state.history.bucketMs) / 1000]
    const t = points.map((p) => Math.round(p.end / 1000))
    const cols = (xs) => xs.map(() => null)
    const lat = [t, points.map((p) => p.p50Ms), points.map((p) => p.p95Ms), points.map((p) => p.p99Ms)]
    const latPartial = [cols(t), cols(t), cols(t)]
    const rpmT = t.slice()
    const rpm = points.map((p) => p.count / minutes)
    const rpmPartial = cols(t)
    const cur = tl.current
    const partial = live && cur.count > 0
    if (partial) {
      // The slice in progress: its percentiles so far, drawn at "now" and joined to the last completed
      // point by a dashed segment; its rate over the seconds elapsed, a dashed bar where the slice will
      // end (bars keep an even width).
      t.push(Math.round(data.timestamp / 1000))
      rpmT.push(Math.round((cur.start + tl.sliceMs) / 1000))
      const last = points.length - 1
      for (const [k, key] of ['p50Ms', 'p95Ms', 'p99Ms'].entries()) {
        lat[k + 1].push(null)
        if (last >= 0) latPartial[k][last] = points[last][key]
        latPartial[k].push(cur[key])
      }
      rpm.push(null)
      rpmPartial.push(cur.perMinute)
    }
    setTimeData('chart-latency', [...lat, ...latPartial], range)
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
    const none = live ? 'No requests yet' : 'Nothing stored in this range'
    setEmpty('chart-latency', points.length === 0 && !partial ? none : '')
    setEmpty('chart-rpm', points.length === 0 && !partial ? none : '')
    const p = data.dashboard.process
    const s = live ? p?.series : state.history.process
    if (s && s.t.length > 0) {
      const pt = s.t.map((x) => Math.round(x / 1000))
      const mb = (xs) => xs.map((b) => (b === null ? null : b / 1048576))
      setTimeData('chart-memory', [pt, mb(s.rss), mb(s.heapUsed)], range)
      setTimeData('chart-eld', [pt, s.eventLoopDelayMs], range)
      setEmpty('chart-memory', '')
      setEmpty('chart-eld', '')
    } else {
      setTimeData('chart-memory', [[], [], []], range)
      setTimeData('chart-eld', [[], []], range)
      const why = !live
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

  // ---------- tables ----------
  function statusOf(row, k) {
    return row.status ? row.status[k] : 0
  }

  const OP_COLUMNS = [
    { key: 'count', label: 'Calls', num: true, fmt: fmtInt },
    { key: 'avgMs', label: 'Avg', num: true, fmt: fmtMs },
    { key: 'p50Ms', label: 'p50', num: true, fmt: fmtMs },
    { key: 'p95Ms', label: 'p95', num: true, fmt: fmtMs },
    { key: 'p99Ms', label: 'p99', num: true, fmt: fmtMs },
    { key: 'maxMs', label: 'Max', num: true, fmt: fmtMs },
    { key: 'errors', label: 'Errors', num: true, fmt: fmtInt, flag: (r) => (r.errors > 0 ? 'bad' : '') },
  ]
  const ENDPOINT_COLUMNS = [
    { key: 'name', label: 'Endpoint', cls: 'name' },
    ...OP_COLUMNS,
    { key: 'errorRate', label: 'Err %', num: true, fmt: fmtPct },
    ...['2xx', '3xx', '4xx', '5xx'].map((k) => ({
      key: k,
      label: k,
      num: true,
      fmt: fmtInt,
      get: (r) => statusOf(r, k),
      cls: 'st',
      flag: (r) => (statusOf(r, k) > 0 && k >= '4' ? `st${k[0]}` : ''),
    })),
  ]
  const DB_COLUMNS = [{ key: 'name', label: 'Query', cls: 'name' }, ...OP_COLUMNS]

  function renderOpTable(tableId, rows, columns, which) {
    const table = $(tableId)
    const sort = state.sort[which]
    const filter = state.filter[which].toLowerCase()
    const value = (col, r) => (col.get ? col.get(r) : r[col.key])
    const shown = rows.filter((r) => filter === '' || r.name.toLowerCase().includes(filter))
    const col = columns.find((c) => c.key === sort.key) ?? columns[1]
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

  function renderEventTable(tableId, headers, rows, emptyText) {
    const table = $(tableId)
    const thead = el('thead')
    const hr = el('tr')
    for (const h of headers) hr.append(el('th', h.num ? 'num' : '', h.label))
    thead.append(hr)
    const tbody = el('tbody')
    for (const cells of rows) {
      const tr = el('tr')
      cells.forEach((v, i) => {
        const td = el('td', headers[i].cls ?? (headers[i].num ? 'num' : ''), v)
        if (headers[i].cls?.includes('name')) td.title = String(v)
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

  function sqlOf(event) {
    const m = event.metadata
    const sql = m && (m.sql ?? m.query ?? m.statement)
    return typeof sql === 'string' ? sql : event.name
  }

  // Ops interned at route registration but never called yet carry no information.
  const used = (ops) => (ops ?? []).filter((o) => o.count > 0 || o.totalCount > 0)

  function renderTables(data) {
    renderOpTable('endpoints', used(data.types.http?.ops), ENDPOINT_COLUMNS, 'endpoints')
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
          Number.isFinite(m.dbQueries) ? fmtInt(m.dbQueries) : '–',
          e.requestId ?? '–',
        ]
      }),
      'No requests sampled yet',
    )
  }

  function renderFooter(data) {
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

  // ---------- refresh loop ----------
  function setStatus(text, cls) {
    const s = $('status')
    s.textContent = text
    s.className = `status ${cls ?? ''}`
  }

  async function loadHistory(force) {
    if (state.range === 'live') {
      state.history = undefined
      return
    }
    if (!force && state.history && Date.now() - state.historyAt < 60_000) return
    const res = await fetch(`${base}api/history?range=${encodeURIComponent(state.range)}`, {
      credentials: 'same-origin',
    })
    if (!res.ok) throw new Error(`history: HTTP ${res.status}`)
    state.history = await res.json()
    state.historyAt = Date.now()
  }

  async function refresh(forceHistory) {
    try {
      const res = await fetch(`${base}api/snapshot`, {
        credentials: 'same-origin',
        headers: { accept: 'application/json' },
      })
      if (res.status === 401) {
        location.reload()
        return
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const data = await res.json()
      state.last = data
      state.refreshMs = data.dashboard.refreshMs
      $('range').disabled = !data.dashboard.history
      if (!data.dashboard.history) $('range').title = 'History needs a store (e.g. SqliteStore)'
      await loadHistory(forceHistory).catch((err) => setStatus(String(err.message), 'bad'))
      renderCards(data)
      renderCharts(data)
      renderTables(data)
      renderFooter(data)
      state.refreshes++
      const mode = state.history ? `History ${state.history.range}` : 'Live'
      setStatus(
        state.paused ? `Paused · ${fmtTime(data.timestamp)}` : `${mode} · updated ${fmtTime(data.timestamp)}`,
        state.paused ? 'paused' : 'live',
      )
    } catch (err) {
      setStatus(`Update failed: ${err.message}`, 'bad')
    }
  }

  function schedule() {
    clearTimeout(state.timer)
    if (state.paused) return
    state.timer = setTimeout(async () => {
      await refresh(false)
      schedule()
    }, state.refreshMs)
  }

  function init() {
    initCharts()
    $('pause').addEventListener('click', () => {
      state.paused = !state.paused
      $('pause').textContent = state.paused ? 'Resume' : 'Pause'
      $('pause').setAttribute('aria-pressed', String(state.paused))
      if (state.paused) setStatus('Paused', 'paused')
      else {
        setStatus('Resuming…', 'live')
        refresh(false).then(schedule)
      }
      schedule()
    })
    $('range').addEventListener('change', () => {
      state.range = $('range').value
      refresh(true)
    })
    for (const which of ['endpoints', 'db']) {
      $(`${which}-filter`).addEventListener('input', (e) => {
        state.filter[which] = e.target.value
        if (state.last) renderTables(state.last)
      })
    }
    $('clear').addEventListener('click', async () => {
      if (!window.confirm('Clear all statistics and recent events?')) return
      const res = await fetch(`${base}api/clear`, { method: 'POST', credentials: 'same-origin' })
      if (!res.ok) setStatus(`Clear failed: HTTP ${res.status}`, 'bad')
      refresh(true)
    })
    // Only there when a token is configured: without one there is no session to end.
    $('logout')?.addEventListener('click', async () => {
      await fetch(`${base}logout`, { method: 'POST', credentials: 'same-origin' })
      location.reload()
    })
    refresh(true).then(schedule)
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init)
  else init()
})()
