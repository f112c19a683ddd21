// Issue 7: a conformance-style negative matrix. The test double is put into one protocol fault
// per test (www/dev-idp/faults.mjs), the built package runs the login (or a refresh) in Chromium,
// and each test asserts the exact HelseIdError code of API.md (the contract) (and `claim`), and that
// nothing was sent after the fault, or that the must-pass cases pass. Each test is named after the
// OpenID Foundation conformance module it mirrors (RP tests "oidcc-client-test-*", FAPI 2.0
// client tests "fapi2-security-profile-final-client-test-*"); the HelseID access token cases have
// no module and are named after what they check.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser } from './harness.mjs';
import { clientOptions, finishLogin, openApp, login, withClient } from './flow.mjs';
import { toCallback, snapshot, delta, assertNothingAfter, callApi } from './fault-flow.mjs';

const FAPI2 = 'fapi2-security-profile-final-client-test';
const CLIENT_ID = 'helseid-wasm-rs256';

let stack;
let browser;
let page;
let opts;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  page = browser.page;
  opts = clientOptions(stack, { clientId: CLIENT_ID, extra: { autoRefresh: false } });
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

beforeEach(() => stack.double.reset());

/** Login with `fault` in force; the callback must fail with `code` (and `claim`), then nothing. */
async function expectLoginRejected(fault, { code, claim, jwks = 1 }) {
  await stack.double.setFault(fault);
  await toCallback(page, stack, opts);
  const { error, session } = await finishLogin(page, opts);
  assert.equal(session, undefined, 'no session');
  assert.equal(error?.isHelseIdError, true, JSON.stringify(error));
  assert.equal(error.code, code, JSON.stringify(error));
  if (claim !== undefined) assert.equal(error.claim, claim, JSON.stringify(error));
  const c = snapshot(stack.double);
  assert.equal(c.authorization_code, 1, 'one code exchange');
  assert.equal(c.refresh_token, 0);
  assert.equal(c.jwks, jwks, 'JWKS fetches');
  assert.equal(c.api, 0);
  await assertNothingAfter(page, stack);
  return error;
}

/** Login with `fault` in force; it must pass, and the API must take the token. */
async function expectLoginPasses(fault) {
  await stack.double.setFault(fault);
  await toCallback(page, stack, opts);
  const { error, session } = await finishLogin(page, opts);
  assert.equal(error, undefined, JSON.stringify(error));
  assert.equal(session.helseid.pid, '06828399789');
  const api = await callApi(page, stack.double.apiOrigin);
  assert.equal(api.status, 200, JSON.stringify(api));
  return session;
}

// ---------------------------------------------------------------- ID token (OIDC Core 3.1.3.7)

const ID_TOKEN_CASES = [
  ['oidcc-client-test-invalid-iss (rp-id_token-issuer-mismatch): ID token iss altered', 'id-token-iss-invalid', { code: 'claim_invalid', claim: 'iss' }],
  [`${FAPI2}-invalid-missing-iss: ID token without iss`, 'id-token-iss-missing', { code: 'claim_invalid', claim: 'iss' }],
  ['oidcc-client-test-invalid-aud (rp-id_token-aud): ID token for another client', 'id-token-aud-invalid', { code: 'claim_invalid', claim: 'aud' }],
  [`${FAPI2}-invalid-missing-aud: ID token without aud`, 'id-token-aud-missing', { code: 'claim_invalid', claim: 'aud' }],
  [`${FAPI2}-invalid-secondary-aud: aud with an extra untrusted audience and no azp`, 'id-token-aud-secondary-untrusted', { code: 'claim_invalid', claim: 'aud' }],
  ['oidcc-client-test-nonce-invalid (rp-nonce-invalid): ID token nonce altered', 'id-token-nonce-invalid', { code: 'claim_invalid', claim: 'nonce' }],
  [`${FAPI2}-invalid-missing-nonce: ID token without nonce`, 'id-token-nonce-missing', { code: 'claim_invalid', claim: 'nonce' }],
  ['oidcc-client-test-missing-sub (rp-id_token-sub): ID token without sub', 'id-token-sub-missing', { code: 'claim_invalid', claim: 'sub' }],
  ['oidcc-client-test-missing-iat (rp-id_token-iat): ID token without iat', 'id-token-iat-missing', { code: 'claim_invalid', claim: 'iat' }],
  ['fapi1-advanced-final-client-test-iat-is-week-in-past: ID token iat a week old', 'id-token-iat-week-old', { code: 'claim_invalid', claim: 'iat' }],
  [`${FAPI2}-invalid-expired-exp: ID token exp an hour ago`, 'id-token-exp-past', { code: 'token_expired', claim: 'exp' }],
  [`${FAPI2}-invalid-missing-exp: ID token without exp`, 'id-token-exp-missing', { code: 'claim_invalid', claim: 'exp' }],
  ['oidcc-client-test-invalid-sig-rs256 (rp-id_token-bad-sig-rs256): signature bytes flipped', 'id-token-signature-invalid', { code: 'signature_invalid' }],
  ['oidcc-client-test-idtoken-sig-none (rp-id_token-sig-none): alg none, no signature', 'id-token-alg-none', { code: 'unsupported_alg' }],
  [`${FAPI2}-invalid-null-alg: alg none`, 'id-token-alg-none', { code: 'unsupported_alg' }],
  // The OP's key is published for RS256 only: a PS256 signature fits no key, even after a refetch.
  [`${FAPI2}-invalid-alternate-alg: ID token signed PS256 with the RS256 key`, 'id-token-alg-ps256', { code: 'unknown_key', jwks: 2 }],
];

for (const [name, preset, expected] of ID_TOKEN_CASES) {
  test(`${name} -> ${expected.code}${expected.claim ? ` (${expected.claim})` : ''}, nothing after`, async () => {
    await expectLoginRejected(preset, expected);
  });
}

test(`${FAPI2}-valid-aud-as-array: aud as a one-element array passes`, async () => {
  const session = await expectLoginPasses('id-token-aud-array');
  assert.deepEqual(session.idTokenClaims.aud, [CLIENT_ID]);
});

test('oidcc-client-test-kid-absent-single-jwks (rp-id_token-kid-absent-single-jwks): no kid in the tokens or the single-key JWKS passes', async () => {
  const session = await expectLoginPasses('kid-absent-single-jwks');
  assert.equal(session.tokenType, 'DPoP');
  assert.equal(snapshot(stack.double).jwks, 1);
});

test('oidcc-client-test-signing-key-rotation-just-before-signing: keys rotated before the code exchange pass', async () => {
  await stack.double.setFault('signing-key-rotation');
  await toCallback(page, stack, opts);
  const { error } = await finishLogin(page, opts);
  assert.equal(error, undefined, JSON.stringify(error));
  const token = await withClient(page, (client) => client.getAccessToken());
  const kid = await page.evaluate((t) => window.helseid.decodeJwt(t).header.kid, token);
  assert.equal(kid, stack.double.signingKid(), 'signed by the new key');
  assert.equal(snapshot(stack.double).jwks, 1);
  assert.equal((await callApi(page, stack.double.apiOrigin)).status, 200);
});

test('oidcc-client-test-signing-key-rotation (rp-key-rotation-op-sign-key): a refresh signed by a new key passes after exactly one JWKS refetch', async () => {
  await login(page, stack, opts);
  const first = await withClient(page, (client) => client.session().accessTokenClaims.jti);
  const oldKid = stack.double.signingKid();
  await stack.double.setFault('signing-key-rotation');
  assert.notEqual(stack.double.signingKid(), oldKid);
  const before = snapshot(stack.double);
  const refreshed = await withClient(page, (client) => client.refresh());
  assert.equal(refreshed.error, undefined, JSON.stringify(refreshed.error));
  assert.notEqual(refreshed.accessTokenClaims.jti, first);
  assert.deepEqual(delta(snapshot(stack.double), before), { token: 1, refresh_token: 1, jwks: 1 });
  const token = await withClient(page, (client) => client.getAccessToken());
  const kid = await page.evaluate((t) => window.helseid.decodeJwt(t).header.kid, token);
  assert.equal(kid, stack.double.signingKid());
  assert.equal((await callApi(page, stack.double.apiOrigin)).status, 200);
});

// ---------------------------------------------------------------- discovery (OIDC Discovery 4.3)

for (const name of ['oidcc-client-test-discovery-issuer-mismatch', `${FAPI2}-discovery-issuer-mismatch`]) {
  test(`${name}: discovery issuer altered -> issuer_mismatch, before any PAR`, async () => {
    await stack.double.setFault('discovery-issuer-mismatch');
    await openApp(page, stack.appOrigin);
    const out = await page.evaluate(async (o) => {
      try { await window.makeClient(o); return null; } catch (e) { return window.errorInfo(e); }
    }, opts);
    assert.equal(out?.code, 'issuer_mismatch', JSON.stringify(out));
    assert.equal(out.isHelseIdError, true);
    const c = snapshot(stack.double);
    assert.deepEqual([c.discovery, c.par, c.jwks, c.authorize, c.token], [1, 0, 0, 0, 0]);
  });
}

// ---------------------------------------------------------------- authorization response (RFC 6749 §4.1.2, RFC 9207)

const CALLBACK_CASES = [
  [`${FAPI2}-invalid-authorization-response-iss`, 'authorization-response-iss-invalid', 'authorization_response_iss_mismatch'],
  [`${FAPI2}-remove-authorization-response-iss`, 'authorization-response-iss-missing', 'authorization_response_iss_mismatch'],
  [`${FAPI2}-ensure-authorization-response-with-invalid-state-fails`, 'authorization-response-state-invalid', 'state_mismatch'],
  [`${FAPI2}-ensure-authorization-response-with-invalid-missing-state-fails`, 'authorization-response-state-missing', 'state_mismatch'],
];

for (const [name, preset, code] of CALLBACK_CASES) {
  test(`${name} -> ${code}, no token request`, async () => {
    await stack.double.setFault(preset);
    const callback = new URL(await toCallback(page, stack, opts));
    assert.ok(callback.searchParams.has('code'));
    const { error, session, href } = await finishLogin(page, opts);
    assert.equal(session, undefined);
    assert.equal(error?.code, code, JSON.stringify(error));
    assert.doesNotMatch(href, /[?&]code=/, 'the code left the address bar');
    const c = snapshot(stack.double);
    assert.deepEqual([c.token, c.jwks, c.api], [0, 0, 0]);
    await assertNothingAfter(page, stack);
  });
}

// ---------------------------------------------------------------- token response (RFC 6749 §5.1, RFC 9449 §5)

test(`${FAPI2}-token-endpoint-response-without-expires_in: passes, expiresAt from the access token exp`, async () => {
  const session = await expectLoginPasses('token-response-without-expires-in');
  assert.equal(session.expiresAt, session.accessTokenClaims.exp);
});

test(`${FAPI2}-token-type-case-insensitivity: token_type "dpop" passes as DPoP`, async () => {
  const session = await expectLoginPasses('token-type-lowercase');
  assert.equal(session.tokenType, 'DPoP');
});

test('helseid-dpop-token-type-bearer (RFC 9449 §5): token_type Bearer after a DPoP request -> dpop_binding_mismatch, nothing after', async () => {
  await expectLoginRejected('token-type-bearer', { code: 'dpop_binding_mismatch', jwks: 0 });
});

// ---------------------------------------------------------------- access token (RFC 9068 §4, RFC 9449 §6, HelseID)

const ACCESS_TOKEN_CASES = [
  ['helseid-access-token-aud-other-resource: access token for e-helse:other.api', 'access-token-aud-other', { code: 'claim_invalid', claim: 'aud' }],
  ['helseid-access-token-without-sfm-id: no e-helse:sfm.api/client/claims/sfm-id', 'access-token-no-sfm-id', { code: 'missing_sfm_id', claim: 'e-helse:sfm.api/client/claims/sfm-id' }],
  ['helseid-access-token-security-level-3: security_level 3 when 4 is required', 'access-token-security-level-3', { code: 'security_level_insufficient', claim: 'helseid://claims/identity/security_level' }],
  ['helseid-access-token-cnf-jkt-other-key (RFC 9449 §6.1): cnf.jkt of another key', 'access-token-cnf-other-key', { code: 'dpop_binding_mismatch', claim: 'cnf' }],
];

for (const [name, preset, expected] of ACCESS_TOKEN_CASES) {
  test(`${name} -> ${expected.code}, nothing after`, async () => {
    await expectLoginRejected(preset, expected);
  });
}

// ---------------------------------------------------------------- refresh (OIDC Core 12.2)

const REFRESH_CASES = [
  ['oidcc-refresh-token-id-token-invalid-iss (OIDC Core 12.2): refreshed ID token iss altered', 'refresh-id-token-iss-invalid', { code: 'claim_invalid', claim: 'iss' }],
  ['oidcc-refresh-token-id-token-invalid-sub (OIDC Core 12.2): refreshed ID token names another sub', 'refresh-id-token-sub-invalid', { code: 'claim_invalid', claim: 'sub' }],
];

for (const [name, preset, expected] of REFRESH_CASES) {
  test(`${name} -> ${expected.code} (${expected.claim}), the session keeps its subject, nothing after`, async () => {
    const session = await login(page, stack, opts);
    await stack.double.setFault(preset);
    const before = snapshot(stack.double);
    const out = await withClient(page, (client) => client.refresh());
    assert.equal(out.error?.code, expected.code, JSON.stringify(out));
    assert.equal(out.error.claim, expected.claim);
    assert.deepEqual(delta(snapshot(stack.double), before), { token: 1, refresh_token: 1 });
    const kept = await withClient(page, (client) => client.session());
    assert.equal(kept.idTokenClaims.sub, session.idTokenClaims.sub);
    assert.equal(kept.idTokenClaims.iss, stack.double.issuer);
    assert.equal(kept.accessTokenClaims.jti, session.accessTokenClaims.jti, 'the refused tokens were not taken');
    assert.deepEqual(delta(snapshot(stack.double), before), { token: 1, refresh_token: 1 }, 'nothing after');
  });
}

test('the fault switch is reachable over the loopback control API and reset() clears it', async () => {
  const base = stack.double.issuer;
  const set = await fetch(`${base}/__test/fault`, { method: 'POST', body: JSON.stringify(['id-token-iss-invalid', { grant: 'refresh_token' }]) });
  assert.equal(set.status, 200);
  assert.deepEqual((await set.json()).fault, { idToken: { set: { iss: 'https://evil.example' } }, grant: 'refresh_token' });
  const bad = await fetch(`${base}/__test/fault`, { method: 'POST', body: JSON.stringify('no-such-preset') });
  assert.equal(bad.status, 400);
  assert.equal((await (await fetch(`${base}/__test/fault`, { method: 'DELETE' })).json()).fault, null);
  await stack.double.setFault('id-token-iss-invalid');
  stack.double.reset();
  assert.equal(stack.double.fault(), null);
});
