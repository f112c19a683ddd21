// A resource server's check of a DPoP-bound request (RFC 9449), for the portal stand-ins
// (portals.mjs): the access token (signature against the OP's keys, iss, typ, exp, aud exactly one
// string, cnf.jkt, plus the caller's claim checks) and the DPoP proof (typ, alg, public jwk,
// signature, htm, htu, iat within 60 s, jti of 16+ characters and never seen before, ath, key
// thumbprint = cnf.jkt), then the server nonce. One verifier per server: its own nonce and jti
// memory. The demo API in backend.mjs has its own copy of the same rules (SFM audience only).
import { randomBytes } from 'node:crypto';
import { jwtVerify, EmbeddedJWK, calculateJwkThumbprint } from 'jose';
import { sha256b64u, epoch } from './http-util.mjs';
import { DPOP_ALGS, PRIVATE_MEMBERS } from './provider.mjs';

/** An answer a portal stand-in sends instead of its result: status, OAuth-style error, text. */
export class PortalError extends Error {
  constructor(status, error, description, extra = {}) {
    super(description);
    this.status = status;
    this.error = error;
    this.extra = extra;
  }
}

const quoteSafe = (s) => String(s).replace(/["\\\r\n]/g, "'");

/** `WWW-Authenticate` of a 401: `DPoP error="...", error_description="...", algs="..."`. */
export function dpopChallenge(err) {
  const parts = [];
  if (err.error) parts.push(`error="${err.error}"`, `error_description="${quoteSafe(err.message)}"`);
  parts.push(`algs="${DPOP_ALGS.join(' ')}"`);
  return `DPoP ${parts.join(', ')}`;
}

/** The shortest jti accepted: 16 characters (96 bits as base64url). */
export const MIN_JTI_LENGTH = 16;

/**
 * @param {object} state the state object of startDouble() (issuer, keys.verifier, options.apiNonceTtl)
 * @param {object} opts
 * @param {() => string} opts.origin the server's origin (htu = origin + request path)
 * @param {string} opts.audience the only accepted `aud` (a single string)
 * @param {(token: object) => void} [opts.checkClaims] throws PortalError(401, 'invalid_token', ...)
 * @returns {{ verify(req, url): Promise<{token: object, jkt: string, accessToken: string}>,
 *   currentNonce(): string, rotateNonce(): string }}
 */
export function createDpopVerifier(state, { origin, audience, checkClaims = () => {} }) {
  let nonce = { value: randomBytes(24).toString('base64url'), at: epoch() };
  function rotateNonce() {
    nonce = { value: randomBytes(24).toString('base64url'), at: epoch() };
    return nonce.value;
  }
  function currentNonce() {
    if (epoch() - nonce.at >= state.options.apiNonceTtl) rotateNonce();
    return nonce.value;
  }
  const seenJtis = new Map(); // jti -> forget after (epoch)
  function rememberJti(jti) {
    const now = epoch();
    for (const [k, exp] of seenJtis) if (exp < now) seenJtis.delete(k);
    if (seenJtis.has(jti)) return false;
    seenJtis.set(jti, now + 300);
    return true;
  }
  const invalidToken = (d) => new PortalError(401, 'invalid_token', d);
  const invalidProof = (d) => new PortalError(401, 'invalid_dpop_proof', d);

  async function verify(req, url) {
    const authz = req.headers.authorization;
    if (!authz) throw new PortalError(401, undefined, 'missing Authorization header');
    const m = /^(\S+) +(\S+)$/.exec(authz);
    if (!m || m[1].toLowerCase() !== 'dpop') throw invalidToken('Authorization must use the DPoP scheme');
    const accessToken = m[2];
    let token;
    try {
      const { payload, protectedHeader } = await jwtVerify(accessToken, state.keys.verifier, {
        issuer: state.issuer,
        algorithms: ['RS256'],
        clockTolerance: 0,
      });
      const typ = String(protectedHeader.typ ?? '').toLowerCase();
      if (!['at+jwt', 'application/at+jwt'].includes(typ)) throw new Error(`unexpected typ ${protectedHeader.typ}`);
      token = payload;
    } catch (err) {
      throw invalidToken(`access token rejected: ${err.code ?? ''} ${err.message}`.trim());
    }
    if (typeof token.aud !== 'string' || token.aud !== audience) throw invalidToken(`access token aud must be exactly ${audience}`);
    if (typeof token.exp !== 'number') throw invalidToken('access token has no exp');
    const jkt = token.cnf?.jkt;
    if (typeof jkt !== 'string' || !jkt) throw invalidToken('access token is not DPoP-bound (no cnf.jkt)');
    checkClaims(token);

    const proof = req.headers.dpop;
    if (!proof) throw invalidProof('missing DPoP proof');
    if (proof.includes(',')) throw invalidProof('exactly one DPoP proof is allowed');
    let p;
    let ph;
    try {
      ({ payload: p, protectedHeader: ph } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGS }));
    } catch (err) {
      throw invalidProof(`DPoP proof rejected: ${err.message}`);
    }
    if (PRIVATE_MEMBERS.some((k) => k in ph.jwk)) throw invalidProof('DPoP proof jwk must be a public key');
    if (typeof p.jti !== 'string' || p.jti.length < MIN_JTI_LENGTH) {
      throw invalidProof(`DPoP proof jti must have at least ${MIN_JTI_LENGTH} characters (96 bits of randomness)`);
    }
    if (p.htm !== req.method) throw invalidProof('DPoP proof htm mismatch');
    const htu = typeof p.htu === 'string' ? URL.parse(p.htu) : null;
    if (htu) { htu.search = ''; htu.hash = ''; }
    if (!htu || htu.href !== new URL(url.pathname, origin()).href) throw invalidProof('DPoP proof htu mismatch');
    if (typeof p.iat !== 'number' || Math.abs(epoch() - p.iat) > 60) throw invalidProof('DPoP proof iat is not within 60 seconds');
    if (p.ath !== sha256b64u(accessToken)) throw invalidProof('DPoP proof ath mismatch');
    if (await calculateJwkThumbprint(ph.jwk) !== jkt) throw invalidToken('DPoP proof key does not match the token cnf.jkt');
    if (!rememberJti(p.jti)) throw invalidProof('DPoP proof jti was used before');
    if (p.nonce !== currentNonce()) {
      throw new PortalError(401, 'use_dpop_nonce', p.nonce ? 'Stale DPoP nonce' : 'Resource server requires nonce in DPoP proof');
    }
    return { token, jkt, accessToken };
  }

  return { verify, currentNonce, rotateNonce };
}
