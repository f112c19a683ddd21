// Issue 5, packaging: `npm pack` the built pkg/, install the tarball into a fresh copy of the
// minimal Vite app in tests/consumer (Vite itself from its committed lockfile), `vite build` it,
// serve dist/ as the app origin of a test stack and log in from the built app in Chromium.
// Proof that a real frontend can consume the package by its name, with a bundler.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startStack, launchBrowser } from './harness.mjs';
import { REPO_ROOT } from '../../www/dev-idp/static.mjs';

const run = promisify(execFile);
const PKG = join(REPO_ROOT, 'pkg');
const CONSUMER = join(REPO_ROOT, 'tests', 'consumer');
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let work;
let stack;
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
});

after(async () => {
  await browser?.close();
  await stack?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

test('the packed helseid-wasm installs into a Vite app, builds, and logs in from the built app', async () => {
  const pkgJson = JSON.parse(await readFile(join(PKG, 'package.json'), 'utf8').catch(() => {
    throw new Error('pkg/package.json is missing: build the package first (scripts/build.sh)');
  }));
  assert.equal(pkgJson.name, 'helseid-wasm');

  // 1. npm pack: the tarball carries exactly what the package needs.
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', work], PKG);
  const [packed] = JSON.parse(stdout);
  const files = packed.files.map((f) => f.path).sort();
  for (const f of ['package.json', 'helseid_wasm.js', 'helseid_wasm_bg.wasm', 'helseid_wasm.d.ts']) {
    assert.ok(files.includes(f), `${f} is in the tarball (${files.join(', ')})`);
  }
  const tarball = join(work, packed.filename);

  // 2. A fresh copy of the consumer: Vite from its lockfile, then the tarball (not saved).
  const app = join(work, 'app');
  await cp(CONSUMER, app, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)([\\/]|$)/.test(src.slice(CONSUMER.length)) });
  await sh('npm', ['ci', ...NPM_FLAGS], app);
  await sh('npm', ['install', '--no-save', ...NPM_FLAGS, tarball], app);
  const installed = JSON.parse(await readFile(join(app, 'node_modules', 'helseid-wasm', 'package.json'), 'utf8'));
  assert.equal(installed.version, pkgJson.version);
  assert.equal(
    await readFile(join(app, 'package-lock.json'), 'utf8'),
    await readFile(join(CONSUMER, 'package-lock.json'), 'utf8'),
    'the committed lockfile is left as it is',
  );

  // 3. vite build: the glue and the .wasm end up in dist/.
  await sh(join(app, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], app);
  const assets = await readdir(join(app, 'dist', 'assets'));
  assert.ok(assets.some((a) => a.endsWith('.wasm')), `a .wasm asset in dist/assets (${assets.join(', ')})`);

  // 4. Serve dist/ as the app origin of a stack (so `${origin}/` is a registered redirect URI)
  //    and log in from the built app.
  [stack, browser] = await Promise.all([
    startStack({ static: { root: join(app, 'dist'), routes: {} } }),
    launchBrowser(),
  ]);
  const { page } = browser;
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
  assert.doesNotMatch(page.url(), /code=|state=/);
  const c = stack.double.counts();
  assert.equal(c.token_by_grant.authorization_code, 1);
  assert.ok(c.assertion >= 2, 'the backend signed the client assertions');
});
