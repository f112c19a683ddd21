// Protocol fault modes of the HelseID test double (tests only): what the OP sends, altered the
// way the OpenID Foundation's RP and FAPI 2.0 client conformance modules alter it. The double
// applies them in its Koa middleware (double.mjs); this file holds the pure parts: the fault
// description, its presets, and the JWT / JSON / query rewriting.
//
// A fault (every member optional):
//
//   {
//     idToken:      TokenFault,   // the id_token of token responses
//     accessToken:  TokenFault,   // the access_token of token responses
//     grant:        'authorization_code' | 'refresh_token',  // only token responses of this grant
//     tokenResponse:         Members,  // members of the token response JSON (expires_in, token_type, ...)
//     authorizationResponse: Members,  // query parameters of the redirect back to the app (iss, state, code)
//     discovery:             Members,  // members of /.well-known/openid-configuration
//     jwks:         { removeKid: true },  // the JWKS without `kid`
//     rotateSigningKey: true,     // a new OP signing key (new kid) from now on: the JWKS serves only it,
//                                 // every token is re-signed with it
//   }
//   Members    = { set: { name: value }, remove: [name] }
//   TokenFault = Members & { header: Members, signature: 'flip' | 'none', alg: 'PS256' | ... }
//
// Values in `set` may be JSON, or one of:
//   { $now: n }      epoch seconds + n (e.g. { $now: -604800 }: a week ago)
//   { $wrap: true }  the current value as a one-element array
//   { $append: v }   the current value as an array, with v appended
//   { $int: '9007199254740993' }  (idToken / accessToken only) that integer, written into the
//                    token's JSON exactly as given (beyond what a JS number holds, e.g. >= 2^53)
//
// `signature: 'flip'` flips a bit of the (re-made) signature; `'none'` makes an unsecured JWS
// (header alg "none", empty signature). `alg` re-signs with the OP's RSA key under another
// algorithm. Any altered token is re-signed with the OP's current private key, so only the
// alteration is wrong.

export const UNTRUSTED = 'https://untrusted.example';
export const EVIL_ISSUER = 'https://evil.example';

/** Named faults, after the conformance modules they mirror (see README.md). */
export const FAULT_PRESETS = Object.freeze({
  // ID token (OIDC Core 3.1.3.7)
  'id-token-iss-invalid': { idToken: { set: { iss: EVIL_ISSUER } } },
  'id-token-iss-missing': { idToken: { remove: ['iss'] } },
  'id-token-aud-invalid': { idToken: { set: { aud: 'another-client' } } },
  'id-token-aud-missing': { idToken: { remove: ['aud'] } },
  'id-token-aud-secondary-untrusted': { idToken: { set: { aud: { $append: UNTRUSTED } }, remove: ['azp'] } },
  'id-token-aud-array': { idToken: { set: { aud: { $wrap: true } } } },
  'id-token-nonce-invalid': { idToken: { set: { nonce: 'not-the-nonce-that-was-sent' } } },
  'id-token-nonce-missing': { idToken: { remove: ['nonce'] } },
  'id-token-sub-missing': { idToken: { remove: ['sub'] } },
  'id-token-iat-missing': { idToken: { remove: ['iat'] } },
  'id-token-iat-week-old': { idToken: { set: { iat: { $now: -7 * 24 * 3600 } } } },
  'id-token-exp-past': { idToken: { set: { exp: { $now: -3600 } } } },
  'id-token-exp-missing': { idToken: { remove: ['exp'] } },
  'id-token-signature-invalid': { idToken: { signature: 'flip' } },
  'id-token-alg-none': { idToken: { signature: 'none' } },
  'id-token-alg-ps256': { idToken: { alg: 'PS256' } },
  'kid-absent-single-jwks': {
    jwks: { removeKid: true },
    idToken: { header: { remove: ['kid'] } },
    accessToken: { header: { remove: ['kid'] } },
  },
  'signing-key-rotation': { rotateSigningKey: true },
  // Discovery (OIDC Discovery 4.3)
  'discovery-issuer-mismatch': { discovery: { set: { issuer: EVIL_ISSUER } } },
  // Authorization response (RFC 6749 §4.1.2, RFC 9207)
  'authorization-response-iss-invalid': { authorizationResponse: { set: { iss: EVIL_ISSUER } } },
  'authorization-response-iss-missing': { authorizationResponse: { remove: ['iss'] } },
  'authorization-response-state-invalid': { authorizationResponse: { set: { state: 'forged-state' } } },
  'authorization-response-state-missing': { authorizationResponse: { remove: ['state'] } },
  // Token response (RFC 6749 §5.1, RFC 9449 §5)
  'token-response-without-expires-in': { tokenResponse: { remove: ['expires_in'] } },
  'token-type-lowercase': { tokenResponse: { set: { token_type: 'dpop' } } },
  'token-type-bearer': { tokenResponse: { set: { token_type: 'Bearer' } } },
  // Access token (RFC 9068 §4, RFC 9449 §6, HelseID)
  'access-token-aud-other': { accessToken: { set: { aud: 'e-helse:other.api' } } },
  'access-token-no-sfm-id': { accessToken: { remove: ['e-helse:sfm.api/client/claims/sfm-id'] } },
  'access-token-security-level-3': { accessToken: { set: { 'helseid://claims/identity/security_level': '3' } } },
  'access-token-cnf-other-key': { accessToken: { set: { cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' } } } },
  // Refresh (OIDC Core 12.2)
  'refresh-id-token-iss-invalid': { grant: 'refresh_token', idToken: { set: { iss: EVIL_ISSUER } } },
  'refresh-id-token-sub-invalid': { grant: 'refresh_token', idToken: { set: { sub: 'c29tZW9uZS1lbHNl+/=' } } },
});

const SECTIONS = ['idToken', 'accessToken', 'tokenResponse', 'authorizationResponse', 'discovery'];
const TOP_KEYS = new Set([...SECTIONS, 'grant', 'jwks', 'rotateSigningKey']);
const TOKEN_KEYS = new Set(['set', 'remove', 'header', 'signature', 'alg']);
const MEMBER_KEYS = new Set(['set', 'remove']);
const RSA_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);

function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkMembers(m, where, allowed = MEMBER_KEYS, { ints = false } = {}) {
  if (!isObject(m)) throw new TypeError(`fault ${where} must be an object`);
  for (const k of Object.keys(m)) if (!allowed.has(k)) throw new TypeError(`unknown fault key ${where}.${k}`);
  if (m.set !== undefined && !isObject(m.set)) throw new TypeError(`fault ${where}.set must be an object`);
  for (const [name, v] of Object.entries(m.set ?? {})) {
    if (!isObject(v) || !('$int' in v)) continue;
    if (!ints) throw new TypeError(`fault ${where}.set.${name}: $int is for idToken and accessToken only`);
    if (typeof v.$int !== 'string' || !/^-?(0|[1-9]\d*)$/.test(v.$int)) {
      throw new TypeError(`fault ${where}.set.${name}.$int must be a decimal integer as a string`);
    }
  }
  if (m.remove !== undefined && !(Array.isArray(m.remove) && m.remove.every((r) => typeof r === 'string'))) {
    throw new TypeError(`fault ${where}.remove must be an array of names`);
  }
}

/** Validates one fault object; throws a TypeError naming what is wrong. */
export function checkFault(f) {
  if (!isObject(f)) throw new TypeError('a fault is an object, a preset name, or a list of them');
  for (const k of Object.keys(f)) if (!TOP_KEYS.has(k)) throw new TypeError(`unknown fault key ${k}`);
  for (const s of ['tokenResponse', 'authorizationResponse', 'discovery']) if (f[s] !== undefined) checkMembers(f[s], s);
  for (const s of ['idToken', 'accessToken']) {
    if (f[s] === undefined) continue;
    checkMembers(f[s], s, TOKEN_KEYS, { ints: true });
    if (f[s].header !== undefined) checkMembers(f[s].header, `${s}.header`, MEMBER_KEYS, { ints: true });
    if (f[s].signature !== undefined && !['flip', 'none'].includes(f[s].signature)) {
      throw new TypeError(`fault ${s}.signature must be "flip" or "none"`);
    }
    if (f[s].alg !== undefined && !RSA_ALGS.has(f[s].alg)) throw new TypeError(`fault ${s}.alg must be an RSA JWS alg`);
  }
  if (f.grant !== undefined && !['authorization_code', 'refresh_token'].includes(f.grant)) {
    throw new TypeError('fault grant must be "authorization_code" or "refresh_token"');
  }
  if (f.jwks !== undefined) {
    if (!isObject(f.jwks) || Object.keys(f.jwks).some((k) => k !== 'removeKid')) throw new TypeError('fault jwks is { removeKid: true }');
  }
  if (f.rotateSigningKey !== undefined && typeof f.rotateSigningKey !== 'boolean') {
    throw new TypeError('fault rotateSigningKey must be a boolean');
  }
  return f;
}

function mergeMembers(a = {}, b = {}) {
  const out = { ...a, ...b };
  if (a.set || b.set) out.set = { ...a.set, ...b.set };
  if (a.remove || b.remove) out.remove = [...(a.remove ?? []), ...(b.remove ?? [])];
  if (a.header || b.header) out.header = mergeMembers(a.header, b.header);
  return out;
}

/**
 * A fault from a preset name, a fault object, or a list of both (merged left to right).
 * @returns {object} a validated fault (a fresh object)
 */
export function resolveFault(spec) {
  const parts = Array.isArray(spec) ? spec : [spec];
  let out = {};
  for (const p of parts) {
    let f = p;
    if (typeof p === 'string') {
      f = FAULT_PRESETS[p];
      if (!f) throw new TypeError(`unknown fault preset ${p} (known: ${Object.keys(FAULT_PRESETS).join(', ')})`);
    }
    checkFault(f);
    const next = { ...out, ...structuredClone(f) };
    for (const s of SECTIONS) if (out[s] || f[s]) next[s] = mergeMembers(out[s], structuredClone(f[s]));
    if (out.jwks || f.jwks) next.jwks = { ...out.jwks, ...f.jwks };
    out = next;
  }
  return out;
}

/** An integer written into a token's JSON as given (`{ $int }`): see toJson(). */
class IntLiteral {
  constructor(text) { this.text = text; }
}

/** Resolves `{ $now }`, `{ $wrap }`, `{ $append }`, `{ $int }` against the current value. */
function value(v, current, now) {
  if (isObject(v)) {
    if (typeof v.$now === 'number') return now + v.$now;
    if (typeof v.$int === 'string') return new IntLiteral(v.$int);
    if (v.$wrap === true) return current === undefined ? [] : [].concat(current);
    if ('$append' in v) return [...(current === undefined ? [] : [].concat(current)), v.$append];
  }
  return structuredClone(v);
}

/** Applies `{ set, remove }` to a plain object in place (remove first, then set). */
export function alterMembers(obj, members, now = Math.floor(Date.now() / 1000)) {
  if (!members) return obj;
  for (const name of members.remove ?? []) delete obj[name];
  for (const [name, v] of Object.entries(members.set ?? {})) obj[name] = value(v, obj[name], now);
  return obj;
}

/** Applies `{ set, remove }` to the query of a URL; returns the new URL string. */
export function alterQuery(href, members, now) {
  const url = new URL(href);
  const params = Object.fromEntries(url.searchParams);
  alterMembers(params, members, now);
  url.search = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
  return url.href;
}

/** JSON.stringify, with each IntLiteral written as its digits (no JS number in between). */
function toJson(o) {
  const ints = [];
  const text = JSON.stringify(o, (k, v) => (v instanceof IntLiteral ? `\u0000int:${ints.push(v.text) - 1}\u0000` : v));
  return text.replace(/"\\u0000int:(\d+)\\u0000"/g, (_, i) => ints[Number(i)]);
}
const b64json = (o) => Buffer.from(toJson(o)).toString('base64url');
const unb64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

/**
 * Decodes a compact JWS, applies a TokenFault and re-signs it.
 * @param {string} token
 * @param {object} tf TokenFault (may be empty: re-sign only, e.g. after a key rotation)
 * @param {{ kid: string, sign(alg: string, input: string): Promise<Buffer> }} signer the OP's current key
 */
export async function alterJwt(token, tf, signer, now = Math.floor(Date.now() / 1000)) {
  const [h, p] = token.split('.');
  const header = unb64json(h);
  const payload = unb64json(p);
  if (header.kid !== undefined) header.kid = signer.kid;
  if (tf.alg) header.alg = tf.alg;
  alterMembers(header, tf.header, now);
  alterMembers(payload, tf, now);
  if (tf.signature === 'none') {
    header.alg = 'none';
    return `${b64json(header)}.${b64json(payload)}.`;
  }
  const input = `${b64json(header)}.${b64json(payload)}`;
  const signature = await signer.sign(header.alg, input);
  if (tf.signature === 'flip') signature[signature.length >> 1] ^= 0x01;
  return `${input}.${signature.toString('base64url')}`;
}
