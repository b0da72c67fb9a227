import { runtimeProcess } from './runtime.js'

/** Per-request state shared by instrumentation running inside one request. */
export interface RequestContext {
  readonly requestId: string
  /** Queries run inside the request (filled in by database instrumentation). */
  dbQueries: number
  /** Time spent in those queries, ms. */
  dbMs: number
}

/** The subset of `AsyncLocalStorage` the monitor uses. */
export interface ContextStorage<T> {
  run<R>(store: T, fn: () => R): R
  enterWith(store: T): void
  getStore(): T | undefined
}

/**
 * An `AsyncLocalStorage` where the runtime has one (Node, Bun, Deno, Workers with node compat),
 * looked up at run time so the main entry imports no `node:` module; `undefined` elsewhere.
 */
export function createContextStorage<T>(): ContextStorage<T> | undefined {
  try {
    const hooks = runtimeProcess()?.getBuiltinModule?.('node:async_hooks') as
      | { AsyncLocalStorage?: new <T>() => ContextStorage<T> }
      | undefined
    const ALS = hooks?.AsyncLocalStorage
    return ALS ? new ALS<T>() : undefined
  } catch {
    return undefined
  }
}
