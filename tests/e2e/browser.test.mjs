// Real Chromium (playwright-core, system /usr/bin/chromium) against the HelseID test double:
// proves the browser launch works and that CORS lets a page on the app origin talk to the OP and
// the demo API (including reading DPoP-Nonce / WWW-Authenticate), and that the login page and the
// automatic logout confirmation work in a browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser } from './harness.mjs';
import { NodeClient, dpopKey } from './node-client.mjs';
import { EPJ_TEST_PASSWORDS } from '../../www/dev-idp/double.mjs';

let stack;
let browser;
let page;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  page = browser.page;
  await page.goto(`${stack.appOrigin}/e2e/blank.html`);
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

test('a page on the app origin fetches discovery and JWKS cross-origin', async () => {
  const out = await page.evaluate(async (issuer) => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    const d = await res.json();
    const jwks = await (await fetch(d.jwks_uri)).json();
    return { status: res.status, issuer: d.issuer, par: d.pushed_authorization_request_endpoint, keys: jwks.keys.length, origin: location.origin };
  }, stack.double.issuer);
  assert.equal(out.origin, stack.appOrigin);
  assert.equal(out.status, 200);
  assert.equal(out.issuer, stack.double.issuer);
  assert.equal(out.par, `${stack.double.issuer}/connect/par`);
  assert.equal(out.keys, 1);
});

test('the page reads DPoP-Nonce at PAR and WWW-Authenticate + DPoP-Nonce at the API (CORS exposure)', async () => {
  const dbl = stack.double;
  const client = dbl.clients.find((c) => c.clientId === 'helseid-wasm-es256');
  const dpop = await dpopKey('ES256');
  const parUrl = `${dbl.issuer}/connect/par`;
  const par = await page.evaluate(async ({ parUrl, apiOrigin, issuer, clientId, proof, redirectUri, password }) => {
    // assertion_provider path: the page logs in to the demo EPJ (HttpOnly cookie) for this
    // client, then asks the backend for a client assertion with that cookie.
    const login = await fetch(`${apiOrigin}/app-session`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'kvart', password, clientId }),
    });
    if (!login.ok) throw new Error(`EPJ login: HTTP ${login.status}`);
    const a = await fetch(`${apiOrigin}/assertion`, {
      method: 'POST',
      credentials: 'include',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ audience: issuer, endpoint: parUrl, clientId }),
    });
    const { assertion } = await a.json();
    const res = await fetch(parUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: proof },
      body: new URLSearchParams({
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }),
    });
    return { status: res.status, body: await res.json(), nonce: res.headers.get('DPoP-Nonce') };
  }, { parUrl, apiOrigin: dbl.apiOrigin, issuer: dbl.issuer, clientId: client.clientId, proof: await dpop.proof('POST', parUrl), redirectUri: `${stack.appOrigin}/`, password: EPJ_TEST_PASSWORDS.kvart });
  assert.equal(par.status, 400);
  assert.equal(par.body.error, 'use_dpop_nonce');
  assert.ok(par.nonce, 'DPoP-Nonce is readable from JS');

  // Get a DPoP-bound SFM token in Node, then call the API from the page with it.
  const c = await NodeClient.create({ issuer: dbl.issuer, client, redirectUri: `${stack.appOrigin}/` });
  const { token } = await c.login();
  const at = token.json.access_token;
  const whoami = `${dbl.apiOrigin}/api/whoami`;
  const call = (proof) => page.evaluate(async ({ whoami, at, proof }) => {
    const res = await fetch(whoami, { headers: { Authorization: `DPoP ${at}`, DPoP: proof } });
    return { status: res.status, www: res.headers.get('WWW-Authenticate'), nonce: res.headers.get('DPoP-Nonce'), body: await res.json() };
  }, { whoami, at, proof });
  const first = await call(await c.dpop.proof('GET', whoami, { accessToken: at }));
  assert.equal(first.status, 401);
  assert.match(first.www, /error="use_dpop_nonce"/);
  assert.ok(first.nonce);
  const second = await call(await c.dpop.proof('GET', whoami, { accessToken: at, nonce: first.nonce }));
  assert.equal(second.status, 200);
  assert.equal(second.body.pid, '06828399789');
  assert.equal(second.body.client_id, client.clientId);
  assert.ok(stack.double.counts().preflight_by_endpoint['api:api'] >= 1, 'the browser sent a real preflight');
});

test('browser login through the test-user picker, then automatic logout back to the app', async () => {
  const dbl = stack.double;
  dbl.setOptions({ autoLogin: false });
  try {
    const client = dbl.clients.find((c) => c.clientId === 'helseid-wasm-rs256');
    const c = await NodeClient.create({ issuer: dbl.issuer, client, redirectUri: `${stack.appOrigin}/index.html` });
    const p = await c.par();
    assert.equal(p.res.status, 201);
    const authorizeUrl = `${dbl.issuer}/connect/authorize?${new URLSearchParams({ client_id: client.clientId, request_uri: p.json.request_uri })}`;
    await page.goto(authorizeUrl);
    await page.getByRole('heading', { name: 'Choose a test user' }).waitFor();
    await page.getByRole('button', { name: /Sign in as LINE LEGESEN/ }).click();
    await page.waitForURL((u) => u.origin === stack.appOrigin && u.searchParams.has('code'));
    const cb = new URL(page.url());
    assert.equal(cb.searchParams.get('state'), p.state);
    assert.equal(cb.searchParams.get('iss'), dbl.issuer);
    const t = await c.token({ grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: `${stack.appOrigin}/index.html`, code_verifier: p.verifier, resource: 'e-helse:sfm.api' });
    assert.equal(t.res.status, 200);

    // RP-initiated logout in the browser: no click needed.
    await page.goto(`${dbl.issuer}/connect/endsession?${new URLSearchParams({
      id_token_hint: t.json.id_token,
      post_logout_redirect_uri: `${stack.appOrigin}/index.html`,
      state: 'logged-out',
    })}`);
    await page.waitForURL((u) => u.origin === stack.appOrigin && u.searchParams.get('state') === 'logged-out');
    assert.ok(dbl.counts().end_session_confirm >= 1);
  } finally {
    dbl.setOptions({ autoLogin: true });
  }
});
