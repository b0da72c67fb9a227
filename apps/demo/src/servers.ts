import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Monitor } from '@perf/core'
import type { DashboardOptions } from '@perf/dashboard'
import { dashboard as expressDashboard, metrics as expressMetrics, perf as expressPerf } from '@perf/express'
import { dashboard as fastifyDashboard, metrics as fastifyMetrics, perf as fastifyPerf } from '@perf/fastify'
import { dashboard as honoDashboard, metrics as honoMetrics, perf as honoPerf } from '@perf/hono'
import { serve } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { HttpError, type Notes } from './notes.js'

/** Where the admin page is mounted in every app. */
export const ADMIN_PATH = '/admin/performance'
/** Where each app serves its numbers for Prometheus (the admin token guards it too). */
export const METRICS_PATH = '/metrics'

/** A listening app: its base URL and how to stop it. */
export interface RunningServer {
  readonly url: string
  close(): Promise<void>
}

/** What every app needs: the shared monitor, the notes service and the dashboard's options. */
export interface AppDeps {
  readonly monitor: Monitor
  readonly notes: Notes
  readonly dashboard: DashboardOptions
  readonly host: string
}

function errorBody(err: unknown): { status: number; body: { error: string } } {
  if (err instanceof HttpError) return { status: err.status, body: { error: err.message } }
  return { status: 500, body: { error: 'internal error' } }
}

function toId(raw: string): number {
  const id = Number(raw)
  if (!Number.isInteger(id) || id < 1) throw new HttpError(400, 'id must be a positive integer')
  return id
}

/** The notes service on express 5. */
export async function startExpress(deps: AppDeps, port: number): Promise<RunningServer> {
  const { monitor, notes } = deps
  const app = express()
  app.disable('x-powered-by')
  app.use(expressPerf(monitor))
  app.use(ADMIN_PATH, expressDashboard(monitor, deps.dashboard))
  app.get(METRICS_PATH, expressMetrics(monitor, { token: deps.dashboard.token ?? false }))
  app.use(express.json({ limit: '64kb' }))
  app.get('/notes', (req, res) => {
    res.json(notes.list(Number(req.query.limit ?? 20), Number(req.query.offset ?? 0)))
  })
  app.get('/notes/:id', (req, res) => {
    res.json(notes.get(toId(req.params.id)))
  })
  app.post('/notes', (req, res) => {
    res.status(201).json(notes.create(req.body))
  })
  app.put('/notes/:id', (req, res) => {
    res.json(notes.update(toId(req.params.id), req.body))
  })
  app.delete('/notes/:id', (req, res) => {
    res.json(notes.remove(toId(req.params.id)))
  })
  app.get('/feed', (_req, res) => {
    res.json(notes.feed())
  })
  app.get('/search', (req, res) => {
    res.json(notes.search(String(req.query.q ?? '')))
  })
  app.get('/reports/slow', (_req, res) => {
    res.json(notes.slowReport())
  })
  app.get('/reports/broken', (_req, res) => {
    res.json(notes.broken())
  })
  app.get('/health', (_req, res) => {
    res.json({ ok: true })
  })
  app.use((_req: express.Request, res: express.Response) => {
    res.status(404).json({ error: 'not found' })
  })
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const { status, body } = errorBody(err)
    res.status(status).json(body)
  })
  const server = await new Promise<Server>((ok, fail) => {
    const s = app.listen(port, deps.host, (err?: Error) => (err ? fail(err) : ok(s)))
  })
  return nodeServer(server, deps.host)
}

/** The notes service on fastify 5. */
export async function startFastify(deps: AppDeps, port: number): Promise<RunningServer> {
  const { monitor, notes } = deps
  // Ctrl-C should not wait for idle keep-alive clients (the traffic generator, a browser tab).
  const app = Fastify({ logger: false, forceCloseConnections: true })
  await app.register(fastifyPerf, { monitor })
  await app.register(fastifyDashboard, { monitor, ...deps.dashboard, prefix: ADMIN_PATH })
  await app.register(fastifyMetrics, { monitor, path: METRICS_PATH, token: deps.dashboard.token ?? false })
  app.setErrorHandler((err, _req, reply) => {
    const { status, body } =
      err instanceof HttpError || !(typeof (err as { statusCode?: unknown }).statusCode === 'number')
        ? errorBody(err)
        : { status: (err as { statusCode: number }).statusCode, body: { error: (err as Error).message } }
    void reply.status(status).send(body)
  })
  app.setNotFoundHandler((_req, reply) => {
    void reply.status(404).send({ error: 'not found' })
  })
  type Id = { Params: { id: string } }
  type Q = { Querystring: Record<string, string | undefined> }
  app.get<Q>('/notes', async (req) =>
    notes.list(Number(req.query.limit ?? 20), Number(req.query.offset ?? 0)),
  )
  app.get<Id>('/notes/:id', async (req) => notes.get(toId(req.params.id)))
  app.post('/notes', async (req, reply) => {
    void reply.status(201)
    return notes.create(req.body)
  })
  app.put<Id>('/notes/:id', async (req) => notes.update(toId(req.params.id), req.body))
  app.delete<Id>('/notes/:id', async (req) => notes.remove(toId(req.params.id)))
  app.get('/feed', async () => notes.feed())
  app.get<Q>('/search', async (req) => notes.search(String(req.query.q ?? '')))
  app.get('/reports/slow', async () => notes.slowReport())
  app.get('/reports/broken', async () => notes.broken())
  app.get('/health', async () => ({ ok: true }))
  await app.listen({ port, host: deps.host })
  const { port: bound } = app.server.address() as AddressInfo
  return { url: `http://${urlHost(deps.host)}:${bound}`, close: () => app.close() }
}

/** The notes service on hono 4 with @hono/node-server. */
export async function startHono(deps: AppDeps, port: number): Promise<RunningServer> {
  const { monitor, notes } = deps
  const app = new Hono()
  app.use('*', honoPerf(monitor))
  app.route(ADMIN_PATH, honoDashboard(monitor, deps.dashboard))
  app.get(METRICS_PATH, honoMetrics(monitor, { token: deps.dashboard.token ?? false }))
  app.get('/notes', (c) =>
    c.json(notes.list(Number(c.req.query('limit') ?? 20), Number(c.req.query('offset') ?? 0))),
  )
  app.get('/notes/:id', (c) => c.json(notes.get(toId(c.req.param('id')))))
  app.post('/notes', async (c) => c.json(notes.create(await c.req.json().catch(() => null)), 201))
  app.put('/notes/:id', async (c) =>
    c.json(notes.update(toId(c.req.param('id')), await c.req.json().catch(() => null))),
  )
  app.delete('/notes/:id', (c) => c.json(notes.remove(toId(c.req.param('id')))))
  app.get('/feed', (c) => c.json(notes.feed()))
  app.get('/search', (c) => c.json(notes.search(c.req.query('q') ?? '')))
  app.get('/reports/slow', (c) => c.json(notes.slowReport()))
  app.get('/reports/broken', (c) => c.json(notes.broken()))
  app.get('/health', (c) => c.json({ ok: true }))
  app.notFound((c) => c.json({ error: 'not found' }, 404))
  app.onError((err, c) => {
    const { status, body } = errorBody(err)
    return c.json(body, status as 400)
  })
  const server = await new Promise<Server>((ok) => {
    const s = serve({ fetch: app.fetch, port, hostname: deps.host }, () => ok(s as Server))
  })
  return nodeServer(server, deps.host)
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

function nodeServer(server: Server, host: string): RunningServer {
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${urlHost(host)}:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok())
        server.closeAllConnections()
      }),
  }
}
