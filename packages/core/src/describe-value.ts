import { redactText } from './redact.js'

/**
 * A bad value as an error message quotes it: a string quoted and cut at 40 characters, a number,
 * boolean, `null` or `undefined` as written, anything else by its kind only, because an object's
 * contents can be large or secret and a message must stay one short line.
 */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v)
  if (typeof v === 'bigint') return `${v}n`
  if (Array.isArray(v)) return 'an array'
  return typeof v
}

const MAX_ERROR_LENGTH = 500

/** Whether a record's `error` option marks it failed: anything but `undefined`, `null` and `false`. */
export function isFailure(err: unknown): boolean {
  return err !== undefined && err !== null && err !== false
}

/**
 * An error as the text an event or `lastInternalError` keeps: `Name: message`, cut at 500 characters,
 * and redacted, since a message can carry what metadata keys would have hidden.
 */
export function errorText(err: unknown): string {
  let text: string
  if (err === true) text = 'error'
  else if (typeof err === 'string') text = err
  else if (err instanceof Error) text = err.message ? `${err.name}: ${err.message}` : err.name
  else {
    try {
      text = String(err)
    } catch {
      text = 'error'
    }
  }
  // An error message can carry what metadata keys would have hidden: a URL's password, a bearer token.
  return redactText(text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text)
}
