// The session host (API.md "Session host"): a module SharedWorker, one per origin and package
// version, that holds the session for every tab of the app. It says `alive` to each page at once
// (a page in sessionHost "auto" gives a host 2 s), then hands the page's port to the library.
//
// A thin page (`helseid_wasm_page.js`, no WebAssembly in the page) says `{ p: "open" }` first:
// the worker then runs a full client for it here (its stand-in), joined to the host over a
// MessageChannel, and answers the page's calls with it. Nothing crosses but what the page's
// own API gives it: sessions, access tokens, auth headers, events; no refresh or ID token.
import init, { startSessionHost, HelseIdClient, isHelseIdError } from './helseid_wasm.js';

const ALIVE = { m: '{"t":"alive"}' };
const EVENTS = ['tokenRefreshed', 'sessionExpired', 'loggedOut', 'contextChanged', 'contextExpired', 'userChanged'];
// What a thin page may call on its stand-in (its API's async methods, minus what needs a window).
const CALLS = new Set(['session', 'getAccessToken', 'refresh', 'authHeaders', 'setContext', 'logout', 'adoptSession', 'takeDpopNonce']);
/** As the host's MAX_MESSAGE_CHARS (src/core/limits.rs): a thin page's message is read only when small. */
const MAX_CHARS = 256 * 1024;
/** As the host's ANSWER_MS: how long a page whose lock went free has to answer a ping. */
const ANSWER_MS = 2000;
const waiting = [];
let host = null;
let failed = null;

const plainError = (e) => (isHelseIdError(e)
  ? { code: e.code, message: e.message, retryable: e.retryable, claim: e.claim, oauthError: e.oauthError, status: e.status }
  : { code: 'config_invalid', message: String(e?.message ?? e), retryable: false });

/**
 * Whether a message from a page is small plain data: strings, numbers, booleans and null, in
 * arrays and objects at most 8 deep, MAX_CHARS in all (counted before anything reads it, so that
 * no page can make the worker copy megabytes into wasm).
 */
function small(value, budget = { chars: MAX_CHARS }, depth = 0) {
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return (budget.chars -= 8) >= 0;
  if (typeof value === 'string') return (budget.chars -= value.length) >= 0;
  if (typeof value !== 'object' || depth > 8 || (Array.isArray(value) && value.length > 1024)) return false;
  for (const key in value) {
    budget.chars -= key.length + 1;
    if (budget.chars < 0 || !small(value[key], budget, depth + 1)) return false;
  }
  return budget.chars >= 0;
}

/** A thin page on `port`: the stand-in client and the page's calls to it. */
function thinPage(port, open) {
  const asks = new Map();
  let client = null;
  let closed = false;
  const state = () => ({ p: 'state', session: client.session(), context: client.context() });
  // While the page's lock is free it may be gone (or a page of the origin stole the lock):
  // assertions it was asked for fail at once, so that the host asks the next page now rather
  // than after assertionTimeoutSeconds.
  let suspect = false;
  const failAsks = () => {
    for (const [, ask] of asks) ask.reject(new TypeError('the page is gone'));
    asks.clear();
  };
  const end = () => {
    if (closed) return;
    closed = true;
    failAsks();
    port.close();
    // After the stand-in has told the host that it cannot sign (microtasks).
    setTimeout(() => client?.dispose(), 0);
  };
  // The page asks to sign: it holds its key (or getAssertion), the stand-in never does.
  const getAssertion = (ctx) => new Promise((resolve, reject) => {
    if (closed || suspect) {
      reject(new TypeError('the page is gone'));
      return;
    }
    const id = crypto.randomUUID();
    asks.set(id, { resolve, reject });
    port.postMessage({ p: 'sign', id, ctx });
  });
  let pong = null;
  port.onmessage = async ({ data }) => {
    if (closed || !data || typeof data !== 'object' || !small(data)) return;
    if (data.p === 'pong') { pong?.(); return; }
    if (data.p === 'signed') {
      const ask = asks.get(data.id);
      asks.delete(data.id);
      if (!ask) return;
      if (typeof data.assertion === 'string') ask.resolve(data.assertion);
      else ask.reject(data.network ? new TypeError(String(data.message)) : new Error(String(data.message)));
      return;
    }
    if (data.p !== 'call' || !client || !CALLS.has(data.method)) return;
    let answer;
    try {
      const value = await client[data.method](...(Array.isArray(data.args) ? data.args : []));
      answer = { p: 'result', id: data.id, value: value === undefined ? null : value };
    } catch (e) {
      answer = { p: 'result', id: data.id, error: plainError(e) };
    }
    if (closed) return;
    port.postMessage(state());
    port.postMessage(answer);
  };
  const { config, lock, signs } = open;
  const clientAuth = signs ? { type: 'assertion_provider', getAssertion } : { type: 'none' };
  const channel = new MessageChannel();
  host.connect(channel.port1);
  HelseIdClient.createForPage({ ...config, clientAuth }, channel.port2, String(lock)).then(
    (made) => {
      if (closed) { made.dispose(); return; }
      client = made;
      for (const name of EVENTS) {
        client.on(name, (detail) => {
          if (closed) return;
          port.postMessage(state());
          port.postMessage({ p: 'event', name, detail: detail ?? null });
        });
      }
      port.postMessage(state());
      port.postMessage({ p: 'opened' });
      // The page's lock is free once it closes or crashes: its stand-in ends then. A page
      // whose lock another page of the origin stole and let go still answers: watched again.
      const watch = () => navigator.locks.request(String(lock), () => {
        suspect = true;
        failAsks();
        const answered = new Promise((resolve) => { pong = () => resolve(true); setTimeout(() => resolve(false), ANSWER_MS); });
        port.postMessage({ p: 'ping' });
        answered.then((yes) => { pong = null; suspect = false; if (yes && !closed) watch(); else end(); });
      });
      watch();
    },
    (e) => {
      port.postMessage({ p: 'opened', error: plainError(e) });
      end();
    },
  );
}

function take(port) {
  port.onmessage = ({ data }) => {
    port.onmessage = null;
    if (data && data.p === 'open' && typeof data.lock === 'string' && small(data)) {
      if (failed) port.postMessage({ p: 'opened', error: failed });
      else thinPage(port, data);
      return;
    }
    // A page with the whole library: the host reads its port from the first message on.
    host.connect(port);
    port.dispatchEvent(new MessageEvent('message', { data }));
  };
}

self.onconnect = (event) => {
  const port = event.ports[0];
  port.postMessage(ALIVE);
  if (host) take(port);
  else waiting.push(port);
};

init().then(
  () => {
    host = startSessionHost();
    for (const port of waiting.splice(0)) take(port);
  },
  (e) => {
    const error = { code: 'config_invalid', message: `the session host could not load its WebAssembly: ${e?.message ?? e}`, retryable: false };
    failed = error;
    const refusal = { m: JSON.stringify({ t: 'welcome', error }) };
    for (const port of waiting.splice(0)) { port.postMessage(refusal); port.postMessage({ p: 'opened', error }); }
    self.onconnect = (event) => { event.ports[0].postMessage(ALIVE); event.ports[0].postMessage(refusal); event.ports[0].postMessage({ p: 'opened', error }); };
  },
);
