// Fleet: every agent with status, labels, version, site and pool counts, last heartbeat and certificate expiry.

import { call } from '../api.js';
import { ago, badge, days, h, labelText, parseLabels, tableRow } from '../dom.js';

const COLUMNS = ['Agent', 'Status', 'Labels', 'Version', 'Sites', 'Pools', 'Last heartbeat', 'Certificate'];
const EXPIRING_DAYS = 14;

function matches(agent, wanted) {
  return Object.entries(wanted).every(([k, v]) => agent.labels && agent.labels[k] === v);
}

function certCell(agent) {
  const left = days(agent.certificate_expires_on);
  if (left === null) return h('span', { class: 'muted' }, '—');
  const text = left < 0 ? 'expired' : left < 1 ? 'expires today' : `${Math.floor(left)} days`;
  return h('span', { class: left < EXPIRING_DAYS ? 'expiring' : '', title: agent.certificate_expires_on }, text);
}

function row(agent) {
  const facts = agent.facts || {};
  const expiring = (days(agent.certificate_expires_on) ?? 999) < EXPIRING_DAYS;
  // One click listener on the table handles every chip (data-filter), so 1,000 rows add no listeners.
  const labels = Object.entries(agent.labels || {}).map(([k, v]) =>
    h('button', { type: 'button', class: 'chip', title: `Show agents with ${k}=${v}`, dataset: { filter: `${k}=${v}` } }, `${k}=${v}`));
  const cls = [agent.status !== 'online' ? 'offline' : '', expiring ? 'expiring-row' : ''].join(' ').trim();
  return tableRow(COLUMNS, [
    h('a', { href: `#/agents/${encodeURIComponent(agent.id)}` }, agent.name),
    badge(agent.status),
    h('span', { class: 'chips' }, labels),
    facts.agent_version || '—',
    String(facts.site_count ?? 0),
    String(facts.pool_count ?? 0),
    h('span', { title: agent.last_seen || '' }, ago(agent.last_seen)),
    certCell(agent),
  ], { class: cls || null, role: 'row', dataset: { agent: agent.id, status: agent.status } }, 'cell');
}

export default async function fleet(ctx, query) {
  document.title = 'Fleet · IIS Fleet';
  const initial = new URLSearchParams(query || '').get('labels') || '';
  const filter = h('input', { id: 'filter', type: 'search', value: initial, placeholder: 'env=prod,role=web', list: 'label-options', autocomplete: 'off' });
  const options = h('datalist', { id: 'label-options' });
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const holder = h('div', { class: 'fleet-table' });
  const problem = h('div');
  let agents = [];

  function setFilter(text) {
    filter.value = text;
    draw();
  }

  function chipClick(event) {
    const chip = event.target.closest('button[data-filter]');
    if (chip) setFilter(chip.dataset.filter);
  }

  function draw() {
    let wanted = {};
    try {
      wanted = parseLabels(filter.value);
      filter.setCustomValidity('');
    } catch (err) {
      filter.setCustomValidity(err.message);
      filter.reportValidity();
    }
    const shown = agents.filter((a) => matches(a, wanted));
    const offline = shown.filter((a) => a.status !== 'online').length;
    const expiring = shown.filter((a) => (days(a.certificate_expires_on) ?? 999) < EXPIRING_DAYS).length;
    summary.replaceChildren(
      h('strong', {}, `${shown.length} agents`), ` of ${agents.length} · `,
      h('span', { class: 'ok-text' }, `${shown.length - offline} online`), ' · ',
      h('span', { class: offline ? 'bad-text' : '' }, `${offline} offline`), ' · ',
      h('span', { class: expiring ? 'warn-text' : '' }, `${expiring} certificates expiring`));
    const body = h('tbody', { role: 'rowgroup' });
    const fragment = document.createDocumentFragment();
    for (const agent of shown) fragment.append(row(agent));
    body.append(fragment);
    holder.replaceChildren(h('div', { class: 'scroll' }, h('table', { class: 'cards fleet', id: 'agents', role: 'table', onclick: chipClick },
      h('caption', { class: 'visually-hidden' }, 'Agents'),
      h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, COLUMNS.map((c) => h('th', { scope: 'col', role: 'columnheader' }, c)))),
      body)));
    const next = labelText(wanted);
    history.replaceState(null, '', next ? `#/fleet?labels=${encodeURIComponent(next)}` : '#/fleet');
  }

  async function load() {
    try {
      agents = (await call('GET', '/api/agents', undefined, { signal: ctx.signal })).agents;
      performance.mark('fleet-data');
      problem.replaceChildren();
    } catch (err) {
      if (!ctx.alive()) return;
      problem.replaceChildren(h('p', { class: 'note error', role: 'alert' }, err.message));
      return;
    }
    if (!ctx.alive()) return;
    const pairs = new Set(agents.flatMap((a) => Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`)));
    options.replaceChildren(...[...pairs].sort().map((p) => h('option', { value: p })));
    draw();
  }

  filter.addEventListener('input', draw);
  ctx.main.replaceChildren(
    h('h1', {}, 'Fleet'),
    h('div', { class: 'toolbar' }, h('label', { for: 'filter' }, 'Filter by label'), filter, options,
      h('button', { type: 'button', class: 'quiet', onclick: () => setFilter('') }, 'Clear')),
    summary, problem, holder);
  await load();
  performance.mark('fleet-rendered');
  // The next frame has been laid out and painted: what bench/console_fleet.py times.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  performance.mark('fleet-painted');
  document.body.dataset.page = 'fleet';
  ctx.every(10000, load);
}
