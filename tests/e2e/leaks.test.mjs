// Issue 7: no leaks. A full session in Chromium (login, refresh, an API call through
// client.fetch, logout) with storage "memory" and with storage "session", recording every token
// and the authorization code as they cross the wire; afterwards none of them may be found in
// localStorage, sessionStorage, IndexedDB, document.cookie or the browser's cookies, the address
// bar or the tab's history, the console, or any HelseIdError's fields. During the session, storage
// "session" is retired and keeps nothing either. DPoP keys and client
// keys are non-extractable CryptoKeys (observed at WebCrypto).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser, ENGINE } from './harness.mjs';
import { clientOptions, finishLogin, withClient } from './flow.mjs';
import { toCallback, callApi } from './fault-flow.mjs';

let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(() => stack.double.reset());

/**
 * Every string `secret` (or a long enough piece of it: a JWT's payload or signature; its header
 * is the same for every token the OP signs with one key) found in `text`.
 */
function findSecrets(text, secrets) {
  const found = [];
  for (const [name, secret] of secrets) {
    const parts = secret.split('.');
    const pieces = (parts.length === 3 ? parts.slice(1) : parts).filter((p) => p.length >= 16);
    if (text.includes(secret) || pieces.some((p) => text.includes(p))) found.push(name);
  }
  return found;
}

/** Reads the tab's storage, cookies and IndexedDB 'helseid-wasm' / 'keys' as text, and the DPoP key records. */
async function pageState(page) {
  return page.evaluate(async () => {
    const dump = (s) => Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
    const idb = await new Promise((resolve) => {
      const open = indexedDB.open('helseid-wasm');
      open.onerror = () => resolve({ error: 'open failed' });
      open.onsuccess = () => {
        const db = open.result;
        if (!db.objectStoreNames.contains('keys')) { db.close(); resolve({ keys: [], values: [] }); return; }
        const tx = db.transaction('keys', 'readonly');
        const store = tx.objectStore('keys');
        const keys = store.getAllKeys();
        const values = store.getAll();
        tx.oncomplete = () => { db.close(); resolve({ keys: keys.result, values: values.result }); };
      };
    });
    const keyRecords = [];
    const text = [];
    for (const [i, v] of (idb.values ?? []).entries()) {
      if (v && typeof v === 'object' && v.privateKey instanceof CryptoKey) {
        const exported = await crypto.subtle.exportKey('jwk', v.privateKey).then(() => 'exported', (e) => e.name);
        const pkcs8 = await crypto.subtle.exportKey('pkcs8', v.privateKey).then(() => 'exported', (e) => e.name);
        keyRecords.push({
          name: String(idb.keys[i]),
          extractable: v.privateKey.extractable,
          type: v.privateKey.type,
          algorithm: v.privateKey.algorithm.name,
          exported,
          pkcs8,
        });
      } else {
        text.push(JSON.stringify(v));
      }
    }
    return {
      local: dump(localStorage),
      session: dump(sessionStorage),
      cookie: document.cookie,
      href: location.href,
      idbKeys: (idb.keys ?? []).map(String),
      idbText: text.join('\n'),
      keyRecords,
    };
  });
}

/** Every token the OP has sent since reset() (as the test double recorded them), by name. */
function issuedSecrets() {
  const secrets = new Map();
  for (const [i, t] of stack.double.issuedTokens().entries()) {
    for (const k of ['accessToken', 'idToken', 'refreshToken']) if (t[k]) secrets.set(`${k}#${i}`, t[k]);
  }
  return secrets;
}

const RECORD_PREFIX = 'helseid-wasm:session:';

for (const storage of ['memory', 'session']) {
  test(`a full session (login, refresh, API call, logout) in "${storage}" mode leaves no token or code anywhere`, () => fullSession(storage));
}

async function fullSession(storage) {
  const page = await browser.newPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false, storage } });
  const secrets = new Map(); // name -> value
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.stack ?? e.message}`));
  const errors = [];
  try {
    // Login.
    const callback = new URL(await toCallback(page, stack, opts));
    secrets.set('code', callback.searchParams.get('code'));
    const { error, href } = await finishLogin(page, opts);
    assert.equal(error, undefined, JSON.stringify(error));
    assert.doesNotMatch(href, /[?&](code|state|iss)=/);

    // The DPoP key: in IndexedDB as a CryptoKey that cannot be exported.
    const during = await pageState(page);
    assert.equal(during.keyRecords.length, 1, JSON.stringify(during.idbKeys));
    assert.deepEqual(
      { ...during.keyRecords[0], name: undefined },
      { name: undefined, extractable: false, type: 'private', algorithm: 'ECDSA', exported: 'InvalidAccessError', pkcs8: 'InvalidAccessError' },
    );
    assert.match(during.keyRecords[0].name, /^dpop:/);

    // Refresh, and an API call through client.fetch.
    const refreshed = await withClient(page, (client) => client.refresh());
    assert.equal(refreshed.error, undefined, JSON.stringify(refreshed.error));
    assert.equal((await callApi(page, stack.double.apiOrigin)).status, 200);
    const code = secrets.get('code');

    // During the session: no token anywhere, in either storage mode ("session" is retired: no
    // refresh token or ID token in any Web Storage, issue 20 finding 3).
    const mid = await pageState(page);
    const midSecrets = new Map([['code', code], ...issuedSecrets()]);
    assert.equal(midSecrets.size, 7, 'the code and two token responses');
    const recordKey = `${RECORD_PREFIX}${stack.double.issuer}:${opts.clientId}`;
    const { [recordKey]: record, ...otherSession } = mid.session;
    assert.equal(record, undefined, `storage "${storage}" writes no record`);
    const midWhere = {
      'sessionStorage (other keys)': JSON.stringify(otherSession),
      localStorage: JSON.stringify(mid.local),
      indexedDB: `${mid.idbKeys.join('\n')}\n${mid.idbText}`,
      'document.cookie': mid.cookie,
      'browser cookies': JSON.stringify(await page.context().cookies()),
      'address bar': mid.href,
      console: consoleLines.join('\n'),
    };
    for (const [place, text] of Object.entries(midWhere)) {
      assert.deepEqual(findSecrets(text, midSecrets), [], `during the session, a secret in ${place}`);
    }

    // Errors on the way: each HelseIdError's fields are collected.
    errors.push(...await page.evaluate(async ({ callbackHref, issuer }) => {
      const out = [];
      const grab = async (f) => { try { await f(); out.push({ unexpected: 'resolved' }); } catch (e) { out.push({ ...window.errorInfo(e), oauthErrorDescription: e.oauthErrorDescription, stack: e.stack }); } };
      const at = await window.client.getAccessToken();
      const { helseid } = window;
      await grab(() => window.client.handleRedirectCallback(callbackHref)); // replay: missing_transaction
      await grab(() => window.client.getAccessToken({ resource: 'e-helse:unknown.api' })); // invalid_target
      await grab(() => helseid.verifyJwt(at, { jwks: { keys: [] }, issuer, audience: 'e-helse:sfm.api' }));
      const jwks = await (await fetch(`${issuer}/.well-known/openid-configuration/jwks`)).json();
      await grab(() => helseid.verifyJwt(at, { jwks, issuer: 'https://other.example', audience: 'e-helse:sfm.api' }));
      await grab(() => helseid.verifyJwt(at, { jwks, issuer, audience: 'someone-else' }));
      await grab(async () => helseid.decodeJwt(`${at.slice(0, -8)}*`));
      await grab(async () => helseid.decodeJwt(at.split('.').slice(0, 2).join('.')));
      return out;
    }, { callbackHref: callback.href, issuer: stack.double.issuer }));
    assert.deepEqual(
      errors.map((e) => e.code),
      ['missing_transaction', 'token_request_failed', 'unknown_key', 'claim_invalid', 'claim_invalid', 'invalid_token', 'invalid_token'],
    );

    // Logout: back on the app with the state.
    const back = page.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: 15_000 });
    await page.evaluate(() => { window.client.logout({ state: 'bye' }); });
    await back;
    await page.waitForFunction(() => window.ready === true);
    errors.push(...await page.evaluate(async (o) => {
      await window.attach(o);
      try { await window.client.getAccessToken(); return []; } catch (e) { return [{ ...window.errorInfo(e), stack: e.stack }]; }
    }, opts));
    assert.equal(errors.at(-1).code, 'login_required');
    // Every token the OP sent during the session (as the test double recorded them).
    const issued = stack.double.issuedTokens();
    assert.deepEqual(issued.map((t) => t.grant), ['authorization_code', 'refresh_token']);
    for (const [i, t] of issued.entries()) {
      for (const k of ['accessToken', 'idToken', 'refreshToken']) {
        assert.ok(t[k], `${k} of response ${i}`);
        secrets.set(`${k}#${i}`, t[k]);
      }
    }
    assert.ok(code);

    // The detector finds what it looks for (a token, or one of its segments).
    const at = issued[1].accessToken;
    assert.deepEqual(findSecrets(`x${at.split('.')[1]}x`, secrets), ['accessToken#1']);

    // Nothing anywhere.
    const state = await pageState(page);
    assert.deepEqual(state.local, {}, 'localStorage is empty');
    // The DPoP key record after logout: security.test.mjs (its deletion races the redirect).
    const where = {
      localStorage: JSON.stringify(state.local),
      sessionStorage: JSON.stringify(state.session),
      indexedDB: `${state.idbKeys.join('\n')}\n${state.idbText}`,
      'document.cookie': state.cookie,
      'browser cookies': JSON.stringify(await page.context().cookies()),
      'address bar': state.href,
      console: consoleLines.join('\n'),
      'error messages': JSON.stringify(errors),
    };
    for (const [place, text] of Object.entries(where)) {
      assert.deepEqual(findSecrets(text, secrets), [], `a secret in ${place}`);
    }
    assert.ok(!Object.keys(state.session).some((k) => k.includes(':tx:')), 'no login attempt left in sessionStorage');
    assert.ok(!Object.keys(state.session).some((k) => k.startsWith(RECORD_PREFIX)), 'no session record left after logout');
  } finally {
    await page.close();
  }
}

/**
 * The URLs of the tab's session history. Chromium: CDP's Page.getNavigationHistory. Firefox
 * (BiDi has no history read): walk back entry by entry to the first one, reading each URL.
 */
async function historyUrls(page) {
  if (ENGINE === 'chromium') {
    const cdp = await page.context().newCDPSession(page);
    const { entries } = await cdp.send('Page.getNavigationHistory');
    return entries.map((e) => e.url);
  }
  const urls = [page.url()];
  while (await page.goBack({ waitUntil: 'commit', timeout: 10_000 })) urls.unshift(page.url());
  return urls;
}

// The tab's history keeps the URL of every document it showed. Logout sends the ID token as
// `id_token_hint` in a GET URL (RP-Initiated Logout 1.0 §2); it must not stay in the history:
// the OP's answer to that URL is replaced during load (the double: an auto-submitting form;
// HelseID: a redirect), so only the app's URL remains.
test('the ID token does not stay in the tab history after logout', async () => {
  const page = await browser.newPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false } });
  try {
    await toCallback(page, stack, opts);
    const { error } = await finishLogin(page, opts);
    assert.equal(error, undefined);
    const back = page.waitForURL((u) => u.pathname === '/e2e/app.html' && u.searchParams.get('state') === 'bye', { timeout: 15_000 });
    await page.evaluate(() => { window.client.logout({ state: 'bye' }); });
    await back;
    const withToken = (await historyUrls(page)).filter((u) => /id_token_hint=/.test(u));
    assert.deepEqual(withToken, [], 'history entries carrying the ID token');
  } finally {
    await page.close();
  }
});

test('the authorization code does not stay in the tab history after the callback', async () => {
  const page = await browser.newPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false } });
  try {
    const callback = new URL(await toCallback(page, stack, opts));
    const code = callback.searchParams.get('code');
    const { error } = await finishLogin(page, opts);
    assert.equal(error, undefined);
    const urls = await historyUrls(page);
    assert.ok(urls.length >= 2, JSON.stringify(urls));
    assert.deepEqual(urls.filter((u) => u.includes(code)), []);
  } finally {
    await page.close();
  }
});

test('client keys: an extractable clientAuth.key is refused (config_invalid)', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${stack.appOrigin}/e2e/app.html`);
    await page.waitForFunction(() => window.ready === true);
    const out = await page.evaluate(async (issuer) => {
      const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      try {
        await window.helseid.HelseIdClient.create({
          issuer, clientId: 'helseid-wasm-es256', redirectUri: `${location.origin}/e2e/app.html`, scope: 'openid',
          allowInsecureHttp: true, clientAuth: { type: 'private_key_jwt', key: pair.privateKey, alg: 'ES256' },
        });
        return null;
      } catch (e) {
        return window.errorInfo(e);
      }
    }, stack.double.issuer);
    assert.equal(out?.code, 'config_invalid');
    assert.match(out.message, /non-extractable/);
  } finally {
    await page.close();
  }
});

// The page never sees the CryptoKey the library makes from clientAuth.jwk, so the test watches
// WebCrypto itself: an init script wraps SubtleCrypto.prototype.importKey / generateKey (which
// the wasm-bindgen glue calls through the prototype), tries to export every key they return, and
// notes what it found in sessionStorage (the login spans two page loads).
test('client keys: clientAuth.jwk is imported as a non-extractable CryptoKey and the DPoP key is generated non-extractable; neither exports', async () => {
  const page = await browser.newPage();
  await page.addInitScript(() => {
    const note = (entry) => {
      const all = JSON.parse(sessionStorage.getItem('test:crypto') ?? '[]');
      all.push(entry);
      sessionStorage.setItem('test:crypto', JSON.stringify(all));
    };
    const exportable = async (key) => ({
      keyType: key.type,
      keyExtractable: key.extractable,
      jwk: await crypto.subtle.exportKey('jwk', key).then(() => 'exported', (e) => e.name),
      pkcs8: key.type === 'private' ? await crypto.subtle.exportKey('pkcs8', key).then(() => 'exported', (e) => e.name) : 'n/a',
    });
    const { importKey, generateKey } = SubtleCrypto.prototype;
    SubtleCrypto.prototype.importKey = async function (format, data, alg, extractable, usages) {
      const key = await importKey.call(this, format, data, alg, extractable, usages);
      const isPrivate = format === 'pkcs8' || (format === 'jwk' && typeof data?.d === 'string');
      if (isPrivate) note({ op: 'importKey', format, kid: data?.kid, extractable, ...(await exportable(key)) });
      return key;
    };
    SubtleCrypto.prototype.generateKey = async function (alg, extractable, usages) {
      const pair = await generateKey.call(this, alg, extractable, usages);
      if (pair.privateKey) note({ op: 'generateKey', alg: alg.name ?? alg, extractable, ...(await exportable(pair.privateKey)) });
      return pair;
    };
  });
  try {
    // No DPoP key left from earlier tests: this login makes one.
    await page.goto(`${stack.appOrigin}/e2e/blank.html`);
    await page.evaluate(() => new Promise((resolve, reject) => {
      const del = indexedDB.deleteDatabase('helseid-wasm');
      del.onsuccess = resolve;
      del.onerror = () => reject(del.error);
    }));
    const opts = clientOptions(stack, { extra: { autoRefresh: false } });
    await toCallback(page, stack, opts);
    const { error } = await finishLogin(page, opts);
    assert.equal(error, undefined, JSON.stringify(error));
    const seen = JSON.parse(await page.evaluate(() => sessionStorage.getItem('test:crypto')));
    const client = stack.double.clients.find((c) => c.clientId === opts.clientId);
    const notExportable = { keyType: 'private', keyExtractable: false, jwk: 'InvalidAccessError', pkcs8: 'InvalidAccessError' };
    const imports = seen.filter((c) => c.op === 'importKey');
    // Once per page load: for the PAR assertion, and again for the code exchange's.
    assert.equal(imports.length, 2, JSON.stringify(seen));
    for (const c of imports) {
      assert.deepEqual(c, { op: 'importKey', format: 'jwk', kid: client.privateJwk.kid, extractable: false, ...notExportable });
    }
    assert.deepEqual(seen.filter((c) => c.op === 'generateKey'), [{ op: 'generateKey', alg: 'ECDSA', extractable: false, ...notExportable }]);
  } finally {
    await page.close();
  }
});
