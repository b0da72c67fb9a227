import { createMonitor } from '@perf/core'
import { listReleases, openStoreReadOnly, SqliteStore, summarizeStore } from '@perf/sqlite'

/** A seeded uniform PRNG (mulberry32), so every run draws the same samples. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A log-normal draw with median `median` ms and log-sd 0.3 (Box-Muller). */
function logNormal(random: () => number, median: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  return median * Math.exp(0.3 * z)
}

/** Per op of one release: median latency (ms), error rate, and how many events (default `n`). */
export type Profile = Readonly<Record<string, { median: number; errorRate: number; count?: number }>>

/** Known distributions: `GET /slow` 20 % slower in 1.1.0, `GET /errors` fails more, `GET /same` unchanged. */
export const PROFILES: Readonly<Record<'1.0.0' | '1.1.0', Profile>> = {
  '1.0.0': {
    'GET /slow': { median: 10, errorRate: 0.01 },
    'GET /errors': { median: 10, errorRate: 0.01 },
    'GET /same': { median: 10, errorRate: 0.01 },
  },
  '1.1.0': {
    'GET /slow': { median: 12, errorRate: 0.01 },
    'GET /errors': { median: 10, errorRate: 0.06 },
    'GET /same': { median: 10, errorRate: 0.01 },
  },
}

/**
 * Writes `n` events per op of `profile` through a real monitor with `release` into a real SqliteStore
 * file at `path`, and returns once the file holds all of them (a monitor hands a slice over when it
 * rotates, so this waits for the rotation rather than a fixed time).
 */
export async function writeRelease(
  path: string,
  release: string,
  profile: Profile,
  seed: number,
  n: number,
): Promise<void> {
  const store = new SqliteStore({ path, flushIntervalMs: 10 })
  const monitor = createMonitor({ release, sliceMs: 50, windowMs: 500, sinkIntervalMs: 10, sinks: [store] })
  const random = rng(seed)
  for (const [name, p] of Object.entries(profile)) {
    for (let i = 0; i < (p.count ?? n); i++) {
      const error = random() < p.errorRate
      monitor.record('http', name, logNormal(random, p.median), error ? { error: true } : undefined)
    }
  }
  const want = Object.values(profile).reduce((sum, p) => sum + (p.count ?? n), 0)
  const check = openStoreReadOnly(path)
  try {
    for (let i = 0; i < 500; i++) {
      await new Promise((r) => setTimeout(r, 20))
      await monitor.flush()
      await store.flush()
      // Until the store's worker has written the release's first slice, summarizeStore() rejects the
      // release as unknown (it did on a slow CI machine): that is "not yet", so poll again.
      if (!listReleases(check).some((r) => r.release === release)) continue
      const got = summarizeStore(check, { release, since: 0 }).reduce((sum, op) => sum + op.count, 0)
      if (got >= want) return
    }
    throw new Error(`writeRelease: the store never held the ${want} events of ${release}`)
  } finally {
    check.close()
    await monitor.close()
    await store.close()
  }
}
