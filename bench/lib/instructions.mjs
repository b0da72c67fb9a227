// Counts what a Node script executes, instruction by instruction, under valgrind's cachegrind: the
// instructions, and the misses of a simulated first-level instruction and data cache. Unlike CPU
// time, the counts are the same on a busy or a quiet machine, so a difference of a few hundred
// instructions per operation shows through where timings on a shared VM wander by microseconds.
// Node runs with --single-threaded (no background compiler or GC threads) and --predictable, so
// two runs of the same script differ by about a million instructions in a few billion; a script
// measures a difference between two runs that share all their set-up and differ only in the
// number of operations. The counts are those of one build: a change anywhere on the measured path
// can move the optimiser's inlining, and with it a few hundred instructions an operation.
//
// A server's first thousands of requests run while the optimiser is still at work, and how many
// instructions they take moves from run to run; after that a request costs the same every run.
//
//   available()                    → whether valgrind is on PATH
//   countAsync(args)               → { instructions, i1Misses, d1Misses } of `node ...args`, as a
//                                    promise (two runs side by side on two cores)
//   countServer(args, drive, cwd)  → the same for a server script, `drive(port, child)` loading it
//   getInTurn(port, n, path, check) → `n` GETs one after the other over one keep-alive connection
//   idlePerSecond(args, seconds, cwd) → a server's instructions a second while idle (its timers)
import { spawn, spawnSync } from 'node:child_process'
import http from 'node:http'

/** Whether valgrind can be run here (Debian: `apt-get install valgrind`). */
export function available() {
  const r = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
  return r.status === 0
}

/** valgrind's arguments to run `node ...args` under cachegrind. */
function valgrindArgs(args) {
  return [
    '--tool=cachegrind',
    '--cache-sim=yes',
    '--cachegrind-out-file=/dev/null',
    process.execPath,
    '--predictable',
    '--single-threaded',
    ...args,
  ]
}

/** The counts cachegrind printed on exit, or a thrown error naming what failed. */
function parse(what, status, out) {
  const field = (label) => {
    const m = new RegExp(`${label}:\\s+([\\d,]+)`).exec(out)
    return m === null ? Number.NaN : Number(m[1].replaceAll(',', ''))
  }
  const counts = {
    instructions: field('I\\s+refs'),
    i1Misses: field('I1\\s+misses'),
    d1Misses: field('D1\\s+misses'),
  }
  if (status !== 0 || !Number.isFinite(counts.instructions)) {
    throw new Error(`valgrind ${what} failed (status ${status}):\n${out.slice(-2000)}`)
  }
  return counts
}

/**
 * Runs `node ...args` under cachegrind; resolves with its counts once it exits (so two runs can go
 * side by side on two cores).
 * @param {string[]} args
 */
export function countAsync(args) {
  const child = spawn('valgrind', valgrindArgs(args), { stdio: ['ignore', 'ignore', 'pipe'] })
  let out = ''
  child.stderr.on('data', (d) => {
    out += d
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => {
      try {
        resolve(parse(args.join(' '), code, out))
      } catch (err) {
        reject(err)
      }
    })
  })
}

/**
 * Runs a server script under cachegrind with an IPC channel: once it sends `{ ready: port }`,
 * `drive(port, child)` runs (from this process, which valgrind does not count; `child` is the server's
 * process, for a drive over its IPC channel); then the channel is closed, the server exits, and its
 * counts are returned.
 * @param {string[]} args
 * @param {(port: number, child: import('node:child_process').ChildProcess) => Promise<void>} drive
 * @param {string} [cwd]
 */
export async function countServer(args, drive, cwd) {
  const child = spawn('valgrind', valgrindArgs(args), { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], cwd })
  let out = ''
  child.stderr.on('data', (d) => {
    out += d
  })
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    const port = await new Promise((resolve, reject) => {
      child.on('message', (m) => {
        if (m?.ready !== undefined) resolve(m.ready)
        if (m?.error !== undefined) reject(new Error(m.error))
      })
      exited.then((code) =>
        reject(new Error(`exited with ${code} before it was ready:\n${out.slice(-2000)}`)),
      )
    })
    await drive(port, child)
  } finally {
    if (child.connected) child.disconnect()
  }
  const code = await exited
  // The server exits with 0 when its parent goes away (http-server.mjs).
  return parse(args.join(' '), code, out)
}

/**
 * A server's instructions a second with no requests (its timers' work): counted idle for 5 s and for
 * 5 s + `seconds`, side by side, the difference over `seconds` (never below 0).
 * @param {string[]} args
 * @param {number} seconds
 * @param {string} [cwd]
 */
export async function idlePerSecond(args, seconds, cwd) {
  const idle = (s) => countServer(args, () => new Promise((r) => setTimeout(r, s * 1000)), cwd)
  const [a, b] = await Promise.all([idle(5), idle(5 + seconds)])
  return Math.max(0, (b.instructions - a.instructions) / seconds)
}

/**
 * Sends `n` GETs one after the other over one keep-alive connection (each request is one read and
 * one write for the server, the same in every run): `path(i)` of request `i`; `check(res)` returns
 * what is wrong with an answer, or `undefined`. Resolves with how many answers were wrong.
 * @param {number} port
 * @param {number} n
 * @param {(i: number) => string} path
 * @param {(res: import('node:http').IncomingMessage) => string | undefined} check
 */
export async function getInTurn(port, n, path, check) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  let wrong = 0
  try {
    for (let i = 0; i < n; i++) {
      await new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: path(i), agent }, (res) => {
            const problem = check(res)
            if (problem !== undefined) {
              if (wrong++ === 0) console.error(`correctness failure: ${problem}`)
            }
            res.resume()
            res.on('end', resolve)
          })
          .on('error', reject)
      })
    }
  } finally {
    agent.destroy()
  }
  return wrong
}
