import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { webHandlerApp } from './web-handler.js'

describe('webHandlerApp', () => {
  it('refuses a mount path whose width depends on the request with an error naming it', async () => {
    const app = new Hono()
    const errors: unknown[] = []
    app.onError((err, c) => {
      errors.push(err)
      return c.text('refused', 500)
    })
    app.route(
      '/t/:tenant{[a-z]+}/perf',
      webHandlerApp(async () => new Response('hi')),
    )
    expect((await app.request('/t/acme/perf/x')).status).toBe(500)
    expect(errors[0]).toBeInstanceOf(TypeError)
    expect(String(errors[0])).toMatch(
      /webHandlerApp: mount path "\/t\/:tenant\{\[a-z\]\+\}\/perf" has a segment/,
    )
  })
})
