import { createMonitor } from '@perf/core'
import Database from 'better-sqlite3'
import { SqliteStore } from '../sqlite-store.js'

/** A seeded uniform PRNG (mulberry32), so every run of a test draws the same samples. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A log-normal draw with median `median` ms and log-sd `sigma`, from two uniforms (Box-Muller). */
export function logNormal(random: () => number, median: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  return median * Math.exp(sigma * z)
}

/** Per op of one release: median latency (ms) and error rate. */
export type Profile = Readonly<Record<string, { median: number; errorRate: number }>>

/** The known distributions: `GET /slow` 20 % slower in v2, `GET /errors` fails more, `GET /same` unchanged. */
export const RELEASES: Readonly<Record<'v1' | 'v2', Profile>> = {
  v1: {
    'GET /slow': { median: 10, errorRate: 0.01 },
    'GET /errors': { median: 10, errorRate: 0.01 },
    'GET /same': { median: 10, errorRate: 0.01 },
  },
  v2: {
    'GET /slow': { median: 12, errorRate: 0.01 },
    'GET /errors': { median: 10, errorRate: 0.06 },
    'GET /same': { median: 10, errorRate: 0.01 },
  },
}

/**
 * Writes `n` events per op of `profile` through a real monitor with `release` into a real
 * SqliteStore at `path`, and returns once the store holds all of them (the monitor hands a slice
 * over when it rotates, so this waits for the rotation).
 */
export async function runRelease(
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
    for (let i = 0; i < n; i++) {
      const error = random() < p.errorRate
      monitor.record('http', name, logNormal(random, p.median, 0.3), error ? { error: true } : undefined)
    }
  }
  const want = n * Object.keys(profile).length
  const check = new Database(path, { readonly: true })
  try {
    for (let i = 0; i < 500; i++) {
      await new Promise((r) => setTimeout(r, 20))
      await monitor.flush()
      await store.flush()
      const got = check
        .prepare('SELECT coalesce(sum(count), 0) FROM perf_release_minutes WHERE release = ?')
        .pluck()
        .get(release) as number
      if (got >= want) break
    }
  } finally {
    check.close()
    await monitor.close()
    await store.close()
  }
}
