// The standalone API and loading the package. verifyJwt (API.md): the fast path (key already
// imported: everything up to WebCrypto runs at once and WebCrypto's promise settles the call by
// its number) must give every call its own answer, in the same order of checks as the first
// call, which imports the key. And the README's way to preload the wasm.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startStack, launchBrowser } from './harness.mjs';
import { openApp } from './flow.mjs';

const ISS = 'https://helseid-sts.test.nhn.no';
const SFM = 'e-helse:sfm.api';

let stack;
let browser;

before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

async function keyPair(alg, kid) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { modulusLength: 2048, extractable: true });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function sign(key, claims, { iss = ISS, expIn = 600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(iss).setAudience(SFM).setIssuedAt(now - 5).setExpirationTime(now + expIn)
    .sign(key.privateKey);
}

/** The same token with one byte of its signature changed. */
function flipped(token) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[7] ^= 1;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

/** Runs `fn(arg)` in a fresh page of the app (window.helseid loaded), then closes the page. */
async function inApp(fn, arg) {
  const page = await browser.newPage();
  try {
    await openApp(page, stack.appOrigin);
    return await page.evaluate(fn, arg);
  } finally {
    await page.close();
  }
}

/** Two RS256 keys under the same kid, and a token signed with the first. */
async function twoKeysOneKid() {
  const [a, b] = [await keyPair('RS256', 'k1'), await keyPair('RS256', 'k1')];
  return { token: await sign(a, { sub: 'a' }), ja: a.jwk, jb: b.jwk, iss: ISS };
}

test('verifyJwt: 64 concurrent calls with imported keys each get their own answer (sub, signature_invalid, iss, token_expired), the same as one by one', async () => {
  const rs = await keyPair('RS256', 'rs');
  const es = await keyPair('ES256', 'es');
  const cases = [];
  for (let i = 0; i < 16; i += 1) {
    const key = i % 2 ? es : rs;
    cases.push({ token: await sign(key, { sub: `user-${i}` }), want: { sub: `user-${i}` } });
    cases.push({ token: flipped(await sign(key, { sub: `forged-${i}` })), want: { code: 'signature_invalid' } });
    cases.push({ token: await sign(key, { sub: `other-${i}` }, { iss: 'https://other.example' }), want: { code: 'claim_invalid', claim: 'iss' } });
    cases.push({ token: await sign(key, { sub: `old-${i}` }, { expIn: -120 }), want: { code: 'token_expired', claim: 'exp' } });
  }
  // A forged token whose claims also fail: the signature is checked first (RFC 7515 §5.2).
  cases.push({ token: flipped(await sign(rs, { sub: 'x' }, { iss: 'https://other.example' })), want: { code: 'signature_invalid' } });
  const out = await inApp(async ({ tokens, jwks, iss }) => {
    const opts = { jwks, issuer: iss, audience: 'e-helse:sfm.api', typ: 'at+jwt' };
    const answer = (t) => window.helseid.verifyJwt(t, opts).then(
      (claims) => ({ sub: claims.sub }),
      (e) => ({ code: e.code, ...(e.claim ? { claim: e.claim } : {}) }),
    );
    // First one by one (the first call of each key imports it), then all at once.
    const sequential = [];
    for (const t of tokens) sequential.push(await answer(t));
    const concurrent = await Promise.all(tokens.map(answer));
    return { sequential, concurrent };
  }, { tokens: cases.map((c) => c.token), jwks: { keys: [rs.jwk, es.jwk] }, iss: ISS });
  const want = cases.map((c) => c.want);
  assert.deepEqual(out.sequential, want);
  assert.deepEqual(out.concurrent, want);
});

test('verifyJwt: a key given under another kid or a changed JWKS is looked up by its key material, never by kid alone', async () => {
  const out = await inApp(async ({ token, ja, jb, iss }) => {
    const v = (keys) => window.helseid.verifyJwt(token, { jwks: { keys }, issuer: iss, audience: 'e-helse:sfm.api' })
      .then((c) => c.sub, (e) => e.code);
    // Imported under k1 from a; then b's key under the same kid must not reuse a's import.
    return [await v([ja]), await v([jb]), await v([ja]), await v([{ ...ja, kid: 'k1', alg: undefined }])];
  }, await twoKeysOneKid());
  assert.deepEqual(out, ['a', 'signature_invalid', 'a', 'a']);
});

test('verifyJwt: an unknown option is config_invalid however the options are built (plain, with undefined members, inheriting known ones)', async () => {
  const rs = await keyPair('RS256', 'rs');
  const out = await inApp(async ({ token, jwk, iss }) => {
    const base = { jwks: { keys: [jwk] }, issuer: iss, audience: 'e-helse:sfm.api' };
    const v = (opts) => window.helseid.verifyJwt(token, opts).then((c) => c.sub, (e) => `${e.code}: ${e.message}`);
    const inherited = Object.assign(Object.create({ issuer: iss }), { jwks: base.jwks, audiance: 'e-helse:sfm.api' });
    const inheritedOk = Object.assign(Object.create({ issuer: iss }), { jwks: base.jwks, audience: 'e-helse:sfm.api' });
    return [
      await v(base),
      await v({ ...base, audiance: 'x' }),
      await v({ ...base, nonce: undefined }),
      await v({ ...base, nonce: undefined, clockTolerance: 5 }),
      await v(inherited),
      await v(inheritedOk),
    ];
  }, { token: await sign(rs, { sub: 'a' }), jwk: rs.jwk, iss: ISS });
  assert.deepEqual(out, [
    'a',
    'config_invalid: invalid verifyJwt options: unknown field `audiance`',
    'a',
    'config_invalid: invalid verifyJwt options: unknown field `clockTolerance`',
    'config_invalid: invalid verifyJwt options: unknown field `audiance`',
    'a',
  ]);
});

test('README: the wasm preloaded with <link rel=preload as=fetch crossorigin> is the one init() uses (one request, no preload warning)', async () => {
  const page = await browser.newPage();
  const wasm = [];
  const warnings = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(r.url()); });
  page.on('console', (m) => { if (/preload/i.test(m.text())) warnings.push(m.text()); });
  try {
    await page.goto(`${stack.appOrigin}/e2e/preload.html`);
    await page.waitForFunction(() => window.ready === true);
    assert.equal(await page.evaluate(() => window.sub), 'a');
    // Chromium warns about an unused preload on the load event; the page has loaded by now.
    await page.evaluate(() => new Promise((r) => (document.readyState === 'complete' ? r() : addEventListener('load', r))));
    assert.deepEqual({ requests: wasm.length, warnings }, { requests: 1, warnings: [] });
  } finally {
    await page.close();
  }
});

test('verifyJwt: a JWKS object changed in place counts at once (a key replaced or taken out, a member or a key_ops entry assigned: no longer trusted)', async () => {
  const out = await inApp(async ({ token, ja, jb, iss }) => {
    const jwks = { keys: [ja] };
    const v = () => window.helseid.verifyJwt(token, { jwks, issuer: iss, audience: 'e-helse:sfm.api' })
      .then((c) => c.sub, (e) => e.code);
    const seen = [await v()];
    jwks.keys[0] = jb; // rotated in place: same object, same kid, another key
    seen.push(await v());
    jwks.keys = []; // taken out
    seen.push(await v());
    jwks.keys.push(ja);
    seen.push(await v());
    // A member of a key assigned in place (the set is remembered by its values, not copied).
    const n = ja.n;
    ja.n = jb.n;
    seen.push(await v());
    ja.n = n;
    seen.push(await v());
    ja.key_ops = ['verify'];
    seen.push(await v());
    ja.key_ops[0] = 'sign'; // an element of key_ops
    seen.push(await v());
    delete ja.key_ops;
    seen.push(await v());
    // A set whose getter throws is refused (a rejection, never a throw), and trusted again
    // once it reads.
    let fail = true;
    Object.defineProperty(jwks, 'keys', { configurable: true, get: () => { if (fail) throw new Error('no keys'); return [ja]; } });
    seen.push(await v());
    fail = false;
    seen.push(await v());
    return seen;
  }, await twoKeysOneKid());
  assert.deepEqual(out, ['a', 'signature_invalid', 'unknown_key', 'a', 'signature_invalid', 'a', 'a', 'unknown_key', 'a', 'config_invalid', 'a']);
});
