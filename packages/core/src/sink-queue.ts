import type { MonitorConfig } from './config.js'
import { errorText } from './describe-value.js'
import type { PerfEvent } from './event.js'
import type { OpAggregate, ProcessSample, Sink } from './sink.js'
import type { CountedTotals } from './snapshot.js'

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

/**
 * A monitor's sinks and what is on its way to them: per sink, one lane per hook (events batched on
 * `sinkIntervalMs`, aggregates and samples handed over at once), each bounded by `sinkMaxQueue`, with
 * one call in flight per sink and hook; flush and close within `sinkCloseTimeoutMs`. Its counters
 * (`sinkDropped`, `sinkErrors`, `sinkAbandoned`) are written into the monitor's `totals`, and a sink's
 * failure is told to `report` (the monitor's `lastInternalError`), never thrown.
 */
export class SinkQueue {
  private readonly sinks: SinkState[] = []
  /** Sinks that take events: only they make a kept event worth building and queueing. */
  readonly eventSinks: SinkState[] = []
  private sinkTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false

  constructor(
    private readonly config: MonitorConfig,
    private readonly totals: CountedTotals,
    private readonly report: (message: string) => void,
  ) {}

  /** Adds a sink; a sink with `write` takes kept events too. */
  add(sink: Sink): void {
    const state = new SinkState(sink)
    this.sinks.push(state)
    if (typeof sink.write === 'function') this.eventSinks.push(state)
  }

  /** Whether any sink takes aggregates (else a slice's are not built). */
  wantsAggregates(): boolean {
    return this.sinks.some((s) => typeof s.sink.writeAggregates === 'function')
  }

  /** Queues a kept event for every event sink; it goes on the next `sinkIntervalMs` tick. */
  queue(event: PerfEvent): void {
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
  offer<T>(kind: 'aggregates' | 'samples', items: readonly T[]): void {
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
    this.report(`sink ${sink.name ?? '?'} ${hook}: ${errorText(err)}`)
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

  /** Items waiting for a sink and items in calls in flight, over every sink and lane. */
  pending(): { queued: number; inFlight: number } {
    let queued = 0
    let inFlight = 0
    for (const state of this.sinks) {
      for (const lane of [state.events, state.aggregates, state.samples] as Lane<unknown>[]) {
        queued += lane.waiting.length
        inFlight += lane.inFlight
      }
    }
    return { queued, inFlight }
  }

  /** Hands everything queued to the sinks now and calls their `flush`, within `sinkCloseTimeoutMs`. */
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

  /**
   * Drains every sink, abandons (and counts) what is still in flight or waiting at the deadline, then
   * calls each sink's `flush` and `close`.
   */
  async close(): Promise<void> {
    this.closed = true
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
        this.report(
          `sink ${state.sink.name ?? '?'}: close() abandoned ${left} items still in flight or waiting after ${this.config.sinkCloseTimeoutMs} ms`,
        )
      }
    }
    await Promise.all(this.sinks.map((s) => until(this.callSink(s.sink, 'flush'), deadline)))
    await Promise.all(this.sinks.map((s) => until(this.callSink(s.sink, 'close'), deadline)))
  }
}

/** Lets the process exit with the timer pending (where the runtime's timers can be unref'd). */
export function unref(timer: unknown): void {
  const t = timer as { unref?: () => void }
  if (typeof t?.unref === 'function') t.unref()
}
