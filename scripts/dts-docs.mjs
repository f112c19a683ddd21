// Documents what wasm-bindgen writes into pkg/helseid_wasm.d.ts without a doc comment of ours
// (the classes' free() and [Symbol.dispose](), the init types, the wasm's raw exports), so that
// every public name of the shipped .d.ts has one and TypeDoc (make docs) finds none missing.
// The raw exports are tagged @internal: their names change with every build.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../pkg/helseid_wasm.d.ts', import.meta.url);
let dts = readFileSync(file, 'utf8');
const doc = (text, indent = '') => `${indent}/**\n${text.split('\n').map((l) => `${indent} * ${l}`.trimEnd()).join('\n')}\n${indent} */\n`;
const once = (pattern, replacement) => {
  const before = dts;
  dts = dts.replace(pattern, replacement);
  if (dts === before) throw new Error(`dts-docs: ${pattern} not found in the .d.ts`);
};

once(/^(\s*)free\(\): void;$/gm, (_, i) => `${doc('Frees the object\'s memory in the wasm now (else the garbage collector does); do not use it afterwards.', i)}${i}free(): void;`);
once(/^(\s*)\[Symbol\.dispose\]\(\): void;$/gm, (_, i) => `${doc('`free()`, for `using` declarations.', i)}${i}[Symbol.dispose](): void;`);
once(/^export type InitInput = /m, `${doc('What `init()` loads the wasm from: a URL (default: `helseid_wasm_bg.wasm` next to the module), a `Response`, the bytes or a compiled module.')}export type InitInput = `);
once(/^export type SyncInitInput = /m, `${doc('What `initSync()` takes: the wasm\'s bytes or a compiled module.')}export type SyncInitInput = `);
once(/^export interface InitOutput \{\n([\s\S]*?)\n\}/m, (_, body) => `${doc('The wasm module\'s raw exports, as `init()` resolves: internal to the glue (only `memory` is of use, to measure it).')}export interface InitOutput {\n${
  body.split('\n').map((line) => (/^\s*readonly /.test(line) && !/^\s*readonly memory:/.test(line) ? `  /** @internal */\n${line}` : line)).join('\n')
    .replace(/^(\s*)readonly memory:/m, '$1/** The wasm module\'s memory. */\n$1readonly memory:')
}\n}`);
writeFileSync(file, dts);
