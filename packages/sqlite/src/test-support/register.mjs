// `node --conditions=@perf/source --import ./register.mjs child.mjs` runs a child on the TS source.
import { register } from 'node:module'

register('./ts-hooks.mjs', import.meta.url)
