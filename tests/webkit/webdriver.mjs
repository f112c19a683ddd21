// A WebDriver classic client for WebKitGTK's WebKitWebDriver and its MiniBrowser, under Xvfb
// (Playwright cannot drive Debian's WebKit; W3C WebDriver over plain fetch can). Pages offer the
// part of Playwright's Page that tests/e2e/flow.mjs uses (goto, url, evaluate, waitForFunction,
// waitForURL, screenshot, close), so the e2e helpers run here unchanged.
//
//   const wk = await launchWebKit();
//   const page = wk.page; const other = await wk.newPage();
//   await page.goto(url); await page.evaluate((x) => x + 1, 1); await wk.close();
import { spawn } from 'node:child_process';
import { freePort } from '../e2e/harness.mjs';
import { writeFile } from 'node:fs/promises';

export const MINIBROWSER = process.env.WEBKIT_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver';

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';


/** Xvfb on a display it picks itself (-displayfd): WebKitGTK's MiniBrowser has no headless mode. */
async function startXvfb() {
  const proc = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1440x900x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (b) => { stderr += b; });
  const display = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display in 10 s: ${stderr}`)), 10_000);
    proc.stdio[3].on('data', (b) => {
      out += b;
      if (out.includes('\n')) { clearTimeout(timer); resolve(`:${out.trim()}`); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Xvfb exited (${code}): ${stderr}`)); });
  });
  return { display, proc };
}

async function waitUntil(what, check, timeoutMs, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => { setTimeout(r, intervalMs); });
  }
}

/**
 * Starts Xvfb, WebKitWebDriver and one MiniBrowser session. Returns
 * { page, newPage(), close(), capabilities }.
 */
export async function launchWebKit() {
  const xvfb = await startXvfb();
  const port = await freePort();
  const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`, '--host=127.0.0.1'], {
    env: { ...process.env, DISPLAY: xvfb.display },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let driverLog = '';
  driver.stderr.on('data', (b) => { driverLog = (driverLog + b).slice(-4000); });
  const base = `http://127.0.0.1:${port}`;
  const killAll = () => { driver.kill('SIGKILL'); xvfb.proc.kill('SIGKILL'); };
  try {
    await waitUntil('WebKitWebDriver', async () => {
      try { return (await (await fetch(`${base}/status`)).json()).value?.ready; } catch { return false; }
    }, 10_000);
    // New Session hangs instead of failing when the browser cannot start: bound it.
    const res = await fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ capabilities: { alwaysMatch: {
        browserName: 'MiniBrowser',
        'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
      } } }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`New Session: ${JSON.stringify(body.value)}`);
    const session = new Session(base, body.value.sessionId);
    await session.cmd('POST', '/timeouts', { script: 60_000, pageLoad: 30_000 });
    const handle = await session.cmd('GET', '/window');
    const page = new WebKitPage(session, handle);
    return {
      capabilities: body.value.capabilities,
      page,
      // New Window needs a current window: the first one, which stays open (closing the last
      // window would end the session).
      newPage: async () => new WebKitPage(session, (await session.inWindow(handle, () => session.raw('POST', '/window/new', { type: 'tab' }))).handle),
      async close() {
        await session.cmd('DELETE', '').catch(() => {});
        killAll();
      },
    };
  } catch (err) {
    killAll();
    throw new Error(`${err.message}\n${driverLog}`);
  }
}

class WebDriverError extends Error {
  constructor(command, value) {
    super(`${command}: ${value?.error}: ${value?.message}`);
    this.error = value?.error;
  }
}

/** One WebDriver session: commands go one at a time, each to the window it names. */
class Session {
  constructor(base, id) {
    this.url = `${base}/session/${id}`;
    this.queue = Promise.resolve();
    this.current = null;
  }

  cmd(method, path, body) {
    const run = async () => {
      const res = await fetch(`${this.url}${path}`, {
        method,
        headers: body ? { 'Content-Type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      const out = await res.json().catch(() => ({}));
      if (!res.ok) throw new WebDriverError(`${method} ${path}`, out.value);
      return out.value;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Runs `fn` with `handle` as the current window (the switch and the command in one turn). */
  inWindow(handle, fn) {
    const run = async () => {
      if (this.current !== handle) {
        await this.raw('POST', '/window', { handle });
        this.current = handle;
      }
      return fn();
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  async raw(method, path, body) {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) throw new WebDriverError(`${method} ${path}`, out.value);
    return out.value;
  }
}

// Runs in the page: starts `fn(arg)` and keeps its outcome under `id`, so that a long await in
// one tab does not hold the WebDriver session (commands are serial) while another tab acts.
const START = `
const [src, arg, id] = arguments;
const f = (0, eval)('(' + src + ')');
const box = (window.__wd ??= {});
box[id] = { done: false };
Promise.resolve().then(() => f(arg)).then(
  // As JSON text: WebKitGTK's own serialisation of a returned object does not keep key order.
  (value) => { box[id] = { done: true, json: value === undefined ? undefined : JSON.stringify(value) }; },
  (e) => { box[id] = { done: true, error: String(e?.stack ?? e) }; },
);
return true;`;
// Waits up to 250 ms in the page for the outcome under `id`.
const POLL = `
const [id] = arguments;
const box = window.__wd?.[id];
if (!box) return { gone: true };
if (box.done) { delete window.__wd[id]; return box; }
return new Promise((resolve) => {
  const t0 = Date.now();
  const tick = () => {
    const b = window.__wd?.[id];
    if (!b) resolve({ gone: true });
    else if (b.done) { delete window.__wd[id]; resolve(b); }
    else if (Date.now() - t0 > 250) resolve({ done: false });
    else setTimeout(tick, 5);
  };
  tick();
});`;

let nextId = 0;

export class WebKitPage {
  constructor(session, handle) {
    this.session = session;
    this.handle = handle;
  }

  #do(method, path, body) {
    return this.session.inWindow(this.handle, () => this.session.raw(method, path, body));
  }

  async goto(url) {
    await this.#do('POST', '/url', { url });
  }

  /** The current URL (a promise, unlike Playwright's). */
  url() {
    return this.#do('GET', '/url');
  }

  /**
   * `fn(arg)` in the page, awaited; its value must be JSON data. Rejects when `fn` throws, or when
   * the page navigates away before it settles (as Playwright's evaluate does).
   */
  async evaluate(fn, arg) {
    const id = `e${nextId += 1}`;
    await this.#do('POST', '/execute/sync', { script: START, args: [fn.toString(), arg ?? null, id] });
    for (;;) {
      let out;
      try {
        out = await this.#do('POST', '/execute/sync', { script: POLL, args: [id] });
      } catch (e) {
        // A navigation under way: the script's context is gone.
        throw new Error(`evaluate: the page navigated (${e.message})`);
      }
      if (out.gone) throw new Error('evaluate: the page navigated before the function settled');
      if (!out.done) continue;
      if (out.error !== undefined) throw new Error(`evaluate: ${out.error}`);
      return out.json === undefined || out.json === null ? undefined : JSON.parse(out.json);
    }
  }

  /** Polls `fn(arg)` in the page until it is truthy (as Playwright's waitForFunction). */
  async waitForFunction(fn, arg, { timeout = 30_000 } = {}) {
    const script = `const [src, arg] = arguments; return !!((0, eval)('(' + src + ')'))(arg);`;
    return waitUntil('a function in the page', () => this.#do('POST', '/execute/sync', { script, args: [fn.toString(), arg ?? null] })
      .catch(() => false), timeout);
  }

  /** Polls the URL until `predicate(new URL(url))` holds. */
  async waitForURL(predicate, { timeout = 30_000 } = {}) {
    await waitUntil('the URL', async () => {
      const u = await this.url().catch(() => null);
      return u && predicate(new URL(u));
    }, timeout);
  }

  async screenshot({ path }) {
    const png = await this.#do('GET', '/screenshot');
    await writeFile(path, Buffer.from(png, 'base64'));
  }

  async close() {
    await this.#do('DELETE', '/window').catch(() => {});
    this.session.current = null; // no window is current after a close
  }
}

export { ELEMENT };
