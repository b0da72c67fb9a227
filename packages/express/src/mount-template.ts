/** The parts of an express router layer read here (router 2.x in express 5; express 4's own router). */
export interface LayerLike {
  route?: unknown
  handle?: { stack?: unknown }
  rawPath?: unknown
  match?(path: string): false | { path?: string; pattern?: unknown } | boolean
  /** Express 4: the mount path compiled by path-to-regexp 0.1, one capture group per key. */
  regexp?: RegExp & { fast_slash?: boolean }
  keys?: readonly { name?: unknown }[]
}

const MAX_CACHED = 1000
const MAX_DEPTH = 16

/**
 * Turns a request's `baseUrl` back into the mount patterns that produced it
 * (`/orgs/acme` → `/orgs/:org`). Express keeps only the matched values on the request, so a router
 * mounted at a path with parameters would otherwise name every value as its own op. Express 5's layers
 * keep the raw pattern; express 4's keep only the compiled regexp and its keys, so the pattern is
 * rebuilt from the match (each parameter's span becomes `:name`). Elsewhere `baseUrl` is kept as is.
 */
export class MountTemplates {
  private readonly cache: Map<string, string> = new Map()
  /** Whether any router is mounted at a pattern; undecided until the first request with a `baseUrl`. */
  private patterns: boolean | undefined

  /** The mount template of `baseUrl` in `app` (or `baseUrl` when nothing better is known). */
  resolve(app: unknown, baseUrl: string): string {
    if (this.patterns === false) return baseUrl
    const hit = this.cache.get(baseUrl)
    if (hit !== undefined) return hit
    const stack = routerStack(app)
    if (stack === undefined) return baseUrl
    // Decided once: with only plain mount paths (the common case) `baseUrl` is already the template.
    this.patterns ??= hasPatternMount(stack, 0)
    if (!this.patterns) return baseUrl
    const template = walk(stack, baseUrl, 0) ?? baseUrl
    if (this.cache.size < MAX_CACHED) this.cache.set(baseUrl, template)
    return template
  }
}

/** The layers of an express app's router (express 4's `_router`, express 5's `router`), if it has one. */
export function routerStack(app: unknown): readonly LayerLike[] | undefined {
  const a = app as { _router?: { stack?: unknown }; router?: { stack?: unknown } } | undefined
  // Express 4 keeps its router in `_router`; its `app.router` is a getter that throws "deprecated".
  const stack = (a?._router ?? a?.router)?.stack
  return Array.isArray(stack) ? stack : undefined
}

function subStack(layer: LayerLike): readonly LayerLike[] | undefined {
  if (layer.route !== undefined) return undefined
  const stack = layer.handle?.stack
  return Array.isArray(stack) ? stack : undefined
}

function hasPatternMount(stack: readonly LayerLike[], depth: number): boolean {
  if (depth > MAX_DEPTH) return false
  for (const layer of stack) {
    const sub = subStack(layer)
    if (sub === undefined) continue
    if (!('rawPath' in layer)) {
      // Express 4: a mount path with parameters has keys; anything else has no regexp to read.
      if (!(layer.regexp instanceof RegExp) || !Array.isArray(layer.keys)) return false
      if (layer.keys.length > 0) return true
    } else if (typeof layer.rawPath !== 'string' || /[:*(?]/.test(layer.rawPath)) return true
    if (hasPatternMount(sub, depth + 1)) return true
  }
  return false
}

/** The patterns of the routers whose mount paths, one inside the other, consume all of `rest`. */
function walk(stack: readonly LayerLike[], rest: string, depth: number): string | undefined {
  if (rest === '') return ''
  if (depth > MAX_DEPTH) return undefined
  for (const layer of stack) {
    const sub = subStack(layer)
    if (sub === undefined) continue
    let m: ReturnType<NonNullable<LayerLike['match']>> | undefined
    try {
      // Express 4's `match` stores the match on the layer, shared by concurrent requests: not called.
      m = 'rawPath' in layer ? layer.match?.(rest) : matchV4(layer, rest)
    } catch {
      continue
    }
    if (typeof m !== 'object' || typeof m.path !== 'string' || !rest.startsWith(m.path)) continue
    const inner = walk(sub, rest.slice(m.path.length), depth + 1)
    if (inner === undefined) continue
    const pattern = m.pattern ?? layer.rawPath
    if (typeof pattern !== 'string') return undefined
    return (pattern.endsWith('/') ? pattern.slice(0, -1) : pattern) + inner
  }
  return undefined
}

/** Each express 4 layer regexp with the `d` flag, for the spans of its parameters. */
const WITH_INDICES = new WeakMap<RegExp, RegExp>()

/**
 * An express 4 mount layer's match of `rest`, with the pattern rebuilt from it: the matched text with
 * each parameter's span replaced by `:name` (`/orgs/acme` → `/orgs/:org`). `undefined` if no match.
 */
function matchV4(layer: LayerLike, rest: string): { path: string; pattern: string } | undefined {
  const re = layer.regexp
  const keys = layer.keys
  if (re === undefined || keys === undefined) return undefined
  if (re.fast_slash === true) return { path: '', pattern: '' }
  let withIndices = WITH_INDICES.get(re)
  if (withIndices === undefined) {
    withIndices = new RegExp(re.source, `${re.flags.replace(/[gy]/g, '')}d`)
    WITH_INDICES.set(re, withIndices)
  }
  const m = withIndices.exec(rest)
  if (m === null || m.index !== 0 || m.indices === undefined) return undefined
  let pattern = ''
  let at = 0
  for (let i = 1; i < m.length; i++) {
    const span = m.indices[i]
    const key = keys[i - 1]
    if (span === undefined || key === undefined || span[0] < at) continue
    pattern += `${m[0].slice(at, span[0])}:${String(key.name)}`
    at = span[1]
  }
  return { path: m[0], pattern: pattern + m[0].slice(at) }
}
