// Runs every benchmark and rewrites BENCHMARKS.md (repo root) from their printed figures.
//
//   node run-all.mjs                       build, run all, rewrite BENCHMARKS.md
//   node run-all.mjs --quick               CI: build, one short round of each, print, write nothing
//   node run-all.mjs --only http,memory    rerun some; replace only their sections of BENCHMARKS.md
//   flags: --skip-build, --write (write even with --quick), --soak-duration 10m, --no-soak,
//          --args 'http=--rounds 3 --paired-rounds 5' (extra arguments for one script; repeatable),
//          --node24 <node binary>: also run core.mjs --count, http.mjs, http-cpu.mjs, http-count.mjs
//          and http-ic.mjs on Node 24 (no native module: this checkout serves), as their own sections
//          `core-node24`, `http-node24`, `http-cpu-node24`, `http-count-node24` and `http-ic-node24`;
//          --node24-checkout <dir> as well: also run realistic.mjs (with wrk and in memory),
//          realistic-count.mjs and sqlite.mjs on Node 24, from a checkout of the same commit installed
//          and built by that Node (better-sqlite3 is native), as their own sections
//          `realistic-node24`, `realistic-cpu-node24`, `realistic-count-node24` and `sqlite-node24` (each
//          skipped, its old section kept, without what it needs)
// `http-count-peers` is http-count.mjs on express beside its lightest peer (express-status-monitor),
// its own section; a full run only (its express servers take minutes each under valgrind, and
// `http-count --quick` already shows in CI that the script runs). `http-count-node24` counts every
// peer as well; under --quick it counts only bare and @perf, as http-count does.
//
// THE CONTRACT (details and an example in bench/README.md). Every bench script `bench/<name>.mjs`:
//   1. prints human-readable lines;
//   2. then prints one or more lines `BENCH_JSON {...}` — the last line of stdout is one — where the
//      JSON is { title, command, rows: [{ name, value, unit, min?, max?, target?, pass?, note? }],
//      notes? }; each becomes one table here;
//   3. honours `--quick` (one short round, well under a minute);
//   4. exits non-zero only on a correctness failure, never because a timing target was missed
//      (that is `pass: false`);
//   5. refuses a flag it does not take, before any work (lib/result.mjs checkFlags).
// A script that prints no BENCH_JSON still gets a section: its output, verbatim.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkFlags, flag, headComment, quick } from './lib/result.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const OUT = join(root, 'BENCHMARKS.md')

/** Scripts in the order they run and appear in BENCHMARKS.md. */
const SCRIPTS = [
  'core',
  'core-node24',
  'http',
  'http-node24',
  'http-cpu',
  'http-cpu-node24',
  'http-count',
  'http-count-peers',
  'http-count-node24',
  'http-ic',
  'http-ic-node24',
  'realistic',
  'realistic-node24',
  'realistic-cpu',
  'realistic-cpu-node24',
  'realistic-count',
  'realistic-count-node24',
  'sqlite',
  'sqlite-node24',
  'memory',
  'process',
  'prometheus',
  'dashboard',
  'soak',
]
/**
 * Sections that run another script (or the same one with set arguments) under their own name.
 * `node24`: run by the Node 24 binary given as `--node24`, from this checkout (`'binary'`) or from the
 * `--node24-checkout` one (`'checkout'`, for scripts that load better-sqlite3). `timeoutMinutes`: how
 * long it may run before it is stopped (default 45, as every script). `quickArgs`: its arguments under
 * `--quick`, when they differ.
 */
const ALIASES = {
  'core-node24': {
    script: 'core',
    heading: 'core.mjs on Node 24',
    // Counted as well as timed: Node 24's V8 inlines the record path by other rules than Node 20's.
    args: ['--count'],
    node24: 'binary',
  },
  'http-node24': {
    script: 'http',
    heading: 'http.mjs on Node 24',
    // Timed, side by side, on the Node users run: every framework, its floor and its lightest peer.
    args: [],
    node24: 'binary',
  },
  'http-cpu-node24': {
    script: 'http-cpu',
    heading: 'http-cpu.mjs on Node 24',
    args: [],
    node24: 'binary',
  },
  'realistic-node24': {
    script: 'realistic',
    heading: 'realistic.mjs on Node 24',
    args: [],
    node24: 'checkout',
  },
  'realistic-cpu': {
    script: 'realistic',
    heading: 'realistic.mjs over an in-memory connection',
    // Each variant in three processes driven in turn without the kernel or wrk: the differences
    // resolve to a few tenths of a µs (about 15 minutes on three frameworks).
    args: ['--in-memory'],
  },
  'realistic-cpu-node24': {
    script: 'realistic',
    heading: 'realistic.mjs over an in-memory connection on Node 24',
    args: ['--in-memory'],
    node24: 'checkout',
  },
  'realistic-count-node24': {
    script: 'realistic-count',
    heading: 'realistic-count.mjs on Node 24',
    // Without no-context: the store and the floors are what this section is for, on the Node users run.
    args: ['--frameworks', 'fastify,hono,express', '--variants', 'off,on,no-store,floor-db,floor-store'],
    node24: 'checkout',
    // Eighteen servers under valgrind, each also counted idle: about an hour.
    timeoutMinutes: 90,
    // --quick: off and on only (the script's quick default), within the 5-minute limit.
    quickArgs: ['--frameworks', 'fastify,hono,express'],
  },
  'sqlite-node24': {
    script: 'sqlite',
    heading: 'sqlite.mjs on Node 24',
    // The statement wrapper's cost beside the clock's and the floor's, on the Node users run (its V8
    // inlines the record path by other rules than Node 20's).
    args: [],
    node24: 'checkout',
  },
  'http-count-node24': {
    script: 'http-count',
    heading: 'http-count.mjs on Node 24',
    // The floor, @perf and every peer on each framework, the peers' once-a-second work taken off; idle
    // 20 s is enough at Node 24's small timer work. About 30 minutes.
    args: [
      '--frameworks',
      'express,fastify,hono',
      '--variants',
      'bare,floor,perf-0.1,peers',
      '--idle-seconds',
      '20',
    ],
    // --quick: bare and @perf only (the script's quick default), within the 5-minute limit.
    quickArgs: ['--frameworks', 'express,fastify,hono'],
    node24: 'binary',
    timeoutMinutes: 90,
  },
  'http-ic-node24': {
    script: 'http-ic',
    heading: 'http-ic.mjs on Node 24',
    // The same misses on the Node users run, where each costs little: the count is of the code, the
    // cost of the Node.
    args: [],
    node24: 'binary',
  },
  'http-count-peers': {
    script: 'http-count',
    heading: 'http-count.mjs: express beside its lightest peer',
    args: ['--frameworks', 'express', '--variants', 'bare,floor,perf-0.1,express-status-monitor'],
  },
}
// Before anything else: a misspelt flag would otherwise start a full run that rewrites BENCHMARKS.md.
checkFlags(
  headComment(import.meta.url),
  ['only', 'args', 'node24', 'node24-checkout', 'soak-duration'],
  ['quick', 'skip-build', 'write', 'no-soak'],
)
const only = flag('only')?.split(',')
for (const name of only ?? []) {
  if (!SCRIPTS.includes(name))
    throw new RangeError(`--only: unknown script ${name}; expected some of ${SCRIPTS}`)
}
/** Extra arguments per script, from `--args 'name=--flag value …'` (repeatable). */
const extraArgs = new Map()
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] !== '--args') continue
  const spec = process.argv[i + 1] ?? ''
  const eq = spec.indexOf('=')
  const name = spec.slice(0, eq)
  if (eq < 1 || !SCRIPTS.includes(name)) {
    throw new RangeError(
      `--args ${JSON.stringify(spec)}: expected <script>=<arguments>, script one of ${SCRIPTS}`,
    )
  }
  extraArgs.set(
    name,
    spec
      .slice(eq + 1)
      .split(/\s+/)
      .filter(Boolean),
  )
}
const node24 = flag('node24')
const node24Checkout = flag('node24-checkout')
const noSoak = process.argv.includes('--no-soak')
const soakDuration = flag('soak-duration')
// CI runs its own short soak, so --quick leaves it out unless a duration is asked for.
const runSoak = !noSoak && (!quick || soakDuration !== undefined)
const write = !quick || process.argv.includes('--write')
const TIMEOUT_MS = quick ? 5 * 60_000 : 45 * 60_000

if (!process.argv.includes('--skip-build') && !build()) {
  console.error('build failed: the benchmarks measure the built packages, so they cannot run')
  process.exit(1)
}

const machine = describeMachine()
console.log(`machine: ${machine}`)

/** @type {Map<string, string>} section markdown by script */
const sections = new Map()
const missed = []
const failures = []
for (const name of SCRIPTS) {
  if (only !== undefined && !only.includes(name)) continue
  const onNode24 = ALIASES[name]?.node24
  if (
    onNode24 !== undefined &&
    (node24 === undefined || (onNode24 === 'checkout' && node24Checkout === undefined))
  ) {
    const needs = onNode24 === 'checkout' ? '--node24 and --node24-checkout' : '--node24'
    console.log(`\n### ${name}: skipped (give ${needs}; its old section is kept)`)
    continue
  }
  if (name === 'http-count-peers' && quick) {
    console.log('\n### http-count-peers: skipped under --quick (http-count --quick shows the script runs)')
    continue
  }
  const file =
    onNode24 === 'checkout'
      ? join(node24Checkout, 'bench', `${ALIASES[name].script}.mjs`)
      : join(here, `${ALIASES[name]?.script ?? name}.mjs`)
  if (!existsSync(file)) {
    console.log(`\n### ${name}.mjs: not present, skipped`)
    continue
  }
  if (name === 'soak' && !runSoak) {
    console.log(
      `\n### soak.mjs: skipped (${noSoak ? '--no-soak' : '--quick runs no soak; CI runs `pnpm soak --duration 30s` itself'}; ` +
        'its section in BENCHMARKS.md, if any, is kept)',
    )
    continue
  }
  const args = [file]
  if (quick) args.push('--quick')
  if (name === 'soak' && soakDuration !== undefined) args.push('--duration', soakDuration)
  args.push(...((quick ? ALIASES[name]?.quickArgs : undefined) ?? ALIASES[name]?.args ?? []))
  args.push(...(extraArgs.get(name) ?? []))
  console.log(`\n### node ${ALIASES[name]?.script ?? name}.mjs ${args.slice(1).join(' ')}`)
  const started = Date.now()
  const timeoutMs = quick ? TIMEOUT_MS : (ALIASES[name]?.timeoutMinutes ?? TIMEOUT_MS / 60_000) * 60_000
  const { code, stdout } =
    onNode24 !== undefined ? await run(args, timeoutMs, node24, dirname(file)) : await run(args, timeoutMs)
  const seconds = Math.round((Date.now() - started) / 1000)
  const results = []
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('BENCH_JSON ')) continue
    try {
      results.push(JSON.parse(line.slice('BENCH_JSON '.length)))
    } catch (err) {
      failures.push(`${name}.mjs printed a BENCH_JSON line that is not JSON (${err.message})`)
    }
  }
  if (code !== 0) failures.push(`${name}.mjs exited with ${code}`)
  for (const r of results) {
    for (const row of r.rows ?? []) if (row.pass === false) missed.push(`${r.title}: ${row.name}`)
  }
  sections.set(name, section(name, args.slice(1), results, stdout, code, seconds))
}

console.log('\n== summary')
console.log(`machine: ${machine}`)
console.log(missed.length === 0 ? 'every target met' : `targets missed (timing: reported, not failed):`)
for (const m of missed) console.log(`  - ${m}`)
for (const f of failures) console.log(`FAILED: ${f}`)

if (write) {
  writeFileSync(OUT, document(sections))
  console.log(`\nwrote ${OUT}`)
} else {
  console.log('\n(--quick: BENCHMARKS.md left as it is; pass --write to write it)')
}
process.exit(failures.length === 0 ? 0 : 1)

/**
 * Builds the workspace with turbo (`turbo run build`). turbo needs the pnpm binary on PATH, which is
 * there under `pnpm bench`; when it is not (plain `node run-all.mjs`), builds each package with tsc
 * in dependency order instead.
 */
function build() {
  console.log('building the packages (turbo run build)…')
  const turbo = join(root, 'node_modules', '.bin', 'turbo')
  const r = spawnSync(turbo, ['run', 'build', '--output-logs=errors-only'], { cwd: root, encoding: 'utf8' })
  if (r.status === 0) return true
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`
  if (!/package manager binary/i.test(output)) {
    process.stdout.write(output)
    return false
  }
  console.log('turbo cannot find pnpm on PATH; building each package with tsc in dependency order')
  const tsc = join(root, 'node_modules', '.bin', 'tsc')
  for (const dir of workspaceBuildOrder()) {
    console.log(`  tsc -p ${dir}/tsconfig.build.json`)
    const t = spawnSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: join(root, dir), stdio: 'inherit' })
    if (t.status !== 0) return false
  }
  return true
}

/** Workspace packages with a tsconfig.build.json, each after the workspace packages it depends on. */
function workspaceBuildOrder() {
  const pkgs = new Map()
  for (const group of ['packages', 'apps']) {
    const base = join(root, group)
    if (!existsSync(base)) continue
    for (const name of readdirSync(base)) {
      const dir = `${group}/${name}`
      const file = join(root, dir, 'package.json')
      if (!existsSync(file) || !existsSync(join(root, dir, 'tsconfig.build.json'))) continue
      const pkg = JSON.parse(readFileSync(file, 'utf8'))
      const deps = { ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies }
      pkgs.set(pkg.name, { dir, deps: Object.keys(deps) })
    }
  }
  const order = []
  const seen = new Set()
  const visit = (name) => {
    if (seen.has(name) || !pkgs.has(name)) return
    seen.add(name)
    for (const dep of pkgs.get(name).deps) visit(dep)
    order.push(pkgs.get(name).dir)
  }
  for (const name of pkgs.keys()) visit(name)
  return order
}

/** Runs a script, echoing its output while keeping stdout; stopped after `timeoutMs`. */
function run(args, timeoutMs, node = process.execPath, cwd = here) {
  return new Promise((resolve) => {
    const child = spawn(node, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      process.stdout.write(chunk)
    })
    const timer = setTimeout(() => {
      console.error(`${args[0]}: still running after ${timeoutMs / 60_000} minutes, stopping it`)
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? signal, stdout })
    })
  })
}

function node24Version() {
  try {
    return execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim()
  } catch {
    return 'v24'
  }
}

function describeMachine() {
  const c = cpus()
  const model = (c[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim()
  let commit = ''
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    })
    // BENCHMARKS.md is this script's own output: a section rerun after another is not "local changes".
    const changed = dirty.split('\n').filter((line) => line.trim() !== '' && !line.endsWith('BENCHMARKS.md'))
    if (changed.length > 0) commit += ' + local changes'
  } catch {
    commit = 'unknown'
  }
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
  return (
    `${model}, ${c.length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GB, ${process.platform} ${release()}, ` +
    `Node ${process.version}; load average ${load} at start; commit ${commit}; ${new Date().toISOString()}`
  )
}

function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function num(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return String(x)
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(x)
}

/** The markdown of one script's run, between markers so a later partial run can replace it. */
function section(name, args, results, stdout, code, seconds) {
  const out = [`<!-- bench:${name}:start -->`]
  const script = ALIASES[name]?.script ?? name
  const on =
    ALIASES[name]?.node24 !== undefined
      ? `${machine.replace(/Node v[\d.]+/, `Node ${node24Version()}`)}`
      : machine
  out.push(`## ${ALIASES[name]?.heading ?? `${name}.mjs`}`, '')
  out.push(
    `Run: \`node bench/${script}.mjs${args.length ? ` ${args.join(' ')}` : ''}\` (${seconds} s) on ${on}.`,
  )
  if (code !== 0)
    out.push('', `**The script exited with ${code}: a correctness check failed — see its output.**`)
  if (results.length === 0) {
    out.push('', 'The script printed no `BENCH_JSON` line (see bench/README.md); its output:', '', '```text')
    out.push(stdout.trim().slice(-8000), '```')
  }
  for (const r of results) {
    out.push('', `### ${r.title}`, '', `Command: \`${r.command}\``, '')
    const hasRange = r.rows.some((row) => row.min !== undefined || row.max !== undefined)
    const hasTarget = r.rows.some((row) => row.target !== undefined)
    const hasNote = r.rows.some((row) => row.note !== undefined)
    const head = ['Measure', 'Value']
    if (hasRange) head.push('min–max')
    if (hasTarget) head.push('Target', 'Met')
    if (hasNote) head.push('Note')
    out.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`)
    for (const row of r.rows) {
      const cells = [cell(row.name), `${num(row.value)} ${cell(row.unit)}`]
      if (hasRange) cells.push(row.min !== undefined ? `${num(row.min)} – ${num(row.max)}` : '')
      if (hasTarget)
        cells.push(cell(row.target ?? ''), row.pass === undefined ? '' : row.pass ? 'yes' : '**no**')
      if (hasNote) cells.push(cell(row.note ?? ''))
      out.push(`| ${cells.join(' | ')} |`)
    }
    const notes = r.notes === undefined ? [] : Array.isArray(r.notes) ? r.notes : [r.notes]
    for (const n of notes) out.push('', n)
  }
  out.push(`<!-- bench:${name}:end -->`)
  return out.join('\n')
}

/** BENCHMARKS.md: a fixed preamble, then each script's section, new ones replacing old ones. */
function document(fresh) {
  const old = existsSync(OUT) ? readFileSync(OUT, 'utf8') : ''
  const parts = [
    '# Benchmarks',
    '',
    '<!-- Written by `pnpm bench` (bench/run-all.mjs). Do not edit by hand: rerun it. -->',
    '',
    'Every figure below is printed by a script in `bench/` and copied here by `pnpm bench`, with the',
    'command that reproduces it and the machine it ran on. `pnpm bench` builds the packages first and',
    'measures the built output, as a user would run it. `pnpm bench --only http` reruns one script and',
    'replaces only its section. Method and output contract: `bench/README.md`.',
    '',
    'Timing figures depend on the machine and on what else runs on it: compare figures within one run',
    '(each benchmark measures its baseline in the same run, interleaved), not across machines.',
    'Medians are over rounds; min–max is the spread of the rounds.',
  ]
  for (const name of SCRIPTS) {
    const section =
      fresh.get(name) ??
      new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*?<!-- bench:${name}:end -->`).exec(old)?.[0]
    if (section !== undefined) parts.push('', section)
  }
  return `${parts.join('\n')}\n`
}
