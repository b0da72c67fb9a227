import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

interface Probe {
  perRequest: number
  recorded: number
  expected: number
  kept: number
  byFunction: Record<string, number>
}

/** Runs the probe on the built packages in a plain Node process (see the probe for why). */
function probe(sampling: number): Probe {
  const file = fileURLToPath(new URL('./test-support/allocation-probe.mjs', import.meta.url))
  const out = execFileSync(process.execPath, [file, String(sampling)], { encoding: 'utf8', timeout: 60_000 })
  const r = JSON.parse(out.trim().split('\n').pop()!) as Probe
  expect(r.recorded).toBe(r.expected)
  return r
}

it('allocates a request’s own state and nothing per request in the response tracker', () => {
  const r = probe(0)
  // The request's Pending and a few boxed numbers are ~150 bytes. Emptying the connection's list by
  // shortening its array made the next request's push allocate a new backing store (~170 bytes more).
  expect(r.perRequest, JSON.stringify(r.byFunction)).toBeLessThan(220)
})

it('keeps an event’s details without building an object for each kept request', () => {
  const none = probe(0)
  const all = probe(1)
  expect(all.kept).toBe(all.expected)
  // The details went into the ring's columns, but a fresh details object per kept event was ~120
  // bytes of garbage; the recorder now fills a reused one.
  expect(all.perRequest - none.perRequest, JSON.stringify(all.byFunction)).toBeLessThan(50)
})
