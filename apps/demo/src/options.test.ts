/**
 * Misspelt options are bad input in every package: each options object names the unknown key and the
 * nearest valid one, instead of silently using the default.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMetricsHandler, createMonitor } from '@perf/core'
import { onShutdown, shareCluster, watchProcess } from '@perf/core/node'
import { createDashboard } from '@perf/dashboard'
import { perf as expressPerf } from '@perf/express'
import { metrics as fastifyMetrics, perf as fastifyPerf } from '@perf/fastify'
import { perf as honoPerf } from '@perf/hono'
import { monitorDatabase, SqliteStore } from '@perf/sqlite'
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'perf-options-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const monitor = createMonitor()

describe('unknown options name the key and the nearest valid one', () => {
  it.each([
    [
      'createMonitor',
      () => createMonitor({ sampleRate: 1 } as never),
      /unknown option "sampleRate"; did you mean "sampling"\?/,
    ],
    ['watchProcess', () => watchProcess(monitor, { interval: 5 } as never), /did you mean "intervalMs"\?/],
    [
      'express perf',
      () => expressPerf(monitor, { ignored: ['/x'] } as never),
      /@perf\/express options: unknown option "ignored"; did you mean "ignore"\?/,
    ],
    [
      'hono perf',
      () => honoPerf(monitor, { requestIdHeadr: 'x' } as never),
      /did you mean "requestIdHeader"\?/,
    ],
    [
      'createDashboard',
      () => createDashboard(monitor, { tokne: 'x'.repeat(20) } as never),
      /createDashboard\(monitor, options\): unknown option "tokne"; did you mean "token"\?/,
    ],
    [
      'createMetricsHandler',
      () => createMetricsHandler(monitor, { scrape_token: 'x'.repeat(20) } as never),
      /did you mean "scrapeToken"\?/,
    ],
    [
      'SqliteStore',
      () => new SqliteStore({ path: join(dir, 'a.db'), flushOnexit: true } as never),
      /new SqliteStore\(options\): unknown option "flushOnexit"; did you mean "flushOnExit"\?/,
    ],
    [
      'monitorDatabase',
      () => monitorDatabase(new Database(':memory:'), monitor, { slow: 5 } as never),
      /did you mean "slowMs"\?/,
    ],
  ])('%s', (_name, call, message) => {
    expect(call).toThrow(TypeError)
    expect(call).toThrow(message)
  })

  it("fastify plugins: a misspelt option fails register, fastify's own register options pass", async () => {
    const app = Fastify()
    await expect(app.register(fastifyPerf, { monitor, ignored: ['/x'] } as never)).rejects.toThrow(
      /did you mean "ignore"\?/,
    )
    await app.close()
    const ok = Fastify()
    await ok.register(fastifyPerf, { monitor, logLevel: 'warn' } as never)
    await ok.register(fastifyMetrics, { monitor, prefix: '/internal', token: false })
    expect((await ok.inject('/internal/metrics')).statusCode).toBe(200)
    await ok.close()
  })

  it('shareCluster and onShutdown check their options too', () => {
    expect(() => shareCluster(monitor, { interval: 5 } as never)).toThrow(/did you mean "intervalMs"\?/)
    expect(() => onShutdown(() => {}, { timeout: 5 } as never)).toThrow(/did you mean "timeoutMs"\?/)
  })
})
