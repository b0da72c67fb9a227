import { readFileSync } from 'node:fs'
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
  it('imports no node: module and nothing from ./node, directly or transitively', () => {
    const graph = importGraph(join(here, 'index.ts'))
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
  })

  it('the node entry is a separate subpath', () => {
    const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'))
    expect(Object.keys(pkg.exports)).toEqual(['.', './node', './package.json'])
    expect(Object.keys(pkg.exports['.'])[0]).toBe('types')
  })
})
