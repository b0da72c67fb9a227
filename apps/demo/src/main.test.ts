import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js')

describe('pnpm demo (dist/main.js)', () => {
  it.skipIf(!existsSync(main))('serves, then on Ctrl-C (SIGINT) flushes the store and exits 0', async () => {
    const data = mkdtempSync(join(tmpdir(), 'perf-demo-main-'))
    try {
      const child = spawn(process.execPath, [main, '--port-base', '0', '--data', data], {
        env: { ...process.env, PERF_ADMIN_TOKEN: 'demo-test-token-0123456789', NODE_ENV: 'production' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
      })
      child.stderr.on('data', (d) => {
        out += d
      })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 30_000)
        const check = setInterval(() => {
          if (out.includes('Press Ctrl-C to stop.')) {
            clearTimeout(timer)
            clearInterval(check)
            resolve()
          }
        }, 50)
      })
      const url = /express\s+(http:\/\/127\.0\.0\.1:\d+)\/notes/.exec(out)![1]!
      // The built-in traffic generator runs too; wait until it and this request have produced events.
      expect((await fetch(`${url}/notes`)).status).toBe(200)
      await new Promise((r) => setTimeout(r, 1500))
      const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
      child.kill('SIGINT')
      expect(await exit).toBe(0)
      expect(out).toMatch(/SIGINT: stopping, flushing the store/)
      const stopped = /Stopped\. Store: (\d+) items written, (\d+) dropped\./.exec(out)
      expect(stopped, out).not.toBeNull()
      expect(Number(stopped![1])).toBeGreaterThan(0)
      expect(Number(stopped![2])).toBe(0)
      const db = new Database(join(data, 'perf.db'), { readonly: true })
      const events = db.prepare('SELECT count(*) FROM perf_events').pluck().get() as number
      db.close()
      expect(events).toBeGreaterThan(0)
    } finally {
      rmSync(data, { recursive: true, force: true })
    }
  })
})
