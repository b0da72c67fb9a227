// A Node HTTP server driven over an in-memory connection: a Duplex stream handed to the server as a
// connection (`server.emit('connection', …)`), into which GET requests are pushed pipelined in
// batches and whose writes are the responses. The server's whole request path runs (Node's HTTP
// parser, the framework, the monitor, the response headers' serialisation); the kernel, the loopback
// and the load generator do not, so the CPU time of a batch is the server's own, free of the
// microseconds of scheduling noise a socket brings on a shared VM.
import { Duplex } from 'node:stream'

/** Requests pushed in one write: pipelined, as wrk's pipelining script sends them. */
const BATCH = 50

/**
 * Opens one in-memory keep-alive connection to `server` (a Node `http.Server`, listening or not).
 * @param {import('node:http').Server} server
 * @param {string} host the Host header to send
 */
export function inMemoryConnection(server, host) {
  let pending = 0
  /** @type {(() => void) | undefined} */
  let wake
  /** While checking: every byte written, to parse the responses. */
  /** @type {string[] | undefined} */
  let captured
  const socket = new Duplex({
    read() {},
    write(chunk, _encoding, callback) {
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
      callback()
    },
  })
  // What Node's HTTP server asks of a net.Socket.
  Object.assign(socket, {
    remoteAddress: '127.0.0.1',
    remotePort: 40000,
    encrypted: false,
    setTimeout: () => socket,
    setNoDelay: () => socket,
    setKeepAlive: () => socket,
  })
  server.emit('connection', socket)
  const batch = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`.repeat(BATCH))

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
