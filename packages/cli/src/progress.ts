/** Where `perf` may show progress: a stream that says whether it is a terminal (as `process.stderr`). */
export interface ProgressStream {
  readonly isTTY?: boolean | undefined
  write(text: string): unknown
}

/** A progress line for one long read. */
export interface Progress {
  /** Rows read so far of `total`; redraws the line when the whole percentage changes. */
  update(read: number, total: number): void
  /** Clears the line (if one was drawn), so the output that follows starts clean. */
  done(): void
}

const nf = new Intl.NumberFormat('en-US')

/**
 * A progress line (`reading perf.db: rows 40 % (1,234 of 3,085)`) redrawn in place on `stream`, only
 * when it is a terminal: in a pipe, a file or a CI log nothing is written at all, so the output a
 * script reads never holds it.
 */
export function progressLine(stream: ProgressStream | undefined, label: string): Progress {
  if (stream?.isTTY !== true) return { update() {}, done() {} }
  let shown = -1
  return {
    update(read: number, total: number) {
      const percent = total > 0 ? Math.min(100, Math.floor((read / total) * 100)) : 100
      if (percent === shown) return
      shown = percent
      // \r back to the line's start, ESC[K erases what a longer previous line left.
      stream.write(`\r${label}: rows ${percent} % (${nf.format(read)} of ${nf.format(total)})\u001b[K`)
    },
    done() {
      if (shown >= 0) stream.write('\r\u001b[K')
      shown = -1
    },
  }
}
