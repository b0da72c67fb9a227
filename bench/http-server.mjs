// One hello-world server for http.mjs: `node http-server.mjs <framework> <variant>`, started with an
// IPC channel. It listens on 127.0.0.1 (port 0), sends { ready: port }, answers { cmd: 'check' } with
// how many requests its monitor recorded, and exits when the parent goes away. http-cpu.mjs drives
// it instead over an in-memory connection ({ cmd: 'drive', n }).
//
// Frameworks and monitors are loaded with require() after the monitor is set up, because
// OpenTelemetry instruments modules as they are required (its documented CommonJS path); every
// variant loads them the same way so the comparison is fair.
import { createRequire } from 'node:module'
import { checkVariant, PERF_VARIANT, sendsId } from './lib/http-variants.mjs'
import { answerDrive, inMemoryConnection } from './lib/in-memory.mjs'
import { profileWindow } from './lib/profile.mjs'

const require = createRequire(import.meta.url)
const [framework, variant] = process.argv.slice(2)
const BODY = 'hello world'

if (typeof process.send !== 'function') {
  console.error('http-server.mjs is started by http.mjs (it needs an IPC channel)')
  process.exit(2)
}
process.on('disconnect', () => process.exit(0))

/** Options for the @perf adapter of a perf-* variant. */
let perfOptions = {}
/** The Node HTTP server, whose 'request' events count requests while profiling. */
let nodeServer

/**
 * The floor: the job a request monitor does, hand-written the framework's documented way — two clock
 * reads, one record into an interned op, an `X-Request-ID` of a per-process prefix plus a counter.
 */
let floorOp
let floorCounter = 0
const floorPrefix = `${process.pid.toString(36)}${Date.now().toString(36)}-`

/** @type {() => Promise<{ recorded: number, exact: boolean, note?: string }>} */
let check = async () => ({ recorded: 0, exact: false, note: 'bare: nothing to record' })

/** The port the server listens on, once started. */
let listening = 0
/** http-cpu.mjs's in-memory connection, opened by its first `{ cmd: 'drive' }`. */
let memory

try {
  const port = await start()
  listening = port
  process.send({ ready: port })
} catch (err) {
  process.send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  process.exit(1)
}

process.on('message', (msg) => {
  // http-ic.mjs: one inline-cache miss on a property named `msg.name`, found in V8's IC log.
  if (msg?.cmd === 'ic-mark' && typeof msg.name === 'string') {
    icMark(msg.name === '__perfIcMarkStart')
    process.send({ marked: msg.name })
  }
  if (msg?.cmd === 'profile') {
    profileWindow({ ...msg, server: nodeServer }).then(
      (r) => process.send({ profile: r }),
      (err) => process.send({ profile: { error: String(err?.stack ?? err) } }),
    )
  }
  // http-cpu.mjs: `n` requests over an in-memory connection (lib/in-memory.mjs), answered with the
  // CPU time they took; `verify` first checks one batch's answers.
  if (msg?.cmd === 'drive') {
    const open = () => (memory ??= inMemoryConnection(nodeServer, `127.0.0.1:${listening}`))
    answerDrive(open, msg, sendsId(variant), `${framework} ${variant}`).then((r) =>
      process.send({ drive: r }),
    )
  }
  if (msg?.cmd === 'check') {
    check().then(
      (r) => process.send({ check: r }),
      (err) => process.send({ check: { recorded: -1, exact: false, note: String(err) } }),
    )
  }
})

async function start() {
  checkVariant(framework, variant)
  const perfRate = PERF_VARIANT.exec(variant)
  // `perf-0.1-noid`: no X-Request-ID header (requestIdHeader: false), the peers' feature set.
  perfOptions = perfRate?.[2] === undefined ? {} : { requestIdHeader: false }
  // `-mem`: memory per request on (`memory: true`): requests in flight are counted, the lone ones measured.
  if (perfRate?.[4] !== undefined) perfOptions = { ...perfOptions, memory: true }
  const otel = variant === 'otel' ? startOtel() : undefined
  /** @type {import('@perf/core').Monitor | undefined} */
  let monitor
  if (perfRate !== null) {
    const { createMonitor } = await import('@perf/core')
    monitor = createMonitor({ sampling: Number(perfRate[1]) })
    // `-ctx`: request context on, as `@perf/sqlite` turns it on (an AsyncLocalStorage entered per request).
    if (perfRate[3] !== undefined) monitor.enableRequestContext()
    check = async () => {
      const snap = monitor.snapshot({ recent: 0, slow: 0 })
      const recorded = (snap.types.http?.ops ?? []).reduce((n, op) => n + op.totalCount, 0)
      return { recorded, exact: true, note: `${snap.totals.kept} kept by sampling` }
    }
  }
  if (variant === 'floor') {
    const { createMonitor } = await import('@perf/core')
    const floorMonitor = createMonitor({ sampling: 0.1 })
    floorOp = floorMonitor.op('http', 'GET /')
    check = async () => {
      const snap = floorMonitor.snapshot({ recent: 0, slow: 0 })
      const recorded = (snap.types.http?.ops ?? []).reduce((n, op) => n + op.totalCount, 0)
      return { recorded, exact: true }
    }
  }

  if (framework === 'express') return startExpress(monitor, otel)
  if (framework === 'fastify') return startFastify(monitor, otel)
  if (framework === 'hono') return startHono(monitor, otel)
  throw new Error(`unknown framework ${framework}: expected express, fastify or hono`)
}

/** Counts from a prom-client registry: the sum of a histogram's `_count` series. */
async function promCount(registry, metric) {
  const text = await registry.metrics()
  let n = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${metric}_count`)) n += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return n
}

async function startExpress(monitor, otel) {
  const express = require('express')
  const app = express()
  if (monitor !== undefined) {
    const { perf } = await import('@perf/express')
    app.use(perf(monitor, perfOptions))
  } else if (variant === 'empty-middleware') {
    app.use((_req, _res, next) => next())
  } else if (variant === 'floor') {
    app.use((_req, res, next) => {
      const t0 = performance.now()
      res.setHeader('x-request-id', floorPrefix + ++floorCounter)
      res.on('finish', () => floorOp.record(performance.now() - t0))
      next()
    })
  } else if (variant === 'express-prom-bundle') {
    // README "Sample Usage".
    const promBundle = require('express-prom-bundle')
    app.use(promBundle({ includeMethod: true }))
    const { register } = require('prom-client')
    check = async () => ({
      recorded: await promCount(register, 'http_request_duration_seconds'),
      exact: true,
    })
  } else if (variant === 'express-status-monitor') {
    // README "Installation & setup": before any other middleware.
    app.use(require('express-status-monitor')())
    const defaults = require('express-status-monitor/src/helpers/default-config')
    check = async () => {
      // The longest span (15 s x 60 points) covers the whole run.
      const longest = defaults.spans.reduce((a, b) =>
        b.interval * b.retention > a.interval * a.retention ? b : a,
      )
      return { recorded: longest.responses.reduce((n, r) => n + r.count, 0), exact: true }
    }
  }
  app.get('/', (_req, res) => {
    res.send(BODY)
  })
  if (otel !== undefined) check = otel.check
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (err) => (err ? reject(err) : resolve(server.address().port)))
    nodeServer = server
  })
}

async function startFastify(monitor, otel) {
  const Fastify = require('fastify')
  const app = Fastify({ logger: false })
  if (monitor !== undefined) {
    const { perf } = await import('@perf/fastify')
    await app.register(perf, { monitor, ...perfOptions })
  } else if (variant === 'empty-middleware') {
    app.addHook('onRequest', (_req, _reply, done) => done())
  } else if (variant === 'floor') {
    app.decorateRequest('t0', 0)
    app.addHook('onRequest', (request, reply, done) => {
      request.t0 = performance.now()
      reply.header('x-request-id', floorPrefix + ++floorCounter)
      done()
    })
    app.addHook('onResponse', (request, _reply, done) => {
      floorOp.record(performance.now() - request.t0)
      done()
    })
  } else if (variant === 'fastify-metrics') {
    // README "Usage".
    const metricsPlugin = require('fastify-metrics')
    await app.register(metricsPlugin.default ?? metricsPlugin, { endpoint: '/metrics' })
    check = async () => ({
      recorded: await promCount(app.metrics.client.register, 'http_request_duration_seconds'),
      exact: true,
    })
  }
  app.get('/', async () => BODY)
  if (otel !== undefined) check = otel.check
  await app.listen({ port: 0, host: '127.0.0.1' })
  nodeServer = app.server
  return app.server.address().port
}

async function startHono(monitor, otel) {
  const { Hono } = require('hono')
  const { serve } = require('@hono/node-server')
  const app = new Hono()
  if (monitor !== undefined) {
    const { perf } = await import('@perf/hono')
    app.use(perf(monitor, perfOptions))
  } else if (variant === 'empty-middleware') {
    app.use(async (_c, next) => {
      await next()
    })
  } else if (variant === 'floor') {
    app.use(async (c, next) => {
      const t0 = performance.now()
      c.header('x-request-id', floorPrefix + ++floorCounter)
      await next()
      floorOp.record(performance.now() - t0)
    })
  } else if (variant === '@hono/prometheus') {
    // README "Usage".
    const { prometheus } = require('@hono/prometheus')
    // The README's call; the registry is passed only so the check below can read it (the default is
    // a fresh Registry too).
    const { Registry } = require('prom-client')
    const registry = new Registry()
    const { printMetrics, registerMetrics } = prometheus({ registry })
    app.use('*', registerMetrics)
    app.get('/metrics', printMetrics)
    check = async () => ({
      recorded: await promCount(registry, 'http_request_duration_seconds'),
      exact: true,
    })
  } else if (otel !== undefined) {
    // @hono/otel README "Getting started": the framework's own middleware next to the http instrumentation.
    const { httpInstrumentationMiddleware } = require('@hono/otel')
    app.use(httpInstrumentationMiddleware({ serviceName: 'bench', serviceVersion: '1.0.0' }))
  }
  app.get('/', (c) => c.text(BODY))
  if (otel !== undefined) check = otel.check
  return new Promise((resolve) => {
    nodeServer = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port))
  })
}

/**
 * OpenTelemetry as its getting-started guide sets it up: the Node SDK (batch span processor) with the
 * http instrumentation plus the framework's, exporting to an in-memory exporter that is drained every
 * second (as a real exporter would free exported spans) so memory stays bounded.
 */
function startOtel() {
  const { NodeSDK } = require('@opentelemetry/sdk-node')
  const { InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base')
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http')
  const { trace } = require('@opentelemetry/api')
  const instrumentations = [new HttpInstrumentation()]
  if (framework === 'express') {
    const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express')
    instrumentations.push(new ExpressInstrumentation())
  } else if (framework === 'fastify') {
    const { FastifyOtelInstrumentation } = require('@fastify/otel')
    instrumentations.push(new FastifyOtelInstrumentation({ registerOnInitialization: true }))
  }
  const exporter = new InMemorySpanExporter()
  const sdk = new NodeSDK({ serviceName: 'bench', traceExporter: exporter, instrumentations })
  sdk.start()
  // The http instrumentation patches `http` when it is required; node-server and fastify import it.
  require('node:http')
  let spans = 0
  const serverSpans = new Set()
  const drain = () => {
    for (const s of exporter.getFinishedSpans()) {
      spans++
      if (s.kind === 1 /* SpanKind.SERVER */ && s.instrumentationScope?.name?.includes('http'))
        serverSpans.add(s)
    }
    exporter.reset()
  }
  let httpServerSpans = 0
  setInterval(() => {
    drain()
    httpServerSpans += serverSpans.size
    serverSpans.clear()
  }, 1000).unref()
  return {
    check: async () => {
      await trace.getTracerProvider().getDelegate?.().forceFlush?.()
      drain()
      httpServerSpans += serverSpans.size
      serverSpans.clear()
      return {
        recorded: httpServerSpans,
        exact: false,
        note: `${spans} spans in all; the batch processor drops spans past its queue (2048) by design`,
      }
    },
  }
}

/**
 * Looks up `__perfIcMarkStart` (or `…End`) on an object of a hidden class never seen before (its
 * prototype is new): a miss, which V8's IC log shows with the name. Run a few times at start, so
 * that the function has its feedback vector (without one, V8 has no inline caches to log).
 */
function icMark(start) {
  const o = Object.create({})
  return start ? o.__perfIcMarkStart : o.__perfIcMarkEnd
}
for (let i = 0; i < 16; i++) icMark(i % 2 === 0)
