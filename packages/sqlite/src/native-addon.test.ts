import { describe, expect, it } from 'vitest'
import { addonMismatchHint } from './native-addon.js'

describe('addonMismatchHint', () => {
  // The text Node's dlopen gives for an add-on built by another Node (src/node_binding.cc).
  const abi = new Error(
    "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'\n" +
      'was compiled against a different Node.js version using\n' +
      'NODE_MODULE_VERSION 115. This version of Node.js requires\n' +
      'NODE_MODULE_VERSION 137. Please try re-compiling or re-installing\n' +
      'the module (for instance, using `npm rebuild` or `npm install`).',
  )

  it('turns an ABI mismatch into the command that fixes it, naming this Node', () => {
    const hint = addonMismatchHint(abi)
    expect(hint).toContain('pnpm rebuild better-sqlite3')
    expect(hint).toContain(process.versions.node)
    expect(hint).toContain(`NODE_MODULE_VERSION ${process.versions.modules}`)
  })

  it('leaves every other error alone', () => {
    expect(addonMismatchHint(new Error('SQLITE_CANTOPEN: unable to open database file'))).toBeUndefined()
    expect(addonMismatchHint('plain string')).toBeUndefined()
  })
})
