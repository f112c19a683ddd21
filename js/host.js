// The page's side of the session host (API.md "Session host"): the package's worker, created
// with `new SharedWorker(new URL(...), { type: "module", ... })` written out literally, the form
// Vite and webpack 5 recognise and bundle (options must be static: the version in the name is
// written in by scripts/build.sh). `url`: an app that copies the worker script serves it there.
export function openSessionHost(url) {
  if (typeof SharedWorker !== 'function') throw new Error('SharedWorker is not available');
  if (url) {
    return new SharedWorker(url, { type: 'module', name: 'helseid-wasm@__VERSION__', extendedLifetime: true });
  }
  return new SharedWorker(new URL('../../../helseid_wasm_worker.js', import.meta.url), { type: 'module', name: 'helseid-wasm@__VERSION__', extendedLifetime: true });
}
