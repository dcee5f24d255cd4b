// Deploy: upload a folder or an archive, choose site, selector and strategy, follow the rollout, roll back.

import { call, canOperate, iis, startJob } from '../api.js';
import { errorBox, h, labelText, parseLabels } from '../dom.js';
import { jobPanel } from '../follow.js';
import { tarFolder } from '../tar.js';

function field(id, label, input, hint) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

export default async function deploy(ctx) {
  document.title = 'Deploy · IIS Fleet';
  const agents = (await call('GET', '/api/agents', undefined, { signal: ctx.signal })).agents;
  if (!ctx.alive()) return;
  if (!canOperate()) {
    ctx.main.replaceChildren(h('h1', {}, 'Deploy'), h('p', { class: 'note' }, 'Your role is viewer: deploys need the operator role.'));
    document.body.dataset.page = 'deploy';
    return;
  }
  const archive = h('input', { type: 'file', name: 'archive', accept: '.zip,.tar,.tar.gz,.tgz' });
  const folder = h('input', { type: 'file', name: 'folder', webkitdirectory: true, multiple: true });
  const site = h('input', { type: 'text', name: 'site', required: true, list: 'site-options', autocomplete: 'off' });
  const siteOptions = h('datalist', { id: 'site-options' });
  const selector = h('input', { type: 'text', name: 'selector', placeholder: 'env=prod (empty: every agent)', autocomplete: 'off' });
  const matched = h('small', { class: 'muted', 'aria-live': 'polite' });
  const batch = h('input', { type: 'number', name: 'batch', min: 0, value: 0 });
  const maxFailures = h('input', { type: 'number', name: 'max_failures', min: 1 });
  const healthPath = h('input', { type: 'text', name: 'health_path', placeholder: '/' });
  const healthText = h('input', { type: 'text', name: 'health_contains' });
  const submit = h('button', { type: 'submit' }, 'Upload and deploy');
  const rollback = h('button', { type: 'button', class: 'danger' }, 'Roll back');
  const status = h('div', { class: 'deploy-status', 'aria-live': 'polite' });
  const follow = h('div', { class: 'activity' });

  function selected() {
    const labels = parseLabels(selector.value);
    return agents.filter((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v));
  }
  function showMatch() {
    try {
      const hits = selected();
      selector.setCustomValidity('');
      matched.textContent = `matches ${hits.length} agent${hits.length === 1 ? '' : 's'}: ${hits.slice(0, 8).map((a) => a.name).join(', ')}${hits.length > 8 ? ', …' : ''}`;
    } catch (err) {
      selector.setCustomValidity(err.message);
      matched.textContent = err.message;
    }
  }
  selector.addEventListener('input', showMatch);
  showMatch();

  function strategy() {
    const value = { batch_size: Number(batch.value || 0) };
    if (maxFailures.value) value.max_failures = Number(maxFailures.value);
    if (healthPath.value || healthText.value) {
      value.health_check = { path: healthPath.value || '/', ...(healthText.value ? { contains: healthText.value } : {}) };
    }
    return value;
  }

  async function run(build) {
    status.replaceChildren();
    submit.disabled = true;
    rollback.disabled = true;
    try {
      const job = await build();
      const panel = jobPanel(job.id, ctx.signal);
      follow.prepend(panel.element);
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      submit.disabled = false;
      rollback.disabled = false;
    }
  }

  const form = h('form', { class: 'panel', 'aria-labelledby': 'deploy-h' },
    h('h2', { id: 'deploy-h' }, 'New deploy'),
    h('fieldset', {}, h('legend', {}, 'Content: an archive or a folder'),
      field('archive', 'Archive (zip, tar, tar.gz)', archive), field('folder', 'or a folder', folder)),
    field('site', 'Site', site, 'the site must exist on every targeted agent'), siteOptions,
    field('selector', 'Agents (label selector)', selector), matched,
    h('fieldset', {}, h('legend', {}, 'Strategy'),
      field('batch', 'Batch size (0: all at once)', batch), field('max-failures', 'Stop after this many failures', maxFailures),
      field('health-path', 'Health check path', healthPath), field('health-contains', 'Health check answer contains', healthText)),
    h('div', { class: 'actions' }, submit, rollback), status);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run(async () => {
      let blob;
      let name;
      if (archive.files.length) {
        blob = archive.files[0];
        name = blob.name;
      } else if (folder.files.length) {
        blob = tarFolder([...folder.files]);
        name = `${(folder.files[0].webkitRelativePath || 'folder').split('/')[0]}.tar`;
      } else {
        throw new Error('choose an archive or a folder to deploy');
      }
      status.replaceChildren(h('p', { class: 'muted' }, `Uploading ${name} (${blob.size} bytes)…`));
      const artifact = await call('POST', `/api/artifacts?name=${encodeURIComponent(name)}`, blob);
      status.replaceChildren(h('p', { class: 'muted' }, `Artifact ${artifact.sha256.slice(0, 12)}: ${artifact.files} files`));
      return startJob('files.deploy', { labels: parseLabels(selector.value) }, { site: site.value.trim(), artifact: artifact.sha256 }, strategy());
    });
  });
  rollback.addEventListener('click', () => {
    if (!site.value.trim()) { status.replaceChildren(errorBox(new Error('name the site to roll back'))); site.focus(); return; }
    run(() => startJob('files.rollback', { labels: parseLabels(selector.value) }, { site: site.value.trim() }, strategy()));
  });

  ctx.main.replaceChildren(h('h1', {}, 'Deploy'), form, follow);
  document.body.dataset.page = 'deploy';
  const online = agents.find((a) => a.status === 'online');
  if (online) {
    try {
      const answer = await iis(online.id, '/api/webserver/websites', { signal: ctx.signal });
      siteOptions.replaceChildren(...(answer.websites || []).map((s) => h('option', { value: s.name })));
    } catch { /* the list is only a convenience */ }
  }
  if (!selector.value && agents.length) selector.placeholder = `${labelText(agents[0].labels)} (empty: every agent)`;
}
