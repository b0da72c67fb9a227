import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve as serve2 } from '@hono/node-server'
import { serve as serve1 } from '@hono/node-server-1'
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
  THROWN_MESSAGE,
  webStream,
} from '@perf/test-kit'
import { Hono } from 'hono'
import { dashboard, type PerfVariables, perf, webHandlerApp } from './index.js'

/** The conformance app served by one major version of `@hono/node-server` (users install 1.x or 2.x). */
const serverOn =
  (serve: typeof serve2) =>
  async (monitor: Monitor, options?: HttpOptions, more: readonly Monitor[] = []) => {
    const app = new Hono<{ Variables: PerfVariables }>()
    app.use(perf(monitor, options))
    for (const m of more) app.use(perf(m, options))
    app.route(ADMIN_PREFIX, webHandlerApp(echoWebHandler, { monitor }))
    app.route(PARAM_MOUNT, webHandlerApp(echoWebHandler, { monitor }))
    app.route(DASHBOARD_PREFIX, dashboard(monitor, { token: DASHBOARD_TOKEN }))
    // With an explicit status: @hono/node-server 1.19 answers HEAD with 500 when the GET handler returns
    // the bare `c.text(body)` fast-path response (hono wraps it as `new Response(null, res)`, which
    // node-server's lightweight Response cannot copy). That is upstream and happens without @perf/hono.
    app.get('/hello', (c) => c.text('hello', 200))
    app.get('/users/:id', (c) => c.text(`user ${c.req.param('id')}`))
    const notes = new Hono()
    notes.get('/', (c) => c.text('notes'))
    notes.get('/:id', (c) => c.text(`note ${c.req.param('id')}`))
    const api = new Hono()
    api.route('/notes', notes)
    app.route('/api', api)
    const orgs = new Hono()
    orgs.get('/members/:id', (c) => c.text(`member ${c.req.param('org')} ${c.req.param('id')}`))
    const teams = new Hono()
    teams.get('/members/:id', (c) =>
      c.text(`member ${c.req.param('org')} ${c.req.param('team')} ${c.req.param('id')}`),
    )
    orgs.route('/teams/:team', teams)
    app.route('/orgs/:org', orgs)
    app.get('/throw', () => {
      throw new Error(THROWN_MESSAGE)
    })
    app.get('/fail', (c) => c.text('fail', 500))
    app.get('/status/:code', (c) => {
      const code = Number(c.req.param('code'))
      if (code === 302) c.header('location', '/hello')
      return c.body('status', code as 200)
    })
    app.get('/stream', () => new Response(webStream(), { headers: { 'content-type': 'text/plain' } }))
    app.post('/upload', async (c) => c.text(String((await c.req.arrayBuffer()).byteLength)))
    app.get('/big', (c) => c.text('x'.repeat(BIG_BYTES)))
    app.get('/alloc', async (c) => c.text(await allocWork(c.req.query('hold') !== undefined), 200))
    app.get('/slow', async (c) => {
      await slowWork()
      return c.text('late')
    })
    app.get('/id', (c) => c.text(String(c.get('requestId'))))
    app.get('/db', async (c) => c.text(await dbWork(monitor)))
    app.post('/db', async (c) => {
      await c.req.json()
      return c.text(await dbWork(monitor))
    })
    app.post('/sql', async (c) => c.text(sqlWork(monitor, (await c.req.json<{ body?: unknown }>()).body)))
    const server = serve({
      fetch: app.fetch,
      port: 0,
      hostname: '127.0.0.1',
      createServer,
      serverOptions: { maxHeaderSize: MAX_HEADER_SIZE },
    })
    await new Promise<void>((resolve) =>
      server.listening ? resolve() : server.once('listening', () => resolve()),
    )
    const { port } = server.address() as AddressInfo
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          if ('closeAllConnections' in server) server.closeAllConnections()
          server.close(() => resolve())
        }),
    }
  }

runConformance('hono on @hono/node-server 2', serverOn(serve2))
runConformance('hono on @hono/node-server 1', serverOn(serve1 as unknown as typeof serve2))
