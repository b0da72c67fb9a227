// A Node HTTP server driven over an in-memory connection: a handle-less net.Socket handed to the server as a
// connection (`server.emit('connection', …)`), into which GET requests are pushed pipelined in
// batches and whose writes are the responses. The server's whole request path runs (Node's HTTP
// parser, the framework, the monitor, the response headers' serialisation); the kernel, the loopback
// and the load generator do not, so the CPU time of a batch is the server's own, free of the
// microseconds of scheduling noise a socket brings on a shared VM.
import { Socket } from 'node:net'
import { median } from './result.mjs'

/**
 * A `net.Socket` with no handle, whose reads are what `push` gives it and whose writes go to
 * `onWrite`. A socket and not any Duplex, because the server treats it as the socket it is: Node
 * announces its responses' finish with it on the `http.server.response.finish` channel, and a monitor
 * that tells real connections from fake ones (`@perf/core`'s response tracker takes a response's end
 * from that channel only for a `net.Socket`, and falls back to a `close` listener on each response
 * otherwise) takes the path it takes on a real connection.
 */
class MemorySocket extends Socket {
  /** @param {(chunk: Buffer | string) => void} onWrite */
  constructor(onWrite) {
    super()
    this.onWrite = onWrite
  }
  // What Node's HTTP server asks of a connected socket.
  get remoteAddress() {
    return '127.0.0.1'
  }
  get remotePort() {
    return 40000
  }
  setTimeout() {
    return this
  }
  setNoDelay() {
    return this
  }
  setKeepAlive() {
    return this
  }
  _read() {}
  _write(chunk, _encoding, callback) {
    this.onWrite(chunk)
    callback()
  }
  _writev(chunks, callback) {
    for (const { chunk } of chunks) this.onWrite(chunk)
    callback()
  }
}

/** Requests pushed in one write: pipelined, as wrk's pipelining script sends them. */
const BATCH = 50

/**
 * Opens one in-memory keep-alive connection to `server` (a Node `http.Server`, listening or not).
 * @param {import('node:http').Server} server
 * @param {string} host the Host header to send
 * @param {string} [path] what every request GETs
 */
export function inMemoryConnection(server, host, path = '/') {
  let pending = 0
  /** @type {(() => void) | undefined} */
  let wake
  /** While checking: every byte written, to parse the responses. */
  /** @type {string[] | undefined} */
  let captured
  const socket = new MemorySocket((chunk) => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1')
    if (captured !== undefined) captured.push(text)
    // A response's status line is written whole, in one chunk (its head is one string).
    let i = text.indexOf('HTTP/1.1 ')
    while (i !== -1) {
      pending--
      i = text.indexOf('HTTP/1.1 ', i + 9)
    }
    if (pending <= 0 && wake !== undefined) {
      const w = wake
      wake = undefined
      w()
    }
  })
  server.emit('connection', socket)
  const batch = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`.repeat(BATCH))

  /** Sends `n` requests (rounded up to a whole batch); resolves when every answer is written. */
  async function drive(n) {
    for (let sent = 0; sent < n; sent += BATCH) {
      pending = BATCH
      const done = new Promise((resolve) => {
        wake = resolve
      })
      socket.push(batch)
      await done
    }
  }

  return {
    /**
     * Sends `n` requests; resolves with the CPU time it took in µs (the whole process:
     * `process.cpuUsage`, so the collector's threads too) and the requests sent.
     */
    async timed(n) {
      const before = process.cpuUsage()
      await drive(n)
      const used = process.cpuUsage(before)
      return { cpuMicros: used.user + used.system, requests: Math.ceil(n / BATCH) * BATCH }
    },
    /**
     * Sends one batch and checks its answers: each a 200 that carries an `X-Request-ID` when
     * `wantsId`. Resolves with what is wrong, or undefined.
     */
    async check(wantsId) {
      captured = []
      await drive(BATCH)
      const text = captured.join('')
      captured = undefined
      const heads = text.split('HTTP/1.1 ').slice(1)
      if (heads.length !== BATCH) return `${heads.length} answers to ${BATCH} requests`
      for (const head of heads) {
        if (!head.startsWith('200 ')) return `status ${head.slice(0, 3)}`
        if (wantsId && !/\r\nx-request-id: /i.test(head)) return 'an answer without X-Request-ID'
      }
      return undefined
    },
  }
}

/**
 * The parent's side (http-cpu.mjs, realistic.mjs --in-memory): servers started with lib/load.mjs's
 * `startServer` that answer `{ cmd: 'drive', n, verify }` with `{ cpuMicros, requests }` (or
 * `{ error }`), several processes (replicas) per variant. Each is checked and warmed up, then in each
 * of `rounds` rounds every process answers `requests` requests alone, in an order that rotates from
 * round to round (so none always follows the parent's work). Two processes of one build differ by a
 * fraction of a µs a request for as long as they live (where code and objects landed), so a variant's
 * figure for a round is the mean of its processes'. Resolves with the µs of CPU a request of each
 * variant, one entry a round; the median of each of its processes (what that difference is); and how
 * many requests each process was sent in all (to compare with what its monitor recorded).
 * @param {Record<string, { ask: (cmd: string, extra?: object, timeoutMs?: number) => Promise<any> }[]>} servers
 * @param {{ rounds: number, requests: number }} options
 */
export async function driveInTurn(servers, { rounds, requests }) {
  const names = Object.keys(servers)
  const runs = names.flatMap((v) => servers[v].map((server) => ({ v, server, perRequest: [], driven: 0 })))
  const drive = async (run, n, verify = false) => {
    const r = await run.server.ask('drive', { n, verify }, 300_000)
    if (r.error !== undefined) throw new Error(r.error)
    // A checked drive sends one batch more, before the timed ones.
    run.driven += r.requests + (verify ? BATCH : 0)
    return r.cpuMicros / r.requests
  }
  // Warm-up: the answers checked, then enough requests for the optimiser to settle.
  for (const run of runs) {
    await drive(run, BATCH, true)
    await drive(run, Math.max(requests, 2000))
  }
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < runs.length; i++) {
      const run = runs[(r + i) % runs.length]
      run.perRequest.push(await drive(run, requests))
    }
  }
  const of = (v) => runs.filter((run) => run.v === v)
  return {
    perRequest: Object.fromEntries(
      names.map((v) => [
        v,
        Array.from({ length: rounds }, (_, r) => {
          const mine = of(v)
          return mine.reduce((sum, run) => sum + run.perRequest[r], 0) / mine.length
        }),
      ]),
    ),
    processMedians: Object.fromEntries(names.map((v) => [v, of(v).map((run) => median(run.perRequest))])),
    driven: Object.fromEntries(names.map((v) => [v, of(v).map((run) => run.driven)])),
  }
}

/**
 * What a server does with `{ cmd: 'drive', n, verify }` (http-server.mjs, realistic-server.mjs):
 * opens its in-memory connection on the first, checks one batch's answers when `verify`, then times
 * `n` requests. Never rejects: a failure is `{ error }`.
 * @param {() => ReturnType<typeof inMemoryConnection>} open
 * @param {{ n: number, verify?: boolean }} msg
 * @param {boolean} wantsId whether every answer must carry an X-Request-ID
 * @param {string} label names the server in an error
 */
export function answerDrive(open, msg, wantsId, label) {
  const run = async () => {
    const connection = open()
    const wrong = msg.verify === true ? await connection.check(wantsId) : undefined
    if (wrong !== undefined) return { error: `${label}: ${wrong}` }
    return connection.timed(msg.n)
  }
  return run().catch((err) => ({ error: String(err?.stack ?? err) }))
}
