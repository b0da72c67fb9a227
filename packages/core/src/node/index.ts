/**
 * Node-only parts of @perf/core: process health (`watchProcess`), flush on shutdown signals, and
 * cluster-wide numbers. Import from `@perf/core/node`.
 */
export const NODE_ENTRY = true
