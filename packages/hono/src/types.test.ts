// Type tests, checked by `tsc` in this package's typecheck: with `PerfVariables`, `c.get('requestId')`
// is a string (an unknown variable does not compile), and at run time it is the X-Request-ID.
import { createMonitor } from '@perf/core'
import { Hono } from 'hono'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { type PerfVariables, perf } from './index.js'

describe('types', () => {
  it("c.get('requestId') is a string and carries the X-Request-ID", async () => {
    const monitor = createMonitor()
    const app = new Hono<{ Variables: PerfVariables }>()
    app.use(perf(monitor))
    app.get('/id', (c) => {
      expectTypeOf(c.get('requestId')).toEqualTypeOf<string>()
      // @ts-expect-error perf sets no such variable
      c.get('requestID')
      return c.json({ id: c.get('requestId') })
    })
    const res = await app.request('/id', { headers: { 'x-request-id': 'abc-123' } })
    expect(await res.json()).toEqual({ id: 'abc-123' })
    await monitor.close()
  })
})
