/**
 * How much of a statement is looked at to name it, in characters; names come from its first clauses.
 * Nothing past it is read, not even to find where a quoted token or comment ends, so naming costs
 * the same for a 3 MB statement as for a 64 KB one.
 */
export const SCAN_LIMIT = 65_536
const MAX_TABLE_LENGTH = 64

/** One token of a statement. Exported for tests only (not part of the package's entry). */
export interface Token {
  /** `w` bare word, `i` quoted identifier, `s` string/blob literal, `p` punctuation. */
  readonly kind: 'w' | 'i' | 's' | 'p'
  /** The word upper-cased, the identifier unquoted, or the punctuation character. */
  readonly text: string
  /** The word as written (for table names). */
  readonly raw: string
  /** Parenthesis depth at the token. */
  readonly depth: number
}

function isIdentChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36 || c > 127
  )
}

/**
 * Splits the first {@link SCAN_LIMIT} characters of `sql` into tokens; a quoted token or comment cut
 * by the limit ends there. Exported for tests only (not part of the package's entry).
 */
export function tokenize(source: string): Token[] {
  // Cutting first bounds every search below (`indexOf` for a closing quote, `*/` or newline) too.
  const sql = source.length > SCAN_LIMIT ? source.slice(0, SCAN_LIMIT) : source
  const out: Token[] = []
  const n = sql.length
  let depth = 0
  let i = 0
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c <= 32) {
      i++
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const e = sql.indexOf('\n', i)
      i = e < 0 ? n : e + 1
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const e = sql.indexOf('*/', i + 2)
      i = e < 0 ? n : e + 2
    } else if (c === 39 || c === 34 || c === 96 || c === 91) {
      const close = c === 91 ? ']' : sql[i]!
      let j = i + 1
      let escaped = false
      for (;;) {
        const e = sql.indexOf(close, j)
        if (e < 0) {
          j = n
          break
        }
        if (close !== ']' && sql[e + 1] === close) {
          escaped = true
          j = e + 2
          continue
        }
        j = e + 1
        break
      }
      if (c === 39) {
        // A string literal never names anything: its text is not kept (nor compared with keywords).
        out.push({ kind: 's', text: '', raw: '', depth })
      } else {
        let text = sql.slice(i + 1, sql[j - 1] === close && j - 1 > i ? j - 1 : j)
        if (escaped) text = text.replaceAll(close + close, close)
        out.push({ kind: 'i', text, raw: text, depth })
      }
      i = j
    } else if (isIdentChar(c)) {
      let j = i + 1
      while (j < n && isIdentChar(sql.charCodeAt(j))) j++
      const raw = sql.slice(i, j)
      out.push({ kind: 'w', text: raw.toUpperCase(), raw, depth })
      i = j
    } else {
      if (c === 41) depth = Math.max(0, depth - 1)
      out.push({ kind: 'p', text: sql[i]!, raw: sql[i]!, depth })
      if (c === 40) depth++
      i++
    }
  }
  return out
}

const VERBS = new Set(['SELECT', 'INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'VALUES'])

/**
 * Names a statement `VERB table` (`SELECT notes`, `INSERT notes`, `UPDATE notes`, `DELETE notes`)
 * from its SQL, for grouping executions into ops. Best effort for everything else: the verb of the
 * main statement of a CTE, the first table of a join, `PRAGMA name`, `CREATE TABLE name`,
 * `BEGIN`/`COMMIT`/`ROLLBACK`. Never contains literals or anything past the table name.
 */
export function statementName(sql: string): string {
  const t = tokenize(sql)
  let k = 0
  // Leading `;` or `(` (a parenthesised select) carry no meaning.
  while (k < t.length && t[k]!.kind === 'p') k++
  const first = t[k]
  if (first === undefined || first.kind !== 'w') return 'SQL'
  const verb = first.text
  switch (verb) {
    case 'WITH':
      return withName(t, k + 1)
    case 'SELECT':
    case 'VALUES':
      return selectName(t, k, new Set())
    case 'INSERT':
    case 'REPLACE':
      return named(verb, afterWord(t, k, 'INTO'))
    case 'UPDATE':
      return named(verb, skipOr(t, k + 1))
    case 'DELETE':
      return named(verb, afterWord(t, k, 'FROM'))
    case 'PRAGMA': {
      // `PRAGMA main.cache_size = 10` → `PRAGMA cache_size`
      let j = k + 1
      if (t[j + 1]?.text === '.') j += 2
      return named('PRAGMA', t[j])
    }
    case 'CREATE':
    case 'DROP':
    case 'ALTER':
      return ddlName(verb, t, k + 1)
    case 'BEGIN':
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'RELEASE':
      return verb === 'END' ? 'COMMIT' : verb
    case 'EXPLAIN':
      return 'EXPLAIN'
    default:
      return verb.length <= 20 && /^[A-Z_]+$/.test(verb) ? verb : 'SQL'
  }
}

function named(verb: string, table: Token | undefined): string {
  if (table === undefined || (table.kind !== 'w' && table.kind !== 'i')) return verb
  return `${verb} ${table.raw.slice(0, MAX_TABLE_LENGTH)}`
}

/** `schema.table` → the table token. */
function tableAt(t: Token[], j: number): Token | undefined {
  if (t[j + 1]?.text === '.' && t[j + 2] !== undefined) return t[j + 2]
  return t[j]
}

function afterWord(t: Token[], k: number, word: string): Token | undefined {
  for (let j = k + 1; j < t.length && j < k + 8; j++) {
    if (t[j]!.kind === 'w' && t[j]!.text === word) return tableAt(t, j + 1)
  }
  return undefined
}

/** `UPDATE OR REPLACE notes` → notes */
function skipOr(t: Token[], j: number): Token | undefined {
  if (t[j]?.text === 'OR' && t[j]!.kind === 'w') j += 2
  return tableAt(t, j)
}

/** Words that end a FROM clause: a comma after them no longer separates tables. */
const AFTER_FROM = new Set([
  'WHERE',
  'GROUP',
  'HAVING',
  'WINDOW',
  'ORDER',
  'LIMIT',
  'UNION',
  'EXCEPT',
  'INTERSECT',
])

/**
 * The first real table read by the SELECT at `k`: the first table of its FROM clause (after FROM,
 * JOIN or a comma) that is not a CTE name, else the first such table of a nested select.
 */
function selectName(t: Token[], k: number, ctes: Set<string>, verb = 'SELECT'): string {
  const depth = t[k]?.depth ?? 0
  let fallback: Token | undefined
  /** Per parenthesis depth: whether a FROM clause is being read there. */
  const inFrom: boolean[] = []
  for (let j = k + 1; j < t.length; j++) {
    const tok = t[j]!
    const d = tok.depth
    let opens = false
    if (tok.kind === 'w') {
      if (tok.text === 'FROM') opens = inFrom[d] = true
      else if (tok.text === 'SELECT' || AFTER_FROM.has(tok.text)) inFrom[d] = false
      else opens = tok.text === 'JOIN' && inFrom[d] === true
    } else {
      opens = tok.kind === 'p' && tok.text === ',' && inFrom[d] === true
    }
    if (!opens) continue
    const table = tableAt(t, j + 1)
    if (table === undefined || (table.kind !== 'w' && table.kind !== 'i')) continue
    // A CTE's own name (a recursive one included) is not a real table.
    if (ctes.has(table.raw.toLowerCase())) continue
    if (tok.depth === depth) return named(verb, table)
    fallback ??= table
  }
  return named(verb, fallback)
}

function withName(t: Token[], k: number): string {
  // WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (...), ... main-statement
  const ctes = new Set<string>()
  let j = k
  if (t[j]?.text === 'RECURSIVE') j++
  const depth = t[k - 1]?.depth ?? 0
  for (; j < t.length; j++) {
    const tok = t[j]!
    if (tok.depth !== depth) continue
    if ((tok.kind === 'w' || tok.kind === 'i') && t[j + 1]?.text === 'AS') ctes.add(tok.raw.toLowerCase())
    if ((tok.kind === 'w' || tok.kind === 'i') && t[j + 1]?.text === '(' && t[j + 1]!.depth === depth) {
      // name(cols) AS
      let m = j + 2
      while (m < t.length && t[m]!.depth > depth) m++
      if (t[m + 1]?.text === 'AS') ctes.add(tok.raw.toLowerCase())
    }
    if (tok.kind === 'w' && VERBS.has(tok.text) && t[j - 1]?.text !== 'AS') {
      switch (tok.text) {
        case 'INSERT':
        case 'REPLACE':
          return named(tok.text, afterWord(t, j, 'INTO'))
        case 'UPDATE':
          return named('UPDATE', skipOr(t, j + 1))
        case 'DELETE':
          return named('DELETE', afterWord(t, j, 'FROM'))
        default: {
          // The main SELECT reads only CTEs: name it after the first real table they read.
          const main = selectName(t, j, ctes)
          return main !== 'SELECT' ? main : selectName(t, k - 1, ctes)
        }
      }
    }
  }
  return 'WITH'
}

function ddlName(verb: string, t: Token[], k: number): string {
  // CREATE [TEMP|TEMPORARY] [UNIQUE] [VIRTUAL] TABLE|INDEX|VIEW|TRIGGER [IF [NOT] EXISTS] name
  let j = k
  while (j < t.length && j < k + 4) {
    const w = t[j]!.text
    if (w === 'TABLE' || w === 'INDEX' || w === 'VIEW' || w === 'TRIGGER' || w === 'COLUMN') break
    j++
  }
  const kind = t[j]
  if (kind === undefined || kind.kind !== 'w') return verb
  j++
  if (t[j]?.text === 'IF') j += t[j + 1]?.text === 'NOT' ? 3 : 2
  return named(`${verb} ${kind.text}`, tableAt(t, j))
}
