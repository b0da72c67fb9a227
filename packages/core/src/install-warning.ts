/** Code of the process warning an adapter emits when it is installed twice on one app. */
export const DUPLICATE_INSTALL = 'PERF_DUPLICATE_INSTALL'

type EmitWarning = (message: string, options: { type: string; code: string }) => void

/**
 * Says, as a process warning with the code {@link DUPLICATE_INSTALL} (a `console.warn` where the
 * runtime has no `process.emitWarning`), that `source` was installed a second time on the same app
 * with the same monitor and that this install does nothing. Adapters call it once per extra install,
 * never per request. Never throws.
 */
export function warnDuplicateInstall(source: string): void {
  const message = `${source}: installed a second time on the same app with the same monitor; this install does nothing, so each request is still recorded once. Install it once, before the routes.`
  try {
    const proc = (globalThis as { process?: { emitWarning?: EmitWarning } }).process
    if (typeof proc?.emitWarning === 'function') {
      proc.emitWarning(message, { type: 'PerfWarning', code: DUPLICATE_INSTALL })
    } else console.warn(`(${DUPLICATE_INSTALL}) ${message}`)
  } catch {
    // A warning must never break the app that installs the adapter.
  }
}
