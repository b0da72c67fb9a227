import type { PerfEvent } from '@perf/core'
import { describe, expect, it } from 'vitest'
import { packItems, unpackItems } from './handover.js'
import type { Item } from './store-engine.js'

function event(metadata: unknown, over: Partial<PerfEvent> = {}): Item {
  return {
    k: 0,
    e: {
      type: 'db',
      name: 'SELECT notes',
      timestamp: 1_700_000_000_123.5,
      durationMs: 0.25,
      pid: 42,
      error: null,
      slow: false,
      requestId: 'req-1',
      metadata: metadata as PerfEvent['metadata'],
      ...over,
    },
  }
}

/** What the worker gets for `items`: each event's columns, or the item itself. */
function roundTrip(items: Item[]): unknown[] {
  const { packed } = packItems(items, 0, items.length)
  const out: unknown[] = []
  unpackItems(
    packed,
    (ts, type, name, durationMs, pid, error, slow, requestId, metadata) =>
      out.push({ ts, type, name, durationMs, pid, error, slow, requestId, metadata }),
    (item) => out.push(item),
  )
  return out
}

/** The columns the in-thread store writes for `item`'s event. */
function columns(item: Item): unknown {
  const e = (item as { e: PerfEvent }).e
  return {
    ts: e.timestamp,
    type: e.type,
    name: e.name,
    durationMs: e.durationMs,
    pid: e.pid,
    error: e.error,
    slow: e.slow ? 1 : 0,
    requestId: e.requestId,
    metadata: e.metadata === null ? null : JSON.stringify(e.metadata),
  }
}

describe('hand-over in columns', () => {
  it("writes every event's details as JSON.stringify does, flat or not", () => {
    const nullProto = Object.assign(Object.create(null) as object, { a: 1, b: 'two' })
    const details: unknown[] = [
      {},
      { sql: 'SELECT * FROM notes WHERE id = ?', rows: 1, cached: false, plan: null },
      { q: 'x"y\\z\n\t\b\f\r\u0001\u001f\u007f\u2028', 'k"\n': 'v' },
      { lone: '\ud800x\udc00', pair: '\ud83d\ude00', tail: '\udbff' },
      { zero: -0, big: 1e21, tiny: -5e-7, frac: 0.1, nan: Number.NaN, inf: -Infinity, max: 2 ** 53 },
      { skip: undefined, f: () => 1, s: Symbol('s'), kept: 'yes', [Symbol('k')]: 1 },
      { 2: 'b', 1: 'a', z: 'z', __proto__x: 1 },
      nullProto,
      JSON.parse('{"__proto__":"own","a":1}'),
      { nested: { list: [1, 'two', null], at: new Date(0) } },
      { toJSON: () => ({ replaced: true }) },
      { when: new Date(0), s: new String('boxed') },
      { long: 'é'.repeat(10_000) },
    ]
    const items = details.map((d) => event(d))
    expect(roundTrip(items)).toEqual(items.map(columns))
  })

  it('packs every field, null texts and slow events, and keeps other items in their places', () => {
    const aggregate = { k: 1, a: { type: 'db', name: 'x' } } as unknown as Item
    const sample = { k: 2, s: { timestamp: 1, pid: 1, rss: 1 } } as Item
    const items = [
      event(null, { error: 'SQLITE_BUSY: database is locked', slow: true, requestId: null }),
      aggregate,
      event({ a: 1 }, { name: 'GET /é ✓ 𝄞 \ud800', durationMs: -0, pid: 4_000_000 }),
      sample,
      event(null, { type: '', name: '' }),
    ]
    const out = roundTrip(items)
    expect(out).toEqual([columns(items[0]!), aggregate, columns(items[2]!), sample, columns(items[4]!)])
    expect(Object.is((out[2] as { durationMs: number }).durationMs, -0)).toBe(true)
  })

  it('hands an event over as it is when its fields or details are not what the monitor makes', () => {
    const odd = [
      event(null, { type: 5 as never }),
      event(null, { requestId: undefined as never }),
      event({ n: 1n }),
      event(
        (() => {
          const cycle: Record<string, unknown> = { a: 'x' }
          cycle.self = cycle
          return cycle
        })(),
      ),
      event({
        get boom(): string {
          throw new Error('boom')
        },
      }),
    ]
    const fine = event({ after: 'the odd ones' })
    const { packed } = packItems([...odd, fine], 0, odd.length + 1)
    expect(packed.others).toEqual(odd)
    expect(Array.from(packed.kind)).toEqual([0, 0, 0, 0, 0, 1])
    // Nothing the odd ones began to write is left in the text: the last event reads back whole.
    expect(roundTrip([...odd, fine]).at(-1)).toEqual(columns(fine))
  })
})
