export { brokenBudgets, parseBudget, parseSide, parseTime, UsageError } from './args.js'
export { EXIT, main } from './cli.js'
export { progressLine } from './progress.js'
export { renderTable } from './table.js'

export type { BrokenBudget, Budget, BudgetMetric } from './args.js'
export type { CliIO } from './cli.js'
export type { Progress, ProgressStream } from './progress.js'
export type { Cell } from './table.js'
