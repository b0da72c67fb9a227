/**
 * better-sqlite3 is a native add-on: it must be built by the Node.js that loads it. Loading one built
 * for another Node fails with a `dlopen` error naming two NODE_MODULE_VERSIONs, which tells a user
 * nothing about what to do. This turns that error into the one command that fixes it.
 */
export function addonMismatchHint(err: unknown): string | undefined {
  const text = err instanceof Error ? err.message : String(err)
  if (!/NODE_MODULE_VERSION|compiled against a different Node\.js version|ERR_DLOPEN_FAILED/.test(text)) {
    return undefined
  }
  const runtime = typeof process === 'object' ? process.versions : undefined
  const current = runtime
    ? `Node.js ${runtime.node} (NODE_MODULE_VERSION ${runtime.modules})`
    : 'this runtime'
  return (
    `better-sqlite3 was built for another Node.js version than ${current}. ` +
    'Rebuild it with the Node.js that runs the app: `pnpm rebuild better-sqlite3` (or `npm rebuild better-sqlite3`)'
  )
}
