import { channel } from 'node:diagnostics_channel'
import { EventEmitter } from 'node:events'
import { Agent, createServer, IncomingMessage, request, type Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type TrackableResponse, watchResponse } from './response-tracker.js'
import { bytesAllocatedIn } from './test-support/allocations.js'
import { gc } from './test-support/gc.js'

type Ended = { path: string; aborted: boolean; finished: boolean }

let server: Server | undefined
afterEach(async () => {
  if (server !== undefined) await new Promise((r) => server!.close(r))
  server = undefined
})

/** A real server whose every request is watched; `handle` answers it. */
async function start(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; ended: Ended[]; closeListeners: number[] }> {
  const ended: Ended[] = []
  const closeListeners: number[] = []
  server = createServer((req, res) => {
    const path = req.url ?? ''
    watchResponse(req, res, {
      ended(r: TrackableResponse, aborted: boolean) {
        ended.push({ path, aborted, finished: r.writableFinished })
      },
    })
    closeListeners.push(res.listenerCount('close'))
    handle(req, res)
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return { port: (server.address() as AddressInfo).port, ended, closeListeners }
}

function get(port: number, path: string, agent?: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        body += d
      })
      res.on('end', () => resolve(body))
    })
      .on('error', reject)
      .end()
  })
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
}

describe('watchResponse', () => {
  it('tells each finished response once, with no close listener of its own', async () => {
    const baseline = new ServerResponse({ method: 'GET' } as IncomingMessage).listenerCount('close')
    const s = await start((_req, res) => res.end('ok'))
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    for (let i = 0; i < 50; i++) expect(await get(s.port, `/r${i}`, agent)).toBe('ok')
    await until(() => s.ended.length === 50)
    agent.destroy()
    expect(s.ended).toHaveLength(50)
    expect(new Set(s.ended.map((e) => e.path)).size).toBe(50)
    expect(s.ended.every((e) => !e.aborted && e.finished)).toBe(true)
    // Node's own listener count, not one more per response: the finish comes from the channel.
    expect(Math.max(...s.closeListeners)).toBe(baseline)
  })

  it('tells a response whose client went away once, as aborted', async () => {
    const s = await start(() => {
      // Never answers.
    })
    const req = request({ host: '127.0.0.1', port: s.port, path: '/slow' })
    req.on('error', () => {})
    req.end()
    await until(() => server!.listenerCount('request') > 0 && s.closeListeners.length === 1)
    req.destroy()
    await until(() => s.ended.length === 1)
    await new Promise((r) => setTimeout(r, 50))
    expect(s.ended).toEqual([{ path: '/slow', aborted: true, finished: false }])
  })

  it('tells every pipelined response still queued when the connection closes', async () => {
    const held: ServerResponse[] = []
    const s = await start((req, res) => {
      if (req.url === '/first') setTimeout(() => res.end('first'), 20)
      else held.push(res) // answered never: the client leaves first
    })
    const socket = connect(s.port, '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    const one = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`
    socket.write(one('/first') + one('/second') + one('/third'))
    let got = ''
    socket.on('data', (d) => {
      got += d.toString('latin1')
    })
    await until(() => got.includes('first') && held.length === 2)
    socket.destroy()
    await until(() => s.ended.length === 3)
    await new Promise((r) => setTimeout(r, 50))
    const byPath = Object.fromEntries(s.ended.map((e) => [e.path, e.aborted]))
    expect(byPath).toEqual({ '/first': false, '/second': true, '/third': true })
    expect(s.ended).toHaveLength(3)
  })

  it('takes the connection from the response that holds it, and from the request while it waits (pipelined)', async () => {
    // Node reads `res.socket` on every response anyway; `req.socket` is one more property looked up,
    // which costs on express's per-request hidden classes (BENCHMARKS.md, http-ic).
    const asked: string[] = []
    const ended: { path: string; aborted: boolean }[] = []
    let watching = false
    server = createServer((req, res) => {
      const socket = req.socket
      // Reads by watchResponse only (Node reads the request's socket itself too).
      Object.defineProperty(req, 'socket', {
        configurable: true,
        get() {
          if (watching) asked.push(req.url ?? '')
          return socket
        },
      })
      const path = req.url ?? ''
      watching = true
      watchResponse(req, res, { ended: (_r, aborted) => ended.push({ path, aborted }) })
      watching = false
      setTimeout(() => res.end('ok'), 10)
    })
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    expect(await get(port, '/alone', agent)).toBe('ok')
    agent.destroy()
    expect(asked).toEqual([])
    // Pipelined: the second response waits for the first before it holds the socket.
    const socket = connect(port, '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    const one = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`
    socket.write(one('/first') + one('/second'))
    await until(() => ended.length === 3)
    socket.destroy()
    expect(asked).toEqual(['/second'])
    expect(ended.map((e) => `${e.path} ${e.aborted}`).sort()).toEqual([
      '/alone false',
      '/first false',
      '/second false',
    ])
  })

  it('tells every watcher of a response (two monitors on one app)', async () => {
    const second: boolean[] = []
    const s = await start((req, res) => {
      watchResponse(req, res, { ended: (_r, aborted) => second.push(aborted) })
      res.end('ok')
    })
    expect(await get(s.port, '/a')).toBe('ok')
    await until(() => s.ended.length === 1 && second.length === 1)
    expect(s.ended.map((e) => e.aborted)).toEqual([false])
    expect(second).toEqual([false])
  })

  it('survives a watcher that throws (no uncaught exception) and still tells the others', async () => {
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown) => uncaught.push(err)
    process.prependListener('uncaughtException', onUncaught)
    try {
      const after: boolean[] = []
      const s = await start((req, res) => {
        watchResponse(req, res, {
          ended: () => {
            throw new Error('watcher failed')
          },
        })
        watchResponse(req, res, { ended: (_r, aborted) => after.push(aborted) })
        res.end('ok')
      })
      expect(await get(s.port, '/t')).toBe('ok')
      await until(() => after.length === 1)
      await new Promise((r) => setTimeout(r, 50))
      expect(after).toEqual([false])
      expect(uncaught).toEqual([])
    } finally {
      process.removeListener('uncaughtException', onUncaught)
    }
  })

  it('falls back to the response’s close event for objects that are not Node responses', () => {
    const make = () => Object.assign(new EventEmitter(), { writableFinished: false, writableEnded: false })
    const seen: string[] = []
    const watch = (name: string, res: ReturnType<typeof make>) =>
      watchResponse({}, res as unknown as TrackableResponse, {
        ended: (_r, aborted) => seen.push(`${name} ${aborted ? 'aborted' : 'done'}`),
      })
    const finished = make()
    watch('finished', finished)
    expect(finished.listenerCount('close')).toBe(1)
    finished.writableEnded = true
    finished.writableFinished = true
    finished.emit('close')
    finished.emit('close')
    // Ended by its handler but never "finished" (no real socket, as under fastify's inject()).
    const ended = make()
    watch('ended', ended)
    ended.writableEnded = true
    ended.emit('close')
    const abandoned = make()
    watch('abandoned', abandoned)
    abandoned.emit('close')
    expect(seen).toEqual(['finished done', 'ended done', 'abandoned aborted'])
  })

  describe('a pipelined connection, its finishes announced on the channel as Node announces them', () => {
    const finish = channel('http.server.response.finish')
    /** Opens a response on `socket` watched by one watcher that notes `name` in `told` when ended. */
    const opener =
      (socket: Socket, told: string[]) =>
      (name: string, watchers = 1) => {
        const req = new IncomingMessage(socket)
        const res = new ServerResponse(req)
        for (let w = 0; w < watchers; w++) {
          watchResponse(req, res, { ended: (_r, aborted) => told.push(aborted ? `${name} aborted` : name) })
        }
        return res
      }
    const finished = (socket: Socket, res: ServerResponse) => finish.publish({ response: res, socket })

    it('tells each response once, in any order of finishing, and the open ones when the connection closes', () => {
      const socket = new Socket()
      const told: string[] = []
      const open = opener(socket, told)
      const r = ['r0', 'r1', 'r2', 'r3'].map((name) => open(name))
      finished(socket, r[0]!)
      finished(socket, r[1]!)
      // Two finished ahead, two open: the next requests move the open ones to the front.
      const r4 = open('r4', 2)
      const r5 = open('r5')
      finished(socket, r[3]!) // out of order
      finished(socket, r[2]!)
      finished(socket, r[2]!) // told already: nothing
      finished(socket, r4)
      socket.emit('close')
      socket.emit('close')
      finished(socket, r5) // after the close: told already, as aborted
      expect(told).toEqual(['r0', 'r1', 'r3', 'r2', 'r4', 'r4', 'r5 aborted'])
      socket.destroy()
    })

    it('holds no connection once it closed (the last one looked up is remembered until then)', async () => {
      const told: string[] = []
      const connection = (): WeakRef<Socket> => {
        const socket = new Socket()
        const open = opener(socket, told)
        finished(socket, open('a'))
        open('b')
        socket.emit('close')
        socket.destroy()
        return new WeakRef(socket)
      }
      const ref = connection()
      // A WeakRef's target lives to the end of the job that made it.
      await new Promise((r) => setImmediate(r))
      gc()
      expect(told).toEqual(['a', 'b aborted'])
      expect(ref.deref()).toBeUndefined()
    })

    it('keeps a pipeline that never drains to the requests still open', async () => {
      const socket = new Socket()
      const told: string[] = []
      const open = opener(socket, told)
      const queue: ServerResponse[] = []
      for (let i = 0; i < 3; i++) queue.push(open(`w${i}`))
      const requests = 20_000
      const bytes = await bytesAllocatedIn(['/response-tracker.ts'], async () => {
        // Three requests always in flight: one more arrives before the oldest finishes.
        for (let i = 0; i < requests; i++) {
          queue.push(open(`p${i}`))
          finished(socket, queue.shift()!)
        }
      })
      expect(told).toHaveLength(requests)
      expect(told[0]).toBe('w0')
      expect(told.at(-1)).toBe(`p${requests - 4}`)
      expect(new Set(told).size).toBe(requests)
      // An array that grew with every request would be 8+ bytes a request (and its copies as it grew).
      expect(bytes / requests).toBeLessThan(4)
      socket.emit('close')
      expect(told.slice(requests)).toEqual(['p19997 aborted', 'p19998 aborted', 'p19999 aborted'])
      socket.destroy()
    })
  })

  it('allocates nothing per request on a kept-alive connection, pipelined or not', async () => {
    // One watcher for every request, counting without allocating: the heap profiler charges what an
    // inlined function allocates to the function it was inlined into, and the watcher's ended() can
    // be inlined into the tracker's channel subscriber; a watcher that pushed a record per request
    // would be charged to the tracker.
    let finished = 0
    const watcher = {
      ended(_res: TrackableResponse, aborted: boolean) {
        if (!aborted) finished++
      },
    }
    server = createServer((req, res) => {
      watchResponse(req, res, watcher)
      res.end('ok')
    })
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    let received = 0
    let target = 0
    let wake: () => void = () => {}
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1').split('HTTP/1.1 200').length - 1
      if (received >= target) wake()
    })
    const batch = (depth: number): Promise<void> =>
      new Promise((resolve) => {
        target = received + depth
        wake = resolve
        socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(depth))
      })
    for (let i = 0; i < 20; i++) await batch(5)
    const requests = 1000
    const bytes = await bytesAllocatedIn(['/response-tracker.ts'], async () => {
      for (let i = 0; i < requests / 2; i++) await batch(1)
      for (let i = 0; i < requests / 20; i++) await batch(10)
    })
    socket.destroy()
    expect(finished).toBe(100 + requests)
    // A listener, closure or map entry per request would be 100+ bytes a request.
    expect(bytes / requests).toBeLessThan(16)
  })
})
