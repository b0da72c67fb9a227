/** Longest normalised SQL kept, in characters; longer text is cut and ends with `…`. */
export const MAX_SQL_LENGTH = 2000

const SPACE = 32
const QUOTE = 39 // '
const DQUOTE = 34 // "
const BACKTICK = 96
const LBRACKET = 91
const RBRACKET = 93
const LPAREN = 40
const RPAREN = 41
const COMMA = 44
const DOT = 46
const DASH = 45
const SLASH = 47
const STAR = 42
const QMARK = 63

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
}

/** Characters that continue an identifier (SQLite also allows any non-ASCII character and `$`). */
function isIdent(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 95 || c === 36 || c > 127
}

function isSpace(c: number): boolean {
  return c === SPACE || (c >= 9 && c <= 13)
}

/**
 * Normalises SQL so it can be kept without the data in it: every literal becomes `?` (strings with
 * `''` escapes, numbers including hex, blobs `X'..'`, `TRUE`/`FALSE`), a list of only literals or
 * `?` after `IN` becomes `IN (?)`, comments are stripped and whitespace collapsed. Placeholders
 * (`?`, `?1`, `:name`, `@name`, `$name`) and identifiers (bare or quoted) are kept. The result is
 * cut at {@link MAX_SQL_LENGTH} characters.
 *
 * One left-to-right pass with no backtracking, so its time is linear in the input whatever the
 * input holds (a regex-based normaliser can be driven quadratic by crafted SQL).
 */
export function redactSql(sql: string, maxLength: number = MAX_SQL_LENGTH): string {
  if (typeof sql !== 'string') throw new TypeError(`redactSql(sql): sql must be a string, got ${typeof sql}`)
  const n = sql.length
  // Output is built from slices and short tokens; `parts` is joined once at the end.
  const parts: string[] = []
  let len = 0
  /** Whether the last emitted token was an identifier or a literal/placeholder (affects spacing). */
  let pendingSpace = false
  /** Last emitted bare word, upper-cased only when it could be IN. */
  let lastWordIsIn = false
  /** Index in `parts` just after an `IN (` whose list has held only `?` and commas so far, or -1. */
  let inListStart = -1
  let inListLen = 0
  let inListItems = 0
  let i = 0

  const emit = (s: string): void => {
    if (pendingSpace && len > 0) {
      parts.push(' ')
      len++
    }
    pendingSpace = false
    parts.push(s)
    len += s.length
  }
  const literal = (): void => {
    emit('?')
    lastWordIsIn = false
    if (inListStart >= 0) inListItems++
  }

  while (i < n && len < maxLength) {
    const c = sql.charCodeAt(i)
    if (isSpace(c)) {
      pendingSpace = true
      i++
      continue
    }
    // Comments: -- to end of line, /* to */ (unterminated: to the end).
    if (c === DASH && sql.charCodeAt(i + 1) === DASH) {
      const end = sql.indexOf('\n', i + 2)
      i = end < 0 ? n : end + 1
      pendingSpace = true
      continue
    }
    if (c === SLASH && sql.charCodeAt(i + 1) === STAR) {
      const end = sql.indexOf('*/', i + 2)
      i = end < 0 ? n : end + 2
      pendingSpace = true
      continue
    }
    if (c === QUOTE) {
      i = skipString(sql, i + 1, QUOTE)
      literal()
      continue
    }
    // Quoted identifiers are kept verbatim: they name schema objects, not data.
    if (c === DQUOTE || c === BACKTICK || c === LBRACKET) {
      const end = c === LBRACKET ? closeBracket(sql, i + 1) : skipString(sql, i + 1, c)
      breakInList()
      emit(sql.slice(i, end))
      lastWordIsIn = false
      i = end
      continue
    }
    if (isDigit(c) || (c === DOT && isDigit(sql.charCodeAt(i + 1)))) {
      i = skipNumber(sql, i)
      literal()
      continue
    }
    if (
      c === QMARK ||
      c === 58 /* : */ ||
      c === 64 /* @ */ ||
      (c === 36 /* $ */ && isIdent(sql.charCodeAt(i + 1)))
    ) {
      let j = i + 1
      while (j < n && isIdent(sql.charCodeAt(j))) j++
      if (c === QMARK && j === i + 1) {
        literal()
      } else {
        breakInList()
        emit(sql.slice(i, j))
        lastWordIsIn = false
      }
      i = j
      continue
    }
    if (isIdent(c)) {
      let j = i + 1
      while (j < n && isIdent(sql.charCodeAt(j))) j++
      // X'..' is a blob literal.
      if (j === i + 1 && (c === 88 || c === 120) && sql.charCodeAt(j) === QUOTE) {
        i = skipString(sql, j + 1, QUOTE)
        literal()
        continue
      }
      const word = sql.slice(i, j)
      i = j
      const upper = word.length <= 5 ? word.toUpperCase() : ''
      if (upper === 'TRUE' || upper === 'FALSE') {
        literal()
        continue
      }
      breakInList()
      emit(word)
      lastWordIsIn = upper === 'IN'
      continue
    }
    // Punctuation.
    i++
    if (c === LPAREN) {
      const wasIn = lastWordIsIn
      breakInList()
      emit('(')
      if (wasIn) {
        inListStart = parts.length
        inListLen = len
        inListItems = 0
      }
    } else if (c === RPAREN) {
      if (inListStart >= 0 && inListItems > 0) {
        // The list held only literals and `?`: keep one.
        parts.length = inListStart
        len = inListLen
        pendingSpace = false
        parts.push('?')
        len++
      }
      inListStart = -1
      emit(')')
    } else if (c === COMMA) {
      pendingSpace = false
      parts.push(',')
      len++
      pendingSpace = true
    } else if (c === DASH && inListStart >= 0) {
      // A sign inside an IN list keeps the list collapsible.
      emit('-')
    } else {
      breakInList()
      if (c === 59 /* ; */ || c === DOT) pendingSpace = false
      emit(String.fromCharCode(c))
      if (c === DOT) pendingSpace = false
    }
    lastWordIsIn = false
  }
  let out = parts.join('')
  if (out.length > maxLength || i < n) out = `${out.slice(0, Math.max(0, maxLength - 1))}…`
  return out

  function breakInList(): void {
    inListStart = -1
  }
}

/** Index after the closing quote of a string starting at `from` (a doubled quote is an escape). */
function skipString(sql: string, from: number, quote: number): number {
  const q = String.fromCharCode(quote)
  let i = from
  for (;;) {
    const end = sql.indexOf(q, i)
    if (end < 0) return sql.length
    if (sql.charCodeAt(end + 1) === quote) {
      i = end + 2
      continue
    }
    return end + 1
  }
}

function closeBracket(sql: string, from: number): number {
  const end = sql.indexOf(String.fromCharCode(RBRACKET), from)
  return end < 0 ? sql.length : end + 1
}

/** Index after a numeric literal: 12, 1.5, .5, 1e-3, 0x1F. */
function skipNumber(sql: string, from: number): number {
  const n = sql.length
  let i = from
  if (sql.charCodeAt(i) === 48 && (sql.charCodeAt(i + 1) | 32) === 120 && isHexDigit(sql.charCodeAt(i + 2))) {
    i += 2
    while (i < n && isHexDigit(sql.charCodeAt(i))) i++
    return i
  }
  while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95)) i++
  if (sql.charCodeAt(i) === DOT) {
    i++
    while (i < n && isDigit(sql.charCodeAt(i))) i++
  }
  if ((sql.charCodeAt(i) | 32) === 101) {
    let j = i + 1
    const s = sql.charCodeAt(j)
    if (s === 43 || s === DASH) j++
    if (isDigit(sql.charCodeAt(j))) {
      i = j
      while (i < n && isDigit(sql.charCodeAt(i))) i++
    }
  }
  // A number glued to letters (e.g. 1abc) is still one token in SQLite's eyes; swallow the rest.
  while (i < n && isIdent(sql.charCodeAt(i))) i++
  return i
}

/** Longest SQL token quoted back by an error message that is kept (after redaction). */
const MAX_ERROR_TOKEN = 200

/**
 * Where SQLite quotes a piece of the statement back in its error text: the piece runs from `open`
 * to the last `close`, since the piece itself may hold the closing characters (`near "'a"b'"`).
 * `literal` pieces are always data; the others are redacted as SQL.
 */
const QUOTED_BY_SQLITE: readonly { open: string; close: string; literal: boolean }[] = [
  { open: 'near "', close: '": syntax error', literal: false },
  { open: 'unrecognized token: "', close: '"', literal: false },
  // SQLite's hint that a double-quoted "identifier" was meant as a string.
  { open: 'no such column: "', close: '" - should this be a string literal', literal: true },
  { open: 'hex literal too big: ', close: '', literal: true },
]

/**
 * Redacts the literals that SQLite copies from a statement into its error messages, as
 * {@link redactSql} does for SQL text, so an error kept with an event holds no more of the data than
 * its SQL does: `near "'secret'": syntax error` → `near "?": syntax error`, `unrecognized token:
 * "'secret"` → `unrecognized token: "?"`, `hex literal too big: 0x…` → `hex literal too big: ?`, and
 * any other single-quoted string (`bad JSON path: 'secret'`, `CHECK constraint failed: a <> 'x'`)
 * → `?`. Identifiers stay, as in SQL text; an apostrophe inside a word (`can't`) is not a quote.
 * Linear time in the message.
 */
export function redactSqlError(message: string): string {
  if (typeof message !== 'string') {
    throw new TypeError(`redactSqlError(message): message must be a string, got ${typeof message}`)
  }
  for (const q of QUOTED_BY_SQLITE) {
    const start = message.indexOf(q.open)
    if (start < 0) continue
    const from = start + q.open.length
    const end = q.close === '' ? message.length : message.lastIndexOf(q.close)
    if (end < from) continue
    const piece = message.slice(from, end)
    const redacted = q.literal ? '?' : redactSql(piece, MAX_ERROR_TOKEN)
    return `${redactQuoted(message.slice(0, from))}${redacted}${redactQuoted(message.slice(end))}`
  }
  return redactQuoted(message)
}

/** Replaces each single-quoted string (with `''` escapes) by `?`; an unclosed one runs to the end. */
function redactQuoted(text: string): string {
  let out = ''
  let from = 0
  let i = text.indexOf("'")
  while (i >= 0) {
    // An apostrophe inside or at the end of a word (can't, users') does not open a string; X'..' does.
    if (i > 0 && isIdent(text.charCodeAt(i - 1)) && !isBlobPrefix(text, i - 1)) {
      i = text.indexOf("'", i + 1)
      continue
    }
    out += `${text.slice(from, i)}?`
    from = skipString(text, i + 1, QUOTE)
    i = text.indexOf("'", from)
  }
  return from === 0 ? text : out + text.slice(from)
}

/** Whether `text[at]` is the lone `x`/`X` of a blob literal `X'..'`. */
function isBlobPrefix(text: string, at: number): boolean {
  return (text.charCodeAt(at) | 32) === 120 && (at === 0 || !isIdent(text.charCodeAt(at - 1)))
}
