import { parseArgs } from 'node:util'
import { createSignInCode, envNumber } from '@perf/core'
import { startDemo } from './app.js'

const HELP = `Usage: node dist/main.js [--no-load] [--port-base N] [--data DIR]

Starts the notes service on express, fastify and hono (one process, one monitor) with the admin page
at /admin/performance on each, and a traffic generator so the page has data at once.

  --no-load        do not generate traffic
  --port-base N    ports N, N+1, N+2 (0 picks free ports); default PORT_EXPRESS/PORT_FASTIFY/PORT_HONO or 3001-3003
  --data DIR       folder of the SQLite files (default: data/ in the demo package)

PERF_ADMIN_TOKEN sets the admin token (otherwise a random one is printed).`

const SIGN_IN_LINK_TTL_MS = 10 * 60_000

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'no-load': { type: 'boolean', default: false },
      'port-base': { type: 'string' },
      data: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  const range = { min: 0, max: 65_533, integer: true }
  let ports: { express?: number; fastify?: number; hono?: number }
  if (values['port-base'] !== undefined) {
    const base = envNumber({ '--port-base': values['port-base'] }, '--port-base', range)!
    ports =
      base === 0 ? { express: 0, fastify: 0, hono: 0 } : { express: base, fastify: base + 1, hono: base + 2 }
  } else {
    const port = { min: 0, max: 65_535, integer: true }
    ports = {}
    const e = envNumber(process.env, 'PORT_EXPRESS', port)
    const f = envNumber(process.env, 'PORT_FASTIFY', port)
    const h = envNumber(process.env, 'PORT_HONO', port)
    if (e !== undefined) ports.express = e
    if (f !== undefined) ports.fastify = f
    if (h !== undefined) ports.hono = h
  }
  const demo = await startDemo({
    ports,
    load: !values['no-load'],
    ...(values.data ? { dataDir: values.data } : {}),
  })
  // One-time links: a browser (or a screenshot tool) opens the page without typing the token.
  const signIn = async (adminUrl: string) =>
    `${adminUrl}login?code=${await createSignInCode(demo.monitor, { ttlMs: SIGN_IN_LINK_TTL_MS })}`
  const lines = [
    '',
    'Notes demo running (one process, one monitor):',
    `  express  ${demo.urls.express}/notes`,
    `  fastify  ${demo.urls.fastify}/notes`,
    `  hono     ${demo.urls.hono}/notes`,
    '',
    'Admin pages:',
    `  ${demo.adminUrls.express}`,
    `  ${demo.adminUrls.fastify}`,
    `  ${demo.adminUrls.hono}`,
    '',
    `Sign-in links (each works once, for ${SIGN_IN_LINK_TTL_MS / 60_000} minutes):`,
    `  ${await signIn(demo.adminUrls.express)}`,
    `  ${await signIn(demo.adminUrls.fastify)}`,
    `  ${await signIn(demo.adminUrls.hono)}`,
    '',
    demo.tokenGiven
      ? 'Admin token: the value of PERF_ADMIN_TOKEN'
      : `Admin token: ${demo.token}   (random for this run; set PERF_ADMIN_TOKEN to choose one)`,
    '',
    'Prometheus metrics (send the admin token as a bearer token):',
    `  ${demo.metricsUrls.express}`,
    `  ${demo.metricsUrls.fastify}`,
    `  ${demo.metricsUrls.hono}`,
    `  curl -H "Authorization: Bearer <token>" ${demo.metricsUrls.express}`,
    '  prometheus.yml: scrape_configs: [{ job_name: perf-demo, authorization: { credentials: <token> },',
    `                  static_configs: [{ targets: ["${new URL(demo.urls.express).host}"] }] }]`,
    '',
    `Traffic generator: ${demo.traffic ? 'on (--no-load to switch it off)' : 'off'}`,
    'Press Ctrl-C to stop.',
    '',
  ]
  console.log(lines.join('\n'))
  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) {
      console.log('Forced exit.')
      process.exit(130)
    }
    stopping = true
    console.log(`\n${signal}: stopping, flushing the store…`)
    demo.stop().then(
      () => {
        const s = demo.store.stats()
        console.log(`Stopped. Store: ${s.persisted} items written, ${s.dropped} dropped.`)
        process.exit(0)
      },
      (err: unknown) => {
        console.error('Stop failed:', err)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
