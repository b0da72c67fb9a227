#!/usr/bin/env node
import { main } from './cli.js'

process.exitCode = await main(process.argv.slice(2), {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  // Colour only where a person reads it: not in pipes, CI logs or with NO_COLOR set.
  color: process.stdout.isTTY === true && !('NO_COLOR' in process.env),
  // Shown only when stderr is a terminal (progressLine checks), so pipes and CI logs never get it.
  progress: process.stderr,
})
