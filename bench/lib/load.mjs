// What the HTTP benchmarks share: bench servers in child processes pinned to CPU 0, wrk on CPU 1,
// and a process's CPU time read from /proc.
import { execFile, execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'

/** Whether servers can be pinned to CPU 0 and load generators to CPU 1 (Linux, 2+ CPUs, taskset). */
export const pinning = canPin()
/** Clock ticks per second of /proc/<pid>/stat times. */
export const CLK_TCK = clockTicks()

/**
 * Starts `node <script> ...args` with an IPC channel (pinned to CPU 0 where possible) and waits for
 * its `{ ready: port }`. The server answers `{ cmd }` messages with `{ [cmd]: result }`.
 */
export function startServer(script, args, label = args.join(' ')) {
  const argv = [script, ...args]
  const child = pinning
    ? spawn('taskset', ['-c', '0', process.execPath, ...argv], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${label}: no ready message within 30 s`))
    }, 30_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${label}: exited with code ${code} before it was ready`))
    })
    child.once('message', (msg) => {
      clearTimeout(timer)
      if (msg?.error) {
        child.kill('SIGKILL')
        reject(new Error(msg.error))
        return
      }
      child.removeAllListeners('exit')
      resolve({
        label,
        port: msg.ready,
        pid: child.pid,
        answered: 0,
        errors: 0,
        /** Sends `{ cmd, ...extra }`, resolves with the server's answer. */
        ask: (cmd, extra = {}, timeoutMs = 60_000) =>
          new Promise((res, rej) => {
            const t = setTimeout(
              () => rej(new Error(`${label}: no ${cmd} answer in ${timeoutMs} ms`)),
              timeoutMs,
            )
            const onMessage = (m) => {
              if (m?.[cmd] === undefined) return
              child.off('message', onMessage)
              clearTimeout(t)
              res(m[cmd])
            }
            child.on('message', onMessage)
            child.send({ cmd, ...extra })
          }),
        rssMb: () => {
          const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
          return m ? Math.round(Number(m[1]) / 1024) : Number.NaN
        },
        stop: () => {
          if (child.exitCode === null) child.kill('SIGKILL')
        },
      })
    })
  })
}

/**
 * Runs wrk (1 thread, pinned to CPU 1) against `url` for `seconds` with `connections` connections,
 * `pipelining` requests per write. Resolves { total, duration, errors }.
 */
export function runWrk(url, seconds, connections, pipelining = 1) {
  const args = ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', '10s']
  if (pipelining > 1) {
    args.push('-s', new URL('./pipeline.lua', import.meta.url).pathname, url, '--', String(pipelining))
  } else args.push(url)
  const [cmd, argv] = pinning ? ['taskset', ['-c', '1', 'wrk', ...args]] : ['wrk', args]
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: (seconds + 30) * 1000 }, (err, stdout) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}`))
      const m = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(stdout)
      if (m === null) return reject(new Error(`unexpected wrk output: ${stdout}`))
      const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[m[3]]
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)
      resolve({
        total: Number(m[1]),
        duration: Number(m[2]) * unit,
        errors: (socket ? Number(socket[1]) : 0) + (non2xx ? Number(non2xx[1]) : 0),
      })
    })
  })
}

/** Whether wrk is installed. */
export function hasWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (err) {
    // wrk --version exits 1 after printing its usage.
    return err?.status === 1
  }
}

/** utime + stime of a process, in clock ticks (Linux), or NaN elsewhere. */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return Number.NaN
  }
}

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

function canPin() {
  if (process.platform !== 'linux' || cpus().length < 2) return false
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
