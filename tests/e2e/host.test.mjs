// The session host (API.md "Session host", issue 19): the session lives in the package's module
// SharedWorker, pages are its clients over their own ports. Each test gets a fresh browser (the
// host outlives its pages: Chromium's extended lifetime keeps it for minutes), and asserts at the
// double what reached HelseID: exact request counts, exact errors.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshContextSuite, startStack, until, ENGINE } from './harness.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';
import { attachedTab, clientOptions, hostConfig, login, withClient, workerOptions } from './flow.mjs';

const VERSION = JSON.parse(await readFile(join(REPO_ROOT, 'pkg', 'package.json'), 'utf8')).version;
const WORKER_NAME = `helseid-wasm@${VERSION}`;

// Each test in a fresh browser context (a host, locks and channels with no past).
const suite = freshContextSuite();
const { inBrowser } = suite;
let stack;
let d;
// Read once the suite's own hooks have run (they are the first registered).
beforeEach(() => {
  ({ stack, d } = suite);
});

const hostOpts = (extra, more) => workerOptions(stack, extra, more);

/** A tab of the app with a client attached (`window.client`); returns { page, session }. */
const tab = (b, opts) => attachedTab(b, stack, opts);

/** Requests the OP has seen since the last reset (preflights aside). */
function opRequests() {
  const c = d.counts();
  return { discovery: c.discovery, jwks: c.jwks, par: c.par, authorize: c.authorize, token: c.token, revocation: c.revocation };
}
const NONE = { discovery: 0, jwks: 0, par: 0, authorize: 0, token: 0, revocation: 0 };

const events = (page) => page.evaluate(() => window.events.map((e) => e.name));
const jti = (page) => withClient(page, (c) => c.session()?.accessTokenClaims.jti ?? null);

test('worker mode: the session lives in the host; a second tab joins with nothing sent to HelseID, and every tab says sessionHost() "worker"', async () => inBrowser(async (b) => {
  const a = await b.newPage();
  const opts = hostOpts();
  const s = await login(a, stack, opts);
  assert.equal(s.helseid.pid, '06828399789');
  assert.equal(s.tokenType, 'DPoP');
  d.reset();
  const { page: bTab, session } = await tab(b, opts);
  assert.equal(session?.accessTokenClaims.jti, s.accessTokenClaims.jti, 'the new tab has the session at once');
  // The ID token's claims whole, as the host verified them (its port is the page's own).
  for (const claims of [s.idTokenClaims, session.idTokenClaims]) {
    assert.equal(typeof claims.nonce, 'string', JSON.stringify(Object.keys(claims)));
    assert.equal(typeof claims.exp, 'number');
    assert.ok(claims.aud);
  }
  assert.deepEqual(session.idTokenClaims, s.idTokenClaims);
  assert.deepEqual(opRequests(), NONE);
  for (const p of [a, bTab]) assert.equal(await withClient(p, (c) => c.sessionHost()), 'worker');
  const [ta, tb] = await Promise.all([a, bTab].map((p) => withClient(p, (c) => c.getAccessToken())));
  assert.equal(ta, tb);
  assert.deepEqual(opRequests(), NONE, 'a fresh token is served from the cache');
}));

test('close the tab that logged in: the two others keep the session for three access-token lifetimes, one token request per refresh, no login', async () => inBrowser(async (b) => {
  const TTL = 12;
  d.setOptions({ accessTokenTtl: TTL });
  const opts = hostOpts({ autoRefresh: true, refreshLeewaySeconds: 3 });
  const a = await b.newPage();
  await login(a, stack, opts);
  const others = [(await tab(b, opts)).page, (await tab(b, opts)).page];
  await a.close();
  d.reset();
  const closedAt = Date.now();
  // Four refreshes, 9 s apart, span three lifetimes: the host's own schedule, no tab asks.
  await until('four refreshes by the host', () => d.counts().token_by_grant.refresh_token >= 4, 4 * TTL * 1000 + 10_000);
  assert.ok(Date.now() - closedAt >= 3 * (TTL - 3) * 1000, 'the refreshes were spread over three lifetimes');
  const c = d.counts();
  const refreshes = c.token_by_grant.refresh_token;
  assert.equal(c.token, refreshes, 'one token request per refresh');
  assert.deepEqual([c.token_by_grant.authorization_code, c.par, c.authorize], [0, 0, 0], 'no login');
  const now = Math.floor(Date.now() / 1000);
  const tokens = [];
  for (const p of others) {
    assert.equal(await withClient(p, (c) => c.session()?.helseid.pid), '06828399789');
    const at = await withClient(p, (c) => c.getAccessToken());
    tokens.push(at);
    const names = await events(p);
    assert.ok(names.filter((n) => n === 'tokenRefreshed').length >= refreshes - 1, JSON.stringify(names));
    assert.deepEqual(names.filter((n) => n !== 'tokenRefreshed'), [], 'no session event');
  }
  assert.equal(tokens[0], tokens[1]);
  const exp = JSON.parse(Buffer.from(tokens[0].split('.')[1], 'base64url').toString()).exp;
  assert.ok(exp > now, 'a valid token');
}));

test('reload one of three tabs: create() resolves with session() set and nothing is sent to HelseID', async () => inBrowser(async (b) => {
  const opts = hostOpts();
  const a = await b.newPage();
  const s = await login(a, stack, opts);
  const { page: bTab } = await tab(b, opts);
  await tab(b, opts);
  d.reset();
  await bTab.reload();
  await bTab.waitForFunction(() => window.ready === true);
  const after = await bTab.evaluate((o) => window.attach(o).then((session) => session?.accessTokenClaims.jti ?? null), opts);
  assert.equal(after, s.accessTokenClaims.jti);
  assert.deepEqual(opRequests(), NONE);
}));

test('reload the only tab: Chromium keeps the session (the worker\'s extended lifetime); Firefox ends the worker with its last page, as the README says', async () => inBrowser(async (b) => {
  const opts = hostOpts();
  const a = await b.newPage();
  const s = await login(a, stack, opts);
  d.reset();
  await a.reload();
  await a.waitForFunction(() => window.ready === true);
  const after = await a.evaluate((o) => window.attach(o).then((session) => session?.accessTokenClaims.jti ?? null), opts);
  console.log(`# ${ENGINE}: after a reload of the only tab the session is ${after ? 'kept' : 'gone'}`);
  if (ENGINE === 'chromium') {
    assert.equal(after, s.accessTokenClaims.jti);
    assert.deepEqual(opRequests(), NONE);
  } else {
    assert.equal(after, null);
    assert.equal(d.counts().token, 0, 'nothing refreshed: the host that held the grant is gone');
  }
}));

test('storm: 3 tabs × 50 getAccessToken() at expiry make exactly 1 token request and all get the same token', async () => inBrowser(async (b) => {
  const opts = hostOpts({ refreshLeewaySeconds: 30 });
  d.setOptions({ accessTokenTtl: 20 }); // within the leeway at once
  const a = await b.newPage();
  await login(a, stack, opts);
  d.setOptions({ accessTokenTtl: 120 });
  const tabs = [a, (await tab(b, opts)).page, (await tab(b, opts)).page];
  d.reset();
  const got = await Promise.all(tabs.map((p) => withClient(p, (c) => Promise.all(Array.from({ length: 50 }, () => c.getAccessToken())))));
  const all = new Set(got.flat());
  assert.equal(all.size, 1, 'one token for all 150 calls');
  assert.deepEqual([d.counts().token, d.counts().token_by_grant.refresh_token], [1, 1]);
}));

test('setContext in one tab: one token request, contextChanged in every tab; logout() in another tab revokes once and ends the session in every tab', async () => inBrowser(async (b) => {
  const opts = hostOpts({ context: { organization: { child: '910000011' } } });
  const a = await b.newPage();
  await login(a, stack, opts);
  const { page: bTab } = await tab(b, opts);
  const { page: cTab } = await tab(b, opts);
  d.reset();
  const s = await withClient(bTab, (c) => c.setContext({ organization: { child: '910000012' } }));
  assert.equal(s.error, undefined, JSON.stringify(s.error));
  assert.equal(s.helseid.orgnrChild, '910000012');
  assert.deepEqual([d.counts().token, d.counts().token_by_grant.refresh_token], [1, 1]);
  for (const p of [a, bTab, cTab]) {
    await p.waitForFunction(() => window.events.some((e) => e.name === 'contextChanged'));
    assert.deepEqual(await withClient(p, (c) => c.context()), { organization: { child: '910000012' } });
    // Its cause: "context" in the page that called setContext, "other-tab" in the others.
    const causes = await p.evaluate(() => window.events.filter((e) => e.name === 'contextChanged').map((e) => e.detail.cause));
    assert.deepEqual(causes, [p === bTab ? 'context' : 'other-tab']);
  }
  d.reset();
  const back = cTab.waitForURL((u) => u.searchParams.get('state') === 'bye', { timeout: 15_000 });
  await cTab.evaluate(() => { window.client.logout({ state: 'bye' }); });
  await back;
  for (const p of [a, bTab]) {
    await p.waitForFunction(() => window.events.some((e) => e.name === 'loggedOut'));
    assert.equal(await withClient(p, (c) => c.session()), null);
  }
  const c = d.counts();
  assert.deepEqual([c.revocation, c.end_session, c.token], [1, 1, 0]);
  const url = new URL(d.requests().find((r) => r.name === 'end_session').path, d.issuer);
  assert.ok(url.pathname.endsWith('/endsession'));
}));

test('assertion_provider: the host asks a page that registered getAssertion; closed, the next page signs; with none left the refresh is token_request_failed, retryable, and the session is kept', async () => inBrowser(async (b) => {
  const signing = hostOpts({}, { assertion: true });
  const a = await b.newPage();
  await login(a, stack, signing);
  const { page: bTab } = await tab(b, signing);
  // A page of the app that cannot sign (its own clientAuth is page-local).
  const { page: cTab } = await tab(b, { ...signing, assertionUrl: undefined, jwk: undefined, extra: { ...signing.extra, clientAuth: { type: 'none' } } });
  const calls = (p) => p.evaluate(() => window.assertionCalls.filter((x) => x.grantType === 'refresh_token').length);
  d.reset();
  const r1 = await withClient(cTab, (c) => c.refresh());
  assert.equal(r1.error, undefined, JSON.stringify(r1.error));
  assert.deepEqual([await calls(a), await calls(bTab)], [1, 0], 'the first page that registered signs');
  await a.close();
  const r2 = await withClient(cTab, (c) => c.refresh());
  assert.equal(r2.error, undefined, JSON.stringify(r2.error));
  assert.equal(await calls(bTab), 1, 'then the next one');
  await bTab.close();
  const before = await jti(cTab);
  const r3 = await withClient(cTab, (c) => c.refresh());
  assert.deepEqual([r3.error?.code, r3.error?.retryable], ['token_request_failed', true], JSON.stringify(r3));
  assert.match(r3.error.message, /no open page of the app can sign/);
  assert.equal(await jti(cTab), before, 'the session is kept');
  assert.deepEqual([d.counts().token_by_grant.refresh_token, d.counts().token], [2, 2], 'nothing sent without an assertion');
}));

test('assertion_provider: a page whose getAssertion never answers is given assertionTimeoutSeconds, then the next page signs', async () => inBrowser(async (b) => {
  const signing = hostOpts({ assertionTimeoutSeconds: 2 }, { assertion: true });
  const a = await b.newPage();
  await login(a, stack, signing);
  const { page: bTab } = await tab(b, signing);
  // A's backend stops answering.
  await a.evaluate(() => {
    const real = window.fetch;
    window.fetch = (input, init) => (String(input).endsWith('/assertion') ? new Promise(() => {}) : real(input, init));
  });
  d.reset();
  const out = await withClient(bTab, async (c) => {
    const t0 = performance.now();
    await c.refresh();
    return performance.now() - t0;
  });
  assert.equal(typeof out, 'number', JSON.stringify(out));
  assert.ok(out >= 1_900 && out < 6_000, `the refresh took ${out} ms`);
  const calls = (p) => p.evaluate(() => window.assertionCalls.filter((x) => x.grantType === 'refresh_token').length);
  assert.deepEqual([await calls(a), await calls(bTab)], [1, 1]);
  assert.equal(d.counts().token_by_grant.refresh_token, 1);
}));

test('leaks: a blank page of the origin connects to the host and a page for another client id joins it; neither finds a refresh token or an ID token, on a port, a channel, in IndexedDB or a storage', async () => inBrowser(async (b) => {
  const opts = hostOpts();
  const a = await b.newPage();
  await login(a, stack, opts);
  const [issued] = d.issuedTokens();
  const secrets = { refreshToken: issued.refreshToken, idToken: issued.idToken };
  const blank = await b.newPage();
  await blank.goto(`${stack.appOrigin}/e2e/blank.html`);
  const config = { issuer: d.issuer, clientId: 'helseid-wasm-rs256' };
  const seen = await blank.evaluate(async ({ name, version, full }) => {
    const talk = (hello) => new Promise((resolve) => {
      // The options the package uses (a worker of another type or lifetime is another worker).
      const w = new SharedWorker('/pkg/helseid_wasm_worker.js', { type: 'module', name, extendedLifetime: true });
      const got = [];
      w.port.onmessage = (e) => {
        got.push(e.data.m);
        const t = JSON.parse(e.data.m).t;
        if (t === 'welcome' && JSON.parse(e.data.m).error) resolve(got);
        if (t === 'view') resolve(got);
      };
      w.port.start();
      w.port.postMessage({ m: JSON.stringify(hello) });
    });
    const lock = `attacker-${Math.random()}`;
    await new Promise((resolve) => { navigator.locks.request(lock, () => { resolve(); return new Promise(() => {}); }); });
    const base = { t: 'hello', lock, signer: 'none' };
    return {
      same: await talk({ ...base, version, config: full }),
      otherVersion: await talk({ ...base, version: '9.9.9', config: full }),
      otherConfig: await talk({ ...base, version, config: { ...full, requiredSecurityLevel: '3' } }),
      storages: JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }),
      idb: await new Promise((resolve) => {
        const open = indexedDB.open('helseid-wasm');
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains('keys')) { resolve('[]'); return; }
          const all = db.transaction('keys').objectStore('keys').getAll();
          all.onsuccess = () => resolve(JSON.stringify(all.result.map((r) => Object.keys(r))));
        };
        open.onerror = () => resolve('[]');
      }),
    };
  }, { name: WORKER_NAME, version: VERSION, full: { ...hostConfig(stack, opts), ...config } });
  const text = JSON.stringify(seen);
  for (const [what, secret] of Object.entries(secrets)) {
    for (const piece of secret.split('.').filter((p) => p.length >= 16)) assert.ok(!text.includes(piece), `no ${what} anywhere`);
  }
  const view = seen.same.map((m) => JSON.parse(m)).find((m) => m.t === 'view');
  assert.ok(view?.view?.tokens?.[0]?.accessToken, 'a page of the origin can get an access token (README: what a same-origin script can do)');
  const refusal = (list) => JSON.parse(list.find((m) => JSON.parse(m).t === 'welcome')).error;
  assert.match(refusal(seen.otherVersion).message, /this session host runs helseid-wasm .* the page 9\.9\.9/);
  assert.equal(refusal(seen.otherConfig).code, 'config_invalid');
  assert.equal(seen.idb, '[]', 'no DPoP key record in IndexedDB once the code is exchanged');
  // A page with the library for another client id: another session, nothing of this one.
  const { page: other, session } = await tab(b, hostOpts({}, { clientId: 'helseid-wasm-es256' }));
  assert.equal(session, null);
  assert.equal(await withClient(other, (c) => c.sessionHost()), 'worker');
}));

test('a Content-Security-Policy that blocks workers: "auto" holds the session in the page and logs in; "worker" is config_invalid saying why', async () => {
  const csp = await startStack({
    static: { headers: { 'Content-Security-Policy': "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; connect-src *; worker-src 'none'" } },
  });
  try {
    await inBrowser(async (b) => {
      const page = await b.newPage();
      const auto = clientOptions(csp, { host: 'auto', extra: { autoRefresh: false } });
      const s = await login(page, csp, auto);
      assert.equal(s.helseid.pid, '06828399789');
      assert.equal(await withClient(page, (c) => c.sessionHost()), 'page-holder');
      const worker = workerOptions(csp);
      const out = await page.evaluate((o) => window.makeClient(o).then(() => null, (e) => window.errorInfo(e)), worker);
      assert.equal(out?.code, 'config_invalid', JSON.stringify(out));
      assert.match(out.message, /session host could not start/);
    });
  } finally {
    await csp.close();
  }
});

test('two package versions at once do not share a host: a copy whose worker is named for another version keeps its own sessions', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'helseid-wasm-v2-'));
  try {
    await cp(join(REPO_ROOT, 'pkg'), join(dir, 'pkg2'), { recursive: true });
    const { readdir } = await import('node:fs/promises');
    const [hash] = await readdir(join(dir, 'pkg2', 'snippets'));
    const snippet = join(dir, 'pkg2', 'snippets', hash, 'js', 'host.js');
    const text = await readFile(snippet, 'utf8');
    assert.ok(text.includes(WORKER_NAME));
    await writeFile(snippet, text.replaceAll(WORKER_NAME, 'helseid-wasm@99.0.0'));
    const app = (await readFile(join(REPO_ROOT, 'tests', 'e2e', 'pages', 'app.html'), 'utf8')).replace("'/pkg/helseid_wasm.js'", "'/pkg2/helseid_wasm.js'");
    await writeFile(join(dir, 'app2.html'), app);
    const two = await startStack({ static: { routes: { '/pkg/': join(REPO_ROOT, 'pkg'), '/e2e/': join(REPO_ROOT, 'tests', 'e2e', 'pages'), '/pkg2/': join(dir, 'pkg2'), '/v2/': dir } } });
    try {
      await inBrowser(async (b) => {
        const page = await b.newPage();
        const opts = workerOptions(two);
        await login(page, two, opts);
        const other = await b.newPage();
        await other.goto(`${two.appOrigin}/v2/app2.html`);
        await other.waitForFunction(() => window.ready === true);
        const session = await other.evaluate((o) => window.attach(o), opts);
        assert.equal(session, null, 'the other version\'s host has no session');
        assert.equal(await withClient(other, (c) => c.sessionHost()), 'worker');
        // One login (a new worker in Firefox also answers a DPoP nonce challenge first).
        assert.deepEqual(two.double.issuedTokens().map((t) => t.grant), ['authorization_code']);
      });
    } finally {
      await two.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
