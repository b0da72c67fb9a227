/**
 * Packs every publishable package the way `pnpm publish` would, checks the tarballs with publint and
 * are-the-types-wrong, then installs them with plain npm into a fresh project outside the workspace and
 * uses them there, as a user would. Needs the packages built (`pnpm test` builds first).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { installConsumer, packAll, publishable, root, run } from './consumer.js'

const work = mkdtempSync(join(tmpdir(), 'perf-pack-'))
let tarballs = new Map<string, string>()
const bin = (name: string) => join(root, 'node_modules', '.bin', name)

beforeAll(async () => {
  tarballs = await packAll(work)
})

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

describe('packed packages', () => {
  it('include every publishable package', () => {
    expect([...tarballs.keys()].sort()).toEqual(publishable.map((p) => p.pkg.name).sort())
    expect(tarballs.has('@perf/core')).toBe(true)
  })

  for (const { pkg } of publishable) {
    it(`${pkg.name}: publint --strict passes`, async () => {
      const { stdout } = await run(bin('publint'), ['run', tarballs.get(pkg.name)!, '--strict'])
      expect(stdout).not.toMatch(/error|warning/i)
    })

    it(`${pkg.name}: are-the-types-wrong passes (ESM, node16 and bundler resolution)`, async () => {
      // attw exits non-zero on any problem in the resolutions an ESM-only package supports.
      const { stdout } = await run(bin('attw'), [
        tarballs.get(pkg.name)!,
        '--profile',
        'esm-only',
        '--format',
        'ascii',
      ])
      expect(stdout).toContain(pkg.name)
    })

    it(`${pkg.name}: the tarball holds dist, README and package.json only, with workspace ranges replaced`, async () => {
      const { stdout } = await run('tar', ['-tzf', tarballs.get(pkg.name)!])
      const files = stdout.trim().split('\n')
      expect(files).toContain('package/package.json')
      expect(files).toContain('package/README.md')
      expect(files.every((f) => /^package\/(dist\/|package\.json$|README\.md$|LICENSE)/.test(f))).toBe(true)
      expect(files.some((f) => f.endsWith('.test.js'))).toBe(false)
      // A map would point at ../src/*.ts, which is not shipped.
      expect(files.filter((f) => f.endsWith('.map'))).toEqual([])
      const { stdout: manifest } = await run('tar', [
        '-xzOf',
        tarballs.get(pkg.name)!,
        'package/package.json',
      ])
      expect(manifest).not.toMatch(/workspace:/)
    })
  }

  it('install with plain npm into a fresh project and work there', async () => {
    const app = join(work, 'consumer')
    await installConsumer(app, tarballs)
    writeFileSync(join(app, 'use.mjs'), readFileSync(join(root, 'tests', 'fixtures', 'consumer.mjs'), 'utf8'))
    const { stdout } = await run('node', ['use.mjs'], { cwd: app, timeout: 60_000 })
    const result = JSON.parse(stdout.trim().split('\n').pop()!)
    expect(result.core).toMatchObject({ count: 3, errors: 1, nodeEntry: true, httpEntry: true })
    expect(result.resolvedFrom).not.toContain(root)
    expect(result.httpOps).toEqual(['GET /hello/:name', 'GET /items/:id', 'GET /things/:id'])
    expect(result.dbOps).toEqual(expect.arrayContaining(['INSERT notes', 'SELECT notes']))
    expect(result.dashboard).toMatch(/application\/json/)
    for (const [key, value] of Object.entries(result)) expect(value, key).not.toBeNull()
  })
})
