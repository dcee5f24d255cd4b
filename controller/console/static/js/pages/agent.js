// One agent: its sites and pools with state, worker processes and live requests, request and CPU charts per
// pool from the agent's monitoring API (through the gateway), and start/stop/recycle as fleet jobs.

import { call, canOperate, iis, startJob } from '../api.js';
import { act, ago, badge, copyButton, days, h, table, when } from '../dom.js';
import { sparkline } from '../charts.js';
import { jobPanel } from '../follow.js';

const SAMPLES = 30;
const POLL_MS = 2000;

function list(answer, ...keys) {
  for (const key of keys) if (answer && Array.isArray(answer[key])) return answer[key];
  return [];
}

export default async function agentPage(ctx, agentId) {
  const id = encodeURIComponent(agentId);
  const agent = await call('GET', `/api/agents/${id}`, undefined, { signal: ctx.signal });
  if (!ctx.alive()) return;
  document.title = `${agent.name} · IIS Fleet`;
  const gatewayUrl = `${location.origin}/api/agents/${agentId}/iis`;
  const activity = h('div', { class: 'activity', 'aria-live': 'polite' });
  const sites = h('section', { class: 'panel', 'aria-labelledby': 'sites-h' }, h('h2', { id: 'sites-h' }, 'Sites'));
  const pools = h('section', { class: 'panel', 'aria-labelledby': 'pools-h' }, h('h2', { id: 'pools-h' }, 'Application pools'));
  const workers = h('section', { class: 'panel', 'aria-labelledby': 'wp-h' }, h('h2', { id: 'wp-h' }, 'Worker processes and live requests'));
  const history = new Map(); // pool name -> {rps: [], cpu: []}
  const charts = new Map(); // pool name -> chart cell

  async function runJob(button, action, name) {
    await act(button, async () => {
      const job = await startJob(action, { agents: [agentId] }, { name });
      const panel = jobPanel(job.id, ctx.signal);
      activity.prepend(panel.element);
      panel.done.then(() => loadState()).catch(() => null);
    });
  }

  function buttons(kind, name) {
    if (!canOperate()) return null;
    const verbs = kind === 'pool' ? ['start', 'stop', 'recycle'] : ['start', 'stop'];
    return h('span', { class: 'row-actions' }, verbs.map((verb) => {
      const button = h('button', { type: 'button', class: verb === 'stop' ? 'danger small' : 'small', dataset: { action: `${kind}.${verb}`, name } },
        verb[0].toUpperCase() + verb.slice(1));
      button.addEventListener('click', () => runJob(button, `${kind}.${verb}`, name));
      return button;
    }));
  }

  // Viewers get no Actions column at all; the server refuses their writes either way.
  const actionColumn = canOperate() ? ['Actions'] : [];
  const actionCell = (kind, name) => (canOperate() ? [buttons(kind, name)] : []);

  function chartCell(name) {
    if (!charts.has(name)) charts.set(name, h('span', { class: 'charts' }));
    return charts.get(name);
  }

  function drawCharts() {
    for (const [name, series] of history) {
      chartCell(name).replaceChildren(
        h('span', { class: 'chart' }, sparkline(series.rps, { label: `${name} requests/s`, unit: '/s' }), h('small', {}, `${series.rps.at(-1) ?? 0} req/s`)),
        h('span', { class: 'chart' }, sparkline(series.cpu, { label: `${name} CPU`, unit: '%', floor: 5 }), h('small', {}, `${series.cpu.at(-1) ?? 0}% CPU`)));
    }
  }

  async function loadState() {
    const [siteList, poolList, workerList, requestList] = await Promise.allSettled([
      iis(agentId, '/api/webserver/websites', { signal: ctx.signal }),
      iis(agentId, '/api/webserver/application-pools', { signal: ctx.signal }),
      iis(agentId, '/api/webserver/worker-processes?fields=process_id,status,start_time,application_pool', { signal: ctx.signal }),
      iis(agentId, '/api/webserver/http-request-monitor/requests', { signal: ctx.signal }),
    ]);
    if (!ctx.alive()) return;
    const problem = (result) => h('p', { class: 'note error', role: 'alert' }, result.reason.message || String(result.reason));
    sites.replaceChildren(sites.firstChild, siteList.status === 'rejected' ? problem(siteList)
      : table(['Site', 'State', ...actionColumn], list(siteList.value, 'websites').map((s) => [s.name, badge(s.status), ...actionCell('site', s.name)])));
    pools.replaceChildren(pools.firstChild, poolList.status === 'rejected' ? problem(poolList)
      : table(['Pool', 'State', 'Requests/s and CPU', ...actionColumn], list(poolList.value, 'app_pools').map((p) => [p.name, badge(p.status), chartCell(p.name), ...actionCell('pool', p.name)])));
    const requests = requestList.status === 'fulfilled' ? list(requestList.value, 'requests') : [];
    workers.replaceChildren(workers.firstChild, workerList.status === 'rejected' ? problem(workerList)
      : table(['Process', 'Pool', 'State', 'Started'], list(workerList.value, 'worker_processes').map((w) => [
        String(w.process_id ?? w.name ?? w.id), (w.application_pool && w.application_pool.name) || '—', badge(w.status || 'running'), w.start_time ? when(w.start_time) : '—'])),
      h('h3', {}, `Requests in flight: ${requests.length}`),
      ...(requests.length ? [table(['Method', 'URL', 'Time (ms)', 'Client'], requests.slice(0, 50).map((r) => [r.method || '', r.url || r.path || '', String(r.time_elapsed ?? ''), r.client_ip_address || '']))] : []));
    drawCharts();
  }

  async function sample() {
    let answer;
    try {
      answer = await iis(agentId, '/api/webserver/application-pools/monitoring', { signal: ctx.signal });
    } catch {
      return;
    }
    for (const snap of list(answer, 'app_pools', 'application_pools')) {
      const name = (snap.application_pool && snap.application_pool.name) || snap.name || snap.id;
      if (!history.has(name)) history.set(name, { rps: [], cpu: [] });
      const series = history.get(name);
      series.rps.push(Number((snap.requests && snap.requests.per_sec) || 0));
      series.cpu.push(Number((snap.cpu && snap.cpu.percent_usage) || 0));
      if (series.rps.length > SAMPLES) { series.rps.shift(); series.cpu.shift(); }
    }
    if (ctx.alive()) drawCharts();
  }

  const left = days(agent.certificate_expires_on);
  const facts = agent.facts || {};
  ctx.main.replaceChildren(
    h('p', {}, h('a', { href: '#/fleet' }, '← Fleet')),
    h('h1', {}, agent.name, ' ', badge(agent.status)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Labels'), h('dd', {}, Object.entries(agent.labels).map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`))),
      h('dt', {}, 'Address'), h('dd', {}, h('code', {}, agent.url)),
      h('dt', {}, 'Version'), h('dd', {}, `${facts.agent_version || '—'} · ${facts.os || ''} · ${facts.host_backend || ''}`),
      h('dt', {}, 'Last heartbeat'), h('dd', {}, ago(agent.last_seen)),
      h('dt', {}, 'Certificate'), h('dd', { class: left !== null && left < 14 ? 'expiring' : '' }, when(agent.certificate_expires_on)),
      h('dt', {}, 'IIS web manager'), h('dd', {}, h('code', {}, gatewayUrl), ' ', copyButton(gatewayUrl, 'Copy API root'), ' ',
        h('a', { href: 'https://manage.iis.net', target: '_blank', rel: 'noopener noreferrer' }, 'Open manage.iis.net'))),
    activity, pools, sites, workers);
  document.body.dataset.page = 'agent';
  await Promise.all([loadState(), sample()]);
  ctx.every(POLL_MS, sample);
  ctx.every(10000, loadState);
}
