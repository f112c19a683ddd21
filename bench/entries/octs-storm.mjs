// oidc-client-ts for the refresh-storm and cached-token benchmarks.
//
// oidc-client-ts cannot log in to the HelseID test double: it has no pushed authorization
// requests (the double, like HelseID, requires PAR) and no private_key_jwt (only
// client_secret_basic/post/jwt). What can run is its refresh path: signinSilent() with a refresh
// token, with its own DPoP support (DPoPStore in IndexedDB, one retry on use_dpop_nonce). So the
// session is obtained by the oauth4webapi login, handed to a UserManager as a User, and a
// fetch shim adds a private_key_jwt client assertion to oidc-client-ts's token requests (the
// one thing it cannot do itself; the shim makes no request of its own).
import { UserManager, User, WebStorageStateStore, IndexedDbDPoPStore } from 'oidc-client-ts';
import { privateKeyJwt } from './o4w-flow.mjs';

let mgr;

export async function setup({ issuer, clientId, jwk, redirectUri, scope, tokenEndpoint }) {
  const clientAuth = await privateKeyJwt(jwk);
  const as = { issuer };
  const plainFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    if (url === tokenEndpoint && init?.body instanceof URLSearchParams) {
      await clientAuth(as, { client_id: clientId }, init.body, new Headers());
    }
    return plainFetch(input, init);
  };
  mgr = new UserManager({
    authority: issuer,
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    response_type: 'code',
    client_authentication: 'client_secret_post', // client_id in the body; the shim adds the assertion
    userStore: new WebStorageStateStore({ store: window.localStorage }), // shared by the tabs
    dpop: { bind_authorization_code: false, store: new IndexedDbDPoPStore() },
    automaticSilentRenew: false,
    loadUserInfo: false,
  });
  return true;
}

/** Hands tokens from a login (the oauth4webapi flow) to the UserManager. */
export async function seed(tokens) {
  const [, payload] = tokens.id_token.split('.');
  const profile = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
  const user = new User({
    id_token: tokens.id_token,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    token_type: tokens.token_type,
    scope: tokens.scope,
    profile,
    expires_at: Math.floor(Date.now() / 1000) + tokens.expires_in,
  });
  await mgr.storeUser(user);
  return true;
}

/** The usual "give me an access token" with oidc-client-ts: renew when within 60 s of expiry. */
export async function getToken() {
  let user = await mgr.getUser();
  if (!user || (user.expires_in ?? 0) <= 60) user = await mgr.signinSilent();
  return user.access_token;
}

export async function signinSilent() {
  const user = await mgr.signinSilent();
  return user.access_token;
}

/** n concurrent getToken() calls. */
export async function storm(n) {
  const settled = await Promise.allSettled(Array.from({ length: n }, () => getToken()));
  const ok = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
  const errors = settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason?.message ?? s.reason));
  return { ok: ok.length, distinct: new Set(ok).size, failed: errors.length, errors: [...new Set(errors)].slice(0, 3) };
}

/** Median per-call latency of getUser() (oidc-client-ts's cached token read), in batches. */
export async function cachedRead(batches, perBatch) {
  const means = [];
  for (let b = 0; b < batches; b += 1) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i += 1) {
      const user = await mgr.getUser();
      if (!user.access_token) throw new Error('no token');
    }
    means.push((performance.now() - t0) / perBatch);
  }
  return means;
}
