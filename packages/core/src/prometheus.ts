/*
 * Prometheus text exposition (format 0.0.4) of a snapshot. Web-standard: no Node imports.
 *
 * Everything exposed as a counter comes from the all-time numbers of the snapshot, never the
 * window, because Prometheus counters must only go up (a `clear()` looks like a process restart,
 * which Prometheus handles as a counter reset).
 *
 * Histogram buckets are the monitor's own log-linear buckets, merged `32 / bucketsPerOctave` at a
 * time, and emitted sparsely: an edge is printed when the coarse bucket just below or just above
 * it has ever held an event. All-time counts never go down, so the `le` set of a series only grows,
 * and every non-empty bucket is bounded by its own two edges, so `histogram_quantile`'s linear
 * interpolation never spans an empty region.
 */

import { ByteWriter, formatNumber } from './byte-writer.js'
import { BUCKETS, bucketLower } from './histogram.js'
import type { Snapshot, Stats, Totals } from './snapshot.js'

/** `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Options of {@link toPrometheus}. */
export interface PrometheusOptions {
  /** Prefix of @perf's own metric names (sanitised to `[a-zA-Z0-9_:]`). Default `perf_`. */
  readonly prefix?: string
  /**
   * Histogram buckets per power of two: 1, 2, 4, 8, 16 or 32 (the monitor's full resolution).
   * A bucket is at most `1 / bucketsPerOctave` wide relative to its lower edge. Default 8 (≤ 12.5 %).
   */
  readonly bucketsPerOctave?: 1 | 2 | 4 | 8 | 16 | 32
}

const SUB = 32
const STATUS_KEYS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
const LABEL_ESCAPE = /[\\"\n]/
const NAME_INVALID = /[^a-zA-Z0-9_:]/g

/**
 * Encoded `le="…"} ` label endings per coarse step, built once per step on first use (at most
 * 1,345 small arrays for the finest step).
 */
const leCache: Map<number, Uint8Array[]> = new Map()

/** The encoded `le` label endings for coarse step `step` (shared with the live renderer). */
export function leLabels(step: number): Uint8Array[] {
  let cached = leCache.get(step)
  if (cached === undefined) {
    const encoder = new TextEncoder()
    cached = new Array(BUCKETS / step + 1)
    for (let e = 0; e <= BUCKETS / step; e++) {
      cached[e] = encoder.encode(`${formatNumber(bucketLower(e * step) / 1000)}"} `)
    }
    leCache.set(step, cached)
  }
  return cached
}

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

/** Coarse step (fine buckets per rendered bucket) of a `bucketsPerOctave` option; throws on a bad one. */
export function checkStep(bucketsPerOctave: unknown): number {
  if (bucketsPerOctave === undefined) return 4
  if (
    typeof bucketsPerOctave !== 'number' ||
    !Number.isInteger(bucketsPerOctave) ||
    bucketsPerOctave < 1 ||
    bucketsPerOctave > SUB ||
    (bucketsPerOctave & (bucketsPerOctave - 1)) !== 0
  ) {
    throw new RangeError(
      `toPrometheus: bucketsPerOctave = ${String(bucketsPerOctave)} is not valid: expected one of 1, 2, 4, 8, 16, 32`,
    )
  }
  return SUB / bucketsPerOctave
}

/** The `prefix` option, checked; throws on a bad one. */
export function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return 'perf_'
  if (typeof prefix !== 'string') {
    throw new TypeError(`toPrometheus: prefix must be a string, got ${typeof prefix}`)
  }
  return prefix
}

/** Checks rendering options, throwing the error {@link toPrometheus} would. */
export function checkPrometheusOptions(options: PrometheusOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`toPrometheus: options must be an object, got ${String(options)}`)
  }
  checkStep(options.bucketsPerOctave)
  checkPrefix(options.prefix)
}

/**
 * Renders a snapshot in the Prometheus text exposition format (version 0.0.4), valid for
 * `promtool check metrics`. Take the snapshot with `monitor.snapshot({ histograms: true, recent: 0, slow: 0 })`.
 *
 * Per op (labels `type`, `name`): `perf_events_total` (plus `status_class` for `http` ops),
 * `perf_errors_total`, and the histogram `perf_duration_seconds` whose buckets are the monitor's own
 * (see {@link PrometheusOptions.bucketsPerOctave}). Then the monitor's own totals
 * (`perf_monitor_*_total`), plain counters (`perf_count_value`), and process health under the
 * conventional names (`process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, …) when the
 * snapshot has a `process` section. All numbers are all-time, so counters never go down.
 *
 * @throws TypeError when an op has no `totalHistogram` (the snapshot was taken without `histograms: true`).
 */
export function toPrometheus(snapshot: Snapshot, options: PrometheusOptions = {}): string {
  return decoder.decode(toPrometheusBytes(snapshot, options))
}

/**
 * {@link toPrometheus} as UTF-8 bytes, ready for a response body: rendering allocates about the
 * output's size and nothing per line, so a scrape of a large monitor stays cheap.
 */
export function toPrometheusBytes(snapshot: Snapshot, options: PrometheusOptions = {}): Uint8Array {
  const step = checkStep(options.bucketsPerOctave)
  const prefix = checkPrefix(options.prefix)
  const p = prefix === '' ? '' : sanitizeMetricName(prefix)
  const les = leLabels(step)

  const ops: Stats[] = []
  for (const type of Object.keys(snapshot.types)) for (const op of snapshot.types[type]!.ops) ops.push(op)

  // Size the output once, from above (exact but for digits), so rendering allocates one buffer.
  const events = `${p}events_total`
  const errors = `${p}errors_total`
  const dur = `${p}duration_seconds`
  let size = 16_384 + countersSize(snapshot.counters)
  for (const op of ops) {
    const h = op.totalHistogram
    if (h === undefined) {
      throw new TypeError(
        `toPrometheus: op ${JSON.stringify(op.type)} ${JSON.stringify(op.name)} has no totalHistogram: take the snapshot with monitor.snapshot({ histograms: true })`,
      )
    }
    const labels = labelBytes(op.type) + labelBytes(op.name) + 16 // type="…",name="…"
    const num = digits(op.totalCount) + 1
    const statusLines = op.type === 'http' ? 6 : 1
    size += statusLines * (events.length + labels + 26 + num) + errors.length + labels + 4 + num
    size += 2 * (dur.length + labels + 36) // _sum (a float) and _count
    const bucket = dur.length + labels + 15 + num // name_bucket{labels,le="…"} n
    size += bucket + 7 // +Inf
    const c = h.counts
    let lastEdge = -1
    for (let k = 0; k < c.length; ) {
      const coarse = Math.floor((h.offset + k) / step)
      const end = Math.min(c.length, (coarse + 1) * step - h.offset)
      let n = 0
      for (; k < end; k++) n += c[k]!
      if (n === 0) continue
      if (lastEdge !== coarse) size += bucket + les[coarse]!.length
      lastEdge = coarse + 1
      size += bucket + les[lastEdge]!.length
    }
  }
  const w = new ByteWriter(size)
  // Where each op's `type="…",name="…"` was written, so later lines copy it instead of re-encoding.
  const labelStart = new Int32Array(ops.length)
  const labelEnd = new Int32Array(ops.length)
  family(
    w,
    events,
    'counter',
    'Events recorded per op since start (every event counts; http ops by status class).',
  )
  labelStart.fill(-1)
  for (let k = 0; k < ops.length; k++) {
    const op = ops[k]!
    // An http op with no event yet (adapters name routes as they are registered) gets no line here:
    // a placeholder status class would vanish at its first event.
    if (op.type === 'http' && op.totalCount === 0) continue
    const from = w.pos
    w.text(events)
    w.byte(LBRACE)
    labels(w, k, op, labelStart, labelEnd)
    if (op.type === 'http') {
      const st = op.totalStatus
      for (let j = 0; j < STATUS_KEYS.length; j++)
        statusScratch[j] = st === undefined ? 0 : st[STATUS_KEYS[j]!]
      httpEvents(w, from, w.pos, op.totalCount, statusScratch)
    } else {
      w.text('} ')
      w.number(op.totalCount)
      w.byte(NL)
    }
  }

  family(w, errors, 'counter', 'Failed events per op since start.')
  for (let k = 0; k < ops.length; k++) {
    w.text(errors)
    w.byte(LBRACE)
    labels(w, k, ops[k]!, labelStart, labelEnd)
    w.text('} ')
    w.number(ops[k]!.totalErrors)
    w.byte(NL)
  }

  family(w, dur, 'histogram', "Event duration per op since start, in the monitor's own log-linear buckets.")
  for (let k = 0; k < ops.length; k++) histogram(w, dur, labelStart[k]!, labelEnd[k]!, ops[k]!, les, step)

  monitorTotals(w, p, snapshot.totals)
  plainCounters(w, p, snapshot.counters)
  processMetrics(w, snapshot.processes, snapshot.process)
  return w.view()
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

function countersSize(counters: Snapshot['counters'] | undefined): number {
  if (counters === undefined) return 0
  let size = 0
  for (const type of Object.keys(counters)) {
    for (const name of Object.keys(counters[type]!)) size += 64 + labelBytes(type) + labelBytes(name)
  }
  return size
}

const LBRACE = 0x7b
const QUOTE = 0x22
const NL = 0x0a

/** `# HELP` and `# TYPE` lines of a family. */
export function family(w: ByteWriter, name: string, type: string, help: string): void {
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

/**
 * Writes op `k`'s `type="…",name="…"`: encoded and escaped the first time, copied from there after.
 */
function labels(w: ByteWriter, k: number, op: Stats, labelStart: Int32Array, labelEnd: Int32Array): void {
  if (labelStart[k]! >= 0) {
    w.repeat(labelStart[k]!, labelEnd[k]!)
    return
  }
  labelStart[k] = w.pos
  w.text('type="')
  w.labelValue(op.type)
  w.text('",name="')
  w.labelValue(op.name)
  w.byte(QUOTE)
  labelEnd[k] = w.pos
}

const statusScratch = new Float64Array(STATUS_KEYS.length)

/**
 * The http lines of `events_total`; `from .. to` is the line start already written (`name{labels`),
 * `status` the all-time counts of 1xx..5xx.
 */
export function httpEvents(
  w: ByteWriter,
  from: number,
  to: number,
  total: number,
  status: ArrayLike<number>,
): void {
  let rest = total
  let lines = 0
  for (let k = 0; k < STATUS_KEYS.length; k++) {
    const n = status[k]!
    if (n > 0) {
      line(w, from, to, lines++ === 0, STATUS_LABELS[k]!, n)
      rest -= n
    }
  }
  // Events recorded without a status (none from the adapters) still count, under their own class.
  if (rest > 0) line(w, from, to, lines === 0, STATUS_LABELS[STATUS_KEYS.length]!, rest)
}

/** One line that starts like the one at `from .. to` (written already when `first`), then `tail` and `n`. */
function line(w: ByteWriter, from: number, to: number, first: boolean, tail: Uint8Array, n: number): void {
  if (!first) w.repeat(from, to)
  w.bytes(tail)
  w.number(n)
  w.byte(NL)
}

/**
 * A bucket line: its start (`name_bucket{labels,le="`, the output bytes `from .. to`, written already
 * when `first`), the edge, the count.
 */
function bucketLine(
  w: ByteWriter,
  from: number,
  to: number,
  first: boolean,
  le: Uint8Array,
  cum: number,
): void {
  if (!first) w.repeat(from, to)
  w.bytes(le)
  w.number(cum)
  w.byte(NL)
}

function histogram(
  w: ByteWriter,
  name: string,
  labelStart: number,
  labelEnd: number,
  op: Stats,
  les: Uint8Array[],
  step: number,
): void {
  const h = op.totalHistogram!
  const cum = histogramBuckets(
    w,
    name,
    labelStart,
    labelEnd,
    h.counts,
    0,
    h.counts.length,
    h.offset,
    les,
    step,
  )
  histogramStart(w, name, '_sum{', labelStart, labelEnd)
  w.number(op.totalSumMs / 1000)
  w.byte(NL)
  histogramStart(w, name, '_count{', labelStart, labelEnd)
  w.number(cum)
  w.byte(NL)
}

/** `name` + `suffix` + the op's labels (output bytes `labelStart .. labelEnd`) + `} `. */
export function histogramStart(
  w: ByteWriter,
  name: string,
  suffix: string,
  labelStart: number,
  labelEnd: number,
): void {
  w.text(name)
  w.text(suffix)
  w.repeat(labelStart, labelEnd)
  w.text('} ')
}

/**
 * An op's `_bucket` lines from bucket counts `c[from..to)`, where `c[k]` is bucket `offset + k`.
 * Returns the event count (the `+Inf` bucket).
 */
export function histogramBuckets(
  w: ByteWriter,
  name: string,
  labelStart: number,
  labelEnd: number,
  c: ArrayLike<number>,
  from: number,
  to: number,
  offset: number,
  les: Uint8Array[],
  step: number,
): number {
  // The first bucket line writes `name_bucket{labels,le="`; the others copy it from the output.
  const start = w.pos
  w.text(name)
  w.text('_bucket{')
  w.repeat(labelStart, labelEnd)
  w.text(',le="')
  const startEnd = w.pos
  let first = true
  let cum = 0
  let lastEdge = -1
  let k = from
  while (k < to) {
    const coarse = Math.floor((offset + k) / step)
    const end = Math.min(to, (coarse + 1) * step - offset)
    let n = 0
    for (; k < end; k++) n += c[k]!
    if (n === 0) continue
    if (lastEdge !== coarse) {
      bucketLine(w, start, startEnd, first, les[coarse]!, cum)
      first = false
    }
    cum += n
    lastEdge = coarse + 1
    bucketLine(w, start, startEnd, first, les[lastEdge]!, cum)
    first = false
  }
  bucketLine(w, start, startEnd, first, INF, cum)
  return cum
}

const INF = new TextEncoder().encode('+Inf"} ')
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
export function monitorTotals(out: ByteWriter, p: string, totals: Totals | undefined): void {
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

function plainCounters(out: ByteWriter, p: string, counters: Snapshot['counters'] | undefined): void {
  if (counters === undefined) return
  const types = Object.keys(counters)
  if (types.length === 0) return
  const name = countersFamily(out, p)
  for (const type of types) {
    const byName = counters[type]!
    for (const key of Object.keys(byName)) counterLine(out, name, type, key, byName[key]!)
  }
}

/** The `# HELP`/`# TYPE` lines of the plain counters; returns the family's name. */
export function countersFamily(out: ByteWriter, p: string): string {
  // A gauge: monitor.count() accepts negative steps, so these may go down.
  const name = `${p}count_value`
  family(out, name, 'gauge', 'Plain counters from monitor.count(), by type and name.')
  return name
}

/** One plain counter's line, its labels escaped as they are written. */
export function counterLine(out: ByteWriter, name: string, type: string, key: string, value: number): void {
  out.text(name)
  out.text('{type="')
  out.labelValue(type)
  out.text('",name="')
  out.labelValue(key)
  out.text('"} ')
  out.number(value)
  out.byte(NL)
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
export function processMetrics(out: ByteWriter, processes: unknown, process: unknown): void {
  const found: [labels: string, current: Record<string, unknown>][] = []
  if (isRecord(processes) && Object.keys(processes).length > 0) {
    for (const pid of Object.keys(processes)) {
      const current = currentSample(processes[pid])
      if (current !== undefined) found.push([`pid="${escapeLabelValue(pid)}"`, current])
    }
  } else {
    const current = currentSample(process)
    if (current !== undefined) found.push(['', current])
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

function currentSample(section: unknown): Record<string, unknown> | undefined {
  return isRecord(section) && isRecord(section.current) ? section.current : undefined
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object'
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}
