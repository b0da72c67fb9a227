import { parentPort, workerData } from 'node:worker_threads'
import type { PackedItems } from './handover.js'
import { type FileStatus, type HistoryRequest, message, StoreFile } from './store-engine.js'

// The thread a SqliteStore writes from (the default, `thread: true`): it opens its own connection
// to the store's file and runs every batch, the retention prune, the roll-up and history reads, so
// none of them holds the app's event loop. The app's thread keeps the queue and the counters; this
// side answers one message per request, each with the file's status for `stats()`.

/** A request from the store: an id to answer, and what to do. */
export type WorkerRequest =
  | { id: number; op: 'commit'; batch: number; packed: PackedItems }
  | { id: 0; op: 'stage'; batch: number; packed: PackedItems }
  | { id: number; op: 'history'; query: HistoryRequest }
  | { id: number; op: 'maintain' }
  | { id: number; op: 'close' }

/** An answer (`id` of the request), or `id: 0` for status news (background work ended). */
export interface WorkerReply {
  id: number
  status: FileStatus
  result?: unknown
  error?: string
}

/** What the store hands the worker when starting it. */
export interface WorkerData {
  path: string
  retentionMs: number
}

if (parentPort === null) throw new Error('@perf/sqlite store-worker must run as a worker thread')
const port = parentPort
const { path, retentionMs } = workerData as WorkerData

let file: StoreFile | undefined
let openError: string | undefined
try {
  file = new StoreFile(path, retentionMs)
  file.onIdle = () => port.postMessage({ id: 0, status: file!.status() } satisfies WorkerReply)
  file.maintain()
} catch (err) {
  // The store checked the file before starting this thread; if it has become unusable since, each
  // request fails (and batches are retried) until it can be opened.
  openError = message(err)
}

function status(): FileStatus {
  if (file !== undefined) return file.status()
  return { reopened: 0, errors: 0, lastError: openError ?? null, rollingUp: false, threadId: 0 }
}

/**
 * The first slices of the batch being handed over ('stage', not answered); the 'commit' that follows
 * carries the last slice and writes them all in one transaction. A failed commit drops them too: the
 * store keeps the batch queued and hands it over again. Slices are kept for their hand-over only
 * (`batch`): those of a hand-over that failed part-way are never written with a later one.
 */
let staged: PackedItems[] = []
let stagedBatch = 0

port.on('message', (req: WorkerRequest) => {
  if (req.op === 'stage') {
    if (req.batch !== stagedBatch) {
      staged = []
      stagedBatch = req.batch
    }
    staged.push(req.packed)
    return
  }
  let slices: PackedItems[] = []
  if (req.op === 'commit') {
    if (req.batch === stagedBatch) slices = staged
    slices.push(req.packed)
    staged = []
  }
  void answer(req, slices).then(
    (result) => port.postMessage({ id: req.id, status: status(), result } satisfies WorkerReply),
    (err: unknown) =>
      port.postMessage({ id: req.id, status: status(), error: message(err) } satisfies WorkerReply),
  )
})

/** Does `req`; a commit writes `slices`, its staged slices and its own. */
async function answer(req: WorkerRequest, slices: readonly PackedItems[]): Promise<unknown> {
  if (file === undefined) {
    try {
      file = new StoreFile(path, retentionMs)
    } catch (err) {
      openError = `${new Date().toISOString()} ${message(err)}`
      if (req.op === 'commit') return { ok: false }
      if (req.op === 'close' || req.op === 'maintain') return undefined
      throw err
    }
    file.onIdle = () => port.postMessage({ id: 0, status: file!.status() } satisfies WorkerReply)
  }
  switch (req.op) {
    case 'stage':
      return undefined
    case 'commit':
      return file.commit([], slices)
    case 'history':
      return file.history(req.query)
    case 'maintain':
      file.maintain()
      return undefined
    case 'close':
      file.close()
      return undefined
  }
}
