// The end-to-end suite in each engine, as (engine, file) jobs shared by a few workers (one per
// core by default), the longest first, so that neither engine waits for the other. Each job's
// TAP report lands in artifacts/e2e/<engine>/<file>.tap; a failing job's report is printed
// whole, then one summary line per engine.
//
//   node scripts/e2e-run.mjs                          # every file, Chromium and Firefox ESR
//   E2E_ENGINES=firefox node scripts/e2e-run.mjs tests/e2e/login.test.mjs
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, createWriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(fileURLToPath(import.meta.url), '..', '..');
const engines = (process.env.E2E_ENGINES ?? 'chromium firefox').split(/\s+/).filter(Boolean);
const workers = Number(process.env.E2E_WORKERS ?? Math.min(2, availableParallelism()));
const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => resolve(f))
  : readdirSync(join(REPO, 'tests', 'e2e')).filter((f) => f.endsWith('.test.mjs')).map((f) => join(REPO, 'tests', 'e2e', f));

// Seconds a file took in Chromium (a warm run on a 2-core machine); Firefox takes about 1.5×.
// Only the order depends on them: the longest first.
const SECONDS = {
  'portals.test.mjs': 100, 'host.test.mjs': 60, 'host-thin.test.mjs': 90, 'thin.test.mjs': 30, 'context.test.mjs': 45, 'double-portals.test.mjs': 35,
  'security-tabs.test.mjs': 35, 'security.test.mjs': 30, 'demo.test.mjs': 20, 'double-context.test.mjs': 20,
  'transport.test.mjs': 20, 'consumer.test.mjs': 15, 'lifecycle.test.mjs': 15, 'conformance.test.mjs': 15,
  'double.test.mjs': 12,
};
const weight = (engine, file) => (SECONDS[basename(file)] ?? 8) * (engine === 'firefox' ? 1.5 : 1);
const jobs = engines.flatMap((engine) => files.map((file) => ({ engine, file })))
  .sort((a, b) => weight(b.engine, b.file) - weight(a.engine, a.file));

const results = [];
const started = Date.now();

function run({ engine, file }) {
  const dir = join(REPO, 'artifacts', 'e2e', engine);
  mkdirSync(dir, { recursive: true });
  const tap = join(dir, `${basename(file, '.mjs')}.tap`);
  const out = createWriteStream(tap);
  const t0 = Date.now();
  return new Promise((done) => {
    // --test-timeout: a test (or the whole file) that hangs fails after 10 min.
    const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=600000', file], {
      cwd: REPO,
      env: { ...process.env, E2E_BROWSER: engine },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('close', (code) => {
      out.end(() => done({ engine, file, tap, code, seconds: (Date.now() - t0) / 1000 }));
    });
  });
}

async function worker() {
  for (;;) {
    const job = jobs.shift();
    if (!job) return;
    results.push(await run(job));
  }
}

await Promise.all(Array.from({ length: workers }, worker));

const count = (text, what) => Number(text.match(new RegExp(`^# ${what} (\\d+)`, 'm'))?.[1] ?? 0);
let failed = false;
for (const r of results.filter((x) => x.code !== 0)) {
  failed = true;
  console.log(`\n==== ${r.engine} ${basename(r.file)} FAILED (exit ${r.code}) ====`);
  console.log(readFileSync(r.tap, 'utf8'));
}
for (const engine of engines) {
  const mine = results.filter((r) => r.engine === engine);
  const texts = mine.map((r) => readFileSync(r.tap, 'utf8'));
  const sum = (what) => texts.reduce((n, t) => n + count(t, what), 0);
  // Skips print their reason (harness.mjs skipIn).
  for (const t of texts) for (const line of t.split('\n')) if (/# SKIP/.test(line) && !/does not match pattern/.test(line)) console.log(line);
  const seconds = mine.reduce((n, r) => n + r.seconds, 0);
  const ok = mine.every((r) => r.code === 0);
  console.log(`${engine}: ${ok ? 'passed' : 'FAILED'}, ${mine.length} files in ${seconds.toFixed(0)} s (tests ${sum('tests')}, pass ${sum('pass')}, fail ${sum('fail')}, skipped ${sum('skipped')})`);
}
console.log(`e2e: ${((Date.now() - started) / 1000).toFixed(0)} s wall, ${workers} workers`);
process.exit(failed ? 1 : 0);
