#!/usr/bin/env node
// Generates the TEST-ONLY client key pairs used by the local HelseID test double.
//
//   node www/dev-idp/generate-keys.mjs [--force]
//
// Writes www/dev-idp/keys/TEST-ONLY-<client_id>.private.jwk.json (private JWKs with kid, alg,
// use). These keys are committed on purpose: they only ever authenticate against the local
// double (www/dev-idp/double.mjs) on 127.0.0.1. Never register them anywhere real.
import { mkdir, writeFile, access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, exportJWK, calculateJwkThumbprint } from 'jose';

const here = dirname(fileURLToPath(import.meta.url));
const keysDir = join(here, 'keys');

export const TEST_CLIENTS = [
  { clientId: 'helseid-wasm-rs256', alg: 'RS256', options: { modulusLength: 2048 } },
  { clientId: 'helseid-wasm-es256', alg: 'ES256', options: {} },
  { clientId: 'helseid-wasm-multi', alg: 'ES256', options: {} },
  { clientId: 'helseid-wasm-noorg', alg: 'RS256', options: { modulusLength: 2048 } },
];

export function keyFileFor(clientId) {
  return join(keysDir, `TEST-ONLY-${clientId}.private.jwk.json`);
}

async function exists(p) {
  try { await access(p); return true; } catch { return false; }
}

async function main() {
  const force = process.argv.includes('--force');
  await mkdir(keysDir, { recursive: true });
  for (const { clientId, alg, options } of TEST_CLIENTS) {
    const file = keyFileFor(clientId);
    if (!force && await exists(file)) {
      console.log(`keep ${file} (use --force to regenerate)`);
      continue;
    }
    const { privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
    const jwk = await exportJWK(privateKey);
    const thumb = await calculateJwkThumbprint(jwk);
    const out = {
      ...jwk,
      kid: `test-only-${clientId}-${thumb.slice(0, 12)}`,
      alg,
      use: 'sig',
    };
    await writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${file}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
