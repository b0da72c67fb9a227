import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js')
const start = join(dirname(fileURLToPath(import.meta.url)), '..', 'start.mjs')

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
      // Every framework serves /metrics, printed with the others and guarded by the admin token.
      const metricsUrls = [...out.matchAll(/^ {2}(http:\/\/127\.0\.0\.1:\d+\/metrics)$/gm)].map((m) => m[1]!)
      expect(metricsUrls).toHaveLength(3)
      for (const m of metricsUrls) {
        expect((await fetch(m)).status, m).toBe(401)
        // The traffic generator picks a server at random, so one may not have served a request yet:
        // send one, then read /metrics until it shows (the event is recorded when the response ends).
        expect((await fetch(m.replace(/\/metrics$/, '/notes?limit=1'))).status, m).toBe(200)
        let text = ''
        for (let i = 0; i < 50 && !text.includes('perf_events_total{type="http"'); i++) {
          if (i > 0) await new Promise((r) => setTimeout(r, 100))
          const res = await fetch(m, { headers: { authorization: 'Bearer demo-test-token-0123456789' } })
          expect(res.status, m).toBe(200)
          text = await res.text()
        }
        expect(text).toContain('perf_events_total{type="http"')
      }
      // One-time sign-in links, one per framework: each opens the page once, then is spent.
      const links = [
        ...out.matchAll(/^ {2}(http:\/\/127\.0\.0\.1:\d+\/admin\/performance\/login\?code=\S+)$/gm),
      ].map((m) => m[1]!)
      expect(links, out).toHaveLength(3)
      for (const link of links) {
        const first = await fetch(link, { redirect: 'manual' })
        expect(first.status, link).toBe(303)
        expect(first.headers.get('set-cookie')).toMatch(/^perf_admin=/)
        expect((await fetch(link, { redirect: 'manual' })).status, link).toBe(401)
      }
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

  it('starts from node apps/demo/start.mjs and ends quietly with exit 0 on Ctrl-C to the whole process group', async () => {
    // Ctrl-C in a terminal signals every process of the foreground group: a package manager in
    // between would report the signal as a failure (ELIFECYCLE), which is why start.mjs runs none.
    const data = mkdtempSync(join(tmpdir(), 'perf-demo-start-'))
    try {
      const child = spawn(process.execPath, [start, '--port-base', '0', '--no-load', '--data', data], {
        env: { ...process.env, PERF_ADMIN_TOKEN: 'demo-test-token-0123456789', NODE_ENV: 'production' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
      })
      child.stderr.on('data', (d) => {
        out += d
      })
      const exit = new Promise<number | string | null>((r) =>
        child.once('exit', (code, signal) => r(code ?? signal)),
      )
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 240_000)
        const check = setInterval(() => {
          if (out.includes('Press Ctrl-C to stop.')) {
            clearTimeout(timer)
            clearInterval(check)
            resolve()
          }
        }, 50)
      })
      expect(out).toMatch(/^Building the packages the demo needs \(cached builds are skipped\)… done in/)
      process.kill(-child.pid!, 'SIGINT')
      expect(await exit).toBe(0)
      expect(out).toMatch(/Stopped\. Store: \d+ items written, 0 dropped\./)
      expect(out).not.toMatch(/ELIFECYCLE|ERR_PNPM|Command failed/)
    } finally {
      rmSync(data, { recursive: true, force: true })
    }
  }, 300_000)
})
