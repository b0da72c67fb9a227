/** The parts of an express router layer read here (router 2.x, express 5). */
interface LayerLike {
  route?: unknown
  handle?: { stack?: unknown }
  rawPath?: unknown
  match?(path: string): false | { path?: string; pattern?: unknown } | boolean
}

const MAX_CACHED = 1000
const MAX_DEPTH = 16

/**
 * Turns a request's `baseUrl` back into the mount patterns that produced it
 * (`/orgs/acme` → `/orgs/:org`). Express keeps only the matched values on the request, so a router
 * mounted at a path with parameters would otherwise name every value as its own op. Works with the
 * router of express 5 (its layers keep the raw pattern); elsewhere it returns `baseUrl` unchanged.
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

function routerStack(app: unknown): readonly LayerLike[] | undefined {
  const a = app as { router?: { stack?: unknown } } | undefined
  const stack = a?.router?.stack
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
    // No raw pattern kept (express 4's router): nothing to resolve with.
    if (!('rawPath' in layer)) return false
    if (typeof layer.rawPath !== 'string' || /[:*(?]/.test(layer.rawPath)) return true
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
    if (sub === undefined || typeof layer.match !== 'function') continue
    let m: ReturnType<NonNullable<LayerLike['match']>>
    try {
      m = layer.match(rest)
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
