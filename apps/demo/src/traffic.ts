/** A running traffic generator. */
export interface Traffic {
  /** Requests sent so far, by outcome. */
  readonly sent: { ok: number; clientError: number; serverError: number; failed: number }
  stop(): Promise<void>
}

interface Call {
  readonly weight: number
  readonly method: string
  readonly path: () => string
  readonly body?: () => unknown
}

const WORDS = ['latency', 'sqlite', 'cache', 'deploy', 'memory', 'zzz']
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!
const id = () => 1 + Math.floor(Math.random() * 200)

/** The mix: mostly fast reads, some writes and searches, a few slow, failing and unknown paths. */
const CALLS: readonly Call[] = [
  { weight: 30, method: 'GET', path: () => `/notes/${id()}` },
  { weight: 15, method: 'GET', path: () => '/notes?limit=20' },
  { weight: 12, method: 'GET', path: () => '/feed' },
  { weight: 10, method: 'GET', path: () => `/search?q=${pick(WORDS)}` },
  {
    weight: 6,
    method: 'POST',
    path: () => '/notes',
    body: () => ({ title: `load ${Date.now()}`, body: pick(WORDS) }),
  },
  {
    weight: 4,
    method: 'PUT',
    path: () => `/notes/${id()}`,
    body: () => ({ title: `edited ${Date.now()}`, body: 'x' }),
  },
  { weight: 2, method: 'DELETE', path: () => `/notes/${id() + 100_000}` },
  { weight: 3, method: 'GET', path: () => '/reports/slow' },
  { weight: 3, method: 'GET', path: () => '/reports/broken' },
  { weight: 4, method: 'GET', path: () => `/missing/${Math.floor(Math.random() * 1e6)}` },
  { weight: 3, method: 'GET', path: () => '/health' },
]
const TOTAL = CALLS.reduce((n, c) => n + c.weight, 0)

function choose(): Call {
  let r = Math.random() * TOTAL
  for (const c of CALLS) if ((r -= c.weight) < 0) return c
  return CALLS[0]!
}

/**
 * Sends a steady mix of requests (about `ratePerSec`) to the given servers at random, so the admin page
 * has data at once: fast reads, writes, searches, a slow report, a failing endpoint and 404s.
 */
export function startTraffic(baseUrls: readonly string[], ratePerSec = 20): Traffic {
  const sent = { ok: 0, clientError: 0, serverError: 0, failed: 0 }
  const inflight = new Set<Promise<void>>()
  let stopped = false
  const send = async (): Promise<void> => {
    const call = choose()
    const body = call.body?.()
    try {
      const res = await fetch(pick(baseUrls) + call.path(), {
        method: call.method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      })
      await res.arrayBuffer()
      if (res.status >= 500) sent.serverError++
      else if (res.status >= 400) sent.clientError++
      else sent.ok++
    } catch {
      sent.failed++
    }
  }
  const interval = Math.max(5, Math.round(1000 / ratePerSec))
  const timer = setInterval(() => {
    if (stopped || inflight.size >= 50) return
    const p = send().finally(() => inflight.delete(p))
    inflight.add(p)
  }, interval)
  return {
    sent,
    async stop() {
      stopped = true
      clearInterval(timer)
      await Promise.allSettled([...inflight])
    },
  }
}
