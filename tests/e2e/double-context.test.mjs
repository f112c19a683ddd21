// The HelseID test double's organisation, journal and patient context (www/dev-idp/context.mjs)
// and the demo assertion signer's checks (www/dev-idp/signer.mjs), without the Rust library:
// Node fetch + jose only. HID errors, the access-token claims for each detail, both claim names,
// rejected_scope; the signer refusing each bad request and signing a good one.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './harness.mjs';
import { NodeClient, clientAssertion, decodeJwt, epjLogin, signerRequest } from './node-client.mjs';
import { TEST_JOURNALS, EPJ_TEST_PASSWORDS } from '../../www/dev-idp/signer.mjs';

const SFM = 'e-helse:sfm.api';
const SFM_SCOPE = 'e-helse:sfm.api/sfm.api2';
const KJ = 'nhn:kjernejournal';
const KJ_SCOPE = 'nhn:kjernejournal/tillitsrammeverk';
const PARENT = 'helseid://claims/client/claims/orgnr_parent';
const CHILD = 'helseid://claims/client/claims/orgnr_child';
const JOURNAL = 'nhn:sfm:journal-id';
const ATTEST = 'nhn:tillitsrammeverk:parameters';
const SFM_ID = 'e-helse:sfm.api/client/claims/sfm-id';
const SCOPE = `openid profile offline_access helseid://scopes/identity/pid helseid://scopes/hpr/hpr_number ${SFM_SCOPE} ${KJ_SCOPE}`;

let stack;
let dbl;
let clients;

before(async () => {
  stack = await startStack();
  dbl = stack.double;
  clients = Object.fromEntries(dbl.clients.map((c) => [c.clientId.replace('helseid-wasm-', ''), c]));
});

after(async () => {
  await stack?.close();
});

beforeEach(() => {
  dbl.reset();
});

// ---------------------------------------------------------------- detail builders
const multiOrg = (parent, child = '') => ({
  type: 'helseid_authorization',
  practitioner_role: { organization: { identifier: { system: 'urn:oid:1.0.6523', type: 'ENH', value: `NO:ORGNR:${parent}:${child}` } } },
});
const singleOrg = (child) => ({
  type: 'helseid_authorization',
  practitioner_role: { organization: { identifier: { system: 'urn:oid:2.16.578.1.12.4.1.4.101', value: child } } },
});
const journal = (id) => ({ type: 'nhn:sfm:journal-id', value: { journal_id: id } });
const attest = (legalEntity, pointOfCare, purpose = 'TREAT') => ({
  type: 'nhn:tillitsrammeverk:parameters',
  practitioner: {
    authorization: { code: 'LE', system: 'urn:oid:2.16.578.1.12.4.1.1.9060' },
    legal_entity: { id: legalEntity, system: 'urn:oid:2.16.578.1.12.4.1.4.101' },
    point_of_care: { id: pointOfCare, system: 'urn:oid:2.16.578.1.12.4.1.4.101' },
    department: { id: '123', system: 'urn:oid:2.16.578.1.12.4.1.4.102' },
  },
  care_relationship: {
    healthcare_service: { code: '01', system: 'urn:oid:2.16.578.1.12.4.1.1.8666' },
    purpose_of_use: { code: purpose, system: 'urn:oid:2.16.840.1.113883.1.11.20448' },
    purpose_of_use_details: { code: 'BEHANDLER', system: 'urn:AuditEventHL7Norway/CodeSystem/carerelation' },
    decision_ref: { id: '0b8f1c9e-6a55-4f0e-8f33-7d1e2c3b4a50', user_selected: true },
  },
  patients: [{ point_of_care: { id: pointOfCare, system: 'urn:oid:2.16.578.1.12.4.1.4.101' } }],
});

// ---------------------------------------------------------------- OP helpers
/**
 * Logs `client` in (SFM + Kjernejournal granted, offline_access). `c.claims` are the extra
 * claims of every following client assertion (set it before a token request).
 */
async function loggedIn(client) {
  const c = await NodeClient.create({ issuer: dbl.issuer, client, redirectUri: `${stack.appOrigin}/` });
  c.claims = {};
  c.assertion = async () => clientAssertion(client, dbl.issuer, { claims: c.claims });
  const { token } = await c.login({ scope: SCOPE, resource: [SFM, KJ] });
  assert.equal(token.res.status, 200, JSON.stringify(token.json));
  c.rt = token.json.refresh_token;
  return c;
}

/** A refresh with `claims` in the assertion; keeps the new refresh token. */
async function refresh(c, claims, resource = SFM) {
  c.claims = claims;
  const t = await c.token({ grant_type: 'refresh_token', refresh_token: c.rt, resource });
  if (t.res.status === 200) c.rt = t.json.refresh_token;
  return { status: t.res.status, json: t.json, at: t.json?.access_token ? decodeJwt(t.json.access_token).payload : undefined };
}

async function expectHid(c, claims, prefix) {
  const r = await refresh(c, claims);
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.equal(r.json.error, 'invalid_request');
  assert.ok(r.json.error_description.startsWith(prefix), `"${r.json.error_description}" starts with "${prefix}"`);
  return r.json.error_description;
}

// ---------------------------------------------------------------- OP: HID errors
test('HID-1001 / HID-1002: parent or child not on the multi-tenant client\'s allow-list', async () => {
  const c = await loggedIn(clients.multi);
  assert.equal(
    await expectHid(c, { assertion_details: [multiOrg('920000003', '920000011')] }, 'HID-1001: '),
    'HID-1001: the parent organization 920000003 is not allowed for this client',
  );
  assert.equal(
    await expectHid(c, { assertion_details: [multiOrg('920000001', '920000099')] }, 'HID-1002: '),
    'HID-1002: the child organization 920000099 is not allowed for this client',
  );
  // Single-tenant client: the child must be on its list.
  const s = await loggedIn(clients.rs256);
  assert.equal(
    await expectHid(s, { assertion_details: [singleOrg('910000099')] }, 'HID-1002: '),
    'HID-1002: the child organization 910000099 is not allowed for this client',
  );
  // A refused refresh does not use up the refresh token: the next good one works.
  const ok = await refresh(c, { assertion_details: [multiOrg('920000001', '920000011')] });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
});

test('HID-1004: organisation numbers that are not 9 digits', async () => {
  const c = await loggedIn(clients.multi);
  assert.equal(
    await expectHid(c, { assertion_details: [multiOrg('92000001')] }, 'HID-1004: '),
    'HID-1004: the parent organization number "92000001" is not 9 digits',
  );
  await expectHid(c, { assertion_details: [multiOrg('920000001', '92000001X')] }, 'HID-1004: ');
  await expectHid(c, { assertion_details: [attest('9200000011', '920000011')] }, 'HID-1004: ');
  const s = await loggedIn(clients.es256);
  await expectHid(s, { assertion_details: [singleOrg('9100 0001')] }, 'HID-1004: ');
});

test('HID-1007: malformed details, both claims at once', async () => {
  const c = await loggedIn(clients.multi);
  const org = multiOrg('920000001', '920000011');
  assert.equal(
    await expectHid(c, { assertion_details: [org], authorization_details: [org] }, 'HID-1007: '),
    'HID-1007: the client assertion carries both assertion_details and authorization_details: send one of them',
  );
  await expectHid(c, { assertion_details: 'helseid_authorization' }, 'HID-1007: ');
  await expectHid(c, { assertion_details: [{ value: 1 }] }, 'HID-1007: ');
  await expectHid(c, { assertion_details: [{ type: 'nhn:unknown' }] }, 'HID-1007: ');
  await expectHid(c, { assertion_details: [{ type: 'helseid_authorization', practitioner_role: {} }] }, 'HID-1007: ');
  await expectHid(c, { assertion_details: [{ ...org, practitioner_role: { organization: { identifier: { system: 'urn:oid:1.0.6523', type: 'ENH', value: '920000001' } } } }] }, 'HID-1007: ');
  await expectHid(c, { assertion_details: [journal('not-a-uuid')] }, 'HID-1007: ');
  await expectHid(c, { assertion_details: [org, multiOrg('920000002')] }, 'HID-1007: ');
  const noPurpose = attest('920000001', '920000011');
  delete noPurpose.care_relationship.purpose_of_use;
  await expectHid(c, { assertion_details: [noPurpose] }, 'HID-1007: ');
  await expectHid(c, { assertion_details: [attest('920000001', '920000011', 'SHOPPING')] }, 'HID-1007: ');
  // A multi-tenant client must name the parent.
  await expectHid(c, { assertion_details: [singleOrg('920000011')] }, 'HID-1007: ');
});

test('HID-1010: a client that may not send organisation numbers; the multi-tenant form from a single-tenant client', async () => {
  const n = await loggedIn(clients.noorg);
  assert.equal(
    await expectHid(n, { assertion_details: [singleOrg('910000011')] }, 'HID-1010: '),
    'HID-1010: the client helseid-wasm-noorg is not configured for organization numbers in its requests',
  );
  const s = await loggedIn(clients.rs256);
  await expectHid(s, { assertion_details: [multiOrg('910000001', '910000011')] }, 'HID-1010: ');
  // The journal id is not an organisation number: allowed for that client.
  const ok = await refresh(n, { assertion_details: [journal(TEST_JOURNALS.kvart1)] });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.at[JOURNAL], { journal_id: TEST_JOURNALS.kvart1 });
});

// ---------------------------------------------------------------- OP: claims
test('multi-tenant: orgnr_parent and orgnr_child from the details, per token request; none without details', async () => {
  const c = await loggedIn(clients.multi);
  // The code exchange had no details: no organisation claims (unchanged behaviour), no SFM id.
  const first = dbl.issuedTokens()[0];
  const at0 = decodeJwt(first.accessToken).payload;
  assert.equal(at0[PARENT], undefined);
  assert.equal(at0[CHILD], undefined);
  assert.equal(at0[SFM_ID], undefined, 'a multi-tenant client has no SFM id');

  const a = await refresh(c, { assertion_details: [multiOrg('920000001', '920000011')] });
  assert.equal(a.status, 200);
  assert.equal(a.at[PARENT], '920000001');
  assert.equal(a.at[CHILD], '920000011');
  assert.equal(a.json.rejected_scope, undefined);
  // Switch organisation at the next refresh (no new login); an empty child gives no child claim.
  const b = await refresh(c, { assertion_details: [multiOrg('920000002')] });
  assert.equal(b.at[PARENT], '920000002');
  assert.equal(b.at[CHILD], undefined);
  // A refresh without details: no organisation claims again.
  const n = await refresh(c, {});
  assert.equal(n.status, 200);
  assert.equal(n.at[PARENT], undefined);
  // The ID token never carries them.
  assert.equal(decodeJwt(n.json.id_token).payload[PARENT], undefined);

  const seen = dbl.detailsSeen().filter((e) => e.status === 200);
  assert.deepEqual(seen.map((e) => [e.grant, e.claim, e.orgnrParent, e.orgnrChild]), [
    ['authorization_code', null, undefined, undefined],
    ['refresh_token', 'assertion_details', '920000001', '920000011'],
    ['refresh_token', 'assertion_details', '920000002', undefined],
    ['refresh_token', null, undefined, undefined],
  ]);
  assert.deepEqual(seen[1].details, [multiOrg('920000001', '920000011')]);
  assert.equal(seen[1].clientId, 'helseid-wasm-multi');
  dbl.reset();
  assert.deepEqual(dbl.detailsSeen(), []);
});

test('single-tenant: orgnr_parent is the client\'s own organisation, orgnr_child the one sent; SFM id kept', async () => {
  const c = await loggedIn(clients.rs256);
  const a = await refresh(c, { assertion_details: [singleOrg('910000012')] });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  assert.equal(a.at[PARENT], '910000001');
  assert.equal(a.at[CHILD], '910000012');
  assert.equal(a.at[SFM_ID], clients.rs256.sfmId);
  assert.equal(a.at.aud, SFM);
});

test('journal id (any resource) and attest (Kjernejournal tokens only); a single object is accepted too', async () => {
  const c = await loggedIn(clients.multi);
  const att = attest('920000001', '920000011');
  const details = [multiOrg('920000001', '920000011'), journal(TEST_JOURNALS.kvart1), att];
  const sfm = await refresh(c, { assertion_details: details }, SFM);
  assert.equal(sfm.status, 200, JSON.stringify(sfm.json));
  assert.deepEqual(sfm.at[JOURNAL], { journal_id: TEST_JOURNALS.kvart1 });
  assert.equal(sfm.at[ATTEST], undefined, 'no attest in an SFM token');
  assert.ok(sfm.at.scope.includes(SFM_SCOPE) && !sfm.at.scope.includes(KJ_SCOPE), `scope ${sfm.at.scope}`);

  const kj = await refresh(c, { assertion_details: details }, KJ);
  assert.equal(kj.status, 200, JSON.stringify(kj.json));
  assert.equal(kj.at.aud, KJ);
  assert.ok(kj.at.scope.includes(KJ_SCOPE));
  const { type, ...withoutType } = att;
  assert.deepEqual(kj.at[ATTEST], withoutType, 'the attest as sent, without "type"');
  assert.equal(kj.at[PARENT], '920000001');
  assert.deepEqual(kj.at[JOURNAL], { journal_id: TEST_JOURNALS.kvart1 });

  // NHN's libraries send one detail as an object, not an array.
  const one = await refresh(c, { assertion_details: journal(TEST_JOURNALS.kvart2) }, SFM);
  assert.equal(one.status, 200);
  assert.deepEqual(one.at[JOURNAL], { journal_id: TEST_JOURNALS.kvart2 });
  assert.deepEqual(dbl.detailsSeen().at(-1).details, journal(TEST_JOURNALS.kvart2), 'logged as sent');
});

test('the SFM-style demo API takes a multi-tenant token with a journal id instead of an SFM id', async () => {
  const c = await loggedIn(clients.multi);
  const without = await refresh(c, { assertion_details: [multiOrg('920000001')] });
  const whoami = `${dbl.apiOrigin}/api/whoami`;
  const refused = await c.api('GET', whoami, without.json.access_token);
  assert.equal(refused.res.status, 401);
  assert.match(refused.res.headers.get('www-authenticate'), /error="invalid_token"/);
  const withJournal = await refresh(c, { assertion_details: [multiOrg('920000001', '920000012'), journal(TEST_JOURNALS.kvart2)] });
  const ok = await c.api('GET', whoami, withJournal.json.access_token);
  assert.equal(ok.res.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.journal_id, TEST_JOURNALS.kvart2);
  assert.equal(ok.json.orgnr_parent, '920000001');
  assert.equal(ok.json.orgnr_child, '920000012');
  assert.equal(ok.json.sfm_id, undefined);
});

test('authorization_details is read like assertion_details (also at the code exchange)', async () => {
  const client = clients.multi;
  const c = await NodeClient.create({ issuer: dbl.issuer, client, redirectUri: `${stack.appOrigin}/` });
  c.assertion = async () => clientAssertion(client, dbl.issuer, { claims: { authorization_details: [multiOrg('920000002', '920000021')] } });
  const { token } = await c.login({ scope: SCOPE, resource: [SFM, KJ] });
  assert.equal(token.res.status, 200, JSON.stringify(token.json));
  const at = decodeJwt(token.json.access_token).payload;
  assert.equal(at[PARENT], '920000002');
  assert.equal(at[CHILD], '920000021');
  const seen = dbl.detailsSeen().find((e) => e.grant === 'authorization_code' && e.status === 200);
  assert.equal(seen.claim, 'authorization_details');
  // Details on the PAR assertion are not read (nor logged): only token requests.
  assert.ok(dbl.detailsSeen().every((e) => e.grant === 'authorization_code'));
});

test('an organisation that has not accepted the terms: 200 with rejected_scope, the token lacks those scopes', async () => {
  const c = await loggedIn(clients.multi);
  const r = await refresh(c, { assertion_details: [multiOrg('920000009')] });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.rejected_scope, SFM_SCOPE);
  assert.ok(!r.at.scope.includes(SFM_SCOPE), `token scope ${r.at.scope}`);
  assert.ok(!r.json.scope.split(' ').includes(SFM_SCOPE), `response scope ${r.json.scope}`);
  assert.equal(r.at[PARENT], '920000009');
  assert.equal(r.at.aud, SFM);
  assert.deepEqual(dbl.detailsSeen().at(-1).rejectedScope, [SFM_SCOPE]);
  const kj = await refresh(c, { assertion_details: [multiOrg('920000009')] }, KJ);
  assert.equal(kj.json.rejected_scope, KJ_SCOPE);
  // Another organisation on the next refresh: the scope is back, no rejected_scope.
  const ok = await refresh(c, { assertion_details: [multiOrg('920000001')] });
  assert.ok(ok.at.scope.includes(SFM_SCOPE));
  assert.equal(ok.json.rejected_scope, undefined);
  // Configurable: no organisation refused.
  dbl.setOptions({ termsNotAccepted: [] });
  try {
    const again = await refresh(c, { assertion_details: [multiOrg('920000009')] });
    assert.equal(again.json.rejected_scope, undefined);
    assert.ok(again.at.scope.includes(SFM_SCOPE));
  } finally {
    dbl.setOptions({ termsNotAccepted: ['920000009'] });
  }
  assert.throws(() => dbl.setOptions({ termsNotAccepted: ['123'] }), /9-digit/);
});

test('control API: details-seen, signer-log, info lists clients\' allow-lists and the EPJ users', async () => {
  const c = await loggedIn(clients.multi);
  await refresh(c, { assertion_details: [multiOrg('920000001')] });
  const seen = await (await fetch(`${dbl.issuer}/__test/details-seen`)).json();
  assert.deepEqual(seen, dbl.detailsSeen());
  assert.equal(seen.at(-1).orgnrParent, '920000001');
  const log = await (await fetch(`${dbl.issuer}/__test/signer-log`)).json();
  assert.deepEqual(log, []);
  const info = await (await fetch(`${dbl.issuer}/__test/info`)).json();
  const multi = info.clients.find((x) => x.clientId === 'helseid-wasm-multi');
  assert.equal(multi.tenancy, 'multi');
  assert.deepEqual(multi.parentOrgs, ['920000001', '920000002', '920000009']);
  assert.equal(info.clients.find((x) => x.clientId === 'helseid-wasm-noorg').orgNumbers, false);
  assert.equal(info.resources[KJ], KJ_SCOPE);
  assert.ok(info.epjUsers.kvart.journalIds.includes(TEST_JOURNALS.kvart1));
  assert.deepEqual(info.options.termsNotAccepted, ['920000009']);
});

// ---------------------------------------------------------------- the demo signer
const tokenEndpoint = () => `${dbl.issuer}/connect/token`;
const good = (extra = {}) => ({ audience: dbl.issuer, endpoint: tokenEndpoint(), clientId: 'helseid-wasm-multi', grantType: 'refresh_token', ...extra });

async function expectRefused(opts, status, error) {
  const r = await signerRequest(dbl.apiOrigin, opts);
  assert.equal(r.res.status, status, JSON.stringify(r.json));
  assert.equal(r.json.error, error);
  assert.equal(typeof r.json.error_description, 'string');
  assert.equal(r.json.assertion, undefined);
  return r.json;
}

test('EPJ login: POST /app-session with the user\'s password and a client id sets an HttpOnly SameSite=Strict cookie, only as JSON from the app origin', async () => {
  const kvart = { user: 'kvart', password: EPJ_TEST_PASSWORDS.kvart, clientId: 'helseid-wasm-multi' };
  const res = await fetch(`${dbl.apiOrigin}/app-session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: stack.appOrigin },
    body: JSON.stringify(kvart),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { user: 'kvart', clientId: 'helseid-wasm-multi' });
  assert.equal(res.headers.get('access-control-allow-origin'), stack.appOrigin);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  const [cookie] = res.headers.getSetCookie();
  assert.match(cookie, /^epj_session=[\w-]{20,}; /);
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.match(cookie, /; Path=\//);
  const who = await fetch(`${dbl.apiOrigin}/app-session`, { headers: { Cookie: cookie.split(';')[0] } });
  assert.deepEqual(await who.json(), { user: 'kvart', clientId: 'helseid-wasm-multi' });

  // Refused, each without a cookie and logged: text/plain, another origin, no or a wrong
  // password, another user's password, an unknown user, an unknown or missing client id.
  dbl.reset();
  const post = (headers, body) => fetch(`${dbl.apiOrigin}/app-session`, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = { 'Content-Type': 'application/json', Origin: stack.appOrigin };
  const refusals = [
    [{ 'Content-Type': 'text/plain', Origin: stack.appOrigin }, kvart, 415, 'invalid_request'],
    [{ 'Content-Type': 'application/json', Origin: 'http://127.0.0.1:1' }, kvart, 403, 'origin_not_allowed'],
    [json, { ...kvart, password: undefined }, 401, 'invalid_credentials'],
    [json, { ...kvart, password: 'not-the-password-9x' }, 401, 'invalid_credentials'],
    [json, { ...kvart, password: EPJ_TEST_PASSWORDS.lege2 }, 401, 'invalid_credentials'],
    [json, { ...kvart, user: 'mallory' }, 401, 'invalid_credentials'],
    [json, { ...kvart, clientId: 'nope' }, 400, 'invalid_request'],
    [json, { ...kvart, clientId: undefined }, 400, 'invalid_request'],
  ];
  for (const [headers, body, status, error] of refusals) {
    const r = await post(headers, body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal((await r.json()).error, error, JSON.stringify(body));
    assert.deepEqual(r.headers.getSetCookie(), [], 'no EPJ session');
  }
  const log = dbl.signerLog();
  assert.deepEqual(log.map((e) => [e.route, e.signed, e.status, e.error]), refusals.map(([, , status, error]) => ['app-session', false, status, error]));
  assert.equal(log[5].user, 'mallory');
  assert.ok(!JSON.stringify(log).includes('-test-only-password') && !JSON.stringify(log).includes('not-the-password-9x'), 'no password in the log');

  // The CORS preflight allows credentials for the exact app origin.
  const pre = await fetch(`${dbl.apiOrigin}/assertion`, {
    method: 'OPTIONS',
    headers: { Origin: stack.appOrigin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), stack.appOrigin);
  assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
  // The SFM-style API does not take credentials.
  const apiPre = await fetch(`${dbl.apiOrigin}/api/whoami`, {
    method: 'OPTIONS',
    headers: { Origin: stack.appOrigin, 'Access-Control-Request-Method': 'GET' },
  });
  assert.equal(apiPre.headers.get('access-control-allow-credentials'), null);
});

test('the signer refuses: no session, text/plain, a form, wrong or missing Origin', async () => {
  const cookie = await epjLogin(dbl.apiOrigin, stack.appOrigin);
  const origin = stack.appOrigin;
  await expectRefused({ origin, body: good() }, 401, 'login_required');
  await expectRefused({ origin, cookie: 'epj_session=forged', body: good() }, 401, 'login_required');
  await expectRefused({ origin, cookie, body: JSON.stringify(good()), contentType: 'text/plain' }, 415, 'invalid_request');
  await expectRefused({ origin, cookie, body: new URLSearchParams(good()).toString(), contentType: 'application/x-www-form-urlencoded' }, 415, 'invalid_request');
  await expectRefused({ origin: 'https://evil.example', cookie, body: good() }, 403, 'origin_not_allowed');
  await expectRefused({ cookie, body: good() }, 403, 'origin_not_allowed');
  // A logged-out session no longer signs.
  await fetch(`${dbl.apiOrigin}/app-session`, { method: 'DELETE', headers: { Cookie: cookie } });
  await expectRefused({ origin, cookie, body: good() }, 401, 'login_required');
  const log = dbl.signerLog();
  assert.equal(log.length, 7);
  assert.ok(log.every((e) => e.signed === false && e.status >= 400));
});

test('the signer refuses: wrong audience, an endpoint not in discovery, a grantType that does not fit', async () => {
  const cookie = await epjLogin(dbl.apiOrigin, stack.appOrigin);
  const o = { origin: stack.appOrigin, cookie };
  let e = await expectRefused({ ...o, body: good({ audience: `${dbl.issuer}/connect/token` }) }, 400, 'invalid_request');
  assert.match(e.error_description, /audience must be the issuer/);
  await expectRefused({ ...o, body: good({ audience: 'https://helseid-sts.test.nhn.no' }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ audience: undefined }) }, 400, 'invalid_request');
  e = await expectRefused({ ...o, body: good({ endpoint: `${dbl.issuer}/connect/userinfo` }) }, 400, 'invalid_request');
  assert.match(e.error_description, /endpoint must be/);
  await expectRefused({ ...o, body: good({ endpoint: 'https://evil.example/connect/token' }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ endpoint: undefined }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ grantType: 'par' }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ grantType: 'client_credentials' }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ clientId: 'nope' }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ detailsClaim: 'claims' }) }, 400, 'invalid_request');
  // Details go only on token-endpoint assertions, always as an array.
  await expectRefused({ ...o, body: good({ endpoint: `${dbl.issuer}/connect/par`, grantType: 'par', assertionDetails: [multiOrg('920000001')] }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ assertionDetails: multiOrg('920000001') }) }, 400, 'invalid_request');
  await expectRefused({ ...o, body: good({ assertionDetails: [{ type: 'nhn:unknown' }] }) }, 400, 'invalid_request');
});

test('the signer refuses details that are not on the EPJ user\'s allow-list', async () => {
  const kvart = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'kvart') };
  const lege2 = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'lege2') };
  const niva3 = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'niva3') };
  const single = {
    kvart: { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'kvart', { clientId: 'helseid-wasm-rs256' }) },
    lege2: { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'lege2', { clientId: 'helseid-wasm-rs256' }) },
  };
  const refused = async (who, details, re, clientId = 'helseid-wasm-multi') => {
    const e = await expectRefused({ ...who, body: good({ clientId, assertionDetails: details }) }, 403, 'access_denied');
    assert.match(e.error_description, re);
  };
  await refused(kvart, [multiOrg('920000004')], /may not act for the organization 920000004/);
  await refused(kvart, [multiOrg('920000002', '920000011')], /920000002:920000011/);
  await refused(lege2, [multiOrg('920000001')], /lege2 may not act for the organization 920000001/);
  await refused(niva3, [multiOrg('920000002')], /niva3/);
  await refused(kvart, [journal(TEST_JOURNALS.lege2)], /may not open the SFM journal/);
  await refused(lege2, [journal(TEST_JOURNALS.kvart1)], /may not open the SFM journal/);
  await refused(kvart, [attest('920000001', '930000001')], /930000001 as point of care/);
  await refused(lege2, [attest('920000001', '920000011')], /920000001 as legal entity/);
  // Single-tenant form: the child must belong to the client's own organisation for this user.
  await refused(single.lege2, [singleOrg('910000011')], /910000011/, 'helseid-wasm-rs256');
  await refused(single.kvart, [singleOrg('920000011')], /920000011/, 'helseid-wasm-rs256');
  // One bad detail among good ones refuses the whole request.
  await refused(kvart, [multiOrg('920000001', '920000011'), journal('5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5eff')], /SFM journal/);
  const log = dbl.signerLog();
  assert.ok(log.length >= 11 && log.every((e) => !e.signed && e.error === 'access_denied'));
  assert.equal(log[0].user, 'kvart');
  assert.deepEqual(log[0].details, [multiOrg('920000004')]);
});

test('the signer signs only for the client its EPJ session was opened for; attests only for users granted them, BTG only for users granted that', async () => {
  const kvart = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'kvart') };
  const lege2 = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'lege2') };
  const niva3 = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'niva3') };
  dbl.reset();
  // Opened for helseid-wasm-multi: no assertion for another client, with or without details.
  let e = await expectRefused({ ...kvart, body: good({ clientId: 'helseid-wasm-rs256' }) }, 403, 'access_denied');
  assert.equal(e.error_description, 'the EPJ session was opened for the client helseid-wasm-multi, not helseid-wasm-rs256');
  await expectRefused({ ...kvart, body: good({ clientId: 'helseid-wasm-es256', endpoint: `${dbl.issuer}/connect/par`, grantType: 'par' }) }, 403, 'access_denied');
  // A user without the attest grant gets no attest signed, even for no organisation at all.
  e = await expectRefused({ ...niva3, body: good({ assertionDetails: [attest('920000001', '920000011')] }) }, 403, 'access_denied');
  assert.equal(e.error_description, 'the EPJ user niva3 may not attest for a patient');
  // lege2 may attest for its organisations, but not break the glass.
  e = await expectRefused({ ...lege2, body: good({ assertionDetails: [attest('920000002', '920000021', 'BTG')] }) }, 403, 'access_denied');
  assert.equal(e.error_description, 'the EPJ user lege2 may not break the glass (purpose_of_use BTG)');
  assert.deepEqual(dbl.signerLog().map((x) => [x.user, x.clientId, x.signed, x.error]), [
    ['kvart', 'helseid-wasm-rs256', false, 'access_denied'],
    ['kvart', 'helseid-wasm-es256', false, 'access_denied'],
    ['niva3', 'helseid-wasm-multi', false, 'access_denied'],
    ['lege2', 'helseid-wasm-multi', false, 'access_denied'],
  ]);
  // Signed: lege2's TREAT attest, kvart's BTG attest, and the session's own client when the body names none.
  for (const [who, body] of [
    [lege2, good({ assertionDetails: [attest('920000002', '920000021')] })],
    [kvart, good({ assertionDetails: [attest('920000001', '920000011', 'BTG')] })],
    [kvart, good({ clientId: undefined })],
  ]) {
    const r = await signerRequest(dbl.apiOrigin, { ...who, body });
    assert.equal(r.res.status, 200, JSON.stringify(r.json));
    assert.equal(decodeJwt(r.json.assertion).payload.iss, 'helseid-wasm-multi');
  }
  const signed = dbl.signerLog().slice(4);
  assert.deepEqual(signed.map((x) => [x.user, x.signed]), [['lege2', true], ['kvart', true], ['kvart', true]]);
  assert.equal(signed[1].details[0].care_relationship.purpose_of_use.code, 'BTG');
});

test('the signer signs a good request: details as an array in the named claim, logged; usable at the token endpoint', async () => {
  const who = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'kvart') };
  const details = [multiOrg('920000001', '920000011'), journal(TEST_JOURNALS.kvart1), attest('920000001', '920000011')];

  const a = await signerRequest(dbl.apiOrigin, { ...who, body: good({ assertionDetails: details }) });
  assert.equal(a.res.status, 200, JSON.stringify(a.json));
  assert.equal(a.res.headers.get('access-control-allow-origin'), stack.appOrigin);
  assert.equal(a.res.headers.get('access-control-allow-credentials'), 'true');
  const p = decodeJwt(a.json.assertion).payload;
  assert.deepEqual(p.assertion_details, details);
  assert.equal(p.authorization_details, undefined);
  assert.equal(p.iss, 'helseid-wasm-multi');
  assert.equal(p.aud, dbl.issuer);

  const b = await signerRequest(dbl.apiOrigin, { ...who, body: good({ assertionDetails: [journal(TEST_JOURNALS.kvart2)], detailsClaim: 'authorization_details' }) });
  assert.equal(b.res.status, 200);
  const pb = decodeJwt(b.json.assertion).payload;
  assert.deepEqual(pb.authorization_details, [journal(TEST_JOURNALS.kvart2)], 'one detail: still an array');
  assert.equal(pb.assertion_details, undefined);

  // No details, an empty list: no details claim. PAR and revocation endpoints are fine.
  for (const body of [good({ assertionDetails: [] }), good({ endpoint: `${dbl.issuer}/connect/par`, grantType: 'par' }),
    good({ endpoint: `${dbl.issuer}/connect/revocation`, grantType: 'revocation' }), good({ grantType: undefined })]) {
    const r = await signerRequest(dbl.apiOrigin, { ...who, body });
    assert.equal(r.res.status, 200, JSON.stringify(r.json));
    const pr = decodeJwt(r.json.assertion).payload;
    assert.equal(pr.assertion_details, undefined);
    assert.equal(pr.authorization_details, undefined);
  }
  // Single-tenant form for a single-tenant client (an EPJ session for that client).
  const rs256 = { origin: stack.appOrigin, cookie: await epjLogin(dbl.apiOrigin, stack.appOrigin, 'kvart', { clientId: 'helseid-wasm-rs256' }) };
  const s = await signerRequest(dbl.apiOrigin, { ...rs256, body: good({ clientId: 'helseid-wasm-rs256', assertionDetails: [singleOrg('910000012')] }) });
  assert.equal(s.res.status, 200);

  const log = dbl.signerLog();
  assert.equal(log.length, 7);
  assert.ok(log.every((e) => e.signed));
  assert.deepEqual(
    { user: log[0].user, clientId: log[0].clientId, endpoint: log[0].endpoint, grantType: log[0].grantType, detailsClaim: log[0].detailsClaim, details: log[0].details },
    { user: 'kvart', clientId: 'helseid-wasm-multi', endpoint: tokenEndpoint(), grantType: 'refresh_token', detailsClaim: 'assertion_details', details },
  );
  assert.equal(typeof log[0].t, 'number');
  dbl.reset();
  assert.deepEqual(dbl.signerLog(), []);

  // End to end: the signer's assertions at the OP (PAR, code exchange, then a refresh with details).
  const c = await NodeClient.create({ issuer: dbl.issuer, client: clients.multi, redirectUri: `${stack.appOrigin}/` });
  c.details = undefined;
  c.grantType = 'par';
  c.assertion = async () => {
    const endpoint = c.grantType === 'par' ? c.discovery.pushed_authorization_request_endpoint : c.discovery.token_endpoint;
    const r = await signerRequest(dbl.apiOrigin, { ...who, body: good({ endpoint, grantType: c.grantType, assertionDetails: c.details }) });
    assert.equal(r.res.status, 200, JSON.stringify(r.json));
    return r.json.assertion;
  };
  const par = await c.par({ scope: SCOPE, resource: [SFM, KJ] });
  assert.equal(par.res.status, 201);
  const back = await c.authorize(par.json.request_uri);
  c.grantType = 'authorization_code';
  const t = await c.token({ grant_type: 'authorization_code', code: back.callback.searchParams.get('code'), redirect_uri: `${stack.appOrigin}/`, code_verifier: par.verifier, resource: KJ });
  assert.equal(t.res.status, 200, JSON.stringify(t.json));
  c.grantType = 'refresh_token';
  c.details = details;
  const r = await c.token({ grant_type: 'refresh_token', refresh_token: t.json.refresh_token, resource: KJ });
  assert.equal(r.res.status, 200, JSON.stringify(r.json));
  const at = decodeJwt(r.json.access_token).payload;
  assert.equal(at[PARENT], '920000001');
  assert.equal(at[CHILD], '920000011');
  assert.deepEqual(at[JOURNAL], { journal_id: TEST_JOURNALS.kvart1 });
  assert.equal(at[ATTEST].care_relationship.purpose_of_use.code, 'TREAT');
  // The signer signs what the OP refuses (HID-1001): the EPJ user may act for it, the client may not.
  c.details = [multiOrg('920000003')];
  const bad = await c.token({ grant_type: 'refresh_token', refresh_token: r.json.refresh_token, resource: SFM });
  assert.equal(bad.res.status, 400);
  assert.match(bad.json.error_description, /^HID-1001: /);
  assert.ok(dbl.signerLog().every((e) => e.signed));
});

test('d.signAssertion signs anything in-process (tests), in either claim', async () => {
  const jwt = await dbl.signAssertion({ clientId: 'helseid-wasm-multi', assertionDetails: multiOrg('920000001'), detailsClaim: 'authorization_details' });
  const p = decodeJwt(jwt).payload;
  assert.deepEqual(p.authorization_details, multiOrg('920000001'));
  assert.equal(p.aud, dbl.issuer);
  assert.deepEqual(dbl.signerLog(), [], 'the in-process signer is not the HTTP signer');
});
