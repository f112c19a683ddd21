// Writes pkg/package.json for the npm package `helseid-wasm` from Cargo.toml's metadata.
import { readFileSync, writeFileSync } from 'node:fs';

const cargo = readFileSync(new URL('../Cargo.toml', import.meta.url), 'utf8');
const field = (name) => cargo.match(new RegExp(`^${name} = "(.*)"$`, 'm'))?.[1];
const pkg = {
  name: 'helseid-wasm',
  version: field('version'),
  description: field('description'),
  license: field('license'),
  repository: { type: 'git', url: field('repository') },
  keywords: ['helseid', 'oidc', 'oauth', 'dpop', 'par', 'wasm', 'sfm'],
  type: 'module',
  main: 'helseid_wasm.js',
  module: 'helseid_wasm.js',
  types: 'helseid_wasm.d.ts',
  exports: {
    '.': { types: './helseid_wasm.d.ts', default: './helseid_wasm.js' },
    './helseid_wasm_bg.wasm': './helseid_wasm_bg.wasm',
    './helseid_wasm_worker.js': './helseid_wasm_worker.js',
    // The thin page (issue 22): the same API with no WebAssembly in the page while the session
    // host runs; the whole package loads lazily where it is needed.
    './page': { types: './helseid_wasm_page.d.ts', default: './helseid_wasm_page.js' },
  },
  files: ['helseid_wasm_bg.wasm', 'helseid_wasm.js', 'helseid_wasm.d.ts', 'helseid_wasm_bg.wasm.d.ts', 'helseid_wasm_worker.js', 'helseid_wasm_page.js', 'helseid_wasm_page.d.ts', 'snippets/'],
  sideEffects: ['./snippets/*'],
};
writeFileSync(new URL('../pkg/package.json', import.meta.url), JSON.stringify(pkg, null, 2) + '\n');
