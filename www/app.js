// The helseid-wasm demo page: no bundler, the package is imported straight from /pkg/.
//
// What an EPJ frontend does is all here, one module per panel, with the page's state in one
// object (store.js):
//   lifecycle.js           HelseIdClient.create(config) -> loginWithRedirect() -> (HelseID) ->
//                          isRedirectCallback() + handleRedirectCallback(); session() when a
//                          session is already running; on(...); logout()
//   panels/config.js       the configuration form, presets, the private JWK (memory only)
//   panels/session.js      the user, sessionHost(), the token's lifetime, tokenRefreshed + cause
//   panels/checks.js       every token check, and the failed one after a refused login
//   panels/context.js      setContext() (organisation / journal / patient attest) and the events
//   panels/portals.js      openSfmSession() + attach() + setPatient(), openKjernejournalSession()
//   panels/api-call.js     client.fetch()
//   panels/http-client.js  authHeaders() + your own fetch + takeDpopNonce(), one nonce retry
//
// Storage rules of the page: the configuration (no key, no token) lives in sessionStorage for
// this tab; a private JWK is imported as a non-extractable CryptoKey and kept only in memory;
// tokens stay inside the library. Nothing touches localStorage.
import { $, PageError } from './dom.js';
import { state, update, subscribe } from './store.js';
import { installWireObserver } from './wire.js';
import { showError, clearError } from './messages.js';
import { restoreForm, wireConfigPanel, onStateChange as configOnStateChange } from './panels/config.js';
import { renderSession, wireSessionPanel } from './panels/session.js';
import { renderContext, wireContextPanel } from './panels/context.js';
import { wirePortalPanels } from './panels/portals.js';
import { wireApiPanel } from './panels/api-call.js';
import { wireHttpPanel } from './panels/http-client.js';
import { login, logout, start, onKeyLoaded, cancelAwaitedLogin } from './lifecycle.js';

installWireObserver();

// The panels follow the state: a new Session re-renders them, a key changes the form's status.
subscribe((patch) => {
  if ('session' in patch && state.session) {
    renderSession();
    renderContext();
  }
  configOnStateChange(patch);
});

function wire() {
  const messages = { showError, clearError };
  wireConfigPanel({ onLogin: login, onKeyLoaded, showError });
  wireSessionPanel(messages);
  wireContextPanel(messages);
  wirePortalPanels(messages);
  wireApiPanel(messages);
  wireHttpPanel(messages);
  $('logout').addEventListener('click', logout);
  $('error-dismiss').addEventListener('click', clearError);
  $('finish-cancel').addEventListener('click', cancelAwaitedLogin);
  // Never a blank page: whatever escapes ends up in the error card.
  window.addEventListener('error', (e) => showError(e.error ?? new PageError('unexpected', e.message)));
  window.addEventListener('unhandledrejection', (e) => showError(e.reason));
}

async function main() {
  wire();
  restoreForm();
  try {
    const lib = await import('../pkg/helseid_wasm.js');
    await lib.default();
    update({ lib });
  } catch (err) {
    $('version').value = 'not loaded';
    $('login').disabled = true;
    $('login-main').disabled = true;
    showError(new PageError('package_not_loaded', `Could not load /pkg/helseid_wasm.js: ${err.message}`));
    return;
  }
  $('version').value = `helseid-wasm ${state.lib.version()}`;
  document.documentElement.dataset.ready = 'true';
  await start();
}

main().catch((err) => showError(err));
