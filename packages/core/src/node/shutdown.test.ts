import { describe, expect, it } from 'vitest'
import { onShutdown } from './shutdown.js'

// Signal delivery and the way the process ends are tested in child processes, where a signal cannot
// kill the test runner: packages/sqlite/src/process.test.ts.
describe('onShutdown', () => {
  it('adds one SIGTERM and one SIGINT listener however many handlers, and removes them with the last', () => {
    const term = process.listenerCount('SIGTERM')
    const int = process.listenerCount('SIGINT')
    const offA = onShutdown(() => {})
    const offB = onShutdown(async () => {})
    expect(process.listenerCount('SIGTERM')).toBe(term + 1)
    expect(process.listenerCount('SIGINT')).toBe(int + 1)
    offA()
    offA()
    expect(process.listenerCount('SIGTERM')).toBe(term + 1)
    offB()
    expect(process.listenerCount('SIGTERM')).toBe(term)
    expect(process.listenerCount('SIGINT')).toBe(int)
  })

  it('rejects bad input with errors naming it, and installs nothing', () => {
    const term = process.listenerCount('SIGTERM')
    expect(() => onShutdown('close' as never)).toThrow(/handler must be a function, got string/)
    expect(() => onShutdown(() => {}, { timeoutMs: -1 })).toThrow(
      /timeoutMs = -1 is not valid: expected a number from 0 to 600000/,
    )
    expect(process.listenerCount('SIGTERM')).toBe(term)
  })
})
