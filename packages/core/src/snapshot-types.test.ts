import { describe, expect, expectTypeOf, it } from 'vitest'
import { mergeSnapshots } from './merge.js'
import { createMonitor } from './monitor.js'
import type { ProcessSection, ProcessWatchOff } from './process-section.js'
import type { Snapshot, Stats } from './snapshot.js'

// Checked by `tsc` (pnpm typecheck): the snapshot names core's own sections, so readers need no parsing.
describe('snapshot types', () => {
  it('types the process section as ProcessSection and the sums as numbers', async () => {
    const monitor = createMonitor()
    const snap = monitor.snapshot({ histograms: true })
    expectTypeOf(snap.process).toEqualTypeOf<ProcessSection | ProcessWatchOff | undefined>()
    expectTypeOf<Snapshot['types'][string]['sumMs']>().toEqualTypeOf<number>()
    expectTypeOf<Stats['sumMs']>().toEqualTypeOf<number>()
    expectTypeOf(mergeSnapshots(snap).processes).toEqualTypeOf<
      Record<string, ProcessSection | ProcessWatchOff>
    >()
    expect(snap.process).toBeUndefined()
    await monitor.close()
  })

  it('checks the shape of a foreign process section before typing it', () => {
    const monitor = createMonitor()
    const snap = monitor.snapshot({ histograms: true })
    void monitor.close()
    expect(() => mergeSnapshots({ ...snap, process: 'up' as never })).toThrow(
      /mergeSnapshots: process of pid \d+ must be an object, got "up"/,
    )
    expect(() => mergeSnapshots({ ...snap, process: { current: 5 } as never })).toThrow(
      /process of pid \d+\.current must be an object or null, got 5/,
    )
    expect(() => mergeSnapshots({ ...snap, processes: { 7: [] } } as never)).toThrow(
      /processes\.7 must be an object/,
    )
    expect(() => mergeSnapshots({ ...snap, process: { watching: false, reason: 1 } as never })).toThrow(
      /process of pid \d+\.reason must be a string, got 1/,
    )
  })
})
