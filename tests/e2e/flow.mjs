// Drives a login through the built package in a real page: loginWithRedirect on one page load,
// handleRedirectCallback on the next, as an EPJ frontend does.

import { EPJ_TEST_PASSWORDS } from '../../www/dev-idp/double.mjs';

export const APP_PATH = '/e2e/app.html';

/**
 * Options for window.makeClient (pages/app.html). `assertion`: the demo backend signs the client
 * assertions, for the demo EPJ user `epjUser` (default kvart; signer.mjs EPJ_USERS), who logs in
 * to the demo EPJ with the user's test-only password (EPJ_TEST_PASSWORDS) for this client id. `host`: the
 * `sessionHost` (API.md): the suites written for the page holder (the second round's design,
 * still the fallback) pass "page", the default here; host.test.mjs and others pass "worker".
 * `apiOrigins` (API.md): the double's API origin for e-helse:sfm.api and e-helse:other.api; with
 * `portals`, also the SFM gateway stand-in for both and the Kjernejournal API stand-in for
 * nhn:kjernejournal (portal calls go only to origins listed for their resource, turn 3).
 */
export function clientOptions(stack, { clientId = 'helseid-wasm-rs256', assertion = false, epjUser, extra, host = 'page', portals = false } = {}) {
  const d = stack.double;
  const client = d.clients.find((c) => c.clientId === clientId);
  const gateway = portals ? [d.sfmGatewayOrigin] : [];
  const apiOrigins = {
    'e-helse:sfm.api': [d.apiOrigin, ...gateway],
    'e-helse:other.api': [d.apiOrigin, ...gateway],
    ...(portals ? { 'nhn:kjernejournal': [d.kjApiOrigin] } : {}),
  };
  return {
    issuer: d.issuer,
    clientId,
    jwk: assertion ? undefined : client.privateJwk,
    assertionUrl: assertion ? `${d.apiOrigin}/assertion` : undefined,
    apiOrigin: d.apiOrigin,
    apiOrigins,
    epjUser,
    epjPassword: assertion ? EPJ_TEST_PASSWORDS[epjUser ?? 'kvart'] : undefined,
    extra: { sessionHost: host, ...extra },
  };
}

// E2E_THIN=1: every app page opened here is the thin page (pages/app.html `?thin`); the
// callback page, which the login redirects to, loads the whole package as an app's would.
const THIN = process.env.E2E_THIN === '1';

export async function openApp(page, origin, query = '') {
  const q = THIN ? (query ? `${query}&thin` : '?thin') : query;
  await page.goto(`${origin}${APP_PATH}${q}`);
  await page.waitForFunction(() => window.ready === true);
}

/** Options of a client in worker mode (`sessionHost: "worker"`), no timer unless `extra` says. */
export function workerOptions(stack, extra = {}, more = {}) {
  return clientOptions(stack, { ...more, host: 'worker', extra: { autoRefresh: false, ...extra } });
}

/** A tab of the app (`query`: '?thin' for the thin page) with a client attached
 * (`window.client`); returns { page, session }. */
export async function attachedTab(browser, stack, opts, query = '') {
  const page = await browser.newPage();
  await openApp(page, stack.appOrigin, query);
  const session = await page.evaluate((o) => window.attach(o), opts);
  return { page, session };
}

/**
 * Starts a login and waits for the browser to come back to the app with `code` or `error` (a
 * fault may have removed `state`). Returns the callback URL.
 */
export async function startLogin(page, stack, opts, loginOptions = {}, { fresh = false } = {}) {
  await openApp(page, stack.appOrigin);
  // A fresh tab: no DPoP nonce remembered from an earlier login.
  if (fresh) await page.evaluate(() => sessionStorage.clear());
  const back = page.waitForURL(
    (u) => u.pathname === APP_PATH && (u.searchParams.has('code') || u.searchParams.has('error')),
    { timeout: 20_000 },
  );
  const failure = await page
    .evaluate(async ({ o, l }) => {
      try {
        const client = await window.makeClient(o);
        await client.loginWithRedirect(l);
        return null;
      } catch (e) {
        return window.errorInfo(e);
      }
    }, { o: opts, l: loginOptions })
    .catch(() => null); // the navigation ends the page's context
  if (failure) throw new Error(`loginWithRedirect failed: ${JSON.stringify(failure)}`);
  await back;
  await page.waitForFunction(() => window.ready === true);
  return page.url();
}

/** Runs handleRedirectCallback on the current page; returns { session, href } or { error }. */
export async function finishLogin(page, opts, url) {
  return page.evaluate(async ({ o, url }) => {
    try {
      await window.attach(o);
      const session = await window.client.handleRedirectCallback(url);
      return { session, href: location.href };
    } catch (e) {
      return { error: window.errorInfo(e), href: location.href };
    }
  }, { o: opts, url });
}

/** A full login on `page`; returns the session. */
export async function login(page, stack, opts, loginOptions = {}) {
  await startLogin(page, stack, opts, loginOptions);
  const { session, error } = await finishLogin(page, opts);
  if (error) throw new Error(`login failed: ${JSON.stringify(error)}`);
  return session;
}

/** Runs `fn(client, arg)` in the page and returns its result, or `{ error }` for a rejection. */
export async function withClient(page, fn, arg) {
  return page.evaluate(async ({ src, arg }) => {
    // eslint-disable-next-line no-new-func
    const f = new Function(`return (${src})`)();
    try {
      return await f(window.client, arg);
    } catch (e) {
      return { error: window.errorInfo(e) };
    }
  }, { src: fn.toString(), arg });
}

/**
 * The config pages/app.html's makeClient gives the library for `opts`, as the session host sees
 * it (without the page-local keys: clientAuth, sessionHost, workerUrl, apiOrigins). An attacker
 * that says `hello` with it joins the host's session.
 */
export function hostConfig(stack, opts) {
  const { sessionHost: _host, apiOrigins: _origins, ...extra } = opts.extra ?? {};
  return {
    issuer: opts.issuer,
    clientId: opts.clientId,
    redirectUri: `${stack.appOrigin}/e2e/app.html`,
    postLogoutRedirectUri: `${stack.appOrigin}/e2e/app.html`,
    scope: 'openid profile offline_access helseid://scopes/identity/pid helseid://scopes/identity/security_level helseid://scopes/hpr/hpr_number e-helse:sfm.api/sfm.api2',
    resources: ['e-helse:sfm.api'],
    requireSfmId: true,
    requiredSecurityLevel: '4',
    allowInsecureHttp: true,
    ...extra,
  };
}
