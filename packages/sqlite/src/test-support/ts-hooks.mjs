// Module hooks that let a child process run the packages' TypeScript source (tests only):
// `.ts` files are transpiled with TypeScript's transpileModule, and a relative `./x.js` import that
// does not exist falls back to `./x.ts`, as in the source tree.
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Transpiled output is cached by content hash: tests spawn many children, and loading TypeScript
// itself costs more than the child's work.
const cacheDir = join(tmpdir(), 'perf-ts-hooks-cache')
let ts

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context)
  } catch (err) {
    if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:'))) {
      return next(`${specifier.slice(0, -3)}.ts`, context)
    }
    throw err
  }
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context)
  const source = await readFile(new URL(url), 'utf8')
  const cached = join(
    cacheDir,
    `${createHash('sha1').update(url).update('\0').update(source).digest('hex')}.js`,
  )
  try {
    return { format: 'module', source: await readFile(cached, 'utf8'), shortCircuit: true }
  } catch {}
  ts ??= createRequire(import.meta.url)('typescript')
  const { outputText } = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  })
  try {
    await mkdir(cacheDir, { recursive: true })
    const tmp = `${cached}.${process.pid}.tmp`
    await writeFile(tmp, outputText)
    await rename(tmp, cached)
  } catch {}
  return { format: 'module', source: outputText, shortCircuit: true }
}
