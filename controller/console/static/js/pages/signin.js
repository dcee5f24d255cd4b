// Sign in with an operator token; the controller answers with a session cookie the page never sees.

import { signIn } from '../api.js';
import { errorBox, h } from '../dom.js';

export default async function signin(ctx, onDone) {
  document.title = 'Sign in · IIS Fleet';
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'panel narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to the fleet'),
    h('p', { class: 'muted' }, 'Paste an operator token (made with ', h('code', {}, 'iisfleet controller key create'),
      '). The console keeps a session cookie, not the token; the session ends when the token expires.'),
    h('label', { for: 'token' }, 'Operator token'), input, button, status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.replaceChildren();
    try {
      await signIn(input.value.trim());
      input.value = '';
      onDone();
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  ctx.main.replaceChildren(form);
  input.focus();
}
