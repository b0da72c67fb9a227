// Where a server's CPU time and allocations go while it is under load, measured inside the server
// process through the inspector (what `node --cpu-prof` / `--heap-prof` record, without restarting):
//
//   profileWindow({ kind: 'cpu' | 'heap', ms, server }) → { requests, ms, categories, top }
//
// CPU: V8's sampling profiler (every 100 µs), self time summed per category of code (by the script's
// URL: @perf's packages, better-sqlite3, the framework and other node_modules, Node's own `node:`
// modules, GC, native/program). Heap: V8's sampling heap profiler with objects that were already
// collected by a minor or major GC included, so the sum is every byte allocated in the window, not
// only what survived (a Poisson sample every 128 bytes on average, scaled by V8: unbiased, and
// exact enough over thousands of requests). `requests` is counted on the server's 'request' event
// during the same window, so figures divide into per-request ones without aligning clocks.
import { Session } from 'node:inspector/promises'

/** The category of a call frame, by its script URL and function name. */
export function category(frame) {
  const url = frame.url ?? ''
  if (url === '') {
    const fn = frame.functionName
    if (fn === '(garbage collector)') return 'gc'
    if (fn === '(idle)') return 'idle'
    if (fn === '(program)' || fn === '(root)') return 'program'
    return 'native'
  }
  if (url.startsWith('node:')) return 'node'
  if (/[\\/]packages[\\/](core|express|fastify|hono|sqlite|dashboard)[\\/]/.test(url)) return '@perf'
  if (/[\\/]@perf[\\/]/.test(url)) return '@perf'
  if (/better-sqlite3/.test(url)) return 'sqlite'
  if (/[\\/]node_modules[\\/]/.test(url)) return 'framework'
  return 'app'
}

/**
 * Profiles the running process for `ms` milliseconds.
 * @param {{ kind: 'cpu' | 'heap', ms: number, server?: import('node:http').Server, top?: number }} opts
 */
export async function profileWindow({ kind, ms, server, top = 12 }) {
  const session = new Session()
  session.connect()
  let requests = 0
  const count = () => {
    requests++
  }
  try {
    if (kind === 'cpu') {
      await session.post('Profiler.enable')
      await session.post('Profiler.setSamplingInterval', { interval: 100 })
      server?.prependListener('request', count)
      await session.post('Profiler.start')
      await sleep(ms)
      const { profile } = await session.post('Profiler.stop')
      server?.removeListener('request', count)
      return { requests, ms, ...cpuBreakdown(profile, top) }
    }
    await session.post('HeapProfiler.enable')
    server?.prependListener('request', count)
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 128,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    })
    await sleep(ms)
    const { profile } = await session.post('HeapProfiler.stopSampling')
    server?.removeListener('request', count)
    return { requests, ms, ...heapBreakdown(profile, top) }
  } finally {
    session.disconnect()
  }
}

/** Self time (µs) per category and per @perf function. */
export function cpuBreakdown(profile, top = 12) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const categories = {}
  const fns = new Map()
  for (const [id, us] of self) {
    const frame = byId.get(id).callFrame
    const cat = category(frame)
    categories[cat] = (categories[cat] ?? 0) + us
    if (cat === '@perf' || cat === 'gc') {
      const key = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      fns.set(key, (fns.get(key) ?? 0) + us)
    }
  }
  return { categories, top: [...fns].sort((a, b) => b[1] - a[1]).slice(0, top) }
}

/** Bytes allocated per category and per allocating @perf function. */
export function heapBreakdown(profile, top = 12) {
  const categories = {}
  const fns = new Map()
  const walk = (node) => {
    const frame = node.callFrame
    const cat = category(frame)
    categories[cat] = (categories[cat] ?? 0) + node.selfSize
    if (cat === '@perf' && node.selfSize > 0) {
      const key = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      fns.set(key, (fns.get(key) ?? 0) + node.selfSize)
    }
    for (const child of node.children) walk(child)
  }
  walk(profile.head)
  return { categories, top: [...fns].sort((a, b) => b[1] - a[1]).slice(0, top) }
}

function shortUrl(url) {
  const m = /packages[\\/](.+)$/.exec(url ?? '')
  return m ? m[1] : (url ?? '').split(/[\\/]/).slice(-2).join('/')
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
