// @ts-check
// DOM helpers that only ever set text: nothing the monitor recorded is parsed as HTML.

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {unknown} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined && text !== null) node.textContent = String(text)
  return node
}

/**
 * @param {string} label
 * @param {string} value
 * @param {string} [sub]
 * @param {string} [flag]
 */
export function card(label, value, sub, flag) {
  const c = el('div', flag ? `card ${flag}` : 'card')
  c.append(el('div', 'card-label', label), el('div', 'card-value', value))
  if (sub) c.append(el('div', 'card-sub', sub))
  return c
}
