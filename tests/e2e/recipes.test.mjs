// Issue 21: your own HTTP client. `client.authHeaders` and `client.takeDpopNonce` (API.md
// "Headers for your own HTTP client"), and the README's recipes as they are in recipes/: axios
// interceptors and an Angular HttpClient functional interceptor, bundled with esbuild and run
// in the page against the double's demo API, which demands a DPoP nonce. In page mode and with
// the session host (worker), where the host makes the page's proofs and must learn the nonces
// the page takes.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { startStack, launchBrowser } from './harness.mjs';
import { clientOptions, login } from './flow.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';

let stack;
let browser;
let bundles;

before(async () => {
  bundles = await mkdtemp(join(tmpdir(), 'helseid-wasm-recipes-'));
  await build({
    entryPoints: [
      join(REPO_ROOT, 'tests', 'e2e', 'recipes', 'axios-app.js'),
      join(REPO_ROOT, 'tests', 'e2e', 'recipes', 'angular-app.ts'),
    ],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    outdir: bundles,
    logLevel: 'error',
  });
  [stack, browser] = await Promise.all([
    startStack({
      static: {
        routes: {
          '/pkg/': join(REPO_ROOT, 'pkg'),
          '/e2e/': join(REPO_ROOT, 'tests', 'e2e', 'pages'),
          '/recipes/': bundles,
        },
      },
    }),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  await stack?.close();
  if (bundles) await rm(bundles, { recursive: true, force: true });
});

/** The demo API's requests since the last reset, as `METHOD path status error`. */
function apiRequests() {
  return stack.double.requests()
    .filter((r) => r.server === 'api' && !r.preflight)
    .map((r) => `${r.method} ${r.path} ${r.status}${r.error ? ` ${r.error}` : ''}`);
}

/** A clean slate at the double, and a nonce the page cannot know yet. */
function freshNonce() {
  stack.double.reset();
  stack.double.rotateApiNonce();
}

/**
 * Runs `fn({ client, recording, seen, helseid }, arg)` in the page. `recording` is the client
 * as a recipe sees it, recording what `authHeaders` gave (the proof's claims) and what
 * `takeDpopNonce` answered.
 */
async function inPage(page, fn, arg) {
  return page.evaluate(async ({ src, arg }) => {
    const client = window.client;
    const seen = { proofs: [], taken: [] };
    const recording = {
      authHeaders: async (input, o) => {
        const h = await client.authHeaders(input, o);
        const [scheme] = h.Authorization.split(' ');
        seen.proofs.push({ scheme, claims: window.helseid.decodeJwt(h.DPoP).claims, names: Object.keys(h) });
        return h;
      },
      takeDpopNonce: (r) => {
        const retry = client.takeDpopNonce(r);
        seen.taken.push({ status: r.status, retry });
        return retry;
      },
    };
    // eslint-disable-next-line no-new-func
    const f = new Function(`return (${src})`)();
    try {
      return { ...(await f({ client, recording, seen, helseid: window.helseid }, arg)), seen };
    } catch (e) {
      return { error: window.helseid.isHelseIdError(e) ? window.errorInfo(e) : { message: String(e?.message ?? e) }, seen };
    }
  }, { src: fn.toString(), arg });
}

for (const host of ['page', 'worker']) {
  describe(`${host} mode`, () => {
    let page;
    let api;

    before(async () => {
      page = await browser.newPage();
      api = stack.double.apiOrigin;
      const opts = clientOptions(stack, { host, extra: { autoRefresh: false } });
      await login(page, stack, opts);
      assert.equal(await page.evaluate(() => window.client.sessionHost()), host === 'worker' ? 'worker' : 'page-holder');
    });

    after(async () => {
      await page?.close();
    });

    test(`axios recipe: a GET through the API's use_dpop_nonce challenge is sent twice, the second time with the nonce, which is kept for the next call (${host})`, async () => {
      freshNonce();
      const out = await inPage(page, async ({ recording }, api) => {
        const { helseIdAxios } = await import('/recipes/axios-app.js');
        const http = helseIdAxios(recording);
        const first = await http.get(`${api}/api/whoami`);
        const second = await http.get(`${api}/api/whoami`, { params: { q: '1' } });
        return { statuses: [first.status, second.status], pid: first.data.pid };
      }, api);
      assert.equal(out.error, undefined, JSON.stringify(out.error));
      assert.deepEqual(out.statuses, [200, 200]);
      assert.equal(out.pid, '06828399789');
      // Exactly three requests: the challenge, its one retry, and the next call.
      assert.deepEqual(apiRequests(), [
        'GET /api/whoami 401 use_dpop_nonce',
        'GET /api/whoami 200',
        'GET /api/whoami 200',
      ]);
      assert.deepEqual(out.seen.taken, [
        { status: 401, retry: true },
        { status: 200, retry: false },
        { status: 200, retry: false },
      ]);
      const nonce = stack.double.currentApiNonce();
      const [p1, p2, p3] = out.seen.proofs;
      assert.notEqual(p1.claims.nonce, nonce, 'the first proof cannot know the new nonce');
      assert.equal(p2.claims.nonce, nonce, 'the retry carries the nonce the challenge gave');
      assert.equal(p3.claims.nonce, nonce, 'the next call reuses it');
      for (const p of out.seen.proofs) {
        assert.deepEqual(p.names, ['Authorization', 'DPoP']);
        assert.equal(p.scheme, 'DPoP');
        assert.equal(p.claims.htm, 'GET');
        assert.equal(p.claims.htu, `${api}/api/whoami`, 'no query in htu');
        assert.match(p.claims.ath, /^[A-Za-z0-9_-]{43}$/);
      }
    });

    test(`axios recipe: a POST with a body, through the challenge: htm is POST and the retry sends the body again (${host})`, async () => {
      freshNonce();
      const out = await inPage(page, async ({ recording }, api) => {
        const { helseIdAxios } = await import('/recipes/axios-app.js');
        const res = await helseIdAxios(recording).post(`${api}/api/Session/create`, { nonce: 'Ym9keQ==' });
        return { status: res.status, id: res.data.id };
      }, api);
      assert.equal(out.error, undefined, JSON.stringify(out.error));
      assert.equal(out.status, 200);
      // The double answers 400 invalid_request to a Session/create without {"nonce"} in the body.
      assert.match(out.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(apiRequests(), ['POST /api/Session/create 401 use_dpop_nonce', 'POST /api/Session/create 200']);
      assert.deepEqual(out.seen.proofs.map((p) => p.claims.htm), ['POST', 'POST']);
      assert.equal(out.seen.proofs[1].claims.nonce, stack.double.currentApiNonce());
    });

    test(`authHeaders to an origin not in apiOrigins is origin_not_allowed, directly and through axios, and nothing is sent (${host})`, async () => {
      stack.double.reset();
      const out = await inPage(page, async ({ client, recording }, { api, issuer }) => {
        const { helseIdAxios } = await import('/recipes/axios-app.js');
        const code = (p) => p.then(() => 'resolved', (e) => e.code);
        return {
          unlisted: await code(client.authHeaders(`${issuer}/api/whoami`)),
          otherResource: await code(client.authHeaders(`${api}/api/whoami`, { resource: 'nhn:kjernejournal' })),
          viaAxios: await code(helseIdAxios(recording).get(`${issuer}/api/whoami`)),
          viaFetch: await code(client.fetch(`${issuer}/api/whoami`)),
        };
      }, { api, issuer: stack.double.issuer });
      assert.deepEqual(
        { unlisted: out.unlisted, otherResource: out.otherResource, viaAxios: out.viaAxios, viaFetch: out.viaFetch },
        { unlisted: 'origin_not_allowed', otherResource: 'origin_not_allowed', viaAxios: 'origin_not_allowed', viaFetch: 'origin_not_allowed' },
      );
      assert.deepEqual(stack.double.requests(), [], 'no request reached the double');
      assert.equal(out.seen.proofs.length, 0);
    });

    test(`takeDpopNonce reads a Response, Headers, a record in any case and an object with get(); the nonce it takes is in the next proof (${host})`, async () => {
      stack.double.reset();
      const nonce = stack.double.rotateApiNonce();
      const out = await inPage(page, async ({ client, helseid }, { api, nonce }) => {
        const url = `${api}/api/whoami`;
        const challenge = 'DPoP error="use_dpop_nonce", algs="ES256"';
        const take = (r) => {
          try {
            return client.takeDpopNonce(r);
          } catch (e) {
            return e.code;
          }
        };
        const answers = {
          response: take(new Response(null, { status: 401, headers: { 'WWW-Authenticate': challenge } })),
          headers: take({ url, status: 401, headers: new Headers({ 'www-authenticate': challenge, 'dpop-nonce': 'stale' }) }),
          recordNoNonce: take({ url, status: 401, headers: { 'WWW-Authenticate': challenge } }),
          otherError: take({ url, status: 401, headers: { 'WWW-Authenticate': 'DPoP error="invalid_token"', 'DPoP-Nonce': 'stale' } }),
          ok: take({ url, status: 200, headers: {} }),
          noUrl: take({ status: 401, headers: { 'dpop-nonce': 'n' } }),
          getter: take({ url, status: 401, headers: { get: (n) => ({ 'www-authenticate': challenge, 'dpop-nonce': 'stale' })[n.toLowerCase()] ?? null } }),
          record: take({ url, status: 401, headers: { 'Www-Authenticate': challenge, 'DPOP-NONCE': nonce } }),
        };
        const h = await client.authHeaders(url, { method: 'post' });
        return { answers, proof: helseid.decodeJwt(h.DPoP).claims };
      }, { api, nonce });
      assert.equal(out.error, undefined, JSON.stringify(out.error));
      assert.deepEqual(out.answers, {
        response: false, // a challenge without a nonce: a retry would be challenged again
        headers: true,
        recordNoNonce: false,
        otherError: false,
        ok: false,
        noUrl: 'config_invalid',
        getter: true,
        record: true,
      });
      assert.equal(out.proof.nonce, nonce, 'the last nonce taken is in the next proof');
      assert.equal(out.proof.htm, 'POST', 'a method given by name is upper-cased');
      assert.deepEqual(stack.double.requests(), []);
    });

    test(`Angular HttpClient recipe: a functional interceptor, GET through the challenge and POST with a body (${host})`, async () => {
      freshNonce();
      const out = await inPage(page, async ({ recording }, api) => {
        const { angularHttp } = await import('/recipes/angular-app.js');
        const http = await angularHttp(recording);
        const who = await http.get(`${api}/api/whoami`);
        const created = await http.post(`${api}/api/Session/create`, { nonce: 'Ym9keQ==' });
        return { pid: who.pid, id: created.id };
      }, api);
      assert.equal(out.error, undefined, JSON.stringify(out.error));
      assert.equal(out.pid, '06828399789');
      assert.match(out.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(apiRequests(), [
        'GET /api/whoami 401 use_dpop_nonce',
        'GET /api/whoami 200',
        'POST /api/Session/create 200',
      ]);
      assert.deepEqual(out.seen.taken, [
        { status: 401, retry: true },
        { status: 200, retry: false },
        { status: 200, retry: false },
      ]);
      const nonce = stack.double.currentApiNonce();
      assert.deepEqual(out.seen.proofs.map((p) => [p.claims.htm, p.claims.nonce === nonce]), [
        ['GET', false], ['GET', true], ['POST', true],
      ]);
    });
  });
}
