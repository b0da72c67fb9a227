import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** A static file of the page. */
export interface Asset {
  readonly body: Uint8Array
  readonly type: string
}

/**
 * The page's script modules (`app.js` is the entry; it imports the others by relative URL, so each is
 * asked for as `assets/<name>`). A module missing here would 404 and stop the whole page.
 */
export const CLIENT_MODULES: readonly string[] = [
  'app.js',
  'state.js',
  'format.js',
  'dom.js',
  'summary.js',
  'charts.js',
  'tables.js',
  'compare.js',
]

const JS = 'text/javascript; charset=utf-8'

/** The files served under `assets/`, by name: where they live next to this module, and their type. */
const FILES: Record<string, { file: string; vendor?: string; type: string }> = {
  ...Object.fromEntries(CLIENT_MODULES.map((name) => [name, { file: `client/${name}`, type: JS }])),
  'app.css': { file: 'client/app.css', type: 'text/css; charset=utf-8' },
  // Linked from every page, so a browser never asks the app's own /favicon.ico (a 404 in its stats).
  'favicon.svg': { file: 'client/favicon.svg', type: 'image/svg+xml' },
  'uplot.js': {
    file: 'client/vendor/uPlot.iife.min.js',
    vendor: 'uplot/dist/uPlot.iife.min.js',
    type: JS,
  },
  'uplot.css': {
    file: 'client/vendor/uPlot.min.css',
    vendor: 'uplot/dist/uPlot.min.css',
    type: 'text/css; charset=utf-8',
  },
}

const cache = new Map<string, Promise<Asset | undefined>>()

/**
 * Loads a static asset once and keeps it in memory. The build copies uPlot into `dist/client/vendor`;
 * running from source (tests, development) it comes from the `uplot` package instead.
 */
export function loadAsset(name: string): Promise<Asset | undefined> {
  const entry = Object.hasOwn(FILES, name) ? FILES[name] : undefined
  if (entry === undefined) return Promise.resolve(undefined)
  let pending = cache.get(name)
  if (pending === undefined) {
    pending = read(entry.file, entry.vendor).then((body) => ({ body, type: entry.type }))
    // A failed read is not cached, so a later request can succeed.
    pending.catch(() => cache.delete(name))
    cache.set(name, pending)
  }
  return pending
}

async function read(file: string, vendor: string | undefined): Promise<Uint8Array> {
  try {
    return await readFile(fileURLToPath(new URL(file, import.meta.url)))
  } catch (err) {
    if (vendor === undefined) throw err
    return await readFile(createRequire(import.meta.url).resolve(vendor))
  }
}
