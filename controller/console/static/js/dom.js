// Tiny DOM helpers: elements are built with text nodes only (no innerHTML), so agent data can never inject markup.

/** h('a', {href, class, onclick}, child, ...): an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Show a message (an error by default) at the top of the page. */
export function flash(message, kind = 'error') {
  const box = document.getElementById('flash');
  box.replaceChildren(h('p', { class: `note ${kind}` }, message,
    h('button', { type: 'button', class: 'quiet', 'aria-label': 'Dismiss', onclick: () => box.replaceChildren() }, '×')));
}

/** An inline error block with the server's message. */
export function errorBox(err) {
  return h('p', { class: 'note error', role: 'alert' }, err && err.message ? err.message : String(err));
}

/** Run an action from a button: disable it meanwhile; a refusal shows the server's error. */
export async function act(button, action) {
  button.disabled = true;
  try {
    return await action();
  } catch (err) {
    flash(err.message || String(err));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function ago(iso) {
  if (!iso) return 'never';
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function days(iso) {
  return iso ? (Date.parse(iso) - Date.now()) / 86400000 : null;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** A status word as a badge (ok / bad / warn / neutral by its meaning). */
export function badge(status) {
  const good = ['online', 'started', 'succeeded', 'running'];
  const bad = ['offline', 'stopped', 'failed', 'cancelled'];
  const kind = good.includes(status) ? 'ok' : bad.includes(status) ? 'bad' : 'warn';
  return h('span', { class: `badge ${kind}` }, status || 'unknown');
}

/** A table whose cells carry their column name (the narrow layout shows it as a caption). */
export function table(columns, rows, { caption, className = '' } = {}) {
  const body = h('tbody');
  const fragment = document.createDocumentFragment();
  for (const row of rows) fragment.append(row instanceof Node ? row : tableRow(columns, row));
  body.append(fragment);
  return h('div', { class: 'scroll' },
    h('table', { class: `cards ${className}` },
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      body));
}

export function tableRow(columns, cells, attrs = {}, role = undefined) {
  return h('tr', attrs, cells.map((cell, i) => h('td', { 'data-label': columns[i], role }, cell)));
}

/** A button that copies `text` to the clipboard. */
export function copyButton(text, label = 'Copy') {
  const button = h('button', { type: 'button', class: 'quiet' }, label);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select and copy';
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
  return button;
}

/** Parse "k=v,k2=v2" into an object; throws on an item without "=". */
export function parseLabels(text) {
  const labels = {};
  for (const item of String(text || '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const at = item.indexOf('=');
    if (at < 1) throw new Error(`"${item}" is not key=value`);
    labels[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return labels;
}

export function labelText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(',');
}
