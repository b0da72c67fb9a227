// Type tests, checked by `tsc` in this package's typecheck: `app.register(perf, { monitor })` must
// compile and a registration without a monitor must not; `request.id` is a string.
import { createMonitor } from '@perf/core'
import Fastify from 'fastify'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { perf } from './index.js'

describe('types', () => {
  it('register(perf, { monitor }) type-checks, request.id is a string and carries the X-Request-ID', async () => {
    const monitor = createMonitor()
    const app = Fastify()
    await app.register(perf, { monitor })
    // Never called: these registrations must not compile.
    const wrong = () => {
      // @ts-expect-error the monitor is required
      void app.register(perf, {})
      // @ts-expect-error the monitor must be a Monitor
      void app.register(perf, { monitor: {} })
    }
    expect(typeof wrong).toBe('function')
    app.get('/id', async (request) => {
      expectTypeOf(request.id).toEqualTypeOf<string>()
      return { id: request.id }
    })
    const res = await app.inject({ url: '/id', headers: { 'x-request-id': 'abc-123' } })
    expect(res.json()).toEqual({ id: 'abc-123' })
    await app.close()
    await monitor.close()
  })
})
