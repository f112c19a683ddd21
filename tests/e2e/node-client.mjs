// A minimal HelseID-style client in Node (fetch + jose), used to prove that the test double
// behaves like HelseID without the Rust library. Not a test file itself.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
} from 'jose';
import { EPJ_TEST_PASSWORDS } from '../../www/dev-idp/signer.mjs';

export const b64u = (buf) => Buffer.from(buf).toString('base64url');
export const sha256b64u = (s) => createHash('sha256').update(s).digest('base64url');
export const epoch = () => Math.floor(Date.now() / 1000);

export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

/** A DPoP key pair with a proof factory. */
export async function dpopKey(alg = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  return {
    alg,
    jwk,
    jkt,
    /** RFC 9449 proof for (method, url); opts: nonce, accessToken (adds ath), iat, jti, htm, htu (overrides). */
    async proof(method, url, { nonce, accessToken, iat = epoch(), jti = randomUUID(), htm = method, htu } = {}) {
      const u = new URL(url);
      const claims = { htm, htu: htu ?? `${u.origin}${u.pathname}`, jti, iat };
      if (nonce) claims.nonce = nonce;
      if (accessToken) claims.ath = sha256b64u(accessToken);
      return new SignJWT(claims)
        .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk })
        .sign(privateKey);
    },
  };
}

/** Client assertion signed locally with a test client's private JWK (HelseID rules). */
export async function clientAssertion(client, audience, overrides = {}) {
  const key = await importJWK(client.privateJwk, client.alg);
  const now = epoch();
  const header = { alg: client.alg, kid: client.privateJwk.kid, typ: 'client-authentication+jwt', ...overrides.header };
  return new SignJWT({
    iss: client.clientId,
    sub: client.clientId,
    aud: audience,
    iat: now,
    nbf: now,
    exp: now + 60,
    jti: randomUUID(),
    ...overrides.claims,
  }).setProtectedHeader(header).sign(key);
}

/** Tiny cookie jar: name -> value, ignoring paths (enough for one OP on one origin). */
export class CookieJar {
  #cookies = new Map();

  store(res) {
    for (const line of res.headers.getSetCookie?.() ?? []) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split('=');
        return (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now())
          || (k.toLowerCase() === 'max-age' && Number(v) <= 0);
      });
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Logs in to the demo backend's EPJ (POST /app-session) as `user` with its test-only password,
 * from the app origin `origin`, for `clientId` (the one client the session signs for). Returns
 * the Cookie header value to send to the signer.
 */
export async function epjLogin(apiOrigin, origin, user = 'kvart', { clientId = 'helseid-wasm-multi', password = EPJ_TEST_PASSWORDS[user] } = {}) {
  const res = await fetch(`${apiOrigin}/app-session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: origin },
    body: JSON.stringify({ user, password, clientId }),
  });
  if (!res.ok) throw new Error(`EPJ login failed: ${res.status} ${await res.text()}`);
  const line = res.headers.getSetCookie()[0];
  return line.split(';')[0];
}

/**
 * Asks the demo signer (POST /assertion) for a client assertion the way a page does; `cookie`
 * from epjLogin(). Returns { res, json }.
 */
export async function signerRequest(apiOrigin, { origin, cookie, body, contentType = 'application/json' }) {
  const headers = { 'Content-Type': contentType };
  if (origin) headers.Origin = origin;
  if (cookie) headers.Cookie = cookie;
  const res = await fetch(`${apiOrigin}/assertion`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { res, json: await res.json().catch(() => undefined) };
}

export function pkce() {
  const verifier = b64u(randomBytes(32));
  return { verifier, challenge: sha256b64u(verifier) };
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * Client for one test client of the double.
 * nonce handling: keeps the newest DPoP-Nonce per server origin and retries once on use_dpop_nonce.
 */
export class NodeClient {
  constructor({ issuer, client, dpop, redirectUri, discovery }) {
    this.issuer = issuer;
    this.client = client;
    this.dpop = dpop;
    this.redirectUri = redirectUri;
    this.discovery = discovery;
    this.nonces = new Map();
    this.jar = new CookieJar();
  }

  static async create({ issuer, client, redirectUri, dpopAlg = 'ES256' }) {
    const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    return new NodeClient({ issuer, client, dpop: await dpopKey(dpopAlg), redirectUri, discovery });
  }

  async assertion() {
    return clientAssertion(this.client, this.issuer);
  }

  /** POST a form to an OP endpoint with client assertion + DPoP, retrying once on use_dpop_nonce. */
  async postWithDpop(url, params, { retry = true, useCachedNonce = true } = {}) {
    const origin = new URL(url).origin;
    const send = async () => {
      const body = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined) continue;
        for (const one of [].concat(v)) body.append(k, one); // arrays: repeated parameter
      }
      body.set('client_id', this.client.clientId);
      body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      body.set('client_assertion', await this.assertion());
      const nonce = useCachedNonce ? this.nonces.get(origin) : undefined;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': FORM, DPoP: await this.dpop.proof('POST', url, { nonce }) },
        body,
      });
      const n = res.headers.get('dpop-nonce');
      if (n) this.nonces.set(origin, n);
      return { res, json: await res.json().catch(() => undefined) };
    };
    const first = await send();
    if (retry && first.res.status === 400 && first.json?.error === 'use_dpop_nonce') {
      useCachedNonce = true;
      return { ...(await send()), first };
    }
    return first;
  }

  async par(extra = {}) {
    const { verifier, challenge } = pkce();
    const state = b64u(randomBytes(16));
    const nonce = b64u(randomBytes(16));
    const params = {
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope: 'openid profile offline_access helseid://scopes/identity/pid helseid://scopes/identity/pid_pseudonym helseid://scopes/identity/security_level helseid://scopes/identity/assurance_level helseid://scopes/hpr/hpr_number e-helse:sfm.api/sfm.api2',
      resource: 'e-helse:sfm.api',
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    };
    for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
    const out = await this.postWithDpop(this.discovery.pushed_authorization_request_endpoint, params);
    return { ...out, verifier, state, nonce };
  }

  /** Follows the browser redirect chain from /connect/authorize until it leaves the OP. */
  async authorize(requestUri, { maxHops = 10 } = {}) {
    let url = `${this.discovery.authorization_endpoint}?${new URLSearchParams({ client_id: this.client.clientId, request_uri: requestUri })}`;
    const hops = [];
    for (let i = 0; i < maxHops; i++) {
      const res = await fetch(url, { redirect: 'manual', headers: { Cookie: this.jar.header() } });
      this.jar.store(res);
      hops.push({ url, status: res.status });
      if (res.status < 300 || res.status >= 400) {
        return { final: url, status: res.status, body: await res.text(), hops };
      }
      const next = new URL(res.headers.get('location'), url).href;
      await res.arrayBuffer();
      if (!next.startsWith(this.issuer)) return { callback: new URL(next), hops };
      url = next;
    }
    throw new Error(`too many redirects: ${JSON.stringify(hops)}`);
  }

  async token(params) {
    return this.postWithDpop(this.discovery.token_endpoint, params);
  }

  /** Full code flow; returns the token response plus what was sent. */
  async login(extra = {}) {
    const p = await this.par(extra);
    if (p.res.status !== 201) throw new Error(`PAR failed: ${p.res.status} ${JSON.stringify(p.json)}`);
    const a = await this.authorize(p.json.request_uri);
    if (!a.callback) throw new Error(`authorize did not come back: ${JSON.stringify(a.hops)} ${a.body?.slice(0, 300)}`);
    const code = a.callback.searchParams.get('code');
    if (!code) return { par: p, authorize: a };
    const t = await this.token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.redirectUri,
      code_verifier: p.verifier,
      resource: extra.tokenResource ?? 'e-helse:sfm.api',
    });
    return { par: p, authorize: a, token: t };
  }

  /**
   * Calls a DPoP-protected API, retrying once on 401 use_dpop_nonce. opts: body (sent as JSON),
   * rawBody (sent as is), headers (extra), scheme (of Authorization, default DPoP), proof (options
   * for dpop.proof that override the defaults, e.g. { jti, htm, htu, accessToken }), withProof
   * (false: no DPoP header), dpop (another key pair to sign the proof with).
   */
  async api(method, url, accessToken, {
    body, rawBody, retry = true, headers: extraHeaders = {}, scheme = 'DPoP', proof: proofOpts = {}, withProof = true, dpop = this.dpop,
  } = {}) {
    const origin = new URL(url).origin;
    const send = async () => {
      const headers = { Authorization: `${scheme} ${accessToken}`, ...extraHeaders };
      if (withProof) headers.DPoP = await dpop.proof(method, url, { nonce: this.nonces.get(origin), accessToken, ...proofOpts });
      if (body !== undefined || rawBody !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(url, { method, headers, body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)) });
      const n = res.headers.get('dpop-nonce');
      if (n) this.nonces.set(origin, n);
      return { res, json: await res.json().catch(() => undefined) };
    };
    const first = await send();
    if (retry && first.res.status === 401 && /error="use_dpop_nonce"/.test(first.res.headers.get('www-authenticate') ?? '')) {
      return { ...(await send()), first };
    }
    return first;
  }
}
