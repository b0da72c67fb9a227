import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * Transpiles core's current TypeScript source (and these test-support scripts) into a temporary
 * directory of plain ESM, so tests can run real child processes (node:cluster workers, a process that
 * must exit on its own) against the code under test rather than a possibly stale `dist`.
 * Returns the directory and a cleanup function.
 */
export function compileCore(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'perf-core-'))
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  // Core's own dependencies (pidusage), resolved as from the package itself.
  symlinkSync(join(SRC, '..', 'node_modules'), join(dir, 'node_modules'), 'dir')
  const walk = (from: string): void => {
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const path = join(from, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        const out = ts.transpileModule(readFileSync(path, 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        }).outputText
        const target = join(dir, relative(SRC, path)).replace(/\.ts$/, '.js')
        mkdirSync(dirname(target), { recursive: true })
        writeFileSync(target, out)
      }
    }
  }
  walk(SRC)
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
