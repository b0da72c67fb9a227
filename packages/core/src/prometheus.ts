import { coded } from './errors.js'
/*
 * Prometheus text exposition (format 0.0.4): the one writer, over a small source interface that a
 * snapshot (here) or a monitor's live state (prometheus-live.ts) implements.
 *
 * Everything exposed as a counter is all-time, never the window, because Prometheus counters must
 * only go up (a `clear()` looks like a process restart, which Prometheus handles as a counter reset).
 *
 * Every series of the duration histogram has the same fixed `le` edges, in every scrape and every
 * process that uses the same `buckets`, so `sum by (le)` across routes and instances adds like with
 * like. Each edge is an exact edge of the monitor's own log-linear buckets, so a Prometheus bucket
 * holds exactly the events the monitor counted below that edge.
 */

import { ByteWriter, formatNumber } from './byte-writer.js'
import { BUCKETS, bucketIndex, bucketLower, SUB_BITS } from './histogram.js'
import type { ProcessSection, ProcessWatchOff } from './process-section.js'
import type { Snapshot, Stats, Totals } from './snapshot.js'

/** `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/**
 * The default `le` edges of `perf_duration_seconds`, in seconds: every power of two of milliseconds
 * and 1.5 times it, from 2⁻⁵ ms (31.25 µs) to 2¹⁷ ms (131.072 s). 45 edges; each bucket's upper edge
 * is at most 1.5 times its lower edge. Every one is an edge of the monitor's own buckets.
 */
export const DEFAULT_PROMETHEUS_BUCKETS: readonly number[] = Object.freeze(defaultBuckets())

function defaultBuckets(): number[] {
  const out: number[] = []
  for (let e = -5; e < 17; e++) out.push(2 ** e / 1000, (1.5 * 2 ** e) / 1000)
  out.push(2 ** 17 / 1000)
  return out
}

/** Options of {@link toPrometheus}. */
export interface PrometheusOptions {
  /** Prefix of @perf's own metric names (sanitised to `[a-zA-Z0-9_:]`). Default `perf_`. */
  readonly prefix?: string
  /**
   * The `le` edges (in seconds, ascending, positive, finite) that every series of
   * `perf_duration_seconds` exposes; durations past the last one count only in `+Inf`. Each must be
   * an edge of the monitor's own buckets (32 per power of two of milliseconds: `m × 2^e` ms with
   * `m` an integer from 32 to 63), so that every bucket count is exact; any other value is a
   * `RangeError` naming the nearest edges. Use the same edges in every process whose series you add
   * up. Default {@link DEFAULT_PROMETHEUS_BUCKETS}.
   */
  readonly buckets?: readonly number[]
}

const SUB = 1 << SUB_BITS
const STATUS_KEYS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
const LABEL_ESCAPE = /[\\"\n]/
const NAME_INVALID = /[^a-zA-Z0-9_:]/g

/** Escapes a label value: backslash, double quote and line feed, as the text format requires. */
export function escapeLabelValue(value: string): string {
  if (!LABEL_ESCAPE.test(value)) return value
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** Makes a valid metric name: invalid characters become `_`, and a leading digit gets a `_` before it. */
export function sanitizeMetricName(name: string): string {
  const out = name.replace(NAME_INVALID, '_')
  return out === '' || (out.charCodeAt(0) >= 48 && out.charCodeAt(0) <= 57) ? `_${out}` : out
}

/** Rendering options once checked: names and the encoded bucket edges, made once per writer. */
export interface PrometheusConfig {
  readonly prefix: string
  readonly events: string
  readonly errors: string
  readonly duration: string
  readonly edges: EdgeSet
}

/** A set of `le` edges, ready to write. */
interface EdgeSet {
  /** `le="…"} ` endings, encoded: one per edge, then `+Inf`. */
  readonly les: readonly Uint8Array[]
  /** Bytes of all of `les`. */
  readonly bytes: number
  /** For each bucket of the monitor's histogram, the index in `les` of the first edge above it. */
  readonly slotOf: Uint16Array
}

let defaultEdges: EdgeSet | undefined

/**
 * Checks rendering options and makes what a writer needs from them. An error starts with `call`, then
 * names the option as `path` + its name (`createMetricsHandler: prometheus.buckets[2] = …`).
 */
export function prometheusConfig(options: unknown, call: string, path = ''): PrometheusConfig {
  if (options === null || typeof options !== 'object') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${call}: ${path === '' ? 'options' : path.slice(0, -1)} must be an object, got ${String(options)}`,
      ),
    )
  }
  const { prefix = 'perf_', buckets } = options as PrometheusOptions
  if (typeof prefix !== 'string') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`${call}: ${path}prefix must be a string, got ${typeof prefix}`),
    )
  }
  if ('bucketsPerOctave' in options) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${call}: ${path}bucketsPerOctave is gone: every histogram now has the same fixed edges, set with buckets (seconds; default DEFAULT_PROMETHEUS_BUCKETS)`,
      ),
    )
  }
  const p = prefix === '' ? '' : sanitizeMetricName(prefix)
  return {
    prefix: p,
    events: `${p}events_total`,
    errors: `${p}errors_total`,
    duration: `${p}duration_seconds`,
    edges:
      buckets === undefined
        ? (defaultEdges ??= edgeSet(edgeIndices(DEFAULT_PROMETHEUS_BUCKETS, call, path)))
        : edgeSet(edgeIndices(buckets, call, path)),
  }
}

/** The monitor's bucket index of each edge (in seconds), checked. */
function edgeIndices(buckets: unknown, call: string, path: string): number[] {
  const name = `${call}: ${path}buckets`
  if (!Array.isArray(buckets)) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${name} must be an array of bucket edges in seconds, got ${buckets === null ? 'null' : typeof buckets}`,
      ),
    )
  }
  if (buckets.length === 0) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `${name} is empty: give at least one edge, in seconds (or leave it out for the default)`,
      ),
    )
  }
  const out: number[] = []
  for (let k = 0; k < buckets.length; k++) {
    const s: unknown = buckets[k]
    if (typeof s !== 'number') {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(
          `${name}[${k}] = ${JSON.stringify(s)} is not valid: expected a positive finite number of seconds, got ${typeof s}`,
        ),
      )
    }
    if (!Number.isFinite(s) || s <= 0) {
      throw coded(
        'PERF_INVALID_OPTION',
        new RangeError(`${name}[${k}] = ${s} is not valid: expected a positive finite number of seconds`),
      )
    }
    if (k > 0 && s <= (buckets[k - 1] as number)) {
      throw coded(
        'PERF_INVALID_OPTION',
        new RangeError(
          `${name}[${k}] = ${s} is not above ${path}buckets[${k - 1}] = ${String(buckets[k - 1])}: edges must be strictly ascending`,
        ),
      )
    }
    out.push(edgeIndex(s, `${name}[${k}] = ${s}`))
  }
  return out
}

const MIN_EDGE = 1
const MAX_EDGE = BUCKETS - 1

/**
 * The bucket whose lower edge is `seconds`. Only edges 1 .. BUCKETS-1 qualify: bucket 0 also holds
 * every duration below the range and the last bucket every duration past it, so an edge at either
 * end of the range would not count exactly.
 */
function edgeIndex(seconds: number, what: string): number {
  const lowest = bucketLower(MIN_EDGE) / 1000
  const highest = bucketLower(MAX_EDGE) / 1000
  if (seconds < lowest * (1 - 1e-9) || seconds > highest * (1 + 1e-9)) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `${what} is outside the monitor's range: an edge must be from ${lowest} to ${highest} seconds`,
      ),
    )
  }
  const ms = seconds * 1000
  const i = bucketIndex(ms)
  // `seconds * 1000` may be one rounding off an exact edge: check both sides.
  for (const c of [i, i + 1]) {
    if (c >= MIN_EDGE && c <= MAX_EDGE && Math.abs(bucketLower(c) - ms) <= ms * 1e-12) return c
  }
  const below = Math.max(MIN_EDGE, Math.min(i, MAX_EDGE))
  const above = Math.min(below + 1, MAX_EDGE)
  throw coded(
    'PERF_INVALID_OPTION',
    new RangeError(
      `${what} is not an edge of the monitor's histogram (${SUB} buckets per power of two of milliseconds), so its count could not be exact: the nearest edges are ${bucketLower(below) / 1000} and ${bucketLower(above) / 1000}`,
    ),
  )
}

function edgeSet(indices: readonly number[]): EdgeSet {
  const encoder = new TextEncoder()
  const les = indices.map((i) => encoder.encode(`${formatNumber(bucketLower(i) / 1000)}"} `))
  les.push(encoder.encode('+Inf"} '))
  const slotOf = new Uint16Array(BUCKETS)
  let slot = 0
  for (let b = 0; b < BUCKETS; b++) {
    // Bucket b is [lower(b), lower(b + 1)): below edge i exactly when b < i.
    while (slot < indices.length && indices[slot]! <= b) slot++
    slotOf[b] = slot
  }
  let bytes = 0
  for (const le of les) bytes += le.length
  return { les, bytes, slotOf }
}

/** Offsets in the figures a source writes for one op ({@link ExpositionSource.opFigures}). */
export const OP_COUNT = 0
export const OP_ERRORS = 1
export const OP_SUM_MS = 2
/** Events with status 1xx .. 5xx at OP_STATUS + 0 .. 4. */
export const OP_STATUS = 3
export const OP_FIELDS = 8

/**
 * What the writer reads: one monitor's numbers, all-time. A snapshot and a monitor's live state
 * implement it. Ops are read by index, so that a source that keeps its ops in arrays needs no object
 * per op, and numbers arrive in typed arrays, so that no float is boxed on its way to the bytes.
 */
export interface ExpositionSource {
  /** Readies one render; returns how many ops it shows, read below as `0 .. n - 1`, in output order. */
  begin(): number
  opType(k: number): string
  opName(k: number): string
  /** Writes op `k`'s all-time count, errors, sum (ms) and 1xx..5xx counts at `out[at + OP_*]`. */
  opFigures(k: number, out: Float64Array, at: number): void
  /** Adds op `k`'s all-time histogram into `into`. */
  opHistogram(k: number, into: BucketCounts): void
  /** The monitor's own totals. */
  totals(): Totals | undefined
  /** Hands every plain counter (`monitor.count()`) to `into.counter`, in output order. */
  counters(into: CounterSink): void
  /** The `process` section (see `watchProcess`), as a snapshot would hold it. */
  section(name: 'process'): ProcessSection | ProcessWatchOff | undefined
  /** A merged snapshot's `process` sections by pid. */
  section(name: 'processes'): Readonly<Record<string, ProcessSection | ProcessWatchOff>> | undefined
}

/** Receives plain counters from a source. */
export interface CounterSink {
  counter(type: string, name: string, value: number): void
}

/** One op's counts per exposed bucket, filled from the monitor's buckets. */
export class BucketCounts {
  /** Events per exposed bucket: below edge 0, between edges 0 and 1, …, past the last edge. */
  readonly slots: Float64Array
  private readonly slotOf: Uint16Array

  constructor(edges: EdgeSet) {
    this.slots = new Float64Array(edges.les.length)
    this.slotOf = edges.slotOf
  }

  /** Adds `counts[from .. to)`, the counts of the monitor's buckets `first`, `first + 1`, … */
  add(counts: ArrayLike<number>, from: number, to: number, first: number): void {
    const slots = this.slots
    const slotOf = this.slotOf
    const shift = first - from
    for (let k = from; k < to; k++) {
      const n = counts[k]!
      if (n !== 0) slots[slotOf[k + shift]!]! += n
    }
  }
}

const LBRACE = 0x7b
const QUOTE = 0x22
const NL = 0x0a

/**
 * The one writer of the exposition. Kept between renders: its buffer (when `reuse`), label positions
 * (one pair per op) and per-op scratch, so that a render allocates nothing but what the buffer grows.
 */
export class PrometheusWriter implements CounterSink {
  private w: ByteWriter
  private labelStart = new Int32Array(64)
  private labelEnd = new Int32Array(64)
  /** Every op's figures, read from the source once per render: op `k`'s at `k * OP_FIELDS`. */
  private figures = new Float64Array(64 * OP_FIELDS)
  private readonly buckets: BucketCounts
  /** The `_sum` being written: a float in a typed array needs no heap number to reach the writer. */
  private readonly sumSlot = new Float64Array(1)
  private countersName = ''

  /**
   * @param reuse keep one buffer for every render (the bytes returned are a view the next render
   *   overwrites); else each render writes into a new buffer sized for it, and owns its bytes.
   */
  constructor(
    private readonly config: PrometheusConfig,
    private readonly reuse: boolean,
  ) {
    this.w = new ByteWriter(reuse ? 65_536 : 64)
    this.buckets = new BucketCounts(config.edges)
  }

  /** Renders `source`. */
  render(source: ExpositionSource): Uint8Array {
    const n = source.begin()
    // A kept writer leaves room to grow; a one-off render takes what it needs.
    const room = this.reuse ? n * 2 : n
    if (this.figures.length < n * OP_FIELDS) this.figures = new Float64Array(room * OP_FIELDS)
    const f = this.figures
    for (let k = 0; k < n; k++) source.opFigures(k, f, k * OP_FIELDS)
    if (this.reuse) this.w.reset()
    else this.w = new ByteWriter(this.sizeOf(source, n))
    const w = this.w
    const { events, errors, duration } = this.config
    if (this.labelStart.length < n) {
      this.labelStart = new Int32Array(room)
      this.labelEnd = new Int32Array(room)
    }
    this.labelStart.fill(-1, 0, n)

    family(
      w,
      events,
      'counter',
      'Events recorded per op since start (every event counts; http ops by status class).',
    )
    for (let k = 0; k < n; k++) {
      const at = k * OP_FIELDS
      const http = source.opType(k) === 'http'
      // An http op with no event yet (adapters name routes as they are registered) gets no line here:
      // a placeholder status class would vanish at its first event.
      if (http && f[at + OP_COUNT] === 0) continue
      const from = w.pos
      w.text(events)
      w.byte(LBRACE)
      this.labels(source, k)
      if (http) this.httpEvents(from, w.pos, at)
      else {
        w.text('} ')
        w.number(f[at + OP_COUNT]!)
        w.byte(NL)
      }
    }

    family(w, errors, 'counter', 'Failed events per op since start.')
    for (let k = 0; k < n; k++) {
      w.text(errors)
      w.byte(LBRACE)
      this.labels(source, k)
      w.text('} ')
      w.number(f[k * OP_FIELDS + OP_ERRORS]!)
      w.byte(NL)
    }

    family(w, duration, 'histogram', 'Event duration per op since start (the same le edges for every op).')
    for (let k = 0; k < n; k++) this.histogram(source, k)

    monitorTotals(w, this.config.prefix, source.totals())
    this.countersName = ''
    source.counters(this)
    processMetrics(w, source.section('processes'), source.section('process'))
    workerMetrics(w, this.config.prefix, source.section('processes'))
    return w.view()
  }

  /** One plain counter's line (the family's header before the first). */
  counter(type: string, name: string, value: number): void {
    const w = this.w
    if (this.countersName === '') {
      // A gauge: monitor.count() accepts negative steps, so these may go down.
      this.countersName = `${this.config.prefix}count_value`
      family(w, this.countersName, 'gauge', 'Plain counters from monitor.count(), by type and name.')
    }
    w.text(this.countersName)
    w.text('{type="')
    w.labelValue(type)
    w.text('",name="')
    w.labelValue(name)
    w.text('"} ')
    w.number(value)
    w.byte(NL)
  }

  /** Writes op `k`'s `type="…",name="…"`: escaped the first time, copied from the output after. */
  private labels(source: ExpositionSource, k: number): void {
    const w = this.w
    if (this.labelStart[k]! >= 0) {
      w.repeat(this.labelStart[k]!, this.labelEnd[k]!)
      return
    }
    this.labelStart[k] = w.pos
    w.text('type="')
    w.labelValue(source.opType(k))
    w.text('",name="')
    w.labelValue(source.opName(k))
    w.byte(QUOTE)
    this.labelEnd[k] = w.pos
  }

  /** The http lines of `events_total`; `from .. to` is the line start already written (`name{labels`). */
  private httpEvents(from: number, to: number, at: number): void {
    const f = this.figures
    let rest = f[at + OP_COUNT]!
    let first = true
    for (let j = 0; j < STATUS_KEYS.length; j++) {
      const n = f[at + OP_STATUS + j]!
      if (n > 0) {
        this.line(from, to, first, STATUS_LABELS[j]!, n)
        first = false
        rest -= n
      }
    }
    // Events recorded without a status (none from the adapters) still count, under their own class.
    if (rest > 0) this.line(from, to, first, STATUS_LABELS[STATUS_KEYS.length]!, rest)
  }

  /** A line that starts like the one at `from .. to` (written already when `first`), then `tail` and `n`. */
  private line(from: number, to: number, first: boolean, tail: Uint8Array, n: number): void {
    const w = this.w
    if (!first) w.repeat(from, to)
    w.bytes(tail)
    w.number(n)
    w.byte(NL)
  }

  /** Op `k`'s `_bucket` lines (every edge, then `+Inf`), `_sum` and `_count`. */
  private histogram(source: ExpositionSource, k: number): void {
    const w = this.w
    const name = this.config.duration
    const slots = this.buckets.slots
    slots.fill(0)
    source.opHistogram(k, this.buckets)
    const labelStart = this.labelStart[k]!
    const labelEnd = this.labelEnd[k]!
    // The first bucket line writes `name_bucket{labels,le="`; the others copy it from the output.
    const start = w.pos
    w.text(name)
    w.text('_bucket{')
    w.repeat(labelStart, labelEnd)
    w.text(',le="')
    const startEnd = w.pos
    const les = this.config.edges.les
    let cum = 0
    for (let j = 0; j < les.length; j++) {
      if (j > 0) w.repeat(start, startEnd)
      cum += slots[j]!
      w.bytes(les[j]!)
      w.number(cum)
      w.byte(NL)
    }
    this.histogramStart(name, '_sum{', labelStart, labelEnd)
    this.sumSlot[0] = this.figures[k * OP_FIELDS + OP_SUM_MS]! / 1000
    w.float(this.sumSlot, 0)
    w.byte(NL)
    this.histogramStart(name, '_count{', labelStart, labelEnd)
    w.number(cum)
    w.byte(NL)
  }

  /** `name` + `suffix` + the op's labels (output bytes `labelStart .. labelEnd`) + `} `. */
  private histogramStart(name: string, suffix: string, labelStart: number, labelEnd: number): void {
    const w = this.w
    w.text(name)
    w.text(suffix)
    w.repeat(labelStart, labelEnd)
    w.text('} ')
  }

  /** An upper bound of the output's size (exact but for digits), so a one-off render allocates one buffer. */
  private sizeOf(source: ExpositionSource, n: number): number {
    const { events, errors, duration, edges } = this.config
    const f = this.figures
    let size = 16_384
    for (let k = 0; k < n; k++) {
      const labels = labelBytes(source.opType(k)) + labelBytes(source.opName(k)) + 16 // type="…",name="…"
      const num = digits(f[k * OP_FIELDS + OP_COUNT]!) + 1
      const statusLines = source.opType(k) === 'http' ? 6 : 1
      size += statusLines * (events.length + labels + 26 + num) + errors.length + labels + 4 + num
      size += 2 * (duration.length + labels + 36) // _sum (a float) and _count
      size += edges.les.length * (duration.length + labels + 14 + num) + edges.bytes
    }
    const sizer = {
      size: 0,
      counter: (type: string, name: string) => void (sizer.size += 64 + labelBytes(type) + labelBytes(name)),
    }
    source.counters(sizer)
    return size + sizer.size
  }
}

/**
 * Renders a snapshot in the Prometheus text exposition format (version 0.0.4), valid for
 * `promtool check metrics`. Take the snapshot with `monitor.snapshot({ histograms: true, recent: 0, slow: 0 })`.
 *
 * Per op (labels `type`, `name`): `perf_events_total` (plus `status_class` for `http` ops),
 * `perf_errors_total`, and the histogram `perf_duration_seconds`, whose `le` edges are the same for
 * every op (see {@link PrometheusOptions.buckets}). Then the monitor's own totals
 * (`perf_monitor_*_total`), plain counters (`perf_count_value`), and process health under the
 * conventional names (`process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, …) when the
 * snapshot has a `process` section. All numbers are all-time, so counters never go down.
 *
 * @throws TypeError when an op has no `totalHistogram` (the snapshot was taken without `histograms: true`).
 * @throws RangeError on a `buckets` edge that is not an edge of the monitor's histogram, with the nearest ones.
 */
export function toPrometheus(snapshot: Snapshot, options: PrometheusOptions = {}): string {
  return decoder.decode(toPrometheusBytes(snapshot, options))
}

/**
 * {@link toPrometheus} as UTF-8 bytes, ready for a response body: rendering allocates about the
 * output's size and nothing per line, so a scrape of a large monitor stays cheap.
 */
export function toPrometheusBytes(snapshot: Snapshot, options: PrometheusOptions = {}): Uint8Array {
  const config = prometheusConfig(options, 'toPrometheus')
  return new PrometheusWriter(config, false).render(new SnapshotSource(snapshot))
}

/** A snapshot as an {@link ExpositionSource}. */
export class SnapshotSource implements ExpositionSource {
  private readonly ops: Stats[] = []

  constructor(private readonly snapshot: Snapshot) {
    for (const type of Object.keys(snapshot.types)) {
      for (const op of snapshot.types[type]!.ops) {
        if (op.totalHistogram === undefined) {
          throw coded(
            'PERF_INVALID_SNAPSHOT',
            new TypeError(
              `toPrometheus: op ${JSON.stringify(op.type)} ${JSON.stringify(op.name)} has no totalHistogram: take the snapshot with monitor.snapshot({ histograms: true })`,
            ),
          )
        }
        this.ops.push(op)
      }
    }
  }

  begin(): number {
    return this.ops.length
  }

  opType(k: number): string {
    return this.ops[k]!.type
  }

  opName(k: number): string {
    return this.ops[k]!.name
  }

  opFigures(k: number, out: Float64Array, at: number): void {
    const op = this.ops[k]!
    out[at + OP_COUNT] = op.totalCount
    out[at + OP_ERRORS] = op.totalErrors
    out[at + OP_SUM_MS] = op.totalSumMs
    // Named loads, not st[key]: a keyed load of a number field boxes it, an allocation per op.
    const st = op.totalStatus
    out[at + OP_STATUS + 0] = st === undefined ? 0 : st['1xx']
    out[at + OP_STATUS + 1] = st === undefined ? 0 : st['2xx']
    out[at + OP_STATUS + 2] = st === undefined ? 0 : st['3xx']
    out[at + OP_STATUS + 3] = st === undefined ? 0 : st['4xx']
    out[at + OP_STATUS + 4] = st === undefined ? 0 : st['5xx']
  }

  opHistogram(k: number, into: BucketCounts): void {
    const h = this.ops[k]!.totalHistogram!
    into.add(h.counts, 0, h.counts.length, h.offset)
  }

  totals(): Totals | undefined {
    return this.snapshot.totals
  }

  counters(into: CounterSink): void {
    const counters = this.snapshot.counters
    if (counters === undefined) return
    for (const type of Object.keys(counters)) {
      const byName = counters[type]!
      for (const name of Object.keys(byName)) into.counter(type, name, byName[name]!)
    }
  }

  section(name: 'process'): ProcessSection | ProcessWatchOff | undefined
  section(name: 'processes'): Readonly<Record<string, ProcessSection | ProcessWatchOff>> | undefined
  section(name: 'process' | 'processes'): unknown {
    return this.snapshot[name]
  }
}

const decoder = new TextDecoder()
const NON_ASCII = /[\u0080-\uffff]/

/** Upper bound of a label value's bytes once escaped and UTF-8 encoded (exact for plain ASCII). */
function labelBytes(value: string): number {
  return value.length * (NON_ASCII.test(value) ? 3 : 1) * (LABEL_ESCAPE.test(value) ? 2 : 1)
}

function digits(n: number): number {
  return n < 1e15 ? String(Math.floor(n)).length + 1 : 25
}

/** `# HELP` and `# TYPE` lines of a family. */
function family(w: ByteWriter, name: string, type: string, help: string): void {
  // Piece by piece: a template literal would build (and flatten) a new string on every scrape.
  w.text('# HELP ')
  w.text(name)
  w.byte(0x20)
  w.text(help)
  w.text('\n# TYPE ')
  w.text(name)
  w.byte(0x20)
  w.text(type)
  w.byte(NL)
}

/** One sample line; `labels` is already escaped (or `''`). */
function sample(w: ByteWriter, name: string, labels: string, value: number): void {
  w.text(name)
  if (labels !== '') {
    w.byte(LBRACE)
    w.text(labels)
    w.byte(0x7d)
  }
  w.byte(0x20)
  w.number(value)
  w.byte(NL)
}

/** `,status_class="…"} ` per class, then for events without a status. */
const STATUS_LABELS: readonly Uint8Array[] = [...STATUS_KEYS, 'unknown'].map((c) =>
  new TextEncoder().encode(`,status_class="${c}"} `),
)

const TOTALS: readonly (readonly [keyof Totals, string, string])[] = [
  ['events', 'monitor_events_total', 'Events recorded by the monitor (every event counts toward stats).'],
  ['kept', 'monitor_kept_total', 'Events whose details were kept in the ring buffer.'],
  [
    'sampledOut',
    'monitor_sampled_out_total',
    'Events whose details sampling left out (still counted in stats).',
  ],
  [
    'folded',
    'monitor_folded_total',
    'Events and counter updates folded into <overflow> by the cardinality cap.',
  ],
  ['sinkErrors', 'monitor_sink_errors_total', 'Sink hooks that threw or rejected.'],
  ['internalErrors', 'monitor_internal_errors_total', 'Failures inside instrumentation.'],
]

const DROPPED: readonly (readonly [keyof Totals, string])[] = [
  ['sinkDropped', 'reason="sink_queue_full"'],
  ['droppedAfterClose', 'reason="after_close"'],
  ['rejected', 'reason="rejected"'],
]

/** The monitor's own totals (`perf_monitor_*`). */
function monitorTotals(out: ByteWriter, p: string, totals: Totals | undefined): void {
  if (totals === undefined) return
  const names = totalsNames(p)
  for (let k = 0; k < TOTALS.length; k++) {
    // Indexing, not destructuring: destructuring runs the iterator protocol (an object per row).
    const row = TOTALS[k]!
    family(out, names[k]!, 'counter', row[2])
    sample(out, names[k]!, '', totals[row[0]] ?? 0)
  }
  const dropped = names[TOTALS.length]!
  family(out, dropped, 'counter', 'Data the monitor dropped, by reason (each is also a snapshot total).')
  for (let k = 0; k < DROPPED.length; k++) {
    const row = DROPPED[k]!
    sample(out, dropped, row[1], totals[row[0]] ?? 0)
  }
  const queued = names[TOTALS.length + 1]!
  family(out, queued, 'gauge', 'Kept events waiting for sinks.')
  sample(out, queued, '', totals.sinkQueued ?? 0)
}

/** The totals' metric names per prefix, made once (a handful of prefixes at most in a process). */
const totalsNamesCache: Map<string, string[]> = new Map()

function totalsNames(p: string): string[] {
  let names = totalsNamesCache.get(p)
  if (names === undefined) {
    names = [
      ...TOTALS.map(([, suffix]) => p + suffix),
      `${p}monitor_dropped_total`,
      `${p}monitor_sink_queued`,
    ]
    totalsNamesCache.set(p, names)
  }
  return names
}

/** A field of the process section's current sample and the conventional metric it becomes. */
interface ProcessMetric {
  readonly field: string
  readonly name: string
  readonly type: 'gauge' | 'counter'
  readonly help: string
  /** Multiplier to the metric's unit (1e-3 for ms → seconds). */
  readonly scale: number
}

const MS = 1e-3
const PROCESS: readonly ProcessMetric[] = [
  {
    field: 'rssBytes',
    name: 'process_resident_memory_bytes',
    type: 'gauge',
    help: 'Resident memory size in bytes.',
    scale: 1,
  },
  {
    field: 'heapUsedBytes',
    name: 'nodejs_heap_size_used_bytes',
    type: 'gauge',
    help: 'Process heap size used from Node.js in bytes.',
    scale: 1,
  },
  {
    field: 'heapTotalBytes',
    name: 'nodejs_heap_size_total_bytes',
    type: 'gauge',
    help: 'Process heap size from Node.js in bytes.',
    scale: 1,
  },
  {
    field: 'externalBytes',
    name: 'nodejs_external_memory_bytes',
    type: 'gauge',
    help: 'Node.js external memory size in bytes.',
    scale: 1,
  },
  {
    field: 'eventLoopDelayP50Ms',
    name: 'nodejs_eventloop_lag_p50_seconds',
    type: 'gauge',
    help: 'The 50th percentile of the recorded event loop delays.',
    scale: MS,
  },
  {
    field: 'eventLoopDelayP99Ms',
    name: 'nodejs_eventloop_lag_p99_seconds',
    type: 'gauge',
    help: 'The 99th percentile of the recorded event loop delays.',
    scale: MS,
  },
  {
    field: 'eventLoopDelayMaxMs',
    name: 'nodejs_eventloop_lag_max_seconds',
    type: 'gauge',
    help: 'The maximum recorded event loop delay.',
    scale: MS,
  },
  {
    field: 'eventLoopDelayMeanMs',
    name: 'nodejs_eventloop_lag_mean_seconds',
    type: 'gauge',
    help: 'The mean of the recorded event loop delays.',
    scale: MS,
  },
  {
    field: 'eventLoopUtilization',
    name: 'nodejs_eventloop_utilization_ratio',
    type: 'gauge',
    help: 'Share of the last interval the event loop was busy (0..1).',
    scale: 1,
  },
  {
    field: 'gcCountTotal',
    name: 'nodejs_gc_runs_total',
    type: 'counter',
    help: 'Garbage collections since the watcher started.',
    scale: 1,
  },
  {
    field: 'gcPauseMsTotal',
    name: 'nodejs_gc_pause_seconds_total',
    type: 'counter',
    help: 'Time spent in garbage collection pauses since the watcher started, in seconds.',
    scale: MS,
  },
  {
    field: 'activeHandles',
    name: 'nodejs_active_handles',
    type: 'gauge',
    help: 'Number of active libuv handles.',
    scale: 1,
  },
]

/**
 * Process health from the `process` section that `watchProcess` (in `@perf/core/node`) adds: its
 * latest sample (`current`). A merged cluster snapshot has one section per process under
 * `processes`; each then gets a `pid` label. Absent until the first sample, and ignored when missing.
 */
function processMetrics(
  out: ByteWriter,
  processes: Readonly<Record<string, ProcessSection | ProcessWatchOff>> | undefined,
  process: ProcessSection | ProcessWatchOff | undefined,
): void {
  // Typed sections; each figure is still checked to be finite before it is written.
  const found: [labels: string, current: Readonly<Record<string, unknown>>][] = []
  if (processes !== undefined && Object.keys(processes).length > 0) {
    for (const pid of Object.keys(processes)) {
      const current = currentOf(processes[pid])
      if (current !== null) found.push([`pid="${escapeLabelValue(pid)}"`, current])
    }
  } else {
    const current = currentOf(process)
    if (current !== null) found.push(['', current])
  }
  if (found.length === 0) return
  if (found.some(([, c]) => isNumber(c.cpuUserMsTotal) && isNumber(c.cpuSystemMsTotal))) {
    family(out, 'process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.')
    for (const [labels, c] of found) {
      const { cpuUserMsTotal: user, cpuSystemMsTotal: system } = c
      if (isNumber(user) && isNumber(system))
        sample(out, 'process_cpu_seconds_total', labels, (user + system) * MS)
    }
  }
  for (const m of PROCESS) {
    if (!found.some(([, c]) => isNumber(c[m.field]))) continue
    family(out, m.name, m.type, m.help)
    for (const [labels, c] of found) {
      const v = c[m.field]
      if (isNumber(v)) sample(out, m.name, labels, v * m.scale)
    }
  }
}

/** Per-worker gauges from what a cluster primary reads from outside (`processes[pid].worker`). */
const WORKER: readonly (readonly [field: string, name: string, help: string, scale: number])[] = [
  [
    'cpuPercent',
    'cluster_worker_cpu_ratio',
    'CPU share of the worker over the primary’s last interval, read from outside (1 = one core).',
    0.01,
  ],
  [
    'rssBytes',
    'cluster_worker_resident_memory_bytes',
    'Resident memory of the worker, read from outside, in bytes.',
    1,
  ],
  [
    'lastReportAgeMs',
    'cluster_worker_last_report_age_seconds',
    'Seconds since the worker last reported to the primary, as of the merge.',
    MS,
  ],
]

/**
 * `<prefix>cluster_worker_up` (1 while the worker reports, 0 when unresponsive or gone) and the
 * gauges of {@link WORKER}, labelled `pid`, for each worker of a merged cluster snapshot.
 */
function workerMetrics(out: ByteWriter, p: string, processes: unknown): void {
  if (!isRecord(processes)) return
  const found: [labels: string, worker: Record<string, unknown>][] = []
  for (const pid of Object.keys(processes)) {
    const section = processes[pid]
    if (isRecord(section) && isRecord(section.worker) && typeof section.worker.state === 'string')
      found.push([`pid="${escapeLabelValue(pid)}"`, section.worker])
  }
  if (found.length === 0) return
  const up = `${p}cluster_worker_up`
  family(out, up, 'gauge', 'Whether the cluster worker reports to the primary (0 when unresponsive or gone).')
  for (const [labels, worker] of found) sample(out, up, labels, worker.state === 'healthy' ? 1 : 0)
  for (const [field, name, help, scale] of WORKER) {
    if (!found.some(([, c]) => isNumber(c[field]))) continue
    family(out, p + name, 'gauge', help)
    for (const [labels, c] of found) {
      const v = c[field]
      if (isNumber(v)) sample(out, p + name, labels, v * scale)
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object'
}

/** The latest sample of a watching section; `null` before the first tick or when not watching. */
function currentOf(
  section: ProcessSection | ProcessWatchOff | undefined,
): Readonly<Record<string, unknown>> | null {
  return section !== undefined && 'current' in section ? section.current : null
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}
