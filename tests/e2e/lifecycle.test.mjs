// Issue 4: the token lifecycle in real Chromium against the test double: one refresh for many
// callers and for two tabs, rotation, a rejected refresh token, a network failure in the middle
// of a refresh, a second resource, logout across tabs, and storage modes. Request counts are
// read at the provider.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser } from './harness.mjs';
import { clientOptions, login, openApp, withClient } from './flow.mjs';

let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(() => {
  stack.double.reset();
  stack.double.setOptions({ accessTokenTtl: 60 });
});

// Logged in with a 20 s access token and a 30 s leeway, the session is "at expiry" at once, so
// getAccessToken() must refresh, deterministically and without waiting; the refreshed token
// lives 120 s and is fresh, so a late caller must not refresh again.
const AT_EXPIRY = { autoRefresh: false, refreshLeewaySeconds: 30 };

async function loginAtExpiry(page, opts) {
  stack.double.setOptions({ accessTokenTtl: 20 });
  try {
    return await login(page, stack, opts);
  } finally {
    stack.double.setOptions({ accessTokenTtl: 120 });
  }
}

async function freshPage() {
  const page = await browser.newPage();
  return page;
}

test('20 concurrent getAccessToken() calls at expiry make exactly 1 token request and get the same new token', async () => {
  const page = await freshPage();
  const opts = clientOptions(stack, { extra: AT_EXPIRY });
  const before = await loginAtExpiry(page, opts);
  stack.double.reset();
  const out = await withClient(page, async (client) => {
    const tokens = await Promise.all(Array.from({ length: 20 }, () => client.getAccessToken()));
    return { distinct: new Set(tokens).size, count: tokens.length, jti: client.session().accessTokenClaims.jti, events: window.events.length };
  });
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.deepEqual([out.count, out.distinct], [20, 1]);
  assert.notEqual(out.jti, before.accessTokenClaims.jti);
  const c = stack.double.counts();
  assert.equal(c.token, 1);
  assert.equal(c.token_by_grant.refresh_token, 1);
  assert.equal(out.events, 1, 'one tokenRefreshed event');
  await page.close();
});

test('a token that is within the leeway for its whole life: 20 concurrent calls still make exactly 1 token request', async () => {
  // HelseID may hand out tokens shorter than the client's leeway (60 s token, 60 s leeway). The
  // callers that waited for the refresh take its token; none starts a second refresh.
  const page = await freshPage();
  stack.double.setOptions({ accessTokenTtl: 60 });
  const opts = clientOptions(stack, { extra: { autoRefresh: false, refreshLeewaySeconds: 60 } });
  await login(page, stack, opts);
  stack.double.reset();
  const out = await withClient(page, async (client) => {
    const tokens = await Promise.all(Array.from({ length: 20 }, () => client.getAccessToken()));
    return { distinct: new Set(tokens).size, count: tokens.length };
  });
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.deepEqual([out.count, out.distinct], [20, 1]);
  assert.equal(stack.double.counts().token, 1);
  await page.close();
});

test('two tabs at expiry make exactly 1 token request, both end with the new token, and a new tab joins without a redirect', async () => {
  const a = await freshPage();
  const opts = clientOptions(stack, { extra: AT_EXPIRY });
  await loginAtExpiry(a, opts);
  const b = await freshPage();
  await openApp(b, stack.appOrigin);
  stack.double.reset();
  const joined = await b.evaluate((o) => window.attach(o), opts);
  assert.ok(joined, 'the new tab has the session');
  assert.equal(joined.helseid.pid, '06828399789');
  assert.equal(stack.double.counts().authorize, 0);
  assert.equal(stack.double.counts().token, 0);

  const [ta, tb] = await Promise.all([
    withClient(a, (client) => client.getAccessToken()),
    withClient(b, (client) => client.getAccessToken()),
  ]);
  assert.equal(typeof ta, 'string', JSON.stringify(ta));
  assert.ok(ta === tb, 'both tabs hold the same new access token');
  // One request in all: whichever tab refreshes knows the DPoP nonce (shared with the session).
  assert.equal(stack.double.counts().token, 1);
  assert.equal(stack.double.counts().token_by_grant.refresh_token, 1);
  const jtis = await Promise.all([a, b].map((p) => withClient(p, (c) => c.session().accessTokenClaims.jti)));
  assert.equal(jtis[0], jtis[1]);
  // tokenRefreshed fired in both tabs.
  const events = await Promise.all([a, b].map((p) => p.evaluate(() => window.events.map((e) => e.name))));
  assert.deepEqual(events, [['tokenRefreshed'], ['tokenRefreshed']]);
  await a.close();
  await b.close();
});

test('rotation: each refresh sends the newest refresh token; a rejected one ends the session with login_required and one sessionExpired', async () => {
  const page = await freshPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false } });
  await login(page, stack, opts);
  stack.double.reset();
  for (let i = 0; i < 3; i += 1) {
    const s = await withClient(page, (client) => client.refresh());
    assert.equal(s.error, undefined, JSON.stringify(s.error));
  }
  const seen = stack.double.refreshTokensSeen();
  assert.equal(seen.length, 3);
  assert.equal(new Set(seen).size, 3, 'no refresh token is sent twice');

  stack.double.revokeAllGrants();
  const out = await withClient(page, (client) => client.getAccessToken({ forceRefresh: true }));
  assert.equal(out.error.code, 'login_required');
  const after = await withClient(page, async (client) => ({
    session: client.session(),
    again: await client.getAccessToken().catch((e) => e.code),
    events: window.events.map((e) => e.name),
  }));
  assert.equal(after.session, null);
  assert.equal(after.again, 'login_required');
  assert.deepEqual(after.events.filter((e) => e === 'sessionExpired'), ['sessionExpired']);
  assert.equal(stack.double.counts().token, 4, 'three refreshes and the rejected one, nothing after');
  await page.close();
});

test('a refresh cut off by a network failure keeps the session, and the next call succeeds', async () => {
  const page = await freshPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false } });
  const session = await login(page, stack, opts);
  stack.double.reset();
  // Twice: Chromium retries a POST once when a reused connection is closed under it.
  stack.double.failNext({ endpoint: 'token', mode: 'drop', count: 2 });
  const failed = await withClient(page, (client) => client.refresh());
  assert.equal(failed.error.code, 'network_error');
  assert.equal(failed.error.retryable, true);
  const kept = await withClient(page, (client) => client.session()?.accessTokenClaims.jti);
  assert.equal(kept, session.accessTokenClaims.jti);

  stack.double.failNext({ endpoint: 'token', mode: 503, retryAfter: 1 });
  const busy = await withClient(page, (client) => client.refresh());
  assert.equal(busy.error.code, 'token_request_failed');
  assert.equal(busy.error.status, 503);
  assert.equal(busy.error.retryable, true);

  const ok = await withClient(page, (client) => client.refresh());
  assert.equal(ok.error, undefined, JSON.stringify(ok.error));
  assert.notEqual(ok.accessTokenClaims.jti, session.accessTokenClaims.jti);
  assert.equal(stack.double.counts().token_by_grant.refresh_token, 1, 'the faults reached no grant');
  await page.close();
});

test('a token for a second resource is obtained by refresh with its own aud, and cached', async () => {
  const page = await freshPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false, resources: ['e-helse:sfm.api', 'e-helse:other.api'] } });
  await login(page, stack, opts);
  stack.double.reset();
  const out = await withClient(page, async (client) => {
    const other = await client.getAccessToken({ resource: 'e-helse:other.api' });
    const again = await client.getAccessToken({ resource: 'e-helse:other.api' });
    const main = await client.getAccessToken();
    const { decodeJwt } = window.helseid;
    return { other: decodeJwt(other).claims.aud, same: other === again, main: decodeJwt(main).claims.aud };
  });
  assert.deepEqual(out, { other: 'e-helse:other.api', same: true, main: 'e-helse:sfm.api' });
  assert.equal(stack.double.counts().token_by_grant.refresh_token, 1);
  await page.close();
});

test('logout revokes the refresh token, reaches end_session with id_token_hint, and the other tab drops the session', async () => {
  const a = await freshPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false } });
  await login(a, stack, opts);
  const b = await freshPage();
  await openApp(b, stack.appOrigin);
  assert.ok(await b.evaluate((o) => window.attach(o), opts));
  stack.double.reset();

  const endSession = new Promise((resolve) => {
    a.on('request', (r) => { if (r.url().includes('/connect/endsession')) resolve(new URL(r.url())); });
  });
  const back = a.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: 15_000 });
  await a.evaluate(() => { window.client.logout({ state: 'bye' }); });
  const url = await endSession;
  assert.ok(url.searchParams.get('id_token_hint'));
  assert.equal(url.searchParams.get('post_logout_redirect_uri'), `${stack.appOrigin}/e2e/app.html`);
  assert.equal(url.searchParams.get('state'), 'bye');
  await back;
  // The holder's signed end notice, then its lock going free, end the session there.
  await b.waitForFunction(() => window.events.some((e) => e.name === 'loggedOut'));
  const other = await withClient(b, (client) => ({ session: client.session(), events: window.events.map((e) => e.name) }));
  assert.equal(other.session, null);
  assert.deepEqual(other.events, ['loggedOut']);
  assert.equal(stack.double.counts().revocation, 1);
  await a.close();
  await b.close();
});

test('storage "session" is retired: the page holder keeps nothing in any Web Storage, so a reload of its only tab needs a login, as with "memory"', async () => {
  for (const storage of ['session', 'memory']) {
    const page = await freshPage();
    const opts = clientOptions(stack, { extra: { autoRefresh: false, storage } });
    await login(page, stack, opts);
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
    for (const t of stack.double.issuedTokens()) {
      assert.ok(!stored.includes(t.refreshToken.split('.').at(-1)), `${storage}: no refresh token in Web Storage`);
      assert.ok(!stored.includes(t.idToken.split('.')[2]), `${storage}: no ID token in Web Storage`);
    }
    stack.double.reset();
    await openApp(page, stack.appOrigin);
    const session = await page.evaluate((o) => window.attach(o), opts);
    assert.equal(session, null, storage);
    assert.equal(stack.double.counts().token, 0, storage);
    await page.close();
  }
});

test('autoRefresh refreshes ahead of expiry on its own', async () => {
  const page = await freshPage();
  // Due 2 s after login: expiresAt - leeway = now + 2.
  const opts = clientOptions(stack, { extra: { refreshLeewaySeconds: 58 } });
  const first = await login(page, stack, opts);
  const refreshed = await page.evaluate(() => new Promise((resolve) => {
    window.client.on('tokenRefreshed', (s) => resolve(s.accessTokenClaims.jti));
  }));
  assert.notEqual(refreshed, first.accessTokenClaims.jti);
  await page.evaluate(() => window.client.dispose());
  await page.close();
});
