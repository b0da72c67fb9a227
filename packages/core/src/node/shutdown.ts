import { coded } from '../errors.js'
import { checkNumber } from '../config.js'
import { flushMonitorsForExit } from '../monitor.js'
import { checkOptionKeys } from '../option-keys.js'

/** Work to do before the process exits on a shutdown signal. */
export type ShutdownHandler = (signal: ShutdownSignal) => void | Promise<void>

/** Signals {@link onShutdown} listens to. */
export type ShutdownSignal = 'SIGTERM' | 'SIGINT'

/** Options of {@link onShutdown}. */
export interface OnShutdownOptions {
  /**
   * Longest wait for this handler before the next one runs and the process goes on exiting, in ms
   * (default 10 000). A hung handler must not keep a process alive that was asked to stop.
   */
  timeoutMs?: number
}

const SIGNALS: readonly ShutdownSignal[] = ['SIGTERM', 'SIGINT']
const SIGNO: Record<ShutdownSignal, number> = { SIGINT: 2, SIGTERM: 15 }

const handlers: { fn: ShutdownHandler; timeoutMs: number }[] = []
let installed = false
let running: ShutdownSignal | undefined

function listener(signal: ShutdownSignal): void {
  if (running !== undefined) {
    // A second signal while handlers run: stop waiting and exit now.
    exitAsIfUnhandled(signal)
    return
  }
  running = signal
  void runHandlers(signal).then(() => exitAsIfUnhandled(signal))
}

async function runHandlers(signal: ShutdownSignal): Promise<void> {
  // First, monitors hand what they still queue to sinks that flush on exit: those sinks' handlers may
  // have been registered before or after the monitors, so handler order alone cannot promise it.
  try {
    await flushMonitorsForExit()
  } catch {
    // A failing flush must not stop the handlers or the exit (monitor.flush counts its own failures).
  }
  // Last registered runs first, like atexit: what was set up later (e.g. a monitor feeding a store)
  // is torn down before what it depends on. Each handler gets its own time limit.
  for (const h of handlers.slice().reverse()) {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        h.fn(signal),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, h.timeoutMs)
        }),
      ])
    } catch {
      // One failing handler must not stop the others or the exit.
    } finally {
      clearTimeout(timer)
    }
  }
}

/**
 * Lets the process end the way it would have without our listener: if nobody else listens to the
 * signal, the default action (terminate by that signal) happens; if the app has its own listener,
 * the app decides.
 */
function exitAsIfUnhandled(signal: ShutdownSignal): void {
  uninstall()
  running = undefined
  if (process.listenerCount(signal) > 0) return
  try {
    process.kill(process.pid, signal)
  } catch {
    process.exit(128 + SIGNO[signal])
  }
  // Where a signal to self is not delivered synchronously (e.g. Windows), exit with the shell's code.
  setTimeout(() => process.exit(128 + SIGNO[signal]), 1000).unref()
}

function install(): void {
  if (installed) return
  installed = true
  for (const s of SIGNALS) process.on(s, listener)
}

function uninstall(): void {
  if (!installed) return
  installed = false
  for (const s of SIGNALS) process.off(s, listener)
}

/**
 * Runs `handler` (awaited, one after another with other handlers, last registered first) when the
 * process gets SIGTERM or SIGINT, then lets the process exit as it would have: terminated by the
 * signal, unless the app listens to that signal itself. A second signal exits at once. Returns a
 * function that removes the handler; with no handlers left, no signal listener remains.
 *
 * @example
 * const off = onShutdown(() => monitor.close())
 */
export function onShutdown(handler: ShutdownHandler, options: OnShutdownOptions = {}): () => void {
  if (typeof handler !== 'function') {
    throw coded(
      'PERF_INVALID_ARGUMENT',
      new TypeError(`onShutdown(handler): handler must be a function, got ${typeof handler}`),
    )
  }
  if (options === null || typeof options !== 'object') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError('onShutdown(handler, options): options must be an object'),
    )
  }
  checkOptionKeys('onShutdown(handler, options)', options, ['timeoutMs'])
  const timeoutMs = checkNumber('onShutdown options.timeoutMs', options.timeoutMs ?? 10_000, {
    min: 0,
    max: 600_000,
  })
  const entry = { fn: handler, timeoutMs }
  handlers.push(entry)
  install()
  let active = true
  return () => {
    if (!active) return
    active = false
    const i = handlers.indexOf(entry)
    if (i >= 0) handlers.splice(i, 1)
    if (handlers.length === 0 && running === undefined) uninstall()
  }
}
