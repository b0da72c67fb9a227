// Starts the demo from a fresh checkout: builds what it needs (turbo skips what its cache already
// has), says so while it works, then runs the demo in this very process. No package manager stays in
// between, so Ctrl-C reaches the demo alone: it flushes the store and the command ends quietly with 0.
//
//   node apps/demo/start.mjs [--no-load] [--port-base N] [--data DIR]
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const turbo = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'turbo.cmd' : 'turbo')

if (!existsSync(turbo)) {
  console.error('The dependencies are not installed: run `npx --yes pnpm@10 install` first.')
  process.exit(1)
}
const started = Date.now()
process.stdout.write('Building the packages the demo needs (cached builds are skipped)… ')
// Through pnpm: turbo needs the package manager on its PATH to read the workspace.
const build = spawnSync(
  'npx',
  [
    '--yes',
    'pnpm@10',
    'exec',
    'turbo',
    'run',
    'build',
    '--filter=@perf/demo...',
    '--output-logs=errors-only',
    '--log-prefix=none',
  ],
  { cwd: root, encoding: 'utf8', env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' } },
)
if (build.status !== 0) {
  console.log('failed.')
  process.stdout.write(build.stdout ?? '')
  process.stderr.write(build.stderr ?? '')
  process.exit(build.status ?? 1)
}
const cached = /Cached:\s+(\d+) cached, (\d+) total/.exec(build.stdout ?? '')
console.log(
  `done in ${((Date.now() - started) / 1000).toFixed(1)} s${cached ? ` (${cached[1]} of ${cached[2]} from cache)` : ''}.`,
)
await import(pathToFileURL(join(here, 'dist', 'main.js')).href)
