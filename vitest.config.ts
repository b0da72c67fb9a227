import { readdirSync, readFileSync } from 'node:fs'
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config'

/**
 * Every workspace package with a `src/` gets the same project, named after its package.json
 * (`npx vitest run --project @perf/core`), so there is one place to change how package tests run.
 */
function packageProjects(parent: string): TestProjectInlineConfiguration[] {
  return readdirSync(parent, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `${parent}/${entry.name}`)
    .flatMap((root) => {
      let name: string
      try {
        name = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).name
      } catch {
        return []
      }
      return [{ extends: true, test: { name, root, include: ['src/**/*.test.ts'], testTimeout: 30_000 } }]
    })
}

/** One config, one project per package: tests resolve workspace packages to their TypeScript source. */
export default defineConfig({
  resolve: { conditions: ['@perf/source'] },
  ssr: { resolve: { conditions: ['@perf/source'] } },
  test: {
    projects: [
      ...packageProjects('packages'),
      ...packageProjects('apps'),
      // The repository tests pack and install the built packages, so they resolve no source condition.
      {
        test: {
          name: '@perf/repo-tests',
          root: 'tests',
          include: ['*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
    reporters: ['default', './tests/summary-reporter.ts'],
  },
})
