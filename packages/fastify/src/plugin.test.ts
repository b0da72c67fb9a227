import { createMonitor } from '@perf/core'
import Fastify from 'fastify'
import Fastify4 from 'fastify4'
import { describe, expect, it } from 'vitest'
import { dashboard } from './dashboard.js'
import { perf } from './perf.js'

const majors = [
  ['fastify 5', Fastify],
  ['fastify 4', Fastify4 as unknown as typeof Fastify],
] as const

describe.each(majors)('@perf/fastify as a fastify-plugin plugin (%s)', (_label, make) => {
  it('carries fastify-plugin metadata (name, the fastify majors it runs on), so fastify checks the version', async () => {
    expect((perf as unknown as Record<symbol, unknown>)[Symbol.for('plugin-meta')]).toMatchObject({
      name: '@perf/fastify',
      fastify: '4.x || 5.x',
    })
    const monitor = createMonitor({ sampling: 1 })
    const app = make()
    // Not encapsulated: its hooks apply to the context it is registered in, so to the app's routes.
    await app.register(perf, { monitor })
    app.get('/a', async () => 'a')
    await app.ready()
    await app.inject({ url: '/a' })
    expect(monitor.snapshot().types.http!.ops.map((o) => o.name)).toEqual(['GET /a'])
    await app.close()
    await monitor.close()
  })

  it('mounts the dashboard under its register prefix the same way as metrics: a child web-handler plugin', async () => {
    const monitor = createMonitor({ sampling: 1 })
    const app = make()
    await app.register(perf, { monitor })
    await app.register(dashboard, { monitor, prefix: '/t/:tenant/perf', allowUnauthenticatedLocalhost: true })
    await app.ready()
    const res = await app.inject({ url: '/t/acme/perf/api/snapshot', remoteAddress: '127.0.0.1' })
    expect(res.statusCode).toBe(200)
    expect(monitor.snapshot().types.http?.ops ?? []).toEqual([])
    await app.close()
    await monitor.close()
  })
})
