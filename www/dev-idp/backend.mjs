// The demo backend of the HelseID test double (its own loopback server, apiOrigin): an assertion
// signer (`POST /assertion`, client assertions for an `assertion_provider`, behind a demo EPJ
// login `/app-session`; signer.mjs) and an SFM-style API (`/api/...`) that only takes DPoP-bound
// access tokens from the OP, with its own DPoP nonces, CORS for the app origin (with credentials
// for the signer), counters, request log and transport faults (control.mjs). See README.md,
// "Demo backend". startDouble() in double.mjs gives it its server.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  SignJWT,
  jwtVerify,
  EmbeddedJWK,
  calculateJwkThumbprint,
  importJWK,
} from 'jose';
import { ApiError, sha256b64u, epoch, readJson } from './http-util.mjs';
import { SFM_RESOURCE, SFM_ID_CLAIM, DPOP_ALGS, PRIVATE_MEMBERS } from './provider.mjs';
import { JOURNAL_ID_CLAIM, ORGNR_PARENT_CLAIM, ORGNR_CHILD_CLAIM } from './context.mjs';
import { createSigner } from './signer.mjs';
const quoteSafe = (s) => String(s).replace(/["\\\r\n]/g, "'");

/**
 * The backend of one double. `state` is the state object of startDouble() (issuer, apiOrigin,
 * allowedOrigins, clientById, keys.verifier, options.apiNonceTtl and options.quiet, counters);
 * `control` is its control part (control.mjs: nextFault, rawFault, logRequest). Returns the
 * request handler of the API server and the nonce and assertion functions of the public object.
 */
export function createBackend(state, control) {
  let apiNonce = { value: randomBytes(24).toString('base64url'), at: epoch() };
  function currentApiNonce() {
    if (epoch() - apiNonce.at >= state.options.apiNonceTtl) rotateApiNonce();
    return apiNonce.value;
  }
  function rotateApiNonce() {
    apiNonce = { value: randomBytes(24).toString('base64url'), at: epoch() };
    return apiNonce.value;
  }
  const seenProofJtis = new Map(); // jti -> expiry (epoch)
  function rememberJti(jti) {
    const now = epoch();
    for (const [k, exp] of seenProofJtis) if (exp < now) seenProofJtis.delete(k);
    if (seenProofJtis.has(jti)) return false;
    seenProofJtis.set(jti, now + 300);
    return true;
  }

  async function verifyDpopRequest(req, url) {
    const authz = req.headers.authorization;
    if (!authz) throw new ApiError(401, undefined, 'missing Authorization header');
    const m = /^(\S+) +(\S+)$/.exec(authz);
    if (!m || m[1].toLowerCase() !== 'dpop') {
      throw new ApiError(401, 'invalid_token', 'Authorization must use the DPoP scheme');
    }
    const at = m[2];
    let atPayload;
    try {
      const { payload, protectedHeader } = await jwtVerify(at, state.keys.verifier, {
        issuer: state.issuer,
        algorithms: ['RS256'],
        clockTolerance: 0,
      });
      const typ = String(protectedHeader.typ ?? '').toLowerCase();
      if (!['at+jwt', 'application/at+jwt', 'jwt'].includes(typ)) throw new Error(`unexpected typ ${protectedHeader.typ}`);
      atPayload = payload;
    } catch (err) {
      throw new ApiError(401, 'invalid_token', `access token rejected: ${err.code ?? ''} ${err.message}`.trim());
    }
    if (typeof atPayload.aud !== 'string' || atPayload.aud !== SFM_RESOURCE) {
      throw new ApiError(401, 'invalid_token', `access token aud must be exactly ${SFM_RESOURCE}`);
    }
    if (typeof atPayload.exp !== 'number') throw new ApiError(401, 'invalid_token', 'access token has no exp');
    // Single-tenant clients: the SFM id; multi-tenant clients: the SFM journal id.
    if (!atPayload[SFM_ID_CLAIM] && typeof atPayload[JOURNAL_ID_CLAIM]?.journal_id !== 'string') {
      throw new ApiError(401, 'invalid_token', 'access token has no SFM id claim (nor an SFM journal id)');
    }
    const jkt = atPayload.cnf?.jkt;
    if (!jkt) throw new ApiError(401, 'invalid_token', 'access token is not DPoP-bound (no cnf.jkt)');

    const proof = req.headers.dpop;
    if (!proof) throw new ApiError(401, 'invalid_dpop_proof', 'missing DPoP proof');
    if (proof.includes(',')) throw new ApiError(401, 'invalid_dpop_proof', 'exactly one DPoP proof is allowed');
    let p;
    let ph;
    try {
      ({ payload: p, protectedHeader: ph } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: DPOP_ALGS,
      }));
    } catch (err) {
      throw new ApiError(401, 'invalid_dpop_proof', `DPoP proof rejected: ${err.message}`);
    }
    if (PRIVATE_MEMBERS.some((k) => k in ph.jwk)) throw new ApiError(401, 'invalid_dpop_proof', 'DPoP proof jwk must be a public key');
    if (typeof p.jti !== 'string' || !p.jti) throw new ApiError(401, 'invalid_dpop_proof', 'DPoP proof needs a jti');
    if (p.htm !== req.method) throw new ApiError(401, 'invalid_dpop_proof', 'DPoP proof htm mismatch');
    const htu = typeof p.htu === 'string' ? URL.parse(p.htu) : null;
    if (htu) { htu.search = ''; htu.hash = ''; }
    if (!htu || htu.href !== new URL(url.pathname, state.apiOrigin).href) {
      throw new ApiError(401, 'invalid_dpop_proof', 'DPoP proof htu mismatch');
    }
    if (typeof p.iat !== 'number' || Math.abs(epoch() - p.iat) > 60) {
      throw new ApiError(401, 'invalid_dpop_proof', 'DPoP proof iat is not within 60 seconds');
    }
    if (p.ath !== sha256b64u(at)) throw new ApiError(401, 'invalid_dpop_proof', 'DPoP proof ath mismatch');
    if (await calculateJwkThumbprint(ph.jwk) !== jkt) {
      throw new ApiError(401, 'invalid_token', 'DPoP proof key does not match the token cnf.jkt');
    }
    if (!rememberJti(p.jti)) throw new ApiError(401, 'invalid_dpop_proof', 'DPoP proof jti was used before');
    if (p.nonce !== currentApiNonce()) {
      throw new ApiError(401, 'use_dpop_nonce', p.nonce ? 'Stale DPoP nonce' : 'Authorization server requires nonce in DPoP proof');
    }
    return { token: atPayload, jkt };
  }

  // The signer's routes take the app's session cookie: CORS with credentials (exact origin).
  const CREDENTIALED = new Set(['assertion', 'app_session']);
  function apiCorsHeaders(req, name) {
    const origin = req.headers.origin;
    const h = { Vary: 'Origin' };
    if (origin && state.allowedOrigins.has(origin)) {
      h['Access-Control-Allow-Origin'] = origin;
      h['Access-Control-Expose-Headers'] = 'DPoP-Nonce, WWW-Authenticate';
      if (CREDENTIALED.has(name)) h['Access-Control-Allow-Credentials'] = 'true';
    }
    return h;
  }

  function apiSend(req, res, status, body, extra = {}, name = undefined) {
    const headers = {
      ...apiCorsHeaders(req, name),
      'Cache-Control': 'no-store',
      'Cross-Origin-Resource-Policy': 'cross-origin',
      'DPoP-Nonce': currentApiNonce(),
      ...extra,
    };
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
    } else {
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    }
  }

  /**
   * Signs a client assertion with a test client's key, no questions asked (in-process, for tests;
   * the HTTP signer in signer.mjs checks first). `assertionDetails` goes as it is (array or
   * object) into the claim `detailsClaim` (default assertion_details).
   */
  async function signAssertion({ clientId, audience = state.issuer, assertionDetails, detailsClaim = 'assertion_details' } = {}) {
    const client = state.clientById.get(clientId);
    if (!client) throw new ApiError(400, 'invalid_request', `unknown clientId ${clientId}`);
    if (typeof audience !== 'string' || !audience) throw new ApiError(400, 'invalid_request', 'audience must be a string');
    const key = await importJWK(client.privateJwk, client.alg);
    const now = epoch();
    const jwt = new SignJWT({
      ...(assertionDetails ? { [detailsClaim]: assertionDetails } : {}),
    })
      .setProtectedHeader({ alg: client.alg, kid: client.privateJwk.kid, typ: 'client-authentication+jwt' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 60)
      .setJti(randomUUID());
    return jwt.sign(key);
  }
  const signer = createSigner(state, { signAssertion });

  async function apiHandler(req, res) {
    const url = new URL(req.url, state.apiOrigin);
    const path = url.pathname;
    const isPreflight = req.method === 'OPTIONS';
    const name = path === '/assertion' ? 'assertion'
      : path === '/app-session' ? 'app_session'
        : path.startsWith('/api/') ? 'api' : 'other';
    if (isPreflight) {
      state.counters.preflight += 1;
      const key = `api:${name}`;
      state.counters.preflight_by_endpoint[key] = (state.counters.preflight_by_endpoint[key] ?? 0) + 1;
      apiSend(req, res, 204, undefined, {
        'Access-Control-Allow-Methods': name === 'app_session' ? 'GET, POST, DELETE' : 'GET, POST',
        'Access-Control-Allow-Headers': 'Authorization, DPoP, Content-Type',
        'Access-Control-Max-Age': '600',
      }, name);
      control.logRequest({ server: 'api', method: req.method, path, name, status: 204, preflight: true });
      return;
    }
    if (name === 'other') {
      apiSend(req, res, 404, { error: 'not_found' });
      control.logRequest({ server: 'api', method: req.method, path, name, status: 404 });
      return;
    }
    state.counters[name] = (state.counters[name] ?? 0) + 1;
    const fault = await control.nextFault(name, { server: 'api', method: req.method, path }, res);
    if (fault) {
      control.logRequest({ server: 'api', method: req.method, path, name, fault: fault.mode });
      if (typeof fault.mode === 'string') {
        control.rawFault(req, res, fault, { ...apiCorsHeaders(req, name), 'Cross-Origin-Resource-Policy': 'cross-origin' });
      } else {
        apiSend(req, res, fault.mode, {
          error: fault.mode === 503 ? 'temporarily_unavailable' : 'server_error',
          error_description: 'injected fault (test double)',
        }, fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {}, name);
      }
      return;
    }
    let status = 500;
    let error;
    try {
      if (name === 'assertion' || name === 'app_session') {
        const out = await (name === 'assertion' ? signer.assertion(req) : signer.appSession(req));
        status = out.status;
        apiSend(req, res, out.status, out.body, out.headers ?? {}, name);
        return;
      }
      const routes = {
        'GET /api/whoami': 'whoami',
        'POST /api/Session/create': 'session_create',
        'POST /api/Session/refresh': 'session_refresh',
        'POST /api/Session/end': 'session_end',
      };
      const op = routes[`${req.method} ${path}`];
      if (!op) throw new ApiError(404, 'not_found', `no route ${req.method} ${path}`);
      const { token, jkt } = await verifyDpopRequest(req, url);
      let body;
      if (op === 'whoami') {
        body = {
          sub: token.sub,
          client_id: token.client_id,
          pid: token['helseid://claims/identity/pid'],
          hpr_number: token['helseid://claims/hpr/hpr_number'],
          security_level: token['helseid://claims/identity/security_level'],
          sfm_id: token[SFM_ID_CLAIM],
          'sfm-id': token[SFM_ID_CLAIM],
          journal_id: token[JOURNAL_ID_CLAIM]?.journal_id,
          orgnr_parent: token[ORGNR_PARENT_CLAIM],
          orgnr_child: token[ORGNR_CHILD_CLAIM],
          jkt,
          scope: token.scope,
          aud: token.aud,
          exp: token.exp,
        };
      } else if (op === 'session_create') {
        const reqBody = await readJson(req);
        if (typeof reqBody.nonce !== 'string' || !reqBody.nonce) {
          throw new ApiError(400, 'invalid_request', 'body must be JSON {"nonce": "<base64>"}');
        }
        body = {
          id: randomUUID(),
          code: randomBytes(24).toString('base64url'),
          apiAddress: `${state.apiOrigin}/api`,
        };
      } else if (op === 'session_refresh') {
        body = { refreshed: true };
      } else {
        body = { ended: true };
      }
      status = 200;
      apiSend(req, res, 200, body);
    } catch (err) {
      if (err instanceof ApiError) {
        status = err.status;
        error = err.error;
        const extra = {};
        if (err.status === 401 && name === 'api') {
          const parts = [];
          if (err.error) parts.push(`error="${err.error}"`, `error_description="${quoteSafe(err.message)}"`);
          parts.push(`algs="${DPOP_ALGS.join(' ')}"`);
          extra['WWW-Authenticate'] = `DPoP ${parts.join(', ')}`;
        }
        apiSend(req, res, err.status, err.error ? { error: err.error, error_description: err.message } : { error_description: err.message }, extra, name);
        if (!state.options.quiet) console.error(`[helseid-double] api ${req.method} ${path}: ${err.status} ${err.error ?? ''} ${err.message}`);
      } else {
        status = err.status ?? 500;
        error = 'server_error';
        apiSend(req, res, status, { error: status === 500 ? 'server_error' : 'invalid_request', error_description: err.message }, {}, name);
        if (status === 500) console.error('[helseid-double] api error', err);
      }
    } finally {
      control.logRequest({ server: 'api', method: req.method, path, name, status, ...(error ? { error } : {}) });
    }
  }

  return { handler: apiHandler, currentApiNonce, rotateApiNonce, signAssertion };
}
