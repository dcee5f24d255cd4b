// Follow a job live: its server-sent events (read with fetch, so the session cookie goes along), resumed
// with Last-Event-ID after a dropped connection, and a panel that shows progress per batch and per agent.

import { call, canOperate } from './api.js';
import { act, badge, h } from './dom.js';

const FINISHED = ['succeeded', 'failed', 'cancelled'];

/** Call onEvent(event) for each event of the job until it finishes or `signal` aborts. */
export async function followEvents(jobId, onEvent, signal) {
  let lastId = '';
  for (let attempt = 0; attempt < 20 && !signal.aborted; attempt += 1) {
    try {
      const headers = { Accept: 'text/event-stream' };
      if (lastId) headers['Last-Event-ID'] = lastId;
      const response = await fetch(`/api/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal, credentials: 'same-origin' });
      if (!response.ok) throw new Error(`events: ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let finished = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('id:')) lastId = line.slice(3).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trim());
          }
          if (data.length) {
            const event = JSON.parse(data.join('\n'));
            onEvent(event);
            finished = finished || event.type === 'job.finished';
          }
        }
      }
      if (finished) return;
      const view = await call('GET', `/api/jobs/${encodeURIComponent(jobId)}`);
      if (FINISHED.includes(view.status)) return;
    } catch (err) {
      if (signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * Math.min(8, attempt + 1)));
  }
}

function stepStatus(event) {
  if (event.status) return event.status;
  return event.type.startsWith('step.') ? event.type.slice(5) : null;
}

/**
 * A live panel of one job: status, per-batch and per-agent rows, event log, cancel and re-run of failures.
 * Returns { element, done: Promise<view> }; `signal` stops following.
 */
export function jobPanel(jobId, signal, { onRerun } = {}) {
  const status = h('span', { class: 'job-status' }, badge('queued'));
  const batches = h('div', { class: 'batches' });
  const log = h('ol', { class: 'log', 'aria-label': 'Events' });
  const actions = h('div', { class: 'actions' });
  const element = h('section', { class: 'panel job', 'aria-live': 'polite', dataset: { job: jobId } },
    h('h3', {}, 'Job ', h('a', { href: `#/jobs/${jobId}` }, jobId), ' ', status),
    batches, actions, h('details', {}, h('summary', {}, 'Event log'), log));
  const rows = new Map();

  function drawView(view) {
    status.replaceChildren(badge(view.status));
    element.dataset.status = view.status;
    const groups = new Map();
    for (const result of view.results || []) {
      if (!groups.has(result.batch)) groups.set(result.batch, []);
      groups.get(result.batch).push(result);
    }
    batches.replaceChildren();
    rows.clear();
    for (const [index, results] of [...groups.entries()].sort((a, b) => a[0] - b[0])) {
      const list = h('ul', { class: 'agents' });
      for (const result of results) {
        const state = h('span', {}, badge(result.status));
        const detail = h('span', { class: 'muted detail' }, result.error || result.detail || '');
        rows.set(result.agent, { state, detail });
        list.append(h('li', { dataset: { agent: result.agent } }, h('strong', {}, result.name || result.agent), ' ', state, ' ', detail));
      }
      batches.append(h('div', { class: 'batch' }, h('h4', {}, `Batch ${Number(index) + 1} of ${view.batches}`), list));
    }
    drawActions(view);
  }

  function drawActions(view) {
    actions.replaceChildren();
    if (!canOperate()) return;
    if (!FINISHED.includes(view.status) && !view.cancel_requested) {
      const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel job');
      cancel.addEventListener('click', () => act(cancel, async () => drawView(await call('POST', `/api/jobs/${jobId}/cancel`))));
      actions.append(cancel);
    }
    const failed = (view.results || []).some((r) => ['failed', 'skipped', 'cancelled'].includes(r.status));
    if (FINISHED.includes(view.status) && failed) {
      const rerun = h('button', { type: 'button' }, 'Re-run failed');
      rerun.addEventListener('click', () => act(rerun, async () => {
        const next = await call('POST', `/api/jobs/${jobId}/rerun`);
        if (onRerun) onRerun(next.id); else location.hash = `#/jobs/${next.id}`;
      }));
      actions.append(rerun);
    }
  }

  const done = (async () => {
    drawView(await call('GET', `/api/jobs/${encodeURIComponent(jobId)}`));
    await followEvents(jobId, (event) => {
      const time = new Date((event.ts || 0) * 1000).toLocaleTimeString();
      const who = event.agent ? ` ${rows.has(event.agent) ? event.name || event.agent : event.agent}` : '';
      log.append(h('li', {}, `${time} ${event.type}${who}${event.detail ? ` — ${event.detail}` : ''}`));
      const step = stepStatus(event);
      const row = event.agent && rows.get(event.agent);
      if (row && step) {
        row.state.replaceChildren(badge(step));
        if (event.detail) row.detail.textContent = event.detail;
      }
      if (event.type === 'job.started' || event.type === 'batch.started') status.replaceChildren(badge('running'));
    }, signal);
    const view = await call('GET', `/api/jobs/${encodeURIComponent(jobId)}`);
    drawView(view);
    return view;
  })();
  done.catch((err) => { element.append(h('p', { class: 'note error', role: 'alert' }, err.message || String(err))); });
  return { element, done };
}
