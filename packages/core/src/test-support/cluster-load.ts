/** Events each cluster test worker records. */
export const EVENTS_PER_WORKER = 20_000

/**
 * The durations worker `index` records: deterministic (a failure reproduces), spread over four decades
 * and different per worker, so the merged p99 depends on every worker's tail.
 */
export function workerDurations(index: number): Float64Array {
  const out = new Float64Array(EVENTS_PER_WORKER)
  let x = 12345 + index * 7919
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = 0.1 * Math.exp((x / 2147483648) * (6 + index))
  }
  return out
}
