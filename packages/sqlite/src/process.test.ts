import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// Children run the TypeScript source through a small loader (test-support/ts-hooks.mjs), so these
// tests need no build step.
const support = fileURLToPath(new URL('./test-support/', import.meta.url))
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perf-process-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

interface Child {
  readonly proc: ChildProcess
  /** Resolves with the first stdout line that starts with `prefix`. */
  line(prefix: string): Promise<string>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>
}

function child(script: string, args: string[]): Child {
  const proc = spawn(
    process.execPath,
    ['--conditions=@perf/source', '--import', join(support, 'register.mjs'), join(support, script), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  let err = ''
  const waiters: { prefix: string; resolve: (l: string) => void }[] = []
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
    for (const w of waiters.slice()) {
      const l = out.split('\n').find((x) => x.startsWith(w.prefix))
      if (l !== undefined) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(l)
      }
    }
  })
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d
  })
  const exited = new Promise<{
    code: number | null
    signal: NodeJS.Signals | null
    out: string
    err: string
  }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, out, err })))
  return {
    proc,
    exited,
    line: (prefix) =>
      new Promise((resolve, reject) => {
        const l = out.split('\n').find((x) => x.startsWith(prefix))
        if (l !== undefined) return resolve(l)
        waiters.push({ prefix, resolve })
        void exited.then((e) =>
          reject(new Error(`child exited (${e.code ?? e.signal}) before "${prefix}": ${e.err}`)),
        )
      }),
  }
}

describe('SqliteStore across process deaths', () => {
  it('kill -9 in the middle of batches, 50 times: the file opens, integrity_check is ok, only whole batches', async () => {
    const file = join(dir, 'crash.db')
    const size = 200
    for (let run = 0; run < 50; run++) {
      const c = child('crash-writer.mjs', [file, String(run), String(size)])
      await c.line('ready')
      // Let it write a varying number of batches, then kill it wherever it is.
      await new Promise((r) => setTimeout(r, 5 + ((run * 37) % 60)))
      c.proc.kill('SIGKILL')
      expect((await c.exited).signal).toBe('SIGKILL')
    }
    const db = new Database(file)
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    const groups = db
      .prepare(
        "SELECT json_extract(metadata, '$.run') AS run, json_extract(metadata, '$.b') AS b, count(*) AS n, count(DISTINCT json_extract(metadata, '$.i')) AS distinct_i FROM perf_events GROUP BY run, b",
      )
      .all() as { run: number; b: number; n: number; distinct_i: number }[]
    db.close()
    expect(groups.length).toBeGreaterThan(50)
    const partial = groups.filter((g) => g.n !== size || g.distinct_i !== size)
    expect(partial).toEqual([])
  }, 180_000)

  it('500 buffered events, then SIGTERM with flushOnExit: all 500 persisted, and the process ends by SIGTERM', async () => {
    const file = join(dir, 'sigterm.db')
    const c = child('sigterm-writer.mjs', [file])
    expect(await c.line('ready')).toBe('ready 500 0')
    c.proc.kill('SIGTERM')
    const e = await c.exited
    expect(e.err).toBe('')
    expect(e.signal).toBe('SIGTERM')
    const db = new Database(file, { readonly: true })
    expect(db.prepare("SELECT count(*) FROM perf_events WHERE name = 'GET /buffered'").pluck().get()).toBe(
      500,
    )
    db.close()
  }, 60_000)
})

describe('graceful shutdown with one switch (flushOnExit on the store)', () => {
  // However the store and monitors are wired, SIGTERM and SIGINT persist what the monitors still
  // queue, and the process ends by the signal, as it would have without us.
  for (const wiring of ['store-first', 'store-after', 'add-sink', 'several']) {
    it(`${wiring}: 500 of 500 events and their aggregates on disk after SIGTERM and after SIGINT`, async () => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const file = join(dir, `exit-${wiring}-${signal}.db`)
        const c = child('monitor-exit.mjs', [file, wiring])
        expect(await c.line('ready')).toBe('ready 500')
        c.proc.kill(signal)
        const e = await c.exited
        expect(e.err).toBe('')
        expect(e.signal).toBe(signal)
        const db = new Database(file, { readonly: true })
        const stored = db
          .prepare("SELECT count(*) FROM perf_events WHERE name = 'GET /buffered'")
          .pluck()
          .get()
        // The slice in progress at the signal is ended early, so its aggregates are on disk too.
        const counted = db
          .prepare("SELECT sum(count) FROM perf_aggregates WHERE name = 'GET /buffered'")
          .pluck()
          .get()
        db.close()
        expect(stored, `${wiring} ${signal}`).toBe(500)
        expect(counted, `${wiring} ${signal} aggregates`).toBe(500)
      }
    }, 60_000)
  }
})

describe('onShutdown', () => {
  it('runs handlers last-registered first, then the process ends by the signal it got', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const c = child('shutdown-child.mjs', ['plain'])
      await c.line('ready')
      c.proc.kill(signal)
      const e = await c.exited
      expect(e.signal).toBe(signal)
      expect(e.out).toBe(`ready\nlast-registered ${signal}\nfirst-registered ${signal}\n`)
    }
  }, 60_000)

  it('when the app listens to the signal itself, the app decides how the process ends', async () => {
    const c = child('shutdown-child.mjs', ['own-listener'])
    await c.line('ready')
    c.proc.kill('SIGTERM')
    const e = await c.exited
    expect(e.code).toBe(7)
    expect(e.out).toContain('last-registered SIGTERM\nfirst-registered SIGTERM\n')
    expect(e.out).toContain('app decides')
  }, 60_000)

  it('a failing handler does not stop the others; a hung one is cut off by timeoutMs', async () => {
    for (const mode of ['error', 'hang']) {
      const c = child('shutdown-child.mjs', [mode])
      await c.line('ready')
      c.proc.kill('SIGTERM')
      const e = await c.exited
      expect(e.signal).toBe('SIGTERM')
      if (mode === 'error') expect(e.out).toContain('first-registered SIGTERM')
    }
  }, 60_000)

  it('unsubscribing every handler leaves no signal listener behind', async () => {
    const c = child('shutdown-child.mjs', ['unsubscribe'])
    expect(await c.line('listeners')).toBe('listeners 0 0')
    c.proc.kill('SIGTERM')
    const e = await c.exited
    expect(e.signal).toBe('SIGTERM')
    expect(e.out).not.toContain('registered')
  }, 60_000)
})
