/**
 * The stable `code` of every error @perf throws for bad input, so callers can branch on `err.code`
 * rather than match a message (messages explain and may be reworded; codes do not change):
 *
 * - `PERF_INVALID_OPTION`: an option (or an options object) is not valid — an unknown key, a value of
 *   the wrong type or out of range.
 * - `PERF_INVALID_ARGUMENT`: a positional argument is not valid — not a monitor, a type or name that is
 *   not a non-empty string, a callback that is not a function.
 * - `PERF_INVALID_ENV`: a `PERF_*` environment variable read by `configFromEnv`/`envNumber`/`envBoolean`
 *   has a value that is not valid.
 * - `PERF_INVALID_SNAPSHOT`: what `mergeSnapshots` or `toPrometheus` was given is not a snapshot they
 *   can use (a malformed figure, no histograms where they are needed).
 * - `PERF_PII_REJECTED`: `record` met a secret or personal datum under `pii: 'reject'`.
 */
export type PerfErrorCode =
  | 'PERF_INVALID_OPTION'
  | 'PERF_INVALID_ARGUMENT'
  | 'PERF_INVALID_ENV'
  | 'PERF_INVALID_SNAPSHOT'
  | 'PERF_PII_REJECTED'

/**
 * Gives `error` its stable `code` and returns it, for `throw coded(code, new TypeError(...))`. The
 * error stays a plain `TypeError`/`RangeError`; `code` is not enumerable, like `message`, so an error
 * compared or logged field by field shows what it always did.
 */
export function coded<E extends Error>(code: PerfErrorCode, error: E): E & { readonly code: PerfErrorCode } {
  Object.defineProperty(error, 'code', { value: code, configurable: true, writable: true, enumerable: false })
  return error as E & { readonly code: PerfErrorCode }
}
