// End-to-end harness: a static app server + the HelseID test double, and a headless browser:
// Chromium (default) or Firefox ESR, chosen by E2E_BROWSER=chromium|firefox (scripts/test.sh runs
// the suite once per engine).
//
//   const stack = await startStack({ accessTokenTtl: 30 });
//   stack.appOrigin, stack.double.issuer, stack.double.apiOrigin, await stack.close();
//
//   const b = await launchBrowser();
//   const page = await b.newPage(); ...; await b.close();
import { mkdtemp, rm } from 'node:fs/promises';
import { after, before, beforeEach } from 'node:test';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
// playwright-core 1.65 sends a BiDi command Firefox ESR 153 does not know; 1.62.1 drives it.
import { firefox } from 'playwright-core-firefox';
import { startDouble } from '../../www/dev-idp/double.mjs';
import { startStatic } from '../../www/dev-idp/static.mjs';

/** The engine this run drives: "chromium" or "firefox". */
export const ENGINE = process.env.E2E_BROWSER ?? 'chromium';
if (!['chromium', 'firefox'].includes(ENGINE)) throw new Error(`E2E_BROWSER must be chromium or firefox, not ${ENGINE}`);
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

/**
 * For tests that cannot run in this engine: `test(name, skipIn('firefox', 'why'), fn)`. The reason
 * prints in the test report (node:test shows `# SKIP <reason>`).
 */
export function skipIn(engine, reason) {
  return { skip: ENGINE === engine ? `${engine}: ${reason}` : false };
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);

/**
 * Starts the static server (ephemeral port, so appOrigin is known) and then the double.
 * @param {object} [opts] passed to startDouble (appOrigin is set here), plus:
 * @param {object} [opts.static] options for startStatic (routes, root, headers, ...)
 * @returns {Promise<{appOrigin: string, static: object, double: object, close(): Promise<void>}>}
 */
export async function startStack(opts = {}) {
  const { static: staticOpts = {}, ...doubleOpts } = opts;
  const stat = await startStatic({ port: 0, ...staticOpts });
  let dbl;
  try {
    dbl = await startDouble({ ...doubleOpts, appOrigin: stat.origin });
  } catch (err) {
    await stat.close();
    throw err;
  }
  return {
    appOrigin: stat.origin,
    static: stat,
    double: dbl,
    async close() {
      await Promise.allSettled([dbl.close(), stat.close()]);
    },
  };
}

/**
 * Launches the system browser of ENGINE (never downloads one) with a fresh temporary profile.
 * @param {object} [opts]
 * @param {string[]} [opts.args] extra Chromium arguments
 * @param {object} [opts.contextOptions] extra launchPersistentContext options
 * @returns {Promise<{context: import('playwright-core').BrowserContext, page: import('playwright-core').Page,
 *   newPage(): Promise<import('playwright-core').Page>, userDataDir: string, close(): Promise<void>}>}
 */
export async function launchBrowser({ args = [], contextOptions = {} } = {}) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'helseid-wasm-e2e-'));
  let context;
  try {
    // launchPersistentContext owns --user-data-dir (Playwright refuses it inside args).
    context = ENGINE === 'firefox'
      ? await firefox.launchPersistentContext(userDataDir, {
        channel: 'moz-firefox',
        executablePath: FIREFOX_PATH,
        headless: true,
        timeout: 30_000,
        // ESR 153 does not know BiDi's media-feature emulation; null leaves it alone.
        colorScheme: null,
        reducedMotion: null,
        forcedColors: null,
        contrast: null,
        ...contextOptions,
      })
      : await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: [...CHROMIUM_ARGS, ...args],
        timeout: 20_000,
        ...contextOptions,
      });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? await context.newPage();
  return {
    context,
    page,
    newPage: () => context.newPage(),
    userDataDir,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

/**
 * The system browser of ENGINE, launched once; `fresh()` gives a new isolated context (its own
 * storage, locks, channels and SharedWorkers: a browser with no past) shaped like
 * launchBrowser's result, much faster than a new browser per test.
 * @returns {Promise<{fresh(): Promise<{context: import('playwright-core').BrowserContext,
 *   page: import('playwright-core').Page, newPage(): Promise<import('playwright-core').Page>,
 *   close(): Promise<void>}>, close(): Promise<void>}>}
 */
export async function launchEngine() {
  const browser = ENGINE === 'firefox'
    ? await firefox.launch({ channel: 'moz-firefox', executablePath: FIREFOX_PATH, headless: true, timeout: 30_000 })
    : await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS], timeout: 20_000 });
  const contextOptions = ENGINE === 'firefox'
    ? { colorScheme: null, reducedMotion: null, forcedColors: null, contrast: null }
    : {};
  return {
    async fresh() {
      const context = await browser.newContext(contextOptions);
      const page = await context.newPage();
      return {
        context,
        page,
        newPage: () => context.newPage(),
        async close() {
          await context.close().catch(() => {});
        },
      };
    },
    async close() {
      await browser.close().catch(() => {});
    },
  };
}

/**
 * For a test file whose every test runs in a fresh browser context (a host, locks and channels
 * with no past): starts the stack and ENGINE once, resets the double before each test (access
 * tokens live `accessTokenTtl` s), closes both at the end. `suite.stack` and `suite.d` are set
 * once the file's first `before` hook has run; `suite.inBrowser(fn)` runs `fn` in a new context.
 */
export function freshContextSuite({ accessTokenTtl = 60 } = {}) {
  const suite = { stack: null, d: null, engine: null };
  before(async () => {
    [suite.stack, suite.engine] = await Promise.all([startStack(), launchEngine()]);
    suite.d = suite.stack.double;
  });
  after(async () => {
    await suite.engine?.close();
    await suite.stack?.close();
  });
  beforeEach(() => {
    suite.d.reset();
    suite.d.setOptions({ accessTokenTtl });
  });
  suite.inBrowser = async (fn) => {
    const b = await suite.engine.fresh();
    try {
      return await fn(b);
    } finally {
      await b.close();
    }
  };
  return suite;
}

/** Waits until `cond()` gives something truthy (read in Node, e.g. at the double) and returns it;
 * `timeout` is only a guard against a hang. */
export async function until(what, cond, timeout = 20_000) {
  const started = Date.now();
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() - started > timeout) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => { setTimeout(resolve, 20); });
  }
}

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
