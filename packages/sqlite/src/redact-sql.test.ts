import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { MAX_SQL_LENGTH, redactSql, redactSqlError } from './redact-sql.js'

describe('redactSql', () => {
  it.each([
    ["SELECT * FROM users WHERE email = 'alice@example.com'", 'SELECT * FROM users WHERE email = ?'],
    ["SELECT * FROM t WHERE name = 'O''Brien' AND x = 'it''s'", 'SELECT * FROM t WHERE name = ? AND x = ?'],
    [
      'SELECT * FROM t WHERE a = 42 AND b = 3.14 AND c = .5 AND d = 1e-3 AND e = 0x1F',
      'SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ? AND e = ?',
    ],
    ["INSERT INTO blobs VALUES (X'DEADBEEF', x'00')", 'INSERT INTO blobs VALUES (?, ?)'],
    ['SELECT * FROM t WHERE ok = TRUE OR ok = false', 'SELECT * FROM t WHERE ok = ? OR ok = ?'],
    ['SELECT * FROM t WHERE id IN (1, 2, 3)', 'SELECT * FROM t WHERE id IN (?)'],
    ["SELECT * FROM t WHERE id in ('a','b', -3)", 'SELECT * FROM t WHERE id in (?)'],
    ['SELECT * FROM t WHERE id IN (?, ?, ?)', 'SELECT * FROM t WHERE id IN (?)'],
    [
      'SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE n = 5)',
      'SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE n = ?)',
    ],
    ['SELECT * FROM t -- secret 123\nWHERE a = 1 /* pw: hunter2 */', 'SELECT * FROM t WHERE a = ?'],
    [
      'SELECT * FROM t WHERE a = ? AND b = ?1 AND c = :name AND d = @who AND e = $v',
      'SELECT * FROM t WHERE a = ? AND b = ?1 AND c = :name AND d = @who AND e = $v',
    ],
    [
      'SELECT "weird col", `t2`.[x y] FROM "My Table" t2',
      'SELECT "weird col", `t2`.[x y] FROM "My Table" t2',
    ],
    ['SELECT col1, t2.col3 FROM tab1 WHERE x1 = 7', 'SELECT col1, t2.col3 FROM tab1 WHERE x1 = ?'],
    ['  SELECT\n\t1  ;  ', 'SELECT ?;'],
    ["SELECT 'unterminated", 'SELECT ?'],
    ['SELECT 1 /* unterminated comment', 'SELECT ?'],
    ['UPDATE t SET n = n - 1 WHERE id = -5', 'UPDATE t SET n = n - ? WHERE id = -?'],
  ])('%s', (input, expected) => {
    expect(redactSql(input)).toBe(expected)
  })

  it('never lets a literal through: digits and quoted text are gone from randomised statements', () => {
    for (let k = 0; k < 200; k++) {
      const secret = `s${k}x${Math.random().toString(36).slice(2)}`
      const num = Math.floor(Math.random() * 1e9) + 1000
      const sql = `SELECT a FROM t WHERE x = '${secret}' AND y = ${num} AND z IN (${num}, '${secret}')`
      const out = redactSql(sql)
      expect(out).not.toContain(secret)
      expect(out).not.toContain(String(num))
    }
  })

  it(`caps the text at ${MAX_SQL_LENGTH} characters`, () => {
    const sql = `SELECT ${Array.from({ length: 2000 }, (_, i) => `col${i}`).join(', ')} FROM t`
    const out = redactSql(sql)
    expect(out.length).toBe(MAX_SQL_LENGTH)
    expect(out.endsWith('…')).toBe(true)
  })

  it('keeps a cut IN list and a cut string redacted', () => {
    const sql = `SELECT * FROM t WHERE id IN (${'12345, '.repeat(2000)}`
    expect(redactSql(sql)).not.toMatch(/\d/)
    expect(redactSql(`SELECT '${'x'.repeat(5000)}`)).toBe('SELECT ?')
  })

  it('handles 128 KB of adversarial SQL in one linear pass', () => {
    const size = 128 * 1024
    const inputs = [
      "'".repeat(size),
      "''".repeat(size / 2),
      '/*'.repeat(size / 2),
      '-'.repeat(size),
      'IN ('.repeat(size / 4),
      'IN (1,'.repeat(size / 6),
      'IN (1) '.repeat(size / 7),
      "X'".repeat(size / 2),
      '1e'.repeat(size / 2),
      '"'.repeat(size),
      '['.repeat(size),
      '?'.repeat(size),
      ':a'.repeat(size / 2),
    ]
    for (const sql of inputs) {
      const out = redactSql(sql)
      expect(out.length).toBeLessThanOrEqual(MAX_SQL_LENGTH)
    }
  }, 60_000)

  it('rejects a non-string', () => {
    expect(() => redactSql(42 as unknown as string)).toThrow(/sql must be a string, got number/)
  })
})

describe('redactSqlError', () => {
  /** SQLite's own message for `sql`, from a real connection. */
  function sqliteError(sql: string): string {
    const db = new Database(':memory:')
    try {
      db.exec("CREATE TABLE t (a TEXT CHECK (a <> 'forbidden'), b TEXT)")
      db.prepare(sql).run()
    } catch (err) {
      return (err as Error).message
    } finally {
      db.close()
    }
    throw new Error(`${sql} did not fail`)
  }

  it.each([
    ["SELECT * FROM t WHERE a = 'secret", 'unrecognized token: "?"'],
    ["INSERT INTO t VALUES ('a' 'secret')", 'near "?": syntax error'],
    ["INSERT INTO t VALUES ('a' 'se\"cret')", 'near "?": syntax error'],
    ["INSERT INTO t VALUES ('a' 'it''s secret')", 'near "?": syntax error'],
    ["SELECT * FROM t WHERE a = x'secret'", 'unrecognized token: "?"'],
    ['SELECT * FROM t WHERE a = 12secret', 'unrecognized token: "?"'],
    ['SELECT 0x5ec2e7000000000000000000', 'hex literal too big: ?'],
    [
      'SELECT * FROM t WHERE a = "secret"',
      'no such column: "?" - should this be a string literal in single-quotes?',
    ],
    ["SELECT json_extract('{}', 'secret')", 'bad JSON path: ?'],
    ["INSERT INTO t (a) VALUES ('forbidden')", 'CHECK constraint failed: a <> ?'],
    // Identifiers stay, as in SQL text.
    ['SELECT * FROM t WHERE nothere = 1', 'no such column: nothere'],
    ['SELECT * FROM t WHERE a = 1 FROM', 'near "FROM": syntax error'],
    ['SELECT * FROM [missing', 'unrecognized token: "[missing"'],
  ])('%s', (sql, redacted) => {
    expect(redactSqlError(sqliteError(sql))).toBe(redacted)
  })

  it('leaves apostrophes inside words and messages without literals alone', () => {
    expect(redactSqlError("can't open the users' file")).toBe("can't open the users' file")
    expect(redactSqlError("can't parse 'secret'")).toBe("can't parse ?")
    expect(redactSqlError('NOT NULL constraint failed: t.a')).toBe('NOT NULL constraint failed: t.a')
    expect(redactSqlError("it is 'unclosed secret")).toBe('it is ?')
  })

  it('keeps a long quoted token short and takes linear time on hostile messages', () => {
    const big = `near "'${"x''".repeat(200_000)}'": syntax error`
    expect(redactSqlError(big)).toBe('near "?": syntax error')
    expect(redactSqlError("'".repeat(400_000))).not.toContain("''")
  })

  it('rejects a non-string', () => {
    expect(() => redactSqlError(undefined as unknown as string)).toThrow(
      /message must be a string, got undefined/,
    )
  })
})
