// The hello-world variants of http-server.mjs (the server), shared by it, http.mjs (timed) and
// http-count.mjs (counted): which exist per framework, what each is called in a table, which are
// peers and which answer with an X-Request-ID.

/** Peers per framework: the monitors a user would pick instead (besides OpenTelemetry). */
export const PEERS = {
  express: ['express-prom-bundle', 'express-status-monitor'],
  fastify: ['fastify-metrics'],
  hono: ['@hono/prometheus'],
}

/** `perf-<sampling>[-noid][-ctx][-mem]`: @perf at that sampling, without the id, with the context, with memory. */
export const PERF_VARIANT = /^perf-(\d(?:\.\d+)?)(-noid)?(-ctx)?(-mem)?$/

/** The variants http.mjs runs by default besides bare, per framework. */
export const VARIANTS = {
  express: ['floor', 'empty-middleware', 'perf-0.1', 'perf-1.0', 'perf-0.1-noid', ...PEERS.express, 'otel'],
  fastify: [
    'floor',
    'empty-middleware',
    'perf-0.1',
    'perf-1.0',
    'perf-0.1-noid',
    'perf-0.1-mem',
    ...PEERS.fastify,
    'otel',
  ],
  hono: ['floor', 'empty-middleware', 'perf-0.1', 'perf-1.0', 'perf-0.1-noid', ...PEERS.hono, 'otel'],
}

const LABELS = {
  bare: 'bare',
  'perf-0.1': '@perf, sampling 0.1',
  'perf-1.0': '@perf, sampling 1.0',
  'perf-0.1-noid':
    '@perf, sampling 0.1, no X-Request-ID (`requestIdHeader: false`: what the peers, which send no id, do)',
  otel: 'OpenTelemetry (sdk-node, http + framework instrumentation)',
  'empty-middleware': 'an empty middleware (what any middleware costs; not a monitor)',
  floor:
    'the floor: a hand-written hook doing the job (two clock reads, one op.record, an X-Request-ID of prefix + counter)',
  'perf-0': '@perf, sampling 0 (no event kept unless slow or failed)',
  'perf-0.1-ctx': '@perf, sampling 0.1, request context on (what monitorDatabase turns on)',
  'perf-0.1-mem': '@perf, sampling 0.1, memory per request on (`memory: true`)',
}

/** What a variant is called in a table. */
export function label(v) {
  return LABELS[v] ?? v
}

/**
 * A monitor a user would pick instead of ours: a peer of PEERS or OpenTelemetry (not bare, not ours,
 * not the floor, not the empty middleware).
 */
export function isPeer(v) {
  return v !== 'bare' && !v.startsWith('perf-') && v !== 'empty-middleware' && v !== 'floor'
}

/** Whether the variant's answers carry an X-Request-ID: the floor's and @perf's unless `-noid`. */
export function sendsId(v) {
  if (v === 'floor') return true
  const perf = PERF_VARIANT.exec(v)
  return perf !== null && perf[2] === undefined
}

/**
 * Throws a `RangeError` naming `v` and what is accepted when http-server.mjs has no such variant
 * for `framework`.
 */
export function checkVariant(framework, v) {
  const known = ['bare', 'otel', 'empty-middleware', 'floor', ...(PEERS[framework] ?? [])]
  if (!known.includes(v) && !PERF_VARIANT.test(v)) {
    throw new RangeError(
      `unknown variant ${v} for ${framework}; expected one of ${known.join(', ')} or perf-<sampling>[-noid][-ctx][-mem]`,
    )
  }
}
