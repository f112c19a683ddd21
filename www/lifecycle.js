// The client's life on this page: HelseIdClient.create, login, the redirect callback (the
// library's isRedirectCallback / handleRedirectCallback), joining a session that is already
// running, the events, logout.
import { $, el, clock, audOf, nowSeconds, PageError } from './dom.js';
import { state, update } from './store.js';
import { showError, clearError, showNotice, hideNotice, setState, setBusy } from './messages.js';
import { readForm, saveForm, validateForm, clientConfig, demoEpjLogin, lockForm } from './panels/config.js';
import { startTicker, resetSessionPanels, logRefresh, CAUSES } from './panels/session.js';
import { setupContextForm, resetContextPanel, onContextChanged, onContextExpired, logEvent } from './panels/context.js';
import { resetPortals } from './panels/portals.js';
import { renderHttpSupport, resetHttpPanel } from './panels/http-client.js';
import { wireMark } from './wire.js';

const LOGGED_OUT_KEY = 'helseid-wasm-demo.loggedOut';
// Set when this tab sends the browser to HelseID (no secret: "a login from this tab is under
// way"). Back on the page it tells the private-JWK mode to ask for the key, and says whether a
// failing create() is worth an error card. Whether the address is a callback the library says.
const LOGIN_STARTED_KEY = 'helseid-wasm-demo.loginStarted';

/** A new HelseIdClient for the form's values, its events wired to the panels. */
async function createClient(cfg) {
  disposeClient();
  const client = await state.lib.HelseIdClient.create(clientConfig(cfg));
  const subscriptions = [
    client.on('tokenRefreshed', onTokenRefreshed),
    client.on('contextChanged', onContextChanged),
    client.on('contextExpired', onContextExpired),
    client.on('userChanged', onUserChanged),
    client.on('sessionExpired', () => {
      showError(new PageError('login_required', 'The session ended: the refresh token was rejected or has expired.'));
      showLoggedOut();
    }),
    client.on('loggedOut', () => {
      showLoggedOut();
      showNotice('You were logged out (in this or another tab).');
    }),
  ];
  update({ client, subscriptions });
  return client;
}

function disposeClient() {
  for (const u of state.subscriptions) { try { u(); } catch { /* already gone */ } }
  try { state.client?.dispose(); } catch { /* already disposed */ }
  update({ client: null, subscriptions: [] });
}

/** tokenRefreshed: the refresh log and the events log, both with the library's cause. */
function onTokenRefreshed(detail) {
  logRefresh(detail);
  const origin = { call: 'this-tab', context: 'this-tab', 'other-tab': 'other-tab', schedule: 'timer' }[detail.cause] ?? 'unknown';
  logEvent('tokenRefreshed', origin,
    [`new token for ${audOf(detail.accessTokenClaims ?? {})}, valid until ${clock(detail.expiresAt)} · cause "${detail.cause}" (${CAUSES[detail.cause] ?? 'not known to this page'})`],
    { 'data-cause': detail.cause });
}

/** Log in: the demo EPJ login (local double), a client, then the browser leaves for HelseID. */
export async function login(event) {
  event?.preventDefault();
  clearError();
  hideNotice();
  const cfg = readForm();
  try {
    validateForm(cfg);
    saveForm();
    setBusy(true, 'Redirecting to HelseID…');
    await demoEpjLogin(cfg);
    const client = await createClient(cfg);
    const options = {};
    if (cfg.loginHint) options.loginHint = cfg.loginHint;
    sessionStorage.setItem(LOGIN_STARTED_KEY, '1');
    await client.loginWithRedirect(options); // the browser leaves the page here
  } catch (err) {
    sessionStorage.removeItem(LOGIN_STARTED_KEY);
    setBusy(false);
    showError(err);
  }
}


/**
 * Page load, the package ready: back from HelseID, or a session that is already running (another
 * tab's, or the session host's), or nothing. A client is needed to ask; in the private-JWK mode
 * there is none before the key is loaded again, so the page asks for it first.
 */
export async function start() {
  const loginStarted = sessionStorage.getItem(LOGIN_STARTED_KEY) !== null;
  if (sessionStorage.getItem(LOGGED_OUT_KEY)) {
    sessionStorage.removeItem(LOGGED_OUT_KEY);
    showNotice('You are logged out: the library forgot the tokens, revoked the refresh token and ended the HelseID session.');
  }
  const cfg = readForm();
  if (cfg.authMode === 'jwk') {
    if (loginStarted) awaitKey(); // the mark stays until the login is finished or cancelled
    return;
  }
  sessionStorage.removeItem(LOGIN_STARTED_KEY);
  if (!cfg.issuer || !cfg.clientId) return;
  if (loginStarted) setBusy(true, 'Finishing login…');
  let client;
  try {
    client = await createClient(cfg);
  } catch (err) {
    disposeClient();
    setBusy(false);
    // After a login this tab started, the failure matters; otherwise the issuer may simply not
    // be up yet, and the page waits for Log in.
    if (loginStarted) fail(err);
    return;
  }
  setBusy(false);
  if (client.isRedirectCallback()) {
    await finishLogin(client);
    return;
  }
  const session = client.session();
  if (!session) {
    disposeClient();
    return;
  }
  await onLoggedIn(session, { joined: true });
  showNotice({
    worker: 'This tab found the session the session host (a SharedWorker) keeps for every tab of the app: no login, no token request.',
    'page-follower': 'This tab joined the session of the tab that holds it: that tab makes the token requests, both see every switch.',
    'page-holder': 'This tab holds the session it found.',
  }[client.sessionHost()] ?? 'This tab joined a running session.');
}

/** Private-JWK mode, back from HelseID: the key was in memory only, so ask for it again. */
function awaitKey() {
  update({ awaitingKey: true });
  $('welcome').hidden = true;
  $('finish').hidden = false;
  setState('busy', 'Waiting for the key');
  $('finish-jwk').focus();
}

/** A key was imported: if a login waits for it, finish it now (codes are short-lived). */
export async function onKeyLoaded() {
  clearError();
  if (!state.awaitingKey) return;
  sessionStorage.removeItem(LOGIN_STARTED_KEY);
  update({ awaitingKey: false });
  $('finish').hidden = true;
  setBusy(true, 'Finishing login…');
  let client;
  try {
    client = await createClient(readForm());
  } catch (err) {
    setBusy(false);
    fail(err);
    return;
  }
  setBusy(false);
  if (!client.isRedirectCallback()) {
    disposeClient();
    $('welcome').hidden = false;
    setState('idle', 'Not logged in');
    showNotice('There is no answer from HelseID in the address to finish. Press Log in to start again.');
    return;
  }
  await finishLogin(client);
}

/** The library validates the callback, exchanges the code, checks the tokens and cleans the address bar. */
async function finishLogin(client) {
  setBusy(true, 'Finishing login…');
  try {
    const session = await client.handleRedirectCallback();
    setBusy(false);
    await onLoggedIn(session);
  } catch (err) {
    setBusy(false);
    fail(err);
  }
}

function fail(err) {
  showError(err, { phase: 'login' });
  setState('error', 'Login failed');
}

/** "Cancel this login" (private-JWK mode): no client to hand the callback to; the page drops its query. */
export function cancelAwaitedLogin() {
  sessionStorage.removeItem(LOGIN_STARTED_KEY);
  update({ awaitingKey: false });
  $('finish').hidden = true;
  $('welcome').hidden = false;
  setState('idle', 'Not logged in');
  history.replaceState(history.state, '', location.pathname);
  showNotice('Login cancelled. Press Log in to start again.');
}

async function onLoggedIn(session, { joined = false } = {}) {
  $('welcome').hidden = true;
  $('checks-failed').hidden = true;
  $('session').hidden = false;
  lockForm(true);
  setState('ok', joined ? 'Logged in (joined)' : 'Logged in');
  update({ session, sessionStart: nowSeconds(), refreshMark: wireMark() }); // the panels render it
  setupContextForm();
  renderHttpSupport();
  startTicker();
  $('user-title').focus?.();
}

function showLoggedOut() {
  update({ session: null });
  $('session').hidden = true;
  $('welcome').hidden = false;
  lockForm(false);
  resetSessionPanels();
  resetContextPanel();
  resetPortals();
  resetHttpPanel();
  setState('idle', 'Not logged in');
}

function onUserChanged(h) {
  const who = h?.name ?? h?.pid ?? 'another user';
  showLoggedOut();
  const follow = el('button', { type: 'button', class: 'secondary', id: 'follow-user', text: `Continue as ${who}` });
  follow.addEventListener('click', async () => {
    try {
      const session = await state.client.adoptSession();
      hideNotice();
      await onLoggedIn(session, { joined: true });
    } catch (err) {
      showError(err);
    }
  });
  showNotice(`Another tab logged in as ${who}${h?.pid ? ` (pid ${h.pid})` : ''}: this tab’s session has ended (userChanged). `, follow, ' or log in again.');
}

export async function logout() {
  clearError();
  setBusy(true, 'Logging out…');
  sessionStorage.setItem(LOGGED_OUT_KEY, '1');
  try {
    await state.client.logout(); // revokes the refresh token, then goes to end_session_endpoint
  } catch (err) {
    sessionStorage.removeItem(LOGGED_OUT_KEY);
    setBusy(false);
    showError(err);
  }
}
