// The helseid-wasm demo page: no bundler, the package is imported straight from /pkg/.
//
// What an EPJ frontend does is all in here, with the page's UI around it:
//   HelseIdClient.create(config) -> loginWithRedirect() -> (HelseID) -> isRedirectCallback() +
//   handleRedirectCallback() -> session(), on("tokenRefreshed"), refresh(), fetch(), logout();
//   setContext() (organisation / journal / patient attest), on("contextChanged" | "userChanged" |
//   "contextExpired"), openSfmSession() + attach() + setPatient(), openKjernejournalSession().
// A second tab of the page joins the session of the tab that logged in (HelseIdClient.create).
//
// Storage rules of the page: the configuration (no key, no token) lives in sessionStorage for this
// tab; a private JWK is imported as a non-extractable CryptoKey and kept only in memory; tokens
// stay inside the library (storage "memory"). Nothing touches localStorage.
import { installWireObserver, shorten, wireMark, wireSince } from './wire.js';
import { LOCAL_CLIENTS, LOCAL_EPJ_USERS, epjUserByPid, organisationChoices } from './local-double.js';

installWireObserver();

const CONFIG_KEY = 'helseid-wasm-demo.config';
const LOGGED_OUT_KEY = 'helseid-wasm-demo.loggedOut';
const SFM_ID_CLAIM = 'e-helse:sfm.api/client/claims/sfm-id';
const JOURNAL_ID_CLAIM = 'nhn:sfm:journal-id';
const ORGNR_PARENT_CLAIM = 'helseid://claims/client/claims/orgnr_parent';
const ORGNR_CHILD_CLAIM = 'helseid://claims/client/claims/orgnr_child';
const ATTEST_CLAIM = 'nhn:tillitsrammeverk:parameters';
const SFM_RESOURCE = 'e-helse:sfm.api';
const KJ_RESOURCE = 'nhn:kjernejournal';
/** The library's default attestResources: only tokens for these carry the attest. */
const ATTEST_RESOURCES = ['nhn:kjernejournal', 'nhn:phr'];
// Trust-framework code systems (shared/helseid/README.md, "Context").
const ORGNR_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.101';
const PURPOSE_OF_USE_SYSTEM = 'urn:oid:2.16.840.1.113883.1.11.20448';
const HEALTHCARE_SERVICE_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.1.8666';
const SOURCE_SYSTEM = 'helseid-wasm demo';
const REFRESH_LEEWAY_SECONDS = 30;
const CLOCK_TOLERANCE_SECONDS = 30;
const SFM_SCOPE = [
  'openid', 'profile', 'offline_access',
  'helseid://scopes/identity/pid', 'helseid://scopes/identity/security_level',
  'helseid://scopes/hpr/hpr_number', 'e-helse:sfm.api/sfm.api2',
].join(' ');
const KJ_SCOPE = 'nhn:kjernejournal/tillitsrammeverk';

const PRESETS = {
  local: {
    label: 'Local test double',
    hint: 'Started by <code>make demo</code>: issuer on :4010, demo backend (assertion signer and SFM-style API) on :4011, SFM and Kjernejournal stand-ins on :4012–:4015. Works offline; test keys only.',
    issuer: 'http://127.0.0.1:4010',
    clientId: 'helseid-wasm-rs256',
    clientIds: Object.keys(LOCAL_CLIENTS),
    clientIdHint: 'The double knows <code>helseid-wasm-rs256</code> and <code>helseid-wasm-es256</code> (single-tenant) and <code>helseid-wasm-multi</code> (multi-tenant: its SFM tokens carry an SFM id only once a journal is chosen, so untick “Require SFM id” to log in with it).',
    scope: `${SFM_SCOPE} ${KJ_SCOPE}`,
    resources: `${SFM_RESOURCE} ${KJ_RESOURCE}`,
    authMode: 'assertion',
    signerUrl: 'http://127.0.0.1:4011/assertion',
    apiBase: 'http://127.0.0.1:4011',
    sfmGateway: 'http://127.0.0.1:4012',
    kjApi: 'http://127.0.0.1:4014',
    kjWeb: 'http://127.0.0.1:4015',
    requiredSecurityLevel: '4',
    requireSfmId: true,
    loginHint: '',
  },
  'helseid-test': {
    label: 'HelseID test',
    hint: 'NHN’s test environment. Needs network access and a client registered in HelseID Selvbetjening with this page’s redirect URI, its public key and these scopes (see the README).',
    issuer: 'https://helseid-sts.test.nhn.no',
    clientId: '',
    clientIds: [],
    clientIdHint: 'Your test client’s id from HelseID Selvbetjening.',
    scope: SFM_SCOPE,
    resources: SFM_RESOURCE,
    authMode: 'jwk',
    signerUrl: '',
    apiBase: '',
    sfmGateway: '',
    kjApi: '',
    kjWeb: '',
    requiredSecurityLevel: '4',
    requireSfmId: true,
    loginHint: '',
  },
};
const FIELDS = ['issuer', 'clientId', 'redirectUri', 'scope', 'resources', 'authMode', 'signerUrl',
  'apiBase', 'requiredSecurityLevel', 'requireSfmId', 'loginHint'];
/** Portal addresses of a preset: edited in the SFM and Kjernejournal panels, not in the form. */
const PORTAL_FIELDS = { sfmGateway: 'sfm-gateway', kjApi: 'kj-api', kjWeb: 'kj-web' };

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
  login_required: 'The session has ended',
  context_invalid: 'The context is not valid',
  context_expired: 'The patient attest has expired',
  portal_failed: 'The portal refused the session',
  origin_not_allowed: 'That API origin is not allowed',
  portal_not_configured: 'No portal address',
  attest_missing: 'No patient attest in the context',
  package_not_loaded: 'The helseid-wasm package is not built',
  form_incomplete: 'The configuration is incomplete',
  api_not_configured: 'No API is configured',
  key_missing: 'No private key is loaded',
  jwk_invalid: 'That key cannot be used',
  signer_failed: 'The backend signer failed',
};

const CHECK_LABELS = {
  callback: 'Authorization response',
  signature: 'Signatures',
  iss: 'Issuer (iss)',
  aud: 'Audience (aud)',
  exp: 'Lifetime (exp, iat, nbf)',
  nonce: 'Nonce',
  sfm: 'SFM id',
  level: 'Security level',
  dpop: 'DPoP binding',
};
const CONTEXT_CHECK_LABELS = {
  orgnr_parent: 'Parent organisation',
  orgnr_child: 'Child organisation',
  journal: 'SFM journal id',
  attest: 'Patient attest',
};

// ------------------------------------------------------------------ small helpers
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) node.append(c);
  return node;
};
const code = (text) => el('code', { text: String(text) });
const clock = (epochSeconds) => new Date(epochSeconds * 1000).toLocaleTimeString('en-GB', { hour12: false });
const nowSeconds = () => Date.now() / 1000;
const mmss = (seconds) => {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const base64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

class PageError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'DemoPageError';
    this.code = code;
    Object.assign(this, extra);
  }
}

// ------------------------------------------------------------------ state
let lib;                 // the helseid-wasm module
let client = null;       // the HelseIdClient
let memoryKey = null;    // { key: CryptoKey (non-extractable), alg, kid } for the JWK mode
let pendingCallback = false;
let session = null;
let sessionStart = 0;    // when the current access token was received (for the meter)
let refreshCount = 0;
let refreshMark = 0;     // wire position after the last refresh
let manualRefresh = null; // { t0 } while the button's refresh runs
let ticker = 0;
let unsubscribe = [];
// Where the session lives (client.sessionHost()): "worker" (the session host, for every tab),
// "page-holder" (this tab) or "page-follower" (another tab holds it).
let hostKind = 'worker';
let switchRun = null;    // { t0, mark, resource } of this tab's newest setContext
// Events this tab's own setContext is still to receive (one tokenRefreshed and one contextChanged
// per successful switch); whatever else arrives was started elsewhere.
const own = { switches: 0 };
let sfm = null;          // the open SfmSession
let kj = null;           // the open KjernejournalSession

// ------------------------------------------------------------------ configuration
function loadStored() {
  try {
    const s = JSON.parse(sessionStorage.getItem(CONFIG_KEY) ?? 'null');
    if (s && PRESETS[s.preset]) return s;
  } catch { /* ignore a damaged entry */ }
  return { preset: 'local', byPreset: {} };
}

function defaultsFor(preset) {
  const p = PRESETS[preset];
  const fields = Object.fromEntries([...FIELDS, ...Object.keys(PORTAL_FIELDS)].map((f) => [f, p[f]]));
  fields.redirectUri = `${location.origin}${location.pathname}`;
  return fields;
}

function currentPreset() {
  return document.querySelector('input[name="preset"]:checked').value;
}

function readForm() {
  const f = $('config-form');
  return {
    issuer: f.issuer.value.trim(),
    clientId: f.clientId.value.trim(),
    redirectUri: f.redirectUri.value.trim(),
    scope: f.scope.value.trim().split(/\s+/).filter(Boolean).join(' '),
    resources: f.resources.value.trim().split(/\s+/).filter(Boolean),
    authMode: f.authMode.value,
    signerUrl: f.signerUrl.value.trim(),
    apiBase: f.apiBase.value.trim().replace(/\/+$/, ''),
    requiredSecurityLevel: f.requiredSecurityLevel.value,
    requireSfmId: f.requireSfmId.checked,
    loginHint: currentPreset() === 'local' ? f.loginHint.value : '',
  };
}

function writeForm(preset, fields) {
  const f = $('config-form');
  for (const r of f.preset) r.checked = r.value === preset;
  f.issuer.value = fields.issuer ?? '';
  f.clientId.value = fields.clientId ?? '';
  f.redirectUri.value = fields.redirectUri ?? '';
  f.scope.value = fields.scope ?? '';
  f.resources.value = [fields.resources ?? []].flat().join(' ');
  for (const r of f.authMode) r.checked = r.value === fields.authMode;
  f.signerUrl.value = fields.signerUrl ?? '';
  f.apiBase.value = fields.apiBase ?? '';
  f.requiredSecurityLevel.value = fields.requiredSecurityLevel ?? '';
  f.requireSfmId.checked = !!fields.requireSfmId;
  f.loginHint.value = fields.loginHint ?? '';
  for (const [key, id] of Object.entries(PORTAL_FIELDS)) $(id).value = fields[key] ?? '';
  syncFormVisibility();
  fillDemoPassword();
}

/** The demo EPJ user the local double's backend logs in: the test user picked, else kvart. */
function demoEpjUser(loginHint) {
  return ['lege2', 'niva3'].includes(loginHint) ? loginHint : 'kvart';
}

/** Pre-fills the demo EPJ password of the picked test user (test-only passwords; never stored). */
function fillDemoPassword() {
  const f = $('config-form');
  $('epj-password').value = LOCAL_EPJ_USERS[demoEpjUser(f.loginHint.value)].password;
}

function readPortalFields() {
  return Object.fromEntries(Object.entries(PORTAL_FIELDS).map(([key, id]) => [key, $(id).value.trim().replace(/\/+$/, '')]));
}

function saveForm() {
  const stored = loadStored();
  const preset = currentPreset();
  stored.preset = preset;
  stored.byPreset = { ...stored.byPreset, [preset]: { ...readForm(), ...readPortalFields() } }; // no key, no token
  sessionStorage.setItem(CONFIG_KEY, JSON.stringify(stored));
  renderTarget();
}

function syncFormVisibility() {
  const preset = currentPreset();
  const p = PRESETS[preset];
  $('env-label').value = p.label;
  $('preset-hint').innerHTML = p.hint;
  $('client-id-hint').innerHTML = p.clientIdHint;
  $('client-ids').replaceChildren(...p.clientIds.map((id) => el('option', { value: id })));
  $('client-id').placeholder = p.clientIds[0] ?? 'e.g. 1c2d3e4f-…';
  const jwk = $('config-form').authMode.value === 'jwk';
  $('jwk-block').hidden = !jwk;
  $('signer-block').hidden = jwk;
  $('user-block').hidden = preset !== 'local';
  $('signer-url').placeholder = preset === 'local' ? PRESETS.local.signerUrl : 'https://your-backend.example/helseid/assertion';
  $('api-base').placeholder = preset === 'local' ? PRESETS.local.apiBase : 'https://your-sfm-gateway.example';
}

function renderTarget() {
  const cfg = readForm();
  const who = cfg.loginHint ? ` as test user ${cfg.loginHint}` : currentPreset() === 'local' ? ' as test user kvart' : '';
  const auth = cfg.authMode === 'jwk' ? (memoryKey ? 'the private JWK in memory' : 'a private JWK (not loaded yet)') : 'the backend signer';
  $('welcome-target').replaceChildren('Issuer ', code(cfg.issuer || '(not set)'), ', client ', code(cfg.clientId || '(not set)'), `, signed by ${auth}${who}.`);
}

function switchPreset(preset) {
  const stored = loadStored();
  writeForm(preset, { ...defaultsFor(preset), ...(stored.byPreset?.[preset] ?? {}) });
  saveForm();
}

/** The HelseIdClient config for the form's values (API.md: unknown keys are an error). */
function clientConfig(cfg) {
  const config = {
    issuer: cfg.issuer,
    clientId: cfg.clientId,
    redirectUri: cfg.redirectUri,
    postLogoutRedirectUri: cfg.redirectUri,
    scope: cfg.scope,
    resources: cfg.resources,
    requireSfmId: cfg.requireSfmId,
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    refreshLeewaySeconds: REFRESH_LEEWAY_SECONDS,
    autoRefresh: true,
    dpop: true,
    storage: 'memory',
    // http:// is allowed for loopback hosts only (the local double, this page on 127.0.0.1);
    // the library enforces that.
    allowInsecureHttp: cfg.issuer.startsWith('http://') || cfg.redirectUri.startsWith('http://'),
    clientAuth: cfg.authMode === 'jwk' ? jwkAuth() : assertionAuth(cfg),
  };
  // client.fetch and the portals send a token only to the origins listed for its resource: the
  // API base for the default resource (the first), the SFM gateway for e-helse:sfm.api, the
  // Kjernejournal API for nhn:kjernejournal (the portal panels' addresses, read now).
  const origins = {};
  const allow = (resource, url) => {
    try {
      if (resource && url) (origins[resource] ??= []).push(new URL(url).origin);
    } catch { /* an invalid address shows its own error when used */ }
  };
  const portals = readPortalFields();
  allow(cfg.resources[0], cfg.apiBase);
  allow(SFM_RESOURCE, portals.sfmGateway);
  allow(KJ_RESOURCE, portals.kjApi);
  if (Object.keys(origins).length) config.apiOrigins = origins;
  if (cfg.requiredSecurityLevel) config.requiredSecurityLevel = cfg.requiredSecurityLevel;
  return config;
}

function jwkAuth() {
  if (!memoryKey) throw new PageError('key_missing', 'No private key is loaded in this page.');
  const auth = { type: 'private_key_jwt', key: memoryKey.key, alg: memoryKey.alg };
  if (memoryKey.kid) auth.kid = memoryKey.kid;
  return auth;
}

/**
 * assertion_provider: the backend holds the key and signs a fresh assertion per request, for the
 * user logged in to the app (its session cookie goes along: credentials "include"). The library
 * passes { audience, endpoint, grantType?, assertionDetails?, detailsClaim? }.
 */
function assertionAuth(cfg) {
  return {
    type: 'assertion_provider',
    getAssertion: async (ctx) => {
      let response;
      try {
        response = await fetch(cfg.signerUrl, {
          method: 'POST',
          credentials: 'include',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ ...ctx, clientId: cfg.clientId }),
        });
      } catch (err) {
        throw new PageError('signer_failed', `The signer at ${cfg.signerUrl} could not be reached (${err.message}).`);
      }
      const body = await response.json().catch(() => ({}));
      if (!response.ok || typeof body.assertion !== 'string') {
        throw new PageError('signer_failed', `The signer answered HTTP ${response.status}${body.error_description ? `: ${body.error_description}` : ''}.`);
      }
      return body.assertion;
    },
  };
}

function validateForm(cfg) {
  const need = [['issuer', 'issuer', 'the issuer'], ['clientId', 'client-id', 'the client ID'], ['redirectUri', 'redirect-uri', 'the redirect URI'], ['scope', 'scope', 'the scope']];
  if (cfg.authMode === 'assertion') need.push(['signerUrl', 'signer-url', 'the signer URL']);
  for (const input of document.querySelectorAll('#config-form [aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const [key, id, what] of need) {
    if (!cfg[key]) {
      const input = $(id);
      input.setAttribute('aria-invalid', 'true');
      if (id === 'scope') $('advanced').open = true;
      input.focus();
      throw new PageError('form_incomplete', `Fill in ${what}.`);
    }
  }
  if (cfg.authMode === 'jwk' && !memoryKey) {
    $('jwk-text').focus();
    throw new PageError('key_missing', 'No private key is loaded in this page.');
  }
}

// ------------------------------------------------------------------ private JWK (memory only)
const ALGS = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  RS384: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  RS512: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  PS384: { name: 'RSA-PSS', hash: 'SHA-384' },
  PS512: { name: 'RSA-PSS', hash: 'SHA-512' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  ES512: { name: 'ECDSA', namedCurve: 'P-521' },
};
const EC_ALG = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

async function importPrivateJwk(text) {
  let jwk;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new PageError('jwk_invalid', 'The key is not valid JSON.');
  }
  if (Array.isArray(jwk?.keys)) {
    if (jwk.keys.length !== 1) throw new PageError('jwk_invalid', `That is a JWK set with ${jwk.keys.length} keys; paste one key.`);
    [jwk] = jwk.keys;
  }
  if (!jwk || typeof jwk !== 'object' || !jwk.kty) throw new PageError('jwk_invalid', 'The JSON has no “kty”: it is not a JWK.');
  if (!jwk.d) throw new PageError('jwk_invalid', 'This is a public key (no “d”). The client needs the private key to sign assertions.');
  const alg = jwk.alg ?? (jwk.kty === 'RSA' ? 'RS256' : EC_ALG[jwk.crv]);
  const algorithm = ALGS[alg];
  if (!algorithm) throw new PageError('jwk_invalid', `Unsupported key: kty ${jwk.kty}, alg ${alg ?? 'unknown'}.`);
  const { alg: _a, key_ops: _o, use: _u, ext: _e, kid, ...material } = jwk;
  let key;
  try {
    key = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
  } catch (err) {
    throw new PageError('jwk_invalid', `WebCrypto refused the key (${err.message}).`);
  }
  return { key, alg, kid };
}

async function useKeyText(text) {
  try {
    memoryKey = await importPrivateJwk(text);
  } finally {
    for (const id of ['jwk-text', 'jwk-file', 'finish-jwk', 'finish-file']) $(id).value = ''; // the JWK text leaves the page either way
  }
  renderKeyStatus();
  clearError();
  if (pendingCallback) await completeCallback();
}

function renderKeyStatus() {
  const status = $('jwk-status');
  if (memoryKey) {
    status.replaceChildren('Key in memory: ', code(memoryKey.alg), memoryKey.kid ? ', kid ' : ' (no kid: HelseID needs one)', memoryKey.kid ? code(shorten(memoryKey.kid, 20, 6)) : '', '. Non-extractable.');
    status.dataset.loaded = 'true';
  } else {
    status.textContent = 'No key loaded.';
    delete status.dataset.loaded;
  }
  $('jwk-forget').hidden = !memoryKey;
  renderTarget();
}

// ------------------------------------------------------------------ client lifecycle
/**
 * The local double's demo backend signs only for a user logged in to the (demo) EPJ, and only for
 * the client id that login names: log in there as the chosen test user with its password (an
 * HttpOnly, SameSite=Strict cookie). A real EPJ has its own login.
 */
async function demoEpjLogin(cfg) {
  const user = demoEpjUser(cfg.loginHint);
  let response;
  try {
    response = await fetch(new URL('/app-session', cfg.signerUrl), {
      method: 'POST',
      credentials: 'include',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user, password: $('epj-password').value, clientId: cfg.clientId }),
    });
  } catch (err) {
    throw new PageError('signer_failed', `The demo backend at ${cfg.signerUrl} could not be reached (${err.message}).`);
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new PageError('signer_failed', `The demo backend refused the EPJ login (HTTP ${response.status}${body.error_description ? `: ${body.error_description}` : ''}).`);
  }
}

/**
 * A new HelseIdClient. `epjLogin: false` when joining another tab's session: that tab's EPJ login
 * (its cookie) already serves the backend signer, and the holder tab signs the refreshes.
 */
async function createClient(cfg, { epjLogin = true } = {}) {
  disposeClient();
  if (epjLogin && cfg.authMode === 'assertion' && currentPreset() === 'local') await demoEpjLogin(cfg);
  const c = await lib.HelseIdClient.create(clientConfig(cfg));
  unsubscribe = [
    c.on('tokenRefreshed', (s) => onRefreshed(s)),
    c.on('contextChanged', (s) => onContextChanged(s)),
    c.on('contextExpired', () => onContextExpired()),
    c.on('userChanged', (h) => onUserChanged(h)),
    c.on('sessionExpired', () => {
      showError(new PageError('login_required', 'The session ended: the refresh token was rejected or has expired.'));
      showLoggedOut();
    }),
    c.on('loggedOut', () => {
      showLoggedOut();
      showNotice('You were logged out (in this or another tab).');
    }),
  ];
  client = c;
  return c;
}

function disposeClient() {
  for (const u of unsubscribe) { try { u(); } catch { /* already gone */ } }
  unsubscribe = [];
  if (client) { try { client.dispose(); } catch { /* already disposed */ } }
  client = null;
}

async function login(event) {
  event?.preventDefault();
  clearError();
  hideNotice();
  const cfg = readForm();
  try {
    validateForm(cfg);
    saveForm();
    setBusy(true, 'Redirecting to HelseID…');
    const c = await createClient(cfg);
    const options = {};
    if (cfg.loginHint) options.loginHint = cfg.loginHint;
    await c.loginWithRedirect(options); // the browser leaves the page here
  } catch (err) {
    setBusy(false);
    showError(err);
  }
}

async function completeCallback() {
  pendingCallback = false;
  $('finish').hidden = true;
  const cfg = readForm();
  setBusy(true, 'Finishing login…');
  try {
    const c = await createClient(cfg);
    if (!c.isRedirectCallback()) {
      setBusy(false);
      return;
    }
    const s = await c.handleRedirectCallback();
    setBusy(false);
    await onLoggedIn(s);
  } catch (err) {
    setBusy(false);
    showError(err, { phase: 'login' });
    setState('error', 'Login failed');
  } finally {
    stripCallbackParams();
  }
}

function stripCallbackParams() {
  const url = new URL(location.href);
  let changed = false;
  for (const p of ['code', 'state', 'iss', 'error', 'error_description', 'error_uri', 'session_state']) {
    if (url.searchParams.has(p)) { url.searchParams.delete(p); changed = true; }
  }
  if (changed) history.replaceState(history.state, '', url.href);
}

async function onLoggedIn(s, { joined = false } = {}) {
  session = s;
  hostKind = client.sessionHost();
  sessionStart = nowSeconds();
  refreshMark = wireMark();
  $('welcome').hidden = true;
  $('checks-failed').hidden = true;
  $('session').hidden = false;
  $('config-fields').disabled = true;
  $('login').hidden = true;
  $('reset-preset').hidden = true;
  setState('ok', joined ? 'Logged in (other tab)' : 'Logged in');
  setupContextForm();
  renderSession();
  await renderChecks();
  startTicker();
  $('user-title').focus?.();
}

function showLoggedOut() {
  session = null;
  stopTicker();
  $('session').hidden = true;
  $('welcome').hidden = false;
  $('config-fields').disabled = false;
  $('login').hidden = false;
  $('reset-preset').hidden = false;
  $('refresh-log').replaceChildren();
  $('refresh-empty').hidden = false;
  $('event-log').replaceChildren();
  $('event-empty').hidden = false;
  $('ctx-result').hidden = true;
  $('ctx-result-empty').hidden = false;
  refreshCount = 0;
  own.switches = 0;
  resetPortals();
  setState('idle', 'Not logged in');
}

async function logout() {
  clearError();
  setBusy(true, 'Logging out…');
  sessionStorage.setItem(LOGGED_OUT_KEY, '1');
  try {
    await client.logout(); // revokes the refresh token, then goes to end_session_endpoint
  } catch (err) {
    sessionStorage.removeItem(LOGGED_OUT_KEY);
    setBusy(false);
    showError(err);
  }
}

// ------------------------------------------------------------------ refresh
async function refreshNow() {
  clearError();
  const button = $('refresh');
  button.disabled = true;
  manualRefresh = { t0: performance.now(), logged: false };
  try {
    const s = await client.refresh();
    // tokenRefreshed normally fired already; log here only if it did not.
    if (!manualRefresh.logged) onRefreshed(s);
  } catch (err) {
    showError(err);
  } finally {
    manualRefresh = null;
    button.disabled = false;
  }
}

const TRIGGER_TAGS = { button: 'Refresh now', call: 'This tab', automatic: 'Automatic', context: 'Context switch', 'other-tab': 'Another tab' };
// tokenRefreshed's cause (API.md) as the log's trigger.
const CAUSE_TRIGGERS = { schedule: 'automatic', call: 'call', context: 'context', 'other-tab': 'other-tab' };
/** Who makes the token requests this tab cannot see (no wire timing): says so in the log. */
const madeBy = () => (hostKind === 'worker' ? 'Token endpoint, by the session host' : 'Made by the tab that holds the session');

function onRefreshed(s) {
  const previous = session;
  // Who started it, as the library says (tokenRefreshed's cause); "Refresh now" is a call.
  let trigger = CAUSE_TRIGGERS[s.cause] ?? 'automatic';
  if (trigger === 'call' && manualRefresh) trigger = 'button';
  const elapsed = trigger === 'button' ? performance.now() - manualRefresh.t0 : undefined;
  if (trigger === 'button') manualRefresh.logged = true;
  const since = trigger === 'context' ? switchRun.mark : refreshMark;
  const tokenCalls = wireSince(since, (e) => /\/connect\/token$/.test(new URL(e.url).pathname) && e.end !== undefined);
  refreshMark = wireMark();
  const wireMs = tokenCalls.length ? Math.max(...tokenCalls.map((e) => e.end)) - Math.min(...tokenCalls.map((e) => e.start)) : undefined;
  const now = nowSeconds();
  refreshCount += 1;
  const left = previous ? previous.expiresAt - now : undefined;
  const aud = audOf(s.accessTokenClaims ?? {});
  const item = el('li', { 'data-trigger': trigger, 'data-token-requests': String(tokenCalls.length) },
    el('div', { class: 'log-head' },
      el('span', { class: `tag ${trigger}`, text: TRIGGER_TAGS[trigger] }),
      el('strong', { text: `#${refreshCount}` }),
      el('time', { text: new Date().toLocaleTimeString('en-GB', { hour12: false }), dateTime: new Date().toISOString() })),
    el('p', { class: 'log-body' },
      wireMs !== undefined ? `Token endpoint ${Math.round(wireMs)} ms (${tokenCalls.length} request${tokenCalls.length === 1 ? '' : 's'}${tokenCalls.length > 1 ? ', DPoP nonce retry' : ''})`
        : hostKind === 'page-holder' ? 'Token endpoint' : madeBy(),
      ` · token for ${aud}`,
      elapsed !== undefined ? ` · refresh() resolved in ${Math.round(elapsed)} ms` : '',
      left !== undefined ? ` · old token had ${Math.max(0, Math.round(left))} s left` : '',
      ` · new token valid ${Math.round(s.expiresAt - now)} s, until ${clock(s.expiresAt)}`));
  $('refresh-log').prepend(item);
  $('refresh-empty').hidden = true;
  logEvent('tokenRefreshed', trigger === 'other-tab' ? 'other-tab' : 'this-tab',
    [`new token for ${aud}, valid until ${clock(s.expiresAt)}`, trigger === 'automatic' ? ' (timer)' : trigger === 'context' ? ' (context switch)' : '']);
  session = s;
  sessionStart = now;
  renderSession();
  renderChecks();
}

// ------------------------------------------------------------------ rendering: session
function renderSession() {
  const h = session.helseid ?? {};
  const id = session.idTokenClaims ?? {};
  const name = h.name ?? ([h.givenName, h.familyName].filter(Boolean).join(' ') || id.name || 'Unknown user');
  $('user-name').textContent = name;
  $('avatar').textContent = name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]).join('').toUpperCase();
  $('user-sub').textContent = `Logged in with ${id.idp ?? 'HelseID'}${h.assuranceLevel ? `, assurance ${h.assuranceLevel}` : ''} · ${session.tokenType} token · client ${h.clientId ?? readForm().clientId}`;
  const facts = [
    ['Personal id (pid)', h.pid, 'pid'],
    ['HPR number', h.hprNumber, 'hpr'],
    ['Security level', h.securityLevel, 'level'],
    ['SFM id', h.sfmId ?? h.journalId, 'sfm'],
  ];
  $('user-facts').replaceChildren(...facts.map(([label, value, key]) => el('div', { class: 'fact' },
    el('dt', { text: label }),
    el('dd', { 'data-fact': key, class: value ? '' : 'muted', text: value ?? 'not in the token' }))));
  $('user-sub').append({
    worker: ' · the session host (a SharedWorker) holds the session for every tab',
    'page-holder': ' · this tab holds the session',
    'page-follower': ' · following the tab that logged in',
  }[client?.sessionHost() ?? hostKind]);
  $('tokens-intro').textContent = `Decoded by the library after it verified them; scope granted: ${session.scope.join(' ')}`;
  $('at-aud').textContent = `(aud ${audOf(session.accessTokenClaims ?? {})})`;
  renderContext();
  $('id-claims').replaceChildren(...claimsView(session.idTokenClaims));
  $('at-claims').replaceChildren(...claimsView(session.accessTokenClaims));
  tick();
}

const TIME_CLAIMS = new Set(['exp', 'iat', 'nbf', 'auth_time']);
/** Pretty JSON with coloured keys, a clock time beside time claims, long strings shortened. */
function claimsView(claims, indent = '  ') {
  const prim = (v) => {
    if (typeof v === 'string') return el('span', { class: 's', text: JSON.stringify(v.length > 90 ? shorten(v, 60, 20) : v) });
    if (typeof v === 'number') return el('span', { class: 'n', text: String(v) });
    return JSON.stringify(v);
  };
  const render = (value, pad) => {
    if (Array.isArray(value)) {
      const flat = value.every((v) => v === null || typeof v !== 'object');
      if (flat && JSON.stringify(value).length <= 60) {
        return ['[', ...value.flatMap((v, i) => (i ? [', ', prim(v)] : [prim(v)])), ']'];
      }
      const parts = ['[\n'];
      value.forEach((v, i) => { parts.push(pad + indent, ...render(v, pad + indent), i < value.length - 1 ? ',\n' : '\n'); });
      parts.push(`${pad}]`);
      return parts;
    }
    if (value && typeof value === 'object') {
      const parts = ['{\n'];
      const keys = Object.keys(value);
      keys.forEach((k, i) => {
        const v = value[k];
        parts.push(pad + indent, el('span', { class: 'k', text: JSON.stringify(k) }), ': ', ...render(v, pad + indent));
        if (i < keys.length - 1) parts.push(',');
        if (TIME_CLAIMS.has(k) && typeof v === 'number') parts.push(el('span', { class: 'c', text: `  // ${clock(v)}` }));
        parts.push('\n');
      });
      parts.push(`${pad}}`);
      return parts;
    }
    return [prim(value)];
  };
  return render(claims, '');
}

function startTicker() {
  stopTicker();
  ticker = setInterval(tick, 1000);
}
function stopTicker() {
  clearInterval(ticker);
  ticker = 0;
}
function tick() {
  if (!session) return;
  const now = nowSeconds();
  const left = session.expiresAt - now;
  const total = Math.max(1, session.expiresAt - sessionStart);
  $('countdown').textContent = left > 0 ? mmss(left) : 'expired';
  $('countdown').dataset.low = String(left < REFRESH_LEEWAY_SECONDS);
  $('expiry-at').textContent = `at ${clock(session.expiresAt)}`;
  $('meter-fill').style.width = `${Math.max(0, Math.min(100, (left / total) * 100))}%`;
  const nextRefresh = session.expiresAt - REFRESH_LEEWAY_SECONDS - now;
  $('next-refresh').textContent = nextRefresh > 0
    ? `Automatic refresh in about ${mmss(nextRefresh)} (${REFRESH_LEEWAY_SECONDS} s before expiry).`
    : 'Automatic refresh due now.';
}

// ------------------------------------------------------------------ rendering: checks
async function accessTokenHeader() {
  try {
    // The token of the session shown (cached: asking for another resource's could refresh).
    const resource = audOf(session.accessTokenClaims ?? {});
    return lib.decodeJwt(await client.getAccessToken(resource ? { resource } : undefined)).header; // the token itself is not shown
  } catch {
    return undefined;
  }
}

async function renderChecks() {
  const s = session;
  const cfg = readForm();
  const at = s.accessTokenClaims ?? {};
  const id = s.idTokenClaims ?? {};
  const header = await accessTokenHeader();
  const sfm = at[SFM_ID_CLAIM] !== undefined ? [SFM_ID_CLAIM, at[SFM_ID_CLAIM]] : at[JOURNAL_ID_CLAIM] !== undefined ? [JOURNAL_ID_CLAIM, at[JOURNAL_ID_CLAIM]] : undefined;
  const level = s.helseid?.securityLevel;
  const checks = [
    ['callback', 'pass', ['state matched the login started here; ', code('iss'), ' = ', code(id.iss), ' (RFC 9207); code exchanged with the PKCE S256 verifier']],
    ['signature', 'pass', ['ID token and access token verified with WebCrypto against the issuer’s JWKS',
      header ? [' · access token ', code(header.alg), ', typ ', code(header.typ), header.kid ? [', kid ', code(shorten(header.kid, 10, 4))] : ''] : '']],
    ['iss', 'pass', [code(id.iss), ' in the ID token and the access token']],
    ['aud', 'pass', ['access token ', code('aud'), ' = ', code(audOf(at)), audNote(at, cfg), ' · ID token ', code('aud'), ' = ', code(id.aud)]],
    ['exp', 'pass', ['access token valid until ', code(clock(at.exp)), ', ID token until ', code(clock(id.exp)), ` (tolerance ${CLOCK_TOLERANCE_SECONDS} s)`]],
    ['nonce', 'pass', ['ID token ', code('nonce'), ' ', code(shorten(id.nonce, 10, 4)), ' equals the one sent at login']],
    cfg.requireSfmId && !sfm && audOf(at) !== SFM_RESOURCE
      ? ['sfm', 'skip', ['not an SFM token (', code('aud'), ' ', code(audOf(at)), '): no SFM id expected']]
      : cfg.requireSfmId
      ? ['sfm', 'pass', [code(sfm?.[0]), ' = ', code(typeof sfm?.[1] === 'object' ? JSON.stringify(sfm[1]) : sfm?.[1])]]
      : sfm ? ['sfm', 'info', ['present (', code(sfm[0]), '), not required']] : ['sfm', 'skip', ['not required (Require SFM id is off)']],
    cfg.requiredSecurityLevel
      ? ['level', 'pass', [code('security_level'), ` = ${level}, required ${cfg.requiredSecurityLevel}`]]
      : ['level', 'info', [`${level ?? 'absent'}; no level required`]],
    s.tokenType === 'DPoP'
      ? ['dpop', 'pass', ['token_type ', code('DPoP'), '; ', code('cnf.jkt'), ' = ', code(at.cnf?.jkt), ' is this browser’s DPoP key']]
      : ['dpop', 'skip', ['Bearer token (DPoP off)']],
  ];
  $('checks-intro').textContent = 'The library ran these in handleRedirectCallback and again on every refresh. A session exists only when all passed.';
  $('checks').replaceChildren(...checks.map(([id, status, detail]) => checkItem(id, status, detail)));
  renderContextChecks();
}

const audOf = (at) => (Array.isArray(at.aud) ? at.aud.join(' ') : at.aud);
function audNote(at, cfg) {
  if (!cfg.resources.length) return '';
  return audOf(at) === cfg.resources[0] ? ' (expected)' : [' (the token of the last refresh, for ', code(audOf(at)), ')'];
}

/**
 * The context claims of the current access token against the context in force. The library has
 * already refused a token whose claims differ from the context, so "fail" here would be a bug.
 */
function renderContextChecks() {
  const at = session.accessTokenClaims ?? {};
  const ctx = session.context ?? null;
  const aud = audOf(at);
  const compare = (id, claim, wanted, shown = (v) => v) => {
    const value = at[claim];
    if (wanted !== undefined && wanted !== '') {
      const same = JSON.stringify(shown(value)) === JSON.stringify(wanted);
      return checkItem(id, same ? 'pass' : 'fail', [code(claim.split('/').pop()), ' = ', code(shown(value) ?? 'absent'), same ? ', as in the context' : [', the context says ', code(wanted)]]);
    }
    if (value !== undefined) return checkItem(id, 'info', [code(shown(value)), ' (not from the context: the client’s own)']);
    return checkItem(id, 'skip', ['not in the context, not in the token']);
  };
  const attest = ctx?.trustFramework;
  let attestItem;
  if (attest && ATTEST_RESOURCES.includes(aud)) {
    const present = at[ATTEST_CLAIM] !== undefined;
    attestItem = checkItem('attest', present ? 'pass' : 'fail', present
      ? ['present; decision id ', code(shorten(at[ATTEST_CLAIM]?.care_relationship?.decision_ref?.id ?? '–', 8, 4)), ', purpose ', code(at[ATTEST_CLAIM]?.care_relationship?.purpose_of_use?.code ?? '–')]
      : ['missing although an attest was sent']);
  } else if (attest) {
    attestItem = checkItem('attest', 'info', ['in the context; only ', code(KJ_RESOURCE), ' tokens carry it (this one is for ', code(aud), ')']);
  } else {
    attestItem = at[ATTEST_CLAIM] !== undefined
      ? checkItem('attest', 'info', ['present without an attest in the context'])
      : checkItem('attest', 'skip', ['no attest in the context']);
  }
  $('context-checks').replaceChildren(
    compare('orgnr_parent', ORGNR_PARENT_CLAIM, ctx?.organization?.parent),
    compare('orgnr_child', ORGNR_CHILD_CLAIM, ctx?.organization?.child),
    compare('journal', JOURNAL_ID_CLAIM, ctx?.journalId, (v) => (v && typeof v === 'object' ? v.journal_id : v)),
    attestItem,
  );
}

const STATUS_TEXT = { pass: 'Passed', fail: 'Failed', skip: 'Skipped', info: 'Info', unknown: 'Not confirmed' };
const STATUS_ICON = { pass: '✓', fail: '✕', skip: '–', info: 'i', unknown: '·' };

function checkItem(id, status, detail) {
  return el('li', { class: `check ${status}`, 'data-check': id, 'data-status': status },
    el('span', { class: 'check-icon', 'aria-hidden': 'true', text: STATUS_ICON[status] }),
    el('div', { class: 'check-body' },
      el('div', { class: 'check-title' },
        el('span', { text: CHECK_LABELS[id] ?? CONTEXT_CHECK_LABELS[id] ?? id }),
        el('span', { class: 'check-status', text: STATUS_TEXT[status] })),
      el('p', { class: 'check-detail' }, detail)));
}

/** Which check an error stands for (by its code and claim), or undefined when none does. */
function failedCheck(err) {
  switch (err?.code) {
    case 'missing_transaction': case 'state_mismatch': case 'authorization_response_iss_mismatch': case 'authorization_denied':
      return 'callback';
    case 'invalid_token': case 'unsupported_alg': case 'unknown_key': case 'signature_invalid':
      return 'signature';
    case 'token_expired': case 'token_not_yet_valid':
      return 'exp';
    case 'missing_sfm_id': return 'sfm';
    case 'security_level_insufficient': return 'level';
    case 'dpop_binding_mismatch': return 'dpop';
    case 'claim_invalid':
      return { iss: 'iss', aud: 'aud', azp: 'aud', nonce: 'nonce', iat: 'exp', exp: 'exp', nbf: 'exp', cnf: 'dpop', typ: 'signature', sub: 'iss' }[err.claim] ?? 'iss';
    default: return undefined;
  }
}

function renderFailedChecks(err) {
  const failed = failedCheck(err);
  if (!failed) { $('checks-failed').hidden = true; return; }
  if (failed === 'callback') {
    const detail = [err.message, err.oauthError ? [' (', code(err.oauthError), ')'] : ''];
    $('checks-failed-intro').textContent = 'The login ended at the authorization response, before any token was issued, so no token check ran.';
    $('checks-error').replaceChildren(checkItem('callback', 'fail', detail));
    $('checks-failed').hidden = false;
    return;
  }
  $('checks-failed-intro').textContent = 'The library refused the tokens at the check marked failed: no session was created and the tokens were thrown away. Checks marked “not confirmed” may or may not have passed.';
  const order = Object.keys(CHECK_LABELS);
  const items = order.map((id) => {
    if (id === failed) {
      const detail = [err.message];
      if (err.claim) detail.push(' (claim ', code(err.claim), ')');
      if (err.oauthError) detail.push(' (', code(err.oauthError), ')');
      return checkItem(id, 'fail', detail);
    }
    // The callback itself was fine if the failure came later.
    if (id === 'callback' && failed !== 'callback') return checkItem(id, 'pass', ['state and ', code('iss'), ' matched; the code was exchanged']);
    return checkItem(id, 'unknown', ['the library stopped at the failed check before confirming this']);
  });
  $('checks-error').replaceChildren(...items);
  $('checks-failed').hidden = false;
}

// ------------------------------------------------------------------ context (organisation, journal, attest)
/** Fills the context pickers for the logged-in user and client (the local double's allow-lists). */
function setupContextForm() {
  const cfg = readForm();
  const local = currentPreset() === 'local';
  const user = local ? epjUserByPid(session.helseid?.pid) : undefined;
  const clientInfo = local ? LOCAL_CLIENTS[cfg.clientId] : undefined;
  const tenancy = clientInfo?.tenancy; // undefined: not known here, both fields are offered
  $('ctx-user-label').textContent = user ? `EPJ user ${user.key}` : 'the EPJ user';
  $('ctx-tenancy-label').textContent = tenancy === 'multi' ? '(multi-tenant client: parent, child optional)'
    : tenancy === 'single' ? `(single-tenant client: a child of ${clientInfo.ownOrg})` : '(multi-tenant: parent + child; single-tenant: child only)';
  $('ctx-parent-field').hidden = tenancy === 'single';
  const choices = user ? organisationChoices(user, tenancy ?? 'multi', clientInfo?.ownOrg) : [];
  $('ctx-org').replaceChildren(
    el('option', { value: '', text: choices.length ? 'None: the client’s default' : 'No list here: type the numbers below' }),
    ...choices.map((c) => el('option', { value: `${c.parent}:${c.child}`, text: c.note ? `${c.label}: ${c.note}` : c.label })));
  $('ctx-org').disabled = !choices.length;
  const orgnrs = [...new Set((user?.organizations ?? []).flatMap((o) => [o.parent, ...o.children]))];
  $('ctx-orgnrs').replaceChildren(...orgnrs.map((n) => el('option', { value: n })));
  $('ctx-journals').replaceChildren(...(user?.journalIds ?? []).map((j) => el('option', { value: j })));
  $('ctx-resource').replaceChildren(...cfg.resources.map((r, i) => el('option', { value: r, text: i === 0 ? `${r} (default)` : r })));
  for (const id of ['ctx-parent', 'ctx-child', 'ctx-journal', 'ctx-legal-entity', 'ctx-point-of-care']) $(id).value = '';
  $('ctx-service').value = '01';
  $('ctx-attest-on').checked = false;
  syncAttestFields();
}

function syncAttestFields() {
  const on = $('ctx-attest-on').checked;
  for (const id of ['ctx-legal-entity', 'ctx-point-of-care', 'ctx-purpose', 'ctx-service']) $(id).disabled = !on;
  // The attest is carried only by tokens for the attest resources: refresh one of those.
  const resources = [...$('ctx-resource').options].map((o) => o.value);
  const target = on ? resources.find((r) => ATTEST_RESOURCES.includes(r)) : resources[0];
  if (target) $('ctx-resource').value = target;
}

function pickOrganisation() {
  const [parent = '', child = ''] = $('ctx-org').value.split(':');
  $('ctx-parent').value = parent;
  $('ctx-child').value = child;
  // The attest names the same organisation: legal entity and point of care.
  const own = LOCAL_CLIENTS[readForm().clientId]?.ownOrg;
  $('ctx-legal-entity').value = parent || (child ? own ?? '' : '');
  $('ctx-point-of-care').value = child || parent;
}

/** The HelseIdContext of the form, or null when nothing is chosen. Not validated here: the library does. */
function readContextForm() {
  const ctx = {};
  const parent = $('ctx-parent-field').hidden ? '' : $('ctx-parent').value.trim();
  const child = $('ctx-child').value.trim();
  if (parent) ctx.organization = child ? { parent, child } : { parent };
  else if (child) ctx.organization = { child };
  const journalId = $('ctx-journal').value.trim();
  if (journalId) ctx.journalId = journalId;
  if ($('ctx-attest-on').checked) {
    const service = $('ctx-service').value.trim();
    ctx.trustFramework = {
      practitioner: {
        legal_entity: { id: $('ctx-legal-entity').value.trim(), system: ORGNR_SYSTEM },
        point_of_care: { id: $('ctx-point-of-care').value.trim(), system: ORGNR_SYSTEM },
      },
      care_relationship: {
        purpose_of_use: { code: $('ctx-purpose').value, system: PURPOSE_OF_USE_SYSTEM },
        ...(service ? { healthcare_service: { code: service, system: HEALTHCARE_SERVICE_SYSTEM } } : {}),
      },
    };
  }
  return Object.keys(ctx).length ? ctx : null;
}

async function switchContext(ctx) {
  clearError();
  const resource = $('ctx-resource').value || undefined;
  switchRun = { t0: performance.now(), mark: wireMark(), resource };
  own.switches += 1;
  const buttons = [$('ctx-switch'), $('ctx-clear')];
  for (const b of buttons) b.disabled = true;
  $('ctx-switch').setAttribute('aria-busy', 'true');
  try {
    const s = await client.setContext(ctx, resource ? { resource } : undefined);
    renderSwitchResult({ s });
  } catch (err) {
    // A refused switch fires neither event: nothing more of ours is to come.
    own.switches = Math.max(0, own.switches - 1);
    renderSwitchResult({ err });
    showError(err);
  } finally {
    for (const b of buttons) b.disabled = false;
    $('ctx-switch').removeAttribute('aria-busy');
  }
}

function renderSwitchResult({ s, err }) {
  const calls = wireSince(switchRun.mark, (e) => /\/connect\/token$/.test(new URL(e.url).pathname));
  // The session host, or the holder a follower asks, makes the token request.
  // context_invalid: the library checked the context and sent nothing (API.md).
  const requests = err?.code === 'context_invalid' || hostKind === 'page-holder'
    ? String(calls.length)
    : madeBy().replace(/^Token endpoint, by/, 'made by').replace(/^Made/, 'made');
  const ms = Math.round(performance.now() - switchRun.t0);
  const rows = err
    ? [
      ['Result', `refused: ${err.code ?? err.name}`, 'result'],
      ['Claim', err.claim, 'claim'],
      ['HelseID said', [err.oauthError, err.oauthErrorDescription].filter(Boolean).join(': ') || undefined, 'description'],
      ['Token requests', requests, 'token-requests'],
      ['In force', 'the previous context, with its tokens', 'kept'],
    ]
    : [
      ['Result', `switched in ${ms} ms`, 'result'],
      ['Token requests', `${requests} (${switchRun.resource ?? 'default resource'})`, 'token-requests'],
      ['Rejected scope', s.rejectedScope?.length ? s.rejectedScope.join(' ') : 'none', 'rejected-scope'],
      ['Decision id', s.context?.trustFramework?.care_relationship?.decision_ref?.id, 'decision-id'],
    ];
  $('ctx-result').replaceChildren(...rows.filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v, key]) => el('div', {}, el('dt', { text: k }), el('dd', { 'data-field': key, text: v }))));
  $('ctx-result').dataset.outcome = err ? 'refused' : 'switched';
  $('ctx-result').hidden = false;
  $('ctx-result-empty').hidden = true;
}

/** One line for a context: "org 920000001 › 920000011 · journal 5f0c…5e01 · attest TREAT". */
function contextSummary(ctx) {
  if (!ctx) return 'none';
  const parts = [];
  const o = ctx.organization;
  if (o) parts.push(`organisation ${[o.parent, o.child].filter(Boolean).join(' › ')}`);
  if (ctx.journalId) parts.push(`journal ${shorten(ctx.journalId, 8, 4)}`);
  if (ctx.trustFramework) parts.push(`attest ${ctx.trustFramework.care_relationship?.purpose_of_use?.code ?? ''}`.trim());
  return parts.join(' · ') || 'none';
}

function renderContext() {
  const ctx = session.context ?? null;
  $('ctx-summary').replaceChildren('In force: ', el('strong', { 'data-context': 'summary', text: contextSummary(ctx) }));
  $('ctx-current').replaceChildren(...(ctx ? claimsView(ctx) : ['null (no context: the client’s defaults)']));
}

function onContextChanged(s) {
  const mine = own.switches > 0;
  if (mine) own.switches -= 1;
  logEvent('contextChanged', mine ? 'this-tab' : 'other-tab', [contextSummary(s.context)]);
  session = s;
  renderSession();
  renderChecks();
}

function onContextExpired() {
  logEvent('contextExpired', 'this-tab', ['the patient attest is too old: nhn:kjernejournal tokens reject context_expired until the context is switched again']);
}

function onUserChanged(h) {
  const who = h?.name ?? h?.pid ?? 'another user';
  showLoggedOut();
  const follow = el('button', { type: 'button', class: 'secondary', id: 'follow-user', text: `Continue as ${who}` });
  follow.addEventListener('click', async () => {
    try {
      const s = await client.adoptSession();
      hideNotice();
      await onLoggedIn(s, { joined: true });
    } catch (err) {
      showError(err);
    }
  });
  const n = $('notice');
  n.replaceChildren(`Another tab logged in as ${who}${h?.pid ? ` (pid ${h.pid})` : ''}: this tab’s session has ended (userChanged). `, follow, ' or log in again.');
  n.hidden = false;
}

const ORIGIN_TEXT = { 'this-tab': 'this tab', 'other-tab': 'from another tab' };

function logEvent(name, origin, detail) {
  const item = el('li', { 'data-event': name, 'data-origin': origin },
    el('div', { class: 'log-head' },
      el('code', { text: name }),
      el('span', { class: `tag ${origin}`, text: ORIGIN_TEXT[origin] }),
      el('time', { text: new Date().toLocaleTimeString('en-GB', { hour12: false }), dateTime: new Date().toISOString() })),
    el('p', { class: 'log-body' }, detail));
  $('event-log').prepend(item);
  $('event-empty').hidden = true;
}

// ------------------------------------------------------------------ national portals: SFM, Kjernejournal
function setPortalState(which, state, text) {
  const badge = $(`${which}-state`);
  badge.dataset.state = state;
  badge.textContent = text;
}

function portalAddress(id, what) {
  const value = $(id).value.trim().replace(/\/+$/, '');
  if (!value) {
    $(id).setAttribute('aria-invalid', 'true');
    throw new PageError('portal_not_configured', `Fill in ${what}.`);
  }
  $(id).removeAttribute('aria-invalid');
  return value;
}

function renderInfo(list, rows) {
  $(list).replaceChildren(...rows.map(([k, v, key]) => el('div', {}, el('dt', { text: k }), el('dd', { 'data-field': key }, v))));
  $(list).hidden = false;
}

async function openSfm() {
  clearError();
  const button = $('sfm-open');
  try {
    const gateway = portalAddress('sfm-gateway', 'the SFM session gateway');
    button.disabled = true;
    setPortalState('sfm', 'busy', 'Opening…');
    if (sfm) await sfm.end().catch(() => {}); // the gateway would replace it anyway
    sfm = await client.openSfmSession({ gateway });
    const { id, clientAddress, apiAddress, metadata } = sfm.info;
    renderInfo('sfm-info', [
      ['Session id', code(id), 'id'],
      ['Client address', code(clientAddress), 'client-address'],
      ['API address', code(apiAddress), 'api-address'],
      ['Portals', Object.keys(metadata ?? {}).join(', ') || 'none', 'metadata'],
    ]);
    const frame = $('sfm-frame');
    frame.hidden = false;
    sfm.attach(frame, { sfmUserAgent: SOURCE_SYSTEM });
    setPortalState('sfm', 'open', 'Open');
    $('sfm-patient-row').hidden = false;
    $('sfm-patient-status').textContent = '';
    $('sfm-end').disabled = false;
  } catch (err) {
    setPortalState('sfm', 'error', 'Failed');
    showError(err);
  } finally {
    button.disabled = false;
  }
}

async function setSfmPatient() {
  clearError();
  const status = $('sfm-patient-status');
  const button = $('sfm-set-patient');
  const pid = $('sfm-patient').value.trim();
  button.disabled = true;
  status.dataset.state = 'busy';
  status.textContent = 'Asking SFM for a patient ticket…';
  const t0 = performance.now();
  try {
    if (!sfm) throw new PageError('sfm_not_open', 'No SFM session is open.');
    await sfm.setPatient(pid); // waits for the SFM client's login, then its "setPatient: success"
    status.dataset.state = 'ok';
    status.textContent = `SFM shows patient ${pid} (${Math.round(performance.now() - t0)} ms).`;
  } catch (err) {
    status.dataset.state = 'error';
    status.textContent = `Set patient failed: ${err.code ?? err.name}.`;
    showError(err);
  } finally {
    button.disabled = false;
  }
}

async function endSfm() {
  clearError();
  try {
    await sfm?.end();
    sfm = null;
    $('sfm-end').disabled = true;
    $('sfm-patient-row').hidden = true;
    $('sfm-frame').hidden = true;
    $('sfm-frame').removeAttribute('src');
    setPortalState('sfm', 'closed', 'Ended');
  } catch (err) {
    showError(err);
  }
}

async function openKj() {
  clearError();
  const status = $('kj-status');
  const button = $('kj-open');
  // Kjernejournal takes only tokens with a patient attest: the context must carry one.
  if (!client.context()?.trustFramework) {
    status.dataset.state = 'error';
    status.replaceChildren('No patient attest in the context: tick “Patient: trust-framework attest” above and switch (the token for ', code(KJ_RESOURCE), ' must carry it).');
    return;
  }
  try {
    const api = portalAddress('kj-api', 'the Kjernejournal innlogging API');
    const web = portalAddress('kj-web', 'the Kjernejournal web address');
    button.disabled = true;
    status.dataset.state = 'busy';
    status.textContent = 'Creating the Kjernejournal session…';
    kj = await client.openKjernejournalSession({
      api, web, sourceSystem: SOURCE_SYSTEM, patient: $('kj-patient').value.trim(), accessBasis: $('kj-basis').value,
    });
    // The URL carries a one-time code and the PKCE verifier: shown shortened only.
    const url = new URL(kj.url);
    const cut = (name) => `${(url.searchParams.get(name) ?? '').slice(0, 6)}…`;
    const shown = `${url.origin}${url.pathname}?code=${cut('code')}&ehr_code_verifier=${cut('ehr_code_verifier')}`;
    renderInfo('kj-info', [['Session id', code(kj.sessionId), 'session-id'], ['Opened', code(shown), 'url']]);
    window.open(kj.url, '_blank', 'noopener');
    setPortalState('kj', 'open', 'Open');
    status.dataset.state = 'ok';
    status.textContent = 'Kjernejournal opened in a new tab (the code in its address works once).';
    $('kj-end').disabled = false;
  } catch (err) {
    setPortalState('kj', 'error', 'Failed');
    status.dataset.state = 'error';
    status.textContent = `Kjernejournal could not be opened: ${err.code ?? err.name}.`;
    showError(err);
  } finally {
    button.disabled = false;
  }
}

async function endKj() {
  clearError();
  try {
    await kj?.end();
    kj = null;
    $('kj-end').disabled = true;
    $('kj-status').textContent = 'The Kjernejournal session has ended.';
    setPortalState('kj', 'closed', 'Ended');
  } catch (err) {
    showError(err);
  }
}

/** After logout or expiry: the library has ended the portal sessions; the page forgets them. */
function resetPortals() {
  sfm = null;
  kj = null;
  $('sfm-frame').hidden = true;
  $('sfm-frame').removeAttribute('src');
  $('sfm-info').hidden = true;
  $('sfm-patient-row').hidden = true;
  $('sfm-end').disabled = true;
  $('kj-info').hidden = true;
  $('kj-status').textContent = '';
  $('kj-end').disabled = true;
  setPortalState('sfm', 'closed', 'Closed');
  setPortalState('kj', 'closed', 'Closed');
}

// ------------------------------------------------------------------ SFM-style API call
async function callApi() {
  clearError();
  const cfg = readForm();
  const button = $('call-api');
  try {
    if (!cfg.apiBase) throw new PageError('api_not_configured', 'No SFM-style API base URL is set.');
    const [method, path] = $('api-endpoint').value.split(' ');
    const url = `${cfg.apiBase}${path}`;
    const init = { method };
    if (method === 'POST') {
      // SFM's Session/create wants {"nonce": base64(SHA-512(random))}.
      const digest = await crypto.subtle.digest('SHA-512', crypto.getRandomValues(new Uint8Array(32)));
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify({ nonce: base64(digest) });
    }
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    const mark = wireMark();
    const t0 = performance.now();
    const response = await client.fetch(url, init);
    const ms = performance.now() - t0;
    const text = await response.text();
    const exchanges = wireSince(mark, (e) => e.url === url);
    renderApi({ method, url, init, response, text, exchanges, ms });
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

function headerLine(name, value, meta = {}) {
  const lower = name.toLowerCase();
  let shown = value;
  let note = '';
  if (lower === 'authorization') {
    note = `access token shortened, ${meta.tokenLength} chars`; // shortened by wire.js already
  } else if (lower === 'dpop') {
    shown = shorten(value, 16, 6);
    note = 'proof JWT shortened; decoded below';
  } else if (lower === 'dpop-nonce') {
    shown = shorten(value, 12, 4);
  }
  return [el('span', { class: 'k', text: `${name}: ` }), shown, note ? el('span', { class: 'c', text: `  // ${note}` }) : '', '\n'];
}

function renderApi({ method, url, init, response, text, exchanges, ms }) {
  $('api-result').hidden = false;
  const final = exchanges.at(-1);
  $('api-exchanges').replaceChildren(...exchanges.map((e, i) => {
    const challenge = e.status === 401 ? (e.responseHeaders?.find(([k]) => k === 'www-authenticate')?.[1] ?? '') : '';
    const nonceChallenge = /use_dpop_nonce/.test(challenge);
    return el('li', { class: e.status >= 200 && e.status < 300 ? 'ok' : nonceChallenge ? 'retry' : 'bad' },
      el('strong', { text: `${i + 1}. ${e.method} ${new URL(e.url).pathname}` }), ' → ',
      el('span', { class: 'status-pill', 'data-status': String(e.status ?? 'error'), text: e.status ? String(e.status) : 'network error' }),
      ` ${Math.round(e.end - e.start)} ms`,
      nonceChallenge ? ' · the API asked for a DPoP nonce (use_dpop_nonce); the library retried with a new proof carrying it' : '',
      e.status >= 200 && e.status < 300 && i > 0 ? ' · accepted' : '');
  }));

  const req = [el('span', { class: 'm', text: `${method} ${url}` }), '\n'];
  const headers = final?.requestHeaders ?? [];
  for (const [k, v, meta] of headers) req.push(...headerLine(k, v, meta));
  if (init.body) req.push('\n', init.body, '\n');
  const proof = headers.find(([k]) => k === 'dpop')?.[1];
  if (proof) {
    try {
      const { header, claims } = lib.decodeJwt(proof);
      const jwk = header.jwk ? Object.fromEntries(Object.entries(header.jwk).map(([k, v]) => [k, typeof v === 'string' ? shorten(v, 8, 4) : v])) : undefined;
      req.push('\n', el('span', { class: 'c', text: '// DPoP proof, decoded' }), '\n',
        el('span', { class: 'k', text: 'header: ' }), ...claimsView({ ...header, jwk }), '\n',
        el('span', { class: 'k', text: 'claims: ' }), ...claimsView(claims), '\n');
    } catch { /* not a JWT: leave it out */ }
  }
  $('api-request').replaceChildren(...req);

  const res = [el('span', { class: 'm', text: `HTTP ${response.status} ${response.statusText}`.trim() }), `  (${Math.round(ms)} ms in client.fetch)`, '\n'];
  for (const [k, v] of response.headers.entries()) res.push(...headerLine(k, v));
  let body = [text];
  try {
    const json = JSON.parse(text);
    if (json && typeof json === 'object') body = claimsView(json);
  } catch { /* not JSON: shown as it is */ }
  res.push('\n', ...body);
  $('api-response').replaceChildren(...res);
  const pill = $('api-status');
  pill.textContent = String(response.status);
  pill.dataset.status = String(response.status);
}

// ------------------------------------------------------------------ messages and state
function showError(err, { phase } = {}) {
  console.error(err);
  const isLib = lib?.isHelseIdError?.(err) ?? false;
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

function clearError() {
  $('error').hidden = true;
  $('checks-failed').hidden = true;
  if (!session && !pendingCallback) $('welcome').hidden = false;
}

function showNotice(text) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = false;
}
function hideNotice() {
  $('notice').hidden = true;
}

function setState(kind, text) {
  const s = $('state-label');
  s.dataset.state = kind;
  s.value = text;
}

function setBusy(busy, text) {
  document.body.setAttribute('aria-busy', String(busy));
  $('login').disabled = busy;
  $('login-main').disabled = busy;
  $('logout').disabled = busy;
  if (busy) setState('busy', text);
  else if (!session) setState('idle', 'Not logged in');
}

// ------------------------------------------------------------------ wiring
function wire() {
  const form = $('config-form');
  form.addEventListener('submit', login);
  form.addEventListener('input', (e) => {
    e.target.removeAttribute?.('aria-invalid');
    if (e.target.name !== 'preset') saveForm();
  });
  form.addEventListener('change', (e) => {
    if (e.target.name === 'preset') switchPreset(e.target.value);
    else { syncFormVisibility(); saveForm(); }
    if (e.target.id === 'login-hint') fillDemoPassword();
  });
  $('reset-preset').addEventListener('click', () => {
    writeForm(currentPreset(), defaultsFor(currentPreset()));
    saveForm();
  });
  $('jwk-use').addEventListener('click', () => useKeyText($('jwk-text').value).catch((e) => showError(e)));
  $('finish-use').addEventListener('click', () => useKeyText($('finish-jwk').value).catch((e) => showError(e)));
  const fromFile = async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    if (file.size > 64 * 1024) { showError(new PageError('jwk_invalid', 'That file is too large to be a JWK.')); return; }
    await useKeyText(await file.text()).catch((err) => showError(err));
  };
  $('jwk-file').addEventListener('change', fromFile);
  $('finish-file').addEventListener('change', fromFile);
  $('jwk-forget').addEventListener('click', () => { memoryKey = null; renderKeyStatus(); });
  $('refresh').addEventListener('click', refreshNow);
  $('logout').addEventListener('click', logout);
  $('call-api').addEventListener('click', callApi);
  $('context-form').addEventListener('submit', (e) => { e.preventDefault(); switchContext(readContextForm()); });
  $('ctx-clear').addEventListener('click', () => switchContext(null));
  $('ctx-org').addEventListener('change', pickOrganisation);
  $('ctx-attest-on').addEventListener('change', syncAttestFields);
  $('sfm-open').addEventListener('click', openSfm);
  $('sfm-set-patient').addEventListener('click', setSfmPatient);
  $('sfm-end').addEventListener('click', endSfm);
  $('kj-open').addEventListener('click', openKj);
  $('kj-end').addEventListener('click', endKj);
  for (const id of Object.values(PORTAL_FIELDS)) $(id).addEventListener('input', saveForm);
  $('error-dismiss').addEventListener('click', clearError);
  $('finish-cancel').addEventListener('click', () => {
    pendingCallback = false;
    $('finish').hidden = true;
    $('welcome').hidden = false;
    setState('idle', 'Not logged in');
    stripCallbackParams();
    showNotice('Login cancelled. Press Log in to start again.');
  });
  // Never a blank page: whatever escapes ends up in the error card.
  window.addEventListener('error', (e) => showError(e.error ?? new PageError('unexpected', e.message)));
  window.addEventListener('unhandledrejection', (e) => showError(e.reason));
}

async function main() {
  wire();
  const stored = loadStored();
  writeForm(stored.preset, { ...defaultsFor(stored.preset), ...(stored.byPreset?.[stored.preset] ?? {}) });
  renderKeyStatus();
  try {
    lib = await import('../pkg/helseid_wasm.js');
    await lib.default();
  } catch (err) {
    $('version').value = 'not loaded';
    $('login').disabled = true;
    $('login-main').disabled = true;
    showError(new PageError('package_not_loaded', `Could not load /pkg/helseid_wasm.js: ${err.message}`));
    return;
  }
  $('version').value = `helseid-wasm ${lib.version()}`;
  document.documentElement.dataset.ready = 'true';

  const params = new URLSearchParams(location.search);
  if (params.has('state') && (params.has('code') || params.has('error'))) {
    if (readForm().authMode === 'jwk' && !memoryKey) {
      pendingCallback = true;
      $('welcome').hidden = true;
      $('finish').hidden = false;
      setState('busy', 'Waiting for the key');
      $('finish-jwk').focus();
      return;
    }
    await completeCallback();
    return;
  }
  if (sessionStorage.getItem(LOGGED_OUT_KEY)) {
    sessionStorage.removeItem(LOGGED_OUT_KEY);
    showNotice('You are logged out: the library forgot the tokens, revoked the refresh token and ended the HelseID session.');
  }
  await joinOtherTab();
}

/**
 * Another tab of this origin may hold a session for the same issuer and client: HelseIdClient.create
 * joins it (the holder shares access tokens, never the refresh token). Only with the backend
 * signer: a private JWK is not in this tab's memory.
 */
async function joinOtherTab() {
  const cfg = readForm();
  if (cfg.authMode !== 'assertion' || !cfg.issuer || !cfg.clientId) return;
  try {
    const c = await createClient(cfg, { epjLogin: false });
    const s = c.session();
    if (!s) { disposeClient(); return; }
    await onLoggedIn(s, { joined: true });
    showNotice('This tab joined the session of the tab that logged in: that tab refreshes the tokens, both see every switch.');
  } catch {
    disposeClient(); // nobody to join (or the issuer is not up): the page waits for Log in
  }
}

main().catch((err) => showError(err));
