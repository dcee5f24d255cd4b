// Admin: operator keys (create with role, scope and expiry; revoke), join tokens with the agent's command line,
// and the audit log. Viewers see the lists; the server decides what each role may change.

import { call, isAdmin } from '../api.js';
import { act, copyButton, errorBox, h, parseLabels, table, when } from '../dom.js';

export const KEYS_PATH = '/api/keys';

function field(id, label, input) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

function scopeText(scope) {
  const pairs = Object.entries(scope || {});
  return pairs.length ? pairs.map(([k, v]) => `${k}=${v}`).join(',') : 'every agent';
}

async function keysSection(ctx) {
  const section = h('section', { class: 'panel', 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'Operator keys'));
  const listing = h('div');
  const created = h('div', { 'aria-live': 'polite' });

  async function load() {
    if (!isAdmin()) {
      listing.replaceChildren(h('p', { class: 'muted' }, 'Operator keys are managed by admins.'));
      return;
    }
    try {
      const answer = await call('GET', KEYS_PATH, undefined, { signal: ctx.signal });
      const rows = (answer.keys || []).map((key) => {
        const revoke = isAdmin() && !key.revoked_on ? h('button', { type: 'button', class: 'danger small', dataset: { key: key.id } }, 'Revoke') : null;
        if (revoke) {
          revoke.addEventListener('click', () => {
            if (!window.confirm(`Revoke key ${key.id} (${key.purpose})? Its token stops working at once.`)) return;
            act(revoke, async () => { await call('DELETE', `${KEYS_PATH}/${encodeURIComponent(key.id)}`); await load(); });
          });
        }
        return [h('code', {}, key.id), key.purpose, key.role, scopeText(key.scope), when(key.created_on),
          key.expires_on ? when(key.expires_on) : 'never', key.last_used ? when(key.last_used) : '—',
          key.revoked_on ? `revoked ${when(key.revoked_on)}` : revoke];
      });
      listing.replaceChildren(table(['Key', 'Purpose', 'Role', 'Scope', 'Created', 'Expires', 'Last used', ''], rows));
    } catch (err) {
      if (ctx.alive()) listing.replaceChildren(errorBox(err));
    }
  }

  section.append(listing);
  if (isAdmin()) {
    const purpose = h('input', { type: 'text', required: true, maxlength: 200 });
    const role = h('select', {}, ['viewer', 'operator', 'admin'].map((r) => h('option', { value: r }, r)));
    const scope = h('input', { type: 'text', placeholder: 'env=staging (empty: every agent)' });
    const expires = h('input', { type: 'text', placeholder: '30d (empty: never)' });
    const button = h('button', { type: 'submit' }, 'Create key');
    const form = h('form', { class: 'inline-form', 'aria-label': 'Create an operator key' },
      field('key-purpose', 'Purpose', purpose), field('key-role', 'Role', role), field('key-scope', 'Label scope', scope),
      field('key-expires', 'Expires after', expires), button);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      act(button, async () => {
        const body = { purpose: purpose.value.trim(), role: role.value, scope: parseLabels(scope.value) };
        if (expires.value.trim()) body.expires = expires.value.trim();
        const answer = await call('POST', KEYS_PATH, body);
        created.replaceChildren(h('div', { class: 'note ok' }, h('p', {}, `Key ${answer.key ? answer.key.id : ''} created. Copy the token now: it is not shown again.`),
          h('pre', {}, h('code', { class: 'secret' }, answer.token)), copyButton(answer.token, 'Copy token')));
        purpose.value = '';
        await load();
      });
    });
    section.append(h('h3', {}, 'New key'), form, created);
  }
  await load();
  return section;
}

function joinSection() {
  const section = h('section', { class: 'panel', 'aria-labelledby': 'join-h' }, h('h2', { id: 'join-h' }, 'Join tokens'));
  if (!isAdmin()) {
    section.append(h('p', { class: 'muted' }, 'Join tokens are made by admins.'));
    return section;
  }
  const labels = h('input', { type: 'text', placeholder: 'env=prod,role=web' });
  const ttl = h('input', { type: 'text', value: '1h' });
  const button = h('button', { type: 'submit' }, 'Create join token');
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'inline-form', 'aria-label': 'Create a join token' },
    field('join-labels', 'Labels for the agent', labels), field('join-ttl', 'Valid for', ttl), button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(button, async () => {
      const answer = await call('POST', '/api/join-tokens', { labels: parseLabels(labels.value), ttl: ttl.value.trim() || '1h' });
      // The token goes in on stdin, not as an argument, so it never shows in the process list.
      const command = `echo '${answer.token}' | iisfleet agent run --state-dir /var/lib/iisfleet-agent --controller ${location.origin} --join-token-file -`;
      out.replaceChildren(h('div', { class: 'note ok' },
        h('p', {}, `Single use, valid for ${Math.round(answer.expires_in / 60)} minutes. Run this on the new server:`),
        h('pre', {}, h('code', { class: 'command' }, command)), copyButton(command, 'Copy command line')));
    });
  });
  section.append(form, out);
  return section;
}

async function auditSection(ctx) {
  const section = h('section', { class: 'panel', 'aria-labelledby': 'audit-h' }, h('h2', { id: 'audit-h' }, 'Audit log'));
  try {
    const answer = await call('GET', '/api/audit?limit=100', undefined, { signal: ctx.signal });
    const rows = answer.entries.map((e) => [e.ts ? new Date(Number(e.ts) * 1000).toLocaleString() : e.id, h('code', {}, e.operator || '—'),
      e.method || e.action || '', h('code', { class: 'path' }, e.path || e.detail || ''), e.agent || '', e.status || '']);
    section.append(rows.length ? table(['Time', 'Operator', 'Method', 'Path', 'Agent', 'Status'], rows) : h('p', { class: 'muted' }, 'Nothing audited yet.'));
  } catch (err) {
    section.append(errorBox(err));
  }
  return section;
}

export default async function admin(ctx) {
  document.title = 'Admin · IIS Fleet';
  const [keys, audit] = await Promise.all([keysSection(ctx), auditSection(ctx)]);
  if (!ctx.alive()) return;
  ctx.main.replaceChildren(h('h1', {}, 'Admin'), keys, joinSection(), audit);
  document.body.dataset.page = 'admin';
}
