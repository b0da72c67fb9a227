import { emitPerfWarning } from './runtime.js'

/** Code of the process warning an adapter emits when it is installed twice on one app. */
export const DUPLICATE_INSTALL = 'PERF_DUPLICATE_INSTALL'

/**
 * Says, as a process warning with the code {@link DUPLICATE_INSTALL} (a `console.warn` where the
 * runtime has no `process.emitWarning`), that `source` was installed a second time on the same app
 * with the same monitor and that this install does nothing. Adapters call it once per extra install,
 * never per request. Never throws.
 */
export function warnDuplicateInstall(source: string): void {
  const message = `${source}: installed a second time on the same app with the same monitor; this install does nothing, so each request is still recorded once. Install it once, before the routes.`
  emitPerfWarning(message, DUPLICATE_INSTALL)
}
