// Issue 5: the demo page (www/) in Chromium against the HelseID test double: log in, every check
// green, pid shown, refresh, SFM-style API call, logout; the private-JWK mode (key in memory
// only, asked for again after the redirect); and an error (security level 3 when 4 is required).
// Screenshots go to artifacts/ (git-ignored).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startStack, launchBrowser } from './harness.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';

const ARTIFACTS = join(REPO_ROOT, 'artifacts');
const CHECKS = ['callback', 'signature', 'iss', 'aud', 'exp', 'nonce', 'sfm', 'level', 'dpop'];

let stack;
let browser;
let page;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  [stack, browser] = await Promise.all([
    startStack(),
    launchBrowser({ contextOptions: { viewport: { width: 1440, height: 900 } } }),
  ]);
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(async () => {
  stack.double.reset();
  stack.double.setOptions({ accessTokenTtl: 60 });
  // A fresh tab for every test: no remembered configuration, no session.
  await page.goto(`${stack.appOrigin}/`);
  await page.evaluate(() => sessionStorage.clear());
});

/** Opens the demo and points the "Local test double" preset at this stack's ephemeral ports. */
async function openDemo({ loginHint } = {}) {
  await page.goto(`${stack.appOrigin}/`);
  await page.waitForSelector('html[data-ready="true"]');
  await page.fill('#issuer', stack.double.issuer);
  await page.fill('#signer-url', `${stack.double.apiOrigin}/assertion`);
  await page.click('#advanced summary');
  await page.fill('#api-base', stack.double.apiOrigin);
  if (loginHint) await page.selectOption('#login-hint', loginHint);
}

async function logInAndWait() {
  await page.click('#login');
  await page.waitForURL((u) => u.origin === stack.appOrigin && !u.search.includes('state='), { timeout: 20_000 });
  await page.waitForSelector('#session:not([hidden]), #error:not([hidden])', { timeout: 20_000 });
}

async function checkStatuses(listId) {
  return page.$$eval(`#${listId} [data-check]`, (items) => Object.fromEntries(items.map((i) => [i.dataset.check, i.dataset.status])));
}

test('demo: log in with the backend signer, every check green, refresh, call the API, log out', async () => {
  await openDemo();
  assert.match(await page.textContent('#version'), /^helseid-wasm \d+\.\d+\.\d+/);
  await logInAndWait();
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));

  // The user and every check.
  assert.equal(await page.textContent('[data-fact="pid"]'), '06828399789');
  assert.equal(await page.textContent('[data-fact="hpr"]'), '565501872');
  assert.equal(await page.textContent('[data-fact="level"]'), '4');
  assert.equal(await page.textContent('#user-name'), 'KVART GREVLING');
  const statuses = await checkStatuses('checks');
  assert.deepEqual(Object.keys(statuses), CHECKS);
  for (const [id, status] of Object.entries(statuses)) assert.equal(status, 'pass', `check ${id} is ${status}`);
  assert.match(await page.textContent('[data-check="aud"]'), /aud = e-helse:sfm\.api/);
  assert.match(await page.textContent('[data-check="dpop"]'), /cnf\.jkt = [\w-]{43}/);
  assert.match(await page.textContent('#countdown'), /^[01]:\d\d$/);
  assert.equal(await page.textContent('#state-label'), 'Logged in');
  // Decoded claims are shown, raw tokens are not.
  assert.match(await page.textContent('#at-claims'), /"cnf"/);
  assert.doesNotMatch(await page.content(), /eyJ[\w-]{20,}\.eyJ[\w-]{20,}\./);

  // Refresh by button: a new log entry with its timing.
  await page.click('#refresh');
  await page.waitForSelector('#refresh-log li[data-trigger="button"]');
  assert.match(await page.textContent('#refresh-log li[data-trigger="button"]'), /Token endpoint \d+ ms .*refresh\(\) resolved in \d+ ms/);
  assert.equal(stack.double.counts().token_by_grant.refresh_token, 1);

  // The SFM-style API through client.fetch (DPoP nonce challenge, then 200).
  await page.click('#call-api');
  await page.waitForSelector('#api-result:not([hidden])');
  assert.equal(await page.textContent('#api-status'), '200');
  const request = await page.textContent('#api-request');
  assert.match(request, /authorization: DPoP eyJ[\w-]{13}…[\w-]{6}/);
  assert.match(request, /"ath":/);
  assert.match(await page.textContent('#api-response'), /"pid": "06828399789"/);
  assert.match(await page.textContent('#api-exchanges'), /401.*use_dpop_nonce[\s\S]*200/);

  // Nothing secret in storage: no token in sessionStorage, nothing in localStorage.
  const storage = await page.evaluate(() => ({ local: localStorage.length, session: Object.values(sessionStorage).join('\n') }));
  assert.equal(storage.local, 0);
  assert.doesNotMatch(storage.session, /eyJ[\w-]+\.eyJ[\w-]+\./);

  await page.screenshot({ path: join(ARTIFACTS, 'demo-logged-in.png'), fullPage: true });

  // Log out: revocation + end_session, back on the page with a notice.
  await page.click('#logout');
  await page.waitForSelector('#notice:not([hidden])', { timeout: 20_000 });
  assert.match(await page.textContent('#notice'), /logged out/);
  assert.equal(await page.isHidden('#session'), true);
  assert.equal(await page.textContent('#state-label'), 'Not logged in');
  const c = stack.double.counts();
  assert.equal(c.revocation, 1);
  assert.equal(c.end_session, 1);
  assert.equal(c.end_session_confirm, 1); // then back to post_logout_redirect_uri
});

test('demo: private JWK mode keeps the key in memory only, asks for it after the redirect, refreshes automatically', async () => {
  stack.double.setOptions({ accessTokenTtl: 33 }); // automatic refresh ~3 s after login
  const client = stack.double.clients.find((x) => x.clientId === 'helseid-wasm-es256');
  const jwkText = JSON.stringify(client.privateJwk);
  await openDemo();
  await page.fill('#client-id', client.clientId);
  await page.check('input[name="authMode"][value="jwk"]');
  await page.fill('#jwk-text', jwkText);
  await page.click('#jwk-use');
  await page.waitForSelector('#jwk-status[data-loaded]');
  assert.match(await page.textContent('#jwk-status'), /ES256/);
  assert.equal(await page.inputValue('#jwk-text'), '', 'the JWK text is cleared once imported');

  await page.click('#login');
  // Back from the double: the key was in memory only, so the page asks for it again.
  await page.waitForSelector('#finish:not([hidden])', { timeout: 20_000 });
  assert.match(page.url(), /[?&]code=/);
  const stored = await page.evaluate(() => Object.values(sessionStorage).join('\n') + localStorage.length);
  assert.equal(stored.includes(client.privateJwk.d), false, 'the private key is never stored');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'finish-jwk');
  await page.fill('#finish-jwk', jwkText);
  await page.click('#finish-use');
  await page.waitForSelector('#session:not([hidden])', { timeout: 20_000 });
  assert.doesNotMatch(page.url(), /code=|state=/);
  assert.equal(await page.textContent('[data-fact="pid"]'), '06828399789');
  const statuses = await checkStatuses('checks');
  for (const [id, status] of Object.entries(statuses)) assert.equal(status, 'pass', `check ${id} is ${status}`);

  // The library refreshes on its own (30 s before expiry), signing with the in-memory key.
  await page.waitForSelector('#refresh-log li[data-trigger="automatic"]', { timeout: 15_000 });
  assert.match(await page.textContent('#refresh-log li[data-trigger="automatic"]'), /Automatic.*Token endpoint \d+ ms/s);
  assert.ok(stack.double.counts().token_by_grant.refresh_token >= 1);
});

test('demo: a security level 3 user when 4 is required shows security_level_insufficient and the failed check', async () => {
  await openDemo({ loginHint: 'niva3' });
  await logInAndWait();
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.textContent('#error-code'), 'security_level_insufficient');
  assert.match(await page.textContent('#error-advice'), /lower security level than required/);
  assert.match(await page.textContent('#error-details'), /helseid:\/\/claims\/identity\/security_level/);
  assert.equal(await page.isHidden('#session'), true);
  const statuses = await checkStatuses('checks-error');
  assert.equal(statuses.level, 'fail');
  assert.equal(Object.values(statuses).filter((s) => s === 'fail').length, 1);
  assert.equal(await page.textContent('#state-label'), 'Login failed');
  assert.doesNotMatch(page.url(), /code=|state=/);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-error.png'), fullPage: true });
});

test('demo: a refused login (login_hint=deny) shows authorization_denied with the OAuth error', async () => {
  await openDemo({ loginHint: 'deny' });
  await logInAndWait();
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.textContent('#error-code'), 'authorization_denied');
  assert.match(await page.textContent('#error-details'), /access_denied/);
  assert.deepEqual(await checkStatuses('checks-error'), { callback: 'fail' });
  assert.equal(stack.double.counts().token, 0);
});

test('demo: an unreachable issuer is discovery_failed with advice, not a blank page', async () => {
  await openDemo();
  await page.fill('#issuer', 'http://127.0.0.1:9'); // discard port: nothing listens
  await page.click('#login');
  await page.waitForSelector('#error:not([hidden])', { timeout: 20_000 });
  assert.equal(await page.textContent('#error-code'), 'discovery_failed');
  assert.match(await page.textContent('#error-advice'), /discovery document could not be read/);
  assert.equal(await page.isEnabled('#login'), true);
});
