// helseid-wasm/page: the same API as "helseid-wasm", with no WebAssembly in the page while the
// session host runs (a SharedWorker). `init()` loads nothing; `verifyJwt`, login, the callback,
// the portals and the page-holder fallback load the whole package when first used.
export { HelseIdClient, decodeJwt, verifyJwt, isHelseIdError, version } from './helseid_wasm.js';
export type * from './helseid_wasm.js';
/** Nothing to load in a thin page; kept so that `await init()` works as with the whole package. */
export default function init(): Promise<void>;
