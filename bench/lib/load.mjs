// What the HTTP benchmarks share: bench servers in child processes pinned to CPU 0, wrk on CPU 1,
// and a process's CPU time read from /proc.
import { execFile, execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'

/** Whether servers can be pinned to CPU 0 and load generators to CPU 1 (Linux, 2+ CPUs, taskset). */
export const pinning = canPin()
/** Clock ticks per second of /proc/<pid>/stat times. */
const CLK_TCK = clockTicks()
/**
 * How {@link cpuMicros} reads a process's CPU time: the scheduler's run time of each of its threads
 * in ns (`/proc/<pid>/task/<tid>/schedstat`, its first field), or where that cannot be read, utime +
 * stime in clock ticks (`/proc/<pid>/stat`, 10 ms each). `granularityUs` is the step of the clock.
 */
export const CPU_CLOCK = schedstatReadable()
  ? {
      source: 'the scheduler’s run time of each thread (/proc/<pid>/task/*/schedstat, in ns)',
      granularityUs: 0.001,
    }
  : {
      source: `utime + stime (/proc/<pid>/stat, in clock ticks of ${1000 / CLK_TCK} ms)`,
      granularityUs: 1e6 / CLK_TCK,
    }

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

/**
 * CPU time a process has used so far, every thread, in µs (Linux; NaN elsewhere), read as
 * {@link CPU_CLOCK} says. Clock ticks of 10 ms resolved a round of a server sharing a CPU with seven
 * others (about 37 ticks in 3 s) to only ±2.7 %; the scheduler's own count is exact to the ns. A
 * thread that ends between two reads takes its time out of the sum, but a server's threads (libuv's
 * pool, V8's workers) live as long as it does.
 */
export function cpuMicros(pid) {
  try {
    if (CPU_CLOCK.granularityUs < 1) {
      let ns = 0
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          const line = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')
          ns += Number(line.slice(0, line.indexOf(' ')))
        } catch {
          // The thread ended after the directory was read.
        }
      }
      return ns / 1000
    }
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * CPU_CLOCK.granularityUs
  } catch {
    return Number.NaN
  }
}

/** Whether this process's own schedstat counts its run time (not where the kernel keeps none). */
function schedstatReadable() {
  try {
    const line = readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8')
    return Number(line.slice(0, line.indexOf(' '))) > 0
  } catch {
    return false
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
