import { execFile, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RELEASES, runRelease } from '../../sqlite/src/test-support/release-fixture.js'
import { main } from './cli.js'
import { progressLine } from './progress.js'

const here = dirname(fileURLToPath(import.meta.url))
const register = join(here, '../../sqlite/src/test-support/register.mjs')
const dir = mkdtempSync(join(tmpdir(), 'perf-cli-'))
const file = join(dir, 'perf.db')

/** Runs `perf` as its own process, on the TypeScript source, as a CI job would run the binary. */
function perf(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=@perf/source', '--import', register, join(here, 'bin.ts'), ...args],
      { env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? -1), stdout, stderr })
      },
    )
  })
}

beforeAll(async () => {
  await runRelease(file, 'v1', RELEASES.v1, 11, 3000)
  await runRelease(file, 'v2', RELEASES.v2, 13, 3000)
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('perf compare', () => {
  it('prints each op with its verdict, worst first, and exits 0 without budgets', async () => {
    const r = await perf('compare', file, '--base', 'v1', '--head', 'v2')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    const rows = lines.filter((l) => l.startsWith('http'))
    expect(
      rows.map((l) => `${l.replace(/\s+/g, ' ').split(' ')[1]} ${l.replace(/\s+/g, ' ').split(' ')[2]}`),
    ).toEqual(['GET /errors', 'GET /slow', 'GET /same'])
    expect(rows[0]).toMatch(/more errors$/)
    expect(rows[1]).toMatch(/slower$/)
    expect(rows[2]).toMatch(/same$/)
    // Aligned: the verdict column starts at the same offset on every row and under its header.
    const header = lines.find((l) => l.startsWith('type'))!
    for (const row of rows) expect(row.search(/(more errors|slower|same)$/)).toBe(header.indexOf('verdict'))
    // Not a TTY: no colour codes.
    expect(r.stdout).not.toContain('\u001b[')
  })

  it('exits 1 naming the op and the figure when a latency budget is broken', async () => {
    const r = await perf('compare', file, '--base', 'v1', '--head', 'v2', '--budget', 'p95<=+10%')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /budget broken: http GET \/slow: p95 [\d.]+ ms → [\d.]+ ms \(\+\d+\.\d %\), over p95<=\+10%/,
    )
    expect(r.stderr).not.toMatch(/GET \/same/)
  })

  it('exits 1 naming the op when an error-rate budget is broken', async () => {
    const r = await perf('compare', file, '--base', 'v1', '--head', 'v2', '--budget', 'errorRate<=+0.5pt')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /budget broken: http GET \/errors: errorRate [\d.]+ % → [\d.]+ % \(\+[\d.]+ pt\), over errorRate<=\+0.5pt/,
    )
  })

  it('exits 0 when every budget is kept, and --json carries the ops and what broke', async () => {
    const r = await perf(
      'compare',
      file,
      '--base',
      'v1',
      '--head',
      'v2',
      '--budget',
      'p95<=+60%',
      '--budget',
      'errorRate<=+20pt',
      '--json',
    )
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { ops: { name: string; verdict: string }[]; broken: unknown[] }
    expect(out.broken).toEqual([])
    expect(Object.fromEntries(out.ops.map((o) => [o.name, o.verdict]))).toEqual({
      'GET /errors': 'more errors',
      'GET /slow': 'slower',
      'GET /same': 'same',
    })
  })

  it('compares time ranges too', async () => {
    const r = await perf('compare', file, '--base', '1d..', '--head', '1d..', '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { ops: { verdict: string; base: { count: number } }[] }
    expect(out.ops.every((o) => o.verdict === 'same' && o.base.count === 6000)).toBe(true)
  })

  it.each([
    [
      ['--base', 'v1', '--head', 'v2', '--budget', 'p95<10%'],
      /--budget "p95<10%" is not valid: expected <figure><=\+<limit>/,
    ],
    [['--base', 'v1', '--head', 'v2', '--budget', 'errorRate<=+1%'], /errorRate takes a limit in pt/],
    [['--base', 'v1'], /perf compare needs --head: expected a release/],
    [['--base', 'v0', '--head', 'v2'], /base.release "v0" is not in the store; known releases: v1, v2/],
    [['--base', 'a/b', '--head', 'v2'], /--base "a\/b" is neither a release nor a range: expected a release/],
    [['--base', 'yesterday..', '--head', 'v2'], /is not a time: expected a duration ago/],
    [['--base', 'v1', '--head', 'v2', '--bogus'], /Unknown option '--bogus'.*see --help/],
  ])('exits 2 for bad arguments %j, saying what is accepted', async (args, message) => {
    const r = await perf('compare', file, ...args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
    expect(r.stdout).toBe('')
  })

  it('exits 2 for a missing or unreadable file', async () => {
    const missing = await perf('compare', join(dir, 'nope.db'), '--base', 'v1', '--head', 'v2')
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/cannot open ".*nope\.db".*expected a @perf SqliteStore file/)
    const junk = join(dir, 'junk.db')
    writeFileSync(junk, 'not a database at all, just text that is long enough to be read')
    const bad = await perf('report', junk)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/junk\.db/)
  })
})

describe('perf report', () => {
  it('prints the endpoint table over a range and leaves the file untouched (read-only)', async () => {
    const digest = () => createHash('sha256').update(readFileSync(file)).digest('hex')
    const before = digest()
    const r = await perf('report', file, '--since', '1d', '--type', 'http')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Endpoints')
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('GET '))
    expect(rows).toHaveLength(3)
    expect(rows.every((l) => / 6000 /.test(l))).toBe(true)
    expect(digest()).toBe(before)
  })

  it('--release narrows to one release; --json is machine-readable', async () => {
    const r = await perf('report', file, '--since', '1d', '--release', 'v2', '--json')
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { ops: { name: string; count: number; errors: number }[] }
    expect(out.ops.map((o) => o.count)).toEqual([3000, 3000, 3000])
  })

  it('has --help per command, and bad times say what is accepted', async () => {
    for (const cmd of ['report', 'compare', 'releases']) {
      const r = await perf(cmd, '--help')
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`perf ${cmd} <file>`)
    }
    const bad = await perf('report', file, '--since', 'last week')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(
      /--since "last week" is not a time: expected a duration ago \(90s, 30m, 1h, 7d\)/,
    )
  })

  it('perf releases lists what the file knows', async () => {
    const r = await perf('releases', file, '--json')
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as { release: string }[]).map((x) => x.release)).toEqual(['v1', 'v2'])
  })
})

describe('progress of long reads', () => {
  it('is written to stderr on a terminal, redrawn in place and cleared at the end', () => {
    const writes: string[] = []
    const p = progressLine({ isTTY: true, write: (s) => writes.push(s) }, 'reading perf.db')
    p.update(0, 3085)
    p.update(1234, 3085)
    p.update(1240, 3085) // still 40 %: not redrawn
    p.update(3085, 3085)
    p.done()
    expect(writes).toEqual([
      '\rreading perf.db: rows 0 % (0 of 3,085)\u001b[K',
      '\rreading perf.db: rows 40 % (1,234 of 3,085)\u001b[K',
      '\rreading perf.db: rows 100 % (3,085 of 3,085)\u001b[K',
      '\r\u001b[K',
    ])
  })

  it('writes nothing at all when the stream is not a terminal', () => {
    for (const isTTY of [false, undefined]) {
      const writes: string[] = []
      const p = progressLine({ isTTY, write: (s) => writes.push(s) }, 'reading perf.db')
      p.update(10, 100)
      p.done()
      expect(writes).toEqual([])
    }
  })

  it('main() reports the rows of report and compare as they are read', async () => {
    for (const args of [
      ['report', file, '--since', '1d'],
      ['compare', file, '--base', 'v1', '--head', 'v2'],
    ]) {
      const lines: string[] = []
      const code = await main(args, {
        out: () => {},
        err: () => {},
        color: false,
        progress: { isTTY: true, write: (s) => lines.push(s) },
      })
      expect(code).toBe(0)
      const last = lines.at(-2) ?? ''
      expect(last.startsWith('\rreading ')).toBe(true)
      expect(last.endsWith('\u001b[K')).toBe(true)
      expect(last).toMatch(/perf\.db: rows 100 % \([\d,]+ of [\d,]+\)/)
      expect(lines.at(-1)).toBe('\r\u001b[K')
    }
  })

  it('perf run as a process with stderr in a pipe prints no progress', async () => {
    for (const args of [
      ['report', file, '--since', '1d'],
      ['compare', file, '--base', 'v1', '--head', 'v2'],
    ]) {
      const r = await perf(...args)
      expect(r.code).toBe(0)
      expect(r.stderr).toBe('')
      expect(r.stdout).not.toMatch(/reading|rows \d+ %/)
    }
  })

  // script(1) from util-linux gives its command a real pty; skipped where there is none to give.
  const hasPty =
    existsSync('/usr/bin/script') &&
    spawnSync('/usr/bin/script', ['-q', '-e', '-c', 'true', '/dev/null'], { stdio: 'ignore' }).status === 0
  it.skipIf(!hasPty)(
    'perf run in a real terminal (a pty from script(1)) shows the progress line',
    async () => {
      const command = [
        process.execPath,
        '--conditions=@perf/source',
        '--import',
        register,
        join(here, 'bin.ts'),
        'compare',
        file,
        '--base',
        'v1',
        '--head',
        'v2',
      ]
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ')
      const out = await new Promise<string>((resolve, reject) => {
        execFile(
          '/usr/bin/script',
          ['-q', '-e', '-c', command, '/dev/null'],
          { env: { ...process.env, NO_COLOR: '1' } },
          (err, stdout) => (err === null ? resolve(stdout) : reject(err)),
        )
      })
      expect(out).toMatch(/reading .*perf\.db: rows 100 % \([\d,]+ of [\d,]+\)/)
      expect(out).toContain('GET /slow')
    },
  )
})
