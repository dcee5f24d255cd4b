// One job: what it does, and its progress per batch and per agent, followed live.

import { call } from '../api.js';
import { h, when } from '../dom.js';
import { jobPanel } from '../follow.js';

export default async function job(ctx, jobId) {
  document.title = `Job ${jobId} · IIS Fleet`;
  const view = await call('GET', `/api/jobs/${encodeURIComponent(jobId)}`, undefined, { signal: ctx.signal });
  if (!ctx.alive()) return;
  const panel = jobPanel(jobId, ctx.signal);
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'Action'), h('dd', {}, view.action),
    h('dt', {}, 'Target'), h('dd', {}, h('code', {}, JSON.stringify(view.target))),
    h('dt', {}, 'Parameters'), h('dd', {}, h('code', {}, JSON.stringify(view.params))),
    h('dt', {}, 'Strategy'), h('dd', {}, `batch size ${view.strategy.batch_size || 'all'}, max failures ${view.strategy.max_failures ?? 'none'}`
      + (view.strategy.health_check ? `, health ${view.strategy.health_check.path}` : '')),
    h('dt', {}, 'Created'), h('dd', {}, when(view.created_on)),
    view.parent ? [h('dt', {}, 'Re-run of'), h('dd', {}, h('a', { href: `#/jobs/${view.parent}` }, view.parent))] : null);
  ctx.main.replaceChildren(h('p', {}, h('a', { href: '#/jobs' }, '← Jobs')), h('h1', {}, `Job ${jobId}`), facts, panel.element);
  document.body.dataset.page = 'job';
  await panel.done.catch(() => null);
}
