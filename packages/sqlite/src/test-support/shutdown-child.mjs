// Child of the onShutdown tests. argv: mode (plain | own-listener | unsubscribe | hang | error).
import { onShutdown } from '@perf/core/node'

const mode = process.argv[2]
const log = (s) => process.stdout.write(`${s}\n`)
const offFirst = onShutdown(async (signal) => {
  log(`first-registered ${signal}`)
})
const off = onShutdown(
  async (signal) => {
    if (mode === 'hang') await new Promise(() => {})
    if (mode === 'error') throw new Error('handler failed')
    await new Promise((r) => setTimeout(r, 50))
    log(`last-registered ${signal}`)
  },
  { timeoutMs: mode === 'hang' ? 300 : 10_000 },
)
if (mode === 'own-listener') {
  process.on('SIGTERM', () => {
    setTimeout(() => {
      log('app decides')
      process.exit(7)
    }, 300)
  })
}
if (mode === 'unsubscribe') {
  off()
  offFirst()
  off()
  log(`listeners ${process.listenerCount('SIGTERM')} ${process.listenerCount('SIGINT')}`)
}
log('ready')
setInterval(() => {}, 1000)
