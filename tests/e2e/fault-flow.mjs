// Helpers for the fault tests (conformance, transport, leaks): a login that stops at whatever
// comes back to the app (with or without `state`), request-count deltas at the provider, and
// the "nothing after the fault" probe.
import assert from 'node:assert/strict';
import { startLogin } from './flow.mjs';

/** Starts a login and returns the callback URL (with or without `state`). */
export const toCallback = startLogin;

/** The request counters that matter after a fault, flattened. */
export function snapshot(double) {
  const c = double.counts();
  return {
    discovery: c.discovery,
    jwks: c.jwks,
    par: c.par,
    authorize: c.authorize,
    token: c.token,
    authorization_code: c.token_by_grant.authorization_code,
    refresh_token: c.token_by_grant.refresh_token,
    revocation: c.revocation,
    end_session: c.end_session,
    userinfo: c.userinfo,
    introspection: c.introspection,
    api: c.api,
  };
}

/** `after - before`, keeping only the counters that changed. */
export function delta(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) if (v !== before[k]) out[k] = v - before[k];
  return out;
}

/**
 * After a rejected login: the client holds no session, an API call through it is refused
 * with login_required, and the provider and the API see no request at all.
 */
export async function assertNothingAfter(page, stack) {
  const before = snapshot(stack.double);
  const out = await page.evaluate(async (api) => {
    const session = window.client.session();
    let fetchError = null;
    try {
      await window.client.fetch(`${api}/api/whoami`);
    } catch (e) {
      fetchError = window.errorInfo(e);
    }
    return { session, fetchError };
  }, stack.double.apiOrigin);
  assert.equal(out.session, null, 'no session after the fault');
  assert.equal(out.fetchError?.code, 'login_required', JSON.stringify(out.fetchError));
  assert.deepEqual(delta(snapshot(stack.double), before), {}, 'no request after the fault');
}

/** A call through `client.fetch` to the demo API: { status, body } or { error }. */
export async function callApi(page, apiOrigin, path = '/api/whoami') {
  return page.evaluate(async (url) => {
    try {
      const r = await window.client.fetch(url);
      const text = await r.text();
      let body;
      try { body = JSON.parse(text); } catch { body = text.length; }
      return { status: r.status, body };
    } catch (e) {
      return { error: window.errorInfo(e) };
    }
  }, `${apiOrigin}${path}`);
}
