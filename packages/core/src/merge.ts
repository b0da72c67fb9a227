import { coded } from './errors.js'
import { describeValue } from './describe-value.js'
import { Aggregate } from './aggregate.js'
import type { PerfEvent } from './event.js'
import { BUCKETS, type SparseHistogram, WideHistogram } from './histogram.js'
import type { ProcessSection, ProcessWatchOff } from './process-section.js'
import {
  SNAPSHOT_FIELDS,
  type Snapshot,
  type Stats,
  type StatusClasses,
  type Totals,
  type TypeSnapshot,
} from './snapshot.js'

/**
 * A snapshot merged from several processes: a {@link Snapshot} plus who is in it. Its `pid` and
 * `config` are the first input's; `startedAt` is the earliest and `timestamp` the latest.
 */
export interface MergedSnapshot extends Snapshot {
  /** Pids of every process merged in. */
  pids: number[]
  /** Each process's `process` section (see `watchProcess`), by pid. */
  processes: Record<string, ProcessSection | ProcessWatchOff>
}

const STATUS_KEYS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/**
 * Merges snapshots of several monitors (e.g. cluster workers) into one, exactly: counts, errors,
 * sums, status classes, totals and counters add; min/max combine; histograms add bucket by bucket and
 * percentiles are recomputed from the merged histogram, so they are as exact as a single monitor's.
 * Recent and slow events are merged newest first, capped at the longest input list. Each input's
 * `process` section is kept per pid under `processes`. Other sections come from the first snapshot
 * that has them. A merged snapshot can itself be merged again.
 *
 * Every op that has events must carry its histogram: take snapshots with
 * `monitor.snapshot({ histograms: true })`; otherwise a `TypeError` says which op lacks one.
 */
export function mergeSnapshots(...snapshots: Snapshot[]): MergedSnapshot {
  if (snapshots.length === 0)
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError('mergeSnapshots(...snapshots): expected at least one snapshot'),
    )
  for (const s of snapshots) {
    if (!isObject(s) || !isObject(s.types) || !isObject(s.totals) || !isObject(s.window)) {
      throw coded(
        'PERF_INVALID_SNAPSHOT',
        new TypeError(
          'mergeSnapshots(...snapshots): every argument must be a snapshot from monitor.snapshot()',
        ),
      )
    }
  }
  const first = snapshots[0]!
  const pids: number[] = []
  // Every map keyed by a name from the input is null-prototype and filled through own keys only: a
  // snapshot is data from another process, and `__proto__` or `constructor` as a name must stay a name.
  const processes = dict<ProcessSection | ProcessWatchOff>()
  const sections = dict<unknown>()
  for (const s of snapshots) {
    const nested = (s as Partial<MergedSnapshot>).pids
    for (const pid of Array.isArray(nested) ? nested : [s.pid]) {
      if (typeof pid === 'number' && !pids.includes(pid)) pids.push(pid)
    }
    const procs = (s as Partial<MergedSnapshot>).processes
    if (isObject(procs)) {
      for (const pid of Object.keys(procs)) processes[pid] = processSection(procs[pid], `processes.${pid}`)
    }
    if (s.process !== undefined)
      processes[String(s.pid)] = processSection(s.process, `process of pid ${s.pid}`)
    for (const key of Object.keys(s)) {
      if (!KNOWN.has(key) && !Object.hasOwn(sections, key)) sections[key] = s[key]
    }
  }
  const merged: MergedSnapshot = {
    // Spreading defines own properties (never calls the `__proto__` setter).
    ...sections,
    enabled: snapshots.some((s) => s.enabled),
    pid: first.pid,
    startedAt: Math.min(...snapshots.map((s) => s.startedAt)),
    timestamp: Math.max(...snapshots.map((s) => s.timestamp)),
    uptimeMs: 0,
    config: first.config,
    window: {
      ms: Math.max(...snapshots.map((s) => s.window.ms)),
      sliceMs: first.window.sliceMs,
      fromMs: Math.min(...snapshots.map((s) => s.window.fromMs)),
    },
    totals: mergeTotals(snapshots.map((s) => s.totals as unknown as Record<string, unknown>)),
    types: mergeTypes(snapshots),
    counters: mergeCounters(snapshots.map((s) => s.counters)),
    recent: mergeEvents(snapshots.map((s) => s.recent)),
    slow: mergeEvents(snapshots.map((s) => s.slow)),
    pids,
    processes,
  }
  merged.uptimeMs = merged.timestamp - merged.startedAt
  const errors = snapshots.filter((s) => s.lastInternalError !== undefined)
  if (errors.length > 0) merged.lastInternalError = `pid ${errors[0]!.pid}: ${errors[0]!.lastInternalError}`
  return merged
}

/** A null-prototype object: a map whose keys can be any name without reaching `Object.prototype`. */
function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** A count or duration from the input: a finite number ≥ 0, else the snapshot is malformed. */
function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !(v >= 0) || v === Number.POSITIVE_INFINITY) {
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(`mergeSnapshots: ${what} must be a finite number ≥ 0, got ${describeValue(v)}`),
    )
  }
  return v
}

/** A histogram from the input, checked against the bucket layout before anything is sized by it. */
function histogram(h: unknown, what: string): SparseHistogram | undefined {
  if (h === undefined) return undefined
  if (!isObject(h) || !Array.isArray(h.counts)) {
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(`mergeSnapshots: ${what} must be { offset, counts: number[] }, got ${describeValue(h)}`),
    )
  }
  const { offset, counts } = h as { offset: unknown; counts: unknown[] }
  if (
    typeof offset !== 'number' ||
    !Number.isInteger(offset) ||
    offset < 0 ||
    offset + counts.length > BUCKETS
  ) {
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(
        `mergeSnapshots: ${what} does not fit the bucket layout (offset ${describeValue(offset)}, ${counts.length} counts, ${BUCKETS} buckets)`,
      ),
    )
  }
  for (const c of counts) num(c, `${what} counts`)
  return h as unknown as SparseHistogram
}

/**
 * A `process` section from the input. Its parts are checked for shape, since the merged snapshot
 * types them and readers (Prometheus, the dashboard) rely on it; figures inside stay the sender's.
 */
function processSection(v: unknown, what: string): ProcessSection | ProcessWatchOff {
  if (!isObject(v))
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(`mergeSnapshots: ${what} must be an object, got ${describeValue(v)}`),
    )
  if (v.watching === false) {
    if (typeof v.reason !== 'string')
      throw coded(
        'PERF_INVALID_SNAPSHOT',
        new TypeError(`mergeSnapshots: ${what}.reason must be a string, got ${describeValue(v.reason)}`),
      )
    return v as unknown as ProcessWatchOff
  }
  for (const part of ['current', 'peak', 'baseline', 'growth'] as const) {
    const p = v[part]
    if (p !== undefined && p !== null && !isObject(p)) {
      throw coded(
        'PERF_INVALID_SNAPSHOT',
        new TypeError(`mergeSnapshots: ${what}.${part} must be an object or null, got ${describeValue(p)}`),
      )
    }
  }
  if (v.series !== undefined && !isObject(v.series))
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(`mergeSnapshots: ${what}.series must be an object, got ${describeValue(v.series)}`),
    )
  return v as unknown as ProcessSection
}

/** Keys merged field by field (a snapshot's own, and a merged view's); any other key is a section. */
const KNOWN: ReadonlySet<string> = new Set([...SNAPSHOT_FIELDS, 'process', 'processes', 'pids'])

function mergeTotals(all: Record<string, unknown>[]): Totals {
  const out = dict<number>()
  for (const totals of all) {
    for (const key of Object.keys(totals)) out[key] = (out[key] ?? 0) + num(totals[key], `totals.${key}`)
  }
  return out as unknown as Totals
}

function mergeCounters(all: unknown[]): Record<string, Record<string, number>> {
  const out = dict<Record<string, number>>()
  for (const counters of all) {
    if (counters === undefined) continue
    if (!isObject(counters))
      throw coded(
        'PERF_INVALID_SNAPSHOT',
        new TypeError(`mergeSnapshots: counters must be an object, got ${describeValue(counters)}`),
      )
    for (const type of Object.keys(counters)) {
      const names = counters[type]
      if (!isObject(names))
        throw coded(
          'PERF_INVALID_SNAPSHOT',
          new TypeError(`mergeSnapshots: counters.${type} must be an object`),
        )
      let into = out[type]
      if (into === undefined) out[type] = into = dict<number>()
      for (const name of Object.keys(names)) {
        const sum = (into[name] ?? 0) + finite(names[name], `counter ${type} ${JSON.stringify(name)}`)
        // Two finite counters can add up past ±1.8e308; JSON would write Infinity as null, so the
        // merged counter saturates at the largest finite number instead.
        into[name] = Number.isFinite(sum) ? sum : Math.sign(sum) * Number.MAX_VALUE
      }
    }
  }
  return out
}

/** A counter's value may be negative (count(type, name, -1)); it must be a finite number. */
function finite(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(`mergeSnapshots: ${what} must be a finite number, got ${describeValue(v)}`),
    )
  }
  return v
}

function mergeEvents(all: unknown[]): PerfEvent[] {
  const lists = all.map((events) => (Array.isArray(events) ? (events as PerfEvent[]) : []))
  const cap = Math.max(...lists.map((events) => events.length))
  // Stable on equal timestamps: the earlier snapshot's order is kept.
  return lists
    .flat()
    .sort((a, b) => b.timestamp - a.timestamp)
    .slice(0, cap)
}

function addStatus(into: number[] | undefined, s: StatusClasses, what: string): number[] {
  const out = into ?? [0, 0, 0, 0, 0]
  const checked = statusOf(s, what)
  for (let k = 0; k < 5; k++) out[k]! += checked[STATUS_KEYS[k]!]
  return out
}

/** Status classes from the input, checked: only the five classes, only as own keys, each a count. */
function statusOf(s: unknown, what: string): StatusClasses {
  if (!isObject(s))
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(`mergeSnapshots: ${what} must be an object of status classes`),
    )
  const out: StatusClasses = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }
  for (const key of STATUS_KEYS) if (Object.hasOwn(s, key)) out[key] = num(s[key], `${what}.${key}`)
  return out
}

function statusClasses(s: number[]): StatusClasses {
  return { '1xx': s[0]!, '2xx': s[1]!, '3xx': s[2]!, '4xx': s[3]!, '5xx': s[4]! }
}

interface OpAcc {
  readonly name: string
  readonly window: Aggregate
  totalCount: number
  totalErrors: number
  totalSumMs: number
  totalStatus: number[] | undefined
  totalHistogram: WideHistogram | undefined
  hasHistogram: boolean
  /** Heap deltas added up, once any worker measured the op (see `HttpOptions.memory`). */
  memory: { measured: number; sumBytes: number; maxBytes: number } | undefined
}

function mergeTypes(snapshots: Snapshot[]): Record<string, TypeSnapshot> {
  const out = dict<TypeSnapshot>()
  const byType = new Map<string, { first: TypeSnapshot; folded: number; ops: Map<string, OpAcc> }>()
  for (const snap of snapshots) {
    const types = snap.types as Record<string, unknown>
    for (const type of Object.keys(types)) {
      const t = types[type] as TypeSnapshot
      if (!isObject(t) || !Array.isArray(t.ops)) {
        throw coded(
          'PERF_INVALID_SNAPSHOT',
          new TypeError(`mergeSnapshots: type ${JSON.stringify(type)} of pid ${snap.pid} has no ops list`),
        )
      }
      let entry = byType.get(type)
      if (entry === undefined) {
        entry = { first: t, folded: 0, ops: new Map() }
        byType.set(type, entry)
      }
      entry.folded += num(t.foldedEvents ?? 0, `types.${type}.foldedEvents`)
      for (const op of t.ops) addOp(entry.ops, type, op, snap.pid)
    }
  }
  for (const [type, entry] of byType) {
    const typeAgg = new Aggregate()
    const ops: Stats[] = []
    for (const acc of entry.ops.values()) {
      const stats = acc.window.stats()
      const op: Stats = {
        ...stats,
        type,
        name: acc.name,
        totalCount: acc.totalCount,
        totalErrors: acc.totalErrors,
        totalSumMs: acc.totalSumMs,
      }
      if (acc.window.status !== undefined || acc.totalStatus !== undefined) {
        op.status = acc.window.statusClasses() ?? statusClasses([0, 0, 0, 0, 0])
        op.totalStatus = statusClasses(acc.totalStatus ?? [0, 0, 0, 0, 0])
      }
      if (acc.memory !== undefined) {
        const m = acc.memory
        op.memory = {
          measured: m.measured,
          sumBytes: m.sumBytes,
          meanBytes: m.measured > 0 ? m.sumBytes / m.measured : 0,
          maxBytes: m.measured > 0 ? m.maxBytes : 0,
        }
      }
      if (acc.hasHistogram) {
        op.histogram = acc.window.histogramJSON()
        op.totalHistogram = acc.totalHistogram?.toJSON() ?? { offset: 0, counts: [] }
      }
      typeAgg.merge(acc.window)
      ops.push(op)
    }
    // Only the type's own settings are carried over: the rest of a type entry is derived here.
    const { sampling, slowMs } = entry.first
    out[type] = {
      sampling: typeof sampling === 'number' ? sampling : 0,
      slowMs: typeof slowMs === 'number' ? slowMs : 0,
      ...typeAgg.stats(),
      foldedEvents: entry.folded,
      ops,
    }
  }
  return out
}

function addOp(ops: Map<string, OpAcc>, type: string, op: Stats, pid: number): void {
  if (!isObject(op) || typeof op.name !== 'string') {
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(`mergeSnapshots: an op of type ${JSON.stringify(type)} of pid ${pid} has no name`),
    )
  }
  const what = `op ${type} ${JSON.stringify(op.name)} of pid ${pid}`
  // Snapshots from before `sumMs` existed carry only the mean: for them the sum is rebuilt as
  // mean × count, which rounds; a snapshot with `sumMs` adds exactly.
  const window = {
    count: num(op.count, `${what}: count`),
    errors: num(op.errors, `${what}: errors`),
    slow: num(op.slow, `${what}: slow`),
    sumMs: op.sumMs === undefined ? undefined : num(op.sumMs, `${what}: sumMs`),
    avgMs: num(op.avgMs, `${what}: avgMs`),
    minMs: num(op.minMs, `${what}: minMs`),
    maxMs: num(op.maxMs, `${what}: maxMs`),
    status: op.status === undefined ? undefined : statusOf(op.status, `${what}: status`),
  }
  const h = histogram(op.histogram, `${what}: histogram`)
  const total = histogram(op.totalHistogram, `${what}: totalHistogram`)
  if (window.count > 0 && h === undefined) {
    throw coded(
      'PERF_INVALID_SNAPSHOT',
      new TypeError(
        `mergeSnapshots: ${what} has no histogram; take snapshots with monitor.snapshot({ histograms: true })`,
      ),
    )
  }
  let acc = ops.get(op.name)
  if (acc === undefined) {
    acc = {
      name: op.name,
      window: new Aggregate(),
      totalCount: 0,
      totalErrors: 0,
      totalSumMs: 0,
      totalStatus: undefined,
      totalHistogram: undefined,
      hasHistogram: false,
      memory: undefined,
    }
    ops.set(op.name, acc)
  }
  acc.window.add({ ...window, histogram: h })
  acc.totalCount += num(op.totalCount, `${what}: totalCount`)
  acc.totalErrors += num(op.totalErrors, `${what}: totalErrors`)
  acc.totalSumMs += num(op.totalSumMs, `${what}: totalSumMs`)
  if (op.totalStatus !== undefined)
    acc.totalStatus = addStatus(acc.totalStatus, op.totalStatus, `${what}: totalStatus`)
  if (h !== undefined) acc.hasHistogram = true
  if (op.memory !== undefined) {
    const measured = num(op.memory.measured, `${what}: memory.measured`)
    const m = (acc.memory ??= { measured: 0, sumBytes: 0, maxBytes: Number.NEGATIVE_INFINITY })
    m.measured += measured
    // Older workers carry only the mean: the sum is rebuilt from it, as for durations.
    m.sumBytes +=
      typeof op.memory.sumBytes === 'number'
        ? finite(op.memory.sumBytes, `${what}: memory.sumBytes`)
        : finite(op.memory.meanBytes, `${what}: memory.meanBytes`) * measured
    if (measured > 0)
      m.maxBytes = Math.max(m.maxBytes, finite(op.memory.maxBytes, `${what}: memory.maxBytes`))
  }
  if (total !== undefined) {
    acc.totalHistogram ??= new WideHistogram()
    acc.totalHistogram.addAll(total)
  }
}
