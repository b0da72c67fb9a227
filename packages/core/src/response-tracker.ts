/**
 * When a Node response ends, learned without a listener on every response.
 *
 * A per-response `res.on('close')` is what the obvious adapter does, and on a hello-world express
 * route it costs a measurable share of throughput (the listener array, the emit, the closure or state
 * it needs; BENCHMARKS.md, HTTP). Node already announces every finished server response on the diagnostics channel
 * `http.server.response.finish`; one subscription per process serves every tracked response. A
 * response that never finishes (the client went away) is found from its socket: one `close`
 * listener per connection, not per request, so a kept-alive connection pays it once.
 *
 * Where the channel is missing or the runtime is not Node (which publishes it), responses fall back
 * to their own `close` listener, so the result is the same everywhere.
 */

import { runtimeProcess } from './runtime.js'

/** What the tracker reads of a Node `ServerResponse`. */
export interface TrackableResponse {
  /** Node's: the connection once the response holds it (a pipelined one waits for those before it). */
  readonly socket?: unknown
  readonly writableFinished: boolean
  readonly writableEnded: boolean
  on(event: 'close', listener: (this: TrackableResponse) => void): unknown
}

/** What the tracker reads of a Node `IncomingMessage`: its socket, set even for a pipelined request. */
export interface TrackableRequest {
  readonly socket?: unknown
}

/** A tracked request's state, told once when its response finished or its client went away. */
export interface ResponseWatcher {
  /** Called once: `aborted` is true when the response did not finish (the connection closed first). */
  ended(res: TrackableResponse, aborted: boolean): void
}

interface SocketLike {
  once(event: 'close', listener: (this: SocketLike) => void): unknown
}

type Dc = { subscribe?: (name: string, fn: (m: unknown) => void) => void }
type Class = abstract new (...args: never[]) => object
type Builtins = Dc & { ServerResponse?: Class; Socket?: Class }
type GetBuiltin = (id: string) => Builtins | undefined

/**
 * Responses still open on one connection, with their watchers, as `[res, watcher, res, watcher…]` in
 * `items[head … n)` (usually one pair; more when requests are pipelined). Responses finish in the
 * order of their requests, so the first pair is nearly always the one that finished: `head` steps
 * past it, and nothing moves. Shifting the rest down instead moved every pair behind it on each
 * finish: 50 requests pipelined, 49 moves a request, which doubled what the tracker costs a request
 * (about 60 ns more on Node 20 and 24). The array keeps its length and is used from 0 again once empty:
 * shortening it would let the engine drop its backing store, and the next request's push would
 * allocate a new one (some 150 bytes a request).
 */
interface Open {
  head: number
  n: number
  items: unknown[]
}

/**
 * The open responses of each connection, keyed by the socket, which lives as long as the connection:
 * a request adds no WeakMap entry of its own (entries added and deleted per request make every
 * garbage collection slower — ephemeron tables are walked on each one).
 */
const OPEN = new WeakMap<object, Open>()
/**
 * The tracker's state, fields of one `const` object rather than module `let`s: optimised code tests a
 * module's `let` for initialisation at every read.
 */
const state: {
  /**
   * The connection last looked up, and its open list: a kept-alive connection's requests come one
   * after another, so nearly every lookup is this comparison instead of the WeakMap's hash lookup
   * (two a request, about 90 instructions each on Node 24: Builtins_WeakMapGet under cachegrind).
   * Forgotten when that connection closes, so a closed connection is not held.
   */
  lastSocket: object | undefined
  lastOpen: Open | undefined
  /**
   * What the finish channel announces once it is subscribed: responses of Node's HTTP/1 server, i.e.
   * `ServerResponse`s on a real socket (not an HTTP/2 compatibility response, not a fake socket such
   * as light-my-request's under fastify's `inject()`). `null` when the channel is not used;
   * `undefined` until first use.
   */
  announced: { ServerResponse: Class; Socket: Class } | null | undefined
} = { lastSocket: undefined, lastOpen: undefined, announced: undefined }

/** {@link OPEN}'s entry for `socket`, through `state.lastSocket`. */
const openOf = (socket: object): Open | undefined => {
  if (socket === state.lastSocket) return state.lastOpen
  const open = OPEN.get(socket)
  if (open !== undefined) {
    state.lastSocket = socket
    state.lastOpen = open
  }
  return open
}

/** Watchers of responses on the fallback path (their own `close` event). */
const FALLBACK = new WeakMap<object, ResponseWatcher>()

function subscribe(): { ServerResponse: Class; Socket: Class } | null {
  const proc = runtimeProcess()
  // Only Node publishes the http.server channels; other runtimes with node:diagnostics_channel
  // (Bun, Deno) would never call us, so they keep per-response listeners.
  if (proc?.release?.name !== 'node' || proc.versions?.bun !== undefined || 'Deno' in globalThis) {
    return null
  }
  try {
    const builtin = proc.getBuiltinModule as GetBuiltin | undefined
    const dc = builtin?.('node:diagnostics_channel')
    const ServerResponse = builtin?.('node:http')?.ServerResponse
    const Socket = builtin?.('node:net')?.Socket
    if (typeof dc?.subscribe !== 'function' || typeof ServerResponse !== 'function') return null
    if (typeof Socket !== 'function') return null
    dc.subscribe('http.server.response.finish', onFinishMessage)
    return { ServerResponse, Socket }
  } catch {
    return null
  }
}

function onFinishMessage(message: unknown): void {
  const { response, socket } = message as { response: object; socket?: object }
  if (socket === undefined) return
  const open = openOf(socket)
  if (open === undefined) return
  // Responses finish in the order of their requests: the first pair, nearly always. Every pair of
  // this response is told (two monitors may watch the same app).
  const items = open.items
  for (let i = open.head; i < open.n; ) {
    if (items[i] !== response) {
      i += 2
      continue
    }
    const watcher = items[i + 1] as ResponseWatcher
    items[i] = undefined
    items[i + 1] = undefined
    const n = open.n
    if (i === open.head) {
      // The first pair: step past it (and start again from 0 once none is left).
      open.head = i + 2 === n ? (open.n = 0) : i + 2
      i += 2
    } else {
      // Out of order (a response ended before one pipelined ahead of it): shift the rest down by
      // hand; splice() would allocate the array of removed items. The next pair is now at `i`.
      for (let k = i + 2; k < n; k++) items[k - 2] = items[k]
      items[n - 2] = undefined
      items[n - 1] = undefined
      open.n = n - 2
    }
    tell(watcher, response as TrackableResponse, false)
  }
}

/**
 * Calls a watcher, never letting it throw: a throw inside a diagnostics-channel subscriber or a
 * socket's `close` listener would become an uncaught exception, and monitoring must never take the
 * process down (adapters count their own failures inside `ended`).
 */
const tell = (watcher: ResponseWatcher, res: TrackableResponse, aborted: boolean): void => {
  try {
    watcher.ended(res, aborted)
  } catch {
    // The watcher's own failure: nothing here can report it without risking the same.
  }
}

/** The connection closed: every response still open on it was abandoned by its client. */
function onSocketClose(this: SocketLike): void {
  if (this === state.lastSocket) {
    state.lastSocket = undefined
    state.lastOpen = undefined
  }
  const open = OPEN.get(this)
  if (open === undefined || open.n === open.head) return
  const items = open.items.slice(open.head, open.n)
  open.items = []
  open.head = 0
  open.n = 0
  for (let i = 0; i < items.length; i += 2) {
    const res = items[i] as TrackableResponse
    tell(items[i + 1] as ResponseWatcher, res, !res.writableFinished)
  }
}

/**
 * The per-response fallback: `close` comes once, after finish or when the connection went away. A
 * response its handler ended is not one its client abandoned: without a real socket (fastify's
 * `inject()`) a response never "finishes", it only ends.
 */
function onResponseClose(this: TrackableResponse): void {
  const watcher = FALLBACK.get(this)
  if (watcher === undefined) return
  FALLBACK.delete(this)
  tell(watcher, this, !this.writableFinished && !this.writableEnded)
}

/**
 * Watches a Node server response: `watcher.ended(res, aborted)` is called exactly once, when the
 * response finished (`aborted` false) or its connection closed before that (`aborted` true).
 * A response may have several watchers (two monitors on one app); each is told once. A watcher that
 * throws is ignored, never the process's problem. Throws only if `res` is not an object.
 */
export function watchResponse(req: TrackableRequest, res: TrackableResponse, watcher: ResponseWatcher): void {
  if (state.announced === undefined) state.announced = subscribe()
  const announced = state.announced
  // The response's socket, which Node reads on every response anyway (on express's per-request hidden
  // classes a property nothing else reads is one more lookup in V8's runtime on Node 20 and 22); the
  // request's for a pipelined response still waiting for those before it.
  const socket = (res.socket ?? req.socket) as SocketLike | null | undefined
  if (
    announced === null ||
    !(res instanceof announced.ServerResponse) ||
    !(socket instanceof announced.Socket)
  ) {
    FALLBACK.set(res, watcher)
    res.on('close', onResponseClose)
    return
  }
  const open = openOf(socket)
  if (open !== undefined) {
    const items = open.items
    let n = open.n
    const head = open.head
    // Requests kept coming before those ahead finished (a pipeline that never drains): once the
    // finished pairs are at least as many as the open ones, move the open ones to the front, so the
    // array stays as long as the deepest pipeline and each pair is moved at most once a finish.
    if (head !== 0 && head >= n - head) {
      for (let k = head; k < n; k++) {
        items[k - head] = items[k]
        items[k] = undefined
      }
      n -= head
      open.head = 0
    }
    items[n] = res
    items[n + 1] = watcher
    open.n = n + 2
  } else {
    const created: Open = { head: 0, n: 2, items: [res, watcher] }
    OPEN.set(socket, created)
    socket.once('close', onSocketClose)
    state.lastSocket = socket
    state.lastOpen = created
  }
}
