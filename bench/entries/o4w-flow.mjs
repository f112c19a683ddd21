// A straightforward HelseID login + refresh with oauth4webapi's own APIs, for the round-trip
// benchmark: discovery, PAR (+ DPoP, private_key_jwt), redirect, code exchange, refresh.
// DPoP nonces the way oauth4webapi documents it: its DPoP handle caches the nonce of every
// response, and the app retries once when a request fails with use_dpop_nonce. The DPoP key pair
// survives the redirect in IndexedDB (the code is bound to it); the handle, and so its nonce
// cache, lives in memory and starts empty on the callback page, as in any plain SPA.
import * as oauth from 'oauth4webapi';

const insecure = { [oauth.allowInsecureRequests]: true }; // the test double is http on loopback
const KEY = 'bench-o4w';

function idb(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(KEY, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('kv');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('kv', mode);
      const req = fn(tx.objectStore('kv'));
      tx.oncomplete = () => { open.result.close(); resolve(req.result); };
      tx.onerror = () => reject(tx.error);
    };
  });
}

async function discover(issuer) {
  const url = new URL(issuer);
  const res = await oauth.discoveryRequest(url, { ...insecure, algorithm: 'oidc' });
  return oauth.processDiscoveryResponse(url, res);
}

/** private_key_jwt with HelseID's assertion rules (typ client-authentication+jwt, aud = issuer). */
export async function privateKeyJwt(jwk) {
  const algorithm = jwk.kty === 'EC'
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const { kid, alg, use, key_ops: _ops, ext: _ext, ...material } = jwk;
  const key = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
  return oauth.PrivateKeyJwt({ key, kid }, {
    [oauth.modifyAssertion]: (header) => { header.typ = 'client-authentication+jwt'; },
  });
}

/** Sends a request; on use_dpop_nonce sends it once more (the handle now holds the nonce). */
async function withNonceRetry(send, process) {
  try {
    return await process(await send());
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return process(await send());
  }
}

let state;

/** Page load 1: discovery, PAR, then the browser leaves for the authorize endpoint. */
export async function start({ issuer, clientId, jwk, redirectUri, scope, resource }) {
  const as = await discover(issuer);
  const client = { client_id: clientId };
  const clientAuth = await privateKeyJwt(jwk);
  const keyPair = await oauth.generateKeyPair('ES256');
  await idb('readwrite', (s) => s.put(keyPair, 'dpop'));
  const DPoP = oauth.DPoP(client, keyPair);
  const verifier = oauth.generateRandomCodeVerifier();
  const params = new URLSearchParams({
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    resource,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
  });
  sessionStorage.setItem(KEY, JSON.stringify({ verifier, state: params.get('state'), nonce: params.get('nonce') }));
  const par = await withNonceRetry(
    () => oauth.pushedAuthorizationRequest(as, client, clientAuth, params, { DPoP, ...insecure }),
    (res) => oauth.processPushedAuthorizationResponse(as, client, res),
  );
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('request_uri', par.request_uri);
  location.assign(url.href);
}

/** Page load 2 (the callback): discovery again, validate the response, exchange the code. */
export async function finish({ issuer, clientId, jwk, redirectUri }) {
  const as = await discover(issuer);
  const client = { client_id: clientId };
  const clientAuth = await privateKeyJwt(jwk);
  const keyPair = await idb('readonly', (s) => s.get('dpop'));
  const DPoP = oauth.DPoP(client, keyPair);
  const saved = JSON.parse(sessionStorage.getItem(KEY));
  sessionStorage.removeItem(KEY);
  const callback = oauth.validateAuthResponse(as, client, new URL(location.href), saved.state);
  const tokens = await withNonceRetry(
    () => oauth.authorizationCodeGrantRequest(as, client, clientAuth, callback, redirectUri, saved.verifier, { DPoP, ...insecure }),
    (res) => oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: saved.nonce, requireIdToken: true }),
  );
  state = { as, client, clientAuth, DPoP, tokens };
  history.replaceState(null, '', location.pathname);
  return tokens;
}

/** A refresh with the rotated refresh token. */
export async function refresh() {
  const { as, client, clientAuth, DPoP } = state;
  const tokens = await withNonceRetry(
    () => oauth.refreshTokenGrantRequest(as, client, clientAuth, state.tokens.refresh_token, { DPoP, ...insecure }),
    (res) => oauth.processRefreshTokenResponse(as, client, res),
  );
  state.tokens = tokens;
  return tokens;
}

export function tokens() {
  return state?.tokens;
}
