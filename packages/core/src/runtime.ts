/**
 * What @perf reads of the host runtime's `process` and `crypto`, found on `globalThis` at run time
 * rather than imported, so the main entry imports no `node:` module and still loads where there is no
 * `process` (browsers, Workers without node compat). Every such probe goes through this file.
 */

/** The parts of Node's `process` @perf uses; each may be missing on another runtime. */
export interface RuntimeProcess {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly pid?: number
  readonly emitWarning?: (message: string, options: { type: string; code: string }) => void
  readonly getBuiltinModule?: (id: string) => unknown
  readonly release?: { readonly name?: string }
  readonly versions?: Readonly<Record<string, string>>
}

/** The host's `process`, `undefined` where there is none. */
export function runtimeProcess(): RuntimeProcess | undefined {
  return (globalThis as { process?: RuntimeProcess }).process
}

/** `process.env` where it exists, else an empty record. */
export function processEnv(): Readonly<Record<string, string | undefined>> {
  return runtimeProcess()?.env ?? {}
}

/**
 * A process warning of type `PerfWarning` with a stable `code` (a `console.warn` prefixed with the
 * code where the runtime has no `process.emitWarning`). Never throws: a warning must never break the
 * request or the app that caused it.
 */
export function emitPerfWarning(message: string, code: string): void {
  try {
    const proc = runtimeProcess()
    if (typeof proc?.emitWarning === 'function') proc.emitWarning(message, { type: 'PerfWarning', code })
    else console.warn(`(${code}) ${message}`)
  } catch {
    // See above: never thrown into the caller.
  }
}

/**
 * `count` × 32 random bits, the one source of randomness for ids and secrets: Web Crypto where the
 * runtime has it (Node, Bun, Deno, Workers). Where it has none, `Math.random` only when `secret` is
 * false (a request-id prefix needs uniqueness, not secrecy); a secret throws instead.
 */
export function randomWords(count: number, secret: boolean): Uint32Array {
  const out = new Uint32Array(count)
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint32Array) => Uint32Array } }).crypto
  if (typeof c?.getRandomValues === 'function') return c.getRandomValues(out)
  if (secret) throw new Error('@perf/core: this runtime has no crypto.getRandomValues for a secret')
  for (let i = 0; i < count; i++) out[i] = Math.floor(Math.random() * 0x1_0000_0000)
  return out
}

/**
 * The runtime's `performance`, read once. On Node, `globalThis.performance` is an accessor whose
 * getter runs on every read (Node's lazy global): a `performance.now()` cost about 7 ns more than a
 * `now()` on the object kept here (a scratch loop, Node 20 and 24), and the getter about 50
 * instructions a call (an express hello world under cachegrind, Node 24: two a request).
 */
const clock: { now(): number } = globalThis.performance

/** `performance.now()`: the monotonic clock in ms that request durations are taken from. */
export function now(): number {
  return clock.now()
}
