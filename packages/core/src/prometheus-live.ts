/*
 * The Prometheus exposition of one monitor rendered from its live state, for the `/metrics` scrape.
 *
 * `toPrometheusBytes(monitor.snapshot({ histograms: true }))` first builds a snapshot: window stats,
 * percentiles and two histogram arrays per op, then a buffer sized from above. A scrape needs none of
 * that: every figure Prometheus gets is all-time, which for an op is its retired totals plus the slice
 * being recorded into. So this renderer walks types → ops, adds each op's two histograms into one
 * scratch array, and writes the same bytes as the snapshot path into a writer it keeps between
 * scrapes. What a scrape allocates is then the output alone: the caller copies the view out once
 * (a `Response` made from it does, as the Fetch standard requires).
 *
 * Kept between scrapes: the writer's buffer (under twice the largest output), label positions (one
 * pair per op) and the scratch histogram. Floats (each op's `_sum`) are formatted into the bytes
 * directly (format-float.ts), not through `String()`.
 */

import { ByteWriter } from './byte-writer.js'
import { BUCKETS } from './histogram.js'
import { type LiveType, type Monitor, type MonitorState, monitorState } from './monitor.js'
import { COUNT, ERRORS, FIELDS, type OpStats, STATUS, SUM } from './op-stats.js'
import {
  checkPrefix,
  checkStep,
  counterLine,
  countersFamily,
  family,
  histogramBuckets,
  histogramStart,
  httpEvents,
  leLabels,
  monitorTotals,
  type PrometheusOptions,
  processMetrics,
  sanitizeMetricName,
} from './prometheus.js'

/** Renders one monitor for `/metrics` without taking a snapshot. */
export interface PrometheusRenderer {
  /**
   * The exposition, exactly as `toPrometheusBytes(monitor.snapshot({ histograms: true }), options)`
   * renders it; or `undefined` when the monitor's `snapshot()` is not its own (a cluster-wide view),
   * which must then be rendered from its snapshot. The bytes are a view of a buffer the next call
   * overwrites: copy them before anything else renders.
   */
  render(): Uint8Array | undefined
}

const NL = 0x0a
const LBRACE = 0x7b
const QUOTE = 0x22

/** A renderer of `monitor`'s exposition, with the rendering options checked once. */
export function createPrometheusRenderer(
  monitor: Monitor,
  options: PrometheusOptions = {},
): PrometheusRenderer {
  return new LiveRenderer(monitor, options)
}

class LiveRenderer implements PrometheusRenderer {
  private readonly w = new ByteWriter(65_536)
  private readonly step: number
  private readonly prefix: string
  private readonly les: Uint8Array[]
  private readonly events: string
  private readonly errors: string
  private readonly dur: string
  /**
   * Ops in snapshot order (types in object-key order, each type's ops, then its overflow op): the first
   * `opCount` entries. Never truncated, because setting an array's length to 0 frees its storage and
   * refilling it would allocate again on every scrape.
   */
  private readonly ops: OpStats[] = []
  private opCount = 0
  private typeCount = 0
  private readonly types: LiveType[] = []
  private readonly indexKeys: string[] = []
  private labelStart = new Int32Array(64)
  private labelEnd = new Int32Array(64)
  /** All-time histogram of the op being written (zeroed again after each op). */
  private readonly scratch = new Float64Array(BUCKETS)
  private readonly status = new Float64Array(5)
  /** The `_sum` being written: a float in a typed array needs no heap number to reach the writer. */
  private readonly sumSlot = new Float64Array(1)
  private countersName = ''
  private countersType = ''

  constructor(
    private readonly monitor: Monitor,
    options: PrometheusOptions,
  ) {
    this.step = checkStep(options.bucketsPerOctave)
    const prefix = checkPrefix(options.prefix)
    this.prefix = prefix === '' ? '' : sanitizeMetricName(prefix)
    this.les = leLabels(this.step)
    this.events = `${this.prefix}events_total`
    this.errors = `${this.prefix}errors_total`
    this.dur = `${this.prefix}duration_seconds`
  }

  render(): Uint8Array | undefined {
    const state = monitorState(this.monitor)
    if (state === undefined) return undefined
    const w = this.w
    w.reset()
    this.collectOps(state)
    const ops = this.ops
    const n = this.opCount
    if (this.labelStart.length < n) {
      this.labelStart = new Int32Array(n * 2)
      this.labelEnd = new Int32Array(n * 2)
    }
    this.labelStart.fill(-1, 0, n)
    const cur = state.current * FIELDS

    family(
      w,
      this.events,
      'counter',
      'Events recorded per op since start (every event counts; http ops by status class).',
    )
    for (let k = 0; k < n; k++) {
      const op = ops[k]!
      const s = op.scalars
      const t = op.totalScalars
      const count = t[COUNT]! + s[cur + COUNT]!
      if (op.type === 'http' && count === 0) continue
      const from = w.pos
      w.text(this.events)
      w.byte(LBRACE)
      this.labels(k, op)
      if (op.type === 'http') {
        const status = this.status
        for (let j = 0; j < 5; j++) status[j] = t[STATUS + j]! + s[cur + STATUS + j]!
        httpEvents(w, from, w.pos, count, status)
      } else {
        w.text('} ')
        w.number(count)
        w.byte(NL)
      }
    }

    family(w, this.errors, 'counter', 'Failed events per op since start.')
    for (let k = 0; k < n; k++) {
      const op = ops[k]!
      w.text(this.errors)
      w.byte(LBRACE)
      this.labels(k, op)
      w.text('} ')
      w.number(op.totalScalars[ERRORS]! + op.scalars[cur + ERRORS]!)
      w.byte(NL)
    }

    family(
      w,
      this.dur,
      'histogram',
      "Event duration per op since start, in the monitor's own log-linear buckets.",
    )
    for (let k = 0; k < n; k++) this.histogram(k, ops[k]!, state.current)

    monitorTotals(w, this.prefix, state.totals)
    this.counters()
    processMetrics(w, this.section(state, 'processes'), this.section(state, 'process'))
    return w.view()
  }

  /** The ops in the order a snapshot lists them, into `ops[0 .. opCount)` (kept between scrapes). */
  private collectOps(state: MonitorState): void {
    const types = this.types
    let t = 0
    if (state.enabled) {
      // A snapshot's `types` is an object: its keys that are array indices ("0", "42") come first.
      const index = this.indexKeys
      index.length = 0
      for (const [key, type] of state.types) if (key === type.type && isArrayIndex(key)) index.push(key)
      if (index.length > 0) {
        index.sort(byNumber)
        for (const key of index) types[t++] = state.types.get(key)!
      }
      for (const [key, type] of state.types) if (key === type.type && !isArrayIndex(key)) types[t++] = type
    }
    this.typeCount = t
    const ops = this.ops
    let n = 0
    for (let k = 0; k < t; k++) {
      const type = types[k]!
      for (const op of type.list) ops[n++] = op
      if (type.overflow !== undefined) ops[n++] = type.overflow
    }
    this.opCount = n
  }

  /** Writes op `k`'s `type="…",name="…"`: escaped the first time, copied from there after. */
  private labels(k: number, op: OpStats): void {
    const w = this.w
    if (this.labelStart[k]! >= 0) {
      w.repeat(this.labelStart[k]!, this.labelEnd[k]!)
      return
    }
    this.labelStart[k] = w.pos
    w.text('type="')
    w.labelValue(op.type)
    w.text('",name="')
    w.labelValue(op.name)
    w.byte(QUOTE)
    this.labelEnd[k] = w.pos
  }

  /** Op `k`'s all-time histogram: its retired total plus slice `current`, summed into the scratch array. */
  private histogram(k: number, op: OpStats, current: number): void {
    const w = this.w
    const scratch = this.scratch
    let lo = BUCKETS
    let hi = 0
    const total = op.total
    const tc = total.counts
    if (tc.length > 0) {
      for (let j = 0; j < tc.length; j++) scratch[total.lo + j]! += tc[j]!
      lo = total.lo
      hi = total.lo + tc.length
    }
    const width = op.width
    if (width > 0) {
      const c = op.counts
      const from = current * width
      for (let j = 0; j < width; j++) scratch[op.lo + j]! += c[from + j]!
      if (op.lo < lo) lo = op.lo
      if (op.lo + width > hi) hi = op.lo + width
    }
    const start = this.labelStart[k]!
    const end = this.labelEnd[k]!
    const cum = histogramBuckets(
      w,
      this.dur,
      start,
      end,
      scratch,
      lo,
      Math.max(lo, hi),
      0,
      this.les,
      this.step,
    )
    if (lo < hi) scratch.fill(0, lo, hi)
    histogramStart(w, this.dur, '_sum{', start, end)
    this.sum(op, current)
    w.byte(NL)
    histogramStart(w, this.dur, '_count{', start, end)
    w.number(cum)
    w.byte(NL)
  }

  /**
   * An op's `_sum` in seconds. Computed here and handed over in a typed array, not as an argument: a
   * float crossing a call is a heap number, an allocation per op per scrape.
   */
  private sum(op: OpStats, current: number): void {
    this.sumSlot[0] = (op.totalScalars[SUM]! + op.scalars[current * FIELDS + SUM]!) / 1000
    this.w.float(this.sumSlot, 0)
  }

  /** Plain counters from `monitor.count()`, in a snapshot's order (array-index keys first). */
  private counters(): void {
    let first = true
    for (let t = 0; t < this.typeCount; t++) {
      const type = this.types[t]!
      const counters = type.counters
      if (counters.size === 0) continue
      if (first) {
        this.countersName = countersFamily(this.w, this.prefix)
        first = false
      }
      this.countersType = type.type
      const index = this.indexKeys
      index.length = 0
      for (const key of counters.keys()) if (isArrayIndex(key)) index.push(key)
      if (index.length > 0) {
        index.sort(byNumber)
        for (const key of index) this.counter(counters.get(key)!, key)
      }
      counters.forEach(this.counterIfNamed)
    }
  }

  private counter(value: number, key: string): void {
    counterLine(this.w, this.countersName, this.countersType, key, value)
  }

  /** `Map#forEach` callback made once: a per-scrape closure would be an allocation per type. */
  private readonly counterIfNamed = (value: number, key: string): void => {
    if (!isArrayIndex(key)) this.counter(value, key)
  }

  /** A section's value as a snapshot would hold it (a provider that throws is counted and left out). */
  private section(state: MonitorState, name: string): unknown {
    const provider = state.sections.get(name)
    if (provider === undefined) return undefined
    try {
      return provider()
    } catch (err) {
      this.monitor.reportInternalError(`section ${name}`, err)
      return undefined
    }
  }
}

const byNumber = (a: string, b: string): number => Number(a) - Number(b)

/** Whether `key` is an array index, which an object lists before its other keys, in numeric order. */
function isArrayIndex(key: string): boolean {
  const n = key.length
  if (n === 0 || n > 10) return false
  const c0 = key.charCodeAt(0)
  if (c0 < 48 || c0 > 57 || (c0 === 48 && n > 1)) return false
  for (let i = 1; i < n; i++) {
    const c = key.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return n < 10 || Number(key) < 4294967295
}
