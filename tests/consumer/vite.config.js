import { defineConfig } from 'vite';

export default defineConfig({
  // Dev server only: keep the package out of dependency pre-bundling so that
  // `new URL('helseid_wasm_bg.wasm', import.meta.url)` in its glue still points at the .wasm.
  // `vite build` needs nothing: the .wasm is emitted as an asset.
  optimizeDeps: { exclude: ['helseid-wasm'] },
});
