import { spawnSync } from 'node:child_process'

/**
 * Runs `promtool check metrics` on an exposition. Returns `undefined` when promtool is not installed
 * (Debian package "prometheus"), else its exit status and everything it printed.
 */
export function promtoolCheck(text: string): { status: number | null; output: string } | undefined {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

/** The message a test skips with when promtool is missing. */
export const NO_PROMTOOL =
  'promtool is not installed (Debian package "prometheus"): cannot check the output with it'
