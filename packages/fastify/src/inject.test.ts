import { createMonitor } from '@perf/core'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { perf } from './perf.js'
import { webHandlerPlugin } from './web-handler.js'

describe('@perf/fastify without a socket', () => {
  it('records app.inject() requests with their status, not as aborted errors', async () => {
    const monitor = createMonitor({ sampling: 1 })
    const app = Fastify()
    await app.register(perf, { monitor })
    app.get('/items/:id', async () => ({ ok: true }))
    app.get('/boom', async () => {
      throw new Error('boom')
    })
    await app.ready()
    expect((await app.inject({ method: 'GET', url: '/items/1' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/boom' })).statusCode).toBe(500)
    const ops = Object.fromEntries(monitor.snapshot().types.http!.ops.map((o) => [o.name, o]))
    expect(ops['GET /items/:id']).toMatchObject({ count: 1, errors: 0, status: { '2xx': 1 } })
    expect(ops['GET /boom']).toMatchObject({ count: 1, errors: 1, status: { '5xx': 1 } })
    expect(monitor.slowEvents()[0]!.error).toMatch(/boom/)
    await app.close()
    await monitor.close()
  })

  it('interns no op for routes served by a mounted web handler', async () => {
    const monitor = createMonitor({ sampling: 1 })
    const app = Fastify()
    await app.register(perf, { monitor })
    await app.register(webHandlerPlugin, { prefix: '/admin', handler: async () => new Response('hi') })
    app.get('/', async () => 'home')
    await app.ready()
    expect((await app.inject({ method: 'GET', url: '/admin/x' })).body).toBe('hi')
    await app.inject({ method: 'GET', url: '/' })
    expect(monitor.snapshot().types.http!.ops.map((o) => o.name)).toEqual(['GET /'])
    await app.close()
    await monitor.close()
  })

  it('refuses a prefix whose width depends on the request at registration, naming it', async () => {
    const app = Fastify()
    const handler = async () => new Response('hi')
    await expect(app.register(webHandlerPlugin, { prefix: '/t/:tenant?', handler })).rejects.toThrow(
      /^webHandlerPlugin: mount path "\/t\/:tenant\?" has a segment/,
    )
    await app.close()
  })
})
