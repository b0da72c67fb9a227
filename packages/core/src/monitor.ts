import { coded } from './errors.js'
import { describeValue } from './describe-value.js'
import { runtimeProcess } from './runtime.js'
import { Aggregate } from './aggregate.js'
import { checkRate, type MonitorConfig, type MonitorOptions, redactMatcher, resolveConfig } from './config.js'
import { type ContextStorage, createContextStorage, type RequestContext } from './context.js'
import type { PerfEvent, RecordOptions } from './event.js'
import { addHistograms, type SparseHistogram, sparseOf } from './histogram.js'
import { COUNT, ERRORS, FIELDS, MAX, MIN, OpStats, SLOW, STATUS, SUM } from './op-stats.js'
import { findSecret, Redactor, redactText } from './redact.js'
import { EventRing, FLAG_ERROR, FLAG_SLOW, KeyShapes, MAX_FIELDS } from './ring-buffer.js'
import type { OpAggregate, ProcessSample, Sink } from './sink.js'
import {
  SNAPSHOT_FIELDS,
  type Snapshot,
  type SnapshotOptions,
  type Stats,
  type Totals,
  type TypeSnapshot,
} from './snapshot.js'

/** Names longer than this are truncated when interned. */
export const MAX_NAME_LENGTH = 200
/**
 * Name of the op that collects a type's events past the cardinality cap (`maxOps`), and of the type
 * that collects the events of every type past `maxTypes`.
 */
export const OVERFLOW_NAME = '<overflow>'
/** Types longer than this are truncated. */
const MAX_TYPE_LENGTH = 64
const MAX_ERROR_LENGTH = 500

/** An interned op: records without looking its name up. */
export interface OpHandle {
  readonly type: string
  readonly name: string
  /** Records one event; returns whether its details were kept. */
  record(durationMs: number, opts?: RecordOptions): boolean
}

/** Filter of {@link Monitor.slowEvents}. */
export interface SlowEventsQuery {
  /** Only events at least this slow (default: each type's `slowMs`); failed events are included at any duration. */
  readonly thresholdMs?: number
  readonly type?: string
  readonly limit?: number
}

/** The monitor: see the package README. */
export interface Monitor {
  readonly enabled: boolean
  readonly closed: boolean
  readonly config: MonitorConfig
  /** Records one event. Returns whether its details were kept. Throws `TypeError` on programmer errors. */
  record(type: string, name: string, durationMs: number, opts?: RecordOptions): boolean
  /** Interns an op once, for a hot path that records without a name lookup. */
  op(type: string, name: string): OpHandle
  /** Starts a timer; the returned function records the event and returns its duration in ms. */
  start(type: string, name: string): (opts?: RecordOptions) => number
  /** Times a sync or async function; a throw or rejection is recorded as an error and rethrown. */
  time<T>(type: string, name: string, fn: () => T): T
  /** Adds `n` (default 1) to a plain counter. */
  count(type: string, name: string, n?: number): void
  /** A JSON-serialisable picture of the monitor. */
  snapshot(opts?: SnapshotOptions): Snapshot
  /** Kept events, newest first. */
  recent(n?: number): PerfEvent[]
  /** Kept events of one type, newest first. */
  byType(type: string, n?: number): PerfEvent[]
  /** Slow and failed events, newest first. */
  slowEvents(query?: SlowEventsQuery): PerfEvent[]
  /** Changes a type's sampling rate (0..1). */
  setSampling(type: string, rate: number): void
  /** Forgets all stats, events and counters. Interned handles stay valid. */
  clear(): void
  /** Adds a sink. */
  addSink(sink: Sink): void
  /** Hands queued events to the sinks now. */
  flush(): Promise<void>
  /** Stops timers, flushes and closes sinks. Idempotent. Later records are no-ops (counted). */
  close(): Promise<void>
  /**
   * Adds a section to every snapshot (e.g. `process` from `watchProcess`). The provider must be
   * cheap and must not throw; a throw is counted and the section left out.
   */
  setSection(name: string, provider: (() => unknown) | undefined): void
  /** Hands process-health samples to the sinks. */
  writeSamples(samples: readonly ProcessSample[]): void
  /** Counts a failure inside instrumentation (an adapter catching its own error). */
  reportInternalError(source: string, error: unknown): void
  /** Turns on request-scoped context (done by instrumentation that needs it, e.g. `@perf/sqlite`). */
  enableRequestContext(): boolean
  /** Whether request context is on; adapters skip it when off, so it costs nothing. */
  readonly requestContextEnabled: boolean
  /** Runs `fn` inside a request context (a plain call when context is off). */
  runInRequest<R>(ctx: RequestContext, fn: () => R): R
  /** Enters a request context for the rest of the current async execution. */
  enterRequest(ctx: RequestContext): void
  /** The current request's context, if any. */
  currentRequest(): RequestContext | undefined
}

class TypeState {
  readonly type: string
  /** Sampling rate as a threshold on a uniform 32-bit integer: keep when `rand < threshold`. */
  threshold = 0
  private rate = 0
  readonly slowMs: number
  readonly ops: Map<string, OpStats> = new Map()
  readonly list: OpStats[] = []
  overflow: OpStats | undefined
  folded = 0
  readonly counters: Map<string, number> = new Map()
  countersFolded = 0
  /** Whether this is the overflow type, where types past `maxTypes` go (counted in `totals.foldedTypes`). */
  foldsTypes = false

  get sampling(): number {
    return this.rate
  }

  set sampling(rate: number) {
    this.rate = rate
    this.threshold = rate >= 1 ? 0x100000000 : Math.floor(rate * 0x100000000)
  }

  constructor(type: string, config: MonitorConfig) {
    this.type = type
    // Own keys only: a type named `constructor` or `toString` must not read Object.prototype's.
    this.sampling = Object.hasOwn(config.sampling, type) ? config.sampling[type]! : config.sampling.default!
    this.slowMs = Object.hasOwn(config.slowMs, type) ? config.slowMs[type]! : config.slowMs.default!
  }
}

const NOOP_END = (): number => 0

/**
 * Live monitors feeding a sink with `flushOnExit`. Kept on `globalThis` under a registered symbol so
 * that two copies of this package in one process (a bundled dependency, dist next to source) share it.
 */
function exitMonitors(): Set<MonitorImpl> {
  const key = Symbol.for('@perf/core exit monitors')
  const g = globalThis as { [key]?: Set<MonitorImpl> }
  let set = g[key]
  if (set === undefined) g[key] = set = new Set()
  return set
}

/**
 * Flushes every live monitor that feeds a sink with `flushOnExit`, each within its
 * `sinkCloseTimeoutMs`. Called by `onShutdown`'s signal listener before any shutdown handler runs, so
 * the sinks' own handlers (a store closing its file) find the monitors' queues already handed over.
 * Internal to @perf/core.
 */
export async function flushMonitorsForExit(): Promise<void> {
  await Promise.all(
    [...exitMonitors()].map((m) => {
      // The slice in progress is ended now, so its aggregates reach the sinks before the process goes.
      m.endSlice()
      return m.flush()
    }),
  )
}

/** One kind of batch (events, aggregates or samples) on its way to one sink. */
class Lane<T> {
  /** Items waiting for the sink (at most `sinkMaxQueue`). */
  waiting: T[] = []
  /** Items in the call in flight; 0 when none is. */
  inFlight = 0
  /** Settles when the call in flight has. */
  settled: Promise<void> | undefined
  constructor(readonly hook: 'write' | 'writeAggregates' | 'writeSamples') {}
}

/** A sink and what is on its way to it. */
class SinkState {
  readonly events: Lane<PerfEvent> = new Lane('write')
  readonly aggregates: Lane<OpAggregate> = new Lane('writeAggregates')
  readonly samples: Lane<ProcessSample> = new Lane('writeSamples')
  constructor(readonly sink: Sink) {}
}

/**
 * Waits for `p` until `deadline` (ms since the epoch); returns whether `p` settled in time. The timer
 * is not unref'd: a `close()` waiting for a sink keeps the process up to its timeout, no longer.
 */
async function until(p: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

// xorshift32: sampling needs a fast uniform draw, not a cryptographic one, and Math.random()
// costs more than the rest of record() on some engines.
const seed = (): number => (Math.random() * 0xffffffff) >>> 0 || 0x9e3779b9

class MonitorImpl implements Monitor {
  readonly enabled: boolean
  closed = false
  readonly config: MonitorConfig
  private readonly redactor: Redactor
  private readonly secretKey: RegExp
  private readonly rejectPii: boolean
  private readonly slices: number
  private readonly types: Map<string, TypeState> = new Map()
  /** Types made so far (the overflow type not included), against `maxTypes`. */
  private typeCount = 0
  private readonly ops: OpStats[] = []
  private lastType = ''
  private lastState: TypeState | undefined
  /** Index of the current slice. */
  private cur = 0
  private readonly sliceStart: Float64Array
  /** Scratch for one op's window while a snapshot is built. */
  private readonly opWindow = new Aggregate()
  private readonly ring: EventRing
  private readonly slowLog: EventRing
  /** Key shapes of kept events' flat details, shared by both rings. */
  private readonly shapes: KeyShapes
  /** Scratch for one kept event's flat details, reused (cleared after each keep). */
  private readonly fieldValues: unknown[] = []
  private readonly fieldNumbers = new Float64Array(MAX_FIELDS)
  private seq = 0
  private readonly startedAt = Date.now()
  private readonly pid: number
  private readonly totals: Totals = {
    events: 0,
    kept: 0,
    sampledOut: 0,
    folded: 0,
    foldedTypes: 0,
    rejected: 0,
    droppedAfterClose: 0,
    sinkQueued: 0,
    sinkInFlight: 0,
    sinkDropped: 0,
    sinkAbandoned: 0,
    sinkErrors: 0,
    internalErrors: 0,
  }
  private readonly sinks: SinkState[] = []
  /** Sinks that take events: only they make a kept event worth building and queueing. */
  private readonly eventSinks: SinkState[] = []
  private closing: Promise<void> | undefined
  private sinkTimer: ReturnType<typeof setTimeout> | undefined
  private rotateTimer: ReturnType<typeof setInterval> | undefined
  private readonly sections: Map<string, () => unknown> = new Map()
  private storage: ContextStorage<RequestContext> | undefined
  private lastInternalError: string | undefined

  constructor(options: MonitorOptions) {
    this.config = resolveConfig(options)
    this.enabled = this.config.enabled
    this.secretKey = redactMatcher(options.redactKeys)
    this.redactor = new Redactor(this.secretKey, this.config.metadataMaxBytes)
    this.shapes = new KeyShapes(this.secretKey)
    this.rejectPii = this.config.pii === 'reject'
    this.slices = this.config.windowMs / this.config.sliceMs
    this.sliceStart = new Float64Array(this.slices)
    this.sliceStart[0] = this.startedAt
    this.pid = runtimeProcess()?.pid ?? 0
    this.ring = new EventRing(this.enabled ? this.config.bufferSize : 1, this.shapes)
    this.slowLog = new EventRing(this.enabled ? this.config.slowLogSize : 1, this.shapes)
    if (!this.enabled) return
    for (const sink of options.sinks ?? []) this.addSink(sink)
    this.rotateTimer = setInterval(() => this.rotate(), this.config.sliceMs)
    unref(this.rotateTimer)
  }

  get requestContextEnabled(): boolean {
    return this.storage !== undefined
  }

  record(type: string, name: string, durationMs: number, opts?: RecordOptions): boolean {
    if (!this.enabled || this.closed) return this.inactive()
    // Checked before anything is counted or interned: a rejected call leaves no trace but `rejected`.
    if (typeof durationMs !== 'number' || !(durationMs >= 0) || durationMs === Number.POSITIVE_INFINITY) {
      throw this.badDuration('record', type, name, durationMs)
    }
    if (opts !== undefined && (typeof opts !== 'object' || opts === null))
      throw this.badOptions('record', opts)
    const state = type === this.lastType && this.lastState !== undefined ? this.lastState : this.state(type)
    let op = state.ops.get(name)
    if (op === undefined) {
      op = this.intern(state, name)
      if (op === state.overflow) this.fold(state)
    }
    if (state.foldsTypes) this.totals.foldedTypes++
    return this.recordOp(state, op, durationMs, opts)
  }

  op(type: string, name: string): OpHandle {
    if (!this.enabled) return { type, name, record: () => false }
    const state = this.state(type)
    const op = state.ops.get(name) ?? this.intern(state, name)
    return new Handle(this, state, op, op === state.overflow || state.foldsTypes)
  }

  /** The record path of an interned handle (see {@link Handle}). */
  recordHandle(h: Handle, durationMs: number, opts: RecordOptions | undefined): boolean {
    if (this.closed) return this.inactive()
    if (typeof durationMs !== 'number' || !(durationMs >= 0) || durationMs === Number.POSITIVE_INFINITY) {
      throw this.badDuration('handle.record', h.type, h.name, durationMs)
    }
    if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
      throw this.badOptions('handle.record', opts)
    }
    if (h.folded) {
      if (h.op === h.state.overflow) this.fold(h.state)
      if (h.state.foldsTypes) this.totals.foldedTypes++
    }
    return this.recordOp(h.state, h.op, durationMs, opts)
  }

  start(type: string, name: string): (opts?: RecordOptions) => number {
    if (!this.enabled) return NOOP_END
    const handle = this.op(type, name)
    const t0 = performance.now()
    let done = false
    return (opts?: RecordOptions): number => {
      const ms = performance.now() - t0
      if (done) return ms
      done = true
      handle.record(ms, opts)
      return ms
    }
  }

  time<T>(type: string, name: string, fn: () => T): T {
    if (typeof fn !== 'function')
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new TypeError(`time(type, name, fn): fn must be a function, got ${typeof fn}`),
      )
    if (!this.enabled) return fn()
    const end = this.start(type, name)
    let result: T
    try {
      result = fn()
    } catch (err) {
      end({ error: err })
      throw err
    }
    if (result !== null && typeof (result as { then?: unknown })?.then === 'function') {
      return (result as unknown as PromiseLike<unknown>).then(
        (v) => {
          end()
          return v
        },
        (err) => {
          end({ error: err })
          throw err
        },
      ) as T
    }
    end()
    return result
  }

  count(type: string, name: string, n = 1): void {
    if (!this.enabled || this.closed) return
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.totals.rejected++
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new TypeError(`count(type, name, n): n must be a finite number, got ${describeValue(n)}`),
      )
    }
    const state = this.state(type)
    let key = this.checkName(name)
    let prev = state.counters.get(key)
    const folded = prev === undefined && state.counters.size >= this.config.maxOps
    if (folded) {
      key = OVERFLOW_NAME
      prev = state.counters.get(key)
    }
    const next = (prev ?? 0) + n
    if (!Number.isFinite(next)) {
      // A sum past ±1.8e308 would be Infinity, which JSON writes as null: refused, like a bad n.
      this.totals.rejected++
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new RangeError(
          `count(${describeValue(type)}, ${describeValue(name)}, n): adding ${n} to ${prev} would leave the finite numbers (±${Number.MAX_VALUE}); the counter keeps ${prev}`,
        ),
      )
    }
    if (folded) {
      state.countersFolded++
      this.totals.folded++
    }
    if (state.foldsTypes) this.totals.foldedTypes++
    state.counters.set(key, next)
  }

  private fold(state: TypeState): void {
    state.folded++
    this.totals.folded++
  }

  /** xorshift32 state (per monitor: a field is cheaper to reach than a module variable). */
  private rng = seed()

  private nextRandom(): number {
    let x = this.rng
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rng = x
    return x >>> 0
  }

  private inactive(): false {
    if (this.closed) this.totals.droppedAfterClose++
    return false
  }

  private state(type: string): TypeState {
    let state = this.types.get(type)
    if (state === undefined) {
      if (typeof type !== 'string' || type.length === 0) {
        this.totals.rejected++
        throw coded(
          'PERF_INVALID_ARGUMENT',
          new TypeError(
            `record: type must be a non-empty string, got ${type === '' ? 'an empty string' : describeValue(type)}`,
          ),
        )
      }
      // A long type is looked up by its truncated name each time rather than filed under its full
      // one too: distinct long types sharing a prefix would otherwise grow the map without bound.
      if (type.length > MAX_TYPE_LENGTH) state = this.types.get(type.slice(0, MAX_TYPE_LENGTH))
      if (state === undefined) state = this.newType(type.slice(0, MAX_TYPE_LENGTH))
    }
    this.lastType = type
    this.lastState = state
    return state
  }

  /** A new type's state, or past `maxTypes` the one overflow type that every further type shares. */
  private newType(type: string): TypeState {
    if (this.typeCount >= this.config.maxTypes) {
      let overflow = this.types.get(OVERFLOW_NAME)
      if (overflow === undefined) {
        overflow = new TypeState(OVERFLOW_NAME, this.config)
        this.types.set(OVERFLOW_NAME, overflow)
      }
      overflow.foldsTypes = true
      return overflow
    }
    const state = new TypeState(type, this.config)
    this.types.set(type, state)
    this.typeCount++
    return state
  }

  private checkName(name: string): string {
    if (typeof name !== 'string' || name.length === 0) {
      this.totals.rejected++
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new TypeError(
          `record: name must be a non-empty string, got ${name === '' ? 'an empty string' : describeValue(name)}`,
        ),
      )
    }
    return name.length > MAX_NAME_LENGTH ? name.slice(0, MAX_NAME_LENGTH) : name
  }

  private intern(state: TypeState, name: string): OpStats {
    const key = this.checkName(name)
    let op = state.ops.get(key)
    if (op !== undefined) return op
    if (state.list.length >= this.config.maxOps) {
      // Past the cap, new names share one op; the count of folded events says how much.
      if (state.overflow === undefined) state.overflow = this.newOp(state, OVERFLOW_NAME)
      return state.overflow
    }
    op = this.newOp(state, key)
    state.ops.set(key, op)
    state.list.push(op)
    return op
  }

  private newOp(state: TypeState, name: string): OpStats {
    const op = new OpStats(this.ops.length, state.type, name, this.slices)
    this.ops.push(op)
    return op
  }

  /** Records a checked event (see `record` and `recordHandle`). */
  private recordOp(
    state: TypeState,
    op: OpStats,
    durationMs: number,
    opts: RecordOptions | undefined,
  ): boolean {
    if (this.rejectPii && opts?.metadata !== undefined) this.checkPii(state, op, opts.metadata)
    this.totals.events++
    const slow = durationMs >= state.slowMs
    op.add(this.cur, durationMs, slow)
    if (opts === undefined) {
      // Not kept: nothing else to do (sampledOut is derived as events - kept).
      return slow || this.nextRandom() < state.threshold
        ? this.keep(op, durationMs, slow, undefined, undefined)
        : false
    }
    return this.recordOutcome(state, op, durationMs, slow, opts)
  }

  private recordOutcome(
    state: TypeState,
    op: OpStats,
    durationMs: number,
    slow: boolean,
    opts: RecordOptions,
  ) {
    const err = opts.error
    const failed = err !== undefined && err !== null && err !== false
    op.addOutcome(this.cur, failed, opts.status ?? 0)
    if (failed || slow || opts.force === true || this.nextRandom() < state.threshold) {
      return this.keep(op, durationMs, slow, failed ? errorText(err) : undefined, opts)
    }
    return false
  }

  /** `pii: 'reject'`: a secret or personal datum in metadata is a programmer error, thrown before counting. */
  private checkPii(state: TypeState, op: OpStats, metadata: NonNullable<RecordOptions['metadata']>): void {
    const value = typeof metadata === 'function' ? metadata() : metadata
    const path = findSecret(value, this.secretKey)
    if (path === undefined) return
    this.totals.rejected++
    throw coded(
      'PERF_PII_REJECTED',
      new TypeError(
        `record: ${path} looks like a secret or personal datum (for ${state.type} ${op.name}), and this monitor has pii: 'reject'; ` +
          "remove it, or use pii: 'redact' to store it as [REDACTED]",
      ),
    )
  }

  private badDuration(call: string, type: unknown, name: unknown, durationMs: unknown): TypeError {
    this.totals.rejected++
    return new TypeError(
      `${call}: durationMs must be a finite number ≥ 0, got ${describeValue(durationMs)} (for ${describeValue(type)} ${describeValue(name)})`,
    )
  }

  private badOptions(call: string, opts: unknown): TypeError {
    this.totals.rejected++
    return new TypeError(`${call}: opts must be an object or undefined, got ${describeValue(opts)}`)
  }

  private keep(
    op: OpStats,
    durationMs: number,
    slow: boolean,
    error: string | undefined,
    opts: RecordOptions | undefined,
  ): true {
    this.totals.kept++
    const seq = ++this.seq
    const now = Date.now()
    const flags = (error !== undefined ? FLAG_ERROR : 0) | (slow ? FLAG_SLOW : 0)
    const requestId = typeof opts?.requestId === 'string' ? opts.requestId.slice(0, 128) : undefined
    // Flat details (the adapters' own, and most apps') go into the rings' columns as redacted
    // primitives: no copy is made and nothing of the caller's is held. Others keep a sanitized copy.
    let metadata: Readonly<Record<string, unknown>> | undefined
    let shape = -1
    if (opts?.metadata !== undefined) {
      const raw = this.rawDetails(opts.metadata)
      shape = this.redactor.flatten(raw, this.shapes, this.fieldValues, this.fieldNumbers, MAX_FIELDS)
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
    if (this.eventSinks.length > 0)
      this.queue(this.event(op, now, durationMs, flags, requestId, error, ring.details(ring.slot(0))))
    // Hold no value of the caller's past this call.
    if (opts?.metadata !== undefined) this.fieldValues.fill(undefined)
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

  private queue(event: PerfEvent): void {
    const max = this.config.sinkMaxQueue
    for (const state of this.eventSinks) {
      const lane = state.events
      if (lane.waiting.length < max) lane.waiting.push(event)
      else this.totals.sinkDropped++
    }
    if (this.sinkTimer === undefined) this.scheduleEvents()
  }

  private scheduleEvents(): void {
    this.sinkTimer = setTimeout(() => {
      this.sinkTimer = undefined
      for (const state of this.eventSinks) this.send(state, state.events)
    }, this.config.sinkIntervalMs)
    unref(this.sinkTimer)
  }

  /** Queues aggregates or samples for every sink that takes them, and hands them over at once. */
  private offer<T>(kind: 'aggregates' | 'samples', items: readonly T[]): void {
    const max = this.config.sinkMaxQueue
    for (const state of this.sinks) {
      const lane = state[kind] as unknown as Lane<T>
      if (typeof state.sink[lane.hook] !== 'function') continue
      const room = Math.max(0, max - lane.waiting.length)
      if (items.length > room) this.totals.sinkDropped += items.length - room
      for (let i = 0; i < items.length && i < room; i++) lane.waiting.push(items[i]!)
      this.send(state, lane)
    }
  }

  /**
   * Hands a lane's waiting items to its sink, unless the sink's previous call of that hook has not
   * settled: one call in flight per sink and hook, so a slow sink gets bigger batches, not more
   * concurrent calls, and what waits for it is bounded by `sinkMaxQueue`.
   */
  private send<T>(state: SinkState, lane: Lane<T>): void {
    if (lane.inFlight > 0 || lane.waiting.length === 0) return
    const batch = lane.waiting
    lane.waiting = []
    const sink = state.sink
    let result: unknown
    try {
      result = (sink[lane.hook] as (items: readonly T[]) => unknown).call(sink, batch)
    } catch (err) {
      this.sinkFailed(sink, lane.hook, err)
      return
    }
    // A synchronous sink is done now; only a returned promise makes a call in flight.
    if (result === null || typeof (result as { then?: unknown } | undefined)?.then !== 'function') return
    lane.inFlight = batch.length
    lane.settled = Promise.resolve(result as PromiseLike<unknown>).then(
      () => this.settle(state, lane),
      (err: unknown) => {
        this.sinkFailed(sink, lane.hook, err)
        this.settle(state, lane)
      },
    )
  }

  private settle<T>(state: SinkState, lane: Lane<T>): void {
    lane.inFlight = 0
    lane.settled = undefined
    if (lane.waiting.length === 0 || this.closed) return
    // Events keep their interval (batching is the point); aggregates and samples go at once.
    if ((lane as Lane<unknown>) !== state.events) this.send(state, lane)
    else if (this.sinkTimer === undefined) this.scheduleEvents()
  }

  /** Waits until no call of `state`'s sink is in flight and nothing waits for it, or until `deadline`. */
  private async drainSink(state: SinkState, deadline: number): Promise<void> {
    const lanes: Lane<unknown>[] = [state.events, state.aggregates, state.samples]
    await Promise.all(
      lanes.map(async (lane) => {
        for (;;) {
          if (lane.settled !== undefined && !(await until(lane.settled, deadline))) return
          if (lane.waiting.length === 0 || typeof state.sink[lane.hook] !== 'function') return
          this.send(state, lane)
        }
      }),
    )
  }

  private sinkFailed(sink: Sink, hook: string, err: unknown): void {
    this.totals.sinkErrors++
    this.lastInternalError = `sink ${sink.name ?? '?'} ${hook}: ${errorText(err)}`
  }

  private async callSink(sink: Sink, hook: 'flush' | 'close'): Promise<void> {
    const fn = sink[hook] as (() => unknown) | undefined
    if (typeof fn !== 'function') return
    try {
      await fn.call(sink)
    } catch (err) {
      this.sinkFailed(sink, hook, err)
    }
  }

  /** Moves to the next slice: the completed one folds into all-time totals and goes to sinks. */
  private rotate(): void {
    const done = this.cur
    const next = done + 1 === this.slices ? 0 : done + 1
    const end = Date.now()
    const wantAggregates = this.sinks.some((s) => typeof s.sink.writeAggregates === 'function')
    const aggregates: OpAggregate[] = []
    const release = this.config.release
    for (const op of this.ops) {
      if (wantAggregates && op.scalars[done * FIELDS + COUNT]! > 0) {
        const s = op.scalars
        const b = done * FIELDS
        aggregates.push({
          type: op.type,
          name: op.name,
          start: this.sliceStart[done]!,
          end,
          count: s[b + COUNT]!,
          errors: s[b + ERRORS]!,
          slow: s[b + SLOW]!,
          sumMs: s[b + SUM]!,
          minMs: s[b + MIN]!,
          maxMs: s[b + MAX]!,
          histogram: sparseOf(op.counts, done * op.width, (done + 1) * op.width, op.lo - done * op.width),
          ...(release === undefined ? {} : { release }),
        })
      }
      op.retire(done)
      op.clearSlice(next)
    }
    this.sliceStart[next] = end
    this.cur = next
    if (aggregates.length > 0) this.offer('aggregates', aggregates)
  }

  /** Live state for {@link monitorState}: a few references, no copies. */
  liveState(): MonitorState {
    return {
      enabled: this.enabled,
      current: this.cur,
      totals: this.totalsNow(),
      types: this.types,
      sections: this.sections,
    }
  }

  snapshot(opts: SnapshotOptions = {}): Snapshot {
    if (typeof opts !== 'object' || opts === null) {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(`snapshot(opts): opts must be an object or undefined, got ${describeValue(opts)}`),
      )
    }
    const recentN = listLength('snapshot(opts): opts.recent', opts.recent ?? 50)
    const slowN = listLength('snapshot(opts): opts.slow', opts.slow ?? 50)
    if (opts.histograms !== undefined && typeof opts.histograms !== 'boolean') {
      throw coded(
        'PERF_INVALID_OPTION',
        new TypeError(
          `snapshot(opts): opts.histograms = ${describeValue(opts.histograms)} is not valid: expected true or false`,
        ),
      )
    }
    const now = Date.now()
    const base = {
      enabled: this.enabled,
      pid: this.pid,
      startedAt: this.startedAt,
      timestamp: now,
      uptimeMs: now - this.startedAt,
      config: this.config,
    }
    if (!this.enabled) {
      return {
        ...base,
        window: { ms: 0, sliceMs: 0, fromMs: now },
        totals: this.totalsNow(),
        types: {},
        counters: {},
        recent: [],
        slow: [],
      }
    }
    const histograms = opts.histograms === true
    // Null-prototype maps: type and counter names are the app's (or a request's) strings, and a
    // type named `__proto__` must be a key, not the object's prototype.
    const types = dict<TypeSnapshot>()
    const counters = dict<Record<string, number>>()
    for (const [key, state] of this.types) {
      if (key !== state.type) continue
      const ops = state.overflow ? [...state.list, state.overflow] : state.list
      const typeAgg = new Aggregate()
      const opSnaps = ops.map((op) => this.opSnapshot(op, typeAgg, histograms))
      types[state.type] = {
        ...typeAgg.stats(),
        sampling: state.sampling,
        slowMs: state.slowMs,
        foldedEvents: state.folded,
        ops: opSnaps,
      }
      if (state.counters.size > 0) {
        const names = dict<number>()
        for (const [name, n] of state.counters) names[name] = n
        counters[state.type] = names
      }
    }
    const snap: Snapshot = {
      ...base,
      window: { ms: this.config.windowMs, sliceMs: this.config.sliceMs, fromMs: this.windowFrom(now) },
      totals: this.totalsNow(),
      types,
      counters,
      recent: this.recent(recentN),
      slow: this.slowEvents({ limit: slowN }),
    }
    if (this.lastInternalError !== undefined) snap.lastInternalError = this.lastInternalError
    for (const [name, provider] of this.sections) {
      try {
        Object.defineProperty(snap, name, {
          value: provider(),
          enumerable: true,
          writable: true,
          configurable: true,
        })
      } catch (err) {
        this.reportInternalError(`section ${name}`, err)
      }
    }
    return snap
  }

  private totalsNow(): Totals {
    let queued = 0
    let inFlight = 0
    for (const state of this.sinks) {
      for (const lane of [state.events, state.aggregates, state.samples] as Lane<unknown>[]) {
        queued += lane.waiting.length
        inFlight += lane.inFlight
      }
    }
    return {
      ...this.totals,
      sampledOut: this.totals.events - this.totals.kept,
      sinkQueued: queued,
      sinkInFlight: inFlight,
    }
  }

  private windowFrom(now: number): number {
    let from = now
    for (let k = 0; k < this.slices; k++) {
      const t = this.sliceStart[k]!
      if (t > 0 && t < from) from = t
    }
    return from
  }

  private opSnapshot(op: OpStats, typeAgg: Aggregate, histograms: boolean): Stats {
    // One aggregate reused for every op: a snapshot of thousands of ops allocates no histogram per op.
    const window = this.opWindow
    window.reset()
    const w = op.width
    for (let k = 0; k < this.slices; k++)
      window.addRow(op.scalars, k * FIELDS, op.counts, k * w, (k + 1) * w, op.lo - k * w)
    typeAgg.merge(window)
    // All-time figures are the retired totals plus the current slice (not yet retired).
    const t = op.total
    const c = op.scalars
    const cr = this.cur * FIELDS
    const snap: Stats = {
      type: op.type,
      name: op.name,
      ...window.stats(),
      totalCount: t.count + c[cr + COUNT]!,
      totalErrors: t.errors + c[cr + ERRORS]!,
      totalSumMs: t.sum + c[cr + SUM]!,
    }
    // The current slice is in the window, so a status in it makes `window.status` defined.
    if (window.status !== undefined || t.status !== undefined) {
      snap.status = window.statusClasses() ?? statusClasses([0, 0, 0, 0, 0])
      const total = [0, 0, 0, 0, 0]
      for (let k = 0; k < 5; k++) total[k] = t.statusAt(k) + c[cr + STATUS + k]!
      snap.totalStatus = statusClasses(total)
    }
    if (histograms) {
      snap.histogram = window.histogramJSON()
      snap.totalHistogram = this.totalHistogram(op)
    }
    return snap
  }

  private totalHistogram(op: OpStats): SparseHistogram {
    // All-time: the retired slices' totals plus the current slice, not yet retired.
    const total = op.total.histogram
    return addHistograms({ offset: total.lo, counts: total.counts }, op.row(this.cur))
  }

  recent(n = 50): PerfEvent[] {
    const ring = this.ring
    const k = Math.min(listLength('recent(n): n', n), ring.size)
    const out: PerfEvent[] = new Array(k)
    for (let i = 0; i < k; i++) out[i] = this.read(ring, ring.slot(i))
    return out
  }

  byType(type: string, n = Number.POSITIVE_INFINITY): PerfEvent[] {
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

  setSampling(type: string, rate: number): void {
    checkRate(`setSampling(${JSON.stringify(type)}, rate): rate`, rate)
    if (!this.enabled) return
    this.state(type).sampling = rate
  }

  clear(): void {
    for (const op of this.ops) op.reset()
    for (const state of this.types.values()) {
      state.folded = 0
      state.counters.clear()
      state.countersFolded = 0
    }
    this.ring.clear()
    this.slowLog.clear()
    for (const key of Object.keys(this.totals) as (keyof Totals)[]) this.totals[key] = 0
  }

  addSink(sink: Sink): void {
    if (sink === null || typeof sink !== 'object')
      throw coded('PERF_INVALID_ARGUMENT', new TypeError('addSink(sink): sink must be an object'))
    if (!this.enabled) return
    const state = new SinkState(sink)
    this.sinks.push(state)
    // A sink that asks to be flushed on exit gets what this monitor still queues for it, whatever
    // order the sink, the monitor and their shutdown handlers were created in.
    if (sink.flushOnExit === true) exitMonitors().add(this)
    if (typeof sink.write === 'function') this.eventSinks.push(state)
  }

  async flush(): Promise<void> {
    if (this.sinkTimer !== undefined) {
      clearTimeout(this.sinkTimer)
      this.sinkTimer = undefined
    }
    const deadline = Date.now() + this.config.sinkCloseTimeoutMs
    await Promise.all(this.sinks.map((s) => this.drainSink(s, deadline)))
    await Promise.all(this.sinks.map((s) => until(this.callSink(s.sink, 'flush'), deadline)))
    // What a sink still busy left waiting goes on the interval, once that sink settles.
    if (
      !this.closed &&
      this.sinkTimer === undefined &&
      this.eventSinks.some((s) => s.events.waiting.length > 0)
    ) {
      this.scheduleEvents()
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  /**
   * Ends the slice in progress early, as the rotate timer would: it folds into the all-time totals
   * and its aggregates go to the sinks. For close and exit, where waiting for the timer would lose up
   * to a slice of aggregates; the window is then short of that part-slice until it rotates out.
   */
  endSlice(): void {
    if (!this.enabled || this.closed) return
    this.rotate()
  }

  private async shutDown(): Promise<void> {
    this.endSlice()
    this.closed = true
    exitMonitors().delete(this)
    if (this.rotateTimer !== undefined) clearInterval(this.rotateTimer)
    if (this.sinkTimer !== undefined) clearTimeout(this.sinkTimer)
    this.sinkTimer = undefined
    // One deadline for the whole close: a sink that never settles must not hold the process.
    const deadline = Date.now() + this.config.sinkCloseTimeoutMs
    await Promise.all(this.sinks.map((s) => this.drainSink(s, deadline)))
    for (const state of this.sinks) {
      let left = 0
      for (const lane of [state.events, state.aggregates, state.samples] as Lane<unknown>[]) {
        left += lane.inFlight + lane.waiting.length
        lane.waiting = []
      }
      if (left > 0) {
        this.totals.sinkAbandoned += left
        this.lastInternalError = `sink ${state.sink.name ?? '?'}: close() abandoned ${left} items still in flight or waiting after ${this.config.sinkCloseTimeoutMs} ms`
      }
    }
    await Promise.all(this.sinks.map((s) => until(this.callSink(s.sink, 'flush'), deadline)))
    await Promise.all(this.sinks.map((s) => until(this.callSink(s.sink, 'close'), deadline)))
  }

  setSection(name: string, provider: (() => unknown) | undefined): void {
    if (typeof name !== 'string' || name.length === 0 || SNAPSHOT_FIELDS.has(name)) {
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new TypeError(
          `setSection(name, provider): name must be a non-empty string other than a snapshot field (${[...SNAPSHOT_FIELDS].join(', ')}), got ${describeValue(name)}`,
        ),
      )
    }
    if (provider !== undefined && typeof provider !== 'function') {
      throw coded(
        'PERF_INVALID_ARGUMENT',
        new TypeError(
          `setSection(${JSON.stringify(name)}, provider): provider must be a function or undefined`,
        ),
      )
    }
    if (provider === undefined) this.sections.delete(name)
    else this.sections.set(name, provider)
  }

  writeSamples(samples: readonly ProcessSample[]): void {
    if (!this.enabled || this.closed) return
    this.offer('samples', samples)
  }

  reportInternalError(source: string, error: unknown): void {
    this.totals.internalErrors++
    this.lastInternalError = `${source}: ${errorText(error)}`
  }

  enableRequestContext(): boolean {
    if (this.enabled && this.storage === undefined) this.storage = createContextStorage<RequestContext>()
    return this.storage !== undefined
  }

  runInRequest<R>(ctx: RequestContext, fn: () => R): R {
    return this.storage === undefined ? fn() : this.storage.run(ctx, fn)
  }

  enterRequest(ctx: RequestContext): void {
    this.storage?.enterWith(ctx)
  }

  currentRequest(): RequestContext | undefined {
    return this.storage?.getStore()
  }
}

function statusClasses(s: ArrayLike<number>): Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number> {
  return { '1xx': s[0]!, '2xx': s[1]!, '3xx': s[2]!, '4xx': s[3]!, '5xx': s[4]! }
}

function errorText(err: unknown): string {
  let text: string
  if (err === true) text = 'error'
  else if (typeof err === 'string') text = err
  else if (err instanceof Error) text = err.message ? `${err.name}: ${err.message}` : err.name
  else {
    try {
      text = String(err)
    } catch {
      text = 'error'
    }
  }
  // An error message can carry what metadata keys would have hidden: a URL's password, a bearer token.
  return redactText(text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text)
}

/** A null-prototype object: a map whose keys can be any name without reaching `Object.prototype`. */
function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}

/**
 * Checks how many items a read asks for: a whole number ≥ 0, or `Infinity` for all. Throws a
 * `TypeError` (not a number) or `RangeError` naming the call, the argument and the value.
 */
function listLength(label: string, n: unknown): number {
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

function unref(timer: unknown): void {
  const t = timer as { unref?: () => void }
  if (typeof t?.unref === 'function') t.unref()
}

/**
 * An interned op. One class for every handle keeps the call site `handle.record(ms)` monomorphic, so
 * the engine can inline it into the caller's hot loop.
 */
class Handle implements OpHandle {
  readonly type: string
  readonly name: string
  constructor(
    private readonly monitor: MonitorImpl,
    readonly state: TypeState,
    readonly op: OpStats,
    readonly folded: boolean,
  ) {
    this.type = op.type
    this.name = op.name
  }

  record(durationMs: number, opts?: RecordOptions): boolean {
    return this.monitor.recordHandle(this, durationMs, opts)
  }
}

/**
 * Creates a monitor. Options are validated (a bad one throws a `TypeError`/`RangeError` naming it and
 * the accepted range); combine with {@link configFromEnv} to take `PERF_*` variables.
 */
export function createMonitor(options: MonitorOptions = {}): Monitor {
  return new MonitorImpl(options)
}

/** The live parts of a type a renderer reads (see {@link MonitorState}). */
export interface LiveType {
  readonly type: string
  /** Ops in interning order; `overflow` (the cardinality cap's op) comes after them in a snapshot. */
  readonly list: readonly OpStats[]
  readonly overflow: OpStats | undefined
  readonly counters: ReadonlyMap<string, number>
}

/**
 * A monitor's live state, read-only, for a renderer that must not build a snapshot (the `/metrics`
 * scrape). Internal to @perf/core: the shapes are the monitor's own and change with it.
 */
export interface MonitorState {
  readonly enabled: boolean
  /** Slice being recorded into: all-time figures are the op's totals plus this slice. */
  readonly current: number
  /** The same object a snapshot's `totals` would be. */
  readonly totals: Totals
  /** Types by the name they were asked for; a truncated alias maps to its type (skip `key !== type`). */
  readonly types: ReadonlyMap<string, LiveType>
  readonly sections: ReadonlyMap<string, () => unknown>
}

/**
 * `monitor`'s live state when its `snapshot()` is the monitor's own, else `undefined`: a view that
 * replaces `snapshot()` (the cluster-wide view of `shareCluster`, a user's wrapper) must be rendered
 * from its snapshots, so that `/metrics` shows what `snapshot()` shows.
 */
export function monitorState(monitor: Monitor): MonitorState | undefined {
  return monitor instanceof MonitorImpl && monitor.snapshot === MonitorImpl.prototype.snapshot
    ? monitor.liveState()
    : undefined
}
