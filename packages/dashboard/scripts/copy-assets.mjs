// Copies the page's static files into dist/: the client code from src/client and uPlot from its
// package, so the published dashboard serves its own chart library (no CDN).
import { cpSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'dist', 'client')
const require = createRequire(import.meta.url)
mkdirSync(join(out, 'vendor'), { recursive: true })
// The client folder's tsconfig.json only drives the type check of its modules; the browser never asks for it.
cpSync(join(root, 'src', 'client'), out, {
  recursive: true,
  filter: (src) => !src.endsWith('tsconfig.json'),
})
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) {
  cpSync(require.resolve(`uplot/dist/${file}`), join(out, 'vendor', file))
}
console.log('copied client assets and uPlot into dist/client')
