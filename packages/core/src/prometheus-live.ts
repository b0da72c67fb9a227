/*
 * The `/metrics` scrape of one monitor: the writer of prometheus.ts over the monitor's live state,
 * without taking a snapshot.
 *
 * `monitor.snapshot({ histograms: true })` builds window stats, percentiles and two histogram arrays
 * per op, none of which a scrape needs: every figure Prometheus gets is all-time, which for an op is
 * its retired totals plus the slice being recorded into. So the live source hands the writer those
 * two, straight from the op's arrays, and the writer renders into a buffer it keeps between scrapes.
 * What a scrape allocates is then the output alone: the caller copies the view out once (a `Response`
 * made from it does, as the Fetch standard requires).
 *
 * A monitor whose `snapshot()` is not its own (the cluster-wide view of `shareCluster`, a user's
 * wrapper) is rendered from its snapshot by the same writer, so `/metrics` shows what `snapshot()` shows.
 */

import { type LiveType, type Monitor, type MonitorState, monitorInternals, monitorState } from './monitor.js'
import type { OpStats } from './op-stats.js'
import {
  type BucketCounts,
  type CounterSink,
  type ExpositionSource,
  OP_COUNT,
  OP_ERRORS,
  OP_STATUS,
  OP_SUM_MS,
  type PrometheusOptions,
  PrometheusWriter,
  prometheusConfig,
  SnapshotSource,
} from './prometheus.js'
import type { ProcessSection, ProcessWatchOff } from './process-section.js'
import type { Totals } from './snapshot.js'

/** Renders one monitor for `/metrics`. */
export interface PrometheusRenderer {
  /**
   * The exposition, exactly as `toPrometheusBytes(monitor.snapshot({ histograms: true }), options)`
   * renders it. The bytes are a view of a buffer the next call overwrites: copy them before anything
   * else renders.
   */
  render(): Uint8Array
}

const SNAPSHOT = { histograms: true, recent: 0, slow: 0 } as const

/** A renderer of `monitor`'s exposition, with the rendering options checked once (as `createMetricsHandler`'s). */
export function createPrometheusRenderer(
  monitor: Monitor,
  options: PrometheusOptions = {},
): PrometheusRenderer {
  const writer = new PrometheusWriter(prometheusConfig(options, 'createMetricsHandler', 'prometheus.'), true)
  const live = new LiveSource(monitor)
  return {
    render(): Uint8Array {
      const state = monitorState(monitor)
      if (state === undefined) return writer.render(new SnapshotSource(monitor.snapshot(SNAPSHOT)))
      live.state = state
      return writer.render(live)
    },
  }
}

/**
 * A monitor's live state as an {@link ExpositionSource}, in a snapshot's order. Its arrays are kept
 * between scrapes, so reading them allocates nothing.
 */
class LiveSource implements ExpositionSource {
  state: MonitorState | undefined
  /**
   * Ops in snapshot order (types in object-key order, each type's ops, then its overflow op): the first
   * `opCount` entries. Never truncated, because setting an array's length to 0 frees its storage and
   * refilling it would allocate again on every scrape.
   */
  private readonly ops: OpStats[] = []
  private readonly types: LiveType[] = []
  private typeCount = 0
  private readonly indexKeys: string[] = []
  private current = 0
  private sink: CounterSink | undefined
  private sinkType = ''

  constructor(private readonly monitor: Monitor) {}

  /** The ops in the order a snapshot lists them, into `ops[0 .. n)`. */
  begin(): number {
    const state = this.state!
    this.current = state.current
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
    return n
  }

  opType(k: number): string {
    return this.ops[k]!.type
  }

  opName(k: number): string {
    return this.ops[k]!.name
  }

  opFigures(k: number, out: Float64Array, at: number): void {
    const op = this.ops[k]!
    const cur = this.current
    out[at + OP_COUNT] = op.allTimeCount(cur)
    out[at + OP_ERRORS] = op.allTimeErrors(cur)
    out[at + OP_SUM_MS] = op.allTimeSum(cur)
    for (let j = 0; j < 5; j++) out[at + OP_STATUS + j] = op.allTimeStatusAt(cur, j)
  }

  /** The op's retired total plus the slice being recorded into. */
  opHistogram(k: number, into: BucketCounts): void {
    this.ops[k]!.addAllTimeHistogram(this.current, into)
  }

  totals(): Totals {
    return this.state!.totals
  }

  /** Plain counters from `monitor.count()`, in a snapshot's order (array-index keys first). */
  counters(into: CounterSink): void {
    this.sink = into
    for (let t = 0; t < this.typeCount; t++) {
      const type = this.types[t]!
      const counters = type.counters
      if (counters.size === 0) continue
      this.sinkType = type.type
      const index = this.indexKeys
      index.length = 0
      for (const key of counters.keys()) if (isArrayIndex(key)) index.push(key)
      if (index.length > 0) {
        index.sort(byNumber)
        for (const key of index) into.counter(type.type, key, counters.get(key)!)
      }
      counters.forEach(this.counterIfNamed)
    }
    this.sink = undefined
  }

  /** `Map#forEach` callback made once: a per-scrape closure would be an allocation per type. */
  private readonly counterIfNamed = (value: number, key: string): void => {
    if (!isArrayIndex(key)) this.sink!.counter(this.sinkType, key, value)
  }

  /** A section's value as a snapshot would hold it (a provider that throws is counted and left out). */
  section(name: 'process'): ProcessSection | ProcessWatchOff | undefined
  section(name: 'processes'): Readonly<Record<string, ProcessSection | ProcessWatchOff>> | undefined
  section(name: string): unknown {
    const provider = this.state!.sections.get(name)
    if (provider === undefined) return undefined
    try {
      return provider()
    } catch (err) {
      monitorInternals(this.monitor).reportInternalError(`section ${name}`, err)
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
