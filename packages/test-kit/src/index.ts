export {
  abortAfter,
  abortUpload,
  bulkAgent,
  inParallel,
  peakRssGrowth,
  send,
  sendRaw,
  upload,
  waitFor,
} from './client.js'
export { runConformance } from './conformance.js'
export { openNotesDatabase, sqlWork } from './sql.js'
export {
  ADMIN_PREFIX,
  ALLOC_BYTES,
  ALLOC_HOLD_MS,
  allocWork,
  BIG_BYTES,
  DASHBOARD_PREFIX,
  DASHBOARD_TOKEN,
  dbWork,
  echoWebHandler,
  MAX_HEADER_SIZE,
  PARAM_MOUNT,
  ROUTES,
  SLOW_MS,
  STREAM_CHUNKS,
  STREAM_DELAY_MS,
  slowWork,
  streamChunks,
  THROWN_MESSAGE,
  webStream,
} from './routes.js'

export type { ClientResponse } from './client.js'
export type { MakeServer, TestServer } from './conformance.js'
