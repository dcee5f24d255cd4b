// The controller API from the console: same-origin fetch with the session cookie, and the CSRF token on writes.

let session = null;

/** An answer with an error status; `message` is the server's own title and detail. */
export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body === 'object'
      ? [body.title, body.name ? `(${body.name})` : '', body.detail].filter(Boolean).join(' ')
      : String(body || '');
    super(`${status}: ${detail || 'the server refused the request'}`);
    this.status = status;
    this.body = body;
  }
}

/** The signed-in operator (key id, purpose, role, scope, csrf_token), or null. */
export function current() { return session; }

/** Whether the console should offer actions that change the fleet. */
export function canOperate() { return !!session && session.role !== 'viewer'; }

/** Whether the console should offer admin actions (keys, join tokens). */
export function isAdmin() { return !!session && session.role === 'admin'; }

/** One API call; JSON in and out unless `body` is a Blob (sent as is). */
export async function call(method, path, body, { signal } = {}) {
  const headers = { Accept: 'application/json' };
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers['Content-Type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  if (method !== 'GET' && method !== 'HEAD' && session && session.csrf_token) {
    headers['X-CSRF-Token'] = session.csrf_token;
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store', signal });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A gateway call to one agent's IIS Administration API. */
export function iis(agentId, path, options) {
  return call('GET', `/api/agents/${encodeURIComponent(agentId)}/iis${path}`, undefined, options);
}

/** Start a fleet job; the job's view (202). */
export function startJob(action, target, params, strategy) {
  return call('POST', '/api/jobs', { action, target, params, ...(strategy ? { strategy } : {}) });
}

export async function signIn(token) {
  session = await call('POST', '/api/session', { token });
  return session;
}

/** Pick up an existing session (after a reload); null when there is none. */
export async function restore() {
  try {
    session = await call('GET', '/api/session');
  } catch (err) {
    if (err.status === 401 || err.status === 403) session = null;
    else throw err;
  }
  return session;
}

export async function signOut() {
  try { await call('DELETE', '/api/session'); } finally { session = null; }
}
