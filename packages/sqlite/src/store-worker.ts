import { parentPort, workerData } from 'node:worker_threads'
import { type FileStatus, type HistoryRequest, type Item, message, StoreFile } from './store-engine.js'

// The thread a SqliteStore writes from (the default, `thread: true`): it opens its own connection
// to the store's file and runs every batch, the retention prune, the roll-up and history reads, so
// none of them holds the app's event loop. The app's thread keeps the queue and the counters; this
// side answers one message per request, each with the file's status for `stats()`.

/** A request from the store: an id to answer, and what to do. */
export type WorkerRequest =
  | { id: number; op: 'commit'; items: Item[] }
  | { id: 0; op: 'stage'; items: Item[] }
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
 * store keeps the batch queued and hands it over again.
 */
let staged: Item[] = []

port.on('message', (req: WorkerRequest) => {
  if (req.op === 'stage') {
    for (const item of req.items) staged.push(item)
    return
  }
  if (req.op === 'commit' && staged.length > 0) {
    for (const item of req.items) staged.push(item)
    req = { ...req, items: staged }
    staged = []
  }
  void answer(req).then(
    (result) => port.postMessage({ id: req.id, status: status(), result } satisfies WorkerReply),
    (err: unknown) =>
      port.postMessage({ id: req.id, status: status(), error: message(err) } satisfies WorkerReply),
  )
})

async function answer(req: WorkerRequest): Promise<unknown> {
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
      return file.commit(req.items)
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
