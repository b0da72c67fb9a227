/**
 * Every js/ts code block of every README runs as copied: each is saved as a file in a plain npm project
 * that installed the packed tarballs (as `pack.test.ts` does) and run with `node`, ts blocks first
 * transpiled by TypeScript (Node 20 cannot run `.ts`). A block either runs to completion with exit
 * code 0, or starts a server and prints its URL; then every URL its comments name (`curl …`, `open …`)
 * must answer, and each app route requested must show up as an op where the block says to look: a
 * dashboard it printed (read through `api/snapshot` with the token from `PERF_ADMIN_TOKEN`), its
 * `/metrics`, or a JSON snapshot it serves. Blocks of other languages (sh, text, yaml, nginx) are not run.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { installConsumer, packAll, root, run } from './consumer.js'

/** A fenced code block of a README. */
interface Block {
  readme: string
  /** 1-based position among the README's fenced blocks, whatever their language. */
  index: number
  line: number
  lang: string
  code: string
}

const RUNNABLE = new Set(['js', 'javascript', 'mjs', 'ts', 'typescript'])
const TOKEN = 'readme-test-admin-token-0123456789'
const BLOCK_TIMEOUT_MS = 30_000

function readmes(): string[] {
  const files = [join(root, 'README.md')]
  for (const parent of ['packages', 'apps']) {
    for (const d of readdirSync(join(root, parent)).sort()) {
      const file = join(root, parent, d, 'README.md')
      if (existsSync(file)) files.push(file)
    }
  }
  return files
}

/** Splits a README into its fenced blocks (``` or ~~~, any language, unlabelled included). */
export function extractBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = []
  const lines = text.split('\n')
  let open: { fence: string; lang: string; line: number; body: string[] } | undefined
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (open === undefined) {
      const m = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(line)
      if (m) open = { fence: m[1]!, lang: m[2]!.toLowerCase(), line: i + 1, body: [] }
    } else if (line.trim().startsWith(open.fence) && line.trim().replace(/[`~]/g, '') === '') {
      blocks.push({
        readme: relative(root, file),
        index: blocks.length + 1,
        line: open.line,
        lang: open.lang,
        code: `${open.body.join('\n')}\n`,
      })
      open = undefined
    } else {
      open.body.push(line)
    }
  }
  return blocks
}

const blocks = readmes().flatMap((file) => extractBlocks(file, readFileSync(file, 'utf8')))
const runnable = blocks.filter((b) => RUNNABLE.has(b.lang))
const label = (b: Block) => `${b.readme} block #${b.index} (line ${b.line}, ${b.lang})`

const work = mkdtempSync(join(tmpdir(), 'perf-readme-'))
const app = join(work, 'consumer')

beforeAll(async () => {
  await installConsumer(app, await packAll(work))
})

afterAll(() => {
  rmSync(work, { recursive: true, force: true })
})

/** A ts block must also compile under `tsc --strict` against the packed packages' types. */
async function typecheck(block: Block, dir: string): Promise<void> {
  writeFileSync(join(dir, 'block.ts'), block.code)
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const args = [
    '--strict',
    '--noEmit',
    '--skipLibCheck',
    '--module',
    'nodenext',
    '--target',
    'es2022',
    'block.ts',
  ]
  try {
    await run(process.execPath, [tsc, ...args], { cwd: dir })
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    expect.fail(`${label(block)}: does not compile under tsc --strict:\n${stdout}${stderr}`)
  }
}

/** A started block: its process and what it printed so far. */
interface Started {
  child: ChildProcess
  out: { stdout: string; stderr: string }
  exited: Promise<number | null>
}

function start(block: Block, dir: string): Started {
  const source = block.lang.startsWith('t')
    ? ts.transpileModule(block.code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        reportDiagnostics: false,
      }).outputText
    : block.code
  writeFileSync(join(dir, 'block.mjs'), source)
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', PERF_ADMIN_TOKEN: TOKEN }
  // vitest sets NODE_ENV=test, under which watchProcess is inert; a reader's shell does not.
  delete env.NODE_ENV
  delete env.VITEST
  // Its own process group, so that stopping it stops a cluster's workers too.
  const child = spawn(process.execPath, ['block.mjs'], { cwd: dir, env, detached: true, stdio: 'pipe' })
  const out = { stdout: '', stderr: '' }
  child.stdout!.on('data', (d: Buffer) => {
    out.stdout += d
  })
  child.stderr!.on('data', (d: Buffer) => {
    out.stderr += d
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, out, exited }
}

const URL_RE = /https?:\/\/[^\s'"`)<>,]+/g

/**
 * What a block's comments say to do after starting it: `then Ctrl-C: "line", "line"` names the lines
 * it prints once interrupted.
 */
export function ctrlC(code: string): string[] | undefined {
  const m = /\bthen Ctrl-C\b(.*)$/m.exec(code)
  return m ? [...m[1]!.matchAll(/"([^"]+)"/g)].map((q) => q[1]!) : undefined
}

/**
 * Resolves when the block exited (`'exit'`), printed a URL and then stayed quiet for a moment
 * (`'url'`), or, for a block to be stopped with Ctrl-C, stayed quiet for a second (`'quiet'`).
 */
async function settle(
  s: Started,
  timeoutMs: number,
  interruptible: boolean,
): Promise<'exit' | 'url' | 'quiet' | 'timeout'> {
  let done = false
  const exit = s.exited.then(() => 'exit' as const)
  const url = (async () => {
    let last = ''
    let quietSince = Date.now()
    while (!done) {
      await new Promise((r) => setTimeout(r, 50))
      if (s.out.stdout !== last) {
        last = s.out.stdout
        quietSince = Date.now()
      } else if (URL_RE.test(last) && Date.now() - quietSince >= 300) {
        URL_RE.lastIndex = 0
        return 'url' as const
      } else if (interruptible && Date.now() - quietSince >= 1000) {
        return 'quiet' as const
      }
      URL_RE.lastIndex = 0
    }
    return 'timeout' as const
  })()
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref())
  const result = await Promise.race([exit, url, timeout])
  done = true
  return result
}

async function stop(s: Started): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return
  try {
    process.kill(-s.child.pid!, 'SIGTERM')
  } catch {}
  const killed = await Promise.race([
    s.exited.then(() => true),
    new Promise((r) => setTimeout(r, 5000, false)),
  ])
  if (!killed) {
    try {
      process.kill(-s.child.pid!, 'SIGKILL')
    } catch {}
    await s.exited
  }
}

/** The URLs a block's comments tell the reader to request (`curl <url>`, `open <url>`), as paths. */
export function namedRequests(code: string): string[] {
  const paths: string[] = []
  for (const line of code.split('\n')) {
    const comment = line.indexOf('//')
    if (comment === -1) continue
    const re =
      /\b(?:curl|open)\s+(?:-\S+\s+)*(?:https?:\/\/)?(?:localhost|127\.0\.0\.1)(?::\d+)?(\/[^\s,;'"`]*)?/g
    for (const m of line.slice(comment).matchAll(re)) paths.push((m[1] ?? '/').replace(/[.:]+$/, ''))
  }
  return paths
}

/** The http op names a response body shows: a snapshot's `types.http.ops` or Prometheus' `name` labels. */
export function opNames(body: string): string[] | undefined {
  try {
    const json = JSON.parse(body) as { types?: { http?: { ops?: { name: string }[] } } }
    if (json && typeof json === 'object' && 'types' in json)
      return (json.types?.http?.ops ?? []).map((o) => o.name)
  } catch {}
  if (body.includes('# TYPE ')) {
    return [...body.matchAll(/perf_events_total\{type="http",name="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!)
  }
  return undefined
}

/** Whether an op name (`GET /api/notes/:id`) is the route of a GET to `path`. */
export function opMatches(op: string, path: string): boolean {
  const [method, template] = op.split(' ', 2)
  if (method !== 'GET' || template === undefined || !template.startsWith('/')) return false
  const pattern = template
    .split('/')
    .map((seg) =>
      seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/')
  return new RegExp(`^${pattern}/?$`).test(new URL(path, 'http://x').pathname)
}

const auth = { authorization: `Bearer ${TOKEN}` }

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers: auth, redirect: 'follow', signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: await res.text() }
}

/** The ops a dashboard at `url` shows, or `undefined` when there is no dashboard there. */
async function dashboardOps(url: string): Promise<string[] | undefined> {
  const base = url.endsWith('/') ? url : `${url}/`
  try {
    const { status, body } = await get(new URL('api/snapshot', base).href)
    if (status !== 200) return undefined
    const json = JSON.parse(body) as { dashboard?: unknown }
    return json.dashboard === undefined ? undefined : (opNames(body) ?? [])
  } catch {
    return undefined
  }
}

async function exercise(block: Block, s: Started): Promise<void> {
  const where = label(block)
  const printed = [...new Set(s.out.stdout.match(URL_RE) ?? [])]
  const origin = new URL(printed[0]!).origin
  const requested = namedRequests(block.code).map((p) => new URL(p, origin).href)
  const dashboards = new Set<string>()
  for (const url of [...printed, ...requested])
    if ((await dashboardOps(url)) !== undefined) dashboards.add(url)
  const appRoutes: string[] = []
  const observers: string[] = []
  for (const url of requested) {
    const { status, body } = await get(url)
    expect(
      status,
      `${where}: GET ${url} (named in its comments) answered ${status}: ${body.slice(0, 300)}`,
    ).toBeLessThan(400)
    if (dashboards.has(url)) continue
    if (opNames(body) !== undefined) observers.push(url)
    else appRoutes.push(url)
  }
  expect(
    dashboards.size + observers.length,
    `${where}: it prints no dashboard URL and names no /metrics or snapshot URL to look at; stdout:\n${s.out.stdout}`,
  ).toBeGreaterThan(0)
  if (dashboards.size > 0) {
    expect(s.out.stdout, `${where}: prints a dashboard URL but not where its token comes from`).toMatch(
      new RegExp(`PERF_ADMIN_TOKEN|${TOKEN}`),
    )
  }
  // Cluster workers merge every second or so: look a few times before calling a request lost.
  const deadline = Date.now() + 10_000
  let seen: string[] = []
  for (;;) {
    seen = []
    for (const url of dashboards) seen.push(...((await dashboardOps(url)) ?? []))
    for (const url of observers) seen.push(...(opNames((await get(url)).body) ?? []))
    const missing = appRoutes.filter((url) => !seen.some((op) => opMatches(op, url)))
    if (missing.length === 0 || Date.now() > deadline) {
      expect(
        missing,
        `${where}: requested, but not shown where it says to look (ops seen: ${seen.join(', ')})`,
      ).toEqual([])
      return
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}

describe('README code blocks', () => {
  it('finds the READMEs and their runnable blocks', () => {
    expect(blocks.some((b) => b.readme === 'README.md' && RUNNABLE.has(b.lang))).toBe(true)
    expect(runnable.length).toBeGreaterThan(10)
  })

  for (const block of runnable) {
    it(`${label(block)} runs as copied`, { timeout: BLOCK_TIMEOUT_MS + 30_000 }, async () => {
      const dir = join(app, 'blocks', `${block.readme.replace(/\W+/g, '-')}-${block.index}`)
      mkdirSync(dir, { recursive: true })
      if (block.lang.startsWith('t')) await typecheck(block, dir)
      const s = start(block, dir)
      try {
        const interrupt = ctrlC(block.code)
        const how = await settle(s, BLOCK_TIMEOUT_MS, interrupt !== undefined)
        const output = `\nstdout:\n${s.out.stdout.slice(-2000)}\nstderr:\n${s.out.stderr.slice(-2000)}`
        expect(
          how,
          `${label(block)}: neither exited nor printed a URL within ${BLOCK_TIMEOUT_MS} ms${output}`,
        ).not.toBe('timeout')
        if (how === 'quiet') {
          // Ctrl-C in a terminal signals the whole foreground process group.
          process.kill(-s.child.pid!, 'SIGINT')
          const ended = await Promise.race([
            s.exited.then(() => true),
            new Promise((r) => setTimeout(r, 10_000, false)),
          ])
          const after = `\nstdout:\n${s.out.stdout.slice(-2000)}\nstderr:\n${s.out.stderr.slice(-2000)}`
          expect(ended, `${label(block)}: still running 10 s after Ctrl-C${after}`).toBe(true)
          expect(
            [0, null],
            `${label(block)}: exited with ${s.child.exitCode} after Ctrl-C${after}`,
          ).toContain(s.child.exitCode)
          for (const line of interrupt!)
            expect(s.out.stdout, `${label(block)}: after Ctrl-C${after}`).toContain(line)
        } else if (how === 'exit') {
          expect(s.child.exitCode, `${label(block)}: exited with ${s.child.exitCode}${output}`).toBe(0)
        } else {
          await exercise(block, s)
        }
      } finally {
        await stop(s)
      }
    })
  }
})

describe('README block runner parts', () => {
  it('finds the requests a comment names, whatever host form it uses', () => {
    expect(
      namedRequests(
        '// curl localhost:3000/api/notes/1, then curl http://127.0.0.1:3000/admin/stats:\n// open http://localhost:3000/\nconst x = "curl localhost:3000/no"',
      ),
    ).toEqual(['/api/notes/1', '/admin/stats', '/'])
  })

  it('matches op names to requested paths by route template', () => {
    expect(opMatches('GET /notes/:id', 'http://127.0.0.1:1/notes/1')).toBe(true)
    expect(opMatches('GET /notes/:id', 'http://127.0.0.1:1/notes/1/x')).toBe(false)
    expect(opMatches('POST /notes/:id', 'http://127.0.0.1:1/notes/1')).toBe(false)
    expect(opMatches('GET <unmatched>', 'http://127.0.0.1:1/notes/1')).toBe(false)
  })

  it('reads ops from a snapshot and from Prometheus text, and nothing from other bodies', () => {
    expect(opNames(JSON.stringify({ types: { http: { ops: [{ name: 'GET /a' }] } } }))).toEqual(['GET /a'])
    expect(
      opNames(
        '# TYPE perf_events_total counter\nperf_events_total{type="http",name="GET /b",status_class="2xx"} 1',
      ),
    ).toEqual(['GET /b'])
    expect(opNames('hello')).toBeUndefined()
  })

  it('reads what a block prints after Ctrl-C', () => {
    expect(ctrlC('// x.mjs — node x.mjs, then Ctrl-C: "a b", "c"')).toEqual(['a b', 'c'])
    expect(ctrlC('// On Ctrl-C / SIGTERM: flush')).toBeUndefined()
  })
})
