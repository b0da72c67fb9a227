import { describe, expect, it } from 'vitest'
import { configFromEnv, resolveConfig } from './config.js'
import { createMonitor } from './monitor.js'

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
    ['PERF_BUFFER_SIZE', '0', /PERF_BUFFER_SIZE = 0 is not valid: expected an integer from 1 to 1000000/],
    ['PERF_BUFFER_SIZE', '1.5', /expected an integer/],
    ['PERF_SAMPLING_RATE', '2', /PERF_SAMPLING_RATE = 2 is not valid: expected a number from 0 to 1/],
    ['PERF_SAMPLING_HTTP', '-0.1', /PERF_SAMPLING_HTTP = -0.1 is not valid: expected a number from 0 to 1/],
    ['PERF_SLOW_DB_MS', 'soon', /PERF_SLOW_DB_MS="soon" is not valid: expected a number from 0 to 3600000/],
    ['PERF_WINDOW_MINUTES', '0', /PERF_WINDOW_MINUTES = 0 is not valid: expected an integer from 1 to 1440/],
    ['PERF_MAX_OPS', '1e9', /PERF_MAX_OPS = 1000000000 is not valid/],
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
