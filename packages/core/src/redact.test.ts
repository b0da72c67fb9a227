import { describe, expect, it } from 'vitest'
import { DEFAULT_REDACT_KEYS, redactMatcher } from './config.js'
import { createMonitor } from './monitor.js'
import { findSecret, REDACTED, Redactor, redactText, sanitizeMetadata } from './redact.js'

const KEYS = redactMatcher(DEFAULT_REDACT_KEYS)
const clean = (m: unknown) => sanitizeMetadata(m, KEYS, 1 << 20)
const fast = new Redactor(KEYS, 1 << 20)

describe('redaction by key', () => {
  it('redacts the common secret and personal names, generic ones only as whole keys', () => {
    const secretKeys = [
      'auth',
      'pass',
      'passphrase',
      'credentials',
      'access_key',
      'AccessKey',
      'sid',
      'dsn',
      'pin',
      'otp',
      'signature',
      'key',
      'Key',
      'email',
      'name',
      'username',
      'userName',
      'password',
      'token',
      'secret',
      'api_key',
      'user_id',
      'userId',
      'client_id',
      'clientId',
      'session_id',
      'x-api-key',
      'Authorization',
    ]
    for (const key of secretKeys) {
      expect(clean({ [key]: 'v' }), key).toEqual({ [key]: REDACTED })
      expect(fast.sanitize({ [key]: 'v' }), key).toEqual({ [key]: REDACTED })
    }
    const kept = { hostname: 'db1', monkey: 1, keyboard: 'us', filename: 'a.txt', pinned: true, rename: 'x' }
    expect(clean(kept)).toEqual(kept)
    expect(fast.sanitize(kept)).toEqual(kept)
  })
})

describe('redaction by value shape', () => {
  it.each([
    ['Bearer abc.def-123', 'Bearer [REDACTED]'],
    ['basic dXNlcjpwYXNz', 'basic [REDACTED]'],
    ['postgres://app:hunter2@db:5432/x', 'postgres://app:[REDACTED]@db:5432/x'],
    ['failed: password=hunter2&x=1', 'failed: password=[REDACTED]&x=1'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_abc', '[REDACTED]'],
    ['body {"user":"a","password": "hunter2"}', 'body {"user":"a","password": "[REDACTED]"}'],
    ['GET /notes/1 took 3 ms at 12:30', 'GET /notes/1 took 3 ms at 12:30'],
    ['unrecognized token: "?"', 'unrecognized token: "?"'],
  ])('%s', (input, output) => {
    expect(redactText(input)).toBe(output)
    expect(clean({ note: input })).toEqual({ note: output })
    expect(fast.sanitize({ note: input })).toEqual({ note: output })
  })

  it('redacts header pairs in arrays and name/value objects, and error messages', () => {
    expect(clean({ headers: ['Authorization', 'xyz', 'Host', 'example'] })).toEqual({
      headers: ['Authorization', REDACTED, 'Host', 'example'],
    })
    expect(
      clean({
        headers: [
          { name: 'Authorization', value: 'xyz' },
          { name: 'Accept', value: '*/*' },
        ],
      }),
    ).toEqual({
      headers: [
        { name: REDACTED, value: REDACTED },
        { name: REDACTED, value: '*/*' },
      ],
    })
    expect(clean({ err: new Error('connect to redis://u:pw123@cache failed') })).toEqual({
      err: { name: 'Error', message: 'connect to redis://u:[REDACTED]@cache failed' },
    })
  })
})

describe('hostile keys', () => {
  it('keeps a __proto__ key as data in the copy, on both paths', () => {
    const metadata = JSON.parse(
      '{"__proto__": {"polluted": 1}, "nested": {"__proto__": {"x": 2}, "token": "t"}}',
    )
    for (const out of [clean(metadata), fast.sanitize(metadata)]) {
      expect(JSON.parse(JSON.stringify(out))).toEqual(
        JSON.parse(
          '{"__proto__": {"polluted": 1}, "nested": {"__proto__": {"x": 2}, "token": "[REDACTED]"}}',
        ),
      )
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    }
  })
  it('keeps only the details’ own keys when Object.prototype has an enumerable one', () => {
    const monitor = createMonitor({ sampling: 1 })
    const proto = Object.prototype as Record<string, unknown>
    proto.planted = 'from the prototype'
    try {
      // The reused-object path of the adapters (columns) and a fresh object alike.
      monitor.record('http', 'GET /a', 1, { metadata: { status: 200, path: '/a' } })
      monitor.record('http', 'GET /a', 1, { metadata: () => ({ status: 201, path: '/a' }) })
    } finally {
      delete proto.planted
    }
    const kept = monitor.recent(2).map((e) => ({ ...e.metadata }))
    expect(kept).toEqual([
      { status: 201, path: '/a' },
      { status: 200, path: '/a' },
    ])
  })
})

describe('findSecret (pii: reject)', () => {
  it('names the path of the first secret, or nothing for clean metadata', () => {
    expect(findSecret({ user: { email: 'a@b.c' } }, KEYS)).toBe('metadata.user.email')
    expect(findSecret({ headers: ['Accept', 'x', 'Cookie', 'c'] }, KEYS)).toBe('metadata.headers[3]')
    expect(findSecret({ h: [{ key: 'x-api-key', value: 's' }] }, KEYS)).toBe('metadata.h[0].value')
    expect(findSecret({ url: 'https://u:p@host/' }, KEYS)).toBe('metadata.url')
    expect(findSecret({ hostname: 'db1', bytes: 5, tags: ['a', 'b'] }, KEYS)).toBeUndefined()
  })
})

/** Seeded xorshift, so a failure reproduces. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

describe('fuzz', () => {
  it('never lets a planted secret through, in any position, on either path', () => {
    const rand = prng(20261202)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
    const secretKeys = [
      'password',
      'Api-Key',
      'X_AUTH_TOKEN',
      'user_email',
      'key',
      'sid',
      'clientSecret',
      'Cookie',
    ]
    const neutralKeys = ['route', 'hostname', 'bytes', 'tags', 'items', 'status', 'monkey']
    for (let round = 0; round < 2000; round++) {
      const secret = `S3CR3T${Math.floor(rand() * 1e9)}`
      const plants: (() => unknown)[] = [
        () => ({ [pick(secretKeys)]: secret }),
        () => ({ [pick(neutralKeys)]: `Bearer ${secret}` }),
        () => ({ [pick(neutralKeys)]: `mysql://root:${secret}@db/x` }),
        () => [pick(['Authorization', 'cookie', 'X-Api-Key']), secret],
        () => ({ name: pick(['Authorization', 'Set-Cookie']), value: secret }),
        () => ({ [pick(neutralKeys)]: `retry failed: token=${secret}` }),
        () => new Error(`login failed for postgres://app:${secret}@db`),
      ]
      let value: unknown = pick(plants)()
      const depth = Math.floor(rand() * 4)
      for (let d = 0; d < depth; d++) {
        value = rand() < 0.5 ? { [pick(neutralKeys)]: value, n: d } : [d, value, 'x']
      }
      const metadata = rand() < 0.3 && !Array.isArray(value) ? value : { wrap: value, hostname: 'h1' }
      for (const out of [clean(metadata), fast.sanitize(metadata)]) {
        expect(
          JSON.stringify(out),
          JSON.stringify(metadata, (_k, v) => (v instanceof Error ? v.message : v)),
        ).not.toContain(secret)
      }
      expect(findSecret(metadata, KEYS), JSON.stringify(metadata)).toBeDefined()
    }
  })
})
