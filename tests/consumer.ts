/**
 * What `pack.test.ts` and `readme.test.ts` share: pack every publishable package the way `pnpm publish`
 * would, and install the tarballs with plain npm into a fresh project outside the workspace, as a user
 * would. Needs the packages built (`pnpm test` builds first).
 */
import { execFile } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

/** Runs a command without a shell; rejects with its output when it exits non-zero. */
export const run = promisify(execFile)

/** The repository's root directory. */
export const root: string = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** A package directory and its parsed `package.json`. */
export interface PackageDir {
  dir: string
  pkg: { name: string; private?: boolean; [key: string]: unknown }
}

/** Every package under `packages/` that is not private, i.e. every package that gets published. */
export const publishable: PackageDir[] = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .filter((d) => existsSync(join(d, 'package.json')))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => pkg.private !== true)

/** Packs every publishable package into `destination`; returns each package's tarball by name. */
export async function packAll(destination: string): Promise<Map<string, string>> {
  const tarballs = new Map<string, string>()
  for (const { dir, pkg } of publishable) {
    if (!existsSync(join(dir, 'dist'))) throw new Error(`${pkg.name} is not built: run pnpm build`)
    const { stdout } = await run('npx', ['--yes', 'pnpm@10', 'pack', '--pack-destination', destination], {
      cwd: dir,
    })
    const file = stdout.trim().split('\n').pop()!.trim()
    tarballs.set(pkg.name, file.startsWith('/') ? file : join(destination, file))
  }
  return tarballs
}

/**
 * Creates `dir`, a plain npm project (ESM) depending on the tarballs and on the frameworks from the
 * registry like any user's (versions follow the adapters' peer ranges), and installs it with npm.
 */
export async function installConsumer(dir: string, tarballs: ReadonlyMap<string, string>): Promise<void> {
  const deps: Record<string, string> = {}
  for (const [name, file] of tarballs) deps[name] = `file:${file}`
  Object.assign(deps, {
    express: '^5.1.0',
    fastify: '^5.6.0',
    hono: '^4.10.0',
    '@hono/node-server': '^1.19.0',
    // What a TypeScript user adds, so that README ts blocks are type-checked as they would be.
    '@types/express': '^5.0.3',
    '@types/node': '^20.19.0',
  })
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: deps }),
  )
  await run('npm', ['install', '--no-audit', '--no-fund', '--legacy-peer-deps', '--loglevel=error'], {
    cwd: dir,
  })
  // better-sqlite3 (a peer of @perf/sqlite) compiles from source for minutes here; link the workspace's
  // build instead of compiling it a second time. Everything of ours comes from the tarballs.
  symlinkSync(
    realpathSync(join(root, 'packages', 'sqlite', 'node_modules', 'better-sqlite3')),
    join(dir, 'node_modules', 'better-sqlite3'),
  )
}
