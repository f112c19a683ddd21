// Proves that the HelseID test double behaves like HelseID, without the Rust library:
// Node fetch + jose only. Run: node --test tests/e2e/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, createRemoteJWKSet, jwtVerify } from 'jose';
import { startStack } from './harness.mjs';
import { NodeClient, clientAssertion, decodeJwt, dpopKey, pkce, epjLogin, signerRequest } from './node-client.mjs';

const SFM = 'e-helse:sfm.api';
const SFM_ID = 'e-helse:sfm.api/client/claims/sfm-id';
const PID = 'helseid://claims/identity/pid';
const LEVEL = 'helseid://claims/identity/security_level';

let stack;
let dbl;
let rs256;
let es256;

before(async () => {
  stack = await startStack();
  dbl = stack.double;
  rs256 = dbl.clients.find((c) => c.clientId === 'helseid-wasm-rs256');
  es256 = dbl.clients.find((c) => c.clientId === 'helseid-wasm-es256');
});

after(async () => {
  await stack?.close();
});

const newClient = (client = rs256, dpopAlg = 'ES256') => NodeClient.create({
  issuer: dbl.issuer,
  client,
  redirectUri: `${stack.appOrigin}/`,
  dpopAlg,
});

test('discovery advertises HelseID paths, PAR, DPoP and the iss parameter', async () => {
  const res = await fetch(`${dbl.issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cross-origin-resource-policy'), 'cross-origin');
  const d = await res.json();
  const i = dbl.issuer;
  assert.equal(d.issuer, i);
  assert.equal(d.authorization_endpoint, `${i}/connect/authorize`);
  assert.equal(d.pushed_authorization_request_endpoint, `${i}/connect/par`);
  assert.equal(d.token_endpoint, `${i}/connect/token`);
  assert.equal(d.end_session_endpoint, `${i}/connect/endsession`);
  assert.equal(d.revocation_endpoint, `${i}/connect/revocation`);
  assert.equal(d.userinfo_endpoint, `${i}/connect/userinfo`);
  assert.equal(d.introspection_endpoint, `${i}/connect/introspect`);
  assert.equal(d.jwks_uri, `${i}/.well-known/openid-configuration/jwks`);
  assert.equal(d.authorization_response_iss_parameter_supported, true);
  assert.equal(d.require_pushed_authorization_requests, true);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(d.response_types_supported, ['code']);
  assert.deepEqual(d.token_endpoint_auth_methods_supported, ['private_key_jwt']);
  assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256']);
  for (const alg of ['ES256', 'RS256', 'PS256']) assert.ok(d.dpop_signing_alg_values_supported.includes(alg), alg);
  for (const s of ['openid', 'profile', 'offline_access', 'helseid://scopes/identity/pid', 'helseid://scopes/identity/security_level', 'helseid://scopes/hpr/hpr_number']) {
    assert.ok(d.scopes_supported.includes(s), s);
  }
  const jwks = await (await fetch(d.jwks_uri)).json();
  assert.equal(jwks.keys.length, 1);
  assert.equal(jwks.keys[0].alg, 'RS256');
  assert.match(jwks.keys[0].kid, /^[0-9A-F]{40}$/);
  assert.equal(jwks.keys[0].d, undefined);
});

test('a plain authorization request without PAR is refused', async () => {
  const { challenge } = pkce();
  const url = `${dbl.issuer}/connect/authorize?${new URLSearchParams({
    client_id: rs256.clientId,
    response_type: 'code',
    redirect_uri: `${stack.appOrigin}/`,
    scope: 'openid',
    state: 'xyz',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })}`;
  const res = await fetch(url, { redirect: 'manual' });
  const loc = res.headers.get('location');
  if (res.status === 303 || res.status === 302) {
    const cb = new URL(loc);
    assert.equal(cb.searchParams.get('error'), 'invalid_request');
    assert.match(cb.searchParams.get('error_description'), /pushed authorization request/i);
    assert.equal(cb.searchParams.get('code'), null);
  } else {
    assert.equal(res.status, 400);
    assert.match(await res.text(), /pushed authorization request/i);
  }
});

test('PAR requires PKCE, DPoP-bound code flow with HelseID-shaped tokens, exact request counts', async () => {
  // PKCE is mandatory.
  {
    const c = await newClient();
    const r = await c.par({ code_challenge: undefined, code_challenge_method: undefined });
    assert.equal(r.res.status, 400);
    assert.equal(r.json.error, 'invalid_request');
    assert.match(r.json.error_description, /PKCE|code_challenge/);
  }

  dbl.reset();
  const c = await newClient(rs256, 'ES256');
  const p = await c.par();
  // First PAR: 400 use_dpop_nonce with a DPoP-Nonce header, retry with it succeeds.
  assert.equal(p.first.res.status, 400);
  assert.equal(p.first.json.error, 'use_dpop_nonce');
  assert.ok(p.first.res.headers.get('dpop-nonce'));
  assert.equal(p.res.status, 201);
  assert.match(p.json.request_uri, /^urn:ietf:params:oauth:request_uri:/);
  assert.ok(p.json.expires_in <= 60);

  const a = await c.authorize(p.json.request_uri);
  assert.ok(a.callback, 'redirected back to the app');
  assert.equal(a.callback.origin, stack.appOrigin);
  assert.equal(a.callback.searchParams.get('state'), p.state);
  assert.equal(a.callback.searchParams.get('iss'), dbl.issuer);
  const code = a.callback.searchParams.get('code');
  assert.ok(code);
  // authorize -> interaction (auto login+consent) -> resume -> app; no HTML page.
  assert.deepEqual(a.hops.map((h) => h.status), [303, 303, 303]);

  const t = await c.token({
    grant_type: 'authorization_code',
    code,
    redirect_uri: `${stack.appOrigin}/`,
    code_verifier: p.verifier,
    resource: SFM,
  });
  assert.equal(t.first, undefined, 'the nonce learnt at PAR is accepted by the token endpoint');
  assert.equal(t.res.status, 200, JSON.stringify(t.json));
  const tok = t.json;
  assert.equal(tok.token_type, 'DPoP');
  assert.ok(tok.refresh_token);
  assert.equal(tok.rt_expires_in, 3600);
  assert.ok(tok.expires_in > 0 && tok.expires_in <= 60);
  assert.ok(tok.scope.split(' ').includes(SFM + '/sfm.api2'));
  assert.ok(tok.scope.split(' ').includes('offline_access'));

  // Access token: RS256 at+jwt, verified against the JWKS.
  const jwks = createRemoteJWKSet(new URL(`${dbl.issuer}/.well-known/openid-configuration/jwks`));
  const { payload: at, protectedHeader: atHeader } = await jwtVerify(tok.access_token, jwks, {
    issuer: dbl.issuer, audience: SFM, typ: 'at+jwt', algorithms: ['RS256'],
  });
  assert.equal(atHeader.typ, 'at+jwt');
  assert.equal(at.aud, SFM);
  assert.ok(Array.isArray(at.scope), 'scope is a JSON array');
  assert.ok(at.scope.includes('openid') && at.scope.includes(SFM + '/sfm.api2'));
  assert.equal(at.cnf.jkt, c.dpop.jkt);
  assert.equal(at.cnf.jkt, await calculateJwkThumbprint(c.dpop.jwk));
  assert.equal(at.client_id, rs256.clientId);
  assert.equal(at[SFM_ID], rs256.sfmId);
  assert.equal(at[PID], '06828399789');
  assert.equal(at[LEVEL], '4');
  assert.equal(at['helseid://claims/identity/assurance_level'], 'high');
  assert.equal(at['helseid://claims/hpr/hpr_number'], '565501872');
  assert.equal(at.name, 'KVART GREVLING');
  assert.equal(at.sub, at['helseid://claims/identity/pid_pseudonym']);
  assert.equal(at.exp - at.iat, 60);

  // ID token: RS256, nonce, identity claims.
  const { payload: id } = await jwtVerify(tok.id_token, jwks, { issuer: dbl.issuer, audience: rs256.clientId, algorithms: ['RS256'] });
  assert.equal(id.nonce, p.nonce);
  assert.equal(id.sub, at.sub);
  assert.equal(id[PID], '06828399789');
  assert.equal(id[LEVEL], '4');
  assert.equal(id['helseid://claims/hpr/hpr_number'], '565501872');
  assert.equal(id.given_name, 'KVART');
  assert.equal(id.family_name, 'GREVLING');
  assert.deepEqual(id.amr, ['pwd']);
  assert.equal(id.exp - id.iat, 300);

  // The code is single use.
  const again = await c.token({ grant_type: 'authorization_code', code, redirect_uri: `${stack.appOrigin}/`, code_verifier: p.verifier, resource: SFM });
  assert.equal(again.res.status, 400);
  assert.equal(again.json.error, 'invalid_grant');

  const n = dbl.counts();
  assert.equal(n.discovery, 1);
  assert.equal(n.par, 2);
  assert.equal(n.authorize, 1);
  assert.equal(n.authorize_resume, 1);
  assert.equal(n.interaction, 1);
  assert.equal(n.token, 2);
  assert.deepEqual(n.token_by_grant, { authorization_code: 2, refresh_token: 0, other: 0 });
  assert.equal(n.jwks, 1);
  assert.equal(n.preflight, 0);
  assert.equal(n.api, 0);
});

test('token requests need the DPoP key bound at PAR and a HelseID-style client assertion', async () => {
  const c = await newClient(es256, 'RS256');
  const p = await c.par();
  assert.equal(p.res.status, 201);
  const a = await c.authorize(p.json.request_uri);
  const code = a.callback.searchParams.get('code');

  const form = async (extra = {}) => new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: `${stack.appOrigin}/`, code_verifier: p.verifier,
    client_id: es256.clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await clientAssertion(es256, dbl.issuer),
    ...extra,
  });
  // No DPoP proof at all: refused (dpop_bound_access_tokens).
  const noDpop = await fetch(`${dbl.issuer}/connect/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: await form(),
  });
  assert.equal(noDpop.status, 400);
  assert.equal((await noDpop.json()).error, 'invalid_grant');

  // Client assertion without typ client-authentication+jwt is refused (HelseID rule).
  const noTyp = await fetch(`${dbl.issuer}/connect/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await c.dpop.proof('POST', `${dbl.issuer}/connect/token`, { nonce: c.nonces.get(dbl.issuer) }) },
    body: await form({ client_assertion: await clientAssertion(es256, dbl.issuer, { header: { typ: 'JWT' } }) }),
  });
  assert.equal(noTyp.status, 401);
  assert.equal((await noTyp.json()).error, 'invalid_client');

  // Client assertion with aud = token endpoint (allowed by oidc-provider, not by HelseID) is refused.
  const badAud = await fetch(`${dbl.issuer}/connect/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await c.dpop.proof('POST', `${dbl.issuer}/connect/token`, { nonce: c.nonces.get(dbl.issuer) }) },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: `${stack.appOrigin}/`, code_verifier: p.verifier,
      client_id: es256.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(es256, `${dbl.issuer}/connect/token`),
    }),
  });
  assert.equal(badAud.status, 401);
  assert.equal((await badAud.json()).error, 'invalid_client');

  // Another DPoP key than the one bound at PAR is refused.
  const other = await dpopKey('ES256');
  const wrongKey = await fetch(`${dbl.issuer}/connect/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await other.proof('POST', `${dbl.issuer}/connect/token`, { nonce: c.nonces.get(dbl.issuer) }) },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: `${stack.appOrigin}/`, code_verifier: p.verifier,
      client_id: es256.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(es256, dbl.issuer),
    }),
  });
  assert.equal(wrongKey.status, 400);
  assert.equal((await wrongKey.json()).error, 'invalid_grant');
});

test('refresh rotates the refresh token; reusing the old one gives invalid_grant', async () => {
  const c = await newClient();
  const { token } = await c.login();
  assert.equal(token.res.status, 200);
  const rt1 = token.json.refresh_token;
  dbl.reset();

  const r1 = await c.token({ grant_type: 'refresh_token', refresh_token: rt1 });
  assert.equal(r1.res.status, 200, JSON.stringify(r1.json));
  const rt2 = r1.json.refresh_token;
  assert.ok(rt2 && rt2 !== rt1, 'a new refresh token every time');
  assert.equal(r1.json.token_type, 'DPoP');
  const at2 = decodeJwt(r1.json.access_token).payload;
  assert.equal(at2.aud, SFM, 'the single granted resource is used without a resource parameter');
  assert.equal(at2.cnf.jkt, c.dpop.jkt);
  assert.ok(Array.isArray(at2.scope));
  assert.equal(decodeJwt(r1.json.id_token).payload[PID], '06828399789');

  // Another resource than the granted one is refused.
  const other = await c.token({ grant_type: 'refresh_token', refresh_token: rt2, resource: 'e-helse:other.api' });
  assert.equal(other.res.status, 400);
  assert.equal(other.json.error, 'invalid_target');

  const reuse = await c.token({ grant_type: 'refresh_token', refresh_token: rt1 });
  assert.equal(reuse.res.status, 400);
  assert.equal(reuse.json.error, 'invalid_grant');

  const sha = (s) => createHash('sha256').update(s).digest('hex');
  assert.deepEqual(dbl.refreshTokensSeen(), [sha(rt1), sha(rt2), sha(rt1)]);
  assert.deepEqual(dbl.counts().token_by_grant, { authorization_code: 0, refresh_token: 3, other: 0 });
  // Reuse revoked the whole grant (like a stolen-token detection): rt2 is dead too.
  const after = await c.token({ grant_type: 'refresh_token', refresh_token: rt2 });
  assert.equal(after.json.error, 'invalid_grant');
});

test('two resources at PAR, one token per resource', async () => {
  for (const resource of [['e-helse:sfm.api', 'e-helse:other.api'], undefined]) {
    // undefined: like HelseID, the resources are derived from the API scopes asked for.
    const c = await newClient(es256);
    const p = await c.par({
      resource,
      scope: 'openid offline_access helseid://scopes/identity/pid e-helse:sfm.api/sfm.api2 e-helse:other.api/api',
    });
    assert.equal(p.res.status, 201, JSON.stringify(p.json));
    const a = await c.authorize(p.json.request_uri);
    const code = a.callback.searchParams.get('code');
    const t = await c.token({ grant_type: 'authorization_code', code, redirect_uri: `${stack.appOrigin}/`, code_verifier: p.verifier, resource: 'e-helse:other.api' });
    assert.equal(t.res.status, 200, JSON.stringify(t.json));
    const at = decodeJwt(t.json.access_token).payload;
    assert.equal(at.aud, 'e-helse:other.api');
    assert.equal(at[SFM_ID], undefined);
    assert.ok(at.scope.includes('e-helse:other.api/api') && !at.scope.includes('e-helse:sfm.api/sfm.api2'));
    const r = await c.token({ grant_type: 'refresh_token', refresh_token: t.json.refresh_token, resource: SFM });
    assert.equal(r.res.status, 200, JSON.stringify(r.json));
    const at2 = decodeJwt(r.json.access_token).payload;
    assert.equal(at2.aud, SFM);
    assert.equal(at2[SFM_ID], es256.sfmId);
    // Without a resource parameter and two granted resources, the request is ambiguous.
    const amb = await c.token({ grant_type: 'refresh_token', refresh_token: r.json.refresh_token });
    assert.equal(amb.res.status, 400);
    assert.equal(amb.json.error, 'invalid_target');
  }
});

test('SFM-style API: 401 use_dpop_nonce first, then 200 with the nonce; strict DPoP checks', async () => {
  const c = await newClient(rs256, 'PS256');
  const { token } = await c.login();
  const at = token.json.access_token;
  dbl.reset();
  const whoami = `${dbl.apiOrigin}/api/whoami`;

  const r = await c.api('GET', whoami, at);
  assert.equal(r.first.res.status, 401);
  assert.match(r.first.res.headers.get('www-authenticate'), /^DPoP error="use_dpop_nonce", error_description="[^"]+"/);
  const nonce = r.first.res.headers.get('dpop-nonce');
  assert.ok(nonce);
  assert.equal(r.res.status, 200, JSON.stringify(r.json));
  assert.equal(r.res.headers.get('dpop-nonce'), nonce);
  assert.equal(r.json.client_id, rs256.clientId);
  assert.equal(r.json.pid, '06828399789');
  assert.equal(r.json['sfm-id'], rs256.sfmId);
  assert.equal(r.json.jkt, c.dpop.jkt);
  assert.ok(r.json.sub);

  const s = await c.api('POST', `${dbl.apiOrigin}/api/Session/create`, at, { body: { nonce: 'bm9uY2U=' } });
  assert.equal(s.first, undefined, 'the cached nonce is accepted');
  assert.equal(s.res.status, 200);
  assert.ok(s.json.id && s.json.code && s.json.apiAddress);

  const call = async (headers, url = whoami, method = 'GET') => {
    const res = await fetch(url, { method, headers });
    return { status: res.status, www: res.headers.get('www-authenticate'), nonce: res.headers.get('dpop-nonce') };
  };
  const cur = c.nonces.get(dbl.apiOrigin);
  const good = (o = {}) => c.dpop.proof('GET', whoami, { nonce: cur, accessToken: at, ...o });

  // Bearer scheme refused; DPoP scheme is case-insensitive.
  assert.match((await call({ Authorization: `Bearer ${at}`, DPoP: await good() })).www, /error="invalid_token"/);
  assert.equal((await call({ Authorization: `dpop ${at}`, DPoP: await good() })).status, 200);
  // Replayed proof (same jti).
  const once = await good();
  assert.equal((await call({ Authorization: `DPoP ${at}`, DPoP: once })).status, 200);
  assert.match((await call({ Authorization: `DPoP ${at}`, DPoP: once })).www, /error="invalid_dpop_proof"/);
  // Wrong ath, htm, htu, stale iat.
  assert.match((await call({ Authorization: `DPoP ${at}`, DPoP: await good({ accessToken: 'other' }) })).www, /invalid_dpop_proof/);
  assert.match((await call({ Authorization: `DPoP ${at}`, DPoP: await c.dpop.proof('POST', whoami, { nonce: cur, accessToken: at }) })).www, /invalid_dpop_proof/);
  assert.match((await call({ Authorization: `DPoP ${at}`, DPoP: await c.dpop.proof('GET', `${dbl.apiOrigin}/api/other`, { nonce: cur, accessToken: at }) })).www, /invalid_dpop_proof/);
  assert.match((await call({ Authorization: `DPoP ${at}`, DPoP: await good({ iat: Math.floor(Date.now() / 1000) - 120 }) })).www, /invalid_dpop_proof/);
  // A proof from another key than cnf.jkt.
  const stranger = await dpopKey('ES256');
  assert.match((await call({ Authorization: `DPoP ${at}`, DPoP: await stranger.proof('GET', whoami, { nonce: cur, accessToken: at }) })).www, /error="invalid_token"/);
  // Query strings are not part of htu.
  assert.equal((await call({ Authorization: `DPoP ${at}`, DPoP: await good() }, `${whoami}?x=1`)).status, 200);
  // A rotated nonce gives use_dpop_nonce again.
  dbl.rotateApiNonce();
  const stale = await call({ Authorization: `DPoP ${at}`, DPoP: await good() });
  assert.equal(stale.status, 401);
  assert.match(stale.www, /use_dpop_nonce/);
  assert.notEqual(stale.nonce, cur);

  // A token for another audience is refused.
  const o = await newClient(es256);
  const other = await o.login({ resource: 'e-helse:other.api', scope: 'openid e-helse:other.api/api', tokenResource: 'e-helse:other.api' });
  const ot = other.token.json.access_token;
  const res = await fetch(whoami, { headers: { Authorization: `DPoP ${ot}`, DPoP: await o.dpop.proof('GET', whoami, { nonce: stale.nonce, accessToken: ot }) } });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
  assert.ok(dbl.counts().api >= 12);
});

test('login_hint picks the test user; niva3 is security level 3; login_hint=deny gives access_denied', async () => {
  const c = await newClient(es256);
  const { token } = await c.login({ login_hint: 'niva3' });
  const at = decodeJwt(token.json.access_token).payload;
  const id = decodeJwt(token.json.id_token).payload;
  assert.equal(at[LEVEL], '3');
  assert.equal(id[LEVEL], '3');
  assert.equal(id['helseid://claims/identity/assurance_level'], 'substantial');
  assert.equal(id['helseid://claims/hpr/hpr_number'], undefined, 'niva3 has no HPR number');

  const l2 = await (await newClient(es256)).login({ login_hint: 'lege2' });
  assert.equal(decodeJwt(l2.token.json.id_token).payload[PID], '14867912305');

  const d = await newClient(es256);
  const p = await d.par({ login_hint: 'deny' });
  const a = await d.authorize(p.json.request_uri);
  assert.equal(a.callback.searchParams.get('error'), 'access_denied');
  assert.equal(a.callback.searchParams.get('state'), p.state);
  assert.equal(a.callback.searchParams.get('iss'), dbl.issuer);
  assert.equal(a.callback.searchParams.get('code'), null);
});

test('user picker page when autoLogin is off (driven through the /__test/ control API)', async () => {
  const set = await fetch(`${dbl.issuer}/__test/options`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ autoLogin: false }) });
  assert.equal(set.status, 200);
  assert.equal((await set.json()).autoLogin, false);
  try {
    const c = await newClient();
    const p = await c.par();
    const a = await c.authorize(p.json.request_uri);
    assert.equal(a.status, 200);
    assert.match(a.body, /Choose a test user/);
    for (const who of ['KVART GREVLING', '06828399789', '565501872', 'NILS NIVÅTRE', 'Deny']) assert.ok(a.body.includes(who), who);
    const action = /action="(\/interaction\/[^"]+\/login)"/.exec(a.body)[1];
    const res = await fetch(new URL(action, dbl.issuer), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: c.jar.header() },
      body: new URLSearchParams({ user: 'lege2' }),
    });
    assert.equal(res.status, 303);
    c.jar.store(res);
    const resume = await fetch(res.headers.get('location'), { redirect: 'manual', headers: { Cookie: c.jar.header() } });
    const cb = new URL(resume.headers.get('location'));
    assert.equal(cb.origin, stack.appOrigin);
    const t = await c.token({ grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: `${stack.appOrigin}/`, code_verifier: p.verifier, resource: SFM });
    assert.equal(decodeJwt(t.json.access_token).payload[PID], '14867912305');
  } finally {
    await fetch(`${dbl.issuer}/__test/options`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ autoLogin: true }) });
  }
  const counts = await (await fetch(`${dbl.issuer}/__test/counts`)).json();
  assert.equal(typeof counts.token_by_grant.authorization_code, 'number');
  const bad = await fetch(`${dbl.issuer}/__test/options`, { method: 'POST', body: JSON.stringify({ nope: 1 }) });
  assert.equal(bad.status, 400);
});

test('RP-initiated logout returns to post_logout_redirect_uri with state, confirmation is automatic', async () => {
  const c = await newClient();
  const { token } = await c.login();
  const url = `${dbl.issuer}/connect/endsession?${new URLSearchParams({
    id_token_hint: token.json.id_token,
    post_logout_redirect_uri: `${stack.appOrigin}/index.html`,
    state: 'bye',
  })}`;
  const res = await fetch(url, { headers: { Cookie: c.jar.header() } });
  assert.equal(res.status, 200);
  c.jar.store(res);
  const html = await res.text();
  assert.match(html, /\.submit\(\)/, 'the page submits itself');
  const form = /<form id="op.logoutForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(html);
  const inputs = Object.fromEntries([...form[2].matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  assert.equal(inputs.logout, 'yes');
  const confirm = await fetch(form[1], {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: c.jar.header() },
    body: new URLSearchParams(inputs),
  });
  assert.equal(confirm.status, 303);
  const back = new URL(confirm.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, `${stack.appOrigin}/index.html`);
  assert.equal(back.searchParams.get('state'), 'bye');
  // Like HelseID, offline_access grants outlive the browser session: the app revokes its refresh
  // token itself (RFC 7009) at /connect/revocation.
  const rev = await c.postWithDpop(`${dbl.issuer}/connect/revocation`, { token: token.json.refresh_token, token_type_hint: 'refresh_token' });
  assert.equal(rev.res.status, 200);
  const r = await c.token({ grant_type: 'refresh_token', refresh_token: token.json.refresh_token });
  assert.equal(r.json.error, 'invalid_grant');
});

test('CORS: app origin may call PAR/token/revocation; DPoP-Nonce and WWW-Authenticate are exposed', async () => {
  const origin = stack.appOrigin;
  const pre = await fetch(`${dbl.issuer}/connect/token`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,dpop' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), origin);
  assert.match(pre.headers.get('access-control-allow-headers'), /dpop/i);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);

  const c = await newClient();
  const res = await fetch(`${dbl.issuer}/connect/par`, {
    method: 'POST',
    headers: { Origin: origin, 'Content-Type': 'application/x-www-form-urlencoded', DPoP: await c.dpop.proof('POST', `${dbl.issuer}/connect/par`) },
    body: new URLSearchParams({
      client_id: rs256.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(rs256, dbl.issuer),
      response_type: 'code', redirect_uri: `${origin}/`, scope: 'openid', code_challenge: pkce().challenge, code_challenge_method: 'S256',
    }),
  });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('access-control-allow-origin'), origin);
  const exposed = res.headers.get('access-control-expose-headers').toLowerCase();
  assert.ok(exposed.includes('dpop-nonce') && exposed.includes('www-authenticate'), exposed);
  assert.ok(res.headers.get('dpop-nonce'));

  // Another origin is refused on client endpoints.
  const evil = await fetch(`${dbl.issuer}/connect/par`, {
    method: 'POST',
    headers: { Origin: 'http://127.0.0.1:1', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: rs256.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(rs256, dbl.issuer),
      response_type: 'code', redirect_uri: `${origin}/`, scope: 'openid', code_challenge: pkce().challenge, code_challenge_method: 'S256',
    }),
  });
  assert.equal(evil.headers.get('access-control-allow-origin'), null);

  // API preflight.
  const apiPre = await fetch(`${dbl.apiOrigin}/api/whoami`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization,dpop' },
  });
  assert.equal(apiPre.status, 204);
  assert.equal(apiPre.headers.get('access-control-allow-origin'), origin);
  assert.match(apiPre.headers.get('access-control-allow-headers'), /DPoP/);
  assert.ok(dbl.counts().preflight >= 2);
});

test('demo backend /assertion signs client assertions usable at PAR (assertion_provider path)', async () => {
  dbl.reset();
  const cookie = await epjLogin(dbl.apiOrigin, stack.appOrigin, 'kvart', { clientId: es256.clientId });
  const res = await fetch(`${dbl.apiOrigin}/assertion`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: stack.appOrigin, Cookie: cookie },
    body: JSON.stringify({ audience: dbl.issuer, endpoint: `${dbl.issuer}/connect/par`, clientId: es256.clientId }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), stack.appOrigin);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  const { assertion } = await res.json();
  const { header, payload } = decodeJwt(assertion);
  assert.equal(header.typ, 'client-authentication+jwt');
  assert.equal(header.alg, 'ES256');
  assert.equal(header.kid, es256.privateJwk.kid);
  assert.equal(payload.iss, es256.clientId);
  assert.equal(payload.sub, es256.clientId);
  assert.equal(payload.aud, dbl.issuer);
  assert.equal(payload.exp - payload.iat, 60);
  assert.ok(payload.jti && payload.nbf);
  assert.equal(payload.assertion_details, undefined, 'no details asked for: no details claim');

  const c = await newClient(es256);
  c.assertion = async () => {
    const r = await signerRequest(dbl.apiOrigin, {
      origin: stack.appOrigin,
      cookie,
      body: { audience: dbl.issuer, endpoint: c.discovery.pushed_authorization_request_endpoint, clientId: es256.clientId },
    });
    return r.json.assertion;
  };
  const p = await c.par();
  assert.equal(p.res.status, 201);
  assert.equal(dbl.counts().assertion, 3);
  const unknown = await signerRequest(dbl.apiOrigin, { origin: stack.appOrigin, cookie, body: { clientId: 'nope' } });
  assert.equal(unknown.res.status, 400);
});
