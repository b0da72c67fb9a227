import { Session } from 'node:inspector/promises'

interface HeapNode {
  callFrame: { functionName: string; url: string }
  selfSize: number
  children: HeapNode[]
}

/**
 * Bytes allocated while `run` runs by functions of the source files whose URL ends with one of
 * `files`, from V8's sampling heap profiler with collected objects included (every byte allocated,
 * garbage or not; a sample every 64 bytes on average, scaled by V8, so unbiased). Allocation counts
 * do not depend on the machine's speed, which makes them fit for a test where a timing never is.
 */
export async function bytesAllocatedIn(files: readonly string[], run: () => Promise<void>): Promise<number> {
  const session = new Session()
  session.connect()
  try {
    await session.post('HeapProfiler.enable')
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 64,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    })
    await run()
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } }
    let bytes = 0
    const walk = (node: HeapNode): void => {
      if (files.some((f) => node.callFrame.url.endsWith(f))) bytes += node.selfSize
      for (const child of node.children) walk(child)
    }
    walk(profile.head)
    return bytes
  } finally {
    session.disconnect()
  }
}
