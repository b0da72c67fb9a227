import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))

/** Every module reachable from `entry` through static or dynamic relative imports. */
function importGraph(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    const src = readFileSync(file, 'utf8')
    const specs = [
      ...src.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => (m[1] ?? m[2])!)
    seen.set(file, specs)
    for (const spec of specs) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
    }
  }
  return seen
}

describe('main entry', () => {
  it.each(['index.ts', 'http-entry.ts'])(
    '%s imports no node: module and nothing from ./node, directly or transitively',
    (entry) => {
      const graph = importGraph(join(here, entry))
      expect(graph.size).toBeGreaterThan(5)
      for (const [file, specs] of graph) {
        for (const spec of specs) {
          expect(spec.startsWith('node:'), `${file} imports ${spec}`).toBe(false)
          expect(
            /^(fs|path|os|async_hooks|perf_hooks|cluster|worker_threads|child_process|pidusage)$/.test(spec),
          ).toBe(false)
          expect(file.includes(`${'/'}node${'/'}`), `${file} is reachable from the main entry`).toBe(false)
        }
      }
    },
  )

  it("the node entry and the adapter authors' http entry are separate subpaths", () => {
    const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'))
    expect(Object.keys(pkg.exports)).toEqual(['.', './http', './node', './package.json'])
    expect(pkg.exports['./http']['@perf/source']).toBe('./src/http-entry.ts')
    expect(Object.keys(pkg.exports['.'])[0]).toBe('types')
  })
})

describe('two audiences, two entries', () => {
  it('the main entry is the user API: no adapter-building export, no internal helper', async () => {
    const main = await import('./index.js')
    const http = await import('./http-entry.js')
    for (const name of Object.keys(http)) expect(Object.keys(main), name).not.toContain(name)
    for (const internal of [
      'createContextStorage',
      'bucketLower',
      'HTTP_METHODS',
      'newRequestId',
      'normalizeMethod',
    ]) {
      expect(Object.keys(main), internal).not.toContain(internal)
    }
  })

  it('the http entry holds what an adapter is built from', async () => {
    const http = await import('./http-entry.js')
    for (const name of [
      'createHttpRecorder',
      'HttpRecorder',
      'PendingRequest',
      'watchResponse',
      'rawHeader',
      'serveWebHandler',
      'serveMounted',
      'markUnrecorded',
      'monitorInternals',
    ]) {
      expect(typeof (http as Record<string, unknown>)[name], name).toBe('function')
    }
  })

  it('every adapter source file takes adapter-building API from @perf/core/http, never from @perf/core', () => {
    const adapters = join(here, '..', '..')
    const exportedBy = (file: string) =>
      [...readFileSync(join(here, file), 'utf8').matchAll(/export (?:type )?\{([^}]*)\}/g)]
        .flatMap((m) => m[1]!.split(','))
        .map((n) => n.trim())
        .filter((n) => n !== '')
    // Types such as HttpOptions are in both entries: adapters may take those from either.
    const main = exportedBy('index.ts')
    const httpNames = exportedBy('http-entry.ts').filter((n) => !main.includes(n))
    for (const pkg of ['express', 'fastify', 'hono']) {
      for (const file of readdirSync(join(adapters, pkg, 'src')).filter(
        (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
      )) {
        const src = readFileSync(join(adapters, pkg, 'src', file), 'utf8')
        for (const m of src.matchAll(/import (?:type )?\{([^}]*)\} from '@perf\/core'/g)) {
          const names = m[1]!.split(',').map((n) => n.replace(/^\s*type\s+/, '').trim())
          for (const n of names)
            expect(httpNames, `${pkg}/src/${file} imports ${n} from @perf/core`).not.toContain(n)
        }
      }
    }
  })
})
