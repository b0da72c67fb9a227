import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@perf/source'] },
  ssr: { resolve: { conditions: ['@perf/source'] } },
  test: { include: ['src/**/*.test.ts'], testTimeout: 30_000 },
})
