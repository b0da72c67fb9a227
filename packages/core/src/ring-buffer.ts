/**
 * Fixed-capacity ring of kept events, stored struct-of-arrays: typed arrays for the numbers, plain
 * arrays only for the strings and metadata of kept events. Writing never allocates; the oldest
 * event is overwritten.
 */
export class EventRing {
  readonly capacity: number
  /** Monotonic sequence number of each slot's event (to de-duplicate across rings). */
  readonly seq: Float64Array
  readonly timestamp: Float64Array
  readonly duration: Float64Array
  readonly op: Int32Array
  readonly flags: Uint8Array
  readonly requestId: (string | undefined)[]
  readonly error: (string | undefined)[]
  readonly metadata: (Readonly<Record<string, unknown>> | undefined)[]
  /** Next slot to write. */
  private head = 0
  /** Number of filled slots. */
  size = 0

  constructor(capacity: number) {
    this.capacity = capacity
    this.seq = new Float64Array(capacity)
    this.timestamp = new Float64Array(capacity)
    this.duration = new Float64Array(capacity)
    this.op = new Int32Array(capacity)
    this.flags = new Uint8Array(capacity)
    this.requestId = new Array(capacity).fill(undefined)
    this.error = new Array(capacity).fill(undefined)
    this.metadata = new Array(capacity).fill(undefined)
  }

  /** Writes one event, evicting the oldest when full. */
  push(
    seq: number,
    timestamp: number,
    duration: number,
    op: number,
    flags: number,
    requestId: string | undefined,
    error: string | undefined,
    metadata: Readonly<Record<string, unknown>> | undefined,
  ): void {
    const i = this.head
    this.seq[i] = seq
    this.timestamp[i] = timestamp
    this.duration[i] = duration
    this.op[i] = op
    this.flags[i] = flags
    this.requestId[i] = requestId
    this.error[i] = error
    this.metadata[i] = metadata
    this.head = i + 1 === this.capacity ? 0 : i + 1
    if (this.size < this.capacity) this.size++
  }

  /** Slot index of the k-th newest event (k = 0 is the newest); k must be < size. */
  slot(k: number): number {
    const i = this.head - 1 - k
    return i < 0 ? i + this.capacity : i
  }

  /** Empties the ring and releases the strings and metadata it held. */
  clear(): void {
    this.head = 0
    this.size = 0
    this.requestId.fill(undefined)
    this.error.fill(undefined)
    this.metadata.fill(undefined)
  }
}

/** Bit flags of a kept event. */
export const FLAG_ERROR = 1
export const FLAG_SLOW = 2
