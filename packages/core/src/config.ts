import { coded } from './errors.js'
import { describeValue } from './describe-value.js'
import { emitPerfWarning } from './runtime.js'
import { checkOptionKeys, nearestName } from './option-keys.js'
import type { Sink } from './sink.js'

/** Per-type setting: one number for every type, or a map by type with an optional `default`. */
export type PerType = number | { readonly [type: string]: number | undefined }

/** Options accepted by {@link createMonitor}. Every field is optional; see {@link DEFAULTS}. */
export interface MonitorOptions {
  /** `false` makes every call a no-op and adapters install nothing. Default `true`. */
  enabled?: boolean
  /** Capacity of the ring buffer of kept events; the oldest is evicted. Default 1000. */
  bufferSize?: number
  /** Capacity of the slow log (slow and failed events only). Default 200. */
  slowLogSize?: number
  /** Share (0..1) of events whose details are kept, per type. Default 0.1. Counts are never sampled. */
  sampling?: PerType
  /** Duration in ms from which an event is slow (and always kept), per type. Default 1000. */
  slowMs?: PerType
  /** Length of the stats window in ms; a whole number of slices. Default 15 minutes. */
  windowMs?: number
  /** Length of one slice of the window in ms. Default 60 000. */
  sliceMs?: number
  /** Distinct names per type before further names fold into one overflow op. Default 2000. */
  maxOps?: number
  /** Distinct types before further types fold into one `<overflow>` type. Default 100. */
  maxTypes?: number
  /** Metadata keys whose values are replaced by `"[REDACTED]"`; replaces the default list. */
  redactKeys?: readonly (string | RegExp)[]
  /**
   * What a secret or personal datum in metadata does: `'redact'` (default) replaces it with
   * `"[REDACTED]"` in kept events; `'reject'` makes `record` throw a `TypeError` naming it before
   * anything is counted (for development and tests, to find the call that passes it).
   */
  pii?: 'redact' | 'reject'
  /** Cap on a kept event's serialised metadata, in bytes. Default 2048. */
  metadataMaxBytes?: number
  /** Receivers of kept events, slice aggregates and process samples. */
  sinks?: readonly Sink[]
  /** How often queued events are handed to sinks, in ms. Default 1000. */
  sinkIntervalMs?: number
  /** Items waiting for one sink (while its previous call is in flight) before new ones are dropped (and counted). Default 10 000. */
  sinkMaxQueue?: number
  /** Longest wait of `flush()` and `close()` for sinks' calls in flight, in ms; `close()` then counts what it abandons. Default 5000. */
  sinkCloseTimeoutMs?: number
  /**
   * The release (a version or a commit) this process runs, e.g. `process.env.npm_package_version`
   * or a git sha baked in at build. It travels with every slice aggregate to sinks, so a store can
   * compare releases. 1-128 characters from `[A-Za-z0-9._+-]`. Default: none.
   */
  release?: string
}

/** Every key {@link MonitorOptions} accepts; any other is a misspelling and throws. */
const MONITOR_OPTION_KEYS: readonly (keyof MonitorOptions)[] = [
  'enabled',
  'bufferSize',
  'slowLogSize',
  'sampling',
  'slowMs',
  'windowMs',
  'sliceMs',
  'maxOps',
  'maxTypes',
  'redactKeys',
  'pii',
  'metadataMaxBytes',
  'sinks',
  'sinkIntervalMs',
  'sinkMaxQueue',
  'sinkCloseTimeoutMs',
  'release',
]

/** The types @perf's own packages record; a per-type key that differs from one only in case never matches. */
const BUILT_IN_TYPES = ['http', 'db', 'render'] as const

/** The resolved, validated configuration of a monitor (part of every snapshot). */
export interface MonitorConfig {
  readonly enabled: boolean
  readonly bufferSize: number
  readonly slowLogSize: number
  readonly sampling: Readonly<Record<string, number>>
  readonly slowMs: Readonly<Record<string, number>>
  readonly windowMs: number
  readonly sliceMs: number
  readonly maxOps: number
  readonly maxTypes: number
  readonly redactKeys: readonly string[]
  readonly pii: 'redact' | 'reject'
  readonly metadataMaxBytes: number
  readonly sinkIntervalMs: number
  readonly sinkMaxQueue: number
  readonly sinkCloseTimeoutMs: number
  /** The release this process runs; absent when none was given (so a snapshot's JSON holds no null). */
  readonly release?: string
}

/**
 * Metadata keys redacted by default, matched case-insensitively. Strings match anywhere in a key
 * (`x-api-key`, `userPassword`); the RegExp holds the generic names that only match as a whole key,
 * with `_`/`-` optional (`key`, `name`, `userId`), so `hostname` and `monkey` survive.
 */
export const DEFAULT_REDACT_KEYS: readonly (string | RegExp)[] = [
  'password',
  'passwd',
  'passphrase',
  'pwd',
  'secret',
  'token',
  'api_key',
  'apikey',
  'api-key',
  'access_key',
  'accesskey',
  'access-key',
  'private_key',
  'privatekey',
  'private-key',
  'authorization',
  'credential',
  'cookie',
  'session',
  'signature',
  'email',
  'phone',
  'ssn',
  'credit_card',
  'card_number',
  'cardnumber',
  'cvv',
  'jwt',
  'bearer',
  /^(?:key|name|user[-_]?name|user[-_]?id|client[-_]?id|auth|pass|sid|dsn|pin|otp)$/,
]

/** Default values for every option. */
export const DEFAULTS: {
  readonly bufferSize: 1000
  readonly slowLogSize: 200
  readonly sampling: 0.1
  readonly slowMs: 1000
  readonly windowMs: 900_000
  readonly sliceMs: 60_000
  readonly maxOps: 2000
  readonly maxTypes: 100
  readonly metadataMaxBytes: 2048
  readonly sinkIntervalMs: 1000
  readonly sinkMaxQueue: 10_000
  readonly sinkCloseTimeoutMs: 5000
} = {
  bufferSize: 1000,
  slowLogSize: 200,
  sampling: 0.1,
  slowMs: 1000,
  windowMs: 900_000,
  sliceMs: 60_000,
  maxOps: 2000,
  maxTypes: 100,
  metadataMaxBytes: 2048,
  sinkIntervalMs: 1000,
  sinkMaxQueue: 10_000,
  sinkCloseTimeoutMs: 5000,
}

/** Bounds of a numeric setting. */
export interface Range {
  readonly min: number
  readonly max: number
  readonly integer?: boolean
}

function describe(range: Range): string {
  return `${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}`
}

/**
 * Checks a numeric setting and returns it, or throws a `RangeError` (a `TypeError` for a non-number)
 * that names the setting, the value and the accepted range.
 */
export function checkNumber(label: string, value: unknown, range: Range): number {
  if (typeof value !== 'number') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`${label} = ${describeValue(value)} is not valid: expected ${describe(range)}`),
    )
  }
  if (
    !Number.isFinite(value) ||
    value < range.min ||
    value > range.max ||
    (range.integer === true && !Number.isInteger(value))
  ) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(`${label} = ${describeValue(value)} is not valid: expected ${describe(range)}`),
    )
  }
  return value
}

/**
 * Reads a numeric environment variable. Returns `undefined` when it is unset or empty; throws a
 * `RangeError` naming the variable, its value and the accepted range when it does not parse or is out of range.
 */
export function envNumber(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  range: Range,
): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  // Decimal only: Number() would also read 0x10, 0b1 and 0o7, which nobody means in a setting.
  const text = raw.trim()
  const n = DECIMAL.test(text) ? Number(text) : Number.NaN
  if (
    !Number.isFinite(n) ||
    n < range.min ||
    n > range.max ||
    (range.integer === true && !Number.isInteger(n))
  ) {
    throw coded(
      'PERF_INVALID_ENV',
      new RangeError(`${name}=${describeValue(raw)} is not valid: expected ${describe(range)}`),
    )
  }
  return n
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i

/** Reads a boolean environment variable (`true/false`, `1/0`, `yes/no`, `on/off`). */
export function envBoolean(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): boolean | undefined {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  const v = raw.trim().toLowerCase()
  if (v === 'true' || v === '1' || v === 'yes' || v === 'on') return true
  if (v === 'false' || v === '0' || v === 'no' || v === 'off') return false
  throw coded(
    'PERF_INVALID_ENV',
    new RangeError(
      `${name}=${describeValue(raw)} is not valid: expected one of true, false, 1, 0, yes, no, on, off`,
    ),
  )
}

const RATE: Range = { min: 0, max: 1 }
const SLOW: Range = { min: 0, max: 3_600_000 }
const TYPE_KEY = /^[A-Za-z0-9_.:-]{1,64}$/

/**
 * Every `PERF_*` variable a @perf package reads, besides the per-type `PERF_SAMPLING_<TYPE>` and
 * `PERF_SLOW_<TYPE>_MS`. A package that reads a new variable adds it here, so that
 * {@link configFromEnv} can tell a misspelling from a setting.
 */
export const KNOWN_ENV: readonly string[] = [
  'PERF_ENABLED',
  'PERF_BUFFER_SIZE',
  'PERF_SAMPLING_RATE',
  'PERF_SLOW_MS',
  'PERF_WINDOW_MINUTES',
  'PERF_MAX_OPS',
  'PERF_ADMIN_TOKEN',
  'PERF_SCRAPE_TOKEN',
  'PERF_MEMORY_INTERVAL_MS',
  'PERF_MEMORY_GROWTH_WARN_MB',
  'PERF_RELEASE',
]

const warnedEnv = new Set<string>()

/** The known variable nearest to `name`, compared without the shared `PERF_` prefix. */
function nearestEnv(name: string): string | undefined {
  const near = nearestName(
    name.slice('PERF_'.length),
    KNOWN_ENV.map((k) => k.slice('PERF_'.length)),
  )
  return near === undefined ? undefined : `PERF_${near}`
}

/** Tells once per process, as a process warning, that a `PERF_*` variable is not one @perf reads. */
function warnUnknownEnv(name: string): void {
  if (warnedEnv.has(name)) return
  warnedEnv.add(name)
  // PERF_SLOW_MS_DB: the per-type form puts the type before _MS.
  const near = name.startsWith('PERF_SLOW_MS_')
    ? `PERF_SLOW_${name.slice('PERF_SLOW_MS_'.length)}_MS`
    : nearestEnv(name)
  const message =
    `${name} is not a setting of @perf and is ignored` +
    `${near ? `; did you mean ${near}?` : ''} Known: ${KNOWN_ENV.join(', ')}, PERF_SAMPLING_<TYPE>, PERF_SLOW_<TYPE>_MS`
  emitPerfWarning(message, 'PERF_UNKNOWN_ENV')
}

/** The type named by a per-type variable, or an error naming the variable. */
function envType(name: string, type: string, shape: string): string {
  if (!TYPE_KEY.test(type)) {
    throw coded(
      'PERF_INVALID_ENV',
      new RangeError(
        `${name} is not valid: ${shape} needs a TYPE of 1-64 characters from [A-Za-z0-9_.:-], got ${describeValue(type)}`,
      ),
    )
  }
  // PERF_SAMPLING_HTTP_RATE or PERF_SLOW_DB_MS_MS: a suffix that belongs to the flat variable, not a type.
  if (/_(RATE|MS)$/.test(type) || /^(RATE|MS)_/.test(type)) {
    const base = type.replace(/_(RATE|MS)$/, '').replace(/^(RATE|MS)_/, '')
    const suggestion = shape.startsWith('PERF_SAMPLING') ? `PERF_SAMPLING_${base}` : `PERF_SLOW_${base}_MS`
    throw coded(
      'PERF_INVALID_ENV',
      new RangeError(`${name} is not valid: expected ${shape}; did you mean ${suggestion}?`),
    )
  }
  return type.toLowerCase()
}

/**
 * Maps `PERF_*` environment variables onto {@link MonitorOptions}:
 * `PERF_ENABLED`, `PERF_BUFFER_SIZE`, `PERF_SAMPLING_RATE`, `PERF_SAMPLING_<TYPE>`, `PERF_SLOW_MS`,
 * `PERF_SLOW_<TYPE>_MS`, `PERF_WINDOW_MINUTES`, `PERF_MAX_OPS`, `PERF_RELEASE`. An invalid value throws a `RangeError`
 * naming the variable, the value and the accepted range. A `PERF_*` variable that no @perf package
 * reads (`PERF_SAMPLE_RATE`) is named in a process warning (code `PERF_UNKNOWN_ENV`) with the nearest
 * valid name, not thrown: an environment is shared by deployments of different versions, and a
 * variable an older one does not know must not stop it from booting.
 */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): MonitorOptions {
  const out: MonitorOptions = {}
  const enabled = envBoolean(env, 'PERF_ENABLED')
  if (enabled !== undefined) out.enabled = enabled
  const bufferSize = envNumber(env, 'PERF_BUFFER_SIZE', BUFFER_RANGE)
  if (bufferSize !== undefined) out.bufferSize = bufferSize
  const minutes = envNumber(env, 'PERF_WINDOW_MINUTES', { min: 1, max: 1440, integer: true })
  if (minutes !== undefined) out.windowMs = minutes * 60_000
  const maxOps = envNumber(env, 'PERF_MAX_OPS', MAX_OPS_RANGE)
  if (maxOps !== undefined) out.maxOps = maxOps
  const release = env.PERF_RELEASE
  // An empty variable is how a shell or a CI template says "unset".
  if (release !== undefined && release !== '') out.release = checkRelease('PERF_RELEASE', release)

  const sampling: Record<string, number> = Object.create(null)
  const slowMs: Record<string, number> = Object.create(null)
  const rate = envNumber(env, 'PERF_SAMPLING_RATE', RATE)
  if (rate !== undefined) sampling.default = rate
  const slow = envNumber(env, 'PERF_SLOW_MS', SLOW)
  if (slow !== undefined) slowMs.default = slow
  for (const key of Object.keys(env)) {
    if (!key.startsWith('PERF_') || KNOWN_ENV.includes(key)) continue
    if (key.startsWith('PERF_SAMPLING_')) {
      const type = envType(key, key.slice('PERF_SAMPLING_'.length), 'PERF_SAMPLING_<TYPE>')
      const v = envNumber(env, key, RATE)
      if (v !== undefined) sampling[type] = v
    } else if (
      key.startsWith('PERF_SLOW_') &&
      key.endsWith('_MS') &&
      key.length > 'PERF_SLOW__MS'.length - 1
    ) {
      const type = envType(key, key.slice('PERF_SLOW_'.length, -'_MS'.length), 'PERF_SLOW_<TYPE>_MS')
      const v = envNumber(env, key, SLOW)
      if (v !== undefined) slowMs[type] = v
    } else {
      warnUnknownEnv(key)
    }
  }
  if (Object.keys(sampling).length > 0) out.sampling = { ...sampling }
  if (Object.keys(slowMs).length > 0) out.slowMs = { ...slowMs }
  return out
}

const BUFFER_RANGE: Range = { min: 1, max: 1_000_000, integer: true }
const MAX_OPS_RANGE: Range = { min: 1, max: 100_000, integer: true }

function resolvePerType(label: string, value: PerType | undefined, fallback: number, range: Range) {
  const out: Record<string, number> = { default: fallback }
  if (value === undefined) return out
  if (typeof value === 'number') {
    out.default = checkNumber(label, value, range)
    return out
  }
  if (typeof value !== 'object' || value === null) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${label} = ${describeValue(value)} is not valid: expected ${describe(range)} or an object of them by type`,
      ),
    )
  }
  for (const [type, v] of Object.entries(value)) {
    if (v === undefined) continue
    if (!TYPE_KEY.test(type)) {
      throw coded(
        'PERF_INVALID_OPTION',
        new RangeError(
          `${label} has an invalid type key ${describeValue(type)}: expected 1-64 of [A-Za-z0-9_.:-]`,
        ),
      )
    }
    const builtIn = BUILT_IN_TYPES.find((t) => t !== type && t === type.toLowerCase())
    if (builtIn !== undefined) {
      throw coded(
        'PERF_INVALID_OPTION',
        new RangeError(
          `${label} has the type key ${describeValue(type)}, which matches no events: types are matched exactly; did you mean ${describeValue(builtIn)}?`,
        ),
      )
    }
    out[type] = checkNumber(`${label}.${type}`, v, range)
  }
  return out
}

/** Validates options and fills in defaults. Throws a `TypeError`/`RangeError` naming the bad option. */
export function resolveConfig(options: MonitorOptions = {}): MonitorConfig {
  if (typeof options !== 'object' || options === null) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`createMonitor(options): options must be an object, got ${describeValue(options)}`),
    )
  }
  checkOptionKeys('createMonitor(options)', options, MONITOR_OPTION_KEYS)
  const enabled = options.enabled ?? true
  if (typeof enabled !== 'boolean') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`options.enabled = ${describeValue(enabled)} is not valid: expected true or false`),
    )
  }
  const sliceMs = checkNumber('options.sliceMs', options.sliceMs ?? DEFAULTS.sliceMs, {
    min: 10,
    max: 3_600_000,
    integer: true,
  })
  const windowMs = checkNumber('options.windowMs', options.windowMs ?? DEFAULTS.windowMs, {
    min: sliceMs,
    max: 7 * 86_400_000,
    integer: true,
  })
  if (windowMs % sliceMs !== 0 || windowMs / sliceMs > 1440) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `options.windowMs = ${windowMs} is not valid: expected a whole number (1 to 1440) of slices of ${sliceMs} ms`,
      ),
    )
  }
  const redact = options.redactKeys ?? DEFAULT_REDACT_KEYS
  if (!Array.isArray(redact) || redact.some((k) => typeof k !== 'string' && !(k instanceof RegExp))) {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError('options.redactKeys is not valid: expected an array of strings or RegExps'),
    )
  }
  const pii = options.pii ?? 'redact'
  if (pii !== 'redact' && pii !== 'reject') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(`options.pii = ${describeValue(pii)} is not valid: expected 'redact' or 'reject'`),
    )
  }
  const sinks = options.sinks ?? []
  if (!Array.isArray(sinks))
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError('options.sinks is not valid: expected an array of sinks'),
    )
  return {
    enabled,
    bufferSize: checkNumber('options.bufferSize', options.bufferSize ?? DEFAULTS.bufferSize, BUFFER_RANGE),
    slowLogSize: checkNumber('options.slowLogSize', options.slowLogSize ?? DEFAULTS.slowLogSize, {
      min: 1,
      max: 100_000,
      integer: true,
    }),
    sampling: resolvePerType('options.sampling', options.sampling, DEFAULTS.sampling, RATE),
    slowMs: resolvePerType('options.slowMs', options.slowMs, DEFAULTS.slowMs, SLOW),
    windowMs,
    sliceMs,
    maxOps: checkNumber('options.maxOps', options.maxOps ?? DEFAULTS.maxOps, MAX_OPS_RANGE),
    maxTypes: checkNumber('options.maxTypes', options.maxTypes ?? DEFAULTS.maxTypes, {
      min: 1,
      max: 10_000,
      integer: true,
    }),
    redactKeys: redact.map((k) => (typeof k === 'string' ? k : k.source)),
    pii,
    metadataMaxBytes: checkNumber(
      'options.metadataMaxBytes',
      options.metadataMaxBytes ?? DEFAULTS.metadataMaxBytes,
      { min: 64, max: 1_048_576, integer: true },
    ),
    sinkIntervalMs: checkNumber('options.sinkIntervalMs', options.sinkIntervalMs ?? DEFAULTS.sinkIntervalMs, {
      min: 1,
      max: 3_600_000,
      integer: true,
    }),
    sinkMaxQueue: checkNumber('options.sinkMaxQueue', options.sinkMaxQueue ?? DEFAULTS.sinkMaxQueue, {
      min: 1,
      max: 10_000_000,
      integer: true,
    }),
    sinkCloseTimeoutMs: checkNumber(
      'options.sinkCloseTimeoutMs',
      options.sinkCloseTimeoutMs ?? DEFAULTS.sinkCloseTimeoutMs,
      { min: 0, max: 600_000, integer: true },
    ),
    ...(options.release === undefined ? {} : { release: checkRelease('options.release', options.release) }),
  }
}

const RELEASE = /^[A-Za-z0-9._+-]{1,128}$/

/**
 * Checks a release name: 1-128 characters from `[A-Za-z0-9._+-]` (a semver with build metadata, a
 * git sha, a tag), because it becomes part of stored rows and of command lines, where spaces,
 * slashes or control characters would make it ambiguous. Throws a `TypeError`/`RangeError` naming
 * `label`.
 */
export function checkRelease(label: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw coded(
      'PERF_INVALID_OPTION',
      new TypeError(
        `${label} = ${describeValue(value)} is not valid: expected a string such as "1.4.2" or a git sha`,
      ),
    )
  }
  if (!RELEASE.test(value)) {
    throw coded(
      'PERF_INVALID_OPTION',
      new RangeError(
        `${label} = ${describeValue(value)} is not valid: expected 1-128 characters from [A-Za-z0-9._+-] (a version or a commit)`,
      ),
    )
  }
  return value
}

/** Checks a sampling rate (0..1). */
export function checkRate(label: string, rate: unknown): number {
  return checkNumber(label, rate, RATE)
}

/** Builds the matcher for redacted metadata keys. */
export function redactMatcher(keys: readonly (string | RegExp)[] = DEFAULT_REDACT_KEYS): RegExp {
  const parts = keys.map((k) =>
    typeof k === 'string' ? k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : `(?:${k.source})`,
  )
  return new RegExp(parts.length > 0 ? parts.join('|') : '(?!)', 'i')
}
