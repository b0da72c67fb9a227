/**
 * Packs every publishable package the way `pnpm publish` would, checks the tarballs with publint and
 * are-the-types-wrong, then installs them with plain npm into a fresh project outside the workspace and
 * uses them there, as a user would. Needs the packages built (`pnpm test` builds first).
 */
import { execFile } from 'node:child_process'
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const packagesDir = join(root, 'packages')
const publishable = readdirSync(packagesDir)
  .map((d) => join(packagesDir, d))
  .filter((d) => existsSync(join(d, 'package.json')))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => pkg.private !== true)

const work = mkdtempSync(join(tmpdir(), 'perf-pack-'))
const tarballs = new Map<string, string>()
const bin = (name: string) => join(root, 'node_modules', '.bin', name)

beforeAll(async () => {
  for (const { dir, pkg } of publishable) {
    expect(existsSync(join(dir, 'dist')), `${pkg.name} is not built: run pnpm build`).toBe(true)
    const { stdout } = await run('npx', ['--yes', 'pnpm@10', 'pack', '--pack-destination', work], {
      cwd: dir,
    })
    const file = stdout.trim().split('\n').pop()!.trim()
    tarballs.set(pkg.name, file.startsWith('/') ? file : join(work, file))
  }
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
    const deps: Record<string, string> = {}
    for (const [name, file] of tarballs) deps[name] = `file:${file}`
    // The frameworks come from the registry like any user's; versions follow the adapters' peer ranges.
    Object.assign(deps, {
      express: '^5.1.0',
      fastify: '^5.6.0',
      hono: '^4.10.0',
      '@hono/node-server': '^1.19.0',
    })
    const { mkdirSync } = await import('node:fs')
    mkdirSync(app)
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: deps }),
    )
    // better-sqlite3 (a peer of @perf/sqlite) compiles from source for minutes here; link the workspace's
    // build instead of compiling it a second time. Everything of ours comes from the tarballs.
    await run('npm', ['install', '--no-audit', '--no-fund', '--legacy-peer-deps', '--loglevel=error'], {
      cwd: app,
    })
    symlinkSync(
      realpathSync(join(root, 'packages', 'sqlite', 'node_modules', 'better-sqlite3')),
      join(app, 'node_modules', 'better-sqlite3'),
    )
    writeFileSync(join(app, 'use.mjs'), readFileSync(join(root, 'tests', 'fixtures', 'consumer.mjs'), 'utf8'))
    const { stdout } = await run('node', ['use.mjs'], { cwd: app, timeout: 60_000 })
    const result = JSON.parse(stdout.trim().split('\n').pop()!)
    expect(result.core).toMatchObject({ count: 3, errors: 1, nodeEntry: true })
    expect(result.resolvedFrom).not.toContain(root)
    expect(result.httpOps).toEqual(['GET /hello/:name', 'GET /items/:id', 'GET /things/:id'])
    expect(result.dbOps).toEqual(expect.arrayContaining(['INSERT notes', 'SELECT notes']))
    expect(result.dashboard).toMatch(/application\/json/)
    for (const [key, value] of Object.entries(result)) expect(value, key).not.toBeNull()
  })
})
