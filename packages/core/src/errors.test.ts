import { describe, expect, it } from 'vitest'
import { configFromEnv, createMonitor, createSignInCode, mergeSnapshots, toPrometheus } from './index.js'
import { onShutdown } from './node/index.js'

/** The thrown error, so a test can look at its class and `code`, not only its message. */
function thrown(fn: () => unknown): Error & { code?: unknown } {
  try {
    fn()
  } catch (err) {
    return err as Error & { code?: unknown }
  }
  throw new Error('expected a throw')
}

describe('error codes', () => {
  it('gives bad options PERF_INVALID_OPTION, whatever the class', () => {
    const unknown = thrown(() => createMonitor({ samplng: 0.5 } as never))
    expect(unknown).toBeInstanceOf(TypeError)
    expect(unknown.code).toBe('PERF_INVALID_OPTION')
    const range = thrown(() => createMonitor({ maxTypes: 0 }))
    expect(range).toBeInstanceOf(RangeError)
    expect(range.code).toBe('PERF_INVALID_OPTION')
    expect(thrown(() => toPrometheus(createMonitor().snapshot(), { buckets: [] })).code).toBe(
      'PERF_INVALID_OPTION',
    )
  })

  it('gives bad arguments PERF_INVALID_ARGUMENT', () => {
    const m = createMonitor()
    try {
      expect(thrown(() => m.record('', 'x', 1)).code).toBe('PERF_INVALID_ARGUMENT')
      expect(thrown(() => m.time('t', 'n', 1 as never)).code).toBe('PERF_INVALID_ARGUMENT')
      expect(thrown(() => createSignInCode({} as never)).code).toBe('PERF_INVALID_ARGUMENT')
      expect(thrown(() => onShutdown('x' as never)).code).toBe('PERF_INVALID_ARGUMENT')
    } finally {
      m.close()
    }
  })

  it('gives a bad PERF_* variable PERF_INVALID_ENV, a bad snapshot PERF_INVALID_SNAPSHOT', () => {
    expect(thrown(() => configFromEnv({ PERF_BUFFER_SIZE: 'lots' })).code).toBe('PERF_INVALID_ENV')
    expect(thrown(() => mergeSnapshots({} as never)).code).toBe('PERF_INVALID_SNAPSHOT')
  })

  it("gives a secret refused under pii: 'reject' PERF_PII_REJECTED", () => {
    const m = createMonitor({ sampling: 1, pii: 'reject' })
    try {
      expect(thrown(() => m.record('db', 'q', 1, { metadata: { password: 'hunter2' } })).code).toBe(
        'PERF_PII_REJECTED',
      )
    } finally {
      m.close()
    }
  })

  it('keeps the code out of the enumerable fields, so errors compare and log as before', () => {
    const err = thrown(() => createMonitor({ maxTypes: 0 }))
    expect(Object.keys(err)).toEqual([])
    expect(err).toEqual(new RangeError(err.message))
  })
})
