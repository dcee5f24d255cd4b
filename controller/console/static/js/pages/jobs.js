// Jobs: the history, newest first, a page at a time.

import { call } from '../api.js';
import { badge, h, table, when } from '../dom.js';

const PER_PAGE = 20;

export default async function jobs(ctx, pageText) {
  document.title = 'Jobs · IIS Fleet';
  const page = Math.max(1, Number(pageText || 1));
  const data = await call('GET', `/api/jobs?page=${page}&per_page=${PER_PAGE}`, undefined, { signal: ctx.signal });
  if (!ctx.alive()) return;
  const pages = Math.max(1, Math.ceil(data.total / PER_PAGE));
  const rows = data.jobs.map((job) => [
    h('a', { href: `#/jobs/${job.id}` }, job.id),
    when(job.created_on),
    job.action,
    job.target.labels ? Object.entries(job.target.labels).map(([k, v]) => `${k}=${v}`).join(',') || 'all agents'
      : `${(job.target.agents || []).length} agents`,
    badge(job.status),
    Object.entries(job.counts).map(([k, v]) => `${k} ${v}`).join(' · '),
  ]);
  const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' },
    page > 1 ? h('a', { href: `#/jobs?page=${page - 1}`, rel: 'prev' }, '← Newer') : null,
    h('span', {}, `Page ${page} of ${pages} · ${data.total} jobs`),
    page < pages ? h('a', { href: `#/jobs?page=${page + 1}`, rel: 'next' }, 'Older →') : null);
  ctx.main.replaceChildren(h('h1', {}, 'Jobs'),
    rows.length ? table(['Job', 'Created', 'Action', 'Target', 'Status', 'Agents'], rows, { caption: 'Job history' })
      : h('p', { class: 'muted' }, 'No jobs yet.'),
    nav);
  document.body.dataset.page = 'jobs';
}
