/** A cell: its text and, on a TTY, an ANSI colour. */
export interface Cell {
  readonly text: string
  readonly color?: 'red' | 'green' | 'yellow' | 'dim' | 'bold'
}

const CODES: Readonly<Record<NonNullable<Cell['color']>, string>> = {
  red: '31',
  green: '32',
  yellow: '33',
  dim: '2',
  bold: '1',
}

/**
 * Renders rows as columns aligned by the width of their text (numbers right-aligned, text left).
 * Colour codes are added after padding, so they never shift a column; `color: false` (not a TTY,
 * `NO_COLOR`) gives plain text for logs and pipes.
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly (Cell | string)[])[],
  color: boolean,
): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'string' ? { text: c } : c)))
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.text.length ?? 0)))
  const numeric = header.map(
    (_, i) => cells.length > 0 && cells.every((r) => /^[-+]?[\d.]/.test(r[i]?.text ?? '0')),
  )
  const paint = (c: Cell, i: number) => {
    const w = widths[i]!
    const padded = numeric[i] ? c.text.padStart(w) : c.text.padEnd(w)
    return color && c.color !== undefined ? `\u001b[${CODES[c.color]}m${padded}\u001b[0m` : padded
  }
  const line = (r: readonly Cell[]) => r.map(paint).join('  ').replace(/\s+$/, '')
  const head = line(header.map((h) => ({ text: h, color: 'bold' as const })))
  const rule = widths.map((w) => '─'.repeat(w)).join('  ')
  return [head, rule, ...cells.map(line)].join('\n')
}
