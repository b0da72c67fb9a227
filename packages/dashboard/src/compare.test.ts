import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMonitor, type Monitor } from '@perf/core'
import { SqliteStore } from '@perf/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultSides, parseCompareSide, releaseMarkers, sortForPage } from './compare.js'
import { createDashboard, type DashboardOptions } from './dashboard.js'
import { PROFILES, writeRelease } from './test-support/releases.js'

const BASE = 'http://app.test/admin/performance/'
const TOKEN = 'a-long-admin-token-123'
const auth = { authorization: `Bearer ${TOKEN}` }
const get = (path: string, headers: Record<string, string> = auth) =>
  new Request(new URL(path, BASE), { headers })

const dir = mkdtempSync(join(tmpdir(), 'perf-dash-compare-'))
const path = join(dir, 'releases.db')
const monitors: Monitor[] = []
let store: SqliteStore

function dashboard(options: DashboardOptions = {}, release: string | null = '1.1.0') {
  const monitor = createMonitor(release === null ? {} : { release })
  monitors.push(monitor)
  return createDashboard(monitor, { token: TOKEN, env: {}, store, ...options })
}

beforeAll(async () => {
  // Real monitors under two releases with known distributions, one after the other, into one file.
  await writeRelease(path, '1.0.0', PROFILES['1.0.0'], 11, 3000)
  await writeRelease(path, '1.1.0', PROFILES['1.1.0'], 13, 3000)
  store = new SqliteStore({ path })
}, 60_000)

afterAll(async () => {
  for (const m of monitors) await m.close()
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('api/compare', () => {
  it('compares this release with the previous one by default, what got worse first', async () => {
    const res = await dashboard()(get('api/compare'))
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = await res.json()
    expect(body).toMatchObject({
      base: { release: '1.0.0', since: null, until: null },
      head: { release: '1.1.0', since: null, until: null },
      defaulted: true,
      current: '1.1.0',
    })
    expect(body.releases.map((r: { release: string }) => r.release)).toEqual(['1.0.0', '1.1.0'])
    expect(body.ops.map((o: { name: string; verdict: string }) => [o.name, o.verdict])).toEqual([
      ['GET /slow', 'slower'],
      ['GET /errors', 'more errors'],
      ['GET /same', 'same'],
    ])
    const slow = body.ops[0]
    expect(slow.base.count).toBe(3000)
    expect(slow.head.count).toBe(3000)
    expect(slow.change.p50).toBeGreaterThan(0.1)
  })

  it('compares any two releases or ranges given as base and head', async () => {
    const handler = dashboard()
    const swapped = await (await handler(get('api/compare?base=release:1.1.0&head=1.0.0'))).json()
    expect(swapped.defaulted).toBe(false)
    const by = Object.fromEntries(
      swapped.ops.map((o: { name: string; verdict: string }) => [o.name, o.verdict]),
    )
    expect(by).toEqual({ 'GET /slow': 'faster', 'GET /errors': 'same', 'GET /same': 'same' })
    // A range over every process (both releases) against one release.
    const range = await (await handler(get('api/compare?base=1h..&head=1.1.0&type=http'))).json()
    expect(range.base.release).toBeNull()
    expect(range.base.since).toBeGreaterThan(Date.now() - 3_700_000)
    expect(range.ops.find((o: { name: string }) => o.name === 'GET /same').base.count).toBe(6000)
    // Without a release of its own the monitor's page compares the newest release with the one before.
    const unreleased = await (await dashboard({}, null)(get('api/compare'))).json()
    expect(unreleased).toMatchObject({
      current: null,
      base: { release: '1.0.0' },
      head: { release: '1.1.0' },
    })
  })

  it('answers 400 naming the parameter and what is accepted', async () => {
    const handler = dashboard()
    const cases: [string, RegExp][] = [
      ['api/compare?base=1.0.0', /needs both base and head, or neither/],
      [
        'api/compare?base=a%20b&head=1.1.0',
        /base="a b" is neither a release nor a range: expected a release/,
      ],
      ['api/compare?base=1h..2h&head=1.1.0', /base="1h..2h" is empty/],
      ['api/compare?base=yesterday..&head=1.1.0', /is not a time: expected a duration ago/],
      ['api/compare?base=9.9.9&head=1.1.0', /"9.9.9" is not in the store; known releases: 1.0.0, 1.1.0/],
      ['api/compare?type=%3Cscript%3E', /type="<script>" is not valid/],
    ]
    for (const [url, message] of cases) {
      const res = await handler(get(url))
      expect(res.status, url).toBe(400)
      expect(res.headers.get('content-type')).toContain('application/json')
      expect((await res.json()).error, url).toMatch(message)
    }
    expect(
      (await handler(new Request(new URL('api/compare', BASE), { method: 'POST', headers: auth }))).status,
    ).toBe(405)
  })

  it('is behind the admin auth like the rest of the API', async () => {
    const res = await dashboard()(get('api/compare', {}))
    expect(res.status).toBe(401)
    expect(JSON.stringify(await res.json())).not.toContain('GET /slow')
  })

  it('answers 404 without a store, or with a store that cannot compare', async () => {
    for (const options of [{ store: undefined }, { store: { history: () => [] } }]) {
      const res = await dashboard(options)(get('api/compare'))
      expect(res.status).toBe(404)
      expect((await res.json()).error).toMatch(/compare\(\) and releases\(\).*SqliteStore/)
    }
  })

  it('says why there is no default comparison when the store has one release', async () => {
    const one = join(dir, 'one.db')
    await writeRelease(one, '2.0.0', { 'GET /a': { median: 5, errorRate: 0 } }, 7, 60)
    const single = new SqliteStore({ path: one })
    try {
      const body = await (await dashboard({ store: single }, '2.0.0')(get('api/compare'))).json()
      expect(body).toMatchObject({ base: null, head: null, ops: [] })
      expect(body.reason).toMatch(/no release before 2.0.0 to compare it with \(known: 2.0.0\)/)
    } finally {
      await single.close()
    }
  })
})

describe('release markers in api/history', () => {
  it('lists each release first seen inside the range, oldest first', async () => {
    const body = await (await dashboard()(get('api/history?range=1h'))).json()
    const releases = store.releases()
    expect(body.releases).toEqual(releases.map((r) => ({ release: r.release, at: r.firstSeen })))
    expect(body.releases.map((r: { release: string }) => r.release)).toEqual(['1.0.0', '1.1.0'])
  })

  it('leaves out releases first seen before the range', () => {
    const seen = [
      { release: 'old', firstSeen: 1_000, lastSeen: 5_000 },
      { release: 'new', firstSeen: 9_000, lastSeen: 9_500 },
    ]
    expect(releaseMarkers(seen, 2_000, 10_000)).toEqual([{ release: 'new', at: 9_000 }])
  })
})

describe('compare helpers', () => {
  it('parses a side as a release or a range, the forms of perf compare', () => {
    const now = Date.parse('2026-12-02T00:00Z')
    expect(parseCompareSide('base', '1.2.3', now)).toEqual({ release: '1.2.3' })
    expect(parseCompareSide('base', 'release:1h..2h', now)).toEqual({ release: '1h..2h' })
    expect(parseCompareSide('base', '2h..1h', now)).toEqual({
      since: now - 7_200_000,
      until: now - 3_600_000,
    })
    expect(parseCompareSide('head', '2026-12-01T10:00Z..', now)).toEqual({
      since: Date.parse('2026-12-01T10:00Z'),
      until: now,
    })
    expect(() => parseCompareSide('head', 'x'.repeat(301), now)).toThrow(RangeError)
  })

  it('defaults to the release before the current one, by first seen', () => {
    const r = (release: string, firstSeen: number) => ({ release, firstSeen, lastSeen: firstSeen })
    const seen = [r('b', 2), r('a', 1), r('c', 3)]
    expect(defaultSides(seen, 'b')).toEqual({ base: 'a', head: 'b' })
    expect(defaultSides(seen, null)).toEqual({ base: 'b', head: 'c' })
    expect(defaultSides(seen, 'unknown')).toEqual({ base: 'b', head: 'c' })
    expect(defaultSides([], null)).toMatchObject({ reason: expect.stringMatching(/no releases/) })
  })

  it('sorts what got worse first, then by the size of the p95 change', () => {
    const op = (name: string, verdict: string, p95: number | null, errorRate = 0) =>
      ({
        type: 'http',
        name,
        verdict,
        change: { p50: p95, p95, p99: p95, errorRate },
      }) as never
    const sorted = sortForPage([
      op('faster', 'faster', -0.3),
      op('same', 'same', 0.01),
      op('few', 'too little data', null),
      op('errors', 'more errors', 0, 0.05),
      op('slower-a-bit', 'slower', 0.08),
      op('slower-a-lot', 'slower', 0.4),
      op('both', 'more errors', 0.2, 0.02),
    ])
    expect(sorted.map((o: { name: string }) => o.name)).toEqual([
      'slower-a-lot',
      'both',
      'slower-a-bit',
      'errors',
      'few',
      'same',
      'faster',
    ])
  })
})
