import {
  createMonitor,
  type HttpOptions,
  type Monitor,
  type MonitorOptions,
  type PerfEvent,
  type Stats,
} from '@perf/core'
import { monitorInternals } from '@perf/core/http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  abortAfter,
  abortUpload,
  bulkAgent,
  inParallel,
  peakRssGrowth,
  send,
  sendRaw,
  upload,
  waitFor,
} from './client.js'
import { openNotesDatabase } from './sql.js'
import {
  ADMIN_PREFIX,
  ALLOC_BYTES,
  BIG_BYTES,
  DASHBOARD_PREFIX,
  DASHBOARD_TOKEN,
  SLOW_MS,
  STREAM_CHUNKS,
  STREAM_DELAY_MS,
  THROWN_MESSAGE,
} from './routes.js'

/** A running test app on 127.0.0.1. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  close(): Promise<void>
}

/**
 * Builds the app of `ROUTES` with the adapter's `perf` installed app-wide with `options`, listening on
 * port 0. With `more`, `perf` is installed again right after, once per monitor in it, the same way.
 */
export type MakeServer = (
  monitor: Monitor,
  options?: HttpOptions,
  more?: readonly Monitor[],
) => Promise<TestServer>

/** Heap in use after a full collection (gc is exposed at run time, so no flag is needed). */
function settledHeap(): number {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return process.memoryUsage().heapUsed
}

/** A fresh default request id: the per-process prefix, `-`, a base-36 counter. */
const FRESH_ID = /^[A-Za-z0-9]{16}-[0-9a-z]+$/

/** Ops that saw traffic (an adapter may intern a route's op before its first request). */
function httpOps(monitor: Monitor): Stats[] {
  return (monitor.snapshot().types.http?.ops ?? []).filter((op) => op.totalCount > 0)
}

function opNamed(monitor: Monitor, name: string): Stats | undefined {
  return httpOps(monitor).find((op) => op.name === name)
}

function countOf(monitor: Monitor, name: string): number {
  return opNamed(monitor, name)?.totalCount ?? 0
}

function eventAt(monitor: Monitor, path: string): PerfEvent | undefined {
  return monitor.byType('http').find((e) => e.metadata?.path === path)
}

/**
 * The conformance suite of the HTTP adapters: the same requests and the same assertions against
 * each adapter's app over a real listening server, so express, fastify and hono cannot drift apart.
 */
export function runConformance(name: string, makeServer: MakeServer): void {
  describe(`${name} conformance`, () => {
    const open: { server: TestServer; monitor: Monitor }[] = []

    afterEach(async () => {
      for (const { server, monitor } of open.splice(0)) {
        await server.close()
        await monitor.close()
      }
    })

    async function start(
      options?: HttpOptions,
      monitorOptions: MonitorOptions = { sampling: 1, bufferSize: 5000 },
      monitor: Monitor = createMonitor(monitorOptions),
      more?: readonly Monitor[],
    ): Promise<{ url: string; monitor: Monitor }> {
      const server = await makeServer(monitor, options, more)
      open.push({ server, monitor })
      return { url: server.url, monitor }
    }

    async function recorded(monitor: Monitor, op: string, n = 1): Promise<void> {
      await waitFor(() => countOf(monitor, op) >= n, `${n} event(s) on ${op}`)
    }

    it('times a static route as METHOD /route with metadata and an X-Request-ID', async () => {
      const { url, monitor } = await start()
      const res = await send(url, '/hello')
      expect(res.status).toBe(200)
      expect(res.body).toBe('hello')
      const id = res.headers['x-request-id']
      expect(id).toMatch(FRESH_ID)
      await recorded(monitor, 'GET /hello')
      const event = eventAt(monitor, '/hello')!
      expect(event.type).toBe('http')
      expect(event.name).toBe('GET /hello')
      expect(event.requestId).toBe(id)
      expect(event.error).toBeNull()
      expect(event.metadata).toMatchObject({ method: 'GET', path: '/hello', status: 200 })
      // The id is the event's own field, not copied into its details as well.
      expect(event.metadata).not.toHaveProperty('requestId')
      expect(event.metadata?.responseBytes).toBe(5)
      expect(opNamed(monitor, 'GET /hello')?.status?.['2xx']).toBe(1)
    })

    it('names a param route by its template and keeps no query string', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/users/42?q=hunter2xyz&x=1')).body).toBe('user 42')
      await send(url, '/users/43')
      await recorded(monitor, 'GET /users/:id', 2)
      expect(httpOps(monitor).map((o) => o.name)).toEqual(['GET /users/:id'])
      expect(eventAt(monitor, '/users/42')?.metadata?.path).toBe('/users/42')
      expect(JSON.stringify(monitor.snapshot())).not.toContain('hunter2xyz')
    })

    it('reports the path as the client sent it, percent-encoding kept, in every adapter', async () => {
      const { url, monitor } = await start()
      await send(url, '/users/caf%C3%A9%20x?y=1')
      await recorded(monitor, 'GET /users/:id')
      expect(eventAt(monitor, '/users/caf%C3%A9%20x')?.metadata?.path).toBe('/users/caf%C3%A9%20x')
    })

    it('includes router prefixes in the name of a nested route', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/api/notes/7')).body).toBe('note 7')
      expect((await send(url, '/api/notes')).body).toBe('notes')
      await recorded(monitor, 'GET /api/notes/:id')
      await recorded(monitor, 'GET /api/notes')
      expect(eventAt(monitor, '/api/notes/7')?.name).toBe('GET /api/notes/:id')
      expect(monitor.snapshot().totals.internalErrors).toBe(0)
    })

    it('names a route under a mount path with parameters by its pattern, not the values', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/orgs/acme/members/7')).body).toBe('member acme 7')
      expect((await send(url, '/orgs/globex/members/8')).body).toBe('member globex 8')
      await recorded(monitor, 'GET /orgs/:org/members/:id', 2)
      expect(httpOps(monitor).map((o) => o.name)).toEqual(['GET /orgs/:org/members/:id'])
      expect(monitor.snapshot().totals.internalErrors).toBe(0)
    })

    it('names a route of a router nested under two parameterised mount paths by its pattern', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/orgs/acme/teams/red/members/7')).body).toBe('member acme red 7')
      expect((await send(url, '/orgs/globex/teams/blue/members/8')).body).toBe('member globex blue 8')
      await recorded(monitor, 'GET /orgs/:org/teams/:team/members/:id', 2)
      expect(httpOps(monitor).map((o) => o.name)).toEqual(['GET /orgs/:org/teams/:team/members/:id'])
      expect(monitor.snapshot().totals.internalErrors).toBe(0)
    })

    it('records a request that matches no route as METHOD <unmatched>, never the raw path', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/no/such/path')).status).toBe(404)
      expect((await send(url, '/api/nothing-here')).status).toBe(404)
      await recorded(monitor, 'GET <unmatched>', 2)
      const op = opNamed(monitor, 'GET <unmatched>')!
      expect(op.errors).toBe(0)
      expect(op.status?.['4xx']).toBe(2)
      expect(httpOps(monitor)).toHaveLength(1)
    })

    it('records a thrown handler error as a failed 500', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/throw')).status).toBe(500)
      await recorded(monitor, 'GET /throw')
      const op = opNamed(monitor, 'GET /throw')!
      expect(op.errors).toBe(1)
      expect(op.status?.['5xx']).toBe(1)
      // The thrown error itself, the same in every adapter, not only its status.
      expect(eventAt(monitor, '/throw')?.error).toBe(`Error: ${THROWN_MESSAGE}`)
      expect(monitor.slowEvents({ type: 'http' })).toHaveLength(1)
    })

    it('records a 500 response as an error', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/fail')).status).toBe(500)
      await recorded(monitor, 'GET /fail')
      expect(opNamed(monitor, 'GET /fail')?.errors).toBe(1)
      expect(eventAt(monitor, '/fail')?.error).toBe('HTTP 500')
    })

    it('counts status classes per op; only 5xx are errors', async () => {
      const { url, monitor } = await start()
      for (const code of [201, 302, 404, 503]) expect((await send(url, `/status/${code}`)).status).toBe(code)
      await recorded(monitor, 'GET /status/:code', 4)
      const op = opNamed(monitor, 'GET /status/:code')!
      expect(op.status).toEqual({ '1xx': 0, '2xx': 1, '3xx': 1, '4xx': 1, '5xx': 1 })
      expect(op.errors).toBe(1)
    })

    it('times a streamed response until its last byte', async () => {
      const { url, monitor } = await start()
      const res = await send(url, '/stream')
      expect(res.body.split('\n').filter(Boolean)).toHaveLength(STREAM_CHUNKS)
      await recorded(monitor, 'GET /stream')
      // A lower bound only: the stream pauses before each chunk, so a shorter duration stopped early.
      expect(eventAt(monitor, '/stream')!.durationMs).toBeGreaterThanOrEqual(
        STREAM_CHUNKS * STREAM_DELAY_MS * 0.9,
      )
    })

    it('reports request and response bytes of large bodies', async () => {
      const { url, monitor } = await start()
      const body = Buffer.alloc(1024 * 1024, 'a')
      const up = await send(url, '/upload', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/octet-stream' },
      })
      expect(up.body).toBe(String(body.length))
      const big = await send(url, '/big')
      expect(big.body.length).toBe(BIG_BYTES)
      await recorded(monitor, 'GET /big')
      await recorded(monitor, 'POST /upload')
      expect(eventAt(monitor, '/upload')?.metadata?.requestBytes).toBe(body.length)
      expect(eventAt(monitor, '/big')?.metadata?.responseBytes).toBe(BIG_BYTES)
    })

    it('records HEAD as its own op with no response bytes', async () => {
      const { url, monitor } = await start()
      const res = await send(url, '/hello', { method: 'HEAD' })
      expect(res.status).toBe(200)
      expect(res.body).toBe('')
      await recorded(monitor, 'HEAD /hello')
      expect(eventAt(monitor, '/hello')?.metadata).toMatchObject({ method: 'HEAD', responseBytes: 0 })
    })

    it('names an unknown method _OTHER', async () => {
      const { url, monitor } = await start()
      await send(url, '/hello', { method: 'PROPFIND' })
      await send(url, '/nowhere', { method: 'MKCOL' })
      await waitFor(() => httpOps(monitor).reduce((n, o) => n + o.totalCount, 0) === 2, 'two events')
      const names = httpOps(monitor).map((o) => o.name)
      expect(names.every((n) => n.startsWith('_OTHER '))).toBe(true)
      expect(names.join()).not.toMatch(/PROPFIND|MKCOL|nowhere/)
    })

    it('records an aborted request once, as an error with reason aborted', async () => {
      const { url, monitor } = await start()
      await abortAfter(url, '/slow', 50)
      await recorded(monitor, 'GET /slow')
      // The handler still answers later; that must not record the request a second time.
      await new Promise((resolve) => setTimeout(resolve, SLOW_MS + 150))
      const op = opNamed(monitor, 'GET /slow')!
      expect(op.totalCount).toBe(1)
      expect(op.errors).toBe(1)
      expect(eventAt(monitor, '/slow')?.error).toBe('aborted')
      expect((await send(url, '/hello')).status).toBe(200)
    })

    it('echoes a plain X-Request-ID and hands it to the handler and the event', async () => {
      const { url, monitor } = await start()
      const res = await send(url, '/id', { headers: { 'x-request-id': 'req-1.A_b' } })
      expect(res.headers['x-request-id']).toBe('req-1.A_b')
      expect(res.body).toBe('req-1.A_b')
      await recorded(monitor, 'GET /id')
      expect(eventAt(monitor, '/id')?.requestId).toBe('req-1.A_b')
    })

    it('replaces hostile request ids with a fresh one and never throws', async () => {
      const { url, monitor } = await start()
      const viaClient: Record<string, string | string[]> = {
        '1 MB': 'a'.repeat(1024 * 1024),
        '129 characters': 'a'.repeat(129),
        script: '<script>alert(1)</script>',
        'encoded CR/LF': 'abc%0d%0aSet-Cookie:%20x=1',
        'spaces and comma': 'a, b',
        'duplicate headers': ['dup-one', 'dup-two'],
      }
      for (const [what, incoming] of Object.entries(viaClient)) {
        const res = await send(url, '/id', { headers: { 'x-request-id': incoming } })
        expect(res.status, what).toBe(200)
        expect(res.headers['x-request-id'], what).toMatch(FRESH_ID)
        expect(res.body, what).toBe(res.headers['x-request-id'])
      }
      const host = new URL(url).host
      const raw: Record<string, Buffer> = {
        'non-ASCII bytes': Buffer.from(
          `GET /id HTTP/1.1\r\nHost: ${host}\r\nX-Request-ID: é-ü-中\r\nConnection: close\r\n\r\n`,
        ),
        'duplicate raw headers': Buffer.from(
          `GET /id HTTP/1.1\r\nHost: ${host}\r\nX-Request-ID: one\r\nX-Request-ID: two\r\nConnection: close\r\n\r\n`,
        ),
        'bare CR': Buffer.from(
          `GET /id HTTP/1.1\r\nHost: ${host}\r\nX-Request-ID: a\rb\r\nConnection: close\r\n\r\n`,
        ),
        'LF injection': Buffer.from(
          `GET /id HTTP/1.1\r\nHost: ${host}\r\nX-Request-ID: a\nSet-Cookie: x=1\r\nConnection: close\r\n\r\n`,
        ),
      }
      for (const [what, bytes] of Object.entries(raw)) {
        const res = await sendRaw(url, bytes, 'x-request-id')
        // Node's parser may refuse a malformed header (400) before any app code runs; otherwise the
        // app must answer with a fresh id.
        if (res.status === 400) expect(res.id, what).toBeUndefined()
        else {
          expect(res.status, what).toBe(200)
          expect(res.id, what).toMatch(FRESH_ID)
        }
      }
      expect((await send(url, '/hello')).status).toBe(200)
      await waitFor(() => countOf(monitor, 'GET /id') >= 8, 'id events')
      for (const e of monitor.byType('http')) {
        if (e.requestId !== null) expect(e.requestId).toMatch(FRESH_ID)
      }
      expect(monitor.snapshot().totals.internalErrors).toBe(0)
    })

    it('gives each of 1,000 concurrent requests its own id, on the response and on its event', async () => {
      const { url, monitor } = await start()
      const agent = bulkAgent(100)
      const got = new Map<string, string>()
      await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const headers: Record<string, string> = i % 2 === 0 ? { 'x-request-id': `client-${i}` } : {}
          const res = await send(url, `/users/${i}`, { headers, agent })
          expect(res.body).toBe(`user ${i}`)
          const id = String(res.headers['x-request-id'])
          if (i % 2 === 0) expect(id).toBe(`client-${i}`)
          else expect(id).toMatch(FRESH_ID)
          got.set(`/users/${i}`, id)
        }),
      )
      agent.destroy()
      await recorded(monitor, 'GET /users/:id', 1000)
      const events = monitor.byType('http')
      expect(events).toHaveLength(1000)
      for (const e of events) expect(e.requestId).toBe(got.get(String(e.metadata?.path)))
      expect(new Set(events.map((e) => e.requestId)).size).toBe(1000)
    })

    it('keeps cardinality bounded: 10,000 random 404s and 5,000 param hits make two ops', async () => {
      const { url, monitor } = await start(undefined, { sampling: 0.1 })
      const agent = bulkAgent(32)
      await send(url, '/users/warmup', { agent })
      monitor.clear()
      const heap: number[] = [settledHeap()]
      const traffic = async (i: number): Promise<void> => {
        const path =
          i % 3 === 2
            ? `/users/${i}`
            : `/random/${Math.random().toString(36).slice(2)}/${i}?q=${Math.random()}`
        await send(url, path, { agent })
      }
      // Three rounds of 5,000: the heap after each should not climb with the number of distinct paths.
      for (let round = 0; round < 3; round++) {
        await inParallel(5000, 32, (i) => traffic(round * 5000 + i))
        heap.push(settledHeap())
      }
      agent.destroy()
      await waitFor(
        () => countOf(monitor, 'GET <unmatched>') + countOf(monitor, 'GET /users/:id') >= 15_000,
        'all 15,000 events',
      )
      const ops = httpOps(monitor)
      expect(ops.map((o) => o.name).sort()).toEqual(['GET /users/:id', 'GET <unmatched>'])
      expect(countOf(monitor, 'GET <unmatched>')).toBe(10_000)
      expect(countOf(monitor, 'GET /users/:id')).toBe(5_000)
      expect(monitor.snapshot().types.http?.foldedEvents).toBe(0)
      console.log(
        `[${name}] cardinality: 15,000 requests, ${ops.length} ops, heap after gc at 0/5k/10k/15k requests: ${heap.map((h) => (h / 1e6).toFixed(1)).join(' / ')} MB`,
      )
      // 15,000 requests: a bound on a shared, loaded machine (every major version runs it), not a timing.
    }, 120_000)

    it('serves requests when the monitor is closed, counting what it dropped', async () => {
      const { url, monitor } = await start()
      await monitor.close()
      const res = await send(url, '/hello')
      expect(res.status).toBe(200)
      expect(res.body).toBe('hello')
      await waitFor(() => monitor.snapshot().totals.droppedAfterClose >= 1, 'the dropped event')
    })

    it('serves requests when the monitor throws, counting the failure', async () => {
      const real = createMonitor({ sampling: 1 })
      const throwing = new Proxy(real, {
        get(target, prop, receiver) {
          if (prop === 'op') {
            return (type: string, opName: string) => ({
              type,
              name: opName,
              record: () => {
                throw new Error('monitor exploded')
              },
            })
          }
          const v = Reflect.get(target, prop, receiver)
          return typeof v === 'function' ? v.bind(target) : v
        },
      })
      const { url } = await start(undefined, undefined, throwing)
      for (const path of ['/hello', '/users/1', '/nope', '/fail']) {
        expect((await send(url, path)).status).toBe(path === '/nope' ? 404 : path === '/fail' ? 500 : 200)
      }
      await waitFor(() => real.snapshot().totals.internalErrors >= 4, 'four counted failures')
      expect(real.snapshot().lastInternalError).toContain('monitor exploded')
    })

    it('serves requests when even counting the failure throws', async () => {
      const real = createMonitor({ sampling: 1 })
      const broken = new Proxy(real, {
        get(target, prop, receiver) {
          if (prop === 'op' || prop === 'reportInternalError') {
            return () => {
              throw new Error('broken')
            }
          }
          const v = Reflect.get(target, prop, receiver)
          return typeof v === 'function' ? v.bind(target) : v
        },
      })
      const { url } = await start(undefined, undefined, broken)
      expect((await send(url, '/hello')).body).toBe('hello')
      expect((await send(url, '/users/2')).body).toBe('user 2')
    })

    it('does not record ignored paths (exact and prefix)', async () => {
      const { url, monitor } = await start({ ignore: ['/hello', '/users/*'] })
      // Not recorded, but still answered with a request id like every response.
      expect((await send(url, '/hello')).headers['x-request-id']).toMatch(FRESH_ID)
      await send(url, '/users/1')
      await send(url, '/hello?x=1')
      await send(url, '/api/notes/1')
      await recorded(monitor, 'GET /api/notes/:id')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(httpOps(monitor).map((o) => o.name)).toEqual(['GET /api/notes/:id'])
    })

    it('does not record paths an ignore predicate picks', async () => {
      const seen: string[] = []
      const { url, monitor } = await start({
        ignore: (path, method) => {
          seen.push(`${method} ${path}`)
          return path.startsWith('/api/')
        },
      })
      await send(url, '/api/notes/1?secret=1')
      await send(url, '/hello')
      await recorded(monitor, 'GET /hello')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(httpOps(monitor).map((o) => o.name)).toEqual(['GET /hello'])
      expect(seen).toContain('GET /api/notes/1')
    })

    it('rejects invalid options with an error naming them', async () => {
      const monitor = createMonitor()
      await expect(makeServer(monitor, { ignore: ['no-slash'] })).rejects.toThrow(/options\.ignore/)
      await expect(makeServer(monitor, { requestIdHeader: 'bad header\n' })).rejects.toThrow(
        /options\.requestIdHeader/,
      )
      await monitor.close()
    })

    it('measures the heap of a request that ran alone, within 10 %, with memory: true', async () => {
      const { url, monitor } = await start({ memory: true })
      // The compiler's allocations land in the same heap: warm the code paths up first, as a server
      // that has run a while is, then count only what follows.
      for (let i = 0; i < 20; i++) await send(url, '/alloc')
      await recorded(monitor, 'GET /alloc', 20)
      monitor.clear()
      const runs = 10
      for (let i = 0; i < runs; i++) {
        expect((await send(url, '/alloc')).body).toBe('allocated')
        await recorded(monitor, 'GET /alloc', i + 1)
        // Measured requests start at least 5 ms apart (the adapters' bound on the cost under load).
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const events = monitor.byType('http').filter((e) => e.metadata?.path === '/alloc')
      expect(events).toHaveLength(runs)
      // A collection during a request excludes it; most run without one.
      const measured = events
        .map((e) => e.metadata?.heapDeltaBytes)
        .filter((b): b is number => b !== undefined)
      expect(measured.length).toBeGreaterThanOrEqual(runs / 2)
      for (const bytes of measured) {
        expect(bytes).toBeGreaterThan(ALLOC_BYTES * 0.9)
        expect(bytes).toBeLessThan(ALLOC_BYTES * 1.1)
      }
      const memory = opNamed(monitor, 'GET /alloc')?.memory
      expect(memory?.measured).toBe(measured.length)
      expect(memory?.maxBytes).toBe(Math.max(...measured))
      expect(memory?.meanBytes).toBeCloseTo(measured.reduce((a, b) => a + b, 0) / measured.length, 6)
    })

    it('measures no request that overlapped another, and none without memory: true', async () => {
      const { url, monitor } = await start({ memory: true })
      // Sent together, both are in flight during the other's hold (ALLOC_HOLD_MS).
      const both = await Promise.all([send(url, '/alloc?hold'), send(url, '/alloc?hold')])
      expect(both.map((r) => r.body)).toEqual(['allocated', 'allocated'])
      await recorded(monitor, 'GET /alloc', 2)
      const events = monitor.byType('http').filter((e) => e.metadata?.path === '/alloc')
      expect(events).toHaveLength(2)
      for (const e of events) expect(e.metadata).not.toHaveProperty('heapDeltaBytes')
      // Still marked as measured, so the page can say why it has no figure.
      expect(opNamed(monitor, 'GET /alloc')?.memory).toEqual({
        measured: 0,
        sumBytes: 0,
        meanBytes: 0,
        maxBytes: 0,
      })

      const off = await start()
      await send(off.url, '/alloc?hold')
      await recorded(off.monitor, 'GET /alloc')
      expect(eventAt(off.monitor, '/alloc')?.metadata).not.toHaveProperty('heapDeltaBytes')
      expect(opNamed(off.monitor, 'GET /alloc')).not.toHaveProperty('memory')
    })

    it('does not count ignored requests in flight: a lone request stays measurable', async () => {
      const { url, monitor } = await start({ memory: true, ignore: ['/hello'] })
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        // An ignored request runs entirely inside the held one.
        const held = send(url, '/alloc?hold')
        await new Promise((resolve) => setTimeout(resolve, 15))
        expect((await send(url, '/hello')).body).toBe('hello')
        await held
        await recorded(monitor, 'GET /alloc', i + 1)
      }
      const measured = monitor
        .byType('http')
        .filter((e) => e.metadata?.path === '/alloc' && e.metadata.heapDeltaBytes !== undefined)
      // A collection during one excludes it; not all five.
      expect(measured.length).toBeGreaterThan(0)
      expect(countOf(monitor, 'GET /hello')).toBe(0)
    })

    it('rejects memory that is not a boolean, naming the option', async () => {
      const monitor = createMonitor()
      await expect(makeServer(monitor, { memory: 'yes' as unknown as boolean })).rejects.toThrow(
        /options\.memory = "yes" is not valid: expected true or false/,
      )
      await monitor.close()
    })

    it('uses a custom request id header, or none when switched off', async () => {
      const custom = await start({ requestIdHeader: 'X-Trace-Id' })
      const res = await send(custom.url, '/id', { headers: { 'x-trace-id': 'trace-9' } })
      expect(res.headers['x-trace-id']).toBe('trace-9')
      expect(res.headers['x-request-id']).toBeUndefined()
      expect(res.body).toBe('trace-9')
      const off = await start({ requestIdHeader: false })
      const res2 = await send(off.url, '/hello', { headers: { 'x-request-id': 'abc' } })
      expect(res2.headers['x-request-id']).toBeUndefined()
      await recorded(off.monitor, 'GET /hello')
      expect(eventAt(off.monitor, '/hello')?.requestId).toBeNull()
    })

    it('makes ids with the user’s generator, and a default id when it returns a bad one', async () => {
      let n = 0
      const mine = await start({ generateRequestId: () => `mine.${++n}` })
      const res = await send(mine.url, '/id')
      expect(res.headers['x-request-id']).toBe('mine.1')
      expect(res.body).toBe('mine.1')
      expect((await send(mine.url, '/id', { headers: { 'x-request-id': 'client-7' } })).body).toBe('client-7')
      const bad = await start({ generateRequestId: () => 'bad id\r\nx-evil: 1' })
      const res2 = await send(bad.url, '/hello')
      expect(res2.headers['x-request-id']).toMatch(FRESH_ID)
      expect(res2.headers['x-evil']).toBeUndefined()
      await recorded(bad.monitor, 'GET /hello')
      expect(bad.monitor.snapshot().totals.internalErrors).toBeGreaterThanOrEqual(1)
    })

    it('runs the request in a context that carries its id and collects db time', async () => {
      const monitor = createMonitor({ sampling: 1 })
      expect(monitorInternals(monitor).enableRequestContext()).toBe(true)
      const { url } = await start(undefined, undefined, monitor)
      const res = await send(url, '/db', { headers: { 'x-request-id': 'ctx-1' } })
      expect(res.body).toBe('ctx-1')
      const posted = await send(url, '/db', {
        method: 'POST',
        body: JSON.stringify({ a: 1 }),
        headers: { 'content-type': 'application/json' },
      })
      expect(posted.body).toBe(posted.headers['x-request-id'])
      await recorded(monitor, 'GET /db')
      await recorded(monitor, 'POST /db')
      for (const e of monitor.byType('http')) {
        expect(e.metadata).toMatchObject({ dbQueries: 2, dbMs: 3 })
      }
      // Concurrent requests each see their own context.
      const ids = Array.from({ length: 50 }, (_, i) => `par-${i}`)
      const bodies = await Promise.all(ids.map((id) => send(url, '/db', { headers: { 'x-request-id': id } })))
      expect(bodies.map((b) => b.body)).toEqual(ids)
    })

    it('attaches real @perf/sqlite queries to the request that ran them', async () => {
      const monitor = createMonitor({ sampling: 1 })
      openNotesDatabase(monitor)
      const { url } = await start(undefined, undefined, monitor)
      for (const id of ['sql-1', 'sql-2']) {
        const res = await send(url, '/sql', {
          method: 'POST',
          body: JSON.stringify({ body: `note ${id}` }),
          headers: { 'content-type': 'application/json', 'x-request-id': id },
        })
        expect(res.body).toBe(id === 'sql-1' ? '1' : '2')
      }
      await recorded(monitor, 'POST /sql', 2)
      for (const e of monitor.byType('http')) {
        expect(e.metadata).toMatchObject({ dbQueries: 2 })
        expect(e.metadata?.dbMs).toBeGreaterThan(0)
        expect(monitor.byType('db').filter((d) => d.requestId === e.requestId)).toHaveLength(2)
      }
    })

    it('leaves request context alone when nothing turned it on', async () => {
      const { url, monitor } = await start()
      expect((await send(url, '/db')).body).toBe('no-context')
      await recorded(monitor, 'GET /db')
      expect(eventAt(monitor, '/db')?.metadata).not.toHaveProperty('dbQueries')
    })

    it('mounts a web handler that sees the client address and is never recorded', async () => {
      const { url, monitor } = await start()
      const res = await send(url, `${ADMIN_PREFIX}/api/stats?range=5m`)
      expect(res.status).toBe(200)
      expect(res.headers['set-cookie']).toEqual(['a=1'])
      const info = JSON.parse(res.body)
      expect(info).toMatchObject({
        method: 'GET',
        path: '/api/stats',
        query: '?range=5m',
        basePath: ADMIN_PREFIX,
      })
      expect(info.remoteAddress).toMatch(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1|::1)$/)
      const posted = JSON.parse(
        (await send(url, `${ADMIN_PREFIX}/login`, { method: 'POST', body: 'token=x' })).body,
      )
      expect(posted).toMatchObject({ method: 'POST', path: '/login', body: 'token=x' })
      const root = JSON.parse((await send(url, ADMIN_PREFIX)).body)
      expect(root.path).toBe('/')
      await send(url, '/hello')
      await recorded(monitor, 'GET /hello')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(httpOps(monitor).map((o) => o.name)).toEqual(['GET /hello'])
    })

    it('answers 500 when a mounted handler throws, 413 for a body over 1 MiB, and streams its responses', async () => {
      const { url, monitor } = await start()
      expect((await send(url, `${ADMIN_PREFIX}/boom`)).status).toBe(500)
      const big = await send(url, `${ADMIN_PREFIX}/upload`, {
        method: 'POST',
        body: Buffer.alloc(2 * 1024 * 1024, 'a'),
      })
      expect(big.status).toBe(413)
      const streamed = await send(url, `${ADMIN_PREFIX}/stream`)
      expect(streamed.body.split('\n').filter(Boolean)).toHaveLength(STREAM_CHUNKS)
      expect((await send(url, '/hello')).status).toBe(200)
      await recorded(monitor, 'GET /hello')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(httpOps(monitor).map((o) => o.name)).toEqual(['GET /hello'])
    })

    it('treats a second install with the same monitor as a no-op, said once in a warning', async () => {
      const warnings: Error[] = []
      const onWarning = (w: Error): void => {
        warnings.push(w)
      }
      process.on('warning', onWarning)
      try {
        const monitor = createMonitor({ sampling: 1 })
        const { url } = await start(undefined, undefined, monitor, [monitor])
        for (let i = 0; i < 3; i++) expect((await send(url, '/users/1')).status).toBe(200)
        expect((await send(url, '/throw')).status).toBe(500)
        await recorded(monitor, 'GET /users/:id', 3)
        await recorded(monitor, 'GET /throw')
        await new Promise((resolve) => setTimeout(resolve, 50))
        expect(countOf(monitor, 'GET /users/:id')).toBe(3)
        expect(countOf(monitor, 'GET /throw')).toBe(1)
        expect(monitor.byType('http')).toHaveLength(4)
        const ours = warnings.filter((w) => (w as { code?: unknown }).code === 'PERF_DUPLICATE_INSTALL')
        expect(ours).toHaveLength(1)
        expect(ours[0]?.message).toMatch(/second time/)
        expect(monitor.snapshot().totals.internalErrors).toBe(0)
      } finally {
        process.off('warning', onWarning)
      }
    })

    it('records every request once in each of two monitors installed on one app', async () => {
      const other = createMonitor({ sampling: 1 })
      const { url, monitor } = await start(undefined, undefined, undefined, [other])
      open.push({ server: { url, close: async () => {} }, monitor: other })
      expect((await send(url, '/users/1')).status).toBe(200)
      await recorded(monitor, 'GET /users/:id')
      await recorded(other, 'GET /users/:id')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(countOf(monitor, 'GET /users/:id')).toBe(1)
      expect(countOf(other, 'GET /users/:id')).toBe(1)
    })

    it('streams a mounted body with a running cap and checks credentials before reading it', async () => {
      const { url } = await start()
      const host = new URL(url).host
      const form = { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${host}` }
      const hugeBytes = 200 * 1024 * 1024
      const results: { what: string; status: number; sent: number }[] = []
      const growth = await peakRssGrowth(async () => {
        const probes: [string, string, Record<string, string>][] = [
          // Read by the handler: refused by the mount's running cap.
          ['chunked upload', '', { 'content-type': 'application/octet-stream' }],
          // The sign-in form is the credential: read, and refused past the form's own 4 KiB.
          ['chunked sign-in', 'login', form],
          // Refused from the declared length, before anything is read.
          ['declared sign-in', 'login', { ...form, 'content-length': String(hugeBytes) }],
          // No credentials: refused before a byte of the body is read.
          ['chunked clear', 'api/clear', { 'content-type': 'application/json', origin: `http://${host}` }],
        ]
        for (const [what, path, headers] of probes) {
          const at = path === '' ? `${ADMIN_PREFIX}/upload` : `${DASHBOARD_PREFIX}/${path}`
          const res = await upload(url, at, hugeBytes, headers)
          results.push({ what, status: res.status, sent: res.sent })
        }
      })
      expect(growth).toBeLessThan(50 * 1024 * 1024)
      expect(results.map((r) => `${r.what}: ${r.status}`)).toEqual([
        'chunked upload: 413',
        'chunked sign-in: 401',
        'declared sign-in: 413',
        'chunked clear: 401',
      ])
      // The client stops writing once answered: none of the 200 MB bodies was taken in full.
      for (const r of results) expect(r.sent, r.what).toBeLessThan(hugeBytes / 2)
      // The right token still signs in, and the server still answers.
      const signIn = await send(url, `${DASHBOARD_PREFIX}/login`, {
        method: 'POST',
        headers: form,
        body: `token=${DASHBOARD_TOKEN}`,
      })
      expect(signIn.status).toBe(303)
      expect((await send(url, '/hello')).status).toBe(200)
      console.log(
        `[${name}] four 200 MB uploads to mounts: peak RSS growth ${(growth / 1e6).toFixed(1)} MB, client sent ${results.map((r) => (r.sent / 1e6).toFixed(1)).join(' / ')} MB`,
      )
    })

    it('answers 405 with Allow to methods a Request cannot carry, without calling the handler', async () => {
      const { url } = await start()
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
      try {
        for (const path of [`${ADMIN_PREFIX}/x`, `${DASHBOARD_PREFIX}/login`]) {
          for (const method of ['TRACE', 'PROPFIND']) {
            const res = await send(url, path, { method })
            // fastify routes only the methods it was told of: PROPFIND is its own 404 there.
            if (method === 'PROPFIND' && res.status === 404) continue
            expect(res.status, `${method} ${path}`).toBe(405)
            expect(res.headers.allow, `${method} ${path}`).toBe(
              'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
            )
            expect(res.body, `${method} ${path}`).toBe('Method Not Allowed')
          }
        }
        expect(errors).not.toHaveBeenCalled()
      } finally {
        errors.mockRestore()
      }
      expect((await send(url, `${ADMIN_PREFIX}/x`)).status).toBe(200)
    })

    it('counts an upload whose client went away, and logs nothing', async () => {
      const { url, monitor } = await start()
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
      try {
        await abortUpload(url, `${ADMIN_PREFIX}/upload`, 100)
        await waitFor(() => monitor.snapshot().counters.http?.mountAborted === 1, 'the counted abort')
        expect((await send(url, `${ADMIN_PREFIX}/x`)).status).toBe(200)
        expect(errors).not.toHaveBeenCalled()
      } finally {
        errors.mockRestore()
      }
      expect(monitor.snapshot().totals.internalErrors).toBe(0)
    })

    it('serves a handler mounted at a path with parameters, relative to the path as requested', async () => {
      const { url } = await start()
      const res = await send(url, '/t/acme/perf/api/stats?range=5m')
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body)).toMatchObject({
        path: '/api/stats',
        query: '?range=5m',
        basePath: '/t/acme/perf',
      })
      expect(JSON.parse((await send(url, '/t/globex/perf')).body)).toMatchObject({
        path: '/',
        basePath: '/t/globex/perf',
      })
      const posted = await send(url, '/t/acme/perf/login', { method: 'POST', body: 'token=x' })
      expect(JSON.parse(posted.body)).toMatchObject({
        path: '/login',
        body: 'token=x',
        basePath: '/t/acme/perf',
      })
    })

    it('installs nothing for a disabled monitor', async () => {
      const { url, monitor } = await start(undefined, { enabled: false })
      const res = await send(url, '/hello')
      expect(res.body).toBe('hello')
      expect(res.headers['x-request-id']).toBeUndefined()
      expect(monitor.snapshot().totals.events).toBe(0)
    })
  })
}
