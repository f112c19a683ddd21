// Where the time goes: a V8 CPU profile (through the DevTools protocol) of our verifyJwt (RS256)
// and of cached getAccessToken() calls, summed by self time. Not part of scripts/bench.sh.
//
//   node bench/profile.mjs [pkgDir]     # default pkg/; a `wasm-pack build --profiling` output
//                                      # keeps the wasm function names
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startStack, launchBrowser } from '../tests/e2e/harness.mjs';
import { clientOptions, login, withClient } from '../tests/e2e/flow.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(BENCH, '..');
const PKG = resolve(process.argv[2] ?? join(REPO, 'pkg'));

function summarize(profile, top = 18) {
  const self = new Map();
  const dt = profile.timeDeltas;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const f = n.callFrame;
    const where = f.url ? f.url.replace(/^.*\//, '') : '';
    const key = `${f.functionName || '(anonymous)'}${where ? ` [${where}${f.functionName ? '' : `:${f.lineNumber + 1}`}]` : ''}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const cat = { wasm: 0, 'glue JS': 0, 'page JS': 0, gc: 0, idle: 0, 'program (native, incl. WebCrypto)': 0, other: 0 };
  for (const [k, v] of self) {
    if (k.includes('.wasm') || k.startsWith('$') || /wasm-function/.test(k)) cat.wasm += v;
    else if (k.includes('helseid_wasm.js')) cat['glue JS'] += v;
    else if (k.startsWith('(garbage collector)')) cat.gc += v;
    else if (k.startsWith('(idle)')) cat.idle += v;
    else if (k.startsWith('(program)')) cat['program (native, incl. WebCrypto)'] += v;
    else if (k.includes('.html') || k.includes('(anonymous)')) cat['page JS'] += v;
    else cat.other += v;
  }
  return {
    totalMs: total / 1000,
    categories: Object.fromEntries(Object.entries(cat).map(([k, v]) => [k, `${((100 * v) / total).toFixed(1)}%`])),
    top: rows.map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`),
  };
}

async function profiled(page, fn, arg) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
  await cdp.send('Profiler.start');
  const out = await fn(arg);
  const { profile } = await cdp.send('Profiler.stop');
  await cdp.detach();
  return { out, summary: summarize(profile) };
}

const stack = await startStack({
  static: { root: join(BENCH, 'pages'), routes: { '/pkg/': PKG, '/e2e/': join(REPO, 'tests', 'e2e', 'pages'), '/dist/': join(BENCH, 'dist') } },
});
const browser = await launchBrowser();
try {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'RS256', use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sub: 's', nbf: now }).setProtectedHeader({ alg: 'RS256', kid: 'k', typ: 'at+jwt' })
    .setIssuer('https://helseid-sts.test.nhn.no').setAudience('e-helse:sfm.api').setIssuedAt(now).setExpirationTime(now + 3600).sign(privateKey);
  const page = await browser.newPage();
  await page.goto(`${stack.appOrigin}/verify.html`);
  await page.waitForFunction(() => window.ready === true);
  const v = await profiled(page, (a) => page.evaluate(async ({ token, jwk }) => {
    const opts = { jwks: { keys: [jwk] }, issuer: 'https://helseid-sts.test.nhn.no', audience: 'e-helse:sfm.api', algorithms: ['RS256'], typ: 'at+jwt' };
    const t = performance.now();
    for (let i = 0; i < 2000; i += 1) await window.helseid.verifyJwt(token, opts);
    return (performance.now() - t) / 2000;
  }, a), { token, jwk });
  console.log(`verifyJwt RS256: ${(v.out * 1000).toFixed(1)} µs mean per call under the profiler`);
  console.log(JSON.stringify(v.summary, null, 2));

  stack.double.setOptions({ accessTokenTtl: 600 });
  const app = await browser.newPage();
  await login(app, stack, clientOptions(stack, { extra: { autoRefresh: false } }));
  const g = await profiled(app, () => withClient(app, async (client) => {
    const t = performance.now();
    for (let i = 0; i < 20000; i += 1) await client.getAccessToken();
    return (performance.now() - t) / 20000;
  }));
  console.log(`getAccessToken() cached: ${(g.out * 1000).toFixed(2)} µs mean per call under the profiler`);
  console.log(JSON.stringify(g.summary, null, 2));
} finally {
  await browser.close();
  await stack.close();
}
