// The smallest real consumer of the npm package: create a client, log in, handle the callback.
// Settings come from the query string on the first load (the packaging test passes the test
// double's ephemeral issuer) and are kept in sessionStorage for the page load after the redirect.
import init, { HelseIdClient, isHelseIdError, version } from 'helseid-wasm';

const $ = (id) => document.getElementById(id);
const KEY = 'consumer-config';

function settings() {
  const q = new URLSearchParams(location.search);
  if (q.has('issuer')) {
    const s = {
      issuer: q.get('issuer'),
      clientId: q.get('clientId') ?? 'helseid-wasm-rs256',
      signer: q.get('signer'),
    };
    sessionStorage.setItem(KEY, JSON.stringify(s));
    return s;
  }
  return JSON.parse(sessionStorage.getItem(KEY) ?? 'null') ?? {
    issuer: 'http://127.0.0.1:4010',
    clientId: 'helseid-wasm-rs256',
    signer: 'http://127.0.0.1:4011/assertion',
  };
}

/** TEST ONLY: the local test double's demo EPJ user and its password (signer.mjs EPJ_TEST_PASSWORDS). */
const DEMO_EPJ_USER = { user: 'kvart', password: 'kvart-test-only-password' };

/**
 * The demo backend signs only for a logged-in EPJ user, and only for the client id its session
 * was opened for: log in there first (an HttpOnly cookie).
 */
async function epjLogin(signer, clientId) {
  const r = await fetch(new URL('/app-session', signer), {
    method: 'POST',
    credentials: 'include',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...DEMO_EPJ_USER, clientId }),
  });
  if (!r.ok) throw new Error(`EPJ login answered ${r.status}`);
}

async function main() {
  await init();
  $('version').value = version();
  const s = settings();
  await epjLogin(s.signer, s.clientId);
  const client = await HelseIdClient.create({
    issuer: s.issuer,
    clientId: s.clientId,
    redirectUri: `${location.origin}/`,
    scope: 'openid profile offline_access helseid://scopes/identity/pid helseid://scopes/identity/security_level helseid://scopes/hpr/hpr_number e-helse:sfm.api/sfm.api2',
    resources: ['e-helse:sfm.api'],
    requireSfmId: true,
    requiredSecurityLevel: '4',
    allowInsecureHttp: true,
    clientAuth: {
      type: 'assertion_provider',
      getAssertion: async (ctx) => {
        const r = await fetch(s.signer, {
          method: 'POST',
          credentials: 'include',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ ...ctx, clientId: s.clientId }),
        });
        if (!r.ok) throw new Error(`signer answered ${r.status}`);
        return (await r.json()).assertion;
      },
    },
  });
  // "worker" when the bundler shipped the package's session host (its SharedWorker).
  $('host').value = client.sessionHost();
  $('login').onclick = () => client.loginWithRedirect().catch(show);
  $('login').disabled = false;
  if (client.isRedirectCallback()) {
    const session = await client.handleRedirectCallback();
    $('pid').value = session.helseid.pid ?? '';
    $('status').value = 'logged in';
  } else if (new URLSearchParams(location.search).has('login')) {
    $('status').value = 'redirecting';
    await client.loginWithRedirect();
  } else {
    $('status').value = 'ready';
  }
}

function show(e) {
  $('status').value = isHelseIdError(e) ? `error ${e.code}: ${e.message}` : `error: ${e?.message ?? e}`;
}

main().catch(show);
