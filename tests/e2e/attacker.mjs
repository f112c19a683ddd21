// The attacker of the security tests: a page of the app origin that never loads the library.
// It speaks the page holder's channel protocol (a BroadcastChannel) and the session host's
// (a MessagePort to the package's SharedWorker), steals and releases Web Locks, and reads
// whatever a page of the origin can read.

/**
 * Opens the attacker's page (blank.html) on `appOrigin`: `spy.channel(name)` listens and posts
 * on a BroadcastChannel (every message recorded in window.spy.messages as text),
 * `spy.host(name, version)` connects to the session host like a page of the library would.
 */
export async function openAttacker(browser, appOrigin) {
  const page = await browser.newPage();
  await page.goto(`${appOrigin}/e2e/blank.html`);
  await page.evaluate(() => {
    window.spy = { messages: [], fromHost: [] };
  });
  return {
    page,
    /** Listens on the channel `name` from now on. */
    listen: (name) => page.evaluate((n) => {
      const ch = new BroadcastChannel(n);
      window.spy.ch = ch;
      ch.onmessage = (e) => window.spy.messages.push(typeof e.data === 'string' ? e.data : JSON.stringify(e.data));
    }, name),
    post: (message) => page.evaluate((m) => window.spy.ch.postMessage(JSON.stringify(m)), message),
    messages: async () => (await page.evaluate(() => window.spy.messages)).map((m) => JSON.parse(m)),
    /** Asks the holder for its view, as a new tab does; resolves to the first view. */
    async view() {
      await this.post({ t: 'hello' });
      await page.waitForFunction(() => window.spy.messages.some((m) => JSON.parse(m).t === 'view'), null, { timeout: 5_000 });
      return (await this.messages()).find((m) => m.t === 'view');
    },
    /** Connects to the session host `workerName` and says `hello` with `config`. */
    host: (workerName, hello) => page.evaluate(async ({ name, hello: h }) => {
      const lock = `attacker-${Math.random()}`;
      await new Promise((resolve) => { navigator.locks.request(lock, () => { resolve(); return new Promise(() => {}); }); });
      const w = new SharedWorker('/pkg/helseid_wasm_worker.js', { type: 'module', name, extendedLifetime: true });
      window.spy.port = w.port;
      w.port.onmessage = (e) => window.spy.fromHost.push(e.data.m);
      w.port.start();
      w.port.postMessage({ m: JSON.stringify({ ...h, lock }) });
    }, { name: workerName, hello }),
    toHost: (message) => page.evaluate((m) => window.spy.port.postMessage({ m: typeof m === 'string' ? m : JSON.stringify(m) }), message),
    fromHost: async () => (await page.evaluate(() => window.spy.fromHost)).map((m) => JSON.parse(m)),
    /** Steals the Web Lock `name` and lets go of it at once. */
    stealAndRelease: (name) => page.evaluate((n) => navigator.locks.request(n, { steal: true }, () => {}), name),
    // Held exclusively: by their owners (a watcher holds a free lock for a moment, shared).
    heldLocks: () => page.evaluate(async () => (await navigator.locks.query()).held.filter((l) => l.mode === 'exclusive').map((l) => l.name)),
  };
}
