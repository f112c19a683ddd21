// Hardening, third round (issue 20): the attacks of the red-team review on the tab protocol, from
// a page of the origin that never loads the library (attacker.mjs), each named after its
// finding, against the page holder (sessionHost "page") and, where the attack applies, the
// session host (sessionHost "worker"). Each asserts what the user would see: who the tabs say is
// logged in, which events fired, what reached HelseID.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freshContextSuite, until } from './harness.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';
import { clientOptions, hostConfig, login, openApp, withClient } from './flow.mjs';
import { openAttacker } from './attacker.mjs';

const VERSION = JSON.parse(await readFile(join(REPO_ROOT, 'pkg', 'package.json'), 'utf8')).version;
const WORKER_NAME = `helseid-wasm@${VERSION}`;
const CLIENT_ID = 'helseid-wasm-rs256';
const KVART = { name: 'KVART GREVLING', pid: '06828399789' };

// Each test in a fresh browser context (a host, locks and channels with no past).
const suite = freshContextSuite();
const { inBrowser } = suite;
let stack;
let d;
// Read once the suite's own hooks have run (they are the first registered).
beforeEach(() => {
  ({ stack, d } = suite);
});

const channelName = () => `helseid-wasm:session:${d.issuer}:${CLIENT_ID}`;
const holderLock = () => `helseid-wasm:holder:${d.issuer}:${CLIENT_ID}`;
const hostLock = () => `helseid-wasm:host:${VERSION}:${d.issuer}:${CLIENT_ID}`;

/** The tab that logs in, and a second tab of the app; `host`: "page" or "worker". */
async function twoTabs(b, host, extra = {}) {
  const opts = clientOptions(stack, { host, extra: { autoRefresh: false, ...extra } });
  const a = await b.newPage();
  await login(a, stack, opts, { loginHint: 'kvart' });
  const t = await b.newPage();
  await openApp(t, stack.appOrigin);
  assert.ok(await t.evaluate((o) => window.attach(o), opts), 'the second tab has the session');
  return { a, b: t, opts };
}

const who = (page) => withClient(page, (c) => {
  const s = c.session();
  return s && { name: s.helseid.name, pid: s.helseid.pid };
});
const events = (page) => page.evaluate(() => window.events.map((e) => e.name));
const jtiOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti;

// ---------------------------------------------------------------- finding 1

test('finding 1 (page holder): the real view replayed under another holder id, a later since and another name makes neither the holder yield nor the follower leave it', async () => inBrowser(async (br) => {
  const { a, b, opts } = await twoTabs(br, 'page');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.listen(channelName());
  const real = await spy.view();
  const forged = structuredClone(real.view);
  forged.holder = 'mallory';
  forged.since += 1;
  forged.generation += 1e12;
  forged.idClaims = { ...forged.idClaims, name: 'MALLORY', 'helseid://claims/identity/pid': '01010112345' };
  await spy.post({ t: 'view', view: forged, nonces: {} });
  // Barrier: a refresh the follower asks the holder for, after the forgery everywhere.
  d.reset();
  const fresh = await withClient(b, (c) => c.getAccessToken({ forceRefresh: true }));
  assert.equal(fresh, d.issuedTokens()[0]?.accessToken, 'the real holder answered');
  for (const [tab, page] of [['holder', a], ['follower', b]]) {
    assert.deepEqual(await who(page), KVART, tab);
    assert.deepEqual(await events(page), ['tokenRefreshed'], `${tab}: no event but the real refresh`);
  }
  assert.equal(await withClient(a, (c) => c.sessionHost()), 'page-holder', 'the holder kept its grant');
  assert.equal(d.counts().revocation, 0);
  // A new tab joins the real session.
  const c = await br.newPage();
  await openApp(c, stack.appOrigin);
  const joined = await c.evaluate((o) => window.attach(o), opts);
  assert.equal(joined?.helseid.name, KVART.name);
}));

test('findings 1 and 2 (session host): a page cannot speak for the host: a forged view to the host or on any channel reaches no page', async () => inBrowser(async (br) => {
  const { a, b, opts } = await twoTabs(br, 'worker');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.host(WORKER_NAME, { t: 'hello', version: VERSION, signer: 'none', config: hostConfig(stack, opts) });
  await until('the attacker\'s view from the host', async () => (await spy.fromHost()).some((m) => m.t === 'view'));
  const real = (await spy.fromHost()).find((m) => m.t === 'view');
  const forged = structuredClone(real.view);
  forged.generation += 1e12;
  forged.idClaims = { ...forged.idClaims, name: 'MALLORY' };
  forged.tokens = forged.tokens.map((t) => ({ ...t, expiresAt: t.expiresAt + 365 * 86_400 }));
  await spy.toHost({ t: 'view', view: forged, nonces: {} });
  await spy.listen(channelName());
  await spy.post({ t: 'view', view: forged, nonces: {} });
  d.reset();
  const fresh = await withClient(b, (c) => c.refresh());
  assert.equal(fresh.error, undefined, JSON.stringify(fresh.error));
  for (const page of [a, b]) {
    await page.waitForFunction((jti) => window.client.session()?.accessTokenClaims.jti === jti, fresh.accessTokenClaims.jti);
    assert.deepEqual(await who(page), KVART);
    assert.ok((await events(page)).every((e) => e === 'tokenRefreshed'));
    assert.equal((await withClient(page, (c) => c.session().expiresAt)) <= fresh.accessTokenClaims.exp, true);
  }
}));

// ---------------------------------------------------------------- finding 2

test('finding 2 (page holder): the same holder with generation + 1e12 and expiresAt a year on: the follower\'s session never outlives the token\'s exp, and the next real view is taken', async () => inBrowser(async (br) => {
  const { a, b } = await twoTabs(br, 'page');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.listen(channelName());
  const real = await spy.view();
  const forged = structuredClone(real.view);
  forged.generation += 1e12;
  forged.idClaims = { ...forged.idClaims, name: 'MALLORY' };
  forged.tokens = forged.tokens.map((t) => ({ ...t, expiresAt: t.expiresAt + 365 * 86_400 }));
  await spy.post({ t: 'view', view: forged, nonces: {} });
  const exp = JSON.parse(Buffer.from(real.view.tokens[0].accessToken.split('.')[1], 'base64url').toString()).exp;
  // The follower took the forged view in (same tokens) and kept the token's exp and the name.
  await b.waitForFunction(() => true);
  const shown = await withClient(b, (c) => ({ expiresAt: c.session().expiresAt, name: c.session().helseid.name }));
  assert.ok(shown.expiresAt <= exp, `expiresAt ${shown.expiresAt} is not past exp ${exp}`);
  assert.equal(shown.name, KVART.name);
  // The holder's next real view (a lower generation than the forged one) is taken.
  const r = await withClient(a, (c) => c.refresh());
  await b.waitForFunction((jti) => window.client.session()?.accessTokenClaims.jti === jti, r.accessTokenClaims.jti, { timeout: 5_000 });
  assert.deepEqual(await events(b), ['tokenRefreshed']);
}));

// ---------------------------------------------------------------- finding 5

test('finding 5 (page holder): stealing and releasing the holder\'s lock cuts the follower off from nothing: the holder takes it back and still answers', async () => inBrowser(async (br) => {
  const { a, b } = await twoTabs(br, 'page');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.stealAndRelease(holderLock());
  await until('the holder takes its lock back', async () => (await spy.heldLocks()).includes(holderLock()));
  d.reset();
  const fresh = await withClient(b, (c) => c.getAccessToken({ forceRefresh: true }));
  assert.equal(fresh, d.issuedTokens()[0]?.accessToken, JSON.stringify(fresh));
  assert.deepEqual(await events(b), ['tokenRefreshed']);
  assert.equal(await withClient(a, (c) => c.sessionHost()), 'page-holder');
}));

test('finding 5 (session host): stealing and releasing the host\'s lock and a page\'s lock cuts nobody off', async () => inBrowser(async (br) => {
  const { a, b } = await twoTabs(br, 'worker');
  const spy = await openAttacker(br, stack.appOrigin);
  const pageLocks = (await spy.heldLocks()).filter((n) => n.startsWith('helseid-wasm:tab:'));
  assert.equal(pageLocks.length, 2, 'one lock per page');
  for (const name of [hostLock(), ...pageLocks]) await spy.stealAndRelease(name);
  await until('the host and the pages take their locks back', async () => {
    const held = await spy.heldLocks();
    return [hostLock(), ...pageLocks].every((n) => held.includes(n));
  });
  d.reset();
  const r = await withClient(b, (c) => c.refresh());
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  // Both pages still hear the host.
  await a.waitForFunction((jti) => window.client.session()?.accessTokenClaims.jti === jti, r.accessTokenClaims.jti, { timeout: 5_000 });
  assert.equal(d.counts().token, 1);
}));

// ---------------------------------------------------------------- finding 7

test('finding 7 (session host): after the tab that logged in closes, a page that replays a view on the page holder\'s channel makes no new tab follow it: new tabs join the host\'s session', async () => inBrowser(async (br) => {
  const { a, b, opts } = await twoTabs(br, 'worker');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.host(WORKER_NAME, { t: 'hello', version: VERSION, signer: 'none', config: hostConfig(stack, opts) });
  await until('a view', async () => (await spy.fromHost()).some((m) => m.t === 'view'));
  const replay = (await spy.fromHost()).find((m) => m.t === 'view');
  await a.close();
  // The attacker takes the page holder's lock and keeps it (a holder to new page-mode tabs).
  await spy.page.evaluate((n) => new Promise((resolve) => {
    navigator.locks.request(n, () => { resolve(); return new Promise(() => {}); });
  }), holderLock());
  await spy.listen(channelName());
  await spy.post({ t: 'view', view: { ...replay.view, holder: 'mallory' }, nonces: {} });
  d.reset();
  const c = await br.newPage();
  await openApp(c, stack.appOrigin);
  const joined = await c.evaluate((o) => window.attach(o), opts);
  assert.equal(joined?.helseid.name, KVART.name);
  assert.equal(await withClient(c, (x) => x.sessionHost()), 'worker');
  const r = await withClient(c, (x) => x.refresh());
  assert.equal(r.error, undefined, 'the host refreshes for the new tab');
  await b.waitForFunction((jti) => window.client.session()?.accessTokenClaims.jti === jti, r.accessTokenClaims.jti);
}));

// ---------------------------------------------------------------- finding 9

/** At most 3 refreshes (the engine's PEER_FORCE_BURST; some may share one flight). */
function assertBounded() {
  const refreshes = d.issuedTokens().filter((t) => t.grant === 'refresh_token').length;
  assert.ok(refreshes >= 1 && refreshes <= 3, `${refreshes} refreshes for 30 forced requests`);
}

test('finding 9 (page holder): 30 forced need requests from a page make at most 3 refreshes', async () => inBrowser(async (br) => {
  await twoTabs(br, 'page');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.listen(channelName());
  d.reset();
  for (let i = 0; i < 30; i += 1) await spy.post({ t: 'need', id: `n${i}`, force: true });
  await until('30 answers', async () => (await spy.messages()).filter((m) => m.t === 'done').length >= 30, 20_000);
  assertBounded();
}));

test('finding 9 (session host): 30 forced need requests from a page make at most 3 refreshes', async () => inBrowser(async (br) => {
  const { opts } = await twoTabs(br, 'worker');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.host(WORKER_NAME, { t: 'hello', version: VERSION, signer: 'none', config: hostConfig(stack, opts) });
  await until('the welcome', async () => (await spy.fromHost()).some((m) => m.t === 'welcome'));
  d.reset();
  for (let i = 0; i < 30; i += 1) await spy.toHost({ t: 'need', id: `n${i}`, force: true, by: 'mallory' });
  await until('30 answers', async () => (await spy.fromHost()).filter((m) => m.t === 'done').length >= 30, 20_000);
  assertBounded();
}));

// ---------------------------------------------------------------- finding 10

test('finding 10 (session host): a 20 MB message to the host is dropped before it reaches wasm, and the host goes on answering', async () => inBrowser(async (br) => {
  const { b, opts } = await twoTabs(br, 'worker');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.host(WORKER_NAME, { t: 'hello', version: VERSION, signer: 'none', config: hostConfig(stack, opts) });
  await until('the welcome', async () => (await spy.fromHost()).some((m) => m.t === 'welcome'));
  await spy.page.evaluate(() => window.spy.port.postMessage({ m: `{"t":"need","id":"big","resource":"${'r'.repeat(20_000_000)}"}` }));
  d.reset();
  const r = await withClient(b, (c) => c.refresh());
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.equal(d.counts().token, 1);
  assert.ok(!(await spy.fromHost()).some((m) => m.id === 'big'), 'no answer to the dropped message');
}));

// ---------------------------------------------------------------- JWKS amplification (round 4)

test('JWKS amplification (page holder): 30 views whose tokens name made-up keys make a tab fetch the issuer\'s JWKS at most once, not once per view', async () => inBrowser(async (br) => {
  const { a, b } = await twoTabs(br, 'page');
  const spy = await openAttacker(br, stack.appOrigin);
  await spy.listen(channelName());
  const real = await spy.view();
  d.reset();
  const rekey = (token, kid) => {
    const [h, p, s] = token.split('.');
    const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), kid };
    return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
  };
  for (let i = 0; i < 30; i += 1) {
    const forged = structuredClone(real.view);
    forged.holder = 'mallory';
    forged.generation += i + 1;
    forged.tokens = forged.tokens.map((t) => ({ ...t, accessToken: rekey(t.accessToken, `made-up-${i}`) }));
    await spy.post({ t: 'view', view: forged, nonces: {} });
  }
  // Barrier: the holder reads its channel in order, so its answer to this hello comes after it
  // read the 30 views.
  await spy.post({ t: 'hello' });
  await until('the holder\'s second view', async () => (await spy.messages()).filter((m) => m.t === 'view' && m.view.holder === real.view.holder).length >= 2);
  // At most one fetch per tab (none while the one made at login or join is under 30 s old);
  // before the cooldown the holder alone fetched it 30 times.
  assert.ok(d.counts().jwks <= 2, `JWKS fetched ${d.counts().jwks} times`);
  for (const [tab, page] of [['holder', a], ['follower', b]]) {
    assert.deepEqual(await who(page), KVART, tab);
  }
  // A real refresh still passes (the issuer's own answer is verified as before).
  const r = await withClient(b, (c) => c.refresh());
  assert.equal(r.error, undefined, JSON.stringify(r.error));
}));
