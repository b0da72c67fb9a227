// @ts-check
// The summary cards at the top of the page and the warning banner.
import { card } from './dom.js'
import { finite, fmtBytes, fmtDuration, fmtInt, fmtMs, fmtPct, fmtSigned, fmtTime } from './format.js'
import { $ } from './state.js'

/** @param {import('./types.js').SnapshotView} data */
export function renderCards(data) {
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
      card('CPU', finite(p.cpuPercent) ? `${p.cpuPercent.toFixed(1)}%` : '–', 'of one core'),
      ...(p.heapAfterGc
        ? [
            card(
              'Heap after GC',
              fmtSigned(p.heapAfterGc.slopeBytesPerMin),
              `a minute · R² ${p.heapAfterGc.r2.toFixed(2)}`,
              p.heapAfterGc.possibleLeak ? 'warn' : '',
            ),
          ]
        : []),
      card(
        'Loop delay p99',
        fmtMs(p.eventLoopDelayP99Ms),
        finite(p.eventLoopDelayMs) ? `mean ${fmtMs(p.eventLoopDelayMs)}` : 'event loop',
      ),
    )
  } else {
    cards.push(card('Process', 'not watched', 'call watchProcess(monitor)'))
  }
  $('cards').replaceChildren(...cards)
  const warning = $('warning')
  const messages = []
  if (p?.warning) messages.push(`Memory: ${p.warning}`)
  const trend = p?.heapAfterGc
  if (trend?.possibleLeak) {
    messages.push(
      `Memory: possible leak: heap after GC grows ${fmtSigned(trend.slopeBytesPerMin)}/min, steadily (R² ${trend.r2.toFixed(2)}) over ${fmtDuration(trend.spanMs)}`,
    )
  }
  if (s.errorRateHigh)
    messages.push(`Error rate ${fmtPct(s.errorRate)} is over ${fmtPct(data.dashboard.errorRateThreshold)}`)
  warning.hidden = messages.length === 0
  warning.textContent = messages.join(' · ')
}
