// The demo page's state, in one object. Panels read `state` and change it through `update()`,
// which tells the subscribers which keys changed. Nothing here is persisted: the configuration
// form keeps its own sessionStorage entry (panels/config.js, no key, no token), and tokens stay
// inside the library.

export const state = Object.seal({
  /** The helseid-wasm module, once loaded. */
  lib: null,
  /** The HelseIdClient, and the unsubscribe functions of its events. */
  client: null,
  subscriptions: [],
  /** Private-JWK mode: { key: CryptoKey (non-extractable), alg, kid }, in memory only. */
  memoryKey: null,
  /** Private-JWK mode: back from HelseID, the login waits for the key. */
  awaitingKey: false,
  /** The Session shown, and when its access token was received (for the meter). */
  session: null,
  sessionStart: 0,
  /** Refreshes in the log, and the wire position after the last one (its token requests). */
  refreshCount: 0,
  refreshMark: 0,
  /** This tab's newest setContext: { t0, mark, resource }. */
  switchRun: null,
  /** The open portal sessions (SfmSession, KjernejournalSession). */
  sfm: null,
  kj: null,
  /** The countdown's setInterval id. */
  ticker: 0,
});

const listeners = new Set();

/** Changes state keys (only known ones) and tells the subscribers. */
export function update(patch) {
  for (const key of Object.keys(patch)) {
    if (!Object.hasOwn(state, key)) throw new TypeError(`the demo state has no key ${key}`);
  }
  Object.assign(state, patch);
  for (const listener of listeners) listener(patch, state);
}

/** `listener(patch, state)` after every update; returns the unsubscribe function. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
