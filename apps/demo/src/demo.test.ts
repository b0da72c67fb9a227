import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Demo, startDemo } from './app.js'

const TOKEN = 'demo-test-token-0123456789'
let demo: Demo
let dataDir: string

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'perf-demo-'))
  demo = await startDemo({
    ports: { express: 0, fastify: 0, hono: 0 },
    dataDir,
    token: TOKEN,
    load: false,
    env: {},
    processIntervalMs: 250,
  })
})

afterAll(async () => {
  await demo?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

const FRAMEWORKS = ['express', 'fastify', 'hono'] as const
const auth = { authorization: `Bearer ${TOKEN}` }

describe.each(FRAMEWORKS)('%s', (fw) => {
  const url = () => demo.urls[fw]

  it('serves the notes routes: CRUD, feed, search, a slow report, a failing endpoint, 404', async () => {
    const created = await fetch(`${url()}/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: `from ${fw}`, body: 'hello' }),
    })
    expect(created.status).toBe(201)
    const note = (await created.json()) as { id: number; title: string }
    expect(note.title).toBe(`from ${fw}`)
    expect((await (await fetch(`${url()}/notes/${note.id}`)).json()).title).toBe(`from ${fw}`)
    const put = await fetch(`${url()}/notes/${note.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'edited' }),
    })
    expect((await put.json()).title).toBe('edited')
    expect((await fetch(`${url()}/notes/${note.id}`, { method: 'DELETE' })).status).toBe(200)
    expect((await fetch(`${url()}/notes/${note.id}`)).status).toBe(404)
    expect((await fetch(`${url()}/notes/abc`)).status).toBe(400)
    expect(((await (await fetch(`${url()}/feed`)).json()) as unknown[]).length).toBe(20)
    expect(((await (await fetch(`${url()}/search?q=latency`)).json()) as unknown[]).length).toBeGreaterThan(0)
    expect((await (await fetch(`${url()}/reports/slow`)).json()).hits).toBeGreaterThan(0)
    const broken = await fetch(`${url()}/reports/broken`)
    expect(broken.status).toBe(500)
    expect(await broken.json()).toEqual({ error: 'internal error' })
    expect((await fetch(`${url()}/no/such/path`)).status).toBe(404)
  })

  it('mounts the dashboard at /admin/performance, with or without the trailing slash', async () => {
    for (const path of ['/admin/performance', '/admin/performance/']) {
      const res = await fetch(url() + path, { headers: auth })
      expect(res.status, path).toBe(200)
      const html = await res.text()
      expect(html).toContain('src="/admin/performance/assets/app.js"')
    }
    expect((await fetch(`${url()}/admin/performance/`)).status).toBe(401)
    const api = await fetch(`${url()}/admin/performance/api/snapshot`)
    expect(api.status).toBe(401)
    expect(api.headers.get('content-type')).toMatch(/^application\/json/)
    const asset = await fetch(`${url()}/admin/performance/assets/uplot.js`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('content-type')).toMatch(/javascript/)
  })

  it('signs in with the form and keeps the session in a cookie', async () => {
    const res = await fetch(`${url()}/admin/performance/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url() },
      body: `token=${TOKEN}`,
    })
    expect(res.status).toBe(303)
    const cookie = res.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/)
    const api = await fetch(`${url()}/admin/performance/api/snapshot`, {
      headers: { cookie: cookie.split(';')[0]! },
    })
    expect(api.status).toBe(200)
  })

  it('shows history from the shared SqliteStore', async () => {
    const res = await fetch(`${url()}/admin/performance/api/history?range=24h`, { headers: auth })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.range).toBe('24h')
    expect(Array.isArray(body.series.http)).toBe(true)
  })
})

describe('one monitor for all three', () => {
  it('records requests of every framework, but never the admin page itself', async () => {
    for (const fw of FRAMEWORKS) {
      await fetch(`${demo.urls[fw]}/health`)
      await fetch(`${demo.urls[fw]}/admin/performance/api/snapshot`, { headers: auth })
    }
    const snap = (await (
      await fetch(`${demo.urls.hono}/admin/performance/api/snapshot`, { headers: auth })
    ).json()) as { types: { http: { ops: { name: string; totalCount: number }[] } } }
    const ops = snap.types.http.ops
    expect(ops.find((o) => o.name === 'GET /health')?.totalCount).toBeGreaterThanOrEqual(3)
    expect(ops.filter((o) => o.name.includes('/admin') && o.totalCount > 0)).toEqual([])
    const db = demo.monitor.snapshot().types.db!.ops.map((o) => o.name)
    expect(db).toContain('SELECT notes')
    expect(db).toContain('INSERT notes')
  })

  it('stops cleanly and leaves what it recorded in the store file', async () => {
    await fetch(`${demo.urls.express}/reports/broken`)
    await demo.stop()
    await demo.stop()
    const db = new Database(join(dataDir, 'perf.db'), { readonly: true })
    try {
      const events = db.prepare('SELECT count(*) AS n FROM perf_events').get() as { n: number }
      expect(events.n).toBeGreaterThan(0)
    } finally {
      db.close()
    }
    await expect(fetch(`${demo.urls.express}/health`)).rejects.toThrow()
  })
})
