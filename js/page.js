// helseid-wasm's thin page (API.md "Session host"; issue 22): the same API as helseid_wasm.js,
// with no WebAssembly in the page while the session host runs. The page keeps what only it can
// have (its client key or getAssertion, its lock, `location`, the DOM) and the state the worker
// pushes; its stand-in in the worker (js/worker.js), a full client joined to the host, makes every
// decision. What needs the page's DOM or sessionStorage (login, callback, portals) and what has
// no host (sessionHost "page", no worker) loads the whole package, once, when first needed.
const VERSION = '__VERSION__';
const EVENTS = ['tokenRefreshed', 'sessionExpired', 'loggedOut', 'contextChanged', 'contextExpired', 'userChanged'];
/** How long "auto" waits for a worker before it holds the session in the page (API.md). */
const WORKER_START_MS = 2000;

let whole = null;
/** The whole package, loaded once (its WebAssembly is compiled from the browser's cache). */
function wholePackage() {
  whole ??= import('./helseid_wasm.js').then(async (m) => { await m.default(); return m; });
  return whole;
}

function helseIdError(e) {
  const err = new Error(String(e?.message ?? e));
  err.name = 'HelseIdError';
  for (const k of ['code', 'retryable', 'claim', 'oauthError', 'oauthErrorDescription', 'status']) {
    if (e?.[k] !== undefined && e?.[k] !== null) err[k] = e[k];
  }
  if (typeof err.code !== 'string') err.code = 'config_invalid';
  if (typeof err.retryable !== 'boolean') err.retryable = false;
  return err;
}
const hostGone = () => helseIdError({ code: 'login_required', message: 'the session host is gone; log in again (reload the page)' });
const configError = (message) => helseIdError({ code: 'config_invalid', message, retryable: false });

/** Whether `value` is a `HelseIdError` (a type guard). */
export function isHelseIdError(value) {
  return value instanceof Error && value.name === 'HelseIdError' && typeof value.code === 'string';
}

/** The package version. */
export function version() {
  return VERSION;
}

/** Nothing to load: the thin page has no WebAssembly (kept so that `await init()` works). */
export default async function init() {}

const b64urlBytes = (part) => {
  let s;
  try {
    if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new Error();
    s = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    throw helseIdError({ code: 'invalid_token', message: 'the token has a part that is not base64url' });
  }
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
};
const b64urlDecode = (part) => new TextDecoder('utf-8', { fatal: true }).decode(b64urlBytes(part));

/** A JWT's header and claims, with no checks at all; `invalid_token` when it is not a JWS. */
export function decodeJwt(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw helseIdError({ code: 'invalid_token', message: 'the token is not a compact JWS (three parts)' });
  const object = (part, what) => {
    let value;
    try { value = JSON.parse(b64urlDecode(part)); } catch (e) {
      if (isHelseIdError(e)) throw e;
      value = null;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw helseIdError({ code: 'invalid_token', message: `the token ${what} is not a JSON object` });
    return value;
  };
  const header = object(parts[0], 'header');
  if (typeof header.alg !== 'string') throw helseIdError({ code: 'invalid_token', message: 'the token header is not JSON with a string alg' });
  b64urlBytes(parts[2]);
  return { header, claims: object(parts[1], 'payload') };
}

/** Verifies a JWT (loads the whole package: the checks are its own). */
export async function verifyJwt(token, options) {
  return (await wholePackage()).verifyJwt(token, options);
}

// WebCrypto's names for the JWS algorithms a client key signs with (RFC 7518 §3).
const ALGS = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, RS384: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }, RS512: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256', saltLength: 32 }, PS384: { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 }, PS512: { name: 'RSA-PSS', hash: 'SHA-512', saltLength: 64 },
  ES256: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }, ES384: { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' }, ES512: { name: 'ECDSA', namedCurve: 'P-521', hash: 'SHA-512' },
};
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const b64urlText = (text) => b64url(new TextEncoder().encode(text));
/** RFC 7523 §3 / HelseID: the client assertion's lifetime, as the library signs it. */
const ASSERTION_LIFETIME_SECONDS = 60;

/** How this page signs client assertions: `null` for `type: "none"`. */
async function signerOf(clientAuth, clientId, issuer) {
  const type = clientAuth?.type;
  if (type === 'none') return null;
  if (type === 'assertion_provider') {
    if (typeof clientAuth.getAssertion !== 'function') throw configError('clientAuth.getAssertion must be a function');
    return (ctx) => clientAuth.getAssertion(ctx);
  }
  if (type !== 'private_key_jwt') throw configError('clientAuth.type must be "private_key_jwt", "assertion_provider" or "none"');
  const jwk = clientAuth.jwk;
  const alg = clientAuth.alg ?? jwk?.alg ?? ({ RSA: 'RS256', EC: { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk?.crv] })[jwk?.kty];
  const params = ALGS[alg];
  if (!params) throw configError(alg ? `clientAuth.alg ${alg} is not supported` : 'clientAuth.alg is needed for this key');
  let key = clientAuth.key;
  if (jwk) {
    // Imported non-extractable: no script can read it back.
    const { d, p, q, dp, dq, qi, kty, crv, n, e, x, y } = jwk;
    key = await crypto.subtle.importKey('jwk', { kty, crv, n, e, x, y, d, p, q, dp, dq, qi }, params, false, ['sign'])
      .catch((err) => { throw configError(`clientAuth.jwk could not be imported: ${err?.message ?? err}`); });
  }
  if (!(key instanceof CryptoKey)) throw configError('clientAuth needs a jwk or a CryptoKey');
  const kid = clientAuth.kid ?? jwk?.kid;
  // RFC 7523 §3: iss = sub = client id, aud = the issuer as a single string, one jti per
  // assertion; `typ` as HelseID asks (as src/core/assertion.rs writes them).
  return async (ctx) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg, typ: 'client-authentication+jwt', ...(kid ? { kid } : {}) };
    const claims = { iss: clientId, sub: clientId, aud: issuer, jti: b64url(crypto.getRandomValues(new Uint8Array(32))), iat: now, nbf: now, exp: now + ASSERTION_LIFETIME_SECONDS };
    // Only the two names API.md allows: the details never overwrite a claim above.
    if (Array.isArray(ctx.assertionDetails) && ['assertion_details', 'authorization_details'].includes(ctx.detailsClaim)) claims[ctx.detailsClaim] = ctx.assertionDetails;
    const input = `${b64urlText(JSON.stringify(header))}.${b64urlText(JSON.stringify(claims))}`;
    const signature = await crypto.subtle.sign(params, key, new TextEncoder().encode(input));
    return `${input}.${b64url(signature)}`;
  };
}

/** Holds `name` while the page lives (taken back if another page steals it). */
function holdLock(name) {
  let release = null;
  let ended = false;
  const take = () => new Promise((granted) => {
    navigator.locks.request(name, () => { granted(); return new Promise((r) => { release = r; }); })
      .catch(() => {})
      .then(() => { if (!ended) setTimeout(take, 50); });
  });
  return { name, granted: take(), end() { ended = true; release?.(); } };
}

// Written out literally, the form Vite and webpack 5 recognise and bundle.
function workerOf(config) {
  if (config.workerUrl) return new SharedWorker(String(config.workerUrl), { type: 'module', name: 'helseid-wasm@__VERSION__', extendedLifetime: true });
  return new SharedWorker(new URL('./helseid_wasm_worker.js', import.meta.url), { type: 'module', name: 'helseid-wasm@__VERSION__', extendedLifetime: true });
}

/** The package's worker, or why there is none. */
function openHost(config) {
  try {
    if (typeof SharedWorker !== 'function') throw new Error('SharedWorker is not available');
    return { worker: workerOf(config) };
  } catch (e) {
    return { why: e?.message ?? String(e) };
  }
}

const hostFailed = (why) => configError(`sessionHost "worker": the session host could not start (${why}); serve the package's helseid_wasm_worker.js, allow it in the Content-Security-Policy (worker-src 'self'), or use sessionHost "page"`);

/** The target of `authHeaders`/`fetch`: its absolute URL and method. */
function target(input, method) {
  const request = typeof Request === 'function' && input instanceof Request ? input : null;
  const url = new URL(request ? request.url : String(input), globalThis.location?.href).href;
  return [url, (method ?? request?.method ?? 'GET').toUpperCase()];
}

function header(headers, name) {
  if (!headers) return null;
  if (typeof headers.get === 'function') return headers.get(name) ?? null;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : headers[key];
}

/**
 * A HelseID client (API.md). In a thin page it talks to the session host; where there is none it
 * is the whole package's `HelseIdClient`.
 */
export class HelseIdClient {
  /** Validates the config and joins the session host; without one, the whole package's client. */
  static async create(config) {
    if (!config || typeof config !== 'object') throw configError('config must be an object');
    const mode = config.sessionHost ?? 'auto';
    if (mode === 'page') return (await wholePackage()).HelseIdClient.create(config);
    const fallback = async (why) => {
      if (mode === 'auto') return (await wholePackage()).HelseIdClient.create({ ...config, sessionHost: 'page' });
      throw hostFailed(why);
    };
    const { worker, why } = openHost(config);
    if (!worker) return fallback(why);
    // The worker starts, the key imports and the lock is taken at once; `open` goes as soon as
    // the lock is held (the port keeps it until the worker reads it).
    const signing = signerOf(config.clientAuth, config.clientId, config.issuer);
    signing.catch(() => {});
    const lock = holdLock(`helseid-wasm:tab:${b64url(crypto.getRandomValues(new Uint8Array(32)))}`);
    const client = new HelseIdClient(config, worker, lock, signing);
    const failure = await client.#started(mode === 'auto' ? WORKER_START_MS : (config.httpTimeoutSeconds ?? 30) * 1000);
    if (failure) {
      client.dispose();
      return fallback(failure);
    }
    try {
      await signing;
      await client.#opened;
    } catch (e) {
      client.dispose();
      throw e;
    }
    client.#watchHost();
    return client;
  }

  #config; #port; #lock; #sign;
  #state = { session: null, context: null };
  #asks = new Map();
  #listeners = new Map(EVENTS.map((n) => [n, new Set()]));
  #opened;
  #alive;
  #onAlive;
  #disposed = false;
  #gone = false;
  #whole = null;

  constructor(config, worker, lock, signing) {
    this.#config = config;
    this.#port = worker.port;
    this.#lock = lock;
    this.#sign = signing;
    this.#alive = new Promise((resolve) => { this.#onAlive = resolve; });
    this.#opened = new Promise((resolve, reject) => { this.#asks.set('open', { resolve, reject }); });
    this.#opened.catch(() => {});
    worker.onerror = () => this.#onAlive('the worker script failed to load');
    this.#port.onmessage = ({ data }) => this.#onMessage(data);
    const { clientAuth: _auth, ...rest } = config;
    const plain = { ...rest, ...(config.workerUrl ? { workerUrl: String(config.workerUrl) } : {}) };
    lock.granted.then(() => {
      if (this.#disposed) return;
      try {
        this.#port.postMessage({ p: 'open', config: plain, lock: lock.name, signs: config.clientAuth?.type !== 'none' });
      } catch {
        this.#onMessage({ p: 'opened', error: { code: 'config_invalid', message: 'config must be plain data (clientAuth aside)' } });
      }
    });
  }

  /** `null` once the worker says it is alive; why not, after `ms` or a load error. */
  #started(ms) {
    return Promise.race([this.#alive, new Promise((resolve) => { setTimeout(() => resolve('the worker did not answer in time'), ms); })]);
  }

  #onMessage(data) {
    if (!data || typeof data !== 'object' || this.#disposed) return;
    if (data.m === '{"t":"alive"}') this.#onAlive(null);
    switch (data.p) {
      case 'state':
        this.#state = { session: data.session ?? null, context: data.context ?? null };
        break;
      case 'opened': {
        const ask = this.#asks.get('open');
        this.#asks.delete('open');
        if (data.error) ask?.reject(helseIdError(data.error)); else ask?.resolve();
        break;
      }
      case 'result': {
        const ask = this.#asks.get(data.id);
        this.#asks.delete(data.id);
        if (data.error) ask?.reject(helseIdError(data.error)); else ask?.resolve(data.value);
        break;
      }
      case 'event':
        this.#emit(data.name, data.detail);
        break;
      case 'sign':
        this.#signFor(data.id, data.ctx);
        break;
      case 'ping':
        this.#port.postMessage({ p: 'pong' });
        break;
      default:
    }
  }

  async #signFor(id, ctx) {
    let answer;
    try {
      const sign = await this.#sign;
      const assertion = await sign(ctx);
      answer = typeof assertion === 'string' ? { p: 'signed', id, assertion } : { p: 'signed', id, message: 'getAssertion gave no JWS' };
    } catch (e) {
      answer = { p: 'signed', id, network: e instanceof TypeError, message: String(e?.message ?? e) };
    }
    if (!this.#disposed) this.#port.postMessage(answer);
  }

  /**
   * The host's Web Lock is free once its worker ends or crashes (and when a page of the origin
   * steals and releases it): a host that still answers is watched again; one that does not is gone.
   */
  #watchHost() {
    const name = `helseid-wasm:host:${VERSION}:${this.#config.issuer}:${this.#config.clientId}`;
    navigator.locks.request(name, { mode: 'shared' }, () => {}).then(async () => {
      if (this.#disposed) return;
      const timeout = new Promise((resolve) => { setTimeout(() => resolve(false), WORKER_START_MS); });
      const answered = await Promise.race([this.#call('session').then(() => true, () => false), timeout]);
      if (answered) this.#watchHost(); else this.#hostGone();
    }, () => {});
  }

  /** The worker is gone, and the stand-in with it: nothing here can be refreshed any more. */
  #hostGone() {
    if (this.#gone || this.#disposed) return;
    this.#gone = true;
    const had = this.#state.session !== null;
    this.#state = { session: null, context: this.#state.context };
    for (const [, ask] of this.#asks) ask.reject(hostGone());
    this.#asks.clear();
    if (had) this.#emit('sessionExpired', null);
  }

  #emit(name, detail) {
    for (const callback of this.#listeners.get(name) ?? []) {
      try { callback(detail); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }

  #call(method, ...args) {
    if (this.#disposed) return Promise.reject(helseIdError({ code: 'login_required', message: 'this client was disposed' }));
    if (this.#gone) return Promise.reject(hostGone());
    const id = b64url(crypto.getRandomValues(new Uint8Array(16)));
    return new Promise((resolve, reject) => {
      this.#asks.set(id, { resolve, reject });
      this.#port.postMessage({ p: 'call', id, method, args });
    });
  }

  /** The whole package's client, for what needs the page's DOM: made once, on first use. */
  #wholeClient() {
    this.#whole ??= wholePackage().then((m) => m.HelseIdClient.create({ ...this.#config, sessionHost: 'worker' }));
    return this.#whole;
  }

  session() { return this.#state.session; }
  context() { return this.#state.context; }
  sessionHost() { return 'worker'; }

  getAccessToken(options) { return this.#call('getAccessToken', options ?? null); }
  refresh(options) { return this.#call('refresh', options ?? null); }
  setContext(context, options) { return this.#call('setContext', context ?? null, options ?? null); }
  adoptSession() { return this.#call('adoptSession'); }

  async authHeaders(input, options) {
    const [url, method] = target(input, options?.method);
    return this.#call('authHeaders', url, { method, ...(options?.resource ? { resource: options.resource } : {}) });
  }

  takeDpopNonce(response) {
    const nonce = header(response?.headers, 'DPoP-Nonce');
    const www = header(response?.headers, 'WWW-Authenticate');
    const answer = { url: response?.url ? String(response.url) : null, status: Number(response?.status), headers: { 'dpop-nonce': nonce, 'www-authenticate': www } };
    if (nonce !== null && !answer.url) throw configError('takeDpopNonce needs the request URL: pass { url, status, headers }');
    if (nonce !== null) this.#call('takeDpopNonce', answer).catch(() => {});
    // RFC 9449 §9: a resource server's nonce challenge, with a nonce to use.
    return nonce !== null && answer.status === 401 && /\bDPoP\b[^]*error="?use_dpop_nonce/i.test(www ?? '');
  }

  /** `authHeaders` + `fetch` + `takeDpopNonce` + one retry (RFC 9449 §9). */
  async fetch(input, init, options) {
    const base = new Request(input, { redirect: 'manual', ...(init ?? {}) });
    for (let attempt = 0; ; attempt += 1) {
      const headers = await this.authHeaders(base.url, { method: base.method, ...(options?.resource ? { resource: options.resource } : {}) });
      const request = base.clone();
      for (const [name, value] of Object.entries(headers)) request.headers.set(name, value);
      let response;
      try {
        response = await fetch(request);
      } catch (e) {
        throw helseIdError({ code: 'network_error', message: `fetch failed: ${e?.message ?? e}`, retryable: true });
      }
      if (!headers.DPoP) return response;
      const answer = { url: base.url, status: response.status, headers: { 'dpop-nonce': response.headers.get('DPoP-Nonce'), 'www-authenticate': response.headers.get('WWW-Authenticate') } };
      const retry = await this.#call('takeDpopNonce', answer);
      const challenged = response.status === 401 && /use_dpop_nonce/.test(answer.headers['www-authenticate'] ?? '');
      if (!challenged) return response;
      if (!retry || attempt > 0) {
        throw helseIdError({ code: 'dpop_nonce_failed', message: 'the API still asks for a DPoP nonce after one retry', status: response.status });
      }
    }
  }

  async logout(options) {
    const url = await this.#call('logout', options ?? null);
    if (url) globalThis.location.assign(url);
  }

  async loginWithRedirect(options) { return (await this.#wholeClient()).loginWithRedirect(options); }
  async handleRedirectCallback(url) {
    const session = await (await this.#wholeClient()).handleRedirectCallback(url);
    // The host's view reached the stand-in before the whole client's answer: take it in here.
    await this.#call('session');
    return session;
  }
  async openSfmSession(options) { return (await this.#wholeClient()).openSfmSession(options); }
  async openKjernejournalSession(options) { return (await this.#wholeClient()).openKjernejournalSession(options); }

  /** Does this URL (default: the current one) carry `code`/`error` and `state`? */
  isRedirectCallback(url) {
    let params;
    try { params = new URL(url ?? globalThis.location.href).searchParams; } catch { return false; }
    return (params.has('code') || params.has('error')) && params.has('state');
  }

  on(event, callback) {
    const set = this.#listeners.get(event);
    if (!set) throw configError(`unknown event ${event}`);
    set.add(callback);
    return () => set.delete(callback);
  }

  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const [, ask] of this.#asks) ask.reject(helseIdError({ code: 'login_required', message: 'this client was disposed' }));
    this.#asks.clear();
    this.#port.close();
    this.#lock.end();
    this.#whole?.then((c) => c.dispose(), () => {});
  }

  free() { this.dispose(); }
  [Symbol.dispose]() { this.dispose(); }
}
