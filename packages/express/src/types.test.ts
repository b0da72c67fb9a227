// Type tests, checked by `tsc` in this package's typecheck: `req.id` must be typed for users of
// @perf/express (without the augmentation in index.ts this file fails with TS2339), and at run time
// it must carry the id sent as X-Request-ID.
import type { AddressInfo } from 'node:net'
import { createMonitor } from '@perf/core'
import express, { type Request } from 'express'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { perf } from './index.js'

describe('req.id', () => {
  it('is typed string | undefined on express Request and holds the X-Request-ID', async () => {
    expectTypeOf<Request['id']>().toEqualTypeOf<string | undefined>()
    const monitor = createMonitor()
    const app = express()
    app.use(perf(monitor))
    app.get('/id', (req, res) => {
      expectTypeOf(req.id).toEqualTypeOf<string | undefined>()
      res.json({ id: req.id })
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/id`, {
        headers: { 'x-request-id': 'abc-123' },
      })
      expect(await res.json()).toEqual({ id: 'abc-123' })
    } finally {
      server.close()
      await monitor.close()
    }
  })
})
