import { afterEach, describe, expect, it } from 'vitest'
import type { WebHandler } from './http.js'
import { createMonitor, type Monitor } from './monitor.js'
import {
  MAX_WEB_BODY_BYTES,
  MOUNT_ABORTED,
  type MountedRequest,
  mountSegments,
  serveMounted,
  splitMountPath,
} from './web-mount.js'

const CHUNK = 64 * 1024
const monitors: Monitor[] = []

afterEach(async () => {
  for (const m of monitors.splice(0)) await m.close()
})

/** A body source that counts how often it was asked for and how many chunks it gave. */
function source(chunks: number, fail?: Error) {
  const seen = { opened: 0, pulled: 0 }
  const body = () => {
    seen.opened++
    return (async function* () {
      for (let i = 0; i < chunks; i++) {
        seen.pulled++
        yield new Uint8Array(CHUNK)
      }
      if (fail !== undefined) throw fail
    })()
  }
  return { seen, body }
}

function post(
  body: MountedRequest['body'],
  headers: Record<string, string> = {},
  method = 'POST',
): MountedRequest {
  return {
    method,
    url: 'http://app.test/login',
    headers: new Headers({ 'transfer-encoding': 'chunked', ...headers }),
    body,
  }
}

const reads: WebHandler = async (request) => new Response(String((await request.arrayBuffer()).byteLength))

describe('serveMounted', () => {
  it('reads nothing of the body when the handler answers without reading it (credentials first)', async () => {
    const { seen, body } = source(3200)
    let called = 0
    const result = await serveMounted(
      async () => {
        called++
        return new Response('unauthorized', { status: 401 })
      },
      post(body),
      {},
    )
    expect(called).toBe(1)
    expect(result.response.status).toBe(401)
    expect(seen).toEqual({ opened: 0, pulled: 0 })
    expect(result.bodyLeft).toBe(true)
  })

  it('drops what the handler left of a body, up to a limit, telling whether it ended', async () => {
    const huge = source(3200)
    const refused = await serveMounted(async () => new Response('no', { status: 401 }), post(huge.body), {})
    expect(await refused.discard(MAX_WEB_BODY_BYTES, 5000)).toBe(false)
    expect(huge.seen.pulled).toBe(MAX_WEB_BODY_BYTES / CHUNK + 1)
    const small = source(4)
    const done = await serveMounted(async () => new Response('no', { status: 401 }), post(small.body), {})
    expect(await done.discard(MAX_WEB_BODY_BYTES, 5000)).toBe(true)
    // A client that stops sending without ending its body: given up after the time limit.
    const stalled: MountedRequest['body'] = () => ({
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<unknown>>(() => {}) }),
    })
    const waiting = await serveMounted(async () => new Response('no', { status: 401 }), post(stalled), {})
    expect(await waiting.discard(MAX_WEB_BODY_BYTES, 20)).toBe(false)
  })

  it('answers 413 from Content-Length without calling the handler or reading the body', async () => {
    const { seen, body } = source(3200)
    let called = 0
    const result = await serveMounted(
      async () => {
        called++
        return new Response('ok')
      },
      post(body, { 'content-length': String(200 * 1024 * 1024) }),
      {},
    )
    expect(result.response.status).toBe(413)
    expect(called).toBe(0)
    expect(seen.opened).toBe(0)
  })

  it('stops reading a streamed body at the cap and answers 413, even when the handler catches it', async () => {
    const catches: WebHandler = async (request) => {
      try {
        await request.text()
        return new Response('read')
      } catch {
        return new Response('handled', { status: 400 })
      }
    }
    for (const handler of [reads, catches]) {
      const { seen, body } = source(3200)
      const result = await serveMounted(handler, post(body), {})
      expect(result.response.status).toBe(413)
      expect(await result.response.text()).toBe('Payload Too Large')
      // One chunk past the cap, never the 200 MB offered.
      expect(seen.pulled).toBe(MAX_WEB_BODY_BYTES / CHUNK + 1)
    }
  })

  it('hands a body under the cap to the handler whole', async () => {
    const { body } = source(16)
    const result = await serveMounted(reads, post(body), {})
    expect(await result.response.text()).toBe(String(16 * CHUNK))
    expect(result.bodyLeft).toBe(false)
  })

  it('counts a body that fails midway (the client went away) instead of throwing it', async () => {
    const monitor = createMonitor()
    monitors.push(monitor)
    const { body } = source(2, Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
    const result = await serveMounted(reads, post(body), {}, { monitor })
    expect(result.aborted).toBe(true)
    expect(monitor.snapshot().counters.http?.[MOUNT_ABORTED]).toBe(1)
    // A handler failing for a reason of its own still rejects.
    await expect(
      serveMounted(
        async () => {
          throw new Error('own failure')
        },
        post(source(1).body),
        {},
        { monitor },
      ),
    ).rejects.toThrow('own failure')
    expect(monitor.snapshot().counters.http?.[MOUNT_ABORTED]).toBe(1)
  })

  it('answers 405 with Allow to methods a Request cannot carry, without calling the handler', async () => {
    let called = 0
    const handler: WebHandler = async () => {
      called++
      return new Response('ok')
    }
    for (const method of ['TRACE', 'TRACK', 'CONNECT', 'trace', 'PROPFIND']) {
      const result = await serveMounted(handler, post(source(1).body, {}, method), {})
      expect(result.response.status, method).toBe(405)
      expect(result.response.headers.get('allow')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
    }
    expect(called).toBe(0)
  })
})

describe('mount paths', () => {
  it('counts the segments of literal and :param templates', () => {
    expect(mountSegments('test', '')).toBe(0)
    expect(mountSegments('test', '/admin/performance')).toBe(2)
    expect(mountSegments('test', '/t/:tenant/perf')).toBe(3)
  })

  it('refuses templates whose width depends on the request, naming the call and the path', () => {
    for (const template of ['/files/*', '/t/:tenant?', '/t/:id{[0-9]+}/perf', '/t/:id(^\\d+)/perf']) {
      expect(() => mountSegments('webHandlerPlugin', template), template).toThrow(TypeError)
      expect(() => mountSegments('webHandlerPlugin', template), template).toThrow(
        new RegExp(
          `^webHandlerPlugin: mount path ${JSON.stringify(template).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}`,
        ),
      )
    }
  })

  it('splits a URL after the template, keeping the query and collapsing duplicate slashes in the base', () => {
    expect(splitMountPath('/t/acme/perf/api/x?y=1', 3)).toEqual({
      basePath: '/t/acme/perf',
      rest: '/api/x?y=1',
    })
    expect(splitMountPath('/t/acme/perf', 3)).toEqual({ basePath: '/t/acme/perf', rest: '/' })
    expect(splitMountPath('/t/acme/perf?x=1', 3)).toEqual({ basePath: '/t/acme/perf', rest: '/?x=1' })
    expect(splitMountPath('//t//acme/perf/', 3)).toEqual({ basePath: '/t/acme/perf', rest: '/' })
    expect(splitMountPath('/x?y=/a/b', 0)).toEqual({ basePath: '', rest: '/x?y=/a/b' })
  })
})
