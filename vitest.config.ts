import { defineConfig } from 'vitest/config'

/** One config, one project per package: tests resolve workspace packages to their TypeScript source. */
export default defineConfig({
  resolve: { conditions: ['@perf/source'] },
  ssr: { resolve: { conditions: ['@perf/source'] } },
  test: {
    projects: ['packages/*', 'apps/*', 'tests'],
    reporters: ['default', './tests/summary-reporter.ts'],
  },
})
