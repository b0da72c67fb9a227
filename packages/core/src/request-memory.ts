/**
 * Heap allocated by one request, measured only where the number means something: the request ran
 * alone in the process (no other recorded request in flight at any time between its start and its
 * end) and no garbage collection ran in between. Anything else would mix other requests' allocations
 * or the collector's frees into the figure, so such requests get no figure at all.
 *
 * The main entry imports nothing from `node:`: the heap and the GC feed are looked up at run time
 * (`process.getBuiltinModule`), and a runtime without them cannot turn `memory` on.
 */
import { now } from './runtime.js'

/** The in-flight count and the one request that may still be measured, shared by every copy of @perf. */
interface Flight {
  inFlight: number
  /** The request that started alone and has not overlapped another yet, with its start figures. */
  candidate: object | undefined
  heapAtStart: number
  timeAtStart: number
  /** When the last measured request started (`performance.now()`). */
  lastStart: number
}

const FLIGHT: Flight = ((globalThis as Record<symbol, Flight | undefined>)[
  Symbol.for('@perf/request-memory')
] ??= { inFlight: 0, candidate: undefined, heapAtStart: 0, timeAtStart: 0, lastStart: -Infinity })

/**
 * Least time between the starts of two measured requests, ms: at most 200 measurements a second,
 * however fast requests come. A fast handler under load runs its requests one after another, each
 * alone, and reading the heap for every one of them would cost that loaded server the most.
 */
export const MEASURE_GAP_MS = 5

/** What a measured request's end hands back: its heap delta, once the GC feed has caught up. */
export interface HeapMeasurement {
  /** `heapUsed(end) − heapUsed(start)`, bytes. */
  readonly bytes: number
  /** `performance.now()` at the start and end readings. */
  readonly from: number
  readonly to: number
}

/** The Node parts the measurement needs, found at run time. */
interface HeapProbe {
  /** V8's heap in use (what `process.memoryUsage().heapUsed` reports, without reading RSS). */
  heapUsed(): number
  /**
   * Calls `done(gc)` once every collection that ended before this call is known, `gc` telling
   * whether one overlapped `[from, to]`. Node reports a collection from an immediate queued by the
   * collector, so a check at the request's end would miss one that ran in its last tick; one
   * `setImmediate` later, the report has been queued and `takeRecords` returns it.
   */
  afterGcs(from: number, to: number, done: (gc: boolean) => void): void
}

interface GcEntry {
  readonly startTime: number
  readonly duration: number
}
interface GcObserver {
  observe(options: { entryTypes: string[] }): void
  takeRecords(): GcEntry[]
}
type Builtin = (id: string) => unknown

/** Collections seen so far, as `[start, end]` pairs of `performance.now()` times, newest last. */
const GC_KEPT = 64

let probe: HeapProbe | null | undefined

/**
 * The probe, made on first use (and the GC observer started then), or `null` where the runtime has
 * no V8 heap statistics or no `gc` performance entries (edge runtimes, Bun).
 */
function findProbe(): HeapProbe | null {
  if (probe !== undefined) return probe
  probe = null
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: Builtin } }).process
    const v8 = proc?.getBuiltinModule?.('node:v8') as
      | { getHeapStatistics?: () => { used_heap_size: number } }
      | undefined
    const hooks = proc?.getBuiltinModule?.('node:perf_hooks') as
      | {
          PerformanceObserver?: (new (
            cb: (list: unknown) => void,
          ) => GcObserver) & {
            supportedEntryTypes?: readonly string[]
          }
        }
      | undefined
    const timers = proc?.getBuiltinModule?.('node:timers') as
      | { setImmediate?: (fn: () => void) => { unref?: () => void } }
      | undefined
    const stats = v8?.getHeapStatistics
    const Observer = hooks?.PerformanceObserver
    const immediate = timers?.setImmediate
    if (
      typeof stats !== 'function' ||
      typeof Observer !== 'function' ||
      typeof immediate !== 'function' ||
      !Observer.supportedEntryTypes?.includes('gc')
    ) {
      return null
    }
    const starts = new Float64Array(GC_KEPT)
    const ends = new Float64Array(GC_KEPT)
    let seen = 0
    const take = (entries: readonly GcEntry[]): void => {
      for (const e of entries) {
        const i = seen++ % GC_KEPT
        starts[i] = e.startTime
        ends[i] = e.startTime + e.duration
      }
    }
    const observer = new Observer((list) => take((list as { getEntries(): GcEntry[] }).getEntries()))
    observer.observe({ entryTypes: ['gc'] })
    probe = {
      heapUsed: () => stats().used_heap_size,
      afterGcs(from, to, done) {
        immediate(() => {
          take(observer.takeRecords())
          // Older than the kept ones: too many collections to tell, which means one overlapped or
          // the request outlived 64 of them; either way it is not measured.
          let gc = seen > GC_KEPT && starts[seen % GC_KEPT]! > from
          for (let k = 0; k < Math.min(seen, GC_KEPT) && !gc; k++) {
            gc = starts[k]! <= to && ends[k]! >= from
          }
          done(gc)
        })
      },
    }
  } catch {
    probe = null
  }
  return probe
}

/**
 * Whether heap per request can be measured in this runtime; starts the GC feed the first time it
 * can. Node.js (≥ 20.16, for `process.getBuiltinModule`) can; edge runtimes and Bun cannot.
 */
export function requestMemoryAvailable(): boolean {
  return findProbe() !== null
}

/** Counts `request` in flight; it becomes the one measured if nothing else is. */
export function requestStarted(request: object): void {
  const f = FLIGHT
  if (++f.inFlight === 1) {
    const time = now()
    if (time - f.lastStart < MEASURE_GAP_MS) {
      f.candidate = undefined
      return
    }
    f.candidate = request
    f.lastStart = time
    f.timeAtStart = time
    // Read last, so the few bytes of the bookkeeping above are not charged to the request.
    f.heapAtStart = (probe as HeapProbe).heapUsed()
  } else {
    // Overlapping: neither this one nor the one that was alone until now can be told apart.
    f.candidate = undefined
  }
}

/**
 * Ends `request`'s flight. Returns its heap delta when it ran alone, else `undefined`; the caller
 * still has to wait for {@link settleMeasurement} before trusting it.
 */
export function requestEnded(request: object): HeapMeasurement | undefined {
  const f = FLIGHT
  if (f.inFlight > 0) f.inFlight--
  if (f.candidate !== request) return undefined
  f.candidate = undefined
  const heap = (probe as HeapProbe).heapUsed()
  return { bytes: heap - f.heapAtStart, from: f.timeAtStart, to: now() }
}

/** Calls `done` with the measurement's bytes, or `undefined` when a collection ran during it. */
export function settleMeasurement(m: HeapMeasurement, done: (bytes: number | undefined) => void): void {
  ;(probe as HeapProbe).afterGcs(m.from, m.to, (gc) => done(gc ? undefined : m.bytes))
}

/** Recorded requests in flight now (for tests and diagnostics). */
export function requestsInFlight(): number {
  return FLIGHT.inFlight
}
