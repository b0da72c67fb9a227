export { startDemo } from './app.js'
export { Notes } from './notes.js'
export { ADMIN_PATH } from './servers.js'
export { startTraffic } from './traffic.js'

export type { Demo, DemoOptions } from './app.js'
export type { Note } from './notes.js'
export type { Traffic } from './traffic.js'
