import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ADMIN_AUTH_COUNTER_TYPE,
  constantTimeEqual,
  createAdminAuth,
  isLoopbackHost,
  resolveToken,
} from './admin-auth.js'
import { createMetricsHandler } from './metrics-handler.js'
import { createMonitor, type Monitor } from './monitor.js'

const ADMIN = 'admin-token-0123456789abcdef'
const SCRAPE = 'scrape-token-0123456789abcdef'
const monitors: Monitor[] = []

function monitor(): Monitor {
  const m = createMonitor()
  monitors.push(m)
  return m
}

afterEach(async () => {
  for (const m of monitors.splice(0)) await m.close()
})

const scrape = (token?: string) =>
  new Request('http://127.0.0.1:9464/metrics', token ? { headers: { authorization: `Bearer ${token}` } } : {})

function counter(m: Monitor, name: string): number {
  return m.snapshot().counters[ADMIN_AUTH_COUNTER_TYPE]?.[name] ?? 0
}

describe('token rule', () => {
  it('takes a token from the option or the variable, trims a trailing newline, and names the source', () => {
    expect(
      resolveToken('f', 'token', undefined, { PERF_ADMIN_TOKEN: `${ADMIN}\n` }, 'PERF_ADMIN_TOKEN'),
    ).toBe(ADMIN)
    expect(resolveToken('f', 'token', ` ${ADMIN}\r\n`, {}, 'PERF_ADMIN_TOKEN')).toBe(ADMIN)
    expect(
      resolveToken('f', 'token', undefined, { PERF_ADMIN_TOKEN: '  ' }, 'PERF_ADMIN_TOKEN'),
    ).toBeUndefined()
    expect(resolveToken('f', 'token', false, { PERF_ADMIN_TOKEN: ADMIN }, 'PERF_ADMIN_TOKEN')).toBeUndefined()
    expect(() =>
      resolveToken('f', 'token', undefined, { PERF_ADMIN_TOKEN: 'x' }, 'PERF_ADMIN_TOKEN'),
    ).toThrow(
      new RangeError(
        'f: PERF_ADMIN_TOKEN is 1 character long; a token must be 16 to 1024 characters (make one with: openssl rand -base64 24)',
      ),
    )
    expect(() => resolveToken('f', 'token', 'y'.repeat(15), {}, 'PERF_ADMIN_TOKEN')).toThrow(
      /f: options\.token is 15 characters long; a token must be 16 to 1024/,
    )
    expect(() => resolveToken('f', 'token', 'y'.repeat(1025), {}, 'PERF_ADMIN_TOKEN')).toThrow(RangeError)
    expect(() => resolveToken('f', 'token', 'a b c d e f g h i j', {}, 'PERF_ADMIN_TOKEN')).toThrow(
      /visible ASCII characters without spaces/,
    )
    // The message never quotes the value: it is a secret.
    expect(() => resolveToken('f', 'token', undefined, { T: 'my secret value!' }, 'T')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret') }),
    )
    expect(() => resolveToken('f', 'token', '', {}, 'PERF_ADMIN_TOKEN')).toThrow(
      'f: options.token is empty; pass false for no token, or leave it undefined to read PERF_ADMIN_TOKEN',
    )
    expect(() => resolveToken('f', 'token', 42, {}, 'PERF_ADMIN_TOKEN')).toThrow(
      /f: options\.token must be a string \(the token\) or false \(none\), got number/,
    )
  })

  it('gives /metrics the same rule: short tokens and spaces throw, a trailing newline still lets the scraper in', async () => {
    const m = monitor()
    // Before: "a b" was accepted and a 1-character token was fine; a trailing newline refused every scrape.
    expect(() => createMetricsHandler(m, { env: { PERF_ADMIN_TOKEN: 'a b' } })).toThrow(
      /createMetricsHandler: PERF_ADMIN_TOKEN is 3 characters long/,
    )
    expect(() => createMetricsHandler(m, { token: 'x' })).toThrow(/options\.token is 1 character long/)
    expect(() => createMetricsHandler(m, { env: { PERF_ADMIN_TOKEN: `${ADMIN} more` } })).toThrow(
      /without spaces/,
    )
    const handler = createMetricsHandler(m, { env: { PERF_ADMIN_TOKEN: `${ADMIN}\n` } })
    expect((await handler(scrape(ADMIN))).status).toBe(200)
    expect((await handler(scrape(`${ADMIN}x`))).status).toBe(401)
  })

  it('compares without an early exit and without throwing on lengths', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true)
    expect(constantTimeEqual('abc', 'abcd')).toBe(false)
    expect(constantTimeEqual('', 'abcd')).toBe(false)
    expect(constantTimeEqual('é', 'e')).toBe(false)
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true)
  })
})

describe('scrape token', () => {
  it('opens /metrics with the scrape token or the admin token, and is read from PERF_SCRAPE_TOKEN', async () => {
    const m = monitor()
    for (const handler of [
      createMetricsHandler(m, { scrapeToken: SCRAPE, env: { PERF_ADMIN_TOKEN: ADMIN } }),
      createMetricsHandler(m, { env: { PERF_ADMIN_TOKEN: ADMIN, PERF_SCRAPE_TOKEN: SCRAPE } }),
    ]) {
      expect((await handler(scrape())).status).toBe(401)
      expect((await handler(scrape(SCRAPE))).status).toBe(200)
      expect((await handler(scrape(ADMIN))).status).toBe(200)
    }
    // A scrape token alone closes /metrics (before: ignored, so the metrics were open to anyone).
    const only = createMetricsHandler(m, { scrapeToken: SCRAPE, env: {} })
    expect((await only(scrape())).status).toBe(401)
    expect((await only(scrape(SCRAPE))).status).toBe(200)
  })

  it('refuses a scrape token equal to the admin token', () => {
    const m = monitor()
    expect(() => createMetricsHandler(m, { token: ADMIN, scrapeToken: ADMIN })).toThrow(
      /scrape token \(scrapeToken \/ PERF_SCRAPE_TOKEN\) must differ from the admin token/,
    )
  })
})

describe('throttle', () => {
  // A frozen clock: the counts below must not depend on how fast the machine is.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('blocks an address after repeated wrong tokens, even for the right one, and counts it', async () => {
    const m = monitor()
    const handler = createMetricsHandler(m, { token: ADMIN, env: {} })
    const attacker = { remoteAddress: '203.0.113.7' }
    for (let i = 0; i < 30; i++) await handler(scrape(`wrong-token-000000000${i}`), attacker)
    const blocked = await handler(scrape(ADMIN), attacker)
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    // Another client is not affected; an IPv6 client is throttled by its /64.
    expect((await handler(scrape(ADMIN), { remoteAddress: '198.51.100.1' })).status).toBe(200)
    expect(counter(m, 'failed')).toBe(6)
    expect(counter(m, 'throttled')).toBe(25)
    for (let i = 0; i < 6; i++)
      await handler(scrape('wrong-token-0000000000'), { remoteAddress: '2001:db8::1' })
    expect((await handler(scrape(ADMIN), { remoteAddress: '2001:db8:0:0:ffff::2' })).status).toBe(429)
    expect((await handler(scrape(ADMIN), { remoteAddress: '2001:db8:0:1::2' })).status).toBe(200)
  })

  it('keeps a bounded table: past 10,000 addresses the stalest is forgotten and counted', async () => {
    const m = monitor()
    const auth = createAdminAuth({ call: 'test', monitor: m, token: ADMIN, env: {} })
    const wrong = scrape('wrong-token-0000000000')
    for (let i = 0; i < 10_003; i++) {
      const remoteAddress = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
      expect(await auth.check(wrong, { remoteAddress })).toBe('wrong')
    }
    expect(counter(m, 'throttleEvicted')).toBe(3)
  })

  it('uses the last X-Forwarded-For value as the client only with trustProxy', async () => {
    const m = monitor()
    const proxied = createMetricsHandler(m, { token: ADMIN, trustProxy: true, env: {} })
    const proxy = { remoteAddress: '127.0.0.1' }
    const from = (client: string, token: string) =>
      new Request('http://127.0.0.1/metrics', {
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': `10.9.9.9, ${client}` },
      })
    for (let i = 0; i < 8; i++) await proxied(from('192.0.2.1', 'wrong-token-0000000000'), proxy)
    expect((await proxied(from('192.0.2.1', ADMIN), proxy)).status).toBe(429)
    expect((await proxied(from('192.0.2.2', ADMIN), proxy)).status).toBe(200)
  })
})

describe('isLoopbackHost', () => {
  it('accepts loopback names only', () => {
    for (const host of ['localhost', 'LOCALHOST:3000', '127.0.0.1', '127.1.2.3:80', '[::1]', '[::1]:8080']) {
      expect(isLoopbackHost(host), host).toBe(true)
    }
    for (const host of [
      'evil.example',
      'evil.example:3000',
      'localhost.evil.example',
      '127.0.0.1.nip.io',
      '[::2]',
      '',
      '10.0.0.1',
      null,
    ]) {
      expect(isLoopbackHost(host), String(host)).toBe(false)
    }
  })
})
