// The thin page (issue 22): pkg/helseid_wasm_page.js, the same API as the whole package with no
// WebAssembly in the page while the session host runs. Its stand-in in the worker makes every
// decision; the page signs client assertions itself, in JS, with its own key or getAssertion.
// host.test.mjs and security-tabs.test.mjs also run whole with thin pages (host-thin.test.mjs,
// security-tabs-thin.test.mjs); these tests are what only a thin page has.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freshContextSuite, skipIn, until } from './harness.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';
import { attachedTab, clientOptions, hostConfig, login, openApp, startLogin, withClient, workerOptions } from './flow.mjs';

const suite = freshContextSuite();
const { inBrowser } = suite;
let stack;
let d;
beforeEach(() => {
  ({ stack, d } = suite);
});

const workerOpts = (more, extra) => workerOptions(stack, extra, more);

/** A thin tab of the app with a client attached; returns { page, session }. */
const thinTab = (b, opts) => attachedTab(b, stack, opts, '?thin');

/** What the page itself fetched (its resource timing: a worker's fetches are not in it). */
const loaded = (page) => page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
const WHOLE = /\/pkg\/(helseid_wasm\.js|helseid_wasm_bg\.wasm)$/;
const events = (page) => page.evaluate(() => window.events.map((e) => ({ name: e.name, cause: e.detail?.cause ?? null })));
const opRequests = () => {
  const c = d.counts();
  return { discovery: c.discovery, jwks: c.jwks, par: c.par, token: c.token, revocation: c.revocation };
};

test('a thin tab joins the host\'s session with no WebAssembly in the page: session() at once, the host\'s token, nothing sent to HelseID', async () => inBrowser(async (b) => {
  const opts = workerOpts();
  const a = await b.newPage();
  const s = await login(a, stack, opts);
  d.reset();
  const { page, session } = await thinTab(b, opts);
  assert.equal(await page.evaluate(() => window.thin), true);
  const files = await loaded(page);
  assert.ok(files.includes('/pkg/helseid_wasm_page.js'), files.join(' '));
  assert.deepEqual(files.filter((f) => WHOLE.test(f)), [], 'the page loaded no part of the whole package');
  assert.equal(await page.evaluate(() => window.wasmMemory), undefined);
  assert.equal(session.accessTokenClaims.jti, s.accessTokenClaims.jti);
  assert.deepEqual(session.idTokenClaims, s.idTokenClaims);
  assert.deepEqual(await withClient(page, (c) => c.context()), await withClient(a, (c) => c.context()));
  assert.equal(await withClient(page, (c) => c.sessionHost()), 'worker');
  const [ta, tb] = await Promise.all([a, page].map((p) => withClient(p, (c) => c.getAccessToken())));
  assert.equal(tb, ta);
  assert.deepEqual(opRequests(), { discovery: 0, jwks: 0, par: 0, token: 0, revocation: 0 });
  // Still none after the calls: nothing the page did needed the whole package.
  assert.deepEqual((await loaded(page)).filter((f) => WHOLE.test(f)), []);
}));

test('a thin page signs client assertions in JS with its own key: with only thin tabs open, refresh() makes 1 token request, and tokenRefreshed says "call" here and "other-tab" in the other', async () => inBrowser(async (b) => {
  const opts = workerOpts();
  const a = await b.newPage();
  await login(a, stack, opts);
  const one = (await thinTab(b, opts)).page;
  const two = (await thinTab(b, opts)).page;
  await a.close();
  d.reset();
  const before = await withClient(one, (c) => c.session().accessTokenClaims.jti);
  const s = await withClient(one, (c) => c.refresh());
  assert.equal(s.error, undefined, JSON.stringify(s.error));
  assert.notEqual(s.accessTokenClaims.jti, before);
  assert.deepEqual(opRequests(), { discovery: 0, jwks: 0, par: 0, token: 1, revocation: 0 });
  assert.equal(d.counts().token_by_grant.refresh_token, 1);
  await until('the other thin tab has the new token', async () => (await withClient(two, (c) => c.session().accessTokenClaims.jti)) === s.accessTokenClaims.jti);
  assert.deepEqual(await events(one), [{ name: 'tokenRefreshed', cause: 'call' }]);
  assert.deepEqual(await events(two), [{ name: 'tokenRefreshed', cause: 'other-tab' }]);
}));

test('a thin page with an assertion_provider: the host asks its getAssertion, in the page, for the refresh', async () => inBrowser(async (b) => {
  const opts = workerOpts({ assertion: true });
  const a = await b.newPage();
  await login(a, stack, opts);
  const { page } = await thinTab(b, opts);
  await a.close();
  d.reset();
  const s = await withClient(page, (c) => c.refresh());
  assert.equal(s.error, undefined, JSON.stringify(s.error));
  assert.equal(d.counts().token, 1);
  const calls = await page.evaluate(() => window.assertionCalls.map((c) => c.grantType));
  assert.deepEqual(calls, ['refresh_token']);
}));

test('a thin page logs in: loginWithRedirect and handleRedirectCallback (the whole package loads for them, then the page is thin again)', async () => inBrowser(async (b) => {
  const opts = workerOpts();
  // Another tab of the app keeps the worker (Firefox ends it with its last page, and this tab
  // leaves for HelseID and comes back).
  await thinTab(b, opts);
  const page = await b.newPage();
  await openApp(page, stack.appOrigin, '?thin');
  const back = await startLogin(page, stack, opts);
  // The same tab, thin again (its sessionStorage keeps the login attempt), takes the callback.
  await openApp(page, stack.appOrigin, '?thin');
  const r = await page.evaluate(async ({ o, url }) => {
    try {
      await window.attach(o);
      const isCallback = window.client.isRedirectCallback(url);
      const session = await window.client.handleRedirectCallback(url);
      return { isCallback, pid: session.helseid.pid, now: window.client.session()?.helseid.pid ?? null };
    } catch (e) {
      return { error: window.errorInfo(e) };
    }
  }, { o: opts, url: back });
  assert.deepEqual(r, { isCallback: true, pid: '06828399789', now: '06828399789' });
  assert.equal(d.counts().token_by_grant.authorization_code, 1);
  const { session } = await thinTab(b, opts);
  assert.equal(session.helseid.pid, '06828399789');
}));

test('thin fetch: the API\'s DPoP nonce challenge is answered once, and the nonce serves every tab after (1 request each)', async () => inBrowser(async (b) => {
  const opts = workerOpts();
  const a = await b.newPage();
  await login(a, stack, opts);
  const one = (await thinTab(b, opts)).page;
  const two = (await thinTab(b, opts)).page;
  const call = (p) => withClient(p, async (c, url) => {
    const r = await c.fetch(url);
    return { status: r.status, body: await r.json() };
  }, `${d.apiOrigin}/api/whoami`);
  d.reset();
  const first = await call(one);
  assert.equal(first.status, 200, JSON.stringify(first));
  assert.equal(d.counts().api, 2, 'the challenge and the retry');
  d.reset();
  assert.equal((await call(two)).status, 200);
  assert.equal(d.counts().api, 1, 'the other thin tab used the nonce the first one took');
  // authHeaders + the app's own fetch, as axios would.
  d.reset();
  const own = await withClient(one, async (c, url) => {
    const r = await fetch(url, { headers: await c.authHeaders(url) });
    return { status: r.status, retry: c.takeDpopNonce(r) };
  }, `${d.apiOrigin}/api/whoami`);
  assert.deepEqual(own, { status: 200, retry: false });
  assert.equal(d.counts().token, 0);
}));

test('errors cross as HelseIdErrors; logout() from a thin tab sends the browser to end_session and ends the session in every tab', async () => inBrowser(async (b) => {
  const opts = workerOpts();
  const a = await b.newPage();
  await login(a, stack, opts);
  const one = (await thinTab(b, opts)).page;
  const two = (await thinTab(b, opts)).page;
  // A config that cannot cross to the worker (a function outside clientAuth) is config_invalid.
  const bad = await one.evaluate(async (o) => {
    try {
      await window.makeClient({ ...o, extra: { ...o.extra, httpTimeoutSeconds: 5 }, apiOrigins: { ...o.apiOrigins, hook: () => 1 } });
      return null;
    } catch (e) {
      return window.errorInfo(e);
    }
  }, opts);
  assert.equal(bad?.code, 'config_invalid', JSON.stringify(bad));
  const denied = await withClient(one, (c) => c.authHeaders('https://elsewhere.example/api'));
  assert.equal(denied.error.isHelseIdError, true);
  assert.equal(denied.error.code, 'origin_not_allowed');
  d.reset();
  const left = one.waitForURL((u) => u.pathname.endsWith('/session/end') || u.pathname.includes('end_session') || u.searchParams.has('id_token_hint'), { timeout: 20_000 }).catch(() => null);
  await one.evaluate(() => { window.client.logout(); });
  await left;
  await until('end_session reached', () => d.counts().end_session >= 1);
  assert.equal(d.counts().revocation, 1);
  await until('loggedOut in the other thin tab', async () => (await events(two)).some((e) => e.name === 'loggedOut'));
  assert.equal(await withClient(two, (c) => c.session()), null);
  const after = await withClient(two, (c) => c.getAccessToken());
  assert.equal(after.error.code, 'login_required');
  assert.equal(after.error.isHelseIdError, true);
}));

test('decodeJwt in a thin page gives what the whole package gives: real HelseID tokens, and the same error code for every malformed one', async () => inBrowser(async (b) => {
  const fixtures = await Promise.all(['access_token.jwt', 'id_token.jwt'].map((f) => readFile(join(REPO_ROOT, 'tests', 'fixtures', f), 'utf8')));
  const page = await b.newPage();
  await openApp(page, stack.appOrigin, '?thin');
  const [good, bad] = [fixtures.map((t) => t.trim()), ['', 'a.b', 'a.b.c.d', '!!.e30.', 'e30.e30.', 'eyJhbGciOjF9.e30.', 'eyJhbGciOiJSUzI1NiJ9.W10.', 'eyJhbGciOiJSUzI1NiJ9.e30.***', 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.']];
  const r = await page.evaluate(async ({ good, bad }) => {
    const whole = await import('/pkg/helseid_wasm.js');
    await whole.default();
    const run = (m, t) => { try { return { ok: m.decodeJwt(t) }; } catch (e) { return { code: e.code, name: e.name }; } };
    return [...good, ...bad].map((t) => ({ thin: run(window.helseid, t), whole: run(whole, t) }));
  }, { good, bad });
  for (const [i, { thin, whole }] of r.entries()) assert.deepEqual(thin, whole, `token ${i}`);
  assert.equal(r[0].thin.ok.claims['helseid://claims/identity/pid'], '06828399789');
  assert.ok(r.slice(good.length).every((x) => x.thin.code === 'invalid_token'));
}));

test('sessionHost "page" in a thin page loads the whole package and holds the session in the page', async () => inBrowser(async (b) => {
  const opts = clientOptions(stack, { host: 'page', extra: { autoRefresh: false } });
  const a = await b.newPage();
  await login(a, stack, opts);
  const { page, session } = await thinTab(b, opts);
  assert.equal(session.helseid.pid, '06828399789');
  assert.equal(await withClient(page, (c) => c.sessionHost()), 'page-follower');
  assert.ok((await loaded(page)).some((f) => f.endsWith('/pkg/helseid_wasm_bg.wasm')));
}));

test('the worker gone (closed through the DevTools protocol): a thin tab\'s calls reject login_required instead of hanging, and sessionExpired fires once', skipIn('firefox', 'no protocol here ends a SharedWorker from outside; Chromium\'s CDP does'), async () => {
  await inBrowser(async (b) => {
    const opts = workerOpts();
    const a = await b.newPage();
    await login(a, stack, opts);
    const { page } = await thinTab(b, opts);
    await a.close();
    const cdp = await b.context.newCDPSession(page);
    const { targetInfos } = await cdp.send('Target.getTargets');
    const workers = targetInfos.filter((w) => w.type === 'shared_worker');
    assert.equal(workers.length, 1, JSON.stringify(targetInfos.map((w) => w.type)));
    await cdp.send('Target.closeTarget', { targetId: workers[0].targetId });
    await until('sessionExpired in the thin tab', async () => (await events(page)).some((e) => e.name === 'sessionExpired'));
    assert.equal(await withClient(page, (c) => c.session()), null);
    const r = await withClient(page, (c) => c.getAccessToken());
    assert.equal(r.error.code, 'login_required');
    assert.deepEqual((await events(page)).map((e) => e.name), ['sessionExpired']);
  });
});

test('a page of the origin that speaks the thin protocol: a 20 MB call is dropped before it reaches wasm, calls outside the API get nothing, and the host goes on answering', async () => inBrowser(async (b) => {
  const opts = workerOpts();
  const a = await b.newPage();
  await login(a, stack, opts);
  const version = JSON.parse(await readFile(join(REPO_ROOT, 'pkg', 'package.json'), 'utf8')).version;
  const spy = await b.newPage();
  await spy.goto(`${stack.appOrigin}/e2e/blank.html`);
  const config = { ...hostConfig(stack, opts), apiOrigins: opts.apiOrigins };
  await spy.evaluate(async ({ name, config }) => {
    // The options must be the library's (Chromium refuses another extendedLifetime).
    const w = new SharedWorker('/pkg/helseid_wasm_worker.js', { type: 'module', name, extendedLifetime: true });
    window.got = [];
    w.port.onmessage = (e) => window.got.push(e.data);
    const lock = `spy-${crypto.randomUUID()}`;
    await new Promise((held) => navigator.locks.request(lock, () => { held(); return new Promise(() => {}); }));
    window.port = w.port;
    w.port.postMessage({ p: 'open', config, lock, signs: false });
  }, { name: `helseid-wasm@${version}`, config });
  const opened = await until('opened', () => spy.evaluate(() => window.got.find((m) => m.p === 'opened')));
  assert.deepEqual(opened, { p: 'opened' }, 'a page of the origin gets a stand-in, as it could say hello');
  await spy.evaluate(() => {
    window.port.postMessage({ p: 'call', id: 'big', method: 'authHeaders', args: ['x'.repeat(20_000_000)] });
    window.port.postMessage({ p: 'call', id: 'dispose', method: 'dispose', args: [] });
    window.port.postMessage({ p: 'call', id: 'proto', method: '__proto__', args: [] });
    window.port.postMessage({ p: 'call', id: 'ok', method: 'session', args: [] });
  });
  await until('the small call answered', () => spy.evaluate(() => window.got.some((m) => m.id === 'ok')));
  const ids = await spy.evaluate(() => window.got.filter((m) => m.p === 'result').map((m) => m.id));
  assert.deepEqual(ids, ['ok'], 'only the API call that fits got an answer');
  d.reset();
  const r = await withClient(a, (c) => c.refresh());
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal(d.counts().token, 1);
}));
