// Issue 3: full logins through the wasm package in Chromium against the HelseID test double
// (PAR + PKCE + private_key_jwt or assertion_provider + DPoP with server nonces), and the
// negative cases: wrong state, replayed callback, access_denied, security level 3.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser } from './harness.mjs';
import { clientOptions, startLogin, finishLogin, openApp } from './flow.mjs';

let stack;
let browser;
let page;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(() => stack.double.reset());

function assertSfmSession(session, { clientId }) {
  assert.equal(session.tokenType, 'DPoP');
  assert.equal(session.accessTokenClaims.aud, 'e-helse:sfm.api');
  assert.equal(session.accessTokenClaims.client_id, clientId);
  assert.ok(session.accessTokenClaims['e-helse:sfm.api/client/claims/sfm-id']);
  assert.equal(session.helseid.sfmId, session.accessTokenClaims['e-helse:sfm.api/client/claims/sfm-id']);
  assert.equal(session.helseid.pid, '06828399789');
  assert.equal(session.helseid.hprNumber, '565501872');
  assert.equal(session.helseid.securityLevel, '4');
  assert.ok(Array.isArray(session.scope) && session.scope.includes('e-helse:sfm.api/sfm.api2'));
  assert.ok(session.scope.includes('openid'));
  const now = Math.floor(Date.now() / 1000);
  assert.ok(session.expiresAt > now + 30 && session.expiresAt <= now + 61, `expiresAt ${session.expiresAt - now}s ahead`);
  assert.equal(typeof session.idTokenClaims.sub, 'string');
}

test('login with private_key_jwt (RS256) and DPoP gives an SFM session, and the callback leaves the address bar', async () => {
  const opts = clientOptions(stack);
  const callback = await startLogin(page, stack, opts, {}, { fresh: true });
  assert.match(callback, /[?&]code=/);
  assert.match(callback, /[?&]iss=/);
  const { session, href, error } = await finishLogin(page, opts);
  assert.equal(error, undefined, JSON.stringify(error));
  assertSfmSession(session, { clientId: 'helseid-wasm-rs256' });
  assert.doesNotMatch(href, /code=|state=|iss=/);
  const c = stack.double.counts();
  // create() twice (two page loads, discovery not cached across loads), JWKS once, PAR twice
  // (the first gets use_dpop_nonce), token once (the nonce from PAR is reused).
  assert.deepEqual(
    { discovery: c.discovery, jwks: c.jwks, par: c.par, authorize: c.authorize, token: c.token },
    { discovery: 2, jwks: 1, par: 2, authorize: 1, token: 1 },
  );
  assert.equal(c.token_by_grant.authorization_code, 1);
});

test('login with assertion_provider (ES256 client key held by the backend) asks for a fresh assertion per request', async () => {
  const opts = clientOptions(stack, { clientId: 'helseid-wasm-es256', assertion: true });
  await startLogin(page, stack, opts, {}, { fresh: true });
  const { session, error } = await finishLogin(page, opts);
  assert.equal(error, undefined, JSON.stringify(error));
  assertSfmSession(session, { clientId: 'helseid-wasm-es256' });
  const calls = await page.evaluate(() => window.assertionCalls);
  // This page load made only the token request: one assertion, for the token endpoint (API.md:
  // ctx also names the grant and the claim details would go in).
  assert.deepEqual(calls, [{
    audience: stack.double.issuer,
    endpoint: `${stack.double.issuer}/connect/token`,
    grantType: 'authorization_code',
    detailsClaim: 'assertion_details',
  }]);
  // PAR twice (nonce retry, new assertion each) + token once.
  assert.equal(stack.double.counts().assertion, 3);
});

test('a second login in the same tab reuses the DPoP nonce: PAR once, token once', async () => {
  const opts = clientOptions(stack);
  await startLogin(page, stack, opts, {}, { fresh: true });
  assert.equal((await finishLogin(page, opts)).error, undefined);
  stack.double.reset();
  await startLogin(page, stack, opts);
  assert.equal((await finishLogin(page, opts)).error, undefined);
  const c = stack.double.counts();
  assert.deepEqual({ par: c.par, token: c.token, jwks: c.jwks }, { par: 1, token: 1, jwks: 1 });
});

test('client.fetch calls the SFM-style API through its use_dpop_nonce challenge', async () => {
  const opts = clientOptions(stack);
  await startLogin(page, stack, opts);
  const { error } = await finishLogin(page, opts);
  assert.equal(error, undefined, JSON.stringify(error));
  stack.double.reset();
  const out = await page.evaluate(async (api) => {
    const first = await window.client.fetch(`${api}/api/whoami`);
    const second = await window.client.fetch(`${api}/api/whoami`);
    return { s1: first.status, s2: second.status, body: await first.json() };
  }, stack.double.apiOrigin);
  assert.equal(out.s1, 200);
  assert.equal(out.s2, 200);
  assert.equal(out.body.pid, '06828399789');
  // 2 for the first call (challenge + retry), 1 for the second (nonce kept per API origin).
  assert.equal(stack.double.counts().api, 3);
});

test('a callback whose state differs is state_mismatch, and no token request is made', async () => {
  const opts = clientOptions(stack);
  const callback = await startLogin(page, stack, opts);
  const forged = new URL(callback);
  forged.searchParams.set('state', 'forged-state');
  const { error } = await finishLogin(page, opts, forged.href);
  assert.equal(error.code, 'state_mismatch');
  assert.equal(error.isHelseIdError, true);
  assert.equal(stack.double.counts().token, 0);
  // The genuine callback still completes: a forged one must not cancel the user's login.
  const { session } = await finishLogin(page, opts, callback);
  assert.equal(session.tokenType, 'DPoP');
});

test('a replayed callback is missing_transaction and sends nothing', async () => {
  const opts = clientOptions(stack);
  const callback = await startLogin(page, stack, opts);
  const first = await finishLogin(page, opts, callback);
  assert.equal(first.error, undefined);
  const tokenRequests = stack.double.counts().token;
  const replay = await finishLogin(page, opts, callback);
  assert.equal(replay.error.code, 'missing_transaction');
  assert.equal(stack.double.counts().token, tokenRequests);
});

test('error=access_denied in the callback is authorization_denied with oauthError', async () => {
  const opts = clientOptions(stack);
  const callback = await startLogin(page, stack, opts, { loginHint: 'deny' });
  assert.match(callback, /error=access_denied/);
  const { error, href } = await finishLogin(page, opts);
  assert.equal(error.code, 'authorization_denied');
  assert.equal(error.oauthError, 'access_denied');
  assert.equal(stack.double.counts().token, 0);
  assert.doesNotMatch(href, /error=|state=/);
});

test('a security level 3 user when "4" is required is security_level_insufficient', async () => {
  const opts = clientOptions(stack);
  await startLogin(page, stack, opts, { loginHint: 'niva3' });
  const { error, session } = await finishLogin(page, opts);
  assert.equal(session, undefined);
  assert.equal(error.code, 'security_level_insufficient');
  assert.equal(error.claim, 'helseid://claims/identity/security_level');
  const current = await page.evaluate(() => window.client.session());
  assert.equal(current, null);
});

test('create() refuses bad config before any request, and an issuer that differs from discovery', async () => {
  await openApp(page, stack.appOrigin);
  const out = await page.evaluate(async (issuer) => {
    const base = { issuer, clientId: 'c', redirectUri: location.href, scope: 'openid', clientAuth: { type: 'none' }, allowInsecureHttp: true };
    const attempt = async (cfg) => {
      try { await window.helseid.HelseIdClient.create(cfg); return null; } catch (e) { return window.errorInfo(e); }
    };
    return {
      unknownKey: await attempt({ ...base, clientSecret: 'x' }),
      noOpenid: await attempt({ ...base, scope: 'profile' }),
      insecure: await attempt({ ...base, allowInsecureHttp: false }),
      mismatch: await attempt({ ...base, issuer: `${issuer}/` }),
    };
  }, stack.double.issuer);
  assert.equal(out.unknownKey.code, 'config_invalid');
  assert.match(out.unknownKey.message, /clientSecret/);
  assert.equal(out.noOpenid.code, 'config_invalid');
  assert.equal(out.insecure.code, 'config_invalid');
  assert.equal(out.mismatch.code, 'issuer_mismatch');
  assert.equal(stack.double.counts().discovery, 1);
});

test('par: "off" against a provider whose discovery requires PAR is config_invalid at create(), before any other request', async () => {
  await openApp(page, stack.appOrigin);
  const out = await page.evaluate(async (o) => {
    try { await window.makeClient(o); return null; } catch (e) { return window.errorInfo(e); }
  }, clientOptions(stack, { extra: { par: 'off' } }));
  assert.equal(out.code, 'config_invalid');
  assert.match(out.message, /requires PAR/);
  const c = stack.double.counts();
  assert.deepEqual({ discovery: c.discovery, par: c.par, authorize: c.authorize }, { discovery: 1, par: 0, authorize: 0 });
});
