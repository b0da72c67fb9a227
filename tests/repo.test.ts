/**
 * The repository's own wiring: every root script that runs a file names one that exists, and an
 * install decides every dependency's build script (no "Ignored build scripts" notice).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
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

it('run-all refuses a flag it does not take before it builds or runs anything, and --help shows its usage', () => {
  const run = (...args: string[]) => {
    try {
      const stdout = execFileSync(process.execPath, [join(root, 'bench/run-all.mjs'), ...args], {
        cwd: join(root, 'bench'),
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 20_000,
      })
      return { status: 0, stdout, stderr: '' }
    } catch (err) {
      const e = err as { status?: number; stdout?: string; stderr?: string }
      return { status: e.status, stdout: String(e.stdout), stderr: String(e.stderr) }
    }
  }
  // Without the check, `--help` (or a misspelt flag) started a full run: a build, every benchmark
  // and BENCHMARKS.md rewritten.
  const help = run('--help')
  expect(help.status).toBe(0)
  expect(help.stdout).toMatch(/^Runs every benchmark and rewrites BENCHMARKS\.md/)
  expect(help.stdout).toContain('--only http,memory')
  expect(help.stdout).not.toMatch(/building the packages/)
  for (const [args, message] of [
    [
      ['--skip-bulid'],
      /"--skip-bulid" is not an option of this script; it takes --only <value>, .*--skip-build/,
    ],
    [['--quick=yes'], /"--quick=yes" is not an option of this script/],
    [['--only'], /--only needs a value/],
  ] as const) {
    const r = run(...args)
    expect(r.status).not.toBe(0)
    expect(r.stderr).toMatch(message)
    expect(r.stdout).not.toMatch(/building the packages/)
  }
})

it('every bench script refuses a flag it does not take, before any work, and --help shows its head comment', () => {
  const scripts = readdirSync(join(root, 'bench')).filter(
    (f) => f.endsWith('.mjs') && !f.endsWith('-server.mjs'),
  )
  expect(scripts.length).toBeGreaterThan(10)
  for (const script of scripts) {
    const run = (arg: string) =>
      spawnSync(process.execPath, [join(root, 'bench', script), arg], {
        cwd: join(root, 'bench'),
        encoding: 'utf8',
        timeout: 20_000,
      })
    const firstLine = readFileSync(join(root, 'bench', script), 'utf8')
      .split('\n')
      .find((line) => line.startsWith('// '))!
      .slice(3)
    const help = run('--help')
    expect(help.status, `${script} --help`).toBe(0)
    expect(help.stdout.split('\n')[0], `${script} --help`).toBe(firstLine)
    const wrong = run('--no-such-flag')
    expect(wrong.status, `${script} --no-such-flag`).not.toBe(0)
    expect(wrong.stderr, script).toContain('"--no-such-flag" is not an option of this script')
  }
}, 120_000)

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
