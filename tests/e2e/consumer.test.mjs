// Issue 5 and 18, packaging: `npm pack` the built pkg/, install the tarball into a fresh copy of
// the minimal app in tests/consumer (Vite and webpack 5 from its committed lockfile), build it
// with each bundler, serve each build as the app origin of a test stack and log in from it.
// Proof that a real frontend can consume the package by its name, with either bundler. The app
// is React, with the README's useHelseId() hook: a refresh shows up through its events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawn } from 'node:child_process';
import { startStack, launchBrowser, freePort } from './harness.mjs';
import { startDouble } from '../../www/dev-idp/double.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';

const run = promisify(execFile);
const PKG = join(REPO_ROOT, 'pkg');
const CONSUMER = join(REPO_ROOT, 'tests', 'consumer');
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let work;
let app;
let pkgJson;
let browser;

async function sh(cmd, args, cwd) {
  try {
    return await run(cmd, args, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, CI: 'true' } });
  } catch (err) {
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${err.stdout ?? ''}\n${err.stderr ?? err.message}`);
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'helseid-wasm-consumer-'));
  pkgJson = JSON.parse(await readFile(join(PKG, 'package.json'), 'utf8').catch(() => {
    throw new Error('pkg/package.json is missing: build the package first (scripts/build.sh)');
  }));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Serves `dist` as the app origin of a fresh stack and logs in from the built app there. */
async function loginFromBuild(dist) {
  // `${origin}/` is a registered redirect URI of the double.
  const stack = await startStack({ static: { root: dist, routes: {} } });
  try {
    await loginAt(stack);
  } finally {
    await stack.close();
  }
}

/** Logs in from the app served at `stack.appOrigin`. */
async function loginAt(stack) {
  const page = await browser.newPage();
  try {
    const query = new URLSearchParams({
      issuer: stack.double.issuer,
      signer: `${stack.double.apiOrigin}/assertion`,
      clientId: 'helseid-wasm-es256',
      login: '1',
    });
    await page.goto(`${stack.appOrigin}/?${query}`);
    await page.waitForFunction(() => document.getElementById('status')?.value === 'logged in'
      || document.getElementById('status')?.value.startsWith('error'), null, { timeout: 20_000 });
    assert.equal(await page.$eval('#status', (o) => o.value), 'logged in');
    assert.equal(await page.$eval('#pid', (o) => o.value), '06828399789');
    assert.equal(await page.$eval('#version', (o) => o.value), pkgJson.version);
    assert.equal(await page.$eval('#host', (o) => o.value), 'worker', 'the bundle carries the session host\'s worker');
    assert.doesNotMatch(page.url(), /code=|state=/);
    const c = stack.double.counts();
    // One login (Firefox ends the worker with the page that leaves for HelseID: the new one
    // answers a DPoP nonce challenge first).
    assert.deepEqual(stack.double.issuedTokens().map((t) => t.grant), ['authorization_code']);
    assert.ok(c.assertion >= 2, 'the backend signed the client assertions');
    // The README's React hook (src/useHelseId.js) re-renders on the client's events.
    assert.equal(await page.$eval('#event', (o) => o.value), '');
    await page.click('#refresh');
    await page.waitForFunction(() => document.getElementById('event')?.value !== ''
      || document.getElementById('status')?.value.startsWith('error'), null, { timeout: 20_000 });
    assert.equal(await page.$eval('#event', (o) => o.value), 'tokenRefreshed (call)');
    assert.equal(await page.$eval('#status', (o) => o.value), 'logged in');
    assert.deepEqual(stack.double.issuedTokens().map((t) => t.grant), ['authorization_code', 'refresh_token']);
    // A second tab of the app is a thin page: the session from the host, and no WebAssembly
    // (nor the whole package's glue) among what the page itself loaded.
    const second = await browser.newPage();
    try {
      query.delete('login');
      await second.goto(`${stack.appOrigin}/?${query}`);
      await second.waitForFunction(() => document.getElementById('status')?.value === 'logged in'
        || document.getElementById('status')?.value.startsWith('error'), null, { timeout: 20_000 });
      assert.equal(await second.$eval('#status', (o) => o.value), 'logged in');
      assert.equal(await second.$eval('#host', (o) => o.value), 'worker');
      const wasm = await second.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.endsWith('.wasm')));
      assert.deepEqual(wasm, [], 'a thin page loads no WebAssembly');
      assert.deepEqual(stack.double.issuedTokens().map((t) => t.grant), ['authorization_code', 'refresh_token'], 'nothing sent to HelseID');
    } finally {
      await second.close();
    }
  } finally {
    await page.close();
  }
}


test('the packed helseid-wasm installs into the consumer app from its lockfile', async () => {
  assert.equal(pkgJson.name, 'helseid-wasm');

  // 1. npm pack: the tarball carries exactly what the package needs.
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', work], PKG);
  const [packed] = JSON.parse(stdout);
  const files = packed.files.map((f) => f.path).sort();
  for (const f of ['package.json', 'helseid_wasm.js', 'helseid_wasm_bg.wasm', 'helseid_wasm.d.ts', 'helseid_wasm_worker.js', 'helseid_wasm_page.js', 'helseid_wasm_page.d.ts']) {
    assert.ok(files.includes(f), `${f} is in the tarball (${files.join(', ')})`);
  }
  const tarball = join(work, packed.filename);

  // 2. A fresh copy of the consumer: Vite from its lockfile, then the tarball (not saved).
  app = join(work, 'app');
  await cp(CONSUMER, app, { recursive: true, filter: (src) => !/[\\/](node_modules|dist|dist-webpack)([\\/]|$)/.test(src.slice(CONSUMER.length)) });
  await sh('npm', ['ci', ...NPM_FLAGS], app);
  await sh('npm', ['install', '--no-save', ...NPM_FLAGS, tarball], app);
  const installed = JSON.parse(await readFile(join(app, 'node_modules', 'helseid-wasm', 'package.json'), 'utf8'));
  assert.equal(installed.version, pkgJson.version);
  assert.equal(
    await readFile(join(app, 'package-lock.json'), 'utf8'),
    await readFile(join(CONSUMER, 'package-lock.json'), 'utf8'),
    'the committed lockfile is left as it is',
  );

});

test('Vite: vite build puts the glue and the .wasm in dist/, and the built app logs in', async () => {
  assert.ok(app, 'the install test ran');
  await sh(join(app, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], app);
  const assets = await readdir(join(app, 'dist', 'assets'));
  assert.ok(assets.some((a) => a.endsWith('.wasm')), `a .wasm asset in dist/assets (${assets.join(', ')})`);
  await loginFromBuild(join(app, 'dist'));
});

test('webpack 5: the .wasm is an asset module with no configuration for it, and the built app logs in', async () => {
  assert.ok(app, 'the install test ran');
  const { stdout } = await sh(join(app, 'node_modules', '.bin', 'webpack'), ['--config', 'webpack.config.cjs', '--no-color'], app);
  assert.match(stdout, /webpack 5\.\d+\.\d+ compiled/);
  assert.doesNotMatch(stdout, /ERROR/);
  const assets = await readdir(join(app, 'dist-webpack', 'assets'));
  assert.ok(assets.some((a) => a.endsWith('.wasm')), `a .wasm asset in dist-webpack/assets (${assets.join(', ')})`);
  await loginFromBuild(join(app, 'dist-webpack'));
});

test('Vite dev server: the package (kept out of pre-bundling, as the README says) starts its session host there too, and the app logs in', async () => {
  assert.ok(app, 'the install test ran');
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const vite = spawn(join(app, 'node_modules', '.bin', 'vite'), ['--host', '127.0.0.1', '--port', String(port), '--strictPort', '--logLevel', 'warn'], {
    cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' },
  });
  let output = '';
  vite.stdout.on('data', (b) => { output += b; });
  vite.stderr.on('data', (b) => { output += b; });
  const double = await startDouble({ appOrigin: origin });
  try {
    // The dev server answers once it is listening.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${origin}/`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`vite dev server did not start:\n${output}`);
      await new Promise((r) => { setTimeout(r, 100); });
    }
    await loginAt({ appOrigin: origin, double });
  } finally {
    vite.kill();
    await double.close();
  }
});
