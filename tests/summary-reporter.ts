import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { SerializedError } from 'vitest'
import type { Reporter, TestModule } from 'vitest/node'

/** The Debian tools some tests need, how each is found, and the package that installs it. */
const TOOLS = [
  { tool: 'chromium', pkg: 'chromium', found: () => existsSync('/usr/bin/chromium') },
  { tool: 'promtool', pkg: 'prometheus', found: () => onPath('promtool') },
  { tool: 'prometheus', pkg: 'prometheus', found: () => onPath('prometheus') },
] as const

function onPath(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error === undefined
}

/**
 * Prints one plain closing line, `Tests: N passed, N failed, N skipped`, after vitest's own summary,
 * so CI logs end with counts any tool can read. A file that failed to load, a hook that failed
 * (whose tests vitest reports as skipped) and an unhandled error each count as one failure, so the
 * line never reads "0 failed" under vitest's "Failed Suites". Skipped tests are explained above
 * the line: by the note they skipped with, and by the Debian tools that are missing here.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
  ): void {
    let passed = 0
    let failed = unhandledErrors.length
    let skipped = 0
    const notes = new Map<string, number>()
    for (const mod of testModules) {
      let testsFailed = 0
      for (const test of mod.children.allTests()) {
        const result = test.result()
        if (result.state === 'passed') passed++
        else if (result.state === 'failed') {
          failed++
          testsFailed++
        } else {
          skipped++
          const note = result.state === 'skipped' ? result.note : undefined
          if (note) notes.set(note, (notes.get(note) ?? 0) + 1)
        }
      }
      // A module or suite that failed without a failed test: a load error or a failed hook.
      if (testsFailed === 0 && (mod.state() === 'failed' || mod.errors().length > 0)) failed++
      else if (testsFailed === 0) {
        for (const suite of mod.children.allSuites()) {
          if (suite.state() === 'failed') {
            failed++
            break
          }
        }
      }
    }
    const lines: string[] = []
    for (const [note, n] of notes) lines.push(`  skipped ${n}: ${note}`)
    const missing = TOOLS.filter((t) => !t.found())
    if (missing.length > 0) {
      const pkgs = [...new Set(missing.map((t) => t.pkg))].join(' ')
      lines.push(
        `  not installed here: ${missing.map((t) => t.tool).join(', ')}; the tests that need them were skipped.`,
        `  Install them to run everything: sudo apt-get install -y ${pkgs}`,
      )
    }
    if (lines.length > 0) process.stdout.write(`\nSkipped tests:\n${lines.join('\n')}\n`)
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
  }
}
