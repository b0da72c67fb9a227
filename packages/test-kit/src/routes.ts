import type { Monitor, WebHandler } from '@perf/core'
import { monitorInternals } from '@perf/core/http'

/**
 * The app every adapter builds for the conformance suite (same routes, same bodies):
 *
 * | route | behaviour |
 * | --- | --- |
 * | `GET /hello` | `hello` |
 * | `GET /users/:id` | `user <id>` |
 * | `GET /api/notes/:id` | `note <id>`, declared as `/:id` in a `/notes` router inside an `/api` router |
 * | `GET /api/notes` | `notes`, declared as `/` in that `/notes` router |
 * | `GET /orgs/:org/members/:id` | `member <org> <id>`, declared as `/members/:id` in a router mounted at `/orgs/:org` (express: `mergeParams`) |
 * | `GET /orgs/:org/teams/:team/members/:id` | `member <org> <team> <id>`, declared as `/members/:id` in a router mounted at `/teams/:team` inside the `/orgs/:org` router (express: `mergeParams` on both) |
 * | `GET /throw` | throws `new Error(THROWN_MESSAGE)`; the framework's default handling answers 500 |
 * | `GET /fail` | status 500, `fail` |
 * | `GET /status/:code` | status `code`, `status` (302 adds `location: /hello`) |
 * | `GET /stream` | {@link streamChunks} written as they come (chunked) |
 * | `POST /upload` | reads the body, answers its byte count as text |
 * | `GET /big` | {@link BIG_BYTES} bytes of `x` |
 * | `GET /slow` | answers `late` after {@link SLOW_MS} (the suite's client gives up before) |
 * | `GET /alloc` | `await allocWork(hold)`: allocates {@link ALLOC_BYTES} on the heap, keeps it, answers `allocated` (after {@link ALLOC_HOLD_MS} with `?hold`) |
 * | `GET /id` | the request id as the handler reads it (`req.id`, `request.id`, `c.get('requestId')`) |
 * | `GET /db` | `await dbWork(monitor)`, answers its text |
 * | `POST /db` | parses the JSON body with the framework's parser, then as `GET /db` |
 * | `POST /sql` | parses the JSON body `{ body }`, answers `sqlWork(monitor, body)` (real SQLite) |
 * | `/admin/perf/*` | {@link echoWebHandler} mounted with the adapter's web-handler utility at `/admin/perf`, given the monitor |
 * | `/t/:tenant/perf/*` | {@link echoWebHandler} mounted at the parameterised {@link PARAM_MOUNT} |
 * | `/dash/*` | the adapter's `dashboard(monitor, { token: DASHBOARD_TOKEN })` at {@link DASHBOARD_PREFIX} |
 */
export const ROUTES: readonly string[] = [
  'GET /hello',
  'GET /users/:id',
  'GET /api/notes/:id',
  'GET /api/notes',
  'GET /orgs/:org/members/:id',
  'GET /orgs/:org/teams/:team/members/:id',
  'GET /throw',
  'GET /fail',
  'GET /status/:code',
  'GET /stream',
  'POST /upload',
  'GET /big',
  'GET /slow',
  'GET /alloc',
  'GET /id',
  'GET /db',
  'POST /db',
  'POST /sql',
]

/** Message of the error `GET /throw` throws. */
export const THROWN_MESSAGE = 'boom'
/** Size of the `GET /big` response. */
export const BIG_BYTES: number = 512 * 1024
/** Delay before `GET /slow` answers. */
export const SLOW_MS = 400
/** Chunks of `GET /stream` and the pause before each. */
export const STREAM_CHUNKS = 3
/** Pause before each chunk of `GET /stream`. */
export const STREAM_DELAY_MS = 40
/** Mount path of {@link echoWebHandler}. */
export const ADMIN_PREFIX = '/admin/perf'
/** A mount path with a parameter, where {@link echoWebHandler} is mounted too. */
export const PARAM_MOUNT = '/t/:tenant/perf'
/** Mount path of the real dashboard. */
export const DASHBOARD_PREFIX = '/dash'
/** The dashboard's admin token. */
export const DASHBOARD_TOKEN = 'conformance-token-0123456789'
/** Largest request header the servers accept (so the 1 MB request-id test reaches the app). */
export const MAX_HEADER_SIZE: number = 2 * 1024 * 1024

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The chunks of `GET /stream`, each after {@link STREAM_DELAY_MS}. */
export async function* streamChunks(): AsyncGenerator<string> {
  for (let i = 0; i < STREAM_CHUNKS; i++) {
    await sleep(STREAM_DELAY_MS)
    yield `chunk ${i}\n`
  }
}

/** {@link streamChunks} as a web `ReadableStream` of bytes. */
export function webStream(): ReadableStream<Uint8Array> {
  const it = streamChunks()
  const enc = new TextEncoder()
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await it.next()
      if (done) controller.close()
      else controller.enqueue(enc.encode(value))
    },
  })
}

/** Heap `GET /alloc` allocates and keeps past its response (one array of 8-byte slots). */
export const ALLOC_BYTES: number = 4 * 1024 * 1024
/** How long `GET /alloc?hold` holds its answer, so that two requests sent together overlap. */
export const ALLOC_HOLD_MS = 50

/** What the last `GET /alloc` allocated: alive until the next one replaces it, so not collected mid-request. */
let allocated: unknown[] | undefined

/**
 * Allocates {@link ALLOC_BYTES} (a JS array of small integers, 8 bytes a slot, all in V8's heap: a
 * typed array's bytes would be outside it), keeps it in a module variable so no collection frees it
 * before the response ends, then, when `hold`, waits {@link ALLOC_HOLD_MS}.
 */
export async function allocWork(hold: boolean): Promise<string> {
  allocated = new Array(ALLOC_BYTES / 8).fill(0)
  if (hold) await sleep(ALLOC_HOLD_MS)
  return allocated.length > 0 ? 'allocated' : 'none'
}

/** Waits {@link SLOW_MS}. */
export function slowWork(): Promise<void> {
  return sleep(SLOW_MS)
}

/**
 * Stands in for database instrumentation: after an await, adds 2 queries and 3 ms to the current
 * request context. Answers `<requestId>` of the context, or `no-context`.
 */
export async function dbWork(monitor: Monitor): Promise<string> {
  await sleep(2)
  const ctx = monitorInternals(monitor).currentRequest()
  if (ctx === undefined) return 'no-context'
  ctx.dbQueries += 2
  ctx.dbMs += 3
  return ctx.requestId
}

/**
 * The handler mounted at {@link ADMIN_PREFIX}: answers JSON describing what it was given; `/boom`
 * throws, `/stream` answers {@link streamChunks} as a stream.
 */
export const echoWebHandler: WebHandler = async (req, info) => {
  const url = new URL(req.url)
  if (url.pathname === '/boom') throw new Error('handler failed')
  if (url.pathname === '/stream')
    return new Response(webStream(), { headers: { 'content-type': 'text/plain' } })
  const body = req.method === 'POST' ? await req.text() : null
  return new Response(
    JSON.stringify({ method: req.method, path: url.pathname, query: url.search, body, ...info }),
    { headers: { 'content-type': 'application/json', 'set-cookie': 'a=1' } },
  )
}
