import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createMonitor } from '@perf/core'
import { send, waitFor } from '@perf/test-kit'
import express5, { type Express } from 'express'
import express4 from 'express4'
import { afterEach, describe, expect, it } from 'vitest'
import { perf } from './index.js'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

async function listen(app: Express): Promise<string> {
  const server = createServer(app)
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

for (const [major, express] of [
  ['5', express5],
  ['4', express4],
] as const) {
  describe(`thrown errors on express ${major}`, () => {
    it('records the error of a route added after the first request, and one passed to next(err)', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const app = express()
      app.use(perf(monitor))
      app.get('/early', () => {
        throw new Error('early')
      })
      const url = await listen(app)
      expect((await send(url, '/early')).status).toBe(500)
      // Registered after the error middleware perf appended on the first request.
      app.get('/late', () => {
        throw new TypeError('late')
      })
      app.get('/passed', (_req, _res, next) => {
        next(new RangeError('passed'))
      })
      expect((await send(url, '/late')).status).toBe(500)
      expect((await send(url, '/passed')).status).toBe(500)
      await waitFor(() => monitor.byType('http').length === 3, 'three events')
      const errors = Object.fromEntries(monitor.byType('http').map((e) => [e.name, e.error]))
      expect(errors).toEqual({
        'GET /early': 'Error: early',
        'GET /late': 'TypeError: late',
        'GET /passed': 'RangeError: passed',
      })
      await monitor.close()
    })

    it('keeps each app’s decisions apart when one middleware serves two apps in turn', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const shared = perf(monitor)
      const one = express()
      const two = express()
      one.use(shared)
      // A second install on app one only: its requests must still be recorded once, app two's too.
      one.use(perf(monitor))
      two.use(shared)
      for (const [app, name] of [
        [one, 'one'],
        [two, 'two'],
      ] as const) {
        app.get(`/${name}`, (req, res) => {
          res.send(req.app === app ? name : 'wrong app')
        })
        app.get(`/${name}/throw`, () => {
          throw new Error(`thrown in ${name}`)
        })
      }
      const urls = { one: await listen(one), two: await listen(two) }
      for (let i = 0; i < 3; i++) {
        for (const name of ['one', 'two'] as const) {
          const ok = await send(urls[name], `/${name}`)
          expect(ok.body).toBe(name)
          expect(ok.headers['x-request-id']).toMatch(/^[A-Za-z0-9._-]+$/)
          expect((await send(urls[name], `/${name}/throw`)).status).toBe(500)
        }
      }
      await waitFor(() => monitor.byType('http').length === 12, 'twelve events')
      await new Promise((resolve) => setTimeout(resolve, 50))
      const byName = new Map<string, (string | null)[]>()
      for (const e of monitor.byType('http')) byName.set(e.name, [...(byName.get(e.name) ?? []), e.error])
      expect(Object.fromEntries(byName)).toEqual({
        'GET /one': [null, null, null],
        'GET /one/throw': ['Error: thrown in one', 'Error: thrown in one', 'Error: thrown in one'],
        'GET /two': [null, null, null],
        'GET /two/throw': ['Error: thrown in two', 'Error: thrown in two', 'Error: thrown in two'],
      })
      await monitor.close()
    })

    it('records the status when the app’s own error middleware answers, and the error when it passes it on', async () => {
      const monitor = createMonitor({ sampling: 1 })
      const app = express()
      app.use(perf(monitor))
      app.get('/handled', () => {
        throw new Error('handled')
      })
      app.get('/logged', () => {
        throw new Error('logged')
      })
      app.use((err: Error, req: express5.Request, res: express5.Response, next: express5.NextFunction) => {
        if (req.path === '/logged') return next(err)
        res.status(503).send(err.message)
      })
      const url = await listen(app)
      expect((await send(url, '/handled')).status).toBe(503)
      expect((await send(url, '/logged')).status).toBe(500)
      await waitFor(() => monitor.byType('http').length === 2, 'two events')
      const errors = Object.fromEntries(monitor.byType('http').map((e) => [e.name, e.error]))
      expect(errors).toEqual({ 'GET /handled': 'HTTP 503', 'GET /logged': 'Error: logged' })
      await monitor.close()
    })
  })
}
