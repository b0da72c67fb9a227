// @ts-check
// The compare view: this release against the previous one by default, or any two releases or time
// ranges picked above the table; what got worse first. Text only, as everywhere on the page.
import { el } from './dom.js'
import { fmtInt, fmtMs, fmtPct } from './format.js'
import { $, base, state } from './state.js'

/** @typedef {import('./types.js').CompareView} CompareView */
/** @typedef {import('./types.js').CompareOp} CompareOp */
/** @typedef {import('../compare.js').ResolvedCompareSide} ResolvedSide */

const RANGE = 'range'

/** @param {number} ts */
function fmtWhen(ts) {
  const d = new Date(ts)
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], { hour12: false, hour: '2-digit', minute: '2-digit' })}`
}

/** @param {ResolvedSide | null} side */
function sideText(side) {
  if (side === null) return '–'
  const range =
    side.since === null ? '' : `${fmtWhen(side.since)} – ${side.until === null ? 'now' : fmtWhen(side.until)}`
  if (side.release === null) return range
  return range === '' ? side.release : `${side.release} (${range})`
}

/** @param {number | null} r */
function fmtChange(r) {
  if (r === null || !Number.isFinite(r)) return '–'
  return `${r >= 0 ? '+' : '−'}${(Math.abs(r) * 100).toFixed(1)}%`
}

/** @param {number} d */
function fmtPoints(d) {
  return `${d >= 0 ? '+' : '−'}${(Math.abs(d) * 100).toFixed(2)} pt`
}

/**
 * @param {CompareOp} op
 * @param {(f: CompareOp['base']) => string} f
 */
const both = (op, f) => `${f(op.base)} → ${f(op.head)}`

/**
 * Fills a side's picker with the store's releases (newest first) and a time-range choice, keeping
 * what was picked.
 * @param {'base' | 'head'} which
 * @param {CompareView} view
 */
function fillPicker(which, view) {
  const select = /** @type {HTMLSelectElement} */ ($(`compare-${which}`))
  const side = view[which]
  const fromView = side === null ? '' : side.release !== null && side.since === null ? side.release : RANGE
  const picked = select.value || fromView
  const options = [...view.releases].reverse().map((r) => {
    const o = el('option', '', r.release === view.current ? `${r.release} (this release)` : r.release)
    o.value = r.release
    return o
  })
  const range = el('option', '', 'Time range…')
  range.value = RANGE
  select.replaceChildren(...options, range)
  if (picked !== '' && [...select.options].some((o) => o.value === picked)) select.value = picked
  $(`compare-${which}-range`).hidden = select.value !== RANGE
}

/** @param {CompareView} view */
function renderCompare(view) {
  fillPicker('base', view)
  fillPicker('head', view)
  const note = $('compare-note')
  note.textContent =
    view.base === null
      ? (view.reason ?? '')
      : `${sideText(view.head)} against ${sideText(view.base)}${view.defaulted ? ' (this release against the previous one)' : ''}`
  // The verdict next to the op: it is what the table is read for.
  const headers = ['Type', 'Op', 'Verdict', 'Count', 'Error rate', 'p50', 'p95', 'p99', 'Change']
  const thead = el('thead')
  const hr = el('tr')
  headers.forEach((h, i) => {
    hr.append(el('th', i >= 3 ? 'num' : '', h))
  })
  thead.append(hr)
  const tbody = el('tbody')
  for (const op of view.ops) {
    const tr = el('tr')
    const name = el('td', 'name', op.name)
    name.title = op.name
    const change = [`p95 ${fmtChange(op.change.p95)}`]
    if (op.change.errorRate !== 0) change.push(`errors ${fmtPoints(op.change.errorRate)}`)
    /** @param {(f: CompareOp['base']) => string} f */
    const cell = (f) => el('td', 'num', both(op, f))
    tr.append(
      el('td', 'muted', op.type),
      name,
      el('td', `verdict v-${op.verdict.replace(/ /g, '-')}`, op.verdict),
      cell((f) => fmtInt(f.count)),
      cell((f) => fmtPct(f.errorRate)),
      cell((f) => fmtMs(f.p50Ms)),
      cell((f) => fmtMs(f.p95Ms)),
      cell((f) => fmtMs(f.p99Ms)),
      el('td', 'num change', change.join('\n')),
    )
    tbody.append(tr)
  }
  if (view.ops.length === 0) {
    const tr = el('tr')
    const td = el(
      'td',
      'none',
      view.base === null ? 'Nothing to compare yet' : 'No ops recorded on either side',
    )
    td.colSpan = headers.length
    tr.append(td)
    tbody.append(tr)
  }
  $('compare').replaceChildren(thead, tbody)
}

/**
 * A side's query value: the picked release, or the range typed next to the picker.
 * @param {'base' | 'head'} which
 */
function sideParam(which) {
  const select = /** @type {HTMLSelectElement} */ ($(`compare-${which}`))
  if (select.value !== RANGE) return `release:${select.value}`
  return /** @type {HTMLInputElement} */ ($(`compare-${which}-range`)).value.trim()
}

/**
 * Asks `api/compare`, with the picked sides or (the first time) the defaults, and shows the answer or
 * the reason it was refused.
 * @param {boolean} picked
 */
export async function loadCompare(picked) {
  const query = picked ? `?${new URLSearchParams({ base: sideParam('base'), head: sideParam('head') })}` : ''
  const note = $('compare-note')
  note.classList.remove('bad')
  try {
    const res = await fetch(`${base}api/compare${query}`, { credentials: 'same-origin' })
    if (res.status === 401) {
      location.reload()
      return
    }
    const body = await res.json().catch(() => ({}))
    if (!res.ok) {
      note.textContent = `Compare failed: ${typeof body.error === 'string' ? body.error : `HTTP ${res.status}`}`
      note.classList.add('bad')
      return
    }
    state.compare = /** @type {CompareView} */ (body)
    renderCompare(state.compare)
  } catch (err) {
    note.textContent = `Compare failed: ${err instanceof Error ? err.message : String(err)}`
    note.classList.add('bad')
  }
}

/** Shows the panel when the store can compare, and loads the default comparison once. */
export function initCompare() {
  for (const which of /** @type {const} */ (['base', 'head'])) {
    $(`compare-${which}`).addEventListener('change', () => {
      const select = /** @type {HTMLSelectElement} */ ($(`compare-${which}`))
      $(`compare-${which}-range`).hidden = select.value !== RANGE
    })
  }
  $('compare-form').addEventListener('submit', (e) => {
    e.preventDefault()
    loadCompare(true)
  })
}

/** @param {import('./types.js').SnapshotView} data */
export function showCompare(data) {
  const on = data.dashboard.compare === true
  $('compare-panel').hidden = !on
  if (on && state.compare === undefined && !state.compareAsked) {
    state.compareAsked = true
    loadCompare(false)
  }
}
