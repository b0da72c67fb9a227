import { Aggregate } from './aggregate.js'
import { checkRate, type MonitorConfig, type MonitorOptions, redactMatcher, resolveConfig } from './config.js'
import { type ContextStorage, createContextStorage, type RequestContext } from './context.js'
import { describeValue, errorText, isFailure as isFailureImport } from './describe-value.js'
import { coded } from './errors.js'
import type { PerfEvent, RecordOptions } from './event.js'
import { EventLog, listLength, type SlowEventsQuery } from './event-log.js'
import { type HeapDeltas, newHeapDeltas, OpStats } from './op-stats.js'
import { findSecret } from './redact.js'
import { now as nowImport, runtimeProcess } from './runtime.js'
import type { OpAggregate, ProcessSample, Sink } from './sink.js'
import { SinkQueue, unref } from './sink-queue.js'
import {
  type RequestMemoryStats,
  SNAPSHOT_FIELDS,
  type Snapshot,
  type SnapshotOptions,
  type Stats,
  type CountedTotals,
  type Totals,
  type TypeSnapshot,
} from './snapshot.js'

export type { SlowEventsQuery } from './event-log.js'

/** Names longer than this are truncated when interned. */
export const MAX_NAME_LENGTH = 200
/**
 * Name of the op that collects a type's events past the cardinality cap (`maxOps`), and of the type
 * that collects the events of every type past `maxTypes`.
 */
export const OVERFLOW_NAME = '<overflow>'
/** Types longer than this are truncated. */
const MAX_TYPE_LENGTH = 64

// The imported functions a record (isFailure) and the timers (now) call, as module consts: optimised
// code reads an import through its module cell and checks the callee before every call, where a
// const's callee is folded in.
const isFailure = isFailureImport
const now = nowImport

/** An interned op: records without looking its name up. */
export interface OpHandle {
  readonly type: string
  readonly name: string
  /** Records one event; returns whether its details were kept. */
  record(durationMs: number, opts?: RecordOptions): boolean
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
}

/**
 * The plumbing of a monitor, for code that instruments on its behalf (HTTP adapters, `@perf/sqlite`,
 * `watchProcess`, `shareCluster`) rather than for the app: request context, snapshot sections, process
 * samples and internal-error reports. Every monitor from `createMonitor` (and every view of one, such as
 * `shareCluster`'s) has these members; reach them with `monitorInternals(monitor)` from
 * `@perf/core/http`. Kept out of {@link Monitor} so that the type an app sees is only what an app calls.
 */
export interface MonitorInternals {
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

/**
 * `monitor` with its {@link MonitorInternals} typed: the same object, no copy and no check, so an
 * adapter calls it once at setup and keeps the result. `monitor` must be a monitor from
 * `createMonitor` or a view of one (every such object has the members at run time).
 */
export function monitorInternals(monitor: Monitor): Monitor & MonitorInternals {
  return monitor as Monitor & MonitorInternals
}

class TypeState {
  readonly type: string
  /**
   * Sampling rate as a threshold on a uniform 30-bit integer: keep when `rand <= threshold`, from -1
   * (keep none) to 2^30 - 1 (keep all). Every value is a small integer on every V8 (31-bit Smis with
   * pointer compression), so the draw is one integer comparison; against a 32-bit threshold
   * (2^32 for "all") V8 converted both sides to floating point on every record.
   */
  threshold = -1
  private rate = 0
  readonly slowMs: number
  /**
   * Ops by name, in a prototype-less object rather than a Map: a keyed load finds an internalized
   * name in the object's dictionary without the call into the Map's lookup (record by name, 100
   * names in turn, Node 20: 26.3 → 22.7–23.3 ns in a scratch driver, 33.7 → 23.2 in
   * bench/core.mjs together with the record path's inlining fixes).
   */
  readonly ops: Record<string, OpStats | undefined> = Object.create(null)
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
    this.threshold = rate >= 1 ? 0x3fffffff : Math.floor(rate * 0x40000000) - 1
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

// xorshift32: sampling needs a fast uniform draw, not a cryptographic one, and Math.random()
// costs more than the rest of record() on some engines. The state is kept as a signed 32-bit
// integer (`| 0`): a seed of 2^31 or more would make `rng` a boxed double field for good, a load,
// a conversion and a store more on every record of half the processes.
const seed = (): number => (Math.random() * 0xffffffff) | 0 || 0x9e3779b9 | 0

class MonitorImpl implements Monitor, MonitorInternals {
  readonly enabled: boolean
  closed = false
  /** Disabled or closed: what record() tests first, in one field. */
  private idle: boolean
  readonly config: MonitorConfig
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
  private readonly startedAt = Date.now()
  private readonly pid: number
  /** What is counted as it happens; totalsNow derives the rest. */
  private readonly totals: CountedTotals = {
    folded: 0,
    foldedTypes: 0,
    rejected: 0,
    droppedAfterClose: 0,
    sinkDropped: 0,
    sinkAbandoned: 0,
    sinkErrors: 0,
    internalErrors: 0,
  }
  /** The sinks and what is on its way to them. */
  private readonly sinks: SinkQueue
  /** Kept events: the recent ring and the slow log. */
  private readonly log: EventLog
  private closing: Promise<void> | undefined
  private rotateTimer: ReturnType<typeof setInterval> | undefined
  private readonly sections: Map<string, () => unknown> = new Map()
  private storage: ContextStorage<RequestContext> | undefined
  private lastInternalError: string | undefined

  constructor(options: MonitorOptions) {
    this.config = resolveConfig(options)
    this.enabled = this.config.enabled
    this.idle = !this.enabled
    this.secretKey = redactMatcher(options.redactKeys)
    this.rejectPii = this.config.pii === 'reject'
    this.slices = this.config.windowMs / this.config.sliceMs
    this.sliceStart = new Float64Array(this.slices)
    this.sliceStart[0] = this.startedAt
    this.pid = runtimeProcess()?.pid ?? 0
    this.sinks = new SinkQueue(this.config, this.totals, (message) => {
      this.lastInternalError = message
    })
    this.log = new EventLog(
      this.enabled,
      this.config,
      this.secretKey,
      this.ops,
      this.pid,
      this.sinks,
      (source, error) => this.reportInternalError(source, error),
    )
    if (!this.enabled) return
    for (const sink of options.sinks ?? []) this.addSink(sink)
    this.rotateTimer = setInterval(() => this.rotate(), this.config.sliceMs)
    unref(this.rotateTimer)
  }

  get requestContextEnabled(): boolean {
    return this.storage !== undefined
  }

  record(type: string, name: string, durationMs: number, opts?: RecordOptions): boolean {
    // Everything unusual is one test and one call, as in recordHandle. An app that records by name
    // from more than one place (with options and without) gets this function optimised on its own,
    // and V8 then inlines it into a caller only while 1.2 × (its bytecode + what that code inlined)
    // fits 920 bytes. With the checks, the interning, the folded-type count and the pii check on this
    // path it was 186 + 613 bytes, and every record by name paid a call (a scratch driver timing each
    // case alone, Node 20: 32.9 ns a record once records with options had run, 27.8 before; then
    // 27.2-27.7 either way, at 165 + 581 bytes; 216 + 513 on Node 24 since tryAdd calls addScalars
    // from one place, where 216 + 592 was past the budget: see tryAdd).
    // `=== true`, not a bare test: V8 tests a field's truthiness against every falsy value, where a
    // comparison with `true` is one test. The duration's value is checked by `tryAdd`'s range test
    // (see recordHandle); a type or name not looked up last checks it before anything is made.
    if (
      this.idle === true ||
      typeof durationMs !== 'number' ||
      (opts !== undefined && (typeof opts !== 'object' || opts === null || this.rejectPii))
    ) {
      return this.recordRarely(type, name, durationMs, opts)
    }
    // The type last looked up, unless it folds types: those are counted in recordState.
    const state =
      type === this.lastType && this.lastState !== undefined
        ? this.lastState
        : this.checkedState(type, name, durationMs)
    // `=== undefined`, not `??`: the ops hold no null, and `??` tests for both (3 instructions).
    const op = state.ops[name]
    // A name not seen yet returns from its own path instead of rejoining this one: TurboFan inlines a
    // branch it has seen taken often enough, and a loop that records by name takes this one for its
    // first record of each name that often. Rejoined, that branch's calls and its op (of a map not
    // known here) slowed the common path after it. A scratch loop of records by name over 100 names
    // that `record` interned, Node 20: 21.2 ns a record, against 18.9 with the names interned by
    // `op()` first; returning here took back about 0.7 ns of that (Node 24: no difference measured).
    if (op === undefined) return this.recordNewName(state, type, name, durationMs, opts)
    return op.tryAdd(durationMs)
      ? this.recordCommon(state, op, durationMs, opts)
      : this.recordUncommon(state, op, type, name, durationMs, opts)
  }

  /**
   * {@link record} when disabled or closed, for bad input (nothing is counted or interned but
   * `rejected`), and for options under `pii: 'reject'` (checked once the op is interned).
   */
  private recordRarely(
    type: string,
    name: string,
    durationMs: number,
    opts: RecordOptions | undefined,
  ): boolean {
    if (this.idle) return this.inactive()
    this.checkDuration('record', type, name, durationMs)
    if (typeof opts !== 'object' || opts === null) throw this.badOptions('record', opts)
    const state = this.recordState(type)
    const op = state.ops[name] ?? this.internFolding(state, name)
    this.checkPii(state, op, opts)
    return this.recordOp(state, op, durationMs, opts)
  }

  /** A type not looked up last, for {@link record}: the duration checked before the type is made or counted. */
  private checkedState(type: string, name: string, durationMs: number): TypeState {
    this.checkDuration('record', type, name, durationMs)
    return this.recordState(type)
  }

  /**
   * {@link record} of a name not seen yet: the duration checked before the op is made, then the full
   * path (options under `pii: 'reject'` never get here: record's first test sends them to recordRarely).
   */
  private recordNewName(
    state: TypeState,
    type: string,
    name: string,
    durationMs: number,
    opts: RecordOptions | undefined,
  ): boolean {
    this.checkDuration('record', type, name, durationMs)
    return this.recordOp(state, this.internFolding(state, name), durationMs, opts)
  }

  /**
   * {@link record} of an op `tryAdd` left alone: a record the full path takes, or a bad duration,
   * thrown with nothing counted. A bad duration gets here only with the type last looked up (a
   * state from checkedState had the duration checked first), and that type never folds others, so
   * no folded-type count was made for it. Options were checked by record's first test.
   */
  private recordUncommon(
    state: TypeState,
    op: OpStats,
    type: string,
    name: string,
    durationMs: number,
    opts: RecordOptions | undefined,
  ): boolean {
    this.checkDuration('record', type, name, durationMs)
    return this.recordOp(state, op, durationMs, opts)
  }

  /** Throws (counting it as rejected) unless `durationMs` is a finite number ≥ 0. */
  private checkDuration(call: string, type: unknown, name: unknown, durationMs: unknown): void {
    if (typeof durationMs !== 'number' || !(durationMs >= 0) || durationMs === Number.POSITIVE_INFINITY) {
      throw this.badDuration(call, type, name, durationMs)
    }
  }

  /** A record's type, a record into the type that folds those past `maxTypes` counted. */
  private recordState(type: string): TypeState {
    const state = this.state(type)
    if (state.foldsTypes) this.totals.foldedTypes++
    return state
  }

  /** A name not seen yet (or too long to be looked up as given): its op, folding past the cap. */
  private internFolding(state: TypeState, name: string): OpStats {
    const op = this.intern(state, name)
    if (op === state.overflow) this.fold(state)
    return op
  }

  op(type: string, name: string): OpHandle {
    if (!this.enabled) return { type, name, record: () => false }
    const state = this.state(type)
    const op = state.ops[name] ?? this.intern(state, name)
    return new Handle(this, state, op)
  }

  /** The record path of an interned handle (see {@link Handle}). */
  recordHandle(h: Handle, durationMs: number, opts: RecordOptions | undefined): boolean {
    // Everything unusual is one test and one call: what V8 may inline into a caller is bounded by this
    // function's bytecode plus what its own optimised code inlined, and past that bound (Node 24 hit
    // it from @perf/sqlite's statement wrapper) every record paid a call and a boxed duration.
    // `tryAdd`'s one range test stands for the rest: a bad duration (negative, NaN, infinite), a slow
    // one, an op past a cap and a closed monitor all fall outside the op's range of common buckets.
    if (
      typeof durationMs !== 'number' ||
      (opts !== undefined && (typeof opts !== 'object' || opts === null || this.rejectPii))
    ) {
      return this.recordHandleRarely(h, durationMs, opts)
    }
    const op = h.op
    return op.tryAdd(durationMs)
      ? this.recordCommon(h.state, op, durationMs, opts)
      : this.recordHandleRarely(h, durationMs, opts)
  }

  /** {@link recordHandle} after a close, for bad input, for an op past a cap and under `pii: 'reject'`. */
  private recordHandleRarely(h: Handle, durationMs: number, opts: RecordOptions | undefined): boolean {
    if (this.closed) return this.inactive()
    this.checkDuration('handle.record', h.type, h.name, durationMs)
    if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
      throw this.badOptions('handle.record', opts)
    }
    if (h.op === h.state.overflow) this.fold(h.state)
    if (h.state.foldsTypes) this.totals.foldedTypes++
    if (opts !== undefined && this.rejectPii) this.checkPii(h.state, h.op, opts)
    return this.recordOp(h.state, h.op, durationMs, opts)
  }

  start(type: string, name: string): (opts?: RecordOptions) => number {
    if (!this.enabled) return NOOP_END
    const handle = this.op(type, name)
    const t0 = now()
    let done = false
    return (opts?: RecordOptions): number => {
      const ms = now() - t0
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
    // The low 30 bits: uniform as the whole word is, and a small integer (see TypeState.threshold).
    return x & 0x3fffffff
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
    // Not the type that folds others: record() counts each record into it (see recordState).
    if (state.foldsTypes) return state
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
      if (!overflow.foldsTypes) {
        overflow.foldsTypes = true
        // An app's own type of that name may be the one state() kept last, and its ops may have
        // handles: it folds types from now on, and their records are counted as folded too.
        if (this.lastState === overflow) this.lastState = undefined
        for (const op of overflow.list) op.markRare()
      }
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
    let op = state.ops[key]
    if (op !== undefined) return op
    if (state.list.length >= this.config.maxOps) {
      // Past the cap, new names share one op; the count of folded events says how much.
      if (state.overflow === undefined) {
        state.overflow = this.newOp(state, OVERFLOW_NAME)
        state.overflow.markRare()
      }
      return state.overflow
    }
    const interned = internalized(key)
    op = this.newOp(state, interned)
    state.ops[interned] = op
    state.list.push(op)
    return op
  }

  private newOp(state: TypeState, name: string): OpStats {
    const op = new OpStats(this.ops.length, state.type, name, this.slices, this.cur, state.slowMs)
    // Every record into the type that folds the others is counted there, as one past the cap.
    if (this.closed || state.foldsTypes) op.markRare()
    this.ops.push(op)
    return op
  }

  /**
   * The rest of a record `tryAdd` counted: a good duration, faster than `slowMs`, and options checked.
   * The sampling draw, the outcome of a record with options, and the kept event if there is one.
   */
  private recordCommon(
    state: TypeState,
    op: OpStats,
    durationMs: number,
    opts: RecordOptions | undefined,
  ): boolean {
    // Drawn after tryAdd, whose one call is its last act: drawn before it, the draw was kept across
    // that call (counted: 0-6 instructions a record more on Node 24, 5-19 on Node 20).
    const sampled = this.nextRandom() <= state.threshold
    // One call into the log, as in recordOp.
    return (opts !== undefined && this.mustKeep(op, false, opts)) || sampled
      ? this.log.keep(op, durationMs, false, opts)
      : false
  }

  /**
   * Records a checked event that `tryAdd` left alone (see `record` and `recordHandle`): a slow one, one
   * outside the buckets' range (0 and below 2^MIN_EXP ms, or past 2^MAX_EXP), or one of an op past a
   * cap; or, from the rare paths, one with options under `pii: 'reject'`.
   */
  private recordOp(
    state: TypeState,
    op: OpStats,
    durationMs: number,
    opts: RecordOptions | undefined,
  ): boolean {
    // Options under `pii: 'reject'` were checked by the caller's rare path (checkPii), before this.
    // `events` is not counted here: every event is in exactly one op, so totalsNow() sums them.
    const slow = durationMs >= state.slowMs
    // One sampling draw for every record, made before the op's counters: `add` may call out (a new
    // bucket, a full counter), and what is read after a call is checked again (the monitor's and the
    // state's maps), while a value read before it is only kept (counted, Node 20: 3 instructions a record
    // fewer). A slow or failed record draws too; it is kept whatever the draw says.
    const sampled = this.nextRandom() <= state.threshold
    op.add(durationMs, slow)
    // One call into the log for both paths, so that the whole record path stays small: V8 inlines a
    // function whose code is already optimised only while 1.2 × (its bytecode + the bytecode that
    // code inlined) fits a 920-byte budget. With a draw and a keep() call per path, handle.record
    // optimised on its own had inlined 816 bytes, and from then on no caller inlined it: every record
    // paid a call and a boxed duration (bench/core.mjs, Node 20: 24-26 ns a record before, 19.6-20.0
    // after; 712 bytes inlined). A record not kept leaves nothing else to do: sampledOut is derived
    // as events - kept.
    return (opts === undefined ? slow : this.mustKeep(op, slow, opts)) || sampled
      ? this.log.keep(op, durationMs, slow, opts)
      : false
  }

  /** Counts the outcome of a record with options; whether it must be kept (failed, slow or forced). */
  private mustKeep(op: OpStats, slow: boolean, opts: RecordOptions): boolean {
    const failed = isFailure(opts.error)
    op.addOutcome(failed, opts.status ?? 0)
    return failed || slow || opts.force === true
  }

  /** `pii: 'reject'`: a secret or personal datum in metadata is a programmer error, thrown before counting. */
  private checkPii(state: TypeState, op: OpStats, opts: RecordOptions): void {
    const metadata = opts.metadata
    if (metadata === undefined) return
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

  /** Moves to the next slice: the completed one folds into all-time totals and goes to sinks. */
  private rotate(): void {
    const done = this.cur
    const next = done + 1 === this.slices ? 0 : done + 1
    const end = Date.now()
    const wantAggregates = this.sinks.wantsAggregates()
    const aggregates: OpAggregate[] = []
    const start = this.sliceStart[done]!
    const release = this.config.release
    for (const op of this.ops) {
      if (wantAggregates) {
        const a = op.sliceAggregate(done, start, end, release)
        if (a !== undefined) aggregates.push(a)
      }
      op.retire(done)
      op.clearSlice(next)
      op.moveTo(next)
    }
    this.sliceStart[next] = end
    this.cur = next
    if (aggregates.length > 0) this.sinks.offer('aggregates', aggregates)
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
    const { queued, inFlight } = this.sinks.pending()
    let events = 0
    for (const op of this.ops) events += op.allTimeCount(this.cur)
    const kept = this.log.keptSinceClear()
    const t = this.totals
    return {
      events,
      kept,
      sampledOut: events - kept,
      folded: t.folded,
      foldedTypes: t.foldedTypes,
      rejected: t.rejected,
      droppedAfterClose: t.droppedAfterClose,
      sinkQueued: queued,
      sinkInFlight: inFlight,
      sinkDropped: t.sinkDropped,
      sinkAbandoned: t.sinkAbandoned,
      sinkErrors: t.sinkErrors,
      internalErrors: t.internalErrors,
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
    op.addWindow(window)
    typeAgg.merge(window)
    const cur = this.cur
    const snap: Stats = {
      type: op.type,
      name: op.name,
      ...window.stats(),
      totalCount: op.allTimeCount(cur),
      totalErrors: op.allTimeErrors(cur),
      totalSumMs: op.allTimeSum(cur),
    }
    // The current slice is in the window, so a status in it makes `window.status` defined.
    const totalStatus = op.allTimeStatus(cur)
    if (window.status !== undefined || totalStatus !== undefined) {
      snap.status = window.statusClasses() ?? statusClasses([0, 0, 0, 0, 0])
      snap.totalStatus = statusClasses(totalStatus ?? [0, 0, 0, 0, 0])
    }
    if (histograms) {
      snap.histogram = window.histogramJSON()
      snap.totalHistogram = op.allTimeHistogram(cur)
    }
    if (op.memory !== undefined) snap.memory = heapDeltaStats(op.memory)
    return snap
  }

  recent(n = 50): PerfEvent[] {
    return this.log.recent(n)
  }

  byType(type: string, n = Number.POSITIVE_INFINITY): PerfEvent[] {
    return this.log.byType(type, n)
  }

  slowEvents(query: SlowEventsQuery = {}): PerfEvent[] {
    return this.log.slowEvents(query)
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
    this.log.clear()
    for (const key of Object.keys(this.totals) as (keyof CountedTotals)[]) this.totals[key] = 0
  }

  addSink(sink: Sink): void {
    if (sink === null || typeof sink !== 'object')
      throw coded('PERF_INVALID_ARGUMENT', new TypeError('addSink(sink): sink must be an object'))
    if (!this.enabled) return
    this.sinks.add(sink)
    // A sink that asks to be flushed on exit gets what this monitor still queues for it, whatever
    // order the sink, the monitor and their shutdown handlers were created in.
    if (sink.flushOnExit === true) exitMonitors().add(this)
  }

  flush(): Promise<void> {
    return this.sinks.flush()
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
    this.idle = true
    for (const op of this.ops) op.markRare()
    exitMonitors().delete(this)
    if (this.rotateTimer !== undefined) clearInterval(this.rotateTimer)
    await this.sinks.close()
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
    this.sinks.offer('samples', samples)
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

/** A null-prototype object: a map whose keys can be any name without reaching `Object.prototype`. */
function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}

/**
 * `s` as V8's one internalized copy of its text (what a string used as a property key becomes). An op's
 * name is kept for good, so it is keyed by that copy; and V8 turns the caller's string, when it was
 * built at run time (`GET /route/${i}`), into a reference to the copy as well. A later `record` by
 * name with that string then finds its op by pointer, and the other names it meets in the same hash
 * bucket differ at once as two internalized strings, where two built strings are compared character
 * by character in the runtime (about 14 ns a lookup here, on Node 20 and 24).
 */
function internalized(s: string): string {
  const key = Object.keys({ [s]: 0 })[0]
  return key === s ? key : s
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
  ) {
    this.type = op.type
    this.name = op.name
  }

  record(durationMs: number, opts?: RecordOptions): boolean {
    return this.monitor.recordHandle(this, durationMs, opts)
  }

  get closed(): boolean {
    return this.monitor.closed
  }
}

/** Marks `handle`'s op as one whose requests' heap is measured (`memory: true`). Internal. */
export function trackHeapDeltas(handle: OpHandle): void {
  if (handle instanceof Handle && handle.op.memory === undefined) handle.op.memory = newHeapDeltas()
}

/** Adds one measured request's heap delta to `handle`'s op (nothing after `close()`). Internal. */
export function recordHeapDelta(handle: OpHandle, bytes: number): void {
  if (!(handle instanceof Handle) || handle.closed || !Number.isFinite(bytes)) return
  const m = (handle.op.memory ??= newHeapDeltas())
  m.measured++
  m.sumBytes += bytes
  if (bytes > m.maxBytes) m.maxBytes = bytes
}

function heapDeltaStats(m: HeapDeltas): RequestMemoryStats {
  return {
    measured: m.measured,
    sumBytes: m.sumBytes,
    meanBytes: m.measured > 0 ? m.sumBytes / m.measured : 0,
    maxBytes: m.measured > 0 ? m.maxBytes : 0,
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
