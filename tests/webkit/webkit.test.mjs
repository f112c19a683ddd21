// WebKit, the engine of Safari: Debian's WebKitGTK (MiniBrowser under Xvfb) driven over WebDriver
// classic (webdriver.mjs), against the HelseID test double. The core flows of the e2e suite, with
// the same helpers (tests/e2e/flow.mjs) and the same assertions on what the provider saw: a full
// login (PAR with the DPoP nonce challenge, private_key_jwt and assertion_provider, callback),
// getAccessToken, a refresh, a second tab joining, two tabs at expiry, setContext across tabs,
// client.fetch through use_dpop_nonce, logout across tabs, the thin page (helseid_wasm_page.js),
// and verifyJwt RS256 / ES256.
// New scenarios go here as the tab design grows; each page is a tab of one browser.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startStack } from '../e2e/harness.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';
import { clientOptions, login, openApp, withClient } from '../e2e/flow.mjs';
import { launchWebKit } from './webdriver.mjs';

let stack;
let wk;

before(async () => {
  [stack, wk] = await Promise.all([startStack(), launchWebKit()]);
  console.log(`# WebKitGTK ${wk.capabilities.browserVersion}`);
});

after(async () => {
  await wk?.close();
  await stack?.close();
});

beforeEach(() => {
  stack.double.reset();
  stack.double.setOptions({ accessTokenTtl: 120 });
});

const d = () => stack.double;
// Each core flow runs with the session in the page holder and in the session host (WebKit has
// SharedWorker); `host` is set per block below.
let host = 'page';
const opts = (extra = {}, more = {}) => clientOptions(stack, { host, ...more, extra: { autoRefresh: false, ...extra } });
const events = (page) => page.evaluate(() => window.events.map((e) => e.name));

/** A new tab with the app's page loaded, and the client of `o` attached; returns [page, session]. */
async function joiningTab(o) {
  const page = await wk.newPage();
  await openApp(page, stack.appOrigin);
  return [page, await page.evaluate((x) => window.attach(x), o)];
}

for (const mode of ['page', 'worker']) {
  test(`${mode}: login: PAR through the DPoP nonce challenge, private_key_jwt, the callback; a DPoP-bound SFM session and a clean address bar`, async () => {
    host = mode;
    const page = await wk.newPage();
    const s = await login(page, stack, opts());
    assert.equal(s.tokenType, 'DPoP');
    assert.equal(s.helseid.pid, '06828399789');
    assert.equal(s.helseid.securityLevel, '4');
    assert.equal(s.accessTokenClaims.aud, 'e-helse:sfm.api');
    assert.match(s.accessTokenClaims.cnf.jkt, /^[A-Za-z0-9_-]{43}$/);
    const url = new URL(await page.url());
    assert.deepEqual([...url.searchParams.keys()], [], 'code, state and iss are gone');
    const par = d().requests().filter((r) => r.name === 'par' && !r.preflight);
    assert.deepEqual(par.map((r) => [r.status, r.error]), [[400, 'use_dpop_nonce'], [201, undefined]]);
    assert.equal(d().counts().token_by_grant.authorization_code, 1);
    await page.close();
  });

  test(`${mode}: login with assertion_provider: the backend signs an assertion per request (ES256 client key)`, async () => {
    host = mode;
    const page = await wk.newPage();
    const s = await login(page, stack, opts({}, { clientId: 'helseid-wasm-es256', assertion: true }));
    assert.equal(s.tokenType, 'DPoP');
    const grants = await page.evaluate(() => window.assertionCalls.map((c) => c.grantType));
    assert.deepEqual(grants.filter((g) => g === 'authorization_code').length >= 1, true, JSON.stringify(grants));
    assert.equal(d().counts().token_by_grant.authorization_code, 1);
    assert.equal(d().signerLog().filter((e) => e.signed).length, d().counts().par + d().counts().token);
    await page.close();
  });

  test(`${mode}: getAccessToken is served from the cache; refresh() makes 1 token request with a rotated refresh token`, async () => {
    host = mode;
    const page = await wk.newPage();
    const s = await login(page, stack, opts());
    d().reset();
    const out = await withClient(page, async (c) => {
      const a = await c.getAccessToken();
      const b = await c.getAccessToken();
      return { same: a === b, jti: window.helseid.decodeJwt(a).claims.jti };
    });
    assert.deepEqual(out, { same: true, jti: s.accessTokenClaims.jti });
    assert.equal(d().counts().token, 0);
    const r1 = await withClient(page, (c) => c.refresh());
    const r2 = await withClient(page, (c) => c.refresh());
    assert.equal(r1.error ?? r2.error, undefined, JSON.stringify(r1.error ?? r2.error));
    assert.notEqual(r1.accessTokenClaims.jti, s.accessTokenClaims.jti);
    assert.equal(d().counts().token_by_grant.refresh_token, 2);
    const seen = d().refreshTokensSeen();
    assert.equal(new Set(seen).size, 2, 'each refresh sent the newest refresh token');
    assert.deepEqual(await events(page), ['tokenRefreshed', 'tokenRefreshed']);
    await page.close();
  });

  test(`${mode}: a second tab joins without a request; two tabs at expiry make exactly 1 token request and share the new token`, async () => {
    host = mode;
    const a = await wk.newPage();
    const o = opts({ refreshLeewaySeconds: 30 });
    d().setOptions({ accessTokenTtl: 20 }); // within the leeway at once: the next call refreshes
    await login(a, stack, o);
    d().setOptions({ accessTokenTtl: 120 });
    d().reset();
    const [b, joined] = await joiningTab(o);
    assert.equal(joined?.helseid.pid, '06828399789', 'the new tab has the session');
    assert.deepEqual([d().counts().authorize, d().counts().token], [0, 0]);

    const [ta, tb] = await Promise.all([
      withClient(a, (c) => Promise.all(Array.from({ length: 10 }, () => c.getAccessToken())).then((t) => [...new Set(t)])),
      withClient(b, (c) => Promise.all(Array.from({ length: 10 }, () => c.getAccessToken())).then((t) => [...new Set(t)])),
    ]);
    assert.equal(ta.length, 1, JSON.stringify(ta));
    assert.deepEqual(tb, ta, 'both tabs hold the same new access token');
    assert.equal(d().counts().token, 1);
    assert.equal(d().counts().token_by_grant.refresh_token, 1);
    assert.deepEqual([await events(a), await events(b)], [['tokenRefreshed'], ['tokenRefreshed']]);
    await a.close();
    await b.close();
  });

  test(`${mode}: setContext in a follower tab: 1 token request in all, the new organisation in both tabs, contextChanged in both`, async () => {
    host = mode;
    const a = await wk.newPage();
    const o = opts({ context: { organization: { child: '910000011' } } });
    await login(a, stack, o);
    const [b] = await joiningTab(o);
    d().reset();
    const s = await withClient(b, (c) => c.setContext({ organization: { child: '910000012' } }));
    assert.equal(s.error, undefined, JSON.stringify(s.error));
    assert.equal(s.helseid.orgnrChild, '910000012');
    assert.equal(d().counts().token_by_grant.refresh_token, 1);
    assert.deepEqual(d().detailsSeen().map((e) => [e.grant, e.status, e.orgnrChild]), [['refresh_token', 200, '910000012']]);
    const inA = await withClient(a, async (c) => ({
      context: c.context(),
      orgnr: window.helseid.decodeJwt(await c.getAccessToken()).claims['helseid://claims/client/claims/orgnr_child'],
    }));
    assert.deepEqual(inA, { context: { organization: { child: '910000012' } }, orgnr: '910000012' });
    assert.equal(d().counts().token, 1, 'the holder adopted the switch without a request');
    for (const p of [a, b]) assert.ok((await events(p)).includes('contextChanged'));
    await a.close();
    await b.close();
  });

  test(`${mode}: client.fetch calls the SFM-style API through its use_dpop_nonce challenge, and keeps the nonce`, async () => {
    host = mode;
    const page = await wk.newPage();
    await login(page, stack, opts());
    d().reset();
    const out = await page.evaluate(async (api) => {
      const first = await window.client.fetch(`${api}/api/whoami`);
      const second = await window.client.fetch(`${api}/api/whoami`);
      return { s1: first.status, s2: second.status, body: await first.json() };
    }, d().apiOrigin);
    assert.deepEqual([out.s1, out.s2, out.body.pid], [200, 200, '06828399789']);
    assert.equal(d().counts().api, 3, 'challenge + retry, then one call with the kept nonce');
    await page.close();
  });

  test(`${mode}: logout revokes the refresh token, reaches end_session and comes back; the other tab drops the session with loggedOut`, async () => {
    host = mode;
    const a = await wk.newPage();
    const o = opts();
    await login(a, stack, o);
    const [b] = await joiningTab(o);
    d().reset();
    const back = a.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: 15_000 });
    await a.evaluate(() => { window.client.logout({ state: 'bye' }); }).catch(() => {});
    await back;
    const other = await withClient(b, (c) => ({ session: c.session(), events: window.events.map((e) => e.name) }));
    assert.deepEqual(other, { session: null, events: ['loggedOut'] });
    const c = d().counts();
    assert.deepEqual([c.revocation, c.end_session], [1, 1]);
    await a.close();
    await b.close();
  });
}

// ---------------------------------------------------------------- the thin page (issue 22)
test('thin page: a second tab with no WebAssembly joins the host\'s session; with the tab that logged in closed, it refreshes (its JS-signed assertion), calls the API through the nonce challenge and logs out', async () => {
  host = 'worker';
  const o = opts();
  const a = await wk.newPage();
  const s = await login(a, stack, o);
  const keep = await wk.newPage(); // another thin tab: the session outlives the first
  await openApp(keep, stack.appOrigin, '?thin');
  await keep.evaluate((x) => window.attach(x), o);
  const b = await wk.newPage();
  await openApp(b, stack.appOrigin, '?thin');
  const joined = await b.evaluate((x) => window.attach(x), o);
  assert.equal(joined?.accessTokenClaims.jti, s.accessTokenClaims.jti);
  const wasm = await b.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => /helseid_wasm(_bg\.wasm|\.js)$/.test(n)));
  assert.deepEqual(wasm, [], 'no part of the whole package in the thin tab');
  assert.equal(await withClient(b, (c) => c.sessionHost()), 'worker');
  await a.close();
  d().reset();
  const r = await withClient(b, (c) => c.refresh());
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.notEqual(r.accessTokenClaims.jti, s.accessTokenClaims.jti);
  assert.equal(d().counts().token_by_grant.refresh_token, 1);
  const api = await withClient(b, async (c, url) => (await c.fetch(url)).status, `${d().apiOrigin}/api/whoami`);
  assert.equal(api, 200);
  assert.equal(d().counts().api, 2, 'the challenge and the retry');
  const back = b.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: 15_000 });
  await b.evaluate(() => { window.client.logout({ state: 'bye' }); }).catch(() => {});
  await back;
  assert.deepEqual([d().counts().revocation, d().counts().end_session], [1, 1]);
  const other = await withClient(keep, (c) => ({ session: c.session(), events: window.events.map((e) => e.name) }));
  assert.deepEqual(other, { session: null, events: ['tokenRefreshed', 'loggedOut'] });
  await b.close();
  await keep.close();
});

// ---------------------------------------------------------------- verifyJwt
const ISS = 'https://helseid-sts.test.nhn.no';

async function signed(alg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { modulusLength: 2048, extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: alg.toLowerCase(), alg, use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sub: `user-${alg}` })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: 'at+jwt' })
    .setIssuer(ISS).setAudience('e-helse:sfm.api').setIssuedAt(now - 5).setExpirationTime(now + 600)
    .sign(privateKey);
  const [h, p, sig] = token.split('.');
  const bytes = Buffer.from(sig, 'base64url');
  bytes[7] ^= 1;
  return { token, forged: `${h}.${p}.${bytes.toString('base64url')}`, jwk };
}

for (const alg of ['RS256', 'ES256']) {
  test(`verifyJwt ${alg}: a good token gives its claims, a changed signature is signature_invalid, a wrong issuer claim_invalid iss`, async () => {
    const { token, forged, jwk } = await signed(alg);
    const page = await wk.newPage();
    await openApp(page, stack.appOrigin);
    const out = await page.evaluate(async ({ token, forged, jwk, iss }) => {
      const o = { jwks: { keys: [jwk] }, issuer: iss, audience: 'e-helse:sfm.api', typ: 'at+jwt' };
      const code = (p) => p.then(() => 'resolved', (e) => [e.code, e.claim ?? null]);
      return {
        sub: (await window.helseid.verifyJwt(token, o)).sub,
        again: (await window.helseid.verifyJwt(token, o)).sub, // the imported key's fast path
        forged: await code(window.helseid.verifyJwt(forged, o)),
        iss: await code(window.helseid.verifyJwt(token, { ...o, issuer: 'https://other.example' })),
      };
    }, { token, forged, jwk, iss: ISS });
    assert.deepEqual(out, {
      sub: `user-${alg}`, again: `user-${alg}`, forged: ['signature_invalid', null], iss: ['claim_invalid', 'iss'],
    });
    await page.close();
  });
}

// ---------------------------------------------------------------- the demo page
test('demo page: log in with the backend signer against the double, every check passes; screenshot in artifacts/', async () => {
  // The first window: the only one in the foreground (a screenshot of a background tab hangs).
  const { page } = wk;
  await page.goto(`${stack.appOrigin}/`);
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true');
  // As a user types: the value, then input and change events.
  await page.evaluate(({ issuer, api }) => {
    const fill = (sel, value) => {
      const el = document.querySelector(sel);
      el.value = value;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    };
    fill('#issuer', issuer);
    fill('#signer-url', `${api}/assertion`);
    document.querySelector('#advanced').open = true;
    fill('#api-base', api);
    setTimeout(() => document.querySelector('#login').click());
  }, { issuer: d().issuer, api: d().apiOrigin });
  await page.waitForURL((u) => u.origin === stack.appOrigin && !u.search.includes('state=') && !u.search.includes('code='), { timeout: 20_000 });
  await page.waitForFunction(() => !document.querySelector('#session')?.hidden || !document.querySelector('#error')?.hidden, null, { timeout: 20_000 });
  const shown = await page.evaluate(() => ({
    error: document.querySelector('#error').hidden ? null : document.querySelector('#error').textContent,
    pid: document.querySelector('[data-fact="pid"]').textContent,
    checks: Object.fromEntries([...document.querySelectorAll('#checks [data-check]')].map((i) => [i.dataset.check, i.dataset.status])),
  }));
  assert.equal(shown.error, null);
  assert.equal(shown.pid, '06828399789');
  assert.deepEqual(Object.keys(shown.checks), ['callback', 'signature', 'iss', 'aud', 'exp', 'nonce', 'sfm', 'level', 'dpop']);
  for (const [id, status] of Object.entries(shown.checks)) assert.equal(status, 'pass', `check ${id}`);
  await mkdir(join(REPO_ROOT, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO_ROOT, 'artifacts', 'demo-logged-in-webkit.png') });
});
