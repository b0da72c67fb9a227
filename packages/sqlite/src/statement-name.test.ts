import { describe, expect, it } from 'vitest'
import { SCAN_LIMIT, statementName, tokenize } from './statement-name.js'

describe('statementName', () => {
  it.each([
    ['SELECT * FROM notes WHERE id = ?', 'SELECT notes'],
    ['select id from Notes', 'SELECT Notes'],
    ['INSERT INTO notes (body) VALUES (?)', 'INSERT notes'],
    ['INSERT OR IGNORE INTO "tags" VALUES (?)', 'INSERT tags'],
    ['REPLACE INTO notes VALUES (1)', 'REPLACE notes'],
    ['UPDATE notes SET body = ? WHERE id = ?', 'UPDATE notes'],
    ['UPDATE OR ROLLBACK notes SET x = 1', 'UPDATE notes'],
    ['DELETE FROM notes WHERE id = 5', 'DELETE notes'],
    ['SELECT n.id, u.name FROM notes n JOIN users u ON u.id = n.user_id', 'SELECT notes'],
    ['SELECT count(*) FROM main.notes', 'SELECT notes'],
    ['SELECT (SELECT max(id) FROM tags) AS m FROM notes', 'SELECT notes'],
    ['SELECT * FROM (SELECT * FROM notes WHERE x = 1)', 'SELECT notes'],
    ['WITH recent AS (SELECT * FROM notes ORDER BY id DESC LIMIT 10) SELECT * FROM recent', 'SELECT notes'],
    ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c', 'SELECT'],
    ['WITH old AS (SELECT id FROM notes) DELETE FROM notes WHERE id IN (SELECT id FROM old)', 'DELETE notes'],
    ['WITH c(x) AS (SELECT 1) SELECT * FROM c, notes WHERE notes.id = c.x', 'SELECT notes'],
    ['WITH c AS (SELECT 1) SELECT * FROM c LEFT JOIN users u ON u.id = 1 JOIN notes', 'SELECT users'],
    ['SELECT * FROM notes JOIN users ON users.id = notes.user_id', 'SELECT notes'],
    ['SELECT a, b FROM notes', 'SELECT notes'],
    ['SELECT 1', 'SELECT'],
    ["SELECT 'FROM secret'", 'SELECT'],
    ['-- comment\n/* more */ SELECT * FROM notes', 'SELECT notes'],
    ['PRAGMA journal_mode = WAL', 'PRAGMA journal_mode'],
    ['PRAGMA main.cache_size', 'PRAGMA cache_size'],
    ['CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY)', 'CREATE TABLE notes'],
    ['CREATE UNIQUE INDEX notes_by_user ON notes (user_id)', 'CREATE INDEX notes_by_user'],
    ['DROP TABLE IF EXISTS notes', 'DROP TABLE notes'],
    ['ALTER TABLE notes ADD COLUMN x', 'ALTER TABLE notes'],
    ['BEGIN IMMEDIATE', 'BEGIN'],
    ['COMMIT', 'COMMIT'],
    ['END TRANSACTION', 'COMMIT'],
    ['ROLLBACK TO sp1', 'ROLLBACK'],
    ['VACUUM', 'VACUUM'],
    ['EXPLAIN QUERY PLAN SELECT * FROM notes', 'EXPLAIN'],
    ['', 'SQL'],
    ["'just a string'", 'SQL'],
  ])('%s → %s', (sql, name) => {
    expect(statementName(sql)).toBe(name)
  })

  it('never contains literals', () => {
    expect(statementName("INSERT INTO notes VALUES ('secret')")).toBe('INSERT notes')
    expect(statementName("UPDATE 'notes' SET a = 1")).toBe('UPDATE')
  })

  it("names the demo's recursive CTE after the first real table it reads, not the CTE", () => {
    // apps/demo/src/notes.ts, slowReport, as written there.
    const sql = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        SELECT count(*) AS hits FROM n JOIN notes ON notes.body LIKE '%' || (n.i % 97) || '%'`
    expect(statementName(sql)).toBe('SELECT notes')
  })

  it('reads nothing past SCAN_LIMIT, not even inside a quoted token', () => {
    // 3 MB of `""` escapes: unbounded, the identifier would run to its closing quote at the end.
    const sql = `SELECT * FROM "${'x""'.repeat(1_000_000)}" WHERE a = 1`
    const tokens = tokenize(sql)
    expect(tokens.map((tok) => tok.text).slice(0, 3)).toEqual(['SELECT', '*', 'FROM'])
    expect(tokens).toHaveLength(4)
    // What was read of it is what lies before the limit.
    expect(tokens[3]!.raw).toBe('x"'.repeat(Math.ceil((SCAN_LIMIT - 15) / 3)).slice(0, tokens[3]!.raw.length))
    expect(tokens[3]!.raw.length).toBeLessThan(SCAN_LIMIT)
    expect(statementName(sql)).toMatch(/^SELECT x"x"/)
  })
})
