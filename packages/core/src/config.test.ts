import { describe, expect, it } from 'vitest'
import { configFromEnv, resolveConfig } from './config.js'
import { createMonitor } from './monitor.js'
import type { OpAggregate } from './sink.js'

describe('configFromEnv', () => {
  it('maps every PERF_* variable onto options', () => {
    const opts = configFromEnv({
      PERF_ENABLED: 'false',
      PERF_BUFFER_SIZE: '500',
      PERF_SAMPLING_RATE: '0.5',
      PERF_SAMPLING_DB: '1',
      PERF_SLOW_MS: '250',
      PERF_SLOW_HTTP_MS: '2000',
      PERF_WINDOW_MINUTES: '5',
      PERF_MAX_OPS: '300',
      UNRELATED: 'x',
    })
    expect(opts).toEqual({
      enabled: false,
      bufferSize: 500,
      sampling: { default: 0.5, db: 1 },
      slowMs: { default: 250, http: 2000 },
      windowMs: 300_000,
      maxOps: 300,
    })
    const config = createMonitor({ ...opts, enabled: true }).config
    expect(config.sampling).toEqual({ default: 0.5, db: 1 })
    expect(config.slowMs.http).toBe(2000)
    expect(config.windowMs).toBe(300_000)
  })

  it('ignores unset and empty variables', () => {
    expect(configFromEnv({ PERF_BUFFER_SIZE: '', PERF_ENABLED: ' ' })).toEqual({})
  })

  it.each([
    ['PERF_BUFFER_SIZE', 'abc', /PERF_BUFFER_SIZE="abc" is not valid: expected an integer from 1 to 1000000/],
    ['PERF_BUFFER_SIZE', '0', /PERF_BUFFER_SIZE="0" is not valid: expected an integer from 1 to 1000000/],
    ['PERF_BUFFER_SIZE', '1.5', /expected an integer/],
    ['PERF_SAMPLING_RATE', '2', /PERF_SAMPLING_RATE="2" is not valid: expected a number from 0 to 1/],
    ['PERF_SAMPLING_HTTP', '-0.1', /PERF_SAMPLING_HTTP="-0.1" is not valid: expected a number from 0 to 1/],
    ['PERF_SLOW_DB_MS', 'soon', /PERF_SLOW_DB_MS="soon" is not valid: expected a number from 0 to 3600000/],
    ['PERF_WINDOW_MINUTES', '0', /PERF_WINDOW_MINUTES="0" is not valid: expected an integer from 1 to 1440/],
    ['PERF_MAX_OPS', '1e9', /PERF_MAX_OPS="1e9" is not valid/],
    ['PERF_ENABLED', 'maybe', /PERF_ENABLED="maybe" is not valid: expected one of true, false/],
  ])('%s=%s throws an error naming the variable, value and range', (name, value, msg) => {
    expect(() => configFromEnv({ [name]: value })).toThrow(msg)
  })
})

describe('createMonitor options', () => {
  it.each([
    [{ bufferSize: 0 }, /options.bufferSize = 0 is not valid: expected an integer from 1 to 1000000/],
    [{ bufferSize: '10' }, /options.bufferSize = "10" is not valid/],
    [{ sampling: 1.2 }, /options.sampling = 1.2 is not valid: expected a number from 0 to 1/],
    [{ sampling: { http: -1 } }, /options.sampling.http = -1 is not valid/],
    [{ sampling: { 'bad key!': 1 } }, /options.sampling has an invalid type key "bad key!"/],
    [{ slowMs: { db: Number.NaN } }, /options.slowMs.db = NaN is not valid/],
    [{ maxOps: 0 }, /options.maxOps = 0 is not valid/],
    [{ enabled: 'yes' }, /options.enabled = "yes" is not valid: expected true or false/],
    [{ windowMs: 100 }, /options.windowMs = 100 is not valid: expected an integer from 60000/],
    [{ redactKeys: [1] }, /options.redactKeys is not valid/],
  ])('%j is rejected with a clear error', (opts, msg) => {
    expect(() => createMonitor(opts as never)).toThrow(msg)
  })

  it('fills documented defaults', () => {
    expect(resolveConfig()).toMatchObject({
      enabled: true,
      bufferSize: 1000,
      sampling: { default: 0.1 },
      slowMs: { default: 1000 },
      windowMs: 900_000,
      sliceMs: 60_000,
      maxOps: 2000,
    })
  })
})

describe('misspelt settings are caught', () => {
  it('throws on an unknown createMonitor option, naming it and the nearest valid one', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ sampleRate: 1 }, 'sampling'],
      [{ slowThreshold: 5 }, 'slowMs'],
      [{ bufferSzie: 5 }, 'bufferSize'],
      [{ SlowMs: 5 }, 'slowMs'],
    ]
    for (const [options, near] of cases) {
      const key = Object.keys(options)[0]!
      expect(() => createMonitor(options as never), key).toThrow(TypeError)
      expect(() => createMonitor(options as never), key).toThrow(
        new RegExp(`createMonitor\\(options\\): unknown option "${key}"; did you mean "${near}"\\?`),
      )
    }
    // No suggestion when nothing is near, but the accepted names are listed.
    expect(() => createMonitor({ zzz: 1 } as never)).toThrow(
      /unknown option "zzz" Accepted options: enabled, /,
    )
  })

  it('rejects a per-type key that differs from a built-in type only in case', () => {
    expect(() => resolveConfig({ sampling: { HTTP: 1 } })).toThrow(
      /options\.sampling .*"HTTP".*did you mean "http"/,
    )
    expect(() => resolveConfig({ slowMs: { Db: 5 } })).toThrow(/did you mean "db"/)
    expect(resolveConfig({ sampling: { Orders: 1 } }).sampling.Orders).toBe(1)
  })

  it('warns once about an unknown PERF_* variable with the nearest valid name', () => {
    const warnings: string[] = []
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === 'PERF_UNKNOWN_ENV') warnings.push(w.message)
    }
    process.on('warning', onWarning)
    const emit = process.emitWarning
    // Warnings are delivered on the next tick; capture them synchronously instead.
    process.emitWarning = ((m: string, o: { code?: string }) => {
      if (o?.code === 'PERF_UNKNOWN_ENV') warnings.push(m)
    }) as typeof process.emitWarning
    try {
      const opts = configFromEnv({
        PERF_SAMPLE_RATE: '1',
        PERF_WINDOW_MS: '60000',
        PERF_SLOW_MS_DB: '5',
        PERF_UNRELATED_THING: 'x',
        PERF_ADMIN_TOKEN: 'a-token-long-enough-0123',
      })
      configFromEnv({ PERF_SAMPLE_RATE: '1' })
      expect(opts).toEqual({})
    } finally {
      process.emitWarning = emit
      process.off('warning', onWarning)
    }
    expect(warnings).toHaveLength(4)
    expect(warnings[0]).toMatch(
      /^PERF_SAMPLE_RATE is not a setting of @perf and is ignored; did you mean PERF_SAMPLING_RATE\?/,
    )
    expect(warnings[1]).toMatch(/PERF_WINDOW_MS .*did you mean PERF_WINDOW_MINUTES\?/)
    expect(warnings[2]).toMatch(/PERF_SLOW_MS_DB .*did you mean PERF_SLOW_DB_MS\?/)
    expect(warnings[3]).toMatch(/PERF_UNRELATED_THING is not a setting/)
  })

  it('names the variable when a per-type variable has no type or a flat suffix', () => {
    expect(() => configFromEnv({ PERF_SAMPLING_: '1' })).toThrow(
      /^PERF_SAMPLING_ is not valid: PERF_SAMPLING_<TYPE> needs a TYPE/,
    )
    expect(() => configFromEnv({ PERF_SAMPLING_HTTP_RATE: '1' })).toThrow(
      /PERF_SAMPLING_HTTP_RATE is not valid: .*did you mean PERF_SAMPLING_HTTP\?/,
    )
    expect(configFromEnv({ PERF_SAMPLING_HTTP: '1', PERF_SLOW_DB_MS: '5' })).toEqual({
      sampling: { http: 1 },
      slowMs: { db: 5 },
    })
  })

  it('reads decimal numbers only, and formats every env error the same way', () => {
    for (const raw of ['0x10', '0b1', '0o7', '1_000', 'Infinity', '']) {
      if (raw === '') continue
      expect(() => configFromEnv({ PERF_BUFFER_SIZE: raw }), raw).toThrow(
        `PERF_BUFFER_SIZE=${JSON.stringify(raw)} is not valid: expected an integer from 1 to 1000000`,
      )
    }
    expect(() => configFromEnv({ PERF_BUFFER_SIZE: '0' })).toThrow('PERF_BUFFER_SIZE="0" is not valid')
    expect(configFromEnv({ PERF_BUFFER_SIZE: ' 1e3 ', PERF_SAMPLING_RATE: '.5' })).toEqual({
      bufferSize: 1000,
      sampling: { default: 0.5 },
    })
  })
})

describe('release', () => {
  it('comes from options.release or PERF_RELEASE, and travels with every slice aggregate to sinks', async () => {
    expect(configFromEnv({ PERF_RELEASE: '1.4.2+build.7' })).toEqual({ release: '1.4.2+build.7' })
    expect(configFromEnv({ PERF_RELEASE: '' })).toEqual({})
    const got: OpAggregate[] = []
    const monitor = createMonitor({
      release: 'a1b2c3d',
      sliceMs: 20,
      windowMs: 200,
      sinkIntervalMs: 10,
      sinks: [{ writeAggregates: (a) => void got.push(...a) }],
    })
    expect(monitor.config.release).toBe('a1b2c3d')
    monitor.record('http', 'GET /x', 3)
    await new Promise((r) => setTimeout(r, 60))
    await monitor.close()
    expect(got.length).toBeGreaterThan(0)
    expect(got.every((a) => a.release === 'a1b2c3d')).toBe(true)
    expect(createMonitor({ enabled: false }).config.release).toBeUndefined()
  })

  it.each([
    ['', /options.release = "" is not valid: expected 1-128 characters from \[A-Za-z0-9._\+-\]/],
    ['v1 beta', /options.release = "v1 beta" is not valid/],
    ['x'.repeat(129), /is not valid: expected 1-128/],
    [42, /options.release = 42 is not valid: expected a string/],
  ])('rejects release %j', (value, message) => {
    expect(() => createMonitor({ release: value as string })).toThrow(message)
  })

  it('rejects a bad PERF_RELEASE naming the variable', () => {
    expect(() => configFromEnv({ PERF_RELEASE: 'feature/x' })).toThrow(
      /PERF_RELEASE = "feature\/x" is not valid/,
    )
  })
})
