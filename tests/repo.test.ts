/**
 * The repository's own wiring: every root script that runs a file names one that exists, and an
 * install decides every dependency's build script (no "Ignored build scripts" notice).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>
}

it('every root script that runs a file names one that exists', () => {
  const missing: string[] = []
  for (const [name, script] of Object.entries(pkg.scripts)) {
    for (const m of script.matchAll(/\bnode\s+([\w./-]+\.m?[jt]s)\b/g)) {
      if (!existsSync(join(root, m[1]!))) missing.push(`${name}: ${m[1]}`)
    }
  }
  expect(missing).toEqual([])
  expect(pkg.scripts['check:packages']).toBeDefined()
})

it('an install leaves no build script undecided', () => {
  // pnpm lists the packages whose build scripts it ignored without being told to.
  const out = execFileSync('npx', ['--yes', 'pnpm@10', 'ignored-builds'], { cwd: root, encoding: 'utf8' })
  // Depending on pnpm's version it says "None" or that it found nothing to identify; either way it
  // must not list a package whose build script nobody decided on.
  expect(out).not.toMatch(/^\s*(esbuild|event-loop-stats|protobufjs)\b/m)
})

it('the counted benchmarks take --idle-seconds 0 (no idle correction) and name seconds when it is wrong', () => {
  const run = (...args: string[]) => {
    try {
      execFileSync(process.execPath, [join(root, 'bench/http-count.mjs'), ...args], {
        cwd: join(root, 'bench'),
        encoding: 'utf8',
        stdio: 'pipe',
      })
      return ''
    } catch (err) {
      return String((err as { stderr?: string }).stderr)
    }
  }
  // 0 is taken: the run goes on to the next flag, whose unknown variant stops it before any count.
  expect(run('--idle-seconds', '0', '--variants', 'bare,no-such-variant')).toMatch(/no-such-variant/)
  expect(run('--idle-seconds', '-1')).toMatch(
    /--idle-seconds "-1" is not valid: expected a whole number of seconds from 0 to 10000000/,
  )
})
