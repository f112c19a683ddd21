#!/usr/bin/env node
// Demo CLI: the HelseID test double (with its portal stand-ins) + the static app server, on fixed
// loopback ports.
//
//   node www/dev-idp/start.mjs            (or: npm run dev-idp)
//
// Environment:
//   APP_PORT=4000 OP_PORT=4010 API_PORT=4011   ports (all on 127.0.0.1)
//   SFM_GATEWAY_PORT=4012 SFM_CLIENT_PORT=4013 KJ_API_PORT=4014 KJ_WEB_PORT=4015   portal stand-ins
//   KJ_REQUIRE_ATTEST=0   the Kjernejournal stand-in takes tokens without nhn:tillitsrammeverk:parameters
//   AUTO_LOGIN=0          show the test-user picker instead of signing in the first user
//   ACCESS_TOKEN_TTL=60   access token lifetime, seconds (also ID_TOKEN_TTL, REFRESH_TOKEN_TTL)
//   QUIET=0               log oidc-provider error details (default: verbose here)
import { startDouble } from './double.mjs';
import { startStatic } from './static.mjs';

const HOST = '127.0.0.1';
const int = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
};
const bool = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  return !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
};

const appPort = int('APP_PORT', 4000);
const stat = await startStatic({ host: HOST, port: appPort });
const dbl = await startDouble({
  host: HOST,
  opPort: int('OP_PORT', 4010),
  apiPort: int('API_PORT', 4011),
  sfmGatewayPort: int('SFM_GATEWAY_PORT', 4012),
  sfmClientPort: int('SFM_CLIENT_PORT', 4013),
  kjApiPort: int('KJ_API_PORT', 4014),
  kjWebPort: int('KJ_WEB_PORT', 4015),
  kjRequireAttest: bool('KJ_REQUIRE_ATTEST', true),
  appOrigin: stat.origin,
  autoLogin: bool('AUTO_LOGIN', true),
  accessTokenTtl: int('ACCESS_TOKEN_TTL', 60),
  idTokenTtl: int('ID_TOKEN_TTL', 300),
  refreshTokenTtl: int('REFRESH_TOKEN_TTL', 3600),
  quiet: bool('QUIET', false),
});

const o = dbl.options();
console.log(`HelseID test double (TEST ONLY, loopback)
  app (static)   ${stat.origin}/            (/pkg/* -> pkg/, /e2e/* -> tests/e2e/pages/, rest -> www/)
  issuer         ${dbl.issuer}
  discovery      ${dbl.issuer}/.well-known/openid-configuration
  demo API       ${dbl.apiOrigin}/api/whoami, POST ${dbl.apiOrigin}/api/Session/create
  EPJ login      POST ${dbl.apiOrigin}/app-session  {"user":"kvart","password":"kvart-test-only-password","clientId":"helseid-wasm-rs256"}  (HttpOnly cookie; the signer needs it)
  assertions     POST ${dbl.apiOrigin}/assertion  {"audience","endpoint","clientId","grantType","assertionDetails","detailsClaim"}
  SFM gateway    POST ${dbl.sfmGatewayOrigin}/api/v2/Session/create | refresh | end, POST /api/v2/PatientTicket (also without /v2)
  SFM client     ${dbl.sfmClientOrigin}/sfm-client/   (iframe; postMessage login / setPatient)
  KJ innlogging  POST ${dbl.kjApiOrigin}/api/session/create | refresh | end, GET /api/session/ping   (aud nhn:kjernejournal)
  KJ web         ${dbl.kjWebOrigin}/hentpasient.html?code=...&ehr_code_verifier=...
  control        ${dbl.issuer}/__test/counts | POST /__test/reset | POST /__test/options | GET /__test/portals
  clients        ${dbl.clients.map((c) => `${c.clientId} (${c.alg})`).join(', ')}
  redirect URIs  ${dbl.redirectUris.join(', ')}
  users          ${dbl.users.map((u) => `${u.key} (level ${u.security_level})`).join(', ')}; login_hint=deny denies
  autoLogin=${o.autoLogin} accessTokenTtl=${o.accessTokenTtl}s idTokenTtl=${o.idTokenTtl}s refreshTokenTtl=${o.refreshTokenTtl}s kjRequireAttest=${o.kjRequireAttest}
Ctrl-C to stop.`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([dbl.close(), stat.close()]);
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
