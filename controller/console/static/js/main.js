// The console shell: session check, hash routes, navigation state and page clean-up.

import { current, restore, signOut } from './api.js';
import { errorBox, flash, h } from './dom.js';
import admin from './pages/admin.js';
import agent from './pages/agent.js';
import deploy from './pages/deploy.js';
import fleet from './pages/fleet.js';
import job from './pages/job.js';
import jobs from './pages/jobs.js';
import signin from './pages/signin.js';

const ROUTES = [
  [/^#\/fleet(?:\?(.*))?$/, fleet, 'fleet'],
  [/^#\/agents\/([^/?]+)$/, agent, 'fleet'],
  [/^#\/jobs(?:\?page=(\d+))?$/, jobs, 'jobs'],
  [/^#\/jobs\/([^/?]+)$/, job, 'jobs'],
  [/^#\/deploy$/, deploy, 'deploy'],
  [/^#\/admin$/, admin, 'admin'],
];

let active = null;

function shell() {
  const session = current();
  document.getElementById('nav').hidden = !session;
  document.getElementById('signout').hidden = !session;
  document.getElementById('who').textContent = session ? `${session.purpose || session.key_id} · ${session.role}` : '';
  document.body.dataset.role = session ? session.role : '';
}

async function render() {
  if (active) active.abort();
  const controller = new AbortController();
  active = controller;
  const main = document.getElementById('main');
  document.getElementById('flash').replaceChildren();
  shell();
  const ctx = {
    main,
    signal: controller.signal,
    alive: () => !controller.signal.aborted,
    every(ms, fn) {
      const timer = setInterval(() => { if (!controller.signal.aborted) fn(); }, ms);
      controller.signal.addEventListener('abort', () => clearInterval(timer));
    },
  };
  if (!current()) {
    await signin(ctx, () => { location.hash = location.hash && location.hash !== '#/' ? location.hash : '#/fleet'; render(); });
    return;
  }
  const hash = location.hash || '#/fleet';
  for (const [pattern, page, section] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    try {
      await page(ctx, ...match.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p))));
    } catch (err) {
      if (!ctx.alive()) return;
      if (err.status === 401 || (err.status === 403 && /Unauthorized/.test(err.message))) {
        await restore().catch(() => null);
        if (!current()) { render(); return; }
      }
      main.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(err));
    }
    return;
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/fleet' }, 'Back to the fleet')));
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await signOut(); } catch (err) { flash(err.message); }
  location.hash = '#/fleet';
  render();
});
window.addEventListener('hashchange', () => { render(); document.getElementById('main').focus({ preventScroll: true }); });

restore().then(render, (err) => {
  document.getElementById('main').replaceChildren(h('h1', {}, 'The controller did not answer'), errorBox(err));
});
