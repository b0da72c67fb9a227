import { describe, expect, it, vi } from 'vitest'
import {
  contentLength,
  createHttpRecorder,
  isUnrecorded,
  markUnrecorded,
  normalizeMethod,
  OTHER_METHOD,
  PendingRequest,
  pathOf,
  rawHeader,
  UNMATCHED,
} from './http.js'
import { createMonitor } from './monitor.js'
import { now } from './runtime.js'
import { bytesAllocatedIn } from './test-support/allocations.js'
import { smallestAdapter } from './test-support/smallest-adapter.js'

describe('http helpers', () => {
  it('keeps standard methods and folds every other one into _OTHER', () => {
    expect(normalizeMethod('GET')).toBe('GET')
    expect(normalizeMethod('delete')).toBe('DELETE')
    expect(normalizeMethod('PROPFIND')).toBe(OTHER_METHOD)
    expect(normalizeMethod('')).toBe(OTHER_METHOD)
    expect(normalizeMethod(undefined)).toBe(OTHER_METHOD)
  })

  it('strips query string and fragment from a URL', () => {
    expect(pathOf('/a/b?x=1#f')).toBe('/a/b')
    expect(pathOf('/a#f?x')).toBe('/a')
    expect(pathOf('/a')).toBe('/a')
  })

  it('reads only sane Content-Length values', () => {
    expect(contentLength('12')).toBe(12)
    expect(contentLength(7)).toBe(7)
    expect(contentLength('-1')).toBeUndefined()
    expect(contentLength('1.5')).toBeUndefined()
    expect(contentLength('9'.repeat(40))).toBeUndefined()
    expect(contentLength(undefined)).toBeUndefined()
  })

  it('marks requests that must not be recorded', () => {
    const req = {}
    expect(isUnrecorded(req)).toBe(false)
    markUnrecorded(req)
    expect(isUnrecorded(req)).toBe(true)
  })
})

describe('HttpRecorder', () => {
  it('rejects bad options with a message naming the option and what is accepted', () => {
    const m = createMonitor()
    expect(() => createHttpRecorder(m, { ignore: ['health'] }, 'x')).toThrow(
      /options\.ignore.*starting with "\/"/,
    )
    expect(() => createHttpRecorder(m, { ignore: 'nope' as never }, 'x')).toThrow(TypeError)
    expect(() => createHttpRecorder(m, { requestIdHeader: 'a b' }, 'x')).toThrow(
      /options\.requestIdHeader = "a b"/,
    )
    expect(() => createHttpRecorder(m, { requestIdHeader: true as never }, 'x')).toThrow(
      /header name .* or false/,
    )
    expect(() => createHttpRecorder({} as never, {}, 'x')).toThrow(/expected a monitor/)
    expect(createHttpRecorder(m, { requestIdHeader: 'X-Trace' }, 'x').header).toBe('x-trace')
    expect(createHttpRecorder(m, { requestIdHeader: false }, 'x').header).toBeUndefined()
    expect(createHttpRecorder(m, undefined, 'x').header).toBe('x-request-id')
  })

  it('matches ignore paths exactly, prefixes on segment boundaries, and predicates', () => {
    const m = createMonitor()
    const r = createHttpRecorder(m, { ignore: ['/health', '/admin/*'] }, 'x')
    expect(r.ignores).toBe(true)
    expect(r.isIgnored('/health', 'GET')).toBe(true)
    expect(r.isIgnored('/healthz', 'GET')).toBe(false)
    expect(r.isIgnored('/admin', 'GET')).toBe(true)
    expect(r.isIgnored('/admin/x/y', 'GET')).toBe(true)
    expect(r.isIgnored('/administrator', 'GET')).toBe(false)
    expect(createHttpRecorder(m, {}, 'x').ignores).toBe(false)
    const throwing = createHttpRecorder(
      m,
      {
        ignore: () => {
          throw new Error('bad predicate')
        },
      },
      'x',
    )
    expect(throwing.isIgnored('/a', 'GET')).toBe(false)
    expect(m.snapshot().totals.internalErrors).toBe(1)
  })

  it('interns one op per method and route, and one unmatched op per method', () => {
    const m = createMonitor()
    const r = createHttpRecorder(m, {}, 'x')
    const a = r.op('GET', '/users/:id')
    expect(r.op('GET', '/users/:id')).toBe(a)
    expect(a.name).toBe('GET /users/:id')
    expect(r.op('PROPFIND', undefined).name).toBe(`_OTHER ${UNMATCHED}`)
    expect(r.op('post', '').name).toBe(`POST ${UNMATCHED}`)
  })

  it('records metadata, status classes, errors and db context', () => {
    const m = createMonitor({ sampling: 1 })
    const r = createHttpRecorder(m, {}, 'x')
    const op = r.op('GET', '/a')
    const ctx = r.newContext('id-1')
    ctx.dbQueries = 3
    ctx.dbMs = 4.5
    r.record(op, 12, {
      method: 'GET',
      url: '/a?x=1',
      status: 200,
      requestId: 'id-1',
      context: ctx,
      responseBytes: 9,
    })
    r.record(op, 1, { method: 'GET', url: '/a', status: 503 })
    r.record(op, 1, { method: 'GET', url: '/a', status: 200, aborted: true })
    r.record(op, 1, { method: 'HEAD', url: '/a', status: 200, responseBytes: 50 })
    const [head, aborted, failed, ok] = m.byType('http')
    expect(ok?.metadata).toEqual({
      method: 'GET',
      path: '/a',
      status: 200,
      responseBytes: 9,
      dbQueries: 3,
      dbMs: 4.5,
    })
    expect(ok?.requestId).toBe('id-1')
    expect(failed?.error).toBe('HTTP 503')
    expect(aborted?.error).toBe('aborted')
    expect(head?.metadata?.responseBytes).toBe(0)
    const stats = m.snapshot().types.http!.ops[0]!
    expect(stats.errors).toBe(2)
    // The aborted request is an error but in no status class.
    expect(stats.status).toEqual({ '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 1 })
  })

  it('never throws when the monitor does, and counts the failure', () => {
    const m = createMonitor()
    const r = createHttpRecorder(m, {}, '@perf/test')
    const bad = {
      type: 'http',
      name: 'x',
      record: () => {
        throw new Error('kaput')
      },
    }
    expect(() => r.record(bad, 1, { method: 'GET', url: '/', status: 200 })).not.toThrow()
    expect(m.snapshot().totals.internalErrors).toBe(1)
    expect(m.snapshot().lastInternalError).toBe('@perf/test record: Error: kaput')
  })

  it('times requests without reading the performance global each time (an accessor on Node)', async () => {
    const monitor = createMonitor({ sampling: 1 })
    const recorder = createHttpRecorder(monitor, {}, 'test')
    const TestRequest = smallestAdapter(PendingRequest)
    const own = Object.getOwnPropertyDescriptor(globalThis, 'performance')
    const real = globalThis.performance
    let reads = 0
    Object.defineProperty(globalThis, 'performance', {
      configurable: true,
      get: () => {
        reads++
        return real
      },
    })
    try {
      const start = now()
      for (let i = 0; i < 3; i++) new TestRequest(recorder).finish(undefined, false)
      monitor.time('job', 'sync', () => undefined)
      monitor.start('job', 'ended')()
      expect(now()).toBeGreaterThanOrEqual(start)
    } finally {
      if (own !== undefined) Object.defineProperty(globalThis, 'performance', own)
    }
    expect(reads).toBe(0)
    const snap = monitor.snapshot()
    expect(snap.types.http?.ops.map((op) => [op.name, op.totalCount])).toEqual([['GET /work', 3]])
    expect(snap.types.job?.ops.map((op) => op.totalCount)).toEqual([1, 1])
    await monitor.close()
  })

  it('uses a plain incoming id and replaces anything else', () => {
    const r = createHttpRecorder(createMonitor(), {}, 'x')
    expect(r.requestId('abc-1')).toBe('abc-1')
    expect(r.requestId(['a', 'b'])).not.toBe('a')
    expect(r.requestId('a, b')).not.toBe('a, b')
    expect(r.requestId('x'.repeat(129))).toMatch(DEFAULT_ID)
  })

  it('makes ids from a random per-process prefix and a counter, unique across processes', async () => {
    const r = createHttpRecorder(createMonitor(), {}, 'x')
    const ids = Array.from({ length: 10_000 }, () => r.requestId(undefined))
    for (const id of ids.slice(0, 100)) expect(id).toMatch(DEFAULT_ID)
    expect(new Set(ids).size).toBe(ids.length)
    const prefix = (id: string) => id.slice(0, id.indexOf('-'))
    expect(new Set(ids.map(prefix)).size).toBe(1)
    // A fresh copy of the module stands for another process: it draws its own prefix.
    vi.resetModules()
    const other = await import('./request-id.js')
    expect(prefix(other.newRequestId())).not.toBe(prefix(ids[0]!))
  })

  it('counts the ids in base 36 after the prefix, across every carry', async () => {
    vi.resetModules()
    const fresh = await import('./request-id.js')
    const ids = Array.from({ length: 50_000 }, () => fresh.newRequestId())
    const prefix = ids[0]!.slice(0, ids[0]!.indexOf('-') + 1)
    // 1 … 50000: one-, two-, three- and four-digit counters, every 36th id a carry.
    ids.forEach((id, i) => {
      if (id !== prefix + (i + 1).toString(36)) expect(id).toBe(prefix + (i + 1).toString(36))
    })
    expect(ids[35]).toBe(`${prefix}10`)
    expect(ids[1295]).toBe(`${prefix}100`)
  })

  it('makes a default id with a few dozen bytes, not a UUID’s garbage', async () => {
    const r = createHttpRecorder(createMonitor(), {}, 'x')
    const n = 20_000
    let last = ''
    // Every allocation while the ids are made, whoever makes it (a UUID's are in Node's crypto).
    const bytes = await bytesAllocatedIn([''], async () => {
      for (let i = 0; i < n; i++) last = r.requestId(undefined)
    })
    expect(last).toMatch(DEFAULT_ID)
    expect(bytes / n).toBeLessThan(100)
  })

  it('takes the user’s id generator, checks what it returns, and counts a bad one', () => {
    const m = createMonitor()
    let n = 0
    const r = createHttpRecorder(m, { generateRequestId: () => `mine.${++n}` }, '@perf/test')
    expect(r.requestId(undefined)).toBe('mine.1')
    expect(r.requestId('from-client')).toBe('from-client')
    expect(r.requestId('bad id')).toBe('mine.2')
    for (const bad of [() => 'a b\r\nx', () => 42, () => '', () => 'x'.repeat(129)]) {
      const rb = createHttpRecorder(m, { generateRequestId: bad as () => string }, '@perf/test')
      expect(rb.requestId(undefined)).toMatch(DEFAULT_ID)
    }
    const throwing = createHttpRecorder(
      m,
      {
        generateRequestId: () => {
          throw new Error('no ids today')
        },
      },
      '@perf/test',
    )
    expect(throwing.requestId(undefined)).toMatch(DEFAULT_ID)
    expect(m.snapshot().totals.internalErrors).toBe(5)
    expect(m.snapshot().lastInternalError).toBe('@perf/test generateRequestId: Error: no ids today')
    expect(() => createHttpRecorder(m, { generateRequestId: 'uuid' as never }, '@perf/test')).toThrow(
      /@perf\/test: options\.generateRequestId = "uuid" is not valid: expected a function/,
    )
  })
})

const DEFAULT_ID = /^[A-Za-z0-9]{16}-[0-9a-z]+$/

describe('rawHeader', () => {
  it('finds a header in Node rawHeaders whatever its case, arrays when repeated', () => {
    const raw = ['Host', 'x', 'X-Request-ID', 'abc', 'content-length', '12', 'x-request-id', 'def']
    expect(rawHeader(raw, 'content-length')).toBe('12')
    expect(rawHeader(raw, 'x-request-id')).toEqual(['abc', 'def'])
    expect(rawHeader(raw, 'x-trace-id')).toBeUndefined()
    expect(rawHeader(undefined, 'host')).toBeUndefined()
    expect(rawHeader(['Host'], 'host')).toBeUndefined()
  })
})
