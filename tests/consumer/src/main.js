// The smallest real consumer of the npm package, in React: create a client, log in, handle the
// callback, then render with the README's useHelseId() hook (src/useHelseId.js). Settings come
// from the query string on the first load (the packaging test passes the test double's ephemeral
// issuer) and are kept in sessionStorage for the page load after the redirect.
// The thin page (issue 22): no WebAssembly in the page while the session host runs; login and
// the callback load the whole package (a lazy chunk the bundler makes).
import init, { HelseIdClient, isHelseIdError, version } from 'helseid-wasm/page';
import { createElement as h, Fragment, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useHelseId } from './useHelseId.js';

const KEY = 'consumer-config';
const root = createRoot(document.getElementById('root'));

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

/** One labelled value; the packaging test reads them by id. */
const field = (id, label, value) => h('p', null, `${label}: `, h('output', { id }, value));

function App({ client }) {
  const { session, sessionHost, event, login, logout } = useHelseId(client);
  const [failure, setFailure] = useState(null);
  const run = (action) => () => action().catch((e) => setFailure(describe(e)));
  const cause = event?.detail?.cause ? ` (${event.detail.cause})` : '';
  return h(Fragment, null,
    field('status', 'Status', failure ?? (session ? 'logged in' : 'ready')),
    field('version', 'helseid-wasm', version()),
    field('pid', 'pid', session?.helseid.pid ?? ''),
    field('expires', 'token expires at', session ? String(session.expiresAt) : ''),
    field('host', 'session host', sessionHost),
    field('event', 'last event', event ? `${event.name}${cause}` : ''),
    h('button', { id: 'login', type: 'button', onClick: run(() => login()) }, 'Log in'),
    h('button', { id: 'refresh', type: 'button', disabled: !session, onClick: run(() => client.refresh()) }, 'Refresh'),
    h('button', { id: 'logout', type: 'button', disabled: !session, onClick: run(() => logout()) }, 'Log out'));
}

async function main() {
  await init();
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
  if (client.isRedirectCallback()) {
    await client.handleRedirectCallback();
  } else if (new URLSearchParams(location.search).has('login')) {
    root.render(field('status', 'Status', 'redirecting'));
    await client.loginWithRedirect();
    return;
  }
  // "worker" (the hook's sessionHost) when the bundler shipped the package's session host.
  root.render(h(App, { client }));
}

function describe(e) {
  return isHelseIdError(e) ? `error ${e.code}: ${e.message}` : `error: ${e?.message ?? e}`;
}

main().catch((e) => root.render(field('status', 'Status', describe(e))));
