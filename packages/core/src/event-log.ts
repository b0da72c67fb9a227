import type { MonitorConfig } from './config.js'
import { coded } from './errors.js'
import {
  describeValue,
  errorText as errorTextImport,
  isFailure as isFailureImport,
} from './describe-value.js'
import type { PerfEvent, RecordOptions } from './event.js'
import type { OpStats } from './op-stats.js'
import { Redactor } from './redact.js'
import { EventRing, FLAG_ERROR, FLAG_SLOW, KeyShapes, MAX_FIELDS } from './ring-buffer.js'
import type { SinkQueue } from './sink-queue.js'

/**
 * The flags, the field cap and the functions a kept event calls, as this module's own constants: an
 * imported binding is a cell that optimised code loads and checks (not yet initialised? the same
 * function?) on every use, where a module-local `const` is folded in.
 */
const ERROR = FLAG_ERROR
const SLOW = FLAG_SLOW
const isFailure = isFailureImport
const errorText = errorTextImport
const FIELDS = MAX_FIELDS

/** Filter of `monitor.slowEvents`. */
export interface SlowEventsQuery {
  /** Only events at least this slow (default: each type's `slowMs`); failed events are included at any duration. */
  readonly thresholdMs?: number
  readonly type?: string
  readonly limit?: number
}

/**
 * The kept events of a monitor: the ring of recent ones and the slow log (slow or failed ones, kept
 * longer), both struct-of-arrays rings sharing one table of key shapes; `keep` writes an event into
 * them (and hands it to the event sinks), `recent`, `byType` and `slowEvents` read them back.
 */
export class EventLog {
  private readonly ring: EventRing
  private readonly slowLog: EventRing
  private readonly redactor: Redactor
  /** Key shapes of kept events' flat details, shared by both rings. */
  private readonly shapes: KeyShapes
  /** Scratch for one kept event's flat details, reused (cleared after each keep). */
  private readonly fieldValues: unknown[] = []
  private readonly fieldNumbers = new Float64Array(MAX_FIELDS)
  private seq = 0
  /** `seq` when the log was last cleared: the events kept since are `seq - clearedAt`. */
  private clearedAt = 0

  constructor(
    enabled: boolean,
    config: MonitorConfig,
    secretKey: RegExp,
    /** The monitor's ops by id (shared, it grows as ops are interned): a slot keeps an op's id. */
    private readonly ops: readonly OpStats[],
    private readonly pid: number,
    private readonly sinks: SinkQueue,
    private readonly reportInternalError: (source: string, error: unknown) => void,
  ) {
    this.redactor = new Redactor(secretKey, config.metadataMaxBytes)
    this.shapes = new KeyShapes(secretKey)
    this.ring = new EventRing(enabled ? config.bufferSize : 1, this.shapes)
    this.slowLog = new EventRing(enabled ? config.slowLogSize : 1, this.shapes)
  }

  /** Keeps one event (already counted in the op's stats): both rings as it deserves, and the event sinks. */
  keep(op: OpStats, durationMs: number, slow: boolean, opts: RecordOptions | undefined): true {
    // Not counted in `totals.kept` as well: the sequence numbers count kept events (keptSinceClear).
    const seq = ++this.seq
    const now = Date.now()
    const error = opts !== undefined && isFailure(opts.error) ? errorText(opts.error) : undefined
    // `=== true`: a bare test of a parameter is V8's full truthiness test (counted, Node 24: 6
    // instructions a kept event more).
    const flags = (error !== undefined ? ERROR : 0) | (slow === true ? SLOW : 0)
    const requestId = typeof opts?.requestId === 'string' ? opts.requestId.slice(0, 128) : undefined
    // Flat details (the adapters' own, and most apps') go into the rings' columns as redacted
    // primitives: no copy is made and nothing of the caller's is held. Others keep a sanitized copy.
    let metadata: Readonly<Record<string, unknown>> | undefined
    let shape = -1
    if (opts?.metadata !== undefined) {
      const raw = this.rawDetails(opts.metadata)
      shape = this.redactor.flatten(raw, this.shapes, this.fieldValues, this.fieldNumbers, FIELDS)
      if (shape < 0) metadata = this.redactor.sanitize(raw)
    }
    const ring = this.ring
    ring.push(
      seq,
      now,
      durationMs,
      op.id,
      flags,
      requestId,
      error,
      metadata,
      shape,
      this.fieldValues,
      this.fieldNumbers,
    )
    if (flags !== 0)
      this.slowLog.push(
        seq,
        now,
        durationMs,
        op.id,
        flags,
        requestId,
        error,
        metadata,
        shape,
        this.fieldValues,
        this.fieldNumbers,
      )
    if (this.sinks.eventSinks.length > 0)
      this.sinks.queue(this.event(op, now, durationMs, flags, requestId, error, ring.details(ring.slot(0))))
    // Hold no value of the caller's past this call: the fields this event's shape wrote (a loop over
    // them is cheaper than fill() over the whole scratch), or all of it after the copying path.
    if (opts?.metadata !== undefined) {
      const values = this.fieldValues
      const n = shape >= 0 ? this.shapes.keys[shape]!.length : values.length
      for (let f = 0; f < n; f++) values[f] = undefined
    }
    return true
  }

  /** The caller's details: the object, or what its getter returns (its failure reported, as details). */
  private rawDetails(raw: NonNullable<RecordOptions['metadata']>): unknown {
    if (typeof raw !== 'function') return raw
    try {
      return raw()
    } catch (err) {
      this.reportInternalError('metadata provider', err)
      return { '[metadata error]': errorText(err) }
    }
  }

  private event(
    op: OpStats,
    timestamp: number,
    durationMs: number,
    flags: number,
    requestId: string | undefined,
    error: string | undefined,
    metadata: Readonly<Record<string, unknown>> | undefined,
  ): PerfEvent {
    return {
      type: op.type,
      name: op.name,
      timestamp,
      durationMs,
      pid: this.pid,
      error: error ?? null,
      slow: (flags & FLAG_SLOW) !== 0,
      requestId: requestId ?? null,
      metadata: metadata ?? null,
    }
  }

  private read(ring: EventRing, slot: number): PerfEvent {
    return this.event(
      this.ops[ring.op[slot]!]!,
      ring.timestamp[slot]!,
      ring.duration[slot]!,
      ring.flags[slot]!,
      ring.requestId[slot],
      ring.error[slot],
      ring.details(slot),
    )
  }

  /** Kept events, newest first. */
  recent(n = 50): PerfEvent[] {
    const ring = this.ring
    const k = Math.min(listLength('recent(n): n', n), ring.size)
    const out: PerfEvent[] = new Array(k)
    for (let i = 0; i < k; i++) out[i] = this.read(ring, ring.slot(i))
    return out
  }

  /** Kept events of one type, newest first. */
  byType(type: string, n: number = Number.POSITIVE_INFINITY): PerfEvent[] {
    if (typeof type !== 'string')
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new TypeError(`byType(type, n): type must be a string, got ${describeValue(type)}`),
      )
    listLength('byType(type, n): n', n)
    const out: PerfEvent[] = []
    const ring = this.ring
    for (let i = 0; i < ring.size && out.length < n; i++) {
      const slot = ring.slot(i)
      if (this.ops[ring.op[slot]!]!.type === type) out.push(this.read(ring, slot))
    }
    return out
  }

  /** Slow and failed events of both rings (each once), newest first. */
  slowEvents(query: SlowEventsQuery = {}): PerfEvent[] {
    if (typeof query !== 'object' || query === null) {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(`slowEvents(query): query must be an object or undefined, got ${describeValue(query)}`),
      )
    }
    const { thresholdMs, type, limit = Number.POSITIVE_INFINITY } = query
    if (thresholdMs !== undefined && (typeof thresholdMs !== 'number' || !(thresholdMs >= 0))) {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(
          `slowEvents(query): query.thresholdMs = ${describeValue(thresholdMs)} is not valid: expected a number ≥ 0`,
        ),
      )
    }
    if (type !== undefined && typeof type !== 'string') {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(
          `slowEvents(query): query.type = ${describeValue(type)} is not valid: expected a string`,
        ),
      )
    }
    listLength('slowEvents(query): query.limit', limit)
    const picked: { seq: number; ring: EventRing; slot: number }[] = []
    const seen = new Set<number>()
    for (const ring of [this.slowLog, this.ring]) {
      for (let i = 0; i < ring.size; i++) {
        const slot = ring.slot(i)
        const seq = ring.seq[slot]!
        if (seen.has(seq)) continue
        const op = this.ops[ring.op[slot]!]!
        if (type !== undefined && op.type !== type) continue
        const failed = (ring.flags[slot]! & FLAG_ERROR) !== 0
        const slow =
          thresholdMs === undefined
            ? (ring.flags[slot]! & FLAG_SLOW) !== 0
            : ring.duration[slot]! >= thresholdMs
        if (!slow && !failed) continue
        seen.add(seq)
        picked.push({ seq, ring, slot })
      }
    }
    picked.sort((a, b) => b.seq - a.seq)
    const k = Math.min(picked.length, limit)
    const out: PerfEvent[] = new Array(k)
    for (let i = 0; i < k; i++) out[i] = this.read(picked[i]!.ring, picked[i]!.slot)
    return out
  }

  /** Events kept since the monitor started or was last cleared. */
  keptSinceClear(): number {
    return this.seq - this.clearedAt
  }

  /** Forgets every kept event. */
  clear(): void {
    this.clearedAt = this.seq
    this.ring.clear()
    this.slowLog.clear()
  }
}

/**
 * Checks how many items a read asks for: a whole number ≥ 0, or `Infinity` for all. Throws a
 * `TypeError` (not a number) or `RangeError` naming the call, the argument and the value.
 */
export function listLength(label: string, n: unknown): number {
  if (typeof n !== 'number') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`${label} = ${describeValue(n)} is not valid: expected an integer ≥ 0 or Infinity`),
    )
  }
  if (!(n >= 0) || (!Number.isInteger(n) && n !== Number.POSITIVE_INFINITY)) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(`${label} = ${n} is not valid: expected an integer ≥ 0 or Infinity`),
    )
  }
  return n
}
