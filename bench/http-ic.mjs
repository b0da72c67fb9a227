#!/usr/bin/env node
// HTTP, inline-cache misses: how many property lookups per request of the hello-world servers of
// http.mjs (http-server.mjs) miss V8's inline caches, bare, the floor and @perf, and which property
// names @perf's extra misses are of. On Node 20 and 22 a miss on express's request or response (each
// has a hidden class of its own: express sets their prototypes per request) is a lookup in V8's
// runtime, some hundreds of ns; Node 24's V8 logs almost none on the same servers. Unlike CPU time,
// the count is the same in every run. Run: node http-ic.mjs [--quick]
// [--frameworks express,fastify,hono] [--variants bare,floor,perf-0.1…] [--warmup 3000] [--requests 2000]
import { fork } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkVariant, label, sendsId } from './lib/http-variants.mjs'
import { getInTurn } from './lib/instructions.mjs'
import { checkFlags, emit, flag, headComment, quick, wholeFlag } from './lib/result.mjs'

checkFlags(headComment(import.meta.url), ['frameworks', 'requests', 'variants', 'warmup'], ['quick'])

const FRAMEWORKS = (flag('frameworks', 'express,fastify,hono') ?? '').split(',')
for (const fw of FRAMEWORKS) {
  if (!['express', 'fastify', 'hono'].includes(fw)) {
    throw new RangeError(`--frameworks: unknown framework ${fw}; expected some of express, fastify, hono`)
  }
}
const WARMUP = wholeFlag('warmup', quick ? '200' : '3000')
const REQUESTS = wholeFlag('requests', quick ? '200' : '2000')
const VARIANTS = (flag('variants', 'bare,floor,perf-0.1') ?? '').split(',')
if (!VARIANTS.includes('bare')) VARIANTS.unshift('bare')
for (const fw of FRAMEWORKS) for (const v of VARIANTS) checkVariant(fw, v)
const server = new URL('./http-server.mjs', import.meta.url).pathname
/** The property names of the two marks the server looks up around the counted requests. */
const MARKS = ['__perfIcMarkStart', '__perfIcMarkEnd']

let failed = false

/**
 * Starts `fw`'s `variant` server with V8's IC log on, sends `WARMUP` requests, marks the log, sends
 * `REQUESTS`, marks it again, and returns the misses between the marks by kind and property name.
 */
async function misses(fw, variant) {
  const dir = mkdtempSync(join(tmpdir(), 'perf-ic-'))
  const log = join(dir, 'v8.log')
  const child = fork(server, [fw, variant], {
    execArgv: ['--log-ic', `--logfile=${log}`, '--no-logfile-per-isolate'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  try {
    const port = await new Promise((resolve, reject) => {
      child.on('message', (m) => {
        if (m?.ready !== undefined) resolve(m.ready)
        if (m?.error !== undefined) reject(new Error(m.error))
      })
      child.on('exit', (code) => reject(new Error(`${fw} ${variant} exited with ${code}`)))
    })
    const mark = (name) =>
      new Promise((resolve) => {
        child.on('message', function done(m) {
          if (m?.marked !== name) return
          child.off('message', done)
          resolve()
        })
        child.send({ cmd: 'ic-mark', name })
      })
    const wantsId = sendsId(variant)
    const check = (res) =>
      res.statusCode !== 200 || (wantsId && typeof res.headers['x-request-id'] !== 'string')
        ? `status ${res.statusCode}, x-request-id ${res.headers['x-request-id']}`
        : undefined
    if ((await getInTurn(port, WARMUP, () => '/', check)) > 0) failed = true
    await mark(MARKS[0])
    if ((await getInTurn(port, REQUESTS, () => '/', check)) > 0) failed = true
    await mark(MARKS[1])
  } finally {
    child.disconnect()
    await new Promise((resolve) => (child.exitCode === null ? child.on('exit', resolve) : resolve()))
  }
  const byName = new Map()
  let inside = false
  let total = 0
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    // LoadIC,pc,time,line,column,old state,new state,map,key,modifier,slow reason
    if (!/^(Keyed)?(Load|Store|Has)IC,/.test(line)) continue
    const f = line.split(',')
    const key = f[8]
    if (key === MARKS[0]) inside = true
    else if (key === MARKS[1]) inside = false
    else if (inside) {
      total++
      // A symbol prints with its hash, which differs between processes.
      const k = `${f[0].replace(/^Keyed/, '')} ${key.replace(/ hash [0-9a-f]+/, '')}`
      byName.set(k, (byName.get(k) ?? 0) + 1)
    }
  }
  rmSync(dir, { recursive: true, force: true })
  if (total === 0)
    throw new Error(`${fw} ${variant}: no IC events between the marks (is --log-ic supported?)`)
  return { total, byName }
}

const rows = []
const notes = []
console.log(`http-ic: ${FRAMEWORKS.join(', ')}; ${WARMUP} requests of warm-up, ${REQUESTS} counted`)
for (const fw of FRAMEWORKS) {
  const per = {}
  for (const v of VARIANTS) {
    per[v] = await misses(fw, v)
    console.log(`  ${fw} ${v}: ${(per[v].total / REQUESTS).toFixed(2)} IC misses a request`)
  }
  rows.push({
    name: `${fw} bare: inline-cache misses per request`,
    value: round2(per.bare.total / REQUESTS),
    unit: 'misses',
  })
  for (const v of VARIANTS.filter((x) => x !== 'bare')) {
    const extra = [...new Set([...per[v].byName.keys(), ...per.bare.byName.keys()])]
      .map((k) => [k, ((per[v].byName.get(k) ?? 0) - (per.bare.byName.get(k) ?? 0)) / REQUESTS])
      .filter(([, d]) => Math.abs(d) >= 0.5)
      .sort((a, b) => b[1] - a[1])
    rows.push({
      name: `${fw} + ${label(v)}: inline-cache misses per request over bare`,
      value: round2((per[v].total - per.bare.total) / REQUESTS),
      unit: 'misses',
      note:
        extra.length === 0
          ? 'no property name differs by half a miss a request or more'
          : `by property name: ${extra.map(([k, d]) => `${k} ${d > 0 ? '+' : ''}${round2(d)}`).join(', ')}`,
    })
  }
  if (per.floor !== undefined && per['perf-0.1'] !== undefined) {
    rows.push({
      name: `${fw}: @perf (0.1, id on) over the floor, inline-cache misses per request`,
      value: round2((per['perf-0.1'].total - per.floor.total) / REQUESTS),
      unit: 'misses',
    })
  }
}
notes.push(
  `Each server of http.mjs (http-server.mjs) runs alone with V8's IC log on (node --log-ic) and answers GET / one request at a time over one keep-alive connection: ${WARMUP} requests, then ${REQUESTS} counted between two marks the server writes into the log. A miss is a property load, store or \`in\` whose inline cache had no answer and asked V8's runtime (a lookup, then the cache updated); a site that sees objects of many hidden classes (megamorphic) misses for each class and name it has not seen. The counts are those of this Node (${process.version}); they differ by version: on Node 20 and 22 express's requests and responses, each of its own hidden class, miss on most names read, some hundreds of ns each; Node 24's V8 logs almost no misses on the same servers. "By property name" lists the names @perf's server misses on more, or less, than bare's (Load, Store, Has; keyed or not), per request.`,
)
emit({
  title: 'HTTP hello world, inline-cache misses per request (V8 IC log)',
  command: `node bench/http-ic.mjs --frameworks ${FRAMEWORKS.join(',')} --variants ${VARIANTS.join(',')} --warmup ${WARMUP} --requests ${REQUESTS}`,
  rows,
  notes,
})
if (failed) process.exitCode = 1

function round2(x) {
  return Math.round(x * 100) / 100
}
