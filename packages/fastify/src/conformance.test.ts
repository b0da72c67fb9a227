import { createServer } from 'node:http'
import { Readable } from 'node:stream'
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
import Fastify from 'fastify'
import Fastify4 from 'fastify4'
import { dashboard, perf, webHandlerPlugin } from './index.js'

/** The conformance app on one major version of fastify (the peer range covers 4.26+ and 5). */
const serverOn =
  (fastify: typeof Fastify) =>
  async (monitor: Monitor, options?: HttpOptions, more: readonly Monitor[] = []) => {
    const app = fastify({
      bodyLimit: 10 * 1024 * 1024,
      serverFactory: (handler) => createServer({ maxHeaderSize: MAX_HEADER_SIZE }, handler),
    })
    try {
      await app.register(perf, { monitor, ...options })
      for (const m of more) await app.register(perf, { monitor: m, ...options })
    } catch (err) {
      await app.close()
      throw err
    }
    await app.register(webHandlerPlugin, { prefix: ADMIN_PREFIX, handler: echoWebHandler, monitor })
    await app.register(webHandlerPlugin, { prefix: PARAM_MOUNT, handler: echoWebHandler, monitor })
    await app.register(dashboard, { monitor, token: DASHBOARD_TOKEN, prefix: DASHBOARD_PREFIX })
    app.get('/hello', async () => 'hello')
    app.get<{ Params: { id: string } }>('/users/:id', async (request) => `user ${request.params.id}`)
    await app.register(
      async (api) => {
        await api.register(
          async (notes) => {
            notes.get('/', async () => 'notes')
            notes.get<{ Params: { id: string } }>('/:id', async (request) => `note ${request.params.id}`)
          },
          { prefix: '/notes' },
        )
      },
      { prefix: '/api' },
    )
    await app.register(
      async (orgs) => {
        orgs.get<{ Params: { org: string; id: string } }>(
          '/members/:id',
          async (request) => `member ${request.params.org} ${request.params.id}`,
        )
        await orgs.register(
          async (teams) => {
            teams.get<{ Params: { org: string; team: string; id: string } }>(
              '/members/:id',
              async ({ params }) => `member ${params.org} ${params.team} ${params.id}`,
            )
          },
          { prefix: '/teams/:team' },
        )
      },
      { prefix: '/orgs/:org' },
    )
    app.get('/throw', async () => {
      throw new Error(THROWN_MESSAGE)
    })
    app.get('/fail', async (_request, reply) => reply.code(500).send('fail'))
    app.get<{ Params: { code: string } }>('/status/:code', async (request, reply) => {
      const code = Number(request.params.code)
      if (code === 302) reply.header('location', '/hello')
      return reply.code(code).send('status')
    })
    app.get('/stream', async (_request, reply) => reply.send(Readable.from(streamChunks())))
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
      done(null, body),
    )
    app.post('/upload', async (request) => String((request.body as Buffer).length))
    app.get('/big', async () => 'x'.repeat(BIG_BYTES))
    app.get('/alloc', async (request) => allocWork((request.query as { hold?: string }).hold !== undefined))
    app.get('/slow', async () => {
      await slowWork()
      return 'late'
    })
    app.get('/id', async (request) => request.id)
    app.get('/db', async () => dbWork(monitor))
    app.post('/db', async () => dbWork(monitor))
    app.post<{ Body: { body?: unknown } }>('/sql', async (request) => sqlWork(monitor, request.body.body))
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    return {
      url: address,
      close: async () => {
        app.server.closeAllConnections()
        await app.close()
      },
    }
  }

runConformance('fastify 5', serverOn(Fastify))
// Fastify 4's types differ from 5's in details the app does not use.
runConformance('fastify 4', serverOn(Fastify4 as unknown as typeof Fastify))
