// @ts-check
// Number, size, duration and time formatting for the page.

const nf = new Intl.NumberFormat('en-US')

/**
 * Whether a figure can be shown: the API leaves out (or nulls) what it does not know.
 * @param {unknown} x
 * @returns {x is number}
 */
export function finite(x) {
  return typeof x === 'number' && Number.isFinite(x)
}

/** @param {number | null | undefined} n */
export function fmtInt(n) {
  return finite(n) ? nf.format(Math.round(n)) : '–'
}

/** @param {number | null | undefined} ms */
export function fmtMs(ms) {
  if (!finite(ms)) return '–'
  if (ms === 0) return '0 ms'
  // Under a millisecond in µs: "0.00 ms" would hide a 4 µs query.
  if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 1 : 0)} µs`
  if (ms < 100) return `${ms.toFixed(1)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
}

/** @param {number | undefined} b */
export function fmtBytes(b) {
  if (!finite(b)) return '–'
  const mb = b / 1048576
  return mb >= 1024 ? `${(mb / 1024).toFixed(2)} GB` : `${mb.toFixed(mb < 10 ? 1 : 0)} MB`
}

/** @param {number | undefined} b */
export function fmtSigned(b) {
  if (!finite(b)) return '–'
  return `${b >= 0 ? '+' : '−'}${fmtBytes(Math.abs(b))}`
}

/** @param {number | null | undefined} r */
export function fmtPct(r) {
  if (!finite(r)) return '–'
  return `${(r * 100).toFixed(r > 0 && r < 0.001 ? 3 : r < 0.1 ? 2 : 1)}%`
}

/** @param {number} ms */
export function fmtDuration(ms) {
  const s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d > 0) return `${d}d ${h}h`
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  return `${s}s`
}

/** @param {number} ts */
export function fmtTime(ts) {
  const d = new Date(ts)
  return d.toLocaleTimeString([], { hour12: false })
}

/**
 * Bytes one request allocated: B and KB below a megabyte, where `fmtBytes`' 0.1 MB steps would show
 * most requests as 0.0 MB; a negative delta (the request freed more than it kept) keeps its sign.
 * @param {number | null | undefined} b
 */
export function fmtAlloc(b) {
  if (!finite(b)) return '–'
  const a = Math.abs(b)
  const sign = b < 0 ? '−' : ''
  if (a < 1024) return `${sign}${Math.round(a)} B`
  if (a < 1048576) return `${sign}${(a / 1024).toFixed(a < 10240 ? 1 : 0)} KB`
  return sign + fmtBytes(a)
}
