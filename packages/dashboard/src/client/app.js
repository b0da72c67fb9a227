// @ts-check
// The dashboard page's entry module. Loaded as a static file under a CSP without inline script.
// Everything the monitor recorded (paths, SQL, error messages, request ids) is untrusted: it reaches
// the DOM only through textContent, never innerHTML.
import { initCharts, renderCharts } from './charts.js'
import { initCompare, showCompare } from './compare.js'
import { fmtTime } from './format.js'
import { $, base, charts, state } from './state.js'
import { renderCards } from './summary.js'
import { renderFooter, renderTables, renderWorkers } from './tables.js'

// For tests and the curious: the chart instances and how many refreshes ran.
const page = /** @type {Window & { __perfDashboard?: unknown }} */ (window)
page.__perfDashboard = { charts, state }

/**
 * @param {string} text
 * @param {string} [cls]
 */
function setStatus(text, cls) {
  const s = $('status')
  s.textContent = text
  s.className = `status ${cls ?? ''}`
}

/** @param {boolean} force */
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

/** @param {unknown} err */
const messageOf = (err) => (err instanceof Error ? err.message : String(err))

/** @param {boolean} forceHistory */
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
    /** @type {import('./types.js').SnapshotView} */
    const data = await res.json()
    state.last = data
    state.refreshMs = data.dashboard.refreshMs
    const range = /** @type {HTMLSelectElement} */ ($('range'))
    range.disabled = !data.dashboard.history
    if (!data.dashboard.history) range.title = 'History needs a store (e.g. SqliteStore)'
    await loadHistory(forceHistory).catch((err) => setStatus(messageOf(err), 'bad'))
    renderCards(data)
    renderCharts(data)
    renderTables(data)
    renderWorkers(data)
    showCompare(data)
    renderFooter(data)
    state.refreshes++
    const mode = state.history ? `History ${state.history.range}` : 'Live'
    setStatus(
      state.paused ? `Paused · ${fmtTime(data.timestamp)}` : `${mode} · updated ${fmtTime(data.timestamp)}`,
      state.paused ? 'paused' : 'live',
    )
  } catch (err) {
    setStatus(`Update failed: ${messageOf(err)}`, 'bad')
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
  initCompare()
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
    state.range = /** @type {HTMLSelectElement} */ ($('range')).value
    refresh(true)
  })
  for (const which of /** @type {const} */ (['endpoints', 'db'])) {
    $(`${which}-filter`).addEventListener('input', (e) => {
      state.filter[which] = /** @type {HTMLInputElement} */ (e.target).value
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
  document.getElementById('logout')?.addEventListener('click', async () => {
    await fetch(`${base}logout`, { method: 'POST', credentials: 'same-origin' })
    location.reload()
  })
  refresh(true).then(schedule)
}

// A module runs after the document is parsed (modules are deferred), after uplot.js before it.
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init)
else init()
