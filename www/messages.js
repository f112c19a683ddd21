// The error card, the notice line and the state badge in the top bar.
import { $, el, PageError } from './dom.js';
import { state } from './store.js';
import { renderFailedChecks } from './panels/checks.js';

// What to do about each error code (API.md), one sentence each.
const ADVICE = {
  config_invalid: 'Fix the configuration on the left (issuer, client ID, redirect URI, scope with “openid”) and try again.',
  discovery_failed: 'The issuer’s discovery document could not be read. Check the issuer URL and that the server is reachable (for the local double: is `make demo` running?).',
  issuer_mismatch: 'The issuer must equal the `issuer` in the discovery document exactly, including scheme, port and any trailing slash.',
  missing_transaction: 'No login was started in this tab for this callback (it was already used, or started in another tab). Press Log in to start again.',
  state_mismatch: 'This callback does not belong to the login started here. Start a new login; if it keeps happening, something is altering the redirect.',
  authorization_response_iss_mismatch: 'The answer came from another issuer than the one configured. Check the issuer and log in again.',
  authorization_denied: 'HelseID ended the login without signing the user in (cancelled or not allowed). Log in again, or pick another user.',
  token_request_failed: 'HelseID refused the request. Check that the client ID, its key, the redirect URI, the scopes and the resource are registered for this client in Selvbetjening.',
  network_error: 'A request did not get through. Check the network and that the server is up, then try again.',
  invalid_token: 'A token was not a well-formed JWT. Do not use it; log in again and check the issuer.',
  unsupported_alg: 'A token was signed with an algorithm the library refuses. Check the issuer; do not trust the token.',
  unknown_key: 'No key in the issuer’s JWKS fits the token, even after fetching the JWKS again. Check the issuer.',
  signature_invalid: 'A token’s signature did not verify, so it was thrown away. Log in again; if it repeats, check the issuer.',
  token_expired: 'A token had already expired. Check this computer’s clock (the tolerance is 30 s) and log in again.',
  token_not_yet_valid: 'A token is not valid yet. Check this computer’s clock (the tolerance is 30 s) and log in again.',
  claim_invalid: 'A token claim failed its check (see “claim” below), so the session was refused. Check the configuration against the client’s registration.',
  missing_sfm_id: 'The access token has no SFM id. Register the client for SFM (sfm-id or journal id) in Selvbetjening, or untick “Require SFM id” if you do not call SFM.',
  security_level_insufficient: 'The user signed in with a lower security level than required (4). Sign in with a level 4 method such as BankID; in the test double pick a user other than niva3.',
  dpop_binding_mismatch: 'The token is not bound to this browser’s DPoP key, so it was refused. Log in again.',
  dpop_nonce_failed: 'The server kept asking for a new DPoP nonce. Try again; if it repeats, check the server’s nonce handling.',
  login_required: 'There is no session any more (the refresh token was rejected or has expired). Log in again.',
  context_invalid: 'The context is malformed (see “claim” below) and nothing was sent. Fix that field and switch again.',
  context_expired: 'The patient attest is older than HelseID allows. Switch the context again to make a new attest.',
  portal_failed: 'The national portal refused to open a session (see the status and error below). Check the portal address and that the token fits it.',
  origin_not_allowed: 'The library sends a token only to the origins configured for its resource (apiOrigins: the API base URL and the portal addresses, read when you log in). Check the address, then log in again.',
  // Raised by this page, not by the library:
  package_not_loaded: 'Build the package first: `make demo` (or `scripts/build.sh`) writes pkg/, which this page imports from /pkg/helseid_wasm.js.',
  form_incomplete: 'Fill in the highlighted field and try again.',
  key_missing: 'Load the private JWK (paste it and press “Use pasted key”, or load the file), or switch to the backend signer.',
  jwk_invalid: 'Paste a single private JWK (JSON with “kty” and the private part “d”), as downloaded from Selvbetjening.',
  signer_failed: 'The backend signer did not return an assertion. Check the signer URL and that the backend knows this client ID.',
  api_not_configured: 'Set the SFM-style API base URL under “Scope, resource and checks”.',
  portal_not_configured: 'Fill in the portal’s address in its panel.',
  attest_missing: 'Switch the context with a patient attest for nhn:kjernejournal first (tick “Patient: trust-framework attest”).',
  sfm_not_open: 'Open SFM first.',
  package_too_old: 'This build of helseid-wasm has no client.authHeaders / client.takeDpopNonce: rebuild the package from a version that has them (API.md, “Headers for your own HTTP client”).',
  unexpected: 'Something unexpected failed. The browser console has the details; reloading the page starts over.',
};

// A short title for the error card, where a code deserves one.
const TITLES = {
  config_invalid: 'The configuration is not valid',
  discovery_failed: 'The issuer could not be reached',
  issuer_mismatch: 'The issuer does not match discovery',
  missing_transaction: 'No login is waiting for this callback',
  state_mismatch: 'The callback’s state does not match',
  authorization_denied: 'HelseID did not sign the user in',
  token_request_failed: 'HelseID refused the request',
  network_error: 'A request did not get through',
  signature_invalid: 'A token’s signature is not valid',
  token_expired: 'A token has expired',
  claim_invalid: 'A token claim failed its check',
  missing_sfm_id: 'The access token has no SFM id',
  security_level_insufficient: 'The user’s security level is too low',
  dpop_binding_mismatch: 'The token is not bound to this browser',
  dpop_nonce_failed: 'The API kept asking for a DPoP nonce',
  login_required: 'The session has ended',
  context_invalid: 'The context is not valid',
  context_expired: 'The patient attest has expired',
  portal_failed: 'The portal refused the session',
  origin_not_allowed: 'That API origin is not allowed',
  portal_not_configured: 'No portal address',
  attest_missing: 'No patient attest in the context',
  package_not_loaded: 'The helseid-wasm package is not built',
  package_too_old: 'The helseid-wasm package is too old for this panel',
  form_incomplete: 'The configuration is incomplete',
  api_not_configured: 'No API is configured',
  key_missing: 'No private key is loaded',
  jwk_invalid: 'That key cannot be used',
  signer_failed: 'The backend signer failed',
};

/** The error card for any error; `phase: "login"` also shows which token check failed. */
export function showError(err, { phase } = {}) {
  console.error(err);
  const isLib = state.lib?.isHelseIdError?.(err) ?? false;
  const errCode = err?.code ?? 'unexpected';
  $('error-code').textContent = errCode;
  $('error-title').textContent = TITLES[errCode] ?? 'Something went wrong';
  let advice = ADVICE[errCode] ?? ADVICE.unexpected;
  if (errCode === 'authorization_denied' && err.oauthError) advice = `HelseID answered “${err.oauthError}”: the login was cancelled or not allowed. Log in again, or pick another user.`;
  $('error-advice').textContent = advice.replace(/`([^`]+)`/g, '“$1”');
  const details = [
    ['What happened', err?.message ?? String(err)],
    ['Raised by', isLib ? 'helseid-wasm' : err instanceof PageError ? 'this demo page' : 'the browser'],
    ['Claim', err?.claim],
    ['OAuth error', err?.oauthError],
    ['Description', err?.oauthErrorDescription],
    ['HTTP status', err?.status],
    ['Retryable', isLib ? (err.retryable ? 'yes' : 'no') : undefined],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  $('error-details').replaceChildren(...details.map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: String(v) }))));
  $('error').hidden = false;
  if (phase === 'login') {
    renderFailedChecks(err);
    $('welcome').hidden = true;
  }
  $('error').scrollIntoView?.({ block: 'nearest' });
}

export function clearError() {
  $('error').hidden = true;
  $('checks-failed').hidden = true;
  if (!state.session && !state.awaitingKey) $('welcome').hidden = false;
}

/** The notice line: text, or nodes (a button to follow another user). */
export function showNotice(...content) {
  const n = $('notice');
  n.replaceChildren(...content);
  n.hidden = false;
}

export function hideNotice() {
  $('notice').hidden = true;
}

/** The top bar's state badge: idle, busy, ok or error. */
export function setState(kind, text) {
  const s = $('state-label');
  s.dataset.state = kind;
  s.value = text;
}

export function setBusy(busy, text) {
  document.body.setAttribute('aria-busy', String(busy));
  $('login').disabled = busy;
  $('login-main').disabled = busy;
  $('logout').disabled = busy;
  if (busy) setState('busy', text);
  else if (!state.session) setState('idle', 'Not logged in');
}
