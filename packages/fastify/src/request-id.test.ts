import { createMonitor, type Monitor } from '@perf/core'
import { send, waitFor } from '@perf/test-kit'
import Fastify, { type FastifyInstance } from 'fastify'
import Fastify4 from 'fastify4'
import { afterEach, describe, expect, it } from 'vitest'
import { perf } from './perf.js'

// Ours when the app has no generator: a per-process prefix and a counter.
const FRESH = /^[A-Za-z0-9]{16}-[0-9a-z]+$/

type Line = { reqId?: string; msg?: string }
type MakeApp = (options: Record<string, unknown>) => FastifyInstance

/** An app whose log lines are collected, with `/id` answering `request.id`. */
function logged(make: MakeApp, options: Record<string, unknown> = {}) {
  const lines: Line[] = []
  const stream = { write: (line: string) => lines.push(JSON.parse(line) as Line) }
  const app = make({ logger: { level: 'info', stream }, ...options })
  app.get('/id', async (request) => {
    request.log.info('in handler')
    return request.id
  })
  return { app, lines }
}

for (const [major, make] of [
  ['5', (o: Record<string, unknown>) => Fastify(o)],
  ['4', (o: Record<string, unknown>) => Fastify4(o) as unknown as FastifyInstance],
] as const) {
  describe(`@perf/fastify request ids (fastify ${major})`, () => {
    const open: { app: FastifyInstance; monitor: Monitor }[] = []
    afterEach(async () => {
      for (const { app, monitor } of open.splice(0)) {
        await app.close()
        await monitor.close()
      }
    })

    async function listen(app: FastifyInstance, monitor: Monitor): Promise<string> {
      open.push({ app, monitor })
      return app.listen({ port: 0, host: '127.0.0.1' })
    }

    /** Asks `path`, and checks the response header, the handler, the logger and the event agree on `id`. */
    async function expectId(url: string, monitor: Monitor, lines: Line[], path: string, id: string | RegExp) {
      const res = await send(url, path, { headers: { 'x-trace': 'trace-7' } })
      expect(res.status).toBe(200)
      const sent = String(res.headers['x-request-id'])
      if (typeof id === 'string') expect(sent).toBe(id)
      else expect(sent).toMatch(id)
      expect(res.body).toBe(sent)
      await waitFor(() => monitor.byType('http').some((e) => e.requestId === sent), `the event of ${sent}`)
      const inHandler = lines.filter((l) => l.msg === 'in handler').at(-1)
      expect(inHandler?.reqId).toBe(sent)
      expect(
        lines.filter((l) => l.reqId !== undefined && l.reqId !== sent && l.reqId.startsWith('req-')),
      ).toEqual([])
      expect(monitor.snapshot().totals.internalErrors).toBe(0)
    }

    const fromTrace = (req: { headers: Record<string, unknown> }) => `app-${String(req.headers['x-trace'])}`

    it('keeps Fastify({ genReqId }): logger, request.id, header and event see the app id', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const { app, lines } = logged(make, { genReqId: fromTrace })
      await app.register(perf, { monitor })
      await expectId(await listen(app, monitor), monitor, lines, '/id', 'app-trace-7')
    })

    it('keeps an app-wide setGenReqId, before or after registering perf', async () => {
      for (const before of [true, false]) {
        const monitor = createMonitor({ sampling: 1 })
        const { app, lines } = logged(make)
        if (before) app.setGenReqId(fromTrace)
        await app.register(perf, { monitor })
        if (!before) app.setGenReqId((req) => `late-${String(req.headers['x-trace'])}`)
        const url = await listen(app, monitor)
        await expectId(url, monitor, lines, '/id', before ? 'app-trace-7' : 'late-trace-7')
      }
    })

    it('keeps an encapsulated setGenReqId for its routes; the others get ours', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const { app, lines } = logged(make)
      await app.register(perf, { monitor })
      await app.register(async (child) => {
        child.setGenReqId((req) => `child-${String(req.headers['x-trace'])}`)
        child.get('/child', async (request) => {
          request.log.info('in handler')
          return request.id
        })
      })
      const url = await listen(app, monitor)
      await expectId(url, monitor, lines, '/child', 'child-trace-7')
      await expectId(url, monitor, lines, '/id', FRESH)
    })

    it('keeps the generator of an encapsulated plugin that registers perf itself', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const { app, lines } = logged(make)
      await app.register(async (child) => {
        child.setGenReqId((req) => `inner-${String(req.headers['x-trace'])}`)
        await child.register(perf, { monitor })
        child.get('/inner', async (request) => {
          request.log.info('in handler')
          return request.id
        })
      })
      await expectId(await listen(app, monitor), monitor, lines, '/inner', 'inner-trace-7')
    })

    it('without an app generator: a plain X-Request-ID is echoed, else a fresh id, the logger sees it', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const { app, lines } = logged(make)
      await app.register(perf, { monitor })
      const url = await listen(app, monitor)
      await expectId(url, monitor, lines, '/id', FRESH)
      const res = await send(url, '/id', { headers: { 'x-request-id': 'req-1' } })
      expect(res.headers['x-request-id']).toBe('req-1')
      expect(res.body).toBe('req-1')
    })

    it('treats a second register with the same monitor as a no-op (no FST_ERR_DEC_ALREADY_PRESENT)', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const { app, lines } = logged(make)
      await app.register(perf, { monitor })
      await app.register(async (child) => {
        await child.register(perf, { monitor })
      })
      await app.register(perf, { monitor })
      await expectId(await listen(app, monitor), monitor, lines, '/id', FRESH)
      expect(monitor.byType('http')).toHaveLength(1)
    })
  })
}
