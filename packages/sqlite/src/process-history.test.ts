import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMonitor } from '@perf/core'
import { watchProcess } from '@perf/core/node'
import { afterEach, describe, expect, it } from 'vitest'
import { SqliteStore } from './sqlite-store.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('process health through the store', () => {
  it('keeps watchProcess samples across a restart (monitor → sink → SQLite file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perf-process-history-'))
    dirs.push(dir)
    const path = join(dir, 'perf.db')
    const monitor = createMonitor({ sinks: [new SqliteStore({ path, flushIntervalMs: 50 })] })
    const watcher = watchProcess(monitor, { intervalMs: 100, baselineDelayMs: 100, force: true })
    await new Promise((r) => setTimeout(r, 450))
    watcher.stop()
    await monitor.close()

    const reopened = new SqliteStore({ path })
    const { samples } = await reopened.history({ since: Date.now() - 60_000 })
    await reopened.close()
    expect(samples.length).toBeGreaterThanOrEqual(3)
    for (const s of samples) {
      expect(s.pid).toBe(process.pid)
      expect(s.rssBytes).toBeGreaterThan(1_000_000)
    }
  })
})
