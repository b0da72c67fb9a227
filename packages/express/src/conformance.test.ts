import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HttpOptions, Monitor } from '@perf/core'
import {
  ADMIN_PREFIX,
  BIG_BYTES,
  DASHBOARD_PREFIX,
  DASHBOARD_TOKEN,
  dbWork,
  echoWebHandler,
  MAX_HEADER_SIZE,
  PARAM_MOUNT,
  runConformance,
  sqlWork,
  slowWork,
  allocWork,
  streamChunks,
  THROWN_MESSAGE,
} from '@perf/test-kit'
import express5, { type Request } from 'express'
import express4 from 'express4'
import { dashboard, mountWebHandler, perf } from './index.js'

/** The conformance app on one major version of express (the peer range covers 4 and 5). */
const serverOn =
  (express: typeof express5) =>
  async (monitor: Monitor, options?: HttpOptions, more: readonly Monitor[] = []) => {
    const app = express()
    app.use(perf(monitor, options))
    for (const m of more) app.use(perf(m, options))
    app.use(ADMIN_PREFIX, mountWebHandler(echoWebHandler, { monitor }))
    app.use(PARAM_MOUNT, mountWebHandler(echoWebHandler, { monitor }))
    app.use(DASHBOARD_PREFIX, dashboard(monitor, { token: DASHBOARD_TOKEN }))
    app.get('/hello', (_req, res) => {
      res.send('hello')
    })
    app.get('/users/:id', (req, res) => {
      res.send(`user ${req.params.id}`)
    })
    const notes = express.Router()
    notes.get('/', (_req, res) => {
      res.send('notes')
    })
    notes.get('/:id', (req, res) => {
      res.send(`note ${req.params.id}`)
    })
    const api = express.Router()
    api.use('/notes', notes)
    app.use('/api', api)
    const orgs = express.Router({ mergeParams: true })
    orgs.get('/members/:id', (req, res) => {
      res.send(`member ${(req.params as Record<string, string>).org} ${req.params.id}`)
    })
    const teams = express.Router({ mergeParams: true })
    teams.get('/members/:id', (req, res) => {
      const { org, team, id } = req.params as Record<string, string>
      res.send(`member ${org} ${team} ${id}`)
    })
    orgs.use('/teams/:team', teams)
    app.use('/orgs/:org', orgs)
    app.get('/throw', () => {
      throw new Error(THROWN_MESSAGE)
    })
    app.get('/fail', (_req, res) => {
      res.status(500).send('fail')
    })
    app.get('/status/:code', (req, res) => {
      const code = Number(req.params.code)
      if (code === 302) res.setHeader('location', '/hello')
      res.status(code).send('status')
    })
    app.get('/stream', async (_req, res) => {
      for await (const chunk of streamChunks()) res.write(chunk)
      res.end()
    })
    app.post('/upload', express.raw({ type: () => true, limit: '10mb' }), (req, res) => {
      res.send(String((req.body as Buffer).length))
    })
    app.get('/big', (_req, res) => {
      res.send('x'.repeat(BIG_BYTES))
    })
    app.get('/alloc', async (req, res) => {
      res.send(await allocWork(req.query.hold !== undefined))
    })
    app.get('/slow', async (_req, res) => {
      await slowWork()
      res.send('late')
    })
    app.get('/id', (req: Request & { id?: string }, res) => {
      res.send(String(req.id))
    })
    app.get('/db', async (_req, res) => {
      res.send(await dbWork(monitor))
    })
    app.post('/db', express.json(), async (_req, res) => {
      res.send(await dbWork(monitor))
    })
    app.post('/sql', express.json(), (req, res) => {
      res.send(sqlWork(monitor, (req.body as { body?: unknown }).body))
    })
    const server = createServer({ maxHeaderSize: MAX_HEADER_SIZE }, app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    }
  }

runConformance('express 5', serverOn(express5))
runConformance('express 4', serverOn(express4))
