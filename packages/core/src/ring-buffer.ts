/** Most fields a kept event's flat details may have to be stored in columns (more: kept as an object). */
export const MAX_FIELDS = 16

/**
 * The key lists of flat details, interned as a trie (each shape is its parent's keys plus one), so
 * finding the shape of an event's keys allocates nothing once its shape has been seen. Each shape
 * also carries its last key's secret verdict (`secretKey`, tested once per shape).
 */
export class KeyShapes {
  /** Keys of each shape, by id. */
  readonly keys: (readonly string[])[] = [[]]
  /** 1 when a shape's last key is secret (its value is stored as `[REDACTED]`). */
  secret: Uint8Array = new Uint8Array(16)
  /** Per shape, the last string value of its last key that was checked for a secret's shape. */
  readonly safe: (string | undefined)[] = [undefined]
  private readonly next: Map<string, number>[] = [new Map()]
  /** Per shape, the child last looked up, and its key: one comparison when details keep one shape. */
  private readonly lastKey: (string | undefined)[] = [undefined]
  private readonly lastChild: number[] = [0]
  private readonly secretKey: RegExp
  private readonly max: number

  constructor(secretKey: RegExp, max = 1024) {
    this.secretKey = secretKey
    this.max = max
  }

  /** Id of shape `parent`'s keys plus `key`, or -1 when the table is full (the caller keeps an object). */
  child(parent: number, key: string): number {
    if (this.lastKey[parent] === key) return this.lastChild[parent]!
    let id = this.next[parent]!.get(key)
    if (id === undefined) {
      if (this.keys.length >= this.max) return -1
      id = this.keys.length
      this.keys.push([...this.keys[parent]!, key])
      this.next.push(new Map())
      this.lastKey.push(undefined)
      this.lastChild.push(0)
      this.safe.push(undefined)
      if (id >= this.secret.length) {
        const wider = new Uint8Array(this.secret.length * 2)
        wider.set(this.secret)
        this.secret = wider
      }
      this.secretKey.lastIndex = 0
      this.secret[id] = this.secretKey.test(key) ? 1 : 0
      this.next[parent]!.set(key, id)
    }
    this.lastKey[parent] = key
    this.lastChild[parent] = id
    return id
  }
}

/** A shape id meaning "no flat details in columns": the slot's `metadata` holds them, if any. */
const NO_SHAPE = -1

/**
 * Fixed-capacity ring of kept events, stored struct-of-arrays: typed arrays for the numbers, plain
 * arrays only for strings. An event's flat details (the common case: a few short primitives, already
 * redacted) are stored in columns too — a key shape id, numbers in a float column, strings and
 * booleans in a reference column — so a kept event leaves no object behind to be promoted to old
 * space, and the output object is built only when read. Other details are kept as their sanitized
 * copy. Writing never allocates once the columns are as wide as the widest details seen; the oldest
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
  /** Details that are not flat (or past the shape table), as a sanitized copy. */
  readonly metadata: (Readonly<Record<string, unknown>> | undefined)[]
  /** Shape id of each slot's flat details, or `NO_SHAPE`. */
  readonly shape: Int32Array
  private readonly shapes: KeyShapes
  /** Columns per slot in `nums`/`refs`: the most fields seen, so rings stay small for small details. */
  private width = 0
  /** Field `f` of slot `i` at `i * width + f`: the number, when `refs` there is `undefined`. */
  private nums: Float64Array = new Float64Array(0)
  /** Field `f` of slot `i`: a string, boolean or null; `undefined` for a number. */
  private refs: unknown[] = []
  /** Next slot to write. */
  private head = 0
  /** Number of filled slots. */
  size = 0

  constructor(capacity: number, shapes: KeyShapes) {
    this.capacity = capacity
    this.shapes = shapes
    this.seq = new Float64Array(capacity)
    this.timestamp = new Float64Array(capacity)
    this.duration = new Float64Array(capacity)
    this.op = new Int32Array(capacity)
    this.flags = new Uint8Array(capacity)
    this.shape = new Int32Array(capacity).fill(NO_SHAPE)
    this.requestId = new Array(capacity).fill(undefined)
    this.error = new Array(capacity).fill(undefined)
    this.metadata = new Array(capacity).fill(undefined)
  }

  /**
   * Writes one event, evicting the oldest when full. Its details are either `metadata` (a sanitized
   * copy) or, when `shape` ≥ 0, the first fields of `values` (redacted primitives, keys as `shape`;
   * `undefined` for a number, which is in `numbers`).
   */
  push(
    seq: number,
    timestamp: number,
    duration: number,
    op: number,
    flags: number,
    requestId: string | undefined,
    error: string | undefined,
    metadata: Readonly<Record<string, unknown>> | undefined,
    shape: number = NO_SHAPE,
    values?: readonly unknown[],
    numbers?: Float64Array,
  ): void {
    const i = this.head
    this.seq[i] = seq
    this.timestamp[i] = timestamp
    this.duration[i] = duration
    this.op[i] = op
    // The three reference columns are written only when this event or the one it overwrites has
    // one of them: a slot whose flags lack REFS holds `undefined` in all three, so most kept events
    // (none of the three) skip three stores with their checks (counted, Node 24: about 30
    // instructions a kept event fewer).
    const refs = requestId !== undefined || error !== undefined || metadata !== undefined
    const flagged = this.flags
    if (refs || (flagged[i]! & REFS) !== 0) {
      this.requestId[i] = requestId
      this.error[i] = error
      this.metadata[i] = metadata
    }
    flagged[i] = refs ? flags | REFS : flags
    this.shape[i] = shape
    if (shape !== NO_SHAPE) this.store(i, this.shapes.keys[shape]!.length, values!, numbers!)
    this.head = i + 1 === this.capacity ? 0 : i + 1
    if (this.size < this.capacity) this.size++
  }

  private store(slot: number, n: number, values: readonly unknown[], numbers: Float64Array): void {
    if (n > this.width) this.widen(n)
    const w = this.width
    const base = slot * w
    const nums = this.nums
    const refs = this.refs
    for (let f = 0; f < n; f++) {
      const v = values[f]
      if (v === undefined) nums[base + f] = numbers[f]!
      refs[base + f] = v
    }
    // Drop what an evicted event's wider details left in the rest of the slot.
    for (let f = n; f < w; f++) refs[base + f] = undefined
  }

  private widen(n: number): void {
    const w = this.width
    const nums = new Float64Array(this.capacity * n)
    const refs: unknown[] = new Array(this.capacity * n).fill(undefined)
    for (let i = 0; i < this.capacity; i++) {
      for (let f = 0; f < w; f++) {
        nums[i * n + f] = this.nums[i * w + f]!
        refs[i * n + f] = this.refs[i * w + f]
      }
    }
    this.width = n
    this.nums = nums
    this.refs = refs
  }

  /** The details of the event in `slot`, as a new object for flat details (callers may keep it). */
  details(slot: number): Readonly<Record<string, unknown>> | undefined {
    const shape = this.shape[slot]!
    if (shape === NO_SHAPE) return this.metadata[slot]
    const keys = this.shapes.keys[shape]!
    const base = slot * this.width
    // `__proto__` never reaches a shape (see Redactor.flatten), so plain assignment defines data.
    const out: Record<string, unknown> = {}
    for (let f = 0; f < keys.length; f++) {
      const ref = this.refs[base + f]
      out[keys[f]!] = ref === undefined ? this.nums[base + f] : ref
    }
    return out
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
    this.shape.fill(NO_SHAPE)
    this.refs.fill(undefined)
  }
}

/** Bit flags of a kept event. */
export const FLAG_ERROR = 1
export const FLAG_SLOW = 2
/**
 * The ring's own bit: the slot's event has a request id, an error or copied metadata. Readers test
 * the flags above by mask, so it shows nowhere; not exported, so `push` reads it as a constant.
 */
const REFS = 4
