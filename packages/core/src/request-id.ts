import { randomWords } from './runtime.js'

const PLAIN_ID = /^[A-Za-z0-9._-]{1,128}$/

/** Whether `id` may be echoed or sent as a request id: 1–128 characters of `[A-Za-z0-9._-]`. */
export function isPlainRequestId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= 128 && PLAIN_ID.test(id)
}

/**
 * The request id to use for an incoming request: the client's `X-Request-ID` when it is 1–128
 * characters of `[A-Za-z0-9._-]` (and sent once), otherwise a fresh one from {@link newRequestId}.
 */
export function requestIdFrom(incoming: unknown): string {
  return isPlainRequestId(incoming) ? incoming : newRequestId()
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
/** The digits of base 36 as `Number#toString(36)` writes them. */
const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz'

/** 32 random bits; an id needs uniqueness, not secrecy, so `Math.random` will do where Web Crypto is missing. */
function random32(): number {
  return randomWords(1, false)[0]!
}

/** 16 base-62 characters from 3 × 32 random bits (~95 bits). */
function randomPrefix(): string {
  let out = ''
  for (let i = 0; i < 3; i++) {
    let x = random32()
    for (let k = 0; k < 5; k++) {
      out += ALPHABET[x % 62]
      x = Math.floor(x / 62)
    }
  }
  return out + ALPHABET[random32() % 62]
}

/**
 * The id generator's state, fields of one `const` object rather than module `let`s: optimised code
 * tests a module's `let` for initialisation at every read.
 */
const ids = {
  prefix: '',
  counter: 0,
  /** `prefix` and the counter's base-36 digits but the last (none below 36): changes every 36 ids. */
  stem: '',
}

/**
 * A fresh request id: a random per-process prefix (16 base-62 characters, ~95 bits, drawn once, so
 * ids stay unique across processes and hosts), `-`, then a counter in base 36 — `k3J9sQ0aZ7fW2mPq-1c`.
 * Only `[A-Za-z0-9-]`. A UUID per request costs a random draw, a 36-character string and its
 * garbage on Node (BENCHMARKS.md, memory); this is one short string. The counter's digits but the
 * last are kept with the prefix and formatted once every 36 ids: `Number#toString(36)` on each id
 * ran about 170 instructions a request (Node 24, an express hello world counted under valgrind),
 * where one concatenation and one table read run a few dozen. The prefix is drawn again if the
 * counter ever reaches 2^53.
 */
export function newRequestId(): string {
  const counter = ids.counter
  if (counter === 0 || counter >= Number.MAX_SAFE_INTEGER) {
    ids.prefix = `${randomPrefix()}-`
    ids.counter = 0
    ids.stem = ids.prefix
  }
  const n = ++ids.counter
  const last = n % 36
  if (last === 0) ids.stem = ids.prefix + (n / 36).toString(36)
  return ids.stem + BASE36[last]
}
