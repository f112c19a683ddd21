// The session host (API.md "Session host"): a module SharedWorker, one per origin and package
// version, that holds the session for every tab of the app. It says `alive` to each page at once
// (a page in sessionHost "auto" gives a host 2 s), then hands the page's port to the library.
import init, { startSessionHost } from './helseid_wasm.js';

const ALIVE = { m: '{"t":"alive"}' };
const waiting = [];
let host = null;

self.onconnect = (event) => {
  const port = event.ports[0];
  port.postMessage(ALIVE);
  if (host) host.connect(port);
  else waiting.push(port);
};

init().then(
  () => {
    host = startSessionHost();
    for (const port of waiting.splice(0)) host.connect(port);
  },
  (e) => {
    const error = { code: 'config_invalid', message: `the session host could not load its WebAssembly: ${e?.message ?? e}`, retryable: false };
    const refusal = { m: JSON.stringify({ t: 'welcome', error }) };
    for (const port of waiting.splice(0)) port.postMessage(refusal);
    self.onconnect = (event) => { event.ports[0].postMessage(ALIVE); event.ports[0].postMessage(refusal); };
  },
);
