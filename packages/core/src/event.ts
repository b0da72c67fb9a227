/** One timed occurrence whose details were kept. */
export interface PerfEvent {
  readonly type: string
  readonly name: string
  /** When the event ended, ms since the epoch. */
  readonly timestamp: number
  readonly durationMs: number
  readonly pid: number
  /** Error message or reason (e.g. `aborted`), or `null` when it succeeded. */
  readonly error: string | null
  /** Whether the duration reached the type's `slowMs`. */
  readonly slow: boolean
  readonly requestId: string | null
  /** Sanitised metadata: redacted, capped, JSON-safe. */
  readonly metadata: Readonly<Record<string, unknown>> | null
}

/** Options of one `record` call. */
export interface RecordOptions {
  /**
   * Free-form details, kept only for kept events (sanitised and redacted). A function is called only
   * when the event is kept, so a hot path builds no details for the events sampling leaves out.
   */
  readonly metadata?:
    | Readonly<Record<string, unknown>>
    | (() => Readonly<Record<string, unknown>> | undefined)
    | undefined
  /** Marks the event failed: `true`, a reason string or an Error. Failed events are always kept. */
  readonly error?: unknown
  /** Keep the details regardless of sampling. */
  readonly force?: boolean | undefined
  /** Request the event belongs to. */
  readonly requestId?: string | undefined
  /** HTTP status, counted per op by class (2xx/3xx/4xx/5xx). */
  readonly status?: number | undefined
}
