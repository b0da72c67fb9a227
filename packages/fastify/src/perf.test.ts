import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('allocates a request’s own state and nothing per request in the response tracker', () => {
  // Run on the built packages in a plain Node process (see the probe for why).
  const probe = fileURLToPath(new URL('./test-support/allocation-probe.mjs', import.meta.url))
  const out = execFileSync(process.execPath, [probe], { encoding: 'utf8', timeout: 60_000 })
  const r = JSON.parse(out.trim().split('\n').pop()!) as {
    perRequest: number
    recorded: number
    expected: number
    byFunction: Record<string, number>
  }
  expect(r.recorded).toBe(r.expected)
  // The request's Pending and a few boxed numbers are ~150 bytes. Emptying the connection's list by
  // shortening its array made the next request's push allocate a new backing store (~170 bytes more).
  expect(r.perRequest, JSON.stringify(r.byFunction)).toBeLessThan(220)
})
