// Issue 7: no leaks. A full session in Chromium (login, refresh, an API call through
// client.fetch, logout) with storage "memory", recording every token and the authorization code
// as they cross the wire; afterwards none of them may be found in localStorage, sessionStorage,
// IndexedDB, document.cookie or the browser's cookies, the address bar or the tab's history, the
// console, or any HelseIdError's fields. DPoP keys and client keys are non-extractable.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startStack, launchBrowser } from './harness.mjs';
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

/** Every string `secret` (or a long enough piece of it: a JWT segment) found in `text`. */
function findSecrets(text, secrets) {
  const found = [];
  for (const [name, secret] of secrets) {
    const pieces = secret.split('.').filter((p) => p.length >= 16);
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

test('a full session (login, refresh, API call, logout) in "memory" mode leaves no token or code anywhere', async () => {
  const page = await browser.newPage();
  const opts = clientOptions(stack, { extra: { autoRefresh: false, storage: 'memory' } });
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
    assert.deepEqual(state.keyRecords, [], 'the DPoP key is gone after logout');
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
  } finally {
    await page.close();
  }
});

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
    const cdp = await page.context().newCDPSession(page);
    const { entries } = await cdp.send('Page.getNavigationHistory');
    const withToken = entries.map((e) => e.url).filter((u) => /id_token_hint=/.test(u));
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
    const cdp = await page.context().newCDPSession(page);
    const { entries } = await cdp.send('Page.getNavigationHistory');
    assert.ok(entries.length >= 2);
    assert.deepEqual(entries.map((e) => e.url).filter((u) => u.includes(code)), []);
  } finally {
    await page.close();
  }
});

test('client keys: an extractable clientAuth.key is refused, and the wasm test covers the imported JWK being non-extractable', async () => {
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
  // clientAuth.jwk is imported inside the wasm (src/shell/crypto.rs import_private_jwk, extractable
  // false); the page never sees that CryptoKey, so the wasm test in src/shell/tests.rs proves it.
  const [tests, crypto] = await Promise.all([
    readFile(new URL('../../src/shell/tests.rs', import.meta.url), 'utf8'),
    readFile(new URL('../../src/shell/crypto.rs', import.meta.url), 'utf8'),
  ]);
  assert.match(tests, /async fn client_assertion_from_an_imported_jwk_verifies_and_the_key_is_not_extractable\(\)[\s\S]*?assert!\(!imported\.extractable\(\)\)/);
  assert.match(tests, /async fn dpop_proof_verifies_with_its_header_key_and_the_key_is_not_extractable\(\)[\s\S]*?export\.is_err\(\)/);
  assert.match(crypto, /pub async fn import_private_jwk[\s\S]*?import_key_with_object\(\s*"jwk",\s*&copy,\s*&import_params\(alg\)\?,\s*false,/);
});
