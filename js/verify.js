// verifyJwt's JWKS (src/shell/verify.rs): the values its last read of a key set saw, as a flat
// list: the set, `keys`, its length and, per key, the key and each member a JWK is read by
// (key_ops element by element). The same values (===) again mean the same parsed set, so a
// JWKS given again costs no JSON.stringify; anything assigned in place (a key replaced, a
// member changed, key_ops pushed) is a difference, and the set is read anew.
const MEMBERS = ['kty', 'kid', 'alg', 'use', 'key_ops', 'crv', 'x', 'y', 'n', 'e'];
let seen = [];

function values(jwks) {
  const out = [jwks];
  const keys = jwks !== null && typeof jwks === 'object' ? jwks.keys : undefined;
  out.push(keys);
  if (Array.isArray(keys)) {
    out.push(keys.length);
    for (let i = 0; i < keys.length; i += 1) {
      const key = keys[i];
      out.push(key);
      if (key === null || typeof key !== 'object') continue;
      for (const m of MEMBERS) {
        const v = key[m];
        out.push(v);
        if (Array.isArray(v)) out.push(v.length, ...v);
      }
    }
  }
  return out;
}

// Whether `jwks` holds the values remembered; with `read`, remembers them first (once the set
// was parsed). One export: wasm-bindgen hands this module's namespace to the wasm once per
// function it imports.
export function jwksSeen(jwks, read) {
  const now = values(jwks);
  if (read) seen = now;
  return now.length === seen.length && now.every((v, i) => v === seen[i]);
}
