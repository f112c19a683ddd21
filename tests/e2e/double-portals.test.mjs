// Proves the portal stand-ins of the HelseID test double (www/dev-idp/portals.mjs) without the
// Rust library: the SFM session gateway (DPoP, nonce challenge, sessions, tickets), the SFM web
// client page's gateway calls, the Kjernejournal innlogging API and web page, fault injection,
// down/up, CORS; and, in headless Chromium, the SFM client page's postMessage handshake in an
// iframe. Run: node --test tests/e2e/
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';
import { startStack, launchBrowser, ENGINE } from './harness.mjs';
import { NodeClient, dpopKey, pkce } from './node-client.mjs';
import { KJ_RESOURCE, ATTEST_CLAIM, SFM_JOURNAL_ID_CLAIM } from '../../www/dev-idp/double.mjs';

const SFM_ID = 'e-helse:sfm.api/client/claims/sfm-id';
const PID = 'helseid://claims/identity/pid';
const HPR = 'helseid://claims/hpr/hpr_number';
const KVART = { pid: '06828399789', hpr: '565501872', name: 'KVART GREVLING' };
const PATIENT = '13116900216';
const ATTEST = {
  practitioner: {
    authorization: { code: 'LE', system: 'urn:oid:2.16.578.1.12.4.1.1.9060' },
    legal_entity: { id: '999977775', system: 'urn:oid:2.16.578.1.12.4.1.4.101' },
    point_of_care: { id: '999977775', system: 'urn:oid:2.16.578.1.12.4.1.4.101' },
  },
  care_relationship: { purpose_of_use: { code: 'TREAT', system: 'urn:oid:2.16.840.1.113883.1.11.20448' } },
};
// Until the OP issues nhn:kjernejournal tokens itself, a Kjernejournal token is an SFM token
// altered by a protocol fault (re-signed with the OP's own key, see README "Fault modes").
const KJ_FAULT = { accessToken: { set: { aud: KJ_RESOURCE, [ATTEST_CLAIM]: ATTEST }, remove: [SFM_ID] } };

const sha512b64 = (buf) => createHash('sha512').update(buf).digest('base64');
const sha256hex = (s) => createHash('sha256').update(s).digest('hex');

let stack;
let dbl;
let rs256;

before(async () => {
  stack = await startStack({ accessTokenTtl: 600 });
  dbl = stack.double;
  rs256 = dbl.clients.find((c) => c.clientId === 'helseid-wasm-rs256');
});
after(async () => {
  await stack?.close();
});
beforeEach(() => dbl.reset());

/** Logs `user` in (Node client, DPoP) and returns the client and a token source. */
async function loginAs(user = 'kvart') {
  const nc = await NodeClient.create({ issuer: dbl.issuer, client: rs256, redirectUri: `${stack.appOrigin}/` });
  const { token } = await nc.login({ login_hint: user });
  assert.equal(token.res.status, 200, JSON.stringify(token.json));
  let refreshToken = token.json.refresh_token;
  return {
    nc,
    accessToken: token.json.access_token,
    /** A fresh access token of the same grant, altered by `fault` (a setFault spec). */
    async tokenWith(fault) {
      await dbl.setFault(fault);
      try {
        const t = await nc.token({ grant_type: 'refresh_token', refresh_token: refreshToken });
        assert.equal(t.res.status, 200, JSON.stringify(t.json));
        refreshToken = t.json.refresh_token;
        return t.json.access_token;
      } finally {
        dbl.clearFault();
      }
    },
  };
}

function sfmNonce() {
  const bytes = randomBytes(64);
  return { nonce: bytes.toString('base64'), hash: sha512b64(bytes) };
}

const gw = (path) => `${dbl.sfmGatewayOrigin}${path}`;
const kj = (path) => `${dbl.kjApiOrigin}${path}`;

/** The WWW-Authenticate error of a response, or null. */
const authError = (res) => /error="([^"]+)"/.exec(res.headers.get('www-authenticate') ?? '')?.[1] ?? null;

async function pagePost(path, body, origin = dbl.sfmClientOrigin) {
  const res = await fetch(gw(path), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: origin },
    body: JSON.stringify(body),
  });
  return { res, json: await res.json().catch(() => undefined) };
}

function kjHeaders(extra = {}) {
  return { 'X-SOURCE-SYSTEM': 'helseid-wasm e2e, v0.1', 'X-EVENT-ID': randomUUID(), ...extra };
}
function kjBody({ challenge, patient = PATIENT, code = 'LE', basis = 'SAMTYKKE' } = {}) {
  return {
    ehr_code_challenge: challenge ?? pkce().challenge,
    claims: {
      patient_identifier: { id: patient, system: 'urn:oid:2.16.578.1.12.4.1.4.1', authority: 'https://www.skatteetaten.no' },
      practitioner_authorization: { code, system: 'urn:oid:2.16.578.1.12.4.1.1.9060', assigner: 'https://www.helsedirektoratet.no/' },
      access_basis: { code: basis, system: 'SYSTEM_GRUNNLAG', assigner: 'https://nhn.no' },
    },
  };
}

// ---------------------------------------------------------------------------------------- SFM

test('SFM: create (after the nonce challenge), page login, refresh, ticket, patient, end; exact counts and state', async () => {
  const { nc, accessToken } = await loginAs('kvart');
  const { nonce, hash } = sfmNonce();

  const create = await nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: hash } });
  assert.equal(create.first.res.status, 401);
  assert.equal(authError(create.first.res), 'use_dpop_nonce');
  assert.ok(create.first.res.headers.get('dpop-nonce'));
  assert.equal(create.first.json.error, 'use_dpop_nonce');
  assert.equal(create.res.status, 200, JSON.stringify(create.json));
  const info = create.json;
  assert.deepEqual(Object.keys(info).sort(), ['apiAddress', 'clientAddress', 'code', 'id', 'metadata']);
  assert.match(info.id, /^[0-9a-f-]{36}$/);
  assert.equal(info.clientAddress, `${dbl.sfmClientOrigin}/sfm-client/`);
  assert.equal(info.apiAddress, `${dbl.sfmGatewayOrigin}/sfm-api`);
  assert.equal(info.metadata.patientportal, `${info.clientAddress}?portal=patientportal`);
  assert.ok(create.res.headers.get('dpop-nonce'));

  const login = await pagePost('/api/v2/Session/login', {
    code: info.code,
    nonce,
    apiEndpoint: info.apiAddress,
    metadata: { 'sfm-user-agent': 'helseid-wasm e2e', 'x-practitioner-pseudo': sha256hex(KVART.hpr).toUpperCase() },
  });
  assert.equal(login.res.status, 200, JSON.stringify(login.json));
  assert.equal(login.res.headers.get('access-control-allow-origin'), dbl.sfmClientOrigin);
  assert.deepEqual(login.json.user, { name: KVART.name, hpr: KVART.hpr });
  assert.equal(login.json.sessionId, info.id);
  assert.equal(login.json.metadata['sfm-user-agent'], 'helseid-wasm e2e');

  const refresh = await nc.api('POST', gw('/api/v2/Session/refresh'), accessToken);
  assert.equal(refresh.res.status, 204);
  assert.equal(refresh.first, undefined, 'the nonce was cached: no second challenge');

  const ticket = await nc.api('POST', gw('/api/v2/PatientTicket'), accessToken, { body: { patientPid: PATIENT } });
  assert.equal(ticket.res.status, 200);
  assert.equal(typeof ticket.json, 'string', 'the ticket is a JSON string');
  assert.match(ticket.res.headers.get('content-type'), /^application\/json/);

  const patient = await pagePost('/api/v2/Session/patient', { clientSession: login.json.clientSession, ticket: ticket.json, showAllergies: true });
  assert.equal(patient.res.status, 200, JSON.stringify(patient.json));
  assert.deepEqual(patient.json, { patientPid: PATIENT, options: { showAllergies: true } });

  const end = await nc.api('POST', gw('/api/v2/Session/end'), accessToken);
  assert.equal(end.res.status, 204);

  for (const path of ['/api/v2/Session/refresh', '/api/v2/Session/end', '/api/v2/PatientTicket']) {
    const again = await nc.api('POST', gw(path), accessToken, path.endsWith('Ticket') ? { body: { patientPid: PATIENT } } : {});
    assert.equal(again.res.status, 409, path);
    assert.equal(again.json.error, 'session_ended');
  }

  const c = dbl.portalCounts();
  assert.equal(c['sfm-create'], 2);
  assert.equal(c.ok['sfm-create'], 1);
  assert.equal(c['sfm-login'], 1);
  assert.equal(c['sfm-refresh'], 2);
  assert.equal(c.ok['sfm-refresh'], 1);
  assert.equal(c['sfm-ticket'], 2);
  assert.equal(c.ok['sfm-ticket'], 1);
  assert.equal(c['sfm-patient'], 1);
  assert.equal(c['sfm-end'], 2);
  assert.equal(c.ok['sfm-end'], 1);
  assert.equal(c.sfm_legacy_path, 0);
  assert.equal(c['kj-create'], 0);

  const [s] = dbl.sfmSessions();
  assert.equal(s.id, info.id);
  assert.equal(s.pathForm, 'v2');
  assert.equal(s.nonceHash, hash);
  assert.deepEqual({ pid: s.user.pid, hpr: s.user.hpr, name: s.user.name }, KVART);
  assert.equal(s.clientId, rs256.clientId);
  assert.equal(s.sfmId, rs256.sfmId);
  assert.equal(s.codeRedeemed, true);
  assert.equal(s.loggedIn, true);
  assert.equal(s.refreshed, 1);
  assert.equal(s.ended, true);
  assert.equal(s.endedBy, 'end');
  assert.equal(s.tickets.length, 1);
  assert.equal(s.patient.patientPid, PATIENT);
  assert.equal(s.metadata['x-practitioner-pseudo'], sha256hex(KVART.hpr).toUpperCase());
});

test('SFM: the old paths without /v2 work the same, DPoP only', async () => {
  const { nc, accessToken } = await loginAs('kvart');
  const create = await nc.api('POST', gw('/api/Session/create'), accessToken, { body: { nonce: sfmNonce().hash } });
  assert.equal(create.res.status, 200);
  assert.equal((await nc.api('POST', gw('/api/Session/refresh'), accessToken)).res.status, 204);
  const ticket = await nc.api('POST', gw('/api/PatientTicket'), accessToken, { body: { patientPid: PATIENT } });
  assert.equal(ticket.res.status, 200);
  const bearer = await fetch(gw('/api/Session/end'), { method: 'POST', headers: { Authorization: `Bearer ${accessToken}` } });
  assert.equal(bearer.status, 401);
  assert.equal(authError(bearer), 'invalid_token');
  assert.equal((await nc.api('POST', gw('/api/Session/end'), accessToken)).res.status, 204);
  const c = dbl.portalCounts();
  assert.equal(c.sfm_legacy_path, 6); // create twice (nonce challenge), refresh, ticket, end with Bearer, end
  assert.equal(dbl.sfmSessions()[0].pathForm, 'legacy');
});

test('SFM: no session gives 404; a second create replaces the first; refresh and end take no body', async () => {
  const { nc, accessToken } = await loginAs('kvart');
  for (const path of ['/api/v2/Session/refresh', '/api/v2/Session/end']) {
    const r = await nc.api('POST', gw(path), accessToken);
    assert.equal(r.res.status, 404, path);
    assert.deepEqual(r.json, { error: 'session_not_found', error_description: 'no SFM session for this user and client' });
  }
  const first = await nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: sfmNonce().hash } });
  const second = await nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: sfmNonce().hash } });
  assert.notEqual(first.json.id, second.json.id);
  const withBody = await nc.api('POST', gw('/api/v2/Session/refresh'), accessToken, { body: {} });
  assert.equal(withBody.res.status, 400);
  assert.match(withBody.json.error_description, /takes no body/);
  assert.equal((await nc.api('POST', gw('/api/v2/Session/refresh'), accessToken)).res.status, 204);
  const [a, b] = dbl.sfmSessions();
  assert.deepEqual([a.ended, a.endedBy, a.refreshed], [true, 'replaced', 0]);
  assert.deepEqual([b.ended, b.refreshed], [false, 1]);
  // Another user's refresh does not find kvart's session.
  const other = await loginAs('lege2');
  assert.equal((await other.nc.api('POST', gw('/api/v2/Session/refresh'), other.accessToken)).res.status, 404);
});

test('SFM: Session/create validates the nonce hash (standard base64 of 64 bytes)', async () => {
  const { nc, accessToken } = await loginAs('kvart');
  const bytes = randomBytes(64);
  const cases = [
    { body: {}, why: 'no nonce' },
    { body: { nonce: '' }, why: 'empty' },
    { body: { nonce: randomBytes(32).toString('base64') }, why: '32 bytes (SHA-256)' },
    { body: { nonce: sha512b64(bytes).replace(/=+$/, '') }, why: 'no padding' },
    { body: { nonce: createHash('sha512').update(bytes).digest('base64url') }, why: 'base64url' },
    { body: { nonce: createHash('sha512').update(bytes).digest('hex') }, why: 'hex' },
    { rawBody: 'nonce=abc', why: 'not JSON' },
    { body: [sha512b64(bytes)], why: 'an array' },
  ];
  for (const { why, ...opts } of cases) {
    const r = await nc.api('POST', gw('/api/v2/Session/create'), accessToken, opts);
    assert.equal(r.res.status, 400, why);
    assert.equal(r.json.error, 'invalid_request', why);
  }
  assert.equal(dbl.sfmSessions().length, 0);
  assert.equal((await nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: sha512b64(bytes) } })).res.status, 200);
});

test('SFM: refused tokens and proofs (401 invalid_token / invalid_dpop_proof / use_dpop_nonce)', async () => {
  const kvart = await loginAs('kvart');
  const { nc, accessToken } = kvart;
  const url = gw('/api/v2/Session/create');
  const body = { nonce: sfmNonce().hash };
  // Prime the nonce so each case is one request.
  await nc.api('POST', gw('/api/v2/Session/refresh'), accessToken);

  const noAuth = await fetch(url, { method: 'POST' });
  assert.equal(noAuth.status, 401);
  assert.equal(authError(noAuth), null);
  assert.match(noAuth.headers.get('www-authenticate'), /^DPoP algs="/);

  const tokens = {
    wrongAud: await kvart.tokenWith('access-token-aud-other'),
    noSfmId: await kvart.tokenWith('access-token-no-sfm-id'),
    level3: await kvart.tokenWith('access-token-security-level-3'),
    otherKey: await kvart.tokenWith('access-token-cnf-other-key'),
    expired: await kvart.tokenWith({ accessToken: { set: { exp: { $now: -5 } } } }),
    badSig: await kvart.tokenWith({ accessToken: { signature: 'flip' } }),
    noPid: await kvart.tokenWith({ accessToken: { remove: [PID] } }),
    noHpr: await kvart.tokenWith({ accessToken: { remove: [HPR] } }),
    kjAud: await kvart.tokenWith(KJ_FAULT),
    journalId: await kvart.tokenWith({ accessToken: { remove: [SFM_ID], set: { [SFM_JOURNAL_ID_CLAIM]: randomUUID() } } }),
  };
  const niva3 = await loginAs('niva3');

  const cases = [
    ['Bearer scheme', { scheme: 'Bearer' }, 'invalid_token', /DPoP scheme/],
    ['no DPoP proof', { withProof: false }, 'invalid_dpop_proof', /missing DPoP proof/],
    ['wrong aud', { token: tokens.wrongAud }, 'invalid_token', /aud must be exactly e-helse:sfm\.api/],
    ['Kjernejournal aud', { token: tokens.kjAud }, 'invalid_token', /aud must be exactly e-helse:sfm\.api/],
    ['no SFM id', { token: tokens.noSfmId }, 'invalid_token', /no SFM id claim/],
    ['security level 3', { token: tokens.level3 }, 'invalid_token', /security level 4 required/],
    ['level 3 user', { token: niva3.accessToken, client: niva3.nc }, 'invalid_token', /security level 4 required/],
    ['no pid', { token: tokens.noPid }, 'invalid_token', /identity\/pid/],
    ['no HPR number', { token: tokens.noHpr }, 'invalid_token', /hpr_number/],
    ['cnf.jkt of another key', { token: tokens.otherKey }, 'invalid_token', /cnf\.jkt/],
    ['expired', { token: tokens.expired }, 'invalid_token', /exp/],
    ['bad signature', { token: tokens.badSig }, 'invalid_token', /signature/],
    ['proof by another key', { dpop: await dpopKey('ES256') }, 'invalid_token', /cnf\.jkt/],
    ['short jti', { proof: { jti: 'abcdefghijklmno' } }, 'invalid_dpop_proof', /jti must have at least 16/],
    ['wrong htm', { proof: { htm: 'GET' } }, 'invalid_dpop_proof', /htm/],
    ['wrong htu (old path)', { proof: { htu: gw('/api/Session/create') } }, 'invalid_dpop_proof', /htu/],
    ['htu of another server', { proof: { htu: `${dbl.apiOrigin}/api/v2/Session/create` } }, 'invalid_dpop_proof', /htu/],
    ['no ath', { proof: { accessToken: undefined } }, 'invalid_dpop_proof', /ath/],
    ['ath of another token', { proof: { accessToken: tokens.journalId } }, 'invalid_dpop_proof', /ath/],
    ['old iat', { proof: { iat: Math.floor(Date.now() / 1000) - 120 } }, 'invalid_dpop_proof', /iat/],
    ['foreign nonce', { proof: { nonce: dbl.currentApiNonce() } }, 'use_dpop_nonce', /Stale/],
  ];
  for (const [why, { token = accessToken, client = nc, ...opts }, error, description] of cases) {
    const r = await client.api('POST', url, token, { body, retry: false, ...opts });
    assert.equal(r.res.status, 401, why);
    assert.equal(authError(r.res), error, `${why}: ${r.res.headers.get('www-authenticate')}`);
    assert.equal(r.json.error, error, why);
    assert.match(r.json.error_description, description, why);
    assert.match(r.res.headers.get('www-authenticate'), new RegExp(`error_description="[^"]*"`), why);
  }

  // A reused jti.
  const jti = randomUUID();
  assert.equal((await nc.api('POST', url, accessToken, { body, proof: { jti }, retry: false })).res.status, 200);
  const reused = await nc.api('POST', url, accessToken, { body, proof: { jti }, retry: false });
  assert.equal(reused.res.status, 401);
  assert.match(reused.json.error_description, /jti was used before/);

  // A rotated nonce: the old one is stale, the retry with the new one passes.
  dbl.rotatePortalNonce('sfm');
  const stale = await nc.api('POST', url, accessToken, { body });
  assert.equal(stale.first.res.status, 401);
  assert.equal(authError(stale.first.res), 'use_dpop_nonce');
  assert.match(stale.first.json.error_description, /Stale DPoP nonce/);
  assert.equal(stale.res.status, 200);
  assert.equal(stale.first.res.headers.get('dpop-nonce'), dbl.portalNonce('sfm'));

  // nhn:sfm:journal-id in place of the sfm-id claim is accepted.
  const journal = await nc.api('POST', url, tokens.journalId, { body });
  assert.equal(journal.res.status, 200, JSON.stringify(journal.json));
  assert.match(dbl.sfmSessions().at(-1).journalId, /^[0-9a-f-]{36}$/);
});

test('SFM: the page login checks the code (one use), SHA-512 of the nonce, apiEndpoint and metadata', async () => {
  const { nc, accessToken } = await loginAs('kvart');
  const create = async () => {
    const n = sfmNonce();
    const r = await nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: n.hash } });
    return { ...n, ...r.json };
  };
  const login = (s, over = {}) => pagePost('/api/v2/Session/login', { code: s.code, nonce: s.nonce, apiEndpoint: s.apiAddress, ...over });

  let s = await create();
  let r = await login(s, { nonce: sfmNonce().nonce });
  assert.equal(r.res.status, 400);
  assert.equal(r.json.error, 'invalid_nonce');
  assert.match(r.json.error_description, /SHA-512 of the nonce does not match/);
  r = await login(s);
  assert.equal(r.res.status, 400);
  assert.deepEqual(r.json, { error: 'invalid_grant', error_description: 'the session code was used before' });

  s = await create();
  r = await login(s, { nonce: s.hash });
  assert.equal(r.json.error, 'invalid_nonce', 'the hash is not the nonce');

  r = await login({ ...s, code: 'no-such-code' });
  assert.deepEqual(r.json, { error: 'invalid_grant', error_description: 'unknown session code' });

  for (const [over, why] of [
    [{ apiEndpoint: `${dbl.sfmGatewayOrigin}/other` }, /apiEndpoint must be the apiAddress/],
    [{ apiEndpoint: undefined }, /apiEndpoint must be the apiAddress/],
    [{ metadata: { 'x-practitioner-pseudo': sha256hex('431001110') } }, /x-practitioner-pseudo/],
    [{ metadata: { 'x-point-of-care': '12345' } }, /x-point-of-care/],
    [{ metadata: { 'sfm-user-agent': 7 } }, /metadata\.sfm-user-agent must be a string/],
    [{ metadata: 'x' }, /metadata must be an object/],
  ]) {
    s = await create();
    r = await login(s, over);
    assert.equal(r.res.status, 400, String(why));
    assert.equal(r.json.error, 'invalid_request');
    assert.match(r.json.error_description, why);
  }

  // Without metadata (older EPJs) the login passes; the metadata is recorded as null.
  s = await create();
  r = await login(s);
  assert.equal(r.res.status, 200);
  assert.equal(r.json.metadata, null);

  // An ended session's code is refused.
  s = await create();
  await nc.api('POST', gw('/api/v2/Session/end'), accessToken);
  r = await login(s);
  assert.deepEqual(r.json, { error: 'invalid_grant', error_description: 'the SFM session has ended' });
});

test('SFM: patient tickets are one-use, bound to their session, and need a login', async () => {
  const { nc, accessToken } = await loginAs('kvart');
  const n = sfmNonce();
  const s = (await nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: n.hash } })).json;
  for (const patientPid of ['1311690021', '1311690021a', 13116900216, undefined]) {
    const bad = await nc.api('POST', gw('/api/v2/PatientTicket'), accessToken, { body: { patientPid } });
    assert.equal(bad.res.status, 400, String(patientPid));
    assert.match(bad.json.error_description, /patientPid/);
  }
  const ticket = (await nc.api('POST', gw('/api/v2/PatientTicket'), accessToken, { body: { patientPid: PATIENT } })).json;
  let r = await pagePost('/api/v2/Session/patient', { clientSession: 'nope', ticket });
  assert.equal(r.res.status, 401);
  assert.equal(r.json.error_description, 'not logged in');
  const { clientSession } = (await pagePost('/api/v2/Session/login', { code: s.code, nonce: n.nonce, apiEndpoint: s.apiAddress })).json;
  r = await pagePost('/api/v2/Session/patient', { clientSession, ticket: 'no-such-ticket' });
  assert.deepEqual(r.json, { error: 'invalid_ticket', error_description: 'unknown patient ticket' });
  assert.equal((await pagePost('/api/v2/Session/patient', { clientSession, ticket })).res.status, 200);
  r = await pagePost('/api/v2/Session/patient', { clientSession, ticket });
  assert.deepEqual(r.json, { error: 'invalid_ticket', error_description: 'the patient ticket was used before' });
});

test('SFM: CORS for the app origin on the DPoP calls, for the client page origin on its calls', async () => {
  const pre = async (path, origin, headers = 'authorization,dpop,content-type') => fetch(gw(path), {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': headers },
  });
  let r = await pre('/api/v2/Session/create', stack.appOrigin);
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('access-control-allow-origin'), stack.appOrigin);
  assert.match(r.headers.get('access-control-allow-headers'), /Authorization, DPoP/);
  r = await pre('/api/v2/Session/create', dbl.sfmClientOrigin);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  r = await pre('/api/v2/Session/login', dbl.sfmClientOrigin, 'content-type');
  assert.equal(r.headers.get('access-control-allow-origin'), dbl.sfmClientOrigin);
  r = await pre('/api/v2/Session/login', stack.appOrigin, 'content-type');
  assert.equal(r.headers.get('access-control-allow-origin'), null);

  const res = await fetch(gw('/api/v2/Session/refresh'), { method: 'POST', headers: { Origin: stack.appOrigin, Authorization: 'DPoP x' } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('access-control-allow-origin'), stack.appOrigin);
  assert.equal(res.headers.get('access-control-expose-headers'), 'DPoP-Nonce, WWW-Authenticate');
  assert.equal(res.headers.get('cross-origin-resource-policy'), 'cross-origin');
  assert.equal(dbl.portalCounts().preflight, 4);
  assert.equal(dbl.portalCounts().preflight_by_endpoint['sfm-create'], 2);
  assert.equal(dbl.portalCounts()['sfm-create'], 0, 'preflights are not endpoint calls');
});

// -------------------------------------------------------------------------------- Kjernejournal

test('Kjernejournal: create (after the nonce challenge), web page with the verifier, ping, refresh, end; exact counts', async () => {
  const kvart = await loginAs('kvart');
  const token = await kvart.tokenWith(KJ_FAULT);
  const { nc } = kvart;
  const { verifier, challenge } = pkce();
  const headers = kjHeaders();

  const create = await nc.api('POST', kj('/api/session/create'), token, { body: kjBody({ challenge, basis: 'AKUTT' }), headers });
  assert.equal(create.first.res.status, 401);
  assert.equal(authError(create.first.res), 'use_dpop_nonce');
  assert.equal(create.res.status, 200, JSON.stringify(create.json));
  assert.deepEqual(Object.keys(create.json).sort(), ['code', 'sessionId']);
  const { code, sessionId } = create.json;

  const web = await fetch(`${dbl.kjWebOrigin}/hentpasient.html?${new URLSearchParams({ code, ehr_code_verifier: verifier })}`);
  assert.equal(web.status, 200);
  const html = await web.text();
  assert.match(html, new RegExp(`<dd id="patient">${PATIENT}</dd>`));
  assert.match(html, /<dd id="access-basis">AKUTT<\/dd>/);
  assert.match(html, /KVART GREVLING \(HPR 565501872, LE\)/);
  const reused = await fetch(`${dbl.kjWebOrigin}/hentpasient.html?${new URLSearchParams({ code, ehr_code_verifier: verifier })}`);
  assert.equal(reused.status, 400);
  assert.match(await reused.text(), /the code was used before/);

  const ping = await nc.api('GET', kj('/api/session/ping'), token, { headers: { 'X-SOURCE-SYSTEM': 'helseid-wasm e2e' } });
  assert.equal(ping.res.status, 200);
  assert.deepEqual(ping.json, { status: 'ok' });
  const refresh = await nc.api('POST', kj('/api/session/refresh'), token, { body: { sessionId }, headers: { 'X-SOURCE-SYSTEM': 'helseid-wasm e2e' } });
  assert.equal(refresh.res.status, 204);
  const end = await nc.api('POST', kj('/api/session/end'), token, { body: { sessionId }, headers: kjHeaders() });
  assert.equal(end.res.status, 204);
  const after = await nc.api('POST', kj('/api/session/refresh'), token, { body: { sessionId }, headers: kjHeaders() });
  assert.equal(after.res.status, 409);
  assert.equal(after.json.error, 'session_ended');

  const c = dbl.portalCounts();
  assert.deepEqual(
    [c['kj-create'], c.ok['kj-create'], c['kj-web'], c.ok['kj-web'], c['kj-ping'], c['kj-refresh'], c.ok['kj-refresh'], c['kj-end']],
    [2, 1, 2, 1, 1, 2, 1, 1],
  );
  assert.equal(c['sfm-create'], 0);
  const [s] = dbl.kjSessions();
  assert.equal(s.sessionId, sessionId);
  assert.equal(s.patient, PATIENT);
  assert.equal(s.accessBasis, 'AKUTT');
  assert.equal(s.practitionerAuthorization, 'LE');
  assert.equal(s.sourceSystem, 'helseid-wasm e2e, v0.1');
  assert.equal(s.eventId, headers['X-EVENT-ID']);
  assert.deepEqual(s.attest, ATTEST);
  assert.deepEqual([s.codeUsed, s.webOpened, s.refreshed, s.ended], [true, true, 1, true]);
  assert.deepEqual(dbl.kjWebVisits().map((v) => v.ok), [true, false]);
});

test('Kjernejournal: X-SOURCE-SYSTEM, X-EVENT-ID and the claims block are validated (400)', async () => {
  const kvart = await loginAs('kvart');
  const token = await kvart.tokenWith(KJ_FAULT);
  const { nc } = kvart;
  const url = kj('/api/session/create');
  await nc.api('GET', kj('/api/session/ping'), token, { headers: { 'X-SOURCE-SYSTEM': 'abc' } }); // prime the nonce

  const usedEventId = randomUUID();
  assert.equal((await nc.api('POST', url, token, { body: kjBody(), headers: kjHeaders({ 'X-EVENT-ID': usedEventId }) })).res.status, 200);

  const withClaims = (f) => { const b = kjBody(); f(b.claims, b); return b; };
  const cases = [
    ['no X-SOURCE-SYSTEM', { headers: { 'X-EVENT-ID': randomUUID() } }, /X-SOURCE-SYSTEM/],
    ['X-SOURCE-SYSTEM of 2 chars', { headers: kjHeaders({ 'X-SOURCE-SYSTEM': 'ab' }) }, /X-SOURCE-SYSTEM/],
    ['X-SOURCE-SYSTEM of 513 chars', { headers: kjHeaders({ 'X-SOURCE-SYSTEM': 'x'.repeat(513) }) }, /X-SOURCE-SYSTEM/],
    ['no X-EVENT-ID', { headers: { 'X-SOURCE-SYSTEM': 'abc' } }, /X-EVENT-ID must be a UUID/],
    ['X-EVENT-ID not a UUID', { headers: kjHeaders({ 'X-EVENT-ID': 'event-1' }) }, /X-EVENT-ID must be a UUID/],
    ['X-EVENT-ID reused', { headers: kjHeaders({ 'X-EVENT-ID': usedEventId.toUpperCase() }) }, /X-EVENT-ID was used before/],
    ['challenge too short', { body: kjBody({ challenge: 'abc' }) }, /ehr_code_challenge/],
    ['challenge missing', { body: withClaims((c, b) => { delete b.ehr_code_challenge; }) }, /body must be/],
    ['extra body member', { body: { ...kjBody(), extra: 1 } }, /body must be/],
    ['no claims', { body: { ehr_code_challenge: pkce().challenge } }, /body must be/],
    ['claims missing access_basis', { body: withClaims((c) => { delete c.access_basis; }) }, /claims must have exactly/],
    ['claims with an extra member', { body: withClaims((c) => { c.extra = {}; }) }, /claims must have exactly/],
    ['patient id 10 digits', { body: kjBody({ patient: '1311690021' }) }, /patient_identifier\.id/],
    ['patient system', { body: withClaims((c) => { c.patient_identifier.system = 'urn:oid:2.16.578.1.12.4.1.4.2'; }) }, /patient_identifier\.system/],
    ['patient authority', { body: withClaims((c) => { c.patient_identifier.authority = 'https://skatteetaten.no'; }) }, /patient_identifier\.authority/],
    ['patient extra member', { body: withClaims((c) => { c.patient_identifier.name = 'x'; }) }, /patient_identifier must have exactly/],
    ['authorisation code', { body: kjBody({ code: 'DOCTOR' }) }, /practitioner_authorization\.code/],
    ['authorisation system', { body: withClaims((c) => { c.practitioner_authorization.system = 'x'; }) }, /practitioner_authorization\.system/],
    ['authorisation assigner', { body: withClaims((c) => { c.practitioner_authorization.assigner = 'https://www.helsedirektoratet.no'; }) }, /practitioner_authorization\.assigner/],
    ['access basis code', { body: kjBody({ basis: 'samtykke' }) }, /access_basis\.code must be one of SAMTYKKE, AKUTT, UNNTAK/],
    ['access basis system', { body: withClaims((c) => { c.access_basis.system = 'GRUNNLAG'; }) }, /access_basis\.system/],
    ['access basis assigner', { body: withClaims((c) => { c.access_basis.assigner = 'https://www.nhn.no'; }) }, /access_basis\.assigner/],
    ['access basis not an object', { body: withClaims((c) => { c.access_basis = 'SAMTYKKE'; }) }, /access_basis must be an object/],
  ];
  for (const [why, { headers = kjHeaders(), body = kjBody() }, description] of cases) {
    const r = await nc.api('POST', url, token, { body, headers, retry: false });
    assert.equal(r.res.status, 400, why);
    assert.equal(r.json.error, 'invalid_request', why);
    assert.match(r.json.error_description, description, why);
  }
  assert.equal(dbl.kjSessions().length, 1);
  // Each of the three access bases and another authorisation (SP) passes.
  for (const basis of ['SAMTYKKE', 'AKUTT', 'UNNTAK']) {
    assert.equal((await nc.api('POST', url, token, { body: kjBody({ basis, code: 'SP' }), headers: kjHeaders() })).res.status, 200, basis);
  }
});

test('Kjernejournal: refused tokens (aud, attest, Bearer, level 3) and session ownership', async () => {
  const kvart = await loginAs('kvart');
  const { nc } = kvart;
  const token = await kvart.tokenWith(KJ_FAULT);
  const noAttest = await kvart.tokenWith({ accessToken: { set: { aud: KJ_RESOURCE }, remove: [SFM_ID] } });
  const level3 = await kvart.tokenWith({ accessToken: { set: { aud: KJ_RESOURCE, [ATTEST_CLAIM]: ATTEST, 'helseid://claims/identity/security_level': '3' } } });
  const url = kj('/api/session/create');
  await nc.api('GET', kj('/api/session/ping'), token, { headers: { 'X-SOURCE-SYSTEM': 'abc' } });

  const cases = [
    ['SFM token', { token: kvart.accessToken }, 'invalid_token', /aud must be exactly nhn:kjernejournal/],
    ['no attest', { token: noAttest }, 'invalid_token', /nhn:tillitsrammeverk:parameters/],
    ['level 3', { token: level3 }, 'invalid_token', /security level 4/],
    ['Bearer', { scheme: 'Bearer' }, 'invalid_token', /DPoP scheme/],
    ['no proof', { withProof: false }, 'invalid_dpop_proof', /missing DPoP proof/],
    ['short jti', { proof: { jti: 'x'.repeat(15) } }, 'invalid_dpop_proof', /jti/],
    ['SFM gateway nonce', { proof: { nonce: dbl.portalNonce('sfm') } }, 'use_dpop_nonce', /Stale/],
  ];
  for (const [why, { token: t = token, ...opts }, error, description] of cases) {
    const r = await nc.api('POST', url, t, { body: kjBody(), headers: kjHeaders(), retry: false, ...opts });
    assert.equal(r.res.status, 401, why);
    assert.equal(authError(r.res), error, why);
    assert.match(r.json.error_description, description, why);
  }

  // kjRequireAttest: false lets a token without the attest through (until the OP issues it).
  dbl.setOptions({ kjRequireAttest: false });
  try {
    assert.equal((await nc.api('POST', url, noAttest, { body: kjBody(), headers: kjHeaders() })).res.status, 200);
  } finally {
    dbl.setOptions({ kjRequireAttest: true });
  }

  const { sessionId } = (await nc.api('POST', url, token, { body: kjBody(), headers: kjHeaders() })).json;
  const h = { 'X-SOURCE-SYSTEM': 'abc' };
  let r = await nc.api('POST', kj('/api/session/refresh'), token, { body: {}, headers: h });
  assert.equal(r.res.status, 400);
  assert.match(r.json.error_description, /sessionId/);
  r = await nc.api('POST', kj('/api/session/refresh'), token, { body: { sessionId: randomUUID() }, headers: h });
  assert.equal(r.res.status, 404);
  assert.equal(r.json.error, 'session_not_found');
  r = await nc.api('POST', kj('/api/session/refresh'), token, { body: { sessionId }, headers: { ...h, 'X-EVENT-ID': 'nope' } });
  assert.equal(r.res.status, 400);
  r = await nc.api('POST', kj('/api/session/refresh'), token, { body: { sessionId } });
  assert.equal(r.res.status, 400, 'X-SOURCE-SYSTEM on every call');
  const lege2 = await loginAs('lege2');
  const otherToken = await lege2.tokenWith(KJ_FAULT);
  r = await lege2.nc.api('POST', kj('/api/session/end'), otherToken, { body: { sessionId }, headers: h });
  assert.equal(r.res.status, 403);
  assert.equal(r.json.error, 'access_denied');
  assert.equal(dbl.kjSessions().find((s) => s.sessionId === sessionId).ended, false);
});

test('Kjernejournal web: verifier mismatch, unknown code, missing parameters, ended session', async () => {
  const kvart = await loginAs('kvart');
  const token = await kvart.tokenWith(KJ_FAULT);
  const { nc } = kvart;
  const create = async () => {
    const p = pkce();
    const r = await nc.api('POST', kj('/api/session/create'), token, { body: kjBody({ challenge: p.challenge }), headers: kjHeaders() });
    return { ...p, ...r.json };
  };
  const open = async (q) => {
    const res = await fetch(`${dbl.kjWebOrigin}/hentpasient.html?${new URLSearchParams(q)}`);
    return { status: res.status, text: await res.text() };
  };
  let s = await create();
  let r = await open({ code: s.code, ehr_code_verifier: pkce().verifier });
  assert.equal(r.status, 400);
  assert.match(r.text, /ehr_code_verifier does not match the ehr_code_challenge/);
  r = await open({ code: s.code, ehr_code_verifier: s.verifier });
  assert.match(r.text, /the code was used before/, 'one attempt per code');
  r = await open({ code: 'nope', ehr_code_verifier: s.verifier });
  assert.match(r.text, /unknown code/);
  r = await open({ code: s.code });
  assert.match(r.text, /code and ehr_code_verifier are required/);
  s = await create();
  r = await open({ code: s.code, ehr_code_verifier: 'short' });
  assert.match(r.text, /43 to 128 characters/);
  s = await create();
  await nc.api('POST', kj('/api/session/end'), token, { body: { sessionId: s.sessionId }, headers: kjHeaders() });
  r = await open({ code: s.code, ehr_code_verifier: s.verifier });
  assert.match(r.text, /the Kjernejournal session has ended/);
  assert.equal(dbl.kjWebVisits().filter((v) => v.ok).length, 0);
  const logout = await fetch(`${dbl.kjWebOrigin}/loggut`);
  assert.equal(logout.status, 200);
});

// ------------------------------------------------------------------------ faults, down/up, info

test('faults: failNext on the portal endpoints; down/up of the portal servers; info and reset', async () => {
  const { nc, accessToken } = await loginAs('kvart');
  const kvartKj = await loginAs('kvart');
  const kjToken = await kvartKj.tokenWith(KJ_FAULT);
  await nc.api('POST', gw('/api/v2/Session/refresh'), accessToken); // primes the gateway nonce
  await kvartKj.nc.api('GET', kj('/api/session/ping'), kjToken, { headers: { 'X-SOURCE-SYSTEM': 'abc' } });

  const calls = {
    'sfm-create': () => nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: sfmNonce().hash }, retry: false }),
    'sfm-refresh': () => nc.api('POST', gw('/api/v2/Session/refresh'), accessToken, { retry: false }),
    'sfm-ticket': () => nc.api('POST', gw('/api/v2/PatientTicket'), accessToken, { body: { patientPid: PATIENT }, retry: false }),
    'sfm-end': () => nc.api('POST', gw('/api/v2/Session/end'), accessToken, { retry: false }),
    'kj-create': () => kvartKj.nc.api('POST', kj('/api/session/create'), kjToken, { body: kjBody(), headers: kjHeaders(), retry: false }),
    'kj-refresh': () => kvartKj.nc.api('POST', kj('/api/session/refresh'), kjToken, { body: { sessionId: randomUUID() }, headers: kjHeaders(), retry: false }),
    'kj-end': () => kvartKj.nc.api('POST', kj('/api/session/end'), kjToken, { body: { sessionId: randomUUID() }, headers: kjHeaders(), retry: false }),
  };
  for (const [endpoint, call] of Object.entries(calls)) {
    dbl.failNext({ endpoint, mode: 503, retryAfter: 3 });
    const r = await call();
    assert.equal(r.res.status, 503, endpoint);
    assert.equal(r.res.headers.get('retry-after'), '3', endpoint);
    assert.deepEqual(r.json, { error: 'temporarily_unavailable', error_description: 'injected fault (test double)' });
  }
  // After the faults: the calls work again (create first so the rest find a session).
  assert.equal((await calls['sfm-create']()).res.status, 200);
  assert.equal((await calls['sfm-refresh']()).res.status, 204);

  dbl.failNext({ endpoint: 'sfm-refresh', mode: 'drop' });
  await assert.rejects(calls['sfm-refresh']());
  dbl.failNext({ endpoint: 'kj-create', mode: 'invalid-json' });
  const bad = await calls['kj-create']();
  assert.equal(bad.res.status, 200);
  assert.equal(bad.json, undefined);

  const c = dbl.portalCounts();
  assert.equal(c['sfm-create'], 2);
  assert.equal(c.ok['sfm-create'], 1);
  assert.equal(c['sfm-refresh'], 5); // prime (nonce challenge + 404), 503, 204, drop
  assert.equal(c['kj-create'], 2);
  const log = dbl.requests().filter((e) => e.server === 'sfm-gateway' && e.fault);
  assert.deepEqual(log.map((e) => e.fault), [503, 503, 503, 503, 'drop']);

  // down/up: connections refused, then the same origin answers again.
  await dbl.down('sfm-gateway');
  await assert.rejects(fetch(gw('/api/v2/Session/refresh'), { method: 'POST' }));
  assert.equal((await fetch(`${dbl.kjWebOrigin}/loggut`)).status, 200, 'the other portal servers stay up');
  await dbl.up('sfm-gateway');
  assert.equal((await fetch(gw('/api/v2/Session/refresh'), { method: 'POST' })).status, 401);
  await dbl.down('portals');
  await assert.rejects(fetch(`${dbl.kjWebOrigin}/loggut`));
  await assert.rejects(fetch(`${dbl.sfmClientOrigin}/sfm-client/`));
  const viaControl = await fetch(`${dbl.issuer}/__test/portals/up`, { method: 'POST', body: '{}' });
  assert.deepEqual(await viaControl.json(), { portals: 'up' });
  assert.equal((await fetch(`${dbl.kjWebOrigin}/loggut`)).status, 200);
  const refused = await fetch(`${dbl.issuer}/__test/portals/down`, { method: 'POST', body: '{"which":"op"}' });
  assert.equal(refused.status, 400, 'the control API only takes portal servers down');

  const info = dbl.info();
  for (const k of ['sfmGatewayOrigin', 'sfmClientOrigin', 'kjApiOrigin', 'kjWebOrigin']) {
    assert.equal(info[k], dbl[k], k);
    assert.match(info[k], /^http:\/\/127\.0\.0\.1:\d+$/);
  }
  assert.equal(new Set([info.sfmGatewayOrigin, info.sfmClientOrigin, info.kjApiOrigin, info.kjWebOrigin, dbl.issuer, dbl.apiOrigin, stack.appOrigin]).size, 7);
  assert.equal(info.sfmClientAddress, `${dbl.sfmClientOrigin}/sfm-client/`);
  assert.equal(info.kjResource, 'nhn:kjernejournal');
  const snap = await (await fetch(`${dbl.issuer}/__test/portals`)).json();
  assert.equal(snap.sfmSessions.length, 1);
  assert.equal(snap.counts['sfm-create'], 2);

  dbl.reset();
  assert.equal(dbl.portalCounts()['sfm-create'], 0);
  assert.deepEqual(dbl.sfmSessions(), []);
  assert.deepEqual(dbl.kjSessions(), []);
});

// ------------------------------------------------------------------------------ headless Chromium

test('Chromium: the SFM client page in an iframe: clientLoaded, login (failed, then success), setPatient, foreign messages ignored', async (t) => {
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page } = browser;
  const { nc, accessToken } = await loginAs('kvart');
  const newSession = async () => {
    const n = sfmNonce();
    const r = await nc.api('POST', gw('/api/v2/Session/create'), accessToken, { body: { nonce: n.hash } });
    assert.equal(r.res.status, 200);
    return { ...n, ...r.json };
  };
  let s = await newSession();

  await page.goto(`${stack.appOrigin}/e2e/blank.html`);
  await page.evaluate((clientAddress) => {
    window.fromSfm = [];
    window.addEventListener('message', (e) => window.fromSfm.push({ origin: e.origin, data: e.data }));
    const f = document.createElement('iframe');
    f.id = 'sfm';
    f.src = clientAddress;
    f.style.cssText = 'width: 100%; height: 640px; border: 1px solid #999';
    document.body.append(f);
  }, s.clientAddress);
  const waitFor = (pred) => page.waitForFunction(`window.fromSfm.some(${pred})`, null, { timeout: 10_000 });
  await waitFor('(m) => m.data && m.data.clientLoaded === "success"');

  const postToSfm = (msg) => page.evaluate(([m, origin]) => {
    document.getElementById('sfm').contentWindow.postMessage(m, origin);
  }, [msg, dbl.sfmClientOrigin]);
  const metadata = { 'sfm-user-agent': 'helseid-wasm e2e', 'x-point-of-care': '999977775', 'x-practitioner-pseudo': sha256hex(KVART.hpr) };

  // setPatient before any login fails.
  await postToSfm({ action: 'setPatient', ticket: 'x' });
  await waitFor('(m) => m.data && m.data.setPatient === "failed"');

  // A wrong nonce: {login: "failed", reason}.
  await postToSfm({ action: 'login', code: s.code, nonce: sfmNonce().nonce, apiEndpoint: s.apiAddress, metadata });
  await waitFor('(m) => m.data && m.data.login === "failed"');
  const failed = await page.evaluate(() => window.fromSfm.find((m) => m.data.login === 'failed'));
  assert.match(failed.data.reason, /SHA-512 of the nonce does not match/);

  // A new session, the right nonce: success, and the page shows the user.
  s = await newSession();
  await postToSfm({ action: 'login', code: s.code, nonce: s.nonce, apiEndpoint: s.apiAddress, metadata });
  await waitFor('(m) => m.data && m.data.login === "success"');
  const frame = page.frameLocator('#sfm');
  assert.equal(await frame.locator('#user').textContent(), KVART.name);
  assert.equal(await frame.locator('#hpr').textContent(), KVART.hpr);
  assert.equal(await frame.locator('#status').textContent(), `Logged in as ${KVART.name}`);
  assert.equal(await frame.locator('#parent-origin').textContent(), stack.appOrigin);

  const ticket = (await nc.api('POST', gw('/api/v2/PatientTicket'), accessToken, { body: { patientPid: PATIENT } })).json;
  await postToSfm({ action: 'setPatient', ticket, showAllergies: true, onBehalfOf: '' });
  await waitFor('(m) => m.data && m.data.setPatient === "success"');
  assert.equal(await frame.locator('#patient').textContent(), PATIENT);

  // A sibling frame on another origin posts into the SFM frame: ignored, no answer.
  await page.evaluate((src) => new Promise((ok) => {
    const f = document.createElement('iframe');
    f.id = 'other';
    f.src = src;
    f.onload = ok;
    document.body.append(f);
  }), `${dbl.kjWebOrigin}/loggut`);
  const other = page.frames().find((f) => f.url().startsWith(dbl.kjWebOrigin));
  await other.evaluate(() => window.parent.frames[0].postMessage({ action: 'setPatient', ticket: 'forged' }, '*'));
  // The parent itself posting to "*" is accepted (origin check is on the sender, not the target).
  await page.evaluate(() => document.getElementById('sfm').contentWindow.postMessage({ action: 'noSuchAction' }, '*'));
  await frame.locator('#log li', { hasText: 'noSuchAction' }).waitFor({ timeout: 10_000 });
  await frame.locator('#log li', { hasText: 'ignored: not from the embedding page' }).waitFor({ timeout: 10_000 });
  await mkdir(join(REPO_ROOT, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO_ROOT, 'artifacts', `double-sfm-client-${ENGINE}.png`), fullPage: true });

  const fromSfm = await page.evaluate(() => window.fromSfm);
  assert.ok(fromSfm.every((m) => m.origin === dbl.sfmClientOrigin));
  assert.deepEqual(fromSfm.map((m) => Object.keys(m.data)[0] + ':' + Object.values(m.data)[0]),
    ['clientLoaded:success', 'setPatient:failed', 'login:failed', 'login:success', 'setPatient:success']);

  // The page recorded every message (in and out) at its server.
  let rec;
  for (let i = 0; i < 50; i += 1) {
    rec = dbl.sfmClientMessages();
    if (rec.filter((m) => m.direction === 'in').length >= 6 && rec.filter((m) => m.direction === 'out').length >= 5) break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  const ins = rec.filter((m) => m.direction === 'in');
  const outs = rec.filter((m) => m.direction === 'out');
  assert.equal(outs.length, 5);
  assert.ok(outs.every((m) => m.targetOrigin === stack.appOrigin), 'never posted to "*"');
  assert.deepEqual(outs.map((m) => Object.keys(m.data)[0]).sort(), ['clientLoaded', 'login', 'login', 'setPatient', 'setPatient']);
  assert.equal(ins.length, 6);
  const forged = ins.find((m) => m.data.ticket === 'forged');
  assert.deepEqual([forged.origin, forged.fromParent, forged.handled], [dbl.kjWebOrigin, false, 'ignored']);
  const unknown = ins.find((m) => m.data.action === 'noSuchAction');
  assert.deepEqual([unknown.fromParent, unknown.handled, unknown.reason], [true, 'ignored', 'unknown action']);
  const login = ins.filter((m) => m.handled === 'login').at(-1);
  assert.deepEqual(login.data.metadata, metadata);
  assert.equal(login.data.nonce, s.nonce);

  const [, session] = dbl.sfmSessions();
  assert.equal(session.loggedIn, true);
  assert.deepEqual(session.patient.options, { showAllergies: true, onBehalfOf: '' });
  const c = dbl.portalCounts();
  assert.equal(c['sfm-client'], 1);
  assert.equal(c['sfm-login'], 2);
  assert.equal(c['sfm-patient'], 1);
  assert.ok(c.preflight_by_endpoint['sfm-login'] >= 1, 'the page calls the gateway cross-origin (CORS)');
});
