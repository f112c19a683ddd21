// helseid-wasm benchmarks beside oidc-client-ts, oauth4webapi (+ jose) and @auth0/auth0-spa-js,
// in headless Chromium on loopback against the HelseID test double. Run through
// scripts/bench.sh (installs, builds pkg/); this file assumes pkg/ and bench/node_modules exist.
//
//   node bench/run.mjs [--only size,startup,verify,cached,roundtrips,storm] [--no-write]
//   node bench/run.mjs --render    # BENCHMARKS.md again from bench/results.json
//
// Writes BENCHMARKS.md and bench/results.json, prints whether each target of issue 14 (size, start-up, verification, cached token) and of issue 6 (round trips, storms) is met, and
// exits 0 whatever the figures are (a section that crashes is reported and skipped).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as zc, brotliCompressSync } from 'node:zlib';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startStack, launchBrowser, CHROMIUM_PATH } from '../tests/e2e/harness.mjs';
import { clientOptions, finishLogin, login, openApp, startLogin, withClient } from '../tests/e2e/flow.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(BENCH, '..');
const DIST = join(BENCH, 'dist');
const PKG = join(DIST, 'pkg'); // the snapshot of pkg/ that is measured
const argv = process.argv.slice(2);
const onlyArg = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : null;
const want = (name) => !onlyArg || onlyArg.includes(name);
const WRITE = !argv.includes('--no-write');
const DEBUG = process.env.BENCH_DEBUG === '1';

const STARTUP_LOADS = 30;
const VERIFY_CALLS = 1000;
const CACHED_CALLS = 10_000;
const CACHED_BATCH = 100;
const STORM = 50;
const TABS = 3;
const SCOPE = 'openid profile offline_access helseid://scopes/identity/pid helseid://scopes/identity/security_level helseid://scopes/hpr/hpr_number e-helse:sfm.api/sfm.api2';
const RESOURCE = 'e-helse:sfm.api';
const KB = 1000; // sizes in KB of 1000 bytes
const PEERS = ['oidc-client-ts', 'oauth4webapi', 'auth0-spa-js'];
const PEER_LABEL = {
  'oidc-client-ts': 'oidc-client-ts',
  oauth4webapi: 'oauth4webapi + jose',
  'auth0-spa-js': '@auth0/auth0-spa-js',
};

const t0 = Date.now();
const log = (...a) => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s]`, ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return null;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : null;
};
const round = (x, d = 3) => (x == null ? null : Number(x.toFixed(d)));
const LOAD_AT_START = loadavg().map((x) => round(x, 2));
const pkgJson = (p) => JSON.parse(readFileSync(join(BENCH, 'node_modules', p, 'package.json'), 'utf8'));

const results = {
  generated: new Date().toISOString(),
  command: 'scripts/bench.sh',
  machine: {},
  versions: {},
  size: null,
  startup: null,
  secondTab: null,
  verify: null,
  cached: null,
  roundTrips: null,
  storm: null,
  targets: [],
  notes: [],
  errors: {},
};

async function section(name, fn) {
  if (!want(name)) return;
  log(`-- ${name}`);
  try {
    await fn();
  } catch (err) {
    results.errors[name] = String(err?.stack ?? err);
    console.error(`[bench] section ${name} failed:`, err);
  }
}

// ------------------------------------------------------------------------------------- size
const gzip9 = (file) => execFileSync('gzip', ['-9', '-c', file], { maxBuffer: 64 << 20 }).length;
const brotli11 = (file) => brotliCompressSync(readFileSync(file), {
  params: { [zc.BROTLI_PARAM_QUALITY]: 11, [zc.BROTLI_PARAM_SIZE_HINT]: readFileSync(file).length },
}).length;
const sizeOf = (file) => ({ raw: readFileSync(file).length, gzip: gzip9(file), brotli: brotli11(file) });

const ENTRIES = {
  'oidc-client-ts': 'oidc-client-ts.mjs',
  oauth4webapi: 'oauth4webapi-jose.mjs',
  'auth0-spa-js': 'auth0-spa-js.mjs',
  'jose-verify': 'jose-verify.mjs',
  'o4w-flow': 'o4w-flow.mjs',
  'octs-storm': 'octs-storm.mjs',
  baseline: 'baseline.mjs',
};

function bundleAll() {
  mkdirSync(DIST, { recursive: true });
  const esbuild = join(BENCH, 'node_modules', '.bin', 'esbuild');
  for (const [name, entry] of Object.entries(ENTRIES)) {
    execFileSync(esbuild, [join(BENCH, 'entries', entry), '--bundle', '--minify', '--format=esm',
      `--outfile=${join(DIST, `${name}.js`)}`, '--log-level=warning'], { stdio: 'inherit' });
  }
}

/**
 * Copies pkg/ to bench/dist/pkg and measures only that copy: pkg/ may be rebuilt by someone else
 * during the run. The copy must be whole and consistent (the wasm compiles, and every import it
 * names is in the glue JS of the same build); otherwise try again a little later.
 */
async function snapshotPkg() {
  const files = ['helseid_wasm_bg.wasm', 'helseid_wasm.js', 'helseid_wasm.d.ts'];
  for (let attempt = 1; ; attempt += 1) {
    rmSync(PKG, { recursive: true, force: true });
    mkdirSync(PKG, { recursive: true });
    try {
      for (const f of files) copyFileSync(join(REPO, 'pkg', f), join(PKG, f));
      // The session host: the worker script and the snippet the glue imports to start it.
      copyFileSync(join(REPO, 'pkg', 'helseid_wasm_worker.js'), join(PKG, 'helseid_wasm_worker.js'));
      // The thin page (issue 22): what a page of a running session host loads.
      copyFileSync(join(REPO, 'pkg', 'helseid_wasm_page.js'), join(PKG, 'helseid_wasm_page.js'));
      cpSync(join(REPO, 'pkg', 'snippets'), join(PKG, 'snippets'), { recursive: true });
      const bytes = readFileSync(join(PKG, 'helseid_wasm_bg.wasm'));
      const glue = readFileSync(join(PKG, 'helseid_wasm.js'), 'utf8');
      // A snippet's functions are imported from the snippet itself (the glue may pass its
      // namespace on whole): those names must be in the snippet of the copy.
      const source = (i) => (i.module.startsWith('./snippets/') ? readFileSync(join(PKG, i.module), 'utf8') : glue);
      const missing = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).filter((i) => !source(i).includes(i.name));
      if (missing.length) throw new Error(`wasm and glue JS are from different builds (${missing[0].name})`);
      return { sha256: createHash('sha256').update(bytes).digest('hex') };
    } catch (err) {
      if (attempt >= 20) throw new Error(`pkg/ is not a whole build: ${err.message}`);
      log(`pkg/ is being rewritten (${err.message.split('\n')[0]}); trying again in 3 s`);
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

async function measureSize() {
  const wasm = sizeOf(join(PKG, 'helseid_wasm_bg.wasm'));
  const glue = sizeOf(join(PKG, 'helseid_wasm.js'));
  const ours = {
    wasm, glue,
    raw: wasm.raw + glue.raw, gzip: wasm.gzip + glue.gzip, brotli: wasm.brotli + glue.brotli,
  };
  // Issue 22: the page part (the thin page, all a page loads before create() resolves in worker
  // mode) and everything, worker included (wasm + glue + worker + thin page + snippets).
  const page = sizeOf(join(PKG, 'helseid_wasm_page.js'));
  const worker = sizeOf(join(PKG, 'helseid_wasm_worker.js'));
  const snippetFiles = readdirSync(join(PKG, 'snippets'), { recursive: true }).filter((f) => String(f).endsWith('.js'));
  const snippets = snippetFiles.map((f) => sizeOf(join(PKG, 'snippets', String(f))))
    .reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli }), { raw: 0, gzip: 0, brotli: 0 });
  const sum = (k) => wasm[k] + glue[k] + worker[k] + page[k] + snippets[k];
  ours.page = page;
  ours.whole = { raw: sum('raw'), gzip: sum('gzip'), brotli: sum('brotli'), worker, snippets };
  const peers = {};
  for (const p of PEERS) peers[p] = { entry: `bench/entries/${ENTRIES[p]}`, ...sizeOf(join(DIST, `${p}.js`)) };
  results.size = { unit: 'bytes', ours, peers };
  // The profile and the floor from scripts/size-profile.sh (scripts/bench.sh runs it first).
  const profilePath = join(REPO, 'target', 'size-profile', 'profile.json');
  try {
    results.size.profile = JSON.parse(readFileSync(profilePath, 'utf8'));
    const f = results.size.profile.floor;
    log(`floor (${f.what}): ${f.wasmGzip} + ${f.glueGzip} bytes gzip -9`);
  } catch {
    log('no target/size-profile/profile.json: run scripts/size-profile.sh for the breakdown and the floor');
  }
  log(`ours wasm ${wasm.gzip} + glue ${glue.gzip} = ${ours.gzip} bytes gzip -9 (brotli ${ours.brotli})`);
  log(`ours, the page part in worker mode (thin page): ${page.gzip} bytes gzip -9; everything, worker included: ${ours.whole.gzip}`);
  for (const p of PEERS) log(`${p}: ${peers[p].gzip} bytes gzip -9 (raw ${peers[p].raw})`);
}

// ----------------------------------------------------------------------------------- start-up
async function measureStartup(browser, stack) {
  // Each load is a new tab (a new renderer process: nothing compiled or cached in memory; the
  // static server sends no-store, so the HTTP cache has nothing either). The page loads, the
  // renderer settles for 100 ms, then window.run(lib) times import -> usable client.
  const libs = ['ours', ...PEERS, 'baseline'];
  const samples = Object.fromEntries(libs.map((l) => [l, []]));
  const parts = { importMs: [], initMs: [], firstCallMs: [], wasmFetchMs: [] };
  let isolated;
  for (let i = 0; i < STARTUP_LOADS + 1; i += 1) {
    const order = libs.map((_, k) => libs[(k + i) % libs.length]); // take turns, to spread drift
    for (const lib of order) {
      const page = await browser.newPage();
      await page.goto(`${stack.appOrigin}/startup.html`);
      await page.waitForFunction(() => window.ready === true);
      await page.waitForTimeout(100);
      const r = await page.evaluate((l) => window.run(l), lib);
      await page.close();
      if (r.error) throw new Error(`${lib}: ${r.error}`);
      isolated = r.isolated;
      if (i === 0) continue; // the first round warms the server and the disk cache: not counted
      samples[lib].push(r.ms);
      if (lib === 'ours') for (const k of Object.keys(parts)) if (r[k] != null) parts[k].push(r[k]);
    }
  }
  const stat = (xs) => ({ median: round(median(xs), 2), p90: round(pct(xs, 90), 2), min: round(Math.min(...xs), 2), n: xs.length });
  results.startup = {
    unit: 'ms',
    loads: STARTUP_LOADS,
    crossOriginIsolated: isolated,
    ours: { ...stat(samples.ours), parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(median(v), 2)])) },
    peers: Object.fromEntries(PEERS.map((p) => [p, stat(samples[p])])),
    baseline: stat(samples.baseline),
  };
  const o = results.startup.ours;
  log(`ours ${o.median} ms (import ${o.parts.importMs}, init ${o.parts.initMs} incl. wasm fetch ${o.parts.wasmFetchMs}, first call ${o.parts.firstCallMs})`);
  for (const p of PEERS) log(`${p}: ${results.startup.peers[p].median} ms`);
  log(`baseline (import of a one-line module): ${results.startup.baseline.median} ms`);
}

// ------------------------------------------------------------------------------ verification
async function makeTokens() {
  const ISSUER = 'https://helseid-sts.test.nhn.no';
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    client_id: 'bench-client',
    scope: ['openid', 'profile', 'e-helse:sfm.api/sfm.api2'],
    'helseid://claims/identity/pid': '06828399789',
    'helseid://claims/identity/security_level': '4',
    'e-helse:sfm.api/client/claims/sfm-id': 'bench-sfm-id',
    jti: 'bench-jti',
    nbf: now,
  };
  const keys = [];
  const tokens = {};
  for (const [alg, opts] of [['RS256', { modulusLength: 2048 }], ['ES256', {}]]) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { ...opts, extractable: true });
    const kid = `bench-${alg.toLowerCase()}`;
    keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    tokens[alg] = await new SignJWT(claims)
      .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
      .setIssuer(ISSUER).setAudience(RESOURCE).setSubject('bench-sub')
      .setIssuedAt(now).setExpirationTime(now + 3600)
      .sign(privateKey);
  }
  return { issuer: ISSUER, audience: RESOURCE, jwks: { keys }, tokens };
}

async function measureVerify(browser, stack) {
  const input = await makeTokens();
  const page = await browser.newPage();
  await page.goto(`${stack.appOrigin}/verify.html`);
  await page.waitForFunction(() => window.ready === true);
  const out = await page.evaluate(async ({ input, calls }) => {
    const { helseid, jose } = window;
    const JWKS = jose.createLocalJWKSet(input.jwks); // built once, as an app does
    const fns = {};
    for (const alg of ['RS256', 'ES256']) {
      const token = input.tokens[alg];
      const oursOpts = {
        jwks: input.jwks, issuer: input.issuer, audience: input.audience, algorithms: [alg],
        typ: 'at+jwt', clockToleranceSeconds: 30, maxTokenAgeSeconds: 3600,
      };
      const joseOpts = {
        issuer: input.issuer, audience: input.audience, algorithms: [alg], typ: 'at+jwt',
        clockTolerance: 30, maxTokenAge: 3600, requiredClaims: ['exp', 'iat', 'sub'],
      };
      fns[`ours ${alg}`] = async () => { const c = await helseid.verifyJwt(token, oursOpts); if (c.sub !== 'bench-sub') throw new Error('ours: claims'); };
      fns[`jose ${alg}`] = async () => { const { payload } = await jose.jwtVerify(token, JWKS, joseOpts); if (payload.sub !== 'bench-sub') throw new Error('jose: claims'); };
    }
    // The floor: WebCrypto alone on the same bytes, with the key imported on every call and with
    // it imported once (what a key cache buys).
    const b64u = (x) => Uint8Array.from(atob(x.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    for (const alg of ['RS256', 'ES256']) {
      const [h, p, sig] = input.tokens[alg].split('.');
      const data = new TextEncoder().encode(`${h}.${p}`);
      const signature = b64u(sig);
      const jwk = input.jwks.keys.find((k) => k.alg === alg);
      const importAlg = alg === 'RS256' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256' };
      const verifyAlg = alg === 'RS256' ? importAlg : { name: 'ECDSA', hash: 'SHA-256' };
      const key = await crypto.subtle.importKey('jwk', jwk, importAlg, false, ['verify']);
      fns[`webcrypto import+verify ${alg}`] = async () => {
        const k = await crypto.subtle.importKey('jwk', jwk, importAlg, false, ['verify']);
        if (!await crypto.subtle.verify(verifyAlg, k, signature, data)) throw new Error('webcrypto');
      };
      fns[`webcrypto verify ${alg}`] = async () => {
        if (!await crypto.subtle.verify(verifyAlg, key, signature, data)) throw new Error('webcrypto');
      };
      // Where ours spends the rest: decodeJwt (base64url + JSON into wasm and back to JS, no
      // checks) and verifyJwt refused at the alg allow-list (options read, token decoded, the
      // promise machinery; no WebCrypto, no claim checks).
      const token = input.tokens[alg];
      fns[`ours decode ${alg}`] = async () => { if (helseid.decodeJwt(token).claims.sub !== 'bench-sub') throw new Error('decode'); };
      const refusedOpts = { jwks: input.jwks, issuer: input.issuer, audience: input.audience, algorithms: [alg === 'RS256' ? 'PS256' : 'ES384'], typ: 'at+jwt' };
      fns[`ours refused ${alg}`] = async () => {
        const code = await helseid.verifyJwt(token, refusedOpts).then(() => 'accepted', (e) => e.code);
        if (code === 'accepted') throw new Error('refused: accepted');
      };
    }
    const names = Object.keys(fns);
    // A wrong signature must fail in both, so both really verify.
    const bad = input.tokens.RS256.slice(0, -6) + (input.tokens.RS256.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
    const rejects = {
      ours: await helseid.verifyJwt(bad, { jwks: input.jwks, issuer: input.issuer, audience: input.audience }).then(() => 'accepted', (e) => e.code),
      jose: await jose.jwtVerify(bad, JWKS, { issuer: input.issuer, audience: input.audience }).then(() => 'accepted', (e) => e.code),
    };
    for (const n of names) for (let i = 0; i < 100; i += 1) await fns[n](); // warm-up
    const samples = Object.fromEntries(names.map((n) => [n, []]));
    const blockMeans = Object.fromEntries(names.map((n) => [n, []]));
    const rounds = 10;
    const per = calls / rounds;
    for (let r = 0; r < rounds; r += 1) {
      const order = names.map((_, k) => names[(k + r) % names.length]);
      for (const n of order) {
        const f = fns[n];
        const b0 = performance.now();
        for (let i = 0; i < per; i += 1) {
          const s = performance.now();
          await f();
          samples[n].push(performance.now() - s);
        }
        blockMeans[n].push((performance.now() - b0) / per);
      }
    }
    return { samples, blockMeans, rejects, isolated: self.crossOriginIsolated };
  }, { input, calls: VERIFY_CALLS });
  await page.close();
  const us = (ms) => round(ms * 1000, 1);
  const figure = (n) => ({
    medianUs: us(median(out.samples[n])),
    p90Us: us(pct(out.samples[n], 90)),
    meanOfBlocksUs: us(median(out.blockMeans[n])),
    calls: out.samples[n].length,
  });
  results.verify = {
    unit: 'µs per call',
    calls: VERIFY_CALLS,
    crossOriginIsolated: out.isolated,
    badSignature: out.rejects,
    ours: { RS256: figure('ours RS256'), ES256: figure('ours ES256') },
    jose: { RS256: figure('jose RS256'), ES256: figure('jose ES256') },
    webcryptoImportAndVerify: { RS256: figure('webcrypto import+verify RS256'), ES256: figure('webcrypto import+verify ES256') },
    webcryptoVerifyOnly: { RS256: figure('webcrypto verify RS256'), ES256: figure('webcrypto verify ES256') },
    oursDecodeOnly: { RS256: figure('ours decode RS256'), ES256: figure('ours decode ES256') },
    oursRefusedBeforeCrypto: { RS256: figure('ours refused RS256'), ES256: figure('ours refused ES256') },
  };
  for (const alg of ['RS256', 'ES256']) {
    const v = results.verify;
    log(`${alg}: ours ${v.ours[alg].medianUs} µs, jose ${v.jose[alg].medianUs} µs (median of ${VERIFY_CALLS}); WebCrypto alone: ${v.webcryptoImportAndVerify[alg].medianUs} µs with importKey, ${v.webcryptoVerifyOnly[alg].medianUs} µs without; ours decodeJwt ${v.oursDecodeOnly[alg].medianUs} µs, refused before WebCrypto ${v.oursRefusedBeforeCrypto[alg].medianUs} µs; round means: ours ${v.ours[alg].meanOfBlocksUs}, jose ${v.jose[alg].meanOfBlocksUs}, WebCrypto verify alone ${v.webcryptoVerifyOnly[alg].meanOfBlocksUs} µs`);
  }
}

// --------------------------------------------------------------- logins with the peers' flow
const o4wOpts = (stack, clientId = 'helseid-wasm-rs256') => {
  const c = stack.double.clients.find((x) => x.clientId === clientId);
  return {
    issuer: stack.double.issuer,
    clientId,
    jwk: c.privateJwk,
    redirectUri: `${stack.appOrigin}/index.html`,
    scope: SCOPE,
    resource: RESOURCE,
    tokenEndpoint: `${stack.double.issuer}/connect/token`,
  };
};

async function openPeers(page, stack) {
  await page.goto(`${stack.appOrigin}/index.html`);
  await page.waitForFunction(() => window.ready === true);
}

/** oauth4webapi login in `page`: returns the token response; counts are read by the caller. */
async function o4wLogin(page, stack, { beforeStart } = {}) {
  await openPeers(page, stack);
  await page.evaluate(() => sessionStorage.clear());
  beforeStart?.();
  const back = page.waitForURL((u) => u.pathname === '/index.html' && u.searchParams.has('code'), { timeout: 20_000 });
  const failure = await page.evaluate(async (o) => {
    try { await window.o4w.start(o); return null; } catch (e) { return String(e?.stack ?? e); }
  }, o4wOpts(stack)).catch(() => null);
  if (failure) throw new Error(`oauth4webapi start failed: ${failure}`);
  await back;
  await page.waitForFunction(() => window.ready === true);
  const tokens = await page.evaluate(async (o) => {
    try { return await window.o4w.finish(o); } catch (e) { return { error: String(e?.stack ?? e), cause: JSON.stringify(e?.cause ?? null) }; }
  }, o4wOpts(stack));
  if (tokens.error) throw new Error(`oauth4webapi finish failed: ${tokens.error} ${tokens.cause}`);
  return tokens;
}

// --------------------------------------------------------------------- cached getAccessToken
async function measureCached(browser, stack) {
  stack.double.setOptions({ accessTokenTtl: 600 }); // the token stays fresh for the whole run
  try {
    const page = await browser.newPage();
    const opts = clientOptions(stack, { extra: { autoRefresh: false } });
    await login(page, stack, opts);
    stack.double.reset();
    const out = await withClient(page, async (client, { calls, batch }) => {
      const first = await client.getAccessToken();
      for (let i = 0; i < 1000; i += 1) await client.getAccessToken(); // warm-up
      const means = [];
      for (let b = 0; b < calls / batch; b += 1) {
        const s = performance.now();
        for (let i = 0; i < batch; i += 1) {
          if (await client.getAccessToken() !== first) throw new Error('token changed');
        }
        means.push((performance.now() - s) / batch);
      }
      // Diagnosis: the same with an options object (see BENCHMARKS.md section 4).
      const withObject = [];
      for (let b = 0; b < 20; b += 1) {
        const s = performance.now();
        for (let i = 0; i < batch; i += 1) await client.getAccessToken({});
        withObject.push((performance.now() - s) / batch);
      }
      return { means, withObject, isolated: self.crossOriginIsolated };
    }, { calls: CACHED_CALLS, batch: CACHED_BATCH });
    if (out.error) throw new Error(JSON.stringify(out.error));
    const token = stack.double.counts().token;
    await page.close();

    // oidc-client-ts's cached read: getUser() of a stored user (what its apps call before using
    // user.access_token). oauth4webapi keeps no tokens (the app does); auth0-spa-js cannot log in
    // to the double (Auth0's own endpoint paths).
    const peerPage = await browser.newPage();
    const tokens = await o4wLogin(peerPage, stack);
    const octs = await peerPage.evaluate(async ({ o, tokens, calls, batch }) => {
      await window.octs.setup(o);
      await window.octs.seed(tokens);
      for (let i = 0; i < 1000; i += 1) await window.octs.getToken(); // warm-up, no refresh (600 s token)
      return window.octs.cachedRead(calls / batch, batch);
    }, { o: o4wOpts(stack), tokens, calls: CACHED_CALLS, batch: CACHED_BATCH });
    await peerPage.close();

    results.cached = {
      unit: 'µs per call',
      calls: CACHED_CALLS,
      method: `median over ${CACHED_CALLS / CACHED_BATCH} batches of the mean of ${CACHED_BATCH} sequential awaited calls`,
      ours: {
        medianUs: round(median(out.means) * 1000, 2),
        p90Us: round(pct(out.means, 90) * 1000, 2),
        tokenRequests: token,
        withOptionsObjectMedianUs: round(median(out.withObject) * 1000, 2),
      },
      peers: { 'oidc-client-ts': { medianUs: round(median(octs) * 1000, 2), p90Us: round(pct(octs, 90) * 1000, 2), what: 'UserManager.getUser() (localStorage user store)' } },
    };
    log(`ours getAccessToken() ${results.cached.ours.medianUs} µs; oidc-client-ts getUser() ${results.cached.peers['oidc-client-ts'].medianUs} µs`);
  } finally {
    stack.double.setOptions({ accessTokenTtl: 60 });
  }
}

// ------------------------------------------------------------------------------ round trips
const pickCounts = (c) => ({
  discovery: c.discovery,
  jwks: c.jwks,
  par: c.par,
  authorize: c.authorize,
  authorize_resume: c.authorize_resume,
  interaction: c.interaction,
  token: c.token,
  token_by_grant: { ...c.token_by_grant },
  assertion: c.assertion,
  preflight: c.preflight,
  preflight_by_endpoint: { ...c.preflight_by_endpoint },
  total_op: c.discovery + c.jwks + c.par + c.authorize + c.authorize_resume + c.interaction + c.token + c.preflight,
});

async function measureRoundTrips(stack) {
  const out = { ours: {}, oauth4webapi: {} };
  // Each flow in a browser of its own: no CORS preflight cached by the other.
  let browser = await launchBrowser();
  // Ours: a fresh tab (no DPoP nonce remembered), login across two page loads, then refreshes.
  try {
    const page = await browser.newPage();
    const opts = clientOptions(stack, { extra: { autoRefresh: false } });
    stack.double.reset();
    const url = await startLogin(page, stack, opts, {}, { fresh: true });
    const { error } = await finishLogin(page, opts, url);
    if (error) throw new Error(`ours login: ${JSON.stringify(error)}`);
    out.ours.login = pickCounts(stack.double.counts());
    for (const n of [1, 2, 3]) {
      stack.double.reset();
      const s = await withClient(page, (client) => client.refresh());
      if (s.error) throw new Error(`ours refresh: ${JSON.stringify(s.error)}`);
      out.ours[`refresh${n}`] = pickCounts(stack.double.counts());
    }
  } finally {
    await browser.close();
  }
  // oauth4webapi: the same flow with its own APIs (bench/entries/o4w-flow.mjs).
  browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await o4wLogin(page, stack, { beforeStart: () => stack.double.reset() });
    out.oauth4webapi.login = pickCounts(stack.double.counts());
    for (const n of [1, 2, 3]) {
      stack.double.reset();
      const r = await page.evaluate(async () => { try { await window.o4w.refresh(); return null; } catch (e) { return String(e); } });
      if (r) throw new Error(`oauth4webapi refresh: ${r}`);
      out.oauth4webapi[`refresh${n}`] = pickCounts(stack.double.counts());
    }
  } finally {
    await browser.close();
  }
  results.roundTrips = out;
  for (const who of ['ours', 'oauth4webapi']) {
    const l = out[who].login;
    log(`${who} login: discovery ${l.discovery}, jwks ${l.jwks}, par ${l.par}, authorize ${l.authorize}, token ${l.token}, preflight ${l.preflight}; refresh token requests ${[1, 2, 3].map((n) => out[who][`refresh${n}`].token).join('/')}`);
  }
}

// ------------------------------------------------------------------------- a second tab (issue 19)
async function measureSecondTab(browser, stack) {
  // One tab logs in (the session host holds the session); then each load is a new tab of the
  // app that imports the package and creates a client: import -> create() resolved, session set.
  // The whole package and the thin page (issue 22) take turns.
  const opts = clientOptions(stack, { host: 'worker', extra: { autoRefresh: false } });
  const holder = await browser.newPage();
  await login(holder, stack, opts);
  // The floor's worker runs as the host does: the holder keeps it.
  await holder.evaluate(() => new Promise((resolve) => { window.echo = new SharedWorker('/echo-worker.js'); window.echo.port.onmessage = resolve; }));
  stack.double.reset();
  const samples = { whole: [], thin: [], floor: [] };
  for (let i = 0; i < STARTUP_LOADS + 1; i += 1) {
    for (const entry of i % 2 ? ['whole', 'thin', 'floor'] : ['floor', 'thin', 'whole']) {
      const page = await browser.newPage();
      await page.goto(`${stack.appOrigin}/second-tab.html`);
      await page.waitForFunction(() => window.ready === true);
      await page.waitForTimeout(100);
      const r = await page.evaluate(({ o, entry }) => window.run(o, entry), { o: opts, entry });
      await page.close();
      if (r.error) throw new Error(r.error);
      if (!r.session || r.host !== 'worker') throw new Error(`the tab did not join the host: ${JSON.stringify(r)}`);
      if (entry === 'thin' && r.wasm) throw new Error('the thin page loaded WebAssembly');
      if (i > 0) samples[entry].push(r.ms);
    }
  }
  await holder.close();
  const c = stack.double.counts();
  results.secondTab = {
    unit: 'ms',
    loads: STARTUP_LOADS,
    median: round(median(samples.whole), 2),
    p90: round(pct(samples.whole, 90), 2),
    thin: { median: round(median(samples.thin), 2), p90: round(pct(samples.thin, 90), 2) },
    floor: { median: round(median(samples.floor), 2), p90: round(pct(samples.floor, 90), 2) },
    requestsToHelseId: c.discovery + c.jwks + c.token + c.par,
    octs: results.startup?.peers['oidc-client-ts']?.median ?? null,
  };
  const t = results.secondTab;
  log(`a second tab, import -> create() with the host's session: thin page ${t.thin.median} ms (p90 ${t.thin.p90}; floor: a one-line module + a message from a running SharedWorker ${t.floor.median} ms), whole package ${t.median} ms (p90 ${t.p90}); oidc-client-ts start-up ${t.octs} ms; requests to HelseID during ${2 * STARTUP_LOADS} loads: ${t.requestsToHelseId}`);
}

// ------------------------------------------------------------------------------ refresh storm
async function measureStorm(browser, stack) {
  const AT_EXPIRY = { autoRefresh: false, refreshLeewaySeconds: 60 };
  const oursStorm = (page, n) => withClient(page, async (client, n) => {
    const settled = await Promise.allSettled(Array.from({ length: n }, () => client.getAccessToken()));
    const ok = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
    const errors = settled.filter((s) => s.status === 'rejected').map((s) => s.reason?.code ?? String(s.reason));
    return { ok: ok.length, distinct: new Set(ok).size, failed: errors.length, errors: [...new Set(errors)].slice(0, 3) };
  }, n);
  const out = { calls: STORM, tabs: TABS, ours: {}, 'oidc-client-ts': {} };

  // Ours, one tab.
  {
    const page = await browser.newPage();
    const opts = clientOptions(stack, { extra: AT_EXPIRY });
    await login(page, stack, opts);
    stack.double.reset();
    const r = await oursStorm(page, STORM);
    out.ours.oneTab = { ...r, tokenRequests: stack.double.counts().token };
    await page.close();
  }
  // Ours, three tabs of one origin: 50 calls in each at once.
  {
    const pages = [await browser.newPage()];
    const opts = clientOptions(stack, { extra: AT_EXPIRY });
    await login(pages[0], stack, opts);
    for (let i = 1; i < TABS; i += 1) {
      const p = await browser.newPage();
      await openApp(p, stack.appOrigin);
      if (!await p.evaluate((o) => window.attach(o), opts)) throw new Error('a new tab did not join the session');
      pages.push(p);
    }
    stack.double.reset();
    const rs = await Promise.all(pages.map((p) => oursStorm(p, STORM)));
    out.ours.tabs = {
      ok: rs.reduce((a, r) => a + (r.ok ?? 0), 0),
      failed: rs.reduce((a, r) => a + (r.failed ?? 0), 0),
      distinct: rs.map((r) => r.distinct),
      errors: rs.flatMap((r) => r.errors ?? [r.error]).filter(Boolean),
      tokenRequests: stack.double.counts().token,
    };
    await Promise.all(pages.map((p) => p.close()));
  }

  // oidc-client-ts: signinSilent() with the refresh token (see bench/entries/octs-storm.mjs).
  const octsSession = async (page) => {
    const tokens = await o4wLogin(page, stack);
    await page.evaluate(async ({ o, tokens }) => {
      await window.octs.setup(o);
      await window.octs.seed(tokens);
      await window.octs.signinSilent(); // learns the DPoP nonce, as ours did at login
    }, { o: o4wOpts(stack), tokens });
  };
  const octsStorm = (page) => page.evaluate((n) => window.octs.storm(n), STORM);
  {
    const page = await browser.newPage();
    await octsSession(page);
    stack.double.reset();
    const r = await octsStorm(page);
    const c = stack.double.counts();
    out['oidc-client-ts'].oneTab = { ...r, tokenRequests: c.token };
    await page.close();
  }
  {
    const pages = [await browser.newPage()];
    await octsSession(pages[0]);
    for (let i = 1; i < TABS; i += 1) {
      const p = await browser.newPage();
      await openPeers(p, stack);
      await p.evaluate((o) => window.octs.setup(o), o4wOpts(stack));
      pages.push(p);
    }
    stack.double.reset();
    const rs = await Promise.all(pages.map((p) => octsStorm(p)));
    out['oidc-client-ts'].tabs = {
      ok: rs.reduce((a, r) => a + r.ok, 0),
      failed: rs.reduce((a, r) => a + r.failed, 0),
      distinct: rs.map((r) => r.distinct),
      errors: [...new Set(rs.flatMap((r) => r.errors))].slice(0, 3),
      tokenRequests: stack.double.counts().token,
    };
    await Promise.all(pages.map((p) => p.close()));
  }
  results.storm = out;
  for (const who of ['ours', 'oidc-client-ts']) {
    log(`${who}: one tab ${out[who].oneTab.tokenRequests} token requests (${out[who].oneTab.ok} ok, ${out[who].oneTab.failed} failed); ${TABS} tabs ${out[who].tabs.tokenRequests} (${out[who].tabs.ok} ok, ${out[who].tabs.failed} failed)`);
  }
}

// ------------------------------------------------------------------------------------ report
function machine(browserVersion) {
  const osr = (() => { try { return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))[1]; } catch { return 'unknown'; } })();
  const git = (args) => { try { return execFileSync('git', args, { cwd: REPO }).toString().trim(); } catch { return null; } };
  return {
    loadAverageAtStart: LOAD_AT_START,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGB: round(totalmem() / 2 ** 30, 1),
    os: `${osr} (Linux ${release()})`,
    node: process.version,
    chromium: browserVersion,
    commit: git(['rev-parse', '--short', 'HEAD']),
    workTreeDirty: (git(['status', '--porcelain', '--', 'src', 'Cargo.toml', 'Cargo.lock']) ?? '') !== '',
    crate: (/^version = "([^"]+)"/m.exec(readFileSync(join(REPO, 'Cargo.toml'), 'utf8')) ?? [])[1] ?? null,
  };
}

function targets() {
  const t = [];
  const add = (name, target, value, met, why) => t.push({ name, target, value, met, ...(why ? { why } : {}) });
  if (results.size) {
    // Issue 22.
    const p = results.size.ours.page.gzip;
    const octs = results.size.peers['oidc-client-ts'].gzip;
    add('page part', `what a page loads before create() resolves in worker mode (the thin page) <= 17 KB gzipped and below oidc-client-ts (${fmtKB(octs)})`, `${fmtKB(p)}`, p <= 17 * KB && p < octs);
    const w = results.size.ours.whole.gzip;
    add('size', 'everything, worker included, <= 120 KB gzipped', fmtKB(w), w <= 120 * KB);
    add('size (stretch)', 'everything, worker included, <= 60 KB gzipped', fmtKB(w), w <= 60 * KB);
  }
  if (results.startup) {
    const ours = results.startup.ours.median;
    const octs = results.startup.peers['oidc-client-ts'].median;
    add('start-up', 'median no slower than oidc-client-ts in the same run', `${ours} ms vs ${octs} ms`, ours <= octs);
  }
  if (results.secondTab?.thin && results.secondTab.octs != null) {
    const t = results.secondTab;
    add('second tab (thin page)', 'import -> create() resolved with the session, median no slower than oidc-client-ts\'s start-up in the same run', `${t.thin.median} ms vs ${t.octs} ms`, t.thin.median <= t.octs);
  }
  if (results.verify) {
    for (const alg of ['RS256', 'ES256']) {
      // Judged on the medians of the round means (100 calls each): the per-call medians snap
      // to the 5 µs timer (105 against 100 µs reads as 1.05). Both are printed.
      const v = results.verify;
      const r = v.ours[alg].medianUs / v.jose[alg].medianUs;
      const rb = v.ours[alg].meanOfBlocksUs / v.jose[alg].meanOfBlocksUs;
      add(`${alg} verify`, 'ours / jose <= 1.0 (medians of round means; per-call medians after the slash)',
        `${rb.toFixed(3)} / ${r.toFixed(2)}`, rb <= 1.0);
    }
  }
  if (results.cached) add('cached getAccessToken()', '<= 2 µs median', `${results.cached.ours.medianUs} µs`, results.cached.ours.medianUs <= 2);
  if (results.roundTrips) {
    const rt = results.roundTrips.ours;
    const per = [rt.refresh1.token, rt.refresh2.token, rt.refresh3.token];
    add('token requests per refresh', '1 per refresh after the first (nonce cached)', per.join(', '), per.slice(1).every((x) => x === 1));
  }
  if (results.storm) {
    const s = results.storm.ours;
    add('refresh storm, one tab', `1 token request for ${STORM} calls`, String(s.oneTab.tokenRequests), s.oneTab.tokenRequests === 1 && s.oneTab.failed === 0);
    add(`refresh storm, ${TABS} tabs`, `1 token request for ${TABS} x ${STORM} calls`, String(s.tabs.tokenRequests), s.tabs.tokenRequests === 1 && s.tabs.failed === 0);
  }
  return t;
}

/** One line per missed target, explained from the figures of the run (no stale prose). */
function diagnosis() {
  const r = results;
  const out = [];
  const missed = (name) => r.targets.find((t) => t.name === name && !t.met);
  if (missed('size') && r.size) {
    const s = r.size.ours;
    const f = r.size.profile?.floor;
    out.push(`Size: everything is ${fmtKB(s.whole.gzip)} gzipped: the wasm ${fmtKB(s.wasm.gzip)} (${Math.round((100 * s.wasm.gzip) / s.whole.gzip)}%), the glue JS ${fmtKB(s.glue.gzip)}, the worker script ${fmtKB(s.whole.worker.gzip)}, the thin page ${fmtKB(s.page.gzip)}. `
      + (f ? `The chosen stack alone, used as we use it (${f.what}), is ${fmtKB(f.wasmGzip + f.glueGzip)}; `
        + `the rest is the protocol, the session engine and host, tabs, DPoP and portals, spread thin (the profile in section 1 shows where it goes). A page in worker mode loads only the thin page.`
        : 'Run scripts/size-profile.sh for the floor and the profile.'));
  }
  if (missed('start-up') && r.startup) {
    const s = r.startup;
    const compile = s.ours.parts.initMs - (s.ours.parts.wasmFetchMs ?? 0);
    const octs = s.peers['oidc-client-ts'].median;
    const twoRequests = round(s.baseline.median + (s.ours.parts.wasmFetchMs ?? 0), 2);
    out.push(`Start-up: ${s.ours.median} ms against oidc-client-ts ${octs} ms = glue import ${s.ours.parts.importMs} ms + init ${s.ours.parts.initMs} ms (wasm fetch ${s.ours.parts.wasmFetchMs} ms, `
      + `compile + instantiate about ${round(compile, 2)} ms, growing with the wasm size) + first call ${s.ours.parts.firstCallMs} ms (lazy compilation of the functions it runs). `
      + `A glue + wasm package makes two requests, one after the other: a one-line module alone costs ${s.baseline.median} ms here and the wasm request ${s.ours.parts.wasmFetchMs} ms, `
      + `${twoRequests} ms before anything is compiled, against ${octs} ms for the whole of oidc-client-ts (one request)${r.machine.loadAverageAtStart?.[0] > r.machine.cores ? ' (the machine was busy during this run)' : ''}.`);
  }
  if (missed('second tab (thin page)') && r.secondTab?.floor) {
    const t = r.secondTab;
    out.push(`Second tab (thin page): ${t.thin.median} ms against oidc-client-ts's start-up ${t.octs} ms. The floor of any page whose session lives in a worker, `
      + `a one-line module and one message from a running SharedWorker, is ${t.floor.median} ms here (${t.floor.median > t.octs ? 'already above' : 'below'} oidc-client-ts, which makes no worker hop and reads no session); `
      + `the thin page adds ${round(t.thin.median - t.floor.median, 2)} ms: its Web Lock, the stand-in's join to the host and the host's view pushed back.`);
  }
  if ((missed('RS256 verify') || missed('ES256 verify')) && r.verify) {
    const v = r.verify;
    const lines = ['RS256', 'ES256'].map((alg) => {
      const only = v.webcryptoVerifyOnly[alg].meanOfBlocksUs;
      const added = (who) => round(v[who][alg].meanOfBlocksUs - only, 1);
      return `${alg} (medians of round means): ours ${v.ours[alg].meanOfBlocksUs} µs, jose ${v.jose[alg].meanOfBlocksUs} µs, WebCrypto verify alone ${only} µs, `
        + `so ours adds ${added('ours')} µs to WebCrypto and jose ${added('jose')} µs`;
    });
    out.push(`Verification: ${lines.join('. ')}. Keys are imported once and cached by both; what each adds is reading the options, decoding the token (base64url, two JSON parses), the claim checks and the promise.`);
  }
  if (missed('cached getAccessToken()') && r.cached) {
    const c = r.cached.ours;
    const hint = c.withOptionsObjectMedianUs < 0.6 * c.medianUs
      ? ` With an options object, \`getAccessToken({})\` takes ${c.withOptionsObjectMedianUs} µs: most of the cost is the two exceptions thrown and caught inside the glue when the options argument is absent (\`Reflect.get\` on \`undefined\`), not the token lookup.`
      : '';
    out.push(`Cached getAccessToken(): ${c.medianUs} µs median.${hint}`);
  }
  return out;
}

const fmtKB = (b) => `${(b / KB).toFixed(1)} KB`;
const ratio = (ours, peer) => (ours == null || peer == null || peer === 0 ? '–' : `${(ours / peer).toFixed(2)}×`);

function markdown() {
  const r = results;
  const m = r.machine;
  const lines = [];
  const L = (s = '') => lines.push(s);
  L('# Benchmarks');
  L();
  L('helseid-wasm beside the JavaScript clients a HelseID user would otherwise pick, measured in one');
  L('run in headless Chromium on loopback against the local HelseID test double (`www/dev-idp/`,');
  L('oidc-provider 9.13.3 with PAR required, private_key_jwt, DPoP with server nonces).');
  L('**Ratio** is ours ÷ peer: below 1 we are smaller/faster/fewer, above 1 the peer is.');
  L('Generated by `bench/run.mjs`; do not edit by hand.');
  L();
  L('Reproduce (installs the pinned peers from `bench/package-lock.json`, builds `pkg/` in release');
  L('with wasm-opt, runs everything, rewrites this file and `bench/results.json`; about 3 minutes):');
  L();
  L('```sh');
  L('scripts/bench.sh');
  L('```');
  L();
  L(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB RAM; ${m.os}; Node ${m.node}; Chromium ${m.chromium}.`);
  L(`Load average when the run started: ${m.loadAverageAtStart.join(', ')} (1, 5, 15 min)${m.loadAverageAtStart[0] > m.cores ? ': other work was running on this machine, so the timings are noisier than on an idle one' : ''}.`);
  L(`Build: helseid-wasm ${m.crate} at commit ${m.commit}${m.workTreeDirty ? ' with uncommitted changes in src/' : ''} (wasm sha256 ${m.wasmSha256?.slice(0, 16)}…); run ${r.generated}.`);
  L(`Peers: ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  L();
  L('## Summary');
  L();
  L(`| measure | ours | ${PEERS.map((p) => PEER_LABEL[p]).join(' | ')} |`);
  L(`|---|---|${PEERS.map(() => '---').join('|')}|`);
  if (r.size) {
    const s = r.size;
    L(`| size, gzip -9: what a page loads in worker mode (the thin page; peers: esbuild bundle) | ${fmtKB(s.ours.page.gzip)} | ${PEERS.map((p) => `${fmtKB(s.peers[p].gzip)} (ratio ${ratio(s.ours.page.gzip, s.peers[p].gzip)})`).join(' | ')} |`);
    L(`| size, gzip -9: everything (wasm + glue + worker + thin page + snippets) | ${fmtKB(s.ours.whole.gzip)} | ${PEERS.map((p) => `${fmtKB(s.peers[p].gzip)} (ratio ${ratio(s.ours.whole.gzip, s.peers[p].gzip)})`).join(' | ')} |`);
    L(`| size, gzip -9 (wasm + JS glue; peers: esbuild bundle) | ${fmtKB(s.ours.gzip)} | ${PEERS.map((p) => `${fmtKB(s.peers[p].gzip)} (ratio ${ratio(s.ours.gzip, s.peers[p].gzip)})`).join(' | ')} |`);
    L(`| size, brotli 11 | ${fmtKB(s.ours.brotli)} | ${PEERS.map((p) => `${fmtKB(s.peers[p].brotli)} (ratio ${ratio(s.ours.brotli, s.peers[p].brotli)})`).join(' | ')} |`);
  }
  if (r.startup) {
    const s = r.startup;
    L(`| start-up, import → usable client, median of ${s.loads} fresh loads | ${s.ours.median} ms | ${PEERS.map((p) => `${s.peers[p].median} ms (ratio ${ratio(s.ours.median, s.peers[p].median)})`).join(' | ')} |`);
  }
  if (r.secondTab) {
    const t = r.secondTab;
    if (t.thin) L(`| a second tab while the session host runs, thin page: import → \`create()\` resolved with the session, median of ${t.loads} loads | ${t.thin.median} ms | oidc-client-ts start-up ${t.octs} ms (ratio ${ratio(t.thin.median, t.octs)}) | | |`);
    if (t.floor) L(`| floor of a page in worker mode: a one-line module + one message from a running SharedWorker, median of ${t.loads} loads | ${t.floor.median} ms | | | |`);
    L(`| a second tab while the session host runs, whole package: import → \`create()\` resolved with the session, median of ${t.loads} loads (${t.requestsToHelseId} requests to HelseID in all, both kinds) | ${t.median} ms | oidc-client-ts start-up ${t.octs} ms (ratio ${ratio(t.median, t.octs)}) | | |`);
  }
  if (r.verify) {
    for (const alg of ['RS256', 'ES256']) {
      const o = r.verify.ours[alg].meanOfBlocksUs;
      const j = r.verify.jose[alg].meanOfBlocksUs;
      L(`| verify ${alg} access token, median of ${r.verify.rounds ?? 10} round means (${r.verify.calls} calls) | ${o} µs | – (no JWT verification API) | ${j} µs (jose jwtVerify; ratio ${ratio(o, j)}) | – (no JWT verification API) |`);
    }
  }
  if (r.cached) {
    const o = r.cached.ours.medianUs;
    const p = r.cached.peers['oidc-client-ts'].medianUs;
    L(`| cached getAccessToken(), median of ${r.cached.calls} calls | ${o} µs | ${p} µs (getUser(); ratio ${ratio(o, p)}) | – (keeps no tokens) | – |`);
  }
  if (r.roundTrips) {
    const rt = r.roundTrips;
    const req = (c) => c.discovery + c.jwks + c.par + c.token;
    L(`| login: discovery + jwks + par + token requests (+ CORS preflights) | ${req(rt.ours.login)} (+${rt.ours.login.preflight}) | – | ${req(rt.oauth4webapi.login)} (+${rt.oauth4webapi.login.preflight}) (ratio ${ratio(req(rt.ours.login), req(rt.oauth4webapi.login))}) | – |`);
    L(`| token requests per refresh (1st, 2nd, 3rd) | ${[1, 2, 3].map((n) => rt.ours[`refresh${n}`].token).join(', ')} | – | ${[1, 2, 3].map((n) => rt.oauth4webapi[`refresh${n}`].token).join(', ')} | – |`);
  }
  if (r.storm) {
    const s = r.storm;
    const o = s['oidc-client-ts'];
    L(`| refresh storm: token requests for ${s.calls} concurrent calls at expiry, one tab | ${s.ours.oneTab.tokenRequests} | ${o.oneTab?.tokenRequests ?? '–'} (signinSilent(); ${o.oneTab?.failed ?? '?'} of ${s.calls} calls failed) | – | – |`);
    L(`| refresh storm: token requests, ${s.tabs} tabs × ${s.calls} calls | ${s.ours.tabs.tokenRequests} | ${o.tabs?.tokenRequests ?? '–'} (${o.tabs?.failed ?? '?'} of ${s.tabs * s.calls} calls failed) | – | – |`);
  }
  L();
  L('## Targets (issue 22 for size, the page part and the second tab; issue 14 for the rest; round trips and storms from issue 6)');
  L();
  L('| target | figure | met |');
  L('|---|---|---|');
  for (const t of r.targets) L(`| ${t.name}: ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`);
  L();
  if (r.size) {
    const s = r.size;
    L('## 1. Size');
    L();
    L('`gzip -9` and brotli (quality 11) of each file; ours is two files, `pkg/helseid_wasm_bg.wasm`');
    L('(release, `wasm-opt -Oz --converge`, as `scripts/build.sh` makes it) and `pkg/helseid_wasm.js`, counted');
    L('together. Each peer is its typical import (`bench/entries/*.mjs`) bundled with');
    L('`esbuild <entry> --bundle --minify --format=esm`. KB = 1000 bytes.');
    L();
    L('| what | raw | gzip -9 | brotli |');
    L('|---|---|---|---|');
    L(`| ours: helseid_wasm_bg.wasm | ${s.ours.wasm.raw} | ${s.ours.wasm.gzip} | ${s.ours.wasm.brotli} |`);
    L(`| ours: helseid_wasm.js | ${s.ours.glue.raw} | ${s.ours.glue.gzip} | ${s.ours.glue.brotli} |`);
    L(`| **ours: total** | ${s.ours.raw} | **${s.ours.gzip}** | ${s.ours.brotli} |`);
    for (const p of PEERS) L(`| ${PEER_LABEL[p]} (\`${s.peers[p].entry}\`) | ${s.peers[p].raw} | ${s.peers[p].gzip} | ${s.peers[p].brotli} |`);
    L();
    const pr = s.profile;
    if (pr) {
      L(`**The floor** (\`bench/floor\`, built by \`scripts/size-profile.sh\` with the same profile and`);
      L(`wasm-opt): ${pr.floor.what}: ${pr.floor.wasmGzip} + ${pr.floor.glueGzip} = **${fmtKB(pr.floor.wasmGzip + pr.floor.glueGzip)}** gzip -9.`);
      L(`What the chosen stack costs before the first line of HelseID logic: ${Math.round((100 * (pr.floor.wasmGzip + pr.floor.glueGzip)) / (60 * KB))}% of the 60 KB target.`);
      L();
      L(`**What the bytes are**: \`scripts/size-profile.sh\` runs twiggy 0.7 on the release wasm built with its`);
      L(`function names kept (${pr.note}; ${pr.total} bytes in all). Grouped by where the code comes from:`);
      L();
      L('| group | bytes | share |');
      L('|---|---|---|');
      for (const g of pr.groups) L(`| ${g.name} | ${g.bytes} | ${Math.round((100 * g.bytes) / pr.total)}% |`);
      L();
      L('twiggy top (largest single items):');
      L();
      L('| item | bytes |');
      L('|---|---|');
      for (const t of pr.top) L(`| \`${t.name.replace(/\|/g, '\\|')}\` | ${t.bytes} |`);
      L();
      L('twiggy dominators (largest subtrees: what would go with the item; the function table, which');
      L('dominates every closure handed to JS, and the names section are left out):');
      L();
      L('| item | retained bytes |');
      L('|---|---|');
      for (const d of pr.dominators) L(`| \`${d.name.replace(/\|/g, '\\|')}\` | ${d.retained} |`);
      L();
    }
  }
  if (r.startup) {
    const s = r.startup;
    L('## 2. Start-up');
    L();
    L(`\`bench/pages/startup.html\`: \`performance.now()\` from before the dynamic \`import()\` until a`);
    L('usable client exists, with no network for discovery. Ours: `import`, `await init()` (fetch +');
    L('compile + instantiate the wasm), then one `decodeJwt()`. oidc-client-ts: `new UserManager({...,');
    L('metadata})`. oauth4webapi + jose: the import (there is nothing to construct). auth0-spa-js:');
    L('`new Auth0Client(...)` (`createAuth0Client` would also call the network). The bundles are the');
    L('ones measured for size. Each load is a new tab (a new renderer process, nothing compiled or');
    L('cached in memory; the server sends `no-store`, so nothing comes from the HTTP cache); the page');
    L('loads, the renderer settles for 100 ms, then the timed code runs. The libraries take turns, a');
    L(`first round is not counted, ${s.loads} loads each. The floor row is the same for a one-line module:`);
    L('what any dynamic import costs on this machine.');
    L();
    L('| | median | p90 | min |');
    L('|---|---|---|---|');
    L(`| ours | ${s.ours.median} ms | ${s.ours.p90} ms | ${s.ours.min} ms |`);
    for (const p of PEERS) L(`| ${PEER_LABEL[p]} | ${s.peers[p].median} ms | ${s.peers[p].p90} ms | ${s.peers[p].min} ms |`);
    L(`| floor: \`import()\` of a one-line module | ${s.baseline.median} ms | ${s.baseline.p90} ms | ${s.baseline.min} ms |`);
    L();
    L(`Ours, medians of the parts: import of the glue JS ${s.ours.parts.importMs} ms; \`init()\` ${s.ours.parts.initMs} ms, of which the wasm`);
    L(`fetch ${s.ours.parts.wasmFetchMs} ms (the rest is compile + instantiate); first call ${s.ours.parts.firstCallMs} ms.`);
    L();
  }
  if (r.verify) {
    const v = r.verify;
    L('## 3. Token verification');
    L();
    L('`bench/pages/verify.html`: one page with our `verifyJwt` and jose\'s `jwtVerify` (a local JWKS');
    L('built once with `createLocalJWKSet`). The same RS256 (2048-bit) and ES256 access tokens');
    L('(`typ: at+jwt`), the same JWKS, the same checks: signature, `alg` allow-list, `typ`, `iss`,');
    L('`aud`, `exp`/`nbf`/`iat` with 30 s tolerance, maximum token age 3600 s; jose also told to');
    L('require `exp`, `iat`, `sub`. 100 warm-up calls each, then 10 interleaved rounds of 100 timed');
    L(`calls per function (${v.calls} in all); page cross-origin isolated: ${v.crossOriginIsolated} (timer resolution 5 µs when true).`);
    L(`A token with a broken signature is refused by both (ours: \`${v.badSignature.ours}\`, jose: \`${v.badSignature.jose}\`).`);
    L();
    L('| | median | p90 | median of round means |');
    L('|---|---|---|---|');
    const label = {
      ours: 'ours verifyJwt', jose: 'jose jwtVerify',
      webcryptoImportAndVerify: 'floor: WebCrypto importKey + verify', webcryptoVerifyOnly: 'floor: WebCrypto verify, key imported once',
      oursDecodeOnly: 'diagnosis: ours decodeJwt (no signature, no checks)',
      oursRefusedBeforeCrypto: 'diagnosis: ours verifyJwt refused at the alg allow-list (no WebCrypto)',
    };
    for (const alg of ['RS256', 'ES256']) {
      for (const who of Object.keys(label)) {
        const f = v[who]?.[alg];
        if (!f) continue;
        L(`| ${label[who]} ${alg} | ${f.medianUs} µs | ${f.p90Us} µs | ${f.meanOfBlocksUs} µs |`);
      }
    }
    L();
  }
  if (r.cached) {
    const c = r.cached;
    L('## 4. Cached getAccessToken()');
    L();
    L(`After a login (access token valid for 10 minutes, \`autoRefresh: false\`): ${c.method}`);
    L(`(Chromium's timer is too coarse to time one call). Token requests during the ${c.calls} calls: ${c.ours.tokenRequests}.`);
    L(`oidc-client-ts has no getAccessToken(); its apps read \`(await userManager.getUser()).access_token\`, measured the same way.`);
    if (c.ours.withOptionsObjectMedianUs < 0.6 * c.ours.medianUs) {
      L('The diagnosis row calls `getAccessToken({})`. Without an options object, reading');
      L('`resource` and `forceRefresh` from `undefined` (`Reflect.get` in the glue) throws, and');
      L('wasm-bindgen catches both exceptions on every call; with `{}` nothing throws. The difference');
      L('is what reading options only from an object (`src/shell/js.rs` `get`) saves.');
    } else {
      L('The diagnosis row calls `getAccessToken({})`: close to the row above, so leaving out the');
      L('options costs nothing extra.');
    }
    L();
    L(`| | median | p90 |`);
    L('|---|---|---|');
    L(`| ours getAccessToken() | ${c.ours.medianUs} µs | ${c.ours.p90Us} µs |`);
    L(`| diagnosis: ours getAccessToken({}) (2,000 calls) | ${c.ours.withOptionsObjectMedianUs} µs | |`);
    L(`| oidc-client-ts getUser() | ${c.peers['oidc-client-ts'].medianUs} µs | ${c.peers['oidc-client-ts'].p90Us} µs |`);
    L();
  }
  if (r.roundTrips) {
    const rt = r.roundTrips;
    L('## 5. Round trips per login and per refresh');
    L();
    L('Requests counted at the test double (`counts()`), which asks for a DPoP nonce on the first');
    L('PAR/token request of a key it has no nonce for. Ours: a fresh tab (no nonce remembered),');
    L('`loginWithRedirect()` on one page load and `handleRedirectCallback()` on the next, then');
    L('`refresh()` three times. oauth4webapi: `bench/entries/o4w-flow.mjs`, a straightforward flow with');
    L('its own APIs (discovery, PAR with DPoP + private_key_jwt, redirect, code exchange, refresh),');
    L('retrying once on `use_dpop_nonce` as its docs show; its DPoP handle caches nonces in memory, so');
    L('the callback page starts without one. It does not check token signatures, so it fetches no JWKS.');
    L('`authorize` counts the browser\'s visit to the authorize endpoint (then the double\'s automatic');
    L('login: `interaction` and `authorize_resume`, the same for both). CORS preflights are round trips');
    L('too and are listed apart.');
    L();
    const cols = ['discovery', 'jwks', 'par', 'authorize', 'interaction', 'authorize_resume', 'token', 'preflight'];
    L(`| | ${cols.join(' | ')} |`);
    L(`|---|${cols.map(() => '---').join('|')}|`);
    for (const who of ['ours', 'oauth4webapi']) {
      for (const step of ['login', 'refresh1', 'refresh2', 'refresh3']) {
        const c = rt[who][step];
        L(`| ${who === 'ours' ? 'ours' : 'oauth4webapi'}: ${step.replace(/(\d)/, ' $1')} | ${cols.map((k) => c[k]).join(' | ')} |`);
      }
    }
    L();
  }
  if (r.storm) {
    const s = r.storm;
    const o = s['oidc-client-ts'];
    L('## 6. Refresh storm');
    L();
    L(`${s.calls} concurrent \`getAccessToken()\` calls in one tab, then ${s.calls} in each of ${s.tabs} tabs of one origin at`);
    L('once, with `{ autoRefresh: false, refreshLeewaySeconds: 60 }` and the double\'s 60 s access tokens,');
    L('so every call is "at expiry". Token requests counted at the double.');
    L();
    L('oidc-client-ts cannot log in to the double or to HelseID: it has no pushed authorization');
    L('requests (required) and no `private_key_jwt` (it offers client_secret_basic/post/jwt only), so');
    L('`signinRedirect()` and the iframe form of `signinSilent()` (which also needs a front-channel');
    L('`prompt=none` authorize request, itself refused without PAR) cannot run. Its refresh-token form of');
    L('`signinSilent()` can: the session comes from the oauth4webapi login, is stored as an oidc-client-ts');
    L('`User` (localStorage user store, so the tabs share it; its IndexedDB DPoP store, so they share the');
    L('DPoP key), one `signinSilent()` learns the DPoP nonce, and a `fetch` shim adds the private_key_jwt');
    L('client assertion to its token requests. Each call does what its apps do:');
    L('`user = await getUser(); if (user.expires_in <= 60) user = await signinSilent()`.');
    L('Refresh tokens rotate and a reused one revokes the grant (as at HelseID), so the calls after the');
    L('first refresh fail with `invalid_grant` and the session is lost.');
    L();
    L('| | token requests | calls that got a token | calls that failed | distinct tokens |');
    L('|---|---|---|---|---|');
    L(`| ours, one tab | ${s.ours.oneTab.tokenRequests} | ${s.ours.oneTab.ok} | ${s.ours.oneTab.failed} | ${s.ours.oneTab.distinct} |`);
    L(`| ours, ${s.tabs} tabs | ${s.ours.tabs.tokenRequests} | ${s.ours.tabs.ok} | ${s.ours.tabs.failed} | ${s.ours.tabs.distinct.join(' / ')} |`);
    if (o.oneTab) L(`| oidc-client-ts, one tab | ${o.oneTab.tokenRequests} | ${o.oneTab.ok} | ${o.oneTab.failed} | ${o.oneTab.distinct} |`);
    if (o.tabs) L(`| oidc-client-ts, ${s.tabs} tabs | ${o.tabs.tokenRequests} | ${o.tabs.ok} | ${o.tabs.failed} | ${o.tabs.distinct.join(' / ')} |`);
    const errs = [...new Set([...(o.oneTab?.errors ?? []), ...(o.tabs?.errors ?? [])])];
    if (errs.length) L(`\noidc-client-ts errors seen: ${errs.map((e) => `\`${e.slice(0, 160).replace(/\|/g, '\\|')}\``).join('; ')}.`);
    L();
  }
  const why = diagnosis();
  if (why.length) {
    L('## Why the missed targets are missed (from this run\'s figures)');
    L();
    for (const w of why) L(`- ${w}`);
    L();
    L('`node bench/profile.mjs` records a V8 CPU profile of `verifyJwt` and of cached `getAccessToken()`');
    L('and prints where the time goes (the release wasm has no names section; give it the output');
    L('directory of a `wasm-pack build --profiling` to see Rust function names).');
    L();
  }
  L('## Not measured');
  L();
  L('- auth0-spa-js in the round-trip, cached-token and storm rows: its login talks to Auth0\'s endpoint');
  L('  paths (`/authorize`, `/oauth/token` on `domain`) as a public client, without PAR or private_key_jwt, so it cannot log in to the');
  L('  double or to HelseID; only its size and start-up are comparable.');
  L('- oauth4webapi in the storm rows: it keeps no session and has no `getAccessToken()`; what 50');
  L('  callers do is up to the app.');
  for (const n of r.notes) L(`- ${n}`);
  if (Object.keys(r.errors).length) {
    L();
    L('## Sections that failed in this run');
    L();
    for (const [k, v] of Object.entries(r.errors)) L(`- ${k}: \`${v.split('\n')[0].slice(0, 300)}\``);
  }
  L();
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------- main
async function main() {
  if (argv.includes('--render')) {
    // Rewrites BENCHMARKS.md from bench/results.json (text changes without measuring again).
    Object.assign(results, JSON.parse(readFileSync(join(BENCH, 'results.json'), 'utf8')));
    writeFileSync(join(REPO, 'BENCHMARKS.md'), markdown());
    log('rendered BENCHMARKS.md from bench/results.json');
    return;
  }
  if (LOAD_AT_START[0] > cpus().length) {
    log(`note: load average ${LOAD_AT_START[0]} on ${cpus().length} cores: other work is running, timings will be noisy`);
  }
  for (const p of ['oidc-client-ts', 'oauth4webapi', 'jose', '@auth0/auth0-spa-js', 'esbuild']) results.versions[p] = pkgJson(p).version;
  log('bundling the peers with esbuild');
  bundleAll();
  results.machine.wasmSha256 = (await snapshotPkg()).sha256;
  await section('size', measureSize);

  // COOP/COEP on the app origin: cross-origin isolated pages get a 5 µs timer instead of 100 µs.
  const stack = await startStack({
    quiet: true,
    static: {
      root: join(BENCH, 'pages'),
      routes: {
        '/pkg/': PKG,
        '/e2e/': join(REPO, 'tests', 'e2e', 'pages'),
        '/dist/': DIST,
      },
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    },
  });
  let browser;
  try {
    browser = await launchBrowser();
    results.machine = { ...machine(browser.context.browser()?.version() ?? execFileSync(CHROMIUM_PATH, ['--version']).toString().trim()), wasmSha256: results.machine.wasmSha256 };
    if (DEBUG) browser.context.on('page', (p) => p.on('console', (m) => console.log(`[page] ${m.text()}`)));
    await section('startup', () => measureStartup(browser, stack));
    await section('verify', () => measureVerify(browser, stack));
    await section('cached', () => measureCached(browser, stack));
    await section('roundtrips', () => measureRoundTrips(stack));
    await section('storm', () => measureStorm(browser, stack));
    await section('secondtab', () => measureSecondTab(browser, stack));
  } finally {
    await browser?.close();
    await stack.close();
  }

  results.targets = targets();
  console.log('\nTargets (issue 22: size, page part, second tab; issue 14: the rest; issue 6: round trips, storms):');
  for (const t of results.targets) console.log(`  ${t.met ? 'MET    ' : 'NOT MET'}  ${t.name}: ${t.target} -- ${t.value}`);
  if (Object.keys(results.errors).length) console.log(`\nSections that failed: ${Object.keys(results.errors).join(', ')}`);
  if (WRITE && !onlyArg) {
    writeFileSync(join(BENCH, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(REPO, 'BENCHMARKS.md'), markdown());
    log('wrote BENCHMARKS.md and bench/results.json');
  } else {
    log('partial run (--only or --no-write): nothing written');
    if (DEBUG) console.log(JSON.stringify(results, null, 2));
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

await main();
