/**
 * The closing line CI and people read must count a file that fails to load and a hook that fails as
 * failures (vitest reports the hook's tests as skipped), and explain skipped tests.
 */
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))

it('counts failed loads and failed hooks in the closing line and lists skip notes', () => {
  const r = spawnSync(
    process.execPath,
    [
      join(here, '..', 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--root',
      join(here, 'fixtures', 'reporter'),
      '--reporter',
      join(here, 'summary-reporter.ts'),
    ],
    { encoding: 'utf8', env: { ...process.env, CI: 'true' } },
  )
  expect(r.status).not.toBe(0)
  const out = `${r.stdout}${r.stderr}`
  expect(out).toMatch(/^Tests: 1 passed, 2 failed, 2 skipped$/m)
  expect(out).toContain('skipped 1: needs a tool that is not here')
})
