import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aggregate, bucketIndex } from '@perf/core'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import {
  compareStore,
  compareStoreAsync,
  mannWhitney,
  openStoreReadOnly,
  summarizeStore,
  twoProportions,
} from './compare.js'
import { SqliteStore } from './sqlite-store.js'
import { logNormal, RELEASES, rng, runRelease } from './test-support/release-fixture.js'

const dir = mkdtempSync(join(tmpdir(), 'perf-compare-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('store.compare', () => {
  it.each([1, 2, 3])(
    'two releases written by real monitors: the slower op is slower, the failing one has more errors, the unchanged one is same (seed %i)',
    async (seed) => {
      const path = join(dir, `releases-${seed}.db`)
      await runRelease(path, 'v1', RELEASES.v1, seed * 101, 3000)
      await runRelease(path, 'v2', RELEASES.v2, seed * 103, 3000)
      const store = new SqliteStore({ path })
      try {
        expect(store.releases().map((r) => r.release)).toEqual(['v1', 'v2'])
        const c = await store.compare({ base: { release: 'v1' }, head: { release: 'v2' } })
        const by = Object.fromEntries(c.ops.map((o) => [o.name, o]))
        expect(by['GET /slow']!.verdict).toBe('slower')
        expect(by['GET /slow']!.change.p50).toBeGreaterThan(0.1)
        expect(by['GET /errors']!.verdict).toBe('more errors')
        expect(by['GET /same']!.verdict).toBe('same')
        expect(by['GET /same']!.base.count).toBe(3000)
        expect(by['GET /same']!.head.count).toBe(3000)
        // What got worse comes first.
        expect(c.ops.map((o) => o.verdict)).toEqual(['more errors', 'slower', 'same'])
        // A time range covering both releases adds them up exactly (the unreleased rows).
        const all = summarizeStore(openStoreReadOnly(path), { since: 0 })
        expect(all.find((o) => o.name === 'GET /same')!.count).toBe(6000)
        // The same release on both sides is never judged different.
        const self = await store.compare({ base: { release: 'v2' }, head: { release: 'v2' } })
        expect(self.ops.every((o) => o.verdict === 'same')).toBe(true)
      } finally {
        await store.close()
      }
    },
  )

  it('says which releases it knows when asked for one it does not, and names bad fields', async () => {
    const path = join(dir, 'releases-1.db')
    const store = new SqliteStore({ path })
    try {
      expect(() => store.compare({ base: { release: 'v9' }, head: { release: 'v2' } })).toThrow(
        /compare\(\) base.release "v9" is not in the store; known releases: v1, v2/,
      )
      expect(() => store.compare({ base: {}, head: { release: 'v2' } })).toThrow(
        /base needs a release or a since/,
      )
      expect(() => store.compare({ base: { release: 'a b' }, head: { release: 'v2' } })).toThrow(
        /base.release = "a b" is not valid/,
      )
      expect(() => store.compare({ base: { release: 'v1' }, head: { release: 'v2' }, minCount: 0 })).toThrow(
        /minCount/,
      )
      expect(() =>
        store.compare({ base: { release: 'v1' }, head: { release: 'v2' }, mincount: 5 } as never),
      ).toThrow(/compare\(\) query: unknown option "mincount"; did you mean "minCount"\?/)
      expect(() => store.compare({ base: { relase: 'v1' }, head: { release: 'v2' } } as never)).toThrow(
        /compare\(\) base: unknown option "relase"; did you mean "release"\?/,
      )
      const few = await store.compare({ base: { release: 'v1' }, head: { release: 'v2' }, minCount: 10_000 })
      expect(few.ops.every((o) => o.verdict === 'too little data')).toBe(true)
    } finally {
      await store.close()
    }
  })

  it('records each process start under its release with first and last seen', () => {
    const db = new Database(join(dir, 'releases-1.db'), { readonly: true })
    const rows = db
      .prepare('SELECT release, pid, first_seen, last_seen FROM perf_processes ORDER BY first_seen')
      .all() as {
      release: string
      pid: number
      first_seen: number
      last_seen: number
    }[]
    db.close()
    expect(rows.map((r) => r.release)).toEqual(['v1', 'v2'])
    for (const r of rows) {
      expect(r.pid).toBe(process.pid)
      expect(r.last_seen).toBeGreaterThanOrEqual(r.first_seen)
    }
  })
})

describe('reading in pages', () => {
  const path = join(dir, 'pages.db')
  const query = { base: { release: 'v1' }, head: { release: 'v2' } }
  const until = Date.now() + 3_600_000
  const ranges = { base: { since: 0, until }, head: { release: 'v2', since: 0, until } }

  it('gives the same answer a row per page as in one page, and reports its progress', async () => {
    await runRelease(path, 'v1', RELEASES.v1, 5, 400)
    await runRelease(path, 'v2', RELEASES.v2, 6, 400)
    const db = openStoreReadOnly(path)
    try {
      for (const q of [query, ranges]) {
        const whole = compareStore(db, q, { pageRows: 100_000 })
        const progress: [number, number][] = []
        const paged = compareStore(db, q, {
          pageRows: 1,
          onProgress: (read, total) => progress.push([read, total]),
        })
        expect(paged).toEqual(whole)
        // One report per page; the count read so far only grows, and ends at the total counted first.
        const total = progress[0]![1]
        expect(progress.length).toBeGreaterThan(3)
        expect(progress.map((p) => p[0])).toEqual([...progress.map((p) => p[0])].sort((a, b) => a - b))
        expect(progress.at(-1)).toEqual([total, total])
        expect(await compareStoreAsync(db, q, { pageRows: 2 })).toEqual(whole)
      }
      expect(summarizeStore(db, { since: 0 }, { pageRows: 1 })).toEqual(summarizeStore(db, { since: 0 }))
      expect(() => compareStore(db, query, { pageRows: 0 })).toThrow(/compare\(\) options.pageRows/)
      expect(() => compareStore(db, query, { onProgress: 5 } as never)).toThrow(
        /onProgress must be a function/,
      )
    } finally {
      db.close()
    }
  })

  it('gives the thread back between pages: the event loop turns while a comparison is read', async () => {
    const db = openStoreReadOnly(path)
    let turns = 0
    let spinning = true
    const spin = () => {
      if (!spinning) return
      turns++
      setImmediate(spin)
    }
    try {
      let pages = 0
      setImmediate(spin)
      await compareStoreAsync(db, query, { pageRows: 1, onProgress: () => pages++ })
      spinning = false
      // Each page but the last is followed by a turn of the loop (the spinner runs once per turn).
      expect(pages).toBeGreaterThan(3)
      expect(turns).toBeGreaterThanOrEqual(pages - 1)
    } finally {
      spinning = false
      db.close()
    }
  })

  it('store.compare() resolves only after the event loop has turned, and still throws bad queries at once', async () => {
    const store = new SqliteStore({ path })
    try {
      let turned = false
      // Queued before the call: it runs only if the comparison gives the loop back before resolving.
      setImmediate(() => {
        turned = true
      })
      const c = await store.compare(query)
      expect(turned).toBe(true)
      expect(c.ops.map((o) => o.name).sort()).toEqual(['GET /errors', 'GET /same', 'GET /slow'])
      expect(() => store.compare({ base: { release: 'nope' }, head: { release: 'v2' } })).toThrow(
        /known releases: v1, v2/,
      )
    } finally {
      await store.close()
    }
  })
})

/** Fills an Aggregate the way the store does: each draw into its histogram bucket. */
function sample(random: () => number, n: number, median: number, errorRate: number): Aggregate {
  const a = new Aggregate()
  const counts = new Map<number, number>()
  let errors = 0
  for (let i = 0; i < n; i++) {
    const i0 = bucketIndex(logNormal(random, median, 0.3))
    counts.set(i0, (counts.get(i0) ?? 0) + 1)
    if (random() < errorRate) errors++
  }
  for (const [i, c] of counts) a.add({ count: c, errors: 0, histogram: { offset: i, counts: [c] } })
  a.errors = errors
  return a
}

describe('the method', () => {
  it('false alarm rate on two identical runs: at most 1 % of 2,000 pairs drawn from one distribution are judged different', () => {
    const random = rng(42)
    const trials = 2000
    let alarms = 0
    for (let t = 0; t < trials; t++) {
      const n = 50 + Math.floor(random() * 500)
      const a = sample(random, n, 10, 0.02)
      const b = sample(random, n, 10, 0.02)
      const lat = mannWhitney(a.histogram, b.histogram)
      const err = twoProportions(a.errors, a.count, b.errors, b.count)
      // The verdict rule of compareStore with its defaults.
      const latency = lat.p < 0.01 && Math.abs(lat.effect - 0.5) >= 0.06
      const errors = err.p < 0.01 && err.z > 0 && b.errors / b.count - a.errors / a.count >= 0.001
      if (latency || errors) alarms++
    }
    const rate = alarms / trials
    console.log(`false alarm rate on identical runs: ${alarms}/${trials} = ${(rate * 100).toFixed(2)} %`)
    expect(rate).toBeLessThanOrEqual(0.01)
  })

  it('finds a 20 % slowdown in 500 events a side nearly every time', () => {
    const random = rng(7)
    let found = 0
    for (let t = 0; t < 200; t++) {
      const lat = mannWhitney(sample(random, 500, 10, 0).histogram, sample(random, 500, 12, 0).histogram)
      if (lat.p < 0.01 && lat.effect - 0.5 >= 0.06) found++
    }
    console.log(`power against a 20 % slowdown, 500 events a side: ${found}/200`)
    expect(found).toBeGreaterThanOrEqual(190)
  })

  it('Mann-Whitney from histograms matches the textbook on tied data', () => {
    // base: 1,1,2,3 ; head: 2,3,3,4 (buckets as values). U(head) counts head > base pairs, ties half.
    const h = (vals: number[]) => {
      const a = new Aggregate()
      for (const v of vals) a.add({ count: 1, histogram: { offset: v, counts: [1] } })
      return a.histogram
    }
    const r = mannWhitney(h([1, 1, 2, 3]), h([2, 3, 3, 4]))
    // Pairs head>base: 2>{1,1}=2, +tie 2=0.5; 3>{1,1,2}=3 (+tie .5) twice = 7; 4>all=4 → 13.5 of 16.
    expect(r.effect).toBeCloseTo(13.5 / 16, 10)
  })
})
